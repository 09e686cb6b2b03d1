//! The seed's front door, async: a tokio web service whose request handlers
//! queue AI profile jobs for a pool of worker threads, and answer each caller
//! only once its job is done (or has failed for good).
//!
//! - Callers arrive in bursts, one tokio task each. A handler submits its job
//!   into a bounded priority mailbox; when it is full the handler *awaits*
//!   room: backpressure reaches callers as pending futures, no thread blocks.
//! - Half the handlers use `send_async` on a `with_confirm(Confirm::Acked)`
//!   handle (one await: room, then the ack); the other half `reserve_async`,
//!   the permit's `send_tracked`, then the receipt's `wait_acked_async`.
//! - Workers are plain threads with `recv_ack`. The model service is busy now
//!   and then: nack, retry; after `max_redeliveries` retries the job goes to
//!   a dead-letter mailbox, and its caller learns it failed.
//! - The tally checks that every caller was answered and that submitted =
//!   acked + dead-lettered, by the answers and by the mailboxes' own counts.
//!
//! Run with `cargo run --release --example async_service`.

#[allow(dead_code)] // `job_queue`'s counters and status line are not used here
#[path = "support/progress.rs"]
mod progress;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use postbox::{
    Confirm, Mailbox, Message, Overflow, ReceiptError, Receiver, Requeue, SendError, Sender,
};

// 10 bursts of 400 callers; 4 workers, 300 us a job; room for a tenth of a
// burst; 20% of tries turned away; 2 retries, then dead letters.
const BURST: u64 = 400;
const BURSTS: u64 = 10;
const PAUSE: Duration = Duration::from_millis(250);
const WORKERS: usize = 4;
const WORK: Duration = Duration::from_micros(300);
const CAPACITY: usize = 40;
const BUSY_PCT: u64 = 20;
const MAX_REDELIVERIES: u32 = 2;

/// What a caller paid for: the job's priority.
const TIERS: [(&str, u8); 3] = [("urgent", 9), ("paid", 5), ("free", 0)];

/// One profile-generation job, the message body.
#[derive(Debug)]
struct Job {
    user_id: u64,
}

/// A caller's tier (an index into [`TIERS`]): 10% urgent, 10% paid, 80% free.
fn tier_of(user_id: u64) -> usize {
    (user_id % 10).min(2) as usize
}

/// Whether the handler sends with the one-call form (`send_async` on an
/// acked handle) rather than `reserve_async` + receipt: every other ten.
fn one_call(user_id: u64) -> bool {
    (user_id / 10).is_multiple_of(2)
}

/// What a handler answers its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Done,
    Failed,
}

/// Live counters for the progress line.
#[derive(Debug, Default)]
struct Live {
    submitted: AtomicU64,
    answered: AtomicU64,
    waited_for_room: AtomicU64,
    most_in_flight: AtomicU64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (dead_tx, dead_rx) = Mailbox::<Job>::builder().unbounded().build();
    let (jobs, jobs_rx) = Mailbox::<Job>::builder()
        .priority(10)
        .capacity(CAPACITY)
        .overflow(Overflow::Block)
        .max_redeliveries(MAX_REDELIVERIES)
        .dead_letters(dead_tx)
        .build();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let rx = jobs_rx.clone();
            thread::spawn(move || worker(rx))
        })
        .collect();

    let live = Arc::new(Live::default());
    let (stop_ticker, stop) = Mailbox::<()>::builder().build();
    let ticker = {
        let (live, stats_rx) = (Arc::clone(&live), jobs_rx.clone());
        thread::spawn(move || progress::show_progress(stop, || status(&live, &stats_rx)))
    };

    // The front door: bursts of callers, each served by its own task.
    let start = Instant::now();
    let mut handlers = Vec::new();
    for burst in 0..BURSTS {
        for i in 0..BURST {
            let user_id = burst * BURST + i;
            let (jobs, live) = (jobs.clone(), Arc::clone(&live));
            handlers.push(tokio::spawn(async move {
                let begun = Instant::now();
                let answer = handle(user_id, &jobs, &live).await;
                live.answered.fetch_add(1, Relaxed);
                (user_id, answer, begun.elapsed())
            }));
        }
        tokio::time::sleep(PAUSE).await;
    }
    let mut answers = Vec::with_capacity(handlers.len());
    for handler in handlers {
        answers.push(handler.await.expect("a handler panicked"));
    }
    let elapsed = start.elapsed();
    drop(jobs); // the last sender: workers drain the mailbox, then stop
    let acks: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    drop(stop_ticker);
    ticker.join().unwrap();

    tally(&answers, acks, &jobs_rx, &dead_rx, &live, elapsed);
}

/// Serves one caller: submits its job and answers once the job is acked
/// (`Done`) or dead-lettered (`Failed`).
async fn handle(user_id: u64, jobs: &Sender<Job>, live: &Live) -> Answer {
    let job = Message::new(Job { user_id }).priority(TIERS[tier_of(user_id)].1);
    if jobs.is_full() {
        live.waited_for_room.fetch_add(1, Relaxed);
    }
    let in_flight = live.submitted.fetch_add(1, Relaxed) + 1 - live.answered.load(Relaxed);
    live.most_in_flight.fetch_max(in_flight, Relaxed);
    let outcome = if one_call(user_id) {
        // One await: room in the mailbox, then the job's ack.
        match jobs
            .clone()
            .with_confirm(Confirm::Acked)
            .send_async(job)
            .await
        {
            Ok(()) => Ok(()),
            // Not acked: the receipt says where the job ended instead.
            Err(SendError::Unconfirmed(receipt)) => receipt.wait_acked_async().await,
            Err(err) => panic!("job {user_id} not sent: {err}"),
        }
    } else {
        // Room first (dropping this future would give up nothing), then a
        // send that cannot wait, then the receipt.
        let permit = jobs.reserve_async().await.expect("workers are running");
        let receipt = permit.send_tracked(job).expect("a valid priority");
        receipt.wait_acked_async().await
    };
    match outcome {
        Ok(()) => Answer::Done,
        Err(ReceiptError::DeadLettered(_)) => Answer::Failed,
        Err(err) => panic!("job {user_id} lost: {err}"),
    }
}

/// A worker thread: takes jobs with acknowledgement until the mailbox is
/// closed and drained; returns how many it acked.
fn worker(rx: Receiver<Job>) -> u64 {
    let mut acked = 0;
    while let Ok(job) = rx.recv_ack() {
        let attempt = job.header().redeliveries();
        if model_busy(job.body().user_id, attempt) {
            // Retried at once, by any worker; past MAX_REDELIVERIES it goes
            // to dead letters and the handler's receipt says so.
            job.nack(Requeue::Yes);
            continue;
        }
        thread::sleep(WORK);
        job.ack();
        acked += 1;
    }
    acked
}

/// Whether the model service turns this try away: decided by the job and
/// the try, so a run is reproducible and a retry may succeed.
fn model_busy(user_id: u64, attempt: u32) -> bool {
    let mut x = (user_id << 8 | u64::from(attempt)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 40 & 0xffff < BUSY_PCT * 0xffff / 100
}

/// The progress line: answered callers, the mailbox, callers still waiting.
fn status(live: &Live, rx: &Receiver<Job>) -> String {
    let stats = rx.stats();
    let (submitted, answered) = (live.submitted.load(Relaxed), live.answered.load(Relaxed));
    format!(
        "{} {answered}/{} answered, {} acked, {} dead, queue {:>2}, waiting {} (most {})",
        progress::bar(answered, BURST * BURSTS, 20),
        BURST * BURSTS,
        stats.acked,
        stats.dead_lettered,
        stats.len,
        submitted - answered,
        live.most_in_flight.load(Relaxed),
    )
}

/// Prints the tally and checks it; panics if anything does not add up.
fn tally(
    answers: &[(u64, Answer, Duration)],
    acks: u64,
    jobs: &Receiver<Job>,
    dead_rx: &Receiver<Job>,
    live: &Live,
    elapsed: Duration,
) {
    let stats = jobs.stats();
    let ids = |want: Answer| -> Vec<u64> {
        let mut ids: Vec<u64> = (answers.iter().filter(|a| a.1 == want))
            .map(|a| a.0)
            .collect();
        ids.sort_unstable();
        ids
    };
    let failed = ids(Answer::Failed);
    let (done, dead) = (ids(Answer::Done).len() as u64, failed.len() as u64);
    let mut dead_letters: Vec<u64> = dead_rx.try_iter().map(|m| m.body().user_id).collect();
    dead_letters.sort_unstable();
    let submitted = live.submitted.load(Relaxed);
    let callers = answers.len() as u64;
    println!("\n{submitted} jobs from {callers} callers in {elapsed:.2?}");
    println!("  acked          {done:>5}  (workers acked {acks})");
    let tries = MAX_REDELIVERIES + 1;
    println!("  dead-lettered  {dead:>5}  (after {tries} tries each)");
    println!("  retries        {:>5}", stats.redelivered);
    let waited = live.waited_for_room.load(Relaxed);
    println!("  {waited} callers found the mailbox full and awaited room (no thread blocked)");

    println!("\n  time to answer (acked)   p50      p99");
    let row = |name: String, pick: &dyn Fn(u64) -> bool| {
        let mut times: Vec<Duration> = (answers.iter())
            .filter(|&&(id, a, _)| a == Answer::Done && pick(id))
            .map(|a| a.2)
            .collect();
        times.sort_unstable();
        let pct = |p: usize| times[(times.len() - 1) * p / 100];
        println!("  {name:<22} {:>8.1?} {:>8.1?}", pct(50), pct(99));
    };
    for (tier, (name, priority)) in TIERS.iter().enumerate() {
        let name = format!("{name} (priority {priority})");
        row(name, &|id| tier_of(id) == tier);
    }
    row("send_async, Acked".into(), &one_call);
    row("reserve + receipt".into(), &|id| !one_call(id));

    assert_eq!(callers, BURST * BURSTS, "every caller answered");
    assert_eq!(submitted, done + dead, "submitted = acked + dead-lettered");
    assert_eq!(
        (done, stats.acked),
        (acks, acks),
        "Done = acked (workers, stats)"
    );
    assert_eq!(stats.dead_lettered, dead, "stats: dead-lettered");
    assert_eq!(failed, dead_letters, "the failed jobs are the dead letters");
    assert!(done > 0 && dead > 0, "both outcomes occur");
    println!("\ntally checks: {submitted} submitted = {done} acked + {dead} dead-lettered;");
    println!("  every caller answered, the failed jobs are the dead letters");
}

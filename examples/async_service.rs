//! The seed's front door, async: a tokio web service whose request handlers
//! queue AI profile jobs for a pool of worker threads, and answer each caller
//! only once its job is done (or has failed for good).
//!
//! - Callers arrive in bursts, one tokio task per request. Each handler
//!   submits its job into one bounded priority mailbox (urgent and paid
//!   ahead of free). When the mailbox is full the handler *awaits* room: the
//!   backpressure reaches the callers as pending futures, and no runtime
//!   thread is blocked.
//! - Half the handlers send with `send_async` on a handle made with
//!   `with_confirm(Confirm::Acked)`: one await covers room and the job's
//!   ack. The other half take room with `reserve_async`, send with the
//!   permit's `send_tracked`, and await the `Receipt` with
//!   `wait_acked_async`. Both answer their caller with the outcome.
//! - Workers are plain `std::thread`s taking jobs with `recv_ack`. The model
//!   service is busy now and then: the job is nacked and retried, and after
//!   `max_redeliveries` retries it goes to a dead-letter mailbox, so the
//!   caller learns it failed instead of waiting forever.
//! - The tally checks that every caller was answered and that submitted =
//!   acked + dead-lettered, two ways (the answers, and the mailboxes' own
//!   counts); it panics if not.
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
    Confirm, Mailbox, Message, Overflow, ReceiptError, ReceiptState, Receiver, Requeue, SendError,
    Sender,
};

/// Requests per burst, bursts, and the pause between two bursts.
const BURST: u64 = 400;
const BURSTS: u64 = 10;
const PAUSE: Duration = Duration::from_millis(250);
/// Worker threads, and the time one takes to generate a profile.
const WORKERS: usize = 4;
const WORK: Duration = Duration::from_micros(300);
/// Room in the jobs mailbox: a burst is ten times that.
const CAPACITY: usize = 40;
/// Retries after a failed try; then the job goes to dead letters.
const MAX_REDELIVERIES: u32 = 2;
/// Percent of tries the model service turns away.
const BUSY_PCT: u64 = 20;

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
    user_id / 10 % 2 == 0
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
    live.submitted.fetch_add(1, Relaxed);
    let outcome = if one_call(user_id) {
        // One await: room in the mailbox, then the job's ack.
        let acked = jobs.clone().with_confirm(Confirm::Acked);
        match acked.send_async(job).await {
            Ok(()) => Ok(()),
            Err(SendError::Unconfirmed(receipt)) => Err(receipt.state()),
            Err(err) => panic!("job {user_id} not sent: {err}"),
        }
    } else {
        // Room first (dropping this future would give up nothing), then a
        // send that cannot wait, then the receipt.
        let permit = jobs.reserve_async().await.expect("workers are running");
        let receipt = permit.send_tracked(job).expect("a valid priority");
        match receipt.wait_acked_async().await {
            Ok(()) => Ok(()),
            Err(ReceiptError::DeadLettered(_)) => Err(receipt.state()),
            Err(err) => panic!("job {user_id} lost: {err}"),
        }
    };
    match outcome {
        Ok(()) => Answer::Done,
        Err(ReceiptState::DeadLettered(_)) => Answer::Failed,
        Err(state) => panic!("job {user_id} ended {state:?}"),
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

/// The progress line: answered callers, queue length, callers waiting.
fn status(live: &Live, rx: &Receiver<Job>) -> String {
    let stats = rx.stats();
    let (submitted, answered) = (live.submitted.load(Relaxed), live.answered.load(Relaxed));
    format!(
        "{} {answered}/{} answered, {} acked, {} dead, queue {:>2}, {} callers waiting",
        progress::bar(answered, BURST * BURSTS, 20),
        BURST * BURSTS,
        stats.acked,
        stats.dead_lettered,
        stats.len,
        submitted - answered,
    )
}

/// Prints the tally and checks it; panics if anything does not add up.
fn tally(
    answers: &[(u64, Answer, Duration)],
    acks: u64,
    jobs: &Receiver<Job>,
    dead: &Receiver<Job>,
    live: &Live,
    elapsed: Duration,
) {
    let stats = jobs.stats();
    let dead_letters: Vec<u64> = dead.try_iter().map(|m| m.body().user_id).collect();
    let count = |a: Answer| answers.iter().filter(|(_, x, _)| *x == a).count() as u64;
    let (done, failed) = (count(Answer::Done), count(Answer::Failed));
    let submitted = live.submitted.load(Relaxed);
    println!(
        "\n{submitted} jobs from {} callers in {elapsed:.2?}",
        answers.len()
    );
    println!("  acked          {done:>5}  (workers acked {acks})");
    println!(
        "  dead-lettered  {failed:>5}  (after {} tries each)",
        MAX_REDELIVERIES + 1
    );
    println!("  retries        {:>5}", stats.redelivered);
    let waited = live.waited_for_room.load(Relaxed);
    println!("  found the mailbox full: {waited} callers (awaited room, no thread blocked)");
    println!("\n  time to answer (acked)    p50      p99");
    let rows = TIERS.iter().enumerate().map(|(tier, (name, _))| {
        let name = format!("{name} (priority {})", TIERS[tier].1);
        (
            name,
            Box::new(move |id| tier_of(id) == tier) as Box<dyn Fn(u64) -> bool>,
        )
    });
    let paths = [("send_async, Acked", true), ("reserve + receipt", false)].map(|(name, one)| {
        (
            name.to_string(),
            Box::new(move |id| one_call(id) == one) as _,
        )
    });
    for (name, pick) in rows.chain(paths) {
        let mut times: Vec<Duration> = (answers.iter())
            .filter(|&&(id, a, _)| pick(id) && a == Answer::Done)
            .map(|&(_, _, t)| t)
            .collect();
        times.sort_unstable();
        let pct = |p: usize| times[(times.len() - 1) * p / 100];
        println!("  {name:<22} {:>8.1?} {:>8.1?}", pct(50), pct(99));
    }

    assert_eq!(
        answers.len() as u64,
        BURST * BURSTS,
        "every caller answered"
    );
    assert_eq!(
        submitted,
        done + failed,
        "submitted = acked + dead-lettered"
    );
    assert_eq!(done, acks, "answered Done = acked by workers");
    assert_eq!(stats.acked, done, "mailbox stats: acked");
    assert_eq!(stats.dead_lettered, failed, "mailbox stats: dead-lettered");
    let mut failed_ids: Vec<u64> = answers
        .iter()
        .filter(|(_, a, _)| *a == Answer::Failed)
        .map(|&(id, _, _)| id)
        .collect();
    let mut dead_ids = dead_letters;
    failed_ids.sort_unstable();
    dead_ids.sort_unstable();
    assert_eq!(failed_ids, dead_ids, "the failed jobs are the dead letters");
    assert!(failed > 0 && done > 0, "both outcomes occur");
    println!("\ntally checks: submitted {submitted} = acked {done} + dead-lettered {failed}; every caller answered");
}

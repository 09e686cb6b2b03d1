//! The seed's workload: a photo-studio backend where bursts of AI
//! profile-generation requests are queued to a pool of workers.
//!
//! - Producers (the web front end) submit requests into one bounded priority
//!   mailbox, created in a `PostOffice` under the name "jobs": producers
//!   `connect_sender("jobs")`, workers `connect_receiver("jobs")`. Urgent and
//!   paid requests get higher priorities than free ones.
//! - The mailbox is bounded, so a burst meets backpressure: a producer that
//!   finds it full blocks until a worker makes room (counted below), instead of
//!   flooding memory as a non-blocking producer would.
//! - Workers are spawned processes and competing consumers: each request goes
//!   to exactly one of them. When every producer is done, main closes the
//!   mailbox (`office.close("jobs")`): workers drain what is queued, then
//!   their receive ends with `Closed` and they return.
//! - Some uploads are corrupt (`--poison K`) and crash the worker that takes
//!   one. A supervisor starts every worker with `spawn_monitored`, so its
//!   `Monitor` watches before the worker can crash; it gets a `Down` notice
//!   with the panic message and restarts the worker under the same name. The
//!   request in the crashed worker's hands is lost with it, for now: consumer
//!   acknowledgements (a later issue) will requeue it instead.
//! - At the end main destroys the mailbox (anything left goes to the office's
//!   dead letters), and every request is accounted for, checked exactly:
//!   created = accepted by the mailbox + handed back at send, and accepted =
//!   completed + lost to crashes + left in the mailbox; the mailbox's own
//!   statistics must agree.
//!
//! ```text
//! cargo run --release --example job_queue
//! cargo run --release --example job_queue -- --jobs 50000 --workers 16 --producers 8 --capacity 64 --poison 5
//! ```

#[path = "support/job_queue_cli.rs"]
mod cli;

use std::collections::HashMap;
use std::fmt;
use std::panic;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use cli::{percentile, show, show_progress, Config, USAGE};
use postbox::{
    ExitReason, Mailbox, MailboxStats, Message, Monitor, Owner, Pid, PostOffice, Process,
    ProcessHandle, Sender, TrySendError,
};

/// Priority levels of the request mailbox: priorities `0..LEVELS`.
const LEVELS: u8 = 10;

/// The request mailbox's name in the office.
const JOBS: &str = "jobs";

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

/// How much the customer paid, which decides the request's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Free tier: best effort.
    Free,
    /// Paid: ahead of free requests.
    Paid,
    /// Paid and flagged urgent: ahead of everything.
    Urgent,
}

impl Tier {
    const ALL: [Tier; 3] = [Tier::Urgent, Tier::Paid, Tier::Free];

    /// The message priority (a higher number is more urgent).
    fn priority(self) -> u8 {
        match self {
            Tier::Free => 0,
            Tier::Paid => 5,
            Tier::Urgent => LEVELS - 1,
        }
    }

    fn index(self) -> usize {
        match self {
            Tier::Urgent => 0,
            Tier::Paid => 1,
            Tier::Free => 2,
        }
    }

    /// 70% free, 20% paid, 10% urgent.
    fn pick(roll: u64) -> Tier {
        match roll % 10 {
            0 => Tier::Urgent,
            1 | 2 => Tier::Paid,
            _ => Tier::Free,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Tier::Free => "free",
            Tier::Paid => "paid",
            Tier::Urgent => "urgent",
        })
    }
}

/// The look the customer asked for; some take the generator longer than others.
#[derive(Debug, Clone, Copy)]
enum Style {
    Passport,
    Sketch,
    Anime,
    Watercolor,
    StudioPortrait,
}

impl Style {
    const ALL: [Style; 5] = [
        Style::Passport,
        Style::Sketch,
        Style::Anime,
        Style::Watercolor,
        Style::StudioPortrait,
    ];

    /// Simulated generation time.
    fn work(self) -> Duration {
        Duration::from_micros(match self {
            Style::Passport => 100,
            Style::Sketch => 250,
            Style::Anime => 400,
            Style::Watercolor => 600,
            Style::StudioPortrait => 1_000,
        })
    }
}

/// One AI profile-generation request: the message body.
#[derive(Debug)]
struct ProfileRequest {
    /// Who asked.
    user_id: u64,
    /// What they asked for.
    style: Style,
    /// What they paid for.
    tier: Tier,
    /// When the front end accepted it, for the queue-wait latency.
    submitted: Instant,
    /// A corrupt upload: the generator panics on it (`--poison`).
    corrupt: bool,
}

impl ProfileRequest {
    fn into_message(self) -> Message<ProfileRequest> {
        let priority = self.tier.priority();
        Message::new(self).priority(priority)
    }
}

/// A tiny deterministic pseudo-random generator (xorshift64*), so the run
/// needs no dependency and is the same every time.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 16
    }
}

// ---------------------------------------------------------------------------
// Counters shared with the progress line
// ---------------------------------------------------------------------------

/// Live counters, read by the progress line while the run goes on.
#[derive(Debug, Default)]
struct Progress {
    /// Requests accepted by the mailbox.
    submitted: AtomicU64,
    /// Sends that found the mailbox full and had to wait (backpressure).
    blocked: AtomicU64,
    /// Requests a worker finished.
    completed: AtomicU64,
    /// Workers that crashed.
    crashes: AtomicU64,
}

// ---------------------------------------------------------------------------
// Producers
// ---------------------------------------------------------------------------

/// What one producer did.
#[derive(Debug, Default)]
struct ProducerReport {
    /// Requests the mailbox accepted.
    submitted: u64,
    /// Requests the mailbox refused and handed back (it closed under us).
    handed_back: Vec<ProfileRequest>,
    /// Sends that found the mailbox full and blocked.
    blocked_sends: u64,
    /// Time spent blocked on a full mailbox.
    blocked_for: Duration,
}

/// Submits `count` requests, users numbered from `first_user`; those whose id
/// is in `poisoned` are corrupt.
fn producer(
    id: usize,
    tx: Sender<ProfileRequest>,
    (first_user, count): (u64, u64),
    poisoned: &[u64],
    progress: &Progress,
) -> ProducerReport {
    let mut rng = Rng::new(id as u64 + 1);
    let mut report = ProducerReport::default();
    for user_id in first_user..first_user + count {
        let request = ProfileRequest {
            user_id,
            style: Style::ALL[(rng.next() % Style::ALL.len() as u64) as usize],
            tier: Tier::pick(rng.next()),
            submitted: Instant::now(),
            corrupt: poisoned.binary_search(&user_id).is_ok(),
        };
        // Try without waiting first, so that backpressure can be counted; the
        // seed's RabbitMQ producer would just fire and forget here.
        let refused = match tx.try_send(request.into_message()) {
            Ok(()) => None,
            Err(TrySendError::Full(msg)) => {
                report.blocked_sends += 1;
                progress.blocked.fetch_add(1, Ordering::Relaxed);
                let start = Instant::now();
                let sent = tx.send(msg); // blocks until a worker makes room
                report.blocked_for += start.elapsed();
                sent.err().and_then(|err| err.into_inner())
            }
            Err(err) => err.into_inner(),
        };
        match refused {
            None => {
                report.submitted += 1;
                progress.submitted.fetch_add(1, Ordering::Relaxed);
            }
            // Handed back, never lost: keep it for the tally.
            Some(request) => report.handed_back.push(request),
        }
    }
    report
}

// ---------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------

/// What the worker in one slot (`worker-N`, restarts included) did. Shared
/// with the supervisor: a crashed worker's report survives it.
#[derive(Debug, Default)]
struct WorkerReport {
    /// Time from submission to a worker taking it, per tier (`Tier::index`).
    waits: [Vec<Duration>; 3],
    /// The sum of the user ids served, to check that each was served once.
    user_sum: u128,
    /// The user id of the request being generated now: the one a crash loses.
    in_hand: Option<u64>,
}

impl WorkerReport {
    fn completed(&self) -> u64 {
        self.waits.iter().map(|w| w.len() as u64).sum()
    }
}

/// One report per worker slot.
type Reports = Arc<[Mutex<WorkerReport>]>;

/// Locks a report. A worker never panics while holding the lock, but a
/// poisoned lock would still hold good counts.
fn lock(report: &Mutex<WorkerReport>) -> MutexGuard<'_, WorkerReport> {
    report.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A worker process: connects to the jobs mailbox by name and takes requests
/// until it is closed and drained.
fn worker(me: Process<()>, report: &Mutex<WorkerReport>, progress: &Progress) {
    let rx = me
        .office()
        .connect_receiver::<ProfileRequest>(JOBS)
        .expect("destroyed only after every worker has ended");
    for msg in rx.iter() {
        let request = msg.into_body();
        let waited = request.submitted.elapsed();
        lock(report).in_hand = Some(request.user_id);
        generate_profile(&request);
        let mut report = lock(report);
        report.in_hand = None;
        report.waits[request.tier.index()].push(waited);
        report.user_sum += u128::from(request.user_id);
        progress.completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stands in for the AI model: sleeps for the style's generation time (the
/// real one waits on a GPU service), and crashes on a corrupt upload.
fn generate_profile(request: &ProfileRequest) {
    assert!(
        !request.corrupt,
        "corrupt upload from user {}",
        request.user_id
    );
    thread::sleep(request.style.work());
}

// ---------------------------------------------------------------------------
// Supervisor
// ---------------------------------------------------------------------------

/// A crashed worker and its replacement.
#[derive(Debug)]
struct Restart {
    name: String,
    crashed: Pid,
    /// The panic message, from `ExitReason::Panicked`.
    why: String,
    /// The replacement's pid, `None` if the run was already over.
    replaced_by: Option<Pid>,
    at: Duration,
}

/// What the supervisor saw.
#[derive(Debug, Default)]
struct Supervision {
    restarts: Vec<Restart>,
    /// User ids of the requests lost with crashed workers.
    lost: Vec<u64>,
}

/// Starts `worker-{slot}`, watched by `monitor` from before its first step.
fn spawn_worker(
    office: &PostOffice,
    monitor: &Monitor,
    slot: usize,
    reports: &Reports,
    progress: &Arc<Progress>,
) -> ProcessHandle {
    let (reports, progress) = (Arc::clone(reports), Arc::clone(progress));
    office
        .spawn_monitored::<(), _>(&format!("worker-{slot}"), monitor, move |me| {
            worker(me, &reports[slot], &progress)
        })
        .expect("the name is free: a crashed worker's name is freed before its Down notice")
}

/// Runs the workers: starts them, restarts any that crash while work is left,
/// and returns when every worker has ended (they end once the jobs mailbox is
/// closed and drained).
fn supervise(
    office: &PostOffice,
    config: Config,
    progress: &Arc<Progress>,
    reports: &Reports,
    jobs: &Sender<ProfileRequest>,
) -> Supervision {
    let start = Instant::now();
    let monitor = Monitor::new(office);
    let mut live: HashMap<Pid, (usize, ProcessHandle)> = (0..config.workers)
        .map(|slot| spawn_worker(office, &monitor, slot, reports, progress))
        .enumerate()
        .map(|(slot, handle)| (handle.pid(), (slot, handle)))
        .collect();

    let mut seen = Supervision::default();
    while !live.is_empty() {
        let down = monitor.recv().expect("a monitor holds its own sender");
        let (slot, handle) = live.remove(&down.pid()).expect("one of ours");
        let _ = handle.join(); // a panic's payload: the notice has its message
        match down.reason() {
            ExitReason::Normal => {}
            ExitReason::Panicked(why) => {
                progress.crashes.fetch_add(1, Ordering::Relaxed);
                seen.lost.extend(lock(&reports[slot]).in_hand.take());
                // Closed and empty is final (nothing can be sent any more):
                // a replacement would find no work.
                let over = jobs.is_closed() && jobs.is_empty();
                let replaced_by = (!over).then(|| {
                    let handle = spawn_worker(office, &monitor, slot, reports, progress);
                    let pid = handle.pid();
                    live.insert(pid, (slot, handle));
                    pid
                });
                seen.restarts.push(Restart {
                    name: format!("worker-{slot}"),
                    crashed: down.pid(),
                    why: why.clone(),
                    replaced_by,
                    at: start.elapsed(),
                });
            }
            other => panic!("worker {} ended unexpectedly: {other}", down.pid()),
        }
    }
    seen
}

// ---------------------------------------------------------------------------
// Progress line
// ---------------------------------------------------------------------------

/// The live status line, redrawn by `cli::show_progress`.
fn status_line(config: Config, progress: &Progress, jobs: &Sender<ProfileRequest>) -> String {
    format!(
        "submitted {:>6}/{}  completed {:>6}  queued {:>4}/{}  blocked sends {:>6}  crashes {}",
        progress.submitted.load(Ordering::Relaxed),
        config.jobs,
        progress.completed.load(Ordering::Relaxed),
        jobs.len(),
        config.capacity,
        progress.blocked.load(Ordering::Relaxed),
        progress.crashes.load(Ordering::Relaxed),
    )
}

// ---------------------------------------------------------------------------
// The tally
// ---------------------------------------------------------------------------

/// Where every request ended up. Each path is counted once; `check` proves
/// that nothing went missing unaccounted. (Acknowledgements will change the
/// places: a crashed worker's request is requeued for redelivery instead of
/// lost, and one that keeps failing ends up dead-lettered.)
#[derive(Debug, Default)]
struct Tally {
    /// Requests the producers created.
    created: u64,
    /// Accepted by the mailbox.
    submitted: u64,
    /// Refused at send and handed back to the producer.
    handed_back: u64,
    /// Finished by a worker.
    completed: u64,
    /// Taken by a worker that crashed on it: lost with the worker, until
    /// consumer acks redeliver it.
    lost_to_crash: u64,
    /// Still in the mailbox when it was destroyed: the office's dead letters.
    left_in_mailbox: u64,
    /// The sum of the user ids of every request in one of the places above.
    user_sum: u128,
}

impl Tally {
    /// Every request is in exactly one final place, and the mailbox's own
    /// statistics agree.
    fn check(&self, stats: &MailboxStats) {
        // User ids are 0..created: each appears exactly once (with the counts
        // below, a duplicate would have to cancel a loss to the unit).
        let ids = u128::from(self.created);
        assert_eq!(self.user_sum, ids * ids.saturating_sub(1) / 2);
        assert_eq!(self.created, self.submitted + self.handed_back);
        assert_eq!(
            self.submitted,
            self.completed + self.lost_to_crash + self.left_in_mailbox
        );
        assert_eq!(stats.sent, self.submitted);
        assert_eq!(stats.received, self.completed + self.lost_to_crash);
        assert_eq!(stats.dead_lettered, self.left_in_mailbox);
        assert_eq!(stats.dropped, 0);
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("error: {problem}\n");
            }
            eprintln!("{USAGE}");
            return if problem.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    println!(
        "AI profile studio: {} requests ({} corrupt), {} producers -> office mailbox {JOBS:?} \
         (priority, {} levels, capacity {}) -> {} supervised worker processes",
        config.jobs,
        config.poisoned_ids().len(),
        config.producers,
        LEVELS,
        config.capacity,
        config.workers
    );

    // A worker's panic is reported by the supervisor (`ExitReason::Panicked`
    // carries its message), so the hook stays quiet for workers; any other
    // thread's panic is printed as usual.
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let name = thread::current().name().map(str::to_string);
        if !name.is_some_and(|n| n.starts_with("worker-")) {
            default_hook(info);
        }
    }));

    let office = PostOffice::new();
    let builder = Mailbox::builder()
        .priority(LEVELS)
        .capacity(config.capacity);
    office
        .create::<ProfileRequest>(JOBS, builder, Owner::System)
        .expect("a new office has no names");
    // Main's own handle, for the progress line and the statistics; it sends
    // nothing.
    let jobs = office
        .connect_sender::<ProfileRequest>(JOBS)
        .expect("created");
    let progress = Arc::new(Progress::default());
    let reports: Reports = (0..config.workers).map(|_| Mutex::default()).collect();
    let poisoned = config.poisoned_ids();
    let (stop_ticker, stop) = Mailbox::<()>::builder().build();
    let start = Instant::now();

    let (producer_reports, supervision) = thread::scope(|s| {
        let (office, progress, poisoned, jobs) = (&office, &progress, &poisoned, &jobs);
        let reports = &reports;

        let producers: Vec<_> = (0..config.producers)
            .map(|id| {
                let tx = office.connect_sender(JOBS).expect("created");
                let users = config.users_of(id);
                s.spawn(move || producer(id, tx, users, poisoned, progress))
            })
            .collect();

        let ticker = s.spawn(move || show_progress(stop, || status_line(config, progress, jobs)));

        let supervisor = s.spawn(move || supervise(office, config, progress, reports, jobs));

        let producer_reports: Vec<ProducerReport> = producers
            .into_iter()
            .map(|p| p.join().expect("producer panicked"))
            .collect();
        // No more work. The office holds "jobs" open without senders (others
        // could connect later), so say so: the workers drain what is queued,
        // then their receive ends with Closed.
        office.close(JOBS).expect("created by main");
        let supervision = supervisor.join().expect("supervisor panicked");
        drop(stop_ticker);
        ticker.join().expect("progress line panicked");
        (producer_reports, supervision)
    });
    let elapsed = start.elapsed();

    // Every worker has ended: destroy the mailbox. What was still queued
    // (none, unless the workers stopped early) goes to dead letters, not
    // nowhere.
    office.destroy(JOBS).expect("created by main");
    let left = office.dead_letters().drain::<ProfileRequest>();
    let stats = jobs.stats();
    let worker_reports: Vec<WorkerReport> = reports
        .iter()
        .map(|r| std::mem::take(&mut *lock(r)))
        .collect();

    let handed_back = producer_reports.iter().flat_map(|p| &p.handed_back);
    let user_sum = worker_reports.iter().map(|w| w.user_sum).sum::<u128>()
        + handed_back.map(|r| u128::from(r.user_id)).sum::<u128>()
        + supervision
            .lost
            .iter()
            .map(|&id| u128::from(id))
            .sum::<u128>()
        + left
            .iter()
            .map(|l| u128::from(l.body().user_id))
            .sum::<u128>();

    let tally = Tally {
        created: config.jobs,
        submitted: producer_reports.iter().map(|p| p.submitted).sum(),
        handed_back: producer_reports
            .iter()
            .map(|p| p.handed_back.len() as u64)
            .sum(),
        completed: worker_reports.iter().map(WorkerReport::completed).sum(),
        lost_to_crash: supervision.lost.len() as u64,
        left_in_mailbox: left.len() as u64,
        user_sum,
    };
    tally.check(&stats);
    // Every corrupt request crashed a worker: none was completed.
    let mut lost = supervision.lost.clone();
    lost.sort_unstable();
    assert_eq!(lost, poisoned);

    report(
        config,
        elapsed,
        &tally,
        &producer_reports,
        &worker_reports,
        &supervision,
        &stats,
    );
    ExitCode::SUCCESS
}

/// Prints the final tally.
fn report(
    config: Config,
    elapsed: Duration,
    tally: &Tally,
    producers: &[ProducerReport],
    workers: &[WorkerReport],
    supervision: &Supervision,
    stats: &MailboxStats,
) {
    println!(
        "\ndone in {elapsed:.2?}: {:.0} requests/s",
        tally.completed as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  requests      created {} = submitted {} + handed back at send {}",
        tally.created, tally.submitted, tally.handed_back
    );
    println!(
        "                submitted {} = completed {} + lost to crashes {} + left in mailbox {}",
        tally.submitted, tally.completed, tally.lost_to_crash, tally.left_in_mailbox
    );
    println!("                (checked: every user id accounted for exactly once)");
    println!(
        "                (lost to crashes: the request a worker held when it panicked; \
         consumer acks will requeue it for redelivery instead)"
    );

    println!(
        "\n  worker restarts (supervisor, Monitor): {}",
        supervision.restarts.len()
    );
    for r in &supervision.restarts {
        let after = match r.replaced_by {
            Some(pid) => format!("restarted as {} {pid}", r.name),
            None => "not restarted: the run was over".to_string(),
        };
        println!(
            "    [{:>5.2}s] {} {} panicked: {} -> {after}",
            r.at.as_secs_f64(),
            r.name,
            r.crashed,
            r.why
        );
    }
    println!();

    let blocked: u64 = producers.iter().map(|p| p.blocked_sends).sum();
    let blocked_for: Duration = producers.iter().map(|p| p.blocked_for).sum();
    println!(
        "  backpressure  {blocked} of {} sends ({:.1}%) found the mailbox full and waited,",
        tally.submitted,
        100.0 * blocked as f64 / tally.submitted.max(1) as f64,
    );
    println!(
        "                {blocked_for:.2?} blocked in all, {:.2?} per producer",
        blocked_for / config.producers as u32,
    );
    println!("\n  queue wait (submitted -> taken by a worker, including time blocked on a full mailbox):");
    println!(
        "  {:<8} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "tier", "priority", "done", "p50", "p99", "max"
    );
    for tier in Tier::ALL {
        let mut waits: Vec<Duration> = workers
            .iter()
            .flat_map(|w| w.waits[tier.index()].iter().copied())
            .collect();
        waits.sort_unstable();
        println!(
            "  {:<8} {:>8} {:>8} {:>10} {:>10} {:>10}",
            tier,
            tier.priority(),
            waits.len(),
            show(percentile(&waits, 50.0)),
            show(percentile(&waits, 99.0)),
            show(waits.last().copied()),
        );
    }

    let per_worker: Vec<u64> = workers.iter().map(WorkerReport::completed).collect();
    println!(
        "\n  completed per worker slot, restarts included (competing consumers): {per_worker:?}"
    );
    println!(
        "  mailbox stats: sent {}, received {}, dropped {}, len {}, peak_len {} (sampled) of {}, \
         found_full {} (try_send refusals plus blocking sends that met a full mailbox again)",
        stats.sent,
        stats.received,
        stats.dropped,
        stats.len,
        stats.peak_len,
        config.capacity,
        stats.found_full
    );
}

//! The seed's workload: a photo-studio backend where bursts of AI
//! profile-generation requests are queued to a pool of workers.
//!
//! - Producers (the web front end) submit requests into one bounded priority
//!   mailbox. Urgent and paid requests get higher priorities than free ones.
//! - The mailbox is bounded, so a burst meets backpressure: a producer that
//!   finds it full blocks until a worker makes room (counted below), instead of
//!   flooding memory as a non-blocking producer would.
//! - Workers are competing consumers: cloned receivers, each request goes to
//!   exactly one of them.
//! - At the end every request is accounted for, checked exactly: created =
//!   accepted by the mailbox + handed back at send, and accepted = completed +
//!   left in the mailbox; the mailbox's own statistics must agree.
//!
//! ```text
//! cargo run --release --example job_queue
//! cargo run --release --example job_queue -- --jobs 50000 --workers 16 --producers 8 --capacity 64
//! ```

use std::fmt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use postbox::{Mailbox, MailboxStats, Message, Receiver, RecvTimeoutError, Sender, TrySendError};

/// Priority levels of the request mailbox: priorities `0..LEVELS`.
const LEVELS: u8 = 10;

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// What the run looks like; every field has a command-line flag.
#[derive(Debug, Clone, Copy)]
struct Config {
    /// Requests submitted in all (`--jobs`).
    jobs: u64,
    /// Worker threads (`--workers`).
    workers: usize,
    /// Producer threads (`--producers`).
    producers: usize,
    /// Mailbox capacity (`--capacity`).
    capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            jobs: 20_000,
            workers: 8,
            producers: 4,
            capacity: 256,
        }
    }
}

const USAGE: &str = "\
usage: job_queue [--jobs N] [--workers M] [--producers P] [--capacity C]

  --jobs N        requests to submit in all         (default 20000)
  --workers M     worker threads                    (default 8)
  --producers P   producer threads                  (default 4)
  --capacity C    mailbox capacity (backpressure)   (default 256)";

impl Config {
    /// Parses `--flag value` and `--flag=value` pairs by hand (no dependencies).
    fn from_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
        let mut config = Config::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Err(String::new());
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let value = match inline.or_else(|| args.next()) {
                Some(value) => value,
                None => return Err(format!("{flag} needs a value")),
            };
            let number = |min: u64| -> Result<u64, String> {
                match value.replace('_', "").parse::<u64>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(format!(
                        "{flag} wants a whole number >= {min}, not {value:?}"
                    )),
                }
            };
            match flag.as_str() {
                "--jobs" => config.jobs = number(0)?,
                "--workers" => config.workers = number(1)? as usize,
                "--producers" => config.producers = number(1)? as usize,
                "--capacity" => config.capacity = number(0)? as usize,
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}

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

/// Submits `count` requests, users numbered from `first_user`.
fn producer(
    id: usize,
    tx: Sender<ProfileRequest>,
    first_user: u64,
    count: u64,
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

/// What one worker did: the queue wait of every request it completed, by tier.
#[derive(Debug, Default)]
struct WorkerReport {
    /// Time from submission to a worker taking it, per tier (`Tier::index`).
    waits: [Vec<Duration>; 3],
    /// The sum of the user ids served, to check that each was served once.
    user_sum: u128,
}

impl WorkerReport {
    fn completed(&self) -> u64 {
        self.waits.iter().map(|w| w.len() as u64).sum()
    }
}

/// Takes requests until the mailbox is closed and empty.
fn worker(rx: Receiver<ProfileRequest>, progress: &Progress) -> WorkerReport {
    let mut report = WorkerReport::default();
    for msg in rx.iter() {
        let request = msg.into_body();
        let waited = request.submitted.elapsed();
        generate_profile(&request);
        report.waits[request.tier.index()].push(waited);
        report.user_sum += u128::from(request.user_id);
        progress.completed.fetch_add(1, Ordering::Relaxed);
    }
    report
}

/// Stands in for the AI model: sleeps for the style's generation time (the
/// real one waits on a GPU service).
fn generate_profile(request: &ProfileRequest) {
    thread::sleep(request.style.work());
}

// ---------------------------------------------------------------------------
// Progress line
// ---------------------------------------------------------------------------

/// Redraws one status line until `stop` closes: in place (`\r`) on a
/// terminal, a plain line every half second otherwise (logs, CI).
fn show_progress(
    config: Config,
    progress: &Progress,
    rx: &Receiver<ProfileRequest>,
    stop: Receiver<()>,
) {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(500)
    };
    let mut err = std::io::stderr().lock();
    loop {
        // The stop mailbox doubles as the ticker: a timeout means "redraw",
        // Closed (main dropped its sender) means "the run is over".
        let last = match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(_) | Err(RecvTimeoutError::Closed) => true,
        };
        let line = format!(
            "[{:>5.1}s] submitted {:>6}/{}  completed {:>6}  queued {:>4}/{}  blocked sends {:>6}",
            start.elapsed().as_secs_f64(),
            progress.submitted.load(Ordering::Relaxed),
            config.jobs,
            progress.completed.load(Ordering::Relaxed),
            rx.len(),
            config.capacity,
            progress.blocked.load(Ordering::Relaxed),
        );
        let _ = if tty {
            write!(err, "\r{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        if last {
            break;
        }
    }
    if tty {
        let _ = writeln!(err);
    }
}

// ---------------------------------------------------------------------------
// The tally
// ---------------------------------------------------------------------------

/// Where every request ended up. Each path is counted once; `check` proves
/// that nothing was lost. (Acknowledgements and dead letters will add places:
/// a worker that fails a job nacks it for redelivery, and a job that keeps
/// failing ends up dead-lettered.)
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
    /// Still in the mailbox after the workers stopped (taken back by `close`).
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
        assert_eq!(self.submitted, self.completed + self.left_in_mailbox);
        assert_eq!(stats.sent, self.submitted);
        assert_eq!(stats.received, self.completed + self.left_in_mailbox);
        assert_eq!(stats.dropped, 0);
    }
}

/// The nearest-rank percentile of sorted durations (`None` if there are none).
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

/// A latency for the table: `-` when there was nothing to measure.
fn show(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_string(), |d| format!("{d:.2?}"))
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
        "AI profile studio: {} requests, {} producers -> priority mailbox ({} levels, capacity {}) -> {} workers",
        config.jobs, config.producers, LEVELS, config.capacity, config.workers
    );

    let (tx, rx) = Mailbox::<ProfileRequest>::builder()
        .priority(LEVELS)
        .capacity(config.capacity)
        .build();
    let progress = Progress::default();
    let (stop_ticker, stop) = Mailbox::<()>::builder().build();
    let start = Instant::now();

    let (producer_reports, worker_reports) = thread::scope(|s| {
        let progress = &progress;

        let workers: Vec<_> = (0..config.workers)
            .map(|_| {
                let rx = rx.clone();
                s.spawn(move || worker(rx, progress))
            })
            .collect();

        // Split the jobs as evenly as possible between the producers.
        let per = config.jobs / config.producers as u64;
        let extra = config.jobs % config.producers as u64;
        let mut first_user = 0;
        let producers: Vec<_> = (0..config.producers)
            .map(|id| {
                let count = per + u64::from((id as u64) < extra);
                let tx = tx.clone();
                let first = first_user;
                first_user += count;
                s.spawn(move || producer(id, tx, first, count, progress))
            })
            .collect();
        // Only the producers hold senders now: when they finish, the mailbox
        // closes and the workers drain it and stop.
        drop(tx);

        let rx = &rx;
        let ticker = s.spawn(move || show_progress(config, progress, rx, stop));

        let producer_reports: Vec<ProducerReport> = producers
            .into_iter()
            .map(|p| p.join().expect("producer panicked"))
            .collect();
        let worker_reports: Vec<WorkerReport> = workers
            .into_iter()
            .map(|w| w.join().expect("worker panicked"))
            .collect();
        drop(stop_ticker);
        ticker.join().expect("progress line panicked");
        (producer_reports, worker_reports)
    });
    let elapsed = start.elapsed();

    // Anything the workers did not take (none, unless they stopped early) is
    // handed back by close, not dropped.
    let left = rx.close();
    let stats = rx.stats();

    let handed_back = producer_reports.iter().flat_map(|p| &p.handed_back);
    let user_sum = worker_reports.iter().map(|w| w.user_sum).sum::<u128>()
        + handed_back.map(|r| u128::from(r.user_id)).sum::<u128>()
        + left
            .iter()
            .map(|m| u128::from(m.body().user_id))
            .sum::<u128>();

    let tally = Tally {
        created: config.jobs,
        submitted: producer_reports.iter().map(|p| p.submitted).sum(),
        handed_back: producer_reports
            .iter()
            .map(|p| p.handed_back.len() as u64)
            .sum(),
        completed: worker_reports.iter().map(WorkerReport::completed).sum(),
        left_in_mailbox: left.len() as u64,
        user_sum,
    };
    tally.check(&stats);

    report(
        config,
        elapsed,
        &tally,
        &producer_reports,
        &worker_reports,
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
        "                submitted {} = completed {} + left in mailbox {}",
        tally.submitted, tally.completed, tally.left_in_mailbox
    );
    println!("                (checked: every user id accounted for exactly once)");

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
    println!("\n  completed per worker (competing consumers): {per_worker:?}");
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

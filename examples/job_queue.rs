//! The seed's workload: a photo-studio backend where bursts of AI
//! profile-generation requests are queued to a pool of workers, and no
//! request is lost on the way.
//!
//! - Producers (the web front end) submit requests into one bounded priority
//!   mailbox, created in a `PostOffice` under the name "jobs". Urgent and
//!   paid requests get higher priorities than free ones.
//! - The mailbox blocks when full (`Overflow::Block`), so a burst meets
//!   backpressure: a producer that finds it full waits until a worker makes
//!   room (counted below), instead of flooding memory as a non-blocking
//!   producer would.
//! - Workers are spawned processes and competing consumers. Each takes
//!   requests with acknowledgement (`recv_ack`) and holds at most
//!   `--prefetch` unanswered deliveries at a time (RabbitMQ's `basic.qos`).
//!   A generated profile is acked. A request the model service turned away
//!   (`--flaky`) is nacked with `Requeue::After(backoff)`: it comes back
//!   later, to any worker, while this one goes on.
//! - Some uploads are corrupt (`--poison`) and crash the worker that takes
//!   one. The panic unwinds through the worker's deliveries, which go back to
//!   the mailbox unanswered, so the request in its hands is requeued, not
//!   lost. A supervisor starts every worker with `spawn_monitored`, gets a
//!   `Down` notice with the panic message and starts a replacement under the
//!   same name. A request that keeps failing is not retried forever: the
//!   mailbox's `max_redeliveries` sends it to the office's dead letters
//!   (reason `MaxRedeliveries`) after `--max-redeliveries` + 1 tries.
//! - When every producer is done, main closes the mailbox
//!   (`office.close("jobs")`): workers drain what is queued, wait for the
//!   delayed retries, then their receive ends with `Closed` and they return.
//! - The tally accounts for every request exactly once (submitted = acked +
//!   dead-lettered + handed back at send), checks that the mailbox's own
//!   statistics agree, and shows redeliveries, queue latency per priority and
//!   throughput. The example fails (exit code 1) if anything does not add up.
//!
//! - `--durable DIR` keeps the jobs mailbox in a log in DIR: the same office
//!   mailbox, made with `create_durable`, closed but never destroyed (that
//!   would empty the log). Kill a run in the middle (Ctrl-C, `kill -9`), run
//!   again with the same DIR, and the tally counts the requests it recovered
//!   (submitted + recovered = acked + dead-lettered + handed back).
//!
//! This file reads top-down: `main`, then the producers, the mailbox, the
//! supervised workers, and the tally's checks. The rest is in
//! `examples/support/`: the command line (`job_queue_cli.rs`; `--help` lists
//! the flags), the progress line (`progress.rs`), the records each part keeps
//! for the tally and the tally's counts (`job_queue_records.rs`), the printed
//! report (`job_queue_report.rs`), the simulated studio: tiers, styles and
//! the stand-ins for the AI model service (`job_queue_workload.rs`), and the
//! log behind `--durable` (`job_queue_durable.rs`).
//!
//! ```text
//! cargo run --release --example job_queue
//! cargo run --release --example job_queue -- --help
//! cargo run --release --example job_queue -- --jobs 50000 --workers 8 --poison 5 --flaky 5
//! cargo run --release --example job_queue -- --jobs 1000000 --workers 2 --poison 0 --flaky 0 --work-us 0
//! timeout --foreground -s KILL 0.5 target/release/examples/job_queue --durable /tmp/jobs; cargo run --release --example job_queue -- --durable /tmp/jobs
//! ```

#[path = "support/job_queue_cli.rs"]
mod cli;
#[path = "support/job_queue_durable.rs"]
mod durable;
#[path = "support/progress.rs"]
mod progress;
#[path = "support/job_queue_records.rs"]
mod records;
#[path = "support/job_queue_report.rs"]
mod report;
#[path = "support/job_queue_workload.rs"]
mod workload;

use std::collections::{HashMap, VecDeque};
use std::panic;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cli::Config;
use durable::Recovered;
use postbox::{
    DeadLetterReason, Delivery, ExitReason, Mailbox, Message, Monitor, Overflow, Owner, Pid,
    PostOffice, Process, ProcessHandle, RecvError, Requeue, Sender, TrySendError,
};
use progress::Live;
use records::{lock, Done, ProducerReport, Reports, Restart, Run, Tally, WorkerReport};
use workload::{generate_profile, service_busy, Rng, Style, Tier};

/// Priority levels of the request mailbox: priorities `0..LEVELS`.
const LEVELS: u8 = 10;

/// The request mailbox's name in the office.
const JOBS: &str = "jobs";

/// The run: producers submit every request into the jobs mailbox while a
/// supervisor keeps the workers going; then main closes the mailbox, waits for
/// the workers to drain it, and checks the tally (exit code 1 if it is off).
fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(exit) => return exit, // `--help`, or a mistake in the flags
    };
    let poisoned = config.poisoned_ids();
    report::print_setup(&config, poisoned.len());

    quiet_worker_panics();
    let office = PostOffice::new();
    open_jobs_mailbox(&office, config);
    // Main's own handle, for the progress line and the statistics; it sends
    // nothing.
    let jobs = office
        .connect_sender::<ProfileRequest>(JOBS)
        .expect("created");
    // What a killed run left in the log (`--durable`); nothing otherwise.
    let recovered = Recovered::at_open(&jobs.stats());
    if let Some(dir) = config.durable {
        recovered.print(dir);
    }
    let run_stamp = durable::run_stamp();
    let live = Live::default();
    let reports: Reports = (0..config.workers).map(|_| Mutex::default()).collect();
    let (stop_ticker, stop) = Mailbox::<()>::builder().build();
    let start = Instant::now();

    let (producers, restarts) = thread::scope(|s| {
        let (office, live, poisoned, jobs, reports) = (&office, &live, &poisoned, &jobs, &reports);
        let producers: Vec<_> = (0..config.producers)
            .map(|id| {
                let tx = office.connect_sender(JOBS).expect("created");
                let users = config.users_of(id);
                s.spawn(move || producer(id, tx, users, run_stamp, poisoned, live))
            })
            .collect();
        let ticker = s.spawn(move || {
            progress::show_progress(stop, || {
                progress::status_line(config.jobs, live, &jobs.stats())
            })
        });
        let supervisor = s.spawn(move || supervise(office, config, live, reports));

        let producers: Vec<ProducerReport> = producers
            .into_iter()
            .map(|p| p.join().expect("producer panicked"))
            .collect();
        // No more work. The office holds "jobs" open without senders (others
        // could connect later), so say so: the workers drain what is queued
        // and the retries still to come back, then their receive ends with
        // Closed.
        office.close(JOBS).expect("created by main");
        let restarts = supervisor.join().expect("supervisor panicked");
        drop(stop_ticker);
        ticker.join().expect("progress line panicked");
        (producers, restarts)
    });
    let elapsed = start.elapsed();

    // Every worker has ended, so nothing is queued, held or waiting for a
    // retry. Destroying the mailbox would send any leftover to dead letters
    // (reason Destroyed), never nowhere; the tally would show it. A durable
    // one stays closed: destroying it would empty its log, which keeps any
    // leftover for the next run (the report says how many).
    if config.durable.is_none() {
        office.destroy(JOBS).expect("created by main");
    }
    let dead_letters = office.dead_letters();
    let run = Run {
        config,
        elapsed,
        producers,
        workers: reports
            .iter()
            .map(|r| std::mem::take(&mut *lock(r)))
            .collect(),
        restarts,
        letters: dead_letters.drain::<ProfileRequest>(),
        office_counts: DeadLetterReason::ALL
            .iter()
            .map(|&r| (r, dead_letters.count(r)))
            .collect(),
        stats: jobs.stats(),
        recovered,
    };
    let tally = Tally::of(&run);
    report::print_results(&run, &tally);
    let failures = tally.check(&run, &poisoned);
    report::print_verdict(&failures);
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------
// Producers
// ---------------------------------------------------------------------------

/// One AI profile-generation request: the message body.
#[derive(Debug)]
struct ProfileRequest {
    /// Who asked (user ids are `0..jobs`, one request each).
    user_id: u64,
    /// What they asked for.
    style: Style,
    /// What they paid for.
    tier: Tier,
    /// When the front end made it, for the latency table.
    submitted: Instant,
    /// When a worker first took it. Stamped into the body, which travels
    /// with the message through every redelivery.
    first_taken: Option<Instant>,
    /// A corrupt upload: the generator panics on it (`--poison`).
    corrupt: bool,
    /// The run that made it (`durable::run_stamp`).
    run: u64,
    /// Recovered from the log by this run (`--durable`).
    recovered: bool,
    /// Its redelivery count when a worker of this run first took it.
    carried: Option<u32>,
}

impl ProfileRequest {
    fn into_message(self) -> Message<ProfileRequest> {
        let priority = self.tier.priority();
        Message::new(self).priority(priority)
    }
}

/// Submits `count` requests, users numbered from `first_user`; those whose id
/// is in `poisoned` are corrupt.
fn producer(
    id: usize,
    tx: Sender<ProfileRequest>,
    (first_user, count): (u64, u64),
    run: u64,
    poisoned: &[u64],
    live: &Live,
) -> ProducerReport {
    let mut rng = Rng::new(id as u64 + 1);
    let mut report = ProducerReport::default();
    for user_id in first_user..first_user + count {
        let request = ProfileRequest {
            user_id,
            style: Style::ALL[(rng.next() % Style::ALL.len() as u64) as usize],
            tier: Tier::pick(rng.next()),
            submitted: Instant::now(),
            first_taken: None,
            corrupt: poisoned.binary_search(&user_id).is_ok(),
            run,
            recovered: false,
            carried: None,
        };
        // Try without waiting first, so that backpressure can be counted; the
        // seed's RabbitMQ producer would just fire and forget here.
        let refused = match tx.try_send(request.into_message()) {
            Ok(()) => None,
            Err(TrySendError::Full(msg)) => {
                report.blocked_sends += 1;
                live.blocked.fetch_add(1, Ordering::Relaxed);
                let start = Instant::now();
                let sent = tx.send(msg); // blocks until a worker makes room
                report.blocked_for += start.elapsed();
                sent.err().and_then(|err| err.into_inner())
            }
            Err(err) => err.into_inner(),
        };
        match refused {
            None => report.accepted += 1,
            // Handed back, never lost: keep it for the tally.
            Some(request) => report.handed_back.push(request),
        }
    }
    report
}

// ---------------------------------------------------------------------------
// The mailbox
// ---------------------------------------------------------------------------

/// Creates the jobs mailbox in the office: priority levels, bounded, blocking
/// producers when full (backpressure), and sending a request to the office's
/// dead letters once it has been redelivered `max_redeliveries` times.
/// `Owner::System`: it stays until main destroys it (or the office goes).
///
/// With `--durable DIR`, `create_durable` makes the same office mailbox,
/// which also keeps its requests in a log in DIR and gets back what a killed
/// run left there (`support/job_queue_durable.rs`).
fn open_jobs_mailbox(office: &PostOffice, config: Config) {
    let builder = Mailbox::builder()
        .priority(LEVELS)
        .capacity(config.capacity)
        .overflow(Overflow::Block)
        .max_redeliveries(config.max_redeliveries);
    match config.durable {
        None => office
            .create::<ProfileRequest>(JOBS, builder, Owner::System)
            .expect("a new office has no names"),
        Some(dir) => office
            .create_durable(JOBS, builder.durable(durable::log(dir)), Owner::System)
            .unwrap_or_else(|e| panic!("cannot open the log in {}: {e}", dir.display())),
    }
}

// ---------------------------------------------------------------------------
// Supervised workers
// ---------------------------------------------------------------------------

/// A worker process: takes requests from the jobs mailbox with
/// acknowledgement until it is closed, drained and no retry is pending.
fn worker(me: Process<()>, config: Config, report: &Mutex<WorkerReport>) {
    let rx = me
        .office()
        .connect_receiver::<ProfileRequest>(JOBS)
        .expect("destroyed only after every worker has ended")
        .with_prefetch(config.prefetch);
    // The deliveries this worker holds, oldest first: the one it works on and
    // those taken ahead, up to the prefetch limit. If the worker panics, the
    // unwinding drops them all unanswered, and each goes back to the mailbox.
    let mut hand: VecDeque<Delivery<'_, ProfileRequest>> = VecDeque::with_capacity(config.prefetch);
    loop {
        if hand.is_empty() {
            match rx.recv_ack() {
                Ok(job) => hand.push_back(taken(job)),
                // Closed and drained, and no delayed retry can come back.
                Err(RecvError) => return,
            }
        }
        // Take ahead without waiting, as far as the prefetch limit allows
        // (`PrefetchFull`), so the next job is at hand when this one is done.
        while let Ok(job) = rx.try_recv_ack() {
            hand.push_back(taken(job));
        }
        lock(report).held = hand.len();

        let job = hand.pop_front().expect("the hand holds a delivery");
        let attempt = job.header().redeliveries();
        if service_busy(job.body().user_id, attempt, config.flaky) {
            // Transient: retry later, with a longer backoff after every try,
            // without this worker sleeping through it. Past the mailbox's
            // max_redeliveries this sends it to dead letters instead.
            job.nack(Requeue::After(backoff(attempt)));
            let mut report = lock(report);
            report.retried += 1;
            report.held = hand.len();
            continue;
        }
        // Panics on a corrupt upload, with `job` and `hand` unanswered.
        generate_profile(job.body(), config.work_us);
        let (header, request) = job.ack().into_parts();
        let first_taken = request.first_taken.expect("stamped when taken");
        let mut report = lock(report);
        report.held = hand.len();
        report.done.push(Done {
            user_id: request.user_id,
            tier: request.tier,
            queued: first_taken - request.submitted,
            total: request.submitted.elapsed(),
            redeliveries: header.redeliveries(),
            recovered: request
                .recovered
                .then(|| (request.run, request.carried.unwrap_or(0))),
        });
    }
}

/// Stamps a delivery's first taking (a redelivery keeps the first stamp).
fn taken(mut job: Delivery<'_, ProfileRequest>) -> Delivery<'_, ProfileRequest> {
    let redeliveries = job.header().redeliveries();
    let request = job.body_mut();
    request.first_taken.get_or_insert_with(Instant::now);
    request.carried.get_or_insert(redeliveries);
    job
}

/// How long a transiently failed request waits before its next try:
/// 1 ms, doubling with every try.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(1 << attempt.min(10))
}

/// A worker's panic is reported by the supervisor (`ExitReason::Panicked`
/// carries its message), so the panic hook stays quiet for workers; any
/// other thread's panic is printed as usual.
fn quiet_worker_panics() {
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let name = thread::current().name().map(str::to_string);
        if !name.is_some_and(|n| n.starts_with("worker-")) {
            default_hook(info);
        }
    }));
}

/// Starts `worker-{slot}`, watched by `monitor` from before its first step.
fn spawn_worker(
    office: &PostOffice,
    monitor: &Monitor,
    slot: usize,
    config: Config,
    reports: &Reports,
) -> ProcessHandle {
    let reports = Arc::clone(reports);
    office
        .spawn_monitored::<(), _>(&format!("worker-{slot}"), monitor, move |me| {
            worker(me, config, &reports[slot])
        })
        .expect("the name is free: a crashed worker's name is freed before its Down notice")
}

/// Runs the workers: starts them, replaces any that crash, and returns when
/// every worker has ended (they end once the jobs mailbox is closed, drained
/// and no retry is pending).
fn supervise(office: &PostOffice, config: Config, live: &Live, reports: &Reports) -> Vec<Restart> {
    let start = Instant::now();
    let monitor = Monitor::new(office);
    let mut workers: HashMap<Pid, (usize, ProcessHandle)> = (0..config.workers)
        .map(|slot| (slot, spawn_worker(office, &monitor, slot, config, reports)))
        .map(|(slot, handle)| (handle.pid(), (slot, handle)))
        .collect();

    let mut restarts = Vec::new();
    while !workers.is_empty() {
        let down = monitor.recv().expect("a monitor holds its own sender");
        let (slot, handle) = workers.remove(&down.pid()).expect("one of ours");
        let _ = handle.join(); // a panic's payload: the notice has its message
        match down.reason() {
            ExitReason::Normal => {}
            ExitReason::Panicked(why) => {
                live.crashes.fetch_add(1, Ordering::Relaxed);
                // Its deliveries were requeued while it unwound, before the
                // notice was sent.
                let gave_back = std::mem::take(&mut lock(&reports[slot]).held);
                // Always replace it, even after the mailbox closed: what it
                // gave back is queued again, and a closed mailbox hands it
                // only to a receiver that asks. A replacement with nothing
                // left to do gets `Closed` at once and ends.
                let handle = spawn_worker(office, &monitor, slot, config, reports);
                restarts.push(Restart {
                    slot,
                    crashed: down.pid(),
                    why: why.clone(),
                    gave_back,
                    replaced_by: handle.pid(),
                    at: start.elapsed(),
                });
                workers.insert(handle.pid(), (slot, handle));
            }
            other => panic!("worker {} ended unexpectedly: {other}", down.pid()),
        }
    }
    restarts
}

// ---------------------------------------------------------------------------
// The tally
// ---------------------------------------------------------------------------

// `Tally::of` counts where every request ended up (`support/job_queue_records.rs`).
impl Tally {
    /// Checks every count two ways; returns what does not add up.
    fn check(&self, run: &Run, poisoned: &[u64]) -> Vec<String> {
        let stats = &run.stats;
        let max = run.config.max_redeliveries;
        let mut failures = Vec::new();
        let mut expect = |what: &str, left: u64, right: u64| {
            if left != right {
                failures.push(format!("{what}: {left} != {right}"));
            }
        };

        // Every request is in exactly one final place: this run's by user
        // id, the recovered ones (a killed run's) by that run and user id.
        expect(
            "submitted + recovered = acked + dead-lettered + handed back",
            self.submitted + self.recovered,
            self.acked + self.dead + self.handed_back,
        );
        let mut places = vec![0u8; self.submitted as usize];
        let acked = run.workers.iter().flat_map(|w| &w.done);
        let acked = acked.filter(|d| d.recovered.is_none()).map(|d| d.user_id);
        let dead = run.letters.iter().map(|l| l.body());
        let dead = dead.filter(|r| !r.recovered);
        let handed_back = run.producers.iter().flat_map(|p| &p.handed_back);
        for id in acked.chain(dead.chain(handed_back).map(|r| r.user_id)) {
            places[id as usize] = places[id as usize].saturating_add(1);
        }
        let (misplaced_recovered, found) = Recovered::places(run);
        let misplaced = places.iter().filter(|&&n| n != 1).count() as u64 + misplaced_recovered;
        expect("requests not in exactly one place", misplaced, 0);
        expect("recovered requests accounted for", found, self.recovered);

        // The mailbox's statistics agree, and it is settled.
        let accepted: u64 = run.producers.iter().map(|p| p.accepted).sum();
        // Recovered requests count as sent when the log is opened.
        expect(
            "stats.sent = accepted at send + recovered",
            stats.sent,
            accepted + self.recovered,
        );
        expect(
            "stats.sent = received + dropped + dead_lettered + len + unacked + delayed",
            stats.sent,
            stats.received
                + stats.dropped
                + stats.dead_lettered
                + stats.len as u64
                + stats.unacked
                + stats.delayed,
        );
        expect(
            "stats.len + unacked + delayed (settled)",
            stats.len as u64 + stats.unacked + stats.delayed,
            0,
        );
        expect("stats.dropped", stats.dropped, 0);
        expect("stats.acked = acked", stats.acked, self.acked);
        expect("stats.received = acked", stats.received, self.acked);
        expect(
            "stats.dead_lettered = dead letters",
            stats.dead_lettered,
            self.dead,
        );
        for &(reason, office_count) in &run.office_counts {
            let drained = run.letters.iter().filter(|l| l.reason() == reason).count() as u64;
            expect(
                &format!("stats.dead_letters[{reason}] = drained"),
                stats.dead_letters.get(reason),
                drained,
            );
            expect(
                &format!("office count[{reason}] = drained"),
                office_count,
                drained,
            );
        }

        // Redeliveries: every answer other than ack either requeued the
        // request or, past the limit, dead-lettered it; and each requeue
        // raised the count in the request's header once. Recovered requests
        // flagged as possibly delivered were counted as redelivered when the
        // log was opened (those past their last try dead-lettered at once),
        // and bring in the counts of the killed run.
        expect(
            "stats.nacked = retried + given back by crashes",
            stats.nacked,
            self.nacked(),
        );
        expect(
            "stats.nacked + flagged at open + dead at open = redelivered + dead letters (too many \
             redeliveries)",
            stats.nacked + run.recovered.flagged + run.recovered.dead_at_open,
            stats.redelivered + stats.dead_letters.get(DeadLetterReason::MaxRedeliveries),
        );
        expect(
            "header redeliveries = stats.redelivered - flagged at open + brought in",
            self.header_redeliveries,
            stats.redelivered - run.recovered.flagged + self.brought_in,
        );

        // The only dead letters are requests tried max + 1 times, and every
        // corrupt upload is one of them.
        let others: Vec<String> = run
            .letters
            .iter()
            .filter(|l| {
                l.reason() != DeadLetterReason::MaxRedeliveries || !durable::last_try(l, max)
            })
            .map(|l| {
                format!(
                    "{} after {} tries",
                    l.reason(),
                    l.header().redeliveries() + 1
                )
            })
            .collect();
        let mut kinds = others.clone();
        kinds.sort_unstable();
        kinds.dedup();
        expect(
            &format!(
                "dead letters other than too many redeliveries after {} tries [{}]",
                max + 1,
                kinds.join("; ")
            ),
            others.len() as u64,
            0,
        );
        expect(
            "corrupt uploads dead-lettered",
            self.dead_corrupt,
            poisoned.len() as u64,
        );
        failures
    }
}

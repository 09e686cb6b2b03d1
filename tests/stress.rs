//! Stress: many producers and consumers on every backend, every message
//! counted exactly once, order checked where the discipline defines it.
//!
//! Sizes are chosen for debug builds on a 2-core machine: the whole file
//! runs in about 20 s there (rendezvous backends are the slow ones: one
//! park/unpark round trip per message), well under the one-minute budget.

#[macro_use]
mod common;

use std::time::Duration;

use common::{spawn, Backend, Order, LEVELS, TIMEOUT};
use postbox::{Confirm, Mailbox, Message, ReceiptState, Wait};

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

/// A generous bound for a whole stress run: a lost wake-up fails the test
/// instead of hanging CI.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Messages per producer, on every backend (rendezvous included: about 7 s
/// each for 400 000 hand-overs in a debug build on 2 cores).
const PER_PRODUCER: usize = 100_000;

/// The priority a producer gives its `seq`-th message: every level is used,
/// and producers differ.
fn priority_of(producer: usize, seq: usize) -> u8 {
    ((seq * 3 + producer) % usize::from(LEVELS)) as u8
}

per_backend!({
    many_producers_many_consumers,
    confirmed_sends_under_contention,
});

/// 4 producers x 4 consumers. Every `(producer, seq)` is received exactly
/// once. Each consumer sees each producer's messages in the order they were
/// sent: per producer on FIFO backends, per producer and priority level on
/// priority backends (FIFO within a level; a consumer's successive takes are
/// ordered in the queue's own order).
fn many_producers_many_consumers(b: Backend) {
    let n = PER_PRODUCER;
    let (tx, rx) = b.build::<(usize, usize)>();
    let order = b.order();

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let rx = rx.clone();
            spawn(format!("{b:?} consumer {c}"), move || {
                let levels = usize::from(LEVELS);
                // Last seq seen per producer (and level, for priority).
                let mut last = vec![None::<usize>; PRODUCERS * levels];
                let mut got = Vec::new();
                for msg in rx.iter() {
                    let (p, seq) = *msg.body();
                    let level = usize::from(msg.header().priority());
                    assert_eq!(msg.header().priority(), priority_of(p, seq));
                    let slot = match order {
                        Order::Fifo => p * levels,
                        Order::Priority => p * levels + level,
                    };
                    if let Some(prev) = last[slot] {
                        assert!(
                            prev < seq,
                            "consumer {c}: producer {p} seq {seq} after {prev} ({order:?})"
                        );
                    }
                    last[slot] = Some(seq);
                    got.push(p * n + seq);
                }
                got
            })
        })
        .collect();
    drop(rx);

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            spawn(format!("{b:?} producer {p}"), move || {
                for seq in 0..n {
                    tx.send(Message::new((p, seq)).priority(priority_of(p, seq)))
                        .expect("receivers are alive");
                }
            })
        })
        .collect();
    let stats_handle = tx.clone();
    drop(tx);
    for p in producers {
        p.join_within(RUN_LIMIT);
    }
    drop(stats_handle);

    let mut counts = vec![0u8; PRODUCERS * n];
    let mut per_consumer = Vec::new();
    for c in consumers {
        let got = c.join_within(RUN_LIMIT);
        per_consumer.push(got.len());
        for i in got {
            counts[i] += 1;
        }
    }
    let missing = counts.iter().filter(|&&c| c == 0).count();
    let duplicated = counts.iter().filter(|&&c| c > 1).count();
    assert_eq!(
        (missing, duplicated),
        (0, 0),
        "{b:?}: messages missing / received more than once"
    );
    assert_eq!(per_consumer.iter().sum::<usize>(), PRODUCERS * n);
}

/// Confirmed sends (`Confirm::Received`) from 4 producers to 4 consumers:
/// every send returns Ok only after its message was taken, and no confirmed
/// sender is left waiting (a lost receipt wake-up would hang it).
fn confirmed_sends_under_contention(b: Backend) {
    const N: usize = 2_000;
    let (tx, rx) = b.build::<usize>();
    // A receiver handle does not keep the mailbox open for the consumers.
    let stats = rx.clone();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let rx = rx.clone();
            spawn(format!("{b:?} consumer {c}"), move || {
                rx.iter().map(|m| m.into_body()).collect::<Vec<_>>()
            })
        })
        .collect();
    drop(rx);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            spawn(format!("{b:?} producer {p}"), move || {
                let mut receipts = Vec::new();
                for seq in 0..N {
                    let body = p * N + seq;
                    if seq % 2 == 0 {
                        tx.send_with(body, Wait::Timeout(TIMEOUT), Confirm::Received)
                            .expect("confirmed in time");
                    } else {
                        receipts.push(tx.send_tracked(body).expect("queued"));
                    }
                }
                receipts
            })
        })
        .collect();
    drop(tx);
    let mut receipts = Vec::new();
    for p in producers {
        receipts.extend(p.join_within(RUN_LIMIT));
    }
    let mut counts = vec![0u8; PRODUCERS * N];
    for c in consumers {
        for body in c.join_within(RUN_LIMIT) {
            counts[body] += 1;
        }
    }
    assert!(counts.iter().all(|&c| c == 1), "{b:?}: not exactly once");
    for r in receipts {
        assert_eq!(r.wait_timeout(TIMEOUT), Ok(()), "{b:?}");
        assert_eq!(r.state(), ReceiptState::Acked);
    }
    let s = stats.stats();
    assert_eq!(
        (s.sent, s.received),
        ((PRODUCERS * N) as u64, (PRODUCERS * N) as u64)
    );
    assert_eq!((s.dropped, s.len), (0, 0));
}

/// 4 producers fill an unbounded priority mailbox at once; a single consumer
/// that starts after they finished must then see priorities never increase,
/// and each producer's messages in order within a level. Run on bounded
/// mailboxes too, with the consumer draining concurrently; there only exact
/// counting and per-(producer, level) order hold.
#[test]
fn priority_single_consumer_sees_exact_priority_order() {
    const N: usize = 50_000;
    let (tx, rx) = Mailbox::<(usize, usize)>::builder()
        .priority(LEVELS)
        .unbounded()
        .build();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(PRODUCERS));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            spawn(format!("producer {p}"), move || {
                barrier.wait(); // all start together, to interleave
                for seq in 0..N {
                    // A different pattern per producer.
                    let prio = ((seq * (p + 1) * 7 + seq / 3) % usize::from(LEVELS)) as u8;
                    tx.send(Message::new((p, seq)).priority(prio)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join_within(RUN_LIMIT);
    }
    assert_eq!(rx.len(), PRODUCERS * N);

    let mut counts = vec![0u8; PRODUCERS * N];
    let mut last_priority = u8::MAX;
    let mut last_seq = vec![None::<usize>; PRODUCERS * usize::from(LEVELS)];
    let mut received = 0;
    for msg in rx.iter() {
        let prio = msg.header().priority();
        let (p, seq) = msg.into_body();
        assert!(
            prio <= last_priority,
            "priority rose from {last_priority} to {prio}"
        );
        last_priority = prio;
        let slot = p * usize::from(LEVELS) + usize::from(prio);
        if let Some(prev) = last_seq[slot] {
            assert!(prev < seq, "producer {p} level {prio}: {seq} after {prev}");
        }
        last_seq[slot] = Some(seq);
        counts[p * N + seq] += 1;
        received += 1;
    }
    assert_eq!(received, PRODUCERS * N);
    assert!(counts.iter().all(|&c| c == 1));
    let s = rx.stats();
    assert_eq!(
        (s.sent, s.received, s.len),
        ((PRODUCERS * N) as u64, (PRODUCERS * N) as u64, 0)
    );
}

/// Producers and consumers that only ever poll (`try_send` / `try_recv`) on
/// small bounded mailboxes: no message lost or duplicated by the non-blocking
/// paths under contention.
#[test]
fn polling_producers_and_consumers() {
    const N: usize = 20_000;
    let builders = [
        Mailbox::<usize>::builder().fifo().capacity(2),
        Mailbox::<usize>::builder().priority(LEVELS).capacity(2),
    ];
    for builder in builders {
        let (tx, rx) = builder.build();
        let consumers: Vec<_> = (0..2)
            .map(|c| {
                let rx = rx.clone();
                spawn(format!("polling consumer {c}"), move || {
                    let mut got = Vec::new();
                    loop {
                        match rx.try_recv() {
                            Ok(m) => got.push(m.into_body()),
                            Err(postbox::TryRecvError::Empty) => std::thread::yield_now(),
                            Err(postbox::TryRecvError::Closed) => return got,
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                spawn(format!("polling producer {p}"), move || {
                    for seq in 0..N {
                        let mut msg = Message::new(p * N + seq).priority((seq % 8) as u8);
                        loop {
                            match tx.try_send(msg) {
                                Ok(()) => break,
                                Err(postbox::TrySendError::Full(m)) => {
                                    msg = m;
                                    std::thread::yield_now();
                                }
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        for p in producers {
            p.join_within(RUN_LIMIT);
        }
        let mut counts = vec![0u8; 2 * N];
        for c in consumers {
            for body in c.join_within(RUN_LIMIT) {
                counts[body] += 1;
            }
        }
        assert!(counts.iter().all(|&c| c == 1), "not exactly once");
    }
}

/// At-least-once delivery under faults: workers take jobs with `recv_ack` and,
/// at seeded random points, panic while holding a delivery, nack it with
/// `Requeue::Yes`, or drop it unanswered; otherwise they ack. Every job must
/// be acked exactly once, every give-back must come back as a flagged
/// redelivery, and the mailbox's statistics must balance.
///
/// Sizes: 4 producers x 50_000 jobs = 200_000 jobs per backend (the larger
/// of the two sizes considered; see [`PER_PRODUCER`] for the run times).
///
/// The fault points come from a tiny LCG per worker, seeded from the clock
/// or from `POSTBOX_STRESS_SEED`; the seed is in every assertion message, so
/// a failing run's faults can be replayed (the thread interleaving cannot).
mod at_least_once {
    use std::collections::HashMap;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
    use std::sync::{Arc, Once};

    use super::RUN_LIMIT;
    use crate::common::{spawn, LEVELS};
    use postbox::{
        ExitReason, Mailbox, MailboxBuilder, MailboxStats, Message, Monitor, Owner, Pid,
        PostOffice, ProcessHandle, Receiver, Requeue,
    };

    const PRODUCERS: usize = 4;
    const WORKERS: usize = 3;
    /// Unique jobs per producer: 50_000 each (not 50_000 in all). Measured
    /// in a debug build on 2 cores: the five runs of this module together
    /// take about 0.6 s (about 1 800 give-backs each, 400 of them panics), so
    /// the whole file stays around 15 s.
    const PER_PRODUCER: usize = 50_000;
    /// Jobs per run.
    const JOBS: usize = PRODUCERS * PER_PRODUCER;
    /// Fault odds per delivery, in thousandths: about 400 panics, 800 nacks
    /// and 600 unanswered drops per 200_000 deliveries.
    const PANIC_PER_MILLE: u32 = 2;
    const NACK_PER_MILLE: u32 = 4;
    const DROP_PER_MILLE: u32 = 3;

    /// The payload of the panics workers raise on purpose. The panic hook
    /// stays silent for it (see [`silence_injected_panics`]); any other panic
    /// in a worker is a failed assertion and is re-raised.
    struct Injected;

    /// Installs, once per test binary, a panic hook that ignores [`Injected`]
    /// panics and passes every other panic to the hook it replaced. It is
    /// never restored: tests run in parallel and share the hook, and
    /// restoring it while another test's workers still panic would let their
    /// injected panics print (or drop a real failure's report, if two tests
    /// swapped hooks in the wrong order).
    fn silence_injected_panics() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let previous = panic::take_hook();
            panic::set_hook(Box::new(move |info| {
                if !info.payload().is::<Injected>() {
                    previous(info);
                }
            }));
        });
    }

    /// The run's seed: `POSTBOX_STRESS_SEED` if set, else from the clock.
    fn seed() -> u64 {
        match std::env::var("POSTBOX_STRESS_SEED") {
            Ok(text) => text.parse().expect("POSTBOX_STRESS_SEED is a u64"),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5eed, |d| d.as_nanos() as u64),
        }
    }

    /// A 64-bit linear congruential generator (Knuth's MMIX constants): enough
    /// to scatter faults, and no dependency.
    struct Lcg(u64);

    impl Lcg {
        /// The generator of worker `worker` (generation `generation`, for
        /// restarted processes) in the run seeded `seed`.
        fn new(seed: u64, worker: usize, generation: u64) -> Lcg {
            let mut lcg = Lcg(seed ^ (worker as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            lcg.0 ^= generation.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            lcg.next();
            lcg
        }

        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u32
        }

        /// What to do with the next delivery.
        fn fault(&mut self) -> Fault {
            match self.next() % 1000 {
                n if n < PANIC_PER_MILLE => Fault::Panic,
                n if n < PANIC_PER_MILLE + NACK_PER_MILLE => Fault::Nack,
                n if n < PANIC_PER_MILLE + NACK_PER_MILLE + DROP_PER_MILLE => Fault::Drop,
                _ => Fault::None,
            }
        }
    }

    /// What a worker does with one delivery.
    enum Fault {
        /// Panic while holding it (the unwinding drops it: requeued).
        Panic,
        /// `nack(Requeue::Yes)`.
        Nack,
        /// Drop it unanswered (requeued).
        Drop,
        /// Ack it.
        None,
    }

    /// What happened to every job, and the totals, shared by all workers.
    struct Ledger {
        /// The run's seed, for assertion messages.
        seed: u64,
        /// Acks per job id.
        acks: Vec<AtomicU32>,
        /// Give-backs per job id (panics + nacks + drops), counted before the
        /// give-back, so that its redelivery sees the count.
        gave_back: Vec<AtomicU32>,
        panics: AtomicU64,
        nacks: AtomicU64,
        drops: AtomicU64,
        /// Deliveries flagged as redeliveries.
        redelivered_seen: AtomicU64,
    }

    impl Ledger {
        fn new(seed: u64) -> Arc<Ledger> {
            Arc::new(Ledger {
                seed,
                acks: (0..JOBS).map(|_| AtomicU32::new(0)).collect(),
                gave_back: (0..JOBS).map(|_| AtomicU32::new(0)).collect(),
                panics: AtomicU64::new(0),
                nacks: AtomicU64::new(0),
                drops: AtomicU64::new(0),
                redelivered_seen: AtomicU64::new(0),
            })
        }

        fn give_backs(&self) -> u64 {
            self.panics.load(SeqCst) + self.nacks.load(SeqCst) + self.drops.load(SeqCst)
        }

        /// Every job acked exactly once, every give-back seen again as a
        /// flagged redelivery, and the per-job give-backs add up.
        fn check(&self, what: &str) {
            let seed = self.seed;
            let mut missing = Vec::new();
            let mut twice = Vec::new();
            for (id, acks) in self.acks.iter().enumerate() {
                match acks.load(SeqCst) {
                    0 => missing.push(id),
                    1 => {}
                    _ => twice.push(id),
                }
            }
            assert!(
                missing.is_empty() && twice.is_empty(),
                "{what}, seed {seed}: {} jobs never acked (first {:?}), {} acked more than \
                 once (first {:?})",
                missing.len(),
                missing.first(),
                twice.len(),
                twice.first(),
            );
            let per_job: u64 = self
                .gave_back
                .iter()
                .map(|n| u64::from(n.load(SeqCst)))
                .sum();
            let give_backs = self.give_backs();
            assert_eq!(per_job, give_backs, "{what}, seed {seed}: give-backs");
            assert_eq!(
                self.redelivered_seen.load(SeqCst),
                give_backs,
                "{what}, seed {seed}: redeliveries flagged vs jobs given back"
            );
        }

        /// The mailbox's counters once every job is acked.
        fn check_stats(&self, what: &str, s: &MailboxStats) {
            let seed = self.seed;
            let jobs = JOBS as u64;
            let give_backs = self.give_backs();
            assert_eq!(
                s.sent,
                s.received + s.dropped + s.dead_lettered + s.len as u64 + s.unacked + s.delayed,
                "{what}, seed {seed}: stats do not balance: {s:?}"
            );
            assert_eq!(
                (s.sent, s.received, s.acked),
                (jobs, jobs, jobs),
                "{what}, seed {seed}: sent / received / acked: {s:?}"
            );
            assert_eq!(
                (s.nacked, s.redelivered),
                (give_backs, give_backs),
                "{what}, seed {seed}: nacked / redelivered vs {give_backs} give-backs: {s:?}"
            );
            assert_eq!(
                (s.unacked, s.len, s.delayed, s.dropped, s.dead_lettered),
                (0, 0, 0, 0, 0),
                "{what}, seed {seed}: unacked / len / delayed / dropped / dead_lettered: {s:?}"
            );
            assert_eq!(s.dead_letters.total(), 0, "{what}, seed {seed}: {s:?}");
        }
    }

    /// Takes and answers jobs until the mailbox is closed and drained
    /// (`Ok`), or until an injected panic unwinds out of it.
    fn work(rx: &Receiver<u32>, ledger: &Ledger, rng: &mut Lcg) {
        let seed = ledger.seed;
        while let Ok(job) = rx.recv_ack() {
            let id = *job.body() as usize;
            // Every give-back of this job was counted before it was given
            // back, and happened before this redelivery.
            let gave_back = ledger.gave_back[id].load(SeqCst);
            assert_eq!(
                job.header().redeliveries(),
                gave_back,
                "seed {seed}: job {id} redelivery count vs its give-backs"
            );
            assert_eq!(job.is_redelivered(), gave_back > 0, "seed {seed}: job {id}");
            if job.is_redelivered() {
                ledger.redelivered_seen.fetch_add(1, SeqCst);
            }
            match rng.fault() {
                Fault::Panic => {
                    ledger.gave_back[id].fetch_add(1, SeqCst);
                    ledger.panics.fetch_add(1, SeqCst);
                    panic::panic_any(Injected);
                }
                Fault::Nack => {
                    ledger.gave_back[id].fetch_add(1, SeqCst);
                    ledger.nacks.fetch_add(1, SeqCst);
                    job.nack(Requeue::Yes);
                }
                Fault::Drop => {
                    ledger.gave_back[id].fetch_add(1, SeqCst);
                    ledger.drops.fetch_add(1, SeqCst);
                    drop(job);
                }
                Fault::None => {
                    let before = ledger.acks[id].fetch_add(1, SeqCst);
                    assert_eq!(before, 0, "seed {seed}: job {id} acked twice");
                    job.ack();
                }
            }
        }
    }

    /// One worker thread: runs [`work`] inside `catch_unwind`, again after
    /// every injected panic (the same thread restarts), until the mailbox is
    /// closed and drained. A failed assertion is re-raised.
    fn worker(rx: Receiver<u32>, ledger: Arc<Ledger>, worker: usize) {
        let mut rng = Lcg::new(ledger.seed, worker, 0);
        loop {
            let run = panic::catch_unwind(AssertUnwindSafe(|| work(&rx, &ledger, &mut rng)));
            match run {
                Ok(()) => return,
                Err(payload) if payload.is::<Injected>() => continue,
                Err(payload) => panic::resume_unwind(payload),
            }
        }
    }

    /// The priority producer `p` gives job `id`: every level, mixed.
    fn priority_of(p: usize, id: usize) -> u8 {
        ((id * 5 + p + id / 7) % usize::from(LEVELS)) as u8
    }

    /// 4 producers x 3 fault-injecting workers on one mailbox.
    fn run(what: &str, builder: MailboxBuilder<u32>) {
        silence_injected_panics();
        let ledger = Ledger::new(seed());
        let (tx, rx) = builder.build();
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let rx = rx.clone();
                let ledger = Arc::clone(&ledger);
                spawn(format!("{what} worker {w}"), move || worker(rx, ledger, w))
            })
            .collect();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                spawn(format!("{what} producer {p}"), move || {
                    for id in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                        let msg = Message::new(id as u32).priority(priority_of(p, id));
                        tx.send(msg).expect("workers are alive");
                    }
                })
            })
            .collect();
        // The test keeps a receiver for the statistics: it does not hold the
        // mailbox open, only senders do.
        drop(tx);
        for p in producers {
            p.join_within(RUN_LIMIT);
        }
        for w in workers {
            w.join_within(RUN_LIMIT);
        }
        ledger.check(what);
        ledger.check_stats(what, &rx.stats());
    }

    #[test]
    fn fifo_bounded() {
        run(
            "fifo bounded(64)",
            Mailbox::<u32>::builder().fifo().capacity(64),
        );
    }

    #[test]
    fn fifo_unbounded() {
        run(
            "fifo unbounded",
            Mailbox::<u32>::builder().fifo().unbounded(),
        );
    }

    #[test]
    fn priority_bounded() {
        run(
            "priority(8) bounded(64)",
            Mailbox::<u32>::builder().priority(LEVELS).capacity(64),
        );
    }

    #[test]
    fn priority_unbounded() {
        run(
            "priority(8) unbounded",
            Mailbox::<u32>::builder().priority(LEVELS).unbounded(),
        );
    }

    /// The same counting with the workers as office processes sharing the
    /// named office mailbox `jobs` (each connects with `connect_receiver`).
    /// Here an injected panic ends its process (the unwinding requeues the
    /// delivery), and a supervisor watching with a [`Monitor`] starts a
    /// replacement, as an Erlang one-for-one supervisor would. Producers
    /// connect by name too; since the office holds the mailbox open, a closer
    /// thread calls `office.close("jobs")` once they are done.
    #[test]
    fn office_processes() {
        silence_injected_panics();
        let what = "office processes, fifo bounded(64)";
        let ledger = Ledger::new(seed());
        let seed = ledger.seed;
        let office = PostOffice::new();
        office
            .create::<u32>(
                "jobs",
                Mailbox::builder().fifo().capacity(64),
                Owner::System,
            )
            .unwrap();
        let monitor = Monitor::new(&office);
        let start = |slot: usize, generation: u64| -> (Pid, ProcessHandle) {
            let ledger = Arc::clone(&ledger);
            let name = format!("worker-{slot}-{generation}");
            let handle = office
                .spawn_monitored::<(), _>(&name, &monitor, move |process| {
                    let rx = process
                        .office()
                        .connect_receiver::<u32>("jobs")
                        .expect("the jobs mailbox exists");
                    let mut rng = Lcg::new(ledger.seed, slot, generation);
                    work(&rx, &ledger, &mut rng);
                })
                .expect("spawn a worker");
            (handle.pid(), handle)
        };
        let mut live: HashMap<Pid, (usize, u64, ProcessHandle)> = HashMap::new();
        for slot in 0..WORKERS {
            let (pid, handle) = start(slot, 0);
            live.insert(pid, (slot, 0, handle));
        }
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = office.connect_sender::<u32>("jobs").unwrap();
                spawn(format!("{what} producer {p}"), move || {
                    for id in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                        tx.send(id as u32).expect("the mailbox is open");
                    }
                })
            })
            .collect();
        let closer = {
            let office = office.clone();
            spawn(format!("{what} closer"), move || {
                for p in producers {
                    p.join_within(RUN_LIMIT);
                }
                office.close("jobs").unwrap();
            })
        };
        // Supervise until every worker ended normally (mailbox closed and
        // drained); restart the ones that panicked.
        let mut restarts = 0u64;
        while !live.is_empty() {
            let down = monitor
                .recv_timeout(RUN_LIMIT)
                .unwrap_or_else(|_| panic!("{what}, seed {seed}: no worker ended in time"));
            let (slot, generation, handle) = live
                .remove(&down.pid())
                .unwrap_or_else(|| panic!("{what}: notice for an unknown pid {}", down.pid()));
            match down.reason() {
                ExitReason::Normal => {
                    assert!(handle.join().is_ok(), "{what}, seed {seed}: join");
                }
                ExitReason::Panicked(_) => {
                    match handle.join() {
                        Err(payload) if payload.is::<Injected>() => {}
                        Err(payload) => panic::resume_unwind(payload),
                        Ok(()) => panic!("{what}: a panicked process joined Ok"),
                    }
                    restarts += 1;
                    let (pid, handle) = start(slot, generation + 1);
                    live.insert(pid, (slot, generation + 1, handle));
                }
                other => panic!("{what}: a worker ended with {other}"),
            }
        }
        closer.join_within(RUN_LIMIT);
        assert_eq!(
            restarts,
            ledger.panics.load(SeqCst),
            "{what}, seed {seed}: restarts vs injected panics"
        );
        ledger.check(what);
        let stats = office.connect_sender::<u32>("jobs").unwrap().stats();
        ledger.check_stats(what, &stats);
        assert_eq!(office.dead_letters().total(), 0, "{what}, seed {seed}");
    }
}

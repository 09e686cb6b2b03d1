//! Parks per message: how often the threads of a busy channel block in the
//! kernel, postbox against raw crossbeam-channel in the same run (issue 13,
//! goal 5: is the job loop's slow period a parking storm?).
//!
//! A park is counted as a voluntary context switch of the thread
//! (`voluntary_ctxt_switches` of `/proc/thread-self/status`, read by each
//! thread itself after the start barrier and at its end): the thread went
//! to sleep waiting (a futex wait), as opposed to being preempted or
//! yielding its core to a ready thread, which are involuntary (printed
//! too). Every producer and consumer thread's
//! count is summed and divided by the messages moved. The wall time per
//! message is printed beside it (median over the runs), so that a slow run
//! with few parks shows that parking was not what made it slow.
//!
//! Shapes: the job loop's (2 producers, 2 workers, bounded(1024)), spsc
//! bounded(1024), and 4 producers into one consumer, unbounded. Peers:
//! crossbeam `u64`, a postbox FIFO mailbox with `recv`, the same with
//! `recv_ack` + `ack`, and a priority(8) mailbox with `recv`.
//!
//! Not a criterion benchmark (a park count is not a time). Linux only: on
//! other systems the counts read 0. Run: `cargo bench --bench parks`
//! (`PARKS_N` messages per run, default 400000; `PARKS_RUNS` runs per
//! case, default 7).

use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use postbox::Mailbox;

/// This thread's context switches so far: (voluntary, involuntary); 0
/// where unknown.
fn switches() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// One run: `producers` threads sending `n` messages in all through `send`,
/// `consumers` threads receiving with `recv` until it returns `None`.
/// Returns ns, parks and involuntary switches per message.
fn run<S, R>(
    producers: usize,
    consumers: usize,
    n: u64,
    (tx, rx): (S, R),
    send: fn(&S, u64),
    recv: fn(&R) -> Option<u64>,
) -> Outcome
where
    S: Clone + Send,
    R: Clone + Send,
{
    let barrier = Barrier::new(producers + consumers + 1);
    let per_producer = n / producers as u64;
    let (parked, received, elapsed) = thread::scope(|s| {
        let mut threads = Vec::new();
        for _ in 0..producers {
            let tx = tx.clone();
            let barrier = &barrier;
            threads.push(s.spawn(move || {
                barrier.wait();
                let before = switches();
                for i in 0..per_producer {
                    send(&tx, i);
                }
                (since(before), 0)
            }));
        }
        drop(tx);
        for _ in 0..consumers {
            let rx = rx.clone();
            let barrier = &barrier;
            threads.push(s.spawn(move || {
                barrier.wait();
                let before = switches();
                let mut got = 0u64;
                while recv(&rx).is_some() {
                    got += 1;
                }
                (since(before), got)
            }));
        }
        drop(rx);
        barrier.wait();
        let start = Instant::now();
        let mut parked = (0, 0);
        let mut received = 0;
        for thread in threads {
            let ((voluntary, involuntary), got) = thread.join().expect("a bench thread panicked");
            parked.0 += voluntary;
            parked.1 += involuntary;
            received += got;
        }
        (parked, received, start.elapsed())
    });
    let moved = per_producer * producers as u64;
    assert_eq!(received, moved, "every message is received exactly once");
    let per = |count: u64| count as f64 / moved as f64;
    Outcome {
        ns: elapsed.as_nanos() as f64 / moved as f64,
        parks: per(parked.0),
        preempted: per(parked.1),
    }
}

/// What one run (or the median of several) measured, per message.
#[derive(Clone, Copy)]
struct Outcome {
    /// Wall time.
    ns: f64,
    /// Voluntary context switches: the thread slept waiting.
    parks: f64,
    /// Involuntary ones: the thread was preempted, or yielded its core to a
    /// thread that was ready.
    preempted: f64,
}

/// The context switches since `before`.
fn since(before: (u64, u64)) -> (u64, u64) {
    let now = switches();
    (now.0 - before.0, now.1 - before.1)
}

/// Median of each figure over `runs` runs of `case`.
fn median(runs: usize, mut case: impl FnMut() -> Outcome) -> Outcome {
    let results: Vec<Outcome> = (0..runs).map(|_| case()).collect();
    let mid = |figure: fn(&Outcome) -> f64| {
        let mut values: Vec<f64> = results.iter().map(figure).collect();
        values.sort_by(f64::total_cmp);
        values[runs / 2]
    };
    Outcome {
        ns: mid(|o| o.ns),
        parks: mid(|o| o.parks),
        preempted: mid(|o| o.preempted),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env_usize("PARKS_N", 400_000) as u64;
    let runs = env_usize("PARKS_RUNS", 7).max(1);
    println!("## Parks per message ({n} messages a run, median of {runs} runs)\n");
    println!(
        "| shape | peer | ns/msg | / crossbeam | parks/msg | / crossbeam's | preempted or yielded/msg |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    let shapes: [(&str, usize, usize, Option<usize>); 3] = [
        ("job loop 2x2 bounded(1024)", 2, 2, Some(1024)),
        ("spsc bounded(1024)", 1, 1, Some(1024)),
        ("mpsc4 unbounded", 4, 1, None),
    ];
    for (shape, p, c, cap) in shapes {
        let crossbeam = median(runs, || {
            let pair = match cap {
                Some(k) => crossbeam_channel::bounded::<u64>(k),
                None => crossbeam_channel::unbounded(),
            };
            run(
                p,
                c,
                n,
                pair,
                |tx, v| tx.send(v).expect("open"),
                |rx| rx.recv().ok(),
            )
        });
        let fifo = || match cap {
            Some(k) => Mailbox::<u64>::builder().capacity(k).build(),
            None => Mailbox::<u64>::builder().unbounded().build(),
        };
        let recv = median(runs, || {
            run(
                p,
                c,
                n,
                fifo(),
                |tx, v| tx.send(v).expect("open"),
                |rx| rx.recv().ok().map(|m| m.into_body()),
            )
        });
        let recv_ack = median(runs, || {
            run(
                p,
                c,
                n,
                fifo(),
                |tx, v| tx.send(v).expect("open"),
                |rx| rx.recv_ack().ok().map(|d| d.ack().into_body()),
            )
        });
        let prio = median(runs, || {
            let builder = Mailbox::<u64>::builder().priority(8);
            let pair = match cap {
                Some(k) => builder.capacity(k).build(),
                None => builder.unbounded().build(),
            };
            run(
                p,
                c,
                n,
                pair,
                |tx, v| tx.send(v).expect("open"),
                |rx| rx.recv().ok().map(|m| m.into_body()),
            )
        });
        for (peer, outcome) in [
            ("crossbeam", crossbeam),
            ("postbox_fifo recv", recv),
            ("postbox_fifo recv_ack+ack", recv_ack),
            ("postbox_prio recv", prio),
        ] {
            let parks = if crossbeam.parks > 0.0 {
                format!("{:.2}", outcome.parks / crossbeam.parks)
            } else {
                "-".to_string()
            };
            println!(
                "| {shape} | {peer} | {:.1} | {:.2} | {:.5} | {parks} | {:.5} |",
                outcome.ns,
                outcome.ns / crossbeam.ns,
                outcome.parks,
                outcome.preempted
            );
        }
    }
}

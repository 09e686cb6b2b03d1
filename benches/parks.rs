//! Parks per message: how often the threads of a busy channel block in the
//! kernel, postbox against raw crossbeam-channel in the same run (issue 13,
//! goal 5: is the job loop's slow period a parking storm?).
//!
//! A park is counted as a voluntary context switch of the thread
//! (`voluntary_ctxt_switches` of `/proc/thread-self/status`, read by each
//! thread itself after the start barrier and at its end): the thread went
//! to sleep waiting (a futex wait), as opposed to being preempted or
//! yielding, which are involuntary. Every producer and consumer thread's
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

/// This thread's voluntary context switches so far (0 where unknown).
fn parks() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One run: `producers` threads sending `n` messages in all through `send`,
/// `consumers` threads receiving with `recv` until it returns `None`.
/// Returns (ns per message, parks per message).
fn run<S, R>(
    producers: usize,
    consumers: usize,
    n: u64,
    (tx, rx): (S, R),
    send: fn(&S, u64),
    recv: fn(&R) -> Option<u64>,
) -> (f64, f64)
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
                let before = parks();
                for i in 0..per_producer {
                    send(&tx, i);
                }
                (parks() - before, 0)
            }));
        }
        drop(tx);
        for _ in 0..consumers {
            let rx = rx.clone();
            let barrier = &barrier;
            threads.push(s.spawn(move || {
                barrier.wait();
                let before = parks();
                let mut got = 0u64;
                while recv(&rx).is_some() {
                    got += 1;
                }
                (parks() - before, got)
            }));
        }
        drop(rx);
        barrier.wait();
        let start = Instant::now();
        let mut parked = 0;
        let mut received = 0;
        for thread in threads {
            let (p, got) = thread.join().expect("a bench thread panicked");
            parked += p;
            received += got;
        }
        (parked, received, start.elapsed())
    });
    let moved = per_producer * producers as u64;
    assert_eq!(received, moved, "every message is received exactly once");
    (
        elapsed.as_nanos() as f64 / moved as f64,
        parked as f64 / moved as f64,
    )
}

/// Median of `runs` runs of `case`: (ns per message, parks per message).
fn median(runs: usize, mut case: impl FnMut() -> (f64, f64)) -> (f64, f64) {
    let mut results: Vec<(f64, f64)> = (0..runs).map(|_| case()).collect();
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ns = results[runs / 2].0;
    results.sort_by(|a, b| a.1.total_cmp(&b.1));
    (ns, results[runs / 2].1)
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
    println!("| shape | peer | ns/msg | parks/msg | parks / crossbeam's |");
    println!("| --- | --- | ---: | ---: | ---: |");
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
        for (peer, (ns, parked)) in [
            ("crossbeam", crossbeam),
            ("postbox_fifo recv", recv),
            ("postbox_fifo recv_ack+ack", recv_ack),
            ("postbox_prio recv", prio),
        ] {
            let ratio = if crossbeam.1 > 0.0 {
                format!("{:.2}", parked / crossbeam.1)
            } else {
                "-".to_string()
            };
            println!("| {shape} | {peer} | {ns:.1} | {parked:.5} | {ratio} |");
        }
    }
}

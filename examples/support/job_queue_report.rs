//! The printed report of `examples/job_queue.rs`: the setup it runs, then what
//! the run did, where every request went, retries and crashes, the latency
//! table per priority, backpressure and the mailbox's statistics, and the
//! tally's verdict. It only prints: the counts are made in
//! `job_queue_records.rs` (`Tally::of`) and checked in `job_queue.rs`
//! (`Tally::check`).

use std::time::Duration;

use postbox::DeadLetterReason;

use crate::cli::Config;
use crate::records::{Done, Run, Tally};
use crate::workload::Tier;
use crate::{JOBS, LEVELS};

/// Prints the setup: the requests, the mailbox and the workers.
pub(crate) fn print_setup(config: &Config, corrupt: usize) {
    println!(
        "AI profile studio: {} requests ({} corrupt, {}% of tries turned away by a busy service) \
         from {} producers",
        config.jobs, corrupt, config.flaky, config.producers,
    );
    println!(
        "  -> {} {JOBS:?}: priority ({LEVELS} levels), capacity {}, blocks when full, \
         at most {} redeliveries",
        match config.durable {
            None => "office mailbox".to_string(),
            Some(dir) => format!(
                "durable office mailbox (log in {}, SyncPolicy::Buffered)",
                dir.display()
            ),
        },
        config.capacity,
        config.max_redeliveries
    );
    println!(
        "  -> {} supervised worker processes, prefetch {}, {} of simulated work per request\n",
        config.workers,
        config.prefetch,
        match config.work_us {
            0 => "none".to_string(),
            us => format!("~{us}µs"),
        }
    );
}

/// Prints what the run did and the tally: throughput, where every request
/// went (with the dead letters), retries and crashes, latency per priority,
/// backpressure and the mailbox's statistics.
pub(crate) fn print_results(run: &Run, tally: &Tally) {
    let (config, stats) = (run.config, &run.stats);
    let secs = run.elapsed.as_secs_f64();
    println!(
        "\ndone in {:.2?}: {:.0} requests acked per second{}",
        run.elapsed,
        tally.acked as f64 / secs,
        if config.work_us == 0 {
            " (no simulated work: the queue alone)"
        } else {
            ""
        }
    );

    println!("\nwhere every request went");
    let recovered = match run.recovered.requests {
        0 => String::new(),
        n => format!(" + recovered {n}"),
    };
    println!(
        "  submitted {:>8}{recovered}  = acked {} + dead-lettered {} + handed back at send {}",
        tally.submitted, tally.acked, tally.dead, tally.handed_back
    );
    for (reason, count) in stats.dead_letters.iter().filter(|&(_, n)| n > 0) {
        let corrupt = run
            .letters
            .iter()
            .filter(|l| l.reason() == reason && l.body().corrupt)
            .count() as u64;
        println!("  dead letters, {reason}: {count} ({corrupt} of them corrupt uploads)");
    }
    for letter in run.letters.iter().take(5) {
        let request = letter.body();
        println!(
            "    user {:>6} ({}, {:?}){}: {} after {} tries",
            request.user_id,
            request.tier,
            request.style,
            if request.corrupt {
                ", corrupt upload"
            } else {
                ""
            },
            letter.reason(),
            letter.header().redeliveries() + 1
        );
    }
    if run.letters.len() > 5 {
        println!("    ... and {} more", run.letters.len() - 5);
    }

    println!("\nretries and crashes");
    println!(
        "  {:>6} tries turned away by the busy service: nack(Requeue::After(1ms, doubling))",
        tally.retried
    );
    println!(
        "  {:>6} deliveries given back by {} crashed workers (dropped unanswered as they unwound)",
        tally.gave_back,
        run.restarts.len()
    );
    let flagged = match (run.recovered.flagged, run.recovered.dead_at_open) {
        (0, _) => String::new(),
        (n, 0) => format!(" + {n} recovered flagged"),
        (n, d) => format!(" + {n} recovered flagged + {d} dead at open"),
    };
    println!(
        "  = {:>4} nacked{flagged} = {} redelivered + {} dead-lettered after their last try; \
         redelivery counts in headers: {}",
        stats.nacked,
        stats.redelivered,
        stats.dead_letters.get(DeadLetterReason::MaxRedeliveries),
        tally.header_redeliveries
    );
    for r in run.restarts.iter().take(6) {
        println!(
            "    [{:>5.2}s] worker-{} {} panicked ({}), gave back {}, restarted as {}",
            r.at.as_secs_f64(),
            r.slot,
            r.crashed,
            r.why,
            r.gave_back,
            r.replaced_by
        );
    }
    if run.restarts.len() > 6 {
        println!("    ... and {} more", run.restarts.len() - 6);
    }

    println!(
        "\nlatency per priority: wait = submitted -> first taken by a worker (time blocked at \
         send included), done = submitted -> acked; retried = acked after more than one try"
    );
    println!(
        "  {:<7} {:>4} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "tier", "prio", "acked", "retried", "wait p50", "wait p99", "done p50", "done p99"
    );
    for tier in Tier::ALL {
        let done: Vec<&Done> = run
            .workers
            .iter()
            .flat_map(|w| &w.done)
            .filter(|d| d.tier == tier)
            .collect();
        let sorted = |key: fn(&Done) -> Duration| {
            let mut v: Vec<Duration> = done.iter().map(|d| key(d)).collect();
            v.sort_unstable();
            v
        };
        let (queued, total) = (sorted(|d| d.queued), sorted(|d| d.total));
        println!(
            "  {:<7} {:>4} {:>8} {:>8} {:>10} {:>10} {:>10} {:>10}",
            tier,
            tier.priority(),
            done.len(),
            done.iter().filter(|d| d.redeliveries > 0).count(),
            show(percentile(&queued, 50.0)),
            show(percentile(&queued, 99.0)),
            show(percentile(&total, 50.0)),
            show(percentile(&total, 99.0)),
        );
    }

    let blocked: u64 = run.producers.iter().map(|p| p.blocked_sends).sum();
    let blocked_for: Duration = run.producers.iter().map(|p| p.blocked_for).sum();
    println!(
        "\nbackpressure: {blocked} of {} sends ({:.1}%) found the mailbox full and fell back to \
         a blocking send, {blocked_for:.2?} in all ({:.2?} per producer)",
        tally.submitted,
        100.0 * blocked as f64 / tally.submitted.max(1) as f64,
        blocked_for / config.producers as u32,
    );
    let per_slot: Vec<usize> = run.workers.iter().map(|w| w.done.len()).collect();
    println!("acked per worker slot (restarts included): {per_slot:?}");
    println!(
        "mailbox stats: sent {} = received {} + dead_lettered {} + dropped {} + len {} \
         + unacked {} + delayed {}",
        stats.sent,
        stats.received,
        stats.dead_lettered,
        stats.dropped,
        stats.len,
        stats.unacked,
        stats.delayed
    );
    // A requeue goes back in front of the queue whatever the capacity (the
    // request was admitted already), so the peak can exceed the capacity.
    let over = if stats.peak_len > config.capacity {
        " (requeues ignore the capacity)"
    } else {
        ""
    };
    // Every producer's try_send that found the mailbox full counts once; its
    // blocking send counts again if it still found no room.
    println!(
        "               acked {}, nacked {}, redelivered {}, peak_len {} of capacity {}{over}",
        stats.acked, stats.nacked, stats.redelivered, stats.peak_len, config.capacity,
    );
    println!(
        "               found_full {} = {blocked} try_sends + {} blocking sends that still found \
         it full",
        stats.found_full,
        stats.found_full.saturating_sub(blocked),
    );
    if let Some(dir) = config.durable {
        crate::durable::print_kept(dir, stats);
    }
}

/// Prints the tally's verdict: checked, or every count that does not add up.
pub(crate) fn print_verdict(failures: &[String]) {
    if failures.is_empty() {
        println!(
            "\ntally checked: every request accounted for exactly once, and the mailbox agrees"
        );
    } else {
        println!("\nTHE TALLY DOES NOT ADD UP:");
        for failure in failures {
            println!("  - {failure}");
        }
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

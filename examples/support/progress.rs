//! A live progress line for `examples/job_queue.rs`: a text bar redrawn in
//! place while the run goes on when stdout is a terminal, and a plain line
//! now and then when it is not (logs, CI), so that logs stay readable; and the
//! live counters and the status line it shows.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postbox::{MailboxStats, Receiver, RecvTimeoutError};

/// Live counters for the progress line (the rest it reads from the
/// mailbox's statistics).
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// Sends that found the mailbox full and had to wait (backpressure).
    pub(crate) blocked: AtomicU64,
    /// Workers that crashed.
    pub(crate) crashes: AtomicU64,
}

/// `[#########...........]  45%`: `done` of `total` as a bar `width` wide.
pub(crate) fn bar(done: u64, total: u64, width: usize) -> String {
    // An empty run is complete.
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    // Rounded down: full and 100% only once everything is done.
    let filled = (fraction * width as f64) as usize;
    format!(
        "[{}{}] {:>3}%",
        "#".repeat(filled),
        ".".repeat(width - filled),
        (fraction * 100.0) as u32
    )
}

/// Prints the line `status` makes, after the time elapsed, until `stop`
/// closes, then once more with the final numbers: every 100 ms in place
/// (`\r`) on a terminal, every second on a line of its own otherwise.
pub(crate) fn show_progress(stop: Receiver<()>, status: impl Fn() -> String) {
    let start = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let every = Duration::from_millis(if tty { 100 } else { 1_000 });
    loop {
        // The stop mailbox doubles as the ticker: a timeout means "redraw",
        // Closed (main dropped its sender) means "the run is over".
        let last = match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(_) | Err(RecvTimeoutError::Closed) => true,
        };
        let line = format!("{:>5.1}s {}", start.elapsed().as_secs_f64(), status());
        let mut out = std::io::stdout().lock();
        // `\x1b[K` clears what a longer previous line left to the right.
        let _ = if tty {
            write!(out, "\r{line}\x1b[K")
        } else {
            writeln!(out, "{line}")
        };
        if last && tty {
            let _ = writeln!(out);
        }
        let _ = out.flush();
        if last {
            break;
        }
    }
}

/// The status line of `job_queue`, redrawn by [`show_progress`]: the bar, and
/// what happened so far out of `jobs` requests.
pub(crate) fn status_line(jobs: u64, live: &Live, stats: &MailboxStats) -> String {
    let dead = stats.dead_letters.total();
    format!(
        "{} {}/{} acked, {dead} dead, {} redelivered, queue {}, {} sends waited, {} crashes",
        bar(stats.acked + dead, jobs, 20),
        stats.acked,
        jobs,
        stats.redelivered,
        stats.len,
        live.blocked.load(Ordering::Relaxed),
        live.crashes.load(Ordering::Relaxed),
    )
}

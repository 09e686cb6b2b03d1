//! What each part of `examples/job_queue.rs` did, kept for the tally and the
//! report: a producer's sends, a worker slot's acks and retries, a crashed
//! worker's restart, everything the run produced, and the tally's counts
//! made from it. Plain data and counting (and the lock on a worker slot's
//! report): the code that fills it is in `job_queue.rs`, and so are the
//! tally's checks (`Tally::check`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postbox::{DeadLetter, DeadLetterReason, MailboxStats, Pid};

use crate::cli::Config;
use crate::durable::Recovered;
use crate::workload::Tier;
use crate::ProfileRequest;

/// What one producer did.
#[derive(Debug, Default)]
pub(crate) struct ProducerReport {
    /// Requests the mailbox accepted.
    pub(crate) accepted: u64,
    /// Requests the mailbox refused and handed back (it closed under us).
    pub(crate) handed_back: Vec<ProfileRequest>,
    /// Sends whose `try_send` found the mailbox full, so that they fell back
    /// to a blocking send.
    pub(crate) blocked_sends: u64,
    /// Time spent in those blocking sends.
    pub(crate) blocked_for: Duration,
}

/// A request a worker acked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub(crate) user_id: u64,
    pub(crate) tier: Tier,
    /// Submitted -> first taken by a worker: the wait in the queue,
    /// including time blocked on a full mailbox.
    pub(crate) queued: Duration,
    /// Submitted -> acked: retries and the time held in a prefetch included.
    pub(crate) total: Duration,
    /// Tries before the one that succeeded (its header's redelivery count).
    pub(crate) redeliveries: u32,
    /// Recovered from the log (`--durable`): the run that made it, and the
    /// redeliveries it brought in (its count when first taken here).
    pub(crate) recovered: Option<(u64, u32)>,
}

/// What the workers in one slot (`worker-N`, restarts included) did. Shared
/// with the supervisor: a crashed worker's report survives it.
#[derive(Debug, Default)]
pub(crate) struct WorkerReport {
    /// Every request acked.
    pub(crate) done: Vec<Done>,
    /// Tries the model service turned away, nacked for a later retry.
    pub(crate) retried: u64,
    /// Unanswered deliveries in the worker's hands now: what a crash gives
    /// back to the mailbox.
    pub(crate) held: usize,
}

/// One report per worker slot.
pub(crate) type Reports = Arc<[Mutex<WorkerReport>]>;

/// Locks a report. A worker never panics while holding the lock, but a
/// poisoned lock would still hold good counts.
pub(crate) fn lock(report: &Mutex<WorkerReport>) -> MutexGuard<'_, WorkerReport> {
    report.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A crashed worker and its replacement.
#[derive(Debug)]
pub(crate) struct Restart {
    pub(crate) slot: usize,
    pub(crate) crashed: Pid,
    /// The panic message, from `ExitReason::Panicked`.
    pub(crate) why: String,
    /// Deliveries it held, given back to the mailbox as it unwound.
    pub(crate) gave_back: usize,
    pub(crate) replaced_by: Pid,
    pub(crate) at: Duration,
}

/// Everything the run produced, for the tally.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) config: Config,
    pub(crate) elapsed: Duration,
    pub(crate) producers: Vec<ProducerReport>,
    pub(crate) workers: Vec<WorkerReport>,
    pub(crate) restarts: Vec<Restart>,
    /// The dead letters from the jobs mailbox, drained from the office.
    pub(crate) letters: Vec<DeadLetter<ProfileRequest>>,
    /// What the log held when it was opened (`--durable`).
    pub(crate) recovered: Recovered,
    /// The office's own count of dead letters, per reason.
    pub(crate) office_counts: Vec<(DeadLetterReason, u64)>,
    /// The jobs mailbox's statistics once everything settled.
    pub(crate) stats: MailboxStats,
}

/// Where every request ended up, and what happened on the way.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Requests the producers made.
    pub(crate) submitted: u64,
    /// Requests a killed run left in the log, recovered at open
    /// (`--durable`).
    pub(crate) recovered: u64,
    /// The redelivery counts those brought in from the killed run.
    pub(crate) brought_in: u64,
    /// Refused at send and handed back to the producer.
    pub(crate) handed_back: u64,
    /// Processed and acked by a worker.
    pub(crate) acked: u64,
    /// In the office's dead letters.
    pub(crate) dead: u64,
    /// Of those, corrupt uploads.
    pub(crate) dead_corrupt: u64,
    /// Tries the model service turned away (nacked with `Requeue::After`).
    pub(crate) retried: u64,
    /// Deliveries given back by crashing workers (dropped as they unwound).
    pub(crate) gave_back: u64,
    /// The redelivery counts in the headers of every acked request and
    /// dead letter: each redelivery counted once, on the message itself.
    pub(crate) header_redeliveries: u64,
}

impl Tally {
    pub(crate) fn of(run: &Run) -> Tally {
        let done = run.workers.iter().flat_map(|w| &w.done);
        Tally {
            submitted: run.config.jobs,
            recovered: run.recovered.requests,
            brought_in: Recovered::brought_in(run),
            handed_back: run
                .producers
                .iter()
                .map(|p| p.handed_back.len() as u64)
                .sum(),
            acked: done.clone().count() as u64,
            dead: run.letters.len() as u64,
            dead_corrupt: run
                .letters
                .iter()
                .filter(|l| l.body().corrupt && !l.body().recovered)
                .count() as u64,
            retried: run.workers.iter().map(|w| w.retried).sum(),
            gave_back: run.restarts.iter().map(|r| r.gave_back as u64).sum(),
            header_redeliveries: done.map(|d| u64::from(d.redeliveries)).sum::<u64>()
                + run
                    .letters
                    .iter()
                    .map(|l| u64::from(l.header().redeliveries()))
                    .sum::<u64>(),
        }
    }

    /// Answers other than ack: they either put the request back
    /// (`redelivered`) or, past the limit, sent it to dead letters.
    pub(crate) fn nacked(&self) -> u64 {
        self.retried + self.gave_back
    }
}

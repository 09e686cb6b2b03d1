//! What each part of `examples/job_queue.rs` did, kept for the tally and the
//! report: a producer's sends, a worker slot's acks and retries, a crashed
//! worker's restart, and everything the run produced. Plain data (and the lock
//! on a worker slot's report): the code that fills and checks it is in
//! `job_queue.rs`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postbox::{DeadLetterReason, MailboxStats, Pid};

use crate::cli::Config;
use crate::durable::Letter;
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
    /// The dead letters from the jobs mailbox.
    pub(crate) letters: Vec<Letter>,
    /// Requests recovered from the log when it was opened (`--durable`),
    /// and how many of those came back flagged as possibly delivered.
    pub(crate) recovered: u64,
    pub(crate) raised: u64,
    /// Of the recovered, those dead-lettered at once (past their last try).
    pub(crate) dead_at_open: u64,
    /// The office's own count of dead letters, per reason.
    pub(crate) office_counts: Vec<(DeadLetterReason, u64)>,
    /// The jobs mailbox's statistics once everything settled.
    pub(crate) stats: MailboxStats,
}

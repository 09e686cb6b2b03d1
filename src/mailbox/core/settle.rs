//! Where a message that cannot be delivered goes (the mailbox's dead
//! letters, else dropped and counted), and when a message has outlived
//! its time to live.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::message::Message;
use crate::reason::DeadLetterReason;

use super::Core;

impl<T: Send> Core<T> {
    /// Sends one message that cannot be delivered where dead letters go, and
    /// counts it.
    pub(in crate::mailbox) fn discard(&self, msg: Message<T>, reason: DeadLetterReason) {
        if let Some(log) = self.log.as_deref() {
            // Its last receiver gone is not a loss for a durable mailbox:
            // the message stays in the log for the next open.
            if reason != DeadLetterReason::NoReceivers {
                log.dead_lettered(msg.header().id());
            }
        }
        match self.sink.dispose(msg, reason) {
            Ok(()) => self.cold().outcomes.dead_letter(reason, true),
            Err(msg) => {
                // Counted before the drop, which runs the body's `Drop`.
                self.cold().outcomes.dead_letter(reason, false);
                drop(msg);
            }
        }
    }

    /// Discards every message `next` yields, even if dropping one panics (a
    /// body's `Drop`): the rest are still settled and counted, then the
    /// first panic goes on. Except while this thread is already unwinding
    /// (a mailbox torn down by a panic), where a second panic would abort
    /// the process: those are swallowed.
    #[cold]
    pub(super) fn discard_all(
        &self,
        mut next: impl FnMut() -> Option<Message<T>>,
        reason: DeadLetterReason,
    ) {
        let mut first_panic = None;
        while let Some(msg) = next() {
            let discarded = panic::catch_unwind(AssertUnwindSafe(|| self.discard(msg, reason)));
            if let Err(payload) = discarded {
                first_panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = first_panic {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }

    /// Whether a message has outlived its time to live; such a message goes
    /// to dead letters instead of out. Inline, only the branch on the boxed
    /// header part (which every expiry lives in): the clock is read out of
    /// line, for messages that have one.
    #[inline(always)]
    pub(in crate::mailbox) fn outlived(&self, msg: &Message<T>) -> bool {
        msg.header().has_ext() && self.expired(msg)
    }

    #[cold]
    #[inline(never)]
    pub(in crate::mailbox) fn expired(&self, msg: &Message<T>) -> bool {
        msg.header().is_expired_at(Instant::now())
    }
}

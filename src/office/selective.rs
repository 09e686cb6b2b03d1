//! Selective receive: [`recv_from`](Process::recv_from) and
//! [`recv_matching`](Process::recv_matching) take the oldest message that
//! matches and set the others aside in the process's save queue, which every
//! receive then looks at first.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::process::{try_error, Process};
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::id::Pid;
use crate::mailbox::{AckPopError, Delivery};
use crate::message::{Header, Message};
use crate::reason::DeadLetterReason;
use crate::wait::{Deadline, Wait};

impl<T: Send + 'static> Process<T> {
    /// Receives the oldest message sent by `pid` (explicit receive), waiting
    /// as long as it takes; other messages keep their order for later
    /// receives.
    pub fn recv_from(&self, pid: Pid) -> Result<Message<T>, RecvError> {
        self.recv_matching(from(pid))
    }

    /// Receives a message from `pid` if one is there now.
    pub fn try_recv_from(&self, pid: Pid) -> Result<Message<T>, TryRecvError> {
        self.try_recv_matching(from(pid))
    }

    /// Receives a message from `pid`, waiting at most `timeout`.
    pub fn recv_from_timeout(
        &self,
        pid: Pid,
        timeout: Duration,
    ) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_matching_with(from(pid), Wait::Timeout(timeout))
    }

    /// Receives the oldest message whose header matches `matches`, waiting as
    /// long as it takes; other messages keep their order for later receives.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Message, PostOffice};
    ///
    /// let office = PostOffice::new();
    /// let me = office.anonymous::<&str>();
    /// let to_me = me.address();
    /// to_me.send("routine").unwrap();
    /// to_me.send(Message::new("urgent").priority(9)).unwrap();
    ///
    /// let urgent = me.recv_matching(|h| h.priority() > 5).unwrap();
    /// assert_eq!(urgent.into_body(), "urgent");
    /// assert_eq!(me.recv().unwrap().into_body(), "routine");
    /// ```
    pub fn recv_matching(
        &self,
        matches: impl FnMut(&Header) -> bool,
    ) -> Result<Message<T>, RecvError> {
        self.recv_matching_with(matches, Wait::Blocking)
            .map_err(|_| RecvError)
    }

    /// Receives a matching message if one is there now (it looks through
    /// everything queued).
    pub fn try_recv_matching(
        &self,
        matches: impl FnMut(&Header) -> bool,
    ) -> Result<Message<T>, TryRecvError> {
        self.recv_matching_with(matches, Wait::NonBlocking)
            .map_err(try_error)
    }

    /// Receives a matching message, waiting at most `timeout`.
    pub fn recv_matching_timeout(
        &self,
        matches: impl FnMut(&Header) -> bool,
        timeout: Duration,
    ) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_matching_with(matches, Wait::Timeout(timeout))
    }

    /// Selective receive with the wait chosen for this call: the primitive
    /// every explicit receive wraps. Looks through the saved messages first,
    /// then takes from the inbox, setting aside what does not match, until a
    /// match comes or the wait ends.
    pub fn recv_matching_with(
        &self,
        mut matches: impl FnMut(&Header) -> bool,
        wait: Wait,
    ) -> Result<Message<T>, RecvTimeoutError> {
        if let Some(msg) = self.take_saved_matching(&mut matches) {
            return Ok(self.receiver().settle_taken(msg));
        }
        // One deadline for the whole search, however many messages it skips.
        let wait = wait.deadline().as_wait();
        loop {
            // A message set aside has its receipt settled only when a
            // receive hands it out. Held by a guard while the caller's
            // predicate looks at it: if the predicate panics, the message
            // goes to the save queue instead of being lost in the unwind.
            let mut taken = SetAside {
                saved: &self.saved,
                msg: Some(self.receiver().take_aside(wait)?),
            };
            if taken.msg.as_ref().is_some_and(|msg| matches(msg.header())) {
                if let Some(msg) = taken.msg.take() {
                    return Ok(self.receiver().settle_taken(msg));
                }
            }
        }
    }
}

// The save queue: messages a selective receive took from the inbox and set
// aside, oldest first.
impl<T: Send + 'static> Process<T> {
    /// The oldest saved message that matches, taken out of the save queue
    /// (after the expired ones went to dead letters and a redelivery was
    /// admitted): the first look of every selective receive.
    pub(super) fn take_saved_matching(
        &self,
        matches: &mut impl FnMut(&Header) -> bool,
    ) -> Option<Message<T>> {
        self.expire_saved();
        self.admit_redelivery();
        let mut saved = self.saved.borrow_mut();
        let i = saved.iter().position(|m| matches(m.header()))?;
        saved.remove(i)
    }

    /// The oldest message a selective receive set aside.
    pub(super) fn take_saved(&self) -> Option<Message<T>> {
        self.expire_saved();
        self.admit_redelivery();
        self.saved.borrow_mut().pop_front()
    }

    /// Keeps `Requeue::Yes`'s promise (delivered again before later
    /// messages) for a process with messages set aside. A nacked delivery
    /// goes back to the front of the *inbox*, but receives look at the save
    /// queue first, where later messages may wait. So when the inbox has
    /// counted a new redelivery while something is saved, its head is moved
    /// here until the redelivered message comes: that one to the front (only
    /// a requeue puts a redelivery in the inbox: a send starts every message
    /// at zero), the others, which came after everything saved, to the back.
    /// Nothing happens without a new requeue: one counter read. (A delayed
    /// requeue, `Requeue::After`, comes back later and makes no such
    /// promise.)
    fn admit_redelivery(&self) {
        let redelivered = self.receiver().redelivered();
        if redelivered == self.redelivered_seen.get() {
            return;
        }
        self.redelivered_seen.set(redelivered);
        if !self.has_saved() {
            // The inbox's own order is right.
            return;
        }
        while let Ok(msg) = self.receiver().take_aside(Wait::NonBlocking) {
            let mut saved = self.saved.borrow_mut();
            if msg.header().redeliveries() > 0 {
                saved.push_front(msg);
                return;
            }
            saved.push_back(msg);
        }
    }

    /// Sends the saved messages whose time to live ran out while they waited
    /// to dead letters (`Expired`): set aside is still undelivered, and an
    /// expired message is never delivered.
    fn expire_saved(&self) {
        let expired: VecDeque<Message<T>> = {
            let mut saved = self.saved.borrow_mut();
            // The clock is read only if something saved can expire: every
            // receive comes through here.
            if saved.iter().all(|m| m.header().expires_at().is_none()) {
                return;
            }
            let now = Instant::now();
            let is_expired = |m: &Message<T>| m.header().is_expired_at(now);
            if !saved.iter().any(is_expired) {
                return;
            }
            let (gone, kept) = saved.drain(..).partition(is_expired);
            *saved = kept;
            gone
        };
        // Outside the borrow: a dead-letter sink may be any mailbox.
        for msg in expired {
            self.receiver()
                .dead_letter_taken(msg, DeadLetterReason::Expired);
        }
    }

    /// Whether a selective receive set messages aside.
    #[inline]
    pub(super) fn has_saved(&self) -> bool {
        !self.saved.borrow().is_empty()
    }

    /// Hands out the oldest saved message as a delivery, waiting for a
    /// prefetch slot until `deadline`; without one it stays saved, first in
    /// line. `None`: nothing is saved.
    pub(super) fn deliver_saved(
        &self,
        deadline: Deadline,
    ) -> Option<Result<Delivery<'_, T>, AckPopError>> {
        let msg = self.take_saved()?;
        Some(
            self.receiver()
                .deliver_taken(msg, deadline)
                .map_err(|(msg, err)| {
                    self.saved.borrow_mut().push_front(msg);
                    err
                }),
        )
    }
}

/// A message a selective receive took from the inbox: unless taken out of
/// the guard (it matched), it goes to the back of the save queue, whether
/// the predicate said no or panicked.
pub(super) struct SetAside<'a, T> {
    /// The process's save queue.
    pub(super) saved: &'a RefCell<VecDeque<Message<T>>>,
    /// The message, until it is handed out.
    pub(super) msg: Option<Message<T>>,
}

impl<T> Drop for SetAside<'_, T> {
    fn drop(&mut self) {
        if let Some(msg) = self.msg.take() {
            self.saved.borrow_mut().push_back(msg);
        }
    }
}

/// The header test of `recv_from`.
pub(super) fn from(pid: Pid) -> impl FnMut(&Header) -> bool {
    move |h| h.source() == Some(pid)
}

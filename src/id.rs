//! Identities: of messages, of processes, of a topic's subscribers.
//!
//! The bottom of the crate: plain numbers that every layer above passes
//! around, so they name nothing else.

use std::fmt;

/// The identity of a message, unique within the process: no two mailboxes
/// hand out the same id, so dead letters of several mailboxes, or a log,
/// can key on it.
///
/// Ids are 56-bit numbers (the header keeps them in one word with the
/// priority), so they stay unique until 2^56 ids have been handed out. They
/// rise per sender handle, not across handles: each handle numbers its sends
/// from blocks of 2^16 ids of its own.
///
/// A mailbox assigns a fresh id to every message a [`Sender`](crate::Sender)
/// accepts. A message that has never been sent has the id `MessageId::UNSENT`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct MessageId(u64);

impl MessageId {
    /// The id of a message that no mailbox has accepted yet.
    pub const UNSENT: MessageId = MessageId(0);

    /// The id as a number (0 for [`MessageId::UNSENT`]).
    #[inline]
    pub fn as_u64(self) -> u64 {
        self.0
    }

    pub(crate) fn from_raw(raw: u64) -> MessageId {
        MessageId(raw)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The identity of a process, used by direct addressing.
///
/// `Pid` is a plain number: cheap to copy, compare, hash and print.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Pid(u64);

impl Pid {
    /// A pid from a raw number. Process registries hand these out; building one
    /// by hand is useful in tests and for bridging to other systems.
    pub const fn from_u64(raw: u64) -> Pid {
        Pid(raw)
    }

    /// The pid as a number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

/// Identifies a subscriber within its topic: unique for the topic's life,
/// never reused. [`PublishError::Full`](crate::PublishError::Full) lists subscribers by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(u64);

impl SubscriberId {
    /// The id as a number (subscribers of a topic are numbered from 1, in
    /// the order they subscribed).
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    pub(crate) const fn from_raw(raw: u64) -> SubscriberId {
        SubscriberId(raw)
    }
}

impl fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

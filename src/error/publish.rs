//! Publishing on a topic: [`PublishError`], which hands back a message
//! (for `Full`, a copy of the one the other subscribers received).

use std::fmt;

use thiserror::Error;

use crate::id::SubscriberId;
use crate::message::Message;

/// The error of publishing on a [`Topic`](crate::Topic)
/// ([`publish`](crate::Topic::publish) and its non-blocking and timed forms).
///
/// Every variant hands a message back: for `Full`, a copy of the one the
/// other subscribers received, so the caller can retry for the full
/// subscribers alone or record the miss.
#[derive(Error)]
pub enum PublishError<T> {
    /// The topic has no subscriber (none subscribed, or every one has left),
    /// so nobody got the message.
    #[error("publishing on a topic with no subscribers")]
    NoSubscribers(Message<T>),
    /// Some subscribers' queues were full and the publish could not wait for
    /// them ([`SlowSubscriber::Reject`](crate::SlowSubscriber::Reject),
    /// [`try_publish`](crate::Topic::try_publish), or a timed publish whose
    /// deadline passed). The others received the message.
    #[error("{} of the topic's subscribers were full ({delivered} received the message)", .full.len())]
    Full {
        /// How many subscribers received the message.
        delivered: usize,
        /// The subscribers that did not, in subscription order.
        full: Vec<SubscriberId>,
        /// A copy of the message.
        message: Message<T>,
    },
    /// The topic was closed ([`Topic::close`](crate::Topic::close)).
    #[error("publishing on a closed topic")]
    Closed(Message<T>),
    /// The priority is outside the priority topic's levels; nobody got the
    /// message.
    #[error("message priority {} is outside the topic's priority levels", .0.header().priority())]
    InvalidPriority(Message<T>),
}

impl<T> PublishError<T> {
    /// Returns the message handed back (for `Full`, a copy).
    pub fn into_message(self) -> Message<T> {
        match self {
            PublishError::NoSubscribers(m)
            | PublishError::Closed(m)
            | PublishError::InvalidPriority(m)
            | PublishError::Full { message: m, .. } => m,
        }
    }

    /// The message handed back (for `Full`, a copy).
    pub fn message(&self) -> &Message<T> {
        match self {
            PublishError::NoSubscribers(m)
            | PublishError::Closed(m)
            | PublishError::InvalidPriority(m)
            | PublishError::Full { message: m, .. } => m,
        }
    }

    /// Returns the body of the message handed back.
    pub fn into_inner(self) -> T {
        self.into_message().into_body()
    }

    /// How many subscribers received the message (non-zero only for `Full`).
    pub fn delivered(&self) -> usize {
        match self {
            PublishError::Full { delivered, .. } => *delivered,
            _ => 0,
        }
    }

    /// The subscribers that were full (empty unless `Full`).
    pub fn full_subscribers(&self) -> &[SubscriberId] {
        match self {
            PublishError::Full { full, .. } => full,
            _ => &[],
        }
    }

    /// Whether some subscribers were full.
    pub fn is_full(&self) -> bool {
        matches!(self, PublishError::Full { .. })
    }

    /// Whether the topic had no subscriber.
    pub fn is_no_subscribers(&self) -> bool {
        matches!(self, PublishError::NoSubscribers(_))
    }

    /// Whether the topic was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, PublishError::Closed(_))
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::NoSubscribers(_) => f.write_str("NoSubscribers(..)"),
            PublishError::Closed(_) => f.write_str("Closed(..)"),
            PublishError::InvalidPriority(_) => f.write_str("InvalidPriority(..)"),
            PublishError::Full {
                delivered, full, ..
            } => f
                .debug_struct("Full")
                .field("delivered", delivered)
                .field("full", full)
                .finish_non_exhaustive(),
        }
    }
}

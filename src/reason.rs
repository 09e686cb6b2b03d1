//! Why a message became a dead letter: the reason every layer that settles
//! a message (receipts, statistics, dead-letter stores, mailboxes) reports.

use std::fmt;

/// Why a message became a dead letter.
///
/// An office's [`DeadLetters`](crate::DeadLetters) keep the reason with each letter
/// ([`DeadLetter::reason`](crate::DeadLetter::reason)); every mailbox counts its dead letters per reason
/// in [`MailboxStats::dead_letters`](crate::MailboxStats::dead_letters),
/// whether they reached a dead-letter place or were dropped. New reasons may
/// come, so the enum is `#[non_exhaustive]`.
///
/// # Examples
///
/// ```
/// use postbox::{DeadLetterReason, Mailbox, Message, Owner, PostOffice, Requeue};
/// use std::time::Duration;
///
/// let office = PostOffice::new();
/// office
///     .create::<&str>("jobs", Mailbox::builder().max_redeliveries(0), Owner::System)
///     .unwrap();
/// let tx = office.connect_sender::<&str>("jobs").unwrap();
/// let rx = office.connect_receiver::<&str>("jobs").unwrap();
/// tx.send("bad input").unwrap();
/// tx.send("flaky").unwrap();
/// tx.send(Message::new("stale").ttl(Duration::ZERO)).unwrap();
///
/// rx.recv_ack().unwrap().reject(); // Rejected
/// rx.recv_ack().unwrap().nack(Requeue::Yes); // no redelivery allowed: MaxRedeliveries
/// assert!(rx.try_recv().is_err()); // "stale" expired in the queue: Expired
///
/// let letters: Vec<(&str, DeadLetterReason)> = office
///     .dead_letters()
///     .drain::<&str>()
///     .iter()
///     .map(|letter| (*letter.body(), letter.reason()))
///     .collect();
/// assert_eq!(
///     letters,
///     [
///         ("bad input", DeadLetterReason::Rejected),
///         ("flaky", DeadLetterReason::MaxRedeliveries),
///         ("stale", DeadLetterReason::Expired),
///     ]
/// );
/// assert_eq!(rx.stats().dead_letters.total(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// A consumer refused it: [`Delivery::reject`](crate::Delivery::reject)
    /// or `nack(Requeue::No)`.
    Rejected,
    /// Its time to live ran out before a receiver took it (per message,
    /// [`Message::ttl`](crate::Message::ttl), or the mailbox's default,
    /// [`MailboxBuilder::ttl`](crate::MailboxBuilder::ttl)).
    Expired,
    /// It was given back once more after its last allowed delivery
    /// ([`MailboxBuilder::max_redeliveries`](crate::MailboxBuilder::max_redeliveries)):
    /// a poison message must not loop forever.
    MaxRedeliveries,
    /// It was evicted from a full mailbox to make room for a newer message
    /// ([`Overflow::DropOldest`](crate::Overflow::DropOldest),
    /// [`Overflow::DropLowest`](crate::Overflow::DropLowest)), or a custom
    /// [`Queue`](crate::Queue) backend refused to take back a requeued message
    /// (the built-in backends always take it back).
    Overflow,
    /// Its mailbox was destroyed: by [`PostOffice::destroy`](crate::PostOffice::destroy),
    /// by its [`Port`](crate::Port) being dropped, or by its owning process
    /// ending.
    Destroyed,
    /// The mailbox's last receiver went away while it was queued.
    NoReceivers,
}

impl DeadLetterReason {
    /// Every reason, in a fixed order (the order of the statistics).
    pub const ALL: [DeadLetterReason; 6] = [
        DeadLetterReason::Rejected,
        DeadLetterReason::Expired,
        DeadLetterReason::MaxRedeliveries,
        DeadLetterReason::Overflow,
        DeadLetterReason::Destroyed,
        DeadLetterReason::NoReceivers,
    ];

    /// The reason's position in [`DeadLetterReason::ALL`].
    pub(crate) fn index(self) -> usize {
        match self {
            DeadLetterReason::Rejected => 0,
            DeadLetterReason::Expired => 1,
            DeadLetterReason::MaxRedeliveries => 2,
            DeadLetterReason::Overflow => 3,
            DeadLetterReason::Destroyed => 4,
            DeadLetterReason::NoReceivers => 5,
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeadLetterReason::Rejected => "rejected by a consumer",
            DeadLetterReason::Expired => "time to live ran out",
            DeadLetterReason::MaxRedeliveries => "too many redeliveries",
            DeadLetterReason::Overflow => "evicted from a full mailbox",
            DeadLetterReason::Destroyed => "mailbox destroyed",
            DeadLetterReason::NoReceivers => "no receiver left",
        })
    }
}

/// Why a mailbox was closed: the answer of `closed_reason()` on its senders
/// and receivers, for a `Closed` error that needs explaining.
///
/// # Examples
///
/// ```
/// use postbox::{ClosedReason, Mailbox, RecvError};
///
/// let (tx, rx) = Mailbox::<u32>::builder().build();
/// assert_eq!(rx.closed_reason(), None);
/// drop(tx);
/// assert_eq!(rx.recv().unwrap_err(), RecvError);
/// assert_eq!(rx.closed_reason(), Some(ClosedReason::SendersGone));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClosedReason {
    /// Every sender was dropped; what was queued is still delivered.
    SendersGone,
    /// Closed on purpose: [`Receiver::close`](crate::Receiver::close), a
    /// port's or subscriber's `close`, [`Topic::close`](crate::Topic::close)
    /// or [`PostOffice::close`](crate::PostOffice::close).
    Closed,
    /// Every receiver was dropped; what was queued went where dead letters
    /// go.
    ReceiversGone,
    /// Destroyed: by [`PostOffice::destroy`](crate::PostOffice::destroy) or
    /// by its [`Port`](crate::Port) being dropped.
    Destroyed,
    /// Destroyed because the process that owned it ended: an
    /// [`Owner::Creator`](crate::Owner::Creator) mailbox, or the process's
    /// own inbox.
    OwnerEnded,
}

impl ClosedReason {
    /// The reason's code in a mailbox's one-byte record of it (0: open).
    pub(crate) fn code(self) -> u8 {
        match self {
            ClosedReason::SendersGone => 1,
            ClosedReason::Closed => 2,
            ClosedReason::ReceiversGone => 3,
            ClosedReason::Destroyed => 4,
            ClosedReason::OwnerEnded => 5,
        }
    }

    /// The reason a code stands for; `None` for 0, open.
    pub(crate) fn from_code(code: u8) -> Option<ClosedReason> {
        Some(match code {
            1 => ClosedReason::SendersGone,
            2 => ClosedReason::Closed,
            3 => ClosedReason::ReceiversGone,
            4 => ClosedReason::Destroyed,
            5 => ClosedReason::OwnerEnded,
            _ => return None,
        })
    }
}

impl fmt::Display for ClosedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClosedReason::SendersGone => "every sender is gone",
            ClosedReason::Closed => "closed",
            ClosedReason::ReceiversGone => "every receiver is gone",
            ClosedReason::Destroyed => "destroyed",
            ClosedReason::OwnerEnded => "its owner ended",
        })
    }
}

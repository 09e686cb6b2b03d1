//! Dead letters: messages that had nowhere left to go, kept with the reason.
//!
//! A message that cannot or must not be delivered (see [`DeadLetterReason`]:
//! rejected, expired, redelivered too often, evicted by an overflow policy,
//! its mailbox destroyed or its last receiver gone) is never dropped silently.
//! It goes, in order of preference:
//!
//! 1. to the typed dead-letter [`Sender`] the mailbox was built with
//!    ([`MailboxBuilder::dead_letters`](crate::MailboxBuilder::dead_letters));
//! 2. for mailboxes of a [`PostOffice`](crate::PostOffice), to the office's
//!    type-erased store, [`DeadLetters`];
//! 3. otherwise (a standalone mailbox), it is dropped and counted in
//!    [`MailboxStats::dropped`](crate::MailboxStats::dropped) (and per reason
//!    in [`MailboxStats::dead_letters`](crate::MailboxStats::dead_letters)).
//!    Its queued messages are only lost that way when the user drops the last
//!    receiver; [`Receiver::close`](crate::Receiver::close) takes them back
//!    first.

use std::any::{self, Any};
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::mailbox::Sender;
use crate::message::{Header, Message};
use crate::receipt::ReceiptState;
use crate::sync::{AtomicU64, Mutex};
use crate::wait::{Confirm, Wait};

/// Why a message became a dead letter.
///
/// An office's [`DeadLetters`] keep the reason with each letter
/// ([`DeadLetter::reason`]); every mailbox counts its dead letters per reason
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

/// A type-erased message body, as the office's store keeps it.
pub type AnyBody = Box<dyn Any + Send>;

/// A message that could not be delivered: where it was, why, its header and
/// its body.
///
/// The office's store holds them type-erased (`DeadLetter<AnyBody>`, the
/// default); [`downcast`](DeadLetter::downcast) or
/// [`DeadLetters::drain`] turn them back into typed letters.
///
/// # Examples
///
/// ```
/// use postbox::{DeadLetterReason, Mailbox, Owner, PostOffice};
///
/// let office = PostOffice::new();
/// office.create("jobs", Mailbox::<String>::builder(), Owner::System).unwrap();
/// let tx = office.connect_sender::<String>("jobs").unwrap();
/// tx.send("render profile 7".to_string()).unwrap();
/// office.destroy("jobs").unwrap();
///
/// let letters = office.dead_letters().drain::<String>();
/// assert_eq!(letters.len(), 1);
/// assert_eq!(letters[0].mailbox(), "jobs");
/// assert_eq!(letters[0].reason(), DeadLetterReason::Destroyed);
/// assert_eq!(letters[0].body(), "render profile 7");
/// ```
pub struct DeadLetter<B = AnyBody> {
    mailbox: Arc<str>,
    reason: DeadLetterReason,
    header: Header,
    body: B,
}

impl<B> DeadLetter<B> {
    /// The name of the mailbox the message was in.
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// Why it became a dead letter.
    pub fn reason(&self) -> DeadLetterReason {
        self.reason
    }

    /// Its header, as it was when it was queued.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Its body.
    pub fn body(&self) -> &B {
        &self.body
    }

    /// The message, to send again or inspect.
    pub fn into_message(self) -> Message<B> {
        Message::from_parts(self.header, self.body)
    }
}

impl DeadLetter<AnyBody> {
    /// Whether the body is a `T`.
    pub fn is<T: Any>(&self) -> bool {
        self.body.is::<T>()
    }

    /// The typed letter if the body is a `T`; the letter unchanged otherwise.
    pub fn downcast<T: Any>(self) -> Result<DeadLetter<T>, DeadLetter<AnyBody>> {
        let DeadLetter {
            mailbox,
            reason,
            header,
            body,
        } = self;
        match body.downcast::<T>() {
            Ok(body) => Ok(DeadLetter {
                mailbox,
                reason,
                header,
                body: *body,
            }),
            Err(body) => Err(DeadLetter {
                mailbox,
                reason,
                header,
                body,
            }),
        }
    }
}

impl<B> fmt::Debug for DeadLetter<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("mailbox", &self.mailbox)
            .field("reason", &self.reason)
            .field("header", &self.header)
            .field("body", &any::type_name::<B>())
            .finish()
    }
}

/// The office's dead-letter store, shared by its handles and its mailboxes.
#[derive(Default)]
pub(crate) struct Store {
    letters: Mutex<VecDeque<DeadLetter>>,
    /// Letters ever stored, per reason (in `DeadLetterReason::ALL` order).
    counts: [AtomicU64; DeadLetterReason::ALL.len()],
}

/// The dead letters of a [`PostOffice`](crate::PostOffice): every message its
/// mailboxes could not deliver and had no typed dead-letter sender for. Get it
/// from [`PostOffice::dead_letters`](crate::PostOffice::dead_letters); clones
/// share the same store.
///
/// Letters stay until taken ([`drain`](DeadLetters::drain),
/// [`take_all`](DeadLetters::take_all)): the store is unbounded, so a long-lived
/// office should drain it.
#[derive(Clone, Default)]
pub struct DeadLetters {
    store: Arc<Store>,
}

impl DeadLetters {
    pub(crate) fn new() -> DeadLetters {
        DeadLetters::default()
    }

    /// How many letters are stored now.
    pub fn len(&self) -> usize {
        self.store.letters.lock().len()
    }

    /// Whether no letter is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every letter whose body is a `T`, oldest first; letters of other
    /// types stay.
    pub fn drain<T: Any>(&self) -> Vec<DeadLetter<T>> {
        let mut letters = self.store.letters.lock();
        let mut typed = Vec::new();
        let mut others = VecDeque::with_capacity(letters.len());
        for letter in letters.drain(..) {
            match letter.downcast::<T>() {
                Ok(letter) => typed.push(letter),
                Err(letter) => others.push_back(letter),
            }
        }
        *letters = others;
        typed
    }

    /// Takes every letter, type-erased, oldest first.
    pub fn take_all(&self) -> Vec<DeadLetter> {
        self.store.letters.lock().drain(..).collect()
    }

    /// How many letters were ever stored for `reason` (taken ones included).
    pub fn count(&self, reason: DeadLetterReason) -> u64 {
        self.store.counts[reason.index()].load(Ordering::Relaxed)
    }

    /// How many letters were ever stored.
    pub fn total(&self) -> u64 {
        self.store
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    fn store_letter(&self, letter: DeadLetter) {
        self.store.counts[letter.reason.index()].fetch_add(1, Ordering::Relaxed);
        self.store.letters.lock().push_back(letter);
    }
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetters")
            .field("len", &self.len())
            .field("total", &self.total())
            .finish()
    }
}

/// Where a mailbox sends what it cannot deliver.
pub(crate) enum Sink<T: Send> {
    /// Nowhere: dropped and counted (standalone mailboxes).
    Drop,
    /// The user's typed dead-letter mailbox.
    Typed(Sender<T>),
    /// The office's store, under the mailbox's name.
    Office {
        letters: DeadLetters,
        mailbox: Arc<str>,
        erase: fn(T) -> AnyBody,
    },
}

/// What became of a message handed to a [`Sink`].
pub(crate) enum Disposal {
    /// It is a dead letter now.
    DeadLettered,
    /// It was dropped (no sink, or the typed sink refused it).
    Dropped,
}

impl<T: Send> Sink<T> {
    /// A sink into an office's store.
    pub(crate) fn office(letters: DeadLetters, mailbox: Arc<str>) -> Sink<T>
    where
        T: 'static,
    {
        Sink::Office {
            letters,
            mailbox,
            erase: |body| Box::new(body),
        }
    }

    /// Sends `msg` where dead letters go. A typed sink that is full or closed
    /// drops it (never blocks: this runs while mailboxes are torn down).
    pub(crate) fn dispose(&self, mut msg: Message<T>, reason: DeadLetterReason) -> Disposal {
        // The message will not be processed: its receipt learns where it
        // ended. The link comes off first, so that a dead letter sent on to
        // another mailbox is not mistaken for the tracked message there.
        let link = msg.header_mut().take_tracker();
        let disposal = match self {
            Sink::Drop => Disposal::Dropped,
            Sink::Typed(tx) => {
                msg.header_mut().clear_expiry();
                // Not `try_send`: that waits for the handle's own default
                // confirmation, and a handle set to `Confirm::Received` would
                // report a letter it queued as refused.
                match tx.send_with(msg, Wait::NonBlocking, Confirm::Queued) {
                    Ok(()) => Disposal::DeadLettered,
                    Err(_) => Disposal::Dropped,
                }
            }
            Sink::Office {
                letters,
                mailbox,
                erase,
            } => {
                let (header, body) = msg.into_parts();
                letters.store_letter(DeadLetter {
                    mailbox: Arc::clone(mailbox),
                    reason,
                    header,
                    body: erase(body),
                });
                Disposal::DeadLettered
            }
        };
        if let Some(link) = link {
            link.0.advance(match (reason, &disposal) {
                (DeadLetterReason::Expired, _) => ReceiptState::Expired,
                (_, Disposal::DeadLettered) => ReceiptState::DeadLettered(reason),
                (_, Disposal::Dropped) => ReceiptState::Dropped,
            });
        }
        disposal
    }
}

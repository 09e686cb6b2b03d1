//! Dead letters: messages that had nowhere left to go, kept with the reason.
//!
//! A message that cannot or must not be delivered (see [`DeadLetterReason`]:
//! rejected, expired, redelivered too often, evicted by an overflow policy,
//! its mailbox destroyed or its last receiver gone) is never dropped silently.
//! It goes, in order of preference:
//!
//! 1. to the typed dead-letter [`Sender`](crate::Sender) the mailbox was built with
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

use crate::message::{Header, Message};
use crate::reason::DeadLetterReason;
use crate::sync::{AtomicU64, Mutex};

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

    /// Keeps a message that left `mailbox` for `reason`, its body erased.
    pub(crate) fn store(
        &self,
        mailbox: &Arc<str>,
        reason: DeadLetterReason,
        header: Header,
        body: AnyBody,
    ) {
        self.store.counts[reason.index()].fetch_add(1, Ordering::Relaxed);
        self.store.letters.lock().push_back(DeadLetter {
            mailbox: Arc::clone(mailbox),
            reason,
            header,
            body,
        });
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

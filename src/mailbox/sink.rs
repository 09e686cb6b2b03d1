//! Where a mailbox sends what it cannot deliver: the user's typed
//! dead-letter mailbox, the office's store, or nowhere (dropped and counted).

use std::sync::Arc;

use crate::dead_letter::{AnyBody, DeadLetters};
use crate::message::Message;
use crate::reason::DeadLetterReason;
use crate::receipt::ReceiptState;
use crate::wait::{Confirm, Wait};

use super::Sender;

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
                letters.store(mailbox, reason, header, erase(body));
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

//! Where a mailbox sends what it cannot deliver: the user's typed
//! dead-letter mailbox, the office's store, or nowhere (dropped and counted).

use std::sync::Arc;

use crate::dead_letter::{AnyBody, DeadLetters};
use crate::message::Message;
use crate::reason::DeadLetterReason;
use crate::receipt::ReceiptState;

use super::Sender;

/// Where a mailbox sends what it cannot deliver. Every mailbox core holds
/// one and few ever use it, so the places are boxed: two words inline
/// instead of six.
pub(crate) enum Sink<T: Send> {
    /// Nowhere: dropped and counted (standalone mailboxes).
    Drop,
    /// The user's typed dead-letter mailbox.
    Typed(Box<Sender<T>>),
    /// The office's store.
    Office(Box<OfficeSink<T>>),
}

/// An office's dead-letter store, and the name the mailbox files under.
pub(crate) struct OfficeSink<T> {
    letters: DeadLetters,
    mailbox: Arc<str>,
    erase: fn(T) -> AnyBody,
}

impl<T: Send> Sink<T> {
    /// A sink into an office's store.
    pub(crate) fn office(letters: DeadLetters, mailbox: Arc<str>) -> Sink<T>
    where
        T: 'static,
    {
        Sink::Office(Box::new(OfficeSink {
            letters,
            mailbox,
            erase: |body| Box::new(body),
        }))
    }

    /// Sends `msg` where dead letters go. A typed sink that is full or closed
    /// refuses it (never blocks: this runs while mailboxes are torn down).
    /// Hands back a message that had nowhere to go, for the caller to count
    /// and then drop: its `Drop` may panic, and the count must not be lost.
    pub(crate) fn dispose(
        &self,
        mut msg: Message<T>,
        reason: DeadLetterReason,
    ) -> Result<(), Message<T>> {
        // The message will not be processed: its receipt learns where it
        // ended. The link comes off first, so that a dead letter sent on to
        // another mailbox is not mistaken for the tracked message there.
        let link = msg.header_mut().take_tracker();
        let disposal = match self {
            Sink::Drop => Err(msg),
            Sink::Typed(tx) => {
                msg.header_mut().clear_expiry();
                // Not `try_send`: that waits for the handle's own default
                // confirmation, and a handle set to `Confirm::Received` would
                // report a letter it queued as refused.
                match tx.send_letter(msg) {
                    Ok(()) => Ok(()),
                    // Every refusal but `Unconfirmed` (which a letter never
                    // gets: it waits for no confirmation) hands it back.
                    Err(err) => err.into_message().map_or(Ok(()), Err),
                }
            }
            Sink::Office(office) => {
                let (header, body) = msg.into_parts();
                let OfficeSink {
                    letters,
                    mailbox,
                    erase,
                } = &**office;
                letters.store(mailbox, reason, header, erase(body));
                Ok(())
            }
        };
        if let Some(link) = link {
            link.0.advance(match (reason, &disposal) {
                (DeadLetterReason::Expired, _) => ReceiptState::Expired,
                (_, Ok(())) => ReceiptState::DeadLettered(reason),
                (_, Err(_)) => ReceiptState::Dropped,
            });
        }
        disposal
    }
}

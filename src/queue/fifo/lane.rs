//! The FIFO backend's channel, carrying compact slots instead of whole
//! messages.
//!
//! crossbeam moves every message by value, twice (into its slot, out of it),
//! and a `Message<u64>` is 32 bytes: the header's id-and-priority word, the
//! source, the pointer to the rarely used fields, then the body. Most
//! messages leave the pointer empty (it holds correlation, reply-to, expiry
//! and receipts). Those travel as a [`Slot::Lean`], the two words and the
//! body (24 bytes for a `u64`); the rest travel boxed. The id-and-priority
//! word is never 0 for a stamped message (ids start at 1), so the enum
//! needs no tag of its own: that zero is the niche that marks the boxed
//! form.
//!
//! Why the source stays inline: a 16-byte slot without it (the source boxed
//! with the rare fields) cost every direct send an allocation, measured at
//! 419 -> 603 instructions per `send_to` + `recv` (callgrind), while the
//! source costs a plain send nothing but the 8 bytes.
//!
//! Everything above this file sees whole messages: the lane packs on the way
//! in and unpacks on the way out, and hands a refused message back whole.

use std::num::NonZeroU64;

use crossbeam_channel as cb;

use crate::message::Message;

/// What the channel carries: a lean message inline, any other boxed.
pub(super) enum Slot<T> {
    /// A message without rarely used header fields.
    Lean {
        /// The header's id-and-priority word (never 0 once stamped).
        meta: NonZeroU64,
        /// The source.
        source: u64,
        /// The body.
        body: T,
    },
    /// A message with rarely used header fields, or never stamped.
    Boxed(Box<Message<T>>),
}

impl<T> Slot<T> {
    /// The slot a message travels in.
    #[inline(always)]
    fn pack(msg: Message<T>) -> Slot<T> {
        match msg.into_lean() {
            Ok((meta, source, body)) => match NonZeroU64::new(meta) {
                Some(meta) => Slot::Lean { meta, source, body },
                None => Slot::boxed(Message::from_lean(meta, source, body)),
            },
            Err(msg) => Slot::boxed(msg),
        }
    }

    /// A message that does not fit a lean slot; kept out of line, so that
    /// the lean path stays small.
    #[cold]
    #[inline(never)]
    fn boxed(msg: Message<T>) -> Slot<T> {
        Slot::Boxed(Box::new(msg))
    }

    /// The message again, as it was packed.
    #[inline(always)]
    fn unpack(self) -> Message<T> {
        match self {
            Slot::Lean { meta, source, body } => Message::from_lean(meta.get(), source, body),
            Slot::Boxed(msg) => *msg,
        }
    }
}

/// The two ends of the data channel (the queue keeps both for its whole
/// life), speaking whole messages.
pub(super) struct Lane<T> {
    /// The sending end: what blocked senders register in a `Select`.
    pub(super) tx: cb::Sender<Slot<T>>,
    /// The receiving end: what blocked receivers register in a `Select`.
    pub(super) rx: cb::Receiver<Slot<T>>,
}

/// A refused message, whole.
fn unpack_send_error<T>(err: cb::TrySendError<Slot<T>>) -> cb::TrySendError<Message<T>> {
    match err {
        cb::TrySendError::Full(slot) => cb::TrySendError::Full(slot.unpack()),
        cb::TrySendError::Disconnected(slot) => cb::TrySendError::Disconnected(slot.unpack()),
    }
}

impl<T> Lane<T> {
    /// A lane holding at most `capacity` messages (`None`: unbounded).
    pub(super) fn new(capacity: Option<usize>) -> Lane<T> {
        let (tx, rx) = match capacity {
            Some(n) => cb::bounded(n),
            None => cb::unbounded(),
        };
        Lane { tx, rx }
    }

    /// crossbeam's `try_send`, of a whole message.
    #[inline(always)]
    pub(super) fn try_send(&self, msg: Message<T>) -> Result<(), cb::TrySendError<Message<T>>> {
        self.tx.try_send(Slot::pack(msg)).map_err(unpack_send_error)
    }

    /// crossbeam's `try_send` of a lean message; a message with rare
    /// header fields, or one crossbeam refused, comes back as it was.
    #[inline(always)]
    pub(super) fn try_put(&self, msg: Message<T>) -> Result<(), Message<T>> {
        match msg.into_lean() {
            Ok((meta, source, body)) => match NonZeroU64::new(meta) {
                Some(meta) => self
                    .tx
                    .try_send(Slot::Lean { meta, source, body })
                    .map_err(|err| err.into_inner().unpack()),
                None => Err(Message::from_lean(meta, source, body)),
            },
            Err(msg) => Err(msg),
        }
    }

    /// crossbeam's `try_recv`, of a whole message.
    #[inline(always)]
    pub(super) fn try_recv(&self) -> Result<Message<T>, cb::TryRecvError> {
        self.rx.try_recv().map(Slot::unpack)
    }

    /// Completes a selected send operation on `tx`.
    pub(super) fn send_selected(
        &self,
        oper: cb::SelectedOperation<'_>,
        msg: Message<T>,
    ) -> Result<(), Message<T>> {
        oper.send(&self.tx, Slot::pack(msg))
            .map_err(|cb::SendError(slot)| slot.unpack())
    }

    /// Completes a selected receive operation on `rx`.
    pub(super) fn recv_selected(&self, oper: cb::SelectedOperation<'_>) -> Option<Message<T>> {
        oper.recv(&self.rx).ok().map(Slot::unpack)
    }

    /// Messages in the channel.
    pub(super) fn len(&self) -> usize {
        self.rx.len()
    }

    /// The channel's capacity (`None`: unbounded).
    pub(super) fn capacity(&self) -> Option<usize> {
        self.tx.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{MessageId, Pid};

    #[test]
    fn a_lean_slot_is_three_words() {
        assert_eq!(std::mem::size_of::<Slot<u64>>(), 24);
        assert!(std::mem::size_of::<Slot<u64>>() < std::mem::size_of::<Message<u64>>());
    }

    /// A message through the lane and back, as it went in.
    fn round_trip(msg: Message<u32>) -> Message<u32> {
        let lane = Lane::new(Some(1));
        assert!(lane.try_send(msg).is_ok());
        match lane.try_recv() {
            Ok(msg) => msg,
            Err(err) => panic!("the lane lost the message: {err:?}"),
        }
    }

    #[test]
    fn every_header_survives_the_slot() {
        let mut plain = Message::new(7).priority(3);
        plain.header_mut().stamp(MessageId::from_raw(41));
        let back = round_trip(plain);
        assert_eq!(back.header().id(), MessageId::from_raw(41));
        assert_eq!(back.header().priority(), 3);
        assert_eq!(*back.body(), 7);

        // Never stamped (id 0, priority 0): the word is 0, so it goes boxed.
        let unsent = round_trip(Message::new(8));
        assert_eq!(unsent.header().id(), MessageId::UNSENT);
        assert_eq!(*unsent.body(), 8);

        let mut sourced = Message::new(9).correlation_id(5);
        sourced.header_mut().set_source(Pid::from_u64(77));
        let back = round_trip(sourced);
        assert_eq!(back.header().source(), Some(Pid::from_u64(77)));
        assert_eq!(back.header().correlation_id(), Some(5));
        assert_eq!(*back.body(), 9);
    }

    #[test]
    fn a_refused_message_comes_back_whole() {
        let lane = Lane::new(Some(0));
        let msg = Message::new(1u32).correlation_id(2);
        match lane.try_send(msg) {
            Err(cb::TrySendError::Full(back)) => {
                assert_eq!(back.header().correlation_id(), Some(2));
                assert_eq!(*back.body(), 1);
            }
            other => panic!("a rendezvous lane with no receiver took it: {other:?}"),
        }
    }
}

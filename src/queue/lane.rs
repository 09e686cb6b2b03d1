//! The channels of the built-in backends, carrying compact slots instead of
//! whole messages: the FIFO backend's queue itself, and the priority
//! backend's way in (its inbox, see `priority/mod.rs`).
//!
//! crossbeam moves every message by value, twice (into its slot, out of it),
//! and a `Message<u64>` is 32 bytes: the header's id-and-priority word, the
//! source, the pointer to the rarely used fields, then the body. Most
//! messages leave the pointer empty (it holds correlation, reply-to, expiry
//! and receipts), and only direct sends to a process set the source. So a
//! lane carries one of two slot forms, chosen when the queue is made:
//!
//! - [`Bare`] (every mailbox but a process's inbox): the id-and-priority
//!   word and the body, 16 bytes for a `u64`, the size of crossbeam's own
//!   slot for a `(u64, u64)`. A message with a source or rare fields travels
//!   boxed.
//! - [`Sourced`] (process inboxes, where direct sends set the source): the
//!   word, the source and the body, 24 bytes for a `u64`.
//!
//! Why two forms: the slot's size is what crossbeam copies and what
//! consumers pull across cores. Measured with crossbeam alone carrying a
//! 32-byte `Message<u64>` against a `u64`, four producers into an unbounded
//! channel took 1.9x the time, most of postbox's gap on that shape. Boxing
//! the source for every mailbox instead cost each direct send an allocation
//! (419 -> 603 instructions per `send_to` + `recv`, callgrind), so process
//! inboxes keep it inline.
//!
//! In both forms the id-and-priority word is never 0 for a stamped message
//! (ids start at 1), so the enums need no tag of their own: that zero is the
//! niche that marks the boxed form. Everything above this file sees whole
//! messages: the lane packs on the way in and unpacks on the way out, and
//! hands a refused message back whole.

use std::num::NonZeroU64;

use crossbeam_channel as cb;

use crate::message::Message;

/// How a slot form carries a message.
pub(super) trait Form<T>: Sized {
    /// The slot a lean message travels in, or the message back if this form
    /// would have to box it.
    fn lean(msg: Message<T>) -> Result<Self, Message<T>>;

    /// The slot a message travels in: boxed if it is not lean.
    #[inline(always)]
    fn pack(msg: Message<T>) -> Self {
        match Self::lean(msg) {
            Ok(slot) => slot,
            Err(msg) => Self::boxed(msg),
        }
    }

    /// A message that does not fit the lean form.
    fn boxed(msg: Message<T>) -> Self;

    /// The message again, as it was packed.
    fn unpack(self) -> Message<T>;

    /// Whether the slot is the lean form: its message has no rarely used
    /// header fields (no expiry, no receipt).
    fn is_lean(&self) -> bool;
}

/// A mailbox's slot: no source inline.
pub(super) enum Bare<T> {
    /// A message without a source or rarely used header fields.
    Lean {
        /// The header's id-and-priority word (never 0 once stamped).
        meta: NonZeroU64,
        /// The body.
        body: T,
    },
    /// Any other message (a direct send's, one with rare fields, or one
    /// never stamped).
    Boxed(Box<Message<T>>),
}

impl<T> Form<T> for Bare<T> {
    #[inline(always)]
    fn lean(msg: Message<T>) -> Result<Self, Message<T>> {
        match msg.into_lean() {
            Ok((meta, 0, body)) => match NonZeroU64::new(meta) {
                Some(meta) => Ok(Bare::Lean { meta, body }),
                None => Err(Message::from_lean(meta, 0, body)),
            },
            Ok((meta, source, body)) => Err(Message::from_lean(meta, source, body)),
            Err(msg) => Err(msg),
        }
    }

    /// Kept out of line, so that the lean path stays small.
    #[cold]
    #[inline(never)]
    fn boxed(msg: Message<T>) -> Self {
        Bare::Boxed(Box::new(msg))
    }

    #[inline(always)]
    fn unpack(self) -> Message<T> {
        match self {
            Bare::Lean { meta, body } => Message::from_lean(meta.get(), 0, body),
            Bare::Boxed(msg) => *msg,
        }
    }

    #[inline(always)]
    fn is_lean(&self) -> bool {
        matches!(self, Bare::Lean { .. })
    }
}

/// A process inbox's slot: the source inline.
pub(super) enum Sourced<T> {
    /// A message without rarely used header fields.
    Lean {
        /// The header's id-and-priority word (never 0 once stamped).
        meta: NonZeroU64,
        /// The source (0: none).
        source: u64,
        /// The body.
        body: T,
    },
    /// A message with rarely used header fields, or never stamped.
    Boxed(Box<Message<T>>),
}

impl<T> Form<T> for Sourced<T> {
    #[inline(always)]
    fn lean(msg: Message<T>) -> Result<Self, Message<T>> {
        match msg.into_lean() {
            Ok((meta, source, body)) => match NonZeroU64::new(meta) {
                Some(meta) => Ok(Sourced::Lean { meta, source, body }),
                None => Err(Message::from_lean(meta, source, body)),
            },
            Err(msg) => Err(msg),
        }
    }

    /// Kept out of line, so that the lean path stays small.
    #[cold]
    #[inline(never)]
    fn boxed(msg: Message<T>) -> Self {
        Sourced::Boxed(Box::new(msg))
    }

    #[inline(always)]
    fn unpack(self) -> Message<T> {
        match self {
            Sourced::Lean { meta, source, body } => Message::from_lean(meta.get(), source, body),
            Sourced::Boxed(msg) => *msg,
        }
    }

    #[inline(always)]
    fn is_lean(&self) -> bool {
        matches!(self, Sourced::Lean { .. })
    }
}

/// The two ends of one channel of slots `S` (the queue keeps both for its
/// whole life).
pub(super) struct Ends<S> {
    /// The sending end: what blocked senders register in a `Select`.
    tx: cb::Sender<S>,
    /// The receiving end: what blocked receivers register in a `Select`.
    rx: cb::Receiver<S>,
}

impl<S> Ends<S> {
    /// A channel holding at most `capacity` slots (`None`: unbounded).
    pub(super) fn new(capacity: Option<usize>) -> Ends<S> {
        let (tx, rx) = match capacity {
            Some(n) => cb::bounded(n),
            None => cb::unbounded(),
        };
        Ends { tx, rx }
    }

    /// crossbeam's `try_send`, of a whole message.
    #[inline(always)]
    pub(super) fn try_send<T>(&self, msg: Message<T>) -> Result<(), cb::TrySendError<Message<T>>>
    where
        S: Form<T>,
    {
        self.tx.try_send(S::pack(msg)).map_err(|err| match err {
            cb::TrySendError::Full(slot) => cb::TrySendError::Full(slot.unpack()),
            cb::TrySendError::Disconnected(slot) => cb::TrySendError::Disconnected(slot.unpack()),
        })
    }

    #[inline(always)]
    fn try_put<T>(&self, msg: Message<T>) -> Result<(), Message<T>>
    where
        S: Form<T>,
    {
        self.tx
            .try_send(S::lean(msg)?)
            .map_err(|err| err.into_inner().unpack())
    }

    /// crossbeam's `try_recv`, of a whole message.
    #[inline(always)]
    pub(super) fn try_recv<T>(&self) -> Result<Message<T>, cb::TryRecvError>
    where
        S: Form<T>,
    {
        self.rx.try_recv().map(S::unpack)
    }

    /// crossbeam's `try_recv`, of the slot itself: for a caller that has
    /// more to do before it unpacks the message (less to keep across it).
    #[inline(always)]
    pub(super) fn try_recv_slot(&self) -> Result<S, cb::TryRecvError> {
        self.rx.try_recv()
    }

    /// `try_recv` into `buf` until it holds `max` more, the channel runs
    /// dry or `stop` says so (asked before each), unpacking each slot
    /// straight into the buffer. Returns how many it appended, and whether
    /// every one came in the lean form.
    #[inline(always)]
    fn drain_into<T>(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
        stop: impl Fn() -> bool,
    ) -> (usize, bool)
    where
        S: Form<T>,
    {
        let mut n = 0;
        let mut lean = true;
        while n < max && !stop() {
            let Ok(slot) = self.rx.try_recv() else {
                break;
            };
            lean &= slot.is_lean();
            buf.push(slot.unpack());
            n += 1;
        }
        (n, lean)
    }

    /// Whether the channel holds no slot (a SeqCst look at crossbeam's
    /// head and tail).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Slots in the channel.
    pub(super) fn len(&self) -> usize {
        self.rx.len()
    }
}

/// The FIFO queue's channel, in the slot form chosen when it was made,
/// speaking whole messages. One predictable branch per call picks the form.
pub(super) enum Lane<T> {
    /// A mailbox's lane (see [`Bare`]).
    Bare(Ends<Bare<T>>),
    /// A process inbox's lane (see [`Sourced`]).
    Sourced(Ends<Sourced<T>>),
}

/// The same code on either form's ends.
macro_rules! each_form {
    ($lane:expr, $ends:ident => $body:expr) => {
        match $lane {
            Lane::Bare($ends) => $body,
            Lane::Sourced($ends) => $body,
        }
    };
}

impl<T> Lane<T> {
    /// A mailbox's lane holding at most `capacity` messages (`None`:
    /// unbounded): sourced messages go boxed.
    pub(super) fn new(capacity: Option<usize>) -> Lane<T> {
        Lane::Bare(Ends::new(capacity))
    }

    /// A process inbox's lane: the source travels inline.
    pub(super) fn sourced(capacity: Option<usize>) -> Lane<T> {
        Lane::Sourced(Ends::new(capacity))
    }

    /// crossbeam's `try_send`, of a whole message.
    #[inline(always)]
    pub(super) fn try_send(&self, msg: Message<T>) -> Result<(), cb::TrySendError<Message<T>>> {
        each_form!(self, ends => ends.try_send(msg))
    }

    /// crossbeam's `try_send` of a lean message; a message this lane would
    /// box, or one crossbeam refused, comes back as it was.
    #[inline(always)]
    pub(super) fn try_put(&self, msg: Message<T>) -> Result<(), Message<T>> {
        each_form!(self, ends => ends.try_put(msg))
    }

    /// crossbeam's `try_recv`, of a whole message.
    #[inline(always)]
    pub(super) fn try_recv(&self) -> Result<Message<T>, cb::TryRecvError> {
        each_form!(self, ends => ends.try_recv())
    }

    /// Takes up to `max` messages into `buf` while `stop` says no (asked
    /// before each): a batch receive picks the slot form once, not once
    /// per message. Returns how many it appended, and whether each came
    /// lean (then none has an expiry or a receipt to settle).
    #[inline(always)]
    pub(super) fn drain_into(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
        stop: impl Fn() -> bool,
    ) -> (usize, bool) {
        each_form!(self, ends => ends.drain_into(buf, max, &stop))
    }

    /// Adds a send on this lane to `sel`; returns its index.
    pub(super) fn select_send<'a>(&'a self, sel: &mut cb::Select<'a>) -> usize {
        each_form!(self, ends => sel.send(&ends.tx))
    }

    /// Adds a receive on this lane to `sel`; returns its index.
    pub(super) fn select_recv<'a>(&'a self, sel: &mut cb::Select<'a>) -> usize {
        each_form!(self, ends => sel.recv(&ends.rx))
    }

    /// Completes a selected send operation registered by `select_send`.
    pub(super) fn send_selected(
        &self,
        oper: cb::SelectedOperation<'_>,
        msg: Message<T>,
    ) -> Result<(), Message<T>> {
        each_form!(self, ends => oper
            .send(&ends.tx, Form::pack(msg))
            .map_err(|cb::SendError(slot)| slot.unpack()))
    }

    /// Completes a selected receive operation registered by `select_recv`.
    pub(super) fn recv_selected(&self, oper: cb::SelectedOperation<'_>) -> Option<Message<T>> {
        each_form!(self, ends => oper.recv(&ends.rx).ok().map(Form::unpack))
    }

    /// Messages in the channel.
    pub(super) fn len(&self) -> usize {
        each_form!(self, ends => ends.rx.len())
    }

    /// Whether the channel holds no message (two loads, where `len` loops).
    pub(super) fn is_empty(&self) -> bool {
        each_form!(self, ends => ends.rx.is_empty())
    }

    /// The channel's capacity (`None`: unbounded).
    pub(super) fn capacity(&self) -> Option<usize> {
        each_form!(self, ends => ends.tx.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{MessageId, Pid};

    #[test]
    fn a_lean_slot_is_two_words_or_three_with_the_source() {
        assert_eq!(std::mem::size_of::<Bare<u64>>(), 16);
        assert_eq!(std::mem::size_of::<Sourced<u64>>(), 24);
        assert!(std::mem::size_of::<Sourced<u64>>() < std::mem::size_of::<Message<u64>>());
    }

    /// A message through a lane and back, as it went in.
    fn round_trip(lane: &Lane<u32>, msg: Message<u32>) -> Message<u32> {
        assert!(lane.try_send(msg).is_ok());
        match lane.try_recv() {
            Ok(msg) => msg,
            Err(err) => panic!("the lane lost the message: {err:?}"),
        }
    }

    #[test]
    fn every_header_survives_either_slot() {
        for lane in [Lane::new(Some(1)), Lane::sourced(Some(1))] {
            let mut plain = Message::new(7).priority(3);
            plain.header_mut().stamp(MessageId::from_raw(41));
            let back = round_trip(&lane, plain);
            assert_eq!(back.header().id(), MessageId::from_raw(41));
            assert_eq!(back.header().priority(), 3);
            assert_eq!(back.header().source(), None);
            assert_eq!(*back.body(), 7);

            // Never stamped (id 0, priority 0): the word is 0, so it goes boxed.
            let unsent = round_trip(&lane, Message::new(8));
            assert_eq!(unsent.header().id(), MessageId::UNSENT);
            assert_eq!(*unsent.body(), 8);

            // A source alone: inline in a sourced lane, boxed in a bare one.
            let mut direct = Message::new(10);
            direct.header_mut().stamp(MessageId::from_raw(42));
            direct.header_mut().set_source(Pid::from_u64(76));
            let back = round_trip(&lane, direct);
            assert_eq!(back.header().source(), Some(Pid::from_u64(76)));
            assert_eq!(back.header().id(), MessageId::from_raw(42));
            assert_eq!(*back.body(), 10);

            let mut sourced = Message::new(9).correlation_id(5);
            sourced.header_mut().set_source(Pid::from_u64(77));
            let back = round_trip(&lane, sourced);
            assert_eq!(back.header().source(), Some(Pid::from_u64(77)));
            assert_eq!(back.header().correlation_id(), Some(5));
            assert_eq!(*back.body(), 9);
        }
    }

    #[test]
    fn only_a_bare_lane_refuses_a_source_on_the_lean_path() {
        let mut direct = Message::new(3u32);
        direct.header_mut().stamp(MessageId::from_raw(5));
        direct.header_mut().set_source(Pid::from_u64(9));
        let bare: Lane<u32> = Lane::new(None);
        let back = match bare.try_put(direct) {
            Err(back) => back,
            Ok(()) => panic!("a bare lane took a sourced message without boxing it"),
        };
        assert_eq!(back.header().source(), Some(Pid::from_u64(9)));
        let sourced: Lane<u32> = Lane::sourced(None);
        assert!(sourced.try_put(back).is_ok());
        match sourced.try_recv() {
            Ok(msg) => assert_eq!(msg.header().source(), Some(Pid::from_u64(9))),
            Err(err) => panic!("the lane lost the message: {err:?}"),
        }
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

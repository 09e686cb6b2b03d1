//! Mailboxes: indirect addressing through cloneable [`Sender`] and [`Receiver`]
//! handles over any [`Queue`] backend.
//!
//! A mailbox is many-to-many: clone the sender for more producers, clone the
//! receiver for competing consumers (each message goes to exactly one of them).
//!
//! # Closing
//!
//! - When every receiver is gone, sends fail with `Closed` and hand the message
//!   back. Messages still queued are dropped and counted in
//!   [`MailboxStats::dropped`]; their receipts say
//!   [`Dropped`](crate::ReceiptState::Dropped). Dropping the last receiver is
//!   the user's own act: call [`Receiver::close`] first to take them back.
//! - When every sender is gone, receivers still get what is queued, then
//!   `Closed`.
//! - [`Receiver::close`] closes explicitly: blocked senders wake with `Closed`,
//!   and the queued messages are returned to the caller.
//!
//! # Where things live
//!
//! To follow one `send`: `sender.rs` hands it to `sender/pipeline.rs`, which
//! stamps and pushes through `core/push.rs` into `backend.rs`; a `recv` pops
//! in `receiver.rs`; a `recv_ack` hands out a `delivery.rs` guard that
//! answers through `ack.rs`.
//!
//! | file | holds |
//! | --- | --- |
//! | `builder.rs` | [`MailboxBuilder`]: backend, capacity, limits, dead letters |
//! | `core.rs` | the state all handles share: settings and limits, fast-path checks, wake-ups |
//! | `core/push.rs` | push, with the overflow policy and a rendezvous sender's wait |
//! | `core/settle.rs` | dead letters and expiry |
//! | `core/close.rs` | close and retire |
//! | `core/stats.rs` | statistics |
//! | `backend.rs` | the built-in backends matched statically, custom ones through a vtable |
//! | `ids.rs` | message ids, numbered per sender handle from blocks of its own |
//! | `sender.rs` | [`Sender`]: every send form, its settings and queries |
//! | `sender/pipeline.rs` | the stages of one send: stamp, limits, log, push, land, receipts, confirmations, refusals |
//! | `receiver.rs` | [`Receiver`]: plain and acknowledged receives, prefetch |
//! | `recv_async.rs` | the async receives: [`Recv`], [`RecvAck`], [`RecvStream`] |
//! | `recv_many.rs` | batch receives (`recv_many`, `recv_ack_many`, their `try_`, `_timeout` and async forms) |
//! | `ack.rs` | a receiver handle's answering side and its prefetch slots |
//! | `delivery.rs` | [`Delivery`] and [`Requeue`]: what a consumer answers |
//! | `requeue.rs` | messages given back, at once or after a delay |
//! | `sink.rs` | where undeliverable messages go |
//! | `iter.rs` | [`Iter`], [`TryIter`], [`IntoIter`] |

use std::fmt;
use std::marker::PhantomData;

mod ack;
mod backend;
mod builder;
mod core;
mod delivery;
mod durable;
mod ids;
mod iter;
mod receiver;
mod recv_async;
mod recv_many;
mod requeue;
mod restore;
mod send_async;
mod sender;
mod sink;

pub(crate) use ack::AckPopError;
pub use builder::{DurableBuilder, MailboxBuilder};
pub use delivery::{Delivery, OwnedDelivery, Requeue};
pub use durable::Durable;
pub use iter::{IntoIter, Iter, TryIter};
pub use receiver::Receiver;
pub use recv_async::{Recv, RecvAck, RecvStream};
pub use recv_many::{RecvAckMany, RecvMany};
pub use send_async::{Permit, Reserve, SendAsync};
pub(crate) use sender::blocking_error;
pub use sender::Sender;
pub(crate) use sink::Sink;

/// The capacity of a mailbox whose builder was not given one: bounded, so that
/// a fast producer meets backpressure instead of exhausting memory.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The entry point for building mailboxes: `Mailbox::<T>::builder()`.
///
/// # Examples
///
/// ```
/// use postbox::Mailbox;
///
/// // Many-to-many FIFO with backpressure at 1024 queued jobs.
/// let (tx, rx) = Mailbox::<String>::builder().fifo().capacity(1024).build();
/// tx.send("render profile 7".to_string()).unwrap();
/// assert_eq!(rx.recv().unwrap().into_body(), "render profile 7");
///
/// // Priority levels 0..10, unbounded: the most urgent message leaves first.
/// let (tx, rx) = Mailbox::<&str>::builder().priority(10).unbounded().build();
/// tx.send("free").unwrap();
/// tx.send(postbox::Message::new("paid").priority(9)).unwrap();
/// assert_eq!(rx.recv().unwrap().into_body(), "paid");
/// ```
pub struct Mailbox<T> {
    _types: PhantomData<fn() -> T>,
}

impl<T: Send> Mailbox<T> {
    /// A builder: FIFO, bounded at [`DEFAULT_CAPACITY`], until told otherwise.
    pub fn builder() -> MailboxBuilder<T> {
        MailboxBuilder::new()
    }
}

impl<T> fmt::Debug for Mailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mailbox")
    }
}

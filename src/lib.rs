//! In-process message passing between threads, with every option of the classic
//! message-passing design space chosen per mailbox and per call.
//!
//! # The design map
//!
//! The operating-systems textbook lists the design issues of message passing;
//! this is where each option lives in postbox.
//!
//! | design issue | option | postbox |
//! | --- | --- | --- |
//! | synchronization | non-blocking send | [`Sender::try_send`], [`Wait::NonBlocking`]: enqueue or `Full(msg)` at once |
//! | | blocking send (until there is room) | [`Sender::send`], [`send_timeout`](Sender::send_timeout), [`send_deadline`](Sender::send_deadline) |
//! | | blocking send (until received: rendezvous) | [`Confirm::Received`]; a capacity-0 mailbox is a true rendezvous |
//! | | test for arrival (sender) | [`Sender::send_tracked`] returns a [`Receipt`] |
//! | | blocking / non-blocking receive | [`Receiver::recv`], [`try_recv`](Receiver::try_recv), [`recv_timeout`](Receiver::recv_timeout), [`recv_with`](Receiver::recv_with) |
//! | | batch receive | [`Receiver::recv_many`], [`try_recv_many`](Receiver::try_recv_many), [`recv_many_async`](Receiver::recv_many_async), [`recv_ack_many`](Receiver::recv_ack_many): up to `max` queued messages for one wait |
//! | | test for arrival (receiver) | [`Receiver::is_empty`], [`len`](Receiver::len), [`try_recv`](Receiver::try_recv) |
//! | | async (futures, any executor) | [`Sender::send_async`], [`reserve_async`](Sender::reserve_async) → [`Permit`], [`Receiver::recv_async`], [`recv_ack_async`](Receiver::recv_ack_async), [`stream`](Receiver::stream), [`Receipt::wait_async`]: one mailbox serves threads and tasks at once; cancel-safe receives (see "Async" below) |
//! | addressing | direct, explicit send | [`Process::send_to`]`(&`[`Address`]`, msg)`: the header's source is the sender's [`Pid`] |
//! | | direct, implicit receive | [`Process::recv`]: from anyone; [`Header::source`] says who |
//! | | direct, explicit receive | [`Process::recv_from`]`(pid)`, [`recv_matching`](Process::recv_matching): selective receive, the others keep their order |
//! | | indirect, one-to-one / many-to-many | [`Mailbox`]: cloneable [`Sender`]s and [`Receiver`]s (competing consumers) |
//! | | indirect, many-to-one | [`Port`]: one receive right, not `Clone`; dropping it destroys the port |
//! | | indirect, one-to-many | [`Topic`]: every [`Subscriber`] gets its own copy in its own bounded queue; [`SlowSubscriber`] policy `Block`, `DropOldest` or `Reject` |
//! | | waiting on several sources | [`Select`]: any mix of receivers, ports, subscribers, process inboxes and monitors; fair or [`biased`](Select::biased); `select`, `try_select`, `select_timeout`, `select_deadline` |
//! | | static association | handles built in code and passed around |
//! | | dynamic association | [`PostOffice`]: [`create`](PostOffice::create) by name, [`connect_sender`](PostOffice::connect_sender) / [`connect_receiver`](PostOffice::connect_receiver), [`Sender::disconnect`], [`destroy`](PostOffice::destroy) |
//! | | ownership | [`Owner::System`] (until `destroy`), [`Owner::Creator`] (until its process ends), receiver-owned [`Port`]s; destruction wakes waiters with `Closed` and sends leftovers to [`DeadLetters`] |
//! | | request / reply | [`Process::request`], [`Process::reply`] (correlation id and reply-to in the header) |
//! | message format | header + body | [`Message`]: [`Header`] (id, source, priority, correlation id, reply-to, redeliveries, expiry) + any body `T` |
//! | | fixed / variable length | any `T`; [`MailboxBuilder::max_body_len`] refuses longer bodies ([`BodyLen`]) |
//! | queueing discipline | FIFO / priority | one [`Queue`] trait: [`Fifo`] (crossbeam-channel), [`Priority`] (levels, FIFO within a level), or your own |
//! | delivery guarantees | consumer acknowledgement (at least once) | [`Receiver::recv_ack`] → [`Delivery`]: [`ack`](Delivery::ack), [`nack`](Delivery::nack)`(`[`Requeue`]`)`, [`reject`](Delivery::reject); dropped unanswered (a panic too) = requeued at the front of its level; a delivery borrows its handle, [`into_owned`](Delivery::into_owned) ([`OwnedDelivery`]) to move it; plain `recv` = auto-ack |
//! | | redelivery limit | [`MailboxBuilder::max_redeliveries`]; [`Header::redeliveries`] counts them |
//! | | fair dispatch | [`Receiver::with_prefetch`]: at most `n` unanswered deliveries per receiver handle |
//! | | confirmation of processing | [`Confirm::Acked`], [`Receipt::wait_acked`]; [`ReceiptState`] `Queued → Received → Acked / Requeued / DeadLettered / Expired / Dropped` |
//! | | expiry | [`Message::ttl`], [`MailboxBuilder::ttl`]: expired messages are never delivered (dead letter `Expired`) |
//! | | bounded capacity, overflow | [`MailboxBuilder::overflow`]: [`Overflow`] `Block`, `Reject`, `DropOldest`, `DropLowest` |
//! | | retry with backoff | [`Requeue::After`]: back after a delay, no worker sleeping |
//! | | dead letters | [`MailboxBuilder::dead_letters`] or the office's [`DeadLetters`]; [`DeadLetterReason`] `Rejected`, `Expired`, `MaxRedeliveries`, `Overflow`, `Destroyed`, `NoReceivers`; per-reason counts in [`MailboxStats::dead_letters`] |
//! | | durability | [`MailboxBuilder::durable`]`(`[`Durable`]`)` → [`DurableBuilder::open`]: a write-ahead log per mailbox ([`SyncPolicy`] `Always` / `Buffered` / `Every`, group commit), replay on open, [`Codec`]s ([`Raw`], `Postcard`); see the README's "Durability" |
//! | | statistics | [`MailboxStats`] from `stats()` on senders, receivers, ports, subscribers and processes: sent, received, queued, in flight, delayed, dead-lettered and dropped, acks, nacks, redeliveries |
//!
//! # Quick start
//!
//! ```
//! use postbox::{Mailbox, Message};
//! use std::thread;
//!
//! // A bounded priority mailbox: 10 levels, backpressure at 64 queued jobs.
//! let (tx, rx) = Mailbox::<String>::builder().priority(10).capacity(64).build();
//!
//! let worker = thread::spawn(move || {
//!     let mut done = Vec::new();
//!     for msg in rx.iter() {            // ends when every sender is gone
//!         done.push(msg.into_body());
//!     }
//!     done
//! });
//!
//! tx.send("free profile".to_string()).unwrap();                       // priority 0
//! tx.send(Message::new("paid profile".to_string()).priority(9)).unwrap();
//! drop(tx);
//! assert_eq!(worker.join().unwrap().len(), 2);
//! ```
//!
//! # Synchronization
//!
//! Send and receive each come blocking, non-blocking and bounded by a timeout
//! or deadline; [`Wait`] picks one at run time, and a handle can carry a default
//! ([`Sender::with_wait`], used by [`Sender::post`]).
//!
//! **Blocking send, blocking receive (rendezvous).** With capacity 0 a send
//! completes only when a receiver takes the message. On any other capacity,
//! [`Confirm::Received`] gives the same guarantee:
//!
//! ```
//! use postbox::{Confirm, Mailbox, Wait};
//! use std::thread;
//!
//! let (tx, rx) = Mailbox::<u32>::builder().rendezvous().build();
//! let receiver = thread::spawn(move || rx.recv().unwrap().into_body());
//! tx.send(42).unwrap(); // returns once the receiver has it
//! assert_eq!(receiver.join().unwrap(), 42);
//!
//! let (tx, rx) = Mailbox::<u32>::builder().unbounded().build();
//! let receiver = thread::spawn(move || rx.recv().unwrap().into_body());
//! tx.send_with(7, Wait::Blocking, Confirm::Received).unwrap();
//! assert_eq!(receiver.join().unwrap(), 7);
//! ```
//!
//! **Non-blocking send, blocking receive.** The sender goes on at once; a full
//! mailbox hands the message back instead of waiting:
//!
//! ```
//! use postbox::{Mailbox, TrySendError};
//!
//! let (tx, rx) = Mailbox::<u32>::builder().capacity(2).build();
//! tx.try_send(1).unwrap();
//! tx.try_send(2).unwrap();
//! match tx.try_send(3) {
//!     Err(TrySendError::Full(msg)) => assert_eq!(msg.into_body(), 3), // not lost
//!     other => panic!("expected Full, got {other:?}"),
//! }
//! assert_eq!(rx.recv().unwrap().into_body(), 1);
//! ```
//!
//! **Non-blocking send, non-blocking receive.** Neither side waits:
//!
//! ```
//! use postbox::{Mailbox, TryRecvError};
//!
//! let (tx, rx) = Mailbox::<&str>::builder().build();
//! assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
//! tx.try_send("ping").unwrap();
//! assert!(!rx.is_empty()); // test for arrival
//! assert_eq!(rx.try_recv().unwrap().into_body(), "ping");
//! ```
//!
//! **Test for arrival on the sender's side.** A tracked send returns a
//! [`Receipt`]:
//!
//! ```
//! use postbox::Mailbox;
//! use std::time::Duration;
//!
//! let (tx, rx) = Mailbox::<u32>::builder().build();
//! let receipt = tx.send_tracked(5).unwrap();
//! assert!(!receipt.is_delivered());
//! rx.recv().unwrap();
//! assert!(receipt.wait_timeout(Duration::from_secs(1)).is_ok());
//! ```
//!
//! # Message format
//!
//! A [`Message`] is a [`Header`] and a body. Sends accept a plain body too.
//! Bodies that know their length can be limited per mailbox:
//!
//! ```
//! use postbox::{Mailbox, Message, SendError};
//!
//! let (tx, rx) = Mailbox::<String>::builder().max_body_len(8).build();
//! tx.send(Message::new("short".to_string()).correlation_id(1)).unwrap();
//! let err = tx.send("far too long".to_string()).unwrap_err();
//! assert!(matches!(err, SendError::TooLong(_)));
//! let msg = rx.recv().unwrap();
//! assert_eq!(msg.header().correlation_id(), Some(1));
//! assert_eq!(msg.header().source(), None); // plain mailbox sends have no source
//! ```
//!
//! # Queueing discipline
//!
//! FIFO by default; priority mailboxes hand out the highest priority first
//! (a higher number is more urgent, as in RabbitMQ) and keep equal priorities
//! in arrival order:
//!
//! ```
//! use postbox::{Mailbox, Message};
//!
//! let (tx, rx) = Mailbox::<&str>::builder().priority(3).build();
//! tx.send(Message::new("low a").priority(0)).unwrap();
//! tx.send(Message::new("high").priority(2)).unwrap();
//! tx.send(Message::new("low b").priority(0)).unwrap();
//! let order: Vec<&str> = rx.try_iter().map(|m| m.into_body()).collect();
//! assert_eq!(order, ["high", "low a", "low b"]);
//!
//! // Outside the levels: refused, message handed back.
//! assert!(tx.try_send(Message::new("?").priority(3)).is_err());
//! ```
//!
//! # Addressing
//!
//! **Direct.** A [`Process`] is a [`Pid`] with an inbox. Others send to its
//! [`Address`]; it receives from anyone, or only from one pid:
//!
//! ```
//! use postbox::PostOffice;
//!
//! let office = PostOffice::new();
//! let alice = office.process::<&str>("alice").unwrap();
//! let bob = office.process::<&str>("bob").unwrap();
//! alice.send_to(&office.lookup("bob").unwrap(), "hi bob").unwrap();
//! let msg = bob.recv_from(alice.pid()).unwrap();
//! assert_eq!(msg.header().source(), Some(alice.pid()));
//! ```
//!
//! **Indirect, dynamic, owned.** An office mailbox is found by name and lives
//! as long as its owner says; a spawned process's mailboxes end with it:
//!
//! ```
//! use postbox::{ExitReason, Mailbox, Owner, PostOffice};
//! use std::time::Duration;
//!
//! let office = PostOffice::new();
//! let (ready_tx, ready_rx) = Mailbox::<()>::builder().build();
//! let worker = office
//!     .spawn::<(), _>("worker", move |me| {
//!         let office = me.office().clone();
//!         office
//!             .create::<u32>("results", Mailbox::builder(), Owner::Creator(me.pid()))
//!             .unwrap();
//!         ready_tx.send(()).unwrap();
//!         me.recv().ok(); // until told to stop
//!     })
//!     .unwrap();
//! let down = office.monitor(worker.pid());
//! ready_rx.recv().unwrap();
//! let results = office.connect_receiver::<u32>("results").unwrap();
//!
//! office.lookup::<()>("worker").unwrap().send(()).unwrap(); // stop
//! assert_eq!(down.recv_timeout(Duration::from_secs(10)).unwrap().reason(), &ExitReason::Normal);
//! assert!(results.recv().is_err()); // the owner ended: the mailbox is gone
//! assert!(!office.contains("results"));
//! worker.join().unwrap();
//! ```
//!
//! # Delivery guarantees
//!
//! A worker that may die mid-job takes its work with acknowledgement, as a
//! RabbitMQ consumer does: the message stays the mailbox's until the worker
//! says it is done, comes back if the worker gives it up (or panics), and goes
//! to dead letters if it keeps failing:
//!
//! ```
//! use postbox::{DeadLetterReason, Mailbox, Requeue};
//!
//! let (dead_tx, dead_rx) = Mailbox::<&str>::builder().build();
//! let (tx, rx) = Mailbox::<&str>::builder()
//!     .priority(3)
//!     .max_redeliveries(2)
//!     .dead_letters(dead_tx)
//!     .build();
//! let rx = rx.with_prefetch(1); // one job at a time per worker handle
//! tx.send("profile 7").unwrap();
//! tx.send("poison").unwrap();
//!
//! while let Ok(job) = rx.try_recv_ack() {
//!     if *job.body() == "poison" {
//!         job.nack(Requeue::Yes); // fails every time: 3 deliveries, then dead
//!     } else {
//!         job.ack();
//!     }
//! }
//! assert_eq!(dead_rx.try_recv().unwrap().into_body(), "poison");
//! let stats = rx.stats();
//! assert_eq!((stats.acked, stats.nacked, stats.redelivered), (1, 3, 2));
//! assert_eq!(stats.dead_letters.get(DeadLetterReason::MaxRedeliveries), 1);
//! ```
//!
//! A sender can wait until its message was processed, not only queued
//! ([`Confirm::Acked`]), and learns where it ended otherwise:
//!
//! ```
//! use postbox::{Confirm, DeadLetterReason, Mailbox, ReceiptState, SendError};
//! use std::thread;
//!
//! let (dead_tx, _dead_rx) = Mailbox::<u32>::builder().build();
//! let (tx, rx) = Mailbox::<u32>::builder().dead_letters(dead_tx).build();
//! let worker = thread::spawn(move || {
//!     for _ in 0..2 {
//!         let job = rx.recv_ack().unwrap();
//!         if *job.body() == 13 {
//!             job.reject(); // cannot be processed
//!         } else {
//!             job.ack();
//!         }
//!     }
//! });
//! let tx = tx.with_confirm(Confirm::Acked);
//! tx.send(7).unwrap(); // returns once the worker acknowledged it
//! match tx.send(13) {
//!     Err(SendError::Unconfirmed(receipt)) => assert_eq!(
//!         receipt.state(),
//!         ReceiptState::DeadLettered(DeadLetterReason::Rejected)
//!     ),
//!     other => panic!("expected Unconfirmed, got {other:?}"),
//! }
//! worker.join().unwrap();
//! ```
//!
//! Time to live ([`MailboxBuilder::ttl`]), overflow policies ([`Overflow`]),
//! retry with backoff ([`Requeue::After`]) and dead-letter reasons
//! ([`DeadLetterReason`]) each have an example on their own page.
//!
//! # Where things live
//!
//! One module per concept, in layers: each names only the modules listed
//! before it. A reader looking for a design issue's home starts here.
//!
//! | module | design issue | main types |
//! | --- | --- | --- |
//! | `journal/` | durability (plumbing, names no other layer): the write-ahead log under durable mailboxes | `SyncPolicy`, `OpenError`, `Recovery` |
//! | `id` | message format: identities | `MessageId`, `Pid`, `SubscriberId` |
//! | `reason` | why a message left, why a mailbox closed | `DeadLetterReason`, `ClosedReason` |
//! | `wait` | synchronization: how long a call waits | `Wait`, `Confirm` |
//! | `receipt` | synchronization: test for arrival (sender) | `Receipt`, `ReceiptState`, `ReceiptError` |
//! | `message` | message format: header + body | `Message`, `Header`, `BodyLen` |
//! | `error` | every failure family; sends hand the message back | `SendError`, `TrySendError`, `RecvError`, `OfficeError`, ... |
//! | `codec` | durability: bodies as bytes for the log | `Codec`, `CodecError`, `Raw`, `Postcard` (feature `serde`) |
//! | `queue/` | queueing discipline | `Queue`, `Fifo`, `Priority` |
//! | `overflow` | delivery guarantees: a full mailbox | `Overflow` |
//! | `stats`, `dead_letter` | nothing lost silently | `MailboxStats`, `DeadLetters`, `DeadLetter` |
//! | `mailbox/` | indirect addressing, synchronization (blocking and async), acknowledgements, durability | `Mailbox`, `MailboxBuilder`, `Sender`, `Receiver`, `Delivery`, `Requeue`, `Permit`, `Durable`, `DurableBuilder` |
//! | `port` | indirect addressing: many-to-one, owned by its receiver | `Port` |
//! | `topic/` | indirect addressing: one-to-many | `Topic`, `Subscriber`, `TopicBuilder` |
//! | `office/` | dynamic association, ownership, direct addressing | `PostOffice`, `Owner`, `Process`, `Address`, `Monitor`, `ProcessHandle` |
//! | `select` | waiting on several sources | `Select`, `Source` |
//!
//!
//! `sync`, `signal`, `wake` and `timer` (internal plumbing) sit below them
//! all; `wake` holds the wait lists of tasks.
//!
//! # Async
//!
//! Every waiting call has an async form that blocks no thread, on any
//! executor (postbox depends on none): tasks and threads send and receive on
//! the same mailbox, on every backend, rendezvous included.
//!
//! - **A message leaves the mailbox only in the poll that returns it.** A
//!   dropped `recv_async` / `recv_ack_async` future (or a batch
//!   `recv_many_async` one) took nothing (no redelivery counted, order
//!   unchanged), and a wake-up it had received goes to the next waiting
//!   task.
//! - **A dropped `send_async` future** had queued its message, or drops it
//!   with itself (it never went in: counted as refused). To send from a
//!   `select!` branch that may lose, reserve first:
//!   [`reserve_async`](Sender::reserve_async) holds room in a [`Permit`],
//!   and `permit.send(msg)` cannot wait or find the mailbox full.
//! - Each mailbox keeps two wait lists of tasks (receivers, senders); an
//!   event wakes one task, the longest waiting, and costs one load when no
//!   task waits. A custom [`Queue`] gets a [`ReadyHook`] for changes the
//!   mailbox does not make; without it, waiting tasks also poll on a timer.
//!
//! # Nothing is lost silently
//!
//! A message is received (or acknowledged), handed back in an error,
//! returned by [`Receiver::close`] / [`Port::close`], or, when it cannot or
//! must not be delivered (rejected, expired, redelivered too often, evicted by
//! an overflow policy, its mailbox destroyed or its last receiver gone), sent
//! to dead letters: the mailbox's own dead-letter sender, or its office's
//! [`DeadLetters`] with the reason. Only a standalone mailbox without either
//! drops such messages, counted in [`MailboxStats::dropped`] (and per reason
//! in [`MailboxStats::dead_letters`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Under loom the spin before parking is off (`SPIN_LIMIT` is 0), so the spin
// loops' ranges are empty on purpose.
#![cfg_attr(loom, allow(clippy::reversed_empty_ranges))]

#[macro_use]
mod delegate;

mod codec;
mod dead_letter;
mod error;
mod id;
mod journal;
mod mailbox;
mod message;
mod office;
mod overflow;
mod port;
pub mod queue;
mod reason;
mod receipt;
mod select;
mod signal;
mod stats;
mod sync;
mod timer;
mod topic;
mod wait;
mod wake;

#[cfg(feature = "serde")]
pub use crate::codec::Postcard;
pub use crate::codec::{Codec, CodecError, Raw};
pub use crate::dead_letter::{AnyBody, DeadLetter, DeadLetters};
pub use crate::error::PublishError;
pub use crate::error::{
    CreateError, OfficeError, PopError, PushError, RecvError, RecvTimeoutError, ReplyError,
    RequestError, ReserveError, SendError, SendTimeoutError, TryRecvAckError, TryRecvError,
    TrySendError,
};
pub use crate::id::{MessageId, Pid, SubscriberId};
pub use crate::journal::{OpenError, Recovery, SyncPolicy};
pub use crate::mailbox::{
    Delivery, Durable, DurableBuilder, IntoIter, Iter, Mailbox, MailboxBuilder, OwnedDelivery,
    Permit, Receiver, Recv, RecvAck, RecvAckMany, RecvMany, RecvStream, Requeue, Reserve,
    SendAsync, Sender, TryIter, DEFAULT_CAPACITY,
};
pub use crate::message::{BodyLen, Header, Message};
pub use crate::office::{
    Address, Down, ExitReason, Monitor, Owner, PostOffice, Process, ProcessHandle, ProcessRecv,
    ProcessRecvAck, ProcessStream, RecvDown, RecvMatching, RequestAsync,
};
pub use crate::overflow::Overflow;
pub use crate::port::Port;
pub use crate::queue::{Fifo, Priority, Queue, ReadyHook};
pub use crate::reason::{ClosedReason, DeadLetterReason};
pub use crate::receipt::{Receipt, ReceiptError, ReceiptState, ReceiptWait};
pub use crate::select::{Select, Source};
pub use crate::stats::{DeadLetterCounts, MailboxStats};
pub use crate::topic::{PublishAsync, SlowSubscriber, Subscriber, Topic, TopicBuilder, TopicStats};
pub use crate::wait::{Confirm, Wait};

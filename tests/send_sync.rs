//! Auto traits and `Debug` of the public types: handles can be shared across
//! threads, and every public type prints without requiring `T: Debug`.

mod common;

use std::cell::Cell;
use std::fmt::Debug;

use postbox::{
    Confirm, Fifo, Header, IntoIter, Iter, Mailbox, MailboxBuilder, MailboxStats, Message,
    MessageId, Pid, PopError, Priority, PushError, Receipt, ReceiptError, ReceiptState, Receiver,
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryIter, TryRecvError,
    TrySendError, Wait,
};

fn is_send<T: Send>() {}
fn is_send_sync<T: Send + Sync>() {}
fn is_debug<T: Debug>() {}
fn is_clone<T: Clone>() {}
fn is_copy<T: Copy>() {}

/// Sendable but not shareable (`Cell`): the handles must still be both, as
/// crossbeam's are for `T: Send`.
type NotSync = Cell<u32>;

/// No `Debug`, `Clone`, `Sync` needed from a body.
struct Opaque;

#[test]
fn handles_are_send_and_sync_for_any_send_body() {
    is_send_sync::<Sender<NotSync>>();
    is_send_sync::<Receiver<NotSync>>();
    is_send_sync::<Sender<Opaque>>();
    is_send_sync::<Receiver<Opaque>>();
    is_send_sync::<IntoIter<NotSync>>();
    is_send::<Iter<'static, NotSync>>();
    is_send::<TryIter<'static, NotSync>>();
    is_clone::<Sender<Opaque>>();
    is_clone::<Receiver<Opaque>>();
}

#[test]
fn messages_and_errors_are_send_and_sync_when_the_body_is() {
    is_send_sync::<Message<u32>>();
    is_send::<Message<NotSync>>();
    is_send_sync::<Header>();
    is_send_sync::<Receipt>();
    is_send_sync::<TrySendError<u32>>();
    is_send_sync::<SendError<u32>>();
    is_send_sync::<SendTimeoutError<u32>>();
    is_send_sync::<PushError<u32>>();
    is_send::<TrySendError<NotSync>>();
    is_send_sync::<RecvError>();
    is_send_sync::<TryRecvError>();
    is_send_sync::<RecvTimeoutError>();
    is_send_sync::<ReceiptError>();
    is_send_sync::<PopError>();
    is_send_sync::<MailboxStats>();
    is_send_sync::<Wait>();
    is_send_sync::<Confirm>();
    is_send_sync::<ReceiptState>();
    is_send_sync::<MessageId>();
    is_send_sync::<Pid>();
    is_clone::<Receipt>();
    is_clone::<Message<u32>>();
    is_copy::<MessageId>();
    is_copy::<Pid>();
    is_copy::<Wait>();
    is_copy::<Confirm>();
    is_copy::<ReceiptState>();
    is_copy::<MailboxStats>();
}

#[test]
fn backends_and_builder_are_send() {
    is_send_sync::<Fifo<NotSync>>();
    is_send_sync::<Priority<NotSync>>();
    is_send::<MailboxBuilder<NotSync>>();
    is_send::<MailboxBuilder<Opaque>>();
    is_send_sync::<common::DeadlineQueue<u32>>();
    // A builder can be prepared on one thread and built on another.
    let builder = Mailbox::<u32>::builder().priority(3).capacity(2);
    let (tx, rx) = std::thread::spawn(move || builder.build()).join().unwrap();
    tx.send(1).unwrap();
    assert_eq!(rx.recv().unwrap().into_body(), 1);
}

#[test]
fn every_public_type_is_debug_without_body_debug() {
    is_debug::<Sender<Opaque>>();
    is_debug::<Receiver<Opaque>>();
    is_debug::<Iter<'static, Opaque>>();
    is_debug::<TryIter<'static, Opaque>>();
    is_debug::<IntoIter<Opaque>>();
    is_debug::<Mailbox<Opaque>>();
    is_debug::<MailboxBuilder<Opaque>>();
    is_debug::<Fifo<Opaque>>();
    is_debug::<Priority<Opaque>>();
    is_debug::<TrySendError<Opaque>>();
    is_debug::<SendError<Opaque>>();
    is_debug::<SendTimeoutError<Opaque>>();
    is_debug::<PushError<Opaque>>();
    is_debug::<Header>();
    is_debug::<Receipt>();
    is_debug::<MailboxStats>();
}

#[test]
fn debug_output_says_something_useful() {
    let (tx, rx) = Mailbox::<Opaque>::builder().capacity(3).build();
    tx.send(Opaque).unwrap();
    let text = format!("{tx:?}");
    assert!(text.starts_with("Sender"), "{text}");
    assert!(
        text.contains("len: 1") && text.contains("capacity: Some(3)"),
        "{text}"
    );
    let text = format!("{rx:?}");
    assert!(
        text.starts_with("Receiver") && text.contains("closed: false"),
        "{text}"
    );

    let builder = Mailbox::<Vec<u8>>::builder().priority(4).max_body_len(10);
    let text = format!("{builder:?}");
    assert!(
        text.contains("priority(4)") && text.contains("10"),
        "{text}"
    );

    let receipt = tx.send_tracked(Opaque).unwrap();
    let text = format!("{receipt:?}");
    assert!(text.contains("Queued"), "{text}");
    rx.recv().unwrap();
    rx.recv().unwrap();
    assert!(format!("{receipt:?}").contains("Acked"));

    assert!(format!("{:?}", rx.iter()).contains("Iter"));
    assert!(format!("{:?}", rx.try_iter()).contains("TryIter"));
    assert!(format!("{:?}", Fifo::<Opaque>::bounded(2)).contains("Fifo"));
    assert!(format!("{:?}", Priority::<Opaque>::new(3, None)).contains("levels: 3"));
}

/// Handles work when shared by reference across scoped threads (`Sync`).
#[test]
fn shared_references_across_threads() {
    let (tx, rx) = Mailbox::<u32>::builder().unbounded().build();
    std::thread::scope(|s| {
        for t in 0..4 {
            let tx = &tx;
            s.spawn(move || {
                for n in 0..100 {
                    tx.send(t * 100 + n).unwrap();
                }
            });
        }
    });
    let mut got: Vec<u32> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let rx = &rx;
                s.spawn(move || rx.try_iter().map(|m| m.into_body()).collect::<Vec<_>>())
            })
            .collect();
        for h in handles {
            got.extend(h.join().unwrap());
        }
    });
    got.sort_unstable();
    assert_eq!(got, (0..400).collect::<Vec<_>>());
}

//! loom models of the async wake-ups (issue 11): a task registers, a thread
//! sends or receives, and loom explores every interleaving of the wait
//! list's lock and counters with the backend's (the priority backend, whose
//! synchronization is postbox's own).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --test loom_async --release`.
//! Futures are polled by hand with a waker that raises a loom flag, so loom
//! sees the wake as a synchronizing store.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use postbox::Mailbox;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A waker that raises a flag loom can see.
struct Flag(Arc<AtomicBool>);

impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A waker and the flag it raises.
fn flag_waker() -> (Waker, Arc<AtomicBool>) {
    let flag = Arc::new(AtomicBool::new(false));
    (Waker::from(StdArc::new(Flag(Arc::clone(&flag)))), flag)
}

fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Polls until ready, waiting (yielding to loom) for the waker's flag
/// between polls: a task that is never woken would spin forever, which loom
/// reports as a deadlock.
fn block_on<F: Future + Unpin>(mut future: F) -> F::Output {
    let (waker, flag) = flag_waker();
    loop {
        flag.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = poll(&mut future, &waker) {
            return out;
        }
        while !flag.load(Ordering::SeqCst) {
            thread::yield_now();
        }
    }
}

/// Register, look again, sleep: a task whose poll found the mailbox empty
/// is woken by a send from a thread, whatever the interleaving.
#[test]
fn recv_async_is_woken_by_a_thread_send() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(2).build();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        let got = block_on(rx.recv_async()).unwrap().into_body();
        assert_eq!(got, 7);
        sender.join().unwrap();
    });
}

/// A task waiting for room in a full mailbox is woken by a thread's
/// receive.
#[test]
fn send_async_is_woken_by_a_thread_recv() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(1).build();
        tx.try_send(1).unwrap();
        let receiver = thread::spawn(move || {
            let a = rx.recv().unwrap().into_body();
            let b = rx.recv().unwrap().into_body();
            (a, b)
        });
        block_on(tx.send_async(2)).unwrap();
        assert_eq!(receiver.join().unwrap(), (1, 2));
    });
}

/// Two tasks wait; one message comes while the first-registered task's
/// future is dropped. The wake must reach the other task: either the send
/// wakes it directly (the first was already gone), or the dropped future
/// passes on the wake it had received.
#[test]
fn a_dropped_waiter_passes_its_wake_on() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(2).build();
        let rx = Arc::new(rx);
        let (waker_a, _flag_a) = flag_waker();
        let (waker_b, flag_b) = flag_waker();
        let mut first = Box::pin(rx.recv_async());
        let mut second = Box::pin(rx.recv_async());
        assert!(first
            .as_mut()
            .poll(&mut Context::from_waker(&waker_a))
            .is_pending());
        assert!(second
            .as_mut()
            .poll(&mut Context::from_waker(&waker_b))
            .is_pending());
        // A clone sends: the last sender's drop would close the mailbox,
        // and a close wakes every task, hiding a swallowed wake.
        let sender = {
            let tx = tx.clone();
            thread::spawn(move || tx.send(5).unwrap())
        };
        drop(first);
        sender.join().unwrap();
        assert!(flag_b.load(Ordering::SeqCst), "the wake was swallowed");
        match second.as_mut().poll(&mut Context::from_waker(&waker_b)) {
            Poll::Ready(Ok(msg)) => assert_eq!(msg.into_body(), 5),
            other => panic!("the message is still queued, got {other:?}"),
        }
        drop(tx);
    });
}

/// A rendezvous between a task and a thread, both ways: the task's offer
/// is taken by a blocked thread, and a blocked thread's offer by the task.
#[test]
fn rendezvous_between_a_task_and_a_thread() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().capacity(0).build();
        let receiver = thread::spawn(move || rx.recv().unwrap().into_body());
        block_on(tx.send_async(3)).unwrap();
        assert_eq!(receiver.join().unwrap(), 3);
    });
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().capacity(0).build();
        let sender = thread::spawn(move || tx.send(4).unwrap());
        assert_eq!(block_on(rx.recv_async()).unwrap().into_body(), 4);
        sender.join().unwrap();
    });
}

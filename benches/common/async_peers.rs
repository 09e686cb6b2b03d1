//! The async channels under test, behind one pair of traits: [`AsyncTx`] and
//! [`AsyncRx`] over `tokio::sync::mpsc`, flume's async API, async-channel and
//! postbox mailboxes (`send_async` / `recv_async`), with one constructor per
//! channel taking a [`Cap`] where the channel has one type for both kinds.
//! tokio's bounded and unbounded channels are different types: the bench
//! picks `mpsc::channel(n)` or `mpsc::unbounded_channel()` itself.

use std::future::Future;

use postbox::Message;

use super::peers::{Cap, LEVELS};

/// The sending half of an async channel under test.
pub(crate) trait AsyncTx: Clone + Send + Sync + 'static {
    /// Sends, waiting (as a task) for room; panics if the channel is closed.
    fn put(&self, v: u64) -> impl Future<Output = ()> + Send + '_;
}

/// The receiving half of an async channel under test (`&mut`: tokio's
/// receiver takes `&mut self`).
pub(crate) trait AsyncRx: Send + 'static {
    /// Receives, waiting (as a task) for a message; panics if the channel is
    /// closed.
    fn take(&mut self) -> impl Future<Output = u64> + Send + '_;
}

impl AsyncTx for tokio::sync::mpsc::Sender<u64> {
    async fn put(&self, v: u64) {
        self.send(v).await.unwrap();
    }
}

impl AsyncRx for tokio::sync::mpsc::Receiver<u64> {
    async fn take(&mut self) -> u64 {
        self.recv().await.unwrap()
    }
}

impl AsyncTx for tokio::sync::mpsc::UnboundedSender<u64> {
    // Never waits: an unbounded tokio channel's send is not async.
    async fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

impl AsyncRx for tokio::sync::mpsc::UnboundedReceiver<u64> {
    async fn take(&mut self) -> u64 {
        self.recv().await.unwrap()
    }
}

impl AsyncTx for flume::Sender<u64> {
    async fn put(&self, v: u64) {
        self.send_async(v).await.unwrap();
    }
}

impl AsyncRx for flume::Receiver<u64> {
    async fn take(&mut self) -> u64 {
        self.recv_async().await.unwrap()
    }
}

impl AsyncTx for async_channel::Sender<u64> {
    async fn put(&self, v: u64) {
        self.send(v).await.unwrap();
    }
}

impl AsyncRx for async_channel::Receiver<u64> {
    async fn take(&mut self) -> u64 {
        self.recv().await.unwrap()
    }
}

impl AsyncTx for postbox::Sender<u64> {
    async fn put(&self, v: u64) {
        self.send_async(v).await.unwrap();
    }
}

impl AsyncRx for postbox::Receiver<u64> {
    async fn take(&mut self) -> u64 {
        self.recv_async().await.unwrap().into_body()
    }
}

/// A postbox sender whose messages cycle through the priority levels.
#[derive(Clone)]
pub(crate) struct AsyncMixedTx(pub(crate) postbox::Sender<u64>);

impl AsyncTx for AsyncMixedTx {
    async fn put(&self, v: u64) {
        let prio = (v % u64::from(LEVELS)) as u8;
        self.0
            .send_async(Message::new(v).priority(prio))
            .await
            .unwrap();
    }
}

/// A postbox receiver that polls with `try_recv` and yields to the runtime
/// between tries, never registering a waker: the receive path without the
/// wait list, to tell its cost apart from the queue's.
pub(crate) struct SpinRx(pub(crate) postbox::Receiver<u64>);

impl AsyncRx for SpinRx {
    async fn take(&mut self) -> u64 {
        loop {
            match self.0.try_recv() {
                Ok(msg) => return msg.into_body(),
                Err(postbox::TryRecvError::Empty) => tokio::task::yield_now().await,
                Err(err) => panic!("{err}"),
            }
        }
    }
}

/// flume: `bounded(n)` / `unbounded()` (used through its async API).
pub(crate) fn flume_async(cap: Cap) -> (flume::Sender<u64>, flume::Receiver<u64>) {
    match cap {
        Some(n) => flume::bounded(n),
        None => flume::unbounded(),
    }
}

/// async-channel: `bounded(n)` / `unbounded()`.
pub(crate) fn async_channel(
    cap: Cap,
) -> (async_channel::Sender<u64>, async_channel::Receiver<u64>) {
    match cap {
        Some(n) => async_channel::bounded(n),
        None => async_channel::unbounded(),
    }
}

//! Monitors: a process's end reported as a [`Down`] notice with its
//! [`ExitReason`], to one [`Monitor`] per watcher.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::PostOffice;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::id::Pid;
use crate::mailbox::{Receiver, Recv, Sender};
use crate::message::Message;
use crate::sync::Mutex;

/// How a process ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExitReason {
    /// Its closure returned, or its [`Process`](crate::Process) was dropped.
    Normal,
    /// It panicked; the panic message.
    Panicked(String),
    /// It did not exist, or had already ended, when the monitor was set up.
    NoProcess,
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal exit"),
            ExitReason::Panicked(msg) => write!(f, "panicked: {msg}"),
            ExitReason::NoProcess => f.write_str("no such process"),
        }
    }
}

/// The notice a [`Monitor`] gets when a watched process ends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Down {
    pid: Pid,
    reason: ExitReason,
}

impl Down {
    pub(crate) fn new(pid: Pid, reason: ExitReason) -> Down {
        Down { pid, reason }
    }

    /// The process that ended.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// How it ended.
    pub fn reason(&self) -> &ExitReason {
        &self.reason
    }
}

/// Receives a [`Down`] notice for every watched process that ends, in the
/// order they end. Made by [`PostOffice::monitor`].
///
/// # Examples
///
/// ```
/// use postbox::{ExitReason, PostOffice};
/// use std::time::Duration;
///
/// let office = PostOffice::new();
/// let worker = office
///     .spawn::<u32, _>("worker", |me| {
///         let job = me.recv().unwrap().into_body();
///         assert!(job != 13, "job {job} is poisoned");
///     })
///     .unwrap();
/// let monitor = office.monitor(worker.pid());
/// office.lookup::<u32>("worker").unwrap().send(13).unwrap();
///
/// let down = monitor.recv_timeout(Duration::from_secs(10)).unwrap();
/// assert_eq!(down.pid(), worker.pid());
/// assert_eq!(down.reason(), &ExitReason::Panicked("job 13 is poisoned".into()));
/// assert!(worker.join().is_err());
/// assert!(!office.contains("worker")); // the name is free again
/// ```
pub struct Monitor {
    /// Where the watched processes live.
    office: PostOffice,
    /// What the watched processes hold of this monitor.
    watcher: Arc<Watcher>,
    /// The notices.
    receiver: Receiver<Down>,
}

/// The part of a [`Monitor`] that the processes it watches hold: where to
/// send the notice, and which processes it watches, so that a process's end
/// and the monitor's drop each take the other's registration out.
pub(super) struct Watcher {
    /// The monitor's notice mailbox.
    notices: Sender<Down>,
    /// The pids it watches and that have not ended yet.
    watching: Mutex<HashSet<Pid>>,
}

impl Watcher {
    /// Identifies the watcher in a process's list of monitors (its address:
    /// stable while the list holds it).
    pub(super) fn key(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    /// Tells the monitor that `pid` ended, and forgets it.
    pub(super) fn notify(&self, pid: Pid, reason: ExitReason) {
        self.watching.lock().remove(&pid);
        // Unbounded: a notice never waits.
        let _ = self.notices.try_send(Down::new(pid, reason));
    }
}

impl Monitor {
    /// A monitor watching nothing yet: add processes with
    /// [`watch`](Monitor::watch), or pass it to
    /// [`PostOffice::spawn_monitored`]. A supervisor keeps one for all its
    /// workers.
    pub fn new(office: &PostOffice) -> Monitor {
        let (notices, receiver) = crate::mailbox::Mailbox::builder().unbounded().build();
        Monitor {
            office: office.clone(),
            watcher: Arc::new(Watcher {
                notices,
                watching: Mutex::new(HashSet::new()),
            }),
            receiver,
        }
    }

    /// Watches one more process; if it is unknown or has ended, the notice
    /// (with [`ExitReason::NoProcess`]) comes at once. Watching a process
    /// it already watches changes nothing: one end, one notice.
    pub fn watch(&self, pid: Pid) {
        self.office.add_monitor(pid, &self.watcher);
    }

    /// Waits for the next notice. (The monitor holds its own notice sender,
    /// so this waits forever if no watched process ever ends: prefer
    /// [`recv_timeout`](Monitor::recv_timeout) where that matters.)
    pub fn recv(&self) -> Result<Down, RecvError> {
        self.receiver.recv().map(Message::into_body)
    }

    /// Takes a notice if one is there now.
    pub fn try_recv(&self) -> Result<Down, TryRecvError> {
        self.receiver.try_recv().map(Message::into_body)
    }

    /// Waits at most `timeout` for the next notice.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Down, RecvTimeoutError> {
        self.receiver.recv_timeout(timeout).map(Message::into_body)
    }

    /// Waits until `deadline` at the latest for the next notice.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Down, RecvTimeoutError> {
        self.receiver
            .recv_deadline(deadline)
            .map(Message::into_body)
    }

    /// Waits for the next notice without blocking a thread: the async form
    /// of [`recv`](Monitor::recv). (As for `recv`, the monitor holds its own
    /// notice sender: wrap it in your runtime's timeout where a watched
    /// process may never end.)
    ///
    /// **Cancel-safe.** A notice leaves the monitor only in the poll that
    /// returns it: a dropped future loses none.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{ExitReason, PostOffice};
    ///
    /// # futures_executor::block_on(async {
    /// let office = PostOffice::new();
    /// let worker = office
    ///     .spawn::<u8, _>("worker", |me| {
    ///         let _ = me.recv(); // one job, then it ends
    ///     })
    ///     .unwrap();
    /// let monitor = office.monitor(worker.pid());
    /// office.lookup::<u8>("worker").unwrap().send(1).unwrap();
    /// let down = monitor.recv_async().await.unwrap();
    /// assert_eq!((down.pid(), down.reason()), (worker.pid(), &ExitReason::Normal));
    /// # worker.join().unwrap();
    /// # });
    /// ```
    pub fn recv_async(&self) -> RecvDown<'_> {
        RecvDown {
            recv: self.receiver.recv_async(),
        }
    }

    /// The notices' receiver, for [`Select`](crate::Select).
    pub(crate) fn receiver(&self) -> &Receiver<Down> {
        &self.receiver
    }
}

impl Drop for Monitor {
    /// Takes this monitor off the list of every process it still watches,
    /// so that a process watched by monitors that come and go holds none of
    /// them.
    fn drop(&mut self) {
        let watching = std::mem::take(&mut *self.watcher.watching.lock());
        let key = self.watcher.key();
        for pid in watching {
            // A process that is ending may already be out of the office's
            // map: its teardown then holds the last reference to us, and
            // lets it go once it has sent the notice.
            if let Some(record) = self.office.inner.process_record(pid) {
                if let Some(ties) = record.state.lock().ties_if_any() {
                    ties.monitors.remove(&key);
                }
            }
        }
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("pending", &self.receiver.len())
            .finish()
    }
}

/// The future of [`Monitor::recv_async`]: the next [`Down`] notice.
#[must_use = "futures do nothing unless polled"]
pub struct RecvDown<'a> {
    recv: Recv<'a, Down>,
}

impl Future for RecvDown<'_> {
    type Output = Result<Down, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().recv)
            .poll(cx)
            .map(|got| got.map(Message::into_body))
    }
}

impl fmt::Debug for RecvDown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvDown")
            .field("recv", &self.recv)
            .finish()
    }
}

impl PostOffice {
    /// A monitor of process `pid`: it receives one [`Down`] notice when the
    /// process ends. A pid that is unknown or already ended gets its notice at
    /// once, with [`ExitReason::NoProcess`]. Watch more processes with
    /// [`Monitor::watch`].
    pub fn monitor(&self, pid: Pid) -> Monitor {
        let monitor = Monitor::new(self);
        monitor.watch(pid);
        monitor
    }

    /// Adds `watcher` to the process's list (once), or tells it at once
    /// that the process is gone.
    pub(super) fn add_monitor(&self, pid: Pid, watcher: &Arc<Watcher>) {
        // The monitor's set is locked across the registration, so that the
        // process's end (which takes the pid out of it, after taking the
        // list) finds it registered in both or in neither.
        let mut watching = watcher.watching.lock();
        if watching.contains(&pid) {
            return;
        }
        if let Some(record) = self.inner.process_record(pid) {
            let mut state = record.state.lock();
            // Not `ended`: a process that is ending still gets its monitor,
            // told with the real reason once its name is free (see
            // `end_process`), not `NoProcess` while the name is still held.
            if !state.finished {
                state
                    .ties()
                    .monitors
                    .insert(watcher.key(), Arc::clone(watcher));
                watching.insert(pid);
                return;
            }
        }
        drop(watching);
        watcher.notify(pid, ExitReason::NoProcess);
    }
}

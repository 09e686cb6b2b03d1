//! Starting and ending processes: [`PostOffice::process`],
//! [`anonymous`](PostOffice::anonymous) and [`spawn`](PostOffice::spawn),
//! the office's record of a live process, the end-of-process teardown, and
//! the [`ProcessHandle`] of a spawned process's thread.

use std::any;
use std::collections::HashMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::monitor::{ExitReason, Monitor, Watcher};
use super::process::{Address, Process};
use super::registry::{AnyMailbox, EntryKind, Named};
use super::PostOffice;
use crate::error::OfficeError;
use crate::id::Pid;
use crate::mailbox::{MailboxBuilder, Receiver, Sender};
use crate::port::Port;
use crate::reason::ClosedReason;
use crate::sync::Mutex;

/// The next pid, shared by every office: pids start at 1 and are never
/// reused in the program, so a pid of one office never names a process of
/// another (a reply, a monitor, an owner or an address looked up in the
/// wrong office finds no process and says so).
static NEXT_PID: AtomicU64 = AtomicU64::new(1);

/// A process's pid and inbox, before it is recorded.
struct ProcessParts<T: Send> {
    pid: Pid,
    receiver: Receiver<T>,
    sender: Arc<Sender<T>>,
    mailbox: Arc<dyn AnyMailbox>,
}

/// What the office knows about a live process.
pub(crate) struct ProcessRecord {
    pub(crate) pid: Pid,
    name: Option<Arc<str>>,
    /// The registration number of its name, if it has one.
    entry_id: u64,
    inbox: Arc<dyn AnyMailbox>,
    pub(super) state: Mutex<ProcessState>,
}

#[derive(Default)]
pub(super) struct ProcessState {
    pub(super) ended: bool,
    /// Its teardown is done (inbox and owned mailboxes destroyed, name
    /// free): monitors added from now on are told `NoProcess` at once.
    pub(super) finished: bool,
    /// What ties other things to the process, made by the first tie: most
    /// processes of a big office own nothing and are watched by nobody, and
    /// an empty list and map inline would cost each nine words.
    ties: Option<Box<Ties>>,
}

/// The mailboxes a process owns and the monitors watching it.
#[derive(Default)]
pub(super) struct Ties {
    /// `Owner::Creator(pid)` mailboxes: name, registration number, mailbox.
    pub(super) owned: Vec<(Arc<str>, u64, Arc<dyn AnyMailbox>)>,
    /// Monitors to tell when the process ends, by [`Watcher::key`]: a
    /// dropped monitor takes itself out in O(1).
    pub(super) monitors: HashMap<usize, Arc<Watcher>>,
}

impl ProcessState {
    /// The process's ties, made now if it had none.
    pub(super) fn ties(&mut self) -> &mut Ties {
        self.ties.get_or_insert_with(Box::default)
    }

    /// The process's ties, if it has any.
    pub(super) fn ties_if_any(&mut self) -> Option<&mut Ties> {
        self.ties.as_deref_mut()
    }
}

impl PostOffice {
    /// Starts a process named `name` in the calling thread's hands: a pid and
    /// an inbox (a FIFO port bounded at
    /// [`DEFAULT_CAPACITY`](crate::DEFAULT_CAPACITY)). The process ends when
    /// the returned [`Process`] is dropped.
    pub fn process<T: Send + 'static>(&self, name: &str) -> Result<Process<T>, OfficeError> {
        self.process_with(name, Port::builder())
    }

    /// A process without a name: reachable only through its
    /// [`Address`](Process::address).
    pub fn anonymous<T: Send + 'static>(&self) -> Process<T> {
        self.anonymous_with(Port::builder())
    }

    /// A process without a name, with an inbox built by `inbox`.
    pub fn anonymous_with<T: Send + 'static>(
        &self,
        inbox: MailboxBuilder<T, Port<T>>,
    ) -> Process<T> {
        let parts = self.prepare_process(None, inbox);
        self.finish_process(parts, None)
    }

    /// Starts a process named `name` with an inbox built by `inbox`
    /// (backend, capacity, limits).
    pub fn process_with<T: Send + 'static>(
        &self,
        name: &str,
        inbox: MailboxBuilder<T, Port<T>>,
    ) -> Result<Process<T>, OfficeError> {
        let name: Arc<str> = Arc::from(name);
        let parts = self.prepare_process(Some(&name), inbox);
        let id = self
            .inner
            .register(&name, &parts.mailbox, EntryKind::Process(parts.pid))?;
        Ok(self.finish_process(parts, Some((name, id))))
    }

    /// A fresh pid and an inbox for a process.
    fn prepare_process<T: Send + 'static>(
        &self,
        name: Option<&Arc<str>>,
        inbox: MailboxBuilder<T, Port<T>>,
    ) -> ProcessParts<T> {
        let pid = Pid::from_u64(NEXT_PID.fetch_add(1, Ordering::Relaxed));
        let label: Arc<str> = match name {
            Some(name) => Arc::clone(name),
            None => Arc::from(pid.to_string()),
        };
        // Made on first use: an office may hold a million idle inboxes.
        let (tx, receiver) = inbox.lazy_queue().build_with(self.sink(&label));
        let sender = Arc::new(tx);
        let mailbox: Arc<dyn AnyMailbox> = Arc::new(Named {
            sender: Arc::clone(&sender),
            receiver: None,
        });
        ProcessParts {
            pid,
            receiver,
            sender,
            mailbox,
        }
    }

    /// Records a prepared process (registered under `name` if it has one) and
    /// hands it out.
    fn finish_process<T: Send + 'static>(
        &self,
        parts: ProcessParts<T>,
        name: Option<(Arc<str>, u64)>,
    ) -> Process<T> {
        let ProcessParts {
            pid,
            receiver,
            sender,
            mailbox,
        } = parts;
        let (record_name, entry_id, registration) = match name {
            Some((name, id)) => (
                Some(Arc::clone(&name)),
                id,
                Some(self.registration(name, id)),
            ),
            None => (None, 0, None),
        };
        let record = Arc::new(ProcessRecord {
            pid,
            name: record_name,
            entry_id,
            inbox: mailbox,
            state: Mutex::new(ProcessState::default()),
        });
        self.inner
            .processes
            .shard(&pid)
            .write()
            .insert(pid, Arc::clone(&record));
        Process::new(
            self.clone(),
            record,
            Port::from_parts(receiver, registration),
            Address::new(pid, sender),
        )
    }

    /// Runs a process named `name` on a thread of its own. When `body`
    /// returns or panics, the process ends: its inbox and every
    /// `Owner::Creator(pid)` mailbox are destroyed, its name is freed, and its
    /// monitors get a [`Down`](crate::Down) notice saying how it ended. The handle joins
    /// the thread.
    pub fn spawn<T, F>(&self, name: &str, body: F) -> Result<ProcessHandle, OfficeError>
    where
        T: Send + 'static,
        F: FnOnce(Process<T>) + Send + 'static,
    {
        let process = self.process::<T>(name)?;
        ProcessHandle::start(process, body)
    }

    /// Like [`spawn`](PostOffice::spawn), with `monitor` watching the process
    /// before its thread starts: no end, however early, goes unreported (with
    /// `monitor(handle.pid())` after `spawn`, a process that ends first is
    /// reported as [`ExitReason::NoProcess`]).
    pub fn spawn_monitored<T, F>(
        &self,
        name: &str,
        monitor: &Monitor,
        body: F,
    ) -> Result<ProcessHandle, OfficeError>
    where
        T: Send + 'static,
        F: FnOnce(Process<T>) + Send + 'static,
    {
        let process = self.process::<T>(name)?;
        monitor.watch(process.pid());
        ProcessHandle::start(process, body)
    }

    /// Like [`spawn`](PostOffice::spawn), for a process without a name.
    pub fn spawn_anonymous<T, F>(&self, body: F) -> Result<ProcessHandle, OfficeError>
    where
        T: Send + 'static,
        F: FnOnce(Process<T>) + Send + 'static,
    {
        ProcessHandle::start(self.anonymous::<T>(), body)
    }

    /// Ends a process: destroys its inbox and owned mailboxes, frees its name,
    /// then tells its monitors (last, so that a monitor that restarts the
    /// process under the same name finds the name free). Idempotent.
    pub(crate) fn end_process(&self, record: &ProcessRecord, reason: ExitReason) {
        let owned = {
            let mut state = record.state.lock();
            if state.ended {
                return;
            }
            state.ended = true;
            state
                .ties_if_any()
                .map(|ties| std::mem::take(&mut ties.owned))
                .unwrap_or_default()
        };
        record.inbox.destroy(ClosedReason::OwnerEnded);
        if let Some(name) = &record.name {
            self.inner.unregister(name, record.entry_id);
        }
        for (name, id, mailbox) in owned {
            self.inner.unregister(&name, id);
            mailbox.destroy(ClosedReason::OwnerEnded);
        }
        // Only now, with the name free, does the pid go and do monitors
        // learn of the end: one added during the teardown (which can take a
        // while: leftovers go to dead letters) is on the list taken here, so
        // it too gets the real reason after the name is free.
        self.inner
            .processes
            .shard(&record.pid)
            .write()
            .remove(&record.pid);
        let monitors = {
            let mut state = record.state.lock();
            state.finished = true;
            // The ties go with the list: nothing is tied to an ended process.
            state
                .ties
                .take()
                .map(|ties| ties.monitors)
                .unwrap_or_default()
        };
        for watcher in monitors.into_values() {
            watcher.notify(record.pid, reason.clone());
        }
    }
}

impl ProcessRecord {
    /// The process's inbox sender, if the inbox carries `T`.
    pub(crate) fn inbox<T: Send + 'static>(&self) -> Result<&Arc<Sender<T>>, &'static str> {
        match self.inbox.as_any().downcast_ref::<Named<T>>() {
            Some(named) => Ok(&named.sender),
            None => Err(self.inbox.type_name()),
        }
    }
}

/// A spawned process's thread: its pid, and `join` as for
/// [`std::thread::JoinHandle`].
pub struct ProcessHandle {
    pid: Pid,
    thread: JoinHandle<()>,
}

impl ProcessHandle {
    /// Runs `body` with `process` on a new thread, ending the process with the
    /// right reason when `body` returns or panics.
    pub(crate) fn start<T, F>(
        mut process: Process<T>,
        body: F,
    ) -> Result<ProcessHandle, OfficeError>
    where
        T: Send + 'static,
        F: FnOnce(Process<T>) + Send + 'static,
    {
        process.spawned = true;
        let pid = process.pid();
        let office = process.office.clone();
        let record = Arc::clone(&process.record);
        let thread_name = match process.name() {
            Some(name) => name.to_string(),
            None => pid.to_string(),
        };
        let on_thread = {
            let office = office.clone();
            let record = Arc::clone(&record);
            move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(move || body(process)));
                let reason = match &outcome {
                    Ok(()) => ExitReason::Normal,
                    Err(payload) => ExitReason::Panicked(panic_message(payload.as_ref())),
                };
                office.end_process(&record, reason);
                if let Err(payload) = outcome {
                    // `join` reports the panic, as for any thread.
                    panic::resume_unwind(payload);
                }
            }
        };
        match thread::Builder::new().name(thread_name).spawn(on_thread) {
            Ok(thread) => Ok(ProcessHandle { pid, thread }),
            Err(err) => {
                // The closure (and the process in it) was dropped unrun.
                office.end_process(&record, ExitReason::Normal);
                Err(OfficeError::Spawn(err.to_string()))
            }
        }
    }

    /// The process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits for the thread; `Err` carries the panic payload if the process
    /// panicked (its monitors were told the message already).
    pub fn join(self) -> thread::Result<()> {
        self.thread.join()
    }
}

impl fmt::Debug for ProcessHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessHandle")
            .field("pid", &self.pid)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The text of a panic payload (`panic!` with a message gives a `&str` or a
/// `String`).
fn panic_message(payload: &(dyn any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

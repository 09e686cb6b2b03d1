//! The post office: a registry of named mailboxes, ports and processes
//! (dynamic association), with lifetimes that follow ownership, and the dead
//! letters of everything it registered.
//!
//! # Lifetimes
//!
//! | created with | lives until | then |
//! | --- | --- | --- |
//! | [`create`](PostOffice::create), [`Owner::System`] | [`destroy`](PostOffice::destroy) | waiters wake with `Closed`, leftovers go to dead letters, the name is free |
//! | [`create`](PostOffice::create), [`Owner::Creator`]`(pid)` | `destroy`, or the end of process `pid` (return or panic) | the same |
//! | [`port`](PostOffice::port) | its [`Port`] is dropped | the same |
//! | [`process`](PostOffice::process), [`spawn`](PostOffice::spawn) | the [`Process`] is dropped / the closure returns or panics | its inbox and owned mailboxes are destroyed, its name is free, monitors get [`Down`] |
//!
//! An office-created mailbox does not close when its last connected sender or
//! receiver disconnects: the office holds it open so that others can connect
//! later, as a broker's named queue stays. When the last handle to the office
//! itself is dropped, the office lets go of its mailboxes: each then lives as
//! long as the handles already connected to it, like a standalone mailbox
//! (and, once its last receiver goes, sends its leftovers to the office's dead
//! letters, which a kept [`DeadLetters`] handle can still read).
//!
//! # Locking
//!
//! Names and pids live in sharded maps (16 shards, each a reader-writer
//! lock), so lookups from many threads do not serialize on one lock, and
//! sending through a [`Sender`] or an [`Address`] never touches the registry.

use std::any;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::dead_letter::DeadLetters;
use crate::error::OfficeError;
use crate::id::Pid;
use crate::mailbox::{Mailbox, MailboxBuilder, Receiver, Sender, Sink};
use crate::port::{Port, Registration, Registry};
use crate::sync::{AtomicU64, Mutex};

mod monitor;
mod process;
mod registry;

pub use monitor::{Down, ExitReason, Monitor};
pub use process::{Address, Process, ProcessHandle};
use registry::{downcast, AnyMailbox, EntryKind, Named, OfficeInner, Shards};

/// Who owns an office mailbox, and so how long it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The office: the mailbox lives until [`PostOffice::destroy`].
    System,
    /// A process: the mailbox is destroyed when that process ends (its
    /// closure returns or panics, or its [`Process`] is dropped), if it was
    /// not destroyed before.
    Creator(Pid),
}

/// A registry of named mailboxes, ports and processes: dynamic association,
/// ownership-scoped lifetimes and dead letters.
///
/// An office is a value, not global state: two offices never see each other's
/// names. Clones share the same registry.
///
/// # Examples
///
/// ```
/// use postbox::{Mailbox, OfficeError, Owner, PostOffice};
///
/// let office = PostOffice::new();
/// office.create::<String>("jobs", Mailbox::builder().priority(10), Owner::System)?;
///
/// // Anyone who knows the name connects, with the right type.
/// let tx = office.connect_sender::<String>("jobs")?;
/// let rx = office.connect_receiver::<String>("jobs")?;
/// tx.send("render profile 7".to_string()).unwrap();
/// assert_eq!(rx.recv().unwrap().into_body(), "render profile 7");
///
/// let wrong = office.connect_sender::<u64>("jobs").unwrap_err();
/// assert!(matches!(wrong, OfficeError::TypeMismatch { .. }));
///
/// // Destroying wakes everyone with Closed and frees the name.
/// office.destroy("jobs")?;
/// assert!(rx.recv().is_err());
/// assert!(office.connect_sender::<String>("jobs").is_err());
/// # Ok::<(), OfficeError>(())
/// ```
#[derive(Clone)]
pub struct PostOffice {
    inner: Arc<OfficeInner>,
}

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
    state: Mutex<ProcessState>,
}

#[derive(Default)]
struct ProcessState {
    ended: bool,
    /// Its teardown is done (inbox and owned mailboxes destroyed, name
    /// free): monitors added from now on are told `NoProcess` at once.
    finished: bool,
    /// `Owner::Creator(pid)` mailboxes: name, registration number, mailbox.
    owned: Vec<(Arc<str>, u64, Arc<dyn AnyMailbox>)>,
    /// Monitors to tell when the process ends.
    monitors: Vec<Sender<Down>>,
}

impl PostOffice {
    /// A new, empty office.
    pub fn new() -> PostOffice {
        PostOffice {
            inner: Arc::new(OfficeInner {
                names: Shards::new(),
                processes: Shards::new(),
                next_pid: AtomicU64::new(1),
                next_entry: AtomicU64::new(1),
                dead_letters: DeadLetters::new(),
            }),
        }
    }

    /// The office's dead letters: what its mailboxes could not deliver and had
    /// no typed dead-letter sender for.
    pub fn dead_letters(&self) -> DeadLetters {
        self.inner.dead_letters.clone()
    }

    /// Creates a mailbox under `name`, owned by `owner` (see [`Owner`]).
    /// Connect to it with [`connect_sender`](PostOffice::connect_sender) and
    /// [`connect_receiver`](PostOffice::connect_receiver).
    ///
    /// Fails with `NameTaken` if the name is in use, and `NoProcess` if the
    /// owning process has ended.
    pub fn create<T: Send + 'static>(
        &self,
        name: &str,
        builder: MailboxBuilder<T, Mailbox<T>>,
        owner: Owner,
    ) -> Result<(), OfficeError> {
        let owner_record = match owner {
            Owner::System => None,
            Owner::Creator(pid) => Some(
                self.inner
                    .process_record(pid)
                    .ok_or(OfficeError::NoProcess(pid))?,
            ),
        };
        let name: Arc<str> = Arc::from(name);
        let (tx, rx) = builder.build_with(self.sink(&name));
        let mailbox: Arc<dyn AnyMailbox> = Arc::new(Named {
            sender: Arc::new(tx),
            receiver: Some(rx),
        });
        let id = self
            .inner
            .register(&name, &mailbox, EntryKind::Owned(owner))?;
        if let Some(record) = owner_record {
            let mut state = record.state.lock();
            if state.ended {
                // The owner ended between the lookup and now.
                drop(state);
                self.inner.unregister(&name, id);
                mailbox.destroy();
                return Err(OfficeError::NoProcess(record.pid));
            }
            state.owned.push((name, id, mailbox));
        }
        Ok(())
    }

    /// Creates a port registered under `name`: anyone can
    /// [`connect_sender`](PostOffice::connect_sender) to it by name, and only
    /// the returned [`Port`] receives. Dropping the port destroys it and frees
    /// the name.
    pub fn port<T: Send + 'static>(
        &self,
        name: &str,
        builder: MailboxBuilder<T, Port<T>>,
    ) -> Result<Port<T>, OfficeError> {
        let name: Arc<str> = Arc::from(name);
        let (tx, rx) = builder.build_with(self.sink(&name));
        let mailbox: Arc<dyn AnyMailbox> = Arc::new(Named {
            sender: Arc::new(tx),
            receiver: None,
        });
        let id = self.inner.register(&name, &mailbox, EntryKind::Port)?;
        Ok(Port::from_parts(rx, Some(self.registration(name, id))))
    }

    /// A new sender to the mailbox, port or process inbox named `name`.
    pub fn connect_sender<T: Send + 'static>(&self, name: &str) -> Result<Sender<T>, OfficeError> {
        let entry = self.inner.entry(name)?;
        Ok(Sender::clone(&downcast::<T>(&entry)?.sender))
    }

    /// A new receiver of the office mailbox named `name` (competing with the
    /// other receivers). Ports and process inboxes refuse: their receive right
    /// is their owner's.
    pub fn connect_receiver<T: Send + 'static>(
        &self,
        name: &str,
    ) -> Result<Receiver<T>, OfficeError> {
        let entry = self.inner.entry(name)?;
        match &downcast::<T>(&entry)?.receiver {
            Some(rx) => Ok(rx.clone()),
            None => Err(OfficeError::ReceiverOwned(name.to_string())),
        }
    }

    /// Destroys the office mailbox named `name`: every blocked and later send
    /// and receive on it fails with `Closed` at once, the messages still
    /// queued go to dead letters, and the name is free for reuse.
    ///
    /// Ports and process inboxes refuse (`ReceiverOwned`): they end with
    /// their owner.
    pub fn destroy(&self, name: &str) -> Result<(), OfficeError> {
        let entry = {
            let mut shard = self.inner.names.shard(name).write();
            match shard.get(name) {
                None => return Err(OfficeError::NotFound(name.to_string())),
                Some(entry) if !matches!(entry.kind, EntryKind::Owned(_)) => {
                    return Err(OfficeError::ReceiverOwned(name.to_string()))
                }
                Some(_) => shard.remove(name),
            }
        };
        if let Some(entry) = entry {
            if let EntryKind::Owned(Owner::Creator(pid)) = entry.kind {
                if let Some(record) = self.inner.process_record(pid) {
                    record
                        .state
                        .lock()
                        .owned
                        .retain(|(_, id, _)| *id != entry.id);
                }
            }
            // Outside the shard lock: destruction wakes threads and may run
            // user code (dropping bodies, sending to dead letters).
            entry.mailbox.destroy();
        }
        Ok(())
    }

    /// Closes the office mailbox named `name` for sending, as the last sender
    /// leaving closes a standalone mailbox: sends fail with `Closed` from now
    /// on, receivers still get what is queued, then `Closed`. The name stays
    /// registered until [`destroy`](PostOffice::destroy). This is how
    /// producers tell consumers "no more work" on a named mailbox, which the
    /// office otherwise holds open.
    pub fn close(&self, name: &str) -> Result<(), OfficeError> {
        let entry = self.inner.entry(name)?;
        if !matches!(entry.kind, EntryKind::Owned(_)) {
            return Err(OfficeError::ReceiverOwned(name.to_string()));
        }
        entry.mailbox.close();
        Ok(())
    }

    /// Whether something is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.inner.names.shard(name).read().contains_key(name)
    }

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
        let pid = Pid::from_u64(self.inner.next_pid.fetch_add(1, Ordering::Relaxed));
        let label: Arc<str> = match name {
            Some(name) => Arc::clone(name),
            None => Arc::from(pid.to_string()),
        };
        let (tx, receiver) = inbox.build_with(self.sink(&label));
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
    /// monitors get a [`Down`] notice saying how it ended. The handle joins
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

    /// The address of the process named `name`. Sending through it never
    /// touches the registry again.
    pub fn lookup<T: Send + 'static>(&self, name: &str) -> Result<Address<T>, OfficeError> {
        let entry = self.inner.entry(name)?;
        let EntryKind::Process(pid) = entry.kind else {
            return Err(OfficeError::NotAProcess(name.to_string()));
        };
        Ok(Address::new(
            pid,
            Arc::clone(&downcast::<T>(&entry)?.sender),
        ))
    }

    /// The address of process `pid`, if it is alive and its inbox carries `T`.
    pub fn address_of<T: Send + 'static>(&self, pid: Pid) -> Result<Address<T>, OfficeError> {
        let record = self
            .inner
            .process_record(pid)
            .ok_or(OfficeError::NoProcess(pid))?;
        let sender = record
            .inbox::<T>()
            .map_err(|found| OfficeError::TypeMismatch {
                expected: any::type_name::<T>(),
                found,
            })?;
        Ok(Address::new(pid, Arc::clone(sender)))
    }

    /// Whether process `pid` is alive.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.inner.process_record(pid).is_some()
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
            std::mem::take(&mut state.owned)
        };
        record.inbox.destroy();
        if let Some(name) = &record.name {
            self.inner.unregister(name, record.entry_id);
        }
        for (name, id, mailbox) in owned {
            self.inner.unregister(&name, id);
            mailbox.destroy();
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
            std::mem::take(&mut state.monitors)
        };
        for monitor in monitors {
            let _ = monitor.try_send(Down::new(record.pid, reason.clone()));
        }
    }

    /// Where an office mailbox named `name` sends what it cannot deliver.
    fn sink<T: Send + 'static>(&self, name: &Arc<str>) -> Sink<T> {
        Sink::office(self.inner.dead_letters.clone(), Arc::clone(name))
    }

    fn registration(&self, name: Arc<str>, id: u64) -> Registration {
        let registry: Weak<dyn Registry> = Arc::downgrade(&self.inner) as Weak<dyn Registry>;
        Registration::new(registry, name, id)
    }

    /// The record of a live process: for replies, which find the requester's
    /// inbox by pid.
    pub(crate) fn process_record(&self, pid: Pid) -> Option<Arc<ProcessRecord>> {
        self.inner.process_record(pid)
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

impl Default for PostOffice {
    fn default() -> PostOffice {
        PostOffice::new()
    }
}

impl fmt::Debug for PostOffice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: usize = self.inner.names.shards.iter().map(|s| s.read().len()).sum();
        let processes: usize = self
            .inner
            .processes
            .shards
            .iter()
            .map(|s| s.read().len())
            .sum();
        f.debug_struct("PostOffice")
            .field("names", &names)
            .field("processes", &processes)
            .field("dead_letters", &self.inner.dead_letters.len())
            .finish()
    }
}

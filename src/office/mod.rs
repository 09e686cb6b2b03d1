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
use std::sync::{Arc, Weak};

use crate::dead_letter::DeadLetters;
use crate::error::{CreateError, OfficeError};
use crate::id::Pid;
use crate::mailbox::{DurableBuilder, Mailbox, MailboxBuilder, Receiver, Sender, Sink};
use crate::port::{Port, Registration, Registry};
use crate::reason::ClosedReason;
use crate::sync::AtomicU64;

mod monitor;
mod process;
mod process_async;
mod registry;
mod request;
mod request_async;
mod selective;
mod spawn;

pub use monitor::{Down, ExitReason, Monitor, RecvDown};
pub use process::{Address, Process};
pub use process_async::{ProcessRecv, ProcessRecvAck, ProcessStream, RecvMatching};
use registry::{downcast, AnyMailbox, EntryKind, Named, OfficeInner, Shards};
pub use request_async::RequestAsync;
pub use spawn::ProcessHandle;
use spawn::ProcessRecord;

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

impl PostOffice {
    /// A new, empty office.
    pub fn new() -> PostOffice {
        PostOffice {
            inner: Arc::new(OfficeInner {
                names: Shards::new(),
                processes: Shards::new(),
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
        let owner_record = self.owner_record(owner)?;
        let name: Arc<str> = Arc::from(name);
        let (tx, rx) = builder.build_with(self.sink(&name));
        self.register_owned(name, tx, rx, owner_record)
    }

    /// The record of the process that will own a mailbox (`None` for the
    /// system), or `NoProcess` if it has ended.
    fn owner_record(&self, owner: Owner) -> Result<Option<Arc<ProcessRecord>>, OfficeError> {
        match owner {
            Owner::System => Ok(None),
            Owner::Creator(pid) => self
                .inner
                .process_record(pid)
                .map(Some)
                .ok_or(OfficeError::NoProcess(pid)),
        }
    }

    /// Registers a built mailbox under `name`, owned by `owner_record`'s
    /// process (or the system).
    fn register_owned<T: Send + 'static>(
        &self,
        name: Arc<str>,
        tx: Sender<T>,
        rx: Receiver<T>,
        owner_record: Option<Arc<ProcessRecord>>,
    ) -> Result<(), OfficeError> {
        let owner = match &owner_record {
            Some(record) => Owner::Creator(record.pid),
            None => Owner::System,
        };
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
                mailbox.destroy(ClosedReason::OwnerEnded);
                return Err(OfficeError::NoProcess(record.pid));
            }
            state.ties().owned.push((name, id, mailbox));
        }
        Ok(())
    }

    /// Creates a durable mailbox under `name`, owned by `owner`: opens its
    /// log (replaying what it holds), then registers it as
    /// [`create`](PostOffice::create) does. Fails with the open's
    /// [`OpenError`](crate::OpenError), or the office's error. Destroying it
    /// through the office removes its messages from the log; everything
    /// else (handles dropped, the process stopping) keeps them for the next
    /// open.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Durable, Mailbox, Owner, PostOffice, Raw};
    ///
    /// let dir = std::env::temp_dir().join(format!("postbox-doc-office-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let office = PostOffice::new();
    /// let builder = Mailbox::<String>::builder().durable(Durable::at(&dir).codec(Raw));
    /// office.create_durable("jobs", builder, Owner::System).unwrap();
    /// office.connect_sender::<String>("jobs").unwrap().send("render".to_string()).unwrap();
    /// // A second opener of the same directory is refused.
    /// let again = Mailbox::<String>::builder().durable(Durable::at(&dir).codec(Raw));
    /// assert!(office.create_durable("jobs-2", again, Owner::System).is_err());
    /// # drop(office);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn create_durable<T: Send + 'static>(
        &self,
        name: &str,
        builder: DurableBuilder<T, Mailbox<T>>,
        owner: Owner,
    ) -> Result<(), CreateError> {
        let owner_record = self.owner_record(owner)?;
        let name: Arc<str> = Arc::from(name);
        let (tx, rx) = builder.open_with(self.sink(&name))?;
        self.register_owned(name, tx, rx, owner_record)?;
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
                    if let Some(ties) = record.state.lock().ties_if_any() {
                        ties.owned.retain(|(_, id, _)| *id != entry.id);
                    }
                }
            }
            // Outside the shard lock: destruction wakes threads and may run
            // user code (dropping bodies, sending to dead letters).
            entry.mailbox.destroy(ClosedReason::Destroyed);
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

//! The office's name registry: names and pids in sharded maps (16 shards,
//! each a reader-writer lock), what a registered name holds, and the
//! type-erased mailboxes behind the names.

use std::any::{self, Any};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::spawn::ProcessRecord;
use super::Owner;
use crate::dead_letter::DeadLetters;
use crate::error::OfficeError;
use crate::id::Pid;
use crate::mailbox::{Receiver, Sender};
use crate::port::Registry;
use crate::reason::ClosedReason;
use crate::sync::{AtomicU64, CachePadded, RwLock};

/// The registry shared by an office's handles.
pub(crate) struct OfficeInner {
    pub(super) names: Shards<Arc<str>, Entry>,
    pub(super) processes: Shards<Pid, Arc<ProcessRecord>>,
    /// The next registration number: tells a name's current holder from an
    /// earlier one that was destroyed and whose name was taken again.
    pub(super) next_entry: AtomicU64,
    pub(super) dead_letters: DeadLetters,
}

/// One independently locked part of a [`Shards`] map.
type Shard<K, V> = CachePadded<RwLock<HashMap<K, V>>>;

/// A map split over independently locked shards.
pub(super) struct Shards<K, V> {
    hasher: RandomState,
    pub(super) shards: Box<[Shard<K, V>]>,
}

const SHARDS: usize = 16;

impl<K: Hash + Eq, V> Shards<K, V> {
    pub(super) fn new() -> Shards<K, V> {
        Shards {
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| CachePadded(RwLock::new(HashMap::new())))
                .collect(),
        }
    }

    pub(super) fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<HashMap<K, V>> {
        // The top bits: the low ones also pick the bucket inside the shard.
        let hash = self.hasher.hash_one(key);
        &self.shards[(hash >> 58) as usize % SHARDS]
    }
}

/// One registered name.
#[derive(Clone)]
pub(super) struct Entry {
    /// Which registration this is (see `OfficeInner::next_entry`).
    pub(super) id: u64,
    pub(super) mailbox: Arc<dyn AnyMailbox>,
    pub(super) kind: EntryKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryKind {
    /// Created by `create`: the office holds a receiver too.
    Owned(Owner),
    /// A port: the receive right is its owner's.
    Port,
    /// A process's inbox.
    Process(Pid),
}

/// A registered mailbox with its type erased.
pub(super) trait AnyMailbox: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn type_name(&self) -> &'static str;
    fn destroy(&self, why: ClosedReason);
    fn close(&self);
}

/// A registered mailbox: the office's sender (shared by every
/// [`Address`](crate::Address) to it) and, for office-created mailboxes, a
/// receiver that keeps it open.
pub(crate) struct Named<T: Send> {
    pub(crate) sender: Arc<Sender<T>>,
    pub(super) receiver: Option<Receiver<T>>,
}

impl<T: Send + 'static> AnyMailbox for Named<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn type_name(&self) -> &'static str {
        any::type_name::<T>()
    }

    fn destroy(&self, why: ClosedReason) {
        self.sender.destroy(why);
    }

    fn close(&self) {
        self.sender.close();
    }
}

impl OfficeInner {
    /// Registers `mailbox` under `name`; returns its registration number.
    pub(super) fn register(
        &self,
        name: &Arc<str>,
        mailbox: &Arc<dyn AnyMailbox>,
        kind: EntryKind,
    ) -> Result<u64, OfficeError> {
        let mut shard = self.names.shard(&**name).write();
        if shard.contains_key(&**name) {
            return Err(OfficeError::NameTaken(name.to_string()));
        }
        let id = self.next_entry.fetch_add(1, Ordering::Relaxed);
        shard.insert(
            Arc::clone(name),
            Entry {
                id,
                mailbox: Arc::clone(mailbox),
                kind,
            },
        );
        Ok(id)
    }

    /// Frees `name` if registration `id` still holds it.
    pub(super) fn unregister(&self, name: &str, id: u64) {
        let removed = {
            let mut shard = self.names.shard(name).write();
            match shard.get(name) {
                Some(entry) if entry.id == id => shard.remove(name),
                _ => None,
            }
        };
        // The entry (and the office's handles in it) drops outside the lock.
        drop(removed);
    }

    pub(super) fn entry(&self, name: &str) -> Result<Entry, OfficeError> {
        self.names
            .shard(name)
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| OfficeError::NotFound(name.to_string()))
    }

    pub(super) fn process_record(&self, pid: Pid) -> Option<Arc<ProcessRecord>> {
        self.processes.shard(&pid).read().get(&pid).cloned()
    }
}

/// The typed view of an entry, or a mismatch naming both types.
pub(super) fn downcast<T: Send + 'static>(entry: &Entry) -> Result<&Named<T>, OfficeError> {
    entry
        .mailbox
        .as_any()
        .downcast_ref::<Named<T>>()
        .ok_or(OfficeError::TypeMismatch {
            expected: any::type_name::<T>(),
            found: entry.mailbox.type_name(),
        })
}

impl Registry for OfficeInner {
    fn unregister(&self, name: &str, id: u64) {
        OfficeInner::unregister(self, name, id);
    }
}

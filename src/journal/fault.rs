//! Tests only: an in-memory [`Storage`] that can lose power.
//!
//! Each file keeps what its last `sync_data` made durable and, in order, the
//! writes and length changes made since. The directory keeps the names its
//! last sync made durable, and the files removed since. A simulated power
//! loss ([`FaultStorage::crash`]) builds the state a disk could be in after
//! it: every file's durable content, then a prefix of its unsynced changes,
//! the first one left out possibly torn at any byte, and possibly one bit
//! flipped somewhere in what unsynced writes put there; a file created since
//! the last directory sync may be missing, one removed since may be back.
//!
//! [`FaultStorage::fail_after`] cuts the power at the n-th mutating call:
//! that call (a write kept as an unsynced change, for the crash to tear) and
//! every later one fail, as they would on a machine going down.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

use super::storage::{LockError, LockGuard, Storage, StorageFile};

/// A small deterministic random number generator (splitmix64).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True one time in two.
    pub(crate) fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// A change to a file since its last sync.
#[derive(Debug, Clone)]
enum Change {
    /// Bytes written at an offset.
    Write(u64, Vec<u8>),
    /// The length set.
    SetLen(u64),
}

impl Change {
    /// Applies the change to `content`; a write keeps only its first `keep`
    /// bytes. Returns the range the write touched.
    fn apply(&self, content: &mut Vec<u8>, keep: usize) -> Option<(usize, usize)> {
        match self {
            Change::Write(offset, data) => {
                let at = *offset as usize;
                let data = &data[..keep.min(data.len())];
                if content.len() < at + data.len() {
                    content.resize(at + data.len(), 0);
                }
                content[at..at + data.len()].copy_from_slice(data);
                Some((at, data.len()))
            }
            Change::SetLen(len) => {
                content.resize(*len as usize, 0);
                None
            }
        }
    }
}

/// One file.
#[derive(Debug, Clone, Default)]
struct MemFile {
    /// Its content as of its last sync.
    durable: Vec<u8>,
    /// The changes since, in order.
    unsynced: Vec<Change>,
    /// Its content now, as the OS shows it.
    current: Vec<u8>,
}

impl MemFile {
    /// A file holding `content`, all of it durable.
    fn settled(content: Vec<u8>) -> MemFile {
        MemFile {
            durable: content.clone(),
            unsynced: Vec::new(),
            current: content,
        }
    }

    /// Records and applies a change.
    fn change(&mut self, change: Change) {
        change.apply(&mut self.current, usize::MAX);
        self.unsynced.push(change);
    }

    /// What a power loss could leave of this file.
    fn after_crash(&self, rng: &mut Rng, flip: bool) -> Vec<u8> {
        let mut content = self.durable.clone();
        let kept = rng.below(self.unsynced.len() as u64 + 1) as usize;
        let mut touched = Vec::new();
        for (i, change) in self.unsynced.iter().enumerate().take(kept + 1) {
            let keep = if i < kept {
                usize::MAX
            } else {
                // The first change left out may be torn.
                match change {
                    Change::Write(_, data) => rng.below(data.len() as u64 + 1) as usize,
                    Change::SetLen(_) => break,
                }
            };
            if let Some(range) = change.apply(&mut content, keep) {
                touched.push(range);
            }
        }
        let total: usize = touched.iter().map(|&(_, len)| len).sum();
        if flip && total > 0 {
            let mut pick = rng.below(total as u64) as usize;
            for (at, len) in touched {
                if pick < len {
                    if let Some(byte) = content.get_mut(at + pick) {
                        *byte ^= 1 << rng.below(8);
                    }
                    break;
                }
                pick -= len;
            }
        }
        content
    }
}

/// The disk behind a [`FaultStorage`].
#[derive(Debug, Default)]
struct Disk {
    /// The files the OS shows now.
    files: BTreeMap<String, MemFile>,
    /// The names as of the last directory sync.
    listed: BTreeSet<String>,
    /// Files removed since the last directory sync, which a crash may bring
    /// back.
    removed: BTreeMap<String, MemFile>,
    /// The lock is held.
    locked: bool,
    /// Mutating calls left before the power goes; `None`: never.
    power_left: Option<u64>,
    /// Mutating calls made.
    calls: u64,
}

impl Disk {
    /// Counts a mutating call; an error once the power is gone.
    fn spend(&mut self) -> io::Result<()> {
        self.calls += 1;
        match &mut self.power_left {
            Some(0) => Err(power_lost()),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// The error of every call after the power is cut.
fn power_lost() -> io::Error {
    io::Error::other("simulated power loss")
}

/// An in-memory directory that can lose power.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultStorage {
    /// The disk, shared with open files.
    disk: Arc<Mutex<Disk>>,
}

impl FaultStorage {
    /// An empty directory.
    pub(crate) fn new() -> FaultStorage {
        FaultStorage::default()
    }

    /// Cuts the power at the `n`-th mutating call from now (0: the next).
    pub(crate) fn fail_after(&self, n: u64) {
        self.disk.lock().power_left = Some(n);
    }

    /// Mutating calls made so far.
    pub(crate) fn calls(&self) -> u64 {
        self.disk.lock().calls
    }

    /// A new directory holding what a power loss now could leave on disk
    /// (chosen by `seed`; `flip` allows one flipped bit per file in what
    /// unsynced writes put there).
    pub(crate) fn crash(&self, seed: u64, flip: bool) -> FaultStorage {
        let disk = self.disk.lock();
        let mut rng = Rng::new(seed);
        let mut files = BTreeMap::new();
        for (name, file) in &disk.files {
            // Created since the last directory sync: maybe lost.
            if !disk.listed.contains(name) && rng.coin() {
                continue;
            }
            let flip_here = flip && rng.below(4) == 0;
            files.insert(
                name.clone(),
                MemFile::settled(file.after_crash(&mut rng, flip_here)),
            );
        }
        for (name, file) in &disk.removed {
            // Removed since the last directory sync: maybe back.
            if disk.listed.contains(name) && !files.contains_key(name) && rng.coin() {
                files.insert(
                    name.clone(),
                    MemFile::settled(file.after_crash(&mut rng, false)),
                );
            }
        }
        FaultStorage::settled(files)
    }

    /// A new directory holding what the OS holds now: a process crash, which
    /// keeps every write that returned.
    pub(crate) fn process_crash(&self) -> FaultStorage {
        let disk = self.disk.lock();
        let files = disk
            .files
            .iter()
            .map(|(name, file)| (name.clone(), MemFile::settled(file.current.clone())))
            .collect();
        FaultStorage::settled(files)
    }

    /// A directory whose files are all durable.
    fn settled(files: BTreeMap<String, MemFile>) -> FaultStorage {
        let listed = files.keys().cloned().collect();
        FaultStorage {
            disk: Arc::new(Mutex::new(Disk {
                files,
                listed,
                ..Disk::default()
            })),
        }
    }

    /// The names of the files now.
    pub(crate) fn names(&self) -> Vec<String> {
        self.disk.lock().files.keys().cloned().collect()
    }
}

impl Storage for FaultStorage {
    fn dir(&self) -> PathBuf {
        PathBuf::from("fault://")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.names())
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let mut disk = self.disk.lock();
        disk.spend()?;
        match disk.files.get_mut(name) {
            // Truncating an existing file is a change to it.
            Some(file) => file.change(Change::SetLen(0)),
            None => {
                disk.files.insert(name.to_string(), MemFile::default());
            }
        }
        Ok(self.handle(name))
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        if self.disk.lock().files.contains_key(name) {
            Ok(self.handle(name))
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, name.to_string()))
        }
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.spend()?;
        match disk.files.remove(name) {
            Some(file) => {
                disk.removed.insert(name.to_string(), file);
                Ok(())
            }
            None => Err(io::Error::new(io::ErrorKind::NotFound, name.to_string())),
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.spend()?;
        disk.listed = disk.files.keys().cloned().collect();
        disk.removed.clear();
        Ok(())
    }

    fn lock(&self) -> Result<LockGuard, LockError> {
        let mut disk = self.disk.lock();
        if disk.locked {
            return Err(LockError::Held);
        }
        disk.locked = true;
        Ok(Box::new(FaultLock {
            disk: self.disk.clone(),
        }))
    }
}

impl FaultStorage {
    /// A handle on file `name`.
    fn handle(&self, name: &str) -> Box<dyn StorageFile> {
        Box::new(FaultFile {
            disk: self.disk.clone(),
            name: name.to_string(),
        })
    }
}

/// The lock of a [`FaultStorage`].
#[derive(Debug)]
struct FaultLock {
    /// The disk whose lock this is.
    disk: Arc<Mutex<Disk>>,
}

impl Drop for FaultLock {
    fn drop(&mut self) {
        self.disk.lock().locked = false;
    }
}

/// An open file of a [`FaultStorage`].
#[derive(Debug)]
struct FaultFile {
    /// The disk.
    disk: Arc<Mutex<Disk>>,
    /// The file's name.
    name: String,
}

impl FaultFile {
    /// Runs `f` on the file, counting a mutating call if `mutating`.
    fn with<T>(&self, mutating: bool, f: impl FnOnce(&mut MemFile) -> T) -> io::Result<T> {
        let mut disk = self.disk.lock();
        let spent = if mutating { disk.spend() } else { Ok(()) };
        let file = disk
            .files
            .get_mut(&self.name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, self.name.clone()))?;
        let out = f(file);
        spent.map(|()| out)
    }
}

impl StorageFile for FaultFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        // The write that meets the power cut still reaches the file, for the
        // crash to keep in part.
        self.with(true, |file| {
            file.change(Change::Write(offset, buf.to_vec()))
        })
    }

    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.with(false, |file| file.current.clone())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.spend()?;
        let file = disk
            .files
            .get_mut(&self.name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, self.name.clone()))?;
        file.durable = file.current.clone();
        file.unsynced.clear();
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.spend()?;
        let file = disk
            .files
            .get_mut(&self.name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, self.name.clone()))?;
        file.change(Change::SetLen(len));
        Ok(())
    }

    fn try_clone(&self) -> io::Result<Box<dyn StorageFile>> {
        // The same file of the same disk: a sync through the clone makes
        // durable whatever either handle wrote before it.
        Ok(Box::new(FaultFile {
            disk: self.disk.clone(),
            name: self.name.clone(),
        }))
    }
}

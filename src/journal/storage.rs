//! The file-system seam: exactly the operations the log needs, in one
//! directory, so that tests can put a fault-injecting implementation in its
//! place (`fault.rs`) and simulate a power loss, which a kill -9 cannot: the
//! page cache outlives the process, so only a seam can show what a disk keeps
//! of writes that were never synced.
//!
//! [`StdStorage`] is the real thing: std's files, `sync_data` (fdatasync on
//! Linux) for a file, `sync_all` on the directory opened as a file for the
//! directory itself, and `File::try_lock` on a `LOCK` file for the exclusive
//! lock. On Linux that is `flock`, which is held per open file description, so
//! it also keeps out a second opener in the same process (an `fcntl` lock
//! would not: those are per process).

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The name of the lock file in a journal's directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

/// Why the directory could not be locked.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another opener holds the lock (another process, or another journal in
    /// this one).
    Held,
    /// The lock file could not be opened or locked.
    Io(io::Error),
}

/// Held while a journal has its directory; dropping it releases the lock.
pub(crate) type LockGuard = Box<dyn fmt::Debug + Send + Sync>;

/// One directory of files, named by plain file names (no separators).
pub(crate) trait Storage: fmt::Debug + Send + Sync + 'static {
    /// The directory, for error messages.
    fn dir(&self) -> PathBuf;

    /// The path of a file, for error messages.
    fn path(&self, name: &str) -> PathBuf;

    /// The names of every file in the directory.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Creates `name` empty (truncating a file of that name), open for reading
    /// and writing. The directory entry is durable only after
    /// [`sync_dir`](Storage::sync_dir).
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;

    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;

    /// Removes a file; durable only after [`sync_dir`](Storage::sync_dir).
    fn remove(&self, name: &str) -> io::Result<()>;

    /// Makes every create and remove so far durable.
    fn sync_dir(&self) -> io::Result<()>;

    /// Takes the directory's exclusive lock, held until the guard is dropped.
    fn lock(&self) -> Result<LockGuard, LockError>;
}

/// An open file of a [`Storage`].
pub(crate) trait StorageFile: fmt::Debug + Send + Sync {
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()>;

    /// Reads the whole file.
    fn read_all(&mut self) -> io::Result<Vec<u8>>;

    /// Makes every write so far durable (fdatasync: the data and the length,
    /// not the other metadata).
    fn sync_data(&mut self) -> io::Result<()>;

    /// Sets the file's length: extends with zeros (preallocation) or cuts.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// A second handle on the same file (`dup`), for syncing it while the
    /// first one writes: a sync through either covers the writes through
    /// both that returned before it began.
    fn try_clone(&self) -> io::Result<Box<dyn StorageFile>>;
}

/// The real file system: one directory of std files.
#[derive(Debug, Clone)]
pub(crate) struct StdStorage {
    /// The directory.
    dir: PathBuf,
}

impl StdStorage {
    /// Storage in `dir`, which is created (with its parents) if missing.
    pub(crate) fn new(dir: &Path) -> io::Result<StdStorage> {
        fs::create_dir_all(dir)?;
        Ok(StdStorage {
            dir: dir.to_path_buf(),
        })
    }
}

impl Storage for StdStorage {
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            // A name that is not UTF-8 is no file of ours.
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path(name))?;
        Ok(Box::new(StdFile { file, pos: 0 }))
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path(name))?;
        Ok(Box::new(StdFile { file, pos: 0 }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path(name))
    }

    fn sync_dir(&self) -> io::Result<()> {
        // Opening a directory read-only and syncing it is how std reaches
        // fsync(dirfd) on Unix. Elsewhere a directory cannot be opened as a
        // file: nothing to sync there.
        match File::open(&self.dir) {
            Ok(dir) => dir.sync_all(),
            Err(_) if !cfg!(unix) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn lock(&self) -> Result<LockGuard, LockError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.path(LOCK_FILE))
            .map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(HeldLock(file))),
            Err(TryLockError::WouldBlock) => Err(LockError::Held),
            Err(TryLockError::Error(e)) => Err(LockError::Io(e)),
        }
    }
}

/// The locked `LOCK` file. Dropping it unlocks explicitly rather than only
/// closing the file: the lock belongs to the open file, which a child
/// process being spawned by another thread shares until its `exec` closes
/// it, so closing alone could leave the directory locked for a moment after
/// the journal is gone (a reopen would find it `Locked`). Unlocking releases
/// it for every holder at once.
#[derive(Debug)]
struct HeldLock(File);

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// A std file and where its cursor is, so that writing at the end (the common
/// case) costs no seek.
#[derive(Debug)]
struct StdFile {
    /// The file.
    file: File,
    /// The cursor's position, as far as this handle moved it.
    pos: u64,
}

impl StorageFile for StdFile {
    fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        if self.pos != offset {
            self.file.seek(SeekFrom::Start(offset))?;
            self.pos = offset;
        }
        let written = self.file.write_all(buf);
        // After a failed write the cursor is unknown: seek next time.
        self.pos = match written {
            Ok(()) => offset + buf.len() as u64,
            Err(_) => u64::MAX,
        };
        written
    }

    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut buf = Vec::new();
        self.file.read_to_end(&mut buf)?;
        self.pos = buf.len() as u64;
        Ok(buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn try_clone(&self) -> io::Result<Box<dyn StorageFile>> {
        // Its own cursor: `write_at` seeks when the position differs.
        Ok(Box::new(StdFile {
            file: self.file.try_clone()?,
            pos: u64::MAX,
        }))
    }
}

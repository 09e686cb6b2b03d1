//! The post office's failures: [`OfficeError`] (names, types, owners,
//! processes) and [`CreateError`] (creating a durable mailbox, whose log can
//! fail to open too).

use thiserror::Error;

use crate::id::Pid;

/// Why [`PostOffice::create_durable`](crate::PostOffice::create_durable)
/// failed: the log did not open, or the office refused.
#[derive(Debug, Error)]
pub enum CreateError {
    /// The office refused (the name is taken, the owner ended, ...).
    #[error(transparent)]
    Office(#[from] OfficeError),
    /// The mailbox's log did not open (locked, corrupt, another codec, I/O).
    #[error(transparent)]
    Open(#[from] crate::journal::OpenError),
}

/// Why a [`PostOffice`](crate::PostOffice) operation failed.
///
/// Type mismatches name the types, not opaque ids, so the message says what
/// to fix. New failures may be added, so the enum is `#[non_exhaustive]`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OfficeError {
    /// Something is already registered under this name.
    #[error("the name `{0}` is taken")]
    NameTaken(String),
    /// Nothing is registered under this name (never was, or was destroyed).
    #[error("nothing is registered under `{0}`")]
    NotFound(String),
    /// The name is registered with another message type.
    #[error(
        "type mismatch: expected messages of type `{expected}`, the mailbox carries `{found}`"
    )]
    TypeMismatch {
        /// The type the caller asked for.
        expected: &'static str,
        /// The type the mailbox carries.
        found: &'static str,
    },
    /// The name belongs to a port or a process inbox: its receive right
    /// belongs to its owner, so no one else can connect a receiver or destroy
    /// it by name.
    #[error("`{0}` is owned by its receiver (a port or process inbox)")]
    ReceiverOwned(String),
    /// The name belongs to a mailbox, not a process.
    #[error("`{0}` is a mailbox, not a process")]
    NotAProcess(String),
    /// The process does not exist or has ended.
    #[error("process {0} does not exist or has ended")]
    NoProcess(Pid),
    /// The operating system refused to start a thread for a spawned process.
    #[error("could not start the process's thread: {0}")]
    Spawn(String),
}

//! The journal's failure families: opening a log ([`OpenError`]) and adding
//! to an open one ([`AppendError`]), and the choice of what opening does with
//! a damaged log ([`Recovery`]).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Why a durable log could not be opened.
///
/// # Examples
///
/// A torn last record is normal after a crash and is cut off without an
/// error; damage anywhere else is reported with the file and the offset:
///
/// ```
/// use postbox::OpenError;
/// use std::path::PathBuf;
///
/// let err = OpenError::Corrupt {
///     segment: PathBuf::from("data/jobs/00000000000000000001.seg"),
///     offset: 4096,
///     reason: "checksum mismatch".to_string(),
/// };
/// assert_eq!(
///     err.to_string(),
///     "corrupt log data in data/jobs/00000000000000000001.seg at offset 4096: checksum mismatch"
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another opener holds the directory: another process, or another
    /// durable mailbox in this one. A log has one owner at a time.
    #[error("the log directory {dir} is locked by another opener")]
    Locked {
        /// The log's directory.
        dir: PathBuf,
    },
    /// A record that is not the last one is damaged (a bad checksum, an
    /// impossible length, an unknown kind, a sequence number out of order),
    /// or the log's meta file is unreadable. Opening with
    /// [`Recovery::SkipCorrupt`] skips the damage instead.
    #[error("corrupt log data in {} at offset {offset}: {reason}", segment.display())]
    Corrupt {
        /// The damaged file.
        segment: PathBuf,
        /// Where in it the damage starts.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The log was written with another format (the codec and message type
    /// it was created with): its records would not decode as this one's.
    #[error("the log holds format {found:?}, not {expected:?}")]
    FormatMismatch {
        /// The format this opener asked for.
        expected: String,
        /// The format the log was created with.
        found: String,
    },
    /// A logged message's bytes are intact but do not decode as a message
    /// of this mailbox (its codec refused them). Nothing is delivered: the
    /// log stays as it was.
    #[error("logged message {id} does not decode: {reason}")]
    Undecodable {
        /// The message's id.
        id: u64,
        /// What the codec said.
        reason: String,
    },
    /// The file system failed.
    #[error("log i/o failed: {0}")]
    Io(#[from] io::Error),
}

/// What opening a log does with damage that is not a torn tail.
///
/// A torn or zero-filled end of the last segment is what a crash leaves
/// behind, and is always cut off (the records cut were never confirmed with
/// [`SyncPolicy::Always`](super::SyncPolicy::Always)). Anything else is
/// damage to records that were once complete.
///
/// # Examples
///
/// ```
/// use postbox::Recovery;
///
/// // The default refuses to open a damaged log.
/// assert_eq!(Recovery::default(), Recovery::Strict);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Recovery {
    /// Refuse: opening fails with [`OpenError::Corrupt`], naming the
    /// segment and the offset. Nothing is changed on disk.
    #[default]
    Strict,
    /// Open anyway: the rest of a segment from its first bad record on is
    /// skipped and counted. No record that failed its checks is ever used,
    /// so no wrong message comes back; but messages in the skipped part are
    /// lost, and messages whose acknowledgement was skipped come back again.
    SkipCorrupt,
}

/// Why a record could not be added to the log.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum AppendError {
    /// A write or sync failed, now or earlier. After a failed sync nothing
    /// written since the last good one can be trusted to be on disk, so the
    /// log takes no more records: reopen it to go on (replay sees exactly
    /// what the disk kept).
    #[error("the log failed and takes no more records: {0}")]
    Failed(Arc<io::Error>),
    /// The payload is too long for one record (4 GiB or more).
    #[error("a {len}-byte payload is too long for one log record")]
    TooLong {
        /// The payload's length.
        len: usize,
    },
    /// The log was closed.
    #[error("the log is closed")]
    Closed,
}

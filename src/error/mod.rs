//! Every error type of postbox, one enum per family of operations, one file
//! per family; all of them are re-exported here, so `crate::error::NAME`
//! reaches each one.
//!
//! Send errors hand the message back: every variant that did not leave the
//! message in the mailbox carries the whole [`Message`](crate::Message),
//! header included, and `into_message()` returns it. The one exception says
//! so in its name: `Unconfirmed(receipt)` means the message *was* queued (it
//! is in the mailbox, not lost) but the requested confirmation did not come;
//! the [`Receipt`](crate::Receipt) follows it from there.
//!
//! `Debug` is written by hand so that `T: Debug` is not required, and the
//! messages are lowercase, as in std and crossbeam.
//!
//! | file | family |
//! | --- | --- |
//! | `send.rs` | sends and reserving room: `TrySendError`, `SendError`, `SendTimeoutError`, `ReserveError` |
//! | `recv.rs` | receives: `RecvError`, `TryRecvError`, `RecvTimeoutError`, `TryRecvAckError` |
//! | `backend.rs` | what a `Queue` backend reports: `PushError`, `PopError` |
//! | `office.rs` | the post office: `OfficeError`, `CreateError` |
//! | `request.rs` | request and reply between processes: `RequestError`, `ReplyError` |
//! | `publish.rs` | publishing on a topic: `PublishError` |

mod backend;
mod office;
mod publish;
mod recv;
mod request;
mod send;

pub use backend::{PopError, PushError};
pub use office::{CreateError, OfficeError};
pub use publish::PublishError;
pub use recv::{RecvError, RecvTimeoutError, TryRecvAckError, TryRecvError};
pub use request::{ReplyError, RequestError};
pub use send::{ReserveError, SendError, SendTimeoutError, TrySendError};

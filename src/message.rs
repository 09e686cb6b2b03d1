//! Messages: a [`Header`] and a body.
//!
//! The header is kept small on purpose. Channels move whole slots, so every byte
//! of header is copied on every send and receive: the fields set on a hot path
//! (id and priority in one word, the source of a direct send in another) live
//! inline, and the rarely used ones (correlation id, reply-to, expiry,
//! redelivery count, the receipt link) sit behind one `Option<Box<..>>` that
//! costs nothing until a sender sets one of them. The source is inline because
//! direct addressing sets it on every message: boxed, each direct send would
//! pay an allocation, freed on another thread (measured: 8x a plain send).

mod header;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::id::Pid;

pub use header::Header;
pub(crate) use header::MAX_MESSAGE_ID;

/// A message: a [`Header`] and a body of any type `T`.
///
/// Every send accepts either a plain body or a `Message` (`impl Into<Message<T>>`),
/// so a caller only builds a `Message` when it wants to set header fields.
///
/// # Examples
///
/// ```
/// use postbox::Message;
/// use std::time::Duration;
///
/// let m = Message::new("resize photo 17")
///     .priority(7)
///     .correlation_id(42)
///     .ttl(Duration::from_secs(30));
/// assert_eq!(m.header().priority(), 7);
/// assert_eq!(m.header().correlation_id(), Some(42));
/// assert!(m.header().expires_at().is_some());
/// assert_eq!(*m.body(), "resize photo 17");
/// let (header, body) = m.into_parts();
/// assert_eq!(header.redeliveries(), 0);
/// assert_eq!(body, "resize photo 17");
/// ```
#[derive(Clone)]
pub struct Message<T> {
    header: Header,
    body: T,
}

impl<T> Message<T> {
    /// A message with this body and a default header (priority 0, no metadata).
    pub fn new(body: T) -> Message<T> {
        Message {
            header: Header::default(),
            body,
        }
    }

    /// Rebuilds a message from a header and a body (see [`Message::into_parts`]).
    pub fn from_parts(header: Header, body: T) -> Message<T> {
        Message { header, body }
    }

    /// Sets the priority: higher is more urgent. A priority mailbox built with
    /// `priority(levels)` accepts `0..levels`; FIFO mailboxes ignore it.
    #[must_use]
    pub fn priority(mut self, priority: u8) -> Message<T> {
        self.header.set_priority(priority);
        self
    }

    /// Sets a correlation id, for matching replies to requests.
    #[must_use]
    pub fn correlation_id(mut self, id: u64) -> Message<T> {
        self.header.set_correlation_id(id);
        self
    }

    /// Names the process replies should go to.
    #[must_use]
    pub fn reply_to(mut self, pid: Pid) -> Message<T> {
        self.header.set_reply_to(pid);
        self
    }

    /// Gives the message a time to live counted from now (overriding its
    /// mailbox's [`ttl`](crate::MailboxBuilder::ttl)). A message whose time
    /// runs out before a receiver takes it is never delivered: a receiver
    /// that meets it sends it to dead letters with reason
    /// [`Expired`](crate::DeadLetterReason::Expired). A duration too large to
    /// represent (such as `Duration::MAX`) means "never expires", and still
    /// overrides the mailbox's default.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Message<T> {
        self.header.set_ttl(ttl);
        self
    }

    /// Sets the instant from which the message is stale (see
    /// [`ttl`](Message::ttl)).
    #[must_use]
    pub fn expires_at(mut self, at: Instant) -> Message<T> {
        self.header.set_expires_at(at);
        self
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The header, mutably (only the fields a user may set are reachable).
    pub(crate) fn header_mut(&mut self) -> &mut Header {
        &mut self.header
    }

    /// The body.
    pub fn body(&self) -> &T {
        &self.body
    }

    /// The body, mutably.
    pub fn body_mut(&mut self) -> &mut T {
        &mut self.body
    }

    /// Consumes the message and returns its body.
    #[inline]
    pub fn into_body(self) -> T {
        let Message { header, body } = self;
        header.dispose();
        body
    }

    /// Consumes the message and returns its header and body.
    pub fn into_parts(self) -> (Header, T) {
        (self.header, self.body)
    }

    /// The header's id-and-priority word, the source and the body, if the
    /// header holds no rarely used field: the message whole otherwise. A
    /// queue may carry such a message without the extension's pointer.
    #[inline(always)]
    pub(crate) fn into_lean(self) -> Result<(u64, u64, T), Message<T>> {
        if !self.header.has_ext() {
            let (meta, source) = self.header.lean_words();
            Ok((meta, source, self.body))
        } else {
            Err(self)
        }
    }

    /// A message from what [`into_lean`](Message::into_lean) returned.
    #[inline(always)]
    pub(crate) fn from_lean(meta: u64, source: u64, body: T) -> Message<T> {
        Message {
            header: Header::from_lean_words(meta, source),
            body,
        }
    }
}

impl<T> From<T> for Message<T> {
    fn from(body: T) -> Message<T> {
        Message::new(body)
    }
}

impl<T: fmt::Debug> fmt::Debug for Message<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("header", &self.header)
            .field("body", &self.body)
            .finish()
    }
}

/// A body that can report its length, so a mailbox can enforce
/// [`max_body_len`](crate::MailboxBuilder::max_body_len).
///
/// The unit is the type's natural one: bytes for byte buffers and strings,
/// elements for vectors. Implement it for your own types to use length limits.
///
/// # Examples
///
/// ```
/// use postbox::BodyLen;
///
/// struct Frame { payload: Vec<u8> }
/// impl BodyLen for Frame {
///     fn body_len(&self) -> usize { self.payload.len() }
/// }
/// assert_eq!(Frame { payload: vec![0; 3] }.body_len(), 3);
/// assert_eq!("héllo".body_len(), 6); // bytes
/// ```
pub trait BodyLen {
    /// The body's length in the type's natural unit.
    fn body_len(&self) -> usize;
}

impl BodyLen for String {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl BodyLen for &str {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl BodyLen for Box<str> {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl BodyLen for &[u8] {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl BodyLen for Box<[u8]> {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl<T> BodyLen for Vec<T> {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl<T> BodyLen for std::collections::VecDeque<T> {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl BodyLen for Arc<[u8]> {
    fn body_len(&self) -> usize {
        self.len()
    }
}

impl BodyLen for Arc<str> {
    fn body_len(&self) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::MessageId;
    use crate::receipt::{ReceiptState, Tracker};

    #[test]
    fn hot_path_message_is_small() {
        // id and priority in one word, the source in another, plus the
        // extension pointer.
        assert_eq!(std::mem::size_of::<Header>(), 24);
        assert_eq!(std::mem::size_of::<Message<u64>>(), 32);
    }

    #[test]
    fn id_and_priority_share_a_word_without_clobbering() {
        let mut m = Message::new(()).priority(200);
        m.header_mut().stamp(MessageId::from_raw(MAX_MESSAGE_ID));
        assert_eq!(m.header().id(), MessageId::from_raw(MAX_MESSAGE_ID));
        assert_eq!(m.header().priority(), 200);
        let m = m.priority(3);
        assert_eq!(m.header().id(), MessageId::from_raw(MAX_MESSAGE_ID));
        assert_eq!(m.header().priority(), 3);
    }

    #[test]
    fn into_body_drops_the_extension() {
        // A header with an extension is dropped whole (its receipt link
        // tells the receipt the message is gone); one without owns nothing.
        let tracker = Arc::new(Tracker::new(MessageId::from_raw(5)));
        let receipt = crate::Receipt::new(Arc::clone(&tracker));
        let mut m = Message::new(7u8);
        m.header_mut().set_tracker(tracker);
        assert_eq!(m.into_body(), 7);
        assert_eq!(receipt.state(), ReceiptState::Dropped);
        assert_eq!(Message::new(String::from("plain")).into_body(), "plain");
    }

    #[test]
    fn clone_does_not_carry_the_receipt() {
        let tracker = Arc::new(Tracker::new(MessageId::from_raw(5)));
        let mut m = Message::new(1u8);
        m.header_mut().set_tracker(tracker);
        assert!(m.header().is_tracked());
        assert!(!m.clone().header().is_tracked());
    }
}

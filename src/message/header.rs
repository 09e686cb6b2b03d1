//! The header of a message: the id and priority word and the source inline,
//! the rarely used fields behind one box (see the parent module for why).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::id::{MessageId, Pid};
use crate::receipt::{ReceiptState, Tracker};

/// The rarely used header fields, boxed so that plain messages stay small.
#[derive(Default)]
struct HeaderExt {
    /// Ties a reply to its request.
    correlation_id: Option<u64>,
    /// Where a reply should go.
    reply_to: Option<Pid>,
    /// When the message goes stale, or that it never does.
    expiry: Expiry,
    /// How many times the message was handed out again (rare, so kept here).
    redeliveries: u32,
    /// Sent by `Process::reply`: only such a message answers a request.
    reply: bool,
    /// The sender's receipt, present only for tracked sends. Not cloned.
    tracker: Option<TrackerLink>,
}

impl Clone for HeaderExt {
    fn clone(&self) -> Self {
        HeaderExt {
            correlation_id: self.correlation_id,
            reply_to: self.reply_to,
            expiry: self.expiry,
            redeliveries: self.redeliveries,
            reply: self.reply,
            // A receipt follows one message: a copy is a different message.
            tracker: None,
        }
    }
}

/// A message's time to live, as its header keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Expiry {
    /// None set: the mailbox's default time to live applies.
    #[default]
    Unset,
    /// Never stale, whatever the mailbox's default: a time to live too
    /// large to represent, or a dead letter kept for someone to look at.
    Never,
    /// Stale from this instant on.
    At(Instant),
}

impl Expiry {
    /// The expiry of a time to live counted from now.
    fn after(ttl: Duration) -> Expiry {
        Instant::now()
            .checked_add(ttl)
            .map_or(Expiry::Never, Expiry::At)
    }
}

/// The message's link to its sender's [`Receipt`](crate::Receipt).
///
/// Dropping the link before the message was received tells the receipt that
/// the message will never arrive, whatever path dropped it (a custom backend,
/// a closed mailbox, an error handed back and thrown away), so a waiting sender
/// is never left hanging.
pub(crate) struct TrackerLink(pub(crate) Arc<Tracker>);

impl Drop for TrackerLink {
    fn drop(&mut self) {
        self.0.mark_undelivered();
    }
}

/// The header of a [`Message`](super::Message): its id, origin, priority and delivery metadata.
#[derive(Clone, Default)]
pub struct Header {
    /// The id (assigned by the mailbox on send; 0 until then) in the high 56
    /// bits and the priority in the low 8: one word, because channels copy
    /// whole messages and every byte of header costs on every send.
    meta: u64,
    /// The pid of the process that sent the message (direct sends only); 0
    /// for none, a pid no office hands out.
    source: u64,
    /// Everything else, allocated only when used.
    ext: Option<Box<HeaderExt>>,
}

impl Header {
    /// Drops the header with the one check most headers need inline. The
    /// glue that drops an extension (receipt link and all) is a call,
    /// which a receive keeping only the body paid on every message: 11
    /// instructions of `recv` + `into_body` (callgrind).
    #[inline(always)]
    pub(super) fn dispose(self) {
        if self.ext.is_some() {
            drop_with_ext(self);
        } else {
            // An extension-less header owns no memory: nothing to free.
            std::mem::forget(self);
        }
    }
}

/// A header with an extension, dropped out of line.
#[cold]
#[inline(never)]
fn drop_with_ext(header: Header) {
    drop(header);
}

/// Bits of `Header::meta` below the id.
const PRIORITY_BITS: u32 = 8;

/// The largest message id a header can hold (ids are 56-bit numbers).
pub(crate) const MAX_MESSAGE_ID: u64 = u64::MAX >> PRIORITY_BITS;

impl Header {
    /// The message id; [`MessageId::UNSENT`] until a mailbox accepts the
    /// message (a message handed back in a send error is `UNSENT` again).
    #[inline]
    pub fn id(&self) -> MessageId {
        MessageId::from_raw(self.meta >> PRIORITY_BITS)
    }

    /// The pid of the process that sent the message, if it was sent by a process
    /// through direct addressing. Plain mailbox sends have no source.
    pub fn source(&self) -> Option<Pid> {
        (self.source != 0).then_some(Pid::from_u64(self.source))
    }

    /// The priority: 0 is the least urgent, and higher numbers are more urgent.
    #[inline]
    pub fn priority(&self) -> u8 {
        // Truncation keeps exactly the low byte: the priority.
        self.meta as u8
    }

    /// The correlation id the sender set, if any.
    pub fn correlation_id(&self) -> Option<u64> {
        self.ext.as_ref().and_then(|e| e.correlation_id)
    }

    /// The pid replies should go to, if the sender set one.
    pub fn reply_to(&self) -> Option<Pid> {
        self.ext.as_ref().and_then(|e| e.reply_to)
    }

    /// How many times the message was given back for another delivery (a
    /// `nack` with requeue, or a delivery dropped unanswered): 0 on its first
    /// delivery. A mailbox built with
    /// [`max_redeliveries(n)`](crate::MailboxBuilder::max_redeliveries)
    /// delivers it with at most `n` here.
    #[inline]
    pub fn redeliveries(&self) -> u32 {
        self.ext.as_ref().map_or(0, |e| e.redeliveries)
    }

    /// The instant after which the message is stale, if it has a time to live.
    pub fn expires_at(&self) -> Option<Instant> {
        match self.ext.as_ref()?.expiry {
            Expiry::At(at) => Some(at),
            Expiry::Unset | Expiry::Never => None,
        }
    }

    /// Whether the expiry was taken off for good (a dead letter sent on).
    pub(crate) fn expires_never(&self) -> bool {
        self.ext.as_ref().is_some_and(|e| e.expiry == Expiry::Never)
    }

    /// Whether the message's time to live has run out at `now`.
    pub fn is_expired_at(&self, now: Instant) -> bool {
        self.expires_at().is_some_and(|at| now >= at)
    }

    /// Whether the message is a reply sent by
    /// [`Process::reply`](crate::Process::reply): only a reply with the
    /// request's correlation id answers a
    /// [`request`](crate::Process::request).
    pub fn is_reply(&self) -> bool {
        self.ext.as_ref().is_some_and(|e| e.reply)
    }

    /// Marks the message as a reply (see [`is_reply`](Header::is_reply)).
    pub(crate) fn mark_reply(&mut self) {
        self.ext_mut().reply = true;
    }

    /// Whether a sender is tracking this message with a receipt.
    #[inline]
    pub fn is_tracked(&self) -> bool {
        self.ext.as_ref().is_some_and(|e| e.tracker.is_some())
    }

    fn ext_mut(&mut self) -> &mut HeaderExt {
        self.ext.get_or_insert_with(Box::default)
    }

    /// The id-and-priority word and the source: all a header without
    /// rarely used fields holds, which a queue may carry in its place.
    #[inline(always)]
    pub(super) fn lean_words(&self) -> (u64, u64) {
        (self.meta, self.source)
    }

    /// A header without rarely used fields, from its
    /// [`lean_words`](Header::lean_words).
    #[inline(always)]
    pub(super) fn from_lean_words(meta: u64, source: u64) -> Header {
        Header {
            meta,
            source,
            ext: None,
        }
    }

    /// Sets the priority (the low byte of `meta`), keeping the id.
    #[inline]
    pub(super) fn set_priority(&mut self, priority: u8) {
        self.meta = (self.meta & !0xff) | u64::from(priority);
    }

    /// Sets the correlation id (allocates the rare fields if need be).
    #[inline]
    pub(super) fn set_correlation_id(&mut self, id: u64) {
        self.ext_mut().correlation_id = Some(id);
    }

    /// Names the process replies should go to.
    #[inline]
    pub(super) fn set_reply_to(&mut self, pid: Pid) {
        self.ext_mut().reply_to = Some(pid);
    }

    /// A time to live counted from now, overriding any earlier one.
    #[inline]
    pub(super) fn set_ttl(&mut self, ttl: Duration) {
        self.ext_mut().expiry = Expiry::after(ttl);
    }

    /// The instant from which the message is stale, overriding any
    /// earlier expiry.
    #[inline]
    pub(super) fn set_expires_at(&mut self, at: Instant) {
        self.ext_mut().expiry = Expiry::At(at);
    }

    /// Stamps the header for a mailbox send: a fresh id, no source (only
    /// process sends carry one), no receipt link left from an earlier
    /// delivery and no redeliveries. The common case, a header without extension, is two stores.
    #[inline]
    pub(crate) fn stamp(&mut self, id: MessageId) {
        self.meta = (id.as_u64() << PRIORITY_BITS) | (self.meta & 0xff);
        self.source = 0;
        if self.ext.is_some() {
            self.scrub();
        }
    }

    /// A message a mailbox accepts starts a new life there: no receipt link
    /// from an earlier send, and no redeliveries counted elsewhere (a dead
    /// letter sent on, a message forwarded).
    #[cold]
    fn scrub(&mut self) {
        if let Some(ext) = &mut self.ext {
            drop(ext.tracker.take());
            ext.redeliveries = 0;
        }
    }

    /// Marks the message as sent by process `pid` (direct addressing only;
    /// pids start at 1: 0 stands for "no source").
    #[inline]
    pub(crate) fn set_source(&mut self, pid: Pid) {
        self.source = pid.as_u64();
    }

    /// Whether any rarely used field is set (expiry, receipt, redeliveries,
    /// ...): the one branch the receive path pays for all of them.
    #[inline(always)]
    pub(crate) fn has_ext(&self) -> bool {
        self.ext.is_some()
    }

    /// Sets the redelivery count: a dead letter forwarded to a typed
    /// dead-letter mailbox keeps the count of the mailbox it left, for
    /// whoever inspects it.
    pub(crate) fn set_redeliveries(&mut self, redeliveries: u32) {
        if redeliveries > 0 {
            self.ext_mut().redeliveries = redeliveries;
        }
    }

    /// Counts one more redelivery (saturating: a count that high is a poison
    /// message anyway).
    pub(crate) fn add_redelivery(&mut self) {
        let ext = self.ext_mut();
        ext.redeliveries = ext.redeliveries.saturating_add(1);
    }

    /// Gives the message a time to live of `ttl` from now, unless it set
    /// its own (a "never" included).
    pub(crate) fn default_ttl(&mut self, ttl: Duration) {
        let ext = self.ext_mut();
        if ext.expiry == Expiry::Unset {
            ext.expiry = Expiry::after(ttl);
        }
    }

    /// Takes the expiry off for good: a dead letter sent on to a mailbox is
    /// kept for someone to look at, not expired a second time there, even
    /// by that mailbox's own default time to live (RabbitMQ removes a
    /// dead-lettered message's expiration too).
    pub(crate) fn clear_expiry(&mut self) {
        self.ext_mut().expiry = Expiry::Never;
    }

    /// The receipt link, if the message is tracked, to move its state along.
    pub(crate) fn tracker(&self) -> Option<&Tracker> {
        self.ext
            .as_ref()
            .and_then(|e| e.tracker.as_ref())
            .map(|link| &*link.0)
    }

    pub(crate) fn set_tracker(&mut self, tracker: Arc<Tracker>) {
        self.ext_mut().tracker = Some(TrackerLink(tracker));
    }

    /// Takes the receipt link out so that its receipt can be updated. Cheap when
    /// the message is not tracked: one branch on a field already in cache.
    #[inline]
    pub(crate) fn take_tracker(&mut self) -> Option<TrackerLink> {
        match &mut self.ext {
            Some(ext) => ext.tracker.take(),
            None => None,
        }
    }

    /// Settles a tracked message's receipt in a final `state` (taken for
    /// good, or acknowledged); the link comes off with it. One branch when
    /// the message is not tracked.
    #[inline]
    pub(crate) fn settle_tracker(&mut self, state: ReceiptState) {
        if let Some(link) = self.take_tracker() {
            link.0.advance(state);
        }
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Header");
        d.field("id", &self.id())
            .field("priority", &self.priority())
            .field("redeliveries", &self.redeliveries())
            .field("source", &self.source());
        if let Some(ext) = &self.ext {
            d.field("correlation_id", &ext.correlation_id)
                .field("reply_to", &ext.reply_to)
                .field("expires_at", &self.expires_at())
                .field("tracked", &ext.tracker.is_some());
        }
        d.finish()
    }
}

//! Ack runs: consecutive acks written as one `AckRange` record.
//!
//! A consumer acks messages roughly in id order, and a sender numbers its
//! messages from a block of its own, so most acks name the id after the
//! previous one. Encoding and sealing an `Ack` per message (a CRC each)
//! under the queue's lock was the largest part of a durable receive after
//! the delivery ranges; the tally then did a map lookup per segment count
//! per ack. Instead the last record queued, if it is an ack, stays open:
//! an ack of the next id widens it (an `Ack` becomes an `AckRange`, kind 9,
//! in place) and it is sealed (sequence number, CRC) only when anything
//! else is queued or a batch takes the queue.
//!
//! The widened record keeps the sequence number of its first ack, so each
//! ack still returns a sequence number that, once written, holds it; and it
//! is the last record queued until it is sealed, so log order is kept:
//! nothing is queued between two acks of one record. A crash loses an open
//! run exactly as it loses queued acks (none of them was written).
//!
//! Logs made before kind 9 (meta magic `PBJRNL01`) get an `Ack` per
//! message, as before, so the builds that made them can still open them.
//!
//! # Acks without the lock
//!
//! Taking the queue's lock to widen a run by one id was most of what an
//! ack still cost its consumer. So once a run holds two ids (an
//! `AckRange`, which widens without growing), its last id is published in
//! an atomic ([`AckTail`]) and an ack of the id after it widens the run
//! with one compare-and-swap, no lock. Whatever holds the lock and needs
//! the run's final bytes (anything queued after it, a batch taking the
//! queue, a close, a failure) first *freezes* the tail: it swaps the
//! atomic out and writes the last id it held into the run's bytes and op.
//! An ack is in the run if and only if its swap came before the freeze;
//! after it, the compare-and-swap fails and the ack takes the lock as
//! before. So log order is kept (nothing is queued between two acks of one
//! run: queuing anything freezes first), and what a crash loses is what it
//! lost before: acks not yet written.
//!
//! Why an ack that took the fast path is written as soon as a locked one
//! would be: the run is open in the queue, and every open run has a write
//! scheduled (`linger`: the background thread writes the queue at most
//! `LINGER` after the run's first ack, if no batch takes it first; a batch
//! freezes the run before it takes the bytes).
//!
//! The tail is published only while no requeued id waits for its
//! `Delivered` (an ack of one must take it off that list, under the lock),
//! and only for logs that take `AckRange` records. The run's bound
//! ([`MAX_RUN`] ids) is checked against a published end that a racing
//! consumer may read one run late; the bound may then be passed by an id
//! or so, which only lengthens one record's tally.

use std::sync::atomic::{AtomicU64, Ordering};

use super::super::batch::{Op, END};
use super::super::record::{self, Kind, Record};
use super::{Queue, Writer, DELIVERED_SIZE};

/// The last record queued, an ack of `first..=last` not sealed yet.
#[derive(Debug, Clone, Copy)]
pub(super) struct OpenAcks {
    /// Where it starts in the queue's bytes.
    at: usize,
    /// Its place in the queue's ops.
    op: usize,
    /// Its sequence number.
    seq: u64,
    /// The lowest id it acks.
    first: u64,
    /// The highest.
    last: u64,
}

/// What an `Ack` grows by when it becomes an `AckRange`: a second id.
const WIDEN: u64 = 8;

/// The most acks one record holds: the tally takes a record at once, under
/// the `io` lock, so its work per record stays bounded (`batch.rs`).
const MAX_RUN: u64 = 4096;

/// No run is published.
const NONE: u64 = u64::MAX;

/// Where the last id of an ack run sits in its record: after the frame,
/// the sequence number, the kind and the first id.
const LAST_ID_AT: usize = record::FRAME + record::MIN_LEN + 8;

/// The open ack run's last id, published for acks that take no lock (see
/// the module docs).
#[derive(Debug)]
pub(super) struct AckTail {
    /// The run's last id, or [`NONE`]: no run is open to such acks.
    last: AtomicU64,
    /// The highest id the run may take (its first id + [`MAX_RUN`] - 1).
    end: AtomicU64,
    /// The run's sequence number.
    seq: AtomicU64,
}

impl AckTail {
    /// Nothing published.
    pub(super) fn new() -> AckTail {
        AckTail {
            last: AtomicU64::new(NONE),
            end: AtomicU64::new(0),
            seq: AtomicU64::new(0),
        }
    }

    /// Adds `id` to the published run if it is the id after the run's
    /// last: returns a sequence number at or after that of the record that
    /// holds it. `None`: take the lock.
    #[inline]
    pub(super) fn try_ack(&self, id: u64) -> Option<u64> {
        if id == 0 || id > self.end.load(Ordering::Acquire) {
            return None;
        }
        // Pairs with `publish`'s release and `freeze`'s swap: succeeds only
        // on a run still open, before anything froze it.
        self.last
            .compare_exchange(id - 1, id, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        // Read after the swap: this run's number or a later run's (the
        // numbers only grow), either way at or after the record that holds
        // the ack.
        Some(self.seq.load(Ordering::Acquire))
    }

    /// Publishes the run `first..=last` with sequence number `seq`. Called
    /// under the queue's lock, with the tail frozen.
    fn publish(&self, first: u64, last: u64, seq: u64) {
        self.seq.store(seq, Ordering::Release);
        self.end
            .store(first.saturating_add(MAX_RUN - 1), Ordering::Release);
        self.last.store(last, Ordering::Release);
    }

    /// Takes the run back: returns its last id if one was published. Called
    /// under the queue's lock; acks after this take the lock.
    fn freeze(&self) -> Option<u64> {
        let last = self.last.swap(NONE, Ordering::AcqRel);
        (last != NONE).then_some(last)
    }
}

impl Writer {
    /// Queues an ack of `id`: widens the open ack run if `id` follows it,
    /// or queues an `Ack` left open. Returns the sequence number of the
    /// record that holds it.
    pub(super) fn push_ack(&self, q: &mut Queue, id: u64) -> u64 {
        // Its next delivery, if any, needs no `Delivered` of its own.
        if !q.requeued.is_empty() {
            q.requeued.remove(&id);
        }
        // The run's last id as the lock-free acks left it.
        self.freeze_acks(q);
        if let Some(seq) = self.widen(q, id) {
            self.publish_acks(q);
            return seq;
        }
        let seq = self.push(q, &Record::Ack { id }, DELIVERED_SIZE);
        if self.ack_ranges {
            // `push` sealed it; it is sealed again when the run closes
            // (with the same sequence number: the same bytes if it was not
            // widened).
            let at = q.buf.len() - DELIVERED_SIZE as usize;
            q.open_acks = Some(OpenAcks {
                at,
                op: q.ops.len() - 1,
                seq,
                first: id,
                last: id,
            });
        }
        seq
    }

    /// Publishes the open run for acks that take no lock, if it is an
    /// `AckRange` already (widening it grows nothing) and no requeued id
    /// waits (module docs). Called with the tail frozen.
    fn publish_acks(&self, q: &Queue) {
        if !q.requeued.is_empty() || q.closed || q.failed.is_some() {
            return;
        }
        if let Some(open) = &q.open_acks {
            if open.first != open.last {
                self.ack_tail.publish(open.first, open.last, open.seq);
            }
        }
    }

    /// Freezes the published run, if any: its last id as the acks without
    /// the lock left it goes into its bytes and its op. Called under the
    /// queue's lock before anything else is queued or the queue is taken.
    pub(super) fn freeze_acks(&self, q: &mut Queue) {
        let Some(last) = self.ack_tail.freeze() else {
            return;
        };
        let Some(open) = q.open_acks.as_mut() else {
            return;
        };
        if last == open.last {
            return;
        }
        open.last = last;
        let (first, at, op) = (open.first, open.at + LAST_ID_AT, open.op);
        // The run is an `AckRange` (only those are published): its last id
        // is its final eight body bytes.
        if let Some(bytes) = q.buf.get_mut(at..at + 8) {
            bytes.copy_from_slice(&last.to_le_bytes());
        }
        if let Some(op) = q.ops.get_mut(op) {
            *op = Op::Acks { first, last };
        }
        q.max_id = q.max_id.max(last);
    }

    /// Adds `id` to the open ack run if it is the id after the run's last
    /// and the active segment has room; returns the run's sequence number.
    fn widen(&self, q: &mut Queue, id: u64) -> Option<u64> {
        let open = q.open_acks.as_mut()?;
        if open.last.checked_add(1) != Some(id) || open.last - open.first + 1 >= MAX_RUN {
            return None;
        }
        let grow = if open.first == open.last { WIDEN } else { 0 };
        // The end marker's room, as `push` keeps it.
        if q.seg_used.saturating_add(grow).saturating_add(END) > q.seg_size {
            return None;
        }
        let at = open.at;
        let kind_at = at + record::FRAME + 8;
        // Every place written is checked before any is: a run given up
        // half widened would keep a length that does not match its kind.
        if q.buf.len() <= kind_at {
            return None;
        }
        if grow > 0 {
            // `Ack { first }` -> `AckRange { first, last }`: the length
            // field and the kind change, the body gets a second id.
            let len = (record::MIN_LEN + 16) as u32;
            q.buf
                .get_mut(at..at + 4)?
                .copy_from_slice(&len.to_le_bytes());
            *q.buf.get_mut(kind_at)? = Kind::AckRange as u8;
            q.buf.extend_from_slice(&id.to_le_bytes());
            q.seg_used += grow;
        } else {
            let last_id = q.buf.len() - 8;
            q.buf.get_mut(last_id..)?.copy_from_slice(&id.to_le_bytes());
        }
        open.last = id;
        let (first, seq) = (open.first, open.seq);
        // The run's op is the last one queued (nothing was queued since).
        if let Some(op) = q.ops.last_mut() {
            *op = Op::Acks { first, last: id };
        }
        q.max_id = q.max_id.max(id);
        Some(seq)
    }

    /// Seals the open ack run, if any: anything queued after it, or a
    /// batch taking it, needs its final bytes.
    pub(super) fn close_acks(&self, q: &mut Queue) {
        self.freeze_acks(q);
        if let Some(open) = q.open_acks.take() {
            if open.first != open.last {
                record::seal(&mut q.buf, open.at, open.seq);
            }
        }
    }
}

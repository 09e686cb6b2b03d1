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

use super::super::batch::{Op, END};
use super::super::record::{self, Kind, Record};
use super::{Queue, Writer, DELIVERED_SIZE};

/// The last record queued, an ack of `first..=last` not sealed yet.
#[derive(Debug, Clone, Copy)]
pub(super) struct OpenAcks {
    /// Where it starts in the queue's bytes.
    at: usize,
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

impl Writer {
    /// Queues an ack of `id`: widens the open ack run if `id` follows it,
    /// or queues an `Ack` left open. Returns the sequence number of the
    /// record that holds it.
    pub(super) fn push_ack(&self, q: &mut Queue, id: u64) -> u64 {
        // Its next delivery, if any, needs no `Delivered` of its own.
        if !q.requeued.is_empty() {
            q.requeued.remove(&id);
        }
        if let Some(seq) = self.widen(q, id) {
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
                seq,
                first: id,
                last: id,
            });
        }
        seq
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
    pub(super) fn close_acks(q: &mut Queue) {
        if let Some(open) = q.open_acks.take() {
            if open.first != open.last {
                record::seal(&mut q.buf, open.at, open.seq);
            }
        }
    }
}

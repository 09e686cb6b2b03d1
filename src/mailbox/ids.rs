//! Message ids: each sender handle numbers its messages from a block of
//! ids of its own, so that numbering a message costs no shared write.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::id::MessageId;
use crate::message::MAX_MESSAGE_ID;
use crate::stats::HandleCounters;

use super::core::Core;

/// Message ids are handed to sender handles in blocks of 2^16: a handle numbers
/// its messages from its own block with the same plain store that counts its
/// sends on the thread that owns it (`stats::Owner`; other threads number
/// from blocks of their own), and touches the shared block counter once when
/// it is created and once more per 2^16 sends. Ids are 56-bit, so 2^40 blocks are
/// handed out (a trillion handle creations, or 2^56 messages) before the
/// numbering wraps.
pub(super) const ID_BLOCK_BITS: u32 = 16;

/// The bits of a handle's packed id block that hold its epoch.
const EPOCH_MASK: u64 = (1 << 24) - 1;

/// Packs a block base (a multiple of 2^16 below 2^56) and an epoch into one word.
pub(super) fn pack_id_block(base: u64, epoch: u64) -> u64 {
    ((base >> ID_BLOCK_BITS) << 24) | (epoch & EPOCH_MASK)
}

/// The next unclaimed block of message ids, shared by every mailbox in the
/// process: ids are unique across mailboxes, so that dead letters of
/// several mailboxes in one office store, a log or a bridge can key on them.
/// A plain std atomic (not the loom facade's): it is only ever incremented,
/// and handles touch it once per 2^16 sends.
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1 << ID_BLOCK_BITS);

/// Claims a fresh block of message ids from the process-wide counter. Block
/// 0 is never handed out, so no message gets the id `MessageId::UNSENT`.
pub(super) fn claim_id_block() -> u64 {
    loop {
        let block = NEXT_ID_BLOCK.fetch_add(1 << ID_BLOCK_BITS, Ordering::Relaxed) & MAX_MESSAGE_ID;
        // After the numbering wraps, skip block 0 again.
        if block != 0 {
            return block;
        }
    }
}

/// Makes every id handed out from now on greater than `max_id` (a durable
/// mailbox's restored messages keep their ids, and no new message may
/// repeat one).
pub(super) fn reserve_ids_above(max_id: u64) {
    let next_block = ((max_id >> ID_BLOCK_BITS) + 1) << ID_BLOCK_BITS;
    NEXT_ID_BLOCK.fetch_max(next_block, Ordering::Relaxed);
    ID_FLOOR.fetch_max(max_id, Ordering::Relaxed);
}

/// The block base of a packed id block.
fn unpack_base(block: u64) -> u64 {
    (block >> 24) << ID_BLOCK_BITS
}

impl<T: Send> Core<T> {
    /// The id of the handle's `seq`-th message: its block base plus the offset.
    #[inline(always)]
    pub(super) fn id_for(&self, local: &HandleCounters, seq: u64) -> MessageId {
        let offset = seq & ((1 << ID_BLOCK_BITS) - 1);
        let epoch = seq >> ID_BLOCK_BITS;
        let block = local.id_block.load(Ordering::Acquire);
        let base = if block & EPOCH_MASK == epoch & EPOCH_MASK {
            unpack_base(block)
        } else {
            self.next_id_base(local, epoch)
        };
        MessageId::from_raw(base.wrapping_add(offset) & MAX_MESSAGE_ID)
    }

    /// Moves a handle to its next block of ids: once per 2^16 sends. Only
    /// the thread that owns the handle's counters numbers from its blocks
    /// (`stats::Owner`), and its sequence only grows, so the 24 bits of
    /// epoch kept with the block tell a stale block from the current one.
    #[cold]
    #[inline(never)]
    pub(super) fn next_id_base(&self, local: &HandleCounters, epoch: u64) -> u64 {
        let base = claim_id_block();
        local
            .id_block
            .store(pack_id_block(base, epoch), Ordering::Release);
        base
    }

    /// Counts and numbers a send made on a thread that does not own the
    /// sending handle: counted in the mailbox's shared counter, numbered
    /// from the thread's own block of ids. Returns the send's place in
    /// the shared count (for peak sampling) and its id.
    #[inline(never)]
    pub(super) fn number_shared(&self) -> (u64, MessageId) {
        let seq = self
            .cold()
            .outcomes
            .sent_shared
            .fetch_add(1, Ordering::Relaxed);
        (seq, thread_block_id())
    }
}

/// The lowest id a thread's block may still hand out: raised by
/// `reserve_ids_above`, so that a block claimed before a durable mailbox
/// restored its messages does not repeat one of their ids.
static ID_FLOOR: AtomicU64 = AtomicU64::new(0);

/// The next id from the calling thread's own block (claimed on first use,
/// and again once it is used up or fell below the floor): the ids of sends
/// on threads that do not own their handle. Unique for the same reason a
/// handle's are: every block is claimed from the process-wide counter.
fn thread_block_id() -> MessageId {
    thread_local! {
        /// The next id of this thread's block; 0 until one is claimed.
        static NEXT: Cell<u64> = const { Cell::new(0) };
    }
    let from_block = |next: &Cell<u64>| {
        let mut id = next.get();
        // A block's ids share their high bits: past its last, the low bits
        // wrap to 0 (as they are for no block at all).
        if id & ((1 << ID_BLOCK_BITS) - 1) == 0 || id <= ID_FLOOR.load(Ordering::Relaxed) {
            id = claim_id_block();
        }
        next.set(id + 1);
        id
    };
    // The thread's storage is gone only while it ends: a block for one id.
    let id = NEXT
        .try_with(from_block)
        .unwrap_or_else(|_| claim_id_block());
    MessageId::from_raw(id & MAX_MESSAGE_ID)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::Mailbox;
    use std::collections::HashSet;

    /// Ids stay unique when one handle, shared by two threads, crosses several
    /// 2^16 id blocks, and when clones number from blocks of their own.
    #[test]
    pub(super) fn ids_unique_across_blocks_and_shared_handles() {
        const PER_THREAD: u64 = 3 * (1 << ID_BLOCK_BITS) + 17;
        let (tx, rx) = Mailbox::<u64>::builder().unbounded().build();
        let clone = tx.clone();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for n in 0..PER_THREAD {
                        tx.send(n).unwrap();
                    }
                });
            }
            s.spawn(|| {
                for n in 0..PER_THREAD {
                    clone.send(n).unwrap();
                }
            });
        });
        drop((tx, clone));
        let mut ids = HashSet::new();
        for msg in rx.iter() {
            assert_ne!(msg.header().id(), MessageId::UNSENT);
            assert!(
                ids.insert(msg.header().id()),
                "duplicate id {}",
                msg.header().id()
            );
        }
        assert_eq!(ids.len() as u64, 3 * PER_THREAD);
    }
}

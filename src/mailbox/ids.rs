//! Message ids: each sender handle numbers its messages from a block of
//! ids of its own, so that numbering a message costs no shared write.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::id::MessageId;
use crate::message::MAX_MESSAGE_ID;
use crate::stats::HandleCounters;

use super::core::Core;

/// Message ids are handed to sender handles in blocks of 2^16: a handle numbers
/// its messages from its own block with the same uncontended `fetch_add` that
/// counts its sends, and touches the shared block counter once when it is
/// created and once more per 2^16 sends. Ids are 56-bit, so 2^40 blocks are
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

    /// Moves a handle to its next block of ids: once per 2^16 sends.
    #[cold]
    #[inline(never)]
    pub(super) fn next_id_base(&self, local: &HandleCounters, epoch: u64) -> u64 {
        let mut current = local.id_epoch.lock();
        if epoch > *current {
            let base = claim_id_block();
            *current = epoch;
            local
                .id_block
                .store(pack_id_block(base, epoch), Ordering::Release);
            base
        } else if epoch == *current {
            // Another thread sharing the handle moved it first.
            unpack_base(local.id_block.load(Ordering::Acquire))
        } else {
            // A thread sharing this handle was preempted while others moved
            // on: give it a block of its own (ids stay unique; the rest of that
            // block goes unused).
            claim_id_block()
        }
    }
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

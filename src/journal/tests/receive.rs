//! The receive side through the fault-injecting storage: deliveries and
//! acks are batched (far fewer writes than messages), and what a crash does
//! to them is what the module docs say (`journal/mod.rs`, "Delivery
//! ranges").

use std::sync::Arc;

use super::super::fault::FaultStorage;
use super::super::ranges::RANGE_SPAN;
use super::super::{open_with, Options, Restored, SyncPolicy};
use super::payload;

fn options(sync: SyncPolicy) -> Options {
    Options::new("receive").sync(sync)
}

/// `(id, possibly delivered)` of each message, in order.
fn flags(messages: &[Restored]) -> Vec<(u64, bool)> {
    messages
        .iter()
        .map(|m| (m.id, m.possibly_delivered))
        .collect()
}

#[test]
fn draining_makes_far_fewer_writes_than_messages() {
    for sync in [SyncPolicy::Buffered, SyncPolicy::Always] {
        let storage = FaultStorage::new();
        let (journal, _) = open_with(Arc::new(storage.clone()), options(sync)).unwrap();
        const N: u64 = 4096;
        for id in 1..=N {
            journal.enqueue_nowait(id, &payload(id)).unwrap();
        }
        journal.flush().unwrap();
        let before = storage.calls();
        let stats_before = journal.stats();
        for id in 1..=N {
            if id % 2 == 0 {
                // A plain receive.
                journal.deliver_acked(id).unwrap();
            } else {
                // `recv_ack`, then `ack`.
                journal.deliver(id).unwrap();
                journal.ack(id).unwrap();
            }
        }
        let calls = storage.calls() - before;
        let batches = journal.stats().batches - stats_before.batches;
        // One write per range of `RANGE_SPAN` ids (64 here), the lingering
        // acks riding along; plus a write per 16 KiB of acks, or per 2 ms
        // if the machine is slow: nowhere near one per message.
        assert!(
            calls < N / 16,
            "{sync:?}: {calls} mutating calls ({batches} batches) for {N} receives"
        );
        assert!(batches >= N / RANGE_SPAN, "{sync:?}: {batches} batches");
        // Everything acked: nothing comes back.
        journal.flush().unwrap();
        drop(journal);
        let (_journal, replay) =
            open_with(Arc::new(storage.crash(1, false)), options(sync)).unwrap();
        assert!(replay.messages.is_empty(), "{sync:?}");
    }
}

/// Acks not yet written when the power goes are lost: their messages come
/// back flagged; acks that were synced are never undone; a message never
/// handed out comes back flagged only if a range covered its id.
#[test]
fn acks_lost_with_the_power_bring_their_messages_back_flagged() {
    for sync in [SyncPolicy::Buffered, SyncPolicy::Always] {
        let storage = FaultStorage::new();
        let (journal, _) = open_with(Arc::new(storage.clone()), options(sync)).unwrap();
        for id in 1..=100 {
            journal.enqueue(id, &payload(id)).unwrap();
        }
        // Taken and acked, the acks synced: never back.
        for id in 1..=40 {
            journal.deliver_acked(id).unwrap();
        }
        journal.flush().unwrap();
        // Held by a consumer: covered by the range 1..=64 written above.
        for id in 41..=50 {
            journal.deliver(id).unwrap();
        }
        // The power goes at the next write: these are covered by that range
        // too, so they return without one, and their acks never reach the
        // disk (the background thread's write fails). A covered delivery
        // may also see the log failed already: either way nothing more is
        // written.
        storage.fail_after(0);
        for id in 51..=60 {
            let _ = journal.deliver_acked(id);
        }
        // Dropped, it would try to write them again: the power is out.
        drop(journal);
        let mut some_back = 0;
        for seed in 0..8 {
            let after = storage.crash(seed, false);
            let (_journal, replay) = open_with(Arc::new(after), options(sync)).unwrap();
            // The write that met the power cut may have reached the disk, in
            // part: the acks it holds whole are kept. Whatever of 51..=60 is
            // back is flagged.
            let (taken, rest): (Vec<_>, Vec<_>) = flags(&replay.messages)
                .into_iter()
                .partition(|&(id, _)| (51..=60).contains(&id));
            assert!(
                taken.iter().all(|&(_, flagged)| flagged),
                "{sync:?}: {taken:?}"
            );
            // 41..=50 were handed out; 61..=64 were not, but the range covers
            // them; 65..=100 come back as they were sent.
            let expected: Vec<(u64, bool)> = (41..=50)
                .chain(61..=100)
                .map(|id| (id, id < 1 + RANGE_SPAN))
                .collect();
            assert_eq!(rest, expected, "{sync:?}");
            assert!(replay.messages.iter().all(|m| m.redeliveries == 0));
            some_back += u32::from(!taken.is_empty());
        }
        // Unless the torn write kept them all, some of those acks are lost.
        assert!(some_back > 0, "{sync:?}");
    }
}

/// A process crash keeps every write that returned: a held delivery comes
/// back flagged, a plain receive whose ack was still in memory comes back
/// flagged (never unflagged), and the ranges decide which others are.
#[test]
fn a_process_crash_never_brings_a_received_message_back_unflagged() {
    let storage = FaultStorage::new();
    let (journal, _) = open_with(Arc::new(storage.clone()), options(SyncPolicy::Buffered)).unwrap();
    for id in 1..=200 {
        journal.enqueue(id, &payload(id)).unwrap();
    }
    for id in 1..=100 {
        journal.deliver_acked(id).unwrap();
    }
    for id in 101..=110 {
        journal.deliver(id).unwrap();
    }
    // A requeue ends a range's cover: the redelivery writes a record of its
    // own.
    journal.requeued(105, 1).unwrap();
    journal.deliver(105).unwrap();
    let after = storage.process_crash();
    let (_journal2, replay) = open_with(Arc::new(after), options(SyncPolicy::Buffered)).unwrap();
    // Ranges start at 1 and at 1 + RANGE_SPAN (the first delivery past the
    // first range): everything up to the second's end may have been handed
    // out; nothing after it.
    let covered = 2 * RANGE_SPAN;
    for m in &replay.messages {
        if m.id <= 100 {
            // Its ack was still in memory: back, flagged.
            assert!(m.possibly_delivered, "{} taken, back unflagged", m.id);
        } else {
            assert_eq!(m.possibly_delivered, m.id <= covered, "{}", m.id);
        }
    }
    let back: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    assert!(back.ends_with(&(101..=200).collect::<Vec<_>>()));
    assert_eq!(
        replay
            .messages
            .iter()
            .find(|m| m.id == 105)
            .map(|m| m.redeliveries),
        Some(1)
    );
}

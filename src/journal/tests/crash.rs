//! Simulated power loss and process crashes through the fault-injecting
//! storage: what returned `Ok` and was synced survives, nothing that was not
//! appended ever comes back, and open never fails on what a crash leaves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::super::fault::{FaultStorage, Rng};
use super::super::{open_with, OpenError, Options, Replay, Restored, SyncPolicy};
use super::model::{self, Op, Workload};

/// The three policies, by index.
fn policy(i: u8) -> SyncPolicy {
    match i % 3 {
        0 => SyncPolicy::Always,
        1 => SyncPolicy::Buffered,
        _ => SyncPolicy::Every(Duration::from_millis(1)),
    }
}

/// What a case may generate: the seed, appends per run, the segment size
/// (128 bytes makes most records larger than a segment), the policy.
fn case() -> impl Strategy<Value = (u64, usize, u64, u8)> {
    (
        any::<u64>(),
        20usize..300,
        prop_oneof![Just(128u64), Just(512), Just(4096)],
        0u8..3,
    )
}

/// Checks a replay after a power loss against what was there before
/// (`base`, all durable) and the operations of the run since (`ops`, each
/// with whether it returned `Ok`).
fn check_power_loss(
    policy: SyncPolicy,
    replay: &Replay,
    base: &[Restored],
    base_max: u64,
    ops: &[(Op, bool)],
) -> Result<(), TestCaseError> {
    // Never a message that was not appended, never one twice, in order.
    let ids: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "order: {:?}", ids);
    let mut payloads: BTreeMap<u64, Vec<&[u8]>> = BTreeMap::new();
    for m in base {
        payloads.entry(m.id).or_default().push(&m.payload);
    }
    for (op, _) in ops {
        if let Op::Enqueue(id, payload) = op {
            payloads.entry(*id).or_default().push(payload);
        }
    }
    for m in &replay.messages {
        let known = payloads
            .get(&m.id)
            .is_some_and(|p| p.contains(&&m.payload[..]));
        prop_assert!(
            known,
            "message {} was never appended with that payload",
            m.id
        );
    }
    prop_assert!(replay.max_id >= base_max);

    // What a sync made durable: everything before the last operation that
    // returned after a sync (a flush, or an enqueue under `Always`).
    let synced = ops
        .iter()
        .rposition(|(op, ok)| {
            *ok && match op {
                Op::Flush => true,
                Op::Enqueue(..) => policy == SyncPolicy::Always,
                _ => false,
            }
        })
        .map_or(0, |i| i + 1);
    let durable = &ops[..synced];
    let gone: BTreeSet<u64> = ops
        .iter()
        .filter_map(|(op, _)| match op {
            Op::Ack(id) | Op::DeadLetter(id) => Some(*id),
            _ => None,
        })
        .collect();
    let expected = model::replay(
        base,
        &durable.iter().map(|(op, _)| op.clone()).collect::<Vec<_>>(),
    );
    let found: BTreeMap<u64, &Restored> = replay.messages.iter().map(|m| (m.id, m)).collect();
    for want in &expected {
        if let Some(got) = found.get(&want.id) {
            // Later records may have reached the disk too: a higher count,
            // a flag set or cleared again; never an older state.
            prop_assert!(
                got.redeliveries >= want.redeliveries,
                "{:?} vs {:?}",
                got,
                want
            );
            let requeued_later = durable.len() < ops.len()
                && ops[synced..]
                    .iter()
                    .any(|(op, _)| matches!(op, Op::Requeued(id, _) if *id == want.id));
            if want.possibly_delivered && !requeued_later {
                prop_assert!(
                    got.possibly_delivered,
                    "{} lost its delivered flag",
                    want.id
                );
            }
        } else {
            // Missing: only if acked or dead-lettered since.
            prop_assert!(gone.contains(&want.id), "synced message {} lost", want.id);
        }
        prop_assert!(replay.max_id >= want.id);
    }
    // Acked or dead-lettered before the sync: never back.
    let gone_durably: BTreeSet<u64> = durable
        .iter()
        .filter_map(|(op, _)| match op {
            Op::Ack(id) | Op::DeadLetter(id) => Some(*id),
            _ => None,
        })
        .collect();
    for id in &ids {
        prop_assert!(!gone_durably.contains(id), "acked message {} came back", id);
    }
    Ok(())
}

/// Three runs of random appends, each ended by a power loss at a random
/// call (sometimes during the next open too), each checked on reopen.
fn power_losses(
    seed: u64,
    steps: usize,
    segment_size: u64,
    policy: SyncPolicy,
    flip: bool,
) -> Result<(), TestCaseError> {
    let mut rng = Rng::new(seed);
    let options = Options::new("crash")
        .sync(policy)
        .segment_size(segment_size);
    let mut storage = FaultStorage::new();
    let mut base: Vec<Restored> = Vec::new();
    let mut base_max = 0;
    let mut ops: Vec<(Op, bool)> = Vec::new();
    for run in 0..4 {
        let (journal, replay) = loop {
            if run > 0 && rng.coin() {
                storage.fail_after(rng.below(8));
            }
            match open_with(Arc::new(storage.clone()), options.clone()) {
                Ok(opened) => break opened,
                // The power went during open: crash and try again.
                Err(OpenError::Io(_)) => storage = storage.crash(rng.next(), flip),
                Err(e) => return Err(TestCaseError::fail(format!("open failed: {e}"))),
            }
        };
        check_power_loss(policy, &replay, &base, base_max, &ops)?;
        if run == 3 {
            break;
        }
        base = replay.messages;
        base_max = replay.max_id;
        ops.clear();
        let calls = storage.calls();
        storage.fail_after(rng.below(steps as u64 * 3));
        let mut workload = Workload::new(rng.next(), base_max + 1, &base, 200).with_ranges();
        for _ in 0..steps {
            let op = workload.next_op();
            let ok = op.run(&journal).is_ok();
            ops.push((op, ok));
            if !ok {
                break;
            }
        }
        drop(journal);
        prop_assert!(storage.calls() > calls);
        storage = storage.crash(rng.next(), flip);
    }
    Ok(())
}

proptest! {
    /// Power losses at random calls, torn writes, a flipped bit in what was
    /// not synced: with `Always`, every enqueue that returned `Ok` is back
    /// unless it was acked; with any policy, everything before a successful
    /// flush is; open never fails and never returns a message that was not
    /// appended, nor one acked before a sync.
    #[test]
    fn power_loss_keeps_what_was_synced((seed, steps, segment_size, p) in case()) {
        power_losses(seed, steps, segment_size, policy(p), true)?;
    }

    /// A process crash keeps every write that returned: the replay is what
    /// a prefix of the operations says, one that holds at least every
    /// operation up to the last that waited for a write (an enqueue, a
    /// flush). After it, records that wait for nothing (acks, deliveries,
    /// requeues, dead letters) may still be in memory, waiting for the next
    /// batch or the background thread (`LINGER`), and are lost with the
    /// process; the log is written in order, so what is lost is a tail.
    #[test]
    fn a_process_crash_loses_nothing_that_returned((seed, steps, segment_size, p) in case()) {
        let options = Options::new("crash").sync(policy(p)).segment_size(segment_size);
        let storage = FaultStorage::new();
        let (journal, _) = open_with(Arc::new(storage.clone()), options.clone()).unwrap();
        let mut workload = Workload::new(seed, 1, &[], 200).with_ranges();
        let ops: Vec<Op> = (0..steps).map(|_| workload.next_op()).collect();
        for op in &ops {
            op.run(&journal).unwrap();
        }
        let after = storage.process_crash();
        let (_journal2, replay) = open_with(Arc::new(after), options).unwrap();
        let waited = ops
            .iter()
            .rposition(|op| matches!(op, Op::Enqueue(..) | Op::Flush))
            .map_or(0, |i| i + 1);
        let fits = (waited..=ops.len()).any(|k| model::replay(&[], &ops[..k]) == replay.messages);
        prop_assert!(fits, "no prefix of at least {} of {:?} gives {:?}", waited, ops, replay.messages);
        drop(journal);
    }
}

//! Ack runs (`writer/acks.rs`): consecutive acks in one `AckRange` record,
//! and logs of the version before it kept readable by the builds that made
//! them.

use super::super::record::{self, Kind, Record, Step};
use super::super::segment;
use super::{open, payload, small, TempDir};
use crate::journal::{Options, SyncPolicy};

/// The kinds of the records in `dir`'s segments, in log order.
pub(super) fn kinds(dir: &TempDir) -> Vec<Kind> {
    let mut kinds = Vec::new();
    for path in dir.segments() {
        let buf = std::fs::read(path).unwrap();
        let mut at = 0;
        while let Step::Record { record, next, .. } = record::decode(&buf, at) {
            kinds.push(record.kind());
            at = next;
        }
    }
    kinds
}

#[test]
fn consecutive_acks_share_one_record_and_replay_as_acks() {
    let dir = TempDir::new("ack-runs");
    {
        let (journal, _) = open(dir.path(), small(SyncPolicy::Buffered)).unwrap();
        for id in 1..=100 {
            journal.enqueue(id, &payload(id)).unwrap();
        }
        // (The background thread may write the queue between two acks,
        // 2 ms after the first: that closes a run, so counts here are
        // bounds, not exact.)
        let first = journal.ack(1).unwrap();
        let mut last = first;
        for id in 2..=40 {
            let seq = journal.ack(id).unwrap();
            assert!(seq >= last);
            last = seq;
        }
        // Not the next id: a record of its own, and a run from there.
        let lone = journal.ack(50).unwrap();
        assert!(lone > last);
        let run = journal.ack(70).unwrap();
        assert!(journal.ack(71).unwrap() >= run);
        // A record in between closes the run: 72 starts a new one.
        journal.dead_letter(90).unwrap();
        assert!(journal.ack(72).unwrap() > run);
        journal.flush().unwrap();
    }
    let kinds = kinds(&dir);
    let ack_ranges = kinds.iter().filter(|&&k| k == Kind::AckRange).count();
    let acks = kinds.iter().filter(|&&k| k == Kind::Ack).count();
    // Ideally 1..=40 and 70..=71 as ranges, 50 and 72 alone.
    assert!(ack_ranges >= 1, "{kinds:?}");
    assert!(ack_ranges + acks < 20, "{kinds:?}");
    let (_journal, replay) = open(dir.path(), small(SyncPolicy::Buffered)).unwrap();
    let ids: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    let expected: Vec<u64> = (41..=100)
        .filter(|&id| !matches!(id, 50 | 70 | 71 | 72 | 90))
        .collect();
    assert_eq!(ids, expected);
}

#[test]
fn ack_runs_across_segments_replay_and_let_segments_go() {
    // 512-byte segments: runs end at rollovers, widened records must fit.
    let dir = TempDir::new("ack-runs-roll");
    {
        let (journal, _) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
        for id in 1..=300 {
            journal.enqueue(id, &[5; 40]).unwrap();
            if id % 2 == 0 {
                // Acks interleaved with enqueues: runs of one, closed by
                // the next enqueue.
                journal.ack(id - 1).unwrap();
            }
        }
        for id in (2..=300).step_by(2) {
            journal.ack(id).unwrap();
        }
        journal.ack(299).unwrap();
        journal.flush().unwrap();
        assert_eq!(dir.segments().len(), 1, "{:?}", dir.segments());
    }
    let (_journal, replay) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    assert!(replay.messages.is_empty());
}

#[test]
fn a_log_of_the_first_version_gets_an_ack_per_message() {
    let dir = TempDir::new("ack-runs-v1");
    {
        let (journal, _) = open(dir.path(), small(SyncPolicy::Buffered)).unwrap();
        for id in 1..=10 {
            journal.enqueue(id, &payload(id)).unwrap();
        }
    }
    // Made by a build before `AckRange`: its meta file's first magic.
    let meta = dir.path().join(segment::META_FILE);
    let mut bytes = std::fs::read(&meta).unwrap();
    bytes[..8].copy_from_slice(b"PBJRNL01");
    let body_end = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body_end]);
    bytes[body_end..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&meta, &bytes).unwrap();
    {
        let (journal, replay) = open(dir.path(), small(SyncPolicy::Buffered)).unwrap();
        assert_eq!(replay.messages.len(), 10);
        let mut seqs = Vec::new();
        for id in 1..=6 {
            seqs.push(journal.ack(id).unwrap());
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        journal.flush().unwrap();
    }
    assert!(!kinds(&dir).contains(&Kind::AckRange));
    assert_eq!(std::fs::read(&meta).unwrap(), bytes, "the meta file stays");
    let (_journal, replay) = open(dir.path(), small(SyncPolicy::Buffered)).unwrap();
    let ids: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [7, 8, 9, 10]);
}

/// The ack runs' spans in `dir`'s segments, in log order.
fn ack_runs(dir: &TempDir) -> Vec<(u64, u64)> {
    let mut runs = Vec::new();
    for path in dir.segments() {
        let buf = std::fs::read(path).unwrap();
        let mut at = 0;
        while let Step::Record { record, next, .. } = record::decode(&buf, at) {
            match record {
                Record::AckRange { first, last } => runs.push((first, last)),
                Record::Ack { id } => runs.push((id, id)),
                _ => {}
            }
            at = next;
        }
    }
    runs
}

#[test]
fn acks_without_the_lock_are_written_in_runs_of_at_most_max_run() {
    // One thread acking in order: after the first two acks of a run, the
    // rest widen it without the lock (`writer/acks.rs`); a run stops at
    // 4096 ids.
    let dir = TempDir::new("ack-runs-lock-free");
    let n = 10_000;
    {
        let options = Options::new("test:v1").sync(SyncPolicy::Buffered);
        let (journal, _) = open(dir.path(), options).unwrap();
        for id in 1..=n {
            journal.enqueue_nowait(id, &[1; 8]).unwrap();
        }
        journal.flush().unwrap();
        for id in 1..=n {
            journal.ack(id).unwrap();
        }
        journal.flush().unwrap();
    }
    let runs = ack_runs(&dir);
    // Every id acked once, in order, in runs no longer than the bound.
    let acked: Vec<u64> = runs.iter().flat_map(|&(f, l)| f..=l).collect();
    assert_eq!(acked, (1..=n).collect::<Vec<_>>());
    assert!(runs.iter().all(|&(f, l)| l - f < 4096), "{runs:?}");
    assert!(runs.len() < 100, "{} runs", runs.len());
    let options = Options::new("test:v1").sync(SyncPolicy::Buffered);
    let (_journal, replay) = open(dir.path(), options).unwrap();
    assert!(replay.messages.is_empty());
}

#[test]
fn acks_racing_other_records_are_all_kept() {
    // A consumer acks in order (mostly without the lock) while another
    // thread dead-letters other ids, each of which freezes the open run:
    // no ack may be lost or land in a record that is not written. (One
    // segment, so that every record stays to be read back.)
    let dir = TempDir::new("ack-runs-race");
    let n = 5_000u64;
    let options = || Options::new("test:v1").sync(SyncPolicy::Buffered);
    {
        let (journal, _) = open(dir.path(), options()).unwrap();
        for id in 1..=2 * n {
            journal.enqueue_nowait(id, &[2; 4]).unwrap();
        }
        journal.flush().unwrap();
        let journal = &journal;
        std::thread::scope(|s| {
            s.spawn(move || {
                for id in 1..=n {
                    journal.ack(id).unwrap();
                }
            });
            s.spawn(move || {
                for id in (n + 1..=2 * n).filter(|id| id % 3 != 0) {
                    journal.dead_letter(id).unwrap();
                }
            });
        });
        journal.flush().unwrap();
    }
    let mut acked: Vec<u64> = ack_runs(&dir).iter().flat_map(|&(f, l)| f..=l).collect();
    acked.sort_unstable();
    assert_eq!(acked, (1..=n).collect::<Vec<_>>());
    let (_journal, replay) = open(dir.path(), options()).unwrap();
    let left: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    let expected: Vec<u64> = (n + 1..=2 * n).filter(|id| id % 3 == 0).collect();
    assert_eq!(left, expected);
}

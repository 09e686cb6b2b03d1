//! Real log files truncated or with a bit flipped: open gives a typed error
//! or a correct prefix of what was appended, never a panic and never a wrong
//! message; with `SkipCorrupt` it opens and still never gives a wrong one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;

use std::sync::Arc;

use super::super::fault::FaultStorage;
use super::super::storage::Storage;
use super::super::{open, open_with, segment, OpenError, Options, Recovery, Restored, SyncPolicy};
use super::model::{self, Op, Workload};
use super::TempDir;

/// A log written once: its files and the operations that made it.
struct Template {
    /// Each file's name and bytes.
    files: Vec<(String, Vec<u8>)>,
    /// The operations, in log order.
    ops: Vec<Op>,
    /// Keeps the directory until the test binary ends (then the OS cleans
    /// the temp dir; each case copies the files out).
    _dir: TempDir,
}

fn options() -> Options {
    Options::new("corrupt")
        .sync(SyncPolicy::Buffered)
        .segment_size(512)
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = TempDir::new("template");
        let mut workload = Workload::new(7, 1, &[], 60);
        let ops: Vec<Op> = (0..300).map(|_| workload.next_op()).collect();
        {
            let (journal, _) = open(dir.path(), options()).unwrap();
            for op in &ops {
                op.run(&journal).unwrap();
            }
        }
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .filter(|(name, _)| name != "LOCK")
            .collect();
        files.sort();
        assert!(files.len() > 3, "several segments and the meta file");
        Template {
            files,
            ops,
            _dir: dir,
        }
    })
}

/// How a file is damaged.
#[derive(Debug, Clone)]
enum Damage {
    /// Cut to this fraction of its length.
    Truncate(f64),
    /// One bit flipped at this fraction of its length.
    Flip(f64, u8),
}

/// Whether `got` is what a prefix of the log gives: some prefix's replay,
/// less messages whose records were deleted because the whole log acks
/// them (those may also come back in an older state).
fn is_prefix_replay(got: &[Restored], ops: &[Op]) -> bool {
    let acked: BTreeSet<u64> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Ack(id) | Op::DeadLetter(id) => Some(*id),
            _ => None,
        })
        .collect();
    let found: BTreeMap<u64, &Restored> = got.iter().map(|m| (m.id, m)).collect();
    (0..=ops.len()).any(|k| {
        let want = model::replay(&[], &ops[..k]);
        let want_ids: BTreeSet<u64> = want.iter().map(|m| m.id).collect();
        want.iter().all(|m| match found.get(&m.id) {
            Some(g) => acked.contains(&m.id) || *g == m,
            None => acked.contains(&m.id),
        }) && got.iter().all(|g| want_ids.contains(&g.id))
    })
}

/// Every message in `got` was appended with that payload.
fn all_appended(got: &[Restored], ops: &[Op]) -> bool {
    got.iter().all(|g| {
        ops.iter()
            .any(|op| matches!(op, Op::Enqueue(id, p) if *id == g.id && *p == g.payload))
    })
}

proptest! {
    #[test]
    fn damaged_files_give_an_error_or_a_correct_prefix(
        file in any::<prop::sample::Index>(),
        damage in prop_oneof![
            (0.0..1.0f64).prop_map(Damage::Truncate),
            (0.0..1.0f64, 0u8..8).prop_map(|(at, bit)| Damage::Flip(at, bit)),
        ],
    ) {
        let template = template();
        let dir = TempDir::new("damaged");
        let victim = file.index(template.files.len());
        for (i, (name, bytes)) in template.files.iter().enumerate() {
            let mut bytes = bytes.clone();
            if i == victim {
                match damage {
                    Damage::Truncate(f) => bytes.truncate((bytes.len() as f64 * f) as usize),
                    Damage::Flip(f, bit) => {
                        let at = ((bytes.len() as f64 * f) as usize).min(bytes.len() - 1);
                        bytes[at] ^= 1 << bit;
                    }
                }
            }
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let victim_path: PathBuf = dir.path().join(&template.files[victim].0);
        match open(dir.path(), options()) {
            Ok((_journal, replay)) => {
                prop_assert!(
                    is_prefix_replay(&replay.messages, &template.ops),
                    "not a prefix's replay: {:?}",
                    replay.messages.iter().map(|m| m.id).collect::<Vec<_>>()
                );
            }
            Err(OpenError::Corrupt { segment, .. }) => prop_assert_eq!(segment, victim_path),
            Err(OpenError::FormatMismatch { .. }) => {
                prop_assert_eq!(&template.files[victim].0, "META")
            }
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        // Opening anyway: never a wrong message. (The strict open may have
        // cut a tail already; this one sees the same damage or less.)
        let skip = options().recovery(Recovery::SkipCorrupt);
        match open(dir.path(), skip) {
            Ok((_journal, replay)) => prop_assert!(all_appended(&replay.messages, &template.ops)),
            Err(OpenError::FormatMismatch { .. }) => {}
            Err(e) => prop_assert!(false, "SkipCorrupt still failed: {}", e),
        }
    }
}

/// A directory holding a valid meta file and segments of the given names
/// and bytes.
fn directory(segments: &[(u64, Vec<u8>)]) -> FaultStorage {
    let storage = FaultStorage::new();
    let mut meta = storage.create(segment::META_FILE).unwrap();
    meta.write_at(0, &segment::encode_meta("corrupt")).unwrap();
    for (first, bytes) in segments {
        let mut file = storage.create(&segment::name(*first)).unwrap();
        file.write_at(0, bytes).unwrap();
    }
    storage
}

proptest! {
    /// Any bytes at all, as the last segment or an earlier one, under any
    /// recovery mode: open returns (a replay or a typed error), it never
    /// panics.
    #[test]
    fn open_never_panics_on_any_bytes(
        first in prop_oneof![Just(1u64), any::<u64>()],
        garbage in prop::collection::vec(any::<u8>(), 0..600),
        valid_prefix in any::<bool>(),
        skip in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        if valid_prefix {
            // A real record first, so the garbage is met past the start.
            let start = super::super::record::Record::Start { max_id: 3 };
            start.encode_unsealed(&mut bytes);
            super::super::record::seal(&mut bytes, 0, first);
        }
        bytes.extend_from_slice(&garbage);
        let recovery = if skip { Recovery::SkipCorrupt } else { Recovery::Strict };
        let options = options().recovery(recovery);
        for segments in [
            vec![(first, bytes.clone())],
            vec![(first, bytes.clone()), (first.saturating_add(1_000), vec![0; 64])],
        ] {
            let storage = directory(&segments);
            if let Ok((journal, replay)) = open_with(Arc::new(storage), options.clone()) {
                // The log it left takes appends.
                let id = replay.max_id.saturating_add(1);
                prop_assert!(journal.enqueue(id, b"after").is_ok());
            }
        }
    }
}

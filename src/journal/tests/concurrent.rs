//! Group commit: concurrent appenders share writes and syncs, and every
//! append is accounted for.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::thread;

use super::super::{open, Options, SyncPolicy};
use super::TempDir;

#[test]
fn eight_threads_appending_share_syncs_and_lose_nothing() {
    const THREADS: u64 = 8;
    const EACH: u64 = 150;
    let dir = TempDir::new("group");
    let options = Options::new("t")
        .sync(SyncPolicy::Always)
        .segment_size(16 << 10);
    {
        let (journal, _) = open(dir.path(), options.clone()).unwrap();
        let journal = Arc::new(journal);
        let barrier = Arc::new(Barrier::new(THREADS as usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (journal, barrier) = (journal.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    let mut last = 0;
                    for i in 0..EACH {
                        let id = t * 1000 + i + 1;
                        let seq = journal.enqueue(id, &id.to_le_bytes()).unwrap();
                        // Returned only once synced; sequence numbers of one
                        // thread go up.
                        assert!(journal.durable_seq() >= seq);
                        assert!(seq > last);
                        last = seq;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let stats = journal.stats();
        // Each new segment's Start record counts too.
        assert!(stats.records >= THREADS * EACH);
        assert!(
            stats.max_batch > 1,
            "no batch held more than one record: {stats:?}"
        );
        assert!(stats.syncs < THREADS * EACH, "a sync per record: {stats:?}");
    }
    let (_journal, replay) = open(dir.path(), options).unwrap();
    assert_eq!(replay.messages.len() as u64, THREADS * EACH);
    let mut per_thread: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for m in &replay.messages {
        assert_eq!(m.payload, m.id.to_le_bytes());
        per_thread.entry(m.id / 1000).or_default().push(m.id % 1000);
    }
    for (t, ids) in per_thread {
        assert_eq!(ids, (1..=EACH).collect::<Vec<_>>(), "thread {t}'s order");
    }
}

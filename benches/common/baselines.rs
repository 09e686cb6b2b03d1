//! The durability benches' shared parts (`journal` and `durable`, issue 12):
//! scratch directories, the fixed-duration rate runner, and the two
//! hand-written baselines every confirmed-append figure is compared with.
//!
//! - [`fsync_each`]: baseline (a), one file, `write` then `sync_data` for
//!   every record (threads take turns on a mutex);
//! - [`writer_64`]: baseline (b), one writer thread receives records over a
//!   channel, writes each, syncs after 64 records or when nothing more is
//!   waiting, then replies to each sender.
//!
//! The baselines append to a plain file (no preallocation), as the simplest
//! hand-written log would.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A directory in the temp dir, removed when dropped.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    /// `postbox-bench-{bench}-{pid}-{name}` in the temp dir, emptied.
    pub(crate) fn new(bench: &str, name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!(
            "postbox-bench-{bench}-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment variable `name` as a number, or `default`.
pub(crate) fn env_f64(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Runs `append(thread, i)` on `threads` threads for `secs` seconds; returns
/// records per second (every append that returned is counted).
pub(crate) fn run(threads: usize, secs: f64, append: impl Fn(usize, u64) + Sync) -> f64 {
    run_with(threads, secs, |t| t, |t, i| append(*t, i))
}

/// [`run`] with per-thread state: `setup(thread)` runs on each thread before
/// the start (a cloned handle, say), then `step(&mut state, i)` until the
/// time is up. Returns steps per second.
pub(crate) fn run_with<S>(
    threads: usize,
    secs: f64,
    setup: impl Fn(usize) -> S + Sync,
    step: impl Fn(&mut S, u64) + Sync,
) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    let (stop, done, barrier, setup, step) = (&stop, &done, &barrier, &setup, &step);
    let elapsed = thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut state = setup(t);
                barrier.wait();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    step(&mut state, i);
                    i += 1;
                }
                done.fetch_add(i, Ordering::Relaxed);
            });
        }
        barrier.wait();
        let start = Instant::now();
        thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        start
    })
    .elapsed();
    done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

/// Baseline (a): `write` + `sync_data` per record, threads taking turns.
/// Returns records per second.
pub(crate) fn fsync_each(bench: &str, threads: usize, record: &[u8], secs: f64) -> f64 {
    let dir = Scratch::new(bench, "fsync-each");
    let file = Mutex::new(open_append(&dir.path().join("log")));
    run(threads, secs, |_, _| {
        let mut file = file.lock().unwrap();
        file.write_all(record).unwrap();
        file.sync_data().unwrap();
    })
}

/// Baseline (b): one writer thread, a sync per 64 records (or fewer when
/// nothing more waits), a reply to each sender after its sync. Returns
/// records per second.
pub(crate) fn writer_64(bench: &str, threads: usize, record: &[u8], secs: f64) -> f64 {
    type Reply = crossbeam_channel::Sender<()>;
    let dir = Scratch::new(bench, "writer-64");
    let mut file = open_append(&dir.path().join("log"));
    let (tx, rx) = crossbeam_channel::unbounded::<(Vec<u8>, Reply)>();
    let writer = thread::spawn(move || {
        let mut batch: Vec<Reply> = Vec::with_capacity(64);
        while let Ok((bytes, reply)) = rx.recv() {
            file.write_all(&bytes).unwrap();
            batch.push(reply);
            while batch.len() < 64 {
                match rx.try_recv() {
                    Ok((bytes, reply)) => {
                        file.write_all(&bytes).unwrap();
                        batch.push(reply);
                    }
                    Err(_) => break,
                }
            }
            file.sync_data().unwrap();
            for reply in batch.drain(..) {
                let _ = reply.send(());
            }
        }
    });
    let rate = run(threads, secs, |_, _| {
        let (reply, confirmed) = crossbeam_channel::bounded(1);
        tx.send((record.to_vec(), reply)).unwrap();
        confirmed.recv().unwrap();
    });
    drop(tx);
    writer.join().unwrap();
    rate
}

/// `path` opened for appending (created if needed).
pub(crate) fn open_append(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

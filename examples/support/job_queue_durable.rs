//! `--durable DIR` for `examples/job_queue.rs`: the jobs mailbox kept in a
//! write-ahead log in DIR, so that a run killed in the middle (Ctrl-C,
//! `kill -9`) loses no accepted request: the next run with the same DIR
//! gets them back ("recovered") and works through them with its own.
//!
//! The mailbox is the same office mailbox as without `--durable`, made with
//! `PostOffice::create_durable` (`job_queue.rs`, `open_jobs_mailbox`):
//! producers and workers connect to it by name, and its dead letters, those
//! of recovered requests too, go to the office's store with their reasons.
//! Main closes it at the end of a run but does not destroy it: destroying a
//! durable office mailbox removes its messages from the log, and the log is
//! what the next run recovers from.
//!
//! Here: the log and its codec, what a run finds in the log when it opens
//! it (`Recovered`, printed and used by the tally), and what it leaves there.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use postbox::{Codec, CodecError, DeadLetter, Durable, MailboxStats, SyncPolicy};

use crate::records::Run;
use crate::workload::{Style, Tier};
use crate::ProfileRequest;

/// The jobs mailbox's log in `dir`: `SyncPolicy::Buffered`, a send returns
/// once the OS has the record, which survives the process being killed
/// (not the machine losing power).
pub(crate) fn log(dir: &Path) -> Durable<RequestCodec> {
    Durable::at(dir)
        .codec(RequestCodec)
        .sync(SyncPolicy::Buffered)
}

/// This run's stamp, carried by every request it makes: its start, in µs
/// since 1970. User ids are unique within a run, so a request recovered from
/// the log is named by the run that made it and its user id.
pub(crate) fn run_stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What a killed run left in the log, as this run found it when the log
/// opened: all zero without `--durable`, or after a run that finished.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Recovered {
    /// Requests recovered: queued again, or dead-lettered at once.
    pub(crate) requests: u64,
    /// Of those, flagged as possibly delivered (a worker of the killed run
    /// held them): counted as redelivered at open, one more try each.
    pub(crate) flagged: u64,
    /// Of those, past their last try: dead-lettered at open
    /// (`MaxRedeliveries`).
    pub(crate) dead_at_open: u64,
}

impl Recovered {
    /// Read from the jobs mailbox's statistics right after it is created,
    /// before anything is sent: what it holds came from the log.
    pub(crate) fn at_open(stats: &MailboxStats) -> Recovered {
        Recovered {
            requests: stats.len as u64 + stats.dead_lettered,
            flagged: stats.redelivered,
            dead_at_open: stats.dead_lettered,
        }
    }

    pub(crate) fn print(&self, dir: &Path) {
        println!(
            "  -> recovered {} requests from the log in {} ({} flagged as possibly delivered, \
             {} of them past their last try)\n",
            self.requests,
            dir.display(),
            self.flagged,
            self.dead_at_open
        );
    }

    /// For the tally: the redelivery counts the recovered requests brought
    /// in from the killed run (their count when a worker of this run first
    /// took them; a dead letter's own count if none did).
    pub(crate) fn brought_in(run: &Run) -> u64 {
        let acked = run.workers.iter().flat_map(|w| &w.done);
        let acked: u64 = acked
            .filter_map(|d| d.recovered)
            .map(|(_, c)| u64::from(c))
            .sum();
        let dead = run.letters.iter().filter(|l| l.body().recovered);
        let dead: u64 = dead
            .map(|l| u64::from(l.body().carried.unwrap_or(l.header().redeliveries())))
            .sum();
        acked + dead
    }

    /// For the tally: where the recovered requests ended, each named by the
    /// run that made it and its user id (unique within that run). A
    /// recovered request is acked or dead-lettered, never handed back: it is
    /// not sent again. Returns how many are not in exactly one place, and
    /// how many were found.
    pub(crate) fn places(run: &Run) -> (u64, u64) {
        let acked = run.workers.iter().flat_map(|w| &w.done);
        let acked = acked.filter_map(|d| d.recovered.map(|(from, _)| (from, d.user_id)));
        let dead = run.letters.iter().map(|l| l.body()).filter(|r| r.recovered);
        let mut places: HashMap<(u64, u64), u8> = HashMap::new();
        for key in acked.chain(dead.map(|r| (r.run, r.user_id))) {
            *places.entry(key).or_default() += 1;
        }
        let misplaced = places.values().filter(|&&n| n != 1).count();
        (misplaced as u64, places.len() as u64)
    }
}

/// For the tally: whether a dead letter had its last try, `max` being the
/// mailbox's `max_redeliveries`: a request is tried `max` + 1 times. A
/// recovered one may have had its last try in the killed run, which the open
/// counted again (flagged as possibly delivered): one more then.
pub(crate) fn last_try(letter: &DeadLetter<ProfileRequest>, max: u32) -> bool {
    let redeliveries = letter.header().redeliveries();
    redeliveries == max || (letter.body().recovered && redeliveries == max + 1)
}

/// For the report: what the log keeps for the next run. The mailbox is
/// closed, not destroyed (that would empty the log): what is neither acked
/// nor dead-lettered stays, which is nothing once the run has settled.
pub(crate) fn print_kept(dir: &Path, stats: &MailboxStats) {
    let kept = stats.len as u64 + stats.unacked + stats.delayed;
    println!(
        "log in {}: keeps {kept} requests for the next run (neither acked nor dead-lettered; \
         the mailbox is closed, not destroyed, which would empty the log)",
        dir.display()
    );
}

/// A request in the log: user id, run, style, tier and the corrupt flag,
/// 19 bytes. The times are this process's: a recovered request is
/// submitted again when the log is opened, and flagged `recovered`.
pub(crate) struct RequestCodec;

const NAME: &str = "job_queue-request-v1";

impl Codec<ProfileRequest> for RequestCodec {
    fn name(&self) -> String {
        NAME.into()
    }

    fn encode(&self, r: &ProfileRequest, out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend_from_slice(&r.user_id.to_le_bytes());
        out.extend_from_slice(&r.run.to_le_bytes());
        let style = Style::ALL.iter().position(|s| *s == r.style).unwrap_or(0);
        let tier = Tier::ALL.iter().position(|t| *t == r.tier).unwrap_or(0);
        out.extend_from_slice(&[style as u8, tier as u8, u8::from(r.corrupt)]);
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<ProfileRequest, CodecError> {
        let bad = || CodecError::new(NAME, "not a request");
        let bytes: &[u8; 19] = bytes.try_into().map_err(|_| bad())?;
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        Ok(ProfileRequest {
            user_id: u64_at(0),
            run: u64_at(8),
            style: *Style::ALL.get(usize::from(bytes[16])).ok_or_else(bad)?,
            tier: *Tier::ALL.get(usize::from(bytes[17])).ok_or_else(bad)?,
            submitted: Instant::now(),
            first_taken: None,
            carried: None,
            corrupt: bytes[18] != 0,
            recovered: true,
        })
    }
}

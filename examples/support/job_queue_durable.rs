//! `--durable DIR` for `examples/job_queue.rs`: the jobs mailbox kept in a
//! write-ahead log in DIR, so that a run killed in the middle (Ctrl-C,
//! `kill -9`) loses no accepted request: the next run with the same DIR
//! gets them back ("recovered") and works through them with its own.
//!
//! The office cannot hold a durable mailbox yet, so a durable jobs mailbox
//! is a standalone one: workers get a clone of its receiver, producers a
//! clone of its sender (the mailbox closes when the last producer is done),
//! and its dead letters go to a typed mailbox, which keeps messages but not
//! their reasons (the tally labels them `MaxRedeliveries`, the only reason
//! this example produces, and checks that against the mailbox's counts per
//! reason).

use std::time::Instant;

use postbox::{Codec, CodecError, DeadLetterReason, Header, Message};

use crate::workload::{Style, Tier};
use crate::ProfileRequest;

/// A dead letter: the office's (`DeadLetter`) or the durable mailbox's.
#[derive(Debug)]
pub(crate) struct Letter {
    reason: DeadLetterReason,
    header: Header,
    body: ProfileRequest,
}

impl Letter {
    pub(crate) fn new(reason: DeadLetterReason, msg: Message<ProfileRequest>) -> Letter {
        let (header, body) = msg.into_parts();
        Letter {
            reason,
            header,
            body,
        }
    }

    pub(crate) fn reason(&self) -> DeadLetterReason {
        self.reason
    }

    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    pub(crate) fn body(&self) -> &ProfileRequest {
        &self.body
    }
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

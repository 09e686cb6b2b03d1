//! One log record: its kinds, its bytes, and reading it back without ever
//! trusting those bytes.
//!
//! The layout (all integers little-endian) is in the module docs of
//! `journal`. Decoding checks, in this order: the length field fits the
//! bytes that are there, the CRC matches, the kind is known and its body has
//! the kind's length. Every failure is a [`Defect`], never a panic: every
//! read is a checked slice (`get`) and every sum a checked one.

use std::fmt;

/// Bytes before the part the CRC covers: the length and the CRC.
pub(crate) const FRAME: usize = 8;

/// The smallest value of the length field: a sequence number and a kind.
pub(crate) const MIN_LEN: usize = 9;

/// The offset of the body in a record.
const BODY: usize = FRAME + MIN_LEN;

/// The byte that says what a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// The first record of every segment.
    Start = 1,
    /// A message entered the log.
    Enqueue = 2,
    /// A message was acknowledged: it is gone.
    Ack = 3,
    /// A message went to dead letters: it is gone.
    DeadLetter = 4,
    /// A message was handed to a consumer.
    Delivered = 5,
    /// A consumer gave a message back.
    Requeued = 6,
    /// Every handle closed cleanly: no message is in a consumer's hands.
    CleanClose = 7,
    /// Messages with ids in a range may be handed to consumers without a
    /// record each (see "Delivery ranges" in the module docs of `journal`).
    DeliveredRange = 8,
    /// Messages with ids in a range were all acknowledged: consecutive
    /// acks in one record (a log whose meta says so only: see
    /// `segment::META_MAGIC`).
    AckRange = 9,
}

impl Kind {
    /// The kind a byte names, if any.
    fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Start,
            2 => Kind::Enqueue,
            3 => Kind::Ack,
            4 => Kind::DeadLetter,
            5 => Kind::Delivered,
            6 => Kind::Requeued,
            7 => Kind::CleanClose,
            8 => Kind::DeliveredRange,
            9 => Kind::AckRange,
            _ => return None,
        })
    }
}

/// A record's meaning, the payload borrowed from where it was read or is
/// written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// The first record of a segment: the highest message id the log had
    /// seen when the segment began, so that deleting older segments never
    /// lets an id be handed out twice.
    Start {
        /// The highest id seen before this segment.
        max_id: u64,
    },
    /// A message and its body.
    Enqueue {
        /// The message's id.
        id: u64,
        /// The encoded message.
        payload: &'a [u8],
    },
    /// A message was acknowledged.
    Ack {
        /// The message's id.
        id: u64,
    },
    /// A message went to dead letters.
    DeadLetter {
        /// The message's id.
        id: u64,
    },
    /// A message was handed to a consumer.
    Delivered {
        /// The message's id.
        id: u64,
    },
    /// A message was given back by a consumer.
    Requeued {
        /// The message's id.
        id: u64,
        /// Its redelivery count from now on.
        redeliveries: u32,
    },
    /// Every handle closed cleanly.
    CleanClose,
    /// Any message with an id in `first..=last` may be handed to a
    /// consumer from now on without a record of its own.
    DeliveredRange {
        /// The lowest id covered.
        first: u64,
        /// The highest id covered (at least `first`).
        last: u64,
    },
    /// Every message with an id in `first..=last` was acknowledged (ids
    /// in it that are not live are ignored, as an `Ack` of one is).
    AckRange {
        /// The lowest id acked.
        first: u64,
        /// The highest id acked (above `first`).
        last: u64,
    },
}

impl Record<'_> {
    /// The record's kind.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Record::Start { .. } => Kind::Start,
            Record::Enqueue { .. } => Kind::Enqueue,
            Record::Ack { .. } => Kind::Ack,
            Record::DeadLetter { .. } => Kind::DeadLetter,
            Record::Delivered { .. } => Kind::Delivered,
            Record::Requeued { .. } => Kind::Requeued,
            Record::CleanClose => Kind::CleanClose,
            Record::DeliveredRange { .. } => Kind::DeliveredRange,
            Record::AckRange { .. } => Kind::AckRange,
        }
    }

    /// The message id the record is about, if it is about one; for a
    /// range, its highest id (so that the log's highest id, from which new
    /// ids start after a reopen, is above every range: no new message falls
    /// in the range of an earlier run).
    pub(crate) fn id(&self) -> Option<u64> {
        match *self {
            Record::Enqueue { id, .. }
            | Record::Ack { id }
            | Record::DeadLetter { id }
            | Record::Delivered { id }
            | Record::Requeued { id, .. }
            | Record::DeliveredRange { last: id, .. }
            | Record::AckRange { last: id, .. } => Some(id),
            Record::Start { .. } | Record::CleanClose => None,
        }
    }

    /// The length of the body.
    fn body_len(&self) -> usize {
        match self {
            Record::Start { .. }
            | Record::Ack { .. }
            | Record::DeadLetter { .. }
            | Record::Delivered { .. } => 8,
            Record::Enqueue { payload, .. } => 8 + payload.len(),
            Record::Requeued { .. } => 12,
            Record::DeliveredRange { .. } | Record::AckRange { .. } => 16,
            Record::CleanClose => 0,
        }
    }

    /// The whole record's size on disk, or `None` if its length field cannot
    /// hold it (a body of 4 GiB or more).
    pub(crate) fn size(&self) -> Option<usize> {
        let len = MIN_LEN.checked_add(self.body_len())?;
        u32::try_from(len).ok()?;
        FRAME.checked_add(len)
    }

    /// Appends the record to `out` with a zero sequence number and CRC, to
    /// be [`seal`]ed once its sequence number is known. The caller checked
    /// [`size`](Record::size).
    pub(crate) fn encode_unsealed(&self, out: &mut Vec<u8>) {
        let len = (MIN_LEN + self.body_len()) as u32;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // crc, set by `seal`
        out.extend_from_slice(&[0; 8]); // seq, set by `seal`
        out.push(self.kind() as u8);
        match *self {
            Record::Start { max_id: v }
            | Record::Ack { id: v }
            | Record::DeadLetter { id: v }
            | Record::Delivered { id: v } => out.extend_from_slice(&v.to_le_bytes()),
            Record::Enqueue { id, payload } => {
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(payload);
            }
            Record::Requeued { id, redeliveries } => {
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&redeliveries.to_le_bytes());
            }
            Record::DeliveredRange { first, last } | Record::AckRange { first, last } => {
                out.extend_from_slice(&first.to_le_bytes());
                out.extend_from_slice(&last.to_le_bytes());
            }
            Record::CleanClose => {}
        }
    }
}

/// Sets the sequence number of the record that starts at `at` in `buf`
/// (written by [`Record::encode_unsealed`]) and computes its CRC.
pub(crate) fn seal(buf: &mut [u8], at: usize, seq: u64) {
    let Some(record) = buf.get_mut(at..) else {
        return;
    };
    let len = read_u32(record, 0).unwrap_or(0) as usize;
    if let Some(slot) = record.get_mut(FRAME..FRAME + 8) {
        slot.copy_from_slice(&seq.to_le_bytes());
    }
    let crc = record.get(FRAME..FRAME + len).map_or(0, crc32fast::hash);
    if let Some(slot) = record.get_mut(4..8) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
}

/// What is wrong with the bytes where a record should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Defect {
    /// Fewer than four bytes left, not all zero: a length field cut short.
    ShortLength,
    /// The length field is below the smallest record.
    ImpossibleLength(u32),
    /// The record would run past the end of the segment.
    PastEnd {
        /// The record's length field.
        len: u32,
        /// The bytes left in the segment after the frame.
        left: usize,
    },
    /// The CRC does not match.
    Checksum,
    /// The kind byte names no kind.
    UnknownKind(u8),
    /// The body's length is not the one its kind has.
    BodyLength {
        /// The kind.
        kind: Kind,
        /// The body's length.
        len: usize,
    },
    /// The sequence number is not the one expected here.
    Sequence {
        /// The expected sequence number.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// Non-zero bytes after the zero length field that ends the segment.
    DataAfterEnd,
    /// The segment does not begin with its `Start` record.
    NoStart,
    /// A `Start` record after the first record.
    MisplacedStart,
    /// A segment before the last one ends without the zero length field
    /// that ends every complete segment: it was cut short.
    Unterminated,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::ShortLength => write!(f, "length field cut short"),
            Defect::ImpossibleLength(len) => {
                write!(
                    f,
                    "impossible record length {len} (the smallest is {MIN_LEN})"
                )
            }
            Defect::PastEnd { len, left } => write!(
                f,
                "record length {len} runs past the end of the segment ({left} bytes left)"
            ),
            Defect::Checksum => write!(f, "checksum mismatch"),
            Defect::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
            Defect::BodyLength { kind, len } => {
                write!(f, "a {kind:?} record cannot have a {len}-byte body")
            }
            Defect::Sequence { expected, found } => {
                write!(f, "sequence number {found} where {expected} was expected")
            }
            Defect::DataAfterEnd => write!(f, "data after the end of the segment's records"),
            Defect::NoStart => write!(f, "the segment does not begin with a start record"),
            Defect::MisplacedStart => write!(f, "a start record inside the segment"),
            Defect::Unterminated => {
                write!(f, "the segment ends without its end marker (cut short)")
            }
        }
    }
}

/// What the bytes at an offset hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// The end of the segment's records: a zero length field, or the end of
    /// the bytes.
    End,
    /// A valid record (CRC and layout checked; its sequence number is the
    /// caller's to check), and the offset of the next one.
    Record {
        /// The record's sequence number.
        seq: u64,
        /// The record.
        record: Record<'a>,
        /// Where the next record starts.
        next: usize,
    },
    /// Not a record.
    Bad(Defect),
}

/// Reads the record at `at` in `buf`.
pub(crate) fn decode(buf: &[u8], at: usize) -> Step<'_> {
    let rest = buf.get(at..).unwrap_or(&[]);
    if rest.is_empty() {
        return Step::End;
    }
    let Some(len) = read_u32(rest, 0) else {
        return if rest.iter().all(|&b| b == 0) {
            Step::End
        } else {
            Step::Bad(Defect::ShortLength)
        };
    };
    if len == 0 {
        return Step::End;
    }
    if (len as usize) < MIN_LEN {
        return Step::Bad(Defect::ImpossibleLength(len));
    }
    let left = rest.len().saturating_sub(FRAME);
    let Some(covered) = rest.get(FRAME..FRAME + len as usize) else {
        return Step::Bad(Defect::PastEnd { len, left });
    };
    if read_u32(rest, 4) != Some(crc32fast::hash(covered)) {
        return Step::Bad(Defect::Checksum);
    }
    let seq = read_u64(rest, FRAME).unwrap_or(0);
    let kind_byte = rest.get(FRAME + 8).copied().unwrap_or(0);
    let Some(kind) = Kind::from_byte(kind_byte) else {
        return Step::Bad(Defect::UnknownKind(kind_byte));
    };
    let body = rest.get(BODY..FRAME + len as usize).unwrap_or(&[]);
    let record = match parse_body(kind, body) {
        Some(record) => record,
        None => {
            return Step::Bad(Defect::BodyLength {
                kind,
                len: body.len(),
            })
        }
    };
    Step::Record {
        seq,
        record,
        next: at + FRAME + len as usize,
    }
}

/// The record a body of `kind` holds, or `None` if its length is wrong.
fn parse_body(kind: Kind, body: &[u8]) -> Option<Record<'_>> {
    let fixed = |n: usize| (body.len() == n).then_some(());
    Some(match kind {
        Kind::Start => {
            fixed(8)?;
            Record::Start {
                max_id: read_u64(body, 0)?,
            }
        }
        Kind::Enqueue => Record::Enqueue {
            id: read_u64(body, 0)?,
            payload: body.get(8..)?,
        },
        Kind::Ack => {
            fixed(8)?;
            Record::Ack {
                id: read_u64(body, 0)?,
            }
        }
        Kind::DeadLetter => {
            fixed(8)?;
            Record::DeadLetter {
                id: read_u64(body, 0)?,
            }
        }
        Kind::Delivered => {
            fixed(8)?;
            Record::Delivered {
                id: read_u64(body, 0)?,
            }
        }
        Kind::Requeued => {
            fixed(12)?;
            Record::Requeued {
                id: read_u64(body, 0)?,
                redeliveries: read_u32(body, 8)?,
            }
        }
        Kind::CleanClose => {
            fixed(0)?;
            Record::CleanClose
        }
        Kind::DeliveredRange => {
            fixed(16)?;
            let (first, last) = (read_u64(body, 0)?, read_u64(body, 8)?);
            // An empty range is never written: a body that says one is
            // not ours.
            (first <= last).then_some(())?;
            Record::DeliveredRange { first, last }
        }
        Kind::AckRange => {
            fixed(16)?;
            let (first, last) = (read_u64(body, 0)?, read_u64(body, 8)?);
            // The writer writes a lone ack as an `Ack`: a range of one or
            // none is not ours.
            (first < last).then_some(())?;
            Record::AckRange { first, last }
        }
    })
}

/// The little-endian `u32` at `at`, if the bytes are there.
pub(crate) fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The little-endian `u64` at `at`, if the bytes are there.
pub(crate) fn read_u64(buf: &[u8], at: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(record: &Record<'_>, seq: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        record.encode_unsealed(&mut buf);
        seal(&mut buf, 0, seq);
        buf
    }

    #[test]
    fn every_kind_round_trips() {
        let records = [
            Record::Start { max_id: 9 },
            Record::Enqueue {
                id: 3,
                payload: b"hello",
            },
            Record::Enqueue {
                id: 4,
                payload: b"",
            },
            Record::Ack { id: 3 },
            Record::DeadLetter { id: 4 },
            Record::Delivered { id: u64::MAX },
            Record::Requeued {
                id: 5,
                redeliveries: 7,
            },
            Record::CleanClose,
            Record::DeliveredRange {
                first: 5,
                last: u64::MAX,
            },
        ];
        for (i, record) in records.iter().enumerate() {
            let buf = sealed(record, 100 + i as u64);
            assert_eq!(Some(buf.len()), record.size());
            match decode(&buf, 0) {
                Step::Record {
                    seq,
                    record: r,
                    next,
                } => {
                    assert_eq!((seq, r, next), (100 + i as u64, *record, buf.len()));
                }
                other => panic!("{record:?} decoded as {other:?}"),
            }
        }
    }

    #[test]
    fn zeros_and_nothing_are_the_end() {
        assert_eq!(decode(&[], 0), Step::End);
        assert_eq!(decode(&[0; 3], 0), Step::End);
        assert_eq!(decode(&[0; 64], 0), Step::End);
        assert_eq!(decode(&[1, 2], 5), Step::End);
    }

    #[test]
    fn every_defect_is_reported() {
        let good = sealed(&Record::Ack { id: 1 }, 1);
        assert_eq!(decode(&[0, 1], 0), Step::Bad(Defect::ShortLength));
        assert_eq!(
            decode(&[3, 0, 0, 0, 0, 0, 0, 0], 0),
            Step::Bad(Defect::ImpossibleLength(3))
        );
        assert!(matches!(
            decode(&good[..good.len() - 1], 0),
            Step::Bad(Defect::PastEnd { .. })
        ));
        let mut flipped = good.clone();
        flipped[12] ^= 1;
        assert_eq!(decode(&flipped, 0), Step::Bad(Defect::Checksum));
        // A wrong kind or body length with a CRC that matches: a bug or
        // a future version, not a torn write.
        let mut unknown = good.clone();
        unknown[16] = 99;
        let crc = crc32fast::hash(&unknown[8..]);
        unknown[4..8].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&unknown, 0), Step::Bad(Defect::UnknownKind(99)));
        let mut short = Vec::new();
        Record::CleanClose.encode_unsealed(&mut short);
        short[16] = Kind::Ack as u8;
        seal(&mut short, 0, 1);
        assert_eq!(
            decode(&short, 0),
            Step::Bad(Defect::BodyLength {
                kind: Kind::Ack,
                len: 0
            })
        );
    }
}

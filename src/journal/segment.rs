//! The files of a log: segment names, reading one segment's records in
//! order, and the meta file that holds the log's format tag.
//!
//! A segment is named by the sequence number of its first record, zero-padded
//! to 20 digits so that names sort as numbers do. It is preallocated, so it
//! ends in zeros: a zero length field is the end of its records. Within a
//! segment sequence numbers go up by one from the name on; any other number
//! means the bytes are not what this log wrote there.

use super::record::{self, Defect, Record, Step};

/// The suffix of segment files.
const SUFFIX: &str = ".seg";

/// The name of the meta file.
pub(crate) const META_FILE: &str = "META";

/// The first bytes of the meta file of a log made by this version: its
/// segments may hold `AckRange` records (kind 9). Builds from before that
/// record know only [`META_MAGIC_V1`]: they take this meta file for an
/// unreadable one and refuse the log (`OpenError::Corrupt`, "the meta file
/// is missing or unreadable") rather than meet a kind they do not know,
/// which in the last segment they would cut off as a torn tail, undoing
/// acks.
const META_MAGIC: &[u8; 8] = b"PBJRNL02";

/// The first bytes of the meta file of a log made before `AckRange`: it is
/// read as before, and written to with an `Ack` per message, so that the
/// builds that made it can still open it.
const META_MAGIC_V1: &[u8; 8] = b"PBJRNL01";

/// What a meta file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The format tag.
    pub(crate) format: String,
    /// Whether `AckRange` records may be written to the log (its meta file
    /// has the current magic).
    pub(crate) ack_ranges: bool,
}

/// The file name of the segment whose first record has sequence number `seq`.
pub(crate) fn name(seq: u64) -> String {
    format!("{seq:020}{SUFFIX}")
}

/// The first sequence number of the segment file `name`, or `None` if it is
/// not a segment's name.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// How reading a segment ended.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Where its valid records end (where the next record would go).
    pub(crate) end: usize,
    /// The sequence number of its last valid record, if it has one.
    pub(crate) last_seq: Option<u64>,
    /// The valid records read.
    pub(crate) records: u64,
    /// The first thing that is not a valid record, and where it is
    /// (`end`), if the segment does not end cleanly.
    pub(crate) defect: Option<Defect>,
}

/// Reads the records of a segment named `first_seq` from its bytes, in
/// order, handing each valid one to `on_record`, and stops at the end of its
/// records or at the first defect. A segment that is not the `last` must be
/// complete: begin with a `Start` record and end with a zero length field
/// (the writer always leaves room for one).
pub(crate) fn scan<'a>(
    buf: &'a [u8],
    first_seq: u64,
    last: bool,
    mut on_record: impl FnMut(u64, Record<'a>),
) -> Scan {
    let mut scan = Scan::default();
    let mut expected = first_seq;
    loop {
        match record::decode(buf, scan.end) {
            Step::End => {
                // Past the zero length field only preallocated zeros may
                // follow: anything else was written and then lost its start.
                let rest = buf.get(scan.end..).unwrap_or(&[]);
                if rest.iter().any(|&b| b != 0) {
                    scan.defect = Some(Defect::DataAfterEnd);
                } else if !last && scan.records == 0 {
                    scan.defect = Some(Defect::NoStart);
                } else if !last && rest.len() < 4 {
                    scan.defect = Some(Defect::Unterminated);
                }
                return scan;
            }
            Step::Bad(defect) => {
                scan.defect = Some(defect);
                return scan;
            }
            Step::Record { seq, record, next } => {
                let is_start = matches!(record, Record::Start { .. });
                let defect = if seq != expected {
                    Some(Defect::Sequence {
                        expected,
                        found: seq,
                    })
                } else if scan.records == 0 && !is_start {
                    Some(Defect::NoStart)
                } else if scan.records > 0 && is_start {
                    Some(Defect::MisplacedStart)
                } else {
                    None
                };
                if defect.is_some() {
                    scan.defect = defect;
                    return scan;
                }
                on_record(seq, record);
                scan.records += 1;
                scan.last_seq = Some(seq);
                scan.end = next;
                expected = seq.wrapping_add(1);
            }
        }
    }
}

/// The number of bytes from `from` to the last non-zero byte of `buf`
/// (inclusive): what cutting the segment at `from` throws away.
///
/// A fresh segment is megabytes of zeros, so the scan goes back in 64-byte
/// chunks (each one's bytes ORed together) and looks byte by byte only in
/// the chunk that holds the last non-zero byte (or in the unaligned head):
/// the same result as `rposition` over the bytes, at about a tenth of the
/// instructions.
pub(crate) fn written_after(buf: &[u8], from: usize) -> u64 {
    const CHUNK: usize = 64;
    let rest = buf.get(from..).unwrap_or(&[]);
    let chunks = rest.rchunks_exact(CHUNK);
    // The first `rest.len() % CHUNK` bytes, which no whole chunk holds.
    let head = chunks.remainder().len();
    let mut end = rest.len();
    for chunk in chunks {
        if !all_zero(chunk) {
            break;
        }
        end -= CHUNK;
    }
    // `end` ends the chunk that holds the last non-zero byte, or the head
    // if every whole chunk is zeros: only that stretch is looked at bytewise.
    let start = if end > head { end - CHUNK } else { 0 };
    rest.get(start..end)
        .unwrap_or(&[])
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| (start + i) as u64 + 1)
}

/// Whether a chunk is all zeros: its bytes ORed, with no early exit, which
/// the compiler turns into a few wide loads and ORs.
#[inline]
fn all_zero(chunk: &[u8]) -> bool {
    chunk.iter().fold(0u8, |acc, &b| acc | b) == 0
}

/// The meta file's bytes for a log of format `format`: magic, the tag's
/// length (u32 LE), the tag, and a CRC-32 of all that (u32 LE).
pub(crate) fn encode_meta(format: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 + format.len());
    buf.extend_from_slice(META_MAGIC);
    buf.extend_from_slice(&(format.len() as u32).to_le_bytes());
    buf.extend_from_slice(format.as_bytes());
    let crc = crc32fast::hash(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

/// What the meta file's bytes say, or `None` if they are not a whole,
/// intact meta file of either version.
pub(crate) fn decode_meta(buf: &[u8]) -> Option<Meta> {
    let magic = buf.get(..8)?;
    let ack_ranges = if magic == META_MAGIC {
        true
    } else if magic == META_MAGIC_V1 {
        false
    } else {
        return None;
    };
    let len = record::read_u32(buf, 8)? as usize;
    let body_end = 12usize.checked_add(len)?;
    let tag = buf.get(12..body_end)?;
    let crc = record::read_u32(buf, body_end)?;
    if buf.len() != body_end + 4 || crc32fast::hash(buf.get(..body_end)?) != crc {
        return None;
    }
    let format = String::from_utf8(tag.to_vec()).ok()?;
    Some(Meta { format, ack_ranges })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[Record<'_>], first_seq: u64, size: usize) -> Vec<u8> {
        let mut buf = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let at = buf.len();
            r.encode_unsealed(&mut buf);
            record::seal(&mut buf, at, first_seq + i as u64);
        }
        buf.resize(size.max(buf.len()), 0);
        buf
    }

    #[test]
    fn names_sort_as_numbers_and_parse_back() {
        assert_eq!(name(1), "00000000000000000001.seg");
        assert!(name(9) < name(10));
        for seq in [0, 1, 42, u64::MAX] {
            assert_eq!(parse_name(&name(seq)), Some(seq));
        }
        for bad in [
            "LOCK",
            "META",
            "1.seg",
            "0000000000000000000x.seg",
            "99999999999999999999.seg",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn scan_stops_at_the_zeros() {
        let records = [Record::Start { max_id: 0 }, Record::Ack { id: 1 }];
        let buf = segment(&records, 5, 4096);
        let mut seen = Vec::new();
        let scan = scan(&buf, 5, false, |seq, r| seen.push((seq, r)));
        assert_eq!(seen, vec![(5, records[0]), (6, records[1])]);
        assert_eq!(
            (scan.records, scan.last_seq, scan.defect),
            (2, Some(6), None)
        );
        assert_eq!(written_after(&buf, scan.end), 0);
    }

    #[test]
    fn scan_reports_where_the_records_stop() {
        let records = [Record::Start { max_id: 0 }, Record::Ack { id: 1 }];
        // Numbered from 6 in a segment named 5.
        let buf = segment(&records, 6, 100);
        let scan1 = scan(&buf, 5, true, |_, _| {});
        assert_eq!(
            scan1.defect,
            Some(Defect::Sequence {
                expected: 5,
                found: 6
            })
        );
        assert_eq!(scan1.end, 0);
        // A stray byte after the end.
        let mut buf = segment(&records, 5, 100);
        buf[90] = 1;
        let scan2 = scan(&buf, 5, true, |_, _| {});
        assert_eq!(scan2.defect, Some(Defect::DataAfterEnd));
        assert_eq!(scan2.records, 2);
        assert_eq!(written_after(&buf, scan2.end), 90 - scan2.end as u64 + 1);
    }

    /// `written_after` as it was: `rposition` over every byte.
    fn written_after_bytewise(buf: &[u8], from: usize) -> u64 {
        let rest = buf.get(from..).unwrap_or(&[]);
        rest.iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i as u64 + 1)
    }

    #[test]
    fn written_after_matches_the_byte_scan() {
        for len in [0usize, 1, 7, 63, 64, 65, 127, 128, 200, 300] {
            let zeros = vec![0u8; len];
            let mut bufs = vec![zeros.clone()];
            // One non-zero byte at each offset, and a few pairs.
            for at in 0..len {
                let mut buf = zeros.clone();
                buf[at] = 0x80;
                bufs.push(buf.clone());
                buf[at / 2] = 1;
                bufs.push(buf);
            }
            if len > 0 {
                bufs.push(vec![0xa5; len]);
            }
            for buf in &bufs {
                // From the start, just before and after each byte, and
                // past the end.
                let mut froms: Vec<usize> = (0..=len + 2).collect();
                froms.push(usize::MAX);
                for from in froms {
                    assert_eq!(
                        written_after(buf, from),
                        written_after_bytewise(buf, from),
                        "len {len}, from {from}, buf {buf:?}"
                    );
                }
            }
        }
        // The last byte, after megabytes of zeros, and nothing after `from`.
        let mut big = vec![0u8; 1 << 20];
        assert_eq!(written_after(&big, 0), 0);
        *big.last_mut().unwrap() = 1;
        assert_eq!(written_after(&big, 0), 1 << 20);
        assert_eq!(written_after(&big, 5), (1 << 20) - 5);
        assert_eq!(written_after(&big, 1 << 20), 0);
        big[17] = 3;
        assert_eq!(written_after(&big, 18), (1 << 20) - 18);
    }

    #[test]
    fn a_segment_before_the_last_must_be_complete() {
        let start = Record::Start { max_id: 0 };
        let ack = Record::Ack { id: 1 };
        let exact = segment(&[start, ack], 1, 0);
        let defect = |buf: &[u8], last| scan(buf, 1, last, |_, _| {}).defect;
        // Cut right after a record: fine as the last segment (a crash),
        // not before it.
        assert_eq!(defect(&exact, true), None);
        assert_eq!(defect(&exact, false), Some(Defect::Unterminated));
        let mut room = exact.clone();
        room.extend_from_slice(&[0; 4]);
        assert_eq!(defect(&room, false), None);
        assert_eq!(defect(&[0; 64], false), Some(Defect::NoStart));
        assert_eq!(defect(&[0; 64], true), None);
        assert_eq!(defect(&segment(&[ack], 1, 64), true), Some(Defect::NoStart));
        assert_eq!(
            defect(&segment(&[start, start], 1, 64), true),
            Some(Defect::MisplacedStart)
        );
    }

    #[test]
    fn meta_round_trips_and_refuses_damage() {
        let buf = encode_meta("postcard:Job");
        let meta = decode_meta(&buf).unwrap();
        assert_eq!(
            (meta.format.as_str(), meta.ack_ranges),
            ("postcard:Job", true)
        );
        // A meta file of the version before `AckRange` is still read.
        let mut v1 = buf.clone();
        v1[..8].copy_from_slice(META_MAGIC_V1);
        let body_end = v1.len() - 4;
        let crc = crc32fast::hash(&v1[..body_end]);
        v1[body_end..].copy_from_slice(&crc.to_le_bytes());
        let meta = decode_meta(&v1).unwrap();
        assert_eq!(
            (meta.format.as_str(), meta.ack_ranges),
            ("postcard:Job", false)
        );
        for cut in 0..buf.len() {
            assert_eq!(decode_meta(&buf[..cut]), None);
        }
        for i in 0..buf.len() * 8 {
            let mut flipped = buf.clone();
            flipped[i / 8] ^= 1 << (i % 8);
            assert_eq!(decode_meta(&flipped), None, "bit {i}");
        }
    }
}

//! The spool's segment files: their names, the record format, and reading them back.
//!
//! A segment `spool-<seq>.log` is a sequence of records `len: u32 LE | crc32: u32 LE |
//! payload`, the payload being length-delimited `UserAction` protobufs (one record per
//! request). A torn or corrupt record at the end of a segment (a write cut by a crash) ends
//! that segment: it was never acknowledged, since its sync had not returned.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;

use actionlog::proto::UserAction;

/// A segment is sealed (and a new one started) once it holds this many bytes.
pub(super) const SEGMENT_BYTES: u64 = 8 << 20;
/// Record header: length and CRC-32 of the payload.
pub(super) const HEADER: usize = 8;
/// Bytes the forwarder reads at once (more when a single record is larger).
pub(super) const READ_CHUNK: usize = 1 << 20;

pub(super) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("spool-{seq:020}.log"))
}

/// The segment files of `dir`, by sequence number.
pub(super) fn segments(dir: &Path) -> std::io::Result<BTreeMap<u64, PathBuf>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = name
            .strip_prefix("spool-")
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.insert(seq, e.path());
        }
    }
    Ok(out)
}

pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The segment being appended to.
pub(super) struct Active {
    pub(super) seq: u64,
    pub(super) file: Arc<File>,
    pub(super) bytes: u64,
}

pub(super) fn create_segment(dir: &Path, seq: u64) -> std::io::Result<Active> {
    let file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, seq))?;
    // The new name must survive a power cut like the data synced into it.
    sync_dir(dir)?;
    Ok(Active {
        seq,
        file: Arc::new(file),
        bytes: 0,
    })
}

/// Encodes one request's actions as a spool record.
pub(super) fn encode_record(actions: &[UserAction]) -> Vec<u8> {
    let payload_len: usize = actions
        .iter()
        .map(|a| {
            let n = a.encoded_len();
            n + prost::length_delimiter_len(n)
        })
        .sum();
    let mut rec = Vec::with_capacity(HEADER + payload_len);
    rec.extend_from_slice(&[0; HEADER]);
    for a in actions {
        // Writing into a Vec cannot run out of room.
        let _ = a.encode_length_delimited(&mut rec);
    }
    let crc = crc32fast::hash(&rec[HEADER..]);
    let len = (rec.len() - HEADER) as u32;
    rec[..4].copy_from_slice(&len.to_le_bytes());
    rec[4..8].copy_from_slice(&crc.to_le_bytes());
    rec
}

fn header(buf: &[u8]) -> Option<(usize, u32)> {
    let len = u32::from_le_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    Some((len, crc))
}

/// The complete, intact records at the start of a buffer.
#[derive(Debug, Default)]
pub(super) struct Parsed {
    /// Their actions, in order.
    pub(super) actions: Vec<UserAction>,
    /// Per record: where it ends in the buffer, and how many actions precede that end.
    pub(super) ends: Vec<(usize, usize)>,
    /// Bytes the records span.
    pub(super) used: usize,
    /// Whether parsing stopped at a record that is complete but damaged (bad checksum or
    /// protobuf), rather than at the end of the data or of a batch.
    pub(super) corrupt: bool,
}

impl Parsed {
    /// Actions of the records that end at or before `until` bytes into the buffer.
    pub(super) fn actions_before(&self, until: usize) -> usize {
        self.ends
            .iter()
            .take_while(|(end, _)| *end <= until)
            .last()
            .map_or(0, |(_, n)| *n)
    }
}

/// Parses whole records from the start of `buf`, stopping at the first incomplete or
/// corrupt one, or after the record that brings the count to `max_actions`.
pub(super) fn parse_records(buf: &[u8], max_actions: usize) -> Parsed {
    let mut out = Parsed::default();
    let mut pos = 0;
    while out.actions.len() < max_actions {
        let Some((len, crc)) = buf.get(pos..).and_then(header) else {
            break;
        };
        let Some(payload) = buf.get(pos + HEADER..pos + HEADER + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            out.corrupt = true;
            break;
        }
        let mut p = payload;
        let mut batch = Vec::new();
        while !p.is_empty() {
            match UserAction::decode_length_delimited(&mut p) {
                Ok(a) => batch.push(a),
                Err(_) => {
                    out.corrupt = true;
                    return out;
                }
            }
        }
        out.actions.extend(batch);
        pos += HEADER + len;
        out.ends.push((pos, out.actions.len()));
        out.used = pos;
    }
    out
}

/// Reads segment `seq` from `offset`: `chunk` bytes, or the whole first record when it is
/// larger, so a big request is never mistaken for a torn end.
pub(super) fn read_from(
    dir: &Path,
    seq: u64,
    offset: u64,
    chunk: usize,
) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(segment_path(dir, seq))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    (&mut f).take(chunk as u64).read_to_end(&mut buf)?;
    if let Some((len, _)) = header(&buf)
        && HEADER + len > buf.len()
        && buf.len() == chunk
    {
        f.take((HEADER + len - buf.len()) as u64)
            .read_to_end(&mut buf)?;
    }
    Ok(buf)
}

/// Where `offset` falls in segment `path`, walking its record headers.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Landing {
    /// On a record boundary (or at the end of the intact records).
    Boundary,
    /// Beyond the segment's intact records: they were all read before.
    PastEnd,
    /// Inside a record: not a position any forwarder wrote.
    Inside,
}

pub(super) fn landing(path: &Path, offset: u64) -> std::io::Result<Landing> {
    let buf = std::fs::read(path)?;
    let mut pos = 0usize;
    loop {
        if pos as u64 == offset {
            return Ok(Landing::Boundary);
        }
        if pos as u64 > offset {
            return Ok(Landing::Inside);
        }
        match buf.get(pos..).and_then(header) {
            Some((len, _)) if pos + HEADER + len <= buf.len() => pos += HEADER + len,
            _ => return Ok(Landing::PastEnd),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn action(n: u64) -> UserAction {
        UserAction {
            command: Some("spool_test".into()),
            span_id: Some(format!("{n:016x}")),
            ..Default::default()
        }
    }

    #[test]
    fn records_round_trip_and_a_torn_or_corrupt_tail_ends_the_segment() {
        let mut buf = encode_record(&[action(1), action(2)]);
        let first = buf.len();
        buf.extend(encode_record(&[action(3)]));
        let whole = buf.len();
        let p = parse_records(&buf, usize::MAX);
        assert_eq!(p.actions.len(), 3);
        assert_eq!((p.used, p.corrupt), (whole, false));
        assert_eq!(p.ends, vec![(first, 2), (whole, 3)]);
        assert_eq!(
            (p.actions_before(first), p.actions_before(whole - 1)),
            (2, 2)
        );
        // A record cut short by a crash: the intact ones before it are read.
        let third = encode_record(&[action(4)]);
        buf.extend_from_slice(&third[..third.len() - 1]);
        let p = parse_records(&buf, usize::MAX);
        assert_eq!((p.actions.len(), p.used, p.corrupt), (3, whole, false));
        // A flipped byte fails the checksum.
        let mut bad = encode_record(&[action(5)]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let p = parse_records(&bad, usize::MAX);
        assert_eq!((p.actions.len(), p.used, p.corrupt), (0, 0, true));
    }

    #[test]
    fn a_batch_ends_after_the_record_that_reaches_the_limit() {
        let mut buf = Vec::new();
        for r in 0..4 {
            buf.extend(encode_record(
                &(0..3).map(|i| action(r * 3 + i)).collect::<Vec<_>>(),
            ));
        }
        let p = parse_records(&buf, 4);
        assert_eq!(p.actions.len(), 6, "two whole records");
        assert!(!p.corrupt);
    }

    #[test]
    fn a_record_larger_than_the_read_chunk_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = create_segment(dir.path(), 1).unwrap();
        let big = encode_record(&(0..100).map(action).collect::<Vec<_>>());
        let small = encode_record(&[action(7)]);
        use std::io::Write;
        (&*seg.file).write_all(&big).unwrap();
        (&*seg.file).write_all(&small).unwrap();
        seg.bytes = (big.len() + small.len()) as u64;
        let buf = read_from(dir.path(), 1, 0, 64).unwrap();
        let p = parse_records(&buf, usize::MAX);
        assert_eq!((p.actions.len(), p.used), (100, big.len()));
        let rest = read_from(dir.path(), 1, big.len() as u64, 64).unwrap();
        assert_eq!(parse_records(&rest, usize::MAX).actions.len(), 1);
    }

    #[test]
    fn landing_tells_boundaries_from_the_inside_of_records_and_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let a = encode_record(&[action(1)]);
        let mut buf = a.clone();
        buf.extend(encode_record(&[action(2)]));
        buf.extend_from_slice(&a[..5]); // a torn tail
        std::fs::write(&path, &buf).unwrap();
        assert_eq!(landing(&path, 0).unwrap(), Landing::Boundary);
        assert_eq!(landing(&path, a.len() as u64).unwrap(), Landing::Boundary);
        assert_eq!(landing(&path, 3).unwrap(), Landing::Inside);
        assert_eq!(
            landing(&path, 2 * a.len() as u64).unwrap(),
            Landing::Boundary
        );
        assert_eq!(
            landing(&path, buf.len() as u64 + 10).unwrap(),
            Landing::PastEnd
        );
    }
}

//! Fuzz target bodies for the engine, kept in the library so that `cargo test` replays the
//! checked-in corpus on stable Rust (`tests/fuzz_corpus.rs`) and each cargo-fuzz target in
//! `fuzz/fuzz_targets/` stays a three-line wrapper.
//!
//! Every function here takes arbitrary bytes and must return normally: an `Err` from the code
//! under test is an answer, not a failure. A function panics only when an oracle is violated:
//!
//! - [`log_segment_scan`]: [`scan_segment`] classifies a segment as FORMAT.md 5 says, whether or
//!   not it is the last one, and every record it accepts is byte for byte what the encoder writes;
//! - [`log_recovery`]: a log recovered from arbitrary segment files reads back exactly the records
//!   a scan of those files accepts, a gap-free run of zxids; it then takes an append, closes, and
//!   opens again with that record at its end;
//! - [`txn_decode`]: whatever [`txn::decode`] accepts re-encodes to the same bytes (the encoding
//!   is canonical), and every error points at the bytes it blames.
//!
//! The first byte of a log input is a *control byte* that picks how the rest becomes files (raw,
//! padded, header repaired, record checksums repaired), so that the fuzzer gets past the
//! checksums as well as at them. [`log_segment_scan_input`] and [`log_recovery_input`] build
//! inputs from real segment files, for seed corpora.
//!
//! Adding a target (say `snapshot_read`): a `pub fn snapshot_read(data: &[u8])` here, then in
//! `fuzz/` a wrapper in `fuzz_targets/`, a `[[bin]]` in `Cargo.toml` and a `pub use` in
//! `src/lib.rs`, a `replay` test in `tests/fuzz_corpus.rs`, and seeds (`fuzz/README.md`).
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::format::record::{self, RecordHeader, RecordRef, RECORD_HEADER_LEN};
use crate::format::segment_header::{
    segment_file_name, SegmentHeader, SEGMENT_FORMAT_VERSION, SEGMENT_HEADER_LEN,
};
use crate::format::{pad8, read_u32, read_u64};
use crate::storage::sim::SimDir;
use crate::storage::LogDir;
use crate::txn::{self, TxnDecodeError, TXN_FORMAT_VERSION};
use crate::txnlog::prepare::PREPARED_NAME;
use crate::txnlog::scan::{scan_segment, SegmentScan, SegmentVerdict};
use crate::txnlog::{LogConfig, LogRecord, TxnLog};
use crate::zxid::Zxid;

/// Segment size of the logs the log targets build and open: the smallest one allowed, so that
/// an input stays small.
pub const FUZZ_SEGMENT_SIZE: u64 = 64 * 1024;

/// How the bytes after the control byte become a segment file (the control byte's low two bits
/// for [`log_segment_scan`], bits 2-3 for [`log_recovery`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageMode {
    /// Exactly the bytes given: short files, odd lengths.
    Raw = 0,
    /// The bytes, then zeros up to [`FUZZ_SEGMENT_SIZE`] (a real segment minus its zero tail).
    Padded = 1,
    /// As `Padded`, then the header is encoded again from the salt, zxids and creation time
    /// given, with the file's length as its size: magic, version, reserved word and checksum
    /// become valid.
    HeaderRepaired = 2,
    /// As `HeaderRepaired`, and the checksum of every record that fits is recomputed.
    RecordsRepaired = 3,
}

impl ImageMode {
    fn from_bits(bits: u8) -> ImageMode {
        match bits & 3 {
            0 => ImageMode::Raw,
            1 => ImageMode::Padded,
            2 => ImageMode::HeaderRepaired,
            _ => ImageMode::RecordsRepaired,
        }
    }
}

/// Builds a segment file image from fuzzer bytes.
fn segment_image(mode: ImageMode, body: &[u8]) -> Vec<u8> {
    let mut image = body.to_vec();
    if mode == ImageMode::Raw {
        return image;
    }
    if (image.len() as u64) < FUZZ_SEGMENT_SIZE {
        image.resize(FUZZ_SEGMENT_SIZE as usize, 0);
    }
    if mode == ImageMode::Padded {
        return image;
    }
    let field = |at| read_u64(&image, at).unwrap_or_default();
    let header = SegmentHeader {
        salt: field(16),
        first_zxid: Zxid(field(24)),
        prev_zxid: Zxid(field(32)),
        segment_size: image.len() as u64,
        created_ms: field(48),
    };
    if let Some(slot) = image.get_mut(..SEGMENT_HEADER_LEN) {
        slot.copy_from_slice(&header.encode());
    }
    if mode == ImageMode::RecordsRepaired {
        let salt = read_u64(&image, 16).unwrap_or_default();
        repair_record_checksums(&mut image, salt);
    }
    image
}

/// Recomputes the checksum of each record from offset 64 on, following the length words, until
/// one is zero, shorter than a record header or runs past the end.
fn repair_record_checksums(image: &mut [u8], salt: u64) {
    let mut at = SEGMENT_HEADER_LEN;
    while let Some(len) = read_u32(image, at) {
        let len = len as usize;
        let Some(end) = at.checked_add(len) else {
            return;
        };
        if len < RECORD_HEADER_LEN || end > image.len() {
            return;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&salt.to_le_bytes());
        hasher.update(image.get(at..at + 4).unwrap_or_default());
        hasher.update(image.get(at + 8..end).unwrap_or_default());
        if let Some(slot) = image.get_mut(at + 4..at + 8) {
            slot.copy_from_slice(&hasher.finalize().to_le_bytes());
        }
        at += pad8(len as u64) as usize;
    }
}

/// The bytes of a file without its zero tail: what an input carries for a segment that the
/// `Padded` modes extend back to [`FUZZ_SEGMENT_SIZE`].
fn without_zero_tail(file: &[u8]) -> &[u8] {
    let end = file
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    file.get(..end).unwrap_or_default()
}

/// An input for [`log_segment_scan`]: `control`, then `segment` without its zero tail.
pub fn log_segment_scan_input(control: u8, segment: &[u8]) -> Vec<u8> {
    let mut input = vec![control];
    input.extend_from_slice(without_zero_tail(segment));
    input
}

/// An input for [`log_recovery`]: `control` (its low two bits are set from the number of
/// segments, 1 to 3), then each segment without its zero tail, all but the last behind a
/// little-endian `u32` length.
pub fn log_recovery_input(control: u8, segments: &[&[u8]]) -> Vec<u8> {
    assert!(
        (1..=3).contains(&segments.len()),
        "a recovery input holds 1 to 3 segments"
    );
    let mut input = vec![(control & !3) | (segments.len() as u8 - 1)];
    for (index, segment) in segments.iter().enumerate() {
        let kept = without_zero_tail(segment);
        if index + 1 < segments.len() {
            input.extend_from_slice(&(kept.len() as u32).to_le_bytes());
        }
        input.extend_from_slice(kept);
    }
    input
}

/// A record accepted by a scan, with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Accepted {
    record: RecordRef,
    payload: Vec<u8>,
}

/// Scans `bytes` and checks what the scan says against the bytes.
fn checked_scan(
    bytes: &[u8],
    name_zxid: Zxid,
    is_last: bool,
    expected_prev: Option<Zxid>,
) -> (SegmentScan, Vec<Accepted>) {
    let mut accepted = Vec::new();
    let scan = scan_segment(
        bytes,
        name_zxid,
        is_last,
        expected_prev,
        |record, payload| {
            accepted.push(Accepted {
                record: *record,
                payload: payload.to_vec(),
            });
        },
    );
    let len = bytes.len() as u64;
    let all_zero_from = |offset: u64| {
        bytes
            .get(offset as usize..)
            .unwrap_or_default()
            .iter()
            .all(|&b| b == 0)
    };
    assert_eq!(scan.records, accepted.len() as u64, "records counted");
    assert_eq!(
        scan.header.is_some(),
        SegmentHeader::decode(bytes).is_ok(),
        "a scan keeps the header exactly when it decodes"
    );
    assert!(
        scan.end_offset.is_multiple_of(8) && scan.end_offset >= SEGMENT_HEADER_LEN as u64,
        "end offset {} is not a record boundary",
        scan.end_offset
    );
    match scan.header {
        Some(header) => {
            assert!(
                scan.end_offset <= len,
                "end offset past the end of the file"
            );
            check_records(bytes, &header, name_zxid, expected_prev, &scan, &accepted);
        }
        None => assert!(accepted.is_empty(), "records accepted without a header"),
    }
    match scan.verdict {
        SegmentVerdict::Clean => {
            assert!(scan.header.is_some(), "a clean segment without a header");
            assert!(
                all_zero_from(scan.end_offset),
                "clean, yet non-zero bytes follow offset {}",
                scan.end_offset
            );
        }
        SegmentVerdict::TornTail {
            torn_offset,
            torn_end,
            ..
        } => {
            assert!(is_last, "a torn tail in a segment that is not the last");
            assert!(scan.header.is_some(), "a torn tail without a header");
            assert_eq!(torn_offset, scan.end_offset, "the tear starts the tail");
            assert!(torn_offset < torn_end && torn_end <= len, "torn range");
            assert_ne!(
                bytes.get(torn_end as usize - 1),
                Some(&0),
                "the torn range ends on a non-zero byte"
            );
            assert!(
                all_zero_from(torn_end),
                "non-zero bytes after the torn range"
            );
        }
        SegmentVerdict::TornRoll => {
            assert!(is_last, "a torn roll in a segment that is not the last");
            assert!(all_zero_from(0), "a torn roll with data in it");
        }
        SegmentVerdict::Corrupt { offset, .. } => {
            assert!(
                offset <= len.max(SEGMENT_HEADER_LEN as u64),
                "corruption reported past the end of the file"
            );
        }
        SegmentVerdict::UnsupportedVersion(version) => {
            assert_ne!(version, SEGMENT_FORMAT_VERSION, "our own version refused");
        }
    }
    (scan, accepted)
}

/// Checks the records a scan accepted: in file order from offset 64, gap-free zxids starting at
/// the header's first zxid, each re-encoding to the bytes it was read from.
fn check_records(
    bytes: &[u8],
    header: &SegmentHeader,
    name_zxid: Zxid,
    expected_prev: Option<Zxid>,
    scan: &SegmentScan,
    accepted: &[Accepted],
) {
    let Some(first) = accepted.first() else {
        assert_eq!(scan.first_zxid, Zxid::NONE, "first zxid without records");
        assert_eq!(
            scan.end_offset, SEGMENT_HEADER_LEN as u64,
            "end without records"
        );
        return;
    };
    assert_eq!(first.record.zxid, scan.first_zxid, "first zxid");
    assert_eq!(first.record.zxid, header.first_zxid, "first zxid vs header");
    assert_eq!(
        header.first_zxid, name_zxid,
        "records accepted under the wrong name"
    );
    if let Some(prev) = expected_prev {
        assert_eq!(
            header.prev_zxid, prev,
            "records accepted after the wrong segment"
        );
    }
    if header.prev_zxid != Zxid::NONE {
        assert!(
            header.prev_zxid.is_followed_by(first.record.zxid),
            "first record does not follow the header's prev zxid"
        );
    }
    let mut offset = SEGMENT_HEADER_LEN as u64;
    let mut previous: Option<Zxid> = None;
    for Accepted { record, payload } in accepted {
        assert_eq!(record.offset, offset, "records are not contiguous");
        if let Some(previous) = previous {
            assert!(
                previous.is_followed_by(record.zxid),
                "zxid {} accepted after {previous}",
                record.zxid
            );
        }
        previous = Some(record.zxid);
        assert_eq!(payload.len(), record.payload_len as usize, "payload length");
        assert!(
            record.batch_start >= SEGMENT_HEADER_LEN as u64
                && record.batch_start <= record.offset
                && record.batch_start.is_multiple_of(8),
            "impossible batch start {} at {}",
            record.batch_start,
            record.offset
        );
        let mut encoded = Vec::new();
        record::encode_into(
            &mut encoded,
            header.salt,
            RecordHeader {
                zxid: record.zxid,
                batch_start: record.batch_start,
            },
            payload,
        );
        let unpadded = RECORD_HEADER_LEN + payload.len();
        let start = record.offset as usize;
        assert_eq!(
            encoded.get(..unpadded),
            bytes.get(start..start + unpadded),
            "record at {start} accepted but not what the encoder writes"
        );
        assert_eq!(
            record.next_offset,
            record.offset + encoded.len() as u64,
            "next offset"
        );
        offset = record.next_offset;
    }
    assert_eq!(offset, scan.end_offset, "end offset after the last record");
    assert_eq!(previous, Some(scan.last_zxid), "last zxid");
}

/// Fuzz target: one segment's bytes through [`scan_segment`], as the last segment and as an
/// earlier one.
///
/// Input: a control byte, then the segment. Control bits 0-1: [`ImageMode`]; bits 2-3: the
/// expected previous zxid (none, the header's, the header's plus one, zero); bit 4: a file name
/// one past the header's first zxid.
pub fn log_segment_scan(data: &[u8]) {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let image = segment_image(ImageMode::from_bits(control), body);
    let mut name_zxid = Zxid(read_u64(&image, 24).unwrap_or(1));
    if control & 0x10 != 0 {
        name_zxid = Zxid(name_zxid.0.wrapping_add(1));
    }
    let header_prev = Zxid(read_u64(&image, 32).unwrap_or_default());
    let expected_prev = match (control >> 2) & 3 {
        0 => None,
        1 => Some(header_prev),
        2 => Some(Zxid(header_prev.0.wrapping_add(1))),
        _ => Some(Zxid::NONE),
    };
    let (last, last_records) = checked_scan(&image, name_zxid, true, expected_prev);
    let (earlier, earlier_records) = checked_scan(&image, name_zxid, false, expected_prev);
    // Whether the segment is the last one changes the verdict on what follows the records,
    // never which records are accepted.
    assert_eq!(
        last_records, earlier_records,
        "accepted records depend on is_last"
    );
    assert_eq!(
        (
            last.header,
            last.first_zxid,
            last.last_zxid,
            last.end_offset
        ),
        (
            earlier.header,
            earlier.first_zxid,
            earlier.last_zxid,
            earlier.end_offset
        ),
        "scan results depend on is_last"
    );
    match (&last.verdict, &earlier.verdict) {
        (SegmentVerdict::Clean, SegmentVerdict::Clean)
        | (SegmentVerdict::TornRoll, SegmentVerdict::Corrupt { offset: 0, .. }) => {}
        (SegmentVerdict::TornTail { torn_offset, .. }, SegmentVerdict::Corrupt { offset, .. }) => {
            assert_eq!(torn_offset, offset, "a tear and its corruption disagree");
        }
        (SegmentVerdict::Corrupt { offset: a, .. }, SegmentVerdict::Corrupt { offset: b, .. }) => {
            assert_eq!(a, b, "corruption found at different offsets");
        }
        (SegmentVerdict::UnsupportedVersion(a), SegmentVerdict::UnsupportedVersion(b)) => {
            assert_eq!(a, b);
        }
        (last, earlier) => {
            panic!("as the last segment {last:?}, as an earlier one {earlier:?}")
        }
    }
}

/// The zxid an append after `zxid` uses: the next counter, or counter 1 of the next epoch.
fn successor(zxid: Zxid) -> Option<Zxid> {
    if zxid == Zxid::NONE {
        Some(Zxid::new(1, 1))
    } else if zxid.counter() != u32::MAX {
        Some(Zxid(zxid.0 + 1))
    } else {
        zxid.epoch().checked_add(1).map(|epoch| Zxid::new(epoch, 1))
    }
}

/// Splits a [`log_recovery`] input into its segment files, named after the first zxid in each
/// file's header (or, when that is zero or missing, one past the name of the file before).
fn recovery_files(control: u8, mut rest: &[u8]) -> Vec<(String, Vec<u8>)> {
    let count = usize::from(control & 3) % 3 + 1;
    let mode = ImageMode::from_bits(control >> 2);
    let mut files = Vec::new();
    let mut previous = Zxid::NONE;
    for index in 0..count {
        let chunk = if index + 1 == count {
            rest
        } else {
            let len = read_u32(rest, 0).unwrap_or_default() as usize;
            let after_len = rest.get(4..).unwrap_or_default();
            let (chunk, after) = after_len.split_at(len.min(after_len.len()));
            rest = after;
            chunk
        };
        let image = segment_image(mode, chunk);
        // A file without a first zxid (a torn roll, say) is named to sort after the one before.
        let first = match read_u64(&image, 24) {
            Some(zxid) if zxid != 0 => Zxid(zxid),
            _ => Zxid(previous.0.wrapping_add(1)),
        };
        previous = first;
        files.push((segment_file_name(first), image));
    }
    files
}

/// Reads every record of an open log.
fn read_all(log: &TxnLog) -> Vec<LogRecord> {
    let reader = log
        .read_from(Zxid::NONE)
        .unwrap_or_else(|e| panic!("a recovered log cannot be read: {e}"));
    reader
        .map(|record| record.unwrap_or_else(|e| panic!("a recovered log fails to read: {e}")))
        .collect()
}

/// Fuzz target: segment files on a [`SimDir`], opened with [`TxnLog::open`] (full recovery).
///
/// Input: a control byte, then 1 to 3 segments, all but the last behind a little-endian `u32`
/// length. Control bits 0-1: number of segments minus one (3 counts as 1); bits 2-3:
/// [`ImageMode`]; bit 4: leftover temporary files (a prepared segment, a segment whose roll never
/// completed); bit 5: files recovery must leave alone.
///
/// When the log opens, it must read back exactly the records a scan of the original files
/// accepted, in a gap-free run; accept the next zxid; close; and open again with nothing to repair
/// and that record at its end.
pub fn log_recovery(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let files = recovery_files(control, rest);
    let sim = SimDir::new();
    for (name, bytes) in &files {
        // Two segments that claim the same first zxid: the second is dropped.
        let _ = sim.write_new(name, bytes);
    }
    if control & 0x10 != 0 {
        let _ = sim.write_new(PREPARED_NAME, &[0; 64]);
        let _ = sim.write_new("log.00000000000000ff.tmp", &[1; 64]);
    }
    if control & 0x20 != 0 {
        let _ = sim.write_new("LOCK", b"");
        let _ = sim.write_new("notes.txt", b"not a segment");
        let _ = sim.write_new("log.0000000000000001.torn-64", &[1; 8]);
    }
    if sim.sync_dir().is_err() {
        return;
    }
    let originals: BTreeMap<String, Vec<u8>> = sim
        .live_names()
        .into_iter()
        .filter_map(|name| sim.file_bytes(&name).map(|bytes| (name, bytes)))
        .collect();
    let config = LogConfig {
        segment_size: FUZZ_SEGMENT_SIZE,
        ..LogConfig::default()
    };
    let Ok((log, report)) = TxnLog::open(Arc::new(sim.clone()), config.clone()) else {
        return;
    };

    // What a scan of the original files accepts, segment by segment.
    let segments = log.segments();
    assert_eq!(report.segments, segments.len(), "segments reported");
    let mut expected = Vec::new();
    let mut previous_last: Option<Zxid> = None;
    for segment in &segments {
        let original = originals
            .get(&segment.name)
            .unwrap_or_else(|| panic!("recovery kept {}, which was not there", segment.name));
        let name_zxid = segment.first_zxid;
        let (scan, accepted) = checked_scan(original, name_zxid, true, previous_last);
        assert_eq!(
            (scan.first_zxid, scan.last_zxid),
            (segment.first_zxid, segment.last_zxid),
            "segment {} recovered with other zxids than it holds",
            segment.name
        );
        previous_last = Some(segment.last_zxid);
        expected.extend(accepted.into_iter().map(|a| LogRecord {
            zxid: a.record.zxid,
            payload: a.payload,
        }));
    }
    // (The preparer makes a new prepared segment as soon as the log is open.)
    for name in report.removed.iter().filter(|n| *n != PREPARED_NAME) {
        assert!(
            !sim.live_names().contains(name),
            "recovery reported {name} removed, yet it is there"
        );
    }

    let records = read_all(&log);
    assert_eq!(records, expected, "recovered records differ from the files");
    assert_eq!(records.len() as u64, report.records, "records reported");
    let mut previous = report.base_zxid;
    for record in &records {
        if previous != Zxid::NONE {
            assert!(
                previous.is_followed_by(record.zxid),
                "gap: {} read after {previous}",
                record.zxid
            );
        }
        previous = record.zxid;
    }
    if let Some(first) = records.first() {
        assert_eq!(first.zxid, report.first_zxid, "first zxid reported");
    }
    assert_eq!(previous, report.last_zxid, "last zxid reported");

    // The recovered log is a working log.
    let Some(next) = successor(report.last_zxid) else {
        return;
    };
    let appended = log
        .append(next, b"fuzz".to_vec())
        .and_then(|completion| completion.wait());
    assert_eq!(appended.ok(), Some(next), "append after recovery");
    if let Err(e) = log.close() {
        panic!("close after recovery: {e}");
    }
    let (log, again) = TxnLog::open(Arc::new(sim), config)
        .unwrap_or_else(|e| panic!("a recovered log does not open again: {e}"));
    assert_eq!(again.torn_tail, None, "a torn tail after a clean close");
    assert_eq!(again.last_zxid, next, "last zxid after reopening");
    let mut expected = records;
    expected.push(LogRecord {
        zxid: next,
        payload: b"fuzz".to_vec(),
    });
    assert_eq!(read_all(&log), expected, "records after reopening");
}

/// Fuzz target: [`txn::decode`]. What it accepts must re-encode to the same bytes, and decode
/// again to the same transaction; every strict prefix of it must be truncated; an error must
/// describe the bytes it points at.
pub fn txn_decode(data: &[u8]) {
    let at = |offset: usize| data.get(offset).copied();
    match txn::decode(data) {
        Ok(decoded) => {
            let encoded = txn::encode(&decoded);
            assert_eq!(encoded, data, "the encoding is not canonical: {decoded:?}");
            assert_eq!(txn::decode(&encoded).as_ref(), Ok(&decoded), "round trip");
            for cut in [0, data.len() / 2, data.len().saturating_sub(1)] {
                let prefix = data.get(..cut).unwrap_or_default();
                let result = txn::decode(prefix);
                assert!(
                    matches!(result, Err(TxnDecodeError::Truncated { .. })),
                    "the first {cut} bytes of a transaction decode as {result:?}"
                );
            }
        }
        Err(TxnDecodeError::Truncated { offset, needed }) => {
            // `needed` counts the bytes missing past the end, so the field at `offset` is
            // `needed` bytes longer than what remains.
            assert!(
                needed > 0 && offset <= data.len(),
                "truncated at {offset} needing {needed}"
            );
        }
        Err(TxnDecodeError::UnsupportedVersion { found }) => {
            assert_eq!(at(0), Some(found));
            assert_ne!(found, TXN_FORMAT_VERSION);
        }
        Err(
            TxnDecodeError::UnknownKind { offset, kind }
            | TxnDecodeError::NotAllowedInMulti { offset, kind },
        ) => assert_eq!(at(offset), Some(kind), "kind byte at {offset}"),
        Err(TxnDecodeError::InvalidUtf8 { offset }) => {
            let len = read_u32(data, offset).unwrap_or_else(|| panic!("no length at {offset}"));
            let text = data.get(offset + 4..offset + 4 + len as usize);
            assert!(
                text.is_some_and(|t| std::str::from_utf8(t).is_err()),
                "string at {offset} blamed"
            );
        }
        Err(TxnDecodeError::InvalidCreateMode { offset, flag }) => {
            assert_eq!(at(offset), Some(flag), "mode byte at {offset}");
        }
        Err(TxnDecodeError::InvalidTtl { offset, ttl_ms }) => {
            assert_eq!(
                read_u64(data, offset),
                Some(ttl_ms as u64),
                "TTL at {offset}"
            );
        }
        Err(TxnDecodeError::TrailingBytes { offset, count }) => {
            assert!(count > 0 && offset + count == data.len(), "trailing bytes");
        }
    }
}

/// A visitor that keeps nothing: reading with it checks every checksum and section.
struct VerifyOnly;

impl crate::snapshot::SnapshotVisitor for VerifyOnly {}

/// Fuzz target: the snapshot reader, on bytes in memory. Verifying and loading must agree
/// (both succeed with the same summary, or both fail), and a loaded tree's digest must be the
/// digest the trailer records when nothing was replayed after it.
pub fn snapshot_read(data: &[u8]) {
    let path = std::path::Path::new("fuzz/snap.0000000000000000");
    let len = data.len() as u64;
    let verified =
        crate::snapshot::read_snapshot_from(std::io::Cursor::new(data), len, path, &mut VerifyOnly);
    let loaded = crate::snapshot::load_snapshot_from(std::io::Cursor::new(data), len, path);
    match (&verified, &loaded) {
        (Ok(summary), Ok(loaded)) => {
            assert_eq!(summary, &loaded.summary, "verify and load disagree");
            assert_eq!(loaded.summary.file_len, len);
        }
        (Err(_), Err(_)) => {}
        (verified, loaded) => panic!(
            "verify says {:?}, load says {:?}",
            verified.as_ref().map(|_| ()),
            loaded.as_ref().map(|_| ())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_input_is_too_short() {
        for len in 0..80 {
            let data = vec![0x0d; len];
            log_segment_scan(&data);
            log_recovery(&data);
            txn_decode(&data);
        }
    }

    #[test]
    fn successor_crosses_epochs() {
        assert_eq!(successor(Zxid::NONE), Some(Zxid::new(1, 1)));
        assert_eq!(successor(Zxid::new(2, 5)), Some(Zxid::new(2, 6)));
        assert_eq!(successor(Zxid::new(2, u32::MAX)), Some(Zxid::new(3, 1)));
        assert_eq!(successor(Zxid::new(u32::MAX, u32::MAX)), None);
    }

    #[test]
    fn repaired_images_have_valid_headers() {
        let mut body = vec![0u8; 64];
        body.insert(24, 1); // first zxid 1
        for mode in [ImageMode::HeaderRepaired, ImageMode::RecordsRepaired] {
            let image = segment_image(mode, &body);
            assert_eq!(image.len() as u64, FUZZ_SEGMENT_SIZE);
            assert!(SegmentHeader::decode(&image).is_ok(), "{mode:?}");
        }
    }
}

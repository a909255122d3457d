//! Read-only classification of segments (FORMAT.md 5). It never modifies anything: recovery acts
//! on its verdicts, and the offline tools print them.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use crate::format::record::{self, RecordError, RecordRef};
use crate::format::segment_header::{HeaderError, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::zxid::Zxid;

/// What the scan of one segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentVerdict {
    /// Records up to `end`, then only zeros (row 1).
    Clean,
    /// The last write batch was cut by a crash: `torn_offset..torn_end` holds the bytes to cut
    /// (row 4).
    TornTail {
        /// Where the first invalid record starts.
        torn_offset: u64,
        /// One past the last non-zero byte.
        torn_end: u64,
        /// Valid records found after the tear (all from the same unsynced batch).
        valid_after: usize,
    },
    /// The header is all zeros and so is the file: a roll that never completed (row 7).
    TornRoll,
    /// The data is damaged (rows 2, 3, 5, 6).
    Corrupt {
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The header names a format version this build does not read.
    UnsupportedVersion(u32),
}

/// The result of scanning one segment's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentScan {
    /// The header, when it decoded.
    pub header: Option<SegmentHeader>,
    /// Number of valid records accepted.
    pub records: u64,
    /// Zxid of the first accepted record.
    pub first_zxid: Zxid,
    /// Zxid of the last accepted record (or the header's `prev_zxid` when there is none).
    pub last_zxid: Zxid,
    /// Offset just past the last accepted record: where the next one goes.
    pub end_offset: u64,
    /// The classification.
    pub verdict: SegmentVerdict,
}

/// Scans one segment.
///
/// `name_zxid` is the zxid in the file name; `is_last` says whether this is the newest segment
/// (only there can a crash leave a torn tail); `expected_prev` is the last zxid of the segment
/// before it, when there is one. `on_record` sees every accepted record, in order.
pub fn scan_segment(
    bytes: &[u8],
    name_zxid: Zxid,
    is_last: bool,
    expected_prev: Option<Zxid>,
    mut on_record: impl FnMut(&RecordRef, &[u8]),
) -> SegmentScan {
    let mut scan = SegmentScan {
        header: None,
        records: 0,
        first_zxid: Zxid::NONE,
        last_zxid: expected_prev.unwrap_or(Zxid::NONE),
        end_offset: SEGMENT_HEADER_LEN as u64,
        verdict: SegmentVerdict::Clean,
    };
    let corrupt = |offset: u64, reason: String| SegmentVerdict::Corrupt { offset, reason };
    let header = match SegmentHeader::decode(bytes) {
        Ok(header) => header,
        Err(HeaderError::Zeroed) if is_last && bytes.iter().all(|&b| b == 0) => {
            scan.verdict = SegmentVerdict::TornRoll;
            return scan;
        }
        Err(HeaderError::Zeroed) => {
            scan.verdict = corrupt(0, "the segment header is all zeros but data follows".into());
            return scan;
        }
        Err(HeaderError::Invalid(why)) => {
            scan.verdict = corrupt(0, format!("invalid segment header: {why}"));
            return scan;
        }
        Err(HeaderError::UnsupportedVersion(version)) => {
            scan.verdict = SegmentVerdict::UnsupportedVersion(version);
            return scan;
        }
    };
    scan.header = Some(header);
    if header.segment_size != bytes.len() as u64 {
        scan.verdict = corrupt(
            40,
            format!(
                "the header says the segment is {} bytes, the file has {}",
                header.segment_size,
                bytes.len()
            ),
        );
        return scan;
    }
    if header.first_zxid != name_zxid {
        scan.verdict = corrupt(
            24,
            format!(
                "the header's first zxid {} does not match the file name",
                header.first_zxid
            ),
        );
        return scan;
    }
    if let Some(prev) = expected_prev {
        if header.prev_zxid != prev {
            scan.verdict = corrupt(
                32,
                format!(
                    "the segment says it follows zxid {} but the previous segment ends at {prev} \
                     (a segment is missing or was replaced)",
                    header.prev_zxid
                ),
            );
            return scan;
        }
    }
    scan.last_zxid = header.prev_zxid;

    let mut offset = SEGMENT_HEADER_LEN as u64;
    let first_bad = loop {
        if offset >= bytes.len() as u64 {
            scan.end_offset = offset;
            return scan;
        }
        match record::decode_at(bytes, header.salt, offset) {
            Ok(found) => {
                let expected_first = scan.records == 0;
                let in_order = if expected_first {
                    found.zxid == header.first_zxid
                        && (header.prev_zxid == Zxid::NONE
                            || header.prev_zxid.is_followed_by(found.zxid))
                } else {
                    scan.last_zxid.is_followed_by(found.zxid)
                };
                if !in_order {
                    scan.end_offset = offset;
                    scan.verdict =
                        corrupt(
                            offset,
                            format!(
                            "record zxid {} does not follow {} (a zxid went backwards or skipped)",
                            found.zxid,
                            if expected_first { header.prev_zxid } else { scan.last_zxid }
                        ),
                        );
                    return scan;
                }
                on_record(&found, found.payload(bytes));
                if expected_first {
                    scan.first_zxid = found.zxid;
                }
                scan.records += 1;
                scan.last_zxid = found.zxid;
                offset = found.next_offset;
            }
            Err(err) => break (offset, err),
        }
    };
    let (bad_offset, bad_error) = first_bad;
    scan.end_offset = bad_offset;
    let tail = bytes.get(bad_offset as usize..).unwrap_or_default();
    let Some(last_nonzero) = tail.iter().rposition(|&b| b != 0) else {
        return scan; // row 1: clean end
    };
    let torn_end = bad_offset + last_nonzero as u64 + 1;
    let what = match &bad_error {
        RecordError::Empty => "an empty length word followed by data".to_owned(),
        RecordError::Invalid(why) => why.clone(),
    };
    if !is_last {
        scan.verdict = corrupt(
            bad_offset,
            format!("{what}, in a segment that is not the last one"),
        );
        return scan;
    }
    let mut valid_after = 0;
    let mut probe = bad_offset + 8;
    while probe < torn_end {
        if let Ok(found) = record::decode_at(bytes, header.salt, probe) {
            if found.batch_start > bad_offset {
                scan.verdict = corrupt(
                    bad_offset,
                    format!(
                        "{what}; yet the valid record at offset {probe} (zxid {}) was written \
                         after this offset had been synced",
                        found.zxid
                    ),
                );
                return scan;
            }
            valid_after += 1;
            probe = found.next_offset;
        } else {
            probe += 8;
        }
    }
    scan.verdict = SegmentVerdict::TornTail {
        torn_offset: bad_offset,
        torn_end,
        valid_after,
    };
    scan
}

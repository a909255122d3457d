//! Damage anywhere in a log: a byte flipped (xor 0xFF) or the file cut, at every byte of the used
//! part of every segment (header, records, padding) and every 512th byte of the zero tail. Each
//! damaged copy is opened and must give either a log whose records are an exact, gap-free prefix of
//! the originals, or `Corrupt` / `UnsupportedVersion` naming the damaged file; never a panic and
//! never wrong data. The rows of the recovery table (FORMAT.md 5) are checked where the damage
//! decides them: damage in a non-last segment is corruption (row 2); damage in the last batch of
//! the last segment is a torn tail (row 4); damage in an earlier batch of the last segment is
//! corruption at the damaged record (row 3).
//!
//! The log is written by the engine on the simulated disk; each case damages an independent copy
//! (`crash_keep_all`). Inside the one large payload (63.5 KB, which makes the second segment roll)
//! every 61st byte is taken; `ZK_DAMAGE_EVERY_BYTE=1` takes every byte there too.

mod crash_support;

use std::sync::Arc;

use crash_support::{next_zxid, read_all};
use zk_engine::format::record::decode_at;
use zk_engine::format::segment_header::{
    parse_segment_file_name, SegmentHeader, SEGMENT_HEADER_LEN,
};
use zk_engine::storage::sim::SimDir;
use zk_engine::storage::LogDir;
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::{Error, Zxid};

const SEGMENT_SIZE: u64 = 64 * 1024;

fn config() -> LogConfig {
    LogConfig {
        segment_size: SEGMENT_SIZE,
        ..LogConfig::default()
    }
}

fn payload(zxid: Zxid, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (zxid.0 as usize * 131 + i * 7 + 1) as u8)
        .collect()
}

/// One record as found in a segment.
#[derive(Debug, Clone)]
struct Placed {
    /// Index among all the records of the log.
    index: usize,
    offset: u64,
    /// Where its payload starts.
    payload: u64,
    /// Where its padding starts (`offset + record_len`).
    padding: u64,
    next_offset: u64,
    batch_start: u64,
}

/// One segment of the original log.
#[derive(Debug)]
struct Segment {
    name: String,
    records: Vec<Placed>,
    /// End of the last record: the zero tail starts here.
    used: u64,
}

impl Segment {
    fn last_batch_start(&self) -> u64 {
        self.records.last().map_or(0, |r| r.batch_start)
    }

    fn record_at(&self, offset: u64) -> Option<&Placed> {
        self.records
            .iter()
            .find(|r| r.offset <= offset && offset < r.next_offset)
    }
}

/// The original log: the disk (closed cleanly), its records in order, and its layout.
struct Original {
    disk: SimDir,
    records: Vec<(Zxid, Vec<u8>)>,
    segments: Vec<Segment>,
}

/// Writes three segments, each in several batches, so that the last segment is mostly zeros and
/// has several batches; the second is filled by one large record.
fn build() -> Original {
    let sim = SimDir::new();
    let (log, _) = TxnLog::open(Arc::new(sim.clone()), config()).expect("open");
    let mut last = Zxid::NONE;
    let mut records = Vec::new();
    // Each inner list is one batch: appended together, then waited for. (The commit thread may
    // split a batch; the layout is read back from the bytes, not assumed.)
    let batches: &[&[usize]] = &[
        &[100, 0, 37],
        &[5],
        &[500, 13, 64],
        &[1000],
        // Does not fit in what is left of the first segment: rolls.
        &[63_500],
        &[200, 201],
        &[300],
        // Does not fit in what is left of the second segment: rolls.
        &[3000],
        &[50, 51, 52],
        &[7],
        &[123, 0, 9, 250],
    ];
    for batch in batches {
        let mut completions = Vec::new();
        for &len in *batch {
            let zxid = if last == Zxid::NONE {
                Zxid::new(1, 1)
            } else if len == 7 {
                // A new epoch, for variety.
                Zxid::new(last.epoch() + 1, 1)
            } else {
                next_zxid(last)
            };
            last = zxid;
            let bytes = payload(zxid, len);
            completions.push(log.append(zxid, bytes.clone()).expect("append"));
            records.push((zxid, bytes));
        }
        for completion in completions {
            completion.wait().expect("durable");
        }
    }
    log.close().expect("close");
    let disk = sim.crash_keep_all();

    let mut names: Vec<String> = disk
        .list()
        .expect("list")
        .into_iter()
        .filter(|name| parse_segment_file_name(name).is_some())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    let mut index = 0;
    let segments = names
        .into_iter()
        .map(|name| {
            let bytes = disk.read(&name).expect("read");
            let header = SegmentHeader::decode(&bytes).expect("header");
            let mut placed = Vec::new();
            let mut offset = SEGMENT_HEADER_LEN as u64;
            while let Ok(record) = decode_at(&bytes, header.salt, offset) {
                assert_eq!(record.zxid, records[index].0);
                placed.push(Placed {
                    index,
                    offset,
                    payload: record.payload_offset,
                    padding: record.payload_offset + u64::from(record.payload_len),
                    next_offset: record.next_offset,
                    batch_start: record.batch_start,
                });
                index += 1;
                offset = record.next_offset;
            }
            assert!(bytes[offset as usize..].iter().all(|&b| b == 0));
            Segment {
                name,
                records: placed,
                used: offset,
            }
        })
        .collect::<Vec<_>>();
    assert_eq!(index, records.len());
    let last = &segments[2];
    let batch_starts: std::collections::BTreeSet<u64> =
        last.records.iter().map(|r| r.batch_start).collect();
    assert!(batch_starts.len() >= 3, "{last:?}");
    Original {
        disk,
        records,
        segments,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    Flip,
    Cut,
}

/// What opening a damaged copy gave.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The log opened; `records` of the originals were read back, and a torn tail was cut at
    /// `torn` (segment index, offset) if any.
    Opened {
        records: usize,
        torn: Option<(String, u64)>,
    },
    Corrupt {
        offset: u64,
        last_good: Zxid,
    },
    Unsupported,
}

/// Damages a copy of the log at `offset` of segment `segment`, opens it, and checks what is always
/// required: no panic, and either an exact prefix of the original records or an error naming the
/// damaged file.
fn damage_and_open(
    original: &Original,
    segment: usize,
    offset: u64,
    damage: Damage,
) -> Result<Outcome, String> {
    let name = &original.segments[segment].name;
    let disk = original.disk.crash_keep_all();
    match damage {
        Damage::Flip => disk.corrupt(name, offset, |b| *b ^= 0xFF),
        Damage::Cut => disk.truncate_file(name, offset),
    }
    .map_err(|e| format!("damaging: {e}"))?;
    let path = disk.path_of(name);
    let opened = std::panic::catch_unwind(|| TxnLog::open(Arc::new(disk.clone()), config()))
        .map_err(|_| "open panicked".to_owned())?;
    match opened {
        Ok((log, report)) => {
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                read_all(&log, "damaged copy")
            }))
            .map_err(|_| "reading the opened log failed".to_owned())?;
            let count = read.len();
            if read[..] != original.records[..count] {
                return Err(format!(
                    "opened, but its {count} records are not a prefix of the originals"
                ));
            }
            if report.records != count as u64 {
                return Err(format!("report {report:?} but {count} records read"));
            }
            Ok(Outcome::Opened {
                records: count,
                torn: report.torn_tail.map(|torn| (torn.segment, torn.offset)),
            })
        }
        Err(Error::Corrupt {
            path: reported,
            offset,
            last_good_zxid,
            ..
        }) if reported == path => Ok(Outcome::Corrupt {
            offset,
            last_good: last_good_zxid,
        }),
        Err(Error::UnsupportedVersion { path: reported, .. }) if reported == path => {
            Ok(Outcome::Unsupported)
        }
        Err(other) => Err(format!("unexpected error: {other}")),
    }
}

/// The outcome the recovery table prescribes for flipping the byte at `offset` of segment
/// `segment`, when it prescribes exactly one; `None` when several are allowed (padding bytes,
/// which no checksum covers).
fn prescribed_for_flip(original: &Original, segment: usize, offset: u64) -> Option<Outcome> {
    let seg = &original.segments[segment];
    let is_last = segment + 1 == original.segments.len();
    let records_before = seg.records.first().map_or(0, |r| r.index);
    if offset < SEGMENT_HEADER_LEN as u64 {
        // Row 6: an invalid header in a file that is not all zeros.
        return Some(Outcome::Corrupt {
            offset: 0,
            last_good: if records_before == 0 {
                Zxid::NONE
            } else {
                original.records[records_before - 1].0
            },
        });
    }
    let (damaged_at, damaged_index) = match seg.record_at(offset) {
        Some(record) if offset >= record.padding => return None,
        Some(record) => (record.offset, record.index),
        None => (seg.used, records_before + seg.records.len()),
    };
    let last_good = if damaged_index == 0 {
        Zxid::NONE
    } else {
        original.records[damaged_index - 1].0
    };
    if !is_last {
        // Row 2.
        return Some(Outcome::Corrupt {
            offset: damaged_at,
            last_good,
        });
    }
    if damaged_at >= seg.last_batch_start() {
        // Row 4: the last batch (or the zero tail after it) is cut as a torn tail.
        Some(Outcome::Opened {
            records: damaged_index,
            torn: Some((seg.name.clone(), damaged_at)),
        })
    } else {
        // Row 3: a later batch proves the damaged bytes had been synced.
        Some(Outcome::Corrupt {
            offset: damaged_at,
            last_good,
        })
    }
}

/// Whether to flip and cut at every byte of the used part, large payloads included (about 140,000
/// cases, a minute and a half in a debug build), rather than sampling the inside of payloads
/// larger than [`LARGE_PAYLOAD`] every [`PAYLOAD_STRIDE`] bytes.
fn exhaustive() -> bool {
    std::env::var_os("ZK_DAMAGE_EVERY_BYTE").is_some()
}

/// Payloads larger than this have their inside sampled (unless [`exhaustive`]): every byte of one
/// payload is covered by the same checksum, so each byte of it stands for the others.
const LARGE_PAYLOAD: u64 = 1024;
/// The sampling stride inside large payloads: prime, so that it meets every offset modulo 8.
const PAYLOAD_STRIDE: u64 = 61;

/// Every byte of the used part (headers, records, padding; the inside of large payloads sampled
/// unless [`exhaustive`]), then every 512th byte of the zero tail and its last byte.
fn offsets(segment: &Segment) -> Vec<u64> {
    let sampled = |offset: u64| {
        exhaustive()
            || segment.records.iter().all(|r| {
                let inside = r.payload + 64..r.padding.saturating_sub(64);
                r.padding - r.payload <= LARGE_PAYLOAD
                    || !inside.contains(&offset)
                    || (offset - r.payload).is_multiple_of(PAYLOAD_STRIDE)
            })
    };
    let mut offsets: Vec<u64> = (0..segment.used).filter(|&o| sampled(o)).collect();
    let mut tail = segment.used;
    while tail < SEGMENT_SIZE {
        offsets.push(tail);
        tail = (tail / 512 + 1) * 512;
    }
    offsets.push(SEGMENT_SIZE - 1);
    offsets.dedup();
    offsets
}

#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    opened: usize,
    torn_tails: usize,
    corrupt: usize,
    unsupported: usize,
    failures: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.cases += other.cases;
        self.opened += other.opened;
        self.torn_tails += other.torn_tails;
        self.corrupt += other.corrupt;
        self.unsupported += other.unsupported;
        self.failures.extend(other.failures);
    }
}

fn run_cases(original: &Original, cases: &[(usize, u64, Damage)]) -> Tally {
    let mut tally = Tally::default();
    for &(segment, offset, damage) in cases {
        tally.cases += 1;
        let context = format!(
            "{damage:?} at offset {offset} of {}",
            original.segments[segment].name
        );
        let outcome = match damage_and_open(original, segment, offset, damage) {
            Ok(outcome) => outcome,
            Err(why) => {
                tally.failures.push(format!("{context}: {why}"));
                continue;
            }
        };
        match &outcome {
            Outcome::Opened { torn, .. } => {
                tally.opened += 1;
                tally.torn_tails += usize::from(torn.is_some());
            }
            Outcome::Corrupt { .. } => tally.corrupt += 1,
            Outcome::Unsupported => tally.unsupported += 1,
        }
        let prescribed = match damage {
            Damage::Flip => prescribed_for_flip(original, segment, offset),
            // A cut file is shorter than its header says: always corruption, at the header's
            // size field (or at 0 when not even the header is left).
            Damage::Cut => None,
        };
        if let Some(prescribed) = prescribed {
            if outcome != prescribed {
                tally.failures.push(format!(
                    "{context}: got {outcome:?}, the recovery table says {prescribed:?}"
                ));
            }
        }
        if damage == Damage::Cut && !matches!(outcome, Outcome::Corrupt { .. }) {
            tally
                .failures
                .push(format!("{context}: a cut segment gave {outcome:?}"));
        }
    }
    tally
}

/// Runs `cases` on every core; panics listing the first failures.
fn run_all(original: &Original, cases: Vec<(usize, u64, Damage)>) -> Tally {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = cases.len().div_ceil(threads).max(1);
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let workers: Vec<_> = cases
            .chunks(chunk)
            .map(|part| scope.spawn(move || run_cases(original, part)))
            .collect();
        for worker in workers {
            tally.merge(worker.join().expect("worker"));
        }
    });
    tally
}

fn assert_no_failures(tally: &Tally, what: &str) {
    eprintln!(
        "{what}: {} cases: {} opened ({} with a torn tail cut), {} corrupt, {} unsupported",
        tally.cases, tally.opened, tally.torn_tails, tally.corrupt, tally.unsupported
    );
    assert!(
        tally.failures.is_empty(),
        "{what}: {} of {} cases failed; the first ones:\n{}",
        tally.failures.len(),
        tally.cases,
        tally
            .failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_flipped_byte_anywhere_is_cut_as_a_torn_tail_or_reported() {
    let original = build();
    let cases: Vec<(usize, u64, Damage)> = original
        .segments
        .iter()
        .enumerate()
        .flat_map(|(index, segment)| {
            offsets(segment)
                .into_iter()
                .map(move |offset| (index, offset, Damage::Flip))
        })
        .collect();
    let tally = run_all(&original, cases);
    assert_no_failures(&tally, "flips");
    assert!(tally.torn_tails > 0 && tally.corrupt > 0);
}

#[test]
fn a_cut_anywhere_is_reported() {
    let original = build();
    let cases: Vec<(usize, u64, Damage)> = original
        .segments
        .iter()
        .enumerate()
        .flat_map(|(index, segment)| {
            offsets(segment)
                .into_iter()
                .map(move |offset| (index, offset, Damage::Cut))
        })
        .collect();
    let tally = run_all(&original, cases);
    assert_no_failures(&tally, "cuts");
}

/// The specific rows, spelled out once each (the sweeps above check them at every byte).
#[test]
fn recovery_table_rows_at_chosen_bytes() {
    let original = build();
    let last = &original.segments[2];
    let batches: Vec<u64> = {
        let mut starts: Vec<u64> = last.records.iter().map(|r| r.batch_start).collect();
        starts.dedup();
        starts
    };
    let total = original.records.len();

    // Row 2: a flipped payload byte in the first segment's last record.
    let victim = original.segments[0].records.last().expect("records");
    let outcome = damage_and_open(&original, 0, victim.offset + 33, Damage::Flip);
    assert_eq!(
        outcome,
        Ok(Outcome::Corrupt {
            offset: victim.offset,
            last_good: original.records[victim.index - 1].0,
        })
    );

    // Row 4: the last record of the last segment, followed by zeros.
    let victim = last.records.last().expect("records");
    let outcome = damage_and_open(&original, 2, victim.offset + 8, Damage::Flip);
    assert_eq!(
        outcome,
        Ok(Outcome::Opened {
            records: total - 1,
            torn: Some((last.name.clone(), victim.offset)),
        })
    );

    // Row 3: a record of an earlier batch of the last segment.
    let victim = last
        .records
        .iter()
        .find(|r| r.batch_start == batches[1])
        .expect("a record of the second batch");
    let outcome = damage_and_open(&original, 2, victim.offset + 4, Damage::Flip);
    assert_eq!(
        outcome,
        Ok(Outcome::Corrupt {
            offset: victim.offset,
            last_good: original.records[victim.index - 1].0,
        })
    );

    // A header of a newer format version, with a valid checksum: unsupported, not corrupt.
    for segment in 0..3 {
        let disk = original.disk.crash_keep_all();
        let name = &original.segments[segment].name;
        let mut header = disk.read(name).expect("read")[..SEGMENT_HEADER_LEN].to_vec();
        header[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32(&header[..60]);
        header[60..64].copy_from_slice(&crc.to_le_bytes());
        for (i, byte) in header.iter().enumerate() {
            disk.corrupt(name, i as u64, |b| *b = *byte)
                .expect("rewrite");
        }
        match TxnLog::open(Arc::new(disk.clone()), config()) {
            Err(Error::UnsupportedVersion {
                path,
                found,
                supported,
            }) => {
                assert_eq!(path, disk.path_of(name));
                assert_eq!((found, supported), (2, 1));
            }
            Err(other) => panic!("segment {segment}: expected UnsupportedVersion, got {other}"),
            Ok(_) => panic!("segment {segment}: a version 2 segment opened"),
        }
    }
}

/// CRC-32 (IEEE), bitwise: the test's own, so that it does not depend on the engine's.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

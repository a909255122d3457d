//! Checked-in logs of format version 1 (`tests/fixtures/log-v1-*`, described in
//! `tests/fixtures/README.md`) still open as documented: a future change of the format, or of
//! recovery, that breaks logs written by this version is caught here.
//!
//! Each fixture is opened from a copy in a temporary directory: opening cuts torn tails and writes
//! the `.torn-` file, which must not touch the checked-in files.
//!
//! `regenerate_fixtures` (ignored) wrote them. Never regenerate the fixtures of a released
//! version: a new format version gets new `log-v2-*` directories next to these, and these stay.

mod crash_support;

use std::path::{Path, PathBuf};

use crash_support::read_all;
use zk_engine::format::record::{encode_into, RecordHeader};
use zk_engine::format::segment_header::{parse_segment_file_name, SegmentHeader};
use zk_engine::storage::WriteMode;
use zk_engine::txnlog::{LogConfig, RecoveryReport, TxnLog};
use zk_engine::{Error, Zxid};

const SEGMENT_SIZE: u64 = 64 * 1024;

fn config() -> LogConfig {
    LogConfig {
        segment_size: SEGMENT_SIZE,
        write_mode: WriteMode::Pwrite,
        ..LogConfig::default()
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixtures' records, batch by batch: zxid and payload length. The first segment holds the
/// first three batches; the 5000-byte record does not fit after the 60000-byte one and starts the
/// second segment, which holds three batches (the second one starts epoch 2).
fn plan() -> Vec<Vec<(Zxid, usize)>> {
    let e1 = |counter| Zxid::new(1, counter);
    let e2 = |counter| Zxid::new(2, counter);
    vec![
        vec![(e1(1), 100), (e1(2), 0), (e1(3), 37)],
        vec![(e1(4), 500), (e1(5), 13)],
        vec![(e1(6), 60_000)],
        vec![(e1(7), 5000)],
        vec![(e2(1), 7)],
        vec![(e2(2), 250), (e2(3), 1)],
    ]
}

fn payload(zxid: Zxid, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (zxid.0.wrapping_mul(7) as usize + i * 13) as u8)
        .collect()
}

fn expected_records() -> Vec<(Zxid, Vec<u8>)> {
    plan()
        .into_iter()
        .flatten()
        .map(|(zxid, len)| (zxid, payload(zxid, len)))
        .collect()
}

const FIRST_SEGMENT: &str = "log.0000000100000001";
const LAST_SEGMENT: &str = "log.0000000100000007";
/// Where the records of the last segment end in `log-v1-clean`.
const LAST_SEGMENT_END: u64 = 5464;
/// The torn tail of `log-v1-torn-tail`: a record of zxid 2.4 (1000-byte payload) of which only
/// the bytes up to the next 512-byte boundary reached the disk.
const TORN_BYTES: u64 = 168;
/// The damaged record of `log-v1-corrupt-middle`: zxid 1.5 in the first segment, one payload byte
/// flipped.
const CORRUPT_OFFSET: u64 = 840;
const CORRUPT_BYTE: u64 = CORRUPT_OFFSET + 32 + 3;

/// Copies the segment files of fixture `name` into a new temporary directory.
fn copy_of(name: &str) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("log");
    std::fs::create_dir(&dir).expect("mkdir");
    let source = fixtures().join(name);
    for entry in std::fs::read_dir(&source).expect("the fixture directory") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy");
    }
    (temp, dir)
}

fn open_copy(
    name: &str,
) -> (
    tempfile::TempDir,
    PathBuf,
    Result<(TxnLog, RecoveryReport), Error>,
) {
    let (temp, dir) = copy_of(name);
    let opened = TxnLog::open_path(&dir, config());
    (temp, dir, opened)
}

#[test]
fn clean_v1_log_opens_with_every_record() {
    let (_temp, _dir, opened) = open_copy("log-v1-clean");
    let (log, report) = opened.expect("log-v1-clean opens");
    assert_eq!(report.segments, 2);
    assert_eq!(report.records, 10);
    assert_eq!(report.first_zxid, Zxid::new(1, 1));
    assert_eq!(report.last_zxid, Zxid::new(2, 3));
    assert_eq!(report.base_zxid, Zxid::NONE);
    assert_eq!(report.torn_tail, None);
    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(read_all(&log, "log-v1-clean"), expected_records());
    let names: Vec<String> = log.segments().into_iter().map(|s| s.name).collect();
    assert_eq!(names, [FIRST_SEGMENT, LAST_SEGMENT]);
    // The log goes on from there.
    log.append(Zxid::new(2, 4), b"after".to_vec())
        .expect("append")
        .wait()
        .expect("durable");
}

#[test]
fn v1_log_with_a_torn_tail_is_cut_and_opens() {
    let (_temp, dir, opened) = open_copy("log-v1-torn-tail");
    let (log, report) = opened.expect("log-v1-torn-tail opens");
    let torn = report.torn_tail.clone().expect("a torn tail is reported");
    assert_eq!(torn.segment, LAST_SEGMENT);
    assert_eq!(torn.offset, LAST_SEGMENT_END);
    assert_eq!(torn.bytes, TORN_BYTES);
    assert_eq!(torn.valid_records_cut, 0);
    assert_eq!(report.records, 10);
    assert_eq!(report.last_zxid, Zxid::new(2, 3));
    assert_eq!(read_all(&log, "log-v1-torn-tail"), expected_records());
    // The cut bytes are kept aside, and are those of the checked-in file.
    let original =
        std::fs::read(fixtures().join("log-v1-torn-tail").join(LAST_SEGMENT)).expect("the fixture");
    let saved = std::fs::read(dir.join(&torn.saved_as)).expect("the .torn- file");
    let start = LAST_SEGMENT_END as usize;
    assert_eq!(saved, original[start..start + TORN_BYTES as usize]);
}

#[test]
fn v1_log_damaged_in_the_middle_does_not_open() {
    let (_temp, dir, opened) = open_copy("log-v1-corrupt-middle");
    match opened {
        Err(Error::Corrupt {
            path,
            offset,
            last_good_zxid,
            reason,
        }) => {
            assert_eq!(path, dir.join(FIRST_SEGMENT));
            assert_eq!(offset, CORRUPT_OFFSET);
            assert_eq!(last_good_zxid, Zxid::new(1, 4));
            assert!(reason.contains("checksum"), "{reason}");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("log-v1-corrupt-middle opened"),
    }
}

/// The checked-in fixtures are what `regenerate_fixtures` describes: the damaged ones differ from
/// the clean one only where they should.
#[test]
fn fixtures_differ_only_where_documented() {
    let read = |fixture: &str, segment: &str| {
        std::fs::read(fixtures().join(fixture).join(segment)).expect("a fixture file")
    };
    for fixture in ["log-v1-clean", "log-v1-torn-tail", "log-v1-corrupt-middle"] {
        let mut names: Vec<String> = std::fs::read_dir(fixtures().join(fixture))
            .expect("fixture")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names, [FIRST_SEGMENT, LAST_SEGMENT], "{fixture}");
    }
    let clean_last = read("log-v1-clean", LAST_SEGMENT);
    let torn_last = read("log-v1-torn-tail", LAST_SEGMENT);
    let changed: Vec<usize> = (0..clean_last.len())
        .filter(|&i| clean_last[i] != torn_last[i])
        .collect();
    assert!(changed.first() >= Some(&(LAST_SEGMENT_END as usize)));
    assert!(changed.last() < Some(&((LAST_SEGMENT_END + TORN_BYTES) as usize)));
    assert_eq!(
        read("log-v1-torn-tail", FIRST_SEGMENT),
        read("log-v1-clean", FIRST_SEGMENT)
    );

    let clean_first = read("log-v1-clean", FIRST_SEGMENT);
    let corrupt_first = read("log-v1-corrupt-middle", FIRST_SEGMENT);
    let changed: Vec<usize> = (0..clean_first.len())
        .filter(|&i| clean_first[i] != corrupt_first[i])
        .collect();
    assert_eq!(changed, [CORRUPT_BYTE as usize]);
    assert_eq!(read("log-v1-corrupt-middle", LAST_SEGMENT), clean_last);
}

/// Writes the fixtures with the engine of today. Run only to create fixtures for a new format
/// version (then rename the directories and constants): `cargo test -p zk-engine --test
/// log_fixtures -- --ignored regenerate_fixtures`.
#[test]
#[ignore = "writes the checked-in fixtures"]
fn regenerate_fixtures() {
    let temp = tempfile::tempdir().expect("tempdir");
    let work = temp.path().join("log");
    let (log, _) = TxnLog::open_path(&work, config()).expect("open");
    for batch in plan() {
        let completions: Vec<_> = batch
            .into_iter()
            .map(|(zxid, len)| log.append(zxid, payload(zxid, len)).expect("append"))
            .collect();
        for completion in completions {
            completion.wait().expect("durable");
        }
    }
    log.close().expect("close");
    let segments: Vec<PathBuf> = {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&work)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(parse_segment_file_name)
                    .is_some()
            })
            .collect();
        names.sort();
        names
    };
    let names: Vec<String> = segments
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [FIRST_SEGMENT, LAST_SEGMENT]);

    let write_fixture = |fixture: &str, edit: &dyn Fn(&str, &mut Vec<u8>)| {
        let dir = fixtures().join(fixture);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove the old fixture");
        }
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (path, name) in segments.iter().zip(&names) {
            let mut bytes = std::fs::read(path).expect("read");
            edit(name, &mut bytes);
            std::fs::write(dir.join(name), bytes).expect("write");
        }
    };
    write_fixture("log-v1-clean", &|_, _| {});

    write_fixture("log-v1-torn-tail", &|name, bytes| {
        if name != LAST_SEGMENT {
            return;
        }
        let header = SegmentHeader::decode(bytes).expect("header");
        let end = LAST_SEGMENT_END;
        let mut offset = 64;
        while let Ok(record) = zk_engine::format::record::decode_at(bytes, header.salt, offset) {
            offset = record.next_offset;
        }
        assert_eq!(offset, end, "the records of the last segment end there");
        assert!(bytes[end as usize..].iter().all(|&b| b == 0));
        let zxid = Zxid::new(2, 4);
        let mut record = Vec::new();
        let header_fields = RecordHeader {
            zxid,
            batch_start: end,
        };
        encode_into(
            &mut record,
            header.salt,
            header_fields,
            &payload(zxid, 1000),
        );
        // Only the part up to the next sector boundary reached the disk.
        let landed = (end / 512 + 1) * 512 - end;
        assert_eq!(landed, TORN_BYTES);
        assert_ne!(
            record[landed as usize - 1],
            0,
            "the torn tail ends on a non-zero byte"
        );
        bytes[end as usize..(end + landed) as usize].copy_from_slice(&record[..landed as usize]);
    });

    write_fixture("log-v1-corrupt-middle", &|name, bytes| {
        if name == FIRST_SEGMENT {
            let header = SegmentHeader::decode(bytes).expect("header");
            let record = zk_engine::format::record::decode_at(bytes, header.salt, CORRUPT_OFFSET)
                .expect("the record to damage");
            assert_eq!(record.zxid, Zxid::new(1, 5));
            bytes[CORRUPT_BYTE as usize] ^= 0xFF;
        }
    });
}

//! The checked-in logs that `zk-logdump`'s golden tests read (`tests/fixtures/log-*`, described
//! in `tests/fixtures/README.md`), and the generator that wrote them.
//!
//! The generator is deterministic (fixed salts and times), so a test checks that the checked-in
//! bytes are exactly what it writes, and another that the engine's recovery classifies each
//! fixture as its README says: the tool's verdicts are then checked against the server's own.
//! Regenerate with `cargo test -p zk-tools --test logdump_fixtures -- --ignored`.

use std::path::{Path, PathBuf};

use zk_engine::format::record::{encode_into, RecordHeader};
use zk_engine::format::segment_header::{segment_file_name, SegmentHeader};
use zk_engine::storage::WriteMode;
use zk_engine::txn::{encode, Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader};
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::{Error, Zxid};

const SEGMENT_SIZE: u64 = 64 * 1024;
/// 2024-05-01T12:00:00Z.
const T0: i64 = 1_714_564_800_000;
const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;
const S3: i64 = 0x0200_0000_0000_0001;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn txn(session_id: i64, cxid: i32, zxid: Zxid, seconds: i64, body: TxnBody) -> Txn {
    Txn {
        header: TxnHeader {
            session_id,
            cxid,
            zxid,
            time_ms: T0 + seconds * 1000 + 250,
        },
        body,
    }
}

fn create(
    path: &str,
    data: &[u8],
    acl: Vec<Acl>,
    mode: CreateMode,
    parent_cversion: i32,
) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.to_owned(),
        data: Some(data.to_vec()),
        acl,
        mode,
        parent_cversion,
    })
}

fn open() -> Vec<Acl> {
    Acl::open_unsafe()
}

/// One segment: its salt, creation time and write batches.
struct SegmentPlan {
    salt: u64,
    created_ms: u64,
    batches: Vec<Vec<Txn>>,
}

/// The fixture log: three segments, epochs 1 and 2, every kind of transaction.
fn plan() -> Vec<SegmentPlan> {
    let e1 = |counter| Zxid::new(1, counter);
    let e2 = |counter| Zxid::new(2, counter);
    let binary: Vec<u8> = vec![0x00, 0x01, 0x02, 0xfe, 0xff, 0x7f, 0x0a];
    let blob: Vec<u8> = (0..300u32).map(|i| (i * 37 % 256) as u8).collect();
    vec![
        SegmentPlan {
            salt: 0x5eed_0001_a1b2_c3d4,
            created_ms: (T0 - 500) as u64,
            batches: vec![
                vec![
                    txn(
                        S1,
                        0,
                        e1(1),
                        0,
                        TxnBody::CreateSession { timeout_ms: 30_000 },
                    ),
                    txn(
                        S1,
                        1,
                        e1(2),
                        1,
                        create("/app", b"hello", open(), CreateMode::Persistent, 2),
                    ),
                    txn(
                        S1,
                        2,
                        e1(3),
                        2,
                        create(
                            "/app/config",
                            b"{\"k\": \"v\"}\n",
                            vec![
                                Acl::new(31, "digest", "admin:x1nq8J7vcE7mg9oS9N8Mq4XzyPc="),
                                Acl::new(1, "world", "anyone"),
                            ],
                            CreateMode::Persistent,
                            1,
                        ),
                    ),
                ],
                vec![
                    txn(
                        S1,
                        3,
                        e1(4),
                        3,
                        create(
                            "/app/lock-0000000001",
                            b"",
                            open(),
                            CreateMode::EphemeralSequential,
                            2,
                        ),
                    ),
                    txn(
                        S1,
                        4,
                        e1(5),
                        4,
                        TxnBody::SetData {
                            path: "/app/config".into(),
                            data: Some(binary),
                            version: 1,
                        },
                    ),
                    txn(
                        S1,
                        5,
                        e1(6),
                        5,
                        TxnBody::Multi(vec![
                            TxnBody::Create(CreateTxn {
                                path: "/app/jobs".into(),
                                data: None,
                                acl: open(),
                                mode: CreateMode::Persistent,
                                parent_cversion: 3,
                            }),
                            TxnBody::SetData {
                                path: "/app".into(),
                                data: Some(b"world".to_vec()),
                                version: 1,
                            },
                            TxnBody::Check {
                                path: "/app/config".into(),
                                version: 1,
                            },
                            TxnBody::Delete {
                                path: "/app/lock-0000000001".into(),
                            },
                        ]),
                    ),
                ],
            ],
        },
        SegmentPlan {
            salt: 0x5eed_0002_a1b2_c3d4,
            created_ms: (T0 + 5_900) as u64,
            batches: vec![
                vec![
                    txn(
                        S2,
                        0,
                        e1(7),
                        6,
                        TxnBody::CreateSession { timeout_ms: 10_000 },
                    ),
                    txn(
                        S2,
                        1,
                        e1(8),
                        7,
                        TxnBody::SetAcl {
                            path: "/app/jobs".into(),
                            acl: vec![Acl::new(3, "ip", "10.0.0.0/8"), Acl::new(31, "sasl", "zk")],
                            version: 1,
                        },
                    ),
                    txn(S2, 2, e1(9), 8, TxnBody::Error { code: -101 }),
                ],
                vec![
                    txn(
                        S2,
                        3,
                        e1(10),
                        9,
                        TxnBody::Multi(vec![
                            TxnBody::Error { code: 0 },
                            TxnBody::Error { code: -110 },
                            TxnBody::Error { code: -2 },
                        ]),
                    ),
                    txn(
                        S2,
                        4,
                        e1(11),
                        10,
                        create("/app/jobs/c", b"x", open(), CreateMode::Container, 1),
                    ),
                    txn(
                        S2,
                        5,
                        e1(12),
                        11,
                        create(
                            "/app/ttl",
                            b"expires",
                            open(),
                            CreateMode::PersistentWithTtl { ttl_ms: 60_000 },
                            4,
                        ),
                    ),
                    txn(
                        S2,
                        6,
                        e1(13),
                        12,
                        create("/app/e", b"", open(), CreateMode::Ephemeral, 5),
                    ),
                ],
            ],
        },
        SegmentPlan {
            salt: 0x5eed_0003_a1b2_c3d4,
            created_ms: (T0 + 60_000) as u64,
            batches: vec![
                vec![
                    txn(
                        S3,
                        0,
                        e2(1),
                        61,
                        TxnBody::CreateSession { timeout_ms: 4_000 },
                    ),
                    txn(
                        S3,
                        1,
                        e2(2),
                        62,
                        create("/app/blob", &blob, open(), CreateMode::Persistent, 6),
                    ),
                    txn(
                        S3,
                        2,
                        e2(3),
                        63,
                        create(
                            "/app/na\u{ef}ve name",
                            b"say \"hi\"\tthen\nleave",
                            open(),
                            CreateMode::PersistentSequential,
                            7,
                        ),
                    ),
                ],
                vec![
                    txn(
                        S2,
                        0,
                        e2(4),
                        120,
                        TxnBody::CloseSession {
                            paths: vec!["/app/e".into()],
                        },
                    ),
                    txn(
                        S3,
                        3,
                        e2(5),
                        121,
                        TxnBody::Delete {
                            path: "/app/ttl".into(),
                        },
                    ),
                ],
            ],
        },
    ]
}

/// Encodes one segment, preallocated length included.
fn segment_bytes(prev_zxid: Zxid, plan: &SegmentPlan) -> (String, Vec<u8>) {
    let first_zxid = plan.batches[0][0].header.zxid;
    let header = SegmentHeader {
        salt: plan.salt,
        first_zxid,
        prev_zxid,
        segment_size: SEGMENT_SIZE,
        created_ms: plan.created_ms,
    };
    let mut bytes = header.encode().to_vec();
    for batch in &plan.batches {
        let batch_start = bytes.len() as u64;
        for txn in batch {
            let record = RecordHeader {
                zxid: txn.header.zxid,
                batch_start,
            };
            encode_into(&mut bytes, plan.salt, record, &encode(txn));
        }
    }
    assert!(bytes.len() as u64 <= SEGMENT_SIZE);
    bytes.resize(SEGMENT_SIZE as usize, 0);
    (segment_file_name(first_zxid), bytes)
}

/// The clean log: file names and bytes.
fn clean_log() -> Vec<(String, Vec<u8>)> {
    let mut prev = Zxid::NONE;
    let mut files = Vec::new();
    for segment in plan() {
        files.push(segment_bytes(prev, &segment));
        prev = segment
            .batches
            .last()
            .and_then(|b| b.last())
            .map(|t| t.header.zxid)
            .expect("records");
    }
    files
}

/// Where the records of a segment end.
fn records_end(bytes: &[u8]) -> u64 {
    let header = SegmentHeader::decode(bytes).expect("header");
    let mut offset = 64;
    while let Ok(record) = zk_engine::format::record::decode_at(bytes, header.salt, offset) {
        offset = record.next_offset;
    }
    offset
}

/// Offset of the record of `zxid` in a segment.
fn record_offset(bytes: &[u8], zxid: Zxid) -> u64 {
    let header = SegmentHeader::decode(bytes).expect("header");
    let mut offset = 64;
    loop {
        let record =
            zk_engine::format::record::decode_at(bytes, header.salt, offset).expect("record");
        if record.zxid == zxid {
            return offset;
        }
        offset = record.next_offset;
    }
}

/// The files of a log directory: names and bytes.
type Files = Vec<(String, Vec<u8>)>;

/// Every fixture: directory name and files.
fn all_fixtures() -> Vec<(&'static str, Files)> {
    let clean = clean_log();

    // A crash in the middle of writing the batch of zxid 2.6 (a set of 1000 bytes): only the
    // bytes up to the next 512-byte boundary reached the disk.
    let mut torn = clean.clone();
    {
        let (_, bytes) = &mut torn[2];
        let header = SegmentHeader::decode(bytes).expect("header");
        let end = records_end(bytes);
        let zxid = Zxid::new(2, 6);
        let cut = txn(
            S3,
            4,
            zxid,
            122,
            TxnBody::SetData {
                path: "/app/blob".into(),
                data: Some(vec![b'z'; 1000]),
                version: 1,
            },
        );
        let mut record = Vec::new();
        encode_into(
            &mut record,
            header.salt,
            RecordHeader {
                zxid,
                batch_start: end,
            },
            &encode(&cut),
        );
        let mut landed = (end / 512 + 1) * 512 - end;
        if landed < 64 {
            landed += 512;
        }
        let landed = landed as usize;
        assert!(landed < record.len() && record[landed - 1] != 0);
        bytes[end as usize..end as usize + landed].copy_from_slice(&record[..landed]);
    }

    // One flipped bit in the path of the setACL of zxid 1.8, in the middle segment.
    let mut corrupt = clean.clone();
    {
        let (_, bytes) = &mut corrupt[1];
        let at = record_offset(bytes, Zxid::new(1, 8)) as usize + 32 + 30 + 4 + 1;
        assert_eq!(bytes[at], b'a');
        bytes[at] ^= 0x20;
    }

    // The middle segment deleted.
    let mut missing = clean.clone();
    missing.remove(1);

    vec![
        ("log-clean", clean),
        ("log-torn-tail", torn),
        ("log-corrupt-middle", corrupt),
        ("log-missing-segment", missing),
    ]
}

fn checked_in(fixture: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures().join(fixture);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("entry");
            let name = entry.file_name().into_string().expect("utf-8 name");
            (name, std::fs::read(entry.path()).expect("read"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn fixtures_are_what_the_generator_writes() {
    for (fixture, files) in all_fixtures() {
        let on_disk = checked_in(fixture);
        let names: Vec<&String> = on_disk.iter().map(|(n, _)| n).collect();
        let expected: Vec<&String> = files.iter().map(|(n, _)| n).collect();
        assert_eq!(names, expected, "{fixture}");
        for ((name, bytes), (_, expected)) in on_disk.iter().zip(&files) {
            assert!(
                bytes == expected,
                "{fixture}/{name} differs from the generator"
            );
        }
    }
}

fn copy_of(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("log");
    std::fs::create_dir(&dir).expect("mkdir");
    for (name, bytes) in checked_in(fixture) {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    (temp, dir)
}

fn config() -> LogConfig {
    LogConfig {
        segment_size: SEGMENT_SIZE,
        write_mode: WriteMode::Pwrite,
        ..LogConfig::default()
    }
}

/// The engine's recovery agrees with what `tests/fixtures/README.md` says of each fixture.
#[test]
fn the_engine_classifies_the_fixtures_as_documented() {
    let (_temp, dir) = copy_of("log-clean");
    let (log, report) = TxnLog::open_path(&dir, config()).expect("log-clean opens");
    assert_eq!((report.segments, report.records), (3, 18));
    assert_eq!(report.last_zxid, Zxid::new(2, 5));
    assert_eq!(report.torn_tail, None);
    drop(log);

    let (_temp, dir) = copy_of("log-torn-tail");
    let (_log, report) = TxnLog::open_path(&dir, config()).expect("log-torn-tail opens");
    let torn = report.torn_tail.expect("a torn tail");
    assert_eq!(torn.segment, "log.0000000200000001");
    assert_eq!(report.last_zxid, Zxid::new(2, 5));

    for (fixture, file, last_good) in [
        (
            "log-corrupt-middle",
            "log.0000000100000007",
            Zxid::new(1, 7),
        ),
        (
            "log-missing-segment",
            "log.0000000200000001",
            Zxid::new(1, 6),
        ),
    ] {
        let (_temp, dir) = copy_of(fixture);
        match TxnLog::open_path(&dir, config()) {
            Err(Error::Corrupt {
                path,
                last_good_zxid,
                ..
            }) => {
                assert_eq!(path, dir.join(file), "{fixture}");
                assert_eq!(last_good_zxid, last_good, "{fixture}");
            }
            Err(other) => panic!("{fixture}: expected Corrupt, got {other}"),
            Ok(_) => panic!("{fixture} opened"),
        }
    }
}

/// Writes the fixtures. Run only when the fixture plan changes, then update the golden files
/// (`UPDATE_GOLDEN=1 cargo test -p zk-tools --test logdump_golden`) and review the diff.
#[test]
#[ignore = "writes the checked-in fixtures"]
fn regenerate_fixtures() {
    for (fixture, files) in all_fixtures() {
        let dir = fixtures().join(fixture);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove the old fixture");
        }
        std::fs::create_dir_all(&dir).expect("mkdir");
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).expect("write");
        }
    }
}

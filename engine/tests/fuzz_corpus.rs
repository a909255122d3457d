//! Replays the fuzz corpus of the engine's targets on stable Rust: every file in
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through the target body in
//! `zk_engine::fuzzing`, as `cargo +nightly fuzz run <target>` would feed it.
//!
//! The seed corpus is written by `write_seed_corpus` (ignored) from real files: segments written
//! by the log on a simulated disk, and encoded transactions. Regenerate it with
//! `cargo test -p zk-engine --test fuzz_corpus -- --ignored write_seed_corpus`; it replaces
//! only the `seed-*` files. A crash found by the fuzzer goes to `fuzz/regressions/<target>/`
//! with a named test below.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zk_engine::format::record::{self, RecordHeader};
use zk_engine::format::segment_header::SegmentHeader;
use zk_engine::fuzzing::{
    log_recovery, log_recovery_input, log_segment_scan, log_segment_scan_input, txn_decode,
    FUZZ_SEGMENT_SIZE,
};
use zk_engine::storage::sim::SimDir;
use zk_engine::txn::{encode, Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader, TTL_MAX_MS};
use zk_engine::txnlog::scan::scan_segment;
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::Zxid;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("read a corpus directory").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `body` on every corpus and regression input of `target`; the seed corpus must be there.
fn replay(target: &str, body: fn(&[u8])) {
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "no corpus in fuzz/corpus/{target}/: run write_seed_corpus"
    );
    for path in corpus.iter().chain(&inputs("regressions", target)) {
        let data = fs::read(path).expect("read a corpus file");
        println!("{target}: {} ({} bytes)", path.display(), data.len());
        body(&data);
    }
}

#[test]
fn log_segment_scan_corpus() {
    replay("log_segment_scan", log_segment_scan);
}

#[test]
fn log_recovery_corpus() {
    replay("log_recovery", log_recovery);
}

#[test]
fn txn_decode_corpus() {
    replay("txn_decode", txn_decode);
}

// ---- Seed corpus ----

fn header(zxid: Zxid) -> TxnHeader {
    TxnHeader {
        session_id: 0x0100_0000_0000_0001,
        cxid: zxid.counter() as i32,
        zxid,
        time_ms: 1_780_000_000_000,
    }
}

fn create(path: &str, mode: CreateMode) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.to_owned(),
        data: Some(b"hello".to_vec()),
        acl: Acl::open_unsafe(),
        mode,
        parent_cversion: 1,
    })
}

/// One transaction of every body kind and create mode.
fn sample_bodies() -> Vec<(&'static str, TxnBody)> {
    vec![
        ("create", create("/a", CreateMode::Persistent)),
        ("create-ephemeral", create("/e", CreateMode::Ephemeral)),
        (
            "create-sequential",
            create("/s0000000001", CreateMode::PersistentSequential),
        ),
        (
            "create-ephemeral-sequential",
            create("/es0000000002", CreateMode::EphemeralSequential),
        ),
        ("create-container", create("/c", CreateMode::Container)),
        (
            "create-ttl",
            create("/t", CreateMode::PersistentWithTtl { ttl_ms: 60_000 }),
        ),
        (
            "create-sequential-ttl",
            create(
                "/t0000000003",
                CreateMode::PersistentSequentialWithTtl { ttl_ms: TTL_MAX_MS },
            ),
        ),
        ("delete", TxnBody::Delete { path: "/a".into() }),
        (
            "set-data",
            TxnBody::SetData {
                path: "/a".into(),
                data: Some(vec![0xde, 0xad]),
                version: 3,
            },
        ),
        (
            "set-data-null",
            TxnBody::SetData {
                path: "/a".into(),
                data: None,
                version: 4,
            },
        ),
        (
            "set-acl",
            TxnBody::SetAcl {
                path: "/a".into(),
                acl: vec![
                    Acl::new(31, "digest", "user:hash"),
                    Acl::new(1, "ip", "10.0.0.0/8"),
                ],
                version: 1,
            },
        ),
        (
            "check",
            TxnBody::Check {
                path: "/a".into(),
                version: 2,
            },
        ),
        (
            "multi",
            TxnBody::Multi(vec![
                create("/m", CreateMode::Persistent),
                TxnBody::Check {
                    path: "/m".into(),
                    version: 0,
                },
                TxnBody::SetData {
                    path: "/m".into(),
                    data: Some(b"x".to_vec()),
                    version: 1,
                },
                TxnBody::Delete { path: "/m".into() },
            ]),
        ),
        (
            "multi-failed",
            TxnBody::Multi(vec![
                TxnBody::Error { code: 0 },
                TxnBody::Error { code: -101 },
            ]),
        ),
        (
            "create-session",
            TxnBody::CreateSession { timeout_ms: 30_000 },
        ),
        (
            "close-session",
            TxnBody::CloseSession {
                paths: vec!["/e".into(), "/es0000000002".into()],
            },
        ),
        ("error", TxnBody::Error { code: -110 }),
    ]
}

fn txn(zxid: Zxid, body: TxnBody) -> Vec<u8> {
    encode(&Txn {
        header: header(zxid),
        body,
    })
}

/// Appends `zxid` with `payload` and waits until it is durable.
fn append(log: &TxnLog, zxid: Zxid, payload: Vec<u8>) {
    let done = log.append(zxid, payload).expect("append").wait();
    assert_eq!(done.expect("durable"), zxid);
}

/// Where the next record of `segment` goes.
fn end_offset(segment: &[u8]) -> u64 {
    let first = SegmentHeader::decode(segment).expect("header").first_zxid;
    scan_segment(segment, first, true, None, |_, _| {}).end_offset
}

/// Appends a set-data transaction whose record fills the active segment to its last byte; its
/// data and version are zeros, so that the segment ends in zeros (and an input carrying it
/// stays small).
fn fill_segment(log: &TxnLog, sim: &SimDir, zxid: Zxid) {
    let active = log.segments().last().expect("a segment").name.clone();
    let end = end_offset(&sim.file_bytes(&active).expect("segment"));
    let room = (FUZZ_SEGMENT_SIZE - end) as usize - record::encoded_len(0) as usize;
    let empty = txn(
        zxid,
        TxnBody::SetData {
            path: "/f".into(),
            data: Some(Vec::new()),
            version: 0,
        },
    );
    let payload = txn(
        zxid,
        TxnBody::SetData {
            path: "/f".into(),
            data: Some(vec![0; room - empty.len()]),
            version: 0,
        },
    );
    append(log, zxid, payload);
}

/// A log of three segments, written by the log itself: epoch 1 in the first two, epoch 2 in the
/// third; each of the first two ends with a record that fills it.
fn three_segments() -> Vec<Vec<u8>> {
    let sim = SimDir::new();
    let config = LogConfig {
        segment_size: FUZZ_SEGMENT_SIZE,
        ..LogConfig::default()
    };
    let (log, _) = TxnLog::open(Arc::new(sim.clone()), config).expect("open");
    let bodies = sample_bodies();
    let mut counter = 0;
    let mut next = || {
        counter += 1;
        Zxid::new(1, counter)
    };
    for (_, body) in bodies.iter().take(6) {
        let zxid = next();
        append(&log, zxid, txn(zxid, body.clone()));
    }
    fill_segment(&log, &sim, next());
    for (_, body) in bodies.iter().skip(6).take(5) {
        let zxid = next();
        append(&log, zxid, txn(zxid, body.clone()));
    }
    fill_segment(&log, &sim, next());
    for (counter, (_, body)) in (1..).zip(bodies.iter().skip(11)) {
        let zxid = Zxid::new(2, counter);
        append(&log, zxid, txn(zxid, body.clone()));
    }
    let segments = log.segments();
    log.close().expect("close");
    assert_eq!(segments.len(), 3, "{segments:?}");
    segments
        .iter()
        .map(|s| sim.file_bytes(&s.name).expect("segment bytes"))
        .collect()
}

/// `segment` with the first 100 bytes of one more record (a batch cut by a power loss) after
/// its last record.
fn with_torn_tail(segment: &[u8]) -> Vec<u8> {
    let header = SegmentHeader::decode(segment).expect("header");
    let end = end_offset(segment);
    let first = header.first_zxid;
    let last = scan_segment(segment, first, true, None, |_, _| {}).last_zxid;
    let zxid = Zxid(last.0 + 1);
    let mut record = Vec::new();
    record::encode_into(
        &mut record,
        header.salt,
        RecordHeader {
            zxid,
            batch_start: end,
        },
        &txn(zxid, create("/torn", CreateMode::Persistent)),
    );
    let mut torn = segment.to_vec();
    torn[end as usize..end as usize + 100].copy_from_slice(&record[..100]);
    torn
}

fn with_byte_flipped(segment: &[u8], offset: usize) -> Vec<u8> {
    let mut damaged = segment.to_vec();
    damaged[offset] ^= 0x40;
    damaged
}

/// Replaces the `seed-*` files of `fuzz/corpus/<target>/` with `seeds`, after checking that the
/// target accepts each of them.
fn write_seeds(target: &str, body: fn(&[u8]), seeds: &[(String, Vec<u8>)]) {
    let dir = fuzz_dir().join("corpus").join(target);
    fs::create_dir_all(&dir).expect("create the corpus directory");
    for old in inputs("corpus", target) {
        let name = old.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("seed-") {
            fs::remove_file(&old).expect("remove an old seed");
        }
    }
    for (name, data) in seeds {
        body(data);
        fs::write(dir.join(format!("seed-{name}")), data).expect("write a seed");
    }
}

#[test]
#[ignore = "writes fuzz/corpus/; run by hand to regenerate the seeds"]
fn write_seed_corpus() {
    let segments = three_segments();
    let [first, second, third] = [&segments[0], &segments[1], &segments[2]];
    let torn_third = with_torn_tail(third);
    // Offset 64 + 40: inside the payload of the first record.
    let damaged_first = with_byte_flipped(first, 104);
    let zeros = vec![0u8; FUZZ_SEGMENT_SIZE as usize];

    // Control bits 0-1: image mode (1 padded, 3 record checksums repaired); bits 2-3: expected
    // previous zxid (1 = the header's).
    let scan = vec![
        ("first".into(), log_segment_scan_input(0x01, first)),
        (
            "second-after-first".into(),
            log_segment_scan_input(0x05, second),
        ),
        (
            "third-new-epoch".into(),
            log_segment_scan_input(0x05, third),
        ),
        (
            "torn-tail".into(),
            log_segment_scan_input(0x01, &torn_third),
        ),
        (
            "damaged".into(),
            log_segment_scan_input(0x01, &damaged_first),
        ),
        ("torn-roll".into(), log_segment_scan_input(0x01, &zeros)),
        ("repaired".into(), log_segment_scan_input(0x03, second)),
        ("raw-header-only".into(), {
            let mut raw = vec![0x00];
            raw.extend_from_slice(&first[..64]);
            raw
        }),
    ];
    write_seeds("log_segment_scan", log_segment_scan, &scan);

    // Control bits 2-3: image mode (1 padded, 3 record checksums repaired); bit 4: leftover
    // temporary files; bit 5: unrelated files.
    let recovery = vec![
        ("one-segment".into(), log_recovery_input(0x04, &[first])),
        (
            "three-segments".into(),
            log_recovery_input(0x04, &[first, second, third]),
        ),
        (
            "torn-tail".into(),
            log_recovery_input(0x04, &[first, second, &torn_third]),
        ),
        (
            "torn-roll".into(),
            log_recovery_input(0x04, &[first, second, &zeros]),
        ),
        (
            "damaged-middle".into(),
            log_recovery_input(0x04, &[&damaged_first, second]),
        ),
        (
            "missing-middle".into(),
            log_recovery_input(0x04, &[first, third]),
        ),
        (
            "leftovers".into(),
            log_recovery_input(0x34, &[first, second]),
        ),
        (
            "repaired".into(),
            log_recovery_input(0x0c, &[second, third]),
        ),
    ];
    write_seeds("log_recovery", log_recovery, &recovery);

    let txns: Vec<(String, Vec<u8>)> = sample_bodies()
        .into_iter()
        .zip(1..)
        .map(|((name, body), counter)| (name.to_owned(), txn(Zxid::new(1, counter), body)))
        .collect();
    write_seeds("txn_decode", txn_decode, &txns);
}

#[test]
fn snapshot_read_corpus() {
    replay("snapshot_read", zk_engine::fuzzing::snapshot_read);
}

/// Seeds for `snapshot_read`: a small real snapshot (sessions, shared ACLs, null and empty data,
/// containers), the same with a byte flipped inside a block, and cut short.
#[test]
#[ignore = "writes fuzz/corpus/; run by hand to regenerate the seeds"]
fn write_snapshot_seed_corpus() {
    use zk_engine::snapshot::{write_snapshot, SnapshotOptions};
    use zk_engine::tree::DataTree;
    let mut tree = DataTree::new();
    let mut zxid = 0u32;
    let mut apply = |tree: &mut DataTree, body: TxnBody| {
        zxid += 1;
        let header = TxnHeader {
            session_id: 7,
            cxid: zxid as i32,
            zxid: Zxid::new(1, zxid),
            time_ms: 1_700_000_000_000,
        };
        tree.apply(&Txn { header, body });
    };
    apply(&mut tree, TxnBody::CreateSession { timeout_ms: 30_000 });
    for (path, data, mode) in [
        ("/a", Some(b"alpha".to_vec()), CreateMode::Persistent),
        ("/a/null", None, CreateMode::Persistent),
        ("/a/empty", Some(Vec::new()), CreateMode::Persistent),
        ("/c", Some(b"box".to_vec()), CreateMode::Container),
        ("/e", Some(b"mine".to_vec()), CreateMode::Ephemeral),
    ] {
        apply(
            &mut tree,
            TxnBody::Create(CreateTxn {
                path: path.to_owned(),
                data,
                acl: Acl::open_unsafe(),
                mode,
                parent_cversion: 1,
            }),
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let info = write_snapshot(
        &std::sync::RwLock::new(tree),
        dir.path(),
        SnapshotOptions::default(),
    )
    .expect("snapshot");
    let clean = fs::read(&info.path).expect("read the snapshot");
    let mut flipped = clean.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    let cut = clean[..clean.len() - 10].to_vec();
    write_seeds(
        "snapshot_read",
        zk_engine::fuzzing::snapshot_read,
        &[
            ("clean".to_owned(), clean),
            ("flipped".to_owned(), flipped),
            ("cut".to_owned(), cut),
        ],
    );
}

//! The snapshot file (FORMAT.md 8) written and read back: the bytes of the header, blocks and
//! trailer as the tables give them; a round trip through the loader that restores every node,
//! ACL, stat and session; file-local ACL ids; and damage: every flipped byte and every cut is
//! reported as corruption at a plausible offset, and arbitrary bytes never make the reader panic.

mod snapshot_support;

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::sync::RwLock;

use proptest::prelude::*;
use snapshot_support::{assert_same_tree, Workload};
use zk_engine::snapshot::{
    load_snapshot, load_snapshot_from, read_snapshot, snapshot_file_name, temporary_file_name,
    verify_snapshot, write_snapshot, SnapshotHeader, SnapshotNode, SnapshotOptions,
    SnapshotSummary, SnapshotTrailer, SnapshotVisitor, SnapshotWriter, VisitError,
};
use zk_engine::tree::prepare::{allow_all, PendingChanges, Request};
use zk_engine::tree::DataTree;
use zk_engine::txn::{perms, Acl, CreateMode, TxnHeader};
use zk_engine::{Error, Zxid};

/// A tree after `count` random transactions.
fn random_tree(seed: u64, count: usize) -> DataTree {
    let mut tree = DataTree::new();
    let mut workload = Workload::new(seed, vec!["a", "b", "c", "d"], 3, 40);
    for _ in 0..count {
        let txn = workload.next_txn(&tree);
        tree.apply(&txn);
    }
    tree
}

fn small_blocks() -> SnapshotOptions {
    SnapshotOptions {
        chunk_nodes: 3,
        chunk_bytes: 200,
        block_size: 97, // sections straddle block boundaries
        compression_level: 1,
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[test]
fn bytes_follow_the_format_tables() {
    let dir = tempfile::tempdir().unwrap();
    let tree = random_tree(1, 300);
    let zxid = tree.last_applied_zxid();
    let digest = tree.digest();
    let nodes = tree.node_count() as u64;
    let sessions = tree.sessions().len() as u32;
    let lock = RwLock::new(tree);
    let info = write_snapshot(&lock, dir.path(), small_blocks()).unwrap();
    assert_eq!(info.path, dir.path().join(snapshot_file_name(zxid)));
    assert!(!dir.path().join(temporary_file_name(zxid)).exists());
    let bytes = fs::read(&info.path).unwrap();
    assert_eq!(bytes.len() as u64, info.file_len);

    // Header (8.1).
    assert_eq!(&bytes[0..8], b"\x89ZKSNAP\n");
    assert_eq!(u32_at(&bytes, 8), 2);
    assert_eq!(u32_at(&bytes, 12), 64);
    assert_eq!(u64_at(&bytes, 16), zxid.0);
    assert_eq!(u32_at(&bytes, 32), 1);
    assert_eq!(u32_at(&bytes, 36), 97);
    assert!(bytes[40..60].iter().all(|&b| b == 0));
    assert_eq!(u32_at(&bytes, 60), crc32fast::hash(&bytes[0..60]));

    // Trailer (8.4).
    let t = bytes.len() - 64;
    let trailer = &bytes[t..];
    assert_eq!(&trailer[0..8], b"\x89ZKSNEND");
    assert_eq!(u64_at(trailer, 8), zxid.0);
    assert_eq!(u64_at(trailer, 16), digest);
    assert_eq!(u64_at(trailer, 24), nodes);
    assert_eq!(u32_at(trailer, 32), sessions);
    assert_eq!(u32_at(trailer, 36), info.blocks);
    assert_eq!(u64_at(trailer, 40), info.body_len);
    assert_eq!(u32_at(trailer, 48), crc32fast::hash(&bytes[..t]));
    assert!(trailer[52..60].iter().all(|&b| b == 0));
    assert_eq!(u32_at(trailer, 60), crc32fast::hash(&trailer[0..60]));

    // Blocks (8.2), then the body stream (8.3) they make.
    let mut at = 64;
    let mut body = Vec::new();
    let mut blocks = 0;
    while at < t {
        let compressed_len = u32_at(&bytes, at) as usize;
        let uncompressed_len = u32_at(&bytes, at + 4) as usize;
        let frame = &bytes[at + 16..at + 16 + compressed_len];
        assert_eq!(u32_at(&bytes, at + 8), crc32fast::hash(frame));
        let content = zstd::bulk::decompress(frame, uncompressed_len).unwrap();
        assert_eq!(content.len(), uncompressed_len);
        assert!(uncompressed_len <= 97);
        assert_eq!(u32_at(&bytes, at + 12), crc32fast::hash(&content));
        body.extend_from_slice(&content);
        at += 16 + compressed_len;
        blocks += 1;
    }
    assert_eq!(at, t);
    assert_eq!(blocks, info.blocks);
    assert!(blocks > 10);
    assert_eq!(body.len() as u64, info.body_len);
    // Sessions first: tag 1 and the count, ids ascending.
    assert_eq!(body[0], 1);
    assert_eq!(u32_at(&body, 1), sessions);
    // Then the root's ACL list (tag 2, id 1) and the root (a compact node, tag 5, path "/").
    let after_sessions = 5 + 12 * sessions as usize;
    assert_eq!(body[after_sessions], 2);
    assert_eq!(u32_at(&body, after_sessions + 1), 1);
    let acl_entries = u32_at(&body, after_sessions + 5) as usize;
    let mut root = after_sessions + 9;
    for _ in 0..acl_entries {
        root += 4;
        for _ in 0..2 {
            root += 4 + u32_at(&body, root) as usize;
        }
    }
    assert_eq!(&body[root..root + 3], &[5, 1, b'/']);
    assert_eq!(*body.last().unwrap(), 4);
}

/// Records everything a snapshot holds, in order.
#[derive(Default)]
struct Recorder {
    begun: Option<(SnapshotHeader, SnapshotTrailer)>,
    sessions: Vec<(i64, i32)>,
    acl_lists: Vec<(u32, Vec<Acl>)>,
    nodes: Vec<(String, u32)>,
    finished: bool,
}

impl SnapshotVisitor for Recorder {
    fn begin(
        &mut self,
        header: &SnapshotHeader,
        trailer: &SnapshotTrailer,
    ) -> Result<(), VisitError> {
        self.begun = Some((*header, *trailer));
        Ok(())
    }
    fn session(&mut self, session_id: i64, timeout_ms: i32) -> Result<(), VisitError> {
        self.sessions.push((session_id, timeout_ms));
        Ok(())
    }
    fn acl_list(&mut self, id: u32, acl: Vec<Acl>) -> Result<(), VisitError> {
        self.acl_lists.push((id, acl));
        Ok(())
    }
    fn node(&mut self, node: &SnapshotNode<'_>) -> Result<(), VisitError> {
        self.nodes.push((node.path.to_owned(), node.acl_id));
        Ok(())
    }
    fn finish(&mut self, _summary: &SnapshotSummary) -> Result<(), VisitError> {
        self.finished = true;
        Ok(())
    }
}

#[test]
fn round_trip_restores_everything() {
    for (seed, options) in [
        (2, SnapshotOptions::default()),
        (3, small_blocks()),
        (
            4,
            SnapshotOptions {
                chunk_nodes: 1,
                chunk_bytes: 1,
                block_size: 1,
                compression_level: 3,
            },
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let tree = random_tree(seed, 400);
        assert!(!tree.sessions().is_empty() || seed != 2);
        let lock = RwLock::new(tree);
        let info = write_snapshot(&lock, dir.path(), options).unwrap();
        let tree = lock.into_inner().unwrap();
        assert_eq!(info.start_zxid, tree.last_applied_zxid());
        assert_eq!(info.end_zxid, tree.last_applied_zxid());
        assert_eq!(info.nodes, tree.node_count() as u64);
        let loaded = load_snapshot(&info.path).unwrap();
        assert_eq!(loaded.summary.trailer.digest, tree.digest());
        assert_same_tree(&loaded.tree, &tree);

        let mut recorder = Recorder::default();
        read_snapshot(&info.path, &mut recorder).unwrap();
        assert!(recorder.finished);
        let (header, trailer) = recorder.begun.unwrap();
        assert_eq!(header.start_zxid, tree.last_applied_zxid());
        assert_eq!(trailer.nodes, recorder.nodes.len() as u64);
        assert_eq!(recorder.nodes[0].0, "/");
        let sessions: Vec<(i64, i32)> = tree.sessions().iter().collect();
        assert_eq!(recorder.sessions, sessions);
        // ACL ids are 1, 2, 3... in order of first use, each list written once.
        let ids: Vec<u32> = recorder.acl_lists.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, (1..=ids.len() as u32).collect::<Vec<_>>());
        let mut lists: Vec<&Vec<Acl>> = recorder.acl_lists.iter().map(|(_, l)| l).collect();
        lists.sort();
        lists.dedup();
        assert_eq!(lists.len(), recorder.acl_lists.len());
    }
}

#[test]
fn sequential_counters_survive_a_snapshot() {
    let mut tree = DataTree::new();
    let mut workload = Workload::new(5, vec!["x"], 1, 0);
    let create = |path: &str, mode| Request::Create {
        path: path.into(),
        data: Some(vec![]),
        acl: Acl::open_unsafe(),
        mode,
    };
    for request in [
        create("/q", CreateMode::Persistent),
        create("/q/n-", CreateMode::PersistentSequential),
        create("/q/n-", CreateMode::PersistentSequential),
        Request::Delete {
            path: "/q/n-0000000001".into(),
            version: -1,
        },
    ] {
        let txn = workload.txn_for(&tree, 0x100, &request);
        tree.apply(&txn);
    }
    let dir = tempfile::tempdir().unwrap();
    let lock = RwLock::new(tree);
    let info = write_snapshot(&lock, dir.path(), SnapshotOptions::default()).unwrap();
    let mut loaded = load_snapshot(&info.path).unwrap().tree;
    let mut tree = lock.into_inner().unwrap();
    let request = create("/q/n-", CreateMode::PersistentSequential);
    let header = TxnHeader {
        session_id: 0x100,
        cxid: 9,
        zxid: Zxid::new(1, 9),
        time_ms: 9,
    };
    let on_loaded = PendingChanges::new().prepare(&loaded, header, &request, &allow_all);
    let on_original = PendingChanges::new().prepare(&tree, header, &request, &allow_all);
    assert_eq!(on_loaded, on_original);
    loaded.apply(&on_loaded);
    tree.apply(&on_original);
    assert!(tree.contains("/q/n-0000000002"));
    assert_same_tree(&loaded, &tree);
}

#[test]
fn acl_ids_are_local_to_the_file() {
    // The tree frees and reuses its own ACL ids; the file's ids are fresh and only defined once.
    let mut tree = DataTree::new();
    let mut workload = Workload::new(6, vec!["x"], 1, 0);
    let lists = [
        vec![Acl::new(perms::READ, "ip", "10.0.0.1")],
        vec![Acl::new(perms::ALL, "digest", "a:b")],
        vec![Acl::new(perms::ALL, "digest", "c:d")],
    ];
    for (i, acl) in lists.iter().enumerate() {
        let request = Request::Create {
            path: format!("/n{i}"),
            data: Some(vec![]),
            acl: acl.clone(),
            mode: CreateMode::Persistent,
        };
        let txn = workload.txn_for(&tree, 0x100, &request);
        tree.apply(&txn);
    }
    let lock = RwLock::new(tree);
    let dir = tempfile::tempdir().unwrap();
    let mut writer = SnapshotWriter::begin(
        &lock,
        dir.path(),
        SnapshotOptions {
            chunk_nodes: 1,
            ..SnapshotOptions::default()
        },
    )
    .unwrap();
    // Walk part of the tree, then replace the ACL of a node not yet visited with a list that
    // takes a freed tree id.
    writer.write_chunk(&lock).unwrap();
    writer.write_chunk(&lock).unwrap();
    {
        let mut tree = lock.write().unwrap();
        for path in ["/n0", "/n1", "/n2"] {
            let request = Request::SetAcl {
                path: path.into(),
                acl: vec![Acl::new(perms::WRITE, "sasl", path)],
                version: -1,
            };
            let txn = workload.txn_for(&tree, 0x100, &request);
            tree.apply(&txn);
        }
    }
    let info = writer.finish(&lock).unwrap();
    let mut recorder = Recorder::default();
    read_snapshot(&info.path, &mut recorder).unwrap();
    let ids: Vec<u32> = recorder.acl_lists.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=ids.len() as u32).collect::<Vec<_>>());
    // Every node refers to the list it had when it was visited.
    let loaded = load_snapshot(&info.path).unwrap().tree;
    let tree = lock.into_inner().unwrap();
    for path in ["/n0", "/n1", "/n2"] {
        let acl = loaded.get(path).unwrap().acl().to_vec();
        assert_eq!(acl, tree.get(path).unwrap().acl().to_vec(), "{path}");
    }
}

#[test]
fn a_dropped_writer_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let lock = RwLock::new(random_tree(7, 50));
    let zxid = lock.read().unwrap().last_applied_zxid();
    let mut writer = SnapshotWriter::begin(&lock, dir.path(), small_blocks()).unwrap();
    writer.write_chunk(&lock).unwrap();
    assert!(dir.path().join(temporary_file_name(zxid)).exists());
    drop(writer);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn expect_corrupt(path: &Path, what: &str) -> u64 {
    match verify_snapshot(path) {
        Err(Error::Corrupt {
            path: p, offset, ..
        }) => {
            assert_eq!(p, path, "{what}");
            offset
        }
        other => panic!("{what}: expected corruption, got {other:?}"),
    }
}

#[test]
fn every_flipped_byte_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let lock = RwLock::new(random_tree(8, 40));
    let options = SnapshotOptions {
        block_size: 120,
        ..small_blocks()
    };
    let info = write_snapshot(&lock, dir.path(), options).unwrap();
    assert!(info.blocks >= 4, "{info:?}");
    let good = fs::read(&info.path).unwrap();
    let damaged = dir.path().join("damaged");
    for at in 0..good.len() {
        // The lowest bit, and the highest one in turn.
        let mask = if at % 2 == 0 { 0x01u8 } else { 0x80 };
        let mut bytes = good.clone();
        bytes[at] ^= mask;
        fs::write(&damaged, &bytes).unwrap();
        let offset = expect_corrupt(&damaged, &format!("byte {at} ^ {mask:#x}"));
        // Reported at the header, at the block holding the byte, or at the trailer.
        assert!(
            offset <= at as u64 || offset == good.len() as u64 - 64,
            "byte {at}: reported at {offset}"
        );
    }
}

#[test]
fn every_cut_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let lock = RwLock::new(random_tree(9, 60));
    let info = write_snapshot(&lock, dir.path(), small_blocks()).unwrap();
    let good = fs::read(&info.path).unwrap();
    let cut = dir.path().join("cut");
    for len in 0..good.len() {
        fs::write(&cut, &good[..len]).unwrap();
        expect_corrupt(&cut, &format!("cut at {len}"));
    }
    // Bytes appended after the trailer: the trailer is no longer last.
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 7]);
    fs::write(&cut, &longer).unwrap();
    expect_corrupt(&cut, "7 bytes appended");
}

#[test]
fn a_newer_version_is_unsupported_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let lock = RwLock::new(random_tree(10, 20));
    let info = write_snapshot(&lock, dir.path(), SnapshotOptions::default()).unwrap();
    let mut bytes = fs::read(&info.path).unwrap();
    bytes[8] = 3;
    let crc = crc32fast::hash(&bytes[0..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    fs::write(&info.path, &bytes).unwrap();
    assert!(matches!(
        verify_snapshot(&info.path),
        Err(Error::UnsupportedVersion { found: 3, .. })
    ));
}

#[test]
fn a_visitor_can_reject_a_section() {
    struct Picky;
    impl SnapshotVisitor for Picky {
        fn node(&mut self, node: &SnapshotNode<'_>) -> Result<(), VisitError> {
            if node.path == "/zookeeper" {
                return Err(VisitError::Invalid("no /zookeeper here".into()));
            }
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let lock = RwLock::new(DataTree::new());
    let info = write_snapshot(&lock, dir.path(), SnapshotOptions::default()).unwrap();
    assert!(matches!(
        read_snapshot(&info.path, &mut Picky),
        Err(Error::Corrupt { offset: 64, .. })
    ));
    let fresh = load_snapshot(&info.path).unwrap();
    assert_eq!(fresh.tree.last_applied_zxid(), Zxid::NONE);
    assert_same_tree(&fresh.tree, &DataTree::new());
}

/// A well-formed file around an arbitrary body: header, one block, trailer, all checksums right.
fn wrap_body(body: &[u8], body_len: u64, nodes: u64, sessions: u32, version: u32) -> Vec<u8> {
    let header = SnapshotHeader {
        version,
        start_zxid: Zxid(5),
        created_ms: 0,
        block_size: 1 << 20,
    };
    let mut file = header.encode().to_vec();
    let frame = zstd::bulk::compress(body, 1).unwrap();
    file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(&frame).to_le_bytes());
    file.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    file.extend_from_slice(&frame);
    let trailer = SnapshotTrailer {
        end_zxid: Zxid(5),
        digest: 0,
        nodes,
        sessions,
        blocks: 1,
        body_len,
        file_crc: crc32fast::hash(&file),
    };
    file.extend_from_slice(&trailer.encode());
    file
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bodies with every checksum right: the reader and the loader return an error or
    /// a tree, never panic, never allocate what the body cannot hold.
    #[test]
    fn arbitrary_bodies_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..200),
        claimed_extra in prop::sample::select(vec![0u64, 1, 1 << 40]),
        nodes in 0u64..4,
        sessions in 0u32..3,
        version in 1u32..=2,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.0000000000000005");
        let body_len = body.len() as u64 + claimed_extra;
        let file = wrap_body(&body, body_len, nodes, sessions, version);
        fs::write(&path, &file).unwrap();
        let from_file = load_snapshot(&path).map(|l| l.tree.digest()).map_err(|e| e.to_string());
        let from_bytes = load_snapshot_from(Cursor::new(&file), file.len() as u64, &path)
            .map(|l| l.tree.digest())
            .map_err(|e| e.to_string());
        prop_assert_eq!(from_file, from_bytes);
    }

    /// Arbitrary files, with a valid header or not: an error, never a panic.
    #[test]
    fn arbitrary_files_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 0..400),
        valid_header in any::<bool>(),
    ) {
        if valid_header && bytes.len() >= 64 {
            let header = SnapshotHeader {
                version: 2,
                start_zxid: Zxid(1),
                created_ms: 0,
                block_size: 64,
            };
            bytes[..64].copy_from_slice(&header.encode());
        }
        let path = Path::new("arbitrary");
        prop_assert!(load_snapshot_from(Cursor::new(&bytes), bytes.len() as u64, path).is_err());
    }

    /// Structured bodies (valid tags, random fields) reach deeper into the parser.
    #[test]
    fn structured_bodies_never_panic(
        sections in prop::collection::vec(
            (1u8..=5, any::<u32>(), prop::collection::vec(any::<u8>(), 0..12)), 0..8),
        truncate in 0usize..4,
        version in 1u32..=2,
    ) {
        let mut body = Vec::new();
        for (tag, number, bytes) in &sections {
            body.push(*tag);
            body.extend_from_slice(&(number % 4).to_le_bytes());
            body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            body.extend_from_slice(bytes);
        }
        body.truncate(body.len().saturating_sub(truncate));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.0000000000000005");
        fs::write(&path, wrap_body(&body, body.len() as u64, 1, 0, version)).unwrap();
        let _ = load_snapshot(&path);
    }
}

#[test]
fn a_parent_after_its_child_is_corrupt() {
    // Sessions (none), ACL list 1, the root, then a node whose parent never came.
    let mut body = vec![1, 0, 0, 0, 0];
    body.push(2);
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&1u32.to_le_bytes());
    body.extend_from_slice(&31i32.to_le_bytes());
    for s in ["world", "anyone"] {
        body.extend_from_slice(&(s.len() as u32).to_le_bytes());
        body.extend_from_slice(s.as_bytes());
    }
    for path in ["/", "/a/b"] {
        body.push(3);
        body.extend_from_slice(&(path.len() as u32).to_le_bytes());
        body.extend_from_slice(path.as_bytes());
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&[0; 60]);
    }
    body.push(4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snap.0000000000000005");
    fs::write(&path, wrap_body(&body, body.len() as u64, 2, 0, 1)).unwrap();
    // The format itself is fine...
    verify_snapshot(&path).unwrap();
    // ...but the tree cannot be built.
    match load_snapshot(&path) {
        Err(Error::Corrupt { reason, offset, .. }) => {
            assert!(reason.contains("/a/b"), "{reason}");
            assert_eq!(offset, 64);
        }
        other => panic!("{other:?}"),
    }
}

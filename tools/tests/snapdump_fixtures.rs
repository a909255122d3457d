//! The checked-in snapshots that `zk-snapdump`'s golden tests read (`tests/fixtures/snap*` and
//! `tests/fixtures/datadir`, described in `tests/fixtures/README.md`), and the generator that
//! wrote them with the engine's own snapshot writer.
//!
//! The state comes from the transactions of the `log-clean` fixture, applied to a fresh tree.
//! Snapshots carry their creation time and zstd output, so regenerating changes their bytes:
//! the tests here check what the README promises instead (what the engine's reader says of each
//! file). Regenerate with `cargo test -p zk-tools --test snapdump_fixtures -- --ignored`, then
//! rewrite the golden files (`UPDATE_GOLDEN=1 cargo test -p zk-tools --test snapdump_golden`).

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use zk_engine::format::record::decode_at;
use zk_engine::format::segment_header::SegmentHeader;
use zk_engine::snapshot::{
    load_snapshot, verify_snapshot, write_snapshot, SnapshotOptions, SnapshotWriter,
};
use zk_engine::tree::DataTree;
use zk_engine::txn::Txn;
use zk_engine::{Error, Zxid};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

const SNAP_A: &str = "snap.000000010000000d";
const SNAP_B: &str = "snap.0000000200000005";

/// The transactions of `log-clean`, in order, read straight from its segments.
fn clean_txns() -> Vec<Txn> {
    let dir = fixtures().join("log-clean");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("log-clean")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    let mut txns = Vec::new();
    for path in names {
        let bytes = std::fs::read(&path).expect("read");
        let header = SegmentHeader::decode(&bytes).expect("header");
        let mut offset = 64;
        while let Ok(record) = decode_at(&bytes, header.salt, offset) {
            txns.push(zk_engine::txn::decode(record.payload(&bytes)).expect("a transaction"));
            offset = record.next_offset;
        }
    }
    assert_eq!(txns.len(), 18);
    txns
}

/// Small blocks, so that the snapshots have several and damage can hit one in the middle.
fn options() -> SnapshotOptions {
    SnapshotOptions {
        chunk_nodes: 3,
        block_size: 256,
        ..SnapshotOptions::default()
    }
}

fn apply_until(tree: &RwLock<DataTree>, txns: &[Txn], last: Zxid) {
    let mut tree = tree.write().expect("lock");
    let from = tree.last_applied_zxid();
    for txn in txns
        .iter()
        .filter(|t| t.header.zxid <= last && t.header.zxid > from)
    {
        tree.apply(txn);
    }
}

#[test]
#[ignore = "writes the checked-in fixtures"]
fn regenerate_fixtures() {
    let txns = clean_txns();
    let a = Zxid::new(1, 13);
    let b = Zxid::new(2, 5);

    // snap/: two snapshots taken with no transaction applied during the walk.
    let snap_dir = fixtures().join("snap");
    let _ = std::fs::remove_dir_all(&snap_dir);
    std::fs::create_dir_all(&snap_dir).expect("mkdir");
    let tree = RwLock::new(DataTree::new());
    apply_until(&tree, &txns, a);
    write_snapshot(&tree, &snap_dir, options()).expect("snapshot A");
    apply_until(&tree, &txns, b);
    let info = write_snapshot(&tree, &snap_dir, options()).expect("snapshot B");
    assert!(info.blocks >= 5, "{info:?}");

    // datadir/: a fuzzy snapshot (begun after 1.13, transactions 2.1 to 2.5 applied during its
    // walk) and the whole log, laid out as zk-server keeps them.
    let data_dir = fixtures().join("datadir");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(data_dir.join("snap")).expect("mkdir");
    std::fs::create_dir_all(data_dir.join("log")).expect("mkdir");
    for entry in std::fs::read_dir(fixtures().join("log-clean")).expect("log-clean") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), data_dir.join("log").join(entry.file_name())).expect("copy");
    }
    let tree = RwLock::new(DataTree::new());
    apply_until(&tree, &txns, a);
    let mut writer =
        SnapshotWriter::begin(&tree, &data_dir.join("snap"), options()).expect("begin");
    writer.write_chunk(&tree).expect("chunk");
    apply_until(&tree, &txns, b);
    let info = writer.finish(&tree).expect("finish");
    assert_eq!((info.start_zxid, info.end_zxid), (a, b));

    // Damaged copies of snapshot B.
    let clean = std::fs::read(snap_dir.join(SNAP_B)).expect("snapshot B");
    let blocks = block_offsets(&clean);
    let write = |fixture: &str, bytes: &[u8]| {
        let dir = fixtures().join(fixture);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(SNAP_B), bytes).expect("write");
    };
    let mut damaged = clean.clone();
    let third = blocks[2] as usize;
    damaged[third + 16 + 5] ^= 0x01;
    write("snap-damaged-block", &damaged);
    let cut = blocks[4] as usize + 20;
    write("snap-truncated", &clean[..cut]);
}

/// Offsets of the blocks of a snapshot (FORMAT.md 8.2), read from their headers.
fn block_offsets(bytes: &[u8]) -> Vec<u64> {
    let trailer = bytes.len() - 64;
    let mut offsets = Vec::new();
    let mut offset = 64;
    while offset < trailer {
        offsets.push(offset as u64);
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"));
        offset += 16 + len as usize;
    }
    offsets
}

/// What `tests/fixtures/README.md` says of each snapshot, checked with the engine's reader.
#[test]
fn the_engine_reads_the_snapshots_as_documented() {
    let a = load_snapshot(&fixtures().join("snap").join(SNAP_A)).expect("snapshot A loads");
    assert_eq!(a.summary.header.start_zxid, Zxid::new(1, 13));
    assert_eq!(a.summary.trailer.end_zxid, Zxid::new(1, 13));
    assert_eq!(a.tree.digest(), a.summary.trailer.digest);

    let b = load_snapshot(&fixtures().join("snap").join(SNAP_B)).expect("snapshot B loads");
    assert_eq!(b.summary.trailer.end_zxid, Zxid::new(2, 5));
    assert_eq!(b.tree.digest(), b.summary.trailer.digest);
    assert!(b.summary.trailer.blocks >= 5);

    // The fuzzy snapshot: its digest is the state at 2.5, reached by replaying the log.
    let fuzzy = load_snapshot(&fixtures().join("datadir/snap").join(SNAP_A)).expect("fuzzy loads");
    assert_eq!(fuzzy.summary.header.start_zxid, Zxid::new(1, 13));
    assert_eq!(fuzzy.summary.trailer.end_zxid, Zxid::new(2, 5));
    let mut tree = fuzzy.tree;
    for txn in clean_txns()
        .iter()
        .filter(|t| t.header.zxid > Zxid::new(1, 13))
    {
        tree.replay(txn);
    }
    assert_eq!(tree.digest(), fuzzy.summary.trailer.digest);

    for fixture in ["snap-damaged-block", "snap-truncated"] {
        match verify_snapshot(&fixtures().join(fixture).join(SNAP_B)) {
            Err(Error::Corrupt { .. }) => {}
            other => panic!("{fixture}: expected Corrupt, got {other:?}"),
        }
    }
}

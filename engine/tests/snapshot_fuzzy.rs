//! The fuzzy snapshot property (issue 3, FORMAT.md 8): random transaction streams applied
//! directly give the same tree as a snapshot taken at a random moment, with transactions
//! applied while its walk runs, loaded and replayed from its start zxid + 1 with the logged
//! (encoded, decoded) transactions. Same nodes (path, data, ACL, both stats), same sessions and
//! ephemeral/container/TTL indexes, same digest; and the trailer's digest is the tree's right
//! after its end zxid is replayed.
//!
//! Two ways to race: `walk_interleaved_with_applies` drives the walk chunk by chunk and applies
//! transactions between chunks (deterministic, so proptest can shrink); `walk_on_a_thread`
//! runs the writer on its own thread with one node per read-lock hold while another thread
//! applies as fast as it can.

mod snapshot_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use proptest::prelude::*;
use snapshot_support::{assert_same_tree, Workload};
use zk_engine::snapshot::{
    load_snapshot, write_snapshot, SnapshotInfo, SnapshotOptions, SnapshotWriter,
};
use zk_engine::tree::DataTree;
use zk_engine::txn::{decode, encode};

fn names() -> Vec<&'static str> {
    vec!["a", "b", "c", "d", "e"]
}

/// A tree applying a workload, logging every transaction's bytes.
struct Live {
    tree: RwLock<DataTree>,
    workload: Workload,
    log: Vec<Vec<u8>>,
}

impl Live {
    fn new(seed: u64) -> Live {
        Live {
            tree: RwLock::new(DataTree::new()),
            workload: Workload::new(seed, names(), 3, 12),
            log: Vec::new(),
        }
    }

    fn apply(&mut self, count: usize) {
        for _ in 0..count {
            let txn = self.workload.next_txn(&self.tree.read().unwrap());
            self.log.push(encode(&txn));
            self.tree.write().unwrap().apply(&txn);
        }
    }
}

/// Loads the snapshot and replays `log` after its start zxid, checking the trailer's digest when
/// its end zxid has been replayed; returns the tree.
fn restore(info: &SnapshotInfo, log: &[Vec<u8>]) -> DataTree {
    let loaded = load_snapshot(&info.path).expect("the snapshot verifies");
    let (start, end) = (
        loaded.summary.header.start_zxid,
        loaded.summary.trailer.end_zxid,
    );
    assert_eq!((start, end), (info.start_zxid, info.end_zxid));
    assert_eq!(loaded.tree.last_applied_zxid(), start);
    let mut tree = loaded.tree;
    let mut digest_checked = false;
    if end == start {
        assert_eq!(
            tree.digest(),
            loaded.summary.trailer.digest,
            "digest at {end}"
        );
        digest_checked = true;
    }
    for bytes in log {
        let txn = decode(bytes).expect("the log decodes");
        if txn.header.zxid <= start {
            continue;
        }
        tree.replay(&txn);
        if txn.header.zxid == end {
            assert_eq!(
                tree.digest(),
                loaded.summary.trailer.digest,
                "digest at {end}"
            );
            digest_checked = true;
        }
    }
    assert!(digest_checked, "end zxid {end} was replayed");
    tree
}

#[allow(clippy::too_many_arguments)]
fn run_interleaved(
    seed: u64,
    before: usize,
    during: usize,
    pace: usize,
    between_walk_and_trailer: usize,
    after: usize,
    options: SnapshotOptions,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut live = Live::new(seed);
    live.apply(before);
    let mut writer = SnapshotWriter::begin(&live.tree, dir.path(), options).unwrap();
    let mut budget = during;
    while !writer.write_chunk(&live.tree).unwrap() {
        let now = pace.min(budget);
        live.apply(now);
        budget -= now;
    }
    live.apply(between_walk_and_trailer);
    let info = writer.finish(&live.tree).unwrap();
    live.apply(after);
    let restored = restore(&info, &live.log);
    assert_same_tree(&restored, &live.tree.read().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn walk_interleaved_with_applies(
        seed in any::<u64>(),
        before in 0usize..200,
        during in 0usize..200,
        pace in 1usize..6,
        between_walk_and_trailer in 0usize..4,
        after in 0usize..20,
        chunk_nodes in 1usize..5,
        chunk_bytes in prop::sample::select(vec![1usize, 100, 1 << 20]),
        block_size in prop::sample::select(vec![7usize, 64, 4096, 1 << 20]),
        compression_level in prop::sample::select(vec![1, 3]),
    ) {
        run_interleaved(
            seed,
            before,
            during,
            pace,
            between_walk_and_trailer,
            after,
            SnapshotOptions { chunk_nodes, chunk_bytes, block_size, compression_level },
        );
    }
}

#[test]
fn a_snapshot_of_a_fresh_tree() {
    run_interleaved(1, 0, 0, 1, 0, 0, SnapshotOptions::default());
    run_interleaved(2, 0, 50, 1, 0, 10, SnapshotOptions::default());
}

#[test]
fn walk_on_a_thread() {
    for seed in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let tree = Arc::new(RwLock::new(DataTree::new()));
        let mut workload = Workload::new(seed, vec!["a", "b", "c", "d", "e", "f", "g", "h"], 3, 30);
        let log = Arc::new(Mutex::new(Vec::new()));
        let apply =
            |workload: &mut Workload, tree: &RwLock<DataTree>, log: &Mutex<Vec<Vec<u8>>>| {
                let txn = workload.next_txn(&tree.read().unwrap());
                log.lock().unwrap().push(encode(&txn));
                tree.write().unwrap().apply(&txn);
            };
        for _ in 0..1500 {
            apply(&mut workload, &tree, &log);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let applier = {
            let (tree, log, stop) = (Arc::clone(&tree), Arc::clone(&log), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut applied = 0;
                while !stop.load(Ordering::SeqCst) || applied < 300 {
                    apply(&mut workload, &tree, &log);
                    applied += 1;
                }
                applied
            })
        };
        let options = SnapshotOptions {
            chunk_nodes: 1,
            block_size: 256,
            ..SnapshotOptions::default()
        };
        let info = write_snapshot(&tree, dir.path(), options).unwrap();
        stop.store(true, Ordering::SeqCst);
        let applied = applier.join().unwrap();
        let log = log.lock().unwrap();
        let restored = restore(&info, &log);
        assert_same_tree(&restored, &tree.read().unwrap());
        eprintln!(
            "seed {seed}: {} nodes in {} chunks, zxids {}..={} fuzzy, {applied} applied on the \
             other thread",
            info.nodes, info.chunks, info.start_zxid, info.end_zxid
        );
    }
}

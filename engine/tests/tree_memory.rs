//! Memory per znode: 100,000 nodes with 100-byte data and 20-character names, in 100 groups of
//! 1,000 (paths like `/g0000000000000000042/n0000000000000012345`), all sharing one ACL.
//!
//! `cargo test -p zk-engine --release --test tree_memory -- --ignored --nocapture` prints the
//! resident-set growth per node (from `/proc/self/statm`) next to the tree's own estimate.

use zk_engine::tree::DataTree;
use zk_engine::txn::{Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader};
use zk_engine::Zxid;

const GROUPS: u32 = 100;
const PER_GROUP: u32 = 1_000;

fn build() -> DataTree {
    let mut tree = DataTree::new();
    let data = vec![0xA5u8; 100];
    let acl = Acl::open_unsafe();
    let mut counter = 0u32;
    let mut create = |tree: &mut DataTree, path: String, parent_cversion: i32| {
        counter += 1;
        let txn = Txn {
            header: TxnHeader {
                session_id: 1,
                cxid: 0,
                zxid: Zxid::new(1, counter),
                time_ms: 1_700_000_000_000,
            },
            body: TxnBody::Create(CreateTxn {
                path,
                data: Some(data.clone()),
                acl: acl.clone(),
                mode: CreateMode::Persistent,
                parent_cversion,
            }),
        };
        assert_eq!(tree.apply(&txn).error_code(), 0);
    };
    for group in 0..GROUPS {
        let group_path = format!("/g{group:019}");
        create(&mut tree, group_path.clone(), group as i32 + 1);
        for index in 0..PER_GROUP {
            let name = format!("n{:019}", group * PER_GROUP + index);
            assert_eq!(name.len(), 20);
            create(&mut tree, format!("{group_path}/{name}"), index as i32 + 1);
        }
    }
    tree
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

const NODES: usize = (GROUPS * (PER_GROUP + 1)) as usize;

#[test]
fn the_estimate_stays_under_budget() {
    let tree = build();
    let estimate = tree.memory_estimate();
    assert_eq!(estimate.nodes, NODES + 4);
    assert_eq!(tree.digest(), tree.recompute_digest());
    // 104-byte slot + 120 bytes of name and data + index; allocator overhead comes on top.
    assert!(
        estimate.bytes_per_node() < 300.0,
        "{:.1} bytes per node",
        estimate.bytes_per_node()
    );
}

#[test]
#[ignore = "measures process RSS; run alone with --ignored --nocapture"]
fn resident_memory_per_node() {
    let before = resident_bytes().expect("/proc/self/statm");
    let tree = build();
    let after = resident_bytes().expect("/proc/self/statm");
    let estimate = tree.memory_estimate();
    let rss_per_node = after.saturating_sub(before) as f64 / NODES as f64;
    println!(
        "{NODES} znodes (100-byte data, 20-char names): RSS +{:.1} MiB = {rss_per_node:.1} \
         bytes/znode; estimate {:.1} bytes/znode (structure {} B, names+data {} B)",
        after.saturating_sub(before) as f64 / 1048576.0,
        estimate.bytes_per_node(),
        estimate.structure_bytes,
        estimate.node_heap_bytes,
    );
    assert_eq!(tree.node_count(), NODES + 4);
}

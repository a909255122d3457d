//! Checked-in snapshots (`tests/fixtures/snapshot-v*`, described in `tests/fixtures/README.md`)
//! still load as the tree they were written from: a later change of the snapshot format, or of
//! the reader, that breaks files written by an earlier version is caught here.
//!
//! `regenerate_fixture` (ignored) writes the current version's file. Never regenerate the file of
//! a released version: a new format version gets a new `snapshot-v<N>` directory next to these.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use zk_engine::snapshot::{load_snapshot, write_snapshot, SnapshotOptions};
use zk_engine::tree::{DataTree, StatPersisted};
use zk_engine::txn::Acl;
use zk_engine::Zxid;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A node of the fixture: path, data, ACL list, stat.
type FixtureNode<'a> = (&'a str, Option<Vec<u8>>, &'a Vec<Acl>, StatPersisted);

/// The tree the fixtures hold: two sessions, three ACL lists, null and empty data, an
/// ephemeral, a container and a TTL node, versions, a deep path, and stats whose fields all
/// differ from one another.
fn fixture_tree() -> DataTree {
    let world = vec![Acl::new(31, "world", "anyone")];
    let read_only = vec![Acl::new(1, "world", "anyone")];
    let digest = vec![
        Acl::new(31, "digest", "alice:ZXJyb3I="),
        Acl::new(1, "ip", "127.0.0.1"),
    ];
    let mut tree = DataTree::new();
    tree.restore_session(0x0100_0000_0000_0001, 30_000);
    tree.restore_session(0x0100_0000_0000_0002, 4_000);
    let stat = |czxid: i64| StatPersisted {
        czxid,
        mzxid: czxid,
        ctime: 1_700_000_000_000 + czxid,
        mtime: 1_700_000_000_000 + czxid,
        pzxid: czxid,
        ..StatPersisted::default()
    };
    let nodes: Vec<FixtureNode<'_>> = vec![
        ("/app", Some(b"config v3".to_vec()), &world, {
            StatPersisted {
                mzxid: 40,
                mtime: 1_700_000_009_000,
                version: 3,
                cversion: 5,
                pzxid: 44,
                ..stat(10)
            }
        }),
        ("/app/null", None, &world, stat(11)),
        ("/app/empty", Some(Vec::new()), &read_only, stat(12)),
        ("/app/lock", Some(b"owner".to_vec()), &world, {
            StatPersisted {
                ephemeral_owner: 0x0100_0000_0000_0001,
                ..stat(13)
            }
        }),
        ("/app/queue", Some(Vec::new()), &world, {
            StatPersisted {
                ephemeral_owner: i64::MIN,
                cversion: 2,
                ..stat(14)
            }
        }),
        ("/app/ttl", Some(b"t".to_vec()), &world, {
            StatPersisted {
                ephemeral_owner: -0x0100_0000_0000_0000 + 60_000,
                ..stat(15)
            }
        }),
        ("/secret", Some((0..=255u8).collect()), &digest, {
            StatPersisted {
                aversion: 2,
                ..stat(20)
            }
        }),
        ("/a", Some(b"1".to_vec()), &world, stat(30)),
        ("/a/b", Some(b"2".to_vec()), &world, stat(31)),
        ("/a/b/c", Some(b"3".to_vec()), &world, stat(32)),
        ("/a/b/c/d-0000000007", Some(b"4".to_vec()), &world, stat(33)),
    ];
    for (path, data, acl, stat) in nodes {
        tree.restore_node(path, data.as_deref(), acl, stat)
            .unwrap_or_else(|e| panic!("restore {path}: {e:?}"));
    }
    tree.set_last_applied_zxid(Zxid::new(1, 44));
    tree
}

/// Every node of `tree` with its data, ACL and stat, in path order.
fn contents(tree: &DataTree) -> Vec<String> {
    let mut lines = Vec::new();
    tree.visit_depth_first(|path, node| {
        lines.push(format!(
            "{path} {:?} {:?} {:?}",
            node.data_option(),
            node.acl(),
            node.stat_persisted()
        ));
    });
    lines.sort();
    lines
}

fn sessions(tree: &DataTree) -> Vec<(i64, i32)> {
    let mut sessions: Vec<(i64, i32)> = tree.sessions().iter().collect();
    sessions.sort();
    sessions
}

fn check_fixture(dir: &str) {
    let path = fixtures().join(dir).join("snap.000000010000002c");
    let loaded = load_snapshot(&path).unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
    let expected = fixture_tree();
    assert_eq!(contents(&loaded.tree), contents(&expected));
    assert_eq!(sessions(&loaded.tree), sessions(&expected));
    assert_eq!(loaded.tree.digest(), expected.digest());
    assert_eq!(loaded.summary.trailer.digest, expected.digest());
    assert_eq!(loaded.summary.header.start_zxid, Zxid::new(1, 44));
    assert_eq!(loaded.tree.last_applied_zxid(), Zxid::new(1, 44));
}

#[test]
fn version_1_snapshot_loads() {
    check_fixture("snapshot-v1");
}

#[test]
fn version_2_snapshot_loads() {
    check_fixture("snapshot-v2");
}

/// Writes the current format version's fixture into `tests/fixtures/snapshot-v<N>` (run with
/// `--ignored` once per new format version, then check the file in).
#[test]
#[ignore = "writes the checked-in fixture; run by hand once per new format version"]
fn regenerate_fixture() {
    let version = zk_engine::snapshot::SNAPSHOT_FORMAT_VERSION;
    let dir = fixtures().join(format!("snapshot-v{version}"));
    std::fs::create_dir_all(&dir).expect("create the fixture directory");
    let tree = RwLock::new(fixture_tree());
    let info = write_snapshot(&tree, &dir, SnapshotOptions::default()).expect("write");
    assert_eq!(
        info.path.file_name().and_then(|n| n.to_str()),
        Some("snap.000000010000002c")
    );
}

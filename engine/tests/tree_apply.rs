//! One test per rule of the data tree: ZooKeeper's stat updates, the sequential suffix, session
//! close, multi all-or-nothing, container/TTL markers, replay tolerance, prepare checks.

use std::collections::BTreeMap;

use zk_engine::tree::prepare::{allow_all, check_and_increment_version, PendingChanges, Request};
use zk_engine::tree::{
    code, ApplyMode, DataTree, EphemeralType, StatPersisted, TxnResult, CONTAINER_EPHEMERAL_OWNER,
};
use zk_engine::txn::{perms, Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader};
use zk_engine::Zxid;

/// A tree with the prepare step in front of it, like a server without pipelining.
struct Harness {
    tree: DataTree,
    pending: PendingChanges,
    counter: u32,
    log: Vec<Txn>,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            tree: DataTree::new(),
            pending: PendingChanges::new(),
            counter: 0,
            log: Vec::new(),
        }
    }

    fn next_header(&mut self, session_id: i64) -> TxnHeader {
        self.counter += 1;
        TxnHeader {
            session_id,
            cxid: 1,
            zxid: Zxid::new(1, self.counter),
            time_ms: 1_000_000 + i64::from(self.counter),
        }
    }

    fn prepare(&mut self, session_id: i64, request: Request) -> Txn {
        let header = self.next_header(session_id);
        self.pending
            .prepare(&self.tree, header, &request, &allow_all)
    }

    fn apply(&mut self, txn: Txn) -> TxnResult {
        let result = self.tree.apply(&txn);
        self.pending.applied(txn.header.zxid);
        self.log.push(txn);
        assert_eq!(self.tree.digest(), self.tree.recompute_digest());
        result
    }

    fn run(&mut self, session_id: i64, request: Request) -> TxnResult {
        let txn = self.prepare(session_id, request);
        self.apply(txn)
    }

    fn create(&mut self, path: &str, mode: CreateMode) -> TxnResult {
        self.run(1, create(path, mode))
    }

    fn last_zxid(&self) -> i64 {
        Zxid::new(1, self.counter).0 as i64
    }

    fn persisted(&self, path: &str) -> StatPersisted {
        self.tree.get(path).expect(path).stat_persisted()
    }
}

fn create(path: &str, mode: CreateMode) -> Request {
    Request::Create {
        path: path.into(),
        data: Some(b"data".to_vec()),
        acl: Acl::open_unsafe(),
        mode,
    }
}

fn delete(path: &str) -> Request {
    Request::Delete {
        path: path.into(),
        version: -1,
    }
}

fn created_path(result: &TxnResult) -> String {
    match result {
        TxnResult::Created { path, .. } => path.clone(),
        other => panic!("expected a create, got {other:?}"),
    }
}

/// Every node: path -> (data, ACL, persisted stat).
fn contents(tree: &DataTree) -> BTreeMap<String, (Vec<u8>, Vec<Acl>, StatPersisted)> {
    let mut nodes = BTreeMap::new();
    tree.visit_depth_first(|path, node| {
        nodes.insert(
            path.to_owned(),
            (
                node.data().to_vec(),
                node.acl().to_vec(),
                node.stat_persisted(),
            ),
        );
    });
    nodes
}

/// A copy of `tree` through the snapshot-restore interface.
fn copy(tree: &DataTree) -> DataTree {
    let mut copy = DataTree::new();
    tree.visit_depth_first(|path, node| {
        copy.restore_node(path, node.data_option(), node.acl(), node.stat_persisted())
            .expect("parents come first");
    });
    for (session, timeout) in tree.sessions().iter() {
        copy.restore_session(session, timeout);
    }
    copy.set_last_applied_zxid(tree.last_applied_zxid());
    copy
}

#[test]
fn a_fresh_tree_looks_like_zookeepers() {
    let tree = DataTree::new();
    assert_eq!(tree.children("/"), Some(vec!["zookeeper".to_owned()]));
    assert_eq!(
        tree.children("/zookeeper"),
        Some(vec!["config".to_owned(), "quota".to_owned()])
    );
    let root = tree.stat("/").expect("root");
    assert_eq!((root.cversion, root.num_children, root.pzxid), (-1, 1, 0));
    assert_eq!(tree.stat("/zookeeper").map(|s| s.cversion), Some(-2));
    let config = tree.get("/zookeeper/config").expect("config");
    assert_eq!(config.stat().aversion, -1);
    assert_eq!(config.acl(), &Acl::read_unsafe()[..]);
    assert_eq!(
        tree.get("/").map(|n| n.acl().to_vec()),
        Some(Acl::open_unsafe())
    );
    assert_eq!(tree.node_count(), 4);
    assert_eq!(tree.digest(), tree.recompute_digest());
    assert_eq!(tree.acl_table().len(), 2);
}

#[test]
fn create_sets_the_new_stat_and_the_parent_cversion_and_pzxid() {
    let mut h = Harness::new();
    h.create("/p", CreateMode::Persistent);
    let result = h.create("/p/c", CreateMode::Persistent);
    let zxid = h.last_zxid();
    let TxnResult::Created { path, stat } = result else {
        panic!("{result:?}")
    };
    assert_eq!(path, "/p/c");
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (zxid, zxid, zxid));
    assert_eq!((stat.ctime, stat.mtime), (1_000_002, 1_000_002));
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(
        (stat.data_length, stat.num_children, stat.ephemeral_owner),
        (4, 0, 0)
    );
    let parent = h.persisted("/p");
    assert_eq!((parent.cversion, parent.pzxid), (1, zxid));
    assert_eq!(
        parent.mzxid,
        Zxid::new(1, 1).0 as i64,
        "create does not touch mzxid"
    );
    assert_eq!(h.tree.stat("/p").map(|s| s.cversion), Some(1));
}

#[test]
fn delete_moves_the_parent_pzxid_and_the_client_cversion_only() {
    let mut h = Harness::new();
    h.create("/p", CreateMode::Persistent);
    h.create("/p/c", CreateMode::Persistent);
    assert_eq!(h.run(1, delete("/p/c")), TxnResult::Deleted);
    let zxid = h.last_zxid();
    let parent = h.persisted("/p");
    assert_eq!((parent.cversion, parent.pzxid), (1, zxid));
    let stat = h.tree.stat("/p").expect("/p");
    assert_eq!((stat.cversion, stat.num_children), (2, 0));
    assert!(!h.tree.contains("/p/c"));
}

/// The fact from Apache ZooKeeper 3.8 (FORMAT-TXN.md section 7).
#[test]
fn sequential_suffix_counts_creations_and_clients_see_three() {
    let mut h = Harness::new();
    h.create("/p", CreateMode::Persistent);
    assert_eq!(
        h.tree.next_sequential_suffix("/p"),
        Ok("0000000000".to_owned())
    );
    let first = created_path(&h.create("/p/s-", CreateMode::PersistentSequential));
    assert_eq!(first, "/p/s-0000000000");
    h.run(1, delete(&first));
    let second = created_path(&h.create("/p/s-", CreateMode::EphemeralSequential));
    assert_eq!(second, "/p/s-0000000001");
    assert_eq!(h.tree.stat("/p").map(|s| s.cversion), Some(3));
    assert_eq!(h.persisted("/p").cversion, 2);
    // The logged create carries the suffix and the parent's new stored cversion.
    let Some(TxnBody::Create(logged)) = h.log.last().map(|txn| &txn.body) else {
        panic!("last txn is not a create")
    };
    assert_eq!(
        (logged.path.as_str(), logged.parent_cversion),
        ("/p/s-0000000001", 2)
    );
}

#[test]
fn sequential_suffixes_count_prepared_creates_too() {
    let mut h = Harness::new();
    h.create("/q", CreateMode::Persistent);
    let first = h.prepare(1, create("/q/n", CreateMode::PersistentSequential));
    let second = h.prepare(1, create("/q/n", CreateMode::PersistentSequential));
    assert_eq!(
        h.pending.next_sequential_suffix(&h.tree, "/q"),
        Ok("0000000002".to_owned())
    );
    assert_eq!(created_path(&h.apply(first)), "/q/n0000000000");
    assert_eq!(created_path(&h.apply(second)), "/q/n0000000001");
    assert!(h.pending.is_empty());
}

#[test]
fn set_data_and_set_acl_bump_their_versions() {
    let mut h = Harness::new();
    h.create("/d", CreateMode::Persistent);
    let result = h.run(
        1,
        Request::SetData {
            path: "/d".into(),
            data: Some(b"new".to_vec()),
            version: 0,
        },
    );
    let zxid = h.last_zxid();
    let TxnResult::DataSet { stat } = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime, stat.data_length),
        (1, zxid, 1_000_002, 3)
    );
    assert_eq!(h.tree.data("/d"), Some(&b"new"[..]));

    let digest = h.tree.digest();
    let refused = h.run(
        1,
        Request::SetData {
            path: "/d".into(),
            data: Some(b"x".to_vec()),
            version: 0,
        },
    );
    assert_eq!(
        refused,
        TxnResult::Error {
            code: code::BAD_VERSION
        }
    );
    assert_eq!(h.tree.digest(), digest);
    assert_eq!(
        h.log.last().map(|t| &t.body),
        Some(&TxnBody::Error { code: -103 })
    );

    let acl = vec![Acl::new(perms::READ, "ip", "10.0.0.1")];
    let result = h.run(
        1,
        Request::SetAcl {
            path: "/d".into(),
            acl: acl.clone(),
            version: -1,
        },
    );
    let TxnResult::AclSet { stat } = result else {
        panic!("{result:?}")
    };
    assert_eq!((stat.aversion, stat.version), (1, 1));
    assert_eq!(h.tree.get("/d").map(|n| n.acl().to_vec()), Some(acl));
    assert_eq!(
        h.tree.acl_table().len(),
        3,
        "open, read-only and the new list"
    );
}

#[test]
fn version_wraps_past_minus_one() {
    assert_eq!(check_and_increment_version(i32::MAX, -1), Ok(i32::MIN));
    assert_eq!(check_and_increment_version(-2, -2), Ok(0));
    assert_eq!(check_and_increment_version(3, 3), Ok(4));
    assert!(check_and_increment_version(3, 4).is_err());
}

#[test]
fn closing_a_session_removes_its_ephemerals() {
    let mut h = Harness::new();
    h.run(7, Request::CreateSession { timeout_ms: 30_000 });
    h.run(8, Request::CreateSession { timeout_ms: 10_000 });
    assert_eq!(h.tree.sessions().timeout_ms(7), Some(30_000));
    h.create("/e", CreateMode::Persistent);
    for name in ["b", "a", "c"] {
        h.run(7, create(&format!("/e/{name}"), CreateMode::Ephemeral));
    }
    h.run(8, create("/e/other", CreateMode::Ephemeral));
    assert_eq!(h.tree.ephemerals(7), vec!["/e/a", "/e/b", "/e/c"]);
    let stat = h.tree.stat("/e/a").expect("/e/a");
    assert_eq!(stat.ephemeral_owner, 7);
    assert_eq!(
        h.run(7, create("/e/a/child", CreateMode::Persistent)),
        TxnResult::Error {
            code: code::NO_CHILDREN_FOR_EPHEMERALS
        }
    );

    let close = h.prepare(7, Request::CloseSession);
    assert_eq!(
        close.body,
        TxnBody::CloseSession {
            paths: vec!["/e/a".into(), "/e/b".into(), "/e/c".into()]
        }
    );
    assert_eq!(h.apply(close), TxnResult::SessionClosed);
    assert_eq!(h.tree.children("/e"), Some(vec!["other".to_owned()]));
    assert!(h.tree.ephemerals(7).is_empty());
    assert!(!h.tree.sessions().contains(7));
    assert!(h.tree.sessions().contains(8));
    assert_eq!(h.persisted("/e").pzxid, h.last_zxid());
}

#[test]
fn a_close_also_removes_ephemerals_it_does_not_list() {
    let mut tree = DataTree::new();
    let header = |counter| TxnHeader {
        session_id: 9,
        cxid: 0,
        zxid: Zxid::new(1, counter),
        time_ms: 5,
    };
    let create = Txn {
        header: header(1),
        body: TxnBody::Create(CreateTxn {
            path: "/x".into(),
            data: Some(vec![]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Ephemeral,
            parent_cversion: 1,
        }),
    };
    tree.apply(&create);
    // The listed path is already gone: its parent's pzxid still moves.
    let close = Txn {
        header: header(2),
        body: TxnBody::CloseSession {
            paths: vec!["/gone".into()],
        },
    };
    assert_eq!(tree.apply(&close), TxnResult::SessionClosed);
    assert!(!tree.contains("/x"));
    assert_eq!(
        tree.stat("/").map(|s| s.pzxid),
        Some(Zxid::new(1, 2).0 as i64)
    );
    assert_eq!(tree.digest(), tree.recompute_digest());
}

#[test]
fn a_failed_multi_is_logged_as_errors_and_changes_nothing() {
    let mut h = Harness::new();
    let before = contents(&h.tree);
    let digest = h.tree.digest();
    let result = h.run(
        1,
        Request::Multi(vec![
            create("/m", CreateMode::Persistent),
            create("/m/x", CreateMode::Persistent),
            delete("/missing"),
            create("/n", CreateMode::Persistent),
        ]),
    );
    let expected_codes = [0, 0, code::NO_NODE, code::RUNTIME_INCONSISTENCY];
    assert_eq!(
        h.log.last().map(|t| t.body.clone()),
        Some(TxnBody::Multi(
            expected_codes
                .iter()
                .map(|&code| TxnBody::Error { code })
                .collect()
        ))
    );
    assert_eq!(
        result,
        TxnResult::Multi(
            expected_codes
                .iter()
                .map(|&code| TxnResult::Error { code })
                .collect()
        )
    );
    assert_eq!(result.error_code(), code::NO_NODE);
    assert_eq!(contents(&h.tree), before);
    assert_eq!(h.tree.digest(), digest);
    assert!(
        h.pending.is_empty(),
        "a failed multi leaves nothing pending"
    );
}

#[test]
fn a_multi_sees_its_own_earlier_operations() {
    let mut h = Harness::new();
    let result = h.run(
        1,
        Request::Multi(vec![
            create("/m", CreateMode::Persistent),
            create("/m/x", CreateMode::Persistent),
            Request::SetData {
                path: "/m".into(),
                data: Some(b"v1".to_vec()),
                version: 0,
            },
            Request::Check {
                path: "/m".into(),
                version: 1,
            },
            delete("/m/x"),
        ]),
    );
    let TxnResult::Multi(results) = result else {
        panic!("{result:?}")
    };
    assert_eq!(results.len(), 5);
    assert!(matches!(results[0], TxnResult::Created { .. }));
    assert!(matches!(results[2], TxnResult::DataSet { stat } if stat.version == 1));
    assert_eq!(results[3], TxnResult::Checked);
    assert_eq!(results[4], TxnResult::Deleted);
    assert_eq!(h.tree.children("/m"), Some(vec![]));
    let zxid = h.last_zxid();
    let stat = h.persisted("/m");
    assert_eq!(
        (stat.czxid, stat.mzxid, stat.pzxid, stat.cversion),
        (zxid, zxid, zxid, 1)
    );
}

#[test]
fn a_live_multi_that_fails_when_applied_is_rolled_back() {
    let mut h = Harness::new();
    h.create("/keep", CreateMode::Persistent);
    h.create("/keep/child", CreateMode::Persistent);
    let before = contents(&h.tree);
    let digest = h.tree.digest();
    let header = h.next_header(1);
    let txn = Txn {
        header,
        body: TxnBody::Multi(vec![
            TxnBody::Delete {
                path: "/keep/child".into(),
            },
            TxnBody::SetData {
                path: "/keep".into(),
                data: Some(b"changed".to_vec()),
                version: 5,
            },
            TxnBody::Create(CreateTxn {
                path: "/new".into(),
                data: Some(vec![1, 2, 3]),
                acl: vec![Acl::new(perms::ALL, "digest", "someone")],
                mode: CreateMode::Ephemeral,
                parent_cversion: 2,
            }),
            TxnBody::Delete {
                path: "/nothing".into(),
            },
        ]),
    };
    let result = h.apply(txn);
    assert_eq!(result.error_code(), code::NO_NODE);
    assert_eq!(contents(&h.tree), before);
    assert_eq!(h.tree.digest(), digest);
    assert!(h.tree.ephemerals(1).is_empty());
    assert_eq!(
        h.tree.acl_table().len(),
        2,
        "the rolled-back ACL left the table"
    );
}

#[test]
fn container_and_ttl_markers_are_zookeepers() {
    let mut h = Harness::new();
    h.create("/c", CreateMode::Container);
    h.create("/t", CreateMode::PersistentWithTtl { ttl_ms: 1000 });
    h.run(0x0123_4567_89AB, create("/e", CreateMode::Ephemeral));
    assert_eq!(h.persisted("/c").ephemeral_owner, CONTAINER_EPHEMERAL_OWNER);
    assert_eq!(
        h.persisted("/c").ephemeral_owner as u64,
        0x8000_0000_0000_0000
    );
    assert_eq!(
        h.persisted("/t").ephemeral_owner as u64,
        0xFF00_0000_0000_03E8
    );
    assert_eq!(h.persisted("/e").ephemeral_owner, 0x0123_4567_89AB);
    // Clients do not see the container and TTL markers (ZooKeeper's copyStat).
    assert_eq!(h.tree.stat("/c").map(|s| s.ephemeral_owner), Some(0));
    assert_eq!(h.tree.stat("/t").map(|s| s.ephemeral_owner), Some(0));
    assert_eq!(
        h.tree.stat("/e").map(|s| s.ephemeral_owner),
        Some(0x0123_4567_89AB)
    );
    assert_eq!(
        h.tree.get("/t").map(|n| n.ephemeral_type()),
        Some(EphemeralType::Ttl { ttl_ms: 1000 })
    );
    assert_eq!(h.tree.containers(), vec!["/c"]);
    assert_eq!(h.tree.ttls(), vec!["/t"]);
    for owner in [0, 5, CONTAINER_EPHEMERAL_OWNER, -0x00FF_FFFF_FFFF_FFFF] {
        assert_eq!(EphemeralType::of(owner).ephemeral_owner(), owner);
    }
}

#[test]
fn the_reaper_picks_used_empty_containers_and_expired_ttl_nodes() {
    let mut h = Harness::new();
    h.create("/c", CreateMode::Container);
    h.create("/t", CreateMode::PersistentWithTtl { ttl_ms: 1000 });
    let t_mtime = h.persisted("/t").mtime;
    assert!(h.tree.reap_candidates(t_mtime + 1000, 0).is_empty());
    assert_eq!(h.tree.reap_candidates(t_mtime + 1001, 0), vec!["/t"]);
    // A container never used is kept unless the never-used limit is set.
    let c_mtime = h.persisted("/c").mtime;
    assert_eq!(h.tree.reap_candidates(c_mtime + 10, 5), vec!["/c"]);
    h.create("/c/x", CreateMode::Persistent);
    assert!(h.tree.reap_candidates(t_mtime, 0).is_empty());
    h.run(1, delete("/c/x"));
    assert_eq!(h.tree.reap_candidates(t_mtime, 0), vec!["/c"]);
    // The reaper's delete.
    assert_eq!(
        h.run(1, Request::DeleteContainer { path: "/c".into() }),
        TxnResult::Deleted
    );
    h.run(1, create("/e", CreateMode::Ephemeral));
    assert_eq!(
        h.run(1, Request::DeleteContainer { path: "/e".into() }),
        TxnResult::Error {
            code: code::BAD_VERSION
        }
    );
    assert!(h.tree.containers().is_empty());
}

#[test]
fn prepare_refuses_what_zookeeper_refuses() {
    let mut h = Harness::new();
    h.create("/a", CreateMode::Persistent);
    h.create("/a/b", CreateMode::Persistent);
    let cases = [
        (create("/a", CreateMode::Persistent), code::NODE_EXISTS),
        (create("/", CreateMode::Persistent), code::NODE_EXISTS),
        (create("/x/y", CreateMode::Persistent), code::NO_NODE),
        (create("/a/", CreateMode::Persistent), code::BAD_ARGUMENTS),
        (create("a", CreateMode::Persistent), code::BAD_ARGUMENTS),
        // ZooKeeper looks the parent up before it validates the path.
        (create("/a/./b", CreateMode::Persistent), code::NO_NODE),
        (create("/a/.", CreateMode::Persistent), code::BAD_ARGUMENTS),
        (create("/a\0", CreateMode::Persistent), code::BAD_ARGUMENTS),
        (
            Request::Create {
                path: "/z".into(),
                data: Some(vec![]),
                acl: vec![],
                mode: CreateMode::Persistent,
            },
            code::INVALID_ACL,
        ),
        (delete("/a"), code::NOT_EMPTY),
        (delete("/zookeeper"), code::BAD_ARGUMENTS),
        (delete("/"), code::BAD_ARGUMENTS),
        (delete("/none"), code::NO_NODE),
        (
            Request::Delete {
                path: "/a/b".into(),
                version: 3,
            },
            code::BAD_VERSION,
        ),
        (
            Request::SetData {
                path: "/none".into(),
                data: Some(vec![]),
                version: -1,
            },
            code::NO_NODE,
        ),
    ];
    for (request, expected) in cases {
        let digest = h.tree.digest();
        assert_eq!(
            h.run(1, request.clone()),
            TxnResult::Error { code: expected },
            "{request:?}"
        );
        assert_eq!(h.tree.digest(), digest);
    }
    // A sequential create of "/a/" names a child of /a.
    assert_eq!(
        created_path(&h.create("/a/", CreateMode::PersistentSequential)),
        "/a/0000000001"
    );
    // Permission checks go through the callback.
    let header = h.next_header(1);
    let deny_create = |_: &[Acl], perm: i32| perm != perms::CREATE;
    let txn = h.pending.prepare(
        &h.tree,
        header,
        &create("/a/c", CreateMode::Persistent),
        &deny_create,
    );
    assert_eq!(
        txn.body,
        TxnBody::Error {
            code: code::NO_AUTH
        }
    );
}

#[test]
fn prepare_sees_prepared_but_unapplied_changes() {
    let mut h = Harness::new();
    h.create("/p", CreateMode::Persistent);
    h.create("/p/c", CreateMode::Persistent);
    let delete_child = h.prepare(1, delete("/p/c"));
    let delete_parent = h.prepare(1, delete("/p"));
    assert_eq!(delete_parent.body, TxnBody::Delete { path: "/p".into() });
    let create_again = h.prepare(1, create("/p", CreateMode::Persistent));
    let create_twice = h.prepare(1, create("/p", CreateMode::Persistent));
    assert_eq!(
        create_twice.body,
        TxnBody::Error {
            code: code::NODE_EXISTS
        }
    );
    for txn in [delete_child, delete_parent, create_again, create_twice] {
        let is_error = matches!(txn.body, TxnBody::Error { .. });
        let result = h.apply(txn);
        assert_eq!(result.error_code() != 0, is_error, "{result:?}");
    }
    assert!(h.pending.is_empty());
    assert_eq!(h.tree.children("/p"), Some(vec![]));
}

#[test]
fn replay_tolerates_a_snapshot_that_is_ahead() {
    let mut h = Harness::new();
    h.run(3, Request::CreateSession { timeout_ms: 4000 });
    h.create("/r", CreateMode::Persistent);
    for _ in 0..3 {
        h.create("/r/s", CreateMode::PersistentSequential);
    }
    h.run(1, delete("/r/s0000000001"));
    h.run(3, create("/r/eph", CreateMode::Ephemeral));
    h.run(
        1,
        Request::SetData {
            path: "/r".into(),
            data: Some(b"x".to_vec()),
            version: -1,
        },
    );
    h.run(3, Request::CloseSession);
    h.run(1, delete("/r/s0000000000"));
    h.create("/r/s0000000000", CreateMode::Persistent);

    // The final state, replayed over by the whole log, is still the final state.
    let mut replayed = copy(&h.tree);
    for txn in &h.log {
        replayed.replay(txn);
    }
    assert_eq!(contents(&replayed), contents(&h.tree));
    assert_eq!(replayed.digest(), h.tree.digest());
    assert_eq!(replayed.digest(), replayed.recompute_digest());
    assert_eq!(replayed.sessions(), h.tree.sessions());

    // In live mode the same replays fail and change nothing.
    let mut live = copy(&h.tree);
    for txn in &h.log[1..3] {
        assert_ne!(live.apply_with(txn, ApplyMode::Live).error_code(), 0);
    }
    assert_eq!(contents(&live), contents(&h.tree));
}

#[test]
fn replayed_create_of_an_existing_node_raises_the_parent_cversion() {
    let mut tree = DataTree::new();
    let header = |counter| TxnHeader {
        session_id: 1,
        cxid: 0,
        zxid: Zxid::new(2, counter),
        time_ms: 9,
    };
    let create = |path: &str, parent_cversion| {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(vec![]),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            parent_cversion,
        })
    };
    tree.apply(&Txn {
        header: header(1),
        body: create("/p", 1),
    });
    tree.apply(&Txn {
        header: header(2),
        body: create("/p/a", 1),
    });
    let replayed = tree.replay(&Txn {
        header: header(5),
        body: create("/p/a", 4),
    });
    assert_eq!(
        replayed,
        TxnResult::Error {
            code: code::NODE_EXISTS
        }
    );
    let parent = tree.get("/p").map(|n| n.stat_persisted()).expect("/p");
    assert_eq!(
        (parent.cversion, parent.pzxid),
        (4, Zxid::new(2, 5).0 as i64)
    );
    // A lower parent_cversion never moves it back.
    tree.replay(&Txn {
        header: header(6),
        body: create("/p/a", 2),
    });
    assert_eq!(tree.get("/p").map(|n| n.stat_persisted().cversion), Some(4));
    // A replayed delete of a missing node still moves the parent's pzxid.
    let deleted = tree.replay(&Txn {
        header: header(7),
        body: TxnBody::Delete {
            path: "/p/zz".into(),
        },
    });
    assert_eq!(
        deleted,
        TxnResult::Error {
            code: code::NO_NODE
        }
    );
    assert_eq!(
        tree.get("/p").map(|n| n.stat_persisted().pzxid),
        Some(Zxid::new(2, 7).0 as i64)
    );
    assert_eq!(tree.last_applied_zxid(), Zxid::new(2, 7));
    assert_eq!(tree.digest(), tree.recompute_digest());
}

/// A fuzzy snapshot can hold a node deleted and re-created (with children) after the snapshot
/// started: replaying the delete must remove the subtree, the later creates rebuild it.
#[test]
fn replayed_delete_of_a_node_with_children_removes_the_subtree() {
    let mut h = Harness::new();
    h.create("/c", CreateMode::Persistent);
    h.run(1, delete("/c"));
    h.create("/c", CreateMode::Persistent);
    h.create("/c/a", CreateMode::Ephemeral);
    h.create("/c/b", CreateMode::Container);
    let mut replayed = copy(&h.tree);
    for txn in &h.log[1..] {
        replayed.replay(txn);
    }
    assert_eq!(contents(&replayed), contents(&h.tree));
    assert_eq!(replayed.digest(), h.tree.digest());
    assert_eq!(replayed.ephemerals(1), vec!["/c/a"]);
    assert_eq!(replayed.containers(), vec!["/c/b"]);
    // Live mode refuses the same delete.
    let mut live = copy(&h.tree);
    assert_eq!(
        live.apply(&h.log[1]),
        TxnResult::Error {
            code: code::NOT_EMPTY
        }
    );
}

#[test]
fn a_close_does_not_list_a_path_another_session_recreated_meanwhile() {
    let mut h = Harness::new();
    h.run(1, create("/lock", CreateMode::Ephemeral));
    let released = h.prepare(1, delete("/lock"));
    let taken = h.prepare(2, create("/lock", CreateMode::Ephemeral));
    let close = h.prepare(1, Request::CloseSession);
    assert_eq!(close.body, TxnBody::CloseSession { paths: vec![] });
    let close_other = h.prepare(2, Request::CloseSession);
    assert_eq!(
        close_other.body,
        TxnBody::CloseSession {
            paths: vec!["/lock".into()]
        }
    );
    h.apply(released);
    h.apply(taken);
    h.apply(close);
    assert_eq!(h.tree.stat("/lock").map(|s| s.ephemeral_owner), Some(2));
    h.apply(close_other);
    assert!(!h.tree.contains("/lock"));
}

/// ZooKeeper's digest of a fresh tree: the root (as "") and `/zookeeper`, zero stats, no data;
/// `/zookeeper/quota` and `/zookeeper/config` are not covered.
#[test]
fn a_fresh_tree_has_zookeepers_digest() {
    let zero_stat = [0u8; 60];
    let root = u64::from(crc32fast::hash(&zero_stat));
    let mut system = b"/zookeeper".to_vec();
    system.extend_from_slice(&zero_stat);
    let expected = root + u64::from(crc32fast::hash(&system));
    assert_eq!(DataTree::new().digest(), expected);
}

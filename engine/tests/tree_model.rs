//! Random request streams through prepare and apply, checking after every step:
//! - the incremental digest equals a full recompute;
//! - a transaction that prepare did not turn into an error applies without error, even when
//!   several were prepared before any was applied (the pending-changes overlay);
//! - every transaction survives encode/decode, and a second tree applying the decoded log ends
//!   identical (apply is deterministic);
//! - a fuzzy snapshot taken the way ZooKeeper takes one (a depth-first walk interleaved with
//!   applies), restored and replayed from its start, ends identical to the live tree.

use std::collections::BTreeMap;

use proptest::prelude::*;
use zk_engine::tree::prepare::{allow_all, PendingChanges, Request};
use zk_engine::tree::{DataTree, StatPersisted};
use zk_engine::txn::{decode, encode, perms, Acl, CreateMode, Txn, TxnBody, TxnHeader};
use zk_engine::Zxid;

fn path_strategy() -> impl Strategy<Value = String> {
    let name = || prop::sample::select(vec!["a", "b", "c"]);
    prop_oneof![
        3 => name().prop_map(|a| format!("/{a}")),
        3 => (name(), name()).prop_map(|(a, b)| format!("/{a}/{b}")),
        1 => (name(), name(), name()).prop_map(|(a, b, c)| format!("/{a}/{b}/{c}")),
    ]
}

fn mode_strategy() -> impl Strategy<Value = CreateMode> {
    prop::sample::select(vec![
        CreateMode::Persistent,
        CreateMode::Persistent,
        CreateMode::Ephemeral,
        CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential,
        CreateMode::Container,
        CreateMode::PersistentWithTtl { ttl_ms: 50 },
    ])
}

fn acl_strategy() -> impl Strategy<Value = Vec<Acl>> {
    prop::sample::select(vec![
        Acl::open_unsafe(),
        vec![Acl::new(perms::ALL, "digest", "user:hash")],
    ])
}

fn version_strategy() -> impl Strategy<Value = i32> {
    prop::sample::select(vec![-1, -1, 0, 1])
}

/// Data, null now and then (ZooKeeper tells null data from empty data).
fn data_strategy() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.9, prop::collection::vec(any::<u8>(), 0..6))
}

fn multi_op_strategy() -> impl Strategy<Value = Request> {
    prop_oneof![
        5 => (
            path_strategy(),
            data_strategy(),
            acl_strategy(),
            mode_strategy()
        )
            .prop_map(|(path, data, acl, mode)| Request::Create {
                path,
                data,
                acl,
                mode
            }),
        2 => (path_strategy(), version_strategy())
            .prop_map(|(path, version)| Request::Delete { path, version }),
        2 => (path_strategy(), data_strategy(), version_strategy()).prop_map(|(path, data, version)| {
            Request::SetData {
                path,
                data,
                version,
            }
        }),
        1 => (path_strategy(), version_strategy())
            .prop_map(|(path, version)| Request::Check { path, version }),
    ]
}

fn request_strategy() -> impl Strategy<Value = Request> {
    prop_oneof![
        8 => multi_op_strategy(),
        1 => (path_strategy(), acl_strategy(), version_strategy())
            .prop_map(|(path, acl, version)| Request::SetAcl { path, acl, version }),
        2 => prop::collection::vec(multi_op_strategy(), 1..4).prop_map(Request::Multi),
        1 => Just(Request::CreateSession { timeout_ms: 1000 }),
        1 => Just(Request::CloseSession),
    ]
}

/// (session, request, how many requests to prepare before applying the pending ones).
fn step_strategy() -> impl Strategy<Value = (i64, Request, usize)> {
    (1i64..4, request_strategy(), 1usize..4)
}

type Contents = BTreeMap<String, (Option<Vec<u8>>, Vec<Acl>, StatPersisted)>;

/// A node as a snapshot writer saw it: path, data, ACL, stat.
type SavedNode = (String, Option<Vec<u8>>, Vec<Acl>, StatPersisted);

fn contents(tree: &DataTree) -> Contents {
    let mut nodes = BTreeMap::new();
    tree.visit_depth_first(|path, node| {
        nodes.insert(
            path.to_owned(),
            (
                node.data_option().map(<[u8]>::to_vec),
                node.acl().to_vec(),
                node.stat_persisted(),
            ),
        );
    });
    nodes
}

fn is_error(body: &TxnBody) -> bool {
    match body {
        TxnBody::Error { .. } => true,
        TxnBody::Multi(ops) => ops.iter().any(is_error),
        _ => false,
    }
}

/// ZooKeeper's fuzzy snapshot: sessions first, then a depth-first walk of the live tree, one
/// node at a time, while transactions keep being applied.
struct FuzzySnapshot {
    start_zxid: Zxid,
    sessions: Vec<(i64, i32)>,
    nodes: Vec<SavedNode>,
    stack: Vec<String>,
}

impl FuzzySnapshot {
    fn start(tree: &DataTree) -> FuzzySnapshot {
        FuzzySnapshot {
            start_zxid: tree.last_applied_zxid(),
            sessions: tree.sessions().iter().collect(),
            nodes: Vec::new(),
            stack: vec!["/".to_owned()],
        }
    }

    /// Serializes the next node of the walk, if any.
    fn step(&mut self, tree: &DataTree) {
        while let Some(path) = self.stack.pop() {
            let Some(node) = tree.get(&path) else {
                continue;
            };
            self.nodes.push((
                path.clone(),
                node.data_option().map(<[u8]>::to_vec),
                node.acl().to_vec(),
                node.stat_persisted(),
            ));
            for child in tree.children(&path).unwrap_or_default() {
                let child_path = if path == "/" {
                    format!("/{child}")
                } else {
                    format!("{path}/{child}")
                };
                self.stack.push(child_path);
            }
            return;
        }
    }

    fn finish(&mut self, tree: &DataTree) {
        while !self.stack.is_empty() {
            self.step(tree);
        }
    }

    fn restore(&self) -> DataTree {
        let mut tree = DataTree::new();
        for (path, data, acl, stat) in &self.nodes {
            tree.restore_node(path, data.as_deref(), acl, *stat)
                .expect("a parent is serialized before its children");
        }
        for (session, timeout) in &self.sessions {
            tree.restore_session(*session, *timeout);
        }
        tree.set_last_applied_zxid(self.start_zxid);
        tree
    }
}

/// The live side: a tree, its pending changes, the log, the snapshot in progress.
struct Live {
    tree: DataTree,
    pending: PendingChanges,
    log: Vec<Txn>,
    snapshot: Option<FuzzySnapshot>,
    snapshot_at: usize,
    /// The walk serializes one node every `pace` transactions.
    pace: usize,
}

impl Live {
    /// Applies the prepared transactions, one snapshot step before each.
    fn apply_all(&mut self, queue: &mut Vec<Txn>) -> Result<(), TestCaseError> {
        for txn in queue.drain(..) {
            if let Some(snapshot) = self.snapshot.as_mut() {
                if self.log.len().is_multiple_of(self.pace) {
                    snapshot.step(&self.tree);
                }
            }
            let result = self.tree.apply(&txn);
            self.pending.applied(txn.header.zxid);
            prop_assert_eq!(
                result.error_code() != 0,
                is_error(&txn.body),
                "{:?} gave {:?}",
                txn,
                result
            );
            prop_assert_eq!(self.tree.digest(), self.tree.recompute_digest());
            let decoded = decode(&encode(&txn));
            prop_assert_eq!(decoded.as_ref(), Ok(&txn));
            self.log.push(txn);
            if self.snapshot.is_none() && self.log.len() == self.snapshot_at {
                self.snapshot = Some(FuzzySnapshot::start(&self.tree));
            }
        }
        Ok(())
    }
}

fn run(
    steps: &[(i64, Request, usize)],
    snapshot_at: usize,
    pace: usize,
) -> Result<(), TestCaseError> {
    let mut live = Live {
        tree: DataTree::new(),
        pending: PendingChanges::new(),
        log: Vec::new(),
        snapshot: None,
        snapshot_at,
        pace,
    };
    let mut queue: Vec<Txn> = Vec::new();
    let mut counter = 0u32;
    for (session, request, batch) in steps {
        counter += 1;
        let header = TxnHeader {
            session_id: *session,
            cxid: 0,
            zxid: Zxid::new(1, counter),
            time_ms: i64::from(counter) * 10,
        };
        queue.push(
            live.pending
                .prepare(&live.tree, header, request, &allow_all),
        );
        if queue.len() >= *batch {
            live.apply_all(&mut queue)?;
        }
    }
    live.apply_all(&mut queue)?;
    prop_assert!(live.pending.is_empty());
    let Live {
        tree: live,
        log,
        snapshot,
        ..
    } = live;

    // Determinism: another tree applying the decoded log ends identical.
    let mut follower = DataTree::new();
    for txn in &log {
        let decoded = decode(&encode(txn)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        follower.apply(&decoded);
    }
    prop_assert_eq!(follower.digest(), live.digest());
    prop_assert_eq!(contents(&follower), contents(&live));
    prop_assert_eq!(follower.sessions(), live.sessions());

    // Fuzzy snapshot + replay from its start.
    let mut snapshot = snapshot.unwrap_or_else(|| FuzzySnapshot::start(&live));
    snapshot.finish(&live);
    let mut restored = snapshot.restore();
    let start = log
        .iter()
        .position(|txn| txn.header.zxid > snapshot.start_zxid)
        .unwrap_or(log.len());
    for txn in log.get(start..).unwrap_or_default() {
        restored.replay(txn);
    }
    prop_assert_eq!(contents(&restored), contents(&live));
    prop_assert_eq!(restored.digest(), live.digest());
    prop_assert_eq!(restored.digest(), restored.recompute_digest());
    prop_assert_eq!(restored.sessions(), live.sessions());
    for session in 1..4 {
        prop_assert_eq!(restored.ephemerals(session), live.ephemerals(session));
    }
    prop_assert_eq!(restored.containers(), live.containers());
    prop_assert_eq!(restored.ttls(), live.ttls());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_streams_keep_every_invariant(
        steps in prop::collection::vec(step_strategy(), 1..120),
        snapshot_at in 0usize..60,
        pace in 1usize..8,
    ) {
        run(&steps, snapshot_at, pace)?;
    }
}

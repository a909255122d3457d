//! Helpers shared by the snapshot and database tests: a seeded workload that turns random
//! requests into transactions through the prepare step (every create mode, deletes, set-data,
//! set-ACL, multi, sessions opened and closed with their ephemerals), and a full comparison of
//! two trees (every node's path, data, ACL, persisted and client stat; sessions; ephemeral,
//! container and TTL indexes; digest).
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;

use zk_engine::tree::prepare::{allow_all, PendingChanges, Request};
use zk_engine::tree::{DataTree, Stat, StatPersisted};
use zk_engine::txn::{perms, Acl, CreateMode, Txn, TxnHeader};
use zk_engine::Zxid;

/// Every node: path -> (data, ACL, persisted stat, client stat).
pub type Contents = BTreeMap<String, (Vec<u8>, Vec<Acl>, StatPersisted, Stat)>;

/// The whole content of a tree, for comparison.
pub fn contents(tree: &DataTree) -> Contents {
    let mut nodes = BTreeMap::new();
    tree.visit_depth_first(|path, node| {
        nodes.insert(
            path.to_owned(),
            (
                node.data().to_vec(),
                node.acl().to_vec(),
                node.stat_persisted(),
                node.stat(),
            ),
        );
    });
    nodes
}

/// Session ids the workload uses.
pub const SESSIONS: [i64; 4] = [0x100, 0x101, 0x102, 0x103];

/// Asserts that two trees hold the same replicated state, with a readable first difference.
pub fn assert_same_tree(actual: &DataTree, expected: &DataTree) {
    let (a, e) = (contents(actual), contents(expected));
    if a != e {
        let missing: Vec<&String> = e.keys().filter(|k| !a.contains_key(*k)).collect();
        let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
        let differing: Vec<(&String, _, _)> = e
            .iter()
            .filter_map(|(k, v)| a.get(k).filter(|av| *av != v).map(|av| (k, av, v)))
            .take(3)
            .collect();
        panic!(
            "trees differ: missing {missing:?}, extra {extra:?}, differing (actual, expected) \
             {differing:#?}"
        );
    }
    assert_eq!(actual.digest(), expected.digest(), "digest");
    assert_eq!(
        actual.digest(),
        actual.recompute_digest(),
        "incremental digest"
    );
    assert_eq!(actual.sessions(), expected.sessions(), "sessions");
    for session in SESSIONS {
        assert_eq!(
            actual.ephemerals(session),
            expected.ephemerals(session),
            "ephemerals of {session:#x}"
        );
    }
    assert_eq!(actual.containers(), expected.containers(), "containers");
    assert_eq!(actual.ttls(), expected.ttls(), "TTL nodes");
    assert_eq!(
        actual.last_applied_zxid(),
        expected.last_applied_zxid(),
        "last applied zxid"
    );
}

/// A small deterministic random source (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Random transactions, each prepared against the tree it will be applied to next; `data_len`
/// bounds node data.
#[derive(Debug)]
pub struct Workload {
    rng: Rng,
    pending: PendingChanges,
    counter: u32,
    /// Names at each level of the paths it touches.
    names: Vec<&'static str>,
    depth: usize,
    pub data_len: usize,
}

impl Workload {
    /// A workload over paths of up to `depth` components from `names`.
    pub fn new(seed: u64, names: Vec<&'static str>, depth: usize, data_len: usize) -> Workload {
        Workload {
            rng: Rng::new(seed),
            pending: PendingChanges::new(),
            counter: 0,
            names,
            depth,
            data_len,
        }
    }

    /// The zxid of the last transaction made.
    pub fn last_zxid(&self) -> Zxid {
        Zxid::new(1, self.counter)
    }

    fn path(&mut self) -> String {
        let depth = 1 + self.rng.below(self.depth as u64) as usize;
        let mut path = String::new();
        for _ in 0..depth {
            path.push('/');
            let index = self.rng.below(self.names.len() as u64) as usize;
            let name = self.names[index];
            path.push_str(name);
        }
        path
    }

    fn data(&mut self) -> Vec<u8> {
        let len = self.rng.below(self.data_len as u64 + 1) as usize;
        (0..len).map(|_| self.rng.next_u64() as u8).collect()
    }

    fn acl(&mut self) -> Vec<Acl> {
        match self.rng.below(4) {
            0 => vec![Acl::new(perms::ALL, "digest", "user:hash")],
            1 => vec![
                Acl::new(perms::READ, "world", "anyone"),
                Acl::new(perms::ALL, "ip", "10.0.0.1"),
            ],
            _ => Acl::open_unsafe(),
        }
    }

    fn mode(&mut self) -> CreateMode {
        match self.rng.below(9) {
            0 => CreateMode::Ephemeral,
            1 => CreateMode::EphemeralSequential,
            2 => CreateMode::PersistentSequential,
            3 => CreateMode::Container,
            4 => CreateMode::PersistentWithTtl { ttl_ms: 5000 },
            5 => CreateMode::PersistentSequentialWithTtl { ttl_ms: 700 },
            _ => CreateMode::Persistent,
        }
    }

    fn version(&mut self) -> i32 {
        match self.rng.below(4) {
            0 => 0,
            1 => 1,
            _ => -1,
        }
    }

    fn multi_op(&mut self) -> Request {
        match self.rng.below(10) {
            0..=4 => Request::Create {
                path: self.path(),
                data: Some(self.data()),
                acl: self.acl(),
                mode: self.mode(),
            },
            5..=6 => Request::Delete {
                path: self.path(),
                version: self.version(),
            },
            7..=8 => Request::SetData {
                path: self.path(),
                data: Some(self.data()),
                version: self.version(),
            },
            _ => Request::Check {
                path: self.path(),
                version: self.version(),
            },
        }
    }

    /// A random request.
    pub fn request(&mut self) -> Request {
        match self.rng.below(20) {
            0..=13 => self.multi_op(),
            14 => Request::SetAcl {
                path: self.path(),
                acl: self.acl(),
                version: -1,
            },
            15..=16 => {
                let ops = 1 + self.rng.below(3);
                Request::Multi((0..ops).map(|_| self.multi_op()).collect())
            }
            17..=18 => Request::CreateSession {
                timeout_ms: 1000 + self.rng.below(9000) as i32,
            },
            _ => Request::CloseSession,
        }
    }

    /// Prepares the next transaction against `tree` (which must have applied every earlier one);
    /// it must be applied before the next call.
    pub fn next_txn(&mut self, tree: &DataTree) -> Txn {
        let request = self.request();
        let session_id = *self.rng.pick(&SESSIONS);
        self.txn_for(tree, session_id, &request)
    }

    /// Prepares `request` as the next transaction. It must be applied before the next call.
    pub fn txn_for(&mut self, tree: &DataTree, session_id: i64, request: &Request) -> Txn {
        self.counter += 1;
        let header = TxnHeader {
            session_id,
            cxid: self.counter as i32,
            zxid: Zxid::new(1, self.counter),
            time_ms: 1_700_000_000_000 + i64::from(self.counter),
        };
        let txn = self.pending.prepare(tree, header, request, &allow_all);
        // Applied right after: nothing stays pending.
        self.pending.applied(header.zxid);
        txn
    }
}

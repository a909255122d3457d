//! The data tree: every znode (path, data, ACL, persisted stat), the session table, the index of
//! ephemeral, container and TTL nodes, and the tree digest; and `apply`, which changes it by one
//! transaction following ZooKeeper's `DataTree.processTxn` rules.
//!
//! `apply` is deterministic: the same transactions applied to the same tree give the same tree
//! and the same digest on every machine. It never reads the clock (the time is in the
//! transaction header) and never consults anything but the tree and the transaction. Turning a
//! client request into a transaction (ZooKeeper's checks, the sequential suffix, the new
//! versions) is the job of [`prepare`], which reads the tree but never changes it.
//!
//! Two modes, [`ApplyMode`]:
//! - `Live`: the transaction was prepared against this very tree, so it cannot fail; if it does
//!   anyway (a bug, or a log not made for this tree) the tree is left exactly as it was, a multi
//!   included, and the result carries the error.
//! - `Replay`: the transaction is replayed over a fuzzy snapshot, which may already contain some
//!   of its effects or effects of later transactions. As in ZooKeeper's
//!   `FileTxnSnapLog.processTransaction`, a create of an existing node and a delete of a missing
//!   one are no-ops apart from the parent's cversion/pzxid adjustments ZooKeeper makes, and the
//!   operations of a multi are applied one by one.

mod acl;
mod digest;
mod error;
mod node;
mod path;
pub mod prepare;
mod restore;
mod sessions;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

pub use acl::AclTable;
pub use digest::{node_digest, DIGEST_VERSION, EXCLUDED_SUBTREE};
pub use error::{code, TreeError};
pub use node::{Stat, StatPersisted};
pub use path::{sequential_suffix, split_parent, validate_path};
pub use restore::RestoreCursor;
pub use sessions::SessionTable;

use crate::txn::{Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader};
use crate::zxid::Zxid;
use node::{ChildKey, Node, NodeStore, ROOT};

/// `ephemeralOwner` of a container node (ZooKeeper's `EphemeralType.CONTAINER_EPHEMERAL_OWNER`).
pub const CONTAINER_EPHEMERAL_OWNER: i64 = i64::MIN;
/// High byte of the `ephemeralOwner` of extended node types (TTL).
const EXTENDED_MASK: u64 = 0xFF00_0000_0000_0000;
/// Bits naming the extended type; 0 is TTL.
const EXTENDED_TYPE_MASK: u64 = 0x00FF_FF00_0000_0000;
/// Bits holding the TTL.
const EXTENDED_VALUE_MASK: u64 = 0x0000_00FF_FFFF_FFFF;

/// What a node's `ephemeralOwner` says it is (ZooKeeper's `EphemeralType`, with extended types
/// enabled: a server id of 255, whose session ids would start with `0xFF`, must not be used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EphemeralType {
    /// A persistent node (`ephemeralOwner` 0).
    Persistent,
    /// An ephemeral node of this session.
    Session(i64),
    /// A container node.
    Container,
    /// A persistent node with a time to live.
    Ttl {
        /// Milliseconds.
        ttl_ms: i64,
    },
}

impl EphemeralType {
    /// Classifies an `ephemeralOwner` value.
    pub fn of(ephemeral_owner: i64) -> EphemeralType {
        let bits = ephemeral_owner as u64;
        if ephemeral_owner == 0 {
            EphemeralType::Persistent
        } else if ephemeral_owner == CONTAINER_EPHEMERAL_OWNER {
            EphemeralType::Container
        } else if bits & EXTENDED_MASK == EXTENDED_MASK && bits & EXTENDED_TYPE_MASK == 0 {
            EphemeralType::Ttl {
                ttl_ms: (bits & EXTENDED_VALUE_MASK) as i64,
            }
        } else {
            EphemeralType::Session(ephemeral_owner)
        }
    }

    /// The `ephemeralOwner` value that encodes this type.
    pub fn ephemeral_owner(self) -> i64 {
        match self {
            EphemeralType::Persistent => 0,
            EphemeralType::Session(id) => id,
            EphemeralType::Container => CONTAINER_EPHEMERAL_OWNER,
            EphemeralType::Ttl { ttl_ms } => {
                (EXTENDED_MASK | (ttl_ms as u64 & EXTENDED_VALUE_MASK)) as i64
            }
        }
    }

    /// The type a create in `mode` by `session_id` gives the node.
    pub fn for_create(mode: CreateMode, session_id: i64) -> EphemeralType {
        match mode {
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => {
                EphemeralType::of(session_id)
            }
            CreateMode::Container => EphemeralType::Container,
            CreateMode::PersistentWithTtl { ttl_ms }
            | CreateMode::PersistentSequentialWithTtl { ttl_ms } => EphemeralType::Ttl { ttl_ms },
            CreateMode::Persistent | CreateMode::PersistentSequential => EphemeralType::Persistent,
        }
    }
}

/// How [`DataTree::apply_with`] treats operations that do not fit the tree (module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMode {
    /// Normal operation: a failing transaction changes nothing.
    Live,
    /// Replay over a fuzzy snapshot: ZooKeeper's tolerant rules.
    Replay,
}

/// What applying a transaction did: what the server needs to answer the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnResult {
    /// A node was created.
    Created {
        /// Its path (with the sequential suffix).
        path: String,
        /// Its stat.
        stat: Stat,
    },
    /// A node was deleted.
    Deleted,
    /// A node's data was replaced.
    DataSet {
        /// Its stat afterwards.
        stat: Stat,
    },
    /// A node's ACL was replaced.
    AclSet {
        /// Its stat afterwards.
        stat: Stat,
    },
    /// A version check (inside a multi).
    Checked,
    /// The results of a multi's operations, in order. When the multi failed, every one is an
    /// `Error`: code 0 before the failing operation, its code, then `RUNTIME_INCONSISTENCY`.
    Multi(Vec<TxnResult>),
    /// A session was opened.
    SessionCreated,
    /// A session was closed and its ephemeral nodes removed.
    SessionClosed,
    /// The operation failed (or was logged as failed) with this ZooKeeper error code.
    Error {
        /// ZooKeeper error code.
        code: i32,
    },
}

impl TxnResult {
    /// The error code of the result: 0 on success; for a multi, the first non-zero code of its
    /// operations (ZooKeeper's `ProcessTxnResult.err`).
    pub fn error_code(&self) -> i32 {
        match self {
            TxnResult::Error { code } => *code,
            TxnResult::Multi(results) => results
                .iter()
                .map(TxnResult::error_code)
                .find(|code| *code != 0)
                .unwrap_or(0),
            _ => 0,
        }
    }
}

/// One step to undo, recorded while a live multi is applied.
#[derive(Debug)]
enum Undo {
    /// The node at `path` was created: remove it.
    Remove { path: String },
    /// The node at `path` had this stat (and data, when it changed, which may have been null):
    /// put them back.
    Restore {
        path: String,
        stat: StatPersisted,
        data: Option<Option<Vec<u8>>>,
    },
    /// The node at `path` was deleted: put it back.
    Reinsert {
        path: String,
        data: Option<Vec<u8>>,
        acl: Arc<[Acl]>,
        stat: StatPersisted,
    },
}

/// A removed node, as it was.
struct Removed {
    data: Option<Vec<u8>>,
    acl: Arc<[Acl]>,
    stat: StatPersisted,
}

/// Memory held by a tree, by part (capacity included, allocator overhead not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Number of nodes, the root and `/zookeeper` nodes included.
    pub nodes: usize,
    /// Arena slots and the (parent, name) index.
    pub structure_bytes: usize,
    /// Names and data.
    pub node_heap_bytes: usize,
}

impl MemoryEstimate {
    /// `(structure + heap) / nodes`.
    pub fn bytes_per_node(&self) -> f64 {
        (self.structure_bytes + self.node_heap_bytes) as f64 / self.nodes.max(1) as f64
    }
}

/// The in-memory znode tree (module doc).
#[derive(Debug)]
pub struct DataTree {
    nodes: NodeStore,
    acls: AclTable,
    sessions: SessionTable,
    /// Ephemeral nodes by owner session.
    ephemerals: HashMap<i64, BTreeSet<u32>>,
    containers: BTreeSet<u32>,
    ttls: BTreeSet<u32>,
    digest: u64,
    last_applied_zxid: Zxid,
    /// Set while a live multi is applied.
    undo_log: Option<Vec<Undo>>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

/// A read-only view of one node.
#[derive(Clone, Copy)]
pub struct NodeRef<'a> {
    tree: &'a DataTree,
    id: u32,
    node: &'a Node,
}

impl<'a> NodeRef<'a> {
    /// The last component of the path (empty for the root).
    pub fn name(&self) -> &'a str {
        self.node.name()
    }

    /// The absolute path (rebuilt from the parent links).
    pub fn path(&self) -> String {
        self.tree.nodes.path_of(self.id)
    }

    /// The data (empty when it is null).
    pub fn data(&self) -> &'a [u8] {
        self.node.data()
    }

    /// The data, `None` when it is null (created or set with no data at all).
    pub fn data_option(&self) -> Option<&'a [u8]> {
        self.node.data_option()
    }

    /// The ACL.
    pub fn acl(&self) -> &'a [Acl] {
        self.tree.acls.get(self.node.acl)
    }

    /// The ACL as a shared handle.
    pub fn acl_shared(&self) -> Arc<[Acl]> {
        self.tree.acls.get_shared(self.node.acl)
    }

    /// The id of the ACL in [`DataTree::acl_table`] (what a snapshot stores).
    pub fn acl_id(&self) -> u32 {
        self.node.acl
    }

    /// The stat as clients see it.
    pub fn stat(&self) -> Stat {
        client_stat(self.node)
    }

    /// The persisted stat.
    pub fn stat_persisted(&self) -> StatPersisted {
        self.node.stat_persisted()
    }

    /// Number of children.
    pub fn num_children(&self) -> u32 {
        self.node.num_children()
    }

    /// The children's names, most recently created first.
    pub fn children(&self) -> impl Iterator<Item = &'a str> + 'a {
        let nodes = &self.tree.nodes;
        nodes
            .children(self.id)
            .filter_map(move |id| nodes.get(id).map(Node::name))
    }

    /// What the node's `ephemeralOwner` says it is.
    pub fn ephemeral_type(&self) -> EphemeralType {
        EphemeralType::of(self.node.stat_persisted().ephemeral_owner)
    }
}

fn client_stat(node: &Node) -> Stat {
    let persisted = node.stat_persisted();
    let num_children = i32::try_from(node.num_children()).unwrap_or(i32::MAX);
    let ephemeral_owner = match EphemeralType::of(persisted.ephemeral_owner) {
        EphemeralType::Session(id) => id,
        _ => 0,
    };
    Stat {
        czxid: persisted.czxid,
        mzxid: persisted.mzxid,
        ctime: persisted.ctime,
        mtime: persisted.mtime,
        version: persisted.version,
        cversion: persisted
            .cversion
            .wrapping_mul(2)
            .wrapping_sub(num_children),
        aversion: persisted.aversion,
        ephemeral_owner,
        data_length: i32::try_from(node.data().len()).unwrap_or(i32::MAX),
        num_children,
        pzxid: persisted.pzxid,
    }
}

/// The persisted stat of a node created by a transaction (ZooKeeper's `DataTree.createStat`).
fn created_stat(header: &TxnHeader, ephemeral_owner: i64) -> StatPersisted {
    let zxid = header.zxid.0 as i64;
    StatPersisted {
        czxid: zxid,
        mzxid: zxid,
        ctime: header.time_ms,
        mtime: header.time_ms,
        version: 0,
        cversion: 0,
        aversion: 0,
        ephemeral_owner,
        pzxid: zxid,
    }
}

impl DataTree {
    /// A fresh tree, as ZooKeeper starts one: `/` (open ACL), `/zookeeper`, `/zookeeper/quota`
    /// and `/zookeeper/config` (read-only ACL, aversion -1), all with zero stats.
    pub fn new() -> DataTree {
        let mut acls = AclTable::new();
        let root_acl = acls.acquire(&Acl::open_unsafe());
        let zero = StatPersisted::default();
        let mut tree = DataTree {
            nodes: NodeStore::new(root_acl, &zero),
            acls,
            sessions: SessionTable::new(),
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            digest: 0,
            last_applied_zxid: Zxid::NONE,
            undo_log: None,
        };
        tree.digest = node_digest("/", &[], &zero);
        let open = Acl::open_unsafe();
        let system = tree.add_node(ROOT, "/zookeeper", "zookeeper", Some(&[]), &open, zero);
        tree.add_node(system, "/zookeeper/quota", "quota", Some(&[]), &open, zero);
        let config = StatPersisted {
            aversion: -1,
            ..zero
        };
        tree.add_node(
            system,
            "/zookeeper/config",
            "config",
            Some(&[]),
            &Acl::read_unsafe(),
            config,
        );
        tree
    }

    // ----- reading -----

    /// The node at `path`.
    pub fn get(&self, path: &str) -> Option<NodeRef<'_>> {
        let id = self.nodes.lookup(path)?;
        self.node_ref(id)
    }

    fn node_ref(&self, id: u32) -> Option<NodeRef<'_>> {
        Some(NodeRef {
            tree: self,
            id,
            node: self.nodes.get(id)?,
        })
    }

    /// Whether a node exists at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.lookup(path).is_some()
    }

    /// The client stat of the node at `path`.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.get(path).map(|node| node.stat())
    }

    /// The data of the node at `path`.
    pub fn data(&self, path: &str) -> Option<&[u8]> {
        self.get(path).map(|node| node.data())
    }

    /// The children's names of the node at `path`, sorted by bytes.
    pub fn children(&self, path: &str) -> Option<Vec<String>> {
        let node = self.get(path)?;
        let mut names: Vec<String> = node.children().map(str::to_owned).collect();
        names.sort_unstable();
        Some(names)
    }

    /// Number of nodes, the root and the `/zookeeper` nodes included.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The tree digest (module [`digest`](node_digest)), kept up to date by every change.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The digest computed from scratch over every node (for tests and checks).
    pub fn recompute_digest(&self) -> u64 {
        let mut digest = 0u64;
        self.visit_depth_first(|path, node| {
            digest = digest.wrapping_add(node_digest(path, node.data(), &node.stat_persisted()));
        });
        digest
    }

    /// The highest zxid applied (ZooKeeper's `lastProcessedZxid`).
    pub fn last_applied_zxid(&self) -> Zxid {
        self.last_applied_zxid
    }

    /// The open sessions.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The ACL table.
    pub fn acl_table(&self) -> &AclTable {
        &self.acls
    }

    /// Paths of the ephemeral nodes owned by `session_id`, sorted by bytes.
    pub fn ephemerals(&self, session_id: i64) -> Vec<String> {
        self.paths_sorted(self.ephemerals.get(&session_id).into_iter().flatten())
    }

    /// Paths of the container nodes, sorted.
    pub fn containers(&self) -> Vec<String> {
        self.paths_sorted(self.containers.iter())
    }

    /// Paths of the TTL nodes, sorted.
    pub fn ttls(&self) -> Vec<String> {
        self.paths_sorted(self.ttls.iter())
    }

    fn paths_sorted<'a>(&self, ids: impl Iterator<Item = &'a u32>) -> Vec<String> {
        let mut paths: Vec<String> = ids.map(|id| self.nodes.path_of(*id)).collect();
        paths.sort_unstable();
        paths
    }

    /// Nodes the container/TTL reaper should delete at `now_ms` (ZooKeeper's
    /// `ContainerManager.getCandidates`): empty containers that once had a child (or, when
    /// `max_never_used_ms` is not 0, that have been empty for longer than it since their last
    /// change), and empty TTL nodes not changed for longer than their TTL. Sorted.
    pub fn reap_candidates(&self, now_ms: i64, max_never_used_ms: i64) -> Vec<String> {
        let mut paths = Vec::new();
        for &id in &self.containers {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            let stat = node.stat_persisted();
            let elapsed = now_ms.saturating_sub(stat.mtime);
            if node.num_children() == 0
                && (stat.cversion > 0 || (max_never_used_ms != 0 && elapsed > max_never_used_ms))
            {
                paths.push(self.nodes.path_of(id));
            }
        }
        for &id in &self.ttls {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            let stat = node.stat_persisted();
            if let EphemeralType::Ttl { ttl_ms } = EphemeralType::of(stat.ephemeral_owner) {
                let elapsed = now_ms.saturating_sub(stat.mtime);
                if node.num_children() == 0 && ttl_ms != 0 && elapsed > ttl_ms {
                    paths.push(self.nodes.path_of(id));
                }
            }
        }
        paths.sort_unstable();
        paths
    }

    /// Calls `visit(path, node)` for every node, parents before children (what a snapshot
    /// writer needs).
    pub fn visit_depth_first(&self, mut visit: impl FnMut(&str, NodeRef<'_>)) {
        let mut stack = vec![(ROOT, "/".to_owned())];
        while let Some((id, path)) = stack.pop() {
            let Some(node) = self.node_ref(id) else {
                continue;
            };
            visit(&path, node);
            for child in self.nodes.children(id) {
                let Some(child_node) = self.nodes.get(child) else {
                    continue;
                };
                let child_path = if id == ROOT {
                    format!("/{}", child_node.name())
                } else {
                    format!("{path}/{}", child_node.name())
                };
                stack.push((child, child_path));
            }
        }
    }

    /// Memory held by the tree's nodes and index.
    pub fn memory_estimate(&self) -> MemoryEstimate {
        MemoryEstimate {
            nodes: self.nodes.len(),
            structure_bytes: self.nodes.structure_bytes(),
            node_heap_bytes: self.nodes.node_heap_bytes(),
        }
    }

    // ----- restoring (snapshot load): see `restore.rs` -----

    /// Records an open session read from a snapshot.
    pub fn restore_session(&mut self, session_id: i64, timeout_ms: i32) {
        self.sessions.open(session_id, timeout_ms);
    }

    /// Sets the zxid the restored state is at.
    pub fn set_last_applied_zxid(&mut self, zxid: Zxid) {
        self.last_applied_zxid = zxid;
    }

    // ----- applying -----

    /// Applies a transaction prepared against this tree ([`ApplyMode::Live`]).
    pub fn apply(&mut self, txn: &Txn) -> TxnResult {
        self.apply_with(txn, ApplyMode::Live)
    }

    /// Replays a logged transaction over a fuzzy snapshot ([`ApplyMode::Replay`]).
    pub fn replay(&mut self, txn: &Txn) -> TxnResult {
        self.apply_with(txn, ApplyMode::Replay)
    }

    /// Applies a transaction in the given mode. The last applied zxid becomes the
    /// transaction's if it is higher, whatever the result.
    pub fn apply_with(&mut self, txn: &Txn, mode: ApplyMode) -> TxnResult {
        let header = &txn.header;
        let result = match &txn.body {
            TxnBody::Multi(ops) => self.apply_multi(header, ops, mode),
            TxnBody::CreateSession { timeout_ms } => {
                self.sessions.open(header.session_id, *timeout_ms);
                TxnResult::SessionCreated
            }
            TxnBody::CloseSession { paths } => {
                self.close_session(header, paths);
                TxnResult::SessionClosed
            }
            TxnBody::Error { code } => TxnResult::Error { code: *code },
            body => self
                .apply_op(header, body, mode)
                .unwrap_or_else(|error| TxnResult::Error { code: error.code() }),
        };
        if header.zxid > self.last_applied_zxid {
            self.last_applied_zxid = header.zxid;
        }
        result
    }

    /// One operation that may appear in a multi (and `SetAcl`).
    fn apply_op(
        &mut self,
        header: &TxnHeader,
        body: &TxnBody,
        mode: ApplyMode,
    ) -> Result<TxnResult, TreeError> {
        match body {
            TxnBody::Create(create) => self.create(header, create, mode),
            TxnBody::Delete { path } => {
                self.delete(header.zxid, path, mode)?;
                Ok(TxnResult::Deleted)
            }
            TxnBody::SetData {
                path,
                data,
                version,
            } => self.set_data(header, path, data.as_deref(), *version),
            TxnBody::SetAcl { path, acl, version } => self.set_acl(path, acl, *version),
            TxnBody::Check { .. } => Ok(TxnResult::Checked),
            TxnBody::Error { code } => Ok(TxnResult::Error { code: *code }),
            TxnBody::Multi(_) | TxnBody::CreateSession { .. } | TxnBody::CloseSession { .. } => {
                Err(TreeError::BadArguments)
            }
        }
    }

    fn apply_multi(&mut self, header: &TxnHeader, ops: &[TxnBody], mode: ApplyMode) -> TxnResult {
        if ops.iter().any(|op| matches!(op, TxnBody::Error { .. })) {
            // Logged as failed: nothing is applied (ZooKeeper turns the operations before the
            // failing one into "ok" errors and those after into runtime inconsistencies).
            let mut after_error = false;
            let results = ops
                .iter()
                .map(|op| match op {
                    TxnBody::Error { code } => {
                        after_error = true;
                        TxnResult::Error { code: *code }
                    }
                    _ if after_error => TxnResult::Error {
                        code: code::RUNTIME_INCONSISTENCY,
                    },
                    _ => TxnResult::Error { code: code::OK },
                })
                .collect();
            return TxnResult::Multi(results);
        }
        if mode == ApplyMode::Replay {
            let results = ops
                .iter()
                .map(|op| {
                    if op.allowed_in_multi() {
                        self.apply_op(header, op, mode)
                            .unwrap_or_else(|error| TxnResult::Error { code: error.code() })
                    } else {
                        TxnResult::Error {
                            code: code::BAD_ARGUMENTS,
                        }
                    }
                })
                .collect();
            return TxnResult::Multi(results);
        }
        self.undo_log = Some(Vec::new());
        let mut results = Vec::with_capacity(ops.len());
        for (index, op) in ops.iter().enumerate() {
            let outcome = if op.allowed_in_multi() {
                self.apply_op(header, op, mode)
            } else {
                Err(TreeError::BadArguments)
            };
            match outcome {
                Ok(result) => results.push(result),
                Err(error) => {
                    self.roll_back();
                    let failed = (0..ops.len())
                        .map(|position| TxnResult::Error {
                            code: match position.cmp(&index) {
                                std::cmp::Ordering::Less => code::OK,
                                std::cmp::Ordering::Equal => error.code(),
                                std::cmp::Ordering::Greater => code::RUNTIME_INCONSISTENCY,
                            },
                        })
                        .collect();
                    return TxnResult::Multi(failed);
                }
            }
        }
        self.undo_log = None;
        TxnResult::Multi(results)
    }

    fn record(&mut self, undo: impl FnOnce() -> Undo) {
        if let Some(log) = &mut self.undo_log {
            log.push(undo());
        }
    }

    /// Undoes what the current live multi did, newest step first.
    fn roll_back(&mut self) {
        let Some(log) = self.undo_log.take() else {
            return;
        };
        for step in log.into_iter().rev() {
            match step {
                Undo::Remove { path } => {
                    if let Some(id) = self.nodes.lookup(&path) {
                        self.remove_leaf(id, &path);
                    }
                }
                Undo::Restore { path, stat, data } => {
                    if let Some(id) = self.nodes.lookup(&path) {
                        self.change_node(id, &path, |node| {
                            node.set_stat(&stat);
                            if let Some(data) = &data {
                                node.set_data(data.as_deref());
                            }
                        });
                    }
                }
                Undo::Reinsert {
                    path,
                    data,
                    acl,
                    stat,
                } => {
                    let parent = split_parent(&path).and_then(|(parent_path, name)| {
                        Some((self.nodes.lookup(parent_path)?, name))
                    });
                    if let Some((parent, name)) = parent {
                        self.add_node(parent, &path, name, data.as_deref(), &acl, stat);
                    }
                }
            }
        }
    }

    fn create(
        &mut self,
        header: &TxnHeader,
        create: &CreateTxn,
        mode: ApplyMode,
    ) -> Result<TxnResult, TreeError> {
        let path = create.path.as_str();
        let (parent_path, name) = split_parent(path).ok_or(TreeError::BadArguments)?;
        if name.is_empty() {
            return Err(if path == "/" {
                TreeError::NodeExists
            } else {
                TreeError::BadArguments
            });
        }
        let parent = self.nodes.lookup(parent_path).ok_or(TreeError::NoNode)?;
        if self.nodes.child(parent, name).is_some() {
            if mode == ApplyMode::Replay {
                // ZooKeeper: the node may have been deleted and re-created after the snapshot
                // serialized the parent; bring the parent's cversion/pzxid up to this create.
                self.raise_cversion(parent, parent_path, create.parent_cversion, header.zxid);
            }
            return Err(TreeError::NodeExists);
        }
        self.raise_cversion(parent, parent_path, create.parent_cversion, header.zxid);
        let owner = EphemeralType::for_create(create.mode, header.session_id).ephemeral_owner();
        let stat = created_stat(header, owner);
        let id = self.add_node(
            parent,
            path,
            name,
            create.data.as_deref(),
            &create.acl,
            stat,
        );
        self.record(|| Undo::Remove {
            path: path.to_owned(),
        });
        let stat = self.nodes.get(id).map(client_stat).unwrap_or_default();
        Ok(TxnResult::Created {
            path: path.to_owned(),
            stat,
        })
    }

    /// ZooKeeper's `setCversionPzxid`: `-1` means one more than now; the parent changes only if
    /// the new cversion is higher (a replayed create must not move it back).
    fn raise_cversion(&mut self, parent: u32, parent_path: &str, new_cversion: i32, zxid: Zxid) {
        let Some(node) = self.nodes.get(parent) else {
            return;
        };
        let before = node.stat_persisted();
        let cversion = if new_cversion == -1 {
            before.cversion.wrapping_add(1)
        } else {
            new_cversion
        };
        if cversion > before.cversion {
            self.record(|| Undo::Restore {
                path: parent_path.to_owned(),
                stat: before,
                data: None,
            });
            let stat = StatPersisted {
                cversion,
                pzxid: zxid.0 as i64,
                ..before
            };
            self.change_node(parent, parent_path, |node| node.set_stat(&stat));
        }
    }

    /// ZooKeeper's `deleteNode`: the parent's pzxid moves up to `zxid` (the stored cversion,
    /// a creation count, does not change). In replay mode the parent is updated even when the
    /// node is already gone, and a node that has children (created after this delete, captured
    /// by a fuzzy snapshot, re-created later in the replay) is removed with its subtree.
    fn delete(&mut self, zxid: Zxid, path: &str, mode: ApplyMode) -> Result<(), TreeError> {
        let (parent_path, name) = split_parent(path).ok_or(TreeError::BadArguments)?;
        if name.is_empty() {
            return Err(TreeError::BadArguments);
        }
        let parent = self.nodes.lookup(parent_path).ok_or(TreeError::NoNode)?;
        let child = self.nodes.child(parent, name);
        let has_children = child
            .and_then(|id| self.nodes.get(id))
            .is_some_and(|node| node.num_children() > 0);
        if mode == ApplyMode::Live {
            if child.is_none() {
                return Err(TreeError::NoNode);
            }
            if has_children {
                return Err(TreeError::NotEmpty);
            }
        }
        self.raise_pzxid(parent, parent_path, zxid);
        let child = child.ok_or(TreeError::NoNode)?;
        if has_children {
            self.remove_subtree_below(child);
        }
        let removed = self.remove_leaf(child, path);
        self.record(|| Undo::Reinsert {
            path: path.to_owned(),
            data: removed.data,
            acl: removed.acl,
            stat: removed.stat,
        });
        Ok(())
    }

    fn raise_pzxid(&mut self, id: u32, path: &str, zxid: Zxid) {
        let Some(node) = self.nodes.get(id) else {
            return;
        };
        let before = node.stat_persisted();
        let zxid = zxid.0 as i64;
        if zxid > before.pzxid {
            self.record(|| Undo::Restore {
                path: path.to_owned(),
                stat: before,
                data: None,
            });
            let stat = StatPersisted {
                pzxid: zxid,
                ..before
            };
            self.change_node(id, path, |node| node.set_stat(&stat));
        }
    }

    /// Removes every descendant of `id`, deepest first (replay only; never recorded for undo).
    fn remove_subtree_below(&mut self, id: u32) {
        let mut order = Vec::new();
        let mut stack: Vec<u32> = self.nodes.children(id).collect();
        while let Some(next) = stack.pop() {
            order.push(next);
            stack.extend(self.nodes.children(next));
        }
        for descendant in order.into_iter().rev() {
            let path = self.nodes.path_of(descendant);
            self.remove_leaf(descendant, &path);
        }
    }

    fn set_data(
        &mut self,
        header: &TxnHeader,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
    ) -> Result<TxnResult, TreeError> {
        let id = self.nodes.lookup(path).ok_or(TreeError::NoNode)?;
        if let Some(node) = self.nodes.get(id) {
            let stat = node.stat_persisted();
            let old_data = node.data_option().map(<[u8]>::to_vec);
            self.record(|| Undo::Restore {
                path: path.to_owned(),
                stat,
                data: Some(old_data),
            });
        }
        self.change_node(id, path, |node| {
            let stat = StatPersisted {
                mzxid: header.zxid.0 as i64,
                mtime: header.time_ms,
                version,
                ..node.stat_persisted()
            };
            node.set_stat(&stat);
            node.set_data(data);
        });
        let stat = self.nodes.get(id).map(client_stat).unwrap_or_default();
        Ok(TxnResult::DataSet { stat })
    }

    /// Replaces the ACL (not allowed in a multi, so never recorded for undo).
    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<TxnResult, TreeError> {
        let id = self.nodes.lookup(path).ok_or(TreeError::NoNode)?;
        let new_acl = self.acls.acquire(acl);
        let mut old_acl = None;
        self.change_node(id, path, |node| {
            let stat = StatPersisted {
                aversion: version,
                ..node.stat_persisted()
            };
            node.set_stat(&stat);
            old_acl = Some(std::mem::replace(&mut node.acl, new_acl));
        });
        if let Some(old_acl) = old_acl {
            self.acls.release(old_acl);
        }
        let stat = self.nodes.get(id).map(client_stat).unwrap_or_default();
        Ok(TxnResult::AclSet { stat })
    }

    /// ZooKeeper's `killSession` (both modes alike): delete the listed paths, whoever owns them
    /// now, moving their parents' pzxid even when a node is already gone; then any node the
    /// session still owns, by path; then forget the session.
    fn close_session(&mut self, header: &TxnHeader, paths: &[String]) {
        for path in paths {
            // Missing nodes are expected here (ZooKeeper logs and ignores them).
            let _ = self.delete(header.zxid, path, ApplyMode::Replay);
        }
        for path in self.ephemerals(header.session_id) {
            let _ = self.delete(header.zxid, &path, ApplyMode::Replay);
        }
        self.sessions.close(header.session_id);
    }

    // ----- primitives: every change of a node goes through these, so the digest and the
    // ----- ephemeral/container/TTL indexes are always right.

    /// Runs `change` on node `id` (at `path`), keeping the digest up to date.
    fn change_node(&mut self, id: u32, path: &str, change: impl FnOnce(&mut Node)) {
        let Some(node) = self.nodes.get_mut(id) else {
            return;
        };
        let before = node_digest(path, node.data(), &node.stat_persisted());
        change(node);
        let after = node_digest(path, node.data(), &node.stat_persisted());
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
    }

    fn add_node(
        &mut self,
        parent: u32,
        path: &str,
        name: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: StatPersisted,
    ) -> u32 {
        let acl = self.acls.acquire(acl);
        let id = self.nodes.insert(parent, name, data, acl, &stat);
        self.index_added(id, path, data, stat);
        id
    }

    /// [`DataTree::add_node`] with a reference to its ACL list already taken (`acl`), at the
    /// index key a lookup of `name` returned.
    fn add_node_keyed(
        &mut self,
        key: ChildKey,
        path: &str,
        name: &str,
        data: Option<&[u8]>,
        acl: u32,
        stat: StatPersisted,
    ) -> u32 {
        let id = self.nodes.insert_keyed(key, name, data, acl, &stat);
        self.index_added(id, path, data, stat);
        id
    }

    /// Counts a node just added in the type indexes and the digest.
    fn index_added(&mut self, id: u32, path: &str, data: Option<&[u8]>, stat: StatPersisted) {
        self.index_type(id, stat.ephemeral_owner);
        self.digest = self
            .digest
            .wrapping_add(node_digest(path, data.unwrap_or_default(), &stat));
    }

    fn remove_leaf(&mut self, id: u32, path: &str) -> Removed {
        let node = self.nodes.remove(id);
        let stat = node.stat_persisted();
        self.digest = self
            .digest
            .wrapping_sub(node_digest(path, node.data(), &stat));
        self.unindex_type(id, stat.ephemeral_owner);
        let acl = self.acls.get_shared(node.acl);
        self.acls.release(node.acl);
        Removed {
            data: node.data_option().map(<[u8]>::to_vec),
            acl,
            stat,
        }
    }

    fn index_type(&mut self, id: u32, ephemeral_owner: i64) {
        match EphemeralType::of(ephemeral_owner) {
            EphemeralType::Persistent => {}
            EphemeralType::Session(session) => {
                self.ephemerals.entry(session).or_default().insert(id);
            }
            EphemeralType::Container => {
                self.containers.insert(id);
            }
            EphemeralType::Ttl { .. } => {
                self.ttls.insert(id);
            }
        }
    }

    fn unindex_type(&mut self, id: u32, ephemeral_owner: i64) {
        match EphemeralType::of(ephemeral_owner) {
            EphemeralType::Persistent => {}
            EphemeralType::Session(session) => {
                if let Some(ids) = self.ephemerals.get_mut(&session) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.ephemerals.remove(&session);
                    }
                }
            }
            EphemeralType::Container => {
                self.containers.remove(&id);
            }
            EphemeralType::Ttl { .. } => {
                self.ttls.remove(&id);
            }
        }
    }
}

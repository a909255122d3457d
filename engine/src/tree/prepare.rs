//! The prepare step: turning a client request into a [`Txn`] with ZooKeeper's checks
//! (`PrepRequestProcessor.pRequest2Txn`), computing everything `apply` must not compute itself
//! (sequential suffix, parent cversion, new versions, the ephemerals a session close removes).
//!
//! A leader prepares request N+1 before request N is applied, so checks must see the effect of
//! the requests prepared but not yet applied. [`PendingChanges`] is that overlay (ZooKeeper's
//! `outstandingChanges`): a record per path touched by a prepared transaction, consulted before
//! the tree, dropped once the tree has applied the transaction ([`PendingChanges::applied`]).
//! This module reads the tree and never changes it. Session liveness and ownership checks, and
//! ACL expansion (`fixupACL`: `auth` ids, scheme validation) are the server's: requests arrive
//! here with their final ACLs, and permission checks go through the `authorize` callback.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::error::TreeError;
use super::node::StatPersisted;
use super::path::{sequential_suffix, split_parent, validate_path};
use super::{code, DataTree, EphemeralType};
use crate::txn::{perms, Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader};
use crate::zxid::Zxid;

/// A client request that changes state, decoded and with its ACLs expanded by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// create / create2 / createContainer / createTTL.
    Create {
        /// Path; for a sequential mode, the prefix the suffix is appended to.
        path: String,
        /// Data.
        data: Option<Vec<u8>>,
        /// ACL (expanded).
        acl: Vec<Acl>,
        /// Mode.
        mode: CreateMode,
    },
    /// delete.
    Delete {
        /// Path.
        path: String,
        /// Expected data version, -1 for any.
        version: i32,
    },
    /// deleteContainer (issued by the container/TTL reaper).
    DeleteContainer {
        /// Path.
        path: String,
    },
    /// setData.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Option<Vec<u8>>,
        /// Expected data version, -1 for any.
        version: i32,
    },
    /// setACL.
    SetAcl {
        /// Path.
        path: String,
        /// New ACL (expanded).
        acl: Vec<Acl>,
        /// Expected ACL version, -1 for any.
        version: i32,
    },
    /// check (inside a multi).
    Check {
        /// Path.
        path: String,
        /// Expected data version, -1 for any.
        version: i32,
    },
    /// multi: create, delete, setData and check requests, all or nothing.
    Multi(Vec<Request>),
    /// createSession (of the header's session id).
    CreateSession {
        /// Negotiated timeout, ms.
        timeout_ms: i32,
    },
    /// closeSession (of the header's session id).
    CloseSession,
}

/// Permission callback: may the requester do `perm` ([`perms`]) on a node with this ACL?
pub type Authorize<'a> = &'a dyn Fn(&[Acl], i32) -> bool;

/// An [`Authorize`] that allows everything (tests, `skipACL`).
pub fn allow_all(_acl: &[Acl], _perm: i32) -> bool {
    true
}

/// What the prepare step knows of a node: the tree's view plus the prepared changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Persisted stat as it will be once every prepared transaction is applied.
    pub stat: StatPersisted,
    /// Number of children, likewise.
    pub num_children: u32,
    /// ACL, likewise.
    pub acl: Arc<[Acl]>,
}

#[derive(Clone, Debug)]
struct ChangeRecord {
    /// The transaction that made this change.
    zxid: Zxid,
    /// `None`: deleted by that transaction.
    node: Option<NodeInfo>,
}

/// The changes of prepared transactions not yet applied to the tree (module doc).
#[derive(Debug, Default)]
pub struct PendingChanges {
    records: HashMap<String, ChangeRecord>,
    /// Every record set, by zxid (non-decreasing): what `applied` may forget, oldest first,
    /// without scanning every outstanding change.
    order: VecDeque<(Zxid, String)>,
    /// While a multi is prepared: the records it replaced, to restore if it fails.
    journal: Option<Vec<(String, Option<ChangeRecord>)>>,
}

/// ZooKeeper's special paths, which a delete may not target.
const SPECIAL_PATHS: [&str; 4] = ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"];

/// ZooKeeper's `checkAndIncVersion`: `expected` must be -1 or the current version; the new
/// version is one more, skipping -1 after wrapping (ZOOKEEPER-4743).
pub fn check_and_increment_version(current: i32, expected: i32) -> Result<i32, TreeError> {
    if expected != -1 && expected != current {
        return Err(TreeError::BadVersion);
    }
    let next = current.wrapping_add(1);
    Ok(if next == -1 { 0 } else { next })
}

impl DataTree {
    /// The suffix a sequential child of `parent` created now would get: the parent's persisted
    /// cversion (its count of child creations), as 10 zero-padded digits. Ignores prepared but
    /// unapplied changes; see [`PendingChanges::next_sequential_suffix`].
    pub fn next_sequential_suffix(&self, parent: &str) -> Result<String, TreeError> {
        let node = self.get(parent).ok_or(TreeError::NoNode)?;
        Ok(sequential_suffix(node.stat_persisted().cversion))
    }
}

impl PendingChanges {
    /// No pending change.
    pub fn new() -> PendingChanges {
        PendingChanges::default()
    }

    /// Number of paths with a pending change.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Forgets the changes of every transaction up to `zxid`, which the tree has now applied.
    pub fn applied(&mut self, zxid: Zxid) {
        while self
            .order
            .front()
            .is_some_and(|(set_by, _)| *set_by <= zxid)
        {
            let Some((_, path)) = self.order.pop_front() else {
                break;
            };
            // A later transaction may have set the path again: its record stays.
            if self
                .records
                .get(&path)
                .is_some_and(|record| record.zxid <= zxid)
            {
                self.records.remove(&path);
            }
        }
    }

    /// Forgets every pending change (e.g. after a leader change).
    pub fn clear(&mut self) {
        self.records.clear();
        self.order.clear();
    }

    /// The node at `path` as it will be once the prepared transactions are applied.
    pub fn node(&self, tree: &DataTree, path: &str) -> Option<NodeInfo> {
        if let Some(record) = self.records.get(path) {
            return record.node.clone();
        }
        let node = tree.get(path)?;
        Some(NodeInfo {
            stat: node.stat_persisted(),
            num_children: node.num_children(),
            acl: node.acl_shared(),
        })
    }

    /// The suffix the next sequential child of `parent` gets, counting prepared creates.
    pub fn next_sequential_suffix(
        &self,
        tree: &DataTree,
        parent: &str,
    ) -> Result<String, TreeError> {
        let node = self.node(tree, parent).ok_or(TreeError::NoNode)?;
        Ok(sequential_suffix(node.stat.cversion))
    }

    fn set(&mut self, path: &str, zxid: Zxid, node: Option<NodeInfo>) {
        debug_assert!(self.order.back().is_none_or(|(last, _)| *last <= zxid));
        self.order.push_back((zxid, path.to_owned()));
        let previous = self
            .records
            .insert(path.to_owned(), ChangeRecord { zxid, node });
        if let Some(journal) = &mut self.journal {
            journal.push((path.to_owned(), previous));
        }
    }

    /// Turns `request` into the transaction to log, with header `header` (whose zxid and time
    /// the caller chose). A refused request becomes a [`TxnBody::Error`] (it still takes a
    /// zxid, as in ZooKeeper); a refused multi becomes a multi of errors: 0 for the operations
    /// before the failing one, its code, then `RUNTIME_INCONSISTENCY`. A transaction that is not
    /// an error is recorded as pending.
    pub fn prepare(
        &mut self,
        tree: &DataTree,
        header: TxnHeader,
        request: &Request,
        authorize: Authorize<'_>,
    ) -> Txn {
        let body = match request {
            Request::Multi(requests) => self.prepare_multi(tree, &header, requests, authorize),
            request => self
                .prepare_one(tree, &header, request, authorize)
                .unwrap_or_else(|error| TxnBody::Error { code: error.code() }),
        };
        Txn { header, body }
    }

    fn prepare_multi(
        &mut self,
        tree: &DataTree,
        header: &TxnHeader,
        requests: &[Request],
        authorize: Authorize<'_>,
    ) -> TxnBody {
        self.journal = Some(Vec::new());
        let mut bodies = Vec::with_capacity(requests.len());
        let mut failure = None;
        for (index, request) in requests.iter().enumerate() {
            let outcome = match request {
                Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::Check { .. } => self.prepare_one(tree, header, request, authorize),
                _ => Err(TreeError::BadArguments),
            };
            match outcome {
                Ok(body) => bodies.push(body),
                Err(error) => {
                    failure = Some((index, error));
                    break;
                }
            }
        }
        let journal = self.journal.take().unwrap_or_default();
        let Some((failed_at, error)) = failure else {
            return TxnBody::Multi(bodies);
        };
        for (path, previous) in journal.into_iter().rev() {
            match previous {
                Some(record) => self.records.insert(path, record),
                None => self.records.remove(&path),
            };
        }
        let errors = (0..requests.len())
            .map(|position| TxnBody::Error {
                code: match position.cmp(&failed_at) {
                    std::cmp::Ordering::Less => code::OK,
                    std::cmp::Ordering::Equal => error.code(),
                    std::cmp::Ordering::Greater => code::RUNTIME_INCONSISTENCY,
                },
            })
            .collect();
        TxnBody::Multi(errors)
    }

    fn prepare_one(
        &mut self,
        tree: &DataTree,
        header: &TxnHeader,
        request: &Request,
        authorize: Authorize<'_>,
    ) -> Result<TxnBody, TreeError> {
        let zxid = header.zxid;
        match request {
            Request::Create {
                path,
                data,
                acl,
                mode,
            } => self.prepare_create(tree, header, path, data.as_deref(), acl, *mode, authorize),
            Request::Delete { path, version } => {
                let parent_path = parent_for_delete(path)?;
                let parent = self.node(tree, parent_path).ok_or(TreeError::NoNode)?;
                if !authorize(&parent.acl, perms::DELETE) {
                    return Err(TreeError::NoAuth);
                }
                let node = self.node(tree, path).ok_or(TreeError::NoNode)?;
                check_and_increment_version(node.stat.version, *version)?;
                if node.num_children > 0 {
                    return Err(TreeError::NotEmpty);
                }
                self.record_delete(path, parent_path, parent, zxid);
                Ok(TxnBody::Delete { path: path.clone() })
            }
            Request::DeleteContainer { path } => {
                let parent_path = parent_for_delete(path)?;
                let node = self.node(tree, path).ok_or(TreeError::NoNode)?;
                if node.num_children > 0 {
                    return Err(TreeError::NotEmpty);
                }
                // ZooKeeper refuses only session-owned nodes here, with this odd code.
                if matches!(
                    EphemeralType::of(node.stat.ephemeral_owner),
                    EphemeralType::Session(_)
                ) {
                    return Err(TreeError::BadVersion);
                }
                let parent = self.node(tree, parent_path).ok_or(TreeError::NoNode)?;
                self.record_delete(path, parent_path, parent, zxid);
                Ok(TxnBody::Delete { path: path.clone() })
            }
            Request::SetData {
                path,
                data,
                version,
            } => {
                validate_path(path)?;
                let mut node = self.node(tree, path).ok_or(TreeError::NoNode)?;
                if !authorize(&node.acl, perms::WRITE) {
                    return Err(TreeError::NoAuth);
                }
                let new_version = check_and_increment_version(node.stat.version, *version)?;
                node.stat.version = new_version;
                node.stat.mtime = header.time_ms;
                node.stat.mzxid = zxid.0 as i64;
                self.set(path, zxid, Some(node));
                Ok(TxnBody::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version: new_version,
                })
            }
            Request::SetAcl { path, acl, version } => {
                validate_path(path)?;
                if acl.is_empty() {
                    return Err(TreeError::InvalidAcl);
                }
                let mut node = self.node(tree, path).ok_or(TreeError::NoNode)?;
                if !authorize(&node.acl, perms::ADMIN) {
                    return Err(TreeError::NoAuth);
                }
                let new_version = check_and_increment_version(node.stat.aversion, *version)?;
                node.stat.aversion = new_version;
                node.acl = Arc::from(acl.as_slice());
                self.set(path, zxid, Some(node));
                Ok(TxnBody::SetAcl {
                    path: path.clone(),
                    acl: acl.clone(),
                    version: new_version,
                })
            }
            Request::Check { path, version } => {
                validate_path(path)?;
                let node = self.node(tree, path).ok_or(TreeError::NoNode)?;
                if !authorize(&node.acl, perms::READ) {
                    return Err(TreeError::NoAuth);
                }
                check_and_increment_version(node.stat.version, *version)?;
                Ok(TxnBody::Check {
                    path: path.clone(),
                    version: node.stat.version,
                })
            }
            Request::CreateSession { timeout_ms } => Ok(TxnBody::CreateSession {
                timeout_ms: *timeout_ms,
            }),
            Request::CloseSession => Ok(self.prepare_close_session(tree, header)),
            Request::Multi(_) => Err(TreeError::BadArguments),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_create(
        &mut self,
        tree: &DataTree,
        header: &TxnHeader,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
        authorize: Authorize<'_>,
    ) -> Result<TxnBody, TreeError> {
        if path.contains('\0') {
            return Err(TreeError::BadArguments);
        }
        let (parent_path, _) = split_parent(path).ok_or(TreeError::BadArguments)?;
        if acl.is_empty() {
            return Err(TreeError::InvalidAcl);
        }
        let mut parent = self.node(tree, parent_path).ok_or(TreeError::NoNode)?;
        if !authorize(&parent.acl, perms::CREATE) {
            return Err(TreeError::NoAuth);
        }
        let path = if mode.is_sequential() {
            format!("{path}{}", sequential_suffix(parent.stat.cversion))
        } else {
            path.to_owned()
        };
        validate_path(&path)?;
        if self.node(tree, &path).is_some() {
            return Err(TreeError::NodeExists);
        }
        if matches!(
            EphemeralType::of(parent.stat.ephemeral_owner),
            EphemeralType::Session(_)
        ) {
            return Err(TreeError::NoChildrenForEphemerals);
        }
        let parent_cversion = parent.stat.cversion.wrapping_add(1);
        let zxid = header.zxid;
        let owner = EphemeralType::for_create(mode, header.session_id).ephemeral_owner();
        parent.stat.cversion = parent_cversion;
        parent.stat.pzxid = zxid.0 as i64;
        parent.num_children += 1;
        self.set(parent_path, zxid, Some(parent));
        let node = NodeInfo {
            stat: super::created_stat(header, owner),
            num_children: 0,
            acl: Arc::from(acl),
        };
        self.set(&path, zxid, Some(node));
        Ok(TxnBody::Create(CreateTxn {
            path,
            data: data.map(<[u8]>::to_vec),
            acl: acl.to_vec(),
            mode,
            parent_cversion,
        }))
    }

    fn record_delete(&mut self, path: &str, parent_path: &str, mut parent: NodeInfo, zxid: Zxid) {
        parent.num_children = parent.num_children.saturating_sub(1);
        parent.stat.pzxid = zxid.0 as i64;
        self.set(parent_path, zxid, Some(parent));
        self.set(path, zxid, None);
    }

    /// The session's ephemerals: in the tree, plus those of prepared creates, minus those of
    /// prepared deletes (ZooKeeper's `closeSession` prepare). Sorted.
    fn prepare_close_session(&mut self, tree: &DataTree, header: &TxnHeader) -> TxnBody {
        let session = header.session_id;
        let owned_by_session = |record: &ChangeRecord| {
            record.node.as_ref().is_some_and(|node| {
                EphemeralType::of(node.stat.ephemeral_owner) == EphemeralType::Session(session)
            })
        };
        // A pending record is the latest word on its path: deleted, or re-created by another
        // session, the path is not this session's any more.
        let mut paths = tree.ephemerals(session);
        paths.retain(|path| self.records.get(path).is_none_or(owned_by_session));
        for (path, record) in &self.records {
            if owned_by_session(record) {
                paths.push(path.clone());
            }
        }
        paths.sort_unstable();
        paths.dedup();
        for path in &paths {
            if let Some((parent_path, _)) = split_parent(path) {
                if let Some(parent) = self.node(tree, parent_path) {
                    self.record_delete(path, parent_path, parent, header.zxid);
                }
            }
        }
        TxnBody::CloseSession { paths }
    }
}

/// ZooKeeper's `getParentPathAndValidate`: the parent of a path to delete.
fn parent_for_delete(path: &str) -> Result<&str, TreeError> {
    if path.contains('\0') || SPECIAL_PATHS.contains(&path) {
        return Err(TreeError::BadArguments);
    }
    let (parent, _) = split_parent(path).ok_or(TreeError::BadArguments)?;
    Ok(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `applied` forgets exactly what a scan of every record (`retain(zxid > applied)`) would,
    /// over random sets, re-sets of the same paths, and applied points.
    #[test]
    fn applied_forgets_what_a_full_scan_would() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..50 {
            let mut pending = PendingChanges::new();
            let mut reference: HashMap<String, Zxid> = HashMap::new();
            let mut zxid = 0u64;
            let mut applied = 0u64;
            for _ in 0..400 {
                if next(3) == 0 && applied < zxid {
                    applied += 1 + next(zxid - applied);
                    pending.applied(Zxid(applied));
                    reference.retain(|_, set_by| set_by.0 > applied);
                } else {
                    zxid += 1;
                    for _ in 0..=next(3) {
                        let path = format!("/p{}", next(20));
                        pending.set(&path, Zxid(zxid), None);
                        reference.insert(path, Zxid(zxid));
                    }
                }
                let records: HashMap<String, Zxid> = pending
                    .records
                    .iter()
                    .map(|(path, record)| (path.clone(), record.zxid))
                    .collect();
                assert_eq!(records, reference);
            }
        }
    }
}

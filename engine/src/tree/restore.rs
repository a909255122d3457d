//! Restoring a tree from a snapshot: nodes arrive parent first, one at a time.
//!
//! Loading a million znodes is mostly path resolution: resolving each node's parent from the
//! root hashes every component of its path, and a snapshot written by a depth-first walk names
//! the same parents over and over. A [`RestoreCursor`] remembers the chain of ancestors of the
//! node restored last, so the parent of the next node is almost always found by comparing a
//! prefix of its path; only when the order jumps elsewhere is the path resolved from the root.
//! The cursor also remembers the ACL id the last node got, so a run of nodes sharing one ACL
//! list does not hash the list again for every node.

use super::{split_parent, DataTree, StatPersisted, TreeError, ROOT};
use crate::txn::Acl;

/// What restoring remembers from one node to the next. Start each load with a fresh one; it is
/// only valid for the tree it has been used with, while nothing but restores changes that tree.
#[derive(Debug, Default)]
pub struct RestoreCursor {
    /// The path of the node restored last.
    path: String,
    /// That node and its ancestors known to the cursor, outermost first: (node id, length of
    /// its path, which is a prefix of `path`).
    chain: Vec<(u32, usize)>,
    /// The ACL id the node restored last was given.
    acl: Option<u32>,
}

impl RestoreCursor {
    /// The id of the node at `parent_path` if it is on the chain. Drops the chain's entries that
    /// cannot be the parent of this node or of any later one in a parent-first order.
    fn parent(&mut self, parent_path: &str) -> Option<u32> {
        while let Some(&(id, len)) = self.chain.last() {
            if len > parent_path.len() {
                self.chain.pop();
                continue;
            }
            if len == parent_path.len() && self.path.get(..len) == Some(parent_path) {
                return Some(id);
            }
            return None;
        }
        None
    }

    /// Records `id` at `path` as the node restored last: its parent, at `parent_path`, is on
    /// the chain already (`parent_on_chain`) or becomes its new start.
    fn descend(
        &mut self,
        path: &str,
        parent: u32,
        parent_path: &str,
        parent_on_chain: bool,
        id: u32,
    ) {
        if !parent_on_chain {
            self.chain.clear();
            self.chain.push((parent, parent_path.len()));
        }
        self.path.clear();
        self.path.push_str(path);
        self.chain.push((id, path.len()));
    }
}

impl DataTree {
    /// Puts a node read from a snapshot in place: replaces the node at `path` if there is one
    /// (the root and `/zookeeper` nodes), otherwise adds it under its parent, which must exist.
    pub fn restore_node(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: StatPersisted,
    ) -> Result<(), TreeError> {
        self.restore_node_with(&mut RestoreCursor::default(), path, data, acl, stat)
    }

    /// [`DataTree::restore_node`] for a run of nodes in parent-first order, faster when
    /// consecutive nodes share their ancestors and ACL list (module doc). The result is the same
    /// as `restore_node`'s for any order.
    pub fn restore_node_with(
        &mut self,
        cursor: &mut RestoreCursor,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: StatPersisted,
    ) -> Result<(), TreeError> {
        if path == "/" {
            self.replace_restored(ROOT, path, data, acl, stat);
            cursor.chain.clear();
            cursor.descend(path, ROOT, "", true, ROOT);
            return Ok(());
        }
        let (parent_path, name) = split_parent(path).ok_or(TreeError::BadArguments)?;
        if name.is_empty() {
            return Err(TreeError::BadArguments);
        }
        let (parent, on_chain) = match cursor.parent(parent_path) {
            Some(parent) => (parent, true),
            None => (
                self.nodes.lookup(parent_path).ok_or(TreeError::NoNode)?,
                false,
            ),
        };
        let (existing, key) = self.nodes.child_keyed(parent, name);
        let id = match existing {
            Some(id) => {
                self.replace_restored(id, path, data, acl, stat);
                id
            }
            None => {
                let acl_id = match cursor.acl {
                    Some(id) if self.acls.acquire_if_equal(id, acl) => id,
                    _ => self.acls.acquire(acl),
                };
                cursor.acl = Some(acl_id);
                self.add_node_keyed(key, path, name, data, acl_id, stat)
            }
        };
        cursor.descend(path, parent, parent_path, on_chain, id);
        Ok(())
    }

    /// Makes the existing node `id` at `path` what the snapshot says.
    fn replace_restored(
        &mut self,
        id: u32,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        stat: StatPersisted,
    ) {
        let old_owner = self
            .nodes
            .get(id)
            .map(|n| n.stat_persisted().ephemeral_owner);
        if let Some(owner) = old_owner {
            self.unindex_type(id, owner);
        }
        let new_acl = self.acls.acquire(acl);
        let mut old_acl = None;
        self.change_node(id, path, |node| {
            node.set_data(data);
            node.set_stat(&stat);
            old_acl = Some(std::mem::replace(&mut node.acl, new_acl));
        });
        if let Some(old_acl) = old_acl {
            self.acls.release(old_acl);
        }
        self.index_type(id, stat.ephemeral_owner);
    }

    /// Makes room for `nodes` more nodes, so that loading a large snapshot does not grow the
    /// arena and the index step by step.
    pub fn reserve_nodes(&mut self, nodes: usize) {
        self.nodes.reserve(nodes);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::txn::perms;

    fn stat(zxid: i64) -> StatPersisted {
        StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ..StatPersisted::default()
        }
    }

    /// Paths in a parent-first order that jumps around: back up several levels, into a
    /// sibling subtree, and to a parent restored long before.
    const PATHS: &[&str] = &[
        "/",
        "/a",
        "/a/b",
        "/a/b/c",
        "/a/b/c/d",
        "/a/b2",
        "/e",
        "/e/f",
        "/a/b/c2",
        "/a/b/c/d2",
        "/e/f/g",
        "/ab",
        "/ab/c",
        "/a/b2/x",
    ];

    #[test]
    fn the_cursor_builds_the_same_tree_as_lookups() {
        let world = [Acl::new(perms::ALL, "world", "anyone")];
        let read = [Acl::new(perms::READ, "world", "anyone")];
        let mut plain = DataTree::new();
        let mut fast = DataTree::new();
        let mut cursor = RestoreCursor::default();
        for (i, path) in PATHS.iter().enumerate() {
            let acl: &[Acl] = if i % 3 == 0 { &read } else { &world };
            let data = format!("data of {path}");
            let zxid = i as i64 + 1;
            plain
                .restore_node(path, Some(data.as_bytes()), acl, stat(zxid))
                .unwrap();
            fast.restore_node_with(&mut cursor, path, Some(data.as_bytes()), acl, stat(zxid))
                .unwrap();
        }
        assert_eq!(plain.digest(), fast.digest());
        for path in PATHS {
            let plain_node = plain.get(path).unwrap();
            let fast_node = fast.get(path).unwrap();
            assert_eq!(plain_node.data_option(), fast_node.data_option(), "{path}");
            assert_eq!(plain_node.stat(), fast_node.stat(), "{path}");
            assert_eq!(plain_node.acl(), fast_node.acl(), "{path}");
        }
        assert_eq!(plain.acls.len(), fast.acls.len());
        // A node whose parent was never restored is refused the same way.
        assert_eq!(
            fast.restore_node_with(&mut cursor, "/missing/x", None, &world, stat(99)),
            Err(TreeError::NoNode)
        );
        // The same path again replaces the node, as restore_node does.
        fast.restore_node_with(&mut cursor, "/e/f", Some(b"new"), &world, stat(100))
            .unwrap();
        plain
            .restore_node("/e/f", Some(b"new"), &world, stat(100))
            .unwrap();
        assert_eq!(plain.digest(), fast.digest());
    }
}

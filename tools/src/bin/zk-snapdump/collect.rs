//! The visitor that gathers what a snapshot holds: sessions, ACL lists, and every node with its
//! stat (and its data when asked), then puts the nodes in path order and counts children. It
//! also sums the tree digest as the nodes go by (FORMAT-TXN.md 10).

use std::cmp::Ordering;
use std::collections::HashMap;

use zk_engine::snapshot::{SnapshotNode, SnapshotVisitor, VisitError};
use zk_engine::tree::{node_digest, StatPersisted};
use zk_engine::txn::Acl;

use crate::progress::Progress;
use crate::snapfile::Crc32;

/// One node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Absolute path.
    pub path: String,
    /// Its data, when kept (`-d`); `None` inside when the data is null.
    pub data: Option<Option<Vec<u8>>>,
    /// Whether the data is null (ZooKeeper tells null from empty).
    pub data_null: bool,
    /// Data length in bytes.
    pub data_len: u64,
    /// CRC of the data, to compare nodes without keeping their data.
    pub data_crc: u32,
    /// File-local ACL list id.
    pub acl_id: u32,
    /// Persisted stat.
    pub stat: StatPersisted,
    /// Direct children (filled in by [`Collector::finish_tree`]).
    pub children: u64,
}

impl Node {
    /// Depth of the node: 0 for `/`, 1 for `/a`, ...
    pub fn depth(&self) -> usize {
        depth_of(&self.path)
    }
}

/// Depth of a path: 0 for `/`.
pub fn depth_of(path: &str) -> usize {
    if path == "/" {
        0
    } else {
        path.matches('/').count()
    }
}

/// Path order: component by component, so a node's subtree follows it (`/a`, `/a/b`, `/a-c`).
pub fn path_order(a: &str, b: &str) -> Ordering {
    path_key(a).cmp(&path_key(b))
}

/// The sort key of [`path_order`]: the path's components, then the path itself (two spellings
/// of one path, such as `/a/` and `/a`, still get an order).
fn path_key(path: &str) -> (Vec<&[u8]>, &str) {
    let parts = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::as_bytes)
        .collect();
    (parts, path)
}

/// The parent path of `path`, `None` for the root.
pub fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(at) => path.get(..at),
        None => None,
    }
}

/// Gathers a snapshot's contents.
pub struct Collector<'p> {
    /// Keep each node's data.
    pub keep_data: bool,
    /// Sessions, in file order.
    pub sessions: Vec<(i64, i32)>,
    /// ACL lists by file-local id.
    pub acls: HashMap<u32, Vec<Acl>>,
    /// Nodes, in file order until [`Collector::finish_tree`], then in path order.
    pub nodes: Vec<Node>,
    /// The digest of the nodes seen (wrapping sum of [`node_digest`]).
    pub digest: u64,
    /// Approximate body bytes seen, for the progress line.
    body_bytes: u64,
    progress: &'p mut Progress,
}

impl<'p> Collector<'p> {
    /// A collector; `keep_data` keeps each node's data.
    pub fn new(keep_data: bool, progress: &'p mut Progress) -> Collector<'p> {
        Collector {
            keep_data,
            sessions: Vec::new(),
            acls: HashMap::new(),
            nodes: Vec::new(),
            digest: 0,
            body_bytes: 0,
            progress,
        }
    }

    /// Sorts the nodes in path order and counts each one's children.
    pub fn finish_tree(&mut self) {
        // One key per node (a comparison that split both paths would allocate n log n times).
        let mut keyed: Vec<(Vec<Vec<u8>>, Node)> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(|node| {
                let (parts, _) = path_key(&node.path);
                (parts.into_iter().map(<[u8]>::to_vec).collect(), node)
            })
            .collect();
        keyed.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.path.cmp(&y.path)));
        self.nodes = keyed.into_iter().map(|(_, node)| node).collect();
        let index: HashMap<String, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.path.clone(), i))
            .collect();
        let parents: Vec<Option<usize>> = self
            .nodes
            .iter()
            .map(|n| parent_of(&n.path).and_then(|p| index.get(p).copied()))
            .collect();
        for parent in parents.into_iter().flatten() {
            if let Some(node) = self.nodes.get_mut(parent) {
                node.children += 1;
            }
        }
        self.progress.clear();
    }

    /// The ACL of a node, when its list was read.
    pub fn acl_of(&self, node: &Node) -> Option<&[Acl]> {
        self.acls.get(&node.acl_id).map(Vec::as_slice)
    }
}

impl SnapshotVisitor for Collector<'_> {
    fn session(&mut self, session_id: i64, timeout_ms: i32) -> Result<(), VisitError> {
        self.sessions.push((session_id, timeout_ms));
        self.body_bytes += 12;
        Ok(())
    }

    fn acl_list(&mut self, id: u32, acl: Vec<Acl>) -> Result<(), VisitError> {
        self.body_bytes += 9 + acl
            .iter()
            .map(|a| 12 + a.scheme.len() + a.id.len())
            .sum::<usize>() as u64;
        self.acls.insert(id, acl);
        Ok(())
    }

    fn node(&mut self, node: &SnapshotNode<'_>) -> Result<(), VisitError> {
        let data = node.data.unwrap_or_default();
        self.digest = self
            .digest
            .wrapping_add(node_digest(node.path, data, &node.stat));
        self.body_bytes += 73 + node.path.len() as u64 + data.len() as u64;
        self.progress.update(self.body_bytes);
        self.nodes.push(Node {
            path: node.path.to_owned(),
            data: self.keep_data.then(|| node.data.map(<[u8]>::to_vec)),
            data_null: node.data.is_none(),
            data_len: data.len() as u64,
            data_crc: Crc32::of(data),
            acl_id: node.acl_id,
            stat: node.stat,
            children: 0,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_order_keeps_subtrees_together() {
        let mut paths = vec!["/a-c", "/a/b", "/", "/a", "/b", "/a/b/c"];
        paths.sort_by(|a, b| path_order(a, b));
        assert_eq!(paths, ["/", "/a", "/a/b", "/a/b/c", "/a-c", "/b"]);
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/"), None);
        assert_eq!(depth_of("/"), 0);
        assert_eq!(depth_of("/a/b"), 2);
    }
}

//! Storage of the znodes: an arena of fixed-size [`Node`]s addressed by a `u32` id, children
//! linked through their siblings, and a hash index from (parent id, child name) to id.
//!
//! Its job is to keep the per-znode overhead small: a node is one arena slot (104 bytes) plus one
//! heap allocation holding its name and its data side by side, plus about 20 bytes of index. No
//! full path is stored anywhere: paths are resolved one component at a time, and rebuilt from
//! the parent links when needed. This module keeps the structure consistent (links, child
//! counts, index); it knows nothing of transactions, digests or ACL meaning.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// "No node": the end of a sibling list, the root's parent.
pub(crate) const NONE: u32 = u32::MAX;
/// The root's id; it is never freed.
pub(crate) const ROOT: u32 = 0;

/// The fields of ZooKeeper's `StatPersisted`: what a snapshot stores and the digest covers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatPersisted {
    /// Zxid of the create.
    pub czxid: i64,
    /// Zxid of the last data change (the create, if none).
    pub mzxid: i64,
    /// Time of the create, ms since the Unix epoch (the leader's clock).
    pub ctime: i64,
    /// Time of the last data change.
    pub mtime: i64,
    /// Data version: number of set-data since the create.
    pub version: i32,
    /// Number of children **created** under this node (ZooKeeper's persisted form; clients see
    /// creations plus deletions, see [`Stat::cversion`]). Also the next sequential suffix.
    pub cversion: i32,
    /// ACL version: number of set-ACL since the create.
    pub aversion: i32,
    /// Owner session of an ephemeral node; special values mark container and TTL nodes
    /// ([`EphemeralType`](super::EphemeralType)); 0 for a persistent node.
    pub ephemeral_owner: i64,
    /// Zxid of the last change to the list of children (the create, if none).
    pub pzxid: i64,
}

/// A node's status as clients see it (ZooKeeper's `Stat` record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// Zxid of the create.
    pub czxid: i64,
    /// Zxid of the last data change.
    pub mzxid: i64,
    /// Time of the create, ms.
    pub ctime: i64,
    /// Time of the last data change, ms.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Number of changes to the list of children: `2 * creations - numChildren`, i.e. creations
    /// plus deletions (ZooKeeper's `DataNode.copyStat`). The root of a fresh tree shows -1.
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Owner session of an ephemeral node, otherwise 0 (also 0 for container and TTL nodes:
    /// ZooKeeper hides their markers from clients).
    pub ephemeral_owner: i64,
    /// Data length in bytes.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// Zxid of the last change to the list of children.
    pub pzxid: i64,
}

/// The bit of `Node::name_len` that marks null data (ZooKeeper tells null data from empty data;
/// names are far shorter than 2 GiB, so the bit is free).
const NULL_DATA: u32 = 1 << 31;

/// One znode. The name and the data share one allocation (`blob`), which saves a pointer pair
/// and a heap header per node.
#[derive(Debug)]
pub(crate) struct Node {
    /// Name bytes (UTF-8), then data bytes.
    blob: Box<[u8]>,
    /// Length of the name in `blob`; the top bit ([`NULL_DATA`]) says the data is null.
    name_len: u32,
    /// Id in the ACL table.
    pub(crate) acl: u32,
    pub(crate) parent: u32,
    first_child: u32,
    next_sibling: u32,
    prev_sibling: u32,
    num_children: u32,
    czxid: i64,
    mzxid: i64,
    ctime: i64,
    mtime: i64,
    ephemeral_owner: i64,
    pzxid: i64,
    version: i32,
    cversion: i32,
    aversion: i32,
}

impl Node {
    fn new(name: &str, data: Option<&[u8]>, acl: u32, parent: u32, stat: &StatPersisted) -> Node {
        let mut node = Node {
            blob: Box::default(),
            name_len: 0,
            acl,
            parent,
            first_child: NONE,
            next_sibling: NONE,
            prev_sibling: NONE,
            num_children: 0,
            czxid: 0,
            mzxid: 0,
            ctime: 0,
            mtime: 0,
            ephemeral_owner: 0,
            pzxid: 0,
            version: 0,
            cversion: 0,
            aversion: 0,
        };
        node.set_blob(name, data);
        node.set_stat(stat);
        node
    }

    fn set_blob(&mut self, name: &str, data: Option<&[u8]>) {
        let bytes = data.unwrap_or_default();
        let mut blob = Vec::with_capacity(name.len() + bytes.len());
        blob.extend_from_slice(name.as_bytes());
        blob.extend_from_slice(bytes);
        self.blob = blob.into_boxed_slice();
        let name_len = u32::try_from(name.len())
            .ok()
            .filter(|len| len & NULL_DATA == 0)
            .expect("a znode name longer than 2 GiB");
        self.name_len = name_len | if data.is_none() { NULL_DATA } else { 0 };
    }

    fn name_end(&self) -> usize {
        (self.name_len & !NULL_DATA) as usize
    }

    fn name_bytes(&self) -> &[u8] {
        self.blob.get(..self.name_end()).unwrap_or_default()
    }

    /// The node's name (the last path component; empty for the root).
    pub(crate) fn name(&self) -> &str {
        // The name bytes were copied from a `&str`, so this never falls back.
        std::str::from_utf8(self.name_bytes()).unwrap_or_default()
    }

    /// The node's data (empty when it is null).
    pub(crate) fn data(&self) -> &[u8] {
        self.blob.get(self.name_end()..).unwrap_or_default()
    }

    /// Whether the data is null (created or set with no data at all).
    pub(crate) fn data_is_null(&self) -> bool {
        self.name_len & NULL_DATA != 0
    }

    /// The data, `None` when null.
    pub(crate) fn data_option(&self) -> Option<&[u8]> {
        (!self.data_is_null()).then(|| self.data())
    }

    /// Replaces the data, keeping the name.
    pub(crate) fn set_data(&mut self, data: Option<&[u8]>) {
        let name = self.name().to_owned();
        self.set_blob(&name, data);
    }

    pub(crate) fn num_children(&self) -> u32 {
        self.num_children
    }

    /// Heap bytes owned by this node (the name and data allocation).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.blob.len()
    }

    pub(crate) fn stat_persisted(&self) -> StatPersisted {
        StatPersisted {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            pzxid: self.pzxid,
        }
    }

    pub(crate) fn set_stat(&mut self, stat: &StatPersisted) {
        self.czxid = stat.czxid;
        self.mzxid = stat.mzxid;
        self.ctime = stat.ctime;
        self.mtime = stat.mtime;
        self.version = stat.version;
        self.cversion = stat.cversion;
        self.aversion = stat.aversion;
        self.ephemeral_owner = stat.ephemeral_owner;
        self.pzxid = stat.pzxid;
    }
}

/// Hashes a `u64` that is already a keyed hash: passes it through.
#[derive(Default)]
pub(crate) struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by the index; mix anything else in rather than lose it.
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A child's place in the index, from [`NodeStore::child_keyed`]: only good for inserting that
/// name under that parent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildKey {
    parent: u32,
    key: u64,
}

/// The arena of nodes and the (parent, name) index.
#[derive(Debug)]
pub(crate) struct NodeStore {
    slots: Vec<Option<Node>>,
    free: Vec<u32>,
    /// Keyed hash of (parent id, name) -> id. Keys are 64-bit hashes under a per-process random
    /// key, so an attacker cannot aim names at one bucket.
    index: HashMap<u64, u32, BuildHasherDefault<PassThroughHasher>>,
    /// The rare nodes whose key collides with another node's in `index`.
    overflow: HashMap<(u32, Box<str>), u32>,
    key_state: RandomState,
    len: usize,
}

impl NodeStore {
    /// A store holding only the root, with the given ACL id and stat.
    pub(crate) fn new(root_acl: u32, root_stat: &StatPersisted) -> NodeStore {
        NodeStore {
            slots: vec![Some(Node::new("", Some(&[]), root_acl, NONE, root_stat))],
            free: Vec::new(),
            index: HashMap::default(),
            overflow: HashMap::new(),
            key_state: RandomState::new(),
            len: 1,
        }
    }

    /// Makes room for `nodes` more nodes in the arena and the index, if memory allows: it is
    /// only a hint, so a count that cannot be had is ignored instead of aborting.
    pub(crate) fn reserve(&mut self, nodes: usize) {
        if self.slots.try_reserve(nodes).is_ok() && self.index.try_reserve(nodes).is_err() {
            self.slots.shrink_to(self.slots.len());
        }
    }

    /// Number of nodes, the root included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn key(&self, parent: u32, name: &[u8]) -> u64 {
        self.key_state.hash_one((parent, name))
    }

    pub(crate) fn get(&self, id: u32) -> Option<&Node> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut Node> {
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The child of `parent` called `name`.
    pub(crate) fn child(&self, parent: u32, name: &str) -> Option<u32> {
        self.child_keyed(parent, name).0
    }

    /// [`NodeStore::child`], and the index key of (`parent`, `name`) for a following
    /// [`NodeStore::insert_keyed`] of that name, so that the name is hashed once.
    pub(crate) fn child_keyed(&self, parent: u32, name: &str) -> (Option<u32>, ChildKey) {
        let key = self.key(parent, name.as_bytes());
        (
            self.child_at_key(parent, name, key),
            ChildKey { parent, key },
        )
    }

    fn child_at_key(&self, parent: u32, name: &str, key: u64) -> Option<u32> {
        if let Some(&id) = self.index.get(&key) {
            if let Some(node) = self.get(id) {
                if node.parent == parent && node.name() == name {
                    return Some(id);
                }
            }
        }
        if self.overflow.is_empty() {
            return None;
        }
        self.overflow.get(&(parent, Box::from(name))).copied()
    }

    /// Resolves an absolute path (`/` is the root). Any path that is not absolute, has an empty
    /// component or a trailing slash resolves to nothing.
    pub(crate) fn lookup(&self, path: &str) -> Option<u32> {
        if path == "/" {
            return Some(ROOT);
        }
        let relative = path.strip_prefix('/')?;
        let mut id = ROOT;
        for name in relative.split('/') {
            if name.is_empty() {
                return None;
            }
            id = self.child(id, name)?;
        }
        Some(id)
    }

    /// Adds a leaf under `parent` (which must exist and have no child `name`). Does not touch
    /// the parent's stat.
    pub(crate) fn insert(
        &mut self,
        parent: u32,
        name: &str,
        data: Option<&[u8]>,
        acl: u32,
        stat: &StatPersisted,
    ) -> u32 {
        let key = ChildKey {
            parent,
            key: self.key(parent, name.as_bytes()),
        };
        self.insert_keyed(key, name, data, acl, stat)
    }

    /// [`NodeStore::insert`] under the parent and with the key a [`NodeStore::child_keyed`] of
    /// `name` returned.
    pub(crate) fn insert_keyed(
        &mut self,
        key: ChildKey,
        name: &str,
        data: Option<&[u8]>,
        acl: u32,
        stat: &StatPersisted,
    ) -> u32 {
        let ChildKey { parent, key } = key;
        debug_assert_eq!(
            key,
            self.key(parent, name.as_bytes()),
            "a key for another name"
        );
        debug_assert!(self.child(parent, name).is_none(), "duplicate child {name}");
        let mut node = Node::new(name, data, acl, parent, stat);
        let parent_node = self.get_mut(parent).expect("insert under a missing parent");
        let old_first = parent_node.first_child;
        parent_node.num_children += 1;
        node.next_sibling = old_first;
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(node);
                id
            }
            None => {
                let id = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|id| *id != NONE)
                    .expect("more than 4 billion znodes");
                self.slots.push(Some(node));
                id
            }
        };
        if let Some(next) = self.get_mut(old_first) {
            next.prev_sibling = id;
        }
        if let Some(parent_node) = self.get_mut(parent) {
            parent_node.first_child = id;
        }
        if let std::collections::hash_map::Entry::Vacant(entry) = self.index.entry(key) {
            entry.insert(id);
        } else {
            self.overflow.insert((parent, Box::from(name)), id);
        }
        self.len += 1;
        id
    }

    /// Removes a leaf (a node without children, not the root) and returns it. Does not touch
    /// the parent's stat.
    pub(crate) fn remove(&mut self, id: u32) -> Node {
        assert!(id != ROOT, "the root is never removed");
        let node = self
            .slots
            .get_mut(id as usize)
            .and_then(Option::take)
            .expect("remove of a missing node");
        assert_eq!(node.num_children, 0, "remove of a node with children");
        if let Some(prev) = self.get_mut(node.prev_sibling) {
            prev.next_sibling = node.next_sibling;
        } else if let Some(parent) = self.get_mut(node.parent) {
            parent.first_child = node.next_sibling;
        }
        if let Some(next) = self.get_mut(node.next_sibling) {
            next.prev_sibling = node.prev_sibling;
        }
        if let Some(parent) = self.get_mut(node.parent) {
            parent.num_children -= 1;
        }
        let key = self.key(node.parent, node.name_bytes());
        if self.index.get(&key) == Some(&id) {
            self.index.remove(&key);
        } else {
            self.overflow.remove(&(node.parent, Box::from(node.name())));
        }
        self.free.push(id);
        self.len -= 1;
        node
    }

    /// Ids of the children of `id`, most recently created first.
    pub(crate) fn children(&self, id: u32) -> Children<'_> {
        Children {
            store: self,
            next: self.get(id).map_or(NONE, |node| node.first_child),
        }
    }

    /// The absolute path of `id`.
    pub(crate) fn path_of(&self, id: u32) -> String {
        if id == ROOT {
            return "/".to_owned();
        }
        let mut names = Vec::new();
        let mut current = id;
        while current != ROOT {
            let Some(node) = self.get(current) else { break };
            names.push(node.name());
            current = node.parent;
        }
        let mut path = String::new();
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    /// Bytes held by the arena and the index (capacity included), not counting node heap.
    pub(crate) fn structure_bytes(&self) -> usize {
        let slot = std::mem::size_of::<Option<Node>>();
        let index_entry = std::mem::size_of::<(u64, u32)>() + 1;
        self.slots.capacity() * slot
            + self.free.capacity() * 4
            + self.index.capacity() * index_entry
            + self.overflow.len() * 64
    }

    /// Heap bytes of all the nodes' names and data.
    pub(crate) fn node_heap_bytes(&self) -> usize {
        self.slots.iter().flatten().map(Node::heap_bytes).sum()
    }
}

/// Iterator over a node's children ids.
pub(crate) struct Children<'a> {
    store: &'a NodeStore,
    next: u32,
}

impl Iterator for Children<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let id = self.next;
        let node = self.store.get(id)?;
        self.next = node.next_sibling;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_slot_stays_small() {
        assert_eq!(std::mem::size_of::<Option<Node>>(), 104);
    }

    #[test]
    fn insert_lookup_remove_keep_links() {
        let stat = StatPersisted::default();
        let mut store = NodeStore::new(0, &stat);
        let a = store.insert(ROOT, "a", Some(b"x"), 0, &stat);
        let b = store.insert(a, "b", None, 0, &stat);
        let c = store.insert(a, "c", Some(b"yy"), 0, &stat);
        assert_eq!(store.lookup("/a/b"), Some(b));
        assert_eq!(store.lookup("/a/c"), Some(c));
        assert_eq!(store.lookup("/a//c"), None);
        assert_eq!(store.lookup("/a/c/"), None);
        assert_eq!(store.lookup("a"), None);
        assert_eq!(store.path_of(c), "/a/c");
        assert_eq!(store.children(a).collect::<Vec<_>>(), vec![c, b]);
        let removed = store.remove(c);
        assert_eq!(removed.data(), b"yy");
        assert!(!removed.data_is_null());
        assert!(store
            .get(b)
            .is_some_and(|node| node.data_is_null() && node.name() == "b"));
        assert_eq!(store.children(a).collect::<Vec<_>>(), vec![b]);
        assert_eq!(store.lookup("/a/c"), None);
        let d = store.insert(a, "d", Some(b""), 0, &stat);
        assert_eq!(d, c, "freed slots are reused");
        store.remove(b);
        assert_eq!(store.children(a).collect::<Vec<_>>(), vec![d]);
        assert_eq!(store.get(a).map(Node::num_children), Some(1));
        assert_eq!(store.len(), 3);
    }
}

//! The ACL table: each distinct ACL list is stored once, under a `u32` id, with a count of the
//! nodes that use it (ZooKeeper's `ReferenceCountedACLCache`). Most trees use a handful of ACL
//! lists, so a node pays four bytes for its ACL. Ids are local to this process: they are not
//! replicated, not in the digest, and a snapshot writer must write the table it references.

use std::collections::HashMap;
use std::sync::Arc;

use crate::txn::Acl;

#[derive(Debug)]
struct Entry {
    list: Arc<[Acl]>,
    references: u64,
}

/// Interned, reference-counted ACL lists. The order of entries within a list is kept: two lists
/// with the same entries in another order are two lists, as in ZooKeeper.
#[derive(Debug, Default)]
pub struct AclTable {
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
    by_list: HashMap<Arc<[Acl]>, u32>,
}

impl AclTable {
    /// An empty table.
    pub fn new() -> AclTable {
        AclTable::default()
    }

    /// Takes a reference to `list`, adding it to the table if it is new, and returns its id.
    pub fn acquire(&mut self, list: &[Acl]) -> u32 {
        if let Some(&id) = self.by_list.get(list) {
            if let Some(Some(entry)) = self.entries.get_mut(id as usize) {
                entry.references += 1;
                return id;
            }
        }
        let list: Arc<[Acl]> = Arc::from(list);
        let entry = Entry {
            list: Arc::clone(&list),
            references: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.entries.get_mut(id as usize) {
                    *slot = Some(entry);
                }
                id
            }
            None => {
                let id = u32::try_from(self.entries.len()).expect("more than 4 billion ACL lists");
                self.entries.push(Some(entry));
                id
            }
        };
        self.by_list.insert(list, id);
        id
    }

    /// Takes one more reference to `id` if it holds exactly `list`, and says whether it did:
    /// a cheap [`AclTable::acquire`] for a caller that remembers the id a list got last time.
    pub fn acquire_if_equal(&mut self, id: u32, list: &[Acl]) -> bool {
        match self.entries.get_mut(id as usize) {
            Some(Some(entry)) if *entry.list == *list => {
                entry.references += 1;
                true
            }
            _ => false,
        }
    }

    /// Drops one reference to `id`; the list leaves the table with its last reference.
    pub fn release(&mut self, id: u32) {
        let Some(slot) = self.entries.get_mut(id as usize) else {
            return;
        };
        let Some(entry) = slot else { return };
        entry.references -= 1;
        if entry.references == 0 {
            if let Some(entry) = slot.take() {
                self.by_list.remove(&entry.list);
            }
            self.free.push(id);
        }
    }

    /// The list stored under `id` (empty if there is none).
    pub fn get(&self, id: u32) -> &[Acl] {
        match self.entries.get(id as usize) {
            Some(Some(entry)) => &entry.list,
            _ => &[],
        }
    }

    /// A shared handle on the list stored under `id`.
    pub fn get_shared(&self, id: u32) -> Arc<[Acl]> {
        match self.entries.get(id as usize) {
            Some(Some(entry)) => Arc::clone(&entry.list),
            _ => Arc::from(Vec::new()),
        }
    }

    /// How many nodes use `id`.
    pub fn references(&self, id: u32) -> u64 {
        match self.entries.get(id as usize) {
            Some(Some(entry)) => entry.references,
            _ => 0,
        }
    }

    /// Number of distinct lists.
    pub fn len(&self) -> usize {
        self.by_list.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_list.is_empty()
    }

    /// Every (id, list, references), by ascending id: what a snapshot writer stores.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[Acl], u64)> + '_ {
        self.entries.iter().enumerate().filter_map(|(id, slot)| {
            let entry = slot.as_ref()?;
            Some((u32::try_from(id).ok()?, &*entry.list, entry.references))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::perms;

    #[test]
    fn lists_are_shared_and_counted() {
        let mut table = AclTable::new();
        let open = Acl::open_unsafe();
        let read = Acl::read_unsafe();
        let a = table.acquire(&open);
        let b = table.acquire(&open);
        let c = table.acquire(&read);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(table.references(a), 2);
        assert_eq!(table.len(), 2);
        table.release(a);
        assert_eq!(table.get(a), &open[..]);
        table.release(a);
        assert_eq!(table.references(a), 0);
        assert_eq!(table.len(), 1);
        assert!(table.get(a).is_empty());
        let d = table.acquire(&[Acl::new(perms::READ | perms::WRITE, "digest", "u:h")]);
        assert_eq!(d, a, "freed ids are reused");
        assert_eq!(table.iter().count(), 2);
    }

    #[test]
    fn order_matters() {
        let mut table = AclTable::new();
        let x = Acl::new(perms::ALL, "world", "anyone");
        let y = Acl::new(perms::READ, "ip", "10.0.0.1");
        let a = table.acquire(&[x.clone(), y.clone()]);
        let b = table.acquire(&[y, x]);
        assert_ne!(a, b);
    }
}

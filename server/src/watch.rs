//! Watches, as ZooKeeper's `WatchManager` keeps them: one-shot data (and exists) and child
//! watches, persistent and persistent-recursive watches, per session.
//!
//! Triggering returns the sessions to notify; each session gets at most one event per trigger,
//! whatever kinds of watch it had on the path.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::proto::EventType;

/// The kinds of watch a session can hold on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WatchKind {
    /// getData / exists: fires once on create, delete, data change.
    Data,
    /// getChildren: fires once on delete and child list change.
    Child,
    /// addWatch PERSISTENT: every event on the path, stays set.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE: create, delete, data change of the path and every
    /// descendant, stays set.
    PersistentRecursive,
}

/// All watches of the server.
#[derive(Debug, Default)]
pub struct WatchManager {
    by_path: HashMap<(WatchKind, String), HashSet<i64>>,
    by_session: HashMap<i64, BTreeSet<(WatchKind, String)>>,
    /// Paths with a persistent-recursive watch: checked for every ancestor of an event.
    recursive_paths: HashMap<String, usize>,
}

impl WatchManager {
    /// Sets a watch (idempotent).
    pub fn add(&mut self, session: i64, kind: WatchKind, path: &str) {
        let inserted = self
            .by_path
            .entry((kind, path.to_owned()))
            .or_default()
            .insert(session);
        if inserted {
            self.by_session
                .entry(session)
                .or_default()
                .insert((kind, path.to_owned()));
            if kind == WatchKind::PersistentRecursive {
                *self.recursive_paths.entry(path.to_owned()).or_default() += 1;
            }
        }
    }

    /// Whether `session` holds a watch of `kind` on `path`.
    pub fn contains(&self, session: i64, kind: WatchKind, path: &str) -> bool {
        self.by_path
            .get(&(kind, path.to_owned()))
            .is_some_and(|s| s.contains(&session))
    }

    /// Removes one watch; returns whether it was set.
    pub fn remove(&mut self, session: i64, kind: WatchKind, path: &str) -> bool {
        let key = (kind, path.to_owned());
        let Some(sessions) = self.by_path.get_mut(&key) else {
            return false;
        };
        if !sessions.remove(&session) {
            return false;
        }
        if sessions.is_empty() {
            self.by_path.remove(&key);
        }
        if let Some(set) = self.by_session.get_mut(&session) {
            set.remove(&key);
            if set.is_empty() {
                self.by_session.remove(&session);
            }
        }
        if kind == WatchKind::PersistentRecursive {
            if let Some(count) = self.recursive_paths.get_mut(path) {
                *count -= 1;
                if *count == 0 {
                    self.recursive_paths.remove(path);
                }
            }
        }
        true
    }

    /// Drops every watch of a session (closed or expired).
    pub fn remove_session(&mut self, session: i64) {
        let Some(keys) = self.by_session.remove(&session) else {
            return;
        };
        for (kind, path) in keys {
            let key = (kind, path);
            if let Some(sessions) = self.by_path.get_mut(&key) {
                sessions.remove(&session);
                if sessions.is_empty() {
                    self.by_path.remove(&key);
                }
            }
            if kind == WatchKind::PersistentRecursive {
                if let Some(count) = self.recursive_paths.get_mut(&key.1) {
                    *count -= 1;
                    if *count == 0 {
                        self.recursive_paths.remove(&key.1);
                    }
                }
            }
        }
    }

    /// Number of watches set.
    pub fn count(&self) -> usize {
        self.by_path.values().map(HashSet::len).sum()
    }

    /// Watches per session (for `wchc`), and per path (for `wchp`).
    pub fn by_session(&self) -> &HashMap<i64, BTreeSet<(WatchKind, String)>> {
        &self.by_session
    }

    /// Number of distinct watched paths.
    pub fn path_count(&self) -> usize {
        self.by_path
            .keys()
            .map(|(_, p)| p.as_str())
            .collect::<HashSet<_>>()
            .len()
    }

    /// Fires the watches an event on `path` triggers; returns the sessions to notify.
    pub fn trigger(&mut self, event: EventType, path: &str) -> Vec<i64> {
        let one_shot: &[WatchKind] = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => &[WatchKind::Data],
            EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Child],
            EventType::NodeChildrenChanged => &[WatchKind::Child],
            _ => &[],
        };
        let mut notified: BTreeSet<i64> = BTreeSet::new();
        for &kind in one_shot {
            if let Some(sessions) = self.by_path.remove(&(kind, path.to_owned())) {
                for session in sessions {
                    if let Some(set) = self.by_session.get_mut(&session) {
                        set.remove(&(kind, path.to_owned()));
                        if set.is_empty() {
                            self.by_session.remove(&session);
                        }
                    }
                    notified.insert(session);
                }
            }
        }
        if let Some(sessions) = self.by_path.get(&(WatchKind::Persistent, path.to_owned())) {
            notified.extend(sessions.iter().copied());
        }
        if event != EventType::NodeChildrenChanged && !self.recursive_paths.is_empty() {
            for ancestor in ancestors_and_self(path) {
                if self.recursive_paths.contains_key(ancestor) {
                    if let Some(sessions) = self
                        .by_path
                        .get(&(WatchKind::PersistentRecursive, ancestor.to_owned()))
                    {
                        notified.extend(sessions.iter().copied());
                    }
                }
            }
        }
        notified.into_iter().collect()
    }
}

/// `/a/b/c`, `/a/b`, `/a`, `/`.
fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current == "/" {
            None
        } else {
            match current.rfind('/') {
                Some(0) => Some("/"),
                Some(i) => current.get(..i),
                None => None,
            }
        };
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_watches_fire_once() {
        let mut watches = WatchManager::default();
        watches.add(1, WatchKind::Data, "/a");
        watches.add(2, WatchKind::Child, "/a");
        assert_eq!(watches.trigger(EventType::NodeDataChanged, "/a"), vec![1]);
        assert!(watches.trigger(EventType::NodeDataChanged, "/a").is_empty());
        assert_eq!(watches.trigger(EventType::NodeDeleted, "/a"), vec![2]);
        assert_eq!(watches.count(), 0);
    }

    #[test]
    fn persistent_watches_stay_and_recursive_ones_cover_descendants() {
        let mut watches = WatchManager::default();
        watches.add(1, WatchKind::Persistent, "/a");
        watches.add(2, WatchKind::PersistentRecursive, "/a");
        watches.add(1, WatchKind::Data, "/a");
        assert_eq!(
            watches.trigger(EventType::NodeDataChanged, "/a"),
            vec![1, 2]
        );
        assert_eq!(
            watches.trigger(EventType::NodeDataChanged, "/a"),
            vec![1, 2]
        );
        assert_eq!(watches.trigger(EventType::NodeCreated, "/a/b/c"), vec![2]);
        assert_eq!(
            watches.trigger(EventType::NodeChildrenChanged, "/a"),
            vec![1]
        );
        assert!(watches
            .trigger(EventType::NodeChildrenChanged, "/a/b")
            .is_empty());
        watches.remove_session(2);
        assert!(watches.trigger(EventType::NodeCreated, "/a/b/c").is_empty());
        assert!(watches.remove(1, WatchKind::Persistent, "/a"));
        assert!(!watches.remove(1, WatchKind::Persistent, "/a"));
    }

    #[test]
    fn ancestors_walk_up_to_the_root() {
        let all: Vec<&str> = ancestors_and_self("/a/b/c").collect();
        assert_eq!(all, vec!["/a/b/c", "/a/b", "/a", "/"]);
        assert_eq!(ancestors_and_self("/").collect::<Vec<_>>(), vec!["/"]);
    }
}

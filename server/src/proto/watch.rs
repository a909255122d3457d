//! Watch management: `setWatches` (op 101) and `setWatches2` (op 105), both sent with xid -8
//! after a reconnect; `addWatch` (op 106) for persistent watches; `checkWatches` (op 17) and
//! `removeWatches` (op 18).

wire_enum! {
    /// The `mode` of an `addWatch` request (ZooKeeper's `AddWatchMode`).
    pub enum AddWatchMode {
        /// Fires on data and child changes of the znode, and stays set.
        Persistent = 0,
        /// Fires on changes of the znode and every descendant, and stays set.
        PersistentRecursive = 1,
    }
}

wire_enum! {
    /// The `type` of a check or remove watches request (ZooKeeper's `Watcher.WatcherType`).
    pub enum WatcherType {
        /// Child watches.
        Children = 1,
        /// Data (and exist) watches.
        Data = 2,
        /// Every kind.
        Any = 3,
        /// Persistent watches.
        Persistent = 4,
        /// Persistent recursive watches.
        PersistentRecursive = 5,
    }
}

jute_record! {
    /// `setWatches` request: the watches a client held, to re-register on this server. The
    /// server fires at once any watch whose znode changed after `relative_zxid`. No reply body.
    pub struct SetWatches {
        /// The last zxid the client saw.
        pub relative_zxid: i64 as long,
        /// Paths with a data watch.
        pub data_watches: Vec<String> as strings,
        /// Paths with an exist watch (znode absent when set).
        pub exist_watches: Vec<String> as strings,
        /// Paths with a child watch.
        pub child_watches: Vec<String> as strings,
    }
}

jute_record! {
    /// `setWatches2` request: [`SetWatches`] plus persistent watches. No reply body.
    pub struct SetWatches2 {
        /// The last zxid the client saw.
        pub relative_zxid: i64 as long,
        /// Paths with a data watch.
        pub data_watches: Vec<String> as strings,
        /// Paths with an exist watch.
        pub exist_watches: Vec<String> as strings,
        /// Paths with a child watch.
        pub child_watches: Vec<String> as strings,
        /// Paths with a persistent watch.
        pub persistent_watches: Vec<String> as strings,
        /// Paths with a persistent recursive watch.
        pub persistent_recursive_watches: Vec<String> as strings,
    }
}

jute_record! {
    /// `addWatch` request. The reply body is `ErrorResponse{0}`.
    pub struct AddWatchRequest {
        /// The znode.
        pub path: String as string,
        /// An [`AddWatchMode`] value.
        pub mode: i32 as int,
    }
}

jute_record! {
    /// `checkWatches` request: fails with `NoWatcher` unless such a watch is set. No reply body.
    pub struct CheckWatchesRequest {
        /// The znode.
        pub path: String as string,
        /// A [`WatcherType`] value (jute `type`).
        pub watcher_type: i32 as int,
    }
}

jute_record! {
    /// `removeWatches` request: fails with `NoWatcher` if nothing was removed. No reply body.
    pub struct RemoveWatchesRequest {
        /// The znode.
        pub path: String as string,
        /// A [`WatcherType`] value (jute `type`).
        pub watcher_type: i32 as int,
    }
}

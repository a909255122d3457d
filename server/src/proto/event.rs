//! Watch notifications: `WatcherEvent`, sent by the server with xid -1, and the event types and
//! session states it carries.

wire_enum! {
    /// What happened to the watched znode (ZooKeeper's `Watcher.Event.EventType`).
    pub enum EventType {
        /// A session state change, not a znode event (client side only).
        None = -1,
        /// The znode was created (exist watches).
        NodeCreated = 1,
        /// The znode was deleted.
        NodeDeleted = 2,
        /// The znode's data changed.
        NodeDataChanged = 3,
        /// The znode's child list changed.
        NodeChildrenChanged = 4,
        /// A data watch was removed (client side only).
        DataWatchRemoved = 5,
        /// A child watch was removed (client side only).
        ChildWatchRemoved = 6,
        /// A persistent watch was removed (client side only).
        PersistentWatchRemoved = 7,
    }
}

wire_enum! {
    /// The session state reported with an event (ZooKeeper's `Watcher.Event.KeeperState`).
    pub enum KeeperState {
        /// Deprecated, unused.
        Unknown = -1,
        /// Not connected.
        Disconnected = 0,
        /// Deprecated, unused.
        NoSyncConnected = 1,
        /// Connected; every server notification carries this state.
        SyncConnected = 3,
        /// Authentication failed.
        AuthFailed = 4,
        /// Connected to a read-only server.
        ConnectedReadOnly = 5,
        /// SASL authentication succeeded.
        SaslAuthenticated = 6,
        /// The session expired.
        Expired = -112,
        /// The client closed the session (client side only).
        Closed = 7,
    }
}

jute_record! {
    /// A watch notification, sent after `ReplyHeader{xid: -1, zxid, error_code: 0}`.
    pub struct WatcherEvent {
        /// An [`EventType`] value (jute `type`).
        pub event_type: i32 as int,
        /// A [`KeeperState`] value.
        pub state: i32 as int,
        /// The znode's path, as the client's chroot-free server path.
        pub path: String as string,
    }
}

impl WatcherEvent {
    /// A znode event in state `SyncConnected`, the only kind a server sends.
    pub fn node_event(event_type: EventType, path: &str) -> Self {
        Self {
            event_type: event_type.value(),
            state: KeeperState::SyncConnected.value(),
            path: path.to_owned(),
        }
    }
}

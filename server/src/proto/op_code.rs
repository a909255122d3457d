//! Operation codes: the `type` field of a `RequestHeader` and of a `MultiHeader`.
//!
//! Values from ZooKeeper's `ZooDefs.OpCode`. Some are never sent by a client (`Notification`,
//! `CreateSession`, `Error`, `DeleteContainer`): they appear in transactions or inside multi
//! responses.

wire_enum! {
    /// Every operation code of the ZooKeeper 3.9 protocol.
    pub enum OpCode {
        /// Reserved for watch notifications (never a request).
        Notification = 0,
        /// Create a znode; the reply carries its path.
        Create = 1,
        /// Delete a znode.
        Delete = 2,
        /// Stat a znode, optionally leaving a watch.
        Exists = 3,
        /// Read a znode's data and stat.
        GetData = 4,
        /// Write a znode's data.
        SetData = 5,
        /// Read a znode's ACL.
        GetAcl = 6,
        /// Replace a znode's ACL.
        SetAcl = 7,
        /// List a znode's children.
        GetChildren = 8,
        /// Wait until this server has applied everything the leader committed.
        Sync = 9,
        /// Keep the session alive (xid -2).
        Ping = 11,
        /// List a znode's children and return its stat.
        GetChildren2 = 12,
        /// Check a znode's version (inside a multi).
        Check = 13,
        /// Atomic sequence of writes.
        Multi = 14,
        /// Create a znode; the reply carries its path and stat.
        Create2 = 15,
        /// Change the ensemble membership.
        Reconfig = 16,
        /// Ask whether a watch is set.
        CheckWatches = 17,
        /// Remove watches.
        RemoveWatches = 18,
        /// Create a container znode.
        CreateContainer = 19,
        /// Delete an empty container (server-internal).
        DeleteContainer = 20,
        /// Create a znode with a time to live.
        CreateTtl = 21,
        /// Sequence of reads.
        MultiRead = 22,
        /// Add authentication (xid -4).
        Auth = 100,
        /// Re-register watches after a reconnect (xid -8).
        SetWatches = 101,
        /// A SASL token exchange.
        Sasl = 102,
        /// List the session's ephemeral znodes.
        GetEphemerals = 103,
        /// Count all descendants of a znode.
        GetAllChildrenNumber = 104,
        /// Re-register watches, including persistent ones (xid -8).
        SetWatches2 = 105,
        /// Add a persistent (optionally recursive) watch.
        AddWatch = 106,
        /// Ask which identities the session is authenticated as.
        WhoAmI = 107,
        /// Create a session (transactions only).
        CreateSession = -10,
        /// Close the session: the client's `close()`.
        CloseSession = -11,
        /// A failed operation inside a multi response, or an error transaction.
        Error = -1,
    }
}

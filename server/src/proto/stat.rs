//! `Stat`: the metadata of a znode as a client sees it. Always 68 bytes on the wire.

jute_record! {
    /// A znode's metadata. Times are milliseconds since the Unix epoch.
    #[derive(Copy)]
    pub struct Stat {
        /// zxid of the create (jute `czxid`).
        pub created_zxid: i64 as long,
        /// zxid of the last data change (jute `mzxid`).
        pub modified_zxid: i64 as long,
        /// Creation time (jute `ctime`).
        pub created_time_ms: i64 as long,
        /// Last data change time (jute `mtime`).
        pub modified_time_ms: i64 as long,
        /// Number of data changes (jute `version`).
        pub version: i32 as int,
        /// Number of child list changes (jute `cversion`).
        pub child_version: i32 as int,
        /// Number of ACL changes (jute `aversion`).
        pub acl_version: i32 as int,
        /// Owning session of an ephemeral znode, else 0; also encodes container and TTL znodes
        /// (jute `ephemeralOwner`).
        pub ephemeral_owner: i64 as long,
        /// Length of the data in bytes (jute `dataLength`).
        pub data_length: i32 as int,
        /// Number of children (jute `numChildren`).
        pub child_count: i32 as int,
        /// zxid of the last child list change (jute `pzxid`).
        pub child_list_zxid: i64 as long,
    }
}

impl Stat {
    /// Encoded size: 6 `long`s and 5 `int`s.
    pub const ENCODED_LEN: usize = 68;
}

//! `getChildren` (op 8), `getChildren2` (op 12) and `getAllChildrenNumber` (op 104).

use super::stat::Stat;

jute_record! {
    /// `getChildren` request; `getChildren2` sends the same record.
    pub struct GetChildrenRequest {
        /// The znode.
        pub path: String as string,
        /// Leave a child watch.
        pub watch: bool as bool,
    }
}

/// `getChildren2` request: the same fields as [`GetChildrenRequest`].
pub type GetChildren2Request = GetChildrenRequest;

jute_record! {
    /// `getChildren` reply.
    pub struct GetChildrenResponse {
        /// Child names (not paths), in no particular order.
        pub children: Vec<String> as strings,
    }
}

jute_record! {
    /// `getChildren2` reply.
    pub struct GetChildren2Response {
        /// Child names.
        pub children: Vec<String> as strings,
        /// The parent's stat.
        pub stat: Stat as record,
    }
}

jute_record! {
    /// `getAllChildrenNumber` request.
    pub struct GetAllChildrenNumberRequest {
        /// The znode.
        pub path: String as string,
    }
}

jute_record! {
    /// `getAllChildrenNumber` reply.
    pub struct GetAllChildrenNumberResponse {
        /// Number of descendants of the znode, the znode itself excluded.
        pub total_number: i32 as int,
    }
}

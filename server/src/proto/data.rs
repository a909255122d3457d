//! `getData` (op 4) and `setData` (op 5).

use super::stat::Stat;

jute_record! {
    /// `getData` request.
    pub struct GetDataRequest {
        /// The znode.
        pub path: String as string,
        /// Leave a data watch.
        pub watch: bool as bool,
    }
}

jute_record! {
    /// `getData` reply.
    pub struct GetDataResponse {
        /// The data; `None` for a znode created with null data.
        pub data: Option<Vec<u8>> as buffer,
        /// The znode's stat.
        pub stat: Stat as record,
    }
}

jute_record! {
    /// `setData` request.
    pub struct SetDataRequest {
        /// The znode.
        pub path: String as string,
        /// The new data; `None` is a null buffer.
        pub data: Option<Vec<u8>> as buffer,
        /// Expected data version, or -1 for any.
        pub version: i32 as int,
    }
}

jute_record! {
    /// `setData` reply; also the reply to a lone `check`.
    pub struct SetDataResponse {
        /// The znode's stat after the change.
        pub stat: Stat as record,
    }
}

//! `exists` (op 3).

use super::stat::Stat;

jute_record! {
    /// `exists` request.
    pub struct ExistsRequest {
        /// The znode.
        pub path: String as string,
        /// Leave a watch (a data watch if the znode exists, else an exist watch).
        pub watch: bool as bool,
    }
}

jute_record! {
    /// `exists` reply (only when the znode exists; otherwise the error is `NoNode`).
    pub struct ExistsResponse {
        /// The znode's stat.
        pub stat: Stat as record,
    }
}

//! `sync` (op 9).

jute_record! {
    /// `sync` request.
    pub struct SyncRequest {
        /// The znode (only echoed back).
        pub path: String as string,
    }
}

jute_record! {
    /// `sync` reply.
    pub struct SyncResponse {
        /// The request's path.
        pub path: String as string,
    }
}

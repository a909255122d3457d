//! `delete` (op 2) and `deleteContainer` (op 20).

jute_record! {
    /// `delete` request. The reply has no body.
    pub struct DeleteRequest {
        /// The znode.
        pub path: String as string,
        /// Expected data version, or -1 for any.
        pub version: i32 as int,
    }
}

jute_record! {
    /// `deleteContainer` request: the server's own container clean-up. Unlike every other
    /// request, the path is a `buffer` of UTF-8, not a `ustring` (same bytes on the wire).
    pub struct DeleteContainerRequest {
        /// The container's path as UTF-8 bytes (null reads as empty).
        pub path: Vec<u8> as bytes,
    }
}

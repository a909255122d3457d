//! `check` (op 13): a version check, used inside multi requests. ZooKeeper 3.9 answers a lone
//! `check` with `Unimplemented`; its record is the same either way.

jute_record! {
    /// `check` request (jute `CheckVersionRequest`). Inside a multi the result has no body.
    pub struct CheckVersionRequest {
        /// The znode.
        pub path: String as string,
        /// Expected data version, or -1 for any.
        pub version: i32 as int,
    }
}

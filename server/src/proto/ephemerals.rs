//! `getEphemerals` (op 103).

jute_record! {
    /// `getEphemerals` request.
    pub struct GetEphemeralsRequest {
        /// Only ephemerals whose path starts with this prefix ("/" for all).
        pub prefix_path: String as string,
    }
}

jute_record! {
    /// `getEphemerals` reply.
    pub struct GetEphemeralsResponse {
        /// Paths of the session's ephemeral znodes.
        pub ephemerals: Vec<String> as strings,
    }
}

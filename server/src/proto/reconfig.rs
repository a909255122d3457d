//! `reconfig` (op 16). Decoded only so that the server can answer it (with `Unimplemented` or
//! `ReconfigDisabled`) rather than treat it as malformed; the reply of a ZooKeeper that does
//! reconfigure is a `GetDataResponse` with the new configuration.

jute_record! {
    /// `reconfig` request. In ZooKeeper a null list means "no change", so nulls are kept.
    pub struct ReconfigRequest {
        /// Servers to add (incremental mode).
        pub joining_servers: Option<String> as optional_string,
        /// Server ids to remove (incremental mode).
        pub leaving_servers: Option<String> as optional_string,
        /// The whole new membership (non-incremental mode).
        pub new_members: Option<String> as optional_string,
        /// Expected current configuration version, or -1 (jute `curConfigId`).
        pub current_config_id: i64 as long,
    }
}

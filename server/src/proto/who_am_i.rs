//! `whoAmI` (op 107): the request has no body; the reply lists the session's identities.

jute_record! {
    /// One identity of the session.
    pub struct ClientInfo {
        /// The scheme, e.g. `ip` or `digest`.
        pub auth_scheme: String as string,
        /// The user name, or another id such as the client's address.
        pub user: String as string,
    }
}

jute_record! {
    /// `whoAmI` reply.
    pub struct WhoAmIResponse {
        /// Every identity the session holds.
        pub client_info: Vec<ClientInfo> as records,
    }
}

//! Authentication: `AuthPacket` (op 100, xid -4) and the SASL token exchange (op 102).

jute_record! {
    /// `auth` request: add an identity to the session. The reply is a bare
    /// `ReplyHeader{xid: -4, zxid: 0, error_code}`; on `AuthFailed` the server closes the
    /// connection.
    pub struct AuthPacket {
        /// Always 0 (jute `type`).
        pub auth_type: i32 as int,
        /// The scheme, e.g. `digest`.
        pub scheme: String as string,
        /// The credentials, e.g. `user:password` for `digest`.
        pub auth: Vec<u8> as bytes,
    }
}

jute_record! {
    /// `sasl` request (jute `GetSASLRequest`).
    pub struct SaslRequest {
        /// The client's SASL token.
        pub token: Vec<u8> as bytes,
    }
}

jute_record! {
    /// `sasl` reply (jute `SetSASLResponse`).
    pub struct SaslResponse {
        /// The server's SASL challenge or final token.
        pub token: Vec<u8> as bytes,
    }
}

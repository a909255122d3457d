//! The headers in front of every request and reply after the connect handshake, and the
//! `ErrorResponse` body.

jute_record! {
    /// Precedes every request: `xid` is echoed in the reply, `op_code` selects the body record.
    #[derive(Copy)]
    pub struct RequestHeader {
        /// Request number chosen by the client (see [`crate::proto::xid`] for special values).
        pub xid: i32 as int,
        /// The operation ([`crate::proto::OpCode`] value; jute name `type`).
        pub op_code: i32 as int,
    }
}

jute_record! {
    /// Precedes every reply and notification.
    #[derive(Copy)]
    pub struct ReplyHeader {
        /// The request's xid, or a special xid.
        pub xid: i32 as int,
        /// The last zxid the server has applied when it replied.
        pub zxid: i64 as long,
        /// [`crate::proto::ErrorCode`] value (jute name `err`); most replies carry a body only
        /// when this is 0.
        pub error_code: i32 as int,
    }
}

jute_record! {
    /// A bare error code: the body of an `addWatch` reply (always 0) and of a failed operation
    /// inside a multi response.
    #[derive(Copy)]
    pub struct ErrorResponse {
        /// [`crate::proto::ErrorCode`] value (jute name `err`).
        pub error_code: i32 as int,
    }
}

impl RequestHeader {
    /// Encoded size: two `int`s.
    pub const ENCODED_LEN: usize = 8;
}

impl ReplyHeader {
    /// Encoded size: `int`, `long`, `int`.
    pub const ENCODED_LEN: usize = 16;

    /// A reply header for request `xid` at `zxid` with `error_code`.
    pub fn new(xid: i32, zxid: i64, error_code: crate::proto::ErrorCode) -> Self {
        Self {
            xid,
            zxid,
            error_code: error_code.value(),
        }
    }
}

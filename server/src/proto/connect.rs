//! The connect handshake: the first frame a client sends (with no `RequestHeader`) and the
//! server's answer.
//!
//! Clients of ZooKeeper 3.4 and later end the request with a `readOnly` byte; clients up to 3.3
//! do not. The server notes which form it got and answers in the same form, since an old client
//! would read a trailing `readOnly` byte as the start of the next frame.

use super::jute::{DecodeError, Reader, Record, Writer};

/// Length of the session password the server hands out, and of the all-zero password in the
/// reply that refuses a session.
pub const PASSWORD_LEN: usize = 16;

/// The first frame from a client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    /// Always 0.
    pub protocol_version: i32,
    /// The last zxid the client has seen (0 for a new session); a server that is behind it
    /// must refuse the client.
    pub last_zxid_seen: i64,
    /// Requested session timeout (jute `timeOut`).
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// The session password when resuming (jute `passwd`; null reads as empty).
    pub password: Vec<u8>,
    /// The client's `canBeReadOnly` flag; `None` when the client did not send the byte
    /// (ZooKeeper 3.3 and older).
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    /// Without the optional `readOnly` byte.
    const MIN_ENCODED_LEN: usize = 28;

    /// Reads the fixed fields, then `readOnly` if at least one byte remains. Anything after it is
    /// ignored, as ZooKeeper does.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: reader.read_int()?,
            last_zxid_seen: reader.read_long()?,
            timeout_ms: reader.read_int()?,
            session_id: reader.read_long()?,
            password: reader.read_buffer_or_empty()?,
            read_only: if reader.is_empty() {
                None
            } else {
                Some(reader.read_bool()?)
            },
        })
    }

    fn encode(&self, writer: &mut Writer<'_>) {
        writer.write_int(self.protocol_version);
        writer.write_long(self.last_zxid_seen);
        writer.write_int(self.timeout_ms);
        writer.write_long(self.session_id);
        writer.write_buffer(Some(&self.password));
        if let Some(read_only) = self.read_only {
            writer.write_bool(read_only);
        }
    }
}

/// The server's answer to a [`ConnectRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    /// Always 0.
    pub protocol_version: i32,
    /// Negotiated session timeout, or 0 when the session is refused (jute `timeOut`).
    pub timeout_ms: i32,
    /// The session id, or 0 when the session is refused.
    pub session_id: i64,
    /// The session password (16 bytes; all zero when the session is refused).
    pub password: Vec<u8>,
    /// Whether this server is read-only; `None` omits the byte, for a client that did not send
    /// one.
    pub read_only: Option<bool>,
}

impl ConnectResponse {
    /// An accepted session, answering `request` in its own form (with or without `readOnly`).
    pub fn accepted(
        request: &ConnectRequest,
        timeout_ms: i32,
        session_id: i64,
        password: [u8; PASSWORD_LEN],
        server_is_read_only: bool,
    ) -> Self {
        Self {
            protocol_version: 0,
            timeout_ms,
            session_id,
            password: password.to_vec(),
            read_only: request.read_only.map(|_| server_is_read_only),
        }
    }

    /// The answer to a session that has expired or whose password is wrong: timeout 0, session
    /// 0, a zero password. The server closes the connection after sending it.
    pub fn refused(request: &ConnectRequest, server_is_read_only: bool) -> Self {
        Self::accepted(request, 0, 0, [0; PASSWORD_LEN], server_is_read_only)
    }
}

impl Record for ConnectResponse {
    /// Without the optional `readOnly` byte.
    const MIN_ENCODED_LEN: usize = 20;

    /// Reads the fixed fields, then `readOnly` if at least one byte remains.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            protocol_version: reader.read_int()?,
            timeout_ms: reader.read_int()?,
            session_id: reader.read_long()?,
            password: reader.read_buffer_or_empty()?,
            read_only: if reader.is_empty() {
                None
            } else {
                Some(reader.read_bool()?)
            },
        })
    }

    fn encode(&self, writer: &mut Writer<'_>) {
        writer.write_int(self.protocol_version);
        writer.write_int(self.timeout_ms);
        writer.write_long(self.session_id);
        writer.write_buffer(Some(&self.password));
        if let Some(read_only) = self.read_only {
            writer.write_bool(read_only);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn read_only_byte_is_optional_and_mirrored() {
        let mut request = ConnectRequest {
            timeout_ms: 30_000,
            ..ConnectRequest::default()
        };
        let old_form = request.to_bytes();
        assert_eq!(old_form.len(), ConnectRequest::MIN_ENCODED_LEN);
        let decoded = ConnectRequest::decode_from(&old_form).unwrap();
        assert_eq!(decoded.read_only, None);
        assert_eq!(ConnectResponse::refused(&decoded, true).read_only, None);

        request.read_only = Some(true);
        let new_form = request.to_bytes();
        assert_eq!(new_form.len(), ConnectRequest::MIN_ENCODED_LEN + 1);
        let decoded = ConnectRequest::decode_from(&new_form).unwrap();
        assert_eq!(decoded.read_only, Some(true));
        let response = ConnectResponse::refused(&decoded, false);
        assert_eq!(response.read_only, Some(false));
        assert_eq!(
            response.to_bytes().len(),
            ConnectResponse::MIN_ENCODED_LEN + 16 + 1
        );
    }
}

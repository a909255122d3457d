//! Typed replies: [`Response`] bodies, and the functions that write whole reply frames (reply,
//! ping reply, watch notification, connect response). [`decode_response`] is the client-side
//! inverse, for tests and benchmarks.
//!
//! A reply frame is `ReplyHeader` followed by the body for the request's op code. ZooKeeper's
//! clients read the body only when `error_code` is 0, and ZooKeeper sends none otherwise: pass
//! [`Response::Empty`] with a non-zero error code.

use super::acl::{GetAclResponse, SetAclResponse};
use super::auth::SaslResponse;
use super::children::{GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse};
use super::connect::ConnectResponse;
use super::create::{Create2Response, CreateResponse};
use super::data::{GetDataResponse, SetDataResponse};
use super::ephemerals::GetEphemeralsResponse;
use super::event::WatcherEvent;
use super::exists::ExistsResponse;
use super::header::{ErrorResponse, ReplyHeader};
use super::jute::{DecodeError, Invalid, Reader, Record, Writer};
use super::multi::MultiResponse;
use super::op_code::OpCode;
use super::sync::SyncResponse;
use super::who_am_i::WhoAmIResponse;
use super::xid;

/// The body of a successful reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, deleteContainer, closeSession, setWatches, setWatches2, checkWatches,
    /// removeWatches, ping, auth, and every reply whose error code is not 0.
    Empty,
    /// create.
    Create(CreateResponse),
    /// create2, createContainer, createTTL.
    Create2(Create2Response),
    /// exists.
    Exists(ExistsResponse),
    /// getData; also reconfig (the new configuration).
    GetData(GetDataResponse),
    /// setData; also a lone check.
    SetData(SetDataResponse),
    /// getACL.
    GetAcl(GetAclResponse),
    /// setACL.
    SetAcl(SetAclResponse),
    /// getChildren.
    GetChildren(GetChildrenResponse),
    /// getChildren2.
    GetChildren2(GetChildren2Response),
    /// getAllChildrenNumber.
    GetAllChildrenNumber(GetAllChildrenNumberResponse),
    /// getEphemerals.
    GetEphemerals(GetEphemeralsResponse),
    /// sync.
    Sync(SyncResponse),
    /// multi and multiRead.
    Multi(MultiResponse),
    /// addWatch: always `ErrorResponse{0}`.
    AddWatch(ErrorResponse),
    /// whoAmI.
    WhoAmI(WhoAmIResponse),
    /// sasl.
    Sasl(SaslResponse),
}

impl Response {
    /// Appends the body (nothing for [`Response::Empty`]).
    pub fn encode_body(&self, writer: &mut Writer<'_>) {
        match self {
            Self::Empty => {}
            Self::Create(response) => response.encode(writer),
            Self::Create2(response) => response.encode(writer),
            Self::Exists(response) => response.encode(writer),
            Self::GetData(response) => response.encode(writer),
            Self::SetData(response) => response.encode(writer),
            Self::GetAcl(response) => response.encode(writer),
            Self::SetAcl(response) => response.encode(writer),
            Self::GetChildren(response) => response.encode(writer),
            Self::GetChildren2(response) => response.encode(writer),
            Self::GetAllChildrenNumber(response) => response.encode(writer),
            Self::GetEphemerals(response) => response.encode(writer),
            Self::Sync(response) => response.encode(writer),
            Self::Multi(response) => response.encode(writer),
            Self::AddWatch(response) => response.encode(writer),
            Self::WhoAmI(response) => response.encode(writer),
            Self::Sasl(response) => response.encode(writer),
        }
    }

    /// The body as a new vector.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.encode_body(&mut Writer::new(&mut bytes));
        bytes
    }
}

/// Decodes the body of a successful (`error_code` 0) reply to a request with `op_code`.
///
/// # Errors
///
/// A malformed body, or `Invalid(UnsupportedOpCode)` for an op code that has no reply.
pub fn decode_response(op_code: OpCode, body: &[u8]) -> Result<Response, DecodeError> {
    let mut reader = Reader::new(body);
    let reader = &mut reader;
    let response = match op_code {
        OpCode::Create => Response::Create(reader.read_record()?),
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
            Response::Create2(reader.read_record()?)
        }
        OpCode::Exists => Response::Exists(reader.read_record()?),
        OpCode::GetData | OpCode::Reconfig => Response::GetData(reader.read_record()?),
        OpCode::SetData | OpCode::Check => Response::SetData(reader.read_record()?),
        OpCode::GetAcl => Response::GetAcl(reader.read_record()?),
        OpCode::SetAcl => Response::SetAcl(reader.read_record()?),
        OpCode::GetChildren => Response::GetChildren(reader.read_record()?),
        OpCode::GetChildren2 => Response::GetChildren2(reader.read_record()?),
        OpCode::GetAllChildrenNumber => Response::GetAllChildrenNumber(reader.read_record()?),
        OpCode::GetEphemerals => Response::GetEphemerals(reader.read_record()?),
        OpCode::Sync => Response::Sync(reader.read_record()?),
        OpCode::Multi | OpCode::MultiRead => Response::Multi(reader.read_record()?),
        OpCode::AddWatch => Response::AddWatch(reader.read_record()?),
        OpCode::WhoAmI => Response::WhoAmI(reader.read_record()?),
        OpCode::Sasl => Response::Sasl(reader.read_record()?),
        OpCode::Delete
        | OpCode::DeleteContainer
        | OpCode::CloseSession
        | OpCode::SetWatches
        | OpCode::SetWatches2
        | OpCode::CheckWatches
        | OpCode::RemoveWatches
        | OpCode::Ping
        | OpCode::Auth => Response::Empty,
        OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
            return Err(Invalid::UnsupportedOpCode(op_code.value()).into());
        }
    };
    Ok(response)
}

/// Appends one reply frame: length, `header`, body.
pub fn encode_reply(out: &mut Vec<u8>, header: &ReplyHeader, response: &Response) {
    let mut writer = Writer::new(out);
    let frame = writer.start_frame();
    header.encode(&mut writer);
    response.encode_body(&mut writer);
    writer.finish_frame(frame);
}

/// Appends the reply to a ping: `ReplyHeader{xid: -2, zxid, error_code: 0}` and no body.
pub fn encode_ping_reply(out: &mut Vec<u8>, zxid: i64) {
    let header = ReplyHeader {
        xid: xid::PING,
        zxid,
        error_code: 0,
    };
    encode_reply(out, &header, &Response::Empty);
}

/// Appends a watch notification: `ReplyHeader{xid: -1, zxid, error_code: 0}` then the event.
/// `zxid` is the zxid of the change that fired the watch.
pub fn encode_notification(out: &mut Vec<u8>, zxid: i64, event: &WatcherEvent) {
    let mut writer = Writer::new(out);
    let frame = writer.start_frame();
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        error_code: 0,
    }
    .encode(&mut writer);
    event.encode(&mut writer);
    writer.finish_frame(frame);
}

/// Appends the connect response frame (no `ReplyHeader`).
pub fn encode_connect_response(out: &mut Vec<u8>, response: &ConnectResponse) {
    let mut writer = Writer::new(out);
    let frame = writer.start_frame();
    response.encode(&mut writer);
    writer.finish_frame(frame);
}

/// Splits a reply frame body into its header and the bytes of the body record.
pub fn split_reply_header(frame_body: &[u8]) -> Result<(ReplyHeader, &[u8]), DecodeError> {
    let mut reader = Reader::new(frame_body);
    let header = ReplyHeader::decode(&mut reader)?;
    Ok((header, reader.rest()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ping_reply_bytes() {
        let mut out = Vec::new();
        encode_ping_reply(&mut out, 0x1234);
        assert_eq!(
            out,
            [0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0]
        );
        let (header, body) = split_reply_header(out.get(4..).unwrap()).unwrap();
        assert_eq!(
            header,
            ReplyHeader {
                xid: -2,
                zxid: 0x1234,
                error_code: 0
            }
        );
        assert_eq!(decode_response(OpCode::Ping, body), Ok(Response::Empty));
    }
}

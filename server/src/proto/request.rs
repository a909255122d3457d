//! Typed client requests: [`decode_request`] turns an op code and a body into a [`Request`], and
//! [`encode_request`] writes one as a frame (for clients, tests and benchmarks).
//!
//! A request frame is `RequestHeader` followed by the body record selected by the header's op
//! code. [`split_request_header`] separates the two so that a server still knows the xid to
//! answer when the body turns out to be malformed (ZooKeeper answers `MarshallingError` then).

use super::acl::{GetAclRequest, SetAclRequest};
use super::auth::{AuthPacket, SaslRequest};
use super::check::CheckVersionRequest;
use super::children::{GetAllChildrenNumberRequest, GetChildrenRequest};
use super::create::{CreateRequest, CreateTtlRequest};
use super::data::{GetDataRequest, SetDataRequest};
use super::delete::{DeleteContainerRequest, DeleteRequest};
use super::ephemerals::GetEphemeralsRequest;
use super::exists::ExistsRequest;
use super::header::RequestHeader;
use super::jute::{DecodeError, Invalid, Reader, Record, Writer};
use super::multi::MultiRequest;
use super::op_code::OpCode;
use super::reconfig::ReconfigRequest;
use super::sync::SyncRequest;
use super::watch::{
    AddWatchRequest, CheckWatchesRequest, RemoveWatchesRequest, SetWatches, SetWatches2,
};
use super::xid;

/// A decoded client request (the body after the `RequestHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Op 1.
    Create(CreateRequest),
    /// Op 15.
    Create2(CreateRequest),
    /// Op 19.
    CreateContainer(CreateRequest),
    /// Op 21.
    CreateTtl(CreateTtlRequest),
    /// Op 2.
    Delete(DeleteRequest),
    /// Op 20 (normally server-internal).
    DeleteContainer(DeleteContainerRequest),
    /// Op 3.
    Exists(ExistsRequest),
    /// Op 4.
    GetData(GetDataRequest),
    /// Op 5.
    SetData(SetDataRequest),
    /// Op 6.
    GetAcl(GetAclRequest),
    /// Op 7.
    SetAcl(SetAclRequest),
    /// Op 8.
    GetChildren(GetChildrenRequest),
    /// Op 12.
    GetChildren2(GetChildrenRequest),
    /// Op 104.
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    /// Op 103.
    GetEphemerals(GetEphemeralsRequest),
    /// Op 9.
    Sync(SyncRequest),
    /// Op 13 (ZooKeeper 3.9 answers a lone check with `Unimplemented`).
    Check(CheckVersionRequest),
    /// Op 14: writes only.
    Multi(MultiRequest),
    /// Op 22: reads only.
    MultiRead(MultiRequest),
    /// Op 100, xid -4.
    Auth(AuthPacket),
    /// Op 102.
    Sasl(SaslRequest),
    /// Op 101, xid -8.
    SetWatches(SetWatches),
    /// Op 105, xid -8.
    SetWatches2(SetWatches2),
    /// Op 106.
    AddWatch(AddWatchRequest),
    /// Op 18.
    RemoveWatches(RemoveWatchesRequest),
    /// Op 17.
    CheckWatches(CheckWatchesRequest),
    /// Op 107, no body.
    WhoAmI,
    /// Op 16.
    Reconfig(ReconfigRequest),
    /// Op -11, no body: the client closes its session.
    CloseSession,
    /// Op 11, xid -2, no body.
    Ping,
}

/// Splits a request frame body into its header and the bytes of the request record.
///
/// # Errors
///
/// `Incomplete` when the body is shorter than a header (ZooKeeper closes the connection).
pub fn split_request_header(frame_body: &[u8]) -> Result<(RequestHeader, &[u8]), DecodeError> {
    let mut reader = Reader::new(frame_body);
    let header = RequestHeader::decode(&mut reader)?;
    Ok((header, reader.rest()))
}

/// Decodes the request record that follows a header with `op_code`. Bytes after the record are
/// ignored, as ZooKeeper ignores them. Never panics, whatever the input.
///
/// # Errors
///
/// `Invalid(UnsupportedOpCode)` for an op code that no client may send (ZooKeeper answers
/// `Unimplemented` and closes the connection); any other error is a malformed body (ZooKeeper
/// answers `MarshallingError` and keeps the connection).
pub fn decode_request(op_code: i32, body: &[u8]) -> Result<Request, DecodeError> {
    let unsupported = Invalid::UnsupportedOpCode(op_code);
    let op_code = OpCode::try_from(op_code).map_err(|_| unsupported.clone())?;
    let mut reader = Reader::new(body);
    let reader = &mut reader;
    let request = match op_code {
        OpCode::Create => Request::Create(reader.read_record()?),
        OpCode::Create2 => Request::Create2(reader.read_record()?),
        OpCode::CreateContainer => Request::CreateContainer(reader.read_record()?),
        OpCode::CreateTtl => Request::CreateTtl(reader.read_record()?),
        OpCode::Delete => Request::Delete(reader.read_record()?),
        OpCode::DeleteContainer => Request::DeleteContainer(reader.read_record()?),
        OpCode::Exists => Request::Exists(reader.read_record()?),
        OpCode::GetData => Request::GetData(reader.read_record()?),
        OpCode::SetData => Request::SetData(reader.read_record()?),
        OpCode::GetAcl => Request::GetAcl(reader.read_record()?),
        OpCode::SetAcl => Request::SetAcl(reader.read_record()?),
        OpCode::GetChildren => Request::GetChildren(reader.read_record()?),
        OpCode::GetChildren2 => Request::GetChildren2(reader.read_record()?),
        OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(reader.read_record()?),
        OpCode::GetEphemerals => Request::GetEphemerals(reader.read_record()?),
        OpCode::Sync => Request::Sync(reader.read_record()?),
        OpCode::Check => Request::Check(reader.read_record()?),
        OpCode::Multi => Request::Multi(MultiRequest::decode_for(OpCode::Multi, reader)?),
        OpCode::MultiRead => {
            Request::MultiRead(MultiRequest::decode_for(OpCode::MultiRead, reader)?)
        }
        OpCode::Auth => Request::Auth(reader.read_record()?),
        OpCode::Sasl => Request::Sasl(reader.read_record()?),
        OpCode::SetWatches => Request::SetWatches(reader.read_record()?),
        OpCode::SetWatches2 => Request::SetWatches2(reader.read_record()?),
        OpCode::AddWatch => Request::AddWatch(reader.read_record()?),
        OpCode::RemoveWatches => Request::RemoveWatches(reader.read_record()?),
        OpCode::CheckWatches => Request::CheckWatches(reader.read_record()?),
        OpCode::WhoAmI => Request::WhoAmI,
        OpCode::Reconfig => Request::Reconfig(reader.read_record()?),
        OpCode::CloseSession => Request::CloseSession,
        OpCode::Ping => Request::Ping,
        OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
            return Err(unsupported.into());
        }
    };
    Ok(request)
}

impl Request {
    /// The op code that introduces this request.
    pub fn op_code(&self) -> OpCode {
        match self {
            Self::Create(_) => OpCode::Create,
            Self::Create2(_) => OpCode::Create2,
            Self::CreateContainer(_) => OpCode::CreateContainer,
            Self::CreateTtl(_) => OpCode::CreateTtl,
            Self::Delete(_) => OpCode::Delete,
            Self::DeleteContainer(_) => OpCode::DeleteContainer,
            Self::Exists(_) => OpCode::Exists,
            Self::GetData(_) => OpCode::GetData,
            Self::SetData(_) => OpCode::SetData,
            Self::GetAcl(_) => OpCode::GetAcl,
            Self::SetAcl(_) => OpCode::SetAcl,
            Self::GetChildren(_) => OpCode::GetChildren,
            Self::GetChildren2(_) => OpCode::GetChildren2,
            Self::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Self::GetEphemerals(_) => OpCode::GetEphemerals,
            Self::Sync(_) => OpCode::Sync,
            Self::Check(_) => OpCode::Check,
            Self::Multi(_) => OpCode::Multi,
            Self::MultiRead(_) => OpCode::MultiRead,
            Self::Auth(_) => OpCode::Auth,
            Self::Sasl(_) => OpCode::Sasl,
            Self::SetWatches(_) => OpCode::SetWatches,
            Self::SetWatches2(_) => OpCode::SetWatches2,
            Self::AddWatch(_) => OpCode::AddWatch,
            Self::RemoveWatches(_) => OpCode::RemoveWatches,
            Self::CheckWatches(_) => OpCode::CheckWatches,
            Self::WhoAmI => OpCode::WhoAmI,
            Self::Reconfig(_) => OpCode::Reconfig,
            Self::CloseSession => OpCode::CloseSession,
            Self::Ping => OpCode::Ping,
        }
    }

    /// The xid a client must use for this request if it has a special one (ping, auth, set
    /// watches), else `None`.
    pub fn special_xid(&self) -> Option<i32> {
        match self {
            Self::Ping => Some(xid::PING),
            Self::Auth(_) => Some(xid::AUTH),
            Self::SetWatches(_) | Self::SetWatches2(_) => Some(xid::SET_WATCHES),
            _ => None,
        }
    }

    /// Appends the request record (without header).
    pub fn encode_body(&self, writer: &mut Writer<'_>) {
        match self {
            Self::Create(request) | Self::Create2(request) | Self::CreateContainer(request) => {
                request.encode(writer);
            }
            Self::CreateTtl(request) => request.encode(writer),
            Self::Delete(request) => request.encode(writer),
            Self::DeleteContainer(request) => request.encode(writer),
            Self::Exists(request) => request.encode(writer),
            Self::GetData(request) => request.encode(writer),
            Self::SetData(request) => request.encode(writer),
            Self::GetAcl(request) => request.encode(writer),
            Self::SetAcl(request) => request.encode(writer),
            Self::GetChildren(request) | Self::GetChildren2(request) => request.encode(writer),
            Self::GetAllChildrenNumber(request) => request.encode(writer),
            Self::GetEphemerals(request) => request.encode(writer),
            Self::Sync(request) => request.encode(writer),
            Self::Check(request) => request.encode(writer),
            Self::Multi(request) | Self::MultiRead(request) => request.encode(writer),
            Self::Auth(request) => request.encode(writer),
            Self::Sasl(request) => request.encode(writer),
            Self::SetWatches(request) => request.encode(writer),
            Self::SetWatches2(request) => request.encode(writer),
            Self::AddWatch(request) => request.encode(writer),
            Self::RemoveWatches(request) => request.encode(writer),
            Self::CheckWatches(request) => request.encode(writer),
            Self::Reconfig(request) => request.encode(writer),
            Self::WhoAmI | Self::CloseSession | Self::Ping => {}
        }
    }

    /// The request record as a new vector (without header).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.encode_body(&mut Writer::new(&mut bytes));
        bytes
    }
}

/// Appends one request frame: length, `RequestHeader{xid, op_code}`, body.
pub fn encode_request(out: &mut Vec<u8>, xid: i32, request: &Request) {
    let mut writer = Writer::new(out);
    let frame = writer.start_frame();
    RequestHeader {
        xid,
        op_code: request.op_code().value(),
    }
    .encode(&mut writer);
    request.encode_body(&mut writer);
    writer.finish_frame(frame);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn header_is_split_from_the_body() {
        let bytes = [0, 0, 0, 7, 0, 0, 0, 3, 0xaa];
        let (header, body) = split_request_header(&bytes).unwrap();
        assert_eq!(header, RequestHeader { xid: 7, op_code: 3 });
        assert_eq!(body, [0xaa]);
        assert_eq!(
            split_request_header(&bytes[..7]),
            Err(DecodeError::Incomplete)
        );
    }

    #[test]
    fn non_client_op_codes_are_unsupported() {
        for op_code in [0, -1, -10, 10, 23, 99, 108, i32::MIN] {
            assert_eq!(
                decode_request(op_code, &[]),
                Err(DecodeError::Invalid(Invalid::UnsupportedOpCode(op_code)))
            );
        }
    }

    #[test]
    fn bodiless_requests_ignore_extra_bytes() {
        assert_eq!(decode_request(11, &[1, 2, 3]), Ok(Request::Ping));
        assert_eq!(decode_request(-11, &[]), Ok(Request::CloseSession));
        assert_eq!(decode_request(107, &[]), Ok(Request::WhoAmI));
    }
}

//! `multi` (op 14) and `multiRead` (op 22): a sequence of operations, each introduced by a
//! `MultiHeader`, ended by the header `{type: -1, done: true, err: -1}`.
//!
//! A request sends each header with `done = false, err = -1`. `multi` carries writes (create,
//! create2, createContainer, createTTL, delete, setData, check) and `multiRead` carries reads
//! (getChildren, getData); ZooKeeper refuses a request that mixes the two kinds. The response
//! mirrors the request: one header and result per operation, with type -1 and an
//! `ErrorResponse` for an operation that failed, and the same end header.

use super::check::CheckVersionRequest;
use super::children::{GetChildrenRequest, GetChildrenResponse};
use super::create::{Create2Response, CreateMode, CreateRequest, CreateResponse, CreateTtlRequest};
use super::data::{GetDataRequest, GetDataResponse, SetDataRequest, SetDataResponse};
use super::delete::DeleteRequest;
use super::header::ErrorResponse;
use super::jute::{DecodeError, Invalid, Reader, Record, Writer};
use super::op_code::OpCode;

jute_record! {
    /// Introduces each operation of a multi request or response, and ends the sequence.
    #[derive(Copy)]
    pub struct MultiHeader {
        /// The operation's [`OpCode`] value, -1 for a failed result or the end (jute `type`).
        pub op_type: i32 as int,
        /// True only on the end header.
        pub done: bool as bool,
        /// -1 in requests and on the end header; the error code of a result.
        pub error_code: i32 as int,
    }
}

impl MultiHeader {
    /// The header that ends a multi request or response.
    pub const END: Self = Self {
        op_type: -1,
        done: true,
        error_code: -1,
    };

    /// The header in front of one request operation.
    pub fn operation(op_code: OpCode) -> Self {
        Self {
            op_type: op_code.value(),
            done: false,
            error_code: -1,
        }
    }
}

/// Whether an operation reads or writes; a multi request may hold only one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// Allowed in `multi`.
    Write,
    /// Allowed in `multiRead`.
    Read,
}

/// One operation of a multi request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOperation {
    /// `create` (1).
    Create(CreateRequest),
    /// `create2` (15).
    Create2(CreateRequest),
    /// `createContainer` (19).
    CreateContainer(CreateRequest),
    /// `createTTL` (21).
    CreateTtl(CreateTtlRequest),
    /// `delete` (2).
    Delete(DeleteRequest),
    /// `setData` (5).
    SetData(SetDataRequest),
    /// `check` (13).
    Check(CheckVersionRequest),
    /// `getChildren` (8); the `watch` flag is ignored by ZooKeeper.
    GetChildren(GetChildrenRequest),
    /// `getData` (4); the `watch` flag is ignored by ZooKeeper.
    GetData(GetDataRequest),
}

impl MultiOperation {
    /// The op code written in this operation's header.
    pub fn op_code(&self) -> OpCode {
        match self {
            Self::Create(_) => OpCode::Create,
            Self::Create2(_) => OpCode::Create2,
            Self::CreateContainer(_) => OpCode::CreateContainer,
            Self::CreateTtl(_) => OpCode::CreateTtl,
            Self::Delete(_) => OpCode::Delete,
            Self::SetData(_) => OpCode::SetData,
            Self::Check(_) => OpCode::Check,
            Self::GetChildren(_) => OpCode::GetChildren,
            Self::GetData(_) => OpCode::GetData,
        }
    }

    /// Whether this operation belongs in `multi` or in `multiRead`.
    pub fn kind(&self) -> OperationKind {
        match self {
            Self::GetChildren(_) | Self::GetData(_) => OperationKind::Read,
            _ => OperationKind::Write,
        }
    }

    /// The znode the operation acts on.
    pub fn path(&self) -> &str {
        match self {
            Self::Create(request) | Self::Create2(request) | Self::CreateContainer(request) => {
                &request.path
            }
            Self::CreateTtl(request) => &request.path,
            Self::Delete(request) => &request.path,
            Self::SetData(request) => &request.path,
            Self::Check(request) => &request.path,
            Self::GetChildren(request) => &request.path,
            Self::GetData(request) => &request.path,
        }
    }

    /// Decodes the record that follows a header of type `op_type`. `enclosing_op_code` is only
    /// used in the error.
    fn decode_body(
        op_type: i32,
        enclosing_op_code: i32,
        reader: &mut Reader<'_>,
    ) -> Result<Self, DecodeError> {
        let unexpected = Invalid::UnexpectedMultiOperation {
            enclosing_op_code,
            operation_type: op_type,
        };
        let op_code = OpCode::try_from(op_type).map_err(|_| unexpected.clone())?;
        let operation = match op_code {
            OpCode::Create => Self::Create(decode_create(reader)?),
            OpCode::Create2 => Self::Create2(decode_create(reader)?),
            OpCode::CreateContainer => Self::CreateContainer(decode_create(reader)?),
            OpCode::CreateTtl => Self::CreateTtl(reader.read_record()?),
            OpCode::Delete => Self::Delete(reader.read_record()?),
            OpCode::SetData => Self::SetData(reader.read_record()?),
            OpCode::Check => Self::Check(reader.read_record()?),
            OpCode::GetChildren => Self::GetChildren(reader.read_record()?),
            OpCode::GetData => Self::GetData(reader.read_record()?),
            _ => return Err(unexpected.into()),
        };
        Ok(operation)
    }

    fn encode_body(&self, writer: &mut Writer<'_>) {
        match self {
            Self::Create(request) | Self::Create2(request) | Self::CreateContainer(request) => {
                request.encode(writer);
            }
            Self::CreateTtl(request) => request.encode(writer),
            Self::Delete(request) => request.encode(writer),
            Self::SetData(request) => request.encode(writer),
            Self::Check(request) => request.encode(writer),
            Self::GetChildren(request) => request.encode(writer),
            Self::GetData(request) => request.encode(writer),
        }
    }
}

/// ZooKeeper checks the create mode while decoding a create inside a multi (not inside a lone
/// create, where a bad mode becomes `BadArguments` later), so a bad mode fails the whole request.
fn decode_create(reader: &mut Reader<'_>) -> Result<CreateRequest, DecodeError> {
    let request: CreateRequest = reader.read_record()?;
    if CreateMode::from_flags(request.flags).is_none() {
        return Err(Invalid::InvalidCreateFlags(request.flags).into());
    }
    Ok(request)
}

/// Request of `multi` and `multiRead` (jute-free in ZooKeeper: `MultiOperationRecord`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    /// The operations, in order; possibly none.
    pub operations: Vec<MultiOperation>,
}

impl MultiRequest {
    /// The kind shared by every operation, or `None` for an empty request.
    pub fn kind(&self) -> Option<OperationKind> {
        self.operations.first().map(MultiOperation::kind)
    }

    /// Decodes a request sent with op code `enclosing` (`Multi` or `MultiRead`), refusing any
    /// operation of the other kind.
    pub fn decode_for(enclosing: OpCode, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let allowed = if enclosing == OpCode::MultiRead {
            OperationKind::Read
        } else {
            OperationKind::Write
        };
        Self::decode_checked(enclosing.value(), Some(allowed), reader)
    }

    fn decode_checked(
        enclosing_op_code: i32,
        allowed: Option<OperationKind>,
        reader: &mut Reader<'_>,
    ) -> Result<Self, DecodeError> {
        let mut operations: Vec<MultiOperation> = Vec::new();
        // Each pass consumes at least one 9-byte header, so the loop ends with the input.
        loop {
            let header: MultiHeader = reader.read_record()?;
            if header.done {
                return Ok(Self { operations });
            }
            let operation = MultiOperation::decode_body(header.op_type, enclosing_op_code, reader)?;
            let expected = allowed.or_else(|| operations.first().map(MultiOperation::kind));
            if expected.is_some_and(|kind| kind != operation.kind()) {
                return Err(Invalid::UnexpectedMultiOperation {
                    enclosing_op_code,
                    operation_type: header.op_type,
                }
                .into());
            }
            operations.push(operation);
        }
    }
}

impl Record for MultiRequest {
    /// Just the end header.
    const MIN_ENCODED_LEN: usize = MultiHeader::MIN_ENCODED_LEN;

    /// Decodes either kind (the kind of the first operation), refusing a mix, as ZooKeeper's
    /// `MultiOperationRecord` does. [`MultiRequest::decode_for`] also checks the kind against
    /// the op code.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_checked(OpCode::Multi.value(), None, reader)
    }

    fn encode(&self, writer: &mut Writer<'_>) {
        for operation in &self.operations {
            MultiHeader::operation(operation.op_code()).encode(writer);
            operation.encode_body(writer);
        }
        MultiHeader::END.encode(writer);
    }
}

/// The result of one operation in a multi response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// Header type 1: the created path.
    Create(CreateResponse),
    /// Header type 15: the created path and stat (also for createContainer and createTTL).
    Create2(Create2Response),
    /// Header type 2: no body (also for deleteContainer).
    Delete,
    /// Header type 5: the new stat.
    SetData(SetDataResponse),
    /// Header type 13: no body.
    Check,
    /// Header type 8: the child names.
    GetChildren(GetChildrenResponse),
    /// Header type 4: data and stat.
    GetData(GetDataResponse),
    /// Header type -1 with `err` = the code, then `ErrorResponse` with the same code. When one
    /// write of a `multi` fails, every result is an error: 0 for the operations before it, its
    /// own code for it, `RuntimeInconsistency` (-2) for those after it. In `multiRead` each read
    /// fails or succeeds on its own.
    Error(ErrorResponse),
}

impl MultiResult {
    /// The result header: type and error code (`done` is false).
    pub fn header(&self) -> MultiHeader {
        let (op_code, error_code) = match self {
            Self::Create(_) => (OpCode::Create, 0),
            Self::Create2(_) => (OpCode::Create2, 0),
            Self::Delete => (OpCode::Delete, 0),
            Self::SetData(_) => (OpCode::SetData, 0),
            Self::Check => (OpCode::Check, 0),
            Self::GetChildren(_) => (OpCode::GetChildren, 0),
            Self::GetData(_) => (OpCode::GetData, 0),
            Self::Error(response) => (OpCode::Error, response.error_code),
        };
        MultiHeader {
            op_type: op_code.value(),
            done: false,
            error_code,
        }
    }

    fn decode_body(op_type: i32, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let unknown = Invalid::UnknownMultiResultType(op_type);
        let result = match OpCode::try_from(op_type).map_err(|_| unknown.clone())? {
            OpCode::Create => Self::Create(reader.read_record()?),
            OpCode::Create2 => Self::Create2(reader.read_record()?),
            OpCode::Delete => Self::Delete,
            OpCode::SetData => Self::SetData(reader.read_record()?),
            OpCode::Check => Self::Check,
            OpCode::GetChildren => Self::GetChildren(reader.read_record()?),
            OpCode::GetData => Self::GetData(reader.read_record()?),
            OpCode::Error => Self::Error(reader.read_record()?),
            _ => return Err(unknown.into()),
        };
        Ok(result)
    }

    fn encode_body(&self, writer: &mut Writer<'_>) {
        match self {
            Self::Create(response) => response.encode(writer),
            Self::Create2(response) => response.encode(writer),
            Self::Delete | Self::Check => {}
            Self::SetData(response) => response.encode(writer),
            Self::GetChildren(response) => response.encode(writer),
            Self::GetData(response) => response.encode(writer),
            Self::Error(response) => response.encode(writer),
        }
    }
}

/// Reply to `multi` and `multiRead`. ZooKeeper sends it with `ReplyHeader.error_code` 0 even
/// when an operation failed: the failure is in the results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    /// One result per operation, in order.
    pub results: Vec<MultiResult>,
}

impl Record for MultiResponse {
    /// Just the end header.
    const MIN_ENCODED_LEN: usize = MultiHeader::MIN_ENCODED_LEN;

    /// Reads results until a header with `done` set. For a failed result the code is taken from
    /// the `ErrorResponse`, not from the header, as ZooKeeper's client does.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut results = Vec::new();
        loop {
            let header: MultiHeader = reader.read_record()?;
            if header.done {
                return Ok(Self { results });
            }
            results.push(MultiResult::decode_body(header.op_type, reader)?);
        }
    }

    fn encode(&self, writer: &mut Writer<'_>) {
        for result in &self.results {
            result.header().encode(writer);
            result.encode_body(writer);
        }
        MultiHeader::END.encode(writer);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn delete(path: &str) -> MultiOperation {
        MultiOperation::Delete(DeleteRequest {
            path: path.to_owned(),
            version: -1,
        })
    }

    fn get_data(path: &str) -> MultiOperation {
        MultiOperation::GetData(GetDataRequest {
            path: path.to_owned(),
            watch: false,
        })
    }

    #[test]
    fn empty_request_is_just_the_end_header() {
        let bytes = MultiRequest::default().to_bytes();
        assert_eq!(bytes, [0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            MultiRequest::decode_from(&bytes).unwrap(),
            MultiRequest::default()
        );
    }

    #[test]
    fn kinds_may_not_mix() {
        let mixed = MultiRequest {
            operations: vec![delete("/a"), get_data("/b")],
        };
        let error = MultiRequest::decode_from(&mixed.to_bytes()).unwrap_err();
        assert_eq!(
            error,
            DecodeError::Invalid(Invalid::UnexpectedMultiOperation {
                enclosing_op_code: 14,
                operation_type: 4
            })
        );
    }

    #[test]
    fn kind_must_match_the_op_code() {
        let reads = MultiRequest {
            operations: vec![get_data("/b")],
        };
        let bytes = reads.to_bytes();
        assert!(MultiRequest::decode_for(OpCode::Multi, &mut Reader::new(&bytes)).is_err());
        let decoded = MultiRequest::decode_for(OpCode::MultiRead, &mut Reader::new(&bytes));
        assert_eq!(decoded.unwrap(), reads);
    }

    #[test]
    fn create_flags_are_checked_inside_a_multi() {
        let create = CreateRequest {
            path: "/a".to_owned(),
            flags: 9,
            ..CreateRequest::default()
        };
        let request = MultiRequest {
            operations: vec![MultiOperation::Create(create)],
        };
        assert_eq!(
            MultiRequest::decode_from(&request.to_bytes()),
            Err(DecodeError::Invalid(Invalid::InvalidCreateFlags(9)))
        );
    }

    #[test]
    fn error_results_carry_their_code_twice() {
        let response = MultiResponse {
            results: vec![MultiResult::Error(ErrorResponse { error_code: -101 })],
        };
        let bytes = response.to_bytes();
        let expected_start = [0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b];
        assert_eq!(bytes.get(..9), Some(&expected_start[..]));
        assert_eq!(bytes.get(9..13), Some(&[0xff, 0xff, 0xff, 0x9b][..]));
        assert_eq!(MultiResponse::decode_from(&bytes).unwrap(), response);
    }
}

//! The ZooKeeper 3.9 client wire protocol as pure codecs: bytes in, typed values out, and back.
//! No I/O, no sessions, no policy: those belong to the connection and pipeline layers.
//!
//! The byte layouts are specified in `server/PROTOCOL.md`. Layers, bottom up:
//! - [`jute`]: big-endian primitives, the [`Record`] trait, [`DecodeError`];
//! - [`frame`]: the `i32` length prefix and the `jute.maxbuffer` limit;
//! - [`four_letter`]: administrative words in place of a first frame;
//! - one module per record family (`connect`, `create`, `multi`, ...), plus the code tables
//!   ([`op_code`], [`error_code`], [`xid`], create modes, watch modes, permissions);
//! - [`request`] and [`response`]: the typed [`Request`]/[`Response`] enums, [`decode_request`]
//!   (what the fuzzer drives) and the reply frame writers.
//!
//! Decoders never panic and never allocate more than their input could hold.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

#[macro_use]
mod macros;

pub mod acl;
pub mod auth;
pub mod check;
pub mod children;
pub mod connect;
pub mod create;
pub mod data;
pub mod delete;
pub mod ephemerals;
pub mod error_code;
pub mod event;
pub mod exists;
pub mod four_letter;
pub mod frame;
pub mod fuzzing;
pub mod header;
pub mod jute;
pub mod multi;
pub mod op_code;
pub mod reconfig;
pub mod request;
pub mod response;
pub mod stat;
pub mod sync;
pub mod watch;
pub mod who_am_i;
pub mod xid;

pub use acl::{perms, Acl, GetAclRequest, GetAclResponse, Id, SetAclRequest, SetAclResponse};
pub use auth::{AuthPacket, SaslRequest, SaslResponse};
pub use check::CheckVersionRequest;
pub use children::{
    GetAllChildrenNumberRequest, GetAllChildrenNumberResponse, GetChildren2Request,
    GetChildren2Response, GetChildrenRequest, GetChildrenResponse,
};
pub use connect::{ConnectRequest, ConnectResponse};
pub use create::{Create2Response, CreateMode, CreateRequest, CreateResponse, CreateTtlRequest};
pub use data::{GetDataRequest, GetDataResponse, SetDataRequest, SetDataResponse};
pub use delete::{DeleteContainerRequest, DeleteRequest};
pub use ephemerals::{GetEphemeralsRequest, GetEphemeralsResponse};
pub use error_code::ErrorCode;
pub use event::{EventType, KeeperState, WatcherEvent};
pub use exists::{ExistsRequest, ExistsResponse};
pub use four_letter::FourLetterWord;
pub use frame::{decode_frame, encode_frame, FrameDecode, DEFAULT_MAX_FRAME_LEN};
pub use header::{ErrorResponse, ReplyHeader, RequestHeader};
pub use jute::{DecodeError, Invalid, Reader, Record, Writer};
pub use multi::{
    MultiHeader, MultiOperation, MultiRequest, MultiResponse, MultiResult, OperationKind,
};
pub use op_code::OpCode;
pub use reconfig::ReconfigRequest;
pub use request::{decode_request, encode_request, split_request_header, Request};
pub use response::{
    decode_response, encode_connect_response, encode_notification, encode_ping_reply, encode_reply,
    split_reply_header, Response,
};
pub use stat::Stat;
pub use sync::{SyncRequest, SyncResponse};
pub use watch::{
    AddWatchMode, AddWatchRequest, CheckWatchesRequest, RemoveWatchesRequest, SetWatches,
    SetWatches2, WatcherType,
};
pub use who_am_i::{ClientInfo, WhoAmIResponse};

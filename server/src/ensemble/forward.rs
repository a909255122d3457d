//! What a follower's server layer sends its leader inside `Message::Forward` (layout in
//! `FORWARD.md`): client writes to prepare and propose, and which sessions are alive.

use zk_engine::tree::prepare::Request as WriteRequest;
use zk_engine::txn::{Acl, CreateMode};

use crate::auth::{AuthId, Identity};
use crate::proto::jute::{DecodeError, Reader, Writer};

const FORWARD_VERSION: u8 = 1;

/// A forward that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A field did not decode.
    #[error("a forwarded message does not decode: {0}")]
    Jute(#[from] DecodeError),
    /// The fields decode but make no sense.
    #[error("a forwarded message is invalid: {0}")]
    Invalid(String),
}
const KIND_WRITE: u8 = 1;
const KIND_TOUCH: u8 = 2;
const KIND_SYNC: u8 = 3;
const REPLY_SYNC_DONE: u8 = 1;

/// A follower's message to its leader's server layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Forward {
    /// A client's write, to be prepared and proposed by the leader.
    Write {
        /// The client's session.
        session_id: i64,
        /// The request's xid (the transaction's cxid).
        cxid: i32,
        /// Who asked (ACLs are checked by the leader); `None` for the server itself.
        identity: Option<Identity>,
        /// The write.
        request: WriteRequest,
    },
    /// Sessions whose clients were heard from on the follower since the last touch.
    Touch {
        /// Session ids.
        sessions: Vec<i64>,
    },
    /// A client's `sync`: the leader answers with its committed zxid, after every commit it
    /// sent before.
    Sync {
        /// Chosen by the follower.
        id: u64,
    },
}

/// A leader's answer to a follower's server layer, inside `Message::Reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The answer to `Forward::Sync`.
    SyncDone {
        /// The sync's id.
        id: u64,
        /// The leader's committed zxid when the sync reached it.
        zxid: zk_engine::Zxid,
    },
}

/// Encodes `reply`.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut out = vec![FORWARD_VERSION];
    let mut writer = Writer::new(&mut out);
    match reply {
        Reply::SyncDone { id, zxid } => {
            writer.write_bytes(&[REPLY_SYNC_DONE]);
            writer.write_long(*id as i64);
            writer.write_long(zxid.0 as i64);
        }
    }
    out
}

/// Decodes a reply; any malformed input is an error.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, ForwardError> {
    let mut reader = Reader::new(bytes);
    let header = reader.read_bytes(2)?;
    if header[0] != FORWARD_VERSION {
        return Err(ForwardError::Invalid(format!(
            "reply version {} (this server speaks {FORWARD_VERSION})",
            header[0]
        )));
    }
    let reply = match header[1] {
        REPLY_SYNC_DONE => Reply::SyncDone {
            id: reader.read_long()? as u64,
            zxid: zk_engine::Zxid(reader.read_long()? as u64),
        },
        other => return Err(ForwardError::Invalid(format!("reply kind {other}"))),
    };
    if !reader.is_empty() {
        return Err(ForwardError::Invalid(format!(
            "{} bytes after a reply",
            reader.remaining_len()
        )));
    }
    Ok(reply)
}

/// Encodes `forward`.
pub fn encode(forward: &Forward) -> Vec<u8> {
    let mut out = vec![FORWARD_VERSION];
    let mut writer = Writer::new(&mut out);
    match forward {
        Forward::Write {
            session_id,
            cxid,
            identity,
            request,
        } => {
            writer.write_bytes(&[KIND_WRITE]);
            writer.write_long(*session_id);
            writer.write_int(*cxid);
            match identity {
                None => writer.write_int(-1),
                Some(identity) => {
                    writer.write_int(identity.ids.len() as i32);
                    for id in &identity.ids {
                        writer.write_string(&id.scheme);
                        writer.write_string(&id.id);
                    }
                    writer.write_bool(identity.is_super);
                }
            }
            write_request(&mut writer, request);
        }
        Forward::Sync { id } => {
            writer.write_bytes(&[KIND_SYNC]);
            writer.write_long(*id as i64);
        }
        Forward::Touch { sessions } => {
            writer.write_bytes(&[KIND_TOUCH]);
            writer.write_int(sessions.len() as i32);
            for session in sessions {
                writer.write_long(*session);
            }
        }
    }
    out
}

/// Decodes a forward; any malformed input is an error.
pub fn decode(bytes: &[u8]) -> Result<Forward, ForwardError> {
    let mut reader = Reader::new(bytes);
    let header = reader.read_bytes(2)?;
    if header[0] != FORWARD_VERSION {
        return Err(ForwardError::Invalid(format!(
            "forward version {} (this server speaks {FORWARD_VERSION})",
            header[0]
        )));
    }
    let forward = match header[1] {
        KIND_WRITE => {
            let session_id = reader.read_long()?;
            let cxid = reader.read_int()?;
            let count = reader.read_int()?;
            let identity = if count < 0 {
                None
            } else {
                let mut ids = Vec::new();
                for _ in 0..count {
                    let scheme = reader.read_string()?;
                    let id = reader.read_string()?;
                    ids.push(AuthId { scheme, id });
                }
                let is_super = reader.read_bool()?;
                Some(Identity { ids, is_super })
            };
            let request = read_request(&mut reader, 0)?;
            Forward::Write {
                session_id,
                cxid,
                identity,
                request,
            }
        }
        KIND_TOUCH => {
            let count = reader.read_int()?;
            let count = usize::try_from(count)
                .map_err(|_| ForwardError::Invalid(format!("{count} sessions")))?;
            if count > reader.remaining_len() / 8 {
                return Err(ForwardError::Invalid(format!(
                    "{count} sessions in too few bytes"
                )));
            }
            let mut sessions = Vec::with_capacity(count);
            for _ in 0..count {
                sessions.push(reader.read_long()?);
            }
            Forward::Touch { sessions }
        }
        KIND_SYNC => Forward::Sync {
            id: reader.read_long()? as u64,
        },
        other => return Err(ForwardError::Invalid(format!("forward kind {other}"))),
    };
    if !reader.is_empty() {
        return Err(ForwardError::Invalid(format!(
            "{} bytes after a forward",
            reader.remaining_len()
        )));
    }
    Ok(forward)
}

fn write_acl(writer: &mut Writer<'_>, acl: &[Acl]) {
    writer.write_int(acl.len() as i32);
    for entry in acl {
        writer.write_int(entry.perms);
        writer.write_string(&entry.scheme);
        writer.write_string(&entry.id);
    }
}

fn read_acl(reader: &mut Reader<'_>) -> Result<Vec<Acl>, ForwardError> {
    let count = reader.read_int()?;
    let count = usize::try_from(count)
        .map_err(|_| ForwardError::Invalid(format!("{count} ACL entries")))?;
    let mut acl = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let perms = reader.read_int()?;
        let scheme = reader.read_string()?;
        let id = reader.read_string()?;
        acl.push(Acl { perms, scheme, id });
    }
    Ok(acl)
}

fn write_mode(writer: &mut Writer<'_>, mode: CreateMode) {
    let (flag, ttl) = match mode {
        CreateMode::Persistent => (0, 0),
        CreateMode::Ephemeral => (1, 0),
        CreateMode::PersistentSequential => (2, 0),
        CreateMode::EphemeralSequential => (3, 0),
        CreateMode::Container => (4, 0),
        CreateMode::PersistentWithTtl { ttl_ms } => (5, ttl_ms),
        CreateMode::PersistentSequentialWithTtl { ttl_ms } => (6, ttl_ms),
    };
    writer.write_int(flag);
    writer.write_long(ttl);
}

fn read_mode(reader: &mut Reader<'_>) -> Result<CreateMode, ForwardError> {
    let flag = reader.read_int()?;
    let ttl_ms = reader.read_long()?;
    Ok(match flag {
        0 => CreateMode::Persistent,
        1 => CreateMode::Ephemeral,
        2 => CreateMode::PersistentSequential,
        3 => CreateMode::EphemeralSequential,
        4 => CreateMode::Container,
        5 => CreateMode::PersistentWithTtl { ttl_ms },
        6 => CreateMode::PersistentSequentialWithTtl { ttl_ms },
        other => return Err(ForwardError::Invalid(format!("create mode {other}"))),
    })
}

fn write_request(writer: &mut Writer<'_>, request: &WriteRequest) {
    match request {
        WriteRequest::Create {
            path,
            data,
            acl,
            mode,
        } => {
            writer.write_int(1);
            writer.write_string(path);
            writer.write_buffer(data.as_deref());
            write_acl(writer, acl);
            write_mode(writer, *mode);
        }
        WriteRequest::Delete { path, version } => {
            writer.write_int(2);
            writer.write_string(path);
            writer.write_int(*version);
        }
        WriteRequest::DeleteContainer { path } => {
            writer.write_int(3);
            writer.write_string(path);
        }
        WriteRequest::SetData {
            path,
            data,
            version,
        } => {
            writer.write_int(4);
            writer.write_string(path);
            writer.write_buffer(data.as_deref());
            writer.write_int(*version);
        }
        WriteRequest::SetAcl { path, acl, version } => {
            writer.write_int(5);
            writer.write_string(path);
            write_acl(writer, acl);
            writer.write_int(*version);
        }
        WriteRequest::Check { path, version } => {
            writer.write_int(6);
            writer.write_string(path);
            writer.write_int(*version);
        }
        WriteRequest::Multi(requests) => {
            writer.write_int(7);
            writer.write_int(requests.len() as i32);
            for request in requests {
                write_request(writer, request);
            }
        }
        WriteRequest::CreateSession { timeout_ms } => {
            writer.write_int(8);
            writer.write_int(*timeout_ms);
        }
        WriteRequest::CloseSession => writer.write_int(9),
    }
}

fn read_request(reader: &mut Reader<'_>, depth: u32) -> Result<WriteRequest, ForwardError> {
    Ok(match reader.read_int()? {
        1 => WriteRequest::Create {
            path: reader.read_string()?,
            data: reader.read_buffer()?,
            acl: read_acl(reader)?,
            mode: read_mode(reader)?,
        },
        2 => WriteRequest::Delete {
            path: reader.read_string()?,
            version: reader.read_int()?,
        },
        3 => WriteRequest::DeleteContainer {
            path: reader.read_string()?,
        },
        4 => WriteRequest::SetData {
            path: reader.read_string()?,
            data: reader.read_buffer()?,
            version: reader.read_int()?,
        },
        5 => WriteRequest::SetAcl {
            path: reader.read_string()?,
            acl: read_acl(reader)?,
            version: reader.read_int()?,
        },
        6 => WriteRequest::Check {
            path: reader.read_string()?,
            version: reader.read_int()?,
        },
        7 if depth == 0 => {
            let count = reader.read_int()?;
            let count = usize::try_from(count)
                .map_err(|_| ForwardError::Invalid(format!("{count} operations")))?;
            let mut requests = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                requests.push(read_request(reader, depth + 1)?);
            }
            WriteRequest::Multi(requests)
        }
        8 => WriteRequest::CreateSession {
            timeout_ms: reader.read_int()?,
        },
        9 => WriteRequest::CloseSession,
        other => return Err(ForwardError::Invalid(format!("write kind {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Forward> {
        let create = WriteRequest::Create {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: vec![Acl::new(31, "world", "anyone")],
            mode: CreateMode::PersistentSequentialWithTtl { ttl_ms: 5000 },
        };
        vec![
            Forward::Write {
                session_id: 0x1234,
                cxid: 7,
                identity: Some(Identity {
                    ids: vec![AuthId {
                        scheme: "ip".into(),
                        id: "127.0.0.1".into(),
                    }],
                    is_super: false,
                }),
                request: WriteRequest::Multi(vec![
                    create.clone(),
                    WriteRequest::Check {
                        path: "/a".into(),
                        version: 3,
                    },
                    WriteRequest::SetData {
                        path: "/b".into(),
                        data: None,
                        version: -1,
                    },
                ]),
            },
            Forward::Write {
                session_id: 1,
                cxid: 0,
                identity: None,
                request: WriteRequest::CreateSession { timeout_ms: 4000 },
            },
            Forward::Write {
                session_id: 1,
                cxid: 2,
                identity: None,
                request: WriteRequest::SetAcl {
                    path: "/c".into(),
                    acl: Vec::new(),
                    version: 1,
                },
            },
            Forward::Touch {
                sessions: vec![1, 2, 3],
            },
            Forward::Sync { id: 99 },
        ]
    }

    #[test]
    fn forwards_round_trip() {
        for forward in samples() {
            assert_eq!(decode(&encode(&forward)).expect("decodes"), forward);
        }
    }

    #[test]
    fn replies_round_trip_and_cuts_fail() {
        let reply = Reply::SyncDone {
            id: 5,
            zxid: zk_engine::Zxid(0x3_0000_0007),
        };
        let bytes = encode_reply(&reply);
        assert_eq!(decode_reply(&bytes).expect("decodes"), reply);
        for len in 0..bytes.len() {
            assert!(decode_reply(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn every_cut_is_an_error() {
        for forward in samples() {
            let bytes = encode(&forward);
            for len in 0..bytes.len() {
                assert!(
                    decode(&bytes[..len]).is_err(),
                    "cut at {len} of {forward:?}"
                );
            }
        }
    }
}

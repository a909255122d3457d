//! Byte encoding of a [`Txn`] (`engine/FORMAT-TXN.md`): a format-version byte, the header, then
//! the body as a kind byte and its fields; integers little-endian, byte strings prefixed by their
//! u32 length. The decoder takes any bytes and returns a typed error, never panics, and never
//! allocates more than the input could hold.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use super::{Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader, TTL_MAX_MS};
use crate::zxid::Zxid;

/// The format version this build writes and reads (first byte of every encoded transaction).
pub const TXN_FORMAT_VERSION: u8 = 1;

/// Length of the version byte plus the header.
pub const TXN_HEADER_LEN: usize = 29;

/// Body kinds (FORMAT-TXN.md, section 3).
pub mod kind {
    /// [`TxnBody::Create`](crate::txn::TxnBody::Create).
    pub const CREATE: u8 = 1;
    /// [`TxnBody::Delete`](crate::txn::TxnBody::Delete).
    pub const DELETE: u8 = 2;
    /// [`TxnBody::SetData`](crate::txn::TxnBody::SetData).
    pub const SET_DATA: u8 = 3;
    /// [`TxnBody::SetAcl`](crate::txn::TxnBody::SetAcl).
    pub const SET_ACL: u8 = 4;
    /// [`TxnBody::Check`](crate::txn::TxnBody::Check).
    pub const CHECK: u8 = 5;
    /// [`TxnBody::Multi`](crate::txn::TxnBody::Multi).
    pub const MULTI: u8 = 6;
    /// [`TxnBody::CreateSession`](crate::txn::TxnBody::CreateSession).
    pub const CREATE_SESSION: u8 = 7;
    /// [`TxnBody::CloseSession`](crate::txn::TxnBody::CloseSession).
    pub const CLOSE_SESSION: u8 = 8;
    /// [`TxnBody::Error`](crate::txn::TxnBody::Error).
    pub const ERROR: u8 = 9;
}

/// Why bytes are not a valid encoded transaction. Offsets count from the first byte given to
/// [`decode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxnDecodeError {
    /// The bytes end inside a field.
    #[error("transaction truncated: {needed} more bytes needed at offset {offset}")]
    Truncated {
        /// Where the field starts.
        offset: usize,
        /// How many bytes it needs beyond the end of the input.
        needed: usize,
    },
    /// The first byte is not a format version this build reads.
    #[error("transaction format version {found} is not supported (this build reads {TXN_FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        found: u8,
    },
    /// A body kind byte is unknown.
    #[error("unknown transaction kind {kind} at offset {offset}")]
    UnknownKind {
        /// Offset of the kind byte.
        offset: usize,
        /// The kind found.
        kind: u8,
    },
    /// A multi holds an operation that cannot be part of a multi (a multi, a session or ACL
    /// change).
    #[error("transaction kind {kind} at offset {offset} is not allowed inside a multi")]
    NotAllowedInMulti {
        /// Offset of the kind byte.
        offset: usize,
        /// The kind found.
        kind: u8,
    },
    /// A path, scheme or id is not UTF-8.
    #[error("string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the string's length prefix.
        offset: usize,
    },
    /// A create mode byte is unknown.
    #[error("unknown create mode {flag} at offset {offset}")]
    InvalidCreateMode {
        /// Offset of the mode byte.
        offset: usize,
        /// The mode found.
        flag: u8,
    },
    /// A TTL is outside `1..=TTL_MAX_MS`.
    #[error("TTL {ttl_ms} ms at offset {offset} is out of range")]
    InvalidTtl {
        /// Offset of the TTL field.
        offset: usize,
        /// The TTL found.
        ttl_ms: i64,
    },
    /// Bytes remain after the transaction.
    #[error("{count} unexpected bytes after the transaction at offset {offset}")]
    TrailingBytes {
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
}

/// Encodes a transaction (FORMAT-TXN.md).
///
/// # Panics
/// If a string, byte string or list is longer than `u32::MAX` (it could not be decoded), or if a
/// multi holds an operation that is not allowed in a multi: both are programming errors.
pub fn encode(txn: &Txn) -> Vec<u8> {
    let mut out = Vec::with_capacity(TXN_HEADER_LEN + 64);
    encode_into(&mut out, txn);
    out
}

/// Appends the encoding of `txn` to `out`. See [`encode`].
pub fn encode_into(out: &mut Vec<u8>, txn: &Txn) {
    out.push(TXN_FORMAT_VERSION);
    out.extend_from_slice(&txn.header.session_id.to_le_bytes());
    out.extend_from_slice(&txn.header.cxid.to_le_bytes());
    out.extend_from_slice(&txn.header.zxid.0.to_le_bytes());
    out.extend_from_slice(&txn.header.time_ms.to_le_bytes());
    encode_body(out, &txn.body, false);
}

fn encode_body(out: &mut Vec<u8>, body: &TxnBody, in_multi: bool) {
    assert!(
        !in_multi || body.allowed_in_multi(),
        "a multi may not hold {body:?}"
    );
    match body {
        TxnBody::Create(create) => {
            out.push(kind::CREATE);
            put_bytes(out, create.path.as_bytes());
            put_data(out, create.data.as_deref());
            put_acl(out, &create.acl);
            out.push(create.mode.flag());
            if let Some(ttl_ms) = create.mode.ttl_ms() {
                out.extend_from_slice(&ttl_ms.to_le_bytes());
            }
            out.extend_from_slice(&create.parent_cversion.to_le_bytes());
        }
        TxnBody::Delete { path } => {
            out.push(kind::DELETE);
            put_bytes(out, path.as_bytes());
        }
        TxnBody::SetData {
            path,
            data,
            version,
        } => {
            out.push(kind::SET_DATA);
            put_bytes(out, path.as_bytes());
            put_data(out, data.as_deref());
            out.extend_from_slice(&version.to_le_bytes());
        }
        TxnBody::SetAcl { path, acl, version } => {
            out.push(kind::SET_ACL);
            put_bytes(out, path.as_bytes());
            put_acl(out, acl);
            out.extend_from_slice(&version.to_le_bytes());
        }
        TxnBody::Check { path, version } => {
            out.push(kind::CHECK);
            put_bytes(out, path.as_bytes());
            out.extend_from_slice(&version.to_le_bytes());
        }
        TxnBody::Multi(ops) => {
            out.push(kind::MULTI);
            put_count(out, ops.len());
            for op in ops {
                encode_body(out, op, true);
            }
        }
        TxnBody::CreateSession { timeout_ms } => {
            out.push(kind::CREATE_SESSION);
            out.extend_from_slice(&timeout_ms.to_le_bytes());
        }
        TxnBody::CloseSession { paths } => {
            out.push(kind::CLOSE_SESSION);
            put_count(out, paths.len());
            for path in paths {
                put_bytes(out, path.as_bytes());
            }
        }
        TxnBody::Error { code } => {
            out.push(kind::ERROR);
            out.extend_from_slice(&code.to_le_bytes());
        }
    }
}

fn put_count(out: &mut Vec<u8>, count: usize) {
    let count = u32::try_from(count).expect("a transaction list longer than u32::MAX");
    out.extend_from_slice(&count.to_le_bytes());
}

/// Length of a data field that is null (ZooKeeper distinguishes null data from empty data).
pub const NULL_DATA_LEN: u32 = u32::MAX;

fn put_data(out: &mut Vec<u8>, data: Option<&[u8]>) {
    match data {
        Some(bytes) => put_bytes(out, bytes),
        None => out.extend_from_slice(&NULL_DATA_LEN.to_le_bytes()),
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_count(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_acl(out: &mut Vec<u8>, acl: &[Acl]) {
    put_count(out, acl.len());
    for entry in acl {
        out.extend_from_slice(&entry.perms.to_le_bytes());
        put_bytes(out, entry.scheme.as_bytes());
        put_bytes(out, entry.id.as_bytes());
    }
}

/// Decodes one transaction that fills `bytes` exactly.
pub fn decode(bytes: &[u8]) -> Result<Txn, TxnDecodeError> {
    let mut reader = Reader { bytes, offset: 0 };
    let version = reader.u8()?;
    if version != TXN_FORMAT_VERSION {
        return Err(TxnDecodeError::UnsupportedVersion { found: version });
    }
    let header = TxnHeader {
        session_id: reader.i64()?,
        cxid: reader.i32()?,
        zxid: Zxid(reader.u64()?),
        time_ms: reader.i64()?,
    };
    let body = decode_body(&mut reader, false)?;
    let rest = bytes.len().saturating_sub(reader.offset);
    if rest != 0 {
        return Err(TxnDecodeError::TrailingBytes {
            offset: reader.offset,
            count: rest,
        });
    }
    Ok(Txn { header, body })
}

fn decode_body(reader: &mut Reader<'_>, in_multi: bool) -> Result<TxnBody, TxnDecodeError> {
    let kind_offset = reader.offset;
    let kind = reader.u8()?;
    if in_multi
        && !matches!(
            kind,
            kind::CREATE | kind::DELETE | kind::SET_DATA | kind::CHECK | kind::ERROR
        )
    {
        return Err(TxnDecodeError::NotAllowedInMulti {
            offset: kind_offset,
            kind,
        });
    }
    let body = match kind {
        kind::CREATE => {
            let path = reader.string()?;
            let data = reader.data()?;
            let acl = reader.acl()?;
            let mode_offset = reader.offset;
            let flag = reader.u8()?;
            let mode = match flag {
                0..=4 => CreateMode::from_flag(i32::from(flag), 0),
                5 | 6 => {
                    let ttl_offset = reader.offset;
                    let ttl_ms = reader.i64()?;
                    if !(1..=TTL_MAX_MS).contains(&ttl_ms) {
                        return Err(TxnDecodeError::InvalidTtl {
                            offset: ttl_offset,
                            ttl_ms,
                        });
                    }
                    CreateMode::from_flag(i32::from(flag), ttl_ms)
                }
                _ => None,
            }
            .ok_or(TxnDecodeError::InvalidCreateMode {
                offset: mode_offset,
                flag,
            })?;
            let parent_cversion = reader.i32()?;
            TxnBody::Create(CreateTxn {
                path,
                data,
                acl,
                mode,
                parent_cversion,
            })
        }
        kind::DELETE => TxnBody::Delete {
            path: reader.string()?,
        },
        kind::SET_DATA => TxnBody::SetData {
            path: reader.string()?,
            data: reader.data()?,
            version: reader.i32()?,
        },
        kind::SET_ACL => TxnBody::SetAcl {
            path: reader.string()?,
            acl: reader.acl()?,
            version: reader.i32()?,
        },
        kind::CHECK => TxnBody::Check {
            path: reader.string()?,
            version: reader.i32()?,
        },
        kind::MULTI => {
            let count = reader.u32()?;
            // No pre-allocation from an untrusted count: each operation takes at least 5 bytes,
            // so the input bounds the loop.
            let mut ops = Vec::new();
            for _ in 0..count {
                ops.push(decode_body(reader, true)?);
            }
            TxnBody::Multi(ops)
        }
        kind::CREATE_SESSION => TxnBody::CreateSession {
            timeout_ms: reader.i32()?,
        },
        kind::CLOSE_SESSION => {
            let count = reader.u32()?;
            let mut paths = Vec::new();
            for _ in 0..count {
                paths.push(reader.string()?);
            }
            TxnBody::CloseSession { paths }
        }
        kind::ERROR => TxnBody::Error {
            code: reader.i32()?,
        },
        _ => {
            return Err(TxnDecodeError::UnknownKind {
                offset: kind_offset,
                kind,
            })
        }
    };
    Ok(body)
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], TxnDecodeError> {
        let available = self.bytes.len().saturating_sub(self.offset);
        let field = self
            .offset
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.offset..end))
            .ok_or(TxnDecodeError::Truncated {
                offset: self.offset,
                needed: len.saturating_sub(available),
            })?;
        self.offset += len;
        Ok(field)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TxnDecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, TxnDecodeError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, TxnDecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, TxnDecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, TxnDecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, TxnDecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn bytes(&mut self) -> Result<&'a [u8], TxnDecodeError> {
        let len = self.u32()?;
        // A u32 always fits in usize on the 32- and 64-bit targets we build for; saturate anyway
        // so that an impossible length is reported as truncation.
        self.take(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// A data field: bytes, or null when the length is [`NULL_DATA_LEN`].
    fn data(&mut self) -> Result<Option<Vec<u8>>, TxnDecodeError> {
        let start = self.offset;
        if self.u32()? == NULL_DATA_LEN {
            return Ok(None);
        }
        self.offset = start;
        Ok(Some(self.bytes()?.to_vec()))
    }

    fn string(&mut self) -> Result<String, TxnDecodeError> {
        let offset = self.offset;
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| TxnDecodeError::InvalidUtf8 { offset })
    }

    fn acl(&mut self) -> Result<Vec<Acl>, TxnDecodeError> {
        let count = self.u32()?;
        let mut acl = Vec::new();
        for _ in 0..count {
            acl.push(Acl {
                perms: self.i32()?,
                scheme: self.string()?,
                id: self.string()?,
            });
        }
        Ok(acl)
    }
}

//! The quorum wire format: how a [`Message`] and the hello that opens a connection between two
//! servers become bytes. The layout is specified in `PROTOCOL.md` beside this file; this module
//! follows it, and its tests check encoded bytes against the examples there.
//!
//! Decoding never panics and never trusts a length before checking it against the limit and
//! the bytes actually present: the bytes come from the network.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};
use zk_engine::Zxid;

use super::message::{LinkId, Message, PeerState, ServerId, Vote};

/// First bytes of every quorum and election connection: a high byte and CR LF, so that a text
/// protocol, a mangled stream or another ZooKeeper implementation is refused at once.
pub const MAGIC: [u8; 8] = *b"\x89ZKZAB\r\n";

/// The protocol version this server speaks, sent in the hello. Frames have no version of their
/// own: the hello's fixes the layout of everything after it on the connection.
pub const PROTOCOL_VERSION: u16 = 1;

/// The largest frame body, in bytes (2 GiB). `Snap` carries a whole snapshot in one frame, so the
/// limit is set for snapshots of a large tree (at least 1 GiB, as required); it still stops a
/// corrupt or hostile length from meaning "4 GiB". Readers allocate as bytes arrive, not from
/// the length, so a large limit costs nothing until a peer actually sends that much.
pub const MAX_BODY_LEN: u32 = 1 << 31;

/// Length prefix of a frame.
const LENGTH_LEN: usize = 4;
/// Checksum at the start of a body.
const CRC_LEN: usize = 4;
/// The smallest body: the checksum and the kind byte.
const MIN_BODY_LEN: usize = CRC_LEN + 1;
/// Magic, version and kind: the part of a hello read before its length is known.
const HELLO_PREFIX_LEN: usize = 8 + 2 + 1;
/// The longest hello: a link hello.
const MAX_HELLO_LEN: usize = HELLO_PREFIX_LEN + 24 + CRC_LEN;
/// Payloads at least this long are left out of [`FrameParts::head`], so that a writer can send a
/// snapshot without copying it.
const INLINE_PAYLOAD_MAX: usize = 64 * 1024;

/// Kind bytes of the message variants (PROTOCOL.md, section 3). Never reuse a retired number.
mod kind {
    pub const NOTIFICATION: u8 = 1;
    pub const FOLLOWER_INFO: u8 = 2;
    pub const LEADER_INFO: u8 = 3;
    pub const ACK_EPOCH: u8 = 4;
    pub const DIFF: u8 = 5;
    pub const TRUNC: u8 = 6;
    pub const SNAP: u8 = 7;
    pub const PROPOSAL: u8 = 8;
    pub const COMMIT: u8 = 9;
    pub const NEW_LEADER: u8 = 10;
    pub const ACK_NEW_LEADER: u8 = 11;
    pub const UP_TO_DATE: u8 = 12;
    pub const ACK: u8 = 13;
    pub const PING: u8 = 14;
    pub const PONG: u8 = 15;
    pub const FORWARD: u8 = 16;
    pub const REPLY: u8 = 17;
}

/// Kind bytes of the hello.
mod hello_kind {
    pub const ELECTION: u8 = 1;
    pub const LINK: u8 = 2;
}

/// What a connection is for, said once at its start by the side that opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hello {
    /// Votes from server `from`, on the receiver's election port.
    Election {
        /// The sending server.
        from: ServerId,
    },
    /// A follower–leader link, on the leader's quorum port.
    Link {
        /// The link; its follower is the connecting server.
        link: LinkId,
    },
}

/// Why bytes could not be read as a hello or a frame.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The connection failed.
    #[error("reading from the peer: {0}")]
    Io(#[from] std::io::Error),
    /// The connection ended before a whole hello or frame arrived.
    #[error("the connection ended inside a {what}: {received} of {expected} bytes received")]
    UnexpectedEof {
        /// Hello or frame part.
        what: &'static str,
        /// Bytes of it known to have arrived (for a hello, read in parts: at least these).
        received: usize,
        /// Bytes it needed.
        expected: usize,
    },
    /// Not our protocol.
    #[error(
        "not a zk-rs quorum connection: expected the magic {:02x?} (\"\\x89ZKZAB\\r\\n\"), \
         found {found:02x?}",
        MAGIC
    )]
    BadMagic {
        /// The first bytes received.
        found: [u8; 8],
    },
    /// Our protocol, another version.
    #[error(
        "quorum protocol version {found} is not supported: this server speaks version {expected} \
         (are all servers running the same release?)"
    )]
    UnsupportedVersion {
        /// [`PROTOCOL_VERSION`].
        expected: u16,
        /// The version in the hello.
        found: u16,
    },
    /// The hello's kind byte is neither election nor link.
    #[error("unknown hello kind {0} (1 is election, 2 is link)")]
    UnknownHelloKind(u8),
    /// The hello's checksum does not match its bytes.
    #[error("hello checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    HelloChecksum {
        /// The checksum in the hello.
        stored: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
    /// A frame length above [`MAX_BODY_LEN`].
    #[error("frame body of {len} bytes is over the limit of {max} bytes")]
    FrameTooLarge {
        /// The length given.
        len: u64,
        /// [`MAX_BODY_LEN`].
        max: u32,
    },
    /// A frame body too short to hold a checksum and a kind.
    #[error("frame body of {len} bytes is below the minimum of 5 (checksum and kind)")]
    FrameTooShort {
        /// The length given.
        len: usize,
    },
    /// The frame's checksum does not match its bytes.
    #[error(
        "frame checksum mismatch over a {len}-byte body: stored {stored:#010x}, computed \
         {computed:#010x}"
    )]
    FrameChecksum {
        /// The checksum in the frame.
        stored: u32,
        /// The checksum of the bytes received.
        computed: u32,
        /// The body length.
        len: usize,
    },
    /// A kind byte no message has.
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// The body ended inside a field.
    #[error("{message} body ends inside its {field}: {needed} bytes needed, {available} left")]
    Truncated {
        /// The message being decoded.
        message: &'static str,
        /// The field being decoded.
        field: &'static str,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the body.
        available: usize,
    },
    /// Bytes after the last field.
    #[error("{message} body has {extra} bytes after its last field")]
    TrailingBytes {
        /// The message decoded.
        message: &'static str,
        /// Bytes left over.
        extra: usize,
    },
    /// A peer state byte out of range.
    #[error("invalid peer state {0} in a Notification (0 looking, 1 following, 2 leading)")]
    InvalidPeerState(u8),
}

/// The name of a message variant, for errors and logs.
pub fn message_name(message: &Message) -> &'static str {
    match message {
        Message::Notification { .. } => "Notification",
        Message::FollowerInfo { .. } => "FollowerInfo",
        Message::LeaderInfo { .. } => "LeaderInfo",
        Message::AckEpoch { .. } => "AckEpoch",
        Message::Diff => "Diff",
        Message::Trunc { .. } => "Trunc",
        Message::Snap { .. } => "Snap",
        Message::Proposal { .. } => "Proposal",
        Message::Commit { .. } => "Commit",
        Message::NewLeader { .. } => "NewLeader",
        Message::AckNewLeader { .. } => "AckNewLeader",
        Message::UpToDate => "UpToDate",
        Message::Ack { .. } => "Ack",
        Message::Ping => "Ping",
        Message::Pong => "Pong",
        Message::Forward { .. } => "Forward",
        Message::Reply { .. } => "Reply",
    }
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        kind::NOTIFICATION => "Notification",
        kind::FOLLOWER_INFO => "FollowerInfo",
        kind::LEADER_INFO => "LeaderInfo",
        kind::ACK_EPOCH => "AckEpoch",
        kind::DIFF => "Diff",
        kind::TRUNC => "Trunc",
        kind::SNAP => "Snap",
        kind::PROPOSAL => "Proposal",
        kind::COMMIT => "Commit",
        kind::NEW_LEADER => "NewLeader",
        kind::ACK_NEW_LEADER => "AckNewLeader",
        kind::UP_TO_DATE => "UpToDate",
        kind::ACK => "Ack",
        kind::PING => "Ping",
        kind::PONG => "Pong",
        kind::FORWARD => "Forward",
        kind::REPLY => "Reply",
        _ => "unknown",
    }
}

fn peer_state_byte(state: PeerState) -> u8 {
    match state {
        PeerState::Looking => 0,
        PeerState::Following => 1,
        PeerState::Leading => 2,
    }
}

/// A frame split so that a large payload need not be copied: `head` holds the length, the
/// checksum (over everything, payload included), the kind and the fields; `payload` follows it
/// on the wire.
pub(crate) struct FrameParts<'a> {
    pub(crate) head: Vec<u8>,
    pub(crate) payload: &'a [u8],
}

/// The body length `message` encodes to; above [`MAX_BODY_LEN`] it cannot be sent.
pub fn body_len(message: &Message) -> u64 {
    let (fixed, payload) = match message {
        Message::Notification { .. } => (8 + 8 + 4 + 8 + 1, 0),
        Message::FollowerInfo { .. } => (4 + 8, 0),
        Message::LeaderInfo { .. } => (4, 0),
        Message::AckEpoch { .. } => (4 + 8 + 8, 0),
        Message::Diff | Message::UpToDate | Message::Ping | Message::Pong => (0, 0),
        Message::Trunc { .. }
        | Message::Commit { .. }
        | Message::AckNewLeader { .. }
        | Message::Ack { .. } => (8, 0),
        Message::Snap { state, .. } => (8 + 4, state.len()),
        Message::Proposal { data, .. } => (8 + 4, data.len()),
        Message::NewLeader { .. } => (4 + 8, 0),
        Message::Forward { payload } | Message::Reply { payload } => (4, payload.len()),
    };
    (CRC_LEN + 1 + fixed) as u64 + payload as u64
}

/// Appends the `u32` length of a payload. The body length was checked to fit in `u32`, so each
/// payload length does too.
fn put_len(head: &mut Vec<u8>, bytes: &[u8]) {
    head.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
}

/// Builds the frame of `message`.
///
/// # Panics
///
/// When the body is longer than [`MAX_BODY_LEN`]: a sender checks [`body_len`] first, since no
/// receiver would accept the frame.
pub(crate) fn frame_parts(message: &Message) -> FrameParts<'_> {
    let len = body_len(message);
    let len = match u32::try_from(len) {
        Ok(len) if len <= MAX_BODY_LEN => len,
        _ => panic!(
            "a {} message of {len} bytes is over the frame limit of {MAX_BODY_LEN} bytes",
            message_name(message)
        ),
    };
    let mut head = Vec::with_capacity(64);
    head.extend_from_slice(&len.to_le_bytes());
    head.extend_from_slice(&[0; CRC_LEN]);
    let mut payload: &[u8] = &[];
    match message {
        Message::Notification { vote, round, state } => {
            head.push(kind::NOTIFICATION);
            head.extend_from_slice(&vote.leader.to_le_bytes());
            head.extend_from_slice(&vote.zxid.0.to_le_bytes());
            head.extend_from_slice(&vote.epoch.to_le_bytes());
            head.extend_from_slice(&round.to_le_bytes());
            head.push(peer_state_byte(*state));
        }
        Message::FollowerInfo {
            accepted_epoch,
            last_zxid,
        } => {
            head.push(kind::FOLLOWER_INFO);
            head.extend_from_slice(&accepted_epoch.to_le_bytes());
            head.extend_from_slice(&last_zxid.0.to_le_bytes());
        }
        Message::LeaderInfo { epoch } => {
            head.push(kind::LEADER_INFO);
            head.extend_from_slice(&epoch.to_le_bytes());
        }
        Message::AckEpoch {
            current_epoch,
            last_zxid,
            snapshot_zxid,
        } => {
            head.push(kind::ACK_EPOCH);
            head.extend_from_slice(&current_epoch.to_le_bytes());
            head.extend_from_slice(&last_zxid.0.to_le_bytes());
            head.extend_from_slice(&snapshot_zxid.0.to_le_bytes());
        }
        Message::Diff => head.push(kind::DIFF),
        Message::Trunc { to } => {
            head.push(kind::TRUNC);
            head.extend_from_slice(&to.0.to_le_bytes());
        }
        Message::Snap { base, state } => {
            head.push(kind::SNAP);
            head.extend_from_slice(&base.0.to_le_bytes());
            put_len(&mut head, state);
            payload = state;
        }
        Message::Proposal { zxid, data } => {
            head.push(kind::PROPOSAL);
            head.extend_from_slice(&zxid.0.to_le_bytes());
            put_len(&mut head, data);
            payload = data;
        }
        Message::Commit { zxid } => {
            head.push(kind::COMMIT);
            head.extend_from_slice(&zxid.0.to_le_bytes());
        }
        Message::NewLeader { epoch, last_zxid } => {
            head.push(kind::NEW_LEADER);
            head.extend_from_slice(&epoch.to_le_bytes());
            head.extend_from_slice(&last_zxid.0.to_le_bytes());
        }
        Message::AckNewLeader { zxid } => {
            head.push(kind::ACK_NEW_LEADER);
            head.extend_from_slice(&zxid.0.to_le_bytes());
        }
        Message::UpToDate => head.push(kind::UP_TO_DATE),
        Message::Ack { zxid } => {
            head.push(kind::ACK);
            head.extend_from_slice(&zxid.0.to_le_bytes());
        }
        Message::Ping => head.push(kind::PING),
        Message::Pong => head.push(kind::PONG),
        Message::Forward { payload: bytes } => {
            head.push(kind::FORWARD);
            put_len(&mut head, bytes);
            payload = bytes;
        }
        Message::Reply { payload: bytes } => {
            head.push(kind::REPLY);
            put_len(&mut head, bytes);
            payload = bytes;
        }
    }
    if payload.len() < INLINE_PAYLOAD_MAX {
        head.extend_from_slice(payload);
        payload = &[];
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(head.get(..LENGTH_LEN).unwrap_or_default());
    crc.update(head.get(LENGTH_LEN + CRC_LEN..).unwrap_or_default());
    crc.update(payload);
    let crc = crc.finalize().to_le_bytes();
    if let Some(slot) = head.get_mut(LENGTH_LEN..LENGTH_LEN + CRC_LEN) {
        slot.copy_from_slice(&crc);
    }
    FrameParts { head, payload }
}

/// Appends the frame of `message` to `out`.
///
/// # Panics
///
/// When the body is longer than [`MAX_BODY_LEN`] (see [`body_len`]).
pub fn encode(message: &Message, out: &mut Vec<u8>) {
    let parts = frame_parts(message);
    out.extend_from_slice(&parts.head);
    out.extend_from_slice(parts.payload);
}

fn check_body_len(len: u64) -> Result<(), CodecError> {
    if len > u64::from(MAX_BODY_LEN) {
        return Err(CodecError::FrameTooLarge {
            len,
            max: MAX_BODY_LEN,
        });
    }
    if len < MIN_BODY_LEN as u64 {
        return Err(CodecError::FrameTooShort { len: len as usize });
    }
    Ok(())
}

/// Splits the first frame off `bytes`: its body and the bytes it took. `Ok(None)` when `bytes`
/// ends before the frame does (read more); an error when its length is out of bounds.
pub fn split_frame(bytes: &[u8]) -> Result<Option<(&[u8], usize)>, CodecError> {
    let Some((length, rest)) = bytes.split_first_chunk::<LENGTH_LEN>() else {
        return Ok(None);
    };
    let len = u32::from_le_bytes(*length);
    check_body_len(u64::from(len))?;
    let len = len as usize;
    Ok(rest.get(..len).map(|body| (body, LENGTH_LEN + len)))
}

/// Decodes a frame body (the bytes after the length prefix): checks the checksum, then reads
/// the message. Every byte of the body must belong to the message.
pub fn decode(body: &[u8]) -> Result<Message, CodecError> {
    check_body_len(body.len() as u64)?;
    let Some((stored, rest)) = body.split_first_chunk::<CRC_LEN>() else {
        return Err(CodecError::FrameTooShort { len: body.len() });
    };
    let stored = u32::from_le_bytes(*stored);
    let mut crc = crc32fast::Hasher::new();
    // The body length is covered too, recomputed from the body: a damaged length prefix that
    // still lands on a plausible length is caught here.
    crc.update(&(body.len() as u32).to_le_bytes());
    crc.update(rest);
    let computed = crc.finalize();
    if stored != computed {
        return Err(CodecError::FrameChecksum {
            stored,
            computed,
            len: body.len(),
        });
    }
    decode_message(rest)
}

/// Reads the fields of a body, the bytes after the checksum: the kind, then the fields.
struct FieldReader<'a> {
    bytes: &'a [u8],
    message: &'static str,
}

impl<'a> FieldReader<'a> {
    fn take(&mut self, field: &'static str, len: usize) -> Result<&'a [u8], CodecError> {
        let Some((taken, rest)) = self.bytes.split_at_checked(len) else {
            return Err(CodecError::Truncated {
                message: self.message,
                field,
                needed: len as u64,
                available: self.bytes.len(),
            });
        };
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        let Some((taken, rest)) = self.bytes.split_first_chunk::<N>() else {
            return Err(CodecError::Truncated {
                message: self.message,
                field,
                needed: N as u64,
                available: self.bytes.len(),
            });
        };
        self.bytes = rest;
        Ok(*taken)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, CodecError> {
        Ok(u8::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn zxid(&mut self, field: &'static str) -> Result<Zxid, CodecError> {
        Ok(Zxid(self.u64(field)?))
    }

    /// A `u32` length, then that many bytes.
    fn bytes(&mut self, field: &'static str) -> Result<Arc<[u8]>, CodecError> {
        let len = self.u32(field)?;
        let Ok(len) = usize::try_from(len) else {
            return Err(CodecError::Truncated {
                message: self.message,
                field,
                needed: u64::from(len),
                available: self.bytes.len(),
            });
        };
        Ok(Arc::from(self.take(field, len)?))
    }

    fn finish(self, message: Message) -> Result<Message, CodecError> {
        if self.bytes.is_empty() {
            Ok(message)
        } else {
            Err(CodecError::TrailingBytes {
                message: self.message,
                extra: self.bytes.len(),
            })
        }
    }
}

/// Decodes the kind and fields (a body without its checksum).
fn decode_message(fields: &[u8]) -> Result<Message, CodecError> {
    let Some((&kind, fields)) = fields.split_first() else {
        return Err(CodecError::FrameTooShort { len: CRC_LEN });
    };
    let mut r = FieldReader {
        bytes: fields,
        message: kind_name(kind),
    };
    let message = match kind {
        kind::NOTIFICATION => {
            let leader = r.u64("vote leader")?;
            let zxid = r.zxid("vote zxid")?;
            let epoch = r.u32("vote epoch")?;
            let round = r.u64("round")?;
            let state = match r.u8("state")? {
                0 => PeerState::Looking,
                1 => PeerState::Following,
                2 => PeerState::Leading,
                other => return Err(CodecError::InvalidPeerState(other)),
            };
            Message::Notification {
                vote: Vote {
                    leader,
                    zxid,
                    epoch,
                },
                round,
                state,
            }
        }
        kind::FOLLOWER_INFO => Message::FollowerInfo {
            accepted_epoch: r.u32("accepted epoch")?,
            last_zxid: r.zxid("last zxid")?,
        },
        kind::LEADER_INFO => Message::LeaderInfo {
            epoch: r.u32("epoch")?,
        },
        kind::ACK_EPOCH => Message::AckEpoch {
            current_epoch: r.u32("current epoch")?,
            last_zxid: r.zxid("last zxid")?,
            snapshot_zxid: r.zxid("snapshot zxid")?,
        },
        kind::DIFF => Message::Diff,
        kind::TRUNC => Message::Trunc { to: r.zxid("to")? },
        kind::SNAP => Message::Snap {
            base: r.zxid("base")?,
            state: r.bytes("state")?,
        },
        kind::PROPOSAL => Message::Proposal {
            zxid: r.zxid("zxid")?,
            data: r.bytes("data")?,
        },
        kind::COMMIT => Message::Commit {
            zxid: r.zxid("zxid")?,
        },
        kind::NEW_LEADER => Message::NewLeader {
            epoch: r.u32("epoch")?,
            last_zxid: r.zxid("last zxid")?,
        },
        kind::ACK_NEW_LEADER => Message::AckNewLeader {
            zxid: r.zxid("zxid")?,
        },
        kind::UP_TO_DATE => Message::UpToDate,
        kind::ACK => Message::Ack {
            zxid: r.zxid("zxid")?,
        },
        kind::PING => Message::Ping,
        kind::PONG => Message::Pong,
        kind::FORWARD => Message::Forward {
            payload: r.bytes("payload")?,
        },
        kind::REPLY => Message::Reply {
            payload: r.bytes("payload")?,
        },
        other => return Err(CodecError::UnknownKind(other)),
    };
    r.finish(message)
}

/// Reads the next frame. `Ok(None)` when the stream ends cleanly, between frames; an ended
/// stream inside a frame is an error. Wrap a socket in a `BufReader`: this reads the length
/// and the body separately.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Message>, CodecError> {
    let mut length = [0u8; LENGTH_LEN];
    let mut received = 0;
    while let Some(unfilled) = length.get_mut(received..).filter(|rest| !rest.is_empty()) {
        let n = r.read(unfilled).await?;
        if n == 0 {
            if received == 0 {
                return Ok(None);
            }
            return Err(CodecError::UnexpectedEof {
                what: "frame length",
                received,
                expected: LENGTH_LEN,
            });
        }
        received += n;
    }
    let len = u32::from_le_bytes(length);
    check_body_len(u64::from(len))?;
    // Grows as bytes arrive: a length alone never makes this allocate a large buffer.
    let mut body = Vec::with_capacity((len as usize).min(INLINE_PAYLOAD_MAX));
    let received = r.take(u64::from(len)).read_to_end(&mut body).await?;
    if received < len as usize {
        return Err(CodecError::UnexpectedEof {
            what: "frame body",
            received,
            expected: len as usize,
        });
    }
    decode(&body).map(Some)
}

/// Appends the hello to `out`.
pub fn encode_hello(hello: &Hello, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    match hello {
        Hello::Election { from } => {
            out.push(hello_kind::ELECTION);
            out.extend_from_slice(&from.to_le_bytes());
        }
        Hello::Link { link } => {
            out.push(hello_kind::LINK);
            out.extend_from_slice(&link.follower.to_le_bytes());
            out.extend_from_slice(&link.leader.to_le_bytes());
            out.extend_from_slice(&link.nonce.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Checks the magic, version and kind of a hello's first [`HELLO_PREFIX_LEN`] bytes (or fewer:
/// whatever is there is checked) and returns the hello's whole length once the kind is known.
fn check_hello_prefix(prefix: &[u8]) -> Result<Option<usize>, CodecError> {
    if let Some(magic) = prefix.first_chunk::<8>() {
        if *magic != MAGIC {
            return Err(CodecError::BadMagic { found: *magic });
        }
    } else {
        // Refuse a wrong start as soon as it shows, without waiting for 8 bytes.
        let seen = prefix.len().min(MAGIC.len());
        if prefix.get(..seen) != MAGIC.get(..seen) {
            let mut found = [0u8; 8];
            if let Some(slot) = found.get_mut(..seen) {
                slot.copy_from_slice(prefix.get(..seen).unwrap_or_default());
            }
            return Err(CodecError::BadMagic { found });
        }
        return Ok(None);
    }
    let Some(version) = prefix.get(8..10).and_then(|v| <[u8; 2]>::try_from(v).ok()) else {
        return Ok(None);
    };
    let version = u16::from_le_bytes(version);
    if version != PROTOCOL_VERSION {
        return Err(CodecError::UnsupportedVersion {
            expected: PROTOCOL_VERSION,
            found: version,
        });
    }
    let Some(&kind) = prefix.get(10) else {
        return Ok(None);
    };
    let fields = match kind {
        hello_kind::ELECTION => 8,
        hello_kind::LINK => 24,
        other => return Err(CodecError::UnknownHelloKind(other)),
    };
    Ok(Some(HELLO_PREFIX_LEN + fields + CRC_LEN))
}

/// Decodes a hello from the start of `bytes`: the hello and the bytes it took, or `Ok(None)`
/// when `bytes` ends before it does (a wrong magic or version is reported as soon as it shows).
pub fn decode_hello(bytes: &[u8]) -> Result<Option<(Hello, usize)>, CodecError> {
    let Some(len) = check_hello_prefix(bytes.get(..HELLO_PREFIX_LEN).unwrap_or(bytes))? else {
        return Ok(None);
    };
    let Some(hello) = bytes.get(..len) else {
        return Ok(None);
    };
    let Some((covered, stored)) = hello.split_last_chunk::<CRC_LEN>() else {
        return Ok(None);
    };
    let stored = u32::from_le_bytes(*stored);
    let computed = crc32fast::hash(covered);
    if stored != computed {
        return Err(CodecError::HelloChecksum { stored, computed });
    }
    let mut r = FieldReader {
        bytes: covered.get(HELLO_PREFIX_LEN..).unwrap_or_default(),
        message: "hello",
    };
    let decoded = match covered.get(HELLO_PREFIX_LEN - 1) {
        Some(&hello_kind::ELECTION) => Hello::Election {
            from: r.u64("server id")?,
        },
        Some(&hello_kind::LINK) => Hello::Link {
            link: LinkId {
                follower: r.u64("follower")?,
                leader: r.u64("leader")?,
                nonce: r.u64("nonce")?,
            },
        },
        other => return Err(CodecError::UnknownHelloKind(other.copied().unwrap_or(0))),
    };
    Ok(Some((decoded, len)))
}

/// Reads the hello that starts a connection. The magic is checked before anything else is
/// read, then the version and kind, then the rest: a wrong peer gets the precise error even if
/// it sends fewer bytes than a hello.
pub async fn read_hello<R: AsyncRead + Unpin>(r: &mut R) -> Result<Hello, CodecError> {
    let mut buffer = [0u8; MAX_HELLO_LEN];
    read_hello_part(r, &mut buffer, 0, MAGIC.len()).await?;
    check_hello_prefix(buffer.get(..MAGIC.len()).unwrap_or_default())?;
    read_hello_part(r, &mut buffer, MAGIC.len(), HELLO_PREFIX_LEN).await?;
    let len = check_hello_prefix(buffer.get(..HELLO_PREFIX_LEN).unwrap_or_default())?
        .unwrap_or(MAX_HELLO_LEN);
    read_hello_part(r, &mut buffer, HELLO_PREFIX_LEN, len).await?;
    match decode_hello(buffer.get(..len).unwrap_or_default())? {
        Some((hello, _)) => Ok(hello),
        None => Err(CodecError::UnexpectedEof {
            what: "hello",
            received: len,
            expected: len,
        }),
    }
}

/// Reads bytes `from..to` of a hello into `buffer`.
async fn read_hello_part<R: AsyncRead + Unpin>(
    r: &mut R,
    buffer: &mut [u8; MAX_HELLO_LEN],
    from: usize,
    to: usize,
) -> Result<(), CodecError> {
    let Some(part) = buffer.get_mut(from..to) else {
        return Ok(());
    };
    match r.read_exact(part).await {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(CodecError::UnexpectedEof {
                what: "hello",
                received: from,
                expected: to,
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Fuzz target body (cargo-fuzz target `zab_message`), kept here so that `cargo test` replays
/// the corpus on stable Rust (`server/tests/fuzz_corpus.rs`).
pub mod fuzzing {
    use super::{decode, decode_hello, decode_message, encode, encode_hello, split_frame};

    /// Input: a control byte, then an optional hello, then frames. Bit 0 of the control byte
    /// skips frame checksums, so that the fuzzer reaches the field decoders without having to
    /// forge CRCs. Panics only when an oracle fails: whatever decodes must re-encode to the
    /// same bytes (the encoding is canonical).
    pub fn zab_message_target(input: &[u8]) {
        let Some((&control, mut rest)) = input.split_first() else {
            return;
        };
        let skip_checksums = control & 1 == 1;
        if let Ok(Some((hello, used))) = decode_hello(rest) {
            let mut again = Vec::new();
            encode_hello(&hello, &mut again);
            assert_eq!(Some(again.as_slice()), rest.get(..used), "hello round trip");
            rest = rest.get(used..).unwrap_or_default();
        }
        while let Ok(Some((body, used))) = split_frame(rest) {
            let decoded = if skip_checksums {
                decode_message(body.get(4..).unwrap_or_default())
            } else {
                decode(body)
            };
            if let Ok(message) = decoded {
                let mut again = Vec::new();
                encode(&message, &mut again);
                // Same length and same fields; the checksum only when it was checked.
                assert_eq!(again.len(), used, "frame round trip: length");
                assert_eq!(
                    again.get(8..),
                    rest.get(8..used),
                    "frame round trip: {message:?}"
                );
                if !skip_checksums {
                    assert_eq!(again.get(..8), rest.get(..8), "frame round trip: header");
                }
            }
            rest = rest.get(used..).unwrap_or_default();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(epoch, counter)
    }

    fn frame(message: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        encode(message, &mut out);
        out
    }

    fn decode_whole(frame: &[u8]) -> Result<Message, CodecError> {
        match split_frame(frame)? {
            // A damaged length may split the bytes into a frame and leftovers: not one frame.
            Some((body, used)) if used == frame.len() => decode(body),
            Some((_, used)) => Err(CodecError::TrailingBytes {
                message: "frame",
                extra: frame.len() - used,
            }),
            None => Err(CodecError::UnexpectedEof {
                what: "frame",
                received: frame.len(),
                expected: frame.len() + 1,
            }),
        }
    }

    /// One of every variant, with distinct field values.
    fn samples() -> Vec<Message> {
        let bytes: Arc<[u8]> = Arc::from(&b"abc"[..]);
        vec![
            Message::Notification {
                vote: Vote {
                    leader: 3,
                    zxid: z(2, 7),
                    epoch: 2,
                },
                round: 9,
                state: PeerState::Following,
            },
            Message::FollowerInfo {
                accepted_epoch: 4,
                last_zxid: z(4, 1),
            },
            Message::LeaderInfo { epoch: 5 },
            Message::AckEpoch {
                current_epoch: 3,
                last_zxid: z(3, 9),
                snapshot_zxid: z(3, 2),
            },
            Message::Diff,
            Message::Trunc { to: z(1, 1) },
            Message::Snap {
                base: z(2, 2),
                state: bytes.clone(),
            },
            Message::Proposal {
                zxid: z(5, 1),
                data: bytes.clone(),
            },
            Message::Commit { zxid: z(5, 1) },
            Message::NewLeader {
                epoch: 5,
                last_zxid: z(4, 8),
            },
            Message::AckNewLeader { zxid: z(4, 8) },
            Message::UpToDate,
            Message::Ack { zxid: z(5, 1) },
            Message::Ping,
            Message::Pong,
            Message::Forward {
                payload: bytes.clone(),
            },
            Message::Reply { payload: bytes },
        ]
    }

    #[test]
    fn every_sample_round_trips_and_names_its_kind() {
        for message in samples() {
            let bytes = frame(&message);
            assert_eq!(bytes.len() as u64, 4 + body_len(&message));
            assert_eq!(decode_whole(&bytes).unwrap(), message);
            assert_eq!(kind_name(bytes[8]), message_name(&message));
        }
    }

    fn hex(text: &str) -> Vec<u8> {
        let digits: String = text.chars().filter(char::is_ascii_hexdigit).collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    // The byte arrays below are copied from PROTOCOL.md, section 6 (examples).
    #[test]
    fn ping_matches_protocol_md() {
        let expected = hex("05 00 00 00  6a 55 7a e9  0e");
        assert_eq!(frame(&Message::Ping), expected);
        assert_eq!(decode_whole(&expected).unwrap(), Message::Ping);
    }

    #[test]
    fn ack_matches_protocol_md() {
        let expected = hex("0d 00 00 00  44 07 fe 5b  0d  05 00 00 00 02 00 00 00");
        let message = Message::Ack { zxid: z(2, 5) };
        assert_eq!(frame(&message), expected);
        assert_eq!(decode_whole(&expected).unwrap(), message);
    }

    #[test]
    fn proposal_matches_protocol_md() {
        let expected =
            hex("14 00 00 00  db c2 15 51  08  01 00 00 00 01 00 00 00  03 00 00 00  61 62 63");
        let message = Message::Proposal {
            zxid: z(1, 1),
            data: Arc::from(&b"abc"[..]),
        };
        assert_eq!(frame(&message), expected);
        assert_eq!(decode_whole(&expected).unwrap(), message);
    }

    #[test]
    fn notification_matches_protocol_md() {
        let expected = hex(
            "22 00 00 00  c7 01 5b 45  01  03 00 00 00 00 00 00 00  07 00 00 00 02 00 00 00  \
             02 00 00 00  09 00 00 00 00 00 00 00  02",
        );
        let message = Message::Notification {
            vote: Vote {
                leader: 3,
                zxid: z(2, 7),
                epoch: 2,
            },
            round: 9,
            state: PeerState::Leading,
        };
        assert_eq!(frame(&message), expected);
        assert_eq!(decode_whole(&expected).unwrap(), message);
    }

    #[test]
    fn hellos_match_protocol_md() {
        let election =
            hex("89 5a 4b 5a 41 42 0d 0a  01 00  01  02 00 00 00 00 00 00 00  9b b1 cb 26");
        let mut out = Vec::new();
        encode_hello(&Hello::Election { from: 2 }, &mut out);
        assert_eq!(out, election);
        let link = hex(
            "89 5a 4b 5a 41 42 0d 0a  01 00  02  02 00 00 00 00 00 00 00  \
             01 00 00 00 00 00 00 00  ef cd ab 89 67 45 23 01  3a 94 94 13",
        );
        let hello = Hello::Link {
            link: LinkId {
                follower: 2,
                leader: 1,
                nonce: 0x0123_4567_89ab_cdef,
            },
        };
        out.clear();
        encode_hello(&hello, &mut out);
        assert_eq!(out, link);
        assert_eq!(decode_hello(&link).unwrap(), Some((hello, link.len())));
    }

    #[test]
    fn every_truncation_and_flip_of_a_frame_is_an_error() {
        for message in samples() {
            let bytes = frame(&message);
            for len in 0..bytes.len() {
                assert!(
                    decode_whole(&bytes[..len]).is_err(),
                    "{message:?} cut at {len}"
                );
                if len >= 4 {
                    assert!(
                        decode(&bytes[4..len]).is_err(),
                        "{message:?} body cut at {len}"
                    );
                }
            }
            for at in 0..bytes.len() {
                for bit in 0..8 {
                    let mut damaged = bytes.clone();
                    damaged[at] ^= 1 << bit;
                    assert!(
                        decode_whole(&damaged).is_err(),
                        "{message:?} with bit {bit} of byte {at} flipped"
                    );
                }
                let mut damaged = bytes.clone();
                damaged[at] = damaged[at].wrapping_add(0x5a);
                assert!(
                    decode_whole(&damaged).is_err(),
                    "{message:?} byte {at} changed"
                );
            }
        }
    }

    #[test]
    fn every_truncation_and_flip_of_a_hello_is_an_error_or_incomplete() {
        let mut bytes = Vec::new();
        encode_hello(
            &Hello::Link {
                link: LinkId {
                    follower: 2,
                    leader: 1,
                    nonce: 77,
                },
            },
            &mut bytes,
        );
        for len in 0..bytes.len() {
            assert!(
                matches!(decode_hello(&bytes[..len]), Ok(None)),
                "cut at {len}"
            );
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x10;
            assert!(decode_hello(&damaged).is_err(), "byte {at} flipped");
        }
    }

    #[test]
    fn a_wrong_magic_or_version_says_what_was_expected() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // What an Apache ZooKeeper 3.x election connection starts with: a long.
        let apache = [0xff, 0xff, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 1];
        let error = runtime.block_on(read_hello(&mut &apache[..])).unwrap_err();
        assert!(matches!(error, CodecError::BadMagic { .. }), "{error}");
        assert!(error.to_string().contains("expected the magic"), "{error}");

        let mut hello = Vec::new();
        encode_hello(&Hello::Election { from: 1 }, &mut hello);
        hello[8] = 9;
        let error = runtime.block_on(read_hello(&mut &hello[..])).unwrap_err();
        assert!(
            matches!(
                error,
                CodecError::UnsupportedVersion {
                    expected: 1,
                    found: 9
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("speaks version 1"), "{error}");
        // Three bytes are enough to tell a wrong magic.
        assert!(matches!(
            decode_hello(b"GET"),
            Err(CodecError::BadMagic { .. })
        ));
    }

    #[test]
    fn read_frame_stops_cleanly_between_frames_only() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut stream = Vec::new();
        for message in samples() {
            encode(&message, &mut stream);
        }
        let mut reader = &stream[..];
        let mut read = Vec::new();
        while let Some(message) = runtime.block_on(read_frame(&mut reader)).unwrap() {
            read.push(message);
        }
        assert_eq!(read, samples());
        for cut in 1..stream.len() {
            let mut reader = &stream[..cut];
            let outcome = runtime.block_on(async {
                loop {
                    match read_frame(&mut reader).await {
                        Ok(Some(_)) => continue,
                        other => return other.map(|_| ()),
                    }
                }
            });
            let boundary = {
                let mut at = 0;
                let mut boundaries = vec![0];
                for message in samples() {
                    at += frame(&message).len();
                    boundaries.push(at);
                }
                boundaries.contains(&cut)
            };
            assert_eq!(outcome.is_ok(), boundary, "cut at {cut}");
        }
        let hello_bytes = {
            let mut out = Vec::new();
            encode_hello(&Hello::Election { from: 1 }, &mut out);
            out
        };
        for cut in 0..hello_bytes.len() {
            let outcome = runtime.block_on(read_hello(&mut &hello_bytes[..cut]));
            assert!(
                matches!(outcome, Err(CodecError::UnexpectedEof { .. })),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn oversized_lengths_are_refused_before_reading() {
        let mut bytes = (MAX_BODY_LEN + 1).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        assert!(matches!(
            split_frame(&bytes),
            Err(CodecError::FrameTooLarge { .. })
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(matches!(
            runtime.block_on(read_frame(&mut &bytes[..])),
            Err(CodecError::FrameTooLarge { .. })
        ));
        assert!(matches!(
            split_frame(&[4, 0, 0, 0, 1, 2, 3, 4]),
            Err(CodecError::FrameTooShort { len: 4 })
        ));
    }

    #[test]
    fn large_payloads_are_left_out_of_the_head() {
        let state: Arc<[u8]> = (0..200_000u32).map(|i| i as u8).collect();
        let message = Message::Snap {
            base: z(3, 3),
            state: state.clone(),
        };
        let parts = frame_parts(&message);
        assert_eq!(parts.payload.len(), state.len());
        let mut joined = parts.head.clone();
        joined.extend_from_slice(parts.payload);
        assert_eq!(joined, frame(&message));
        assert_eq!(decode_whole(&joined).unwrap(), message);
    }

    #[test]
    fn fuzz_body_accepts_samples_with_and_without_checksums() {
        for control in [0u8, 1] {
            let mut input = vec![control];
            encode_hello(&Hello::Election { from: 4 }, &mut input);
            for message in samples() {
                encode(&message, &mut input);
            }
            fuzzing::zab_message_target(&input);
        }
    }

    fn zxid() -> impl Strategy<Value = Zxid> {
        any::<u64>().prop_map(Zxid)
    }

    fn bytes() -> impl Strategy<Value = Arc<[u8]>> {
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Arc::from)
    }

    fn message() -> impl Strategy<Value = Message> {
        let state = prop_oneof![
            Just(PeerState::Looking),
            Just(PeerState::Following),
            Just(PeerState::Leading)
        ];
        prop_oneof![
            (any::<u64>(), zxid(), any::<u32>(), any::<u64>(), state).prop_map(
                |(leader, zxid, epoch, round, state)| Message::Notification {
                    vote: Vote {
                        leader,
                        zxid,
                        epoch
                    },
                    round,
                    state
                }
            ),
            (any::<u32>(), zxid()).prop_map(|(accepted_epoch, last_zxid)| {
                Message::FollowerInfo {
                    accepted_epoch,
                    last_zxid,
                }
            }),
            any::<u32>().prop_map(|epoch| Message::LeaderInfo { epoch }),
            (any::<u32>(), zxid(), zxid()).prop_map(|(current_epoch, last_zxid, snapshot_zxid)| {
                Message::AckEpoch {
                    current_epoch,
                    last_zxid,
                    snapshot_zxid,
                }
            }),
            Just(Message::Diff),
            zxid().prop_map(|to| Message::Trunc { to }),
            (zxid(), bytes()).prop_map(|(base, state)| Message::Snap { base, state }),
            (zxid(), bytes()).prop_map(|(zxid, data)| Message::Proposal { zxid, data }),
            zxid().prop_map(|zxid| Message::Commit { zxid }),
            (any::<u32>(), zxid())
                .prop_map(|(epoch, last_zxid)| Message::NewLeader { epoch, last_zxid }),
            zxid().prop_map(|zxid| Message::AckNewLeader { zxid }),
            Just(Message::UpToDate),
            zxid().prop_map(|zxid| Message::Ack { zxid }),
            Just(Message::Ping),
            Just(Message::Pong),
            bytes().prop_map(|payload| Message::Forward { payload }),
            bytes().prop_map(|payload| Message::Reply { payload }),
        ]
    }

    proptest! {
        #[test]
        fn any_message_round_trips(message in message()) {
            let bytes = frame(&message);
            prop_assert_eq!(bytes.len() as u64, 4 + body_len(&message));
            prop_assert_eq!(decode_whole(&bytes).unwrap(), message);
        }

        #[test]
        fn any_hello_round_trips(from in any::<u64>(), follower in any::<u64>(),
                                 leader in any::<u64>(), nonce in any::<u64>()) {
            for hello in [Hello::Election { from }, Hello::Link {
                link: LinkId { follower, leader, nonce } }] {
                let mut out = Vec::new();
                encode_hello(&hello, &mut out);
                prop_assert_eq!(decode_hello(&out).unwrap(), Some((hello, out.len())));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = split_frame(&input);
            let _ = decode(&input);
            let _ = decode_hello(&input);
            fuzzing::zab_message_target(&input);
        }
    }
}

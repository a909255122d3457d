//! The fixed-size parts of a snapshot file: the 64-byte header (FORMAT.md 8.1), the 16-byte
//! block header (8.2) and the 64-byte trailer (8.4). Decoders take bytes and return a reason on
//! anything wrong; the reader turns that into an error with the file and the offset.

use crate::format::{read_u32, read_u64};
use crate::zxid::Zxid;

/// `\x89ZKSNAP\n`.
pub const SNAPSHOT_MAGIC: [u8; 8] = [0x89, b'Z', b'K', b'S', b'N', b'A', b'P', b'\n'];
/// `\x89ZKSNEND`.
pub const TRAILER_MAGIC: [u8; 8] = [0x89, b'Z', b'K', b'S', b'N', b'E', b'N', b'D'];
/// The snapshot format version this build writes.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
/// The oldest snapshot format version this build reads (it reads every one up to
/// [`SNAPSHOT_FORMAT_VERSION`]).
pub const OLDEST_SNAPSHOT_FORMAT_VERSION: u32 = 1;
/// Length of the header.
pub const SNAPSHOT_HEADER_LEN: usize = 64;
/// Length of the trailer.
pub const SNAPSHOT_TRAILER_LEN: usize = 64;
/// Length of a block header.
pub const BLOCK_HEADER_LEN: usize = 16;
/// `compression` value for zstd, the only one.
pub const COMPRESSION_ZSTD: u32 = 1;
/// Largest uncompressed length of one block (FORMAT.md 8.2).
pub const MAX_BLOCK_LEN: usize = 64 * 1024 * 1024;
/// Largest string or bytes field the reader accepts (a path, a node's data, an ACL scheme or
/// id). The transaction log cannot carry more in one record with its default segment size, and
/// the writer refuses to write more, so a snapshot it wrote is always readable.
pub const MAX_FIELD_LEN: usize = 64 * 1024 * 1024;

/// The decoded header of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The format version (FORMAT.md 9): 2 for a snapshot this build writes.
    pub version: u32,
    /// The last zxid applied when the snapshot began.
    pub start_zxid: Zxid,
    /// When it began, milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// The uncompressed size the writer aimed at per block (informational).
    pub block_size: u32,
}

/// Why a header did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Damaged; the text says how.
    Invalid(String),
    /// A well-formed header of a version this build does not read.
    UnsupportedVersion(u32),
}

impl SnapshotHeader {
    /// Encodes the header into its 64 bytes.
    pub fn encode(&self) -> [u8; SNAPSHOT_HEADER_LEN] {
        let mut out = [0u8; SNAPSHOT_HEADER_LEN];
        out[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        out[8..12].copy_from_slice(&self.version.to_le_bytes());
        out[12..16].copy_from_slice(&(SNAPSHOT_HEADER_LEN as u32).to_le_bytes());
        out[16..24].copy_from_slice(&self.start_zxid.0.to_le_bytes());
        out[24..32].copy_from_slice(&self.created_ms.to_le_bytes());
        out[32..36].copy_from_slice(&COMPRESSION_ZSTD.to_le_bytes());
        out[36..40].copy_from_slice(&self.block_size.to_le_bytes());
        // 40..60 reserved, zero.
        let crc = crc32fast::hash(&out[0..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks the first 64 bytes of a snapshot file.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SnapshotHeader, HeaderError> {
        let raw = bytes
            .get(..SNAPSHOT_HEADER_LEN)
            .ok_or_else(|| HeaderError::Invalid("shorter than a snapshot header".into()))?;
        if raw.get(0..8) != Some(&SNAPSHOT_MAGIC[..]) {
            return Err(HeaderError::Invalid("bad magic number".into()));
        }
        let field32 = |at| read_u32(raw, at).ok_or_else(|| HeaderError::Invalid("short".into()));
        let field64 = |at| read_u64(raw, at).ok_or_else(|| HeaderError::Invalid("short".into()));
        let stored_crc = field32(60)?;
        let computed_crc = crc32fast::hash(raw.get(0..60).unwrap_or_default());
        if stored_crc != computed_crc {
            return Err(HeaderError::Invalid(format!(
                "header checksum mismatch (stored {stored_crc:08x}, computed {computed_crc:08x})"
            )));
        }
        let version = field32(8)?;
        if !(OLDEST_SNAPSHOT_FORMAT_VERSION..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let header_len = field32(12)?;
        if header_len as usize != SNAPSHOT_HEADER_LEN {
            return Err(HeaderError::Invalid(format!(
                "header length {header_len}, expected {SNAPSHOT_HEADER_LEN}"
            )));
        }
        let compression = field32(32)?;
        if compression != COMPRESSION_ZSTD {
            return Err(HeaderError::Invalid(format!(
                "unknown compression {compression} (1 = zstd is the only one)"
            )));
        }
        if raw.get(40..60).is_none_or(|r| r.iter().any(|&b| b != 0)) {
            return Err(HeaderError::Invalid(
                "reserved header bytes are not zero".into(),
            ));
        }
        Ok(SnapshotHeader {
            version,
            start_zxid: Zxid(field64(16)?),
            created_ms: field64(24)?,
            block_size: field32(36)?,
        })
    }
}

/// The 16-byte header of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockHeader {
    /// Length of the zstd frame that follows.
    pub compressed_len: u32,
    /// Length of its content once decompressed.
    pub uncompressed_len: u32,
    /// CRC of the compressed bytes.
    pub crc: u32,
    /// CRC of the uncompressed bytes.
    pub content_crc: u32,
}

impl BlockHeader {
    pub(crate) fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut out = [0u8; BLOCK_HEADER_LEN];
        out[0..4].copy_from_slice(&self.compressed_len.to_le_bytes());
        out[4..8].copy_from_slice(&self.uncompressed_len.to_le_bytes());
        out[8..12].copy_from_slice(&self.crc.to_le_bytes());
        out[12..16].copy_from_slice(&self.content_crc.to_le_bytes());
        out
    }

    pub(crate) fn decode(raw: &[u8]) -> Option<BlockHeader> {
        Some(BlockHeader {
            compressed_len: read_u32(raw, 0)?,
            uncompressed_len: read_u32(raw, 4)?,
            crc: read_u32(raw, 8)?,
            content_crc: read_u32(raw, 12)?,
        })
    }
}

/// The decoded trailer of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotTrailer {
    /// The last zxid applied when the walk finished.
    pub end_zxid: Zxid,
    /// The tree digest right after `end_zxid` was applied.
    pub digest: u64,
    /// Number of node sections.
    pub nodes: u64,
    /// Number of sessions.
    pub sessions: u32,
    /// Number of blocks.
    pub blocks: u32,
    /// Total uncompressed length of the body stream.
    pub body_len: u64,
    /// CRC of every byte of the file before the trailer.
    pub file_crc: u32,
}

impl SnapshotTrailer {
    /// Encodes the trailer into its 64 bytes.
    pub fn encode(&self) -> [u8; SNAPSHOT_TRAILER_LEN] {
        let mut out = [0u8; SNAPSHOT_TRAILER_LEN];
        out[0..8].copy_from_slice(&TRAILER_MAGIC);
        out[8..16].copy_from_slice(&self.end_zxid.0.to_le_bytes());
        out[16..24].copy_from_slice(&self.digest.to_le_bytes());
        out[24..32].copy_from_slice(&self.nodes.to_le_bytes());
        out[32..36].copy_from_slice(&self.sessions.to_le_bytes());
        out[36..40].copy_from_slice(&self.blocks.to_le_bytes());
        out[40..48].copy_from_slice(&self.body_len.to_le_bytes());
        out[48..52].copy_from_slice(&self.file_crc.to_le_bytes());
        // 52..60 reserved, zero.
        let crc = crc32fast::hash(&out[0..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks the last 64 bytes of a snapshot file.
    pub(crate) fn decode(raw: &[u8]) -> Result<SnapshotTrailer, String> {
        let raw = raw
            .get(..SNAPSHOT_TRAILER_LEN)
            .ok_or_else(|| "shorter than a snapshot trailer".to_owned())?;
        if raw.get(0..8) != Some(&TRAILER_MAGIC[..]) {
            return Err("no trailer (bad magic number): the snapshot is incomplete".into());
        }
        let field32 = |at| read_u32(raw, at).ok_or_else(|| "short".to_owned());
        let field64 = |at| read_u64(raw, at).ok_or_else(|| "short".to_owned());
        let stored_crc = field32(60)?;
        let computed_crc = crc32fast::hash(raw.get(0..60).unwrap_or_default());
        if stored_crc != computed_crc {
            return Err(format!(
                "trailer checksum mismatch (stored {stored_crc:08x}, computed {computed_crc:08x})"
            ));
        }
        if raw.get(52..60).is_none_or(|r| r.iter().any(|&b| b != 0)) {
            return Err("reserved trailer bytes are not zero".into());
        }
        Ok(SnapshotTrailer {
            end_zxid: Zxid(field64(8)?),
            digest: field64(16)?,
            nodes: field64(24)?,
            sessions: field32(32)?,
            blocks: field32(36)?,
            body_len: field64(40)?,
            file_crc: field32(48)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let header = SnapshotHeader {
            version: SNAPSHOT_FORMAT_VERSION,
            start_zxid: Zxid::new(3, 7),
            created_ms: 1_700_000_000_000,
            block_size: 1 << 20,
        };
        let bytes = header.encode();
        assert_eq!(&bytes[0..8], b"\x89ZKSNAP\n");
        assert_eq!(SnapshotHeader::decode(&bytes), Ok(header));
        let mut flipped = bytes;
        flipped[20] ^= 1;
        assert!(matches!(
            SnapshotHeader::decode(&flipped),
            Err(HeaderError::Invalid(_))
        ));
        let mut newer = bytes;
        newer[8] = 3;
        let crc = crc32fast::hash(&newer[0..60]);
        newer[60..64].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            SnapshotHeader::decode(&newer),
            Err(HeaderError::UnsupportedVersion(3))
        );
    }

    #[test]
    fn trailer_round_trip_and_checks() {
        let trailer = SnapshotTrailer {
            end_zxid: Zxid::new(3, 9),
            digest: 0xdead_beef_0bad_f00d,
            nodes: 1234,
            sessions: 5,
            blocks: 2,
            body_len: 99_999,
            file_crc: 0x1234_5678,
        };
        let bytes = trailer.encode();
        assert_eq!(&bytes[0..8], b"\x89ZKSNEND");
        assert_eq!(SnapshotTrailer::decode(&bytes), Ok(trailer));
        for at in 0..SNAPSHOT_TRAILER_LEN {
            let mut flipped = bytes;
            flipped[at] ^= 0x10;
            assert!(SnapshotTrailer::decode(&flipped).is_err(), "byte {at}");
        }
    }
}

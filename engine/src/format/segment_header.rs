//! The 64-byte segment header (FORMAT.md 3).

use super::{read_u32, read_u64};
use crate::zxid::Zxid;

/// `\x89ZKLOG\r\n`.
pub const SEGMENT_MAGIC: [u8; 8] = [0x89, b'Z', b'K', b'L', b'O', b'G', b'\r', b'\n'];
/// The only log format version this build writes and reads.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Length of the header; the first record starts here.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Smallest segment size accepted by the configuration.
pub const SEGMENT_SIZE_MIN: u64 = 64 * 1024;
/// Largest segment size (offsets in records are 64-bit, but a segment is mapped whole).
pub const SEGMENT_SIZE_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// The decoded header of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Salt mixed into every record CRC of this segment.
    pub salt: u64,
    /// Zxid of the first record.
    pub first_zxid: Zxid,
    /// Zxid of the record before the first one, or 0 when the log starts here.
    pub prev_zxid: Zxid,
    /// Preallocated length of the file.
    pub segment_size: u64,
    /// When the segment was rolled into use, milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// Why a header did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Every byte of the header is zero: the segment was never started.
    Zeroed,
    /// The header is damaged; the text says how.
    Invalid(String),
    /// A well-formed header of a version this build does not read.
    UnsupportedVersion(u32),
}

impl SegmentHeader {
    /// Encodes the header into its 64 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        out[16..24].copy_from_slice(&self.salt.to_le_bytes());
        out[24..32].copy_from_slice(&self.first_zxid.0.to_le_bytes());
        out[32..40].copy_from_slice(&self.prev_zxid.0.to_le_bytes());
        out[40..48].copy_from_slice(&self.segment_size.to_le_bytes());
        out[48..56].copy_from_slice(&self.created_ms.to_le_bytes());
        // 56..60 reserved, zero.
        let crc = crc32fast::hash(&out[0..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks a header from the first bytes of a segment file.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        let Some(raw) = bytes.get(..SEGMENT_HEADER_LEN) else {
            return Err(HeaderError::Invalid(format!(
                "the file is {} bytes, shorter than a segment header",
                bytes.len()
            )));
        };
        if raw.iter().all(|&b| b == 0) {
            return Err(HeaderError::Zeroed);
        }
        if raw.get(0..8) != Some(&SEGMENT_MAGIC[..]) {
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
        if version != SEGMENT_FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let header_len = field32(12)?;
        if header_len as usize != SEGMENT_HEADER_LEN {
            return Err(HeaderError::Invalid(format!(
                "header length {header_len}, expected 64"
            )));
        }
        if field32(56)? != 0 {
            return Err(HeaderError::Invalid(
                "reserved header field is not zero".into(),
            ));
        }
        let header = SegmentHeader {
            salt: field64(16)?,
            first_zxid: Zxid(field64(24)?),
            prev_zxid: Zxid(field64(32)?),
            segment_size: field64(40)?,
            created_ms: field64(48)?,
        };
        if header.first_zxid == Zxid::NONE {
            return Err(HeaderError::Invalid("first zxid is 0".into()));
        }
        if !(SEGMENT_SIZE_MIN..=SEGMENT_SIZE_MAX).contains(&header.segment_size) {
            return Err(HeaderError::Invalid(format!(
                "segment size {} is out of range",
                header.segment_size
            )));
        }
        Ok(header)
    }
}

/// The file name of the segment whose first record is `first_zxid`.
pub fn segment_file_name(first_zxid: Zxid) -> String {
    format!("log.{:016x}", first_zxid.0)
}

/// The first zxid named by a segment file name, if `name` is one.
pub fn parse_segment_file_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix("log.")?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(Zxid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let z = Zxid::new(1, 1);
        assert_eq!(segment_file_name(z), "log.0000000100000001");
        assert_eq!(parse_segment_file_name("log.0000000100000001"), Some(z));
        assert_eq!(parse_segment_file_name("log.0000000100000001.tmp"), None);
        assert_eq!(parse_segment_file_name("log.00000001000000AB"), None);
        assert_eq!(parse_segment_file_name("log.prepared.tmp"), None);
    }
}

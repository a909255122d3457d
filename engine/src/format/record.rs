//! Log records (FORMAT.md 4): a 32-byte header, the payload, zero padding to 8 bytes.

use super::{pad8, read_u32, read_u64, segment_header::SEGMENT_HEADER_LEN};
use crate::zxid::Zxid;

/// Length of the record header.
pub const RECORD_HEADER_LEN: usize = 32;
/// `kind` of a record whose payload is a transaction.
pub const RECORD_KIND_TXN: u32 = 1;

/// A record as the commit thread writes it.
#[derive(Debug, Clone, Copy)]
pub struct RecordHeader {
    /// The transaction's zxid.
    pub zxid: Zxid,
    /// Offset of the first record of this record's write batch.
    pub batch_start: u64,
}

/// Bytes a record with a payload of `payload_len` bytes takes in a segment, padding included.
pub const fn encoded_len(payload_len: usize) -> u64 {
    pad8((RECORD_HEADER_LEN + payload_len) as u64)
}

/// Appends the encoded record (header, payload, padding) to `out`.
pub fn encode_into(out: &mut Vec<u8>, salt: u64, header: RecordHeader, payload: &[u8]) {
    let start = out.len();
    let record_len = (RECORD_HEADER_LEN + payload.len()) as u32;
    out.extend_from_slice(&record_len.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]); // CRC, filled below
    out.extend_from_slice(&header.zxid.0.to_le_bytes());
    out.extend_from_slice(&header.batch_start.to_le_bytes());
    out.extend_from_slice(&RECORD_KIND_TXN.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = {
        let record = out.get(start..).unwrap_or_default();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&salt.to_le_bytes());
        hasher.update(record.get(0..4).unwrap_or_default());
        hasher.update(record.get(8..).unwrap_or_default());
        hasher.finalize()
    };
    if let Some(slot) = out.get_mut(start + 4..start + 8) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    let padded = encoded_len(payload.len()) as usize;
    out.resize(start + padded, 0);
}

/// A record found valid in a segment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    /// Offset of the record in the segment.
    pub offset: u64,
    /// The record's zxid.
    pub zxid: Zxid,
    /// Offset of the first record of its write batch.
    pub batch_start: u64,
    /// Offset of the payload.
    pub payload_offset: u64,
    /// Payload length.
    pub payload_len: u32,
    /// Offset just past the record's padding: where the next record starts.
    pub next_offset: u64,
}

/// Why no valid record starts at an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The length word is zero: no record was written here.
    Empty,
    /// Something is written here but it is not a valid record; the text says what.
    Invalid(String),
}

/// Checks the record at `offset` of a segment with `salt` whose bytes are `segment`.
pub fn decode_at(segment: &[u8], salt: u64, offset: u64) -> Result<RecordRef, RecordError> {
    let invalid = |why: String| Err(RecordError::Invalid(why));
    if !offset.is_multiple_of(8) || offset < SEGMENT_HEADER_LEN as u64 {
        return invalid(format!("offset {offset} is not a record boundary"));
    }
    let at = usize::try_from(offset).map_err(|_| RecordError::Invalid("offset".into()))?;
    let Some(record_len) = read_u32(segment, at) else {
        return invalid("the length word is past the end of the file".into());
    };
    if record_len == 0 {
        return Err(RecordError::Empty);
    }
    if (record_len as usize) < RECORD_HEADER_LEN {
        return invalid(format!(
            "record length {record_len} is shorter than a record header"
        ));
    }
    let next_offset = offset + pad8(u64::from(record_len));
    if next_offset > segment.len() as u64 {
        return invalid(format!(
            "record length {record_len} runs past the end of the segment"
        ));
    }
    let end = at + record_len as usize;
    let (Some(stored_crc), Some(zxid), Some(batch_start), Some(kind), Some(reserved)) = (
        read_u32(segment, at + 4),
        read_u64(segment, at + 8),
        read_u64(segment, at + 16),
        read_u32(segment, at + 24),
        read_u32(segment, at + 28),
    ) else {
        return invalid("truncated record header".into());
    };
    // The fixed fields first: a probe through garbage (FORMAT.md 5, row 4) rejects almost every
    // offset here, before paying for a checksum over up to a whole segment.
    if kind != RECORD_KIND_TXN {
        return invalid(format!("unknown record kind {kind}"));
    }
    if reserved != 0 {
        return invalid("reserved record field is not zero".into());
    }
    if !batch_start.is_multiple_of(8)
        || batch_start < SEGMENT_HEADER_LEN as u64
        || batch_start > offset
    {
        return invalid(format!(
            "batch start {batch_start} is impossible at offset {offset}"
        ));
    }
    if zxid == 0 {
        return invalid("zxid 0".into());
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(segment.get(at..at + 4).unwrap_or_default());
    hasher.update(segment.get(at + 8..end).unwrap_or_default());
    let computed_crc = hasher.finalize();
    if computed_crc != stored_crc {
        return invalid(format!(
            "checksum mismatch (stored {stored_crc:08x}, computed {computed_crc:08x})"
        ));
    }
    Ok(RecordRef {
        offset,
        zxid: Zxid(zxid),
        batch_start,
        payload_offset: offset + RECORD_HEADER_LEN as u64,
        payload_len: record_len - RECORD_HEADER_LEN as u32,
        next_offset,
    })
}

impl RecordRef {
    /// The payload bytes of this record within the segment it was decoded from.
    pub fn payload<'a>(&self, segment: &'a [u8]) -> &'a [u8] {
        let start = self.payload_offset as usize;
        segment
            .get(start..start + self.payload_len as usize)
            .unwrap_or_default()
    }
}

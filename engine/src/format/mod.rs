//! Byte layouts of the engine's files (FORMAT.md). Decoders take `&[u8]` and return `Result`; they
//! never panic on any input.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub mod record;
pub mod segment_header;

/// Reads a little-endian u32 at `at`, if the bytes are there.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

/// Reads a little-endian u64 at `at`, if the bytes are there.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let word = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(word.try_into().ok()?))
}

/// Rounds `n` up to the next multiple of 8.
pub const fn pad8(n: u64) -> u64 {
    (n + 7) & !7
}

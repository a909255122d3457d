//! The mmap write path.
//!
//! Hazards of a shared mapping, and how this engine avoids each:
//! - A write into a hole allocates at fault time and raises `SIGBUS` on a full disk: segments are
//!   zero-filled with ordinary writes before they are mapped (`LogDir::create_zeroed`), so every
//!   page already has its block.
//! - Truncation of the file by someone else turns accesses past the new end into `SIGBUS`: the log
//!   directory is locked (`LOCK`), and the engine itself never shrinks a mapped segment.
//! - Pages reach the disk in any order before `msync`: every record has its own CRC and the
//!   recovery rules of FORMAT.md 5 classify any partial result.
//! - A failed writeback may leave pages marked clean: an `msync` error poisons the log; it is never
//!   retried.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::MmapMut;

use super::SegmentWriter;

/// Writes records by copying them into a shared mapping of the whole segment.
pub struct MmapWriter {
    map: MmapMut,
    // Kept open for the lifetime of the mapping (and so that it is closed after it).
    _file: File,
}

impl MmapWriter {
    /// Maps the whole (already zero-filled) segment file for writing.
    pub fn new(file: File) -> io::Result<MmapWriter> {
        // SAFETY: the file is fully allocated (zero-filled by create_zeroed), so no store can fault
        // on allocation; its length never changes while mapped; only this writer writes to it.
        let map = unsafe { MmapMut::map_mut(&file)? };
        Ok(MmapWriter { map, _file: file })
    }

    fn range(&self, offset: u64, len: usize) -> io::Result<std::ops::Range<usize>> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start.checked_add(len).ok_or(io::ErrorKind::InvalidInput)?;
        if end > self.map.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("write of {len} bytes at {offset} is past the segment's end"),
            ));
        }
        Ok(start..end)
    }
}

impl SegmentWriter for MmapWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let range = self.range(offset, data.len())?;
        self.map[range].copy_from_slice(data);
        Ok(())
    }

    fn sync(&mut self, offset: u64, len: u64) -> io::Result<()> {
        let range = self.range(offset, len as usize)?;
        // memmap2 rounds the range out to whole pages and calls msync(MS_SYNC).
        self.map.flush_range(range.start, range.len())
    }
}

//! The blocks of a snapshot file (FORMAT.md 8.2), read, checked and decompressed one after the
//! other: what the reader needs before it can parse sections.
//!
//! Reading, checksumming and decompressing take about a third of a large snapshot's load; the
//! other two thirds go to building the tree. [`for_each_block`] therefore runs the block side
//! on a thread of its own when the file has several blocks, so that the two halves overlap on
//! two cores. The order of what the caller sees does not change: blocks in file order, and a
//! damaged block reported when the caller reaches it, after every block before it.

use std::io::Read;
use std::path::Path;
use std::sync::mpsc;

use super::header::{BlockHeader, SnapshotTrailer, BLOCK_HEADER_LEN, MAX_BLOCK_LEN};
use super::reader::{read_exact, Place};
use crate::error::{Error, Result};

/// One block's content, its checksums verified.
pub(crate) struct Block {
    /// Offset of the block header in the file, for error reports.
    pub(crate) offset: u64,
    /// The decompressed content.
    pub(crate) content: Vec<u8>,
}

/// What the blocks added up to, for the checks against the trailer.
pub(crate) struct BlocksRead {
    pub(crate) blocks: u64,
    /// Decompressed bytes in all.
    pub(crate) produced: u64,
    /// CRC of every byte before the trailer (the header's included).
    pub(crate) file_crc: u32,
}

/// Reads the blocks between the header and the trailer of a file positioned just after its
/// header.
struct BlockReader<'a, R> {
    file: R,
    path: &'a Path,
    trailer: &'a SnapshotTrailer,
    trailer_offset: u64,
    offset: u64,
    read: BlocksRead,
    file_crc: crc32fast::Hasher,
    decompressor: zstd::bulk::Decompressor<'static>,
    compressed: Vec<u8>,
}

impl<R: Read> BlockReader<'_, R> {
    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Place {
            path: self.path,
            offset: self.offset,
        }
        .corrupt(reason)
    }

    /// The next block, its content written into `content` (which is cleared first), or `None`
    /// at the trailer.
    fn next(&mut self, mut content: Vec<u8>) -> Result<Option<Block>> {
        if self.offset >= self.trailer_offset {
            return Ok(None);
        }
        if self.trailer_offset - self.offset < BLOCK_HEADER_LEN as u64 {
            return Err(self.corrupt("a block header runs into the trailer"));
        }
        let mut raw_block_header = [0u8; BLOCK_HEADER_LEN];
        read_exact(&mut self.file, &mut raw_block_header, self.path)?;
        let block = BlockHeader::decode(&raw_block_header)
            .ok_or_else(|| self.corrupt("short block header"))?;
        let frame_offset = self.offset + BLOCK_HEADER_LEN as u64;
        let compressed_len = u64::from(block.compressed_len);
        if compressed_len > self.trailer_offset - frame_offset {
            return Err(self.corrupt(format!(
                "block of {compressed_len} compressed bytes runs past the trailer"
            )));
        }
        // zstd never makes a block larger than this: a longer one is damaged, and this bounds
        // the allocation below whatever the file's size.
        let compressed_max = zstd::zstd_safe::compress_bound(MAX_BLOCK_LEN) as u64;
        if compressed_len > compressed_max {
            return Err(self.corrupt(format!(
                "block of {compressed_len} compressed bytes exceeds zstd's bound of \
                 {compressed_max}"
            )));
        }
        let uncompressed_len = block.uncompressed_len as usize;
        if uncompressed_len > MAX_BLOCK_LEN {
            return Err(self.corrupt(format!(
                "block of {uncompressed_len} uncompressed bytes exceeds the limit of \
                 {MAX_BLOCK_LEN}"
            )));
        }
        let body_len = self.trailer.body_len;
        if u64::from(block.uncompressed_len) > body_len.saturating_sub(self.read.produced) {
            return Err(self.corrupt(format!(
                "block of {uncompressed_len} bytes runs past the body length {body_len} of the \
                 trailer"
            )));
        }
        let mut compressed = std::mem::take(&mut self.compressed);
        compressed.clear();
        compressed.resize(block.compressed_len as usize, 0);
        let read = read_exact(&mut self.file, &mut compressed, self.path);
        self.compressed = compressed;
        read?;
        let crc = crc32fast::hash(&self.compressed);
        if crc != block.crc {
            return Err(self.corrupt(format!(
                "block checksum mismatch (stored {:08x}, computed {crc:08x})",
                block.crc
            )));
        }
        content.clear();
        content.reserve(uncompressed_len);
        let decompressed = self
            .decompressor
            .decompress_to_buffer(&self.compressed, &mut content)
            .map_err(|e| self.corrupt(format!("block does not decompress: {e}")))?;
        if decompressed != uncompressed_len || content.len() != uncompressed_len {
            return Err(self.corrupt(format!(
                "block decompresses to {decompressed} bytes, its header says {uncompressed_len}"
            )));
        }
        let content_crc = crc32fast::hash(&content);
        if content_crc != block.content_crc {
            return Err(self.corrupt(format!(
                "block content checksum mismatch (stored {:08x}, computed {content_crc:08x})",
                block.content_crc
            )));
        }
        self.file_crc.update(&raw_block_header);
        self.file_crc.update(&self.compressed);
        self.read.produced += u64::from(block.uncompressed_len);
        self.read.blocks += 1;
        let offset = self.offset;
        self.offset = frame_offset + compressed_len;
        Ok(Some(Block { offset, content }))
    }

    fn finish(self) -> BlocksRead {
        BlocksRead {
            file_crc: self.file_crc.finalize(),
            ..self.read
        }
    }
}

/// Blocks handed from the reading thread to the caller and not yet taken back: enough to keep
/// both sides busy, few enough to bound memory to a few blocks.
const BLOCKS_IN_FLIGHT: usize = 2;

/// Reads every block of `file` (positioned just after the header, whose bytes are `raw_header`)
/// up to the trailer at `trailer_offset`, and hands each to `take` in order. Stops at the first
/// error, its own or `take`'s.
pub(crate) fn for_each_block<R: Read + Send>(
    file: R,
    path: &Path,
    raw_header: &[u8],
    trailer: &SnapshotTrailer,
    trailer_offset: u64,
    mut take: impl FnMut(&Block) -> Result<()>,
) -> Result<BlocksRead> {
    let mut file_crc = crc32fast::Hasher::new();
    file_crc.update(raw_header);
    let mut reader = BlockReader {
        file,
        path,
        trailer,
        trailer_offset,
        offset: raw_header.len() as u64,
        read: BlocksRead {
            blocks: 0,
            produced: 0,
            file_crc: 0,
        },
        file_crc,
        decompressor: zstd::bulk::Decompressor::new()
            .map_err(|e| Error::io("start the zstd decompressor for", path, e))?,
        compressed: Vec::new(),
    };
    if trailer.blocks <= 1 {
        // Nothing to overlap: no thread.
        let mut content = Vec::new();
        while let Some(block) = reader.next(content)? {
            take(&block)?;
            content = block.content;
        }
        return Ok(reader.finish());
    }
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Result<Block>>(BLOCKS_IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let producer = std::thread::Builder::new()
            .name("zk-snap-read".into())
            .spawn_scoped(scope, move || {
                loop {
                    let content = empty_rx.try_recv().unwrap_or_default();
                    match reader.next(content) {
                        Ok(Some(block)) => {
                            if full_tx.send(Ok(block)).is_err() {
                                // The caller stopped: its error is the one reported.
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            let _ = full_tx.send(Err(e));
                            break;
                        }
                    }
                }
                reader.finish()
            })
            .map_err(|e| Error::io("start the snapshot reading thread for", path, e))?;
        let taken = (|| {
            for block in full_rx.iter() {
                let block = block?;
                take(&block)?;
                // A full buffer back to the reader, so it does not allocate (and fault in) a
                // new one for every block; it may be gone already, then the buffer is dropped.
                let _ = empty_tx.send(block.content);
            }
            Ok(())
        })();
        // Dropping the receiver makes a reader still sending stop.
        drop(full_rx);
        let read = producer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        taken.map(|()| read)
    })
}

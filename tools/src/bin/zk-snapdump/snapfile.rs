//! Reading a snapshot file that may be damaged, with the engine's reader doing all the decoding.
//!
//! First a pass of our own over the file's fixed parts (FORMAT.md 8): the header, the trailer,
//! each block header and the checksum of each block's compressed bytes, and the whole-file
//! checksum. It needs no decompression, so it finds damage the engine's reader would stop at
//! before handing anything on (a missing trailer stops it before the first section).
//!
//! Then the engine's reader ([`read_snapshot_from`]) streams the sections to a visitor. When the
//! first pass found nothing wrong, it reads the file as it is. When it found damage, it reads a
//! stand-in: the header (re-encoded from the fields the damaged one still holds, or from the file
//! name), the intact blocks before the first damaged one, taken from the file unchanged, and a
//! trailer that describes exactly those blocks. Every section in those blocks then reaches the
//! visitor, verified by the engine's own checks (block checksums, content checksums, section
//! parsing), and what the operator sees is precisely what the file still holds. The stand-in
//! is never written anywhere.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use zk_engine::snapshot::{
    read_snapshot_from, SnapshotHeader, SnapshotSummary, SnapshotTrailer, SnapshotVisitor,
    BLOCK_HEADER_LEN, COMPRESSION_ZSTD, MAX_BLOCK_LEN, OLDEST_SNAPSHOT_FORMAT_VERSION,
    SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_LEN, SNAPSHOT_MAGIC, SNAPSHOT_TRAILER_LEN,
    TRAILER_MAGIC,
};
use zk_engine::{Error, Zxid};

use crate::progress::Progress;

/// CRC-32 (IEEE, reflected), as FORMAT.md 1 defines it; written out here so the tool needs no
/// checksum crate.
#[derive(Clone, Copy)]
pub struct Crc32(u32);

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32 {
    /// A fresh checksum.
    pub fn new() -> Crc32 {
        Crc32(0xFFFF_FFFF)
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.0;
        for &b in bytes {
            crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
        }
        self.0 = crc;
    }

    /// The checksum of everything added.
    pub fn finish(self) -> u32 {
        !self.0
    }

    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> u32 {
        let mut crc = Crc32::new();
        crc.update(bytes);
        crc.finish()
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

/// The header's fields as the file holds them, valid or not (FORMAT.md 8.1).
#[derive(Debug, Clone, Copy)]
pub struct RawHeader {
    /// Format version.
    pub version: u32,
    /// Last zxid applied when the snapshot began.
    pub start_zxid: Zxid,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Compression (1 = zstd).
    pub compression: u32,
    /// Uncompressed bytes per block the writer aimed at.
    pub block_size: u32,
}

/// The trailer's fields as the file holds them (FORMAT.md 8.4).
#[derive(Debug, Clone, Copy)]
pub struct RawTrailer {
    /// Last zxid applied when the walk finished.
    pub end_zxid: Zxid,
    /// Tree digest at `end_zxid`.
    pub digest: u64,
    /// Node sections.
    pub nodes: u64,
    /// Sessions.
    pub sessions: u32,
    /// Blocks.
    pub blocks: u32,
    /// Uncompressed body length.
    pub body_len: u64,
    /// Checksum of everything before the trailer.
    pub file_crc: u32,
}

/// One block as its header describes it.
#[derive(Debug, Clone, Copy)]
pub struct Block {
    /// Offset of its header.
    pub offset: u64,
    /// Length of its zstd frame.
    pub compressed_len: u32,
    /// Length once decompressed.
    pub uncompressed_len: u32,
}

/// Something wrong with a snapshot.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Byte offset in the file.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
    /// The file cannot be read at all, or is in a format this build does not know (rather
    /// than damaged).
    pub unreadable: bool,
}

/// What the first pass found.
#[derive(Debug, Clone)]
pub struct Scan {
    /// File length.
    pub file_len: u64,
    /// The header fields, when the magic number is there.
    pub header: Option<RawHeader>,
    /// Whether the header passed every check.
    pub header_ok: bool,
    /// The trailer fields, when the trailer passed every check.
    pub trailer: Option<RawTrailer>,
    /// Intact blocks before the first damaged one (all of them when none is).
    pub blocks: Vec<Block>,
    /// Whether every block up to the trailer is intact and the whole-file checksum matches.
    pub blocks_ok: bool,
    /// Intact blocks after a damaged one (unreadable: a block boundary may fall anywhere in
    /// the body, so they cannot be parsed without the bytes before them).
    pub blocks_after_damage: u64,
    /// Everything wrong, in file order.
    pub problems: Vec<Problem>,
}

impl Scan {
    /// Whether the file passed every check of the first pass.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The first pass over `path` (module doc). Fails only when the file cannot be read.
pub fn scan(path: &Path, progress: &mut Progress) -> io::Result<Scan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut scan = Scan {
        file_len,
        header: None,
        header_ok: false,
        trailer: None,
        blocks: Vec::new(),
        blocks_ok: false,
        blocks_after_damage: 0,
        problems: Vec::new(),
    };
    let problem = |offset: u64, what: String| Problem {
        offset,
        what,
        unreadable: false,
    };

    let mut raw_header = [0u8; SNAPSHOT_HEADER_LEN];
    let header_len = read_up_to(&mut reader, &mut raw_header)?;
    let raw_header = raw_header.get(..header_len).unwrap_or_default();
    if raw_header.len() < SNAPSHOT_HEADER_LEN {
        scan.problems.push(problem(
            0,
            format!("the file is {file_len} bytes, shorter than a snapshot header"),
        ));
        return Ok(scan);
    }
    if raw_header.get(..8) != Some(&SNAPSHOT_MAGIC[..]) {
        scan.problems
            .push(problem(0, "bad magic number: not a snapshot".into()));
    } else {
        let header = RawHeader {
            version: u32_at(raw_header, 8),
            start_zxid: Zxid(u64_at(raw_header, 16)),
            created_ms: u64_at(raw_header, 24),
            compression: u32_at(raw_header, 32),
            block_size: u32_at(raw_header, 36),
        };
        scan.header = Some(header);
        let stored = u32_at(raw_header, 60);
        let computed = Crc32::of(raw_header.get(..60).unwrap_or_default());
        let why = if stored != computed {
            Some(format!(
                "header checksum mismatch (stored {stored:08x}, computed {computed:08x})"
            ))
        } else if !(OLDEST_SNAPSHOT_FORMAT_VERSION..=SNAPSHOT_FORMAT_VERSION)
            .contains(&header.version)
        {
            scan.problems.push(Problem {
                offset: 8,
                what: format!(
                    "snapshot format version {} is not supported (this build reads versions \
                     {OLDEST_SNAPSHOT_FORMAT_VERSION} to {SNAPSHOT_FORMAT_VERSION}); use a newer \
                     zk-snapdump",
                    header.version
                ),
                unreadable: true,
            });
            return Ok(scan);
        } else if u32_at(raw_header, 12) as usize != SNAPSHOT_HEADER_LEN {
            Some(format!(
                "header length {}, expected 64",
                u32_at(raw_header, 12)
            ))
        } else if header.compression != COMPRESSION_ZSTD {
            Some(format!(
                "unknown compression {} (1 = zstd is the only one)",
                header.compression
            ))
        } else if raw_header
            .get(40..60)
            .is_some_and(|r| r.iter().any(|&b| b != 0))
        {
            Some("reserved header bytes are not zero".into())
        } else {
            None
        };
        match why {
            Some(why) => scan
                .problems
                .push(problem(0, format!("invalid header: {why}"))),
            None => scan.header_ok = true,
        }
    }

    // The trailer: the last 64 bytes.
    let trailer_offset = file_len.saturating_sub(SNAPSHOT_TRAILER_LEN as u64);
    let mut trailer_problem = None;
    if file_len < (SNAPSHOT_HEADER_LEN + SNAPSHOT_TRAILER_LEN) as u64 {
        trailer_problem = Some(problem(
            file_len,
            format!("the file is {file_len} bytes, too short to hold a trailer: it was cut short"),
        ));
    } else {
        let mut raw = [0u8; SNAPSHOT_TRAILER_LEN];
        reader.seek(SeekFrom::Start(trailer_offset))?;
        reader.read_exact(&mut raw)?;
        let stored = u32_at(&raw, 60);
        let computed = Crc32::of(raw.get(..60).unwrap_or_default());
        if raw.get(..8) != Some(&TRAILER_MAGIC[..]) {
            trailer_problem = Some(problem(
                trailer_offset,
                "no trailer at the end of the file (bad magic number): the snapshot is \
                 incomplete, cut short or never finished"
                    .into(),
            ));
        } else if stored != computed {
            trailer_problem = Some(problem(
                trailer_offset,
                format!("trailer checksum mismatch (stored {stored:08x}, computed {computed:08x})"),
            ));
        } else {
            scan.trailer = Some(RawTrailer {
                end_zxid: Zxid(u64_at(&raw, 8)),
                digest: u64_at(&raw, 16),
                nodes: u64_at(&raw, 24),
                sessions: u32_at(&raw, 32),
                blocks: u32_at(&raw, 36),
                body_len: u64_at(&raw, 40),
                file_crc: u32_at(&raw, 48),
            });
        }
    }

    // The blocks, up to the trailer (or the end of the file when there is none).
    let blocks_end = if scan.trailer.is_some() {
        trailer_offset
    } else {
        file_len
    };
    reader.seek(SeekFrom::Start(SNAPSHOT_HEADER_LEN as u64))?;
    let mut file_crc = Crc32::new();
    file_crc.update(raw_header);
    let mut offset = SNAPSHOT_HEADER_LEN as u64;
    let mut chunk = vec![0u8; 1 << 16];
    let mut block_problem = None;
    while offset < blocks_end {
        progress.update(offset);
        if blocks_end - offset < BLOCK_HEADER_LEN as u64 {
            if block_problem.is_some() {
                break;
            }
            block_problem = Some(problem(
                offset,
                format!(
                    "{} bytes left before the {}, too few for a block header",
                    blocks_end - offset,
                    if scan.trailer.is_some() {
                        "trailer"
                    } else {
                        "end of the file"
                    }
                ),
            ));
            break;
        }
        let mut raw = [0u8; BLOCK_HEADER_LEN];
        reader.read_exact(&mut raw)?;
        let block = Block {
            offset,
            compressed_len: u32_at(&raw, 0),
            uncompressed_len: u32_at(&raw, 4),
        };
        let stored_crc = u32_at(&raw, 8);
        let frame_offset = offset + BLOCK_HEADER_LEN as u64;
        let compressed_len = u64::from(block.compressed_len);
        if compressed_len > blocks_end - frame_offset {
            if block_problem.is_some() {
                break;
            }
            block_problem =
                Some(problem(
                    offset,
                    format!(
                    "block {} says it holds {compressed_len} compressed bytes, but only {} are \
                     left before the {}",
                    scan.blocks.len(),
                    blocks_end - frame_offset,
                    if scan.trailer.is_some() { "trailer" } else { "end of the file" }
                ),
                ));
            break;
        }
        if block.uncompressed_len as usize > MAX_BLOCK_LEN {
            if block_problem.is_some() {
                break;
            }
            block_problem = Some(problem(
                offset,
                format!(
                    "block {} says it holds {} uncompressed bytes, more than the limit of \
                     {MAX_BLOCK_LEN}",
                    scan.blocks.len(),
                    block.uncompressed_len
                ),
            ));
            break;
        }
        let mut block_crc = Crc32::new();
        let mut left = compressed_len;
        file_crc.update(&raw);
        while left > 0 {
            let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
            let buf = chunk.get_mut(..n).unwrap_or_default();
            reader.read_exact(buf)?;
            block_crc.update(buf);
            file_crc.update(buf);
            left -= n as u64;
        }
        let computed_crc = block_crc.finish();
        if block_problem.is_some() {
            // Past the damage: only count what still looks intact.
            if computed_crc == stored_crc {
                scan.blocks_after_damage += 1;
            }
            offset = frame_offset + compressed_len;
            continue;
        }
        if computed_crc != stored_crc {
            block_problem = Some(problem(
                offset,
                format!(
                    "block {} is damaged: checksum mismatch over its {compressed_len} \
                     compressed bytes (stored {stored_crc:08x}, computed {computed_crc:08x})",
                    scan.blocks.len()
                ),
            ));
            // The length word was sane: the next block starts after this one.
            offset = frame_offset + compressed_len;
            continue;
        }
        scan.blocks.push(block);
        offset = frame_offset + compressed_len;
    }
    match block_problem {
        Some(found) => scan.problems.push(found),
        None => {
            if let Some(trailer) = scan.trailer {
                let computed = file_crc.finish();
                if computed != trailer.file_crc {
                    scan.problems.push(problem(
                        trailer_offset,
                        format!(
                            "whole-file checksum mismatch (stored {:08x}, computed {computed:08x})",
                            trailer.file_crc
                        ),
                    ));
                } else if scan.blocks.len() as u64 != u64::from(trailer.blocks) {
                    scan.problems.push(problem(
                        trailer_offset,
                        format!(
                            "the file holds {} blocks, the trailer says {}",
                            scan.blocks.len(),
                            trailer.blocks
                        ),
                    ));
                } else {
                    scan.blocks_ok = true;
                }
            }
        }
    }
    if let Some(found) = trailer_problem {
        scan.problems.push(found);
    }
    scan.problems.sort_by_key(|p| p.offset);
    Ok(scan)
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match reader.read(buf.get_mut(done..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// How the sections were read.
pub enum Sections {
    /// The whole file, as it is; the engine's verdict.
    Whole(Result<SnapshotSummary, Error>),
    /// A stand-in of its readable part (module doc); the engine's complaint about the stand-in's
    /// end, which only repeats what the first pass found, is dropped unless it comes earlier.
    Salvaged {
        /// Intact blocks that were read.
        blocks: usize,
        /// An error of the engine's reader inside those blocks.
        error: Option<Error>,
    },
    /// Nothing could be read.
    Nothing(String),
}

/// Streams the readable sections of the snapshot at `path` to `visitor` (module doc).
pub fn read_sections(
    path: &Path,
    scan: &Scan,
    name_zxid: Option<Zxid>,
    visitor: &mut dyn SnapshotVisitor,
) -> Sections {
    if scan.intact() {
        let opened = File::open(path).map_err(|e| Error::io("open the snapshot", path, e));
        return Sections::Whole(opened.and_then(|file| {
            read_snapshot_from(
                BufReader::with_capacity(1 << 20, file),
                scan.file_len,
                path,
                visitor,
            )
        }));
    }
    if scan.problems.iter().any(|p| p.unreadable) {
        return Sections::Nothing("the format version is not supported".into());
    }
    let Some(start_zxid) = scan.header.map(|h| h.start_zxid).or(name_zxid) else {
        return Sections::Nothing(
            "no header and no snapshot file name to take the start zxid from".into(),
        );
    };
    if scan.blocks.is_empty() {
        return Sections::Nothing("no intact block".into());
    }
    let header = SnapshotHeader {
        version: scan.header.map_or(SNAPSHOT_FORMAT_VERSION, |h| h.version),
        start_zxid,
        created_ms: scan.header.map(|h| h.created_ms).unwrap_or(0),
        block_size: scan.header.map(|h| h.block_size).unwrap_or(0),
    }
    .encode();
    let blocks_end = scan
        .blocks
        .last()
        .map(|b| b.offset + BLOCK_HEADER_LEN as u64 + u64::from(b.compressed_len))
        .unwrap_or(SNAPSHOT_HEADER_LEN as u64);
    let body_len: u64 = scan
        .blocks
        .iter()
        .map(|b| u64::from(b.uncompressed_len))
        .sum();
    // The whole-file checksum of the stand-in: its header, then the blocks as they are.
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => return Sections::Nothing(format!("cannot open the file: {e}")),
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut crc = Crc32::new();
    crc.update(&header);
    let copied = reader
        .seek(SeekFrom::Start(SNAPSHOT_HEADER_LEN as u64))
        .and_then(|_| {
            let mut left = blocks_end - SNAPSHOT_HEADER_LEN as u64;
            let mut chunk = vec![0u8; 1 << 16];
            while left > 0 {
                let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                let buf = chunk.get_mut(..n).unwrap_or_default();
                reader.read_exact(buf)?;
                crc.update(buf);
                left -= n as u64;
            }
            Ok(())
        });
    if let Err(e) = copied {
        return Sections::Nothing(format!("cannot read the file: {e}"));
    }
    let original = scan.trailer;
    // A body longer than the kept blocks: the section cut by the damage then reads as
    // unfinished (reported at the stand-in's trailer, and dropped), not as damage of its own.
    let body_len = body_len.saturating_add(1 << 40);
    let trailer = SnapshotTrailer {
        end_zxid: original.map(|t| t.end_zxid).unwrap_or(start_zxid),
        digest: original.map(|t| t.digest).unwrap_or(0),
        nodes: original.map(|t| t.nodes).unwrap_or(0),
        sessions: original.map(|t| t.sessions).unwrap_or(0),
        blocks: u32::try_from(scan.blocks.len()).unwrap_or(u32::MAX),
        body_len,
        file_crc: crc.finish(),
    }
    .encode();
    let stand_in_len = blocks_end + SNAPSHOT_TRAILER_LEN as u64;
    let stand_in = StandIn {
        file: reader,
        header,
        blocks_end,
        trailer,
        position: 0,
    };
    match read_snapshot_from(stand_in, stand_in_len, path, visitor) {
        Ok(_) => Sections::Salvaged {
            blocks: scan.blocks.len(),
            error: None,
        },
        Err(Error::Corrupt { offset, .. }) if offset >= blocks_end => Sections::Salvaged {
            blocks: scan.blocks.len(),
            error: None,
        },
        Err(error) => Sections::Salvaged {
            blocks: scan.blocks.len(),
            error: Some(error),
        },
    }
}

/// The stand-in of a damaged snapshot: a new header, the file's bytes from 64 to `blocks_end`,
/// a new trailer.
struct StandIn {
    file: BufReader<File>,
    header: [u8; SNAPSHOT_HEADER_LEN],
    blocks_end: u64,
    trailer: [u8; SNAPSHOT_TRAILER_LEN],
    position: u64,
}

impl Read for StandIn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let header_len = SNAPSHOT_HEADER_LEN as u64;
        let n = if self.position < header_len {
            let from = self
                .header
                .get(self.position as usize..)
                .unwrap_or_default();
            let n = from.len().min(buf.len());
            buf.get_mut(..n)
                .unwrap_or_default()
                .copy_from_slice(from.get(..n).unwrap_or_default());
            n
        } else if self.position < self.blocks_end {
            let left = usize::try_from(self.blocks_end - self.position).unwrap_or(usize::MAX);
            let want = left.min(buf.len());
            self.file.seek(SeekFrom::Start(self.position))?;
            self.file.read(buf.get_mut(..want).unwrap_or_default())?
        } else {
            let at = usize::try_from(self.position - self.blocks_end).unwrap_or(usize::MAX);
            let from = self.trailer.get(at..).unwrap_or_default();
            let n = from.len().min(buf.len());
            buf.get_mut(..n)
                .unwrap_or_default()
                .copy_from_slice(from.get(..n).unwrap_or_default());
            n
        };
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for StandIn {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let len = self.blocks_end + SNAPSHOT_TRAILER_LEN as u64;
        let target = match to {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        match target {
            Some(at) => {
                self.position = at;
                Ok(at)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_check_value() {
        assert_eq!(Crc32::of(b"123456789"), 0xCBF4_3926);
    }
}

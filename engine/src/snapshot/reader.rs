//! Reading a snapshot back: every checksum verified, every length checked before use, damage
//! reported as [`Error::Corrupt`] with the file and the offset of the bad block (FORMAT.md 8.5).
//!
//! The reader checks the header, then the trailer (the last 64 bytes: a snapshot cut short has
//! none), then streams the blocks in order, one in memory at a time, handing each section of
//! the body to a [`SnapshotVisitor`]. The whole-file CRC and the counts in the trailer can only
//! be checked at the end: a visitor sees sections before that, and must discard what it built
//! when [`read_snapshot`] returns an error. It never panics, whatever the bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::blocks::for_each_block;
use super::body::{parse_section, NodeBase, NodeEncoding, Parsed, Section, SnapshotNode};
use super::header::{
    HeaderError, SnapshotHeader, SnapshotTrailer, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_LEN,
    SNAPSHOT_TRAILER_LEN,
};
use crate::error::{Error, Result};
use crate::tree::{DataTree, RestoreCursor};
use crate::txn::Acl;
use crate::zxid::Zxid;

/// Why a visitor stopped the read.
#[derive(Debug)]
pub enum VisitError {
    /// The section contradicts the snapshot (e.g. a node whose parent was not written before
    /// it): reported as [`Error::Corrupt`] at the block being read.
    Invalid(String),
    /// The visitor failed for its own reasons (e.g. its output); returned as is.
    Failed(Error),
}

impl From<Error> for VisitError {
    fn from(error: Error) -> VisitError {
        VisitError::Failed(error)
    }
}

/// Receives the contents of a snapshot, in file order. Every method has a default that does
/// nothing, so a visitor implements only what it needs.
pub trait SnapshotVisitor {
    /// The header and the trailer, both verified, before any section.
    fn begin(
        &mut self,
        _header: &SnapshotHeader,
        _trailer: &SnapshotTrailer,
    ) -> Result<(), VisitError> {
        Ok(())
    }

    /// One open session (the sessions section comes first).
    fn session(&mut self, _session_id: i64, _timeout_ms: i32) -> Result<(), VisitError> {
        Ok(())
    }

    /// An ACL list and its file-local id; it comes before the first node that uses it.
    fn acl_list(&mut self, _id: u32, _acl: Vec<Acl>) -> Result<(), VisitError> {
        Ok(())
    }

    /// One node, parents before children.
    fn node(&mut self, _node: &SnapshotNode<'_>) -> Result<(), VisitError> {
        Ok(())
    }

    /// Everything was read and every check passed.
    fn finish(&mut self, _summary: &SnapshotSummary) -> Result<(), VisitError> {
        Ok(())
    }
}

/// A snapshot that was read and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: SnapshotHeader,
    /// Its trailer.
    pub trailer: SnapshotTrailer,
    /// Its length in bytes.
    pub file_len: u64,
    /// Distinct ACL lists it holds.
    pub acl_lists: u64,
}

/// A visitor that keeps nothing: [`verify_snapshot`].
struct Verifier;

impl SnapshotVisitor for Verifier {}

/// Reads and verifies the whole snapshot at `path` without keeping anything.
pub fn verify_snapshot(path: &Path) -> Result<SnapshotSummary> {
    read_snapshot(path, &mut Verifier)
}

/// Where the reader is, for error reports.
pub(crate) struct Place<'a> {
    pub(crate) path: &'a Path,
    /// Offset of the block being read (or of the header or trailer).
    pub(crate) offset: u64,
}

impl Place<'_> {
    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path: self.path.to_owned(),
            offset: self.offset,
            last_good_zxid: Zxid::NONE,
            reason: reason.into(),
        }
    }
}

/// The body's sections in order, checked as they come.
struct BodyState {
    /// Body bytes handed to the parser so far (the start of `carry`).
    consumed: u64,
    /// Bytes of an unfinished section carried over from earlier blocks.
    carry: Vec<u8>,
    seen_sessions: bool,
    /// Entries of the sessions section still to come.
    sessions_left: u32,
    seen_end: bool,
    nodes: u64,
    sessions: u64,
    /// File-local ACL ids defined so far.
    acl_ids: std::collections::HashSet<u32>,
    /// How node sections are encoded (by the file's version), and for compact ones what the
    /// next is relative to.
    node_encoding: NodeEncoding,
}

/// Reads the snapshot at `path`, verifying everything, and hands its contents to `visitor`
/// (module doc).
pub fn read_snapshot(path: &Path, visitor: &mut dyn SnapshotVisitor) -> Result<SnapshotSummary> {
    let file = File::open(path).map_err(|e| Error::io("open the snapshot", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("stat the snapshot", path, e))?
        .len();
    read_snapshot_from(file, file_len, path, visitor)
}

/// [`read_snapshot`] over any seekable source of `file_len` bytes (e.g. a `Cursor` over bytes in
/// memory, for fuzzing); `path` only names the source in errors.
pub fn read_snapshot_from<R: Read + Seek + Send>(
    mut file: R,
    file_len: u64,
    path: &Path,
    visitor: &mut dyn SnapshotVisitor,
) -> Result<SnapshotSummary> {
    let mut place = Place { path, offset: 0 };
    let fixed_len = (SNAPSHOT_HEADER_LEN + SNAPSHOT_TRAILER_LEN) as u64;
    if file_len < fixed_len {
        return Err(place.corrupt(format!(
            "the file is {file_len} bytes, too short for a snapshot ({fixed_len} at least)"
        )));
    }
    let mut raw_header = [0u8; SNAPSHOT_HEADER_LEN];
    read_exact(&mut file, &mut raw_header, path)?;
    let header = match SnapshotHeader::decode(&raw_header) {
        Ok(header) => header,
        Err(HeaderError::Invalid(reason)) => return Err(place.corrupt(reason)),
        Err(HeaderError::UnsupportedVersion(found)) => {
            return Err(Error::UnsupportedVersion {
                path: path.to_owned(),
                found,
                supported: SNAPSHOT_FORMAT_VERSION,
            })
        }
    };
    let trailer_offset = file_len - SNAPSHOT_TRAILER_LEN as u64;
    let mut raw_trailer = [0u8; SNAPSHOT_TRAILER_LEN];
    file.seek(SeekFrom::Start(trailer_offset))
        .map_err(|e| Error::io("seek in the snapshot", path, e))?;
    read_exact(&mut file, &mut raw_trailer, path)?;
    place.offset = trailer_offset;
    let trailer = SnapshotTrailer::decode(&raw_trailer).map_err(|reason| place.corrupt(reason))?;
    file.seek(SeekFrom::Start(SNAPSHOT_HEADER_LEN as u64))
        .map_err(|e| Error::io("seek in the snapshot", path, e))?;
    visit(&place, visitor.begin(&header, &trailer))?;

    let mut body = BodyState {
        consumed: 0,
        carry: Vec::new(),
        seen_sessions: false,
        sessions_left: 0,
        seen_end: false,
        nodes: 0,
        sessions: 0,
        acl_ids: std::collections::HashSet::new(),
        node_encoding: if header.version >= 2 {
            NodeEncoding::Compact(NodeBase::default())
        } else {
            NodeEncoding::Full
        },
    };
    let read = for_each_block(file, path, &raw_header, &trailer, trailer_offset, |block| {
        let place = Place {
            path,
            offset: block.offset,
        };
        feed(&mut body, &block.content, &trailer, &place, visitor)
    })?;
    let blocks = read.blocks;
    place.offset = trailer_offset;
    if read.file_crc != trailer.file_crc {
        return Err(place.corrupt(format!(
            "whole-file checksum mismatch (stored {:08x}, computed {:08x})",
            trailer.file_crc, read.file_crc
        )));
    }
    let mut mismatches = Vec::new();
    if blocks != u64::from(trailer.blocks) {
        mismatches.push(format!(
            "{blocks} blocks, the trailer says {}",
            trailer.blocks
        ));
    }
    if read.produced != trailer.body_len {
        mismatches.push(format!(
            "a body of {} bytes, the trailer says {}",
            read.produced, trailer.body_len
        ));
    }
    if !body.seen_end || !body.carry.is_empty() {
        mismatches.push("no end tag at the end of the body".to_owned());
    }
    if body.nodes != trailer.nodes {
        mismatches.push(format!(
            "{} nodes, the trailer says {}",
            body.nodes, trailer.nodes
        ));
    }
    if body.sessions != u64::from(trailer.sessions) {
        mismatches.push(format!(
            "{} sessions, the trailer says {}",
            body.sessions, trailer.sessions
        ));
    }
    if !mismatches.is_empty() {
        return Err(place.corrupt(format!(
            "the file does not match its trailer: {}",
            mismatches.join("; ")
        )));
    }
    let summary = SnapshotSummary {
        path: path.to_owned(),
        header,
        trailer,
        file_len,
        acl_lists: body.acl_ids.len() as u64,
    };
    visit(&place, visitor.finish(&summary))?;
    Ok(summary)
}

pub(crate) fn read_exact(file: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<()> {
    file.read_exact(buf)
        .map_err(|e| Error::io("read the snapshot", path, e))
}

fn visit(place: &Place<'_>, outcome: Result<(), VisitError>) -> Result<()> {
    match outcome {
        Ok(()) => Ok(()),
        Err(VisitError::Invalid(reason)) => Err(place.corrupt(reason)),
        Err(VisitError::Failed(error)) => Err(error),
    }
}

/// Parses every whole section of `content` (after what is carried over) and hands it on.
fn feed(
    body: &mut BodyState,
    content: &[u8],
    trailer: &SnapshotTrailer,
    place: &Place<'_>,
    visitor: &mut dyn SnapshotVisitor,
) -> Result<()> {
    if body.carry.is_empty() {
        // Nothing carried over (the common case): parse straight from the block.
        let used = parse_sections(body, content, trailer, place, visitor)?;
        body.carry
            .extend_from_slice(content.get(used..).unwrap_or_default());
    } else {
        let mut carry = std::mem::take(&mut body.carry);
        carry.extend_from_slice(content);
        let used = parse_sections(body, &carry, trailer, place, visitor)?;
        carry.drain(..used);
        body.carry = carry;
    }
    Ok(())
}

/// Hands on every whole section at the front of `bytes`; returns the bytes they took.
fn parse_sections(
    body: &mut BodyState,
    bytes: &[u8],
    trailer: &SnapshotTrailer,
    place: &Place<'_>,
    visitor: &mut dyn SnapshotVisitor,
) -> Result<usize> {
    let mut at = 0usize;
    loop {
        let rest = bytes.get(at..).unwrap_or_default();
        if rest.is_empty() {
            break;
        }
        if body.seen_end {
            return Err(place.corrupt("bytes after the end tag"));
        }
        let body_left = trailer.body_len.saturating_sub(body.consumed + at as u64);
        let parsed = parse_section(rest, body_left, body.sessions_left, body.node_encoding)
            .map_err(|r| place.corrupt(r))?;
        match parsed {
            Parsed::Section(section, used) => {
                at += used;
                take_section(body, section, place, visitor)?;
            }
            Parsed::Incomplete => break,
        }
    }
    body.consumed += at as u64;
    Ok(at)
}

fn take_section(
    body: &mut BodyState,
    section: Section<'_>,
    place: &Place<'_>,
    visitor: &mut dyn SnapshotVisitor,
) -> Result<()> {
    if !body.seen_sessions && !matches!(section, Section::Sessions { .. }) {
        return Err(place.corrupt("the body does not start with the sessions section"));
    }
    match section {
        Section::Sessions { count } => {
            if body.seen_sessions {
                return Err(place.corrupt("a second sessions section"));
            }
            body.seen_sessions = true;
            body.sessions_left = count;
        }
        Section::Session { id, timeout_ms } => {
            body.sessions_left = body.sessions_left.saturating_sub(1);
            body.sessions += 1;
            visit(place, visitor.session(id, timeout_ms))?;
        }
        Section::AclList { id, acl } => {
            if id == 0 || !body.acl_ids.insert(id) {
                return Err(place.corrupt(format!("ACL list id {id} is 0 or defined twice")));
            }
            visit(place, visitor.acl_list(id, acl))?;
        }
        Section::Node(node) => {
            if body.nodes == 0 && node.path != "/" {
                return Err(place.corrupt(format!("the first node is {}, not the root", node.path)));
            }
            if !body.acl_ids.contains(&node.acl_id) {
                return Err(place.corrupt(format!(
                    "node {} uses ACL list {}, which no earlier section defines",
                    node.path, node.acl_id
                )));
            }
            body.nodes += 1;
            if let NodeEncoding::Compact(_) = body.node_encoding {
                body.node_encoding = NodeEncoding::Compact(NodeBase::after(&node.stat));
            }
            visit(place, visitor.node(&node))?;
        }
        Section::End => body.seen_end = true,
    }
    Ok(())
}

/// A tree built from a verified snapshot, not yet replayed.
#[derive(Debug)]
pub struct LoadedSnapshot {
    /// The state in the snapshot; its last applied zxid is the snapshot's start zxid.
    pub tree: DataTree,
    /// The file, header and trailer.
    pub summary: SnapshotSummary,
    /// Time taken to read and build.
    pub duration: Duration,
}

/// Builds a tree from the sections (the visitor [`load_snapshot`] uses).
struct Loader {
    tree: DataTree,
    acls: HashMap<u32, Arc<[Acl]>>,
    cursor: RestoreCursor,
}

/// The size of a version 1 node section with an empty path and no data (tag, path length, data
/// length, ACL id, stat). It caps how many nodes a trailer can make the loader reserve room
/// for; a body of smaller nodes (version 2 ones can be a few bytes) just grows past the
/// reservation.
const MIN_NODE_SECTION_LEN: u64 = 1 + 4 + 4 + 4 + 60;

impl SnapshotVisitor for Loader {
    fn begin(
        &mut self,
        _header: &SnapshotHeader,
        trailer: &SnapshotTrailer,
    ) -> Result<(), VisitError> {
        let nodes = trailer.nodes.min(trailer.body_len / MIN_NODE_SECTION_LEN);
        self.tree
            .reserve_nodes(usize::try_from(nodes).unwrap_or(usize::MAX));
        Ok(())
    }

    fn session(&mut self, session_id: i64, timeout_ms: i32) -> Result<(), VisitError> {
        self.tree.restore_session(session_id, timeout_ms);
        Ok(())
    }

    fn acl_list(&mut self, id: u32, acl: Vec<Acl>) -> Result<(), VisitError> {
        self.acls.insert(id, Arc::from(acl));
        Ok(())
    }

    fn node(&mut self, node: &SnapshotNode<'_>) -> Result<(), VisitError> {
        let acl = self.acls.get(&node.acl_id).ok_or_else(|| {
            VisitError::Invalid(format!("node {} uses an undefined ACL list", node.path))
        })?;
        self.tree
            .restore_node_with(&mut self.cursor, node.path, node.data, acl, node.stat)
            .map_err(|e| {
                VisitError::Invalid(format!(
                    "node {} cannot be restored ({e}): its parent must come before it",
                    node.path
                ))
            })
    }

    fn finish(&mut self, summary: &SnapshotSummary) -> Result<(), VisitError> {
        self.tree.set_last_applied_zxid(summary.header.start_zxid);
        Ok(())
    }
}

/// Reads and verifies the snapshot at `path` and builds the tree it holds (sessions restored,
/// nodes restored parent first, last applied zxid set to its start zxid). The digest is not
/// checked here: a fuzzy snapshot reaches its trailer's digest only once the log has been
/// replayed up to its end zxid.
pub fn load_snapshot(path: &Path) -> Result<LoadedSnapshot> {
    let file = File::open(path).map_err(|e| Error::io("open the snapshot", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("stat the snapshot", path, e))?
        .len();
    load_snapshot_from(file, file_len, path)
}

/// [`load_snapshot`] over any seekable source of `file_len` bytes; `path` only names it in
/// errors.
pub fn load_snapshot_from<R: Read + Seek + Send>(
    source: R,
    file_len: u64,
    path: &Path,
) -> Result<LoadedSnapshot> {
    let started = Instant::now();
    let mut loader = Loader {
        tree: DataTree::new(),
        acls: HashMap::new(),
        cursor: RestoreCursor::default(),
    };
    let summary = read_snapshot_from(source, file_len, path, &mut loader)?;
    Ok(LoadedSnapshot {
        tree: loader.tree,
        summary,
        duration: started.elapsed(),
    })
}

//! Writing a fuzzy snapshot while transactions keep being applied.
//!
//! The walk is depth-first and resumable: a stack of paths still to visit. Each chunk takes the
//! tree's read lock, visits at most [`SnapshotOptions::chunk_nodes`] paths, copies at most
//! about [`SnapshotOptions::chunk_bytes`] and runs for at most about [`MAX_CHUNK_HOLD`] (encoding
//! each node it finds and pushing its children's paths as they are at that moment; a path whose
//! node has vanished since it was pushed is skipped), and releases the lock. Compression and file
//! writes happen outside the lock, so the applying thread waits at most one chunk's copying. The
//! time bound is what keeps a hold short on a busy machine, where the same number of nodes can
//! take several times longer to copy.
//!
//! ACL lists are written inline with ids local to the file (FORMAT.md 8.3): the tree's own ids
//! may be freed and reused while the walk runs, so the writer keys its ids by the list itself and
//! keeps a handle on every list it has written, which also makes the tree's pointer a safe
//! shortcut for "same list as last time".
//!
//! The file is written as `snap.<start_zxid>.tmp`, synced, renamed to its final name, and the
//! directory synced: a snapshot that is listed is complete. A writer dropped before
//! [`SnapshotWriter::finish`] removes its temporary file. As the file grows, the writeback of each
//! [`WRITEBACK_LEN`] is started and every [`SYNC_LEN`] is synced, so that the final sync does not
//! hand the disk tens of MiB at once while the transaction log waits for its own `fdatasync`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::body::{self, field_fits, NodeBase, SnapshotNode, MAX_SECTION_LEN};
use super::header::{
    BlockHeader, SnapshotHeader, SnapshotTrailer, MAX_BLOCK_LEN, MAX_FIELD_LEN,
    SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_LEN, SNAPSHOT_TRAILER_LEN,
};
use super::{snapshot_file_name, sync_dir, temporary_file_name};
use crate::error::{Error, Result};
use crate::storage::file::start_writeback;
use crate::tree::{DataTree, NodeRef};
use crate::txn::Acl;
use crate::zxid::Zxid;

/// The longest a chunk of the walk keeps the read lock, give or take the copying of
/// [`HOLD_CHECK_NODES`] nodes (and any time the thread is not scheduled).
pub const MAX_CHUNK_HOLD: Duration = Duration::from_micros(500);

/// The chunk's clock is read after every this many nodes.
const HOLD_CHECK_NODES: usize = 16;

/// The writeback of the file is started each time this many bytes were written since the last
/// start (`sync_file_range`, a hint).
const WRITEBACK_LEN: u64 = 1 << 20;

/// The file is synced (`fdatasync`) each time this many bytes were written since the last sync.
const SYNC_LEN: u64 = 4 << 20;

/// How a snapshot is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// Paths visited per read-lock hold, at most (a hold also ends after about
    /// [`MAX_CHUNK_HOLD`]). Default: 1000 (well under a millisecond of copying on small nodes,
    /// see the README's benches).
    pub chunk_nodes: usize,
    /// Bytes copied per read-lock hold, at most (a chunk ends after the node that crosses it),
    /// so that large nodes do not stretch a hold. Default: 1 MiB.
    pub chunk_bytes: usize,
    /// Uncompressed bytes per block, at most 64 MiB. Default: 1 MiB.
    pub block_size: usize,
    /// zstd level. Default: 1 (the benches in the README compare 1 and 3).
    pub compression_level: i32,
}

impl Default for SnapshotOptions {
    fn default() -> SnapshotOptions {
        SnapshotOptions {
            chunk_nodes: 1000,
            chunk_bytes: 1024 * 1024,
            block_size: 1024 * 1024,
            compression_level: 1,
        }
    }
}

impl SnapshotOptions {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        if self.chunk_nodes == 0 {
            return Err(Error::Config(
                "snapshot chunk_nodes must be at least 1".into(),
            ));
        }
        if self.block_size == 0 || self.block_size > MAX_BLOCK_LEN {
            return Err(Error::Config(format!(
                "snapshot block_size {} must be between 1 and {MAX_BLOCK_LEN}",
                self.block_size
            )));
        }
        if !zstd::compression_level_range().contains(&self.compression_level) {
            return Err(Error::Config(format!(
                "snapshot compression_level {} is outside zstd's range {:?}",
                self.compression_level,
                zstd::compression_level_range()
            )));
        }
        Ok(())
    }
}

/// What a finished snapshot holds and what writing it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The snapshot file.
    pub path: PathBuf,
    /// The last zxid applied when it began.
    pub start_zxid: Zxid,
    /// The last zxid applied when the walk finished.
    pub end_zxid: Zxid,
    /// The tree digest at `end_zxid`.
    pub digest: u64,
    /// Node sections written.
    pub nodes: u64,
    /// Sessions written.
    pub sessions: u32,
    /// Blocks written.
    pub blocks: u32,
    /// Uncompressed length of the body stream.
    pub body_len: u64,
    /// Length of the file.
    pub file_len: u64,
    /// Read-lock holds the walk took.
    pub chunks: u64,
    /// The longest of them: the longest the applying thread could have waited for the walk.
    pub longest_lock_hold: Duration,
    /// From the start of the walk to the directory sync.
    pub duration: Duration,
}

/// File-local ACL list ids (module doc).
#[derive(Default)]
struct AclIds {
    /// By the tree's id: the list last seen under it and the file id given to it.
    by_tree_id: HashMap<u32, (Arc<[Acl]>, u32)>,
    /// By content: every list written so far.
    by_content: HashMap<Arc<[Acl]>, u32>,
    last_id: u32,
}

impl AclIds {
    /// The file id of `node`'s ACL list, writing an ACL list section to `out` first when the list
    /// is new to this file.
    fn id_for(&mut self, node: &NodeRef<'_>, out: &mut Vec<u8>) -> u32 {
        let list = node.acl();
        let tree_id = node.acl_id();
        if let Some((held, id)) = self.by_tree_id.get(&tree_id) {
            // `held` keeps its allocation alive, so an equal pointer is the same list.
            if std::ptr::eq(held.as_ptr(), list.as_ptr()) && held.len() == list.len() {
                return *id;
            }
        }
        let shared = node.acl_shared();
        let id = match self.by_content.get(&*shared) {
            Some(id) => *id,
            None => {
                self.last_id += 1;
                let id = self.last_id;
                body::encode_acl_list(out, id, &shared);
                self.by_content.insert(Arc::clone(&shared), id);
                id
            }
        };
        self.by_tree_id.insert(tree_id, (shared, id));
        id
    }
}

/// A snapshot being written (module doc). Use [`write_snapshot`] unless the walk must be driven
/// step by step (tests interleave applies between chunks).
pub struct SnapshotWriter {
    options: SnapshotOptions,
    dir: PathBuf,
    temporary_path: PathBuf,
    final_path: PathBuf,
    file: Option<BufWriter<File>>,
    compressor: zstd::bulk::Compressor<'static>,
    /// Body bytes not yet in a block.
    body: Vec<u8>,
    compressed: Vec<u8>,
    file_crc: crc32fast::Hasher,
    file_len: u64,
    /// How much of the file has had its writeback started, and how much was synced.
    written_back: u64,
    synced: u64,
    blocks: u32,
    body_len: u64,
    nodes: u64,
    /// What the next compact node section is relative to (the previous node's stat).
    node_base: NodeBase,
    sessions: u32,
    start_zxid: Zxid,
    /// Paths still to visit.
    stack: Vec<String>,
    acl_ids: AclIds,
    /// A node too large to be written, found during the walk.
    oversized: Option<String>,
    chunks: u64,
    longest_lock_hold: Duration,
    started: Instant,
    finished: bool,
}

fn read_tree(tree: &RwLock<DataTree>) -> std::sync::RwLockReadGuard<'_, DataTree> {
    // A poisoned lock means a panic while the tree was changed; the server stops on that
    // anyway, and the snapshot still reflects what the tree holds.
    tree.read().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

impl SnapshotWriter {
    /// Starts a snapshot of `tree` in directory `dir`: records the last applied zxid and the
    /// sessions (under one read lock), creates the temporary file and writes the header.
    pub fn begin(
        tree: &RwLock<DataTree>,
        dir: &Path,
        options: SnapshotOptions,
    ) -> Result<SnapshotWriter> {
        options.validate()?;
        let started = Instant::now();
        let (start_zxid, sessions) = {
            let tree = read_tree(tree);
            let sessions: Vec<(i64, i32)> = tree.sessions().iter().collect();
            (tree.last_applied_zxid(), sessions)
        };
        let session_count = u32::try_from(sessions.len())
            .map_err(|_| Error::Config("more than 4 billion sessions".into()))?;
        let compressor = zstd::bulk::Compressor::new(options.compression_level)
            .map_err(|e| Error::io("start the zstd compressor for", dir, e))?;
        let temporary_path = dir.join(temporary_file_name(start_zxid));
        let final_path = dir.join(snapshot_file_name(start_zxid));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary_path)
            .map_err(|e| Error::io("create", &temporary_path, e))?;
        let mut writer = SnapshotWriter {
            dir: dir.to_owned(),
            temporary_path,
            final_path,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            compressor,
            body: Vec::with_capacity(options.block_size.saturating_mul(2)),
            compressed: Vec::new(),
            file_crc: crc32fast::Hasher::new(),
            file_len: 0,
            written_back: 0,
            synced: 0,
            blocks: 0,
            body_len: 0,
            nodes: 0,
            node_base: NodeBase::default(),
            sessions: session_count,
            start_zxid,
            stack: vec!["/".to_owned()],
            acl_ids: AclIds::default(),
            oversized: None,
            chunks: 0,
            longest_lock_hold: Duration::ZERO,
            started,
            finished: false,
            options,
        };
        let header = SnapshotHeader {
            version: SNAPSHOT_FORMAT_VERSION,
            start_zxid,
            created_ms: now_ms(),
            block_size: u32::try_from(writer.options.block_size).unwrap_or(u32::MAX),
        };
        writer.write_raw(&header.encode())?;
        debug_assert_eq!(writer.file_len, SNAPSHOT_HEADER_LEN as u64);
        body::encode_sessions(&mut writer.body, &sessions);
        Ok(writer)
    }

    /// The last zxid applied when the snapshot began.
    pub fn start_zxid(&self) -> Zxid {
        self.start_zxid
    }

    /// Whether the walk has visited every path.
    pub fn walk_done(&self) -> bool {
        self.stack.is_empty()
    }

    /// Visits up to `chunk_nodes` paths under one read lock (fewer when `chunk_bytes` or
    /// [`MAX_CHUNK_HOLD`] is reached first), then writes the full blocks. Returns whether the
    /// walk is done.
    pub fn write_chunk(&mut self, tree: &RwLock<DataTree>) -> Result<bool> {
        if self.stack.is_empty() {
            return Ok(true);
        }
        {
            let tree = read_tree(tree);
            let held = Instant::now();
            let byte_limit = self.body.len().saturating_add(self.options.chunk_bytes);
            for visited in 0..self.options.chunk_nodes {
                if self.body.len() >= byte_limit {
                    break;
                }
                if visited > 0
                    && visited % HOLD_CHECK_NODES == 0
                    && held.elapsed() >= MAX_CHUNK_HOLD
                {
                    break;
                }
                let Some(path) = self.stack.pop() else {
                    break;
                };
                let Some(node) = tree.get(&path) else {
                    continue; // deleted since its parent was visited
                };
                self.visit(&path, &node);
                for name in node.children() {
                    self.stack.push(child_path(&path, name));
                }
            }
            self.chunks += 1;
            self.longest_lock_hold = self.longest_lock_hold.max(held.elapsed());
        }
        if let Some(reason) = self.oversized.take() {
            return Err(Error::Config(reason));
        }
        self.write_blocks(false)?;
        Ok(self.stack.is_empty())
    }

    fn visit(&mut self, path: &str, node: &NodeRef<'_>) {
        let data = node.data();
        let acl = node.acl();
        let acl_fits = acl
            .iter()
            .all(|entry| field_fits(entry.scheme.len()) && field_fits(entry.id.len()))
            && body::acl_list_len(acl) <= MAX_SECTION_LEN;
        if !field_fits(path.len()) || !field_fits(data.len()) || !acl_fits {
            self.oversized.get_or_insert_with(|| {
                format!(
                    "node {path} has a field longer than {MAX_FIELD_LEN} bytes ({} bytes of \
                     data), more than a snapshot can hold",
                    data.len()
                )
            });
            return;
        }
        let acl_id = self.acl_ids.id_for(node, &mut self.body);
        let stat = node.stat_persisted();
        body::encode_node_compact(
            &mut self.body,
            &SnapshotNode {
                path,
                data: node.data_option(),
                acl_id,
                stat,
            },
            self.node_base,
        );
        self.node_base = NodeBase::after(&stat);
        self.nodes += 1;
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Err(Error::Closed);
        };
        file.write_all(bytes)
            .map_err(|e| Error::io("write", &self.temporary_path, e))?;
        self.file_crc.update(bytes);
        self.file_len += bytes.len() as u64;
        Ok(())
    }

    /// Compresses and writes every full block of the pending body bytes, and the partial last
    /// one too when `all`.
    fn write_blocks(&mut self, all: bool) -> Result<()> {
        let block_size = self.options.block_size;
        let mut start = 0;
        loop {
            let left = self.body.len() - start;
            if left == 0 || (left < block_size && !all) {
                break;
            }
            let end = start + left.min(block_size);
            let content = self.body.get(start..end).unwrap_or_default();
            self.compressed.clear();
            self.compressed
                .reserve(zstd::zstd_safe::compress_bound(content.len()));
            self.compressor
                .compress_to_buffer(content, &mut self.compressed)
                .map_err(|e| Error::io("compress a block of", &self.temporary_path, e))?;
            let header = BlockHeader {
                compressed_len: u32::try_from(self.compressed.len())
                    .map_err(|_| Error::Config("a compressed block exceeds 4 GiB".into()))?,
                uncompressed_len: content.len() as u32, // at most MAX_BLOCK_LEN
                crc: crc32fast::hash(&self.compressed),
                content_crc: crc32fast::hash(content),
            };
            self.blocks = self
                .blocks
                .checked_add(1)
                .ok_or_else(|| Error::Config("more than 4 billion snapshot blocks".into()))?;
            self.body_len += content.len() as u64;
            let compressed = std::mem::take(&mut self.compressed);
            let written = self
                .write_raw(&header.encode())
                .and_then(|()| self.write_raw(&compressed));
            self.compressed = compressed;
            written?;
            start = end;
        }
        self.body.drain(..start);
        self.push_out()
    }

    /// Starts the writeback of what was written since the last call once that is at least
    /// [`WRITEBACK_LEN`], and syncs once [`SYNC_LEN`] was written since the last sync (module doc).
    fn push_out(&mut self) -> Result<()> {
        if self.file_len - self.written_back < WRITEBACK_LEN {
            return Ok(());
        }
        let Some(file) = self.file.as_mut() else {
            return Err(Error::Closed);
        };
        file.flush()
            .map_err(|e| Error::io("write", &self.temporary_path, e))?;
        let file = file.get_ref();
        start_writeback(file, self.written_back, self.file_len - self.written_back)
            .map_err(|e| Error::io("start the writeback of", &self.temporary_path, e))?;
        self.written_back = self.file_len;
        if self.file_len - self.synced >= SYNC_LEN {
            file.sync_data()
                .map_err(|e| Error::io("fdatasync", &self.temporary_path, e))?;
            self.synced = self.file_len;
        }
        Ok(())
    }

    /// Finishes the walk, writes the end tag and the trailer (the end zxid and digest read under
    /// one read lock), syncs, renames into place and syncs the directory.
    pub fn finish(mut self, tree: &RwLock<DataTree>) -> Result<SnapshotInfo> {
        while !self.write_chunk(tree)? {}
        body::encode_end(&mut self.body);
        self.write_blocks(true)?;
        let (end_zxid, digest) = {
            let tree = read_tree(tree);
            (tree.last_applied_zxid(), tree.digest())
        };
        let trailer = SnapshotTrailer {
            end_zxid,
            digest,
            nodes: self.nodes,
            sessions: self.sessions,
            blocks: self.blocks,
            body_len: self.body_len,
            file_crc: self.file_crc.clone().finalize(),
        };
        self.write_raw(&trailer.encode())?;
        let file = self
            .file
            .take()
            .ok_or(Error::Closed)?
            .into_inner()
            .map_err(|e| Error::io("write", &self.temporary_path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io("fsync", &self.temporary_path, e))?;
        drop(file);
        fs::rename(&self.temporary_path, &self.final_path)
            .map_err(|e| Error::io("rename into place", &self.temporary_path, e))?;
        self.finished = true;
        sync_dir(&self.dir)?;
        debug_assert!(self.file_len >= (SNAPSHOT_HEADER_LEN + SNAPSHOT_TRAILER_LEN) as u64);
        Ok(SnapshotInfo {
            path: self.final_path.clone(),
            start_zxid: self.start_zxid,
            end_zxid,
            digest,
            nodes: self.nodes,
            sessions: self.sessions,
            blocks: self.blocks,
            body_len: self.body_len,
            file_len: self.file_len,
            chunks: self.chunks,
            longest_lock_hold: self.longest_lock_hold,
            duration: self.started.elapsed(),
        })
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if !self.finished {
            self.file = None;
            let _ = fs::remove_file(&self.temporary_path);
        }
    }
}

/// Writes a snapshot of `tree` into `dir`, walking it in chunks while other threads keep
/// applying transactions (module doc).
pub fn write_snapshot(
    tree: &RwLock<DataTree>,
    dir: &Path,
    options: SnapshotOptions,
) -> Result<SnapshotInfo> {
    SnapshotWriter::begin(tree, dir, options)?.finish(tree)
}

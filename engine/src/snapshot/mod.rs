//! Fuzzy snapshots of the data tree (FORMAT.md 8): writing one while transactions keep being
//! applied, reading one back with every checksum verified, and loading one into a [`DataTree`].
//!
//! A snapshot is taken by walking the tree in small chunks, each under a short read lock
//! ([`writer`]): the walk sees some transactions applied after it started and misses others, so
//! the file is *fuzzy* over `start_zxid + 1 ..= end_zxid`. Replaying the log from
//! `start_zxid + 1` with [`DataTree::replay`] makes the state exact; the trailer's digest, taken
//! right after `end_zxid` was applied, proves it.
//!
//! The reader ([`reader`]) never panics and never trusts a length it has not checked: damage is an
//! [`Error::Corrupt`](crate::Error::Corrupt) carrying the file and the offset of the bad block.
//! It offers a visitor API ([`SnapshotVisitor`]) for the offline dumper and for
//! [`load_snapshot`], which builds a tree. This module never touches the transaction log; the
//! [`db`](crate::db) module ties both together.
//!
//! [`DataTree`]: crate::tree::DataTree
//! [`DataTree::replay`]: crate::tree::DataTree::replay
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

mod blocks;
mod body;
mod header;
pub mod reader;
pub mod writer;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::zxid::Zxid;

pub use body::SnapshotNode;
pub use header::{
    SnapshotHeader, SnapshotTrailer, BLOCK_HEADER_LEN, COMPRESSION_ZSTD, MAX_BLOCK_LEN,
    MAX_FIELD_LEN, OLDEST_SNAPSHOT_FORMAT_VERSION, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_LEN,
    SNAPSHOT_MAGIC, SNAPSHOT_TRAILER_LEN, TRAILER_MAGIC,
};
pub use reader::{
    load_snapshot, load_snapshot_from, read_snapshot, read_snapshot_from, verify_snapshot,
    LoadedSnapshot, SnapshotSummary, SnapshotVisitor, VisitError,
};
pub use writer::{write_snapshot, SnapshotInfo, SnapshotOptions, SnapshotWriter};

/// Prefix of every snapshot file name.
const NAME_PREFIX: &str = "snap.";
/// Suffix of a snapshot being written.
const TEMPORARY_SUFFIX: &str = ".tmp";

/// The file name of the snapshot that starts at `start_zxid`: `snap.<16 lower-case hex digits>`.
pub fn snapshot_file_name(start_zxid: Zxid) -> String {
    format!("{NAME_PREFIX}{:016x}", start_zxid.0)
}

/// The name a snapshot has while it is written (FORMAT.md 8).
pub fn temporary_file_name(start_zxid: Zxid) -> String {
    format!("{}{TEMPORARY_SUFFIX}", snapshot_file_name(start_zxid))
}

/// The start zxid named by a snapshot file name, if `name` is one (temporary names are not).
pub fn parse_snapshot_file_name(name: &str) -> Option<Zxid> {
    let hex = name.strip_prefix(NAME_PREFIX)?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(Zxid)
}

/// Whether `name` is a snapshot being written (or left over by a crash).
pub fn is_temporary_file_name(name: &str) -> bool {
    name.strip_suffix(TEMPORARY_SUFFIX)
        .is_some_and(|stem| parse_snapshot_file_name(stem).is_some())
}

/// A snapshot file found in a snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The zxid in its name: the last zxid applied when it began.
    pub start_zxid: Zxid,
    /// Its full path.
    pub path: PathBuf,
}

/// The snapshots in `dir` (final names only), newest first. A missing directory holds none.
pub fn list_snapshots(dir: &Path) -> Result<Vec<SnapshotFile>> {
    let mut found = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(Error::io("list the snapshot directory", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list the snapshot directory", dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(start_zxid) = parse_snapshot_file_name(&name) {
            found.push(SnapshotFile {
                start_zxid,
                path: entry.path(),
            });
        }
    }
    found.sort_by_key(|s| std::cmp::Reverse(s.start_zxid));
    Ok(found)
}

/// Deletes the temporary snapshot files left in `dir` by a crash (none of them was ever listed
/// as a snapshot) and syncs the directory if it removed any. Returns their paths.
pub fn remove_temporary_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(Error::io("list the snapshot directory", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list the snapshot directory", dir, e))?;
        let is_temporary = entry
            .file_name()
            .to_str()
            .is_some_and(is_temporary_file_name);
        if is_temporary {
            let path = entry.path();
            fs::remove_file(&path)
                .map_err(|e| Error::io("remove the unfinished snapshot", &path, e))?;
            log::warn!(
                "removed {}: a snapshot left unfinished by a crash",
                path.display()
            );
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Makes the names in `dir` durable (after a create, rename or delete).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync the snapshot directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let z = Zxid::new(2, 0x1f);
        assert_eq!(snapshot_file_name(z), "snap.000000020000001f");
        assert_eq!(temporary_file_name(z), "snap.000000020000001f.tmp");
        assert_eq!(parse_snapshot_file_name("snap.000000020000001f"), Some(z));
        assert_eq!(parse_snapshot_file_name("snap.000000020000001f.tmp"), None);
        assert_eq!(parse_snapshot_file_name("snap.000000020000001F"), None);
        assert_eq!(parse_snapshot_file_name("log.000000020000001f"), None);
        assert!(is_temporary_file_name("snap.000000020000001f.tmp"));
        assert!(!is_temporary_file_name("snap.000000020000001f"));
        assert!(!is_temporary_file_name("snap.x.tmp"));
        assert_eq!(
            parse_snapshot_file_name("snap.0000000000000000"),
            Some(Zxid::NONE)
        );
    }
}

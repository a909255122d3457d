//! The engine's errors. Corruption (the data on disk is wrong: never retried, never skipped) is kept
//! apart from I/O failure (the environment failed) and from a poisoned log (an earlier sync failed).

use std::io;
use std::path::PathBuf;

use crate::zxid::Zxid;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("I/O error while trying to {op} {}: {source}", path.display())]
    Io {
        /// What the engine was doing, e.g. "fdatasync".
        op: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Bytes on disk are damaged or inconsistent. Start-up stops; nothing is skipped.
    #[error(
        "corrupt data in {} at byte offset {offset} (last good zxid {last_good_zxid}): {reason}. \
         The engine will not start on damaged data; copy the file aside, then restore the data \
         directory from a replica or a backup (zk-logdump --verify shows the extent)",
        path.display()
    )]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset of the damage in that file.
        offset: u64,
        /// The last zxid read intact before the damage (0 if none).
        last_good_zxid: Zxid,
        /// What is wrong.
        reason: String,
    },

    /// A file was written by a newer (or unknown) version of the format.
    #[error(
        "{} has format version {found}, which this build does not read (it reads {supported}); \
         run a newer zk-server",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found in its header.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// An earlier write or sync failed, so the log no longer knows what is durable. Every later
    /// append fails; the process must restart and recover from the log (and its peers).
    #[error(
        "the transaction log is poisoned since an earlier failure ({cause}); it accepts no more \
         writes: restart the server so that it recovers from what is on disk"
    )]
    Poisoned {
        /// The first failure.
        cause: String,
    },

    /// An append was refused because its zxid does not follow the last one in the log.
    #[error("zxid {next} cannot follow {last} in the transaction log (FORMAT.md 4.1)")]
    ZxidOutOfOrder {
        /// The last zxid in the log.
        last: Zxid,
        /// The zxid that was offered.
        next: Zxid,
    },

    /// A record is larger than a segment can hold.
    #[error("a record of {len} bytes does not fit in a segment of {segment_size} bytes")]
    RecordTooLarge {
        /// Payload length.
        len: usize,
        /// Configured segment size.
        segment_size: u64,
    },

    /// A zxid asked for is not in the log.
    #[error("zxid {zxid} is not in the transaction log ({detail})")]
    ZxidNotInLog {
        /// The zxid.
        zxid: Zxid,
        /// What the log holds.
        detail: String,
    },

    /// Another process holds the log directory.
    #[error(
        "the log directory {} is locked by another process (another zk-server on the same \
         dataLogDir?)",
        path.display()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
    },

    /// The configuration is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The log was closed.
    #[error("the transaction log is closed")]
    Closed,
}

impl Error {
    /// Wraps an I/O error with what was being done and where.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Whether this error says the data on disk is damaged (as opposed to the environment failing).
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }
}

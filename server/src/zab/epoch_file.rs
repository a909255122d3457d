//! The two epochs a ZAB server promises across restarts, in one small file in the data
//! directory (`zab.epochs`, layout in `PROTOCOL.md` beside this file).
//!
//! The accepted epoch is a promise not to follow an older leader; the current epoch says which
//! leader's history the log holds. Forgetting either after a crash could let a server vote or
//! acknowledge against what it said before, so the file is replaced atomically and durably, and
//! a damaged file stops the server instead of being read as zeros.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file's name in the data directory.
pub const FILE_NAME: &str = "zab.epochs";
/// The name it is written under before the rename; a leftover one is ignored (and replaced by
/// the next store).
pub const TEMPORARY_FILE_NAME: &str = "zab.epochs.tmp";
/// First bytes of the file.
pub const MAGIC: [u8; 8] = *b"\x89ZKEPOCH";
/// The layout version written.
pub const VERSION: u16 = 1;
/// The file's length in this version.
pub const FILE_LEN: usize = 24;

/// The persisted epochs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// The highest epoch accepted (a LEADERINFO seen).
    pub accepted: u32,
    /// The epoch of the last leader whose NEWLEADER was acknowledged.
    pub current: u32,
}

/// Why the epoch file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EpochFileError {
    /// The file exists but could not be read.
    #[error("reading the ZAB epoch file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The file's bytes are not a valid epoch file.
    #[error(
        "the ZAB epoch file {} is damaged at offset {offset}: {problem}. The server cannot tell \
         which epochs it promised, so it will not start. Restore the file from a backup, or, to \
         rebuild this server from the others, stop it, empty its whole data directory (log, \
         snapshots and this file) and start it again so that it syncs from the leader; never \
         delete this file alone",
        path.display()
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where in the file the problem is.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
}

fn encode(epochs: Epochs) -> [u8; FILE_LEN] {
    let mut bytes = [0u8; FILE_LEN];
    let mut at = 0;
    let mut put = |field: &[u8]| {
        if let Some(slot) = bytes.get_mut(at..at + field.len()) {
            slot.copy_from_slice(field);
        }
        at += field.len();
    };
    put(&MAGIC);
    put(&VERSION.to_le_bytes());
    put(&[0, 0]);
    put(&epochs.accepted.to_le_bytes());
    put(&epochs.current.to_le_bytes());
    let crc = crc32fast::hash(bytes.get(..FILE_LEN - 4).unwrap_or_default());
    if let Some(slot) = bytes.get_mut(FILE_LEN - 4..) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    bytes
}

/// Checks and decodes the file's bytes; the error is the offset and what is wrong there.
fn decode(bytes: &[u8]) -> Result<Epochs, (u64, String)> {
    let field = |range: std::ops::Range<usize>| bytes.get(range).unwrap_or_default();
    let too_short = || {
        (
            bytes.len() as u64,
            format!(
                "the file is {} bytes long, expected {FILE_LEN} (cut short)",
                bytes.len()
            ),
        )
    };
    // As much of the magic as the file holds: a short file that starts right is cut short,
    // one that starts wrong is not an epoch file.
    let seen = bytes.len().min(MAGIC.len());
    if field(0..seen) != MAGIC.get(..seen).unwrap_or_default() {
        return Err((
            0,
            format!(
                "the magic is {:02x?}, expected {MAGIC:02x?} (\"\\x89ZKEPOCH\"): not an epoch \
                 file",
                field(0..seen)
            ),
        ));
    }
    let Some(version) = bytes.get(8..10).and_then(|v| <[u8; 2]>::try_from(v).ok()) else {
        return Err(too_short());
    };
    let version = u16::from_le_bytes(version);
    if version != VERSION {
        return Err((
            8,
            format!("format version {version}, this server reads version {VERSION} only"),
        ));
    }
    if bytes.len() < FILE_LEN {
        return Err(too_short());
    }
    if bytes.len() > FILE_LEN {
        return Err((
            FILE_LEN as u64,
            format!(
                "the file is {} bytes long, expected {FILE_LEN} (bytes after the checksum)",
                bytes.len()
            ),
        ));
    }
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map_or(0, u32::from_le_bytes)
    };
    let stored = u32_at(FILE_LEN - 4);
    let computed = crc32fast::hash(field(0..FILE_LEN - 4));
    if stored != computed {
        return Err((
            (FILE_LEN - 4) as u64,
            format!("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"),
        ));
    }
    if field(10..12) != [0, 0] {
        return Err((10, "reserved bytes are not zero".into()));
    }
    Ok(Epochs {
        accepted: u32_at(12),
        current: u32_at(16),
    })
}

/// Reads the epochs from `data_dir`. A missing file means a server that never took part in an
/// election past discovery: both epochs 0.
pub fn load(data_dir: &Path) -> Result<Epochs, EpochFileError> {
    let path = data_dir.join(FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Epochs::default()),
        Err(source) => return Err(EpochFileError::Io { path, source }),
    };
    decode(&bytes).map_err(|(offset, problem)| EpochFileError::Damaged {
        path,
        offset,
        problem,
    })
}

fn with_path<'a>(path: &'a Path, what: &'a str) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |error| io::Error::new(error.kind(), format!("{what} {}: {error}", path.display()))
}

/// Replaces the epochs in `data_dir`, durably: when this returns, a crash leaves either these
/// epochs or (if it fails) the previous ones, never a mix or a torn file.
pub fn store(data_dir: &Path, epochs: Epochs) -> io::Result<()> {
    let temporary = data_dir.join(TEMPORARY_FILE_NAME);
    let path = data_dir.join(FILE_NAME);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(with_path(&temporary, "creating"))?;
    file.write_all(&encode(epochs))
        .map_err(with_path(&temporary, "writing"))?;
    file.sync_all().map_err(with_path(&temporary, "syncing"))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(with_path(&path, "renaming the new epochs to"))?;
    // The rename is durable only once the directory entry is.
    File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(with_path(data_dir, "syncing the directory"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Epochs::default());
        for epochs in [
            Epochs {
                accepted: 1,
                current: 0,
            },
            Epochs {
                accepted: 7,
                current: 7,
            },
            Epochs {
                accepted: u32::MAX,
                current: u32::MAX - 1,
            },
        ] {
            store(dir.path(), epochs).unwrap();
            assert_eq!(load(dir.path()).unwrap(), epochs);
        }
        assert!(!dir.path().join(TEMPORARY_FILE_NAME).exists());
    }

    /// The example in PROTOCOL.md, section 7.
    #[test]
    fn bytes_match_protocol_md() {
        let expected = [
            0x89, 0x5a, 0x4b, 0x45, 0x50, 0x4f, 0x43, 0x48, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00,
            0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x41, 0x45, 0x2e, 0x81,
        ];
        let epochs = Epochs {
            accepted: 5,
            current: 4,
        };
        assert_eq!(encode(epochs), expected);
        assert_eq!(decode(&expected), Ok(epochs));
    }

    #[test]
    fn every_flip_and_truncation_is_reported_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let epochs = Epochs {
            accepted: 3,
            current: 2,
        };
        let good = encode(epochs);
        let path = dir.path().join(FILE_NAME);
        let check = |bytes: &[u8], what: &str| {
            fs::write(&path, bytes).unwrap();
            let error = load(dir.path()).expect_err(what);
            let text = error.to_string();
            assert!(text.contains(FILE_NAME), "{what}: {text}");
            assert!(text.contains("offset"), "{what}: {text}");
            assert!(matches!(error, EpochFileError::Damaged { .. }), "{what}");
        };
        for len in 0..FILE_LEN {
            check(&good[..len], &format!("cut at {len}"));
        }
        let mut longer = good.to_vec();
        longer.push(0);
        check(&longer, "a byte too many");
        for at in 0..FILE_LEN {
            for bit in 0..8 {
                let mut damaged = good;
                damaged[at] ^= 1 << bit;
                check(&damaged, &format!("bit {bit} of byte {at}"));
            }
        }
    }

    #[test]
    fn a_leftover_temporary_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(TEMPORARY_FILE_NAME), b"torn").unwrap();
        assert_eq!(load(dir.path()).unwrap(), Epochs::default());
        let epochs = Epochs {
            accepted: 9,
            current: 8,
        };
        store(dir.path(), epochs).unwrap();
        fs::write(dir.path().join(TEMPORARY_FILE_NAME), [0xff; 30]).unwrap();
        assert_eq!(load(dir.path()).unwrap(), epochs);
        store(dir.path(), epochs).unwrap();
        assert_eq!(load(dir.path()).unwrap(), epochs);
    }

    #[test]
    fn an_unreadable_file_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading it fails with an I/O error.
        fs::create_dir(dir.path().join(FILE_NAME)).unwrap();
        assert!(matches!(load(dir.path()), Err(EpochFileError::Io { .. })));
    }
}

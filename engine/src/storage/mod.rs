//! The seam between the log and the disk. The log does every I/O through [`LogDir`] and
//! [`SegmentWriter`], so the same code runs on real files ([`file::FileDir`], with the pwrite, mmap
//! or io_uring write path) and on [`sim::SimDir`], a simulated disk that keeps synced and unsynced
//! bytes apart and produces crash images.

use std::io;
use std::path::PathBuf;

pub mod file;
pub mod mmap;
pub mod sim;
pub mod uring;

/// How the commit thread writes batches to real files (FORMAT.md 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// `pwrite` then `fdatasync`.
    #[default]
    Pwrite,
    /// `memcpy` into a shared mapping then `msync(MS_SYNC)`.
    Mmap,
    /// A linked write and `fsync(DATASYNC)` on an io_uring; falls back to `Pwrite` when refused.
    IoUring,
}

impl WriteMode {
    /// Every mode, for tests and benches that run on each.
    pub const ALL: [WriteMode; 3] = [WriteMode::Pwrite, WriteMode::Mmap, WriteMode::IoUring];

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            WriteMode::Pwrite => "pwrite",
            WriteMode::Mmap => "mmap",
            WriteMode::IoUring => "io_uring",
        }
    }

    /// Parses a configuration name.
    pub fn from_name(name: &str) -> Option<WriteMode> {
        WriteMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A directory of log files, as the log sees it. Names are plain file names, never paths.
pub trait LogDir: Send + Sync + 'static {
    /// Names of the files in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;

    /// Creates `name`, which must not exist, with `len` zero bytes really written (never a sparse
    /// file), and syncs its data. The name itself is durable only after [`LogDir::sync_dir`].
    fn create_zeroed(&self, name: &str, len: u64) -> io::Result<()>;

    /// Opens an existing file for writing records.
    fn open_writer(&self, name: &str) -> io::Result<Box<dyn SegmentWriter>>;

    /// Reads a whole file into memory. (Reads never map a file: a mapping of a segment that the
    /// commit thread, or another process, is writing would alias memory that changes under it.)
    fn read(&self, name: &str) -> io::Result<Vec<u8>>;

    /// Creates `name` with exactly `data` and syncs it (used for the `.torn-` copies).
    fn write_new(&self, name: &str, data: &[u8]) -> io::Result<()>;

    /// Renames a file within the directory, replacing `to` if it exists.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;

    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;

    /// Makes every write to `name` so far durable, whoever made it (`fdatasync`).
    fn sync_file(&self, name: &str) -> io::Result<()>;

    /// Makes creations, renames and removals so far durable (`fsync` of the directory).
    fn sync_dir(&self) -> io::Result<()>;

    /// Where `name` lives, for error messages.
    fn path_of(&self, name: &str) -> PathBuf;

    /// The write path this directory's writers actually use.
    fn write_mode(&self) -> WriteMode;
}

/// An open segment file that the commit thread writes batches into.
pub trait SegmentWriter: Send {
    /// Writes `data` at `offset`. Not durable until [`SegmentWriter::sync`].
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;

    /// Makes every write so far durable; `offset..offset + len` is the range written since the last
    /// sync (a write path may sync only that range).
    fn sync(&mut self, offset: u64, len: u64) -> io::Result<()>;

    /// Writes `data` at `offset` and makes it durable. A write path may do both in one step.
    fn write_durable(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.write_at(offset, data)?;
        self.sync(offset, data.len() as u64)
    }
}

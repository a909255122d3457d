//! Real files in a real directory. Directory operations are the same for every write path; the
//! write path picks the [`SegmentWriter`] (pwrite here, mmap and io_uring in their modules).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{LogDir, SegmentWriter, WriteMode};

/// Zero-fill chunk: large enough for sequential throughput, small enough to stay off the heap's mind.
/// Each chunk's writeback is started as soon as it is written (`sync_file_range`).
const ZERO_CHUNK_LEN: usize = 1 << 20;

/// The zero-fill is made durable (`fdatasync`) every this many bytes, so that the disk's write
/// cache and the file system journal never hold more than this much of it when the commit thread
/// syncs the live segment: a single flush of a whole 64 MiB segment stalled that sync for tens of
/// milliseconds.
const ZERO_SYNC_LEN: u64 = 4 << 20;

/// Pause after each intermediate `fdatasync` of the zero-fill, leaving the disk to the commit
/// thread for a moment. 16 pauses per 64 MiB segment: 32 ms added to a preparation that runs
/// ahead of need.
const ZERO_SYNC_PAUSE: Duration = Duration::from_millis(2);

/// A directory of log files on a real file system.
pub struct FileDir {
    path: PathBuf,
    mode: WriteMode,
}

impl FileDir {
    /// Uses the directory `path` (creating it if needed) with the requested write path. When
    /// `io_uring` is asked for but the kernel refuses a ring, the pwrite path is used and a warning
    /// is logged; [`LogDir::write_mode`] tells which is in force.
    pub fn new(path: impl Into<PathBuf>, requested: WriteMode) -> io::Result<FileDir> {
        let path = path.into();
        fs::create_dir_all(&path)?;
        let mode = match requested {
            WriteMode::IoUring => match super::uring::probe() {
                Ok(()) => WriteMode::IoUring,
                Err(err) => {
                    log::warn!(
                        "io_uring is not available ({err}); the transaction log uses pwrite + \
                         fdatasync instead"
                    );
                    WriteMode::Pwrite
                }
            },
            other => other,
        };
        Ok(FileDir { path, mode })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_rw(&self, name: &str) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path.join(name))
    }
}

impl LogDir for FileDir {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn create_zeroed(&self, name: &str, len: u64) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path.join(name))?;
        write_zeros_gently(&mut file, len)
    }

    fn open_writer(&self, name: &str) -> io::Result<Box<dyn SegmentWriter>> {
        let file = self.open_rw(name)?;
        match self.mode {
            WriteMode::Pwrite => Ok(Box::new(PwriteWriter { file })),
            WriteMode::Mmap => Ok(Box::new(super::mmap::MmapWriter::new(file)?)),
            WriteMode::IoUring => Ok(Box::new(super::uring::UringWriter::new(file)?)),
        }
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path.join(name))
    }

    fn write_new(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path.join(name))?;
        file.write_all(data)?;
        file.sync_all()
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.path.join(from), self.path.join(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path.join(name))
    }

    fn sync_file(&self, name: &str) -> io::Result<()> {
        File::open(self.path.join(name))?.sync_data()
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.path)?.sync_all()
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn write_mode(&self) -> WriteMode {
        self.mode
    }
}

/// Appends `len` zero bytes to `file` (positioned at its end) with ordinary writes, then syncs its
/// data, without ever leaving much of it for one flush (FORMAT.md 2.1): the writeback of each
/// [`ZERO_CHUNK_LEN`] chunk is started as soon as it is written, every [`ZERO_SYNC_LEN`] bytes
/// are synced with `fdatasync` followed by a [`ZERO_SYNC_PAUSE`], and the end is synced.
fn write_zeros_gently(file: &mut File, len: u64) -> io::Result<()> {
    let zeros = vec![0u8; ZERO_CHUNK_LEN];
    let mut written = 0u64;
    let mut synced = 0u64;
    while written < len {
        let n = (len - written).min(ZERO_CHUNK_LEN as u64) as usize;
        file.write_all(&zeros[..n])?;
        start_writeback(file, written, n as u64)?;
        written += n as u64;
        if written - synced >= ZERO_SYNC_LEN && written < len {
            file.sync_data()?;
            synced = written;
            std::thread::sleep(ZERO_SYNC_PAUSE);
        }
    }
    // The whole inode, as before the gentle fill: its length is what makes it a segment.
    file.sync_all()
}

/// Starts the writeback of `len` bytes at `offset` without waiting for it
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that dirty pages do not pile up for a later
/// flush (the zero-fill here, the snapshot writer). Only a hint: durability comes from `fdatasync`. File systems that do not support it
/// (`EINVAL`, `ENOSYS`, `EOPNOTSUPP`, `ESPIPE`) are ignored; other errors, such as `ENOSPC` from
/// delayed allocation or `EIO`, are returned.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // one system call on an owned descriptor; no memory is shared with the kernel
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return Ok(());
    };
    // SAFETY: sync_file_range takes a descriptor that `file` keeps open for the duration of the
    // call and three integers; it reads or writes no memory of this process.
    let status = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if status == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::ESPIPE) => Ok(()),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn start_writeback(_file: &File, _offset: u64, _len: u64) -> io::Result<()> {
    Ok(())
}

/// The portable write path: `pwrite`, then `fdatasync`.
pub struct PwriteWriter {
    file: File,
}

impl SegmentWriter for PwriteWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.file.write_all_at(data, offset)
    }

    fn sync(&mut self, _offset: u64, _len: u64) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// An exclusive lock on a log directory's `LOCK` file, held while the log is open.
pub struct DirLock {
    _file: File,
}

impl FileDir {
    /// Takes the directory's lock, failing at once if another process holds it.
    pub fn lock(&self) -> crate::Result<DirLock> {
        let path = self.path.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| crate::Error::io("open the lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(crate::Error::Locked { path }),
            Err(std::fs::TryLockError::Error(e)) => Err(crate::Error::io("lock", &path, e)),
        }
    }
}

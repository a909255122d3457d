//! Real files in a real directory. Directory operations are the same for every write path; the
//! write path picks the [`SegmentWriter`] (pwrite here, mmap and io_uring in their modules).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{LogDir, SegmentWriter, WriteMode};

/// Zero-fill chunk: large enough for sequential throughput, small enough to stay off the heap's mind.
const ZERO_CHUNK_LEN: usize = 1 << 20;

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
        let zeros = vec![0u8; ZERO_CHUNK_LEN];
        let mut left = len;
        while left > 0 {
            let n = left.min(ZERO_CHUNK_LEN as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.sync_all()
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

//! The io_uring write path: one submission holds a `WRITE` linked to an `FSYNC(DATASYNC)`, so a
//! batch costs one `io_uring_enter` instead of two system calls.
#![allow(unsafe_code)]

#[cfg(not(target_os = "linux"))]
use std::fs::File;
use std::io;

#[cfg(target_os = "linux")]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use io_uring::{opcode, squeue, types, IoUring};

    use super::super::SegmentWriter;

    const RING_ENTRIES: u32 = 8;
    const WRITE_USER_DATA: u64 = 1;
    const FSYNC_USER_DATA: u64 = 2;

    pub fn probe() -> io::Result<()> {
        let ring = IoUring::new(RING_ENTRIES)?;
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (op, name) in [
            (opcode::Write::CODE, "WRITE"),
            (opcode::Fsync::CODE, "FSYNC"),
        ] {
            if !probe.is_supported(op) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the kernel's io_uring lacks {name}"),
                ));
            }
        }
        Ok(())
    }

    /// Writes batches through an io_uring owned by the commit thread.
    pub struct UringWriter {
        ring: IoUring,
        file: File,
    }

    impl UringWriter {
        pub fn new(file: File) -> io::Result<UringWriter> {
            Ok(UringWriter {
                ring: IoUring::new(RING_ENTRIES)?,
                file,
            })
        }

        /// Submits the entries and waits for `expected` completions; returns the first error.
        fn run(&mut self, entries: &[squeue::Entry], mut expected: usize) -> io::Result<Vec<i32>> {
            {
                let mut sq = self.ring.submission();
                for entry in entries {
                    // SAFETY: every buffer an entry points to is borrowed by the caller for the
                    // duration of this call, and this call does not return before all of the
                    // entries' completions have been reaped below.
                    unsafe { sq.push(entry) }
                        .map_err(|_| io::Error::other("io_uring submission queue is full"))?;
                }
            }
            let mut results = vec![0i32; entries.len()];
            while expected > 0 {
                self.ring.submit_and_wait(expected)?;
                for cqe in self.ring.completion() {
                    let slot = (cqe.user_data() as usize).wrapping_sub(1);
                    if let Some(result) = results.get_mut(slot) {
                        *result = cqe.result();
                        expected -= 1;
                    }
                }
            }
            Ok(results)
        }

        fn check_write(result: i32, wanted: usize) -> io::Result<()> {
            if result < 0 {
                return Err(io::Error::from_raw_os_error(-result));
            }
            if result as usize != wanted {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("io_uring wrote {result} of {wanted} bytes"),
                ));
            }
            Ok(())
        }

        fn write_entry(&self, offset: u64, data: &[u8]) -> io::Result<squeue::Entry> {
            let len = u32::try_from(data.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
            Ok(
                opcode::Write::new(types::Fd(self.file.as_raw_fd()), data.as_ptr(), len)
                    .offset(offset)
                    .build()
                    .user_data(WRITE_USER_DATA),
            )
        }

        fn fsync_entry(&self) -> squeue::Entry {
            opcode::Fsync::new(types::Fd(self.file.as_raw_fd()))
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(FSYNC_USER_DATA)
        }
    }

    impl SegmentWriter for UringWriter {
        fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            let write = self.write_entry(offset, data)?;
            let results = self.run(&[write], 1)?;
            Self::check_write(results.first().copied().unwrap_or(-libc::EIO), data.len())
        }

        fn sync(&mut self, _offset: u64, _len: u64) -> io::Result<()> {
            let fsync = self.fsync_entry();
            let results = self.run(&[fsync], 1)?;
            match results.first().copied() {
                Some(r) if r < 0 => Err(io::Error::from_raw_os_error(-r)),
                Some(_) => Ok(()),
                None => Err(io::Error::other("io_uring returned no completion")),
            }
        }

        fn write_durable(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
            // A short write fails the link, and the fsync then completes with -ECANCELED: both
            // results are checked, the write's first.
            let write = self
                .write_entry(offset, data)?
                .flags(squeue::Flags::IO_LINK);
            let fsync = self.fsync_entry();
            let results = self.run(&[write, fsync], 2)?;
            let write_result = results.first().copied().unwrap_or(-libc::EIO);
            Self::check_write(write_result, data.len())?;
            match results.get(1).copied() {
                Some(r) if r < 0 => Err(io::Error::from_raw_os_error(-r)),
                Some(_) => Ok(()),
                None => Err(io::Error::other("io_uring returned no fsync completion")),
            }
        }
    }
}

#[cfg(target_os = "linux")]
pub use imp::UringWriter;

/// Whether this kernel (and this container's seccomp profile) gives us a usable ring.
pub fn probe() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        imp::probe()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring exists only on Linux",
        ))
    }
}

/// On systems without io_uring, `FileDir::new` never selects this mode; the type exists so that
/// the code compiles everywhere.
#[cfg(not(target_os = "linux"))]
pub struct UringWriter;

#[cfg(not(target_os = "linux"))]
impl UringWriter {
    pub fn new(_file: File) -> io::Result<UringWriter> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring exists only on Linux",
        ))
    }
}

#[cfg(not(target_os = "linux"))]
impl super::SegmentWriter for UringWriter {
    fn write_at(&mut self, _: u64, _: &[u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    fn sync(&mut self, _: u64, _: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

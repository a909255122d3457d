//! The write-ahead transaction log: preallocated segments, group commit on a dedicated thread,
//! recovery that cuts a torn tail and stops on anything else (FORMAT.md 2-6).
//!
//! Appenders hand a record to [`TxnLog::append`] and get a [`Completion`] (or a callback) that
//! resolves once the record is durable. The commit thread takes everything queued, writes it with
//! one write and one sync, and resolves all of it: records that arrive while a sync runs share the
//! next one. A failed write or sync poisons the log: it is never retried, because after a failed
//! `fdatasync` the kernel may already have dropped the data while marking the pages clean.

mod commit;
pub(crate) mod prepare;
pub mod reader;
pub mod recovery;
pub mod scan;
mod stats;
mod watermark;

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::format::record::encoded_len;
use crate::format::segment_header::{SEGMENT_HEADER_LEN, SEGMENT_SIZE_MAX, SEGMENT_SIZE_MIN};
use crate::storage::file::{DirLock, FileDir};
use crate::storage::{LogDir, WriteMode};
use crate::zxid::Zxid;

pub use reader::LogRecord;
pub use recovery::{RecoveryReport, TornTail};
pub use stats::{Histogram, LogStats, HISTOGRAM_BUCKETS};

/// Configuration of the transaction log.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Preallocated size of each segment file. Default: 64 MiB (ZooKeeper's `preAllocSize`).
    pub segment_size: u64,
    /// How batches are written. Default: [`WriteMode::Pwrite`] (see the README's benches).
    pub write_mode: WriteMode,
    /// Whether each batch is synced before it is acknowledged. Default: `true`. `false` is
    /// ZooKeeper's `forceSync=no`: fast, and unsafe on power loss.
    pub sync: bool,
    /// A batch whose write and sync take longer than this is logged as a warning (ZooKeeper's
    /// `fsync.warningthresholdms`). Default: 1 s.
    pub slow_sync_warning: Duration,
    /// The longest the commit thread waits, before a take, for as many records as its last take
    /// held (the appends that the last batch's completions cause); it never waits longer than
    /// half the last take's write and sync, nor after a take of one record, nor while appends
    /// keep coming during the syncs (FORMAT.md 7.1). Zero turns the wait off. Default: 1 ms.
    pub gather_limit: Duration,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            segment_size: 64 * 1024 * 1024,
            write_mode: WriteMode::default(),
            sync: true,
            slow_sync_warning: Duration::from_secs(1),
            gather_limit: Duration::from_millis(1),
        }
    }
}

impl LogConfig {
    fn validate(&self) -> Result<()> {
        if !(SEGMENT_SIZE_MIN..=SEGMENT_SIZE_MAX).contains(&self.segment_size)
            || !self.segment_size.is_multiple_of(4096)
        {
            return Err(Error::Config(format!(
                "segment size {} must be a multiple of 4096 between {SEGMENT_SIZE_MIN} and \
                 {SEGMENT_SIZE_MAX}",
                self.segment_size
            )));
        }
        Ok(())
    }

    /// The largest payload a record may carry with this segment size.
    pub fn max_payload_len(&self) -> usize {
        (self.segment_size as usize).saturating_sub(SEGMENT_HEADER_LEN + 32)
    }
}

/// A segment that is part of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// File name.
    pub name: String,
    /// Zxid of its first record.
    pub first_zxid: Zxid,
    /// Zxid before its first record (0 when the log starts there).
    pub prev_zxid: Zxid,
    /// Zxid of its last durable record.
    pub last_zxid: Zxid,
}

/// Called on the commit thread when a record is durable (or can no longer become durable).
pub type DurableCallback = Box<dyn FnOnce(Result<Zxid>) + Send>;

struct PendingRecord {
    zxid: Zxid,
    /// Its place in the order of appends (`Queue::appended_seq`): what the watermark counts.
    seq: u64,
    payload: Vec<u8>,
    /// `None` for [`TxnLog::append`], whose [`Completion`] waits on the watermark.
    on_durable: Option<DurableCallback>,
}

enum Control {
    TruncateAfter(Zxid, std::sync::mpsc::SyncSender<Result<()>>),
    PurgeBefore(Zxid, std::sync::mpsc::SyncSender<Result<Vec<String>>>),
}

struct Queue {
    pending: Vec<PendingRecord>,
    control: Vec<Control>,
    /// The last zxid accepted by `append` (durable or not).
    last_appended: Zxid,
    /// How many records `append` has accepted since the log was opened: the sequence number of
    /// the last one. Unlike zxids it never goes back (truncation), so the watermark can use it.
    appended_seq: u64,
    /// How many times the commit thread has taken the queue. A record queued now goes out with
    /// take `takes + 1`: its waiters sleep on that take's lane of the watermark.
    takes: u64,
    /// The last zxid known durable.
    durable: Zxid,
    poisoned: Option<String>,
    closing: bool,
    /// Set by the commit thread while it sleeps on `work`: appenders only signal it then.
    committer_sleeping: bool,
    /// While the commit thread sleeps, appenders signal it once `pending` holds this many
    /// records (1, except while it gathers a batch: `commit.rs`, `Committer::gather`).
    wake_at_pending: usize,
}

struct Shared {
    dir: Arc<dyn LogDir>,
    config: LogConfig,
    queue: Mutex<Queue>,
    /// Signals the commit thread: work queued, or closing.
    work: Condvar,
    /// What waiters block on: durability advanced, or the log was poisoned or stopped.
    watermark: watermark::Watermark,
    segments: Mutex<Vec<SegmentInfo>>,
    counters: stats::Counters,
}

impl Shared {
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_segments(&self) -> MutexGuard<'_, Vec<SegmentInfo>> {
        self.segments.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poisoned_error(&self) -> Error {
        let cause = self.lock_queue().poisoned.clone();
        Error::Poisoned {
            cause: cause.unwrap_or_default(),
        }
    }
}

/// An open transaction log.
pub struct TxnLog {
    shared: Arc<Shared>,
    commit_thread: Option<JoinHandle<()>>,
    _lock: Option<DirLock>,
}

/// Resolves when the record it was returned for is durable.
pub struct Completion {
    shared: Arc<Shared>,
    zxid: Zxid,
    seq: u64,
    take: u64,
}

impl Completion {
    /// Blocks until the record is durable; returns its zxid, or why it never will be.
    pub fn wait(self) -> Result<Zxid> {
        match self.shared.watermark.wait(self.take, self.seq) {
            watermark::Outcome::Durable => Ok(self.zxid),
            watermark::Outcome::Poisoned => Err(self.shared.poisoned_error()),
            watermark::Outcome::Closed => Err(Error::Closed),
        }
    }
}

impl TxnLog {
    /// Opens (creating if needed) the log in directory `path`, locking it against other processes,
    /// and recovers it.
    pub fn open_path(path: &Path, config: LogConfig) -> Result<(TxnLog, RecoveryReport)> {
        let dir = FileDir::new(path, config.write_mode)
            .map_err(|e| Error::io("open the log directory", path, e))?;
        let lock = dir.lock()?;
        let (mut log, report) = TxnLog::open(Arc::new(dir), config)?;
        log._lock = Some(lock);
        Ok((log, report))
    }

    /// Recovers the log in `dir` (FORMAT.md 5) and starts its commit thread.
    pub fn open(dir: Arc<dyn LogDir>, config: LogConfig) -> Result<(TxnLog, RecoveryReport)> {
        config.validate()?;
        let recovered = recovery::recover(&dir)?;
        let report = recovered.report.clone();
        let shared = Arc::new(Shared {
            dir: Arc::clone(&dir),
            config: config.clone(),
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                control: Vec::new(),
                last_appended: report.last_zxid,
                appended_seq: 0,
                takes: 0,
                durable: report.last_zxid,
                poisoned: None,
                closing: false,
                committer_sleeping: false,
                wake_at_pending: 1,
            }),
            work: Condvar::new(),
            watermark: watermark::Watermark::new(),
            segments: Mutex::new(recovered.segments.clone()),
            counters: stats::Counters::default(),
        });
        let preparer = prepare::Preparer::start(Arc::clone(&dir), config.segment_size)
            .map_err(|e| Error::io("start the segment preparer for", dir.path_of(""), e))?;
        let committer = commit::Committer::new(Arc::clone(&shared), recovered, preparer)?;
        let commit_thread = std::thread::Builder::new()
            .name("zk-log-commit".into())
            .spawn(move || committer.run())
            .map_err(|e| Error::io("start the commit thread for", dir.path_of(""), e))?;
        Ok((
            TxnLog {
                shared,
                commit_thread: Some(commit_thread),
                _lock: None,
            },
            report,
        ))
    }

    /// Queues a record; `on_durable` runs on the commit thread once it is durable (or failed).
    /// Records must be appended in zxid order (FORMAT.md 4.1). The callback must be quick: it
    /// delays the next batch.
    pub fn append_with(
        &self,
        zxid: Zxid,
        payload: Vec<u8>,
        on_durable: DurableCallback,
    ) -> Result<()> {
        self.enqueue(zxid, payload, Some(on_durable)).map(|_| ())
    }

    /// Queues a record and returns a [`Completion`] to wait on.
    pub fn append(&self, zxid: Zxid, payload: Vec<u8>) -> Result<Completion> {
        let (seq, take) = self.enqueue(zxid, payload, None)?;
        Ok(Completion {
            shared: Arc::clone(&self.shared),
            zxid,
            seq,
            take,
        })
    }

    /// Queues a record; returns its sequence number and the take that will carry it.
    fn enqueue(
        &self,
        zxid: Zxid,
        payload: Vec<u8>,
        on_durable: Option<DurableCallback>,
    ) -> Result<(u64, u64)> {
        let config = &self.shared.config;
        if encoded_len(payload.len()) + SEGMENT_HEADER_LEN as u64 > config.segment_size {
            return Err(Error::RecordTooLarge {
                len: payload.len(),
                segment_size: config.segment_size,
            });
        }
        let mut queue = self.shared.lock_queue();
        if let Some(cause) = &queue.poisoned {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        if queue.closing {
            return Err(Error::Closed);
        }
        if !queue.last_appended.is_followed_by(zxid) {
            return Err(Error::ZxidOutOfOrder {
                last: queue.last_appended,
                next: zxid,
            });
        }
        queue.last_appended = zxid;
        queue.appended_seq += 1;
        let seq = queue.appended_seq;
        let take = queue.takes + 1;
        queue.pending.push(PendingRecord {
            zxid,
            seq,
            payload,
            on_durable,
        });
        // While the commit thread writes or syncs it looks at the queue again before sleeping:
        // only a sleeping commit thread needs the (system call) signal, and one gathering a
        // batch only once the batch is complete.
        let wake = queue.committer_sleeping && queue.pending.len() >= queue.wake_at_pending;
        if wake {
            queue.committer_sleeping = false;
        }
        drop(queue);
        if wake {
            self.shared.work.notify_one();
        }
        Ok((seq, take))
    }

    /// Waits until every record appended so far is durable.
    pub fn flush(&self) -> Result<Zxid> {
        let target = {
            let queue = self.shared.lock_queue();
            if let Some(cause) = &queue.poisoned {
                return Err(Error::Poisoned {
                    cause: cause.clone(),
                });
            }
            // The last record is queued for the next take, or else it went out with the last one
            // (a take that carried no record only follows one that is finished).
            let take = queue.takes + u64::from(!queue.pending.is_empty());
            (take, queue.appended_seq)
        };
        match self.shared.watermark.wait(target.0, target.1) {
            watermark::Outcome::Durable => {}
            watermark::Outcome::Poisoned => return Err(self.shared.poisoned_error()),
            watermark::Outcome::Closed => return Err(Error::Closed),
        }
        let queue = self.shared.lock_queue();
        match &queue.poisoned {
            Some(cause) => Err(Error::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(queue.durable),
        }
    }

    /// The last zxid appended (durable or not); 0 for an empty log.
    pub fn last_zxid(&self) -> Zxid {
        self.shared.lock_queue().last_appended
    }

    /// The last zxid known durable.
    pub fn durable_zxid(&self) -> Zxid {
        self.shared.lock_queue().durable
    }

    /// Why the log is poisoned, if it is.
    pub fn poisoned(&self) -> Option<String> {
        self.shared.lock_queue().poisoned.clone()
    }

    /// The segments of the log, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.shared.lock_segments().clone()
    }

    /// Counters since the log was opened.
    pub fn stats(&self) -> LogStats {
        self.shared.counters.snapshot()
    }

    /// The write path in force (io_uring may have fallen back to pwrite).
    pub fn write_mode(&self) -> WriteMode {
        self.shared.dir.write_mode()
    }

    /// Reads the durable records with zxid `>= from`, in order.
    pub fn read_from(&self, from: Zxid) -> Result<reader::LogReader> {
        let durable = self.durable_zxid();
        let segments = self.segments();
        reader::LogReader::new(Arc::clone(&self.shared.dir), segments, from, durable)
    }

    /// Removes every record after `zxid` (FORMAT.md 6). Waits for queued records first; the next
    /// append must follow `zxid`.
    pub fn truncate_after(&self, zxid: Zxid) -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.control(Control::TruncateAfter(zxid, sender))?;
        receiver.recv().unwrap_or(Err(Error::Closed))
    }

    /// Deletes the segments whose records all precede `zxid`; returns their names.
    pub fn purge_before(&self, zxid: Zxid) -> Result<Vec<String>> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.control(Control::PurgeBefore(zxid, sender))?;
        receiver.recv().unwrap_or(Err(Error::Closed))
    }

    fn control(&self, request: Control) -> Result<()> {
        let mut queue = self.shared.lock_queue();
        if let Some(cause) = &queue.poisoned {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        if queue.closing {
            return Err(Error::Closed);
        }
        queue.control.push(request);
        drop(queue);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Makes everything appended durable, stops the commit thread and closes the log.
    pub fn close(mut self) -> Result<()> {
        let flushed = self.flush().map(|_| ());
        self.stop();
        flushed
    }

    fn stop(&mut self) {
        self.shared.lock_queue().closing = true;
        self.shared.work.notify_all();
        if let Some(thread) = self.commit_thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TxnLog {
    fn drop(&mut self) {
        self.stop();
    }
}

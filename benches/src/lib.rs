//! Helpers shared by the criterion benches in `benches/`: where bench files go, the raw
//! `pwrite` + `fdatasync` floor the log is compared with, opening a log in a quiet state, a pool of
//! writers that append in zxid order, and latency percentiles.
//!
//! Nothing here may time anything that is not a durable write: every figure the benches print
//! must be comparable with the raw floor measured in the same run, on the same file system.
#![forbid(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zk_engine::format::record::encoded_len;
use zk_engine::storage::WriteMode;
use zk_engine::txnlog::{LogConfig, LogStats, TxnLog};
use zk_engine::Zxid;

/// Payload of every benched record, in bytes.
pub const PAYLOAD_LEN: usize = 100;

/// Epoch of every zxid the benches append.
const EPOCH: u32 = 1;

/// Name the engine gives the segment its preparer zero-fills in the background
/// (`engine/src/txnlog/prepare.rs`). Only used to wait until that work is over.
const PREPARED_NAME: &str = "log.prepared.tmp";

/// Longest wait for the background preparation of the next segment to finish.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Size of one encoded record of [`PAYLOAD_LEN`] bytes (header, payload, padding): the size of
/// each raw-floor write.
pub fn record_len() -> u64 {
    encoded_len(PAYLOAD_LEN)
}

/// The payload of every benched record.
pub fn payload() -> Vec<u8> {
    vec![0xA5; PAYLOAD_LEN]
}

/// The cargo target directory: `CARGO_TARGET_DIR`, else found from this executable's path
/// (`<target>/<profile>/deps/<bench>`), else `target` under the current directory.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "target"))
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Where bench files are created: `ZK_BENCH_DIR`, else `<target>/zk-bench-data`. Both are on the
/// disk that holds the checkout, not on a tmpfs `/tmp`. Created if missing.
pub fn bench_data_root() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("ZK_BENCH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("zk-bench-data"),
    };
    fs::create_dir_all(&dir)?;
    dir.canonicalize()
}

/// The file system type and device of the mount holding `path`, from `/proc/mounts`.
pub fn filesystem_of(path: &Path) -> Option<(String, String)> {
    let path = path.canonicalize().ok()?;
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let mount_point = fields.next()?;
            let fs_type = fields.next()?;
            path.starts_with(mount_point)
                .then(|| (mount_point.len(), fs_type.to_owned(), device.to_owned()))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, fs_type, device)| (fs_type, device))
}

/// Removes a bench directory, then forces a journal commit on its file system. With ext4's
/// `discard` mount option (this machine's), freed blocks are discarded during the next commit, so
/// the first sync after deleting a few hundred MiB takes ~1 ms longer: pay it here, untimed.
pub fn remove_bench_dir(dir: &Path) -> io::Result<()> {
    fs::remove_dir_all(dir)?;
    let parent = dir.parent().unwrap_or(Path::new("."));
    let marker = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.join(".sync-marker"))?;
    marker.write_all_at(b"s", 0)?;
    marker.sync_all()
}

/// The floor the log is measured against: a loop of one `pwrite` of one encoded record at
/// increasing offsets plus `fdatasync`, on a file zero-filled with real writes and synced before
/// any timing (as the engine prepares its segments), never fallocated or sparse.
pub struct RawFloor {
    file: File,
    record: Vec<u8>,
    offset: u64,
    len: u64,
}

impl RawFloor {
    /// Creates `path` with `len` zero bytes written and synced.
    pub fn create(path: &Path, len: u64) -> io::Result<RawFloor> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        if let Some(parent) = path.parent() {
            File::open(parent)?.sync_all()?;
        }
        let record_len = usize::try_from(record_len()).map_err(io::Error::other)?;
        Ok(RawFloor {
            file,
            record: vec![0x5A; record_len],
            offset: 0,
            len,
        })
    }

    /// Writes one record-sized block after the previous one and makes it durable. Wraps to the
    /// start of the file at its end (still an overwrite of written blocks, as in a segment).
    pub fn append_durable(&mut self) -> io::Result<()> {
        let record_len = self.record.len() as u64;
        if self.offset + record_len > self.len {
            self.offset = 0;
        }
        self.file.write_all_at(&self.record, self.offset)?;
        self.file.sync_data()?;
        self.offset += record_len;
        Ok(())
    }
}

/// A transaction log opened for a bench, and the counter of its last zxid.
pub struct BenchLog {
    log: Arc<TxnLog>,
    last_counter: u32,
}

impl BenchLog {
    /// Opens a log in the empty directory `dir`, appends a first record (which starts the first
    /// segment) and waits until the background preparation of the next segment (64 MiB of zeros
    /// by default) is written and synced, so that it does not compete with the timed syncs.
    pub fn open_settled(dir: &Path, mode: WriteMode, segment_size: u64) -> zk_engine::Result<Self> {
        let config = LogConfig {
            segment_size,
            write_mode: mode,
            ..LogConfig::default()
        };
        let (log, _report) = TxnLog::open_path(dir, config)?;
        let mut bench_log = BenchLog {
            log: Arc::new(log),
            last_counter: 0,
        };
        bench_log.append_durable()?;
        settle(dir, segment_size);
        Ok(bench_log)
    }

    /// Appends one record and waits until it is durable.
    pub fn append_durable(&mut self) -> zk_engine::Result<()> {
        self.last_counter += 1;
        let zxid = Zxid::new(EPOCH, self.last_counter);
        self.log.append(zxid, payload())?.wait()?;
        Ok(())
    }

    /// The write path in force (io_uring may have fallen back to pwrite).
    pub fn write_mode(&self) -> WriteMode {
        self.log.write_mode()
    }

    /// Counters of the log since it was opened.
    pub fn stats(&self) -> LogStats {
        self.log.stats()
    }

    /// Appends `records` records the way the server does, and returns the time until the last
    /// is durable: `writers` records are kept in flight, each appended with a callback
    /// ([`TxnLog::append_with`]) that reports it durable to this one thread, which then appends
    /// the next. No thread sleeps per record; this is how a server with `writers` clients, each
    /// waiting for its write, drives the log.
    pub fn run_pipelined(&mut self, writers: usize, records: u32) -> Result<Duration, String> {
        let (durable_tx, durable_rx) = mpsc::channel::<Result<Zxid, String>>();
        let payload = payload();
        let first = self.last_counter;
        let target = first + records;
        let started = Instant::now();
        let mut appended = first;
        let mut durable = 0u32;
        let append_next = |appended: &mut u32| -> Result<(), String> {
            *appended += 1;
            let report = durable_tx.clone();
            self.log
                .append_with(
                    Zxid::new(EPOCH, *appended),
                    payload.clone(),
                    Box::new(move |outcome| {
                        let _ = report.send(outcome.map_err(|e| e.to_string()));
                    }),
                )
                .map_err(|e| e.to_string())
        };
        while appended < target && ((appended - first) as usize) < writers {
            append_next(&mut appended)?;
        }
        while durable < records {
            match durable_rx.recv() {
                Ok(Ok(_)) => durable += 1,
                Ok(Err(err)) => return Err(err),
                Err(_) => return Err("the log dropped a callback".into()),
            }
            if appended < target {
                append_next(&mut appended)?;
            }
        }
        let took = started.elapsed();
        self.last_counter = target;
        Ok(took)
    }

    /// Starts `writers` threads that append to this log (see [`WriterPool`]). The pool must be
    /// dropped before this log is used again.
    pub fn writer_pool(&mut self, writers: usize) -> io::Result<WriterPool> {
        WriterPool::start(Arc::clone(&self.log), self.last_counter, writers)
    }

    /// Takes up the zxids a finished pool appended.
    pub fn resume_after(&mut self, pool: WriterPool) {
        self.last_counter = pool.last_counter();
    }

    /// Makes everything durable and closes the log.
    pub fn close(self) -> zk_engine::Result<()> {
        match Arc::try_unwrap(self.log) {
            Ok(log) => log.close(),
            Err(_) => Ok(()), // a writer pool still holds it; it closes when the pool is dropped
        }
    }
}

/// Waits until the segment the engine prepares in the background is fully written, then syncs it
/// (so that the preparer's own sync finds nothing left to flush). Gives up after
/// [`SETTLE_TIMEOUT`] with a warning: the figures are then still valid, only noisier.
fn settle(dir: &Path, segment_size: u64) {
    let path = dir.join(PREPARED_NAME);
    let started = Instant::now();
    loop {
        if fs::metadata(&path).is_ok_and(|m| m.len() == segment_size) {
            if let Ok(file) = File::open(&path) {
                let _ = file.sync_all();
            }
            // Let the preparer's sync (now nearly a no-op) and its bookkeeping finish.
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            eprintln!(
                "warning: {} did not reach {segment_size} bytes within {SETTLE_TIMEOUT:?}; \
                 measuring anyway",
                path.display()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// State the writers of a pool share.
struct PoolShared {
    log: Arc<TxnLog>,
    /// Counter of the last zxid appended: a writer locks it, appends the next zxid and unlocks,
    /// then waits for durability outside the lock (the server's order of work).
    last_counter: Mutex<u32>,
    /// Writers stop taking zxids past this counter.
    target_counter: AtomicU32,
    stop: AtomicBool,
    start: Barrier,
    done: Barrier,
    first_error: Mutex<Option<String>>,
}

/// Threads that append to one log concurrently, in zxid order, each waiting for its own record's
/// durability before appending the next. Started once, then [`WriterPool::run`] any number of
/// times; thread start-up is never timed.
pub struct WriterPool {
    shared: Arc<PoolShared>,
    threads: Vec<JoinHandle<()>>,
}

impl WriterPool {
    fn start(log: Arc<TxnLog>, last_counter: u32, writers: usize) -> io::Result<WriterPool> {
        let shared = Arc::new(PoolShared {
            log,
            last_counter: Mutex::new(last_counter),
            target_counter: AtomicU32::new(last_counter),
            stop: AtomicBool::new(false),
            start: Barrier::new(writers + 1),
            done: Barrier::new(writers + 1),
            first_error: Mutex::new(None),
        });
        let mut threads = Vec::with_capacity(writers);
        for i in 0..writers {
            let thread_shared = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("bench-writer-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || writer(&thread_shared));
            match thread {
                Ok(thread) => threads.push(thread),
                Err(err) => {
                    // The writers already started wait for a full start barrier that can never
                    // fill: they are left blocked (detached) and the bench fails.
                    shared.stop.store(true, Ordering::SeqCst);
                    return Err(err);
                }
            }
        }
        Ok(WriterPool { shared, threads })
    }

    /// Appends `records` records with all writers and returns the time until the last is durable.
    pub fn run(&self, records: u32) -> Result<Duration, String> {
        let last = *self
            .shared
            .last_counter
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.shared
            .target_counter
            .store(last + records, Ordering::SeqCst);
        let started = Instant::now();
        self.shared.start.wait();
        self.shared.done.wait();
        let took = started.elapsed();
        match self
            .shared
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            Some(err) => Err(err),
            None => Ok(took),
        }
    }

    fn last_counter(&self) -> u32 {
        *self
            .shared
            .last_counter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for WriterPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Every writer is idle at the start barrier between runs: release them to see `stop`.
        self.shared.start.wait();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn writer(shared: &PoolShared) {
    let payload = payload();
    loop {
        shared.start.wait();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let target = shared.target_counter.load(Ordering::SeqCst);
        loop {
            let appended = {
                let mut last = shared
                    .last_counter
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if *last >= target {
                    break;
                }
                *last += 1;
                shared.log.append(Zxid::new(EPOCH, *last), payload.clone())
            };
            if let Err(err) = appended.and_then(|completion| completion.wait()) {
                let mut first = shared.first_error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| err.to_string());
                // Stop the others taking zxids that can no longer follow.
                *shared
                    .last_counter
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = target;
                break;
            }
        }
        shared.done.wait();
    }
}

/// CPU time used so far by the live threads of this process (sum of the first field of
/// `/proc/self/task/*/schedstat`, in nanoseconds). Threads that have exited are not counted, so
/// compare two readings taken while the same threads are alive. `None` off Linux.
pub fn process_cpu_time() -> Option<Duration> {
    let mut total_ns: u64 = 0;
    for task in fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        // A thread may exit between the listing and the read: skip it.
        let Ok(stat) = fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total_ns += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(Duration::from_nanos(total_ns))
}

/// CPU ticks (`USER_HZ`) used so far: by the whole machine (busy time from `/proc/stat`: user,
/// nice, system, irq, softirq, steal) and by this process (`utime + stime` from
/// `/proc/self/stat`, exited threads included). Their difference over a run is the CPU other
/// processes took, a sign that the figures were disturbed. `None` off Linux.
pub fn cpu_ticks_machine_and_self() -> Option<(u64, u64)> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let machine = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| fields.get(i))
        .sum();
    let own = fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3 (state); utime and stime are
    // fields 14 and 15.
    let after_name = own.rsplit_once(')')?.1;
    let mut rest = after_name.split_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((machine, utime + stime))
}

/// Summary of a set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    /// Number of operations.
    pub count: usize,
    /// Median (nearest rank).
    pub p50_us: f64,
    /// 90th percentile (nearest rank).
    pub p90_us: f64,
    /// 99th percentile (nearest rank).
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl LatencySummary {
    /// Summarises `samples` (sorted in place). `None` when empty.
    pub fn of(samples: &mut [Duration]) -> Option<LatencySummary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let rank = |q: f64| {
            let n = samples.len();
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            samples.get(index).copied().map_or(0.0, us)
        };
        let total: Duration = samples.iter().sum();
        Some(LatencySummary {
            count: samples.len(),
            p50_us: rank(0.50),
            p90_us: rank(0.90),
            p99_us: rank(0.99),
            mean_us: us(total) / samples.len() as f64,
            max_us: samples.last().copied().map_or(0.0, us),
        })
    }
}

/// Mean records per batch between two snapshots of the same log's counters.
pub fn mean_batch_records(before: &LogStats, after: &LogStats) -> f64 {
    let batches = after.batch_records.count - before.batch_records.count;
    let records = after.batch_records.sum - before.batch_records.sum;
    if batches == 0 {
        0.0
    } else {
        records as f64 / batches as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_is_136_bytes() {
        assert_eq!(record_len(), 136);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = LatencySummary::of(&mut samples).unwrap();
        assert_eq!(s.count, 100);
        assert_eq!(s.p50_us, 50.0);
        assert_eq!(s.p90_us, 90.0);
        assert_eq!(s.p99_us, 99.0);
        assert_eq!(s.max_us, 100.0);
        assert!((s.mean_us - 50.5).abs() < 1e-9);
        assert_eq!(LatencySummary::of(&mut []), None);
        let mut one = [Duration::from_micros(7)];
        assert_eq!(LatencySummary::of(&mut one).unwrap().p99_us, 7.0);
    }

    #[test]
    fn writers_append_in_order_and_everything_is_durable() {
        let dir = std::env::temp_dir().join(format!("zk-benches-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut log = BenchLog::open_settled(&dir, WriteMode::Pwrite, 1 << 20).unwrap();
        let before = log.stats();
        let pool = log.writer_pool(8).unwrap();
        pool.run(100).unwrap();
        pool.run(50).unwrap();
        log.resume_after(pool);
        log.append_durable().unwrap();
        let after = log.stats();
        assert_eq!(after.records - before.records, 151);
        assert!(mean_batch_records(&before, &after) >= 1.0);
        assert_eq!(log.log.durable_zxid(), Zxid::new(EPOCH, 152));
        log.close().unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}

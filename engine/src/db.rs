//! The replicated state on disk: a snapshot directory and a transaction log, opened together.
//!
//! [`Database::open`] recovers the state (FORMAT.md 8.5): it opens the log (which recovers
//! itself), deletes snapshots left unfinished by a crash, loads the newest snapshot that
//! verifies (a damaged one is logged with its file and reason, and the next older one is
//! tried), checks that the log reaches back to it, replays the log from its start zxid + 1, and
//! checks the tree digest once the snapshot's end zxid has been applied. No snapshot and no log
//! is an empty tree; a log that does not reach back far enough is an error, never a silent gap.
//!
//! While the server runs, [`Database::note_applied`] counts applied transactions and their bytes
//! and starts a background snapshot by ZooKeeper's `snapCount` rule, with a random offset so that
//! the servers of an ensemble do not all snapshot at once. After each snapshot, retention keeps
//! the newest snapshots and purges the log segments none of them needs. This module never
//! changes the tree itself except by replaying the log at open: applying transactions is the
//! server's job.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::snapshot::{
    list_snapshots, load_snapshot, remove_temporary_files, snapshot_file_name, sync_dir,
    temporary_file_name, write_snapshot, LoadedSnapshot, SnapshotFile, SnapshotInfo,
    SnapshotOptions, SnapshotSummary, SNAPSHOT_TRAILER_LEN,
};
use crate::tree::DataTree;
use crate::txn::decode;
use crate::txnlog::{LogConfig, LogRecord, RecoveryReport, TxnLog};
use crate::zxid::Zxid;

/// Configuration of a [`Database`].
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// Directory of the snapshots (the server uses `<dataDir>/snap`). Created if missing.
    pub snapshot_dir: PathBuf,
    /// Directory of the transaction log (the server uses `<dataLogDir>/log`). Created if missing.
    pub log_dir: PathBuf,
    /// The transaction log's configuration. Default: [`LogConfig::default`].
    pub log: LogConfig,
    /// How snapshots are written. Default: [`SnapshotOptions::default`].
    pub snapshot: SnapshotOptions,
    /// ZooKeeper's `snapCount`: a snapshot starts after more than `snap_count / 2 + r`
    /// transactions, `r` drawn uniformly in `[0, snap_count / 2)` after each snapshot. At least 2.
    /// Default: 100 000.
    pub snap_count: u64,
    /// ZooKeeper's `snapSizeLimitInKb`, in bytes: a snapshot also starts after more than
    /// `snap_size_bytes / 2 + s` bytes of transactions, `s` drawn in `[0, snap_size_bytes / 2)`;
    /// 0 disables the rule. Default: 4 GiB.
    pub snap_size_bytes: u64,
    /// Snapshots kept by retention (ZooKeeper's `autopurge.snapRetainCount`), at least 1; the log
    /// segments the oldest of them needs are kept too. Default: 3.
    pub snap_retain_count: usize,
    /// Seed of the random offsets; `None` draws one. Default: `None`.
    pub random_seed: Option<u64>,
}

impl DatabaseConfig {
    /// The defaults, with these directories.
    pub fn new(snapshot_dir: impl Into<PathBuf>, log_dir: impl Into<PathBuf>) -> DatabaseConfig {
        DatabaseConfig {
            snapshot_dir: snapshot_dir.into(),
            log_dir: log_dir.into(),
            log: LogConfig::default(),
            snapshot: SnapshotOptions::default(),
            snap_count: 100_000,
            snap_size_bytes: 4 * 1024 * 1024 * 1024,
            snap_retain_count: 3,
            random_seed: None,
        }
    }

    /// Checks the configuration (the log's own settings are checked when it opens).
    pub fn validate(&self) -> Result<()> {
        self.snapshot.validate()?;
        if self.snap_count < 2 {
            return Err(Error::Config(format!(
                "snap_count {} must be at least 2",
                self.snap_count
            )));
        }
        if self.snap_retain_count == 0 {
            return Err(Error::Config("snap_retain_count must be at least 1".into()));
        }
        Ok(())
    }
}

/// A snapshot that could not be used at open, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedSnapshot {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped (the corruption found, or the log not reaching its end zxid).
    pub reason: String,
}

/// What [`Database::open`] found and did.
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// The snapshot the state was loaded from; `None` when the log was replayed from an empty
    /// tree.
    pub snapshot: Option<SnapshotSummary>,
    /// Newer snapshots that were skipped, newest first.
    pub skipped_snapshots: Vec<SkippedSnapshot>,
    /// Unfinished snapshots (`.tmp`) deleted.
    pub removed_temporary: Vec<PathBuf>,
    /// What the log's recovery found.
    pub log: RecoveryReport,
    /// Log records replayed over the snapshot.
    pub records_replayed: u64,
    /// Their payload bytes.
    pub bytes_replayed: u64,
    /// Whether the tree digest was checked against the snapshot's trailer (always, when a
    /// snapshot was used).
    pub digest_checked: bool,
    /// The last zxid applied to the recovered tree.
    pub last_zxid: Zxid,
    /// Its digest.
    pub digest: u64,
    /// Time spent reading and building the snapshots that loaded (the newest is read while the
    /// log is opened, so this can overlap the log's scan).
    pub load_duration: Duration,
    /// Time spent replaying the log.
    pub replay_duration: Duration,
    /// Time of the whole open.
    pub duration: Duration,
}

/// What retention removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// Snapshot files deleted.
    pub removed_snapshots: Vec<PathBuf>,
    /// Log segments deleted.
    pub purged_segments: Vec<String>,
}

/// The state of background snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotStatus {
    /// A background snapshot is running.
    pub running: bool,
    /// Snapshots started, background and synchronous.
    pub started: u64,
    /// Snapshots due while another was still running, hence skipped.
    pub skipped_busy: u64,
    /// The outcome of the last finished snapshot: its info, or the error as text.
    pub last: Option<std::result::Result<SnapshotInfo, String>>,
}

/// SplitMix64: enough randomness for spreading snapshots, without a dependency.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn from_entropy() -> SplitMix64 {
        let mut hasher = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        hasher.write_u64(nanos);
        hasher.write_u32(std::process::id());
        SplitMix64(hasher.finish())
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0.
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// ZooKeeper's `SyncRequestProcessor.shouldSnapshot` rule.
#[derive(Debug)]
struct Scheduler {
    snap_count: u64,
    snap_size_bytes: u64,
    /// Transactions since the last snapshot was due.
    txn_count: u64,
    /// Their bytes.
    log_bytes: u64,
    rand_roll: u64,
    rand_size: u64,
    rng: SplitMix64,
}

impl Scheduler {
    fn new(config: &DatabaseConfig) -> Scheduler {
        let rng = match config.random_seed {
            Some(seed) => SplitMix64(seed),
            None => SplitMix64::from_entropy(),
        };
        let mut scheduler = Scheduler {
            snap_count: config.snap_count,
            snap_size_bytes: config.snap_size_bytes,
            txn_count: 0,
            log_bytes: 0,
            rand_roll: 0,
            rand_size: 0,
            rng,
        };
        scheduler.reset();
        scheduler
    }

    /// Counts one applied transaction; true when a snapshot is due (the counters then restart
    /// and the offsets are drawn again, whether or not the snapshot can start).
    fn note(&mut self, bytes: u64) -> bool {
        self.txn_count += 1;
        self.log_bytes = self.log_bytes.saturating_add(bytes);
        let due = self.txn_count > self.snap_count / 2 + self.rand_roll
            || (self.snap_size_bytes > 0
                && self.log_bytes > self.snap_size_bytes / 2 + self.rand_size);
        if due {
            self.reset();
        }
        due
    }

    fn reset(&mut self) {
        self.txn_count = 0;
        self.log_bytes = 0;
        self.rand_roll = self.rng.below(self.snap_count / 2);
        self.rand_size = self.rng.below(self.snap_size_bytes / 2);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_lock(tree: &RwLock<DataTree>) -> std::sync::RwLockReadGuard<'_, DataTree> {
    tree.read().unwrap_or_else(|e| e.into_inner())
}

fn write_lock(tree: &RwLock<DataTree>) -> std::sync::RwLockWriteGuard<'_, DataTree> {
    tree.write().unwrap_or_else(|e| e.into_inner())
}

/// Writes `bytes` to `path` and makes them durable.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("write", path, e))?;
    file.sync_all().map_err(|e| Error::io("sync", path, e))
}

type Worker = Option<JoinHandle<Result<SnapshotInfo>>>;

struct Inner {
    config: DatabaseConfig,
    /// The end zxid of the snapshot recovery used at open.
    recovered_snapshot_end: Zxid,
    tree: Arc<RwLock<DataTree>>,
    log: Arc<TxnLog>,
    snapshot_dir: PathBuf,
    options: SnapshotOptions,
    retain: usize,
    scheduler: Mutex<Scheduler>,
    /// The background snapshot thread; held locked while a snapshot is taken synchronously, so
    /// that only one snapshot is ever written at a time.
    worker: Mutex<Worker>,
    last: Mutex<Option<std::result::Result<SnapshotInfo, String>>>,
    started: AtomicU64,
    skipped_busy: AtomicU64,
}

impl Inner {
    /// Writes a snapshot, then applies retention (whose failure is logged: the snapshot stands).
    fn take_snapshot(&self) -> Result<SnapshotInfo> {
        self.started.fetch_add(1, Ordering::Relaxed);
        let result = write_snapshot(&self.tree, &self.snapshot_dir, self.options.clone());
        match &result {
            Ok(info) => {
                log::info!(
                    "snapshot {} written: zxid {}..={}, {} nodes, {} bytes in {:?} (longest \
                     read-lock hold {:?})",
                    info.path.display(),
                    info.start_zxid,
                    info.end_zxid,
                    info.nodes,
                    info.file_len,
                    info.duration,
                    info.longest_lock_hold
                );
                if let Err(e) = self.apply_retention() {
                    log::error!("snapshot retention failed: {e}");
                }
            }
            Err(e) => log::error!("snapshot failed: {e}"),
        }
        *lock(&self.last) = Some(match &result {
            Ok(info) => Ok(info.clone()),
            Err(e) => Err(e.to_string()),
        });
        result
    }

    /// Waits for a background snapshot and keeps others from starting while the guard lives.
    fn quiesce_snapshots(&self) -> MutexGuard<'_, Worker> {
        let mut worker = lock(&self.worker);
        if let Some(running) = worker.take() {
            let _ = self.record_joined(running);
        }
        worker
    }

    /// Deletes the snapshots whose start zxid is after `zxid`.
    fn remove_snapshots_after(&self, zxid: Zxid) -> Result<()> {
        let mut removed = false;
        for file in list_snapshots(&self.snapshot_dir)? {
            if file.start_zxid > zxid {
                std::fs::remove_file(&file.path)
                    .map_err(|e| Error::io("remove the snapshot", &file.path, e))?;
                log::info!(
                    "removed snapshot {} (past zxid {zxid})",
                    file.path.display()
                );
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.snapshot_dir)?;
        }
        Ok(())
    }

    /// Recovers the tree again from the snapshots and the log as they now are.
    fn reload_tree(&self) -> Result<()> {
        let segments = self.log.segments();
        let report = RecoveryReport {
            segments: segments.len(),
            records: 0,
            first_zxid: segments.first().map_or(Zxid::NONE, |s| s.first_zxid),
            last_zxid: self.log.last_zxid(),
            base_zxid: segments.first().map_or(Zxid::NONE, |s| s.prev_zxid),
            torn_tail: None,
            removed: Vec::new(),
        };
        let snapshots = list_snapshots(&self.config.snapshot_dir)?;
        let recovered = recover(&self.config, &self.log, &report, &snapshots, None, None)?;
        log::info!(
            "rebuilt the tree to zxid {} from {} and {} log records",
            recovered.tree.last_applied_zxid(),
            recovered.snapshot.as_ref().map_or_else(
                || "an empty tree".to_owned(),
                |s| s.path.display().to_string()
            ),
            recovered.records
        );
        *write_lock(&self.tree) = recovered.tree;
        Ok(())
    }

    fn apply_retention(&self) -> Result<Retention> {
        let snapshots = list_snapshots(&self.snapshot_dir)?;
        let mut retention = Retention::default();
        for old in snapshots.iter().skip(self.retain) {
            std::fs::remove_file(&old.path)
                .map_err(|e| Error::io("remove the old snapshot", &old.path, e))?;
            log::info!("removed old snapshot {}", old.path.display());
            retention.removed_snapshots.push(old.path.clone());
        }
        if !retention.removed_snapshots.is_empty() {
            sync_dir(&self.snapshot_dir)?;
        }
        if let Some(oldest_kept) = snapshots.iter().take(self.retain).next_back() {
            // The oldest snapshot kept replays from its start zxid + 1: every segment wholly
            // before that goes.
            let needed_from = Zxid(oldest_kept.start_zxid.0.saturating_add(1));
            retention.purged_segments = self.log.purge_before(needed_from)?;
            for name in &retention.purged_segments {
                log::info!("purged log segment {name}");
            }
        }
        Ok(retention)
    }

    fn record_joined(&self, handle: JoinHandle<Result<SnapshotInfo>>) -> Result<SnapshotInfo> {
        match handle.join() {
            Ok(result) => result,
            Err(_) => {
                let message = "the snapshot thread panicked".to_owned();
                log::error!("{message}");
                *lock(&self.last) = Some(Err(message.clone()));
                Err(Error::io(
                    "take a snapshot in",
                    &self.snapshot_dir,
                    std::io::Error::other(message),
                ))
            }
        }
    }
}

/// The tree and the log of one server, with its snapshots (module doc).
pub struct Database {
    inner: Arc<Inner>,
}

impl Database {
    /// Opens the snapshot directory and the log, and recovers the tree (module doc).
    pub fn open(config: DatabaseConfig) -> Result<(Database, OpenReport)> {
        config.validate()?;
        let started = Instant::now();
        std::fs::create_dir_all(&config.snapshot_dir)
            .map_err(|e| Error::io("create the snapshot directory", &config.snapshot_dir, e))?;
        // The newest snapshot is read on a thread of its own while the log is opened and
        // scanned: on two cores, start-up takes the longer of the two instead of their sum.
        // Reading needs no lock (a snapshot with its final name is complete); the log's lock,
        // taken by the open, keeps another process away before any leftover is deleted, and a
        // failed open is reported before anything the snapshot read found.
        let snapshots = list_snapshots(&config.snapshot_dir)?;
        let (opened, newest) = std::thread::scope(|scope| {
            let loader = snapshots.first().and_then(|newest| {
                std::thread::Builder::new()
                    .name("zk-snap-load".into())
                    .spawn_scoped(scope, || load_snapshot(&newest.path))
                    .ok()
            });
            let opened = TxnLog::open_path(&config.log_dir, config.log.clone());
            // The log usually opens well before the snapshot is loaded: read the records the
            // newest snapshot will need meanwhile, so that the replay after the load only
            // applies them.
            let prefetched = match (&opened, snapshots.first(), &loader) {
                (Ok((log, _)), Some(newest), Some(_)) => {
                    Some(Prefetched::read(log, newest.start_zxid, PREFETCH_BYTES))
                }
                _ => None,
            };
            let newest = loader.map(|loader| {
                loader
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            (opened.map(|opened| (opened, prefetched)), newest)
        });
        let ((log, log_report), prefetched) = opened?;
        let removed_temporary = remove_temporary_files(&config.snapshot_dir)?;
        let recovered = recover(&config, &log, &log_report, &snapshots, newest, prefetched)?;
        let recovered_snapshot_end = recovered
            .snapshot
            .as_ref()
            .map_or(Zxid::NONE, |summary| summary.trailer.end_zxid);
        let report = OpenReport {
            snapshot: recovered.snapshot,
            skipped_snapshots: recovered.skipped,
            removed_temporary,
            log: log_report,
            records_replayed: recovered.records,
            bytes_replayed: recovered.bytes,
            digest_checked: recovered.digest_checked,
            last_zxid: recovered.tree.last_applied_zxid(),
            digest: recovered.tree.digest(),
            load_duration: recovered.load_duration,
            replay_duration: recovered.replay_duration,
            duration: started.elapsed(),
        };
        let mut scheduler = Scheduler::new(&config);
        // The transactions replayed were applied since the snapshot: they count toward the next.
        scheduler.txn_count = recovered.records;
        scheduler.log_bytes = recovered.bytes;
        let database = Database {
            inner: Arc::new(Inner {
                config: config.clone(),
                recovered_snapshot_end,
                tree: Arc::new(RwLock::new(recovered.tree)),
                log: Arc::new(log),
                snapshot_dir: config.snapshot_dir.clone(),
                options: config.snapshot.clone(),
                retain: config.snap_retain_count,
                scheduler: Mutex::new(scheduler),
                worker: Mutex::new(None),
                last: Mutex::new(None),
                started: AtomicU64::new(0),
                skipped_busy: AtomicU64::new(0),
            }),
        };
        log::info!(
            "recovered to zxid {} from {} and {} log records in {:?}",
            report.last_zxid,
            report.snapshot.as_ref().map_or_else(
                || "an empty tree".to_owned(),
                |s| s.path.display().to_string()
            ),
            report.records_replayed,
            report.duration
        );
        Ok((database, report))
    }

    /// The tree. The server applies transactions to it under the write lock; snapshots take the
    /// read lock in short chunks.
    pub fn tree(&self) -> &Arc<RwLock<DataTree>> {
        &self.inner.tree
    }

    /// The transaction log.
    pub fn log(&self) -> &Arc<TxnLog> {
        &self.inner.log
    }

    /// The snapshot directory.
    pub fn snapshot_dir(&self) -> &Path {
        &self.inner.snapshot_dir
    }

    /// To be called after each applied transaction, with its encoded size. Starts a background
    /// snapshot when one is due (module doc) and returns whether it did; when the previous one
    /// is still running, the snapshot is skipped and a warning logged, as ZooKeeper does. Cheap:
    /// never waits for a snapshot.
    pub fn note_applied(&self, txn_bytes: usize) -> bool {
        let due = lock(&self.inner.scheduler).note(txn_bytes as u64);
        due && self.start_background()
    }

    fn start_background(&self) -> bool {
        let mut worker = match self.inner.worker.try_lock() {
            Ok(worker) => worker,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return self.too_busy(),
        };
        if worker.as_ref().is_some_and(|handle| !handle.is_finished()) {
            return self.too_busy();
        }
        if let Some(finished) = worker.take() {
            let _ = self.inner.record_joined(finished);
        }
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("zk-snapshot".into())
            .spawn(move || inner.take_snapshot());
        match spawned {
            Ok(handle) => {
                *worker = Some(handle);
                true
            }
            Err(e) => {
                log::error!("cannot start the snapshot thread: {e}");
                false
            }
        }
    }

    fn too_busy(&self) -> bool {
        self.inner.skipped_busy.fetch_add(1, Ordering::Relaxed);
        log::warn!("too busy to snapshot, skipping (the previous snapshot is still running)");
        false
    }

    /// Takes a snapshot now, on the calling thread, after waiting for a background one to
    /// finish; then applies retention. For shutdown and tests.
    pub fn snapshot_now(&self) -> Result<SnapshotInfo> {
        let mut worker = lock(&self.inner.worker);
        if let Some(running) = worker.take() {
            let _ = self.inner.record_joined(running);
        }
        let info = self.inner.take_snapshot();
        lock(&self.inner.scheduler).reset();
        info
    }

    /// Waits for the background snapshot, if one was started and not yet waited for; returns
    /// its outcome.
    pub fn wait_for_snapshot(&self) -> Option<Result<SnapshotInfo>> {
        let running = lock(&self.inner.worker).take()?;
        Some(self.inner.record_joined(running))
    }

    /// Keeps the newest `snap_retain_count` snapshots and the log segments they need; deletes the
    /// rest. Runs after every snapshot; callable on its own.
    pub fn apply_retention(&self) -> Result<Retention> {
        let _worker = lock(&self.inner.worker);
        self.inner.apply_retention()
    }

    /// Background snapshot counters and the last outcome.
    pub fn snapshot_status(&self) -> SnapshotStatus {
        let running = lock(&self.inner.worker)
            .as_ref()
            .is_some_and(|handle| !handle.is_finished());
        SnapshotStatus {
            running,
            started: self.inner.started.load(Ordering::Relaxed),
            skipped_busy: self.inner.skipped_busy.load(Ordering::Relaxed),
            last: lock(&self.inner.last).clone(),
        }
    }

    /// The end zxid of the snapshot recovery used when the database opened (`Zxid::NONE` when
    /// it replayed the log from the start): replication cannot truncate this server's history
    /// below it.
    pub fn recovered_snapshot_end(&self) -> Zxid {
        self.inner.recovered_snapshot_end
    }

    /// Replication (a follower told to drop what the leader does not have): removes every log
    /// record after `zxid`, and snapshots that start after it; when the tree has applied past
    /// `zxid`, rebuilds it from the newest usable snapshot and the log. The caller keeps
    /// appliers away meanwhile.
    pub fn truncate_after(&self, zxid: Zxid) -> Result<()> {
        let _worker = self.inner.quiesce_snapshots();
        self.inner.log.truncate_after(zxid)?;
        self.inner.remove_snapshots_after(zxid)?;
        let applied = read_lock(&self.inner.tree).last_applied_zxid();
        if applied > zxid {
            self.inner.reload_tree()?;
        }
        Ok(())
    }

    /// Replication (a follower too far behind): replaces the whole state with a snapshot the
    /// leader sent, made while no transaction was applied (its start and end zxids are equal).
    /// Empties the log first, so that a crash half way leaves the old snapshot and no log, a
    /// state the leader can sync again. Returns the snapshot's zxid.
    pub fn install_snapshot(&self, bytes: &[u8]) -> Result<Zxid> {
        let _worker = self.inner.quiesce_snapshots();
        let dir = &self.inner.snapshot_dir;
        let received = dir.join(temporary_file_name(Zxid::NONE));
        write_durably(&received, bytes)?;
        let loaded = match load_snapshot(&received) {
            Ok(loaded) => loaded,
            Err(e) => {
                let _ = std::fs::remove_file(&received);
                return Err(e);
            }
        };
        let start = loaded.summary.header.start_zxid;
        let end = loaded.summary.trailer.end_zxid;
        if start != end {
            let _ = std::fs::remove_file(&received);
            return Err(Error::Corrupt {
                path: received,
                offset: 0,
                last_good_zxid: start,
                reason: format!(
                    "a snapshot for a follower must not be fuzzy, this one spans {start}..={end}"
                ),
            });
        }
        self.inner.log.truncate_after(Zxid::NONE)?;
        // Snapshots at or after `start` belong to a history the leader replaced.
        self.inner
            .remove_snapshots_after(Zxid(start.0.saturating_sub(1)))?;
        let path = dir.join(snapshot_file_name(start));
        std::fs::rename(&received, &path)
            .map_err(|e| Error::io("rename the received snapshot to", &path, e))?;
        sync_dir(dir)?;
        *write_lock(&self.inner.tree) = loaded.tree;
        log::info!(
            "installed the leader's snapshot {} at zxid {start}",
            path.display()
        );
        Ok(start)
    }

    /// Replication (the leader): a snapshot of the tree in bytes, with its zxid. The caller
    /// keeps transactions from being applied meanwhile, so that it is not fuzzy; a fuzzy one is
    /// refused by [`Database::install_snapshot`].
    pub fn snapshot_bytes(&self) -> Result<(Zxid, Vec<u8>)> {
        let _worker = self.inner.quiesce_snapshots();
        let dir = self.inner.snapshot_dir.join("transfer");
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io("create the snapshot transfer directory", &dir, e))?;
        let info = write_snapshot(&self.inner.tree, &dir, self.inner.options.clone())?;
        let bytes =
            std::fs::read(&info.path).map_err(|e| Error::io("read the snapshot", &info.path, e))?;
        let _ = std::fs::remove_file(&info.path);
        Ok((info.start_zxid, bytes))
    }

    /// Waits for a background snapshot, then makes everything appended to the log durable. The
    /// log closes when the last handle on it is dropped.
    pub fn close(self) -> Result<()> {
        if let Some(Err(e)) = self.wait_for_snapshot() {
            log::warn!("the last background snapshot failed: {e}");
        }
        self.inner.log.flush().map(|_| ())
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // A running snapshot holds the log; finish it so that the log can close.
        let _ = self.wait_for_snapshot();
    }
}

/// The outcome of recovery.
struct Recovered {
    tree: DataTree,
    snapshot: Option<SnapshotSummary>,
    skipped: Vec<SkippedSnapshot>,
    records: u64,
    bytes: u64,
    digest_checked: bool,
    load_duration: Duration,
    replay_duration: Duration,
}

/// Finds the newest usable snapshot and replays the log over it (module doc).
/// `snapshots` come newest first; `newest` is the newest one already loaded, if it was.
fn recover(
    config: &DatabaseConfig,
    log: &TxnLog,
    log_report: &RecoveryReport,
    snapshots: &[SnapshotFile],
    mut newest: Option<Result<LoadedSnapshot>>,
    mut prefetched: Option<Prefetched>,
) -> Result<Recovered> {
    let log_empty = log_report.last_zxid == Zxid::NONE;
    let mut skipped = Vec::new();
    let mut newest_error: Option<Error> = None;
    // Snapshot reads, the one made in parallel with the log's open included.
    let mut load_duration = Duration::ZERO;
    for candidate in snapshots {
        let loaded = newest
            .take()
            .unwrap_or_else(|| load_snapshot(&candidate.path));
        if let Ok(loaded) = &loaded {
            load_duration += loaded.duration;
        }
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) if e.is_corruption() => {
                log::warn!(
                    "snapshot {} is damaged, trying the previous one: {e}",
                    candidate.path.display()
                );
                skipped.push(SkippedSnapshot {
                    path: candidate.path.clone(),
                    reason: e.to_string(),
                });
                newest_error.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let summary = loaded.summary;
        let start = summary.header.start_zxid;
        let end = summary.trailer.end_zxid;
        let trailer_offset = summary.file_len - SNAPSHOT_TRAILER_LEN as u64;
        let unusable = if start != candidate.start_zxid {
            Some(format!(
                "its header says start zxid {start}, its name {}",
                candidate.start_zxid
            ))
        } else if end < start {
            Some(format!(
                "its end zxid {end} is before its start zxid {start}"
            ))
        } else if (log_empty && end != start) || (!log_empty && log_report.last_zxid < end) {
            Some(format!(
                "the log ends at zxid {}, before the snapshot's end zxid {end}: it lacks \
                 transactions whose effects the snapshot holds",
                log_report.last_zxid
            ))
        } else {
            None
        };
        if let Some(reason) = unusable {
            log::warn!(
                "snapshot {} cannot be used, trying the previous one: {reason}",
                candidate.path.display()
            );
            newest_error.get_or_insert_with(|| Error::Corrupt {
                path: candidate.path.clone(),
                offset: trailer_offset,
                last_good_zxid: start,
                reason: reason.clone(),
            });
            skipped.push(SkippedSnapshot {
                path: candidate.path.clone(),
                reason,
            });
            continue;
        }
        if !log_empty {
            check_reaches_back(log_report, start, &candidate.path, &config.log_dir)?;
        }
        let replay_started = Instant::now();
        let mut tree = loaded.tree;
        let expected = Expected {
            end_zxid: end,
            digest: summary.trailer.digest,
            snapshot: &candidate.path,
            trailer_offset,
        };
        let prefetched = prefetched.take().filter(|p| p.after == start);
        let (records, bytes) = replay(
            &mut tree,
            log,
            &config.log_dir,
            start,
            prefetched,
            Some(&expected),
        )?;
        return Ok(Recovered {
            tree,
            snapshot: Some(summary),
            skipped,
            records,
            bytes,
            digest_checked: true,
            load_duration,
            replay_duration: replay_started.elapsed(),
        });
    }
    // No usable snapshot: the log must hold the whole history.
    if log_empty {
        if let Some(error) = newest_error {
            // Snapshots existed but none is usable, and there is no log to rebuild from.
            return Err(error);
        }
        return Ok(Recovered {
            tree: DataTree::new(),
            snapshot: None,
            skipped,
            records: 0,
            bytes: 0,
            digest_checked: false,
            load_duration,
            replay_duration: Duration::ZERO,
        });
    }
    if log_report.base_zxid != Zxid::NONE {
        let detail = format!(
            "no usable snapshot{} and the log in {} starts after zxid {} (older segments were \
             purged): the transactions up to it are missing",
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} skipped as damaged or unusable)", skipped.len())
            },
            config.log_dir.display(),
            log_report.base_zxid
        );
        return Err(Error::ZxidNotInLog {
            zxid: log_report.base_zxid,
            detail,
        });
    }
    let replay_started = Instant::now();
    let mut tree = DataTree::new();
    let (records, bytes) = replay(&mut tree, log, &config.log_dir, Zxid::NONE, None, None)?;
    Ok(Recovered {
        tree,
        snapshot: None,
        skipped,
        records,
        bytes,
        digest_checked: false,
        load_duration,
        replay_duration: replay_started.elapsed(),
    })
}

/// FORMAT.md 8.5 rule 3: the log reaches back to `start + 1` (its first record at or before it,
/// or its base zxid equal to `start`).
fn check_reaches_back(
    log_report: &RecoveryReport,
    start: Zxid,
    snapshot: &Path,
    log_dir: &Path,
) -> Result<()> {
    let needed = Zxid(start.0.saturating_add(1));
    if log_report.first_zxid <= needed || log_report.base_zxid == start {
        return Ok(());
    }
    Err(Error::ZxidNotInLog {
        zxid: needed,
        detail: format!(
            "snapshot {} starts at zxid {start} and needs every transaction after it, but the \
             log in {} starts at zxid {} (after {}): the transactions in between are missing",
            snapshot.display(),
            log_dir.display(),
            log_report.first_zxid,
            log_report.base_zxid
        ),
    })
}

/// What the tree must be once the snapshot's end zxid has been replayed.
struct Expected<'a> {
    end_zxid: Zxid,
    digest: u64,
    snapshot: &'a Path,
    trailer_offset: u64,
}

impl Expected<'_> {
    fn check(&self, tree: &DataTree) -> Result<()> {
        if tree.digest() == self.digest {
            return Ok(());
        }
        Err(Error::Corrupt {
            path: self.snapshot.to_owned(),
            offset: self.trailer_offset,
            last_good_zxid: self.end_zxid,
            reason: format!(
                "after replaying the log to the snapshot's end zxid {} the tree digest is \
                 {:016x}, the snapshot says {:016x}: the snapshot and the log disagree",
                self.end_zxid,
                tree.digest(),
                self.digest
            ),
        })
    }
}

/// How many payload bytes start-up reads ahead while the snapshot loads; the rest, if any, is
/// read during the replay.
const PREFETCH_BYTES: usize = 64 << 20;

/// The first records after a snapshot's start zxid, read from the log while that snapshot loads.
struct Prefetched {
    /// The zxid the records follow.
    after: Zxid,
    records: Vec<LogRecord>,
    /// Whether `records` hold every record after `after` (else reading stopped at the budget or
    /// at an error, which the replay meets again when it reads on).
    complete: bool,
}

impl Prefetched {
    /// Reads the records after `after`, stopping once `budget` payload bytes are held.
    fn read(log: &TxnLog, after: Zxid, budget: usize) -> Prefetched {
        let mut prefetched = Prefetched {
            after,
            records: Vec::new(),
            complete: false,
        };
        let Ok(reader) = log.read_from(Zxid(after.0.saturating_add(1))) else {
            return prefetched;
        };
        let mut held = 0usize;
        for record in reader {
            // The reader yields only records from `after + 1` on.
            let Ok(record) = record else {
                return prefetched;
            };
            held += record.payload.len();
            prefetched.records.push(record);
            if held >= budget {
                return prefetched;
            }
        }
        prefetched.complete = true;
        prefetched
    }

    /// The records after `after`: those held, then what the log has after the last of them.
    fn and_the_rest<'a>(
        self,
        log: &'a TxnLog,
    ) -> Result<Box<dyn Iterator<Item = Result<LogRecord>> + 'a>> {
        let next = self.records.last().map_or(self.after, |r| r.zxid);
        let held = self.records.into_iter().map(Ok);
        if self.complete {
            return Ok(Box::new(held));
        }
        Ok(Box::new(
            held.chain(log.read_from(Zxid(next.0.saturating_add(1)))?),
        ))
    }
}

/// Replays the log records after `start` over `tree` (beginning with those `prefetched`, if
/// any), checking the digest at the snapshot's end zxid. Returns the records and payload bytes
/// replayed.
fn replay(
    tree: &mut DataTree,
    log: &TxnLog,
    log_dir: &Path,
    start: Zxid,
    prefetched: Option<Prefetched>,
    expected: Option<&Expected<'_>>,
) -> Result<(u64, u64)> {
    let mut checked = false;
    if let Some(expected) = expected {
        if expected.end_zxid == start {
            expected.check(tree)?;
            checked = true;
        }
    }
    let mut records = 0u64;
    let mut bytes = 0u64;
    let mut last = start;
    let records_after_start = match prefetched {
        Some(prefetched) => prefetched.and_the_rest(log)?,
        None => Box::new(log.read_from(Zxid(start.0.saturating_add(1)))?),
    };
    for record in records_after_start {
        let record = record?;
        if record.zxid <= start {
            continue;
        }
        let txn = decode(&record.payload).map_err(|e| Error::Corrupt {
            path: log_dir.to_owned(),
            offset: 0,
            last_good_zxid: last,
            reason: format!("the record of zxid {} does not decode: {e}", record.zxid),
        })?;
        if txn.header.zxid != record.zxid {
            return Err(Error::Corrupt {
                path: log_dir.to_owned(),
                offset: 0,
                last_good_zxid: last,
                reason: format!(
                    "the record of zxid {} holds a transaction of zxid {}",
                    record.zxid, txn.header.zxid
                ),
            });
        }
        tree.replay(&txn);
        records += 1;
        bytes += record.payload.len() as u64;
        last = record.zxid;
        if let Some(expected) = expected {
            if record.zxid == expected.end_zxid {
                expected.check(tree)?;
                checked = true;
            }
        }
    }
    if let Some(expected) = expected {
        if !checked {
            return Err(Error::ZxidNotInLog {
                zxid: expected.end_zxid,
                detail: format!(
                    "snapshot {} ends at zxid {}, which the log in {} does not hold (replayed up \
                     to {last})",
                    expected.snapshot.display(),
                    expected.end_zxid,
                    log_dir.display()
                ),
            });
        }
    }
    Ok((records, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `count` records of 1,000 bytes from zxid 1, over several 64 KiB segments.
    fn sim_log(count: u64) -> TxnLog {
        let dir = Arc::new(crate::storage::sim::SimDir::new());
        let log_config = LogConfig {
            segment_size: 64 * 1024,
            ..LogConfig::default()
        };
        let (log, _) = TxnLog::open(dir, log_config).expect("open the simulated log");
        for counter in 1..=count {
            let payload = counter.to_be_bytes().repeat(125);
            log.append(Zxid(counter), payload)
                .and_then(|completion| completion.wait())
                .expect("durable append");
        }
        log
    }

    fn zxids(records: impl Iterator<Item = Result<LogRecord>>) -> Vec<u64> {
        records
            .map(|r| r.expect("readable record").zxid.0)
            .collect()
    }

    #[test]
    fn prefetched_records_and_the_rest_are_every_record_after_the_start_once() {
        let log = sim_log(300);
        // Budgets that stop inside the first segment, at a record boundary, past the end.
        for budget in [1, 1_000, 50_000, 150_000, 1 << 30] {
            for after in [0u64, 1, 99, 298, 300] {
                let prefetched = Prefetched::read(&log, Zxid(after), budget);
                let held = prefetched.records.len();
                assert!(
                    held * 1_000 <= budget + 1_000,
                    "read past the budget {budget}"
                );
                assert_eq!(prefetched.complete, (after as usize + held) == 300);
                let all = prefetched.and_the_rest(&log).expect("read on");
                let expected: Vec<u64> = (after + 1..=300).collect();
                assert_eq!(zxids(all), expected, "budget {budget}, after {after}");
            }
        }
        log.close().expect("close");
    }

    fn config(snap_count: u64, snap_size_bytes: u64, seed: u64) -> DatabaseConfig {
        DatabaseConfig {
            snap_count,
            snap_size_bytes,
            random_seed: Some(seed),
            ..DatabaseConfig::new("/nonexistent/snap", "/nonexistent/log")
        }
    }

    #[test]
    fn snap_count_rule_fires_between_half_and_full_count() {
        for seed in 0..200 {
            let mut scheduler = Scheduler::new(&config(100, 0, seed));
            let mut gaps = Vec::new();
            let mut since = 0u64;
            for _ in 0..2000 {
                since += 1;
                if scheduler.note(10) {
                    gaps.push(since);
                    since = 0;
                }
            }
            assert!(!gaps.is_empty());
            for gap in gaps {
                // More than 50 + r transactions, r in [0, 50): 51..=100.
                assert!((51..=100).contains(&gap), "seed {seed}: gap {gap}");
            }
        }
    }

    #[test]
    fn size_rule_fires_on_bytes() {
        let mut scheduler = Scheduler::new(&config(1_000_000, 1000, 7));
        let mut fired_after = None;
        for n in 1..=200u64 {
            if scheduler.note(10) {
                fired_after = Some(n * 10);
                break;
            }
        }
        let bytes = fired_after.expect("the size rule fires");
        assert!((501..=1010).contains(&bytes), "{bytes}");
    }

    #[test]
    fn offsets_differ_between_seeds() {
        let rolls: std::collections::BTreeSet<u64> = (0..20)
            .map(|seed| Scheduler::new(&config(100_000, 0, seed)).rand_roll)
            .collect();
        assert!(rolls.len() > 10);
        assert!(rolls.iter().all(|r| *r < 50_000));
    }
}

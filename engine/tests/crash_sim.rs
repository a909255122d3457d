//! Crash simulation of the transaction log on the simulated disk (`storage::sim`), against a model
//! of what was appended and what was acknowledged.
//!
//! The invariants, checked after every crash and reopen:
//!
//! - (a) every acknowledged zxid (its `Completion` or callback returned `Ok`, or a `flush` or a
//!   clean `close` covering it succeeded) is in the log with exactly its payload;
//! - (b) the log read back is a gap-free run of what was appended: no record after a gap, nothing
//!   never appended, no wrong bytes; it starts where the model says it may (at the first record,
//!   or later only after a purge);
//! - (c) opening a crash image of an undamaged disk never fails: a torn tail is cut, never reported
//!   as corruption;
//! - (d) after an injected write or sync fault the log is poisoned: every later append fails with
//!   `Error::Poisoned`, and (a)-(b) hold after the next crash.
//!
//! Crash images are taken between operations (`Crash`, `CrashClean`, `CrashKeepAll`) and, through
//! [`HookDir`], just before the n-th next I/O call of the log's own threads: between a batch's write
//! and its sync, in the middle of a roll, a truncate or a recovery. Those are the images with torn
//! writes in them. [`HookDir`] also models `kill -9` (`KillAtIo`): from the n-th call on, the
//! process does nothing more, and the next one starts on the same disk, unsynced writes and
//! renames still in its page cache; a later power loss must not take away what the new process
//! acknowledged. A poisoned log is restarted the same way.
//!
//! The later tests are regressions for engine bugs these found (each says which), and one
//! (ignored) for a bug still open.

mod crash_support;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crash_support::{assert_follow_each_other, next_zxid, read_all};
use proptest::prelude::*;
use zk_engine::storage::sim::{Operation, SimDir, SimRng};
use zk_engine::storage::{LogDir, SegmentWriter, WriteMode};
use zk_engine::txnlog::{Completion, LogConfig, RecoveryReport, TxnLog};
use zk_engine::{Error, Zxid};

const SEGMENT_SIZE: u64 = 64 * 1024;

/// Whether a log whose truncate failed part way can still be read. Until the engine bug shown by
/// `a_failed_truncate_leaves_the_log_readable` is fixed, `ReadBack` skips such a log; set this to
/// `true` with the fix.
const FAILED_TRUNCATE_KEEPS_READS: bool = true;

thread_local! {
    /// What the scenarios of the test running on this thread exercised, printed at its end, so
    /// that a change that stops them from reaching torn tails, rolls or poisoning shows.
    static COVERAGE: RefCell<Coverage> = RefCell::default();
}

#[derive(Default, Debug)]
struct Coverage {
    starts: u64,
    torn_tails: u64,
    images_at_io: u64,
    poisoned: u64,
    max_segments: usize,
}

fn cover(f: impl FnOnce(&mut Coverage)) {
    COVERAGE.with(|coverage| f(&mut coverage.borrow_mut()));
}

fn print_coverage(test: &str) {
    COVERAGE.with(|coverage| {
        let c = coverage.borrow();
        eprintln!(
            "{test}: {} starts, {} torn tails cut, {} crash images taken mid-I/O, {} logs \
             poisoned, up to {} segments",
            c.starts, c.torn_tails, c.images_at_io, c.poisoned, c.max_segments
        );
    });
}

fn config() -> LogConfig {
    LogConfig {
        segment_size: SEGMENT_SIZE,
        ..LogConfig::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A payload unique to one append (`seq`), so that a record written before a truncate can never
/// be mistaken for the one appended after it under the same zxid.
fn payload(zxid: Zxid, seq: u64, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = zxid
        .0
        .to_le_bytes()
        .into_iter()
        .chain(seq.to_le_bytes())
        .collect();
    bytes.resize(len.max(16), 0);
    for (i, byte) in bytes.iter_mut().enumerate().skip(16) {
        *byte = (zxid.0 as usize * 31 + seq as usize * 17 + i) as u8;
    }
    bytes.truncate(len);
    bytes
}

/// What a crash image must and may contain.
#[derive(Clone, Debug, Default)]
struct Expectation {
    /// Every record that may be in the log, by zxid, with its payload.
    history: BTreeMap<Zxid, Vec<u8>>,
    /// The zxids that must be in the log.
    acked: BTreeSet<Zxid>,
    /// Whether older segments may have been purged, so that the log may start after the first
    /// record of `history`.
    front_purged: bool,
}

/// The model: shared with the callbacks (on the commit thread) and with [`HookDir`].
#[derive(Default)]
struct Model {
    /// Every record that may be in the log: the sequence number of its append and its payload.
    history: BTreeMap<Zxid, (u64, Vec<u8>)>,
    acked: BTreeSet<Zxid>,
    /// Acknowledgements of zxids below this are ignored: they may have been purged.
    floor: Zxid,
    /// Acknowledgements of zxids above this are ignored: a truncate is removing them.
    ceiling: Option<Zxid>,
    front_purged: bool,
    /// A callback saw `Error::Poisoned`.
    poison_seen: bool,
    /// Results no callback should ever see.
    unexpected: Vec<String>,
}

impl Model {
    fn from_expectation(expect: &Expectation) -> Model {
        Model {
            history: expect
                .history
                .iter()
                .map(|(zxid, payload)| (*zxid, (0, payload.clone())))
                .collect(),
            acked: expect.acked.clone(),
            front_purged: expect.front_purged,
            ..Model::default()
        }
    }

    /// Notes that the append `seq` of `zxid` is durable, unless a truncate or purge made that
    /// append irrelevant.
    fn ack(&mut self, zxid: Zxid, seq: u64) {
        if zxid < self.floor || self.ceiling.is_some_and(|ceiling| zxid > ceiling) {
            return;
        }
        if self.history.get(&zxid).is_some_and(|(s, _)| *s == seq) {
            self.acked.insert(zxid);
        }
    }

    fn expectation(&self) -> Expectation {
        Expectation {
            history: self
                .history
                .iter()
                .map(|(zxid, (_, payload))| (*zxid, payload.clone()))
                .collect(),
            acked: self.acked.clone(),
            front_purged: self.front_purged,
        }
    }
}

/// A crash image taken by [`HookDir`] (or, for a kill, none: the live disk is what remains), with
/// what it must contain.
struct Captured {
    image: Option<SimDir>,
    expect: Expectation,
    what: String,
}

#[derive(Default)]
struct Hook {
    /// I/O calls left until the one before which the image is taken.
    countdown: Option<u64>,
    seed: u64,
    model: Option<Arc<Mutex<Model>>>,
    captured: Option<Captured>,
    calls: u64,
    /// Count only the calls of this name ("sync", "write_at", ...).
    only: Option<&'static str>,
    /// Kill the process instead of taking an image: every later call fails, and the next start
    /// reads the disk as the page cache has it, pending writes included.
    kill: bool,
    /// Killed: every call fails.
    dead: bool,
    /// Tear every pending write of the image (each of its sectors lost, zeroed or landed), rather
    /// than choosing for each write whether it is lost, lands whole or is torn.
    tear_all: bool,
}

/// A [`LogDir`] over a [`SimDir`] that takes a crash image (`crash_with_seed`) just before the
/// n-th next mutating I/O call, whichever thread makes it, together with the model's expectation
/// at that moment. An acknowledgement recorded before the snapshot was durable before it, so it
/// must be in the image.
#[derive(Clone)]
struct HookDir {
    sim: SimDir,
    hook: Arc<Mutex<Hook>>,
}

impl HookDir {
    fn before_io(&self, what: &str) -> std::io::Result<()> {
        let mut hook = lock(&self.hook);
        if hook.dead {
            return Err(std::io::Error::other("sim: the process was killed"));
        }
        // The preparer's calls are not counted: they come at times that vary from run to run, and
        // would make the call a seed picks vary too. (Its directory operations are in every image
        // anyway, pending or not.)
        if std::thread::current().name() == Some("zk-log-prepare")
            || hook.only.is_some_and(|only| only != what)
        {
            return Ok(());
        }
        hook.calls += 1;
        match hook.countdown {
            Some(1) => {
                hook.countdown = None;
                let expect = hook
                    .model
                    .as_ref()
                    .map(|model| lock(model).expectation())
                    .unwrap_or_default();
                if hook.kill {
                    // From now on the process does nothing more: every call fails, the disk and
                    // its page cache (pending writes) stay as they are.
                    hook.dead = true;
                    let what = format!("kill -9 before I/O call {} ({what})", hook.calls);
                    hook.captured = Some(Captured {
                        image: None,
                        expect,
                        what,
                    });
                    return Err(std::io::Error::other("sim: the process was killed"));
                }
                let image = if hook.tear_all {
                    let mut rng = SimRng::new(hook.seed);
                    // choose(3) decides a pending write's fate: 2 is "torn".
                    self.sim
                        .crash(&mut |n| if n == 3 { 2 } else { rng.below(n) })
                } else {
                    self.sim.crash_with_seed(hook.seed)
                };
                let what = format!("crash image before I/O call {} ({what})", hook.calls);
                hook.captured = Some(Captured {
                    image: Some(image),
                    expect,
                    what,
                });
            }
            Some(n) => hook.countdown = Some(n - 1),
            None => {}
        }
        Ok(())
    }
}

impl LogDir for HookDir {
    fn list(&self) -> std::io::Result<Vec<String>> {
        self.sim.list()
    }
    fn create_zeroed(&self, name: &str, len: u64) -> std::io::Result<()> {
        self.before_io("create_zeroed")?;
        self.sim.create_zeroed(name, len)
    }
    fn open_writer(&self, name: &str) -> std::io::Result<Box<dyn SegmentWriter>> {
        let inner = self.sim.open_writer(name)?;
        Ok(Box::new(HookWriter {
            dir: self.clone(),
            inner,
        }))
    }
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        self.sim.read(name)
    }
    fn write_new(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.before_io("write_new")?;
        self.sim.write_new(name, data)
    }
    fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        self.before_io("rename")?;
        self.sim.rename(from, to)
    }
    fn remove(&self, name: &str) -> std::io::Result<()> {
        self.before_io("remove")?;
        self.sim.remove(name)
    }
    fn sync_file(&self, name: &str) -> std::io::Result<()> {
        self.before_io("sync_file")?;
        self.sim.sync_file(name)
    }
    fn sync_dir(&self) -> std::io::Result<()> {
        self.before_io("sync_dir")?;
        self.sim.sync_dir()
    }
    fn path_of(&self, name: &str) -> PathBuf {
        self.sim.path_of(name)
    }
    fn write_mode(&self) -> WriteMode {
        self.sim.write_mode()
    }
}

/// A writer whose `write_at` and `sync` (also the two halves of `write_durable`) are hooked.
struct HookWriter {
    dir: HookDir,
    inner: Box<dyn SegmentWriter>,
}

impl SegmentWriter for HookWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.dir.before_io("write_at")?;
        self.inner.write_at(offset, data)
    }
    fn sync(&mut self, offset: u64, len: u64) -> std::io::Result<()> {
        self.dir.before_io("sync")?;
        self.inner.sync(offset, len)
    }
}

/// Reads the recovered log and checks invariants (a) and (b) against `expect`, and the recovery
/// report against what was read; returns the records.
fn check_recovered(
    context: &str,
    log: &TxnLog,
    report: &RecoveryReport,
    expect: &Expectation,
) -> Vec<(Zxid, Vec<u8>)> {
    let records = read_all(log, context);
    check_records(context, &records, expect);
    assert_eq!(
        report.records,
        records.len() as u64,
        "{context}: report {report:?}"
    );
    let last = records.last().map_or(report.base_zxid, |(zxid, _)| *zxid);
    assert_eq!(report.last_zxid, last, "{context}: report {report:?}");
    assert_eq!(log.last_zxid(), last, "{context}");
    assert_eq!(log.durable_zxid(), last, "{context}");
    records
}

/// The log under test, its disk, and the model.
struct Harness {
    /// Names the scenario in failure messages.
    name: String,
    /// Names the scenario and the current start of the log.
    context: String,
    sim: SimDir,
    hook: Arc<Mutex<Hook>>,
    log: Option<TxnLog>,
    model: Arc<Mutex<Model>>,
    next_seq: u64,
    /// Appends whose `Completion` was not waited for yet: zxid, append sequence number.
    outstanding: Vec<(Zxid, u64, Completion)>,
    /// `log.poisoned()` was seen `Some`: from now on every append must fail.
    poisoned: bool,
    faults_armed: bool,
    disk_full: bool,
    /// A truncate failed part way: see `a_failed_truncate_leaves_the_log_readable`.
    truncate_failed: bool,
    starts: u64,
}

impl Harness {
    fn new(name: String, arm: Option<(u64, u64)>) -> Harness {
        let mut harness = Harness {
            context: name.clone(),
            name,
            sim: SimDir::new(),
            hook: Arc::default(),
            log: None,
            model: Arc::default(),
            next_seq: 1,
            outstanding: Vec::new(),
            poisoned: false,
            faults_armed: false,
            disk_full: false,
            truncate_failed: false,
            starts: 0,
        };
        harness.start(SimDir::new(), &Expectation::default(), arm, "a new disk");
        harness
    }

    fn log(&self) -> &TxnLog {
        self.log.as_ref().expect("the log is open")
    }

    /// Opens the log on `sim` (a crash image, or the disk a clean close left) and checks it
    /// against `expect`. `arm` (I/O calls, seed) takes a crash image during recovery or later.
    fn start(&mut self, sim: SimDir, expect: &Expectation, arm: Option<(u64, u64)>, what: &str) {
        // The old log and its threads go; its late callbacks update only its own model.
        self.log = None;
        self.outstanding.clear();
        self.starts += 1;
        self.context = format!("{}, start {} ({what})", self.name, self.starts);
        let model = Arc::new(Mutex::new(Model::from_expectation(expect)));
        let hook = Arc::new(Mutex::new(Hook {
            countdown: arm.map(|(calls, _)| calls.max(1)),
            seed: arm.map_or(0, |(_, seed)| seed),
            model: Some(Arc::clone(&model)),
            ..Hook::default()
        }));
        let dir = HookDir {
            sim: sim.clone(),
            hook: Arc::clone(&hook),
        };
        let (log, report) = match TxnLog::open(Arc::new(dir), config()) {
            Ok(opened) => opened,
            Err(err) => panic!(
                "{}: (c) the log does not open after a crash: {err}",
                self.context
            ),
        };
        let records = check_recovered(&self.context, &log, &report, expect);
        cover(|c| {
            c.starts += 1;
            c.torn_tails += u64::from(report.torn_tail.is_some());
            c.max_segments = c.max_segments.max(report.segments);
        });
        {
            let mut model = lock(&model);
            model.history = records
                .iter()
                .map(|(zxid, bytes)| (*zxid, (0, bytes.clone())))
                .collect();
            model.acked = records.iter().map(|(zxid, _)| *zxid).collect();
            model.front_purged = false;
        }
        self.sim = sim;
        self.hook = hook;
        self.model = model;
        self.log = Some(log);
        self.poisoned = false;
        self.faults_armed = false;
        self.disk_full = false;
        self.truncate_failed = false;
    }

    fn note_poisoned(&mut self, what: &str) {
        if !self.poisoned {
            cover(|c| c.poisoned += 1);
        }
        assert!(
            self.log().poisoned().is_some(),
            "{}: {what} failed with Poisoned but the log says it is not poisoned",
            self.context
        );
        self.poisoned = true;
    }

    /// Between operations: checks the callbacks, takes note of poisoning, and crashes to an image
    /// the hook took, if it took one.
    fn between_ops(&mut self) {
        {
            let model = lock(&self.model);
            assert!(
                model.unexpected.is_empty(),
                "{}: callbacks saw {:?}",
                self.context,
                model.unexpected
            );
        }
        if lock(&self.model).poison_seen {
            self.note_poisoned("a callback");
        }
        if self.poisoned {
            assert!(
                self.log().poisoned().is_some(),
                "{}: the log is no longer poisoned",
                self.context
            );
        } else if self.log().poisoned().is_some() {
            cover(|c| c.poisoned += 1);
            self.poisoned = true;
        }
        let captured = lock(&self.hook).captured.take();
        if let Some(captured) = captured {
            cover(|c| c.images_at_io += 1);
            match captured.image {
                Some(image) => self.start(image, &captured.expect, None, &captured.what),
                None => self.restart_on_the_same_disk(&captured.expect, &captured.what),
            }
        }
    }

    /// Takes a crash image just before the `calls`-th next I/O call.
    fn arm(&mut self, calls: u64, seed: u64) {
        let mut hook = lock(&self.hook);
        hook.countdown = Some(calls.max(1));
        hook.seed = seed;
        hook.kill = false;
    }

    /// Kills the process just before the `calls`-th next I/O call.
    fn arm_kill(&mut self, calls: u64) {
        let mut hook = lock(&self.hook);
        hook.countdown = Some(calls.max(1));
        hook.kill = true;
        // The killed process sees every call fail, as if a fault had been injected.
        self.faults_armed = true;
    }

    /// A new process on the same disk, after the old one died (killed, or gave up when poisoned):
    /// what it wrote and did not sync is still in the page cache, and recovery must make it durable
    /// before building on it. Injected faults and a full disk are cleared (the operator made room).
    fn restart_on_the_same_disk(&mut self, expect: &Expectation, what: &str) {
        self.log = None;
        self.sim.clear_faults();
        let sim = self.sim.clone();
        self.start(sim, expect, None, what);
    }

    /// Takes an image just before the `syncs`-th next sync of a segment, with every pending write
    /// torn.
    fn arm_torn(&mut self, syncs: u64, seed: u64) {
        let mut hook = lock(&self.hook);
        hook.countdown = Some(syncs.max(1));
        hook.seed = seed;
        hook.only = Some("sync");
        hook.tear_all = true;
    }

    fn has_captured(&self) -> bool {
        lock(&self.hook).captured.is_some()
    }

    fn append(&mut self, sizes: &[usize], new_epoch: bool, callbacks: bool) {
        for &size in sizes {
            let last = self.log().last_zxid();
            let zxid = if new_epoch && last != Zxid::NONE {
                Zxid::new(last.epoch() + 1, 1)
            } else {
                next_zxid(last)
            };
            let seq = self.next_seq;
            self.next_seq += 1;
            let bytes = payload(zxid, seq, size);
            let was_poisoned = self.log().poisoned().is_some();
            {
                let mut model = lock(&self.model);
                assert!(
                    !model.history.contains_key(&zxid),
                    "{}: model: {zxid} is reused while an older append may survive",
                    self.context
                );
                model.history.insert(zxid, (seq, bytes.clone()));
            }
            let accepted = if callbacks {
                let model = Arc::clone(&self.model);
                self.log()
                    .append_with(
                        zxid,
                        bytes,
                        Box::new(move |result| {
                            let mut model = lock(&model);
                            match result {
                                Ok(done) if done == zxid => model.ack(zxid, seq),
                                Ok(other) => {
                                    model.unexpected.push(format!("{zxid} resolved as {other}"))
                                }
                                Err(Error::Poisoned { .. }) => model.poison_seen = true,
                                Err(err) => model.unexpected.push(format!("{zxid}: {err}")),
                            }
                        }),
                    )
                    .map(|()| None)
            } else {
                self.log().append(zxid, bytes).map(Some)
            };
            match accepted {
                Ok(completion) => {
                    assert!(
                        !was_poisoned,
                        "{}: (d) a poisoned log accepted an append of {zxid}",
                        self.context
                    );
                    if let Some(completion) = completion {
                        self.outstanding.push((zxid, seq, completion));
                    }
                }
                Err(Error::Poisoned { .. }) => {
                    lock(&self.model).history.remove(&zxid);
                    self.note_poisoned("append");
                }
                Err(err) => panic!("{}: append of {zxid} failed: {err}", self.context),
            }
        }
    }

    fn wait_durable(&mut self) {
        for (zxid, seq, completion) in std::mem::take(&mut self.outstanding) {
            match completion.wait() {
                Ok(done) => {
                    assert_eq!(done, zxid, "{}", self.context);
                    lock(&self.model).ack(zxid, seq);
                }
                Err(Error::Poisoned { .. }) => self.note_poisoned("a completion"),
                Err(err) => panic!("{}: completion of {zxid}: {err}", self.context),
            }
        }
    }

    fn flush(&mut self) {
        let was_poisoned = self.log().poisoned().is_some();
        match self.log().flush() {
            Ok(durable) => {
                assert!(
                    !was_poisoned,
                    "{}: (d) flush succeeded on a poisoned log",
                    self.context
                );
                let mut model = lock(&self.model);
                let covered: Vec<(Zxid, u64)> = model
                    .history
                    .range(..=durable)
                    .map(|(zxid, (seq, _))| (*zxid, *seq))
                    .collect();
                for (zxid, seq) in covered {
                    model.ack(zxid, seq);
                }
            }
            Err(Error::Poisoned { .. }) => self.note_poisoned("flush"),
            Err(err) => panic!("{}: flush: {err}", self.context),
        }
    }

    /// Reads the running log: every acknowledged record is there, in a gap-free run.
    fn read_back(&mut self) {
        if self.truncate_failed && !FAILED_TRUNCATE_KEEPS_READS {
            return;
        }
        let expect = lock(&self.model).expectation();
        let records = read_all(self.log(), &self.context);
        check_records(&format!("{} (read back)", self.context), &records, &expect);
    }

    /// A power loss now: the image `take` makes of the disk replaces it.
    fn crash(&mut self, what: &str, take: impl FnOnce(&SimDir) -> SimDir) {
        // The expectation first: what was acknowledged before it was durable before the image.
        let expect = lock(&self.model).expectation();
        let image = take(&self.sim);
        self.start(image, &expect, None, what);
    }

    /// A power loss now, and another one at the `calls`-th I/O call of the next start (during
    /// recovery, or while appending after it).
    fn crash_twice(&mut self, seed: u64, calls: u64, second_seed: u64) {
        let expect = lock(&self.model).expectation();
        let image = self.sim.crash_with_seed(seed);
        let what = format!("crash seed {seed}, next crash at I/O call {calls}");
        self.start(image, &expect, Some((calls, second_seed)), &what);
    }

    /// A clean shutdown and start on the same disk. A poisoned log cannot shut down cleanly: its
    /// process ends, and the next one starts on the disk as the page cache has it.
    fn restart(&mut self) {
        self.wait_durable();
        if self.poisoned || self.log().poisoned().is_some() {
            let expect = lock(&self.model).expectation();
            self.restart_on_the_same_disk(&expect, "restart of a poisoned log");
            return;
        }
        let log = self.log.take().expect("the log is open");
        match log.close() {
            Ok(()) => {}
            Err(Error::Poisoned { .. }) if self.faults_armed || self.disk_full => {
                // A fault fired during the last flush.
                let expect = lock(&self.model).expectation();
                self.restart_on_the_same_disk(&expect, "restart of a log poisoned by close");
                return;
            }
            Err(err) => panic!("{}: close: {err}", self.context),
        }
        // Everything appended is durable now.
        let expect = {
            let mut model = lock(&self.model);
            let all: Vec<(Zxid, u64)> = model
                .history
                .iter()
                .map(|(zxid, (seq, _))| (*zxid, *seq))
                .collect();
            for (zxid, seq) in all {
                model.ack(zxid, seq);
            }
            model.expectation()
        };
        // A fault armed but not fired would fire in recovery; the full disk stays full.
        let disk_full = self.disk_full;
        self.sim.clear_faults();
        self.sim.set_disk_full(disk_full);
        let sim = self.sim.clone();
        self.start(sim, &expect, None, "clean restart");
        self.set_disk_full(disk_full);
    }

    /// Truncates after an acknowledged zxid (the `pick`-th, modulo their number).
    fn truncate_after(&mut self, pick: usize) {
        self.wait_durable();
        let target = {
            let mut model = lock(&self.model);
            let acked: Vec<Zxid> = model.acked.iter().copied().collect();
            if acked.is_empty() {
                return;
            }
            let target = acked[pick % acked.len()];
            model.ceiling = Some(target);
            model.acked.retain(|zxid| *zxid <= target);
            target
        };
        let was_poisoned = self.log().poisoned().is_some();
        if std::env::var("DBG").is_ok() {
            eprintln!(
                "truncate after {target}, acked {:?}, poisoned {:?}",
                lock(&self.model).acked,
                self.log().poisoned()
            );
        }
        match self.log().truncate_after(target) {
            Ok(()) => {
                assert!(
                    !was_poisoned,
                    "{}: (d) truncate succeeded on a poisoned log",
                    self.context
                );
                let mut model = lock(&self.model);
                model.history.retain(|zxid, _| *zxid <= target);
                model.acked.retain(|zxid| *zxid <= target);
                model.ceiling = None;
                drop(model);
                assert_eq!(self.log().last_zxid(), target, "{}", self.context);
            }
            Err(Error::Poisoned { .. }) => self.note_poisoned("truncate"),
            Err(Error::Io { .. }) if self.faults_armed => {
                self.truncate_failed = true;
                self.note_poisoned("truncate");
            }
            Err(err) => panic!("{}: truncate after {target}: {err}", self.context),
        }
    }

    /// Purges before an acknowledged zxid (the `pick`-th, modulo their number).
    fn purge(&mut self, pick: usize) {
        let target = {
            let mut model = lock(&self.model);
            let acked: Vec<Zxid> = model.acked.iter().copied().collect();
            if acked.is_empty() {
                return;
            }
            let target = acked[pick % acked.len()];
            model.floor = model.floor.max(target);
            model.acked.retain(|zxid| *zxid >= target);
            model.front_purged = true;
            target
        };
        match self.log().purge_before(target) {
            Ok(_) => {}
            Err(Error::Poisoned { .. }) => self.note_poisoned("purge"),
            // A failed purge does not poison the log: nothing it does can lose a record.
            Err(Error::Io { .. }) if self.faults_armed => {}
            Err(err) => panic!("{}: purge before {target}: {err}", self.context),
        }
    }

    fn inject(&mut self, op: Operation, after: u64) {
        self.sim.fail_after(op, after);
        self.faults_armed = true;
    }

    fn set_disk_full(&mut self, full: bool) {
        self.sim.set_disk_full(full);
        self.disk_full = full;
        // Like an injected fault, a full disk makes I/O fail.
        self.faults_armed |= full;
    }

    /// Closes the log at the end of a scenario; checks that a clean restart keeps everything.
    fn finish(mut self) {
        self.between_ops();
        self.restart();
        self.between_ops();
    }
}

/// Invariants (a) and (b) for records read from a log.
fn check_records(context: &str, records: &[(Zxid, Vec<u8>)], expect: &Expectation) {
    assert_follow_each_other(records, context);
    for (zxid, bytes) in records {
        match expect.history.get(zxid) {
            Some(appended) => assert!(
                appended == bytes,
                "{context}: zxid {zxid} reads back {} bytes that differ from the {} appended",
                bytes.len(),
                appended.len()
            ),
            None => panic!("{context}: zxid {zxid} is in the log but was never appended"),
        }
    }
    for pair in records.windows(2) {
        let next_appended = expect
            .history
            .range((Excluded(pair[0].0), Unbounded))
            .next();
        assert_eq!(
            next_appended.map(|(zxid, _)| *zxid),
            Some(pair[1].0),
            "{context}: the log skips from {} to {}",
            pair[0].0,
            pair[1].0
        );
    }
    if let (Some((first, _)), false) = (records.first(), expect.front_purged) {
        let first_appended = expect.history.keys().next();
        assert_eq!(
            first_appended,
            Some(first),
            "{context}: the log starts at {first}, after a gap"
        );
    }
    let read: BTreeSet<Zxid> = records.iter().map(|(zxid, _)| *zxid).collect();
    let lost: Vec<&Zxid> = expect.acked.difference(&read).collect();
    assert!(
        lost.is_empty(),
        "{context}: acknowledged zxids are missing: {lost:?} (the log holds {:?}..={:?})",
        records.first().map(|r| r.0),
        records.last().map(|r| r.0)
    );
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        sizes: Vec<usize>,
        new_epoch: bool,
        callbacks: bool,
    },
    WaitDurable,
    Flush,
    ReadBack,
    Crash(u64),
    CrashClean,
    CrashKeepAll,
    /// A crash image just before the n-th next I/O call (of any of the log's threads).
    CrashAtIo {
        calls: u64,
        seed: u64,
    },
    /// `kill -9` just before the n-th next I/O call, then a start on the same disk.
    KillAtIo(u64),
    Restart,
    TruncateAfter(usize),
    Purge(usize),
    InjectFault {
        op: Operation,
        after: u64,
    },
    DiskFull(bool),
}

fn fault_operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => Just(Operation::Sync),
        4 => Just(Operation::WriteAt),
        1 => Just(Operation::SyncDir),
        1 => Just(Operation::Rename),
        1 => Just(Operation::CreateZeroed),
        1 => Just(Operation::Remove),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (
            proptest::collection::vec(0..3000usize, 1..8),
            proptest::bool::weighted(0.1),
            any::<bool>(),
        )
            .prop_map(|(sizes, new_epoch, callbacks)| Op::Append {
                sizes,
                new_epoch,
                callbacks,
            }),
        3 => Just(Op::WaitDurable),
        2 => Just(Op::Flush),
        1 => Just(Op::ReadBack),
        2 => any::<u64>().prop_map(Op::Crash),
        1 => Just(Op::CrashClean),
        1 => Just(Op::CrashKeepAll),
        3 => (1..24u64, any::<u64>()).prop_map(|(calls, seed)| Op::CrashAtIo { calls, seed }),
        2 => (1..24u64).prop_map(Op::KillAtIo),
        1 => Just(Op::Restart),
        1 => any::<usize>().prop_map(Op::TruncateAfter),
        1 => any::<usize>().prop_map(Op::Purge),
        2 => (fault_operation(), 1..4u64).prop_map(|(op, after)| Op::InjectFault { op, after }),
        1 => any::<bool>().prop_map(Op::DiskFull),
    ]
}

fn run(ops: &[Op]) {
    let mut harness = Harness::new("proptest case".to_owned(), None);
    for op in ops {
        match op {
            Op::Append {
                sizes,
                new_epoch,
                callbacks,
            } => harness.append(sizes, *new_epoch, *callbacks),
            Op::WaitDurable => harness.wait_durable(),
            Op::Flush => harness.flush(),
            Op::ReadBack => harness.read_back(),
            Op::Crash(seed) => {
                let what = format!("crash seed {seed}");
                harness.crash(&what, |sim| sim.crash_with_seed(*seed));
            }
            Op::CrashClean => harness.crash("clean crash", SimDir::crash_clean),
            Op::CrashKeepAll => harness.crash("keep-all crash", SimDir::crash_keep_all),
            Op::CrashAtIo { calls, seed } => harness.arm(*calls, *seed),
            Op::KillAtIo(calls) => harness.arm_kill(*calls),
            Op::Restart => harness.restart(),
            Op::TruncateAfter(pick) => harness.truncate_after(*pick),
            Op::Purge(pick) => harness.purge(*pick),
            Op::InjectFault { op, after } => harness.inject(*op, *after),
            Op::DiskFull(full) => harness.set_disk_full(*full),
        }
        harness.between_ops();
    }
    harness.finish();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 512,
        ..ProptestConfig::default()
    })]

    /// Invariants (a)-(d) over random operation sequences.
    #[test]
    fn random_operations_and_crashes_keep_the_model(ops in proptest::collection::vec(op(), 1..48)) {
        run(&ops);
    }
}

/// Prints what the proptest cases exercised (they run on this thread when called from here).
#[test]
fn random_operations_coverage() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(16));
    runner
        .run(&proptest::collection::vec(op(), 1..48), |ops| {
            run(&ops);
            Ok(())
        })
        .expect("random operations");
    print_coverage("random_operations_coverage (16 cases)");
}

/// A fixed scenario driven by `seed`: batches of appends (some waited for, some with callbacks,
/// an occasional new epoch, flush, truncate or injected sync fault); then a crash image taken at a
/// random I/O call, or (one seed in three) a `kill -9` there and a start on the same disk followed
/// by more appends and a power loss; then half the time a second crash during the recovery of that
/// image or the appends after it; then a clean restart.
///
/// The seed fixes the scenario; which I/O call is the n-th one also depends on how the commit
/// thread happened to group records into batches, so a failing seed may need a few runs to fail
/// again.
fn seeded_scenario(seed: u64) {
    let mut rng = SimRng::new(seed);
    let calls = 1 + rng.below(150);
    let kill = rng.below(3) == 0;
    let mut harness = Harness::new(format!("seed {seed}"), None);
    if kill {
        harness.arm_kill(calls);
    } else {
        harness.arm(calls, rng.next_u64());
    }
    for _ in 0..4 + rng.below(10) {
        let sizes: Vec<usize> = (0..1 + rng.below(10))
            .map(|_| rng.below(3000) as usize)
            .collect();
        harness.append(&sizes, rng.below(12) == 0, rng.below(2) == 0);
        match rng.below(10) {
            0 | 1 => harness.wait_durable(),
            2 => harness.flush(),
            3 => harness.truncate_after(rng.below(1000) as usize),
            4 if rng.below(3) == 0 => harness.inject(Operation::Sync, 1 + rng.below(3)),
            _ => {}
        }
        if harness.has_captured() {
            break;
        }
    }
    if harness.has_captured() {
        harness.between_ops();
        if kill {
            // What the restarted process reads and acknowledges must survive a power loss. The
            // first record fills a segment of its own: the log rolls at once, on top of what the
            // killed process left unsynced.
            let mut sizes = vec![config().max_payload_len()];
            sizes.extend((0..rng.below(10)).map(|_| rng.below(3000) as usize));
            harness.append(&sizes, false, rng.below(2) == 0);
            harness.wait_durable();
            harness.flush();
            harness.between_ops();
            let crash_seed = rng.next_u64();
            let what = format!("power loss after the kill, crash seed {crash_seed}");
            harness.crash(&what, |sim| sim.crash_with_seed(crash_seed));
        }
    } else {
        let crash_seed = rng.next_u64();
        let what = format!("crash seed {crash_seed}");
        harness.crash(&what, |sim| sim.crash_with_seed(crash_seed));
    }
    if rng.below(2) == 0 {
        harness.append(&[100, 2000, 0], false, true);
        let (crash_seed, calls, second_seed) = (rng.next_u64(), 1 + rng.below(12), rng.next_u64());
        harness.crash_twice(crash_seed, calls, second_seed);
        let sizes: Vec<usize> = (0..1 + rng.below(20))
            .map(|_| rng.below(3000) as usize)
            .collect();
        harness.append(&sizes, false, true);
        harness.flush();
        harness.between_ops();
    }
    harness.append(&[10, 20, 30], false, false);
    harness.wait_durable();
    harness.finish();
}

/// Batches of appends, a crash image just before the sync of one of them with its write torn
/// (sectors lost, zeroed or landed), the start on that image, more appends, a clean restart.
fn torn_batch_scenario(seed: u64) {
    let mut rng = SimRng::new(seed);
    let mut harness = Harness::new(format!("torn batch seed {seed}"), None);
    // Up to three segments' worth of durable records first, so that tears happen in later
    // segments and in rolls too.
    for _ in 0..rng.below(4) {
        harness.append(&[3000; 21], false, false);
        harness.wait_durable();
    }
    let batches = 1 + rng.below(24);
    // A batch of k records may be written as one to k batches: the commit thread takes what is
    // queued when it looks.
    harness.arm_torn(1 + rng.below(2 * batches), rng.next_u64());
    for _ in 0..batches {
        let sizes: Vec<usize> = (0..1 + rng.below(12))
            .map(|_| rng.below(3000) as usize)
            .collect();
        let callbacks = rng.below(2) == 0;
        harness.append(&sizes, rng.below(16) == 0, callbacks);
        // One batch at a time, so that the torn sync is a batch's.
        harness.flush();
        harness.wait_durable();
        if harness.has_captured() {
            break;
        }
    }
    harness.between_ops();
    harness.append(&[1, 2999, 64], false, false);
    harness.wait_durable();
    harness.finish();
}

/// Invariant (c), hard: for 500 seeds, a batch torn by a power loss before its sync is cut as a
/// torn tail, whatever sectors of it landed, and the log opens with every acknowledged record.
#[test]
fn torn_batches_500_seeds() {
    for seed in 0..500 {
        if let Err(panic) = std::panic::catch_unwind(|| torn_batch_scenario(seed)) {
            eprintln!("torn_batches_500_seeds failed at seed {seed}");
            std::panic::resume_unwind(panic);
        }
    }
    print_coverage("torn_batches_500_seeds");
}

/// Invariants (a)-(c) for 500 seeds of [`seeded_scenario`]: crash images taken in the middle of
/// batches, rolls, truncates and recoveries.
#[test]
fn crash_at_a_random_io_call_500_seeds() {
    for seed in 0..500 {
        if let Err(panic) = std::panic::catch_unwind(|| seeded_scenario(seed)) {
            eprintln!("crash_at_a_random_io_call_500_seeds failed at seed {seed}");
            std::panic::resume_unwind(panic);
        }
    }
    print_coverage("crash_at_a_random_io_call_500_seeds");
}

/// Opens a log on `sim` with the test's configuration (64 KiB segments, syncs on).
fn open_sim(sim: &SimDir) -> (TxnLog, RecoveryReport) {
    TxnLog::open(Arc::new(sim.clone()), config()).expect("open the log")
}

/// Appends records of `len` bytes after the log's last zxid and waits until they are durable.
fn append_durable(log: &TxnLog, count: usize, len: usize) -> Vec<Zxid> {
    let mut zxids = Vec::new();
    let mut completions = Vec::new();
    for _ in 0..count {
        let zxid = next_zxid(zxids.last().copied().unwrap_or_else(|| log.last_zxid()));
        completions.push(log.append(zxid, payload(zxid, 0, len)).expect("append"));
        zxids.push(zxid);
    }
    for completion in completions {
        completion.wait().expect("durable");
    }
    zxids
}

/// The zxids of a log opened on `image`, which must open.
fn zxids_after_crash(image: &SimDir, context: &str) -> Vec<Zxid> {
    let (log, _) = match TxnLog::open(Arc::new(image.clone()), config()) {
        Ok(opened) => opened,
        Err(err) => panic!("{context}: the log does not open after a crash: {err}"),
    };
    let records = read_all(&log, context);
    assert_follow_each_other(&records, context);
    records.into_iter().map(|(zxid, _)| zxid).collect()
}

/// (d) A failed write or sync, in a batch or in a roll, poisons the log: every later append,
/// flush, truncate and purge fails with `Poisoned`; after a crash, the records acknowledged before
/// are there, followed at most by the failed one.
#[test]
fn a_failed_write_or_sync_poisons_every_later_operation() {
    for fault in [Operation::Sync, Operation::WriteAt] {
        for rolling in [false, true] {
            let context = format!("{fault:?} fault, rolling {rolling}");
            let sim = SimDir::new();
            let (log, _) = open_sim(&sim);
            // 20 records of 3000 bytes leave less than 5000 bytes in the first segment.
            let acked = append_durable(&log, 20, 3000);
            sim.fail_after(fault, 1);
            let failed = next_zxid(*acked.last().expect("some"));
            let len = if rolling { 5000 } else { 10 };
            let completion = log.append(failed, payload(failed, 0, len)).expect("append");
            match completion.wait() {
                Err(Error::Poisoned { cause }) => assert!(cause.contains("sim"), "{cause}"),
                other => panic!("{context}: the failed batch resolved as {other:?}"),
            }
            assert!(log.poisoned().is_some(), "{context}");
            let next = next_zxid(failed);
            let poisoned = |result: Result<(), Error>, what: &str| match result {
                Err(Error::Poisoned { .. }) => {}
                other => panic!("{context}: {what} on a poisoned log: {other:?}"),
            };
            poisoned(log.append(next, vec![1]).map(drop), "append");
            poisoned(log.append(failed, vec![1]).map(drop), "append again");
            poisoned(
                log.append_with(next, vec![1], Box::new(|_| {})),
                "append_with",
            );
            poisoned(log.flush().map(drop), "flush");
            poisoned(log.truncate_after(acked[5]), "truncate");
            poisoned(log.purge_before(acked[5]).map(drop), "purge");
            assert_eq!(
                log.durable_zxid(),
                *acked.last().expect("some"),
                "{context}"
            );
            for seed in 0..64 {
                let context = format!("{context}, crash seed {seed}");
                let zxids = zxids_after_crash(&sim.crash_with_seed(seed), &context);
                assert!(
                    zxids == acked || zxids[..zxids.len() - 1] == acked[..],
                    "{context}: {zxids:?}"
                );
                assert!(zxids.len() <= acked.len() + 1, "{context}");
            }
            assert!(
                log.close().is_err(),
                "{context}: a poisoned log closed cleanly"
            );
        }
    }
}

/// Regression: `truncate_after` once zeroed the records after the cut with one write and one sync
/// (`commit.rs`, `cut_segment_after`). A power loss before that sync completed could land the zeros
/// at the cut but not over later batches, whose records then said (by their `batch_start`) that the
/// zeroed bytes had been synced: recovery reported corruption (FORMAT.md 5 row 3) although nothing
/// was damaged. Now each batch is zeroed and synced in turn, from the last; here the sync of each
/// step in turn fails (its zeros stay pending, as in a power loss before the sync returns), and
/// every crash image must open with a prefix of the log that keeps the records up to the cut.
#[test]
fn a_crash_while_truncate_zeroes_records_is_not_corruption() {
    // Four batches of five records; the cut is in the first, so there are four zeroing steps.
    for failing_sync in 1..=5 {
        let sim = SimDir::new();
        let (log, _) = open_sim(&sim);
        let mut acked = Vec::new();
        for _ in 0..4 {
            acked.extend(append_durable(&log, 5, 100));
        }
        sim.fail_after(Operation::Sync, failing_sync);
        let cut = acked[2];
        match log.truncate_after(cut) {
            Err(Error::Io { .. }) => {}
            Ok(()) if failing_sync == 5 => continue,
            other => panic!("sync {failing_sync} fails: the truncate gave {other:?}"),
        }
        let mut failures = Vec::new();
        for seed in 0..128 {
            let context = format!("sync {failing_sync} fails, crash seed {seed}");
            match TxnLog::open(Arc::new(sim.crash_with_seed(seed)), config()) {
                Ok((log, _)) => {
                    let zxids: Vec<Zxid> = read_all(&log, &context)
                        .into_iter()
                        .map(|(z, _)| z)
                        .collect();
                    // The truncate did not complete: anything from the cut to the old end may
                    // remain, as a prefix.
                    assert!(zxids.len() >= 3 && acked.starts_with(&zxids), "{context}");
                }
                Err(err) => failures.push(format!("{context}: {err}")),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of 128 crash images during a truncate do not open, e.g. {}",
            failures.len(),
            failures[0]
        );
    }
}

/// Regression: recovery trusted what it read. After `kill -9` (or a failed sync: the sim keeps such
/// writes pending, as the page cache keeps dirty pages), the next start reads the page cache, which
/// may hold a batch that was never synced; recovery reported it as durable and the log built on it.
/// Here the next segment says it follows that batch; a power loss then took the batch away and the
/// log no longer opened, with an acknowledged record behind the damage. Now recovery syncs every
/// segment and the directory before it trusts them (FORMAT.md 5).
#[test]
fn kill9_then_power_loss_keeps_acknowledged_records_unsynced_batch() {
    let sim = SimDir::new();
    let (log, _) = open_sim(&sim);
    let acked = append_durable(&log, 20, 3000);
    // The process dies between a batch's write and its sync: the sync never happens.
    sim.fail_after(Operation::Sync, 1);
    let unsynced = next_zxid(*acked.last().expect("some"));
    let result = log
        .append(unsynced, payload(unsynced, 0, 100))
        .expect("append");
    assert!(result.wait().is_err());
    drop(log);
    sim.clear_faults();

    // The next process starts on the same page cache.
    let (log, report) = open_sim(&sim);
    assert_eq!(report.last_zxid, unsynced, "it sees the unsynced record");
    // A record too large for what is left of the segment starts the next one.
    let rolled = append_durable(&log, 1, 5000)[0];
    log.close().expect("close");

    // Power loss.
    let image = sim.crash_clean();
    let zxids = zxids_after_crash(&image, "power loss after kill -9 and restart");
    assert!(
        zxids.contains(&rolled),
        "acknowledged {rolled} lost: {zxids:?}"
    );
}

/// Regression, the same as above for a directory operation: the process dies after a roll renamed
/// the new segment but before the directory sync. The next start appended to that segment (syncing
/// its data, never the directory) and acknowledged; a power loss took the rename away, and with it
/// the acknowledged records.
#[test]
fn kill9_then_power_loss_keeps_acknowledged_records_unsynced_rename() {
    let sim = SimDir::new();
    let (log, _) = open_sim(&sim);
    let first = append_durable(&log, 20, 3000);
    // The roll's directory sync never happens.
    sim.fail_after(Operation::SyncDir, 1);
    let roll = next_zxid(*first.last().expect("some"));
    let result = log.append(roll, payload(roll, 0, 5000)).expect("append");
    assert!(result.wait().is_err());
    drop(log);
    sim.clear_faults();

    let (log, report) = open_sim(&sim);
    assert_eq!(report.last_zxid, roll, "it sees the renamed segment");
    let acked = append_durable(&log, 3, 100);
    log.close().expect("close");

    let image = sim.crash_clean();
    let zxids = zxids_after_crash(&image, "power loss after kill -9 and restart");
    for zxid in first.iter().chain(&acked) {
        assert!(zxids.contains(zxid), "acknowledged {zxid} lost: {zxids:?}");
    }
}

/// A purge whose directory sync fails returns an error without poisoning the log (nothing it does
/// can lose a record); the log must stay readable and purgeable.
///
/// Regression: `purge_before` (`commit.rs`) removed the file, then synced the directory, and only
/// then dropped the segment from its list; when the sync failed the list kept a segment whose file
/// was gone, so every later `read_from` that reached it failed (NotFound) and every later purge
/// failed trying to remove it again, until a restart.
#[test]
fn a_failed_purge_keeps_the_log_readable_and_purgeable() {
    let sim = SimDir::new();
    let (log, _) = open_sim(&sim);
    let zxids = append_durable(&log, 200, 1000);
    let segments = log.segments();
    assert!(segments.len() >= 3, "{segments:?}");
    sim.fail_after(Operation::SyncDir, 1);
    assert!(matches!(
        log.purge_before(segments[2].first_zxid),
        Err(Error::Io { .. })
    ));
    assert!(log.poisoned().is_none());
    let records = read_all(&log, "after a failed purge");
    assert_follow_each_other(&records, "after a failed purge");
    let first = records.first().expect("records").0;
    assert!(zxids.ends_with(&records.iter().map(|r| r.0).collect::<Vec<_>>()));
    assert!(first <= segments[2].first_zxid);
    log.purge_before(segments[2].first_zxid)
        .expect("a second purge");
    assert_eq!(log.segments().first(), Some(&segments[2]));
}

/// With `sync: false` (ZooKeeper's `forceSync=no`) acknowledged records may be lost on power loss,
/// but the log must still open: what survives is a gap-free prefix, never "corruption".
///
/// Regression: with `sync: false` each batch wrote `batch_start` = its own offset, which claims
/// (FORMAT.md 4) that everything before it was synced. After a power loss an earlier unsynced batch
/// could be lost while a later one landed, and recovery took that for damage to synced data
/// (FORMAT.md 5 row 3): 178 of 200 power losses left a log that did not open. Now `batch_start`
/// stays at the last real sync, and a roll syncs the segment it leaves.
#[test]
fn unsynced_mode_power_loss_is_not_corruption() {
    let mut failures = Vec::new();
    for seed in 0..200 {
        let mut rng = SimRng::new(seed);
        let sim = SimDir::new();
        let config = LogConfig {
            sync: false,
            ..config()
        };
        let (log, _) = TxnLog::open(Arc::new(sim.clone()), config.clone()).expect("open");
        let mut appended = Vec::new();
        for _ in 0..2 + rng.below(6) {
            let count = 1 + rng.below(8) as usize;
            let len = rng.below(3000) as usize;
            appended.extend(append_durable(&log, count, len));
        }
        let image = sim.crash_with_seed(rng.next_u64());
        drop(log);
        match TxnLog::open(Arc::new(image), config) {
            Ok((log, _)) => {
                let context = format!("seed {seed}");
                let zxids: Vec<Zxid> = read_all(&log, &context)
                    .into_iter()
                    .map(|(z, _)| z)
                    .collect();
                assert!(appended.starts_with(&zxids), "{context}: {zxids:?}");
            }
            Err(err) => failures.push(format!("seed {seed}: {err}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 200 power losses with sync off leave a log that does not open, e.g. {}",
        failures.len(),
        failures[0]
    );
}

/// Engine bug: when the zeroing in `truncate_after` fails part way (`commit.rs`,
/// `cut_segment_after`), the log is poisoned but its segment list and durable zxid still name the
/// records after the cut, some of which are already zeros. `read_from` then fails with `Corrupt`
/// ("the segment ends at zxid .. but held records up to ..") on a log that is not damaged, and that
/// a restart opens cleanly. Likewise when the directory sync after removing a later segment fails
/// (`truncate_after` pops the segment from its list only after the sync): reads fail with NotFound.
/// Suggested fix: pop each segment as soon as its file is removed (as `purge_before` now does), and
/// lower the last segment's `last_zxid` and the queue's `durable` to the cut before zeroing starts
/// (those records are gone from then on, whatever happens), so that reads stop at the cut.
#[test]
fn a_failed_truncate_leaves_the_log_readable() {
    // Four batches of five records; the cut is in the first, so there are four zeroing steps.
    for failing_sync in 1..=4 {
        let context = format!("sync {failing_sync} of the truncate fails");
        let sim = SimDir::new();
        let (log, _) = open_sim(&sim);
        let mut acked = Vec::new();
        for _ in 0..4 {
            acked.extend(append_durable(&log, 5, 100));
        }
        sim.fail_after(Operation::Sync, failing_sync);
        assert!(matches!(
            log.truncate_after(acked[2]),
            Err(Error::Io { .. })
        ));
        assert!(log.poisoned().is_some());
        let reader = log.read_from(Zxid::NONE).expect("a reader");
        let zxids: Result<Vec<Zxid>, Error> = reader.map(|r| r.map(|r| r.zxid)).collect();
        match zxids {
            Ok(zxids) => assert!(
                zxids.len() >= 3 && acked.starts_with(&zxids),
                "{context}: {zxids:?}"
            ),
            Err(err) => panic!("{context}: reading the log: {err}"),
        }
        drop(log);
        let zxids = zxids_after_crash(&sim.crash_keep_all(), &context);
        assert!(zxids.len() >= 3 && acked.starts_with(&zxids), "{context}");
    }

    // The same when the directory sync after removing a later segment fails: the segment list
    // still names the removed file, and reads fail with NotFound.
    let sim = SimDir::new();
    let (log, _) = open_sim(&sim);
    let acked = append_durable(&log, 60, 3000);
    assert!(log.segments().len() >= 3);
    sim.fail_after(Operation::SyncDir, 1);
    assert!(matches!(
        log.truncate_after(acked[2]),
        Err(Error::Io { .. })
    ));
    let reader = log.read_from(Zxid::NONE).expect("a reader");
    let zxids: Result<Vec<Zxid>, Error> = reader.map(|r| r.map(|r| r.zxid)).collect();
    match zxids {
        Ok(zxids) => assert!(
            zxids.len() >= 3 && acked.starts_with(&zxids),
            "directory sync fails: {zxids:?}"
        ),
        Err(err) => panic!("directory sync of the truncate fails: reading the log: {err}"),
    }
}

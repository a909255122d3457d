//! Group commit under many concurrent waiters (`engine/src/txnlog/commit.rs`, `watermark.rs`):
//! every waiter of a batch is woken once the batch is durable, every waiter of a failed batch
//! gets the error, callbacks run exactly once each and in zxid order, a batch takes everything
//! queued while the previous sync ran, a take waits for the appends the last batch released, and
//! an acknowledged record stays acknowledged.
//!
//! The disk is the simulated one (`storage::sim`) behind a gate that can hold the commit thread
//! inside a sync, so that the waiters are known to be queued (and asleep) when the sync returns.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use zk_engine::storage::sim::{Operation, SimDir};
use zk_engine::storage::{LogDir, SegmentWriter, WriteMode};
use zk_engine::txnlog::{Completion, LogConfig, TxnLog};
use zk_engine::{Error, Zxid};

const WAITERS: usize = 64;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds every segment sync while closed; counts the syncs waiting at it. Once through, a sync
/// takes `sync_delay` longer.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
    sync_delay: Mutex<Duration>,
}

#[derive(Default)]
struct GateState {
    closed: bool,
    waiting: usize,
}

impl Gate {
    fn set_closed(&self, closed: bool) {
        lock(&self.state).closed = closed;
        self.changed.notify_all();
    }

    fn pass(&self) {
        let mut state = lock(&self.state);
        state.waiting += 1;
        self.changed.notify_all();
        while state.closed {
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.waiting -= 1;
        drop(state);
        let delay = *lock(&self.sync_delay);
        if !delay.is_zero() {
            thread::sleep(delay);
        }
    }

    /// Waits until a sync is held at the gate.
    fn wait_for_held_sync(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut state = lock(&self.state);
        while state.waiting == 0 {
            assert!(Instant::now() < deadline, "no sync reached the gate");
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(10))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[derive(Clone)]
struct GateDir {
    sim: SimDir,
    gate: Arc<Gate>,
}

struct GateWriter {
    inner: Box<dyn SegmentWriter>,
    gate: Arc<Gate>,
}

impl SegmentWriter for GateWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.inner.write_at(offset, data)
    }
    fn sync(&mut self, offset: u64, len: u64) -> std::io::Result<()> {
        self.gate.pass();
        self.inner.sync(offset, len)
    }
}

impl LogDir for GateDir {
    fn list(&self) -> std::io::Result<Vec<String>> {
        self.sim.list()
    }
    fn create_zeroed(&self, name: &str, len: u64) -> std::io::Result<()> {
        self.sim.create_zeroed(name, len)
    }
    fn open_writer(&self, name: &str) -> std::io::Result<Box<dyn SegmentWriter>> {
        Ok(Box::new(GateWriter {
            inner: self.sim.open_writer(name)?,
            gate: Arc::clone(&self.gate),
        }))
    }
    fn read(&self, name: &str) -> std::io::Result<Vec<u8>> {
        self.sim.read(name)
    }
    fn write_new(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        self.sim.write_new(name, data)
    }
    fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        self.sim.rename(from, to)
    }
    fn remove(&self, name: &str) -> std::io::Result<()> {
        self.sim.remove(name)
    }
    fn sync_file(&self, name: &str) -> std::io::Result<()> {
        self.sim.sync_file(name)
    }
    fn sync_dir(&self) -> std::io::Result<()> {
        self.sim.sync_dir()
    }
    fn path_of(&self, name: &str) -> PathBuf {
        self.sim.path_of(name)
    }
    fn write_mode(&self) -> WriteMode {
        self.sim.write_mode()
    }
}

fn open(dir: &GateDir) -> Arc<TxnLog> {
    open_with(dir, LogConfig::default().gather_limit)
}

fn open_with(dir: &GateDir, gather_limit: Duration) -> Arc<TxnLog> {
    let config = LogConfig {
        segment_size: 1 << 20,
        gather_limit,
        ..LogConfig::default()
    };
    Arc::new(TxnLog::open(Arc::new(dir.clone()), config).expect("open").0)
}

fn zxid(counter: u32) -> Zxid {
    Zxid::new(1, counter)
}

/// What each waiter thread saw, and the callbacks' calls in the order they came.
#[derive(Default)]
struct Seen {
    results: Mutex<Vec<(Zxid, Result<Zxid, Error>)>>,
    callbacks: Mutex<Vec<(Zxid, Result<Zxid, Error>)>>,
}

/// Starts `WAITERS` threads that each append the next zxid (taken under `counter`, as the server
/// does) and wait for it outside the lock: even threads through `append` and a `Completion`, odd
/// ones through `append_with` and a callback. Returns once all of them have appended.
fn start_waiters(
    log: &Arc<TxnLog>,
    counter: &Arc<Mutex<u32>>,
    seen: &Arc<Seen>,
) -> Vec<thread::JoinHandle<()>> {
    let appended = Arc::new((Mutex::new(0usize), Condvar::new()));
    let threads: Vec<_> = (0..WAITERS)
        .map(|i| {
            let (log, counter, seen, appended) = (
                Arc::clone(log),
                Arc::clone(counter),
                Arc::clone(seen),
                Arc::clone(&appended),
            );
            thread::spawn(move || {
                let (mine, completion): (Zxid, Option<Completion>) = {
                    let mut last = lock(&counter);
                    *last += 1;
                    let mine = zxid(*last);
                    let completion = if i % 2 == 0 {
                        Some(log.append(mine, vec![i as u8; 100]).expect("append"))
                    } else {
                        let seen = Arc::clone(&seen);
                        let callback = Box::new(move |result| {
                            lock(&seen.callbacks).push((mine, result));
                        });
                        log.append_with(mine, vec![i as u8; 100], callback)
                            .expect("append_with");
                        None
                    };
                    (mine, completion)
                };
                *lock(&appended.0) += 1;
                appended.1.notify_all();
                if let Some(completion) = completion {
                    let result = completion.wait();
                    lock(&seen.results).push((mine, result));
                }
            })
        })
        .collect();
    let mut count = lock(&appended.0);
    while *count < WAITERS {
        count = appended
            .1
            .wait(count)
            .unwrap_or_else(PoisonError::into_inner);
    }
    threads
}

/// Makes record 1 durable, then holds the commit thread in the sync of record 2.
fn hold_the_sync_of_record_2(dir: &GateDir, log: &TxnLog) -> Completion {
    log.append(zxid(1), vec![1; 100])
        .expect("append")
        .wait()
        .expect("the first record");
    dir.gate.set_closed(true);
    let held = log.append(zxid(2), vec![2; 100]).expect("append");
    dir.gate.wait_for_held_sync();
    held
}

/// Holds the commit thread in the sync of record 2 while `WAITERS` more are appended.
fn hold_a_sync_and_queue_waiters(
    dir: &GateDir,
    log: &Arc<TxnLog>,
    seen: &Arc<Seen>,
) -> (Completion, Vec<thread::JoinHandle<()>>) {
    let held = hold_the_sync_of_record_2(dir, log);
    let counter = Arc::new(Mutex::new(2));
    let threads = start_waiters(log, &counter, seen);
    // Let the waiters go to sleep: what the commit thread must then wake.
    thread::sleep(Duration::from_millis(50));
    (held, threads)
}

/// Closes the log (the commit thread resolves everything queued before it ends: a callback may
/// still be running when a completion of the same batch returns) and returns the callbacks' calls.
fn close_then_callbacks(log: Arc<TxnLog>, seen: &Seen) -> Vec<(Zxid, Result<Zxid, Error>)> {
    let log = Arc::try_unwrap(log).unwrap_or_else(|_| panic!("the log is still shared"));
    let _ = log.close();
    let callbacks = std::mem::take(&mut *lock(&seen.callbacks));
    assert_eq!(callbacks.len(), WAITERS / 2, "one call per callback");
    assert!(
        callbacks.windows(2).all(|w| w[0].0 < w[1].0),
        "callbacks out of zxid order: {:?}",
        callbacks.iter().map(|c| c.0).collect::<Vec<_>>()
    );
    callbacks
}

#[test]
fn one_batch_takes_everything_queued_during_a_sync_and_wakes_every_waiter() {
    let dir = GateDir {
        sim: SimDir::new(),
        gate: Arc::default(),
    };
    let log = open(&dir);
    let seen = Arc::new(Seen::default());
    let (held, threads) = hold_a_sync_and_queue_waiters(&dir, &log, &seen);
    let batches_before = log.stats().batches;
    dir.gate.set_closed(false);
    assert_eq!(held.wait().expect("the held record"), zxid(2));
    for thread in threads {
        thread.join().expect("a waiter panicked");
    }
    let results = std::mem::take(&mut *lock(&seen.results));
    assert_eq!(results.len(), WAITERS / 2);
    for (mine, result) in results {
        assert_eq!(result.expect("durable"), mine);
    }
    let last = zxid(2 + WAITERS as u32);
    assert_eq!(log.durable_zxid(), last);
    assert_eq!(log.flush().expect("flush"), last);
    // The held batch, then one batch with all the waiters.
    let stats = log.stats();
    assert_eq!(stats.batches - batches_before, 2, "{stats:?}");
    assert_eq!(stats.batch_records.max, WAITERS as u64, "{stats:?}");
    let read: Vec<Zxid> = log
        .read_from(zxid(1))
        .expect("read")
        .map(|r| r.expect("record").zxid)
        .collect();
    assert_eq!(read, (1..=2 + WAITERS as u32).map(zxid).collect::<Vec<_>>());
    for (mine, result) in close_then_callbacks(log, &seen) {
        assert_eq!(result.expect("durable"), mine);
    }
}

#[test]
fn a_failed_sync_wakes_every_waiter_with_the_error() {
    let dir = GateDir {
        sim: SimDir::new(),
        gate: Arc::default(),
    };
    let log = open(&dir);
    let seen = Arc::new(Seen::default());
    let (held, threads) = hold_a_sync_and_queue_waiters(&dir, &log, &seen);
    dir.sim.fail_after(Operation::Sync, 1); // the held sync
    dir.gate.set_closed(false);
    assert!(matches!(held.wait(), Err(Error::Poisoned { .. })));
    for thread in threads {
        thread.join().expect("a waiter panicked");
    }
    let results = std::mem::take(&mut *lock(&seen.results));
    assert_eq!(results.len(), WAITERS / 2);
    for (mine, result) in results {
        match result {
            Err(Error::Poisoned { cause }) => assert!(cause.contains("sim"), "{mine}: {cause}"),
            other => panic!("{mine} resolved as {other:?} after a failed sync"),
        }
    }
    assert_eq!(log.durable_zxid(), zxid(1));
    assert!(matches!(log.flush(), Err(Error::Poisoned { .. })));
    assert!(log.poisoned().is_some());
    for (mine, result) in close_then_callbacks(log, &seen) {
        assert!(
            matches!(result, Err(Error::Poisoned { .. })),
            "{mine}: {result:?}"
        );
    }
}

#[test]
fn callbacks_and_completions_resolve_once_in_order_across_many_batches() {
    let dir = GateDir {
        sim: SimDir::new(),
        gate: Arc::default(),
    };
    let log = open(&dir);
    let counter = Arc::new(Mutex::new(0u32));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let rounds = 50;
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (log, counter, calls) =
                (Arc::clone(&log), Arc::clone(&counter), Arc::clone(&calls));
            thread::spawn(move || {
                for _ in 0..rounds {
                    let (mine, completion) = {
                        let mut last = lock(&counter);
                        *last += 1;
                        let mine = zxid(*last);
                        if i % 4 == 0 {
                            let calls = Arc::clone(&calls);
                            let callback = Box::new(move |result: Result<Zxid, Error>| {
                                lock(&calls).push(result.expect("durable"));
                            });
                            log.append_with(mine, vec![7; 10 + i], callback)
                                .expect("append_with");
                            (mine, None)
                        } else {
                            let completion = log.append(mine, vec![7; 10 + i]).expect("append");
                            (mine, Some(completion))
                        }
                    };
                    if let Some(completion) = completion {
                        assert_eq!(completion.wait().expect("durable"), mine);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a writer panicked");
    }
    let last = log.flush().expect("flush");
    assert_eq!(last, zxid(16 * rounds));
    let stats = log.stats();
    Arc::try_unwrap(log)
        .unwrap_or_else(|_| panic!("the log is still shared"))
        .close()
        .expect("close");
    let calls = lock(&calls).clone();
    assert_eq!(calls.len(), 4 * rounds as usize);
    assert!(calls.windows(2).all(|w| w[0] < w[1]), "{calls:?}");
    assert_eq!(stats.records, u64::from(16 * rounds));
    assert_eq!(stats.batch_records.sum, u64::from(16 * rounds));
}

#[test]
fn an_acknowledged_record_stays_acknowledged_after_truncation_and_close() {
    let dir = GateDir {
        sim: SimDir::new(),
        gate: Arc::default(),
    };
    let log = open(&dir);
    let completions: Vec<Completion> = (1..=10)
        .map(|n| log.append(zxid(n), vec![n as u8; 50]).expect("append"))
        .collect();
    assert_eq!(log.flush().expect("flush"), zxid(10));
    log.truncate_after(zxid(5)).expect("truncate");
    assert_eq!(log.durable_zxid(), zxid(5));
    // Waited on only now, below the truncation point's old durable zxid and above the new one.
    let mut completions = completions.into_iter();
    let late = completions.nth(7).expect("the completion of zxid 8");
    assert_eq!(late.wait().expect("acknowledged before"), zxid(8));
    let again = log
        .append(zxid(6), vec![66; 50])
        .expect("append after truncation");
    assert_eq!(again.wait().expect("durable"), zxid(6));
    let pending = log.append(zxid(7), vec![77; 50]).expect("append");
    let log = Arc::try_unwrap(log).unwrap_or_else(|_| panic!("the log is shared"));
    log.close().expect("close");
    assert_eq!(pending.wait().expect("made durable by close"), zxid(7));
    for (n, completion) in (9..).zip(completions) {
        assert_eq!(completion.wait().expect("acknowledged before"), zxid(n));
    }
}

/// The server appends with callbacks, and the completions of one batch cause the appends of the
/// next: the commit thread must wait for most of them (up to half a sync) instead of taking the
/// first alone and the rest in another batch and sync. It must not wait for appends that never
/// come either.
#[test]
fn a_take_gathers_the_appends_the_last_batch_released_and_no_more() {
    let dir = GateDir {
        sim: SimDir::new(),
        gate: Arc::default(),
    };
    // The cap is high: the wait is bounded by half a sync, which the gate makes 1 s long.
    let log = open_with(&dir, Duration::from_secs(10));
    let held = hold_the_sync_of_record_2(&dir, &log);
    let (durable_tx, durable_rx) = std::sync::mpsc::channel();
    let append = |counter: u32| {
        let durable_tx = durable_tx.clone();
        log.append_with(
            zxid(counter),
            vec![3; 100],
            Box::new(move |result| {
                let _ = durable_tx.send(result);
            }),
        )
        .expect("append_with");
    };
    let in_flight = WAITERS as u32;
    for counter in 3..3 + in_flight {
        append(counter);
    }
    *lock(&dir.gate.sync_delay) = Duration::from_secs(1);
    let before = log.stats();
    dir.gate.set_closed(false);
    assert_eq!(held.wait().expect("the held record"), zxid(2));
    let next_durable = |what: &str| {
        durable_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{what}: no completion"))
            .expect("durable")
    };
    // Each completion of the 64 releases one append, a little apart, as callbacks do.
    let mut counter = 3 + in_flight;
    for _ in 0..in_flight {
        next_durable("the batch of 64");
        thread::sleep(Duration::from_micros(200));
        append(counter);
        counter += 1;
    }
    for _ in 0..in_flight {
        next_durable("the batch they released");
    }
    let gathered = log.stats();
    // Record 2's take, the 64, then the 64 they released: without the wait, the first of these
    // would go out alone and the other 63 in the next take; with it, the first take holds at
    // least three quarters of them and the rest follow in one more.
    assert_eq!(
        gathered.records - before.records,
        1 + 2 * u64::from(in_flight)
    );
    assert_eq!(gathered.batches - before.batches, 4, "{gathered:?}");
    let single_record_takes = gathered.batch_records.buckets[0] - before.batch_records.buckets[0];
    assert_eq!(single_record_takes, 1, "only record 2's: {gathered:?}");
    // One more record: the commit thread expects 64 again, waits no more than half a sync.
    append(counter);
    assert_eq!(next_durable("a lone record"), zxid(counter));
    assert_eq!(log.stats().batches - gathered.batches, 1);
    let log = Arc::try_unwrap(log).unwrap_or_else(|_| panic!("the log is still shared"));
    log.close().expect("close");
}

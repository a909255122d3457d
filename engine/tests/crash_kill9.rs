//! Real `kill -9`: this test binary runs itself again as a child that appends from several threads
//! to a log on real files (real fsync, each write path in turn), printing each zxid as soon as its
//! completion resolves. The parent kills it with SIGKILL after a random delay, reopens the log, and
//! checks that every acknowledged zxid is there with its payload and that the log is a gap-free run
//! of what was appended. The next round's child recovers the same directory and goes on, so
//! recovery after a kill is itself exercised.
//!
//! After `kill -9` the page cache survives, so nothing synced is lost; a write cut by the kill may
//! leave a partial batch, which recovery cuts as a torn tail. Power loss is the simulator's job
//! (`crash_sim.rs`).

mod crash_support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crash_support::{
    assert_follow_each_other, next_zxid, read_all, test_seed, zxid_payload, zxids_in, ChildRun,
};
use zk_engine::storage::sim::SimRng;
use zk_engine::storage::WriteMode;
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::Zxid;

const CHILD_DIR: &str = "ZK_KILL9_CHILD_DIR";
const CHILD_MODE: &str = "ZK_KILL9_CHILD_MODE";
const WRITER_THREADS: usize = 4;
const ROUNDS: usize = 3;

fn config(write_mode: WriteMode) -> LogConfig {
    LogConfig {
        // Small segments, so that the kill often lands near a roll.
        segment_size: 64 * 1024,
        write_mode,
        ..LogConfig::default()
    }
}

/// The child: appends until killed. Prints `APPEND <zxid>` (in zxid order) before each append and
/// `ACK <zxid>` as soon as it is durable. Stops by itself after a while, in case the parent is gone.
/// Does nothing when run as an ordinary test.
#[test]
fn kill9_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mode_name = std::env::var(CHILD_MODE).expect("the write mode");
    let mode = WriteMode::from_name(&mode_name).expect("a write mode name");
    let (log, report) = TxnLog::open_path(&dir, config(mode)).expect("open");
    // libtest has printed "test kill9_child ... " without a newline.
    println!();
    println!("START {:x}", report.last_zxid.0);
    let log = Arc::new(log);
    let last = Arc::new(Mutex::new(log.last_zxid()));
    let started = Instant::now();
    let writers: Vec<_> = (0..WRITER_THREADS)
        .map(|_| {
            let log = Arc::clone(&log);
            let last = Arc::clone(&last);
            std::thread::spawn(move || {
                while started.elapsed() < Duration::from_secs(30) {
                    let completion = {
                        // Zxids must reach the log in order: take one and append it under the lock.
                        let mut last = last.lock().expect("lock");
                        let zxid = next_zxid(*last);
                        *last = zxid;
                        println!("APPEND {:x}", zxid.0);
                        log.append(zxid, zxid_payload(zxid)).expect("append")
                    };
                    let zxid = completion.wait().expect("durable");
                    println!("ACK {:x}", zxid.0);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer");
    }
}

/// Runs one child on `dir`, kills it after `delay` (counted from its first acknowledgement), and
/// returns the zxids it appended and acknowledged.
fn run_and_kill(dir: &Path, mode: WriteMode, delay: Duration) -> (Vec<Zxid>, Vec<Zxid>) {
    let mut child = ChildRun::start(
        "kill9_child",
        &[(CHILD_DIR, dir), (CHILD_MODE, Path::new(mode.name()))],
    );
    let started = Instant::now();
    while child.count("ACK ") == 0 {
        if let Ok(Some(status)) = child.child.try_wait() {
            panic!("the child ended before its first acknowledgement: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no acknowledgement from the child"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(delay);
    // SIGKILL on Unix.
    child.child.kill().expect("kill the child");
    let (status, lines) = child.finish();
    assert!(
        !status.success(),
        "the child ended by itself rather than by the kill"
    );
    (zxids_in(&lines, "APPEND "), zxids_in(&lines, "ACK "))
}

fn kill_rounds(mode: WriteMode) {
    let seed = test_seed(&format!("kill9 {}", mode.name()));
    let mut rng = SimRng::new(seed);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("log");
    let mut acked_so_far: Vec<Zxid> = Vec::new();
    let mut appended_max = Zxid::NONE;
    for round in 0..ROUNDS {
        let delay = Duration::from_millis(50 + rng.below(350));
        let context = format!(
            "{} write path, round {round}, kill after {delay:?} (seed {seed})",
            mode.name()
        );
        let (appended, acked) = run_and_kill(&dir, mode, delay);
        assert!(!acked.is_empty(), "{context}");
        appended_max = appended_max.max(appended.iter().copied().max().unwrap_or_default());
        acked_so_far.extend(&acked);

        let (log, report) = match TxnLog::open_path(&dir, config(WriteMode::Pwrite)) {
            Ok(opened) => opened,
            Err(err) => panic!("{context}: the log does not open after kill -9: {err}"),
        };
        let records = read_all(&log, &context);
        assert_follow_each_other(&records, &context);
        assert_eq!(
            records.first().map(|r| r.0),
            Some(Zxid::new(1, 1)),
            "{context}"
        );
        for (zxid, payload) in &records {
            assert!(
                *zxid <= appended_max,
                "{context}: {zxid} was never appended"
            );
            assert!(
                *payload == zxid_payload(*zxid),
                "{context}: {zxid} has wrong bytes"
            );
        }
        let last = records.last().map_or(Zxid::NONE, |r| r.0);
        let lost: Vec<&Zxid> = acked_so_far.iter().filter(|z| **z > last).collect();
        assert!(
            lost.is_empty(),
            "{context}: acknowledged zxids lost: {} of them, from {:?} (the log ends at {last})",
            lost.len(),
            lost.first()
        );
        eprintln!(
            "{context}: {} acknowledged this round, {} records in {} segments, torn tail {:?}",
            acked.len(),
            records.len(),
            report.segments,
            report.torn_tail.map(|t| (t.segment, t.offset, t.bytes))
        );
        log.close().expect("close");
    }
}

#[test]
fn kill9_pwrite() {
    kill_rounds(WriteMode::Pwrite);
}

#[test]
fn kill9_mmap() {
    kill_rounds(WriteMode::Mmap);
}

#[test]
fn kill9_io_uring() {
    kill_rounds(WriteMode::IoUring);
}

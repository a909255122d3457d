//! Helpers shared by the crash and damage tests (`crash_sim.rs`, `crash_kill9.rs`,
//! `damage_every_byte.rs`, `disk_full.rs`, `log_fixtures.rs`): reading a log back, checking that
//! it is a gap-free run of what was appended, payloads that carry their own zxid, seeds, and the
//! re-execution of the test binary as a child process.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use zk_engine::txnlog::TxnLog;
use zk_engine::Zxid;

/// Every durable record of `log`, in order; panics (with `context`) if reading fails.
pub fn read_all(log: &TxnLog, context: &str) -> Vec<(Zxid, Vec<u8>)> {
    let reader = log
        .read_from(Zxid::NONE)
        .unwrap_or_else(|e| panic!("{context}: cannot read the log: {e}"));
    reader
        .map(|record| {
            let record = record.unwrap_or_else(|e| panic!("{context}: reading a record: {e}"));
            (record.zxid, record.payload)
        })
        .collect()
}

/// Panics unless each zxid of `records` follows the one before it (FORMAT.md 4.1).
pub fn assert_follow_each_other(records: &[(Zxid, Vec<u8>)], context: &str) {
    for pair in records.windows(2) {
        assert!(
            pair[0].0.is_followed_by(pair[1].0),
            "{context}: zxid {} is followed by {} in the log",
            pair[0].0,
            pair[1].0
        );
    }
}

/// The zxid after `zxid` in epoch order: counter + 1, or 1.1 after an empty log.
pub fn next_zxid(zxid: Zxid) -> Zxid {
    if zxid == Zxid::NONE {
        Zxid::new(1, 1)
    } else {
        Zxid::new(zxid.epoch(), zxid.counter() + 1)
    }
}

/// A payload that can be checked without a model: its length and every byte derive from `zxid`.
/// Lengths range over 0..2048, so records of many sizes (and paddings) occur.
pub fn zxid_payload(zxid: Zxid) -> Vec<u8> {
    let len = (zxid.0.wrapping_mul(0x9E37_79B9) >> 7) as usize % 2048;
    let seed = zxid.0.to_le_bytes();
    (0..len)
        .map(|i| seed[i % 8] ^ (i as u8).wrapping_mul(31) ^ 0x5A)
        .collect()
}

/// A seed for a randomized test: `ZK_TEST_SEED` if set, else one from the clock. It is printed, so
/// that a failure (libtest shows a failing test's output) can be repeated.
pub fn test_seed(test: &str) -> u64 {
    let seed = match std::env::var("ZK_TEST_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("ZK_TEST_SEED={text} is not a u64")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
    eprintln!("{test}: seed {seed} (run again with ZK_TEST_SEED={seed})");
    seed
}

/// A copy of the test binary running one test (`child_test`) with `env` set, its standard output
/// collected line by line as it arrives.
pub struct ChildRun {
    pub child: Child,
    pub lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl ChildRun {
    /// Starts `current_exe --exact child_test --nocapture --test-threads=1` with `env`.
    pub fn start(child_test: &str, env: &[(&str, &Path)]) -> ChildRun {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut command = Command::new(exe);
        command
            .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start the child test process");
        let stdout = child.stdout.take().expect("the child's stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("lines").push(line);
            }
        });
        ChildRun {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// How many lines starting with `prefix` arrived so far.
    pub fn count(&self, prefix: &str) -> usize {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }

    /// Waits for the child to end and for its output to be read; returns its exit status and
    /// every line it printed.
    pub fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("wait for the child");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the output reader");
        }
        let lines = std::mem::take(&mut *self.lines.lock().expect("lines"));
        (status, lines)
    }
}

/// The zxids of the lines `"<prefix><zxid in hex>"` among `lines`.
pub fn zxids_in(lines: &[String], prefix: &str) -> Vec<Zxid> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix(prefix))
        .map(|hex| {
            Zxid(
                u64::from_str_radix(hex.trim(), 16)
                    .unwrap_or_else(|_| panic!("a malformed line from the child: {hex:?}")),
            )
        })
        .collect()
}

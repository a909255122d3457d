//! The preparation of the next segment on real files (FORMAT.md 2.1): `FileDir::create_zeroed`
//! writes and syncs zeros a few MiB at a time, and the result is still a file of exactly the asked
//! length, all zeros, with every block allocated (never sparse). A `kill -9` in the middle of it
//! leaves only `log.prepared.tmp`, which the next open removes.

mod crash_support;

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crash_support::{next_zxid, read_all, zxid_payload, zxids_in, ChildRun};
use zk_engine::storage::file::FileDir;
use zk_engine::storage::{LogDir, WriteMode};
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::Zxid;

const MIB: u64 = 1 << 20;
const PREPARED: &str = "log.prepared.tmp";

/// Asserts that `path` is `len` bytes long, all zeros, and has at least `len` bytes of blocks.
fn assert_zero_filled(path: &Path, len: u64) {
    let meta = fs::metadata(path).expect("metadata");
    assert_eq!(meta.len(), len, "{}: length", path.display());
    // `blocks` counts 512-byte units whatever the file system's block size.
    assert!(
        meta.blocks() * 512 >= len,
        "{}: {} bytes allocated for {len}: sparse",
        path.display(),
        meta.blocks() * 512
    );
    let bytes = fs::read(path).expect("read");
    let first_non_zero = bytes.iter().position(|&b| b != 0);
    assert_eq!(first_non_zero, None, "{}: a non-zero byte", path.display());
}

#[test]
fn create_zeroed_writes_every_byte_at_every_length() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = FileDir::new(temp.path(), WriteMode::Pwrite).expect("dir");
    // Around the 1 MiB write chunk and the 4 MiB sync window, and a length ending mid-page.
    let lengths = [
        0,
        1,
        4095,
        64 * 1024,
        MIB - 1,
        MIB,
        MIB + 1,
        4 * MIB - 1,
        4 * MIB,
        4 * MIB + 1,
        8 * MIB,
        9 * MIB + 12_345,
    ];
    for (i, len) in lengths.into_iter().enumerate() {
        let name = format!("zeroed.{i}");
        dir.create_zeroed(&name, len).expect("create_zeroed");
        assert_zero_filled(&dir.path_of(&name), len);
        dir.remove(&name).expect("remove");
    }
}

#[test]
fn create_zeroed_refuses_an_existing_name_and_leaves_it_alone() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = FileDir::new(temp.path(), WriteMode::Pwrite).expect("dir");
    fs::write(dir.path_of("taken"), b"not zeros").expect("write");
    let err = dir
        .create_zeroed("taken", 2 * MIB)
        .expect_err("an existing name");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(fs::read(dir.path_of("taken")).expect("read"), b"not zeros");
}

/// Large enough that the fill takes a while (it syncs every few MiB), so that the parent sees it
/// half done.
const KILL_SEGMENT_SIZE: u64 = 128 * MIB;
const RECORDS_BEFORE_KILL: usize = 3;
const CHILD_DIR: &str = "ZK_ZERO_FILL_CHILD_DIR";

fn kill_config() -> LogConfig {
    LogConfig {
        segment_size: KILL_SEGMENT_SIZE,
        write_mode: WriteMode::Pwrite,
        ..LogConfig::default()
    }
}

/// The child: appends a few records (the first waits for the first segment to be prepared; the
/// roll into it starts the preparation of the next), prints `ACK <zxid>` for each, then waits to
/// be killed. Does nothing when run as an ordinary test.
#[test]
fn zero_fill_kill9_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    // libtest has printed "test zero_fill_kill9_child ... " without a newline.
    println!();
    let (log, _) = TxnLog::open_path(&PathBuf::from(dir), kill_config()).expect("open");
    let mut last = Zxid::NONE;
    for _ in 0..RECORDS_BEFORE_KILL {
        last = next_zxid(last);
        let done = log
            .append(last, zxid_payload(last))
            .expect("append")
            .wait()
            .expect("durable");
        println!("ACK {:x}", done.0);
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_kill_during_the_zero_fill_leaves_only_the_prepared_file_and_open_removes_it() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("log");
    let mut child = ChildRun::start("zero_fill_kill9_child", &[(CHILD_DIR, dir.as_path())]);
    let prepared = dir.join(PREPARED);
    let started = Instant::now();
    let mut seen_partial = None;
    while seen_partial.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "never saw the second segment half prepared"
        );
        if let Ok(status) = child.child.try_wait() {
            assert!(status.is_none(), "the child ended by itself: {status:?}");
        }
        if child.count("ACK ") == RECORDS_BEFORE_KILL {
            let len = fs::metadata(&prepared).map_or(0, |m| m.len());
            if len > 0 && len < KILL_SEGMENT_SIZE {
                child.child.kill().expect("kill the child");
                seen_partial = Some(len);
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let (status, lines) = child.finish();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL),
        "the child ended by the kill"
    );
    let acked = zxids_in(&lines, "ACK ");
    assert_eq!(acked.len(), RECORDS_BEFORE_KILL);

    let mut names: Vec<String> = fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    names.sort();
    assert!(
        names.iter().any(|n| n == PREPARED),
        "the half-prepared file is there: {names:?} (saw {seen_partial:?} bytes)"
    );
    assert_eq!(
        names.len(),
        3,
        "LOCK, one segment and the prepared file: {names:?}"
    );

    let (log, report) = TxnLog::open_path(&dir, kill_config()).expect("reopen");
    assert_eq!(report.removed, vec![PREPARED.to_owned()]);
    assert_eq!(report.segments, 1);
    let kept: Vec<Zxid> = read_all(&log, "after the kill")
        .into_iter()
        .map(|(zxid, _)| zxid)
        .collect();
    assert_eq!(kept, acked, "every acknowledged record, nothing else");
    drop(log);
}

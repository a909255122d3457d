//! A full disk: the append that needs a new segment fails cleanly (no panic, no signal), every
//! later append fails with `Poisoned`, and every acknowledged record is there after a restart.
//!
//! On the simulated disk, `set_disk_full` makes the preparation of the next segment fail. On real
//! files, a child process (this test binary, run again) lowers `RLIMIT_FSIZE` below the segment
//! size with `SIGXFSZ` ignored, so that every write at or past the limit fails with `EFBIG`; it must
//! end normally, with the exit code it chose, on every write path, mmap included (where a store
//! into a page without a block would be a `SIGBUS`).

mod crash_support;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crash_support::{
    assert_follow_each_other, next_zxid, read_all, zxid_payload, zxids_in, ChildRun,
};
use zk_engine::storage::sim::SimDir;
use zk_engine::storage::WriteMode;
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::{Error, Zxid};

const SEGMENT_SIZE: u64 = 64 * 1024;

fn config(write_mode: WriteMode) -> LogConfig {
    LogConfig {
        segment_size: SEGMENT_SIZE,
        write_mode,
        ..LogConfig::default()
    }
}

/// Waits (without any bound on how long it may take short of a minute) until `ready` holds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

const PREPARED: &str = "log.prepared.tmp";

#[test]
fn a_full_simulated_disk_fails_the_roll_cleanly_and_keeps_what_was_acknowledged() {
    let sim = SimDir::new();
    let (log, _) = TxnLog::open(Arc::new(sim.clone()), config(WriteMode::Pwrite)).expect("open");
    let mut last = Zxid::NONE;
    let mut acked = Vec::new();
    let append_and_wait = |log: &TxnLog, count: usize, last: &mut Zxid| {
        let mut pending = Vec::new();
        for _ in 0..count {
            *last = next_zxid(*last);
            let completion = log
                .append(*last, vec![0xAB; 3000])
                .expect("append accepted");
            pending.push((*last, completion));
        }
        pending
            .into_iter()
            .map(|(zxid, completion)| (zxid, completion.wait()))
            .collect::<Vec<_>>()
    };
    for (zxid, result) in append_and_wait(&log, 1, &mut last) {
        result.expect("the first record");
        acked.push(zxid);
    }
    // The first segment is in use; once the next one is prepared, the disk fills up: the roll
    // after next cannot be prepared.
    wait_for("the next segment to be prepared", || {
        sim.live_names().iter().any(|n| n == PREPARED)
    });
    sim.set_disk_full(true);

    let mut failure = None;
    while failure.is_none() {
        // Four records at a time, so that the batch that needs the roll is cut in two: what
        // fits is acknowledged, the rest fails.
        for (zxid, result) in append_and_wait(&log, 4, &mut last) {
            match (result, &failure) {
                (Ok(done), None) => {
                    assert_eq!(done, zxid);
                    acked.push(zxid);
                }
                (Ok(_), Some(_)) => panic!("{zxid} acknowledged after an earlier one failed"),
                (Err(Error::Poisoned { cause }), _) => {
                    failure.get_or_insert(cause);
                }
                (Err(other), _) => panic!("{zxid}: {other}"),
            }
        }
        assert!(acked.len() < 200, "the full disk never stopped the log");
    }
    let cause = failure.expect("a failure");
    assert!(cause.contains("no space left"), "{cause}");
    assert_eq!(log.segments().len(), 2, "the prepared segment was used");
    assert!(log.poisoned().is_some());
    for _ in 0..3 {
        last = next_zxid(last);
        assert!(matches!(
            log.append(last, vec![1]),
            Err(Error::Poisoned { .. })
        ));
    }
    assert!(matches!(log.flush(), Err(Error::Poisoned { .. })));
    drop(log);

    let expected: Vec<(Zxid, Vec<u8>)> = acked.iter().map(|z| (*z, vec![0xAB; 3000])).collect();
    let check = |disk: SimDir, what: &str| {
        let (log, report) = TxnLog::open(Arc::new(disk), config(WriteMode::Pwrite)).expect(what);
        let records = read_all(&log, what);
        assert_follow_each_other(&records, what);
        // Records of the failed batch were never written: nothing after the acknowledged ones.
        assert_eq!(records, expected, "{what}");
        assert_eq!(report.torn_tail, None, "{what}");
        log
    };
    check(sim.crash_clean(), "power loss");
    for seed in 0..16 {
        check(
            sim.crash_with_seed(seed),
            &format!("power loss, seed {seed}"),
        );
    }
    // A restart on the disk that is still full opens; records that fit in the last segment can be
    // appended, and once space is back the log rolls again.
    let log = check(sim.clone(), "restart on the full disk");
    let next = next_zxid(*acked.last().expect("acked"));
    log.append(next, vec![1; 10])
        .expect("append")
        .wait()
        .expect("a small record fits in the last segment");
    drop(log);
    sim.clear_faults();
    let (log, _) = TxnLog::open(Arc::new(sim.clone()), config(WriteMode::Pwrite)).expect("open");
    let rolled = next_zxid(next);
    log.append(rolled, vec![2; 5000])
        .expect("append")
        .wait()
        .expect("a roll once the disk has space");
    assert_eq!(log.segments().len(), 3);
}

/// The file-size limit of the child: smaller than a segment, so that no segment can be prepared
/// once it is set, and a pwrite at or past it fails.
const FILE_SIZE_LIMIT: u64 = 40 * 1024;
const CHILD_EXIT_CODE: i32 = 17;
const CHILD_DIR: &str = "ZK_FSIZE_CHILD_DIR";
const CHILD_MODE: &str = "ZK_FSIZE_CHILD_MODE";

/// The child: writes two segments, waits for the third to be prepared, lowers `RLIMIT_FSIZE`, and
/// appends until an append fails. Prints `APPEND <zxid>` before each append, `ACK <zxid>` once it
/// is durable, `FAILED <error>` at the failure, then exits with [`CHILD_EXIT_CODE`]. Does nothing
/// when run as an ordinary test.
#[test]
fn file_size_limit_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mode_name = std::env::var(CHILD_MODE).expect("the write mode");
    let mode = WriteMode::from_name(&mode_name).expect("a write mode name");
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code; nothing else in
    // this process changes SIGXFSZ.
    let previous = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    assert_ne!(previous, libc::SIG_ERR);
    // libtest has printed "test file_size_limit_child ... " without a newline.
    println!();

    let (log, _) = TxnLog::open_path(&dir, config(mode)).expect("open");
    let mut last = Zxid::NONE;
    let mut append = |log: &TxnLog| -> Result<Zxid, Error> {
        last = next_zxid(last);
        println!("APPEND {:x}", last.0);
        let done = log.append(last, zxid_payload(last))?.wait()?;
        println!("ACK {:x}", done.0);
        Ok(done)
    };
    while log.segments().len() < 2 {
        append(&log).expect("an append before the limit");
    }
    let prepared = dir.join(PREPARED);
    wait_for("the third segment to be prepared", || {
        std::fs::metadata(&prepared).is_ok_and(|m| m.len() == SEGMENT_SIZE)
    });
    let limit = libc::rlimit {
        rlim_cur: FILE_SIZE_LIMIT as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `limit` is a valid, initialized rlimit that outlives the call.
    let status = unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) };
    assert_eq!(status, 0, "setrlimit: {}", std::io::Error::last_os_error());

    let mut appended = 0;
    let failure = loop {
        match append(&log) {
            Ok(_) => appended += 1,
            Err(err) => break err,
        }
        assert!(
            appended < 10_000,
            "no append failed under the file-size limit"
        );
    };
    println!("FAILED {failure}");
    match log.append(next_zxid(last), vec![1]) {
        Err(Error::Poisoned { .. }) => println!("POISONED"),
        Err(other) => println!("NOT POISONED: {other}"),
        Ok(_) => println!("NOT POISONED: accepted"),
    }
    drop(log);
    std::process::exit(CHILD_EXIT_CODE);
}

fn run_file_size_limit(mode: WriteMode) {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("log");
    let child = ChildRun::start(
        "file_size_limit_child",
        &[
            (CHILD_DIR, dir.as_path()),
            (CHILD_MODE, Path::new(mode.name())),
        ],
    );
    let (status, lines) = child.finish();
    let context = format!("{} write path", mode.name());
    assert_eq!(
        status.signal(),
        None,
        "{context}: the child died of a signal: {status} (output {lines:?})"
    );
    assert_eq!(
        status.code(),
        Some(CHILD_EXIT_CODE),
        "{context}: the child did not end as it should: {status}"
    );
    let failed: Vec<&String> = lines.iter().filter(|l| l.starts_with("FAILED ")).collect();
    assert_eq!(failed.len(), 1, "{context}: {lines:?}");
    assert!(
        lines.iter().any(|l| l == "POISONED"),
        "{context}: later appends must fail with Poisoned: {lines:?}"
    );
    eprintln!("{context}: {}", failed[0]);
    let acked = zxids_in(&lines, "ACK ");
    let appended = zxids_in(&lines, "APPEND ");
    assert!(acked.len() > 10, "{context}: {} acknowledged", acked.len());

    let (log, report) = TxnLog::open_path(&dir, config(WriteMode::Pwrite)).expect("reopen");
    let records = read_all(&log, &context);
    assert_follow_each_other(&records, &context);
    for (zxid, payload) in &records {
        assert!(appended.contains(zxid), "{context}: {zxid} never appended");
        assert!(
            *payload == zxid_payload(*zxid),
            "{context}: {zxid} has wrong bytes"
        );
    }
    let read: Vec<Zxid> = records.iter().map(|(zxid, _)| *zxid).collect();
    assert!(
        read.starts_with(&acked),
        "{context}: acknowledged records are missing ({} acknowledged, {} read)",
        acked.len(),
        read.len()
    );
    eprintln!(
        "{context}: {} acknowledged, {} read back, {} segments, torn tail {:?}",
        acked.len(),
        read.len(),
        report.segments,
        report.torn_tail
    );
}

#[test]
fn file_size_limit_pwrite() {
    run_file_size_limit(WriteMode::Pwrite);
}

#[test]
fn file_size_limit_mmap_never_sigbus() {
    run_file_size_limit(WriteMode::Mmap);
}

#[test]
fn file_size_limit_io_uring() {
    run_file_size_limit(WriteMode::IoUring);
}

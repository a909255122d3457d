//! `zk-logdump truncate`: the new log holds exactly the transactions up to the cut, the engine
//! opens it and goes on from there, the input is never touched, and cuts that would keep damage
//! are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use zk_engine::storage::WriteMode;
use zk_engine::txnlog::{LogConfig, TxnLog};
use zk_engine::Zxid;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn run(args: &[&str]) -> (String, String, i32) {
    let output = Command::new(env!("CARGO_BIN_EXE_zk-logdump"))
        .args(args)
        .current_dir(fixtures())
        .output()
        .expect("run zk-logdump");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let stderr = String::from_utf8(output.stderr).expect("utf-8 errors");
    assert!(
        !stderr.contains("panicked"),
        "zk-logdump panicked: {stderr}"
    );
    (
        stdout,
        stderr,
        output.status.code().expect("an exit status"),
    )
}

/// Every file of a fixture, to check that a truncate leaves its input alone.
fn snapshot_of(fixture: &str) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixtures().join(fixture))
        .expect("fixture")
        .map(|entry| {
            let entry = entry.expect("entry");
            (
                entry.file_name().into_string().expect("utf-8"),
                std::fs::read(entry.path()).expect("read"),
            )
        })
        .collect();
    files.sort();
    files
}

fn config() -> LogConfig {
    LogConfig {
        segment_size: 64 * 1024,
        write_mode: WriteMode::Pwrite,
        ..LogConfig::default()
    }
}

/// Opens the new log with the engine and reads back every zxid.
fn engine_zxids(dir: &Path) -> Vec<Zxid> {
    engine_open(dir).1
}

/// Opens the new log with the engine; returns it and every zxid it reads back. (Open it once
/// per test: parallel tests spawn processes, and a child briefly shares the lock file's
/// descriptor between its fork and its exec, so an immediate reopen may find the lock held.)
fn engine_open(dir: &Path) -> (TxnLog, Vec<Zxid>) {
    let (log, report) = TxnLog::open_path(dir, config()).expect("the engine opens the cut log");
    assert_eq!(report.torn_tail, None);
    assert!(report.removed.is_empty(), "{report:?}");
    let zxids: Vec<Zxid> = log
        .read_from(Zxid::NONE)
        .expect("read")
        .map(|record| record.expect("record").zxid)
        .collect();
    assert_eq!(
        report.last_zxid,
        zxids.last().copied().unwrap_or(Zxid::NONE)
    );
    (log, zxids)
}

fn cut(fixture: &str, after: &str) -> (tempfile::TempDir, PathBuf, String) {
    let before = snapshot_of(fixture);
    let temp = tempfile::tempdir().expect("tempdir");
    let output = temp.path().join("cut");
    let (stdout, stderr, code) = run(&[
        "truncate",
        "--after-zxid",
        after,
        fixture,
        output.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "truncate {fixture} after {after}: {stderr}");
    assert_eq!(snapshot_of(fixture), before, "truncate modified its input");
    (temp, output, stdout)
}

fn epoch1(counters: std::ops::RangeInclusive<u32>) -> Vec<Zxid> {
    counters.map(|c| Zxid::new(1, c)).collect()
}

#[test]
fn cut_before_mid_log_corruption_opens_in_the_engine() {
    let (_temp, output, stdout) = cut("log-corrupt-middle", "0x100000007");
    assert!(
        stdout.contains("7 transactions up to zxid 0x100000007"),
        "{stdout}"
    );
    assert!(
        stdout.contains("problem after the cut stays behind"),
        "{stdout}"
    );
    assert_eq!(engine_zxids(&output), epoch1(1..=7));
    let (verify, _, code) = run(&["--verify", output.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "{verify}");
    assert!(verify.ends_with("clean\n"), "{verify}");
}

#[test]
fn cut_inside_the_first_segment_leaves_one_segment_the_log_goes_on_from() {
    let (_temp, output, _) = cut("log-clean", "1.3");
    let names: Vec<String> = std::fs::read_dir(&output)
        .expect("output")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .collect();
    assert_eq!(names, ["log.0000000100000001"]);
    let (log, zxids) = engine_open(&output);
    assert_eq!(zxids, epoch1(1..=3));
    log.append(Zxid::new(1, 4), b"after the cut".to_vec())
        .expect("append")
        .wait()
        .expect("durable");
}

#[test]
fn cut_of_a_torn_log_at_its_last_zxid_drops_the_torn_bytes() {
    let (_temp, output, stdout) = cut("log-torn-tail", "2.5");
    assert!(
        stdout.contains("18 transactions up to zxid 0x200000005"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing after it was left out"), "{stdout}");
    let mut expected = epoch1(1..=13);
    expected.extend((1..=5).map(|c| Zxid::new(2, c)));
    assert_eq!(engine_zxids(&output), expected);
}

#[test]
fn cut_in_an_older_epoch_drops_the_newer_segments() {
    let (_temp, output, stdout) = cut("log-clean", "0x10000000d");
    assert!(
        stdout.contains("left out 5 transactions after it (zxid 0x200000001 to 0x200000005)"),
        "{stdout}"
    );
    assert_eq!(engine_zxids(&output), epoch1(1..=13));
}

#[test]
fn cuts_that_would_keep_damage_or_overwrite_are_refused() {
    let temp = tempfile::tempdir().expect("tempdir");
    let output = temp.path().join("cut");
    let output = output.to_str().expect("utf-8 path");
    for (fixture, after, why) in [
        ("log-corrupt-middle", "1.9", "reading past damage"),
        ("log-corrupt-middle", "2.1", "damaged at or before zxid"),
        ("log-missing-segment", "2.2", "damaged at or before zxid"),
        ("log-clean", "3.1", "is not in the log"),
    ] {
        let before = snapshot_of(fixture);
        let (stdout, stderr, code) = run(&["truncate", "--after-zxid", after, fixture, output]);
        assert_eq!(code, 2, "{fixture} after {after}: {stdout}{stderr}");
        assert!(stderr.contains(why), "{fixture} after {after}: {stderr}");
        assert!(
            !Path::new(output).exists(),
            "{fixture} after {after} wrote output"
        );
        assert_eq!(snapshot_of(fixture), before);
    }
    // Never into a directory that holds anything (here: the input itself).
    let (_, stderr, code) = run(&["truncate", "--after-zxid", "1.2", "log-clean", "log-clean"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not empty"), "{stderr}");
}

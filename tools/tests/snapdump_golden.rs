//! Golden-output tests of `zk-snapdump` on the checked-in snapshots (`tests/fixtures/snap*` and
//! `tests/fixtures/datadir`, see `tests/fixtures/README.md`): standard output must equal the
//! checked-in `tests/fixtures/expected/snapdump-*` files byte for byte, and the exit status must
//! be the documented one. Nothing is normalized: the tool prints file names, never directories.
//!
//! After a deliberate change of the output (or of the fixtures), rewrite the expected files with
//! `UPDATE_GOLDEN=1 cargo test -p zk-tools --test snapdump_golden` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn run_in(dir: &Path, args: &[&str]) -> (String, String, i32) {
    let output = Command::new(env!("CARGO_BIN_EXE_zk-snapdump"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run zk-snapdump");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let stderr = String::from_utf8(output.stderr).expect("utf-8 errors");
    assert!(
        !stderr.contains("panicked"),
        "zk-snapdump panicked: {stderr}"
    );
    (
        stdout,
        stderr,
        output.status.code().expect("an exit status"),
    )
}

fn run(args: &[&str]) -> (String, String, i32) {
    run_in(&fixtures(), args)
}

fn golden(name: &str, args: &[&str], status: i32) {
    let (stdout, stderr, code) = run(args);
    let path = fixtures().join("expected").join(format!("snapdump-{name}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &stdout).expect("write the golden file");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        stdout == expected,
        "zk-snapdump {args:?} differs from {}:\n--- got ---\n{stdout}\n--- stderr ---\n{stderr}",
        path.display()
    );
    assert_eq!(
        code, status,
        "exit status of zk-snapdump {args:?}; stderr: {stderr}"
    );
}

const A: &str = "snap/snap.000000010000000d";
const FUZZY: &str = "datadir/snap/snap.000000010000000d";

#[test]
fn dump() {
    golden("newest.txt", &["snap"], 0);
    golden("newest.json", &["--json", "snap"], 0);
    golden("a-data.txt", &["-d", A], 0);
    golden("a-data.json", &["-d", "--json", A], 0);
    golden("a-data-limit.txt", &["-d", "--data-limit", "4", A], 0);
}

#[test]
fn summary() {
    golden("summary-0.txt", &["--summary", "0", "snap"], 0);
    golden("summary-1.txt", &["--summary", "1", "snap"], 0);
    golden("summary-9.json", &["--summary", "9", "--json", "snap"], 0);
}

#[test]
fn verify() {
    golden("verify.txt", &["--verify", "snap"], 0);
    golden("verify.json", &["--verify", "--json", "snap"], 0);
    // A fuzzy snapshot: its digest is checked by replaying the log found in its dataDir...
    golden("verify-datadir.txt", &["--verify", "datadir"], 0);
    // ... or given with --log; without a log it cannot be checked (and that is not damage).
    golden(
        "verify-fuzzy-log.txt",
        &["--verify", "--log", "log-clean", FUZZY],
        0,
    );
    golden("verify-fuzzy-alone.txt", &["--verify", FUZZY], 0);
    golden(
        "verify-fuzzy-damaged-log.txt",
        &["--verify", "--log", "log-corrupt-middle", FUZZY],
        0,
    );
}

#[test]
fn damaged_snapshots() {
    golden("damaged-block.txt", &["snap-damaged-block"], 2);
    golden(
        "damaged-block-verify.txt",
        &["--verify", "snap-damaged-block"],
        2,
    );
    golden("truncated.txt", &["snap-truncated"], 2);
    golden(
        "truncated-verify.json",
        &["--verify", "--json", "snap-truncated"],
        2,
    );
    golden(
        "truncated-summary.txt",
        &["--summary", "3", "snap-truncated"],
        2,
    );
}

#[test]
fn diff() {
    golden("diff.txt", &["diff", A, "snap"], 1);
    golden("diff.json", &["diff", "--json", A, "snap"], 1);
    golden(
        "diff-same.txt",
        &["diff", "snap", "snap/snap.0000000200000005"],
        0,
    );
    golden("diff-damaged.txt", &["diff", "snap-truncated", "snap"], 2);
}

/// A zoo.cfg whose dataDir is the fixture's finds its newest snapshot and its log.
#[test]
fn zoo_cfg_finds_the_snapshot_and_the_log() {
    let (expected, _, _) = run(&["--verify", "datadir"]);
    let temp = tempfile::tempdir().expect("tempdir");
    let config = temp.path().join("zoo.cfg");
    std::fs::write(
        &config,
        format!(
            "tickTime=2000\ndataDir={}\nclientPort=2181\n",
            fixtures().join("datadir").display()
        ),
    )
    .expect("write zoo.cfg");
    let (stdout, stderr, code) = run_in(temp.path(), &["--verify", "zoo.cfg"]);
    assert_eq!((stdout.as_str(), code), (expected.as_str(), 0), "{stderr}");
    assert!(
        stderr.contains("reading the newest snapshot of zoo.cfg"),
        "{stderr}"
    );
}

#[test]
fn help_is_a_manual_and_usage_errors_exit_64() {
    let (stdout, _, code) = run(&["--help"]);
    assert_eq!(code, 0);
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "DIFF",
        "EXIT STATUS",
        "EXAMPLES",
    ] {
        assert!(
            stdout.contains(&format!("\n{section}\n")) || stdout.starts_with(section),
            "{section}"
        );
    }
    for args in [
        &["--bogus", "snap"][..],
        &[][..],
        &["--summary", "x", "snap"][..],
        &["--summary", "1", "--verify", "snap"][..],
        &["--verify", "-d", "snap"][..],
        &["diff", "snap"][..],
        &["diff", "-d", "snap", "snap"][..],
        &["snap", "snap"][..],
    ] {
        let (stdout, stderr, code) = run(args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(
            stdout.is_empty() && stderr.contains("--help"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn what_is_not_a_snapshot_is_unreadable() {
    let temp = tempfile::tempdir().expect("tempdir");
    let (stdout, stderr, code) = run(&[temp.path().to_str().expect("utf-8 path")]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("no snapshot"), "{stderr}");
    let (_, stderr, code) = run(&["/nonexistent/zk-snapdump-input"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
    // A log segment is not a snapshot (nor a zoo.cfg).
    let (_, stderr, code) = run(&["log-clean/log.0000000100000001"]);
    assert_eq!(code, 2, "{stderr}");
}

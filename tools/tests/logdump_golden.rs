//! Golden-output tests of `zk-logdump` on the checked-in logs of `tests/fixtures/log-*` (see
//! `tests/fixtures/README.md`): the tool's standard output must equal the checked-in
//! `tests/fixtures/expected/logdump-*` files byte for byte, and its exit status must be the
//! documented one. Nothing is normalized: the fixtures fix salts and times, and the tool prints
//! file names, never directories.
//!
//! After a deliberate change of the output, rewrite the expected files with
//! `UPDATE_GOLDEN=1 cargo test -p zk-tools --test logdump_golden` and review the diff.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs the tool in the fixture directory; returns standard output, standard error and the
/// exit status.
fn run(args: &[&str]) -> (String, String, i32) {
    run_in(&fixtures(), args)
}

fn run_in(dir: &Path, args: &[&str]) -> (String, String, i32) {
    let output = Command::new(env!("CARGO_BIN_EXE_zk-logdump"))
        .args(args)
        .current_dir(dir)
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

/// Compares the output of `args` with `expected/logdump-<name>`, and the exit status.
fn golden(name: &str, args: &[&str], status: i32) {
    let (stdout, stderr, code) = run(args);
    let path = fixtures().join("expected").join(format!("logdump-{name}"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &stdout).expect("write the golden file");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert!(
        stdout == expected,
        "zk-logdump {args:?} differs from {}:\n--- got ---\n{stdout}\n--- stderr ---\n{stderr}",
        path.display()
    );
    assert_eq!(
        code, status,
        "exit status of zk-logdump {args:?}; stderr: {stderr}"
    );
}

#[test]
fn clean_log() {
    golden("clean.txt", &["log-clean"], 0);
    golden("clean.json", &["--json", "log-clean"], 0);
    golden("clean-verify.txt", &["--verify", "log-clean"], 0);
    golden("clean-verify.json", &["--verify", "--json", "log-clean"], 0);
    golden("clean-stats.txt", &["--stats", "log-clean"], 0);
    golden("clean-stats.json", &["--stats", "--json", "log-clean"], 0);
}

#[test]
fn filters() {
    golden(
        "clean-session.txt",
        &["--session", "0x100000000000002", "log-clean"],
        0,
    );
    golden(
        "clean-range-prefix.txt",
        &[
            "--from-zxid",
            "1.5",
            "--to-zxid",
            "0x200000004",
            "--path-prefix",
            "/app/e",
            "log-clean",
        ],
        0,
    );
    golden(
        "clean-full-data.txt",
        &[
            "--data-limit",
            "0",
            "--from-zxid",
            "2.2",
            "--to-zxid",
            "2.2",
            "log-clean",
        ],
        0,
    );
    golden(
        "clean-stats-filtered.txt",
        &["--stats", "--path-prefix", "/app/config", "log-clean"],
        0,
    );
}

#[test]
fn torn_tail() {
    golden("torn-tail.txt", &["log-torn-tail"], 1);
    golden("torn-tail-verify.txt", &["--verify", "log-torn-tail"], 1);
    golden(
        "torn-tail-verify.json",
        &["--verify", "--json", "log-torn-tail"],
        1,
    );
}

#[test]
fn corruption_in_the_middle() {
    golden("corrupt-middle.txt", &["log-corrupt-middle"], 2);
    golden("corrupt-middle.json", &["--json", "log-corrupt-middle"], 2);
    golden(
        "corrupt-middle-verify.txt",
        &["--verify", "log-corrupt-middle"],
        2,
    );
    golden(
        "corrupt-middle-stats.txt",
        &["--stats", "log-corrupt-middle"],
        2,
    );
}

#[test]
fn missing_segment() {
    golden("missing-segment.txt", &["log-missing-segment"], 2);
    golden(
        "missing-segment-verify.txt",
        &["--verify", "log-missing-segment"],
        2,
    );
}

#[test]
fn single_segment_files() {
    // The newest segment of its directory: damage at its end is a torn tail.
    golden(
        "single-newest-verify.txt",
        &["--verify", "log-torn-tail/log.0000000200000001"],
        1,
    );
    // An older segment read alone: checked by itself, damage reported precisely.
    golden(
        "single-damaged-verify.txt",
        &["--verify", "log-corrupt-middle/log.0000000100000007"],
        2,
    );
}

/// A dataDir (the log is its `log` subdirectory) and a zoo.cfg naming it give the same dump as
/// the log directory itself.
#[test]
fn data_dir_and_zoo_cfg_find_the_log() {
    let (expected, _, _) = run(&["log-clean"]);
    let temp = tempfile::tempdir().expect("tempdir");
    let data = temp.path().join("data");
    let log = data.join("log");
    std::fs::create_dir_all(&log).expect("mkdir");
    for entry in std::fs::read_dir(fixtures().join("log-clean")).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), log.join(entry.file_name())).expect("copy");
    }
    let (stdout, stderr, code) = run(&[data.to_str().expect("utf-8 path")]);
    assert_eq!((stdout.as_str(), code), (expected.as_str(), 0), "{stderr}");
    assert!(
        stderr.contains("reading the log of data directory"),
        "{stderr}"
    );

    // dataLogDir wins over dataDir; a relative one is taken from the current directory.
    let config = temp.path().join("zoo.cfg");
    std::fs::write(
        &config,
        "tickTime=2000\ndataDir=/nonexistent/snapshots\ndataLogDir=data\nclientPort=2181\n",
    )
    .expect("write zoo.cfg");
    let (stdout, stderr, code) = run_in(temp.path(), &["zoo.cfg"]);
    assert_eq!((stdout.as_str(), code), (expected.as_str(), 0), "{stderr}");

    // A zoo.cfg the server itself would refuse still gives its directories.
    std::fs::write(
        &config,
        "dataDir=data\nminSessionTimeout=9000\nmaxSessionTimeout=10\n",
    )
    .expect("write zoo.cfg");
    let (stdout, stderr, code) = run_in(temp.path(), &["zoo.cfg"]);
    assert_eq!((stdout.as_str(), code), (expected.as_str(), 0), "{stderr}");
    assert!(stderr.contains("warning"), "{stderr}");
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
        "TRUNCATE",
        "EXIT STATUS",
        "EXAMPLES",
    ] {
        assert!(
            stdout.contains(&format!("\n{section}\n")) || stdout.starts_with(section),
            "{section}"
        );
    }
    for args in [
        &["--bogus", "log-clean"][..],
        &[][..],
        &["--verify", "--from-zxid", "1.1", "log-clean"][..],
        &["--from-zxid", "banana", "log-clean"][..],
        &["truncate", "log-clean", "out"][..],
        &["log-clean", "log-torn-tail"][..],
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
fn what_is_not_a_log_is_unreadable() {
    let temp = tempfile::tempdir().expect("tempdir");
    let (stdout, stderr, code) = run(&[temp.path().to_str().expect("utf-8 path")]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("no transaction log"), "{stderr}");
    let (_, stderr, code) = run(&["/nonexistent/zk-logdump-input"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

/// An empty log directory (a fresh server) is a clean, empty log.
#[test]
fn an_empty_log_is_clean() {
    let temp = tempfile::tempdir().expect("tempdir");
    let log = temp.path().join("log");
    std::fs::create_dir(&log).expect("mkdir");
    std::fs::write(log.join("LOCK"), b"").expect("lock file");
    let (stdout, _, code) = run(&["--verify", log.to_str().expect("utf-8 path")]);
    assert_eq!((stdout.as_str(), code), ("clean\n", 0));
}

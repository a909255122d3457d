//! Differential tests: the operation sequences of `tests/blackbox/differential_sequences.py`
//! run by `tests/blackbox/differential.py` against Apache ZooKeeper 3.8 (Debian, started here
//! on a loopback port) and against zk-server; the normalized transcripts (results, error
//! names, stats without zxids and times, ACLs, watch events in order) must be equal.
//!
//! `apache_transcript_is_deterministic` runs the driver against two Apache servers: if their
//! transcripts differ, the driver or a sequence depends on timing, and a difference against
//! zk-server would mean nothing. It also compares with the transcript recorded in
//! `tests/blackbox/fixtures/apache-3.8-transcript.jsonl` (a readable record of what Apache
//! does); after changing the sequences, re-record it with
//! `ZK_BLACKBOX_RECORD=1 cargo test -p zk-server --test differential_kazoo apache`.

mod common;

use std::fs;
use std::thread;

use common::{blackbox_dir, run_python, unified_diff, Config, Kind, RunOutput, Server};

const FIXTURE: &str = "fixtures/apache-3.8-transcript.jsonl";
const DIFF_LINES: usize = 60;

/// The configuration both servers run with: what the sequences need (TTL nodes, a container
/// check every 200 ms, the test super digest, session timeouts from 400 ms).
fn config() -> Config {
    Config::for_scripts()
}

/// Starts a server of `kind` and runs the driver against it; returns the transcript.
fn transcript(kind: Kind) -> (String, Server) {
    let server = Server::start(kind, &config());
    let output = run_python(&server, "differential.py", &[]);
    check_driver(&server, &output);
    (output.stdout, server)
}

fn check_driver(server: &Server, output: &RunOutput) {
    assert!(
        output.success(),
        "the differential driver failed against {}\n{}\n--- server log (tail) ---\n{}",
        server.kind().name(),
        output.describe(),
        server.log_tail(80)
    );
    assert!(
        !output.stdout.trim().is_empty(),
        "the driver printed no transcript against {}",
        server.kind().name()
    );
}

/// Runs the driver against two servers at once (each in its own thread).
fn transcripts(left: Kind, right: Kind) -> ((String, Server), (String, Server)) {
    let left = thread::spawn(move || transcript(left));
    let right = thread::spawn(move || transcript(right));
    let left = left.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    let right = right
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    (left, right)
}

#[test]
fn zk_server_matches_apache() {
    let ((apache, apache_server), (ours, ours_server)) = transcripts(Kind::Apache, Kind::Ours);
    if let Some(diff) = unified_diff(
        "apache-zookeeper-3.8",
        &apache,
        "zk-server",
        &ours,
        DIFF_LINES,
    ) {
        panic!(
            "zk-server's transcript differs from Apache ZooKeeper's (first differences):\n{diff}\n\
             --- zk-server log (tail) ---\n{}",
            ours_server.log_tail(40)
        );
    }
    drop(apache_server);
}

#[test]
fn apache_transcript_is_deterministic() {
    let ((first, _first_server), (second, _second_server)) =
        transcripts(Kind::Apache, Kind::Apache);
    if let Some(diff) = unified_diff("apache run 1", &first, "apache run 2", &second, DIFF_LINES) {
        panic!(
            "two runs against Apache ZooKeeper gave different transcripts: a sequence or the \
             driver depends on timing\n{diff}"
        );
    }
    let fixture = blackbox_dir().join(FIXTURE);
    if std::env::var_os("ZK_BLACKBOX_RECORD").is_some() {
        fs::create_dir_all(fixture.parent().expect("parent")).expect("create fixtures/");
        fs::write(&fixture, &first).expect("write the recorded transcript");
        eprintln!("recorded {}", fixture.display());
        return;
    }
    let recorded = fs::read_to_string(&fixture).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; record it with ZK_BLACKBOX_RECORD=1",
            fixture.display()
        )
    });
    if let Some(diff) = unified_diff("recorded", &recorded, "apache now", &first, DIFF_LINES) {
        panic!(
            "Apache ZooKeeper's transcript no longer matches {FIXTURE}; if the sequences \
             changed, re-record it with ZK_BLACKBOX_RECORD=1\n{diff}"
        );
    }
}

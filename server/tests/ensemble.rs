//! Real ensembles of zk-server processes on loopback (`tests/blackbox/ensemble.py`): election,
//! kazoo writers through every server, kill -9 of the leader under load with a client-side
//! history check, the old leader's rejoin, and a follower brought back by snapshot transfer.
//!
//! Run by hand: `/usr/bin/python3 server/tests/blackbox/ensemble.py --server-bin
//! target/debug/zk-server --servers 3 --keep`.

use std::path::Path;
use std::process::Command;

fn run_ensemble(servers: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/blackbox/ensemble.py");
    let output = Command::new("/usr/bin/python3")
        .arg(&script)
        .args(["--server-bin", env!("CARGO_BIN_EXE_zk-server")])
        .args(["--servers", &servers.to_string()])
        .output()
        .expect("run /usr/bin/python3 (python3-kazoo must be installed)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("\nOK\n"),
        "the {servers}-server ensemble script failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn three_servers_survive_the_leaders_death() {
    run_ensemble(3);
}

#[test]
fn five_servers_survive_the_leaders_death() {
    run_ensemble(5);
}

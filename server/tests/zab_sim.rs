//! The ZAB core under the deterministic simulation: many seeds, ensembles of 3 and 5, crashes,
//! restarts, partitions, broken links, lost/duplicated/reordered votes and log compaction.
//!
//! `ZAB_SIM_SEEDS=N` sets how many seeds run (default 300). `ZAB_SIM_SEED=S` replays one seed
//! with its whole trace printed.

use zk_server::zab::sim::{run, SimConfig};

fn config(seed: u64, full_trace: bool) -> SimConfig {
    SimConfig {
        servers: if seed.is_multiple_of(2) { 3 } else { 5 },
        seed,
        fault_ms: 20_000,
        settle_ms: 10_000,
        full_trace,
    }
}

#[test]
fn seeds_keep_every_committed_transaction() {
    if let Ok(seed) = std::env::var("ZAB_SIM_SEED") {
        let seed: u64 = seed.parse().expect("ZAB_SIM_SEED is a number");
        let _ = env_logger::builder().is_test(true).try_init();
        match run(&config(seed, true)) {
            Ok(report) => println!("seed {seed}: {report:?}"),
            Err(failure) => panic!("{failure}"),
        }
        return;
    }
    let seeds: u64 = std::env::var("ZAB_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let mut totals = zk_server::zab::sim::SimReport::default();
    for seed in 0..seeds {
        match run(&config(seed, false)) {
            Ok(report) => {
                totals.committed += report.committed;
                totals.proposed += report.proposed;
                totals.establishments += report.establishments;
                totals.crashes += report.crashes;
                totals.snapshot_syncs += report.snapshot_syncs;
                totals.truncations += report.truncations;
                totals.events += report.events;
            }
            Err(failure) => panic!(
                "{failure}\nreplay with: ZAB_SIM_SEED={seed} cargo test -p zk-server --test zab_sim"
            ),
        }
    }
    println!("{seeds} seeds: {totals:?}");
    // The runs must have exercised what they claim to.
    assert!(totals.crashes as u64 > seeds, "too few crashes: {totals:?}");
    assert!(
        totals.truncations > 0,
        "no truncation sync happened: {totals:?}"
    );
    assert!(
        totals.snapshot_syncs > 0,
        "no snapshot sync happened: {totals:?}"
    );
    assert!(
        totals.committed as u64 > seeds * 100,
        "too little committed: {totals:?}"
    );
}

/// A seed that loses a committed transaction when a follower takes the new epoch as current
/// before its synced log is durable (the bug the simulation first found, at seed 1488 of an
/// earlier version of this simulation): it crashes with the synced transactions unsynced and
/// wins the next election with a shorter log. Checked by putting that bug back: seed 502 fails
/// with it (the first of 3,000 seeds to), and passes without.
#[test]
fn a_new_epoch_taken_before_the_log_is_durable_loses_a_commit() {
    if let Err(failure) = run(&config(502, false)) {
        panic!("{failure}");
    }
}

//! Opening a database (FORMAT.md 8.5, issue 3): the newest valid snapshot plus the log replay
//! gives the tree the writes built; each damage has its documented outcome.
//!
//! - no snapshot and no log: an empty tree;
//! - many writes with a small snapCount (background snapshots, retention, purged segments), then
//!   reopen: the same tree;
//! - crash in the middle of a snapshot: a leftover `.tmp` is removed and ignored; a snapshot cut
//!   short under its final name fails verification and the previous one is used;
//! - a byte flipped in a snapshot: reported, the previous one used (with its longer replay);
//! - a missing middle log segment, a log that does not reach back to the snapshot, a digest that
//!   disagrees with the replay: start-up stops with an error.

mod snapshot_support;

use std::fs;
use std::path::{Path, PathBuf};

use snapshot_support::{assert_same_tree, Workload};
use zk_engine::db::{Database, DatabaseConfig, OpenReport};
use zk_engine::snapshot::{list_snapshots, snapshot_file_name, SnapshotOptions};
use zk_engine::tree::DataTree;
use zk_engine::txn::encode;
use zk_engine::txnlog::LogConfig;
use zk_engine::{Error, Zxid};

fn config(dir: &Path) -> DatabaseConfig {
    DatabaseConfig {
        log: LogConfig {
            segment_size: 64 * 1024,
            sync: false,
            ..LogConfig::default()
        },
        snapshot: SnapshotOptions {
            chunk_nodes: 16,
            block_size: 4096,
            ..SnapshotOptions::default()
        },
        snap_count: 1_000_000, // snapshots only when a test asks, unless it lowers this
        random_seed: Some(7),
        ..DatabaseConfig::new(dir.join("snap"), dir.join("log"))
    }
}

/// The writes of a test: the workload, and a reference tree that applies them directly.
struct Writer {
    workload: Workload,
    reference: DataTree,
    /// Wait for each background snapshot started, so that none is skipped as busy.
    wait_for_snapshots: bool,
    /// Background snapshots started by `note_applied`.
    snapshots_started: u64,
}

impl Writer {
    fn new(seed: u64) -> Writer {
        Writer {
            workload: Workload::new(seed, vec!["a", "b", "c", "d", "e", "f"], 3, 100),
            reference: DataTree::new(),
            wait_for_snapshots: false,
            snapshots_started: 0,
        }
    }

    /// Logs, applies and notes `count` transactions, as the server does.
    fn write(&mut self, db: &Database, count: usize) {
        for _ in 0..count {
            let txn = self.workload.next_txn(&self.reference);
            let bytes = encode(&txn);
            let len = bytes.len();
            // Not waited for: `close` flushes before any reopen.
            db.log().append(txn.header.zxid, bytes).unwrap();
            db.tree().write().unwrap().apply(&txn);
            self.reference.apply(&txn);
            if db.note_applied(len) {
                self.snapshots_started += 1;
                if self.wait_for_snapshots {
                    db.wait_for_snapshot().unwrap().unwrap();
                }
            }
        }
    }
}

fn open(config: &DatabaseConfig) -> (Database, OpenReport) {
    Database::open(config.clone()).expect("the database opens")
}

fn reopen_same(config: &DatabaseConfig, reference: &DataTree) -> OpenReport {
    let (db, report) = open(config);
    assert_same_tree(&db.tree().read().unwrap(), reference);
    assert_eq!(report.last_zxid, reference.last_applied_zxid());
    db.close().unwrap();
    report
}

fn snapshot_paths(config: &DatabaseConfig) -> Vec<PathBuf> {
    list_snapshots(&config.snapshot_dir)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect()
}

fn segment_names(config: &DatabaseConfig) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(&config.log_dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.starts_with("log.") && !n.ends_with(".tmp"))
        .collect();
    names.sort();
    names
}

#[test]
fn no_snapshot_and_no_log_is_an_empty_tree() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, report) = open(&config);
    assert!(report.snapshot.is_none());
    assert!(report.skipped_snapshots.is_empty());
    assert_eq!(report.records_replayed, 0);
    assert_eq!(report.last_zxid, Zxid::NONE);
    assert!(!report.digest_checked);
    assert_same_tree(&db.tree().read().unwrap(), &DataTree::new());
    db.close().unwrap();
    // And a log with no snapshot replays from the beginning.
    let (db, _) = open(&config);
    let mut writer = Writer::new(1);
    writer.write(&db, 200);
    db.close().unwrap();
    let report = reopen_same(&config, &writer.reference);
    assert!(report.snapshot.is_none());
    assert_eq!(report.records_replayed, 200);
}

#[test]
fn reopen_after_many_writes_with_a_small_snap_count() {
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        snap_count: 40,
        ..config(dir.path())
    };
    let (db, _) = open(&config);
    let mut writer = Writer::new(2);
    // First every snapshot due is taken (each trigger comes after 21 to 40 transactions)...
    writer.wait_for_snapshots = true;
    writer.write(&db, 1500);
    assert!(writer.snapshots_started >= 1500 / 40);
    // ...then they race the writes, and those due while one runs are skipped.
    writer.wait_for_snapshots = false;
    writer.write(&db, 1500);
    db.wait_for_snapshot();
    let status = db.snapshot_status();
    assert_eq!(status.started, writer.snapshots_started, "{status:?}");
    assert!(
        status.started + status.skipped_busy >= 3000 / 40,
        "{status:?}"
    );
    assert!(matches!(status.last, Some(Ok(_))), "{status:?}");
    // Retention: three snapshots left, and the log segments before the oldest one's start are
    // gone.
    let snapshots = list_snapshots(&config.snapshot_dir).unwrap();
    assert_eq!(snapshots.len(), 3);
    let oldest = snapshots.last().unwrap().start_zxid;
    let segments = db.log().segments();
    assert!(segments[0].first_zxid.0 > 1, "older segments were purged");
    assert!(
        segments[0].first_zxid.0 <= oldest.0 + 1,
        "{segments:?} {oldest}"
    );
    db.close().unwrap();

    let report = reopen_same(&config, &writer.reference);
    let used = report.snapshot.expect("a snapshot is used");
    assert_eq!(used.path, snapshots[0].path);
    assert!(report.digest_checked);
    assert!(report.records_replayed < 3000);
    // Reopened again after more writes on top.
    let (db, _) = open(&config);
    writer.write(&db, 500);
    db.close().unwrap();
    reopen_same(&config, &writer.reference);
}

/// A database with two snapshots (the newer one returned second) and writes after each.
fn two_snapshots(config: &DatabaseConfig, seed: u64) -> (Writer, PathBuf, PathBuf) {
    let (db, _) = open(config);
    let mut writer = Writer::new(seed);
    writer.write(&db, 300);
    let older = db.snapshot_now().unwrap().path;
    writer.write(&db, 300);
    let newer = db.snapshot_now().unwrap().path;
    writer.write(&db, 100);
    db.close().unwrap();
    (writer, older, newer)
}

#[test]
fn a_leftover_temporary_snapshot_is_removed_and_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (writer, _older, newer) = two_snapshots(&config, 3);
    // A crash while writing a snapshot newer than any: its temporary file holds the first half.
    let bytes = fs::read(&newer).unwrap();
    let last = writer.reference.last_applied_zxid();
    let leftover = config
        .snapshot_dir
        .join(format!("{}.tmp", snapshot_file_name(last)));
    fs::write(&leftover, &bytes[..bytes.len() / 2]).unwrap();
    let empty = config.snapshot_dir.join("snap.ffffffffffffffff.tmp");
    fs::write(&empty, b"").unwrap();
    let report = reopen_same(&config, &writer.reference);
    let mut removed = report.removed_temporary.clone();
    removed.sort();
    assert_eq!(removed, vec![leftover.clone(), empty.clone()]);
    assert!(!leftover.exists() && !empty.exists());
    assert_eq!(report.snapshot.unwrap().path, newer);
    assert!(report.skipped_snapshots.is_empty());
}

#[test]
fn a_snapshot_cut_short_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (writer, older, newer) = two_snapshots(&config, 4);
    let good = fs::read(&newer).unwrap();
    let intact = reopen_same(&config, &writer.reference);
    assert_eq!(intact.snapshot.as_ref().unwrap().path, newer);
    for len in [
        0,
        1,
        63,
        64,
        100,
        good.len() / 2,
        good.len() - 64,
        good.len() - 1,
    ] {
        fs::write(&newer, &good[..len]).unwrap();
        let report = reopen_same(&config, &writer.reference);
        assert_eq!(report.skipped_snapshots.len(), 1, "cut at {len}");
        assert_eq!(report.skipped_snapshots[0].path, newer);
        assert_eq!(
            report.snapshot.as_ref().unwrap().path,
            older,
            "cut at {len}"
        );
        assert!(report.records_replayed > intact.records_replayed);
        assert!(report.digest_checked);
    }
}

#[test]
fn a_flipped_byte_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (writer, older, newer) = two_snapshots(&config, 5);
    let good = fs::read(&newer).unwrap();
    let len = good.len();
    let mut offsets = vec![0, 8, 16, 36, 59, 60, 63, 64, 66, 70, 75, 80, 81];
    offsets.extend((1..16).map(|i| 64 + (len - 128) * i / 16));
    offsets.extend([
        len - 64,
        len - 56,
        len - 40,
        len - 16,
        len - 12,
        len - 5,
        len - 1,
    ]);
    for at in offsets {
        let mut bytes = good.clone();
        bytes[at] ^= 0x20;
        fs::write(&newer, &bytes).unwrap();
        let report = reopen_same(&config, &writer.reference);
        assert_eq!(report.skipped_snapshots.len(), 1, "byte {at}");
        let reason = &report.skipped_snapshots[0].reason;
        assert!(reason.contains("corrupt data in"), "byte {at}: {reason}");
        assert_eq!(report.snapshot.as_ref().unwrap().path, older, "byte {at}");
    }
    fs::write(&newer, &good).unwrap();
    assert_eq!(
        reopen_same(&config, &writer.reference)
            .snapshot
            .unwrap()
            .path,
        newer
    );
}

#[test]
fn every_snapshot_damaged_replays_the_whole_log_when_it_is_all_there() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (writer, older, newer) = two_snapshots(&config, 6);
    for path in [&older, &newer] {
        let mut bytes = fs::read(path).unwrap();
        bytes[100] ^= 1;
        fs::write(path, &bytes).unwrap();
    }
    let report = reopen_same(&config, &writer.reference);
    assert!(report.snapshot.is_none());
    assert_eq!(report.skipped_snapshots.len(), 2);
    assert_eq!(report.records_replayed, 700);
}

/// Writes until the log has at least `segments` segments.
fn fill_segments(db: &Database, writer: &mut Writer, segments: usize) {
    while db.log().segments().len() < segments {
        writer.write(db, 100);
    }
}

#[test]
fn a_missing_middle_log_segment_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, _) = open(&config);
    let mut writer = Writer::new(7);
    writer.write(&db, 50);
    db.snapshot_now().unwrap();
    fill_segments(&db, &mut writer, 4);
    db.close().unwrap();
    let names = segment_names(&config);
    fs::remove_file(config.log_dir.join(&names[2])).unwrap();
    match Database::open(config.clone()) {
        Err(error @ Error::Corrupt { .. }) => {
            eprintln!("as expected: {error}");
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("opened with a missing segment"),
    }
}

#[test]
fn a_log_that_does_not_reach_back_to_the_snapshot_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, _) = open(&config);
    let mut writer = Writer::new(8);
    writer.write(&db, 50);
    let snapshot = db.snapshot_now().unwrap();
    fill_segments(&db, &mut writer, 4);
    // Purge more than retention would: the segments the snapshot needs go.
    let purged = db
        .log()
        .purge_before(writer.reference.last_applied_zxid())
        .unwrap();
    assert!(!purged.is_empty());
    db.close().unwrap();
    match Database::open(config.clone()) {
        Err(Error::ZxidNotInLog { zxid, detail }) => {
            assert_eq!(zxid, Zxid(snapshot.start_zxid.0 + 1));
            assert!(detail.contains("missing"), "{detail}");
        }
        Err(other) => panic!("expected a gap error, got {other}"),
        Ok(_) => panic!("opened over a gap"),
    }
    // Without the snapshot, the log alone does not start at the beginning either.
    fs::remove_file(&snapshot.path).unwrap();
    match Database::open(config.clone()) {
        Err(Error::ZxidNotInLog { detail, .. }) => {
            assert!(detail.contains("no usable snapshot"), "{detail}");
        }
        Err(other) => panic!("expected a gap error, got {other}"),
        Ok(_) => panic!("opened over a gap"),
    }
}

#[test]
fn the_only_snapshot_damaged_with_a_purged_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        snap_retain_count: 1,
        ..config(dir.path())
    };
    let (db, _) = open(&config);
    let mut writer = Writer::new(9);
    fill_segments(&db, &mut writer, 4);
    let snapshot = db.snapshot_now().unwrap(); // retention purges what it does not need
    writer.write(&db, 100);
    db.close().unwrap();
    let mut bytes = fs::read(&snapshot.path).unwrap();
    bytes[70] ^= 4;
    fs::write(&snapshot.path, &bytes).unwrap();
    match Database::open(config.clone()) {
        Err(Error::ZxidNotInLog { detail, .. }) => {
            assert!(detail.contains("1 skipped"), "{detail}");
        }
        Err(other) => panic!("expected a gap error, got {other}"),
        Ok(_) => panic!("opened over a gap"),
    }
}

#[test]
fn a_digest_that_disagrees_with_the_replay_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (writer, _older, newer) = two_snapshots(&config, 10);
    // Rewrite the trailer's digest with a valid trailer checksum: only the replay can tell.
    let mut bytes = fs::read(&newer).unwrap();
    let t = bytes.len() - 64;
    bytes[t + 16] ^= 1;
    let crc = crc32fast::hash(&bytes[t..t + 60]);
    bytes[t + 60..].copy_from_slice(&crc.to_le_bytes());
    fs::write(&newer, &bytes).unwrap();
    match Database::open(config.clone()) {
        Err(Error::Corrupt { path, reason, .. }) => {
            assert_eq!(path, newer);
            assert!(reason.contains("disagree"), "{reason}");
        }
        Err(other) => panic!("expected a digest mismatch, got {other}"),
        Ok(_) => panic!("opened with a wrong digest"),
    }
    drop(writer);
}

#[test]
fn a_snapshot_ahead_of_the_log_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, _) = open(&config);
    let mut writer = Writer::new(11);
    writer.write(&db, 200);
    let older = db.snapshot_now().unwrap().path;
    writer.write(&db, 100);
    // Transactions applied but never logged (a log without sync that lost its tail), then a
    // snapshot that holds them. The reference tree keeps the logged state only.
    for _ in 0..5 {
        let txn = writer.workload.next_txn(&db.tree().read().unwrap());
        db.tree().write().unwrap().apply(&txn);
    }
    let newer = db.snapshot_now().unwrap().path;
    db.close().unwrap();
    let report = reopen_same(&config, &writer.reference);
    assert_eq!(report.skipped_snapshots.len(), 1);
    assert_eq!(report.skipped_snapshots[0].path, newer);
    assert!(report.skipped_snapshots[0].reason.contains("the log ends"));
    assert_eq!(report.snapshot.unwrap().path, older);
}

#[test]
fn retention_keeps_the_newest_snapshots_and_the_segments_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        snap_retain_count: 2,
        ..config(dir.path())
    };
    let (db, _) = open(&config);
    let mut writer = Writer::new(12);
    let mut taken = Vec::new();
    for round in 0..4 {
        let target = db.log().segments().len() + 2;
        fill_segments(&db, &mut writer, target);
        taken.push(db.snapshot_now().unwrap());
        let kept = snapshot_paths(&config);
        assert_eq!(kept.len(), (round + 1).min(2));
        let oldest_kept = list_snapshots(&config.snapshot_dir)
            .unwrap()
            .last()
            .unwrap()
            .start_zxid;
        let first = db.log().segments()[0].first_zxid;
        assert!(
            first.0 <= oldest_kept.0 + 1,
            "round {round}: {first} {oldest_kept}"
        );
    }
    assert!(db.log().segments()[0].first_zxid > taken[1].start_zxid);
    writer.write(&db, 50);
    db.close().unwrap();
    let kept = snapshot_paths(&config);
    assert_eq!(kept, vec![taken[3].path.clone(), taken[2].path.clone()]);
    // The older kept snapshot is enough on its own: damage the newer one.
    let mut bytes = fs::read(&kept[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&kept[0], &bytes).unwrap();
    let report = reopen_same(&config, &writer.reference);
    assert_eq!(report.snapshot.unwrap().path, kept[1]);
}

/// Replication: a follower told to drop what the leader lacks. Its tree is rebuilt from the
/// snapshot before the cut plus the log; a snapshot after the cut is removed; a reopen agrees;
/// writes go on after the cut.
#[test]
fn truncate_after_rebuilds_the_tree_and_removes_later_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (db, _) = open(&config);
    let mut writer = Writer::new(11);
    writer.write(&db, 100);
    db.snapshot_now().unwrap();
    writer.write(&db, 100);
    db.log().flush().unwrap();
    let cut = db.log().last_zxid();
    writer.write(&db, 50);
    db.snapshot_now().unwrap();
    writer.write(&db, 50);
    db.log().flush().unwrap();
    assert_eq!(snapshot_paths(&config).len(), 2);
    // The same seed replays the same transactions: the state at the cut.
    let mut at_cut = Writer::new(11);
    for _ in 0..200 {
        let txn = at_cut.workload.next_txn(&at_cut.reference);
        at_cut.reference.apply(&txn);
    }
    assert_eq!(at_cut.reference.last_applied_zxid(), cut);

    db.truncate_after(cut).unwrap();
    assert_same_tree(&db.tree().read().unwrap(), &at_cut.reference);
    assert_eq!(db.log().last_zxid(), cut);
    assert_eq!(
        snapshot_paths(&config).len(),
        1,
        "the snapshot after the cut is gone"
    );
    at_cut.write(&db, 30);
    db.close().unwrap();
    reopen_same(&config, &at_cut.reference);
}

/// Replication: a follower far behind gets the leader's snapshot in bytes; its own history is
/// replaced, its log emptied, and a reopen finds the leader's state. Garbage is refused and
/// changes nothing.
#[test]
fn install_snapshot_replaces_a_followers_state() {
    let leader_dir = tempfile::tempdir().unwrap();
    let leader_config = config(leader_dir.path());
    let (leader, _) = open(&leader_config);
    let mut leader_writes = Writer::new(21);
    leader_writes.write(&leader, 300);
    leader.log().flush().unwrap();
    let (zxid, bytes) = leader.snapshot_bytes().unwrap();
    assert_eq!(zxid, leader_writes.reference.last_applied_zxid());

    let follower_dir = tempfile::tempdir().unwrap();
    let follower_config = config(follower_dir.path());
    let (follower, _) = open(&follower_config);
    let mut own = Writer::new(22);
    own.write(&follower, 40);
    follower.snapshot_now().unwrap();
    own.write(&follower, 10);
    follower.log().flush().unwrap();

    let mut garbage = bytes.clone();
    garbage[bytes.len() / 2] ^= 0x40;
    assert!(follower.install_snapshot(&garbage).is_err());
    assert_same_tree(&follower.tree().read().unwrap(), &own.reference);

    assert_eq!(follower.install_snapshot(&bytes).unwrap(), zxid);
    assert_same_tree(&follower.tree().read().unwrap(), &leader_writes.reference);
    assert_eq!(follower.log().last_zxid(), Zxid::NONE);
    let newest = &list_snapshots(&follower_config.snapshot_dir).unwrap()[0];
    let summary = zk_engine::snapshot::verify_snapshot(&newest.path).unwrap();
    assert_eq!(summary.trailer.end_zxid, zxid);
    // The leader's next transactions follow on the follower's empty log.
    leader_writes.write(&follower, 20);
    follower.close().unwrap();
    reopen_same(&follower_config, &leader_writes.reference);
    let (reopened, _) = open(&follower_config);
    assert_eq!(reopened.recovered_snapshot_end(), zxid);
    reopened.close().unwrap();
}

//! The transaction log's behaviour, the same suite on every back-end: real files written with
//! pwrite, mmap and io_uring, and the simulated disk.

use std::sync::{Arc, Mutex};

use zk_engine::storage::file::FileDir;
use zk_engine::storage::sim::SimDir;
use zk_engine::storage::{LogDir, WriteMode};
use zk_engine::txnlog::{LogConfig, RecoveryReport, TxnLog};
use zk_engine::{Error, Zxid};

/// A place a log lives, that can be opened again after the log is closed.
trait Backend {
    fn dir(&self) -> Arc<dyn LogDir>;
    fn mode(&self) -> WriteMode;
}

struct RealFiles {
    _temp: tempfile::TempDir,
    path: std::path::PathBuf,
    mode: WriteMode,
}

impl Backend for RealFiles {
    fn dir(&self) -> Arc<dyn LogDir> {
        Arc::new(FileDir::new(&self.path, self.mode).expect("open dir"))
    }
    fn mode(&self) -> WriteMode {
        self.mode
    }
}

struct Simulated(SimDir);

impl Backend for Simulated {
    fn dir(&self) -> Arc<dyn LogDir> {
        Arc::new(self.0.clone())
    }
    fn mode(&self) -> WriteMode {
        WriteMode::Pwrite
    }
}

fn real(mode: WriteMode) -> Box<dyn Backend> {
    let temp = tempfile::tempdir().expect("tempdir");
    let path = temp.path().join("log");
    Box::new(RealFiles {
        _temp: temp,
        path,
        mode,
    })
}

fn small_segments(backend: &dyn Backend) -> LogConfig {
    LogConfig {
        segment_size: 64 * 1024,
        write_mode: backend.mode(),
        ..LogConfig::default()
    }
}

fn open(backend: &dyn Backend) -> (TxnLog, RecoveryReport) {
    TxnLog::open(backend.dir(), small_segments(backend)).expect("open log")
}

fn payload(zxid: Zxid, len: usize) -> Vec<u8> {
    (0..len).map(|i| (zxid.0 as usize * 31 + i) as u8).collect()
}

/// Appends `count` records after the log's last zxid, in epoch 1, and waits for all of them.
fn append_many(log: &TxnLog, count: u32, len: usize) -> Vec<Zxid> {
    let start = log.last_zxid();
    let mut zxids = Vec::new();
    let mut completions = Vec::new();
    for i in 1..=count {
        let zxid = if start == Zxid::NONE {
            Zxid::new(1, i)
        } else {
            Zxid(start.0 + u64::from(i))
        };
        completions.push(log.append(zxid, payload(zxid, len)).expect("append"));
        zxids.push(zxid);
    }
    for (completion, zxid) in completions.into_iter().zip(&zxids) {
        assert_eq!(completion.wait().expect("durable"), *zxid);
    }
    zxids
}

fn read_all(log: &TxnLog) -> Vec<(Zxid, Vec<u8>)> {
    log.read_from(Zxid::NONE)
        .expect("reader")
        .map(|r| r.map(|r| (r.zxid, r.payload)).expect("record"))
        .collect()
}

fn expected(zxids: &[Zxid], len: usize) -> Vec<(Zxid, Vec<u8>)> {
    zxids.iter().map(|&z| (z, payload(z, len))).collect()
}

fn last_segment(backend: &dyn Backend) -> String {
    let mut names: Vec<String> = backend
        .dir()
        .list()
        .expect("list")
        .into_iter()
        .filter(|n| zk_engine::format::segment_header::parse_segment_file_name(n).is_some())
        .collect();
    names.sort();
    names.pop().expect("a segment")
}

fn overwrite(backend: &dyn Backend, name: &str, offset: u64, bytes: &[u8]) {
    let dir = backend.dir();
    let mut writer = dir.open_writer(name).expect("open writer");
    writer.write_durable(offset, bytes).expect("overwrite");
}

fn appended_records_are_read_back_and_survive_reopen(backend: &dyn Backend) {
    let (log, report) = open(backend);
    assert_eq!(report.last_zxid, Zxid::NONE);
    let zxids = append_many(&log, 300, 100);
    assert_eq!(read_all(&log), expected(&zxids, 100));
    assert_eq!(log.durable_zxid(), *zxids.last().expect("some"));
    log.close().expect("close");

    let (log, report) = open(backend);
    assert_eq!(report.records, 300);
    assert_eq!(report.first_zxid, Zxid::new(1, 1));
    assert_eq!(report.last_zxid, Zxid::new(1, 300));
    assert_eq!(report.torn_tail, None);
    assert_eq!(read_all(&log), expected(&zxids, 100));
    let more = append_many(&log, 10, 100);
    assert_eq!(more.first(), Some(&Zxid::new(1, 301)));
    log.close().expect("close");
}

fn records_span_many_segments(backend: &dyn Backend) {
    let (log, _) = open(backend);
    let zxids = append_many(&log, 400, 1000);
    let segments = log.segments();
    assert!(
        segments.len() >= 6,
        "400 KB in 64 KiB segments: {}",
        segments.len()
    );
    for pair in segments.windows(2) {
        assert_eq!(pair[1].prev_zxid, pair[0].last_zxid);
        assert!(pair[0].last_zxid.is_followed_by(pair[1].first_zxid));
    }
    assert_eq!(log.stats().segments_rolled as usize, segments.len());
    log.close().expect("close");
    let (log, report) = open(backend);
    assert_eq!(report.segments, segments.len());
    assert_eq!(read_all(&log), expected(&zxids, 1000));
    let from = Zxid::new(1, 250);
    let tail: Vec<Zxid> = log
        .read_from(from)
        .expect("reader")
        .map(|r| r.expect("record").zxid)
        .collect();
    assert_eq!(tail, zxids[249..].to_vec());
}

fn zxids_must_follow_each_other(backend: &dyn Backend) {
    let (log, _) = open(backend);
    log.append(Zxid::new(1, 1), vec![1]).expect("first");
    assert!(matches!(
        log.append(Zxid::new(1, 3), vec![3]),
        Err(Error::ZxidOutOfOrder { .. })
    ));
    assert!(matches!(
        log.append(Zxid::new(1, 1), vec![1]),
        Err(Error::ZxidOutOfOrder { .. })
    ));
    log.append(Zxid::new(1, 2), vec![2]).expect("next");
    log.append(Zxid::new(3, 1), vec![4]).expect("new epoch");
    log.flush().expect("flush");
    log.close().expect("close");
    let (log, report) = open(backend);
    assert_eq!(report.last_zxid, Zxid::new(3, 1));
    assert_eq!(read_all(&log).len(), 3);
}

fn too_large_records_are_refused(backend: &dyn Backend) {
    let (log, _) = open(backend);
    let limit = small_segments(backend).max_payload_len();
    assert!(matches!(
        log.append(Zxid::new(1, 1), vec![0; limit + 1]),
        Err(Error::RecordTooLarge { .. })
    ));
    log.append(Zxid::new(1, 1), vec![7; limit])
        .expect("largest")
        .wait()
        .expect("durable");
    log.append(Zxid::new(1, 2), vec![8; 10])
        .expect("after")
        .wait()
        .expect("durable");
    assert_eq!(log.segments().len(), 2);
}

fn truncate_keeps_a_prefix_and_appends_continue(backend: &dyn Backend) {
    let (log, _) = open(backend);
    let zxids = append_many(&log, 400, 1000);
    log.truncate_after(Zxid::new(1, 150)).expect("truncate");
    assert_eq!(log.last_zxid(), Zxid::new(1, 150));
    assert_eq!(read_all(&log), expected(&zxids[..150], 1000));
    assert!(matches!(
        log.append(Zxid::new(1, 152), vec![0]),
        Err(Error::ZxidOutOfOrder { .. })
    ));
    log.append(Zxid::new(2, 1), b"new epoch".to_vec())
        .expect("append")
        .wait()
        .expect("durable");
    log.close().expect("close");

    let (log, report) = open(backend);
    assert_eq!(report.last_zxid, Zxid::new(2, 1));
    let all = read_all(&log);
    assert_eq!(all.len(), 151);
    assert_eq!(all[..150], expected(&zxids[..150], 1000)[..]);
    assert_eq!(all[150], (Zxid::new(2, 1), b"new epoch".to_vec()));
    assert!(matches!(
        log.truncate_after(Zxid::new(1, 999)),
        Err(Error::ZxidNotInLog { .. })
    ));
    log.truncate_after(Zxid::NONE).expect("truncate all");
    assert!(read_all(&log).is_empty());
    log.append(Zxid::new(5, 1), vec![5])
        .expect("append")
        .wait()
        .expect("durable");
    log.close().expect("close");
    let (log, report) = open(backend);
    assert_eq!(report.segments, 1);
    assert_eq!(read_all(&log), vec![(Zxid::new(5, 1), vec![5])]);
}

fn purge_removes_only_wholly_older_segments(backend: &dyn Backend) {
    let (log, _) = open(backend);
    let zxids = append_many(&log, 400, 1000);
    let before = log.segments();
    let cut = before[3].first_zxid;
    let removed = log.purge_before(cut).expect("purge");
    assert_eq!(
        removed,
        before[..3]
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(log.segments(), before[3..].to_vec());
    // Nothing newer than the cut's segment goes, and the last segment never does.
    assert!(log.purge_before(Zxid::new(9, 9)).expect("purge").len() == before.len() - 4);
    assert_eq!(log.segments().len(), 1);
    log.close().expect("close");
    let (log, report) = open(backend);
    assert_eq!(report.base_zxid, before[before.len() - 1].prev_zxid);
    let last_first = before[before.len() - 1].first_zxid;
    let kept: Vec<Zxid> = read_all(&log).into_iter().map(|(z, _)| z).collect();
    assert_eq!(kept.first(), Some(&last_first));
    assert_eq!(kept.last(), zxids.last());
}

fn a_torn_tail_is_cut_and_kept_aside(backend: &dyn Backend) {
    let (log, _) = open(backend);
    let zxids = append_many(&log, 20, 100);
    let end = {
        let segments = log.segments();
        assert_eq!(segments.len(), 1);
        64 + 20 * zk_engine::format::record::encoded_len(100)
    };
    log.close().expect("close");
    let name = last_segment(backend);
    // Half a record: a length word and some bytes, as a crash in the middle of a batch leaves.
    overwrite(
        backend,
        &name,
        end,
        &[0x84, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3],
    );

    let (log, report) = open(backend);
    let torn = report.torn_tail.expect("torn tail reported");
    assert_eq!(torn.offset, end);
    assert_eq!(torn.bytes, 11);
    assert_eq!(torn.segment, name);
    assert_eq!(read_all(&log), expected(&zxids, 100));
    let saved = backend.dir().read(&torn.saved_as).expect("saved tail");
    assert_eq!(saved, vec![0x84, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    let more = append_many(&log, 5, 100);
    log.close().expect("close");
    let (log, report) = open(backend);
    assert_eq!(report.torn_tail, None);
    let mut all = zxids.clone();
    all.extend(more);
    assert_eq!(read_all(&log), expected(&all, 100));
}

fn damage_before_later_batches_stops_start_up(backend: &dyn Backend) {
    let (log, _) = open(backend);
    append_many(&log, 20, 100);
    let second_batch = append_many(&log, 1, 100);
    assert_eq!(second_batch, vec![Zxid::new(1, 21)]);
    log.close().expect("close");
    let name = last_segment(backend);
    let bytes = backend.dir().read(&name).expect("read");
    // Damage the payload of the very first record: a later batch proves it was once durable.
    let mut byte = [bytes[64 + 40]];
    byte[0] ^= 0x40;
    overwrite(backend, &name, 64 + 40, &byte);
    match TxnLog::open(backend.dir(), small_segments(backend)) {
        Err(Error::Corrupt {
            path,
            offset,
            last_good_zxid,
            reason,
        }) => {
            assert!(path.ends_with(&name), "{}", path.display());
            assert_eq!(offset, 64);
            assert_eq!(last_good_zxid, Zxid::NONE);
            assert!(reason.contains("checksum"), "{reason}");
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(_) => panic!("a damaged log opened"),
    }
}

fn concurrent_writers_share_syncs(backend: &dyn Backend) {
    let (log, _) = open(backend);
    let log = Arc::new(log);
    let next = Arc::new(Mutex::new(0u32));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let log = Arc::clone(&log);
            let next = Arc::clone(&next);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let completion = {
                        let mut counter = next.lock().expect("lock");
                        *counter += 1;
                        let zxid = Zxid::new(1, *counter);
                        log.append(zxid, payload(zxid, 64)).expect("append")
                    };
                    completion.wait().expect("durable");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("writer");
    }
    let stats = log.stats();
    assert_eq!(stats.records, 400);
    assert!(stats.batches >= 1 && stats.batches <= 400);
    assert_eq!(stats.batch_records.count, stats.batches);
    assert_eq!(stats.batch_records.sum, 400);
    assert_eq!(stats.sync_micros.count, stats.batches);
    let zxids: Vec<Zxid> = (1..=400).map(|i| Zxid::new(1, i)).collect();
    assert_eq!(read_all(&log), expected(&zxids, 64));
}

macro_rules! suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn appended_records_are_read_back_and_survive_reopen() {
                super::appended_records_are_read_back_and_survive_reopen(&*$backend);
            }
            #[test]
            fn records_span_many_segments() {
                super::records_span_many_segments(&*$backend);
            }
            #[test]
            fn zxids_must_follow_each_other() {
                super::zxids_must_follow_each_other(&*$backend);
            }
            #[test]
            fn too_large_records_are_refused() {
                super::too_large_records_are_refused(&*$backend);
            }
            #[test]
            fn truncate_keeps_a_prefix_and_appends_continue() {
                super::truncate_keeps_a_prefix_and_appends_continue(&*$backend);
            }
            #[test]
            fn purge_removes_only_wholly_older_segments() {
                super::purge_removes_only_wholly_older_segments(&*$backend);
            }
            #[test]
            fn a_torn_tail_is_cut_and_kept_aside() {
                super::a_torn_tail_is_cut_and_kept_aside(&*$backend);
            }
            #[test]
            fn damage_before_later_batches_stops_start_up() {
                super::damage_before_later_batches_stops_start_up(&*$backend);
            }
            #[test]
            fn concurrent_writers_share_syncs() {
                super::concurrent_writers_share_syncs(&*$backend);
            }
        }
    };
}

suite!(pwrite, real(WriteMode::Pwrite));
suite!(mmap, real(WriteMode::Mmap));
suite!(io_uring, real(WriteMode::IoUring));
suite!(
    simulated,
    Box::new(Simulated(SimDir::new())) as Box<dyn Backend>
);

#[test]
fn io_uring_is_really_used_here_or_the_fallback_says_so() {
    let backend = real(WriteMode::IoUring);
    let (log, _) = open(&*backend);
    // On this machine the ring works; where a kernel refuses it, the log says pwrite.
    let expected = match zk_engine::storage::uring::probe() {
        Ok(()) => WriteMode::IoUring,
        Err(_) => WriteMode::Pwrite,
    };
    assert_eq!(log.write_mode(), expected);
}

#[test]
fn a_locked_directory_refuses_a_second_log() {
    let temp = tempfile::tempdir().expect("tempdir");
    let (first, _) = TxnLog::open_path(temp.path(), LogConfig::default()).expect("first");
    match TxnLog::open_path(temp.path(), LogConfig::default()) {
        Err(Error::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("two logs opened one directory"),
    }
    drop(first);
    TxnLog::open_path(temp.path(), LogConfig::default()).expect("after the first closed");
}

//! Snapshots and recovery (issue 3): writing and reading a snapshot of 1,000,000 znodes (time and
//! bytes on disk, zstd level 1 against 3), recovery of a database from such a snapshot plus
//! 100,000 logged transactions, the tree's resident bytes per znode, and how long the applying
//! thread waits for the snapshot walk's read locks.
//!
//! `cargo bench -p zk-benches --bench snapshot` runs three criterion groups (`snapshot_write`,
//! `snapshot_read`, `recovery`; ten samples each, one operation per sample: it is slow), then
//! prints a report. The tree: 1000 parents under `/bench`, 1000 children each, names of about 20
//! characters, 100 bytes of data per node. The transactions replayed: 60% set-data, 30% creates,
//! 10% deletes, 100-byte data.
//!
//! Environment: `ZK_BENCH_DIR` (where files go; default `<target>/zk-bench-data`, which must not
//! be a tmpfs), `ZK_BENCH_SNAPSHOT_NODES` (default 1,000,000) and `ZK_BENCH_RECOVERY_TXNS`
//! (default 100,000). Under `cargo test --benches` everything runs once on 2,000 nodes and 1,000
//! transactions.
#![forbid(unsafe_code)]

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use tempfile::TempDir;
use zk_benches::{bench_data_root, filesystem_of};
use zk_engine::db::{Database, DatabaseConfig};
use zk_engine::snapshot::{
    load_snapshot, verify_snapshot, write_snapshot, SnapshotInfo, SnapshotOptions,
};
use zk_engine::tree::DataTree;
use zk_engine::txn::{encode, Acl, CreateMode, CreateTxn, Txn, TxnBody, TxnHeader};
use zk_engine::txnlog::LogConfig;
use zk_engine::Zxid;

/// Children per parent.
const CHILDREN_PER_PARENT: usize = 1000;
/// Bytes of data per node.
const DATA_LEN: usize = 100;
/// Epoch of every zxid.
const EPOCH: u32 = 1;

struct Settings {
    benchmark: bool,
    nodes: usize,
    txns: usize,
}

impl Settings {
    fn from_env_and_args() -> Settings {
        let args: Vec<String> = std::env::args().collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let benchmark = has("--bench") && !has("--test") && !has("--profile-time");
        let env = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Settings {
            benchmark,
            nodes: if benchmark {
                env("ZK_BENCH_SNAPSHOT_NODES", 1_000_000)
            } else {
                2_000
            },
            txns: if benchmark {
                env("ZK_BENCH_RECOVERY_TXNS", 100_000)
            } else {
                1_000
            },
        }
    }
}

/// Resident set size of this process, from `/proc/self/status` (kB there).
fn resident_bytes() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        })
        .map_or(0, |kb| kb * 1024)
}

/// Makes transactions with consecutive zxids.
struct TxnMaker {
    counter: u32,
}

impl TxnMaker {
    fn txn(&mut self, body: TxnBody) -> Txn {
        self.counter += 1;
        Txn {
            header: TxnHeader {
                session_id: 0x100,
                cxid: self.counter as i32,
                zxid: Zxid::new(EPOCH, self.counter),
                time_ms: 1_700_000_000_000 + i64::from(self.counter),
            },
            body,
        }
    }

    fn create(&mut self, path: String, seed: u64) -> Txn {
        self.txn(TxnBody::Create(CreateTxn {
            path,
            data: Some(data(seed)),
            acl: Acl::open_unsafe(),
            mode: CreateMode::Persistent,
            parent_cversion: -1,
        }))
    }
}

/// [`DATA_LEN`] bytes of pseudo-random lower-case hex digits: text that compresses about as
/// well as typical znode payloads (ids, host names, JSON), not a run of one byte.
fn data(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..DATA_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b"0123456789abcdef"[(state % 16) as usize]
        })
        .collect()
}

fn parent_path(parent: usize) -> String {
    format!("/bench/parent-{parent:06}")
}

/// About 20 characters.
fn child_name(child: usize) -> String {
    format!("node-{child:015}")
}

/// A tree of `nodes` znodes under `/bench`, built by applying creates.
fn build_tree(nodes: usize, maker: &mut TxnMaker) -> DataTree {
    let mut tree = DataTree::new();
    tree.apply(&maker.create("/bench".into(), 0));
    let mut seed = 0u64;
    let parents = nodes.div_ceil(CHILDREN_PER_PARENT);
    let mut made = 0;
    for parent in 0..parents {
        seed += 1;
        tree.apply(&maker.create(parent_path(parent), seed));
        for child in 0..CHILDREN_PER_PARENT.min(nodes - made) {
            let path = format!("{}/{}", parent_path(parent), child_name(child));
            seed += 1;
            tree.apply(&maker.create(path, seed));
            made += 1;
        }
    }
    tree
}

/// The replayed workload: set-data, creates, deletes over the bench tree.
fn workload(count: usize, nodes: usize, maker: &mut TxnMaker) -> Vec<Txn> {
    let parents = nodes.div_ceil(CHILDREN_PER_PARENT).max(1);
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut created: Vec<String> = Vec::new();
    let mut versions = std::collections::HashMap::new();
    let mut txns = Vec::with_capacity(count);
    for i in 0..count {
        let roll = next() % 10;
        let parent = (next() as usize) % parents;
        let txn = if roll < 6 || (roll == 9 && created.is_empty()) {
            let child = (next() as usize) % CHILDREN_PER_PARENT.min(nodes.max(1));
            let path = format!("{}/{}", parent_path(parent), child_name(child));
            let version = versions.entry(path.clone()).or_insert(0);
            *version += 1;
            let version = *version;
            maker.txn(TxnBody::SetData {
                path,
                data: Some(data(next())),
                version,
            })
        } else if roll < 9 {
            let path = format!("{}/new-{i:014}", parent_path(parent));
            created.push(path.clone());
            maker.create(path, next())
        } else {
            let index = (next() as usize) % created.len();
            let path = created.swap_remove(index);
            maker.txn(TxnBody::Delete { path })
        };
        txns.push(txn);
    }
    txns
}

fn options(level: i32) -> SnapshotOptions {
    SnapshotOptions {
        compression_level: level,
        ..SnapshotOptions::default()
    }
}

/// Figures gathered outside criterion, printed at the end.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
}

impl Report {
    fn add(&mut self, line: String) {
        println!("{line}");
        self.lines.push(line);
    }
}

fn main() {
    let settings = Settings::from_env_and_args();
    let root = bench_data_root().expect("create the bench data directory");
    let mut report = Report::default();
    if settings.benchmark {
        let (fs_type, device) =
            filesystem_of(&root).unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        report.add(format!(
            "bench files under {} ({fs_type} on {device}); {} znodes, {} replayed transactions",
            root.display(),
            settings.nodes,
            settings.txns
        ));
    }

    // Resident bytes per znode: measured first, before anything else is allocated.
    let rss_before = resident_bytes();
    let mut maker = TxnMaker { counter: 0 };
    let build_started = Instant::now();
    let tree = build_tree(settings.nodes, &mut maker);
    let build_time = build_started.elapsed();
    let rss_after = resident_bytes();
    let estimate = tree.memory_estimate();
    let node_count = tree.node_count();
    report.add(format!(
        "tree of {node_count} znodes built in {build_time:.2?}: resident {:.0} bytes/znode (RSS \
         delta {} MiB), memory_estimate {:.0} bytes/znode",
        rss_after.saturating_sub(rss_before) as f64 / node_count as f64,
        rss_after.saturating_sub(rss_before) >> 20,
        estimate.bytes_per_node()
    ));
    let tree = Arc::new(RwLock::new(tree));

    let mut criterion = Criterion::default().configure_from_args();
    let snapshot_dir = tempfile::tempdir_in(&root).expect("create a bench directory");
    let mut written: Vec<(i32, SnapshotInfo)> = Vec::new();
    snapshot_write(&mut criterion, &tree, &root, &mut written);
    for (level, info) in &written {
        report.add(format!(
            "zstd level {level}: {} bytes on disk ({:.1} bytes/znode), body {} bytes, {} blocks, \
             {} read-lock holds, longest {:.2?}",
            info.file_len,
            info.file_len as f64 / info.nodes as f64,
            info.body_len,
            info.blocks,
            info.chunks,
            info.longest_lock_hold
        ));
    }
    let level1 = write_snapshot(&tree, snapshot_dir.path(), options(1)).expect("snapshot");
    snapshot_read(&mut criterion, &level1.path);
    lock_waits(&tree, &root, &mut report);

    let recovery_dir = prepare_recovery(&tree, &mut maker, &settings, &root, &mut report);
    recovery(&mut criterion, recovery_dir.path(), &mut report);
    criterion.final_summary();

    if settings.benchmark {
        println!("\nsummary:");
        for line in &report.lines {
            println!("  {line}");
        }
    }
}

fn slow_group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    group
}

fn snapshot_write(
    c: &mut Criterion,
    tree: &RwLock<DataTree>,
    root: &Path,
    written: &mut Vec<(i32, SnapshotInfo)>,
) {
    let mut group = slow_group(c, "snapshot_write");
    for level in [1, 3] {
        let mut last = None;
        group.bench_function(format!("zstd_level_{level}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir_in(root).expect("create a bench directory");
                    let started = Instant::now();
                    let info = write_snapshot(tree, dir.path(), options(level)).expect("snapshot");
                    total += started.elapsed();
                    last = Some(info);
                }
                total
            });
        });
        if let Some(info) = last {
            written.push((level, info));
        }
    }
    group.finish();
}

fn snapshot_read(c: &mut Criterion, path: &Path) {
    let mut group = slow_group(c, "snapshot_read");
    group.bench_function("verify_only", |b| {
        b.iter(|| verify_snapshot(path).expect("verify"));
    });
    group.bench_function("load_tree", |b| {
        b.iter(|| load_snapshot(path).expect("load"));
    });
    group.finish();
}

/// Applies set-data transactions on one thread while a snapshot is written on another, and
/// reports how long each write lock took to get.
fn lock_waits(tree: &Arc<RwLock<DataTree>>, root: &Path, report: &mut Report) {
    let dir = tempfile::tempdir_in(root).expect("create a bench directory");
    let stop = Arc::new(AtomicBool::new(false));
    let applier = {
        let (tree, stop) = (Arc::clone(tree), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut waits = Vec::new();
            let mut counter = tree.read().map_or(0, |t| t.last_applied_zxid().counter());
            let mut version = 1_000_000;
            while !stop.load(Ordering::SeqCst) {
                counter += 1;
                version += 1;
                let txn = Txn {
                    header: TxnHeader {
                        session_id: 0x100,
                        cxid: 0,
                        zxid: Zxid::new(EPOCH, counter),
                        time_ms: 0,
                    },
                    body: TxnBody::SetData {
                        path: "/bench".into(),
                        data: Some(data(u64::from(counter))),
                        version,
                    },
                };
                let asked = Instant::now();
                let mut guard = tree.write().unwrap_or_else(|e| e.into_inner());
                waits.push(asked.elapsed());
                guard.apply(&txn);
                drop(guard);
                std::thread::sleep(Duration::from_micros(50));
            }
            waits
        })
    };
    let chunk_nodes = std::env::var("ZK_BENCH_SNAPSHOT_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SnapshotOptions::default().chunk_nodes);
    let snapshot_options = SnapshotOptions {
        chunk_nodes,
        ..options(1)
    };
    let info = write_snapshot(tree, dir.path(), snapshot_options).expect("snapshot");
    stop.store(true, Ordering::SeqCst);
    let mut waits = applier.join().expect("the applier");
    waits.sort_unstable();
    let at = |q: f64| {
        let index = ((q * waits.len() as f64).ceil() as usize).clamp(1, waits.len().max(1)) - 1;
        waits.get(index).copied().unwrap_or_default()
    };
    report.add(format!(
        "applies during a {:.2?} snapshot ({chunk_nodes} nodes per read lock): {} write locks, \
         wait p50 {:.2?} p99 {:.2?} max {:.2?} (longest walk hold {:.2?}, fuzzy over zxids \
         {}..={})",
        info.duration,
        waits.len(),
        at(0.5),
        at(0.99),
        waits.last().copied().unwrap_or_default(),
        info.longest_lock_hold,
        info.start_zxid,
        info.end_zxid
    ));
}

fn recovery_config(dir: &Path) -> DatabaseConfig {
    DatabaseConfig {
        log: LogConfig {
            sync: false, // setting up only; recovery reads
            ..LogConfig::default()
        },
        ..DatabaseConfig::new(dir.join("snap"), dir.join("log"))
    }
}

/// A database directory holding a snapshot of the bench tree and then `txns` logged
/// transactions.
fn prepare_recovery(
    tree: &Arc<RwLock<DataTree>>,
    maker: &mut TxnMaker,
    settings: &Settings,
    root: &Path,
    report: &mut Report,
) -> TempDir {
    let dir = tempfile::tempdir_in(root).expect("create a bench directory");
    let config = recovery_config(dir.path());
    fs::create_dir_all(&config.snapshot_dir).expect("create the snapshot directory");
    // `lock_waits` applied transactions the maker did not make: continue after them.
    maker.counter = tree.read().map_or(0, |t| t.last_applied_zxid().counter());
    write_snapshot(tree, &config.snapshot_dir, options(1)).expect("snapshot");
    let (db, _) = Database::open(config).expect("open the database");
    let txns = workload(settings.txns, settings.nodes, maker);
    let mut bytes = 0;
    for txn in &txns {
        let payload = encode(txn);
        bytes += payload.len();
        db.log().append(txn.header.zxid, payload).expect("append");
        db.tree()
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .apply(txn);
    }
    db.close().expect("close the database");
    report.add(format!(
        "recovery set-up: {} transactions, {} bytes of payload logged after the snapshot",
        txns.len(),
        bytes
    ));
    dir
}

fn recovery(c: &mut Criterion, dir: &Path, report: &mut Report) {
    let config = recovery_config(dir);
    let mut group = slow_group(c, "recovery");
    let mut last = None;
    group.bench_function("snapshot_plus_log", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let (db, open_report) = Database::open(config.clone()).expect("recover");
                total += started.elapsed();
                drop(db);
                last = Some(open_report);
            }
            total
        });
    });
    group.finish();
    if let Some(open) = last {
        report.add(format!(
            "recovery: {:.2?} in all (snapshot {:.2?}, replay of {} records {:.2?}), digest \
             checked: {}",
            open.duration,
            open.load_duration,
            open.records_replayed,
            open.replay_duration,
            open.digest_checked
        ));
    }
}

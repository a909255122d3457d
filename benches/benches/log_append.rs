//! Durable append latency and group-commit throughput of the transaction log, for each write path,
//! beside a raw `pwrite` + `fdatasync` floor measured in the same run on the same file system.
//!
//! `cargo bench -p zk-benches --bench log_append` runs two criterion groups, then a percentile
//! report (p50/p99 per write path and of the raw floor, their ratios, records/s by writer count and
//! mean batch sizes) printed as a table and written as JSON to
//! `<target>/criterion/zk-log-report.json`.
//!
//! - `durable_append_latency`: one 100-byte record at a time, append then wait.
//! - `group_commit_throughput`: 1, 8, 64 and 256 writer threads sharing a `Mutex<u32>` zxid
//!   counter (lock, take the next zxid, append, unlock, then block in `Completion::wait`).
//! - `group_commit_pipelined`: 1, 8, 64 and 256 writers driven the way the server drives the log:
//!   that many records in flight, each appended with a callback that reports it durable to one
//!   thread, which appends the next (`BenchLog::run_pipelined`). No thread sleeps per record.
//!
//! Environment: `ZK_BENCH_DIR` (where bench files go; default `<target>/zk-bench-data`, which
//! must not be a tmpfs), `ZK_BENCH_REPORT` (JSON path), `ZK_BENCH_REPORT_OPS` (operations per
//! target in the report, default 2000), `ZK_BENCH_REPORT_ONLY=1` (skip the criterion groups),
//! `ZK_BENCH_NO_REPORT=1` (skip the report). Under `cargo test --benches` every bench runs once
//! on small segments and the report runs a few operations without writing JSON.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use tempfile::TempDir;
use zk_benches::{
    bench_data_root, cpu_ticks_machine_and_self, filesystem_of, mean_batch_records,
    process_cpu_time, record_len, remove_bench_dir, target_dir, BenchLog, LatencySummary, RawFloor,
    WriterPool, PAYLOAD_LEN,
};
use zk_engine::storage::WriteMode;
use zk_engine::txnlog::LogConfig;

/// Writer counts of the throughput group and report.
const WRITERS: [usize; 4] = [1, 8, 64, 256];

/// How the writers of a throughput measure wait for their records.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// Records in flight, completed by callbacks to one thread, as in the server.
    Pipelined,
    /// One thread per writer, blocked in `Completion::wait`.
    Threads,
}

impl Driver {
    const ALL: [Driver; 2] = [Driver::Pipelined, Driver::Threads];

    fn name(self) -> &'static str {
        match self {
            Driver::Pipelined => "pipelined",
            Driver::Threads => "threads",
        }
    }
}

/// The report's goals (issue 2): engine p50 at most this many times the raw floor's p50...
const GOAL_MAX_P50_RATIO: f64 = 1.15;
/// ...and durable records/s at 64 writers at least this many times that at 1 writer.
const GOAL_MIN_SCALING_64_OVER_1: f64 = 30.0;

/// Operations per target in one round of the report's latency part; targets take turns by round
/// so that a drift of the disk's state touches them all alike.
const REPORT_ROUND_OPS: usize = 100;
/// Rounds of the report's throughput part (each mode and writer count once per round).
const REPORT_THROUGHPUT_ROUNDS: usize = 3;

/// How this run was invoked.
struct Settings {
    /// `cargo bench` (not `cargo test --benches`, `--list` or `--profile-time`).
    benchmark: bool,
    /// Segment size of every log, and size of the raw floor's file.
    segment_size: u64,
    criterion_groups: bool,
    report: bool,
    report_ops: usize,
}

impl Settings {
    fn from_env_and_args() -> Settings {
        let args: Vec<String> = std::env::args().collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let benchmark = has("--bench") && !has("--test") && !has("--profile-time");
        let test = !has("--bench") || has("--test");
        let listing = has("--list");
        let env_flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
        Settings {
            benchmark,
            segment_size: if benchmark {
                LogConfig::default().segment_size // 64 MiB, as the server runs
            } else {
                1 << 20
            },
            criterion_groups: !env_flag("ZK_BENCH_REPORT_ONLY"),
            report: !listing && (benchmark || test) && !env_flag("ZK_BENCH_NO_REPORT"),
            report_ops: if benchmark {
                std::env::var("ZK_BENCH_REPORT_OPS")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(2000)
            } else {
                10
            },
        }
    }

    /// Records per measured iteration of the throughput group: enough for each writer to append
    /// several times per iteration, and for one iteration to dwarf the barrier that starts it.
    fn records_per_iteration(&self, writers: usize) -> u32 {
        if self.benchmark {
            (writers as u32 * 64).clamp(1024, 16384)
        } else {
            writers as u32 * 2
        }
    }
}

fn main() {
    let settings = Settings::from_env_and_args();
    let root = bench_data_root().expect("create the bench data directory");
    if settings.benchmark {
        print_where(&root);
    }
    let mut criterion = Criterion::default().configure_from_args();
    if settings.criterion_groups {
        durable_append_latency(&mut criterion, &settings, &root);
        group_commit_throughput(&mut criterion, &settings, &root);
        group_commit_pipelined(&mut criterion, &settings, &root);
        criterion.final_summary();
    }
    if settings.report {
        report(&settings, &root);
    }
}

fn print_where(root: &Path) {
    let (fs_type, device) =
        filesystem_of(root).unwrap_or_else(|| ("unknown".into(), "unknown".into()));
    println!(
        "bench files under {} ({fs_type} on {device})",
        root.display()
    );
    if fs_type == "tmpfs" || fs_type == "ramfs" {
        eprintln!(
            "warning: {} is on {fs_type}: syncs cost nothing there; set ZK_BENCH_DIR to a \
             directory on the log disk",
            root.display()
        );
    }
}

fn temp_dir(root: &Path) -> TempDir {
    tempfile::tempdir_in(root).expect("create a bench directory")
}

/// Deletes a bench directory without leaving work for the next timed sync (see
/// [`remove_bench_dir`]).
fn remove(dir: TempDir) {
    let path = dir.keep();
    if let Err(err) = remove_bench_dir(&path) {
        eprintln!("warning: cannot remove {}: {err}", path.display());
    }
}

fn open_log(root: &Path, mode: WriteMode, settings: &Settings) -> (TempDir, BenchLog) {
    let dir = temp_dir(root);
    let log =
        BenchLog::open_settled(dir.path(), mode, settings.segment_size).expect("open the log");
    if log.write_mode() != mode {
        eprintln!(
            "warning: {} was asked for but the log uses {}",
            mode.name(),
            log.write_mode().name()
        );
    }
    (dir, log)
}

fn durable_append_latency(c: &mut Criterion, settings: &Settings, root: &Path) {
    let mut group = c.benchmark_group("durable_append_latency");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mut raw: Option<(TempDir, RawFloor)> = None;
    group.bench_function("raw_floor", |b| {
        let (_, floor) = raw.get_or_insert_with(|| {
            let dir = temp_dir(root);
            let floor = RawFloor::create(&dir.path().join("raw"), settings.segment_size)
                .expect("create the raw floor's file");
            (dir, floor)
        });
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                floor.append_durable().expect("pwrite + fdatasync");
            }
            started.elapsed()
        });
    });
    if let Some((dir, floor)) = raw {
        drop(floor);
        remove(dir);
    }

    for mode in WriteMode::ALL {
        let mut state: Option<(TempDir, BenchLog)> = None;
        group.bench_function(mode.name(), |b| {
            let (_, log) = state.get_or_insert_with(|| open_log(root, mode, settings));
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    log.append_durable().expect("durable append");
                }
                started.elapsed()
            });
        });
        if let Some((dir, log)) = state {
            log.close().expect("close the log");
            remove(dir);
        }
    }
    group.finish();
}

/// A log and its writers, kept across the iterations of one throughput bench.
struct ThroughputState {
    dir: TempDir,
    log: BenchLog,
    pool: WriterPool,
    stats_before: zk_engine::txnlog::LogStats,
}

/// A throughput group: few, long, flat samples (each one appends thousands of records).
fn throughput_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group
}

fn group_commit_throughput(c: &mut Criterion, settings: &Settings, root: &Path) {
    let mut group = throughput_group(c, "group_commit_throughput");
    for writers in WRITERS {
        let records = settings.records_per_iteration(writers);
        group.throughput(Throughput::Elements(u64::from(records)));
        for mode in WriteMode::ALL {
            let mut state: Option<ThroughputState> = None;
            let id = BenchmarkId::new(mode.name(), writers);
            group.bench_with_input(id, &records, |b, &records| {
                let state = state.get_or_insert_with(|| {
                    let (dir, mut log) = open_log(root, mode, settings);
                    let pool = log.writer_pool(writers).expect("start the writers");
                    ThroughputState {
                        dir,
                        stats_before: log.stats(),
                        log,
                        pool,
                    }
                });
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| state.pool.run(records).expect("durable appends"))
                        .sum()
                });
            });
            if let Some(ThroughputState {
                dir,
                mut log,
                pool,
                stats_before,
            }) = state
            {
                log.resume_after(pool);
                let stats = log.stats();
                if settings.benchmark {
                    println!(
                        "group_commit_throughput/{}/{writers}: {} records in {} batches, mean \
                         batch {:.1} records",
                        mode.name(),
                        stats.records - stats_before.records,
                        stats.batches - stats_before.batches,
                        mean_batch_records(&stats_before, &stats)
                    );
                }
                log.close().expect("close the log");
                remove(dir);
            }
        }
    }
    group.finish();
}

fn group_commit_pipelined(c: &mut Criterion, settings: &Settings, root: &Path) {
    let mut group = throughput_group(c, "group_commit_pipelined");
    for writers in WRITERS {
        let records = settings.records_per_iteration(writers);
        group.throughput(Throughput::Elements(u64::from(records)));
        for mode in WriteMode::ALL {
            let mut opened: Option<(TempDir, BenchLog)> = None;
            let id = BenchmarkId::new(mode.name(), writers);
            group.bench_with_input(id, &records, |b, &records| {
                let (_, log) = opened.get_or_insert_with(|| open_log(root, mode, settings));
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            log.run_pipelined(writers, records)
                                .expect("durable appends")
                        })
                        .sum()
                });
            });
            if let Some((dir, log)) = opened {
                log.close().expect("close the log");
                remove(dir);
            }
        }
    }
    group.finish();
}

/// Appends `records` records to `log` with `writers` writers driven by `driver`, after a short
/// warm-up, and measures them.
fn measure_throughput(
    log: &mut BenchLog,
    driver: Driver,
    writers: usize,
    records: u32,
) -> ThroughputCell {
    let warm_up = (writers as u32 * 4).min(records);
    let pool = match driver {
        Driver::Pipelined => {
            log.run_pipelined(writers, warm_up)
                .expect("warm-up appends");
            None
        }
        Driver::Threads => {
            let pool = log.writer_pool(writers).expect("start the writers");
            pool.run(warm_up).expect("warm-up appends");
            Some(pool)
        }
    };
    let before = log.stats();
    let cpu_before = process_cpu_time().unwrap_or_default();
    let took = match &pool {
        Some(pool) => pool.run(records),
        None => log.run_pipelined(writers, records),
    }
    .expect("durable appends");
    let cpu_after = process_cpu_time().unwrap_or_default();
    let after = log.stats();
    if let Some(pool) = pool {
        log.resume_after(pool);
    }
    ThroughputCell {
        records: u64::from(records),
        elapsed: took,
        batches: after.batch_records.count - before.batch_records.count,
        batched_records: after.batch_records.sum - before.batch_records.sum,
        cpu: cpu_after.saturating_sub(cpu_before),
    }
}

/// One target of the report's latency part.
enum LatencyTarget {
    Raw(RawFloor),
    Log(BenchLog),
}

impl LatencyTarget {
    fn timed_op(&mut self) -> Duration {
        let started = Instant::now();
        match self {
            LatencyTarget::Raw(floor) => floor.append_durable().expect("pwrite + fdatasync"),
            LatencyTarget::Log(log) => log.append_durable().expect("durable append"),
        }
        started.elapsed()
    }
}

/// Ticks per second of the CPU times in `/proc` (`USER_HZ`, 100 on every Linux port in use).
const USER_HZ: f64 = 100.0;

/// Share of the machine that other processes took while the report ran: above
/// [`OtherLoad::DISTURBED`] the figures should be taken again on a quiet machine.
#[derive(Default, Clone, Copy)]
struct OtherLoad {
    cpu_seconds: f64,
    wall_seconds: f64,
    cpus: usize,
}

impl OtherLoad {
    const DISTURBED: f64 = 0.10;

    fn share(&self) -> f64 {
        self.cpu_seconds / (self.wall_seconds * self.cpus as f64).max(1e-9)
    }
}

/// What the report measured.
struct Findings {
    started_at: u64,
    /// Raw floor first, then each of [`WriteMode::ALL`].
    summaries: Vec<LatencySummary>,
    effective_modes: Vec<WriteMode>,
    segments_rolled: Vec<u64>,
    /// By driver ([`Driver::ALL`]), write mode, then writer count ([`WRITERS`]).
    cells: [[[ThroughputCell; WRITERS.len()]; WriteMode::ALL.len()]; Driver::ALL.len()],
    rounds: usize,
    round_ops: usize,
    load_before: String,
    load_after: String,
    others: OtherLoad,
}

/// Throughput of one write path at one writer count, summed over the report's rounds.
#[derive(Default, Clone, Copy)]
struct ThroughputCell {
    records: u64,
    elapsed: Duration,
    batches: u64,
    batched_records: u64,
    /// CPU time of the whole process (writers, commit thread) while these records were appended.
    cpu: Duration,
}

impl ThroughputCell {
    fn add(&mut self, other: &ThroughputCell) {
        self.records += other.records;
        self.elapsed += other.elapsed;
        self.batches += other.batches;
        self.batched_records += other.batched_records;
        self.cpu += other.cpu;
    }

    fn records_per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn cpu_us_per_record(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / (self.records.max(1)) as f64
    }

    /// Average number of CPUs kept busy.
    fn cpus_busy(&self) -> f64 {
        self.cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn mean_batch(&self) -> f64 {
        self.batched_records as f64 / (self.batches.max(1)) as f64
    }
}

fn report(settings: &Settings, root: &Path) {
    let load_before = load_average();
    let ticks_before = cpu_ticks_machine_and_self();
    let wall_started = Instant::now();
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let run_dir = temp_dir(root);
    let ops = settings.report_ops.max(1);
    let round_ops = REPORT_ROUND_OPS.min(ops);
    let rounds = ops.div_ceil(round_ops);

    // Latency: every target gets `ops` single durable appends, taking turns by round.
    let mut targets = vec![LatencyTarget::Raw(
        RawFloor::create(&run_dir.path().join("raw"), settings.segment_size)
            .expect("create the raw floor's file"),
    )];
    for mode in WriteMode::ALL {
        let dir = run_dir.path().join(mode.name());
        std::fs::create_dir(&dir).expect("create a log directory");
        let log = BenchLog::open_settled(&dir, mode, settings.segment_size).expect("open the log");
        targets.push(LatencyTarget::Log(log));
    }
    for target in &mut targets {
        for _ in 0..round_ops {
            target.timed_op(); // warm-up: page cache, extent tree, io_uring ring
        }
    }
    let mut samples: Vec<Vec<Duration>> = targets.iter().map(|_| Vec::with_capacity(ops)).collect();
    for round in 0..rounds {
        for k in 0..targets.len() {
            let index = (round + k) % targets.len();
            let (Some(target), Some(out)) = (targets.get_mut(index), samples.get_mut(index)) else {
                continue;
            };
            for _ in 0..round_ops.min(ops - out.len()) {
                out.push(target.timed_op());
            }
        }
    }
    let summaries: Vec<LatencySummary> = samples
        .iter_mut()
        .map(|s| LatencySummary::of(s).expect("samples"))
        .collect();

    // Throughput: the same logs, every mode and writer count in turn, `REPORT_THROUGHPUT_ROUNDS`
    // times. The latency part left each log settled well inside its first segment.
    let mut cells =
        [[[ThroughputCell::default(); WRITERS.len()]; WriteMode::ALL.len()]; Driver::ALL.len()];
    for round in 0..REPORT_THROUGHPUT_ROUNDS {
        for (w, &writers) in WRITERS.iter().enumerate() {
            for k in 0..WriteMode::ALL.len() {
                let m = (round + k) % WriteMode::ALL.len();
                let Some(LatencyTarget::Log(log)) = targets.get_mut(m + 1) else {
                    continue;
                };
                let records = settings.records_per_iteration(writers) * 2;
                for j in 0..Driver::ALL.len() {
                    let d = (round + j) % Driver::ALL.len();
                    let measured = measure_throughput(log, Driver::ALL[d], writers, records);
                    if let Some(cell) = cells
                        .get_mut(d)
                        .and_then(|modes| modes.get_mut(m))
                        .and_then(|row| row.get_mut(w))
                    {
                        cell.add(&measured);
                    }
                }
            }
        }
    }
    let mut effective_modes = Vec::new();
    let mut segments_rolled = Vec::new();
    for target in targets {
        if let LatencyTarget::Log(log) = target {
            effective_modes.push(log.write_mode());
            segments_rolled.push(log.stats().segments_rolled);
            log.close().expect("close the log");
        }
    }
    remove(run_dir);
    let load_after = load_average();
    let others = match (ticks_before, cpu_ticks_machine_and_self()) {
        (Some((machine0, own0)), Some((machine1, own1))) => OtherLoad {
            cpu_seconds: (machine1 - machine0).saturating_sub(own1 - own0) as f64 / USER_HZ,
            wall_seconds: wall_started.elapsed().as_secs_f64(),
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
        },
        _ => OtherLoad::default(),
    };

    let findings = Findings {
        started_at,
        summaries,
        effective_modes,
        segments_rolled,
        cells,
        rounds,
        round_ops,
        load_before,
        load_after,
        others,
    };
    println!("{}", report_text(settings, &findings));
    if settings.benchmark {
        let json = report_json(settings, root, &findings);
        let path = report_path();
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, json));
        match written {
            Ok(()) => println!("report written to {}", path.display()),
            Err(err) => eprintln!("warning: cannot write {}: {err}", path.display()),
        }
    }
}

fn report_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ZK_BENCH_REPORT") {
        return PathBuf::from(path);
    }
    let criterion_home = std::env::var_os("CRITERION_HOME")
        .map_or_else(|| target_dir().join("criterion"), PathBuf::from);
    criterion_home.join("zk-log-report.json")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn ratio_verdict(ratio: f64) -> &'static str {
    if ratio <= GOAL_MAX_P50_RATIO {
        "met"
    } else {
        "MISSED"
    }
}

fn scaling_verdict(scaling: f64) -> &'static str {
    if scaling >= GOAL_MIN_SCALING_64_OVER_1 {
        "met"
    } else {
        "MISSED"
    }
}

/// Records/s at 64 writers over records/s at 1 writer.
fn scaling(row: &[ThroughputCell]) -> f64 {
    let rate = |writers| {
        WRITERS
            .iter()
            .position(|&w| w == writers)
            .and_then(|i| row.get(i))
            .map_or(0.0, ThroughputCell::records_per_second)
    };
    rate(64) / rate(1).max(1e-9)
}

fn mode_label(asked: WriteMode, effective: Option<&WriteMode>) -> String {
    match effective {
        Some(&e) if e != asked => format!("{} (ran as {})", asked.name(), e.name()),
        _ => asked.name().to_owned(),
    }
}

fn report_text(settings: &Settings, findings: &Findings) -> String {
    let Findings {
        summaries,
        effective_modes,
        cells,
        rounds,
        round_ops,
        load_before,
        load_after,
        others,
        ..
    } = findings;
    let mut out = String::new();
    let raw_p50 = summaries.first().map_or(1.0, |s| s.p50_us);
    let _ = writeln!(
        out,
        "\n== zk-log percentile report: {} durable appends per target, {PAYLOAD_LEN}-byte \
         payload ({}-byte records), {rounds} interleaved rounds of {round_ops}; segments of {} \
         MiB; load average (this bench's threads included) {load_before} -> {load_after}",
        settings.report_ops,
        record_len(),
        settings.segment_size >> 20
    );
    let _ = writeln!(
        out,
        "other processes took {:.1} CPU-s in {:.1} s on {} CPUs ({:.0}% of the machine){}",
        others.cpu_seconds,
        others.wall_seconds,
        others.cpus,
        others.share() * 100.0,
        if others.share() > OtherLoad::DISTURBED {
            ": DISTURBED, run again on a quiet machine"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "\ndurable append latency, one record at a time (us)\n{:<26} {:>8} {:>8} {:>8} {:>8} \
         {:>9}  {:<12}",
        "target", "p50", "p90", "p99", "mean", "max", "p50 / raw p50 (goal <= 1.15)"
    );
    for (i, s) in summaries.iter().enumerate() {
        let (name, ratio) = match i.checked_sub(1) {
            None => ("raw pwrite+fdatasync".to_owned(), String::from("1.00")),
            Some(m) => {
                let ratio = s.p50_us / raw_p50;
                (
                    mode_label(WriteMode::ALL[m], effective_modes.get(m)),
                    format!("{ratio:.2} ({})", ratio_verdict(ratio)),
                )
            }
        };
        let _ = writeln!(
            out,
            "{name:<26} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>9.1}  {ratio}",
            s.p50_us, s.p90_us, s.p99_us, s.mean_us, s.max_us
        );
    }
    let labelled_rows = || {
        Driver::ALL
            .iter()
            .zip(cells.iter())
            .flat_map(|(driver, modes)| {
                modes.iter().enumerate().map(move |(m, row)| {
                    let label = format!(
                        "{}, {}",
                        mode_label(WriteMode::ALL[m], effective_modes.get(m)),
                        driver.name()
                    );
                    (label, row)
                })
            })
    };
    let _ = writeln!(
        out,
        "\ngroup commit throughput (durable records/s; {REPORT_THROUGHPUT_ROUNDS} rounds). \
         pipelined: records in flight completed by callbacks, as the server drives the log; \
         threads: one thread per writer blocked in Completion::wait\n\
         {:<34} {:>10} {:>10} {:>10} {:>10}  64w / 1w (goal >= 30)",
        "mode, writers", "1 writer", "8", "64", "256"
    );
    for (label, row) in labelled_rows() {
        let rates: Vec<String> = row
            .iter()
            .map(|c| format!("{:>10.0}", c.records_per_second()))
            .collect();
        let scale = scaling(row);
        let _ = writeln!(
            out,
            "{label:<34} {}  {scale:.1} ({})",
            rates.join(" "),
            scaling_verdict(scale)
        );
    }
    let _ = writeln!(
        out,
        "\nmean records per batch (batch_records histogram)\n{:<34} {:>10} {:>10} {:>10} {:>10}",
        "mode, writers", "1 writer", "8", "64", "256"
    );
    for (label, row) in labelled_rows() {
        let means: Vec<String> = row
            .iter()
            .map(|c| format!("{:>10.1}", c.mean_batch()))
            .collect();
        let _ = writeln!(out, "{label:<34} {}", means.join(" "));
    }
    let _ = writeln!(
        out,
        "\nprocess CPU per durable record, us (CPUs busy), while appending\n{:<34} {:>14} {:>14} \
         {:>14} {:>14}",
        "mode, writers", "1 writer", "8", "64", "256"
    );
    for (label, row) in labelled_rows() {
        let cpu: Vec<String> = row
            .iter()
            .map(|c| {
                format!(
                    "{:>14}",
                    format!("{:.1} ({:.2})", c.cpu_us_per_record(), c.cpus_busy())
                )
            })
            .collect();
        let _ = writeln!(out, "{label:<34} {}", cpu.join(" "));
    }
    out
}

fn report_json(settings: &Settings, root: &Path, findings: &Findings) -> String {
    let Findings {
        started_at,
        summaries,
        effective_modes,
        segments_rolled,
        cells,
        load_before,
        load_after,
        others,
        ..
    } = findings;
    let (fs_type, device) =
        filesystem_of(root).unwrap_or_else(|| ("unknown".into(), "unknown".into()));
    let raw_p50 = summaries.first().map_or(1.0, |s| s.p50_us);
    let latency = |s: &LatencySummary| {
        format!(
            "\"count\": {}, \"p50_us\": {:.1}, \"p90_us\": {:.1}, \"p99_us\": {:.1}, \
             \"mean_us\": {:.1}, \"max_us\": {:.1}",
            s.count, s.p50_us, s.p90_us, s.p99_us, s.mean_us, s.max_us
        )
    };
    let mut modes = Vec::new();
    for (m, mode) in WriteMode::ALL.iter().enumerate() {
        let Some(s) = summaries.get(m + 1) else {
            continue;
        };
        let mut drivers = Vec::new();
        for (driver, modes) in Driver::ALL.iter().zip(cells.iter()) {
            let row = modes.get(m).map_or(&[][..], |r| &r[..]);
            let throughput: Vec<String> = WRITERS
                .iter()
                .zip(row)
                .map(|(writers, c)| {
                    format!(
                        "{{\"writers\": {writers}, \"records\": {}, \"seconds\": {:.4}, \
                     \"records_per_s\": {:.0}, \"batches\": {}, \"mean_batch_records\": {:.2}, \
                     \"cpu_us_per_record\": {:.2}, \"cpus_busy\": {:.2}}}",
                        c.records,
                        c.elapsed.as_secs_f64(),
                        c.records_per_second(),
                        c.batches,
                        c.mean_batch(),
                        c.cpu_us_per_record(),
                        c.cpus_busy()
                    )
                })
                .collect();
            let scale = scaling(row);
            drivers.push(format!(
                "{{\"driver\": \"{}\", \"throughput\": [{}], \"scaling_64_over_1\": {scale:.2}, \
                 \"scaling_goal_met\": {}}}",
                driver.name(),
                throughput.join(", "),
                scale >= GOAL_MIN_SCALING_64_OVER_1,
            ));
        }
        let ratio = s.p50_us / raw_p50;
        modes.push(format!(
            "    {{\"mode\": \"{}\", \"mode_in_force\": \"{}\", \"latency\": {{{}}}, \
             \"p50_ratio_to_raw\": {ratio:.3}, \"p50_ratio_goal_met\": {}, \"drivers\": [{}], \
             \"segments_rolled\": {}}}",
            mode.name(),
            effective_modes.get(m).map_or("unknown", |e| e.name()),
            latency(s),
            ratio <= GOAL_MAX_P50_RATIO,
            drivers.join(", "),
            segments_rolled.get(m).copied().unwrap_or(0)
        ));
    }
    let fields = [
        ("bench", "\"log_append\"".to_owned()),
        ("unix_time", started_at.to_string()),
        ("bench_dir", format!("{:?}", root.display().to_string())),
        ("filesystem", format!("{fs_type:?}")),
        ("device", format!("{device:?}")),
        ("load_average_before", format!("{load_before:?}")),
        ("load_average_after", format!("{load_after:?}")),
        (
            "other_processes_cpu_seconds",
            format!("{:.2}", others.cpu_seconds),
        ),
        ("wall_seconds", format!("{:.2}", others.wall_seconds)),
        (
            "other_processes_machine_share",
            format!("{:.3}", others.share()),
        ),
        (
            "disturbed",
            (others.share() > OtherLoad::DISTURBED).to_string(),
        ),
        ("payload_bytes", PAYLOAD_LEN.to_string()),
        ("record_bytes", record_len().to_string()),
        ("segment_bytes", settings.segment_size.to_string()),
        ("ops_per_target", settings.report_ops.to_string()),
        ("goal_max_p50_ratio", GOAL_MAX_P50_RATIO.to_string()),
        (
            "goal_min_scaling_64_over_1",
            GOAL_MIN_SCALING_64_OVER_1.to_string(),
        ),
        (
            "raw_floor",
            format!("{{{}}}", summaries.first().map(latency).unwrap_or_default()),
        ),
        ("modes", format!("[\n{}\n  ]", modes.join(",\n"))),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("  \"{key}\": {value}"))
        .collect();
    format!("{{\n{}\n}}\n", body.join(",\n"))
}

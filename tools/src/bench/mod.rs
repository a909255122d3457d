//! `zk-bench`: a load generator that speaks the ZooKeeper client protocol, for zk-server and
//! Apache ZooKeeper alike.
//!
//! A run has four phases:
//! 1. setup: one session creates `/zk-bench`, `/zk-bench/new` and, when the mix reads or
//!    writes keys, the keys `/zk-bench/k0000000..` with the payload ([`session::prepare`]);
//! 2. connect: every benchmark session is opened (ConnectRequest / ConnectResponse);
//! 3. load: each session keeps up to `outstanding` requests in flight ([`session::run`]); the
//!    first `warmup` of it is not measured;
//! 4. report: per-session histograms are merged into a [`Report`].
//!
//! With `--reconnect` ([`BenchConfig::reconnect`]) a session whose connection fails opens a
//! new one on the next host and goes on; the report then tells how long successful writes
//! paused ([`gaps`]), which is how `benches/compare` measures an ensemble's failover.
//!
//! The client must stay cheap (the server under test shares the machine): by default every
//! session runs on one thread, sends its requests in batches, encodes into reused buffers and
//! decodes only reply headers. The report includes the client's own CPU use so that a reader
//! can tell whether the client was the bottleneck.
//!
//! Only the proto codecs of `zk-server` are used, never its server.

pub mod args;
pub mod gaps;
pub mod mix;
pub mod probe;
mod random;
pub mod report;
pub mod session;
pub mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

pub use mix::{Mix, MixError, Operation};
pub use report::{CpuUse, LatencySummary, OperationSummary, Report};
pub use session::SetupSummary;

use gaps::WriteGaps;
use random::Random;
use session::{new_histogram, Plan, Stop};
use wire::Connection;

/// How long opening one session may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the answer to `closeSession` at the end.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How long the measured part of a run lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunLength {
    /// Send requests for this long after the warm-up.
    Duration(Duration),
    /// Send exactly this many measured requests (over all sessions), then stop.
    Operations(u64),
}

/// What to run. [`BenchConfig::default`] gives the defaults documented in `--help`.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Servers as `host:port`; sessions are spread over them round-robin.
    pub hosts: Vec<String>,
    /// Number of sessions (connections).
    pub sessions: u32,
    /// Requests each session keeps in flight.
    pub outstanding: u32,
    /// Which requests, in what proportions.
    pub mix: Mix,
    /// Data bytes of every create and setData.
    pub payload_bytes: usize,
    /// Each create and setData sends data of its own (hex digits) instead of one payload.
    pub distinct_payloads: bool,
    /// Size of the key space read and written by set/get/exists/children/multi.
    pub keys: u32,
    /// `setData` operations in each multi.
    pub multi_ops: u32,
    /// How long the measured part lasts.
    pub length: RunLength,
    /// Unmeasured load before the measured part.
    pub warmup: Duration,
    /// Session timeout asked for, ms.
    pub session_timeout_ms: i32,
    /// Runtime worker threads (1 = a single-threaded runtime).
    pub threads: usize,
    /// Seed of the key and operation choices.
    pub seed: u64,
    /// A session whose connection fails opens a new session on the next host and goes on;
    /// the report then has [`Report::write_gaps`].
    pub reconnect: bool,
}

impl Default for BenchConfig {
    fn default() -> BenchConfig {
        BenchConfig {
            hosts: vec!["127.0.0.1:2181".to_owned()],
            sessions: 1,
            outstanding: 1,
            mix: Mix::parse("get=90,set=10").expect("valid default mix"),
            payload_bytes: 100,
            distinct_payloads: false,
            keys: 10_000,
            multi_ops: 4,
            length: RunLength::Duration(Duration::from_secs(10)),
            warmup: Duration::from_secs(2),
            session_timeout_ms: 30_000,
            threads: 1,
            seed: 1,
            reconnect: false,
        }
    }
}

/// Largest payload: a request must fit in ZooKeeper's default `jute.maxbuffer` (1 MiB - 1)
/// with room for its path and headers.
pub const MAX_PAYLOAD_BYTES: usize = 1_000_000;
/// Most sessions one run opens.
pub const MAX_SESSIONS: u32 = 10_000;
/// Most requests one session keeps in flight.
pub const MAX_OUTSTANDING: u32 = 10_000;
/// Most `setData` in one multi.
pub const MAX_MULTI_OPS: u32 = 1_000;
/// Most runtime threads.
pub const MAX_THREADS: usize = 64;

impl BenchConfig {
    /// Checks the limits; the message says which setting is wrong.
    ///
    /// # Errors
    ///
    /// `Config` naming the flag.
    pub fn validate(&self) -> Result<(), BenchError> {
        let fail = |message: String| Err(BenchError::Config(message));
        if self.hosts.is_empty() {
            return fail("--hosts names no server".to_owned());
        }
        if !(1..=MAX_SESSIONS).contains(&self.sessions) {
            return fail(format!("--sessions must be 1..={MAX_SESSIONS}"));
        }
        if !(1..=MAX_OUTSTANDING).contains(&self.outstanding) {
            return fail(format!("--outstanding must be 1..={MAX_OUTSTANDING}"));
        }
        if self.mix.needs_keys() && !(1..=wire::MAX_KEYS).contains(&self.keys) {
            return fail(format!(
                "--keys must be 1..={} for this mix",
                wire::MAX_KEYS
            ));
        }
        if self.keys > wire::MAX_KEYS {
            return fail(format!("--keys must be at most {}", wire::MAX_KEYS));
        }
        if !(1..=MAX_MULTI_OPS).contains(&self.multi_ops) {
            return fail(format!("--multi-ops must be 1..={MAX_MULTI_OPS}"));
        }
        let multi_bytes = if self.mix.weight(Operation::Multi) > 0 {
            self.payload_bytes.saturating_mul(self.multi_ops as usize)
        } else {
            self.payload_bytes
        };
        if multi_bytes > MAX_PAYLOAD_BYTES {
            return fail(format!(
                "--payload ({} bytes{}) exceeds {MAX_PAYLOAD_BYTES} bytes per request",
                self.payload_bytes,
                if multi_bytes == self.payload_bytes {
                    String::new()
                } else {
                    format!(" x {} per multi", self.multi_ops)
                }
            ));
        }
        match self.length {
            RunLength::Duration(duration) if duration.is_zero() => {
                return fail("--duration must be positive".to_owned());
            }
            RunLength::Operations(0) => return fail("--ops must be positive".to_owned()),
            _ => {}
        }
        if self.session_timeout_ms <= 0 {
            return fail("--session-timeout must be positive".to_owned());
        }
        if !(1..=MAX_THREADS).contains(&self.threads) {
            return fail(format!("--threads must be 1..={MAX_THREADS}"));
        }
        Ok(())
    }
}

/// Why a run could not be done.
#[derive(Debug)]
#[non_exhaustive]
pub enum BenchError {
    /// A setting is out of range.
    Config(String),
    /// A `--hosts` entry did not resolve.
    Resolve {
        /// The entry.
        host: String,
        /// Why.
        source: io::Error,
    },
    /// The server could not be reached, or the handshake did not finish.
    Connect {
        /// The server.
        address: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The server refused the session (timeout 0 in the ConnectResponse).
    Refused {
        /// The server.
        address: SocketAddr,
    },
    /// The server sent something this client cannot read.
    Protocol {
        /// The server.
        address: SocketAddr,
        /// What.
        detail: String,
    },
    /// The connection failed during setup.
    Lost {
        /// The server.
        address: SocketAddr,
        /// What happened.
        detail: String,
    },
    /// A setup request failed.
    Setup {
        /// The znode.
        path: String,
        /// The ZooKeeper error code name.
        code: String,
    },
    /// The async runtime could not start, or a task panicked.
    Runtime(String),
    /// `--wait-read`: no read succeeded in time.
    NotReady {
        /// The server.
        address: SocketAddr,
        /// How long, how many attempts, the last failure.
        detail: String,
    },
}

impl fmt::Display for BenchError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Config(message) => formatter.write_str(message),
            BenchError::Resolve { host, source } => {
                write!(formatter, "cannot resolve {host}: {source}")
            }
            BenchError::Connect { address, source } => write!(
                formatter,
                "cannot reach the server at {address}: {source} (is it running, on this port?)"
            ),
            BenchError::Refused { address } => {
                write!(formatter, "the server at {address} refused a new session")
            }
            BenchError::Protocol { address, detail } => {
                write!(formatter, "protocol error from {address}: {detail}")
            }
            BenchError::Lost { address, detail } => {
                write!(formatter, "connection to {address} lost {detail}")
            }
            BenchError::Setup { path, code } => write!(
                formatter,
                "setup failed: creating {path} gave {code} (check the ACLs and quotas of \
                 /zk-bench, or delete it)"
            ),
            BenchError::Runtime(message) => write!(formatter, "runtime: {message}"),
            BenchError::NotReady { address, detail } => {
                write!(
                    formatter,
                    "the server at {address} did not answer a read: {detail}"
                )
            }
        }
    }
}

/// The underlying I/O error is already part of the message, so no `source` is exposed (a
/// chain printer would show it twice).
impl std::error::Error for BenchError {}

/// Runs a benchmark on a runtime of its own (single-threaded unless `config.threads` > 1) and
/// returns what it measured.
///
/// # Errors
///
/// A bad configuration, an unreachable server, a failed setup. Sessions lost during the load
/// phase are not errors: they are listed in [`Report::sessions_lost`].
pub fn run(config: &BenchConfig) -> Result<Report, BenchError> {
    config.validate()?;
    let mut builder = if config.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(config.threads);
        builder
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|error| BenchError::Runtime(error.to_string()))?;
    runtime.block_on(run_async(config.clone()))
}

async fn run_async(config: BenchConfig) -> Result<Report, BenchError> {
    let addresses = resolve(&config.hosts).await?;
    let payload = make_payload(config.payload_bytes, config.seed);
    let first_address = *addresses.first().expect("validated: at least one host");

    let mut setup_connection =
        Connection::open(first_address, config.session_timeout_ms, CONNECT_TIMEOUT).await?;
    let session_timeout = setup_connection.timeout();
    let keys_to_create = if config.mix.needs_keys() {
        config.keys
    } else {
        0
    };
    let setup = session::prepare(&mut setup_connection, keys_to_create, &payload).await?;
    setup_connection.close(CLOSE_WAIT).await;

    let connections = connect_all(&config, &addresses).await?;

    let start = Instant::now();
    let measure_from = start + config.warmup;
    let stop = match config.length {
        RunLength::Duration(duration) => Stop::At(measure_from + duration),
        RunLength::Operations(limit) => Stop::AfterOps {
            issued: std::sync::atomic::AtomicU64::new(0),
            limit,
        },
    };
    let plan = Arc::new(Plan {
        mix: config.mix.clone(),
        outstanding: config.outstanding as usize,
        payload,
        distinct_payloads: config.distinct_payloads,
        keys: config.keys.max(1),
        multi_ops: config.multi_ops,
        measure_from,
        stop,
        reconnect: config.reconnect.then(|| session::Reconnect {
            addresses: addresses.clone(),
            session_timeout_ms: config.session_timeout_ms,
            gaps: Mutex::new(WriteGaps::new(measure_from)),
        }),
    });
    if let Some(reconnect) = &plan.reconnect {
        // A caller that disturbs the servers during the run (benches/compare kills a leader)
        // needs to know when the load has begun: setup takes as long as it takes.
        let gaps = reconnect
            .gaps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        eprintln!(
            "zk-bench: load started at {} ns since the epoch; measuring from {} ns",
            gaps.unix_ns(start),
            gaps.unix_ns(measure_from)
        );
    }
    let mut running = JoinSet::new();
    let mut seeds = Random::new(config.seed);
    for connection in connections {
        running.spawn(session::run(
            connection,
            Arc::clone(&plan),
            seeds.next_u64(),
        ));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let cpu_start = cpu_sample();
    let mut results = Vec::with_capacity(config.sessions as usize);
    while let Some(joined) = running.join_next().await {
        results.push(joined.map_err(|error| BenchError::Runtime(error.to_string()))?);
    }
    let cpu_end = cpu_sample();
    let write_gaps = plan.reconnect.as_ref().map(|reconnect| {
        let mut gaps = reconnect
            .gaps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        // The run ends when no more requests are sent: a pause still going on then is open.
        let end = match plan.stop {
            Stop::At(end) => end.min(Instant::now()),
            Stop::AfterOps { .. } => Instant::now(),
        };
        gaps.finish(end);
        gaps
    });

    let mut closing = JoinSet::new();
    for (_, connection) in &mut results {
        if let Some(connection) = connection.take() {
            closing.spawn(connection.close(CLOSE_WAIT));
        }
    }
    while closing.join_next().await.is_some() {}

    let stats: Vec<session::SessionStats> = results.into_iter().map(|(stats, _)| stats).collect();
    let client_cpu = match (cpu_start, cpu_end) {
        (Some((cpu_before, wall_before)), Some((cpu_after, wall_after))) => Some(CpuUse {
            cpu: cpu_after.saturating_sub(cpu_before),
            wall: wall_after.saturating_duration_since(wall_before),
        }),
        _ => None,
    };
    let mut report = summarise(
        config,
        session_timeout,
        setup,
        measure_from,
        &stats,
        client_cpu,
    )?;
    report.write_gaps = write_gaps;
    Ok(report)
}

/// Merges the sessions' statistics into the report.
fn summarise(
    config: BenchConfig,
    session_timeout: Duration,
    setup: SetupSummary,
    measure_from: Instant,
    stats: &[session::SessionStats],
    client_cpu: Option<CpuUse>,
) -> Result<Report, BenchError> {
    let elapsed = stats
        .iter()
        .filter_map(|session| session.last_completion)
        .max()
        .map_or(Duration::ZERO, |last| {
            last.saturating_duration_since(measure_from)
        });
    let merge_error = |error: hdrhistogram::AdditionError| {
        BenchError::Runtime(format!("merging histograms: {error:?}"))
    };
    let mut total = new_histogram();
    let mut by_operation = Vec::new();
    for operation in Operation::ALL {
        let mut merged: Option<hdrhistogram::Histogram<u64>> = None;
        for session in stats {
            if let Some(histogram) = &session.histograms[operation.index()] {
                merged
                    .get_or_insert_with(new_histogram)
                    .add(histogram)
                    .map_err(merge_error)?;
            }
        }
        let Some(merged) = merged else { continue };
        // A create that only stood in for deletes is shown only if one happened.
        if config.mix.weight(operation) == 0 && merged.is_empty() {
            continue;
        }
        total.add(&merged).map_err(merge_error)?;
        let failed = stats
            .iter()
            .map(|session| session.errors_by_operation[operation.index()])
            .sum();
        by_operation.push((operation, OperationSummary::new(&merged, elapsed, failed)));
    }
    let mut errors = BTreeMap::new();
    for session in stats {
        for (code, count) in &session.errors {
            *errors.entry(*code).or_default() += count;
        }
    }
    let error_count = errors.values().sum();
    let sessions_lost = stats
        .iter()
        .filter_map(|session| session.lost.clone())
        .collect();
    Ok(Report {
        total: OperationSummary::new(&total, elapsed, error_count),
        config,
        session_timeout,
        setup,
        elapsed,
        by_operation,
        errors,
        client_cpu,
        sessions_lost,
        write_gaps: None,
    })
}

/// Resolves every `--hosts` entry to its first address.
async fn resolve(hosts: &[String]) -> Result<Vec<SocketAddr>, BenchError> {
    let mut addresses = Vec::with_capacity(hosts.len());
    for host in hosts {
        let resolve_error = |source| BenchError::Resolve {
            host: host.clone(),
            source,
        };
        let address = tokio::net::lookup_host(host.as_str())
            .await
            .map_err(resolve_error)?
            .next()
            .ok_or_else(|| resolve_error(io::Error::new(io::ErrorKind::NotFound, "no address")))?;
        addresses.push(address);
    }
    Ok(addresses)
}

/// Opens every benchmark session concurrently, in index order of the result.
async fn connect_all(
    config: &BenchConfig,
    addresses: &[SocketAddr],
) -> Result<Vec<Connection>, BenchError> {
    let mut connecting = JoinSet::new();
    for index in 0..config.sessions as usize {
        let address = addresses[index % addresses.len()];
        let timeout_ms = config.session_timeout_ms;
        connecting.spawn(async move {
            (
                index,
                Connection::open(address, timeout_ms, CONNECT_TIMEOUT).await,
            )
        });
    }
    let mut connections: Vec<Option<Connection>> = Vec::new();
    connections.resize_with(config.sessions as usize, || None);
    while let Some(joined) = connecting.join_next().await {
        let (index, opened) = joined.map_err(|error| BenchError::Runtime(error.to_string()))?;
        connections[index] = Some(opened?);
    }
    Ok(connections.into_iter().flatten().collect())
}

/// `length` printable pseudo-random bytes (ZooKeeper does not look at them).
fn make_payload(length: usize, seed: u64) -> Arc<[u8]> {
    let mut random = Random::new(seed ^ 0x0070_6179_6c6f_6164);
    (0..length)
        .map(|_| b'a' + u8::try_from(random.below(26)).unwrap_or(0))
        .collect()
}

/// CPU time used so far by the live threads of this process (from
/// `/proc/self/task/*/schedstat`, in nanoseconds), and when it was read; `None` without
/// `/proc`.
fn cpu_sample() -> Option<(Duration, Instant)> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut nanoseconds: u64 = 0;
    let mut readable = false;
    for task in tasks.flatten() {
        // A thread that ended since the listing has no file any more: skip it (the runtime's
        // worker threads live for the whole run).
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let Some(on_cpu) = text
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        nanoseconds += on_cpu;
        readable = true;
    }
    readable.then(|| (Duration::from_nanos(nanoseconds), Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_are_checked() {
        assert!(BenchConfig::default().validate().is_ok());
        let bad = [
            BenchConfig {
                sessions: 0,
                ..BenchConfig::default()
            },
            BenchConfig {
                outstanding: 0,
                ..BenchConfig::default()
            },
            BenchConfig {
                keys: 0,
                ..BenchConfig::default()
            },
            BenchConfig {
                payload_bytes: 400_000,
                multi_ops: 4,
                mix: Mix::only(Operation::Multi),
                ..BenchConfig::default()
            },
            BenchConfig {
                length: RunLength::Operations(0),
                ..BenchConfig::default()
            },
            BenchConfig {
                threads: 0,
                ..BenchConfig::default()
            },
        ];
        for config in bad {
            assert!(
                matches!(config.validate(), Err(BenchError::Config(_))),
                "{config:?}"
            );
        }
        // A mix that never touches keys does not need any.
        let creates_only = BenchConfig {
            keys: 0,
            mix: Mix::only(Operation::Create),
            ..BenchConfig::default()
        };
        assert!(creates_only.validate().is_ok());
    }

    /// A fake server on 127.0.0.1:0 that grants every session and answers every request
    /// with error code 0; each connection is closed after `replies_per_connection` replies.
    async fn answering_server(replies_per_connection: usize) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use zk_server::proto::{ConnectRequest, ConnectResponse, Record, ReplyHeader, Response};

        async fn frame(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
            let mut length = [0; 4];
            stream.read_exact(&mut length).await.ok()?;
            let mut body = vec![0; usize::try_from(i32::from_be_bytes(length)).ok()?];
            stream.read_exact(&mut body).await.ok()?;
            Some(body)
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Some(request) = frame(&mut stream).await else {
                        return;
                    };
                    let request = ConnectRequest::decode_from(&request).expect("ConnectRequest");
                    let response = ConnectResponse::accepted(&request, 30_000, 9, [9; 16], false);
                    let mut out = Vec::new();
                    zk_server::proto::encode_connect_response(&mut out, &response);
                    stream.write_all(&out).await.expect("ConnectResponse");
                    for _ in 0..replies_per_connection {
                        let Some(request) = frame(&mut stream).await else {
                            return;
                        };
                        let xid = i32::from_be_bytes(request[..4].try_into().expect("xid"));
                        let header = ReplyHeader {
                            xid,
                            zxid: 1,
                            error_code: 0,
                        };
                        let mut out = Vec::new();
                        zk_server::proto::encode_reply(&mut out, &header, &Response::Empty);
                        if stream.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    #[test]
    fn reconnect_replaces_lost_connections_and_tracks_write_gaps() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            // The first server drops every connection after 40 replies (the setup session's
            // 2 parents and 10 keys included); the second never does.
            let flaky = answering_server(40).await;
            let steady = answering_server(usize::MAX).await;
            let config = BenchConfig {
                hosts: vec![flaky.to_string(), steady.to_string()],
                sessions: 2,
                outstanding: 2,
                mix: Mix::only(Operation::SetData),
                keys: 10,
                length: RunLength::Duration(Duration::from_millis(300)),
                warmup: Duration::ZERO,
                reconnect: true,
                ..BenchConfig::default()
            };
            let report = run_async(config).await.expect("the run completes");
            assert!(
                report.sessions_lost.is_empty(),
                "{:?}",
                report.sessions_lost
            );
            assert!(report.to_json().contains("\"write_gaps\":{"));
            let gaps = report.write_gaps.expect("--reconnect reports write gaps");
            assert!(gaps.connection_losses >= 1, "{gaps:?}");
            assert!(gaps.reconnects >= 1, "{gaps:?}");
            assert!(gaps.successful_writes > 40, "{gaps:?}");
            assert!(!gaps.loss_reasons.is_empty());
        });
    }

    #[test]
    fn payload_is_printable_and_sized() {
        let payload = make_payload(100, 1);
        assert_eq!(payload.len(), 100);
        assert!(payload.iter().all(u8::is_ascii_lowercase));
        assert!(make_payload(0, 1).is_empty());
    }

    #[test]
    fn cpu_sample_reads_proc_on_linux() {
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(cpu_sample().is_some());
        }
    }
}

//! What one connection does: the setup phase that creates the key space, and a benchmark
//! session that keeps up to `outstanding` requests in flight.
//!
//! A session runs one loop on one task: send as many requests as the pipeline has room for in
//! one write, wait for at least one reply, match every reply that arrived to the oldest request
//! in flight (ZooKeeper answers a session's requests in order, so a reply with any other xid is
//! a protocol error), and repeat. Each round costs one write and one read system call however
//! many requests it carries, and nothing is allocated per request.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use zk_server::proto::{ErrorCode, OpCode};

use super::gaps::WriteGaps;
use super::mix::{Mix, Operation};
use super::random::Random;
use super::wire::{
    created_path, encode_create, encode_delete, encode_multi_set_data, encode_read,
    encode_set_data, key_path, multi_error_code, Connection, NEW_PATH, ROOT_PATH,
};
use super::BenchError;

/// Largest latency the histograms hold, in nanoseconds (60 s); longer ones count as 60 s.
pub(crate) const LATENCY_NS_MAX: u64 = 60_000_000_000;
/// Significant decimal digits the histograms keep (0.1 % relative precision).
pub(crate) const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// Requests in flight during the setup phase.
const SETUP_PIPELINE_DEPTH: usize = 128;

/// An empty latency histogram with the benchmark's bounds (nanoseconds).
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// When sessions stop sending new requests.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Send nothing at or after this instant.
    At(Instant),
    /// Send exactly `limit` measured requests, over all sessions (`issued` counts claims).
    AfterOps {
        /// Measured requests claimed so far.
        issued: AtomicU64,
        /// How many to send.
        limit: u64,
    },
}

/// What every session of a run shares, read-only (but for the request counter and, with
/// `--reconnect`, the write-gap tracker).
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) mix: Mix,
    pub(crate) outstanding: usize,
    pub(crate) payload: Arc<[u8]>,
    /// Give every create and setData data of its own (see [`fill_distinct_payload`]).
    pub(crate) distinct_payloads: bool,
    pub(crate) keys: u32,
    pub(crate) multi_ops: u32,
    /// Requests sent at or after this instant are measured; earlier ones are warm-up.
    pub(crate) measure_from: Instant,
    pub(crate) stop: Stop,
    /// `--reconnect`: where and how sessions open again after a lost connection.
    pub(crate) reconnect: Option<Reconnect>,
}

/// How a `--reconnect` run replaces lost connections, and what it tracks.
#[derive(Debug)]
pub(crate) struct Reconnect {
    /// Every `--hosts` address; a session tries the next one after its current one.
    pub(crate) addresses: Vec<SocketAddr>,
    /// Session timeout asked for, ms.
    pub(crate) session_timeout_ms: i32,
    /// Successful writes and connection losses of all sessions.
    pub(crate) gaps: Mutex<WriteGaps>,
}

/// Pause after a failed attempt to open a session again (32 sessions retrying every 50 ms are
/// about 640 connection attempts a second against servers that are electing a leader).
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
/// How long one attempt to open a session again may take.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl Plan {
    /// Whether a session may send one more request now; `measured` says whether it would be
    /// measured. In `AfterOps` mode this claims one of the `limit` requests.
    fn may_send(&self, now: Instant, measured: bool) -> bool {
        match &self.stop {
            Stop::At(end) => now < *end,
            Stop::AfterOps { issued, limit } => {
                !measured || issued.fetch_add(1, Ordering::Relaxed) < *limit
            }
        }
    }

    /// Whether no more requests will be sent (for a session deciding whether to reconnect).
    fn finished(&self, now: Instant) -> bool {
        match &self.stop {
            Stop::At(end) => now >= *end,
            Stop::AfterOps { issued, limit } => issued.load(Ordering::Relaxed) >= *limit,
        }
    }

    /// Runs `note` on the write-gap tracker, if this run has one.
    fn note_gaps(&self, note: impl FnOnce(&mut WriteGaps)) {
        if let Some(reconnect) = &self.reconnect {
            // A poisoned lock only means another session panicked; its data are still usable.
            let mut gaps = reconnect
                .gaps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            note(&mut gaps);
        }
    }
}

/// What one session measured.
#[derive(Debug)]
pub(crate) struct SessionStats {
    /// Latencies in nanoseconds of measured requests, by [`Operation::index`]; `None` for
    /// operations the session never sends.
    pub(crate) histograms: [Option<Histogram<u64>>; 7],
    /// Measured requests that failed, by ZooKeeper error code.
    pub(crate) errors: BTreeMap<i32, u64>,
    /// Measured requests that failed, by [`Operation::index`].
    pub(crate) errors_by_operation: [u64; 7],
    /// When the last measured reply arrived.
    pub(crate) last_completion: Option<Instant>,
    /// Why the session ended early, if it did.
    pub(crate) lost: Option<String>,
}

impl SessionStats {
    fn new(mix: &Mix) -> SessionStats {
        let mut histograms: [Option<Histogram<u64>>; 7] = Default::default();
        for (operation, _) in mix.operations() {
            histograms[operation.index()] = Some(new_histogram());
        }
        // A delete with nothing of its own to delete becomes a create.
        if mix.weight(Operation::Delete) > 0 {
            histograms[Operation::Create.index()] = Some(new_histogram());
        }
        SessionStats {
            histograms,
            errors: BTreeMap::new(),
            errors_by_operation: [0; 7],
            last_completion: None,
            lost: None,
        }
    }
}

/// Overwrites `payload` with pseudo-random lower-case hex digits (16 per draw): text that
/// compresses about as well as typical znode data (ids, host names, JSON), as the snapshot bench
/// uses, instead of the same bytes in every znode, which a compressed snapshot would shrink to
/// almost nothing.
pub(crate) fn fill_distinct_payload(payload: &mut [u8], random: &mut Random) {
    for chunk in payload.chunks_mut(16) {
        let mut bits = random.next_u64();
        for byte in chunk {
            *byte = b"0123456789abcdef"[(bits & 0xf) as usize];
            bits >>= 4;
        }
    }
}

/// A request in flight.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    xid: i32,
    operation: Operation,
    sent: Instant,
    measured: bool,
}

/// Runs one benchmark session until the plan says stop and every reply is in. Returns what it
/// measured and, unless the connection failed, the connection (for the caller to close).
///
/// With `--reconnect`, a failed connection is replaced: the session opens a new session on the
/// next of `--hosts` after the one it lost (then the next, every [`RECONNECT_PAUSE`]) and goes
/// on until the plan says stop. Requests in flight on the lost connection count as
/// `ConnectionLoss`, as without it.
pub(crate) async fn run(
    mut connection: Connection,
    plan: Arc<Plan>,
    seed: u64,
) -> (SessionStats, Option<Connection>) {
    let mut stats = SessionStats::new(&plan.mix);
    let mut random = Random::new(seed);
    loop {
        let address = connection.address();
        let reason = match run_connection(connection, &plan, &mut random, &mut stats).await {
            Ok(connection) => return (stats, Some(connection)),
            Err(reason) => reason,
        };
        let Some(reconnect) = &plan.reconnect else {
            stats.lost = Some(reason);
            return (stats, None);
        };
        plan.note_gaps(|gaps| gaps.connection_lost(&format!("{address}: {reason}")));
        let mut host = reconnect
            .addresses
            .iter()
            .position(|candidate| *candidate == address)
            .unwrap_or(0);
        connection = loop {
            if plan.finished(Instant::now()) {
                return (stats, None);
            }
            host = (host + 1) % reconnect.addresses.len().max(1);
            let Some(next) = reconnect.addresses.get(host) else {
                stats.lost = Some(reason);
                return (stats, None);
            };
            match Connection::open(*next, reconnect.session_timeout_ms, RECONNECT_TIMEOUT).await {
                Ok(opened) => {
                    plan.note_gaps(|gaps| gaps.reconnects += 1);
                    break opened;
                }
                Err(_) => {
                    plan.note_gaps(|gaps| gaps.reconnect_failures += 1);
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
        };
    }
}

/// [`run`] on one connection: `Ok(connection)` when the plan's end is reached with every reply
/// in, `Err(reason)` when the connection failed (its measured requests in flight are counted
/// as `ConnectionLoss` in `stats`).
async fn run_connection(
    mut connection: Connection,
    plan: &Plan,
    random: &mut Random,
    stats: &mut SessionStats,
) -> Result<Connection, String> {
    let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(plan.outstanding);
    let mut path = String::with_capacity(64);
    let mut payload = plan.payload.to_vec();
    let session_id = connection.session_id();
    // Znodes this session created are named by sequence number; deletes take the oldest one
    // whose create has been answered (replies come in order, so its create is done).
    let mut creates_sent: u64 = 0;
    let mut creates_answered: u64 = 0;
    let mut deletes_sent: u64 = 0;
    let mut sending = true;
    loop {
        if sending {
            let now = Instant::now();
            let measured = now >= plan.measure_from;
            while in_flight.len() < plan.outstanding {
                if !plan.may_send(now, measured) {
                    sending = false;
                    break;
                }
                let mut operation = plan.mix.pick(random.below(plan.mix.total()));
                if operation == Operation::Delete && deletes_sent >= creates_answered {
                    operation = Operation::Create;
                }
                if plan.distinct_payloads
                    && matches!(
                        operation,
                        Operation::Create | Operation::SetData | Operation::Multi
                    )
                {
                    fill_distinct_payload(&mut payload, random);
                }
                let xid = connection.next_xid();
                let out = &mut connection.write_buffer;
                match operation {
                    Operation::Create => {
                        created_path(&mut path, session_id, creates_sent);
                        creates_sent += 1;
                        encode_create(out, xid, path.as_bytes(), &payload);
                    }
                    Operation::Delete => {
                        created_path(&mut path, session_id, deletes_sent);
                        deletes_sent += 1;
                        encode_delete(out, xid, path.as_bytes());
                    }
                    Operation::SetData => {
                        let key = key_path(random.below(plan.keys));
                        encode_set_data(out, xid, &key, &payload);
                    }
                    Operation::GetData => {
                        encode_read(
                            out,
                            xid,
                            OpCode::GetData,
                            &key_path(random.below(plan.keys)),
                        );
                    }
                    Operation::Exists => {
                        encode_read(out, xid, OpCode::Exists, &key_path(random.below(plan.keys)));
                    }
                    Operation::GetChildren => {
                        let key = key_path(random.below(plan.keys));
                        encode_read(out, xid, OpCode::GetChildren, &key);
                    }
                    Operation::Multi => {
                        let keys = plan.keys;
                        let chosen = (0..plan.multi_ops).map(|_| random.below(keys));
                        encode_multi_set_data(out, xid, chosen, &payload);
                    }
                }
                in_flight.push_back(InFlight {
                    xid,
                    operation,
                    sent: now,
                    measured,
                });
            }
            if let Err(error) = connection.flush().await {
                return Err(lose(stats, &in_flight, format!("sending: {error}")));
            }
        }
        if in_flight.is_empty() {
            return Ok(connection);
        }
        // Take every reply that has arrived; wait for more only if there was none.
        let mut answered = 0_usize;
        loop {
            let reply = match connection.next_reply() {
                Ok(Some(reply)) => reply,
                Ok(None) if answered > 0 => break,
                Ok(None) => {
                    if let Err(error) = connection.receive().await {
                        return Err(lose(stats, &in_flight, receive_failure(&error)));
                    }
                    continue;
                }
                Err(error) => return Err(lose(stats, &in_flight, error.to_string())),
            };
            answered += 1;
            let Some(request) = in_flight.pop_front() else {
                let detail = format!("reply with xid {} to no request", reply.xid);
                return Err(lose(stats, &in_flight, detail));
            };
            if reply.xid != request.xid {
                let detail = format!(
                    "reply with xid {} while xid {} was the oldest in flight",
                    reply.xid, request.xid
                );
                return Err(lose(stats, &in_flight, detail));
            }
            if request.operation == Operation::Create {
                creates_answered += 1;
            }
            if !request.measured {
                continue;
            }
            let mut error_code = reply.error_code;
            if error_code == 0 && request.operation == Operation::Multi {
                match multi_error_code(connection.body(&reply.body)) {
                    Ok(code) => error_code = code,
                    Err(detail) => return Err(lose(stats, &in_flight, detail)),
                }
            }
            let completed = connection.last_receive();
            let latency = completed.saturating_duration_since(request.sent);
            let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
            if let Some(histogram) = &mut stats.histograms[request.operation.index()] {
                histogram.saturating_record(latency_ns.max(1));
            }
            if error_code != 0 {
                *stats.errors.entry(error_code).or_default() += 1;
                stats.errors_by_operation[request.operation.index()] += 1;
            } else if request.operation.is_write() {
                plan.note_gaps(|gaps| gaps.write_succeeded(completed));
            }
            stats.last_completion = Some(completed);
        }
    }
}

/// Counts the measured requests in flight on a failed connection as `ConnectionLoss`, as a
/// ZooKeeper client would report them; returns `reason`.
fn lose(stats: &mut SessionStats, in_flight: &VecDeque<InFlight>, reason: String) -> String {
    for request in in_flight.iter().filter(|request| request.measured) {
        *stats
            .errors
            .entry(ErrorCode::ConnectionLoss.value())
            .or_default() += 1;
        stats.errors_by_operation[request.operation.index()] += 1;
    }
    reason
}

fn receive_failure(error: &io::Error) -> String {
    format!("receiving: {error}")
}

/// What the setup phase did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetupSummary {
    /// Keys created.
    pub keys_created: u32,
    /// Keys that existed already and had their data replaced by the payload.
    pub keys_replaced: u32,
    /// How long it took.
    pub elapsed: Duration,
}

/// Creates `/zk-bench`, `/zk-bench/new` and, if `keys` > 0, the keys `/zk-bench/k0000000..`
/// with `payload` as data. Nodes that exist already are kept; existing keys get `payload` as
/// their data so that reads return what this run asked for.
///
/// # Errors
///
/// Any failure: setup errors make the run meaningless, so they stop it.
pub(crate) async fn prepare(
    connection: &mut Connection,
    keys: u32,
    payload: &[u8],
) -> Result<SetupSummary, BenchError> {
    let started = Instant::now();
    let node_exists = ErrorCode::NodeExists.value();
    for parent in [ROOT_PATH, NEW_PATH] {
        pipeline(
            connection,
            1,
            |out, xid, _| encode_create(out, xid, parent.as_bytes(), &[]),
            |_, code| setup_check(parent, code, &[node_exists]),
        )
        .await?;
    }
    let mut existing = Vec::new();
    pipeline(
        connection,
        keys,
        |out, xid, index| encode_create(out, xid, &key_path(index), payload),
        |index, code| {
            if code == node_exists {
                existing.push(index);
                return Ok(());
            }
            setup_check(&key_string(index), code, &[])
        },
    )
    .await?;
    let replaced = u32::try_from(existing.len()).unwrap_or(u32::MAX);
    pipeline(
        connection,
        replaced,
        |out, xid, position| {
            let index = existing.get(position as usize).copied().unwrap_or(0);
            encode_set_data(out, xid, &key_path(index), payload);
        },
        |position, code| setup_check(&format!("existing key #{position}"), code, &[]),
    )
    .await?;
    Ok(SetupSummary {
        keys_created: keys - replaced,
        keys_replaced: replaced,
        elapsed: started.elapsed(),
    })
}

fn key_string(index: u32) -> String {
    String::from_utf8_lossy(&key_path(index)).into_owned()
}

fn setup_check(path: &str, code: i32, accepted: &[i32]) -> Result<(), BenchError> {
    if code == 0 || accepted.contains(&code) {
        return Ok(());
    }
    Err(BenchError::Setup {
        path: path.to_owned(),
        code: super::report::error_name(code),
    })
}

/// Sends `count` requests (`encode(buffer, xid, index)`) with up to [`SETUP_PIPELINE_DEPTH`]
/// in flight, and hands each reply's error code to `check(index, code)`.
async fn pipeline(
    connection: &mut Connection,
    count: u32,
    mut encode: impl FnMut(&mut Vec<u8>, i32, u32),
    mut check: impl FnMut(u32, i32) -> Result<(), BenchError>,
) -> Result<(), BenchError> {
    let mut in_flight: VecDeque<(i32, u32)> = VecDeque::with_capacity(SETUP_PIPELINE_DEPTH);
    let mut next = 0;
    let io_error = |connection: &Connection, error: io::Error| BenchError::Lost {
        address: connection.address(),
        detail: format!("during setup: {error}"),
    };
    while next < count || !in_flight.is_empty() {
        while next < count && in_flight.len() < SETUP_PIPELINE_DEPTH {
            let xid = connection.next_xid();
            encode(&mut connection.write_buffer, xid, next);
            in_flight.push_back((xid, next));
            next += 1;
        }
        if let Err(error) = connection.flush().await {
            return Err(io_error(connection, error));
        }
        let reply = loop {
            match connection.next_reply()? {
                Some(reply) => break reply,
                None => {
                    if let Err(error) = connection.receive().await {
                        return Err(io_error(connection, error));
                    }
                }
            }
        };
        match in_flight.pop_front() {
            Some((xid, index)) if xid == reply.xid => check(index, reply.error_code)?,
            _ => {
                return Err(connection
                    .protocol_error(format!("setup reply with unexpected xid {}", reply.xid)))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_payloads_are_hex_and_differ() {
        let mut random = Random::new(7);
        let mut first = vec![0u8; 100];
        let mut second = vec![0u8; 100];
        fill_distinct_payload(&mut first, &mut random);
        fill_distinct_payload(&mut second, &mut random);
        assert!(first.iter().all(u8::is_ascii_hexdigit));
        assert_ne!(first, second);
    }
}

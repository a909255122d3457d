//! A seeded, deterministic simulation of an ensemble running [`Peer`]: simulated time, a network
//! that loses, duplicates, delays and reorders votes, links that break or partition, servers
//! that crash (losing what their log had not synced, keeping any prefix of it) and restart,
//! snapshots that compact logs. The same seed replays the same run exactly.
//!
//! The state machine is a list of applied transactions with a running digest. After every step
//! the simulation checks:
//! - every server's applied sequence is a prefix of one global committed sequence (so no two
//!   servers commit different transactions at the same zxid, and nothing committed is reordered);
//! - a zxid is only ever logged or applied with the data its leader proposed;
//! - a newly established leader holds every transaction committed so far (nothing committed
//!   is lost);
//! - servers that applied up to the same zxid have the same digest;
//! - no server saw a protocol violation.
//!
//! At the end the faults stop; the ensemble must then elect one leader, sync everyone, and
//! commit a last transaction on every server.
//!
//! What a link models: a TCP connection. Messages on it arrive in order or not at all (the link
//! breaks); a crash resets it (the other side hears soon), a partition silences it (the other
//! side finds out by timeout).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use zk_engine::Zxid;

use super::history::History;
use super::message::{LinkId, Message, PeerState, ServerId};
use super::peer::{Action, DiskState, Event, Peer, PeerConfig, SyncKind};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Ensemble size (3 or 5, typically).
    pub servers: usize,
    /// The seed: the same seed replays the same run.
    pub seed: u64,
    /// Simulated milliseconds of faults.
    pub fault_ms: u64,
    /// Simulated milliseconds after the faults stop for the ensemble to settle.
    pub settle_ms: u64,
    /// Keep the whole trace (for replaying one seed), not just its tail.
    pub full_trace: bool,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct SimReport {
    /// Transactions committed (the global sequence's length).
    pub committed: usize,
    /// Proposals made.
    pub proposed: usize,
    /// Times a leader was established.
    pub establishments: usize,
    /// Crashes injected.
    pub crashes: usize,
    /// Snapshot syncs (SNAP) sent.
    pub snapshot_syncs: usize,
    /// Truncations (TRUNC) sent.
    pub truncations: usize,
    /// Events processed.
    pub events: usize,
}

/// A failed check, with the seed and the trace that led to it.
#[derive(Debug)]
pub struct SimFailure {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub message: String,
    /// The last trace lines (or all of them with `full_trace`).
    pub trace: Vec<String>,
}

impl std::fmt::Display for SimFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.message)?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Runs one simulation.
pub fn run(config: &SimConfig) -> Result<SimReport, SimFailure> {
    let mut sim = Simulation::new(config.clone());
    match sim.run_all() {
        Ok(()) => Ok(sim.report),
        Err(message) => Err(SimFailure {
            seed: config.seed,
            message,
            trace: sim.trace.into_iter().collect(),
        }),
    }
}

const TICK_EVERY_MS: u64 = 25;
const TRACE_TAIL: usize = 400;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

type Entry = (Zxid, Arc<[u8]>);

#[derive(Default)]
struct Disk {
    accepted_epoch: u32,
    current_epoch: u32,
    snapshot_base: Zxid,
    snapshot_state: Vec<Entry>,
    log: Vec<Entry>,
    durable_len: usize,
    syncing: bool,
    generation: u64,
}

impl Disk {
    fn durable_zxid(&self) -> Zxid {
        match self.durable_len {
            0 => self.snapshot_base,
            n => self.log[n - 1].0,
        }
    }
}

struct Node {
    id: ServerId,
    peer: Option<Peer>,
    incarnation: u64,
    disk: Disk,
    state: Vec<Entry>,
    digest: u64,
    /// How much of `state` is known to be a prefix of the committed sequence.
    verified: usize,
    group: u8,
}

impl Node {
    fn last_applied(&self) -> Zxid {
        self.state.last().map_or(Zxid::NONE, |(zxid, _)| *zxid)
    }

    fn recompute_digest(&mut self) {
        self.digest = self
            .state
            .iter()
            .fold(0, |digest, (zxid, data)| chain(digest, *zxid, data));
    }
}

fn chain(digest: u64, zxid: Zxid, data: &[u8]) -> u64 {
    let mut hash = digest ^ 0xCBF2_9CE4_8422_2325;
    for byte in zxid.0.to_le_bytes().iter().chain(data) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01B3);
    }
    hash
}

struct SimLink {
    open: bool,
    /// When the last message in each direction arrives: links deliver in order.
    to_leader_at: u64,
    to_follower_at: u64,
}

enum Scheduled {
    Deliver {
        node: usize,
        incarnation: u64,
        event: Event,
    },
    LinkDeliver {
        node: usize,
        incarnation: u64,
        link: LinkId,
        message: Message,
    },
    SyncDone {
        node: usize,
        incarnation: u64,
        generation: u64,
        covered: usize,
    },
    Tick {
        node: usize,
        incarnation: u64,
    },
    Fault,
    Client,
    EndFaults,
}

struct Simulation {
    config: SimConfig,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Scheduled>,
    nodes: Vec<Node>,
    links: BTreeMap<LinkId, SimLink>,
    committed: Vec<Entry>,
    proposed: BTreeMap<Zxid, Arc<[u8]>>,
    faults: bool,
    clients: bool,
    next_value: u64,
    trace: VecDeque<String>,
    report: SimReport,
}

impl Simulation {
    fn new(config: SimConfig) -> Simulation {
        let nodes = (0..config.servers)
            .map(|index| Node {
                id: index as ServerId + 1,
                peer: None,
                incarnation: 0,
                disk: Disk::default(),
                state: Vec::new(),
                digest: 0,
                verified: 0,
                group: 0,
            })
            .collect();
        Simulation {
            rng: Rng(config.seed),
            config,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            links: BTreeMap::new(),
            committed: Vec::new(),
            proposed: BTreeMap::new(),
            faults: true,
            clients: true,
            next_value: 0,
            trace: VecDeque::new(),
            report: SimReport::default(),
        }
    }

    fn peer_config(&self, id: ServerId) -> PeerConfig {
        PeerConfig {
            id,
            voters: (1..=self.config.servers as ServerId).collect(),
            tick_ms: 100,
            init_limit: 10,
            sync_limit: 5,
            finalize_wait_ms: 50,
            notify_interval_ms: 100,
        }
    }

    fn note(&mut self, line: String) {
        self.trace.push_back(format!("{:>7} ms {line}", self.now));
        if !self.config.full_trace && self.trace.len() > TRACE_TAIL {
            self.trace.pop_front();
        }
    }

    fn schedule(&mut self, at: u64, what: Scheduled) {
        self.seq += 1;
        self.queue.insert((at, self.seq), what);
    }

    fn run_all(&mut self) -> Result<(), String> {
        for index in 0..self.nodes.len() {
            self.restart(index)?;
        }
        self.schedule(10, Scheduled::Client);
        self.schedule(100, Scheduled::Fault);
        let end_faults = self.config.fault_ms;
        self.schedule(end_faults, Scheduled::EndFaults);
        let settle_end = end_faults + self.config.settle_ms;
        self.run_until(settle_end)?;
        self.check_settled()?;
        // One last transaction must reach every server.
        let leader = self
            .nodes
            .iter()
            .position(|n| {
                n.peer
                    .as_ref()
                    .is_some_and(|p| p.state() == PeerState::Leading && p.serving())
            })
            .ok_or("no serving leader after settling")?;
        self.clients = false;
        let zxid = self.propose(leader, b"final".as_slice().into())?;
        self.run_until(settle_end + 3_000)?;
        for node in &self.nodes {
            if node.last_applied() < zxid {
                return Err(format!(
                    "server {} did not apply the final transaction {zxid} (applied {})",
                    node.id,
                    node.last_applied()
                ));
            }
        }
        let first = (self.nodes[0].last_applied(), self.nodes[0].digest);
        if self
            .nodes
            .iter()
            .any(|n| (n.last_applied(), n.digest) != first)
        {
            return Err("servers ended with different states".to_owned());
        }
        self.report.committed = self.committed.len();
        Ok(())
    }

    fn run_until(&mut self, end: u64) -> Result<(), String> {
        while let Some(entry) = self.queue.first_entry() {
            let (at, _) = *entry.key();
            if at > end {
                break;
            }
            let what = entry.remove();
            self.now = at;
            self.report.events += 1;
            self.step(what)?;
            self.check_invariants()?;
        }
        self.now = end;
        Ok(())
    }

    fn step(&mut self, what: Scheduled) -> Result<(), String> {
        match what {
            Scheduled::Deliver {
                node,
                incarnation,
                event,
            } => {
                if self.nodes[node].incarnation == incarnation && self.nodes[node].peer.is_some() {
                    self.handle(node, event)?;
                }
            }
            Scheduled::LinkDeliver {
                node,
                incarnation,
                link,
                message,
            } => {
                let open = self.links.get(&link).is_some_and(|l| l.open);
                if open
                    && self.nodes[node].incarnation == incarnation
                    && self.nodes[node].peer.is_some()
                {
                    self.handle(node, Event::Link { link, message })?;
                }
            }
            Scheduled::SyncDone {
                node,
                incarnation,
                generation,
                covered,
            } => {
                let n = &mut self.nodes[node];
                if n.incarnation == incarnation && n.disk.generation == generation {
                    n.disk.syncing = false;
                    n.disk.durable_len = n.disk.durable_len.max(covered.min(n.disk.log.len()));
                    let zxid = n.disk.durable_zxid();
                    self.handle(node, Event::LogDurable { zxid })?;
                    self.start_sync(node);
                }
            }
            Scheduled::Tick { node, incarnation } => {
                if self.nodes[node].incarnation == incarnation && self.nodes[node].peer.is_some() {
                    self.handle(node, Event::Tick)?;
                    self.schedule(
                        self.now + TICK_EVERY_MS,
                        Scheduled::Tick { node, incarnation },
                    );
                }
            }
            Scheduled::Fault => {
                if self.faults {
                    self.inject_fault()?;
                    let next = self.now + self.rng.range(20, 400);
                    self.schedule(next, Scheduled::Fault);
                }
            }
            Scheduled::Client => {
                if !self.clients {
                    return Ok(());
                }
                for index in 0..self.nodes.len() {
                    let leading = self.nodes[index]
                        .peer
                        .as_ref()
                        .is_some_and(|p| p.state() == PeerState::Leading && p.serving());
                    if leading {
                        self.next_value += 1;
                        let value = format!("v{}", self.next_value);
                        self.propose(index, value.as_bytes().into())?;
                    }
                }
                let next = self.now + self.rng.range(2, 30);
                self.schedule(next, Scheduled::Client);
            }
            Scheduled::EndFaults => {
                self.faults = false;
                self.note("faults stop: heal, restart everyone".to_owned());
                for node in &mut self.nodes {
                    node.group = 0;
                }
                for index in 0..self.nodes.len() {
                    if self.nodes[index].peer.is_none() {
                        self.restart(index)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn propose(&mut self, node: usize, data: Arc<[u8]>) -> Result<Zxid, String> {
        let now = self.now;
        let Some(peer) = self.nodes[node].peer.as_mut() else {
            return Err("proposing on a stopped server".to_owned());
        };
        let zxid = peer
            .propose(now, Arc::clone(&data))
            .map_err(|e| format!("leader refused a proposal: {e}"))?;
        if let Some(old) = self.proposed.insert(zxid, data) {
            return Err(format!(
                "zxid {zxid} proposed twice (before: {:?})",
                String::from_utf8_lossy(&old)
            ));
        }
        self.report.proposed += 1;
        let actions = self.nodes[node]
            .peer
            .as_mut()
            .map(Peer::take_actions)
            .unwrap_or_default();
        self.execute(node, actions)?;
        Ok(zxid)
    }

    fn handle(&mut self, node: usize, event: Event) -> Result<(), String> {
        let now = self.now;
        let Some(peer) = self.nodes[node].peer.as_mut() else {
            return Ok(());
        };
        peer.handle(now, event);
        let actions = peer.take_actions();
        self.execute(node, actions)
    }

    fn connected(&self, a: usize, b: usize) -> bool {
        self.nodes[a].group == self.nodes[b].group
    }

    fn index_of(id: ServerId) -> usize {
        (id - 1) as usize
    }

    fn execute(&mut self, node: usize, actions: Vec<Action>) -> Result<(), String> {
        for action in actions {
            self.execute_one(node, action)?;
        }
        Ok(())
    }

    fn execute_one(&mut self, node: usize, action: Action) -> Result<(), String> {
        let id = self.nodes[node].id;
        match action {
            Action::SendVote { to, message } => {
                let dest = Self::index_of(to);
                if self.nodes[dest].peer.is_none() || !self.connected(node, dest) {
                    return Ok(());
                }
                if self.faults && self.rng.percent(5) {
                    return Ok(());
                }
                let copies = if self.faults && self.rng.percent(5) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let at = self.now + self.rng.range(1, 15);
                    let incarnation = self.nodes[dest].incarnation;
                    self.schedule(
                        at,
                        Scheduled::Deliver {
                            node: dest,
                            incarnation,
                            event: Event::Vote {
                                from: id,
                                message: message.clone(),
                            },
                        },
                    );
                }
            }
            Action::OpenLink { link } => {
                let leader = Self::index_of(link.leader);
                if self.nodes[leader].peer.is_some() && self.connected(node, leader) {
                    self.links.insert(
                        link,
                        SimLink {
                            open: true,
                            to_leader_at: self.now,
                            to_follower_at: self.now,
                        },
                    );
                } else {
                    let at = self.now + self.rng.range(1, 50);
                    let incarnation = self.nodes[node].incarnation;
                    self.schedule(
                        at,
                        Scheduled::Deliver {
                            node,
                            incarnation,
                            event: Event::LinkClosed { link },
                        },
                    );
                }
            }
            Action::Send { link, message } => self.send_on_link(node, link, message),
            Action::CloseLink { link } => {
                self.note(format!("server {id} closes {link:?}"));
                let other = if link.follower == id {
                    Self::index_of(link.leader)
                } else {
                    Self::index_of(link.follower)
                };
                self.break_link(link, &[other]);
            }
            Action::PersistAcceptedEpoch(epoch) => {
                let disk = &mut self.nodes[node].disk;
                if epoch < disk.accepted_epoch {
                    return Err(format!("server {id} lowered its accepted epoch to {epoch}"));
                }
                disk.accepted_epoch = epoch;
            }
            Action::PersistCurrentEpoch(epoch) => {
                let disk = &mut self.nodes[node].disk;
                if epoch < disk.current_epoch || epoch > disk.accepted_epoch {
                    return Err(format!(
                        "server {id} set current epoch {epoch} out of order"
                    ));
                }
                disk.current_epoch = epoch;
            }
            Action::Append { zxid, data } => {
                self.check_proposed(id, zxid, &data)?;
                let disk = &mut self.nodes[node].disk;
                let last = disk.log.last().map_or(disk.snapshot_base, |(z, _)| *z);
                if zxid <= last {
                    return Err(format!("server {id} appended {zxid} after {last}"));
                }
                disk.log.push((zxid, data));
                self.start_sync(node);
            }
            Action::Truncate { after } => {
                let n = &mut self.nodes[node];
                if after < n.disk.snapshot_base {
                    return Err(format!("server {id} truncated below its snapshot"));
                }
                let keep = n.disk.log.partition_point(|(z, _)| *z <= after);
                n.disk.log.truncate(keep);
                n.disk.durable_len = n.disk.durable_len.min(keep);
                n.disk.generation += 1;
                n.disk.syncing = false;
                if n.last_applied() > after {
                    n.state = n.disk.snapshot_state.clone();
                    n.state.extend(n.disk.log.iter().cloned());
                    n.recompute_digest();
                    n.verified = 0;
                }
                let line = format!("server {id} truncates after {after}");
                self.note(line);
                self.start_sync(node);
            }
            Action::InstallSnapshot { base, state } => {
                let entries = decode_state(&state)?;
                let last = entries.last().map_or(Zxid::NONE, |(z, _)| *z);
                if last != base {
                    return Err(format!("snapshot base {base} but its state ends at {last}"));
                }
                let n = &mut self.nodes[node];
                n.disk.snapshot_base = base;
                n.disk.snapshot_state = entries.clone();
                n.disk.log.clear();
                n.disk.durable_len = 0;
                n.disk.generation += 1;
                n.disk.syncing = false;
                n.state = entries;
                n.recompute_digest();
                n.verified = 0;
                let line = format!("server {id} installs a snapshot at {base}");
                self.note(line);
            }
            Action::Apply { zxid, data } => {
                self.check_proposed(id, zxid, &data)?;
                let n = &mut self.nodes[node];
                if zxid <= n.last_applied() {
                    return Err(format!(
                        "server {id} applied {zxid} after {}",
                        n.last_applied()
                    ));
                }
                n.digest = chain(n.digest, zxid, &data);
                n.state.push((zxid, data));
                self.verify_prefix(node)?;
            }
            Action::SyncStream { link, kind, upto } => {
                self.sync_stream(node, link, kind, upto)?;
            }
            Action::RoleChanged {
                state,
                leader,
                serving,
            } => {
                let line =
                    format!("server {id} is {state:?} (leader {leader:?}, serving {serving})");
                self.note(line);
                if state == PeerState::Leading && serving {
                    self.report.establishments += 1;
                    self.check_leader_holds_all(node)?;
                }
            }
        }
        Ok(())
    }

    fn check_proposed(&self, id: ServerId, zxid: Zxid, data: &[u8]) -> Result<(), String> {
        match self.proposed.get(&zxid) {
            Some(proposed) if **proposed == *data => Ok(()),
            Some(_) => Err(format!(
                "server {id} holds {zxid} with other data than proposed"
            )),
            None => Err(format!("server {id} holds {zxid}, which nobody proposed")),
        }
    }

    fn send_on_link(&mut self, node: usize, link: LinkId, message: Message) {
        let id = self.nodes[node].id;
        let delay = self.rng.range(1, 10);
        let now = self.now;
        let Some(state) = self.links.get_mut(&link).filter(|l| l.open) else {
            return;
        };
        let (dest, at) = if link.follower == id {
            state.to_leader_at = state.to_leader_at.max(now + delay);
            (Self::index_of(link.leader), state.to_leader_at)
        } else {
            state.to_follower_at = state.to_follower_at.max(now + delay);
            (Self::index_of(link.follower), state.to_follower_at)
        };
        let incarnation = self.nodes[dest].incarnation;
        self.schedule(
            at,
            Scheduled::LinkDeliver {
                node: dest,
                incarnation,
                link,
                message,
            },
        );
    }

    /// Breaks `link`; the servers in `tell` hear of it after a short delay.
    fn break_link(&mut self, link: LinkId, tell: &[usize]) {
        let Some(state) = self.links.get_mut(&link) else {
            return;
        };
        if !state.open {
            return;
        }
        state.open = false;
        for &index in tell {
            if self.nodes[index].peer.is_some() {
                let at = self.now + self.rng.range(1, 50);
                let incarnation = self.nodes[index].incarnation;
                self.schedule(
                    at,
                    Scheduled::Deliver {
                        node: index,
                        incarnation,
                        event: Event::LinkClosed { link },
                    },
                );
            }
        }
    }

    fn sync_stream(
        &mut self,
        node: usize,
        link: LinkId,
        kind: SyncKind,
        upto: Zxid,
    ) -> Result<(), String> {
        let n = &self.nodes[node];
        let (preamble, after) = match kind {
            SyncKind::Diff { after } => (Message::Diff, after),
            SyncKind::Trunc { to } => {
                self.report.truncations += 1;
                (Message::Trunc { to }, to)
            }
            SyncKind::Snap => {
                self.report.snapshot_syncs += 1;
                let base = n.last_applied();
                let state = encode_state(&n.state);
                (Message::Snap { base, state }, base)
            }
        };
        if after < n.disk.snapshot_base && after < upto {
            return Err(format!(
                "leader {} asked to stream from {after}, below its snapshot {}",
                n.id, n.disk.snapshot_base
            ));
        }
        let entries: Vec<Entry> = n
            .disk
            .log
            .iter()
            .filter(|(z, _)| *z > after && *z <= upto)
            .cloned()
            .collect();
        let line = format!(
            "server {} syncs {} with {kind:?} up to {upto}",
            n.id, link.follower
        );
        self.note(line);
        self.send_on_link(node, link, preamble);
        for (zxid, data) in entries {
            self.send_on_link(node, link, Message::Proposal { zxid, data });
        }
        Ok(())
    }

    fn start_sync(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        if n.disk.syncing || n.disk.durable_len == n.disk.log.len() {
            return;
        }
        n.disk.syncing = true;
        let covered = n.disk.log.len();
        let generation = n.disk.generation;
        let incarnation = n.incarnation;
        let at = self.now + self.rng.range(1, 20);
        self.schedule(
            at,
            Scheduled::SyncDone {
                node,
                incarnation,
                generation,
                covered,
            },
        );
    }

    fn verify_prefix(&mut self, node: usize) -> Result<(), String> {
        let n = &mut self.nodes[node];
        for index in n.verified..n.state.len() {
            let (zxid, data) = &n.state[index];
            match self.committed.get(index) {
                Some((committed, committed_data)) => {
                    if committed != zxid || committed_data != data {
                        return Err(format!(
                            "server {} applied {zxid} at position {index}, where {committed} \
                             was committed",
                            n.id
                        ));
                    }
                }
                None => self.committed.push((*zxid, Arc::clone(data))),
            }
        }
        n.verified = n.state.len();
        Ok(())
    }

    fn check_leader_holds_all(&mut self, node: usize) -> Result<(), String> {
        let n = &self.nodes[node];
        if n.state.len() < self.committed.len() {
            return Err(format!(
                "leader {} established with {} transactions; {} were committed (last {})",
                n.id,
                n.state.len(),
                self.committed.len(),
                self.committed.last().map_or(Zxid::NONE, |(z, _)| *z)
            ));
        }
        self.nodes[node].verified = 0;
        self.verify_prefix(node)
    }

    fn check_invariants(&mut self) -> Result<(), String> {
        let mut digests: BTreeMap<Zxid, (ServerId, u64)> = BTreeMap::new();
        for n in &self.nodes {
            let Some(peer) = &n.peer else { continue };
            if let Some(violation) = peer.violations().first() {
                return Err(format!("server {}: {violation}", n.id));
            }
            if peer.applied() != n.last_applied() {
                return Err(format!(
                    "server {}: the core says applied {}, the state machine is at {}",
                    n.id,
                    peer.applied(),
                    n.last_applied()
                ));
            }
            match digests.get(&n.last_applied()) {
                Some((other, digest)) if *digest != n.digest => {
                    return Err(format!(
                        "servers {other} and {} applied up to {} with different digests",
                        n.id,
                        n.last_applied()
                    ));
                }
                _ => {
                    digests.insert(n.last_applied(), (n.id, n.digest));
                }
            }
        }
        Ok(())
    }

    fn check_settled(&self) -> Result<(), String> {
        let mut summary = String::new();
        for n in &self.nodes {
            if let Some(peer) = &n.peer {
                let _ = write!(
                    summary,
                    " [{}: {:?} leader {:?} serving {}]",
                    n.id,
                    peer.state(),
                    peer.leader(),
                    peer.serving()
                );
                if std::env::var("ZAB_SIM_DEBUG").is_ok() {
                    let _ = write!(summary, "\n{peer:?}\n");
                }
            }
        }
        let leaders: Vec<&Node> = self
            .nodes
            .iter()
            .filter(|n| {
                n.peer
                    .as_ref()
                    .is_some_and(|p| p.state() == PeerState::Leading)
            })
            .collect();
        let [leader] = leaders.as_slice() else {
            return Err(format!("not exactly one leader after settling:{summary}"));
        };
        for n in &self.nodes {
            let Some(peer) = &n.peer else {
                return Err(format!("server {} is down after settling", n.id));
            };
            if !peer.serving() || peer.leader() != Some(leader.id) {
                return Err(format!("not everyone follows one leader:{summary}"));
            }
        }
        Ok(())
    }

    fn inject_fault(&mut self) -> Result<(), String> {
        let count = self.nodes.len();
        let index = self.rng.range(0, count as u64 - 1) as usize;
        match self.rng.range(0, 99) {
            0..=15 => {
                if self.nodes[index].peer.is_some() {
                    self.crash(index);
                }
            }
            16..=19 => {
                // A power cut: several servers at the same instant, unsynced writes lost.
                self.note("power cut".to_owned());
                for node in 0..count {
                    if self.nodes[node].peer.is_some() && self.rng.percent(60) {
                        self.crash(node);
                    }
                }
            }
            20..=44 => {
                if self.nodes[index].peer.is_none() {
                    self.restart(index)?;
                }
            }
            45..=52 => {
                for node in 0..count {
                    self.nodes[node].group = u8::from(self.rng.percent(50));
                }
                let groups: Vec<u8> = self.nodes.iter().map(|n| n.group).collect();
                self.note(format!("partition {groups:?}"));
                let crossing: Vec<LinkId> = self
                    .links
                    .iter()
                    .filter(|(link, state)| {
                        state.open
                            && !self.connected(
                                Self::index_of(link.follower),
                                Self::index_of(link.leader),
                            )
                    })
                    .map(|(link, _)| *link)
                    .collect();
                for link in crossing {
                    // Silence: nobody is told; timeouts find out.
                    self.break_link(link, &[]);
                }
            }
            53..=64 => {
                self.note("heal".to_owned());
                for node in &mut self.nodes {
                    node.group = 0;
                }
            }
            65..=79 => {
                let open: Vec<LinkId> = self
                    .links
                    .iter()
                    .filter(|(_, s)| s.open)
                    .map(|(l, _)| *l)
                    .collect();
                if !open.is_empty() {
                    let link = open[self.rng.range(0, open.len() as u64 - 1) as usize];
                    self.note(format!("break link {link:?}"));
                    let tell = [Self::index_of(link.follower), Self::index_of(link.leader)];
                    self.break_link(link, &tell);
                }
            }
            _ => self.compact(index)?,
        }
        Ok(())
    }

    fn crash(&mut self, index: usize) {
        self.report.crashes += 1;
        let keep_extra = {
            let disk = &self.nodes[index].disk;
            let unsynced = (disk.log.len() - disk.durable_len) as u64;
            self.rng.range(0, unsynced) as usize
        };
        let n = &mut self.nodes[index];
        n.peer = None;
        n.incarnation += 1;
        let keep = n.disk.durable_len + keep_extra;
        n.disk.log.truncate(keep);
        n.disk.durable_len = keep;
        n.disk.generation += 1;
        n.disk.syncing = false;
        n.state.clear();
        n.verified = 0;
        let id = n.id;
        self.note(format!("crash server {id} (log keeps {keep} records)"));
        let touching: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(link, state)| state.open && (link.follower == id || link.leader == id))
            .map(|(link, _)| *link)
            .collect();
        for link in touching {
            let other = if link.follower == id {
                link.leader
            } else {
                link.follower
            };
            // A crashed process's connections are reset: the other side hears at once.
            self.break_link(link, &[Self::index_of(other)]);
        }
    }

    fn restart(&mut self, index: usize) -> Result<(), String> {
        let seed = self.rng.next();
        let config = self.peer_config(self.nodes[index].id);
        let now = self.now;
        let n = &mut self.nodes[index];
        n.state = n.disk.snapshot_state.clone();
        n.state.extend(n.disk.log.iter().cloned());
        n.recompute_digest();
        n.verified = 0;
        let history = History::from_zxids(n.disk.snapshot_base, n.disk.log.iter().map(|(z, _)| *z))
            .map_err(|e| format!("server {} restarts with a broken log: {e}", n.id))?;
        let disk = DiskState {
            accepted_epoch: n.disk.accepted_epoch,
            current_epoch: n.disk.current_epoch,
            applied: n.last_applied(),
            history,
        };
        n.peer = Some(Peer::new(config, disk, now, seed));
        let incarnation = n.incarnation;
        let id = n.id;
        self.note(format!("start server {id}"));
        let actions = self.nodes[index]
            .peer
            .as_mut()
            .map(Peer::take_actions)
            .unwrap_or_default();
        self.execute(index, actions)?;
        self.schedule(
            now + TICK_EVERY_MS,
            Scheduled::Tick {
                node: index,
                incarnation,
            },
        );
        Ok(())
    }

    fn compact(&mut self, index: usize) -> Result<(), String> {
        let Some(peer) = &self.nodes[index].peer else {
            return Ok(());
        };
        let n = &self.nodes[index];
        let base = peer.safe_snapshot_zxid().min(n.disk.durable_zxid());
        if base <= n.disk.snapshot_base {
            return Ok(());
        }
        let cut = n.state.partition_point(|(z, _)| *z <= base);
        if cut == 0 || n.state[cut - 1].0 != base {
            return Err(format!(
                "server {}: snapshot point {base} is not in the applied state",
                n.id
            ));
        }
        let snapshot: Vec<Entry> = n.state[..cut].to_vec();
        let n = &mut self.nodes[index];
        let dropped = n.disk.log.partition_point(|(z, _)| *z <= base);
        n.disk.log.drain(..dropped);
        n.disk.durable_len -= dropped;
        n.disk.snapshot_base = base;
        n.disk.snapshot_state = snapshot;
        let id = n.id;
        self.note(format!("server {id} snapshots at {base}"));
        self.handle(index, Event::LogCompacted { base })
    }
}

fn encode_state(state: &[Entry]) -> Arc<[u8]> {
    let mut out = Vec::new();
    for (zxid, data) in state {
        out.extend_from_slice(&zxid.0.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
    }
    out.into()
}

fn decode_state(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (head, tail) = rest
            .split_at_checked(12)
            .ok_or("a snapshot entry is cut short")?;
        let zxid = u64::from_le_bytes(head[..8].try_into().map_err(|_| "bad zxid")?);
        let len = u32::from_le_bytes(head[8..].try_into().map_err(|_| "bad length")?) as usize;
        let (data, tail) = tail
            .split_at_checked(len)
            .ok_or("a snapshot entry's data is cut short")?;
        entries.push((Zxid(zxid), Arc::from(data)));
        rest = tail;
    }
    Ok(entries)
}

//! A server in an ensemble: the ZAB core ([`crate::zab::peer`]) driven over the real network
//! ([`crate::zab::transport`]), the real log and snapshots, and the server's apply thread.
//!
//! One driver thread feeds the core its events (messages, log durability, ticks) and carries
//! out its actions in order. Client writes reach the core from the connections:
//! - on the established leader, `submit` prepares the transaction (checks, ACLs, the
//!   outstanding-changes overlay) and proposes it;
//! - on a follower, `submit` forwards the request to the leader ([`forward`]), which prepares
//!   and proposes it; the follower answers its client when it applies the transaction with the
//!   client's session and xid.
//!
//! Every server applies committed transactions in zxid order on its apply thread, so watches
//! fire and reads are served locally. Sessions are global: followers report which sessions
//! are alive, and only the leader expires them (a `closeSession` transaction, like any write).
//!
//! A server that stops serving (its leader is gone, or it lost its quorum) closes its client
//! connections, as ZooKeeper does; clients reconnect, to it or another server, with their
//! sessions.

pub mod forward;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use zk_engine::Zxid;

use crate::auth::Identity;
use crate::config::ServerConfig;
use crate::server::{Origin, Server, SubmitError};
use crate::zab::epoch_file::{self, Epochs};
use crate::zab::history::History;
use crate::zab::message::{LinkId, Message, PeerState, ServerId};
use crate::zab::peer::{Action, DiskState, Event, Peer, PeerConfig, SyncKind};
use crate::zab::transport::{Incoming, PeerAddress, Transport};
use forward::Forward;
use zk_engine::tree::prepare::Request as WriteRequest;

/// Why the ensemble could not start.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    /// The configuration does not describe an ensemble this server is in.
    #[error("{0}")]
    Config(String),
    /// The epoch file is unreadable or damaged.
    #[error(transparent)]
    Epochs(#[from] epoch_file::EpochFileError),
    /// The log could not be read.
    #[error("cannot read the log to learn its history: {0}")]
    Log(#[from] zk_engine::Error),
    /// The log's zxids are not contiguous.
    #[error("the log's history is broken: {0}")]
    History(#[from] crate::zab::history::NotContiguous),
    /// The quorum or election port could not be bound.
    #[error("cannot listen on the quorum or election port: {0}")]
    Listen(#[from] std::io::Error),
}

/// Where this server stands, for the four-letter words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Looking, following or leading.
    pub state: PeerState,
    /// The leader, if known.
    pub leader: Option<ServerId>,
    /// Whether clients are served.
    pub serving: bool,
    /// The current epoch.
    pub epoch: u32,
    /// Followers synced with this leader.
    pub synced_followers: usize,
    /// Voters in the ensemble.
    pub voters: usize,
}

enum DriverEvent {
    Net(Incoming),
    Durable { zxid: Zxid, generation: u64 },
    LogFailed(String),
    Tick,
}

/// The replication side of a server in an ensemble.
pub struct Replication {
    my_id: ServerId,
    core: Mutex<Peer>,
    transport: Transport,
    data_dir: PathBuf,
    epochs: Mutex<Epochs>,
    events: mpsc::UnboundedSender<DriverEvent>,
    serving: AtomicBool,
    status: Mutex<Status>,
    /// Local requests waiting for their transaction, by (session id, cxid).
    origins: Mutex<HashMap<(i64, i32), Origin>>,
    /// Clients' `sync`s waiting for the leader's answer, by id.
    syncs: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<Zxid>>>,
    next_sync: AtomicU64,
    /// The last zxid handed to the apply thread.
    dispatched: AtomicU64,
    /// Bumped by truncations and snapshot installs: older durability reports are stale.
    log_generation: AtomicU64,
    started: Instant,
    tick_ms: u64,
    last_touch: Mutex<Instant>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ensemble's members from `server.N` lines, and this server's id from `myid`.
pub fn members(
    config: &ServerConfig,
) -> Result<(ServerId, BTreeMap<ServerId, PeerAddress>), EnsembleError> {
    let my_id = config.my_id.ok_or_else(|| {
        EnsembleError::Config(format!(
            "zoo.cfg lists servers but {} has no myid: write this server's number N (of \
             server.N) into it",
            config.data_dir.join("myid").display()
        ))
    })?;
    let mut peers = BTreeMap::new();
    for server in &config.servers {
        if server.observer {
            return Err(EnsembleError::Config(format!(
                "server.{} is an observer; observers are not supported yet",
                server.id
            )));
        }
        let resolve = |port: u16| {
            use std::net::ToSocketAddrs;
            (server.host.as_str(), port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addresses| addresses.next())
                .ok_or_else(|| {
                    EnsembleError::Config(format!(
                        "server.{}: cannot resolve {}:{port}",
                        server.id, server.host
                    ))
                })
        };
        peers.insert(
            server.id,
            PeerAddress {
                quorum: resolve(server.quorum_port)?,
                election: resolve(server.election_port)?,
            },
        );
    }
    if !peers.contains_key(&my_id) {
        return Err(EnsembleError::Config(format!(
            "myid says {my_id}, but zoo.cfg has no server.{my_id} line"
        )));
    }
    Ok((my_id, peers))
}

impl Replication {
    /// Reads the epochs and the log's history, binds the quorum and election ports, and starts
    /// the driver: the server begins by electing a leader.
    pub async fn start(server: &Arc<Server>) -> Result<Arc<Replication>, EnsembleError> {
        let config = &server.config;
        let (my_id, peers) = members(config)?;
        let epochs = epoch_file::load(&config.data_dir)?;
        let base = server.database().recovered_snapshot_end();
        let mut zxids = Vec::new();
        for record in server.log().read_from(Zxid(base.0.saturating_add(1)))? {
            zxids.push(record?.zxid);
        }
        let history = History::from_zxids(base, zxids)?;
        let applied = server.last_applied_zxid();
        log::info!(
            "ensemble member {my_id} of {}: epochs accepted {} current {}, log {}..={} after \
             snapshot {base}, tree at {applied}",
            peers.len(),
            epochs.accepted,
            epochs.current,
            history.base(),
            history.last()
        );
        let voters: Vec<ServerId> = peers.keys().copied().collect();
        let tick_ms = u64::from(config.tick_time_ms.max(1));
        let peer_config = PeerConfig {
            id: my_id,
            voters: voters.clone(),
            tick_ms,
            init_limit: config.init_limit.max(1),
            sync_limit: config.sync_limit.max(1),
            finalize_wait_ms: 100,
            notify_interval_ms: 200,
        };
        let disk = DiskState {
            accepted_epoch: epochs.accepted,
            current_epoch: epochs.current,
            history,
            applied,
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let core = Peer::new(peer_config, disk, 0, seed);
        let (incoming_sender, mut incoming) = mpsc::unbounded_channel();
        let transport = Transport::start(my_id, peers, incoming_sender).await?;
        let (events, mut receiver) = mpsc::unbounded_channel();
        let replication = Arc::new(Replication {
            my_id,
            core: Mutex::new(core),
            transport,
            data_dir: config.data_dir.clone(),
            epochs: Mutex::new(epochs),
            events: events.clone(),
            serving: AtomicBool::new(false),
            status: Mutex::new(Status {
                state: PeerState::Looking,
                leader: None,
                serving: false,
                epoch: epochs.current,
                synced_followers: 0,
                voters: voters.len(),
            }),
            origins: Mutex::new(HashMap::new()),
            syncs: Mutex::new(HashMap::new()),
            next_sync: AtomicU64::new(1),
            dispatched: AtomicU64::new(applied.0),
            log_generation: AtomicU64::new(0),
            started: Instant::now(),
            tick_ms,
            last_touch: Mutex::new(Instant::now()),
        });
        let net_events = events.clone();
        tokio::spawn(async move {
            while let Some(message) = incoming.recv().await {
                if net_events.send(DriverEvent::Net(message)).is_err() {
                    break;
                }
            }
        });
        let tick_events = events;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis((tick_ms / 4).max(5)));
            loop {
                ticker.tick().await;
                if tick_events.send(DriverEvent::Tick).is_err() {
                    break;
                }
            }
        });
        let driver = Arc::clone(&replication);
        let driver_server = Arc::clone(server);
        std::thread::Builder::new()
            .name("zk-zab".into())
            .spawn(move || {
                {
                    let mut core = lock(&driver.core);
                    let actions = core.take_actions();
                    driver.execute(&driver_server, &mut core, actions);
                }
                while let Some(event) = receiver.blocking_recv() {
                    driver.on_event(&driver_server, event);
                }
            })?;
        Ok(replication)
    }

    /// This server's id.
    pub fn my_id(&self) -> ServerId {
        self.my_id
    }

    /// Whether clients may be served.
    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Whether this server is the serving leader (it expires sessions and reaps containers).
    pub fn is_serving_leader(&self) -> bool {
        self.serving() && lock(&self.status).state == PeerState::Leading
    }

    /// Where this server stands.
    pub fn status(&self) -> Status {
        *lock(&self.status)
    }

    /// Stops talking to the other servers.
    pub fn shutdown(&self) {
        self.transport.shutdown();
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// A client write on this server: proposed here when leading, forwarded when following.
    pub fn submit(
        &self,
        server: &Server,
        session_id: i64,
        cxid: i32,
        request: &WriteRequest,
        identity: Option<&Identity>,
        origin: Origin,
    ) -> Result<(), SubmitError> {
        if !self.serving() {
            return Err(SubmitError::NotServing);
        }
        let mut core = lock(&self.core);
        if let Some(zxid) = core.next_zxid() {
            let txn = server.prepare_write(zxid, session_id, cxid, request, identity);
            let data: Arc<[u8]> = zk_engine::txn::encode(&txn).into();
            if !matches!(origin, Origin::Internal) {
                lock(&self.origins).insert((session_id, cxid), origin);
            }
            match core.propose(self.now(), data) {
                Ok(proposed) if proposed == zxid => {}
                Ok(proposed) => {
                    let message =
                        format!("the ZAB core proposed {proposed} where {zxid} was prepared");
                    server.fail(&message);
                    return Err(SubmitError::NotServing);
                }
                Err(_) => {
                    lock(&self.origins).remove(&(session_id, cxid));
                    return Err(SubmitError::NotServing);
                }
            }
            let actions = core.take_actions();
            self.execute(server, &mut core, actions);
            return Ok(());
        }
        let Some(link) = core.leader_link() else {
            return Err(SubmitError::NotServing);
        };
        drop(core);
        if !matches!(origin, Origin::Internal) {
            lock(&self.origins).insert((session_id, cxid), origin);
        }
        let payload = forward::encode(&Forward::Write {
            session_id,
            cxid,
            identity: identity.cloned(),
            request: request.clone(),
        });
        self.transport.send(
            link,
            Message::Forward {
                payload: payload.into(),
            },
        );
        Ok(())
    }

    /// A client's `sync`: resolves with a zxid this server must have applied before it
    /// answers (the leader's committed zxid when the sync reached it); `None` when not serving.
    pub fn sync(&self) -> Option<tokio::sync::oneshot::Receiver<Zxid>> {
        if !self.serving() {
            return None;
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let core = lock(&self.core);
        if core.state() == PeerState::Leading {
            let _ = sender.send(core.committed());
            return Some(receiver);
        }
        let link = core.leader_link()?;
        drop(core);
        let id = self.next_sync.fetch_add(1, Ordering::Relaxed);
        lock(&self.syncs).insert(id, sender);
        let payload = forward::encode(&Forward::Sync { id });
        self.transport.send(
            link,
            Message::Forward {
                payload: payload.into(),
            },
        );
        Some(receiver)
    }

    fn on_event(&self, server: &Server, event: DriverEvent) {
        let event = match event {
            DriverEvent::Net(Incoming::Link {
                link,
                message: Message::Forward { payload },
            }) => {
                self.on_forward(server, link, &payload);
                return;
            }
            DriverEvent::Net(Incoming::Link {
                link,
                message: Message::Reply { payload },
            }) => {
                match forward::decode_reply(&payload) {
                    Ok(forward::Reply::SyncDone { id, zxid }) => {
                        if let Some(waiting) = lock(&self.syncs).remove(&id) {
                            let _ = waiting.send(zxid);
                        }
                    }
                    Err(err) => log::warn!("leader {} replied garbage: {err}", link.leader),
                }
                return;
            }
            DriverEvent::Net(Incoming::Vote { from, message }) => Event::Vote { from, message },
            DriverEvent::Net(Incoming::Link { link, message }) => Event::Link { link, message },
            DriverEvent::Net(Incoming::LinkClosed { link }) => Event::LinkClosed { link },
            DriverEvent::Durable { zxid, generation } => {
                if generation != self.log_generation.load(Ordering::Acquire) {
                    return;
                }
                Event::LogDurable { zxid }
            }
            DriverEvent::LogFailed(reason) => {
                server.fail(&format!("the transaction log failed: {reason}"));
                return;
            }
            DriverEvent::Tick => {
                self.touch_sessions(server);
                Event::Tick
            }
        };
        let mut core = lock(&self.core);
        core.handle(self.now(), event);
        let actions = core.take_actions();
        self.execute(server, &mut core, actions);
        let mut status = lock(&self.status);
        status.epoch = core.current_epoch();
        status.synced_followers = core.synced_followers().len();
    }

    /// Leader: a follower's forwarded write or session report.
    fn on_forward(&self, server: &Server, link: LinkId, payload: &[u8]) {
        match forward::decode(payload) {
            Ok(Forward::Write {
                session_id,
                cxid,
                identity,
                request,
            }) => {
                if let Err(err) = self.submit(
                    server,
                    session_id,
                    cxid,
                    &request,
                    identity.as_ref(),
                    Origin::Internal,
                ) {
                    log::warn!(
                        "dropping a write forwarded by server {}: {err}",
                        link.follower
                    );
                }
            }
            Ok(Forward::Sync { id }) => {
                // Sent after every commit this link carried so far: once the follower has
                // applied up to `zxid`, it has seen every write committed before the sync.
                let zxid = lock(&self.core).committed();
                let payload = forward::encode_reply(&forward::Reply::SyncDone { id, zxid });
                self.transport.send(
                    link,
                    Message::Reply {
                        payload: payload.into(),
                    },
                );
            }
            Ok(Forward::Touch { sessions }) => {
                let mut tracker = server.sessions();
                for session in sessions {
                    tracker.touch(session);
                }
            }
            Err(err) => log::warn!("server {} forwarded garbage: {err}", link.follower),
        }
    }

    /// Follower: tells the leader, once a tick, which sessions were heard from here.
    fn touch_sessions(&self, server: &Server) {
        {
            let mut last = lock(&self.last_touch);
            if last.elapsed() < Duration::from_millis(self.tick_ms) {
                return;
            }
            *last = Instant::now();
        }
        let status = self.status();
        if !status.serving || status.state != PeerState::Following {
            return;
        }
        let Some(link) = lock(&self.core).leader_link() else {
            return;
        };
        let sessions = server.live_local_sessions();
        if sessions.is_empty() {
            return;
        }
        let payload = forward::encode(&Forward::Touch { sessions });
        self.transport.send(
            link,
            Message::Forward {
                payload: payload.into(),
            },
        );
    }

    fn execute(&self, server: &Server, core: &mut Peer, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::SendVote { to, message } => self.transport.send_vote(to, message),
                Action::OpenLink { link } => self.transport.open_link(link),
                Action::Send { link, message } => self.transport.send(link, message),
                Action::CloseLink { link } => self.transport.close_link(link),
                Action::PersistAcceptedEpoch(epoch) => {
                    let mut epochs = lock(&self.epochs);
                    epochs.accepted = epoch;
                    self.store_epochs(server, *epochs);
                }
                Action::PersistCurrentEpoch(epoch) => {
                    let mut epochs = lock(&self.epochs);
                    epochs.current = epoch;
                    self.store_epochs(server, *epochs);
                }
                Action::Append { zxid, data } => self.append(server, zxid, &data),
                Action::Truncate { after } => {
                    self.wait_applied(server);
                    self.log_generation.fetch_add(1, Ordering::AcqRel);
                    if let Err(err) = server.database().truncate_after(after) {
                        server.fail(&format!("cannot truncate the log after {after}: {err}"));
                        return;
                    }
                    self.dispatched
                        .store(server.last_applied_zxid().0, Ordering::Release);
                }
                Action::InstallSnapshot { base, state } => {
                    self.wait_applied(server);
                    self.log_generation.fetch_add(1, Ordering::AcqRel);
                    match server.database().install_snapshot(&state) {
                        Ok(zxid) if zxid == base => {}
                        Ok(zxid) => {
                            server.fail(&format!(
                                "the leader's snapshot is at {zxid}, its message said {base}"
                            ));
                            return;
                        }
                        Err(err) => {
                            server.fail(&format!("cannot install the leader's snapshot: {err}"));
                            return;
                        }
                    }
                    server.restore_sessions_from_tree();
                    self.dispatched.store(base.0, Ordering::Release);
                }
                Action::Apply { zxid, data } => self.apply(server, zxid, &data),
                Action::SyncStream { link, kind, upto } => {
                    self.sync_stream(server, link, kind, upto);
                }
                Action::RoleChanged {
                    state,
                    leader,
                    serving,
                } => self.role_changed(server, core, state, leader, serving),
            }
        }
    }

    fn store_epochs(&self, server: &Server, epochs: Epochs) {
        if let Err(err) = epoch_file::store(&self.data_dir, epochs) {
            server.fail(&format!(
                "cannot persist the epochs in {}: {err}",
                self.data_dir.display()
            ));
        }
    }

    fn append(&self, server: &Server, zxid: Zxid, data: &[u8]) {
        let generation = self.log_generation.load(Ordering::Acquire);
        let events = self.events.clone();
        let appended = server.log().append_with(
            zxid,
            data.to_vec(),
            Box::new(move |durable| {
                let _ = events.send(match durable {
                    Ok(zxid) => DriverEvent::Durable { zxid, generation },
                    Err(err) => DriverEvent::LogFailed(err.to_string()),
                });
            }),
        );
        if let Err(err) = appended {
            server.fail(&format!("the log refused zxid {zxid}: {err}"));
        }
    }

    fn apply(&self, server: &Server, zxid: Zxid, data: &[u8]) {
        let txn = match zk_engine::txn::decode(data) {
            Ok(txn) => txn,
            Err(err) => {
                server.fail(&format!(
                    "committed transaction {zxid} does not decode: {err}"
                ));
                return;
            }
        };
        let key = (txn.header.session_id, txn.header.cxid);
        let origin = lock(&self.origins).remove(&key).unwrap_or(Origin::Internal);
        server.dispatch_committed(txn, data.len(), origin);
        self.dispatched.store(zxid.0, Ordering::Release);
    }

    /// Waits until the apply thread has applied everything handed to it.
    fn wait_applied(&self, server: &Server) {
        let target = Zxid(self.dispatched.load(Ordering::Acquire));
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.last_applied_zxid() < target {
            if Instant::now() > deadline {
                server.fail(&format!(
                    "the apply thread did not reach zxid {target} within a minute"
                ));
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Leader: sends a follower the preamble and the logged proposals up to `upto`.
    fn sync_stream(&self, server: &Server, link: LinkId, kind: SyncKind, upto: Zxid) {
        let log = server.log();
        // The log holds every record after this zxid.
        let log_from = log
            .segments()
            .first()
            .map_or_else(|| log.last_zxid(), |segment| segment.prev_zxid);
        let (preamble, after) = match kind {
            SyncKind::Diff { after } if after >= log_from => (Message::Diff, after),
            SyncKind::Trunc { to } if to >= log_from => (Message::Trunc { to }, to),
            _ => {
                // Too far behind for the log, or the core chose a snapshot: no transaction is
                // applied while it is taken (this thread holds the core), so it is not fuzzy.
                self.wait_applied(server);
                match server.database().snapshot_bytes() {
                    Ok((base, bytes)) => (
                        Message::Snap {
                            base,
                            state: bytes.into(),
                        },
                        base,
                    ),
                    Err(err) => {
                        log::error!("cannot snapshot for server {}: {err}", link.follower);
                        self.transport.close_link(link);
                        return;
                    }
                }
            }
        };
        log::info!(
            "syncing server {} with {} (from the log up to {upto}, newer proposals from memory)",
            link.follower,
            match &preamble {
                Message::Diff => format!("a diff after {after}"),
                Message::Trunc { to } => format!("a truncation to {to}"),
                _ => format!("a snapshot at {after}"),
            }
        );
        self.transport.send(link, preamble);
        if after < upto {
            if let Err(err) = self.stream_log(server, link, after, upto) {
                log::error!(
                    "cannot read the log to sync server {}: {err}",
                    link.follower
                );
                self.transport.close_link(link);
            }
        }
    }

    /// Sends the logged proposals after `after` up to `upto` on `link`.
    fn stream_log(
        &self,
        server: &Server,
        link: LinkId,
        after: Zxid,
        upto: Zxid,
    ) -> zk_engine::Result<()> {
        for record in server.log().read_from(Zxid(after.0 + 1))? {
            let record = record?;
            if record.zxid > upto {
                break;
            }
            self.transport.send(
                link,
                Message::Proposal {
                    zxid: record.zxid,
                    data: record.payload.into(),
                },
            );
        }
        Ok(())
    }

    fn role_changed(
        &self,
        server: &Server,
        core: &Peer,
        state: PeerState,
        leader: Option<ServerId>,
        serving: bool,
    ) {
        {
            let mut status = lock(&self.status);
            status.state = state;
            status.leader = leader;
            status.serving = serving;
            status.epoch = core.current_epoch();
        }
        let was_serving = self.serving();
        if serving && !was_serving {
            self.wait_applied(server);
            if state == PeerState::Leading {
                // Every session gets a full timeout under the new leader.
                server.touch_all_sessions();
            }
            self.serving.store(true, Ordering::Release);
            log::info!(
                "serving clients as {} of epoch {} (leader {})",
                if state == PeerState::Leading {
                    "leader"
                } else {
                    "follower"
                },
                core.current_epoch(),
                leader.unwrap_or(self.my_id)
            );
        } else if !serving && was_serving {
            self.serving.store(false, Ordering::Release);
            log::warn!("not serving clients any more: {state:?}");
            lock(&self.origins).clear();
            lock(&self.syncs).clear();
            server.close_client_connections();
            server.reset_pending_changes();
        } else if !serving {
            log::info!("{state:?} (leader {leader:?})");
        }
    }
}

//! The ZAB state machine of one server: events in, actions out, no I/O and no clock of its own.
//!
//! A driver feeds it [`Event`]s (a message arrived, a link closed, the log became durable up to
//! a zxid, a tick) with the current time, and carries out the [`Action`]s it returns, **in
//! order**, before the next event: persisting an epoch before the message that relies on it is
//! sent, for one. Log appends are the exception: they complete later, reported by
//! [`Event::LogDurable`]. The same core runs under the real network and disk and under the
//! deterministic simulation in [`super::sim`].
//!
//! The protocol is ZooKeeper's: fast leader election on (epoch, zxid, id); then discovery (the
//! leader collects a quorum's accepted epochs and proposes a higher one); synchronisation (each
//! follower gets a diff, a truncation or a snapshot, then NEWLEADER, which it acknowledges once
//! its log is durable); and broadcast (proposals, cumulative acknowledgements of durable log
//! positions, commits on a quorum). The whole history of a leader is committed once a quorum has
//! acknowledged NEWLEADER.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use zk_engine::Zxid;

mod election;
mod follower;
mod leader;

use super::history::History;
use super::message::{LinkId, Message, PeerState, ServerId, Vote};

/// Timing and membership.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// This server's id.
    pub id: ServerId,
    /// The voting members, this server included.
    pub voters: Vec<ServerId>,
    /// `tickTime` in milliseconds.
    pub tick_ms: u64,
    /// `initLimit`: ticks a follower may take to connect and sync.
    pub init_limit: u32,
    /// `syncLimit`: ticks a follower may fall silent once synced.
    pub sync_limit: u32,
    /// How long an election waits for a better vote once a quorum agrees (ZooKeeper: 200 ms).
    pub finalize_wait_ms: u64,
    /// How often a looking server re-sends its vote.
    pub notify_interval_ms: u64,
}

impl PeerConfig {
    /// How many voters make a quorum.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}

/// What a server finds on its disk at start.
#[derive(Clone, Debug)]
pub struct DiskState {
    /// The highest epoch accepted (LEADERINFO seen).
    pub accepted_epoch: u32,
    /// The epoch of the last leader whose NEWLEADER was acknowledged.
    pub current_epoch: u32,
    /// The zxids in the log.
    pub history: History,
    /// The zxid the state machine was rebuilt to (after replay: the history's last).
    pub applied: Zxid,
}

/// Something that happened to the server.
#[derive(Clone, Debug)]
pub enum Event {
    /// Time passed (the driver ticks a few times per `tickTime`).
    Tick,
    /// An election message from another voter.
    Vote {
        /// The sender.
        from: ServerId,
        /// The notification.
        message: Message,
    },
    /// A message on a follower–leader link.
    Link {
        /// The link it came on.
        link: LinkId,
        /// The message.
        message: Message,
    },
    /// A link broke or the other side closed it.
    LinkClosed {
        /// The link.
        link: LinkId,
    },
    /// The log is durable up to `zxid`.
    LogDurable {
        /// The last durable zxid.
        zxid: Zxid,
    },
    /// The driver took a snapshot at `base` and dropped the log up to it.
    LogCompacted {
        /// The snapshot's zxid.
        base: Zxid,
    },
}

/// How the leader brings a follower's log in line with its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncKind {
    /// Send `Diff`, then the proposals after `after`.
    Diff {
        /// The follower's last zxid, which the leader holds.
        after: Zxid,
    },
    /// Send `Trunc { to }`, then the proposals after `to`.
    Trunc {
        /// Where the follower's log and the leader's agree.
        to: Zxid,
    },
    /// Send a snapshot of the state, then the proposals after its base.
    Snap,
}

/// Something the driver must do, in order.
#[derive(Clone, Debug)]
pub enum Action {
    /// Send an election message (best effort: it may be lost).
    SendVote {
        /// The voter to send to.
        to: ServerId,
        /// The notification.
        message: Message,
    },
    /// Open a link to the leader (`link.leader`). Messages sent on it arrive in order or the
    /// link breaks.
    OpenLink {
        /// The new link.
        link: LinkId,
    },
    /// Send on a link.
    Send {
        /// The link.
        link: LinkId,
        /// The message.
        message: Message,
    },
    /// Close a link.
    CloseLink {
        /// The link.
        link: LinkId,
    },
    /// Persist the accepted epoch (atomically, durably) before doing anything else.
    PersistAcceptedEpoch(u32),
    /// Persist the current epoch (atomically, durably) before doing anything else.
    PersistCurrentEpoch(u32),
    /// Append a proposal to the log; report [`Event::LogDurable`] when it is durable.
    Append {
        /// Its zxid.
        zxid: Zxid,
        /// The encoded transaction.
        data: Arc<[u8]>,
    },
    /// Drop every log record after `after`; if the state machine has applied past `after`,
    /// rebuild it to exactly `after`.
    Truncate {
        /// The last zxid kept.
        after: Zxid,
    },
    /// Replace the state machine and the log with this snapshot (durably), the log empty
    /// after `base`.
    InstallSnapshot {
        /// The zxid the snapshot's replay starts after.
        base: Zxid,
        /// The snapshot, as the leader's driver encoded it.
        state: Arc<[u8]>,
    },
    /// Apply a committed transaction to the state machine (in zxid order).
    Apply {
        /// Its zxid.
        zxid: Zxid,
        /// The encoded transaction.
        data: Arc<[u8]>,
    },
    /// Leader: send on `link` the sync preamble for `kind` (`Diff`, `Trunc`, or `Snap` with
    /// the state) and then, as `Proposal`s, the logged transactions after the preamble's point
    /// up to `upto`, read from the log. The core sends what follows `upto` itself.
    SyncStream {
        /// The follower's link.
        link: LinkId,
        /// How to sync it.
        kind: SyncKind,
        /// The last zxid to read from the log.
        upto: Zxid,
    },
    /// The role changed, or started or stopped serving clients.
    RoleChanged {
        /// The new state.
        state: PeerState,
        /// The leader, when following or leading.
        leader: Option<ServerId>,
        /// Whether clients may be served (the ensemble is established with this server in it).
        serving: bool,
    },
}

/// Why a proposal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// Only an established leader proposes.
    #[error("this server is not an established leader")]
    NotLeader,
    /// The epoch's counter is exhausted: a new election is needed.
    #[error("the epoch's zxid counter is exhausted")]
    EpochExhausted,
}

#[derive(Debug)]
struct Looking {
    /// Votes of looking peers in this round, this server's own included.
    votes: BTreeMap<ServerId, Vote>,
    /// Votes of peers that already follow or lead, with their state.
    decided: BTreeMap<ServerId, (Vote, PeerState)>,
    /// When to settle for the current vote, if a quorum backs it.
    decide_at: Option<u64>,
    next_notify: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FollowPhase {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovery,
    /// ACKEPOCH sent, receiving the sync.
    Syncing,
    /// NEWLEADER seen, waiting for UPTODATE.
    Synced,
    /// Serving.
    Broadcast,
}

#[derive(Debug)]
struct Following {
    leader: ServerId,
    link: LinkId,
    phase: FollowPhase,
    epoch: u32,
    last_heard: u64,
    /// After NEWLEADER: acknowledge it once durable up to here.
    newleader_upto: Option<Zxid>,
    /// NEWLEADER acknowledged: every durable advance is acknowledged.
    acking: bool,
    /// The link closed before LEADERINFO (the leader may not have decided yet): open a new
    /// one at this time.
    reconnect_at: Option<u64>,
    /// Connection attempts so far: the retry delay doubles from 20 ms up to a tick.
    attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeadPhase {
    /// Collecting FOLLOWERINFO from a quorum.
    Discovery,
    /// LEADERINFO sent, collecting ACKEPOCH from a quorum.
    EpochAck,
    /// Syncs sent, collecting NEWLEADER acknowledgements from a quorum.
    Sync,
    /// Established: proposing and committing.
    Broadcast,
}

#[derive(Debug)]
struct Learner {
    link: LinkId,
    accepted_epoch: u32,
    /// From ACKEPOCH: the follower's last zxid and snapshot zxid.
    history: Option<(Zxid, Zxid)>,
    /// The sync and NEWLEADER were sent: proposals and commits go to it.
    forwarding: bool,
    /// NEWLEADER acknowledged: its acknowledgements count.
    synced: bool,
    acked: Zxid,
    last_heard: u64,
}

#[derive(Debug)]
struct Leading {
    phase: LeadPhase,
    epoch: u32,
    learners: BTreeMap<ServerId, Learner>,
    since: u64,
    next_ping: u64,
}

#[derive(Debug)]
enum Role {
    Looking(Looking),
    Following(Following),
    Leading(Leading),
}

/// The ZAB state of one server. See the module documentation.
#[derive(Debug)]
pub struct Peer {
    config: PeerConfig,
    accepted_epoch: u32,
    current_epoch: u32,
    history: History,
    durable: Zxid,
    applied: Zxid,
    /// The highest zxid known committed in this server's history.
    committed: Zxid,
    /// The data of logged transactions after `min(applied, durable)`: still to apply, or still
    /// to be read back for a sync before the log has them.
    pending: VecDeque<(Zxid, Arc<[u8]>)>,
    role: Role,
    round: u64,
    vote: Vote,
    now: u64,
    rng: u64,
    actions: Vec<Action>,
    violations: Vec<String>,
}

impl Peer {
    /// A server starting up: it looks for a leader. `seed` makes its link nonces.
    pub fn new(config: PeerConfig, disk: DiskState, now: u64, seed: u64) -> Peer {
        let vote = Vote {
            leader: config.id,
            zxid: disk.history.last(),
            epoch: disk.current_epoch,
        };
        let mut peer = Peer {
            durable: disk.history.last(),
            applied: disk.applied,
            committed: Zxid::NONE,
            accepted_epoch: disk.accepted_epoch,
            current_epoch: disk.current_epoch,
            history: disk.history,
            pending: VecDeque::new(),
            role: Role::Looking(Looking {
                votes: BTreeMap::new(),
                decided: BTreeMap::new(),
                decide_at: None,
                next_notify: now,
            }),
            round: 0,
            vote,
            now,
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
            actions: Vec::new(),
            violations: Vec::new(),
            config,
        };
        peer.start_looking();
        peer
    }

    /// Takes the actions produced so far.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Handles one event at time `now` (milliseconds, any origin, never going back).
    pub fn handle(&mut self, now: u64, event: Event) {
        self.now = self.now.max(now);
        match event {
            Event::Tick => self.on_tick(),
            Event::Vote { from, message } => self.on_vote(from, message),
            Event::Link { link, message } => {
                if link.leader == self.config.id {
                    self.on_leader_link(link, message);
                } else {
                    self.on_follower_link(link, message);
                }
            }
            Event::LinkClosed { link } => self.on_link_closed(link),
            Event::LogDurable { zxid } => self.on_durable(zxid),
            Event::LogCompacted { base } => {
                if base <= self.durable.min(self.applied) && base > self.history.base() {
                    self.history.compact(base);
                } else if base > self.history.base() {
                    self.violation(format!(
                        "compacted at {base} beyond durable {} / applied {}",
                        self.durable, self.applied
                    ));
                }
            }
        }
    }

    /// Leader only: proposes a transaction; returns its zxid. It is applied (an
    /// [`Action::Apply`]) once a quorum has it durable.
    pub fn propose(&mut self, now: u64, data: Arc<[u8]>) -> Result<Zxid, ProposeError> {
        self.now = self.now.max(now);
        let Role::Leading(leading) = &self.role else {
            return Err(ProposeError::NotLeader);
        };
        if leading.phase != LeadPhase::Broadcast {
            return Err(ProposeError::NotLeader);
        }
        let zxid = self.history.next_in(leading.epoch);
        if zxid.counter() == u32::MAX {
            return Err(ProposeError::EpochExhausted);
        }
        if let Err(err) = self.history.append(zxid) {
            self.violation(format!("leader cannot extend its own log: {err}"));
            return Err(ProposeError::NotLeader);
        }
        self.pending.push_back((zxid, Arc::clone(&data)));
        self.actions.push(Action::Append {
            zxid,
            data: Arc::clone(&data),
        });
        let message = Message::Proposal { zxid, data };
        self.send_to_forwarding(&message);
        Ok(zxid)
    }

    /// This server's state.
    pub fn state(&self) -> PeerState {
        match self.role {
            Role::Looking(_) => PeerState::Looking,
            Role::Following(_) => PeerState::Following,
            Role::Leading(_) => PeerState::Leading,
        }
    }

    /// The leader followed or this server when leading.
    pub fn leader(&self) -> Option<ServerId> {
        match &self.role {
            Role::Looking(_) => None,
            Role::Following(following) => Some(following.leader),
            Role::Leading(_) => Some(self.config.id),
        }
    }

    /// Whether clients may be served: an established leader, or a follower that got UPTODATE.
    pub fn serving(&self) -> bool {
        match &self.role {
            Role::Looking(_) => false,
            Role::Following(following) => following.phase == FollowPhase::Broadcast,
            Role::Leading(leading) => leading.phase == LeadPhase::Broadcast,
        }
    }

    /// The zxid the next [`Peer::propose`] will get, when this server is an established
    /// leader.
    pub fn next_zxid(&self) -> Option<Zxid> {
        match &self.role {
            Role::Leading(leading) if leading.phase == LeadPhase::Broadcast => {
                Some(self.history.next_in(leading.epoch))
            }
            _ => None,
        }
    }

    /// The link to the leader, when following.
    pub fn leader_link(&self) -> Option<LinkId> {
        match &self.role {
            Role::Following(following) => Some(following.link),
            _ => None,
        }
    }

    /// The voters synced with this leader (this server included), for `mntr` and `stat`.
    pub fn synced_followers(&self) -> Vec<ServerId> {
        match &self.role {
            Role::Leading(leading) => leading
                .learners
                .iter()
                .filter(|(_, learner)| learner.synced)
                .map(|(id, _)| *id)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The current epoch.
    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }

    /// The accepted epoch.
    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    /// The zxids in the log.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The last zxid applied to the state machine.
    pub fn applied(&self) -> Zxid {
        self.applied
    }

    /// The highest zxid known committed.
    pub fn committed(&self) -> Zxid {
        self.committed
    }

    /// The last durable zxid.
    pub fn durable(&self) -> Zxid {
        self.durable
    }

    /// The highest zxid a snapshot may cover: applied, committed and durable. A snapshot past
    /// it could hold a transaction a new leader truncates.
    pub fn safe_snapshot_zxid(&self) -> Zxid {
        self.applied.min(self.committed).min(self.durable)
    }

    /// Internal contradictions seen (a message that breaks the protocol): the simulation
    /// requires none.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    fn violation(&mut self, what: String) {
        log::error!("server {}: ZAB protocol violation: {what}", self.config.id);
        self.violations.push(what);
    }

    fn quorum(&self) -> usize {
        self.config.quorum()
    }

    fn is_voter(&self, id: ServerId) -> bool {
        self.config.voters.contains(&id)
    }

    fn next_nonce(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn role_changed(&mut self) {
        self.actions.push(Action::RoleChanged {
            state: self.state(),
            leader: self.leader(),
            serving: self.serving(),
        });
    }

    // ---- shared ----

    fn apply_upto(&mut self, zxid: Zxid) {
        for (logged, data) in &self.pending {
            if *logged > zxid {
                break;
            }
            if *logged > self.applied {
                self.actions.push(Action::Apply {
                    zxid: *logged,
                    data: Arc::clone(data),
                });
                self.applied = *logged;
            }
        }
        if self.applied < zxid {
            self.violation(format!(
                "cannot apply up to {zxid}: no data after {}",
                self.applied
            ));
        }
        self.trim_pending();
    }

    fn trim_pending(&mut self) {
        let keep_after = self.applied.min(self.durable);
        while self
            .pending
            .front()
            .is_some_and(|(zxid, _)| *zxid <= keep_after)
        {
            self.pending.pop_front();
        }
    }

    fn on_durable(&mut self, zxid: Zxid) {
        if zxid <= self.durable || !self.history.contains(zxid) {
            return; // stale: from before a truncation, or already known
        }
        self.durable = zxid;
        self.trim_pending();
        match &self.role {
            Role::Following(_) => self.follower_acknowledge(),
            Role::Leading(leading) => match leading.phase {
                LeadPhase::Sync => self.check_newleader_acks(),
                LeadPhase::Broadcast => self.try_commit(),
                _ => {}
            },
            Role::Looking(_) => {}
        }
    }

    fn on_link_closed(&mut self, link: LinkId) {
        match &mut self.role {
            Role::Following(following)
                if following.link == link && following.phase == FollowPhase::Discovery =>
            {
                // The chosen leader may still be finishing its election: try again shortly,
                // within initLimit, as ZooKeeper's followers do.
                let delay = (20u64 << following.attempts.min(16)).min(self.config.tick_ms);
                following.attempts += 1;
                following.reconnect_at = Some(self.now + delay);
            }
            Role::Following(following) if following.link == link => {
                log::info!(
                    "server {}: the link to leader {} closed; electing again",
                    self.config.id,
                    link.leader
                );
                self.start_looking();
            }
            Role::Leading(leading)
                if leading
                    .learners
                    .get(&link.follower)
                    .is_some_and(|l| l.link == link) =>
            {
                leading.learners.remove(&link.follower);
                self.check_leader_quorum();
            }
            _ => {}
        }
    }

    fn check_leader_quorum(&mut self) {
        let quorum = self.quorum();
        if let Role::Leading(leading) = &self.role {
            if leading.phase == LeadPhase::Broadcast {
                let synced = leading.learners.values().filter(|l| l.synced).count();
                if synced + 1 < quorum {
                    log::warn!(
                        "server {}: fewer than a quorum of followers are synced; electing again",
                        self.config.id
                    );
                    self.start_looking();
                }
            }
        }
    }

    fn on_tick(&mut self) {
        let now = self.now;
        let tick = self.config.tick_ms;
        let init_timeout = tick * u64::from(self.config.init_limit);
        let sync_timeout = tick * u64::from(self.config.sync_limit);
        match &mut self.role {
            Role::Looking(looking) => {
                if now >= looking.next_notify {
                    looking.next_notify = now + self.config.notify_interval_ms;
                    self.broadcast_vote();
                }
                if let Role::Looking(looking) = &self.role {
                    if looking.decide_at.is_some_and(|at| now >= at) {
                        let vote = self.vote;
                        self.decide(vote);
                    }
                }
            }
            Role::Following(following) => {
                if following.reconnect_at.is_some_and(|at| now >= at) {
                    following.reconnect_at = None;
                    let old = following.link;
                    let link = LinkId {
                        nonce: self.next_nonce(),
                        ..old
                    };
                    if let Role::Following(following) = &mut self.role {
                        following.link = link;
                    }
                    self.connect_to_leader(link);
                    return;
                }
                let Role::Following(following) = &self.role else {
                    return;
                };
                let limit = if following.phase == FollowPhase::Broadcast {
                    sync_timeout
                } else {
                    init_timeout
                };
                if now.saturating_sub(following.last_heard) > limit {
                    log::warn!(
                        "server {}: nothing from leader {} for {} ms; electing again",
                        self.config.id,
                        following.leader,
                        now - following.last_heard
                    );
                    self.start_looking();
                }
            }
            Role::Leading(leading) => {
                if leading.phase != LeadPhase::Broadcast
                    && now.saturating_sub(leading.since) > init_timeout
                {
                    log::warn!(
                        "server {}: no quorum synced within initLimit; electing again",
                        self.config.id
                    );
                    self.start_looking();
                    return;
                }
                let mut silent = Vec::new();
                for (id, learner) in &leading.learners {
                    let limit = if learner.synced {
                        sync_timeout
                    } else {
                        init_timeout
                    };
                    if now.saturating_sub(learner.last_heard) > limit {
                        silent.push((*id, learner.link));
                    }
                }
                for (id, link) in silent {
                    leading.learners.remove(&id);
                    self.actions.push(Action::CloseLink { link });
                }
                let Role::Leading(leading) = &mut self.role else {
                    return;
                };
                if now >= leading.next_ping {
                    leading.next_ping = now + (tick / 2).max(1);
                    let links: Vec<LinkId> = leading.learners.values().map(|l| l.link).collect();
                    for link in links {
                        self.actions.push(Action::Send {
                            link,
                            message: Message::Ping,
                        });
                    }
                }
                self.check_leader_quorum();
            }
        }
    }
}

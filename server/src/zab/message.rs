//! What ZAB servers say to each other: votes during election, and what travels on a link
//! between a follower and its leader. The byte layout is in `PROTOCOL.md` beside this file.

use std::sync::Arc;

use zk_engine::Zxid;

/// A server's id: N of `server.N`, the number in `myid`.
pub type ServerId = u64;

/// Where a server stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerState {
    /// Electing a leader.
    Looking,
    /// Following a leader.
    Following,
    /// Leading.
    Leading,
}

/// A vote for a leader: the candidate, the last zxid it holds and its current epoch. Votes are
/// ranked by (epoch, zxid, id), as ZooKeeper's fast leader election ranks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The candidate.
    pub leader: ServerId,
    /// The last zxid in the candidate's log.
    pub zxid: Zxid,
    /// The candidate's current (acknowledged) epoch.
    pub epoch: u32,
}

impl Vote {
    fn rank(&self) -> (u32, Zxid, ServerId) {
        (self.epoch, self.zxid, self.leader)
    }

    /// Whether `self` ranks above `other`.
    pub fn beats(&self, other: &Vote) -> bool {
        self.rank() > other.rank()
    }
}

/// One connection between a follower and a leader. A follower opens a new link (a fresh nonce)
/// each time it starts to follow, so nothing from an older connection is taken for this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId {
    /// The follower that opened it.
    pub follower: ServerId,
    /// The leader it connects to.
    pub leader: ServerId,
    /// Chosen at random by the follower.
    pub nonce: u64,
}

/// A message between servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Election: the sender's vote, election round and state.
    Notification {
        /// The sender's current vote (its leader's, once decided).
        vote: Vote,
        /// The sender's election round.
        round: u64,
        /// The sender's state.
        state: PeerState,
    },
    /// Follower to leader, first on a link: the follower's accepted epoch and last zxid.
    FollowerInfo {
        /// The highest epoch the follower has accepted.
        accepted_epoch: u32,
        /// The follower's last logged zxid.
        last_zxid: Zxid,
    },
    /// Leader to follower: the epoch the leader proposes.
    LeaderInfo {
        /// The new epoch.
        epoch: u32,
    },
    /// Follower to leader: the new epoch is accepted; here is the follower's history.
    AckEpoch {
        /// The follower's current epoch (before this leader).
        current_epoch: u32,
        /// The follower's last logged zxid.
        last_zxid: Zxid,
        /// The zxid of the follower's newest snapshot: it cannot truncate below it.
        snapshot_zxid: Zxid,
    },
    /// Leader to follower: the proposals that follow extend the follower's log as it is.
    Diff,
    /// Leader to follower: drop everything after `to`, then take the proposals that follow.
    Trunc {
        /// The last zxid to keep.
        to: Zxid,
    },
    /// Leader to follower: replace the state with this snapshot, then take the proposals that
    /// follow (those at or below `base` are already in it).
    Snap {
        /// The zxid the snapshot's replay starts after.
        base: Zxid,
        /// The snapshot, as the state machine encodes it.
        state: Arc<[u8]>,
    },
    /// A transaction to log.
    Proposal {
        /// Its zxid.
        zxid: Zxid,
        /// The encoded transaction.
        data: Arc<[u8]>,
    },
    /// Every proposal up to `zxid` is committed: apply them.
    Commit {
        /// The last committed zxid.
        zxid: Zxid,
    },
    /// Leader to follower: the sync is complete up to `last_zxid`; the follower takes `epoch` as
    /// its current epoch.
    NewLeader {
        /// The leader's epoch.
        epoch: u32,
        /// The leader's last zxid when the sync was sent.
        last_zxid: Zxid,
    },
    /// Follower to leader: everything the sync sent is durable, up to `zxid`.
    AckNewLeader {
        /// The follower's durable zxid.
        zxid: Zxid,
    },
    /// Leader to follower: the ensemble is established; serve clients.
    UpToDate,
    /// Follower to leader: the log is durable up to `zxid` (acknowledges every proposal up to it).
    Ack {
        /// The follower's durable zxid.
        zxid: Zxid,
    },
    /// Leader to follower: are you there?
    Ping,
    /// Follower to leader: yes.
    Pong,
    /// Follower to leader, for the server layer (a forwarded client request, session
    /// liveness, a sync request); the ZAB core never sees it.
    Forward {
        /// Encoded by the server layer.
        payload: Arc<[u8]>,
    },
    /// Leader to follower, for the server layer (the answer to a forward); the ZAB core never
    /// sees it.
    Reply {
        /// Encoded by the server layer.
        payload: Arc<[u8]>,
    },
}

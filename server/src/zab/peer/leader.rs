//! Leading: discovery of a new epoch from a quorum, syncing each follower (diff, truncation or
//! snapshot, then NEWLEADER), establishment, proposals and commits on a quorum of durable
//! acknowledgements.

use std::collections::BTreeMap;
use std::sync::Arc;

use zk_engine::Zxid;

use super::{Action, LeadPhase, Leading, Learner, Peer, Role, SyncKind};
use crate::zab::message::{LinkId, Message, ServerId};

impl Peer {
    pub(super) fn become_leader(&mut self) {
        self.role = Role::Leading(Leading {
            phase: LeadPhase::Discovery,
            epoch: 0,
            learners: BTreeMap::new(),
            since: self.now,
            next_ping: self.now,
        });
        self.role_changed();
        self.check_discovery();
    }

    pub(super) fn on_leader_link(&mut self, link: LinkId, message: Message) {
        let now = self.now;
        let Role::Leading(leading) = &mut self.role else {
            // Not leading: whoever connected must elect again.
            self.actions.push(Action::CloseLink { link });
            return;
        };
        if let Message::FollowerInfo {
            accepted_epoch,
            last_zxid: _,
        } = message
        {
            if !self.config.voters.contains(&link.follower) {
                self.actions.push(Action::CloseLink { link });
                return;
            }
            let old = leading.learners.insert(
                link.follower,
                Learner {
                    link,
                    accepted_epoch,
                    history: None,
                    forwarding: false,
                    synced: false,
                    acked: Zxid::NONE,
                    last_heard: now,
                },
            );
            if let Some(old) = old.filter(|old| old.link != link) {
                self.actions.push(Action::CloseLink { link: old.link });
            }
            if leading.phase == LeadPhase::Discovery {
                self.check_discovery();
            } else {
                let epoch = leading.epoch;
                self.actions.push(Action::Send {
                    link,
                    message: Message::LeaderInfo { epoch },
                });
            }
            return;
        }
        let Some(learner) = leading.learners.get_mut(&link.follower) else {
            self.actions.push(Action::CloseLink { link });
            return;
        };
        if learner.link != link {
            return; // an older connection of this follower
        }
        learner.last_heard = now;
        let phase = leading.phase;
        match message {
            Message::AckEpoch {
                current_epoch,
                last_zxid,
                snapshot_zxid,
            } => {
                if (current_epoch, last_zxid) > (self.current_epoch, self.history.last()) {
                    log::warn!(
                        "server {}: follower {} is ahead (epoch {current_epoch}, zxid \
                         {last_zxid}); electing again",
                        self.config.id,
                        link.follower
                    );
                    self.start_looking();
                    return;
                }
                learner.history = Some((last_zxid, snapshot_zxid));
                match phase {
                    LeadPhase::EpochAck => self.check_epoch_acks(),
                    LeadPhase::Sync | LeadPhase::Broadcast => self.sync_learner(link.follower),
                    LeadPhase::Discovery => {
                        self.violation("ACKEPOCH before LEADERINFO".to_owned());
                    }
                }
            }
            Message::AckNewLeader { zxid } => {
                if !learner.forwarding || learner.synced {
                    self.violation(format!("unexpected NEWLEADER ack from {}", link.follower));
                    return;
                }
                learner.synced = true;
                learner.acked = zxid;
                match phase {
                    LeadPhase::Sync => self.check_newleader_acks(),
                    LeadPhase::Broadcast => {
                        self.actions.push(Action::Send {
                            link,
                            message: Message::UpToDate,
                        });
                        self.try_commit();
                    }
                    _ => self.violation(format!("NEWLEADER ack in phase {phase:?}")),
                }
            }
            Message::Ack { zxid } => {
                if !learner.synced {
                    self.violation(format!("ACK before NEWLEADER from {}", link.follower));
                    return;
                }
                learner.acked = learner.acked.max(zxid);
                self.try_commit();
            }
            Message::Pong => {}
            other => self.violation(format!("a leader got {other:?} from a follower")),
        }
    }

    pub(super) fn check_discovery(&mut self) {
        let quorum = self.quorum();
        let Role::Leading(leading) = &mut self.role else {
            return;
        };
        if leading.phase != LeadPhase::Discovery || leading.learners.len() + 1 < quorum {
            return;
        }
        let highest = leading
            .learners
            .values()
            .map(|l| l.accepted_epoch)
            .fold(self.accepted_epoch, u32::max);
        let epoch = highest + 1;
        leading.epoch = epoch;
        leading.phase = LeadPhase::EpochAck;
        let links: Vec<LinkId> = leading.learners.values().map(|l| l.link).collect();
        self.accepted_epoch = epoch;
        self.actions.push(Action::PersistAcceptedEpoch(epoch));
        for link in links {
            self.actions.push(Action::Send {
                link,
                message: Message::LeaderInfo { epoch },
            });
        }
        self.check_epoch_acks();
    }

    pub(super) fn check_epoch_acks(&mut self) {
        let quorum = self.quorum();
        let Role::Leading(leading) = &mut self.role else {
            return;
        };
        let acked = leading
            .learners
            .values()
            .filter(|l| l.history.is_some())
            .count();
        if leading.phase != LeadPhase::EpochAck || acked + 1 < quorum {
            return;
        }
        leading.phase = LeadPhase::Sync;
        let ready: Vec<ServerId> = leading
            .learners
            .iter()
            .filter(|(_, l)| l.history.is_some())
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            self.sync_learner(id);
        }
        self.check_newleader_acks();
    }

    /// Sends a follower what it lacks, then NEWLEADER; from then on it gets every proposal and
    /// commit.
    pub(super) fn sync_learner(&mut self, id: ServerId) {
        let Role::Leading(leading) = &mut self.role else {
            return;
        };
        let epoch = leading.epoch;
        let broadcasting = leading.phase == LeadPhase::Broadcast;
        let Some(learner) = leading.learners.get_mut(&id) else {
            return;
        };
        let Some((last_zxid, snapshot_zxid)) = learner.history else {
            return;
        };
        if learner.forwarding {
            return;
        }
        learner.forwarding = true;
        let link = learner.link;
        let kind = if self.history.contains(last_zxid) {
            SyncKind::Diff { after: last_zxid }
        } else {
            match self.history.floor(last_zxid) {
                Some(to) if to >= snapshot_zxid => SyncKind::Trunc { to },
                _ => SyncKind::Snap,
            }
        };
        // The log holds everything up to `floor`; newer data is still in `pending`.
        let floor = self.applied.min(self.durable).max(self.history.base());
        let start = match kind {
            SyncKind::Diff { after } => after,
            SyncKind::Trunc { to } => to,
            SyncKind::Snap => floor,
        };
        self.actions.push(Action::SyncStream {
            link,
            kind,
            upto: floor,
        });
        let from = start.max(floor);
        for (zxid, data) in &self.pending {
            if *zxid > from {
                self.actions.push(Action::Send {
                    link,
                    message: Message::Proposal {
                        zxid: *zxid,
                        data: Arc::clone(data),
                    },
                });
            }
        }
        self.actions.push(Action::Send {
            link,
            message: Message::NewLeader {
                epoch,
                last_zxid: self.history.last(),
            },
        });
        if broadcasting {
            self.actions.push(Action::Send {
                link,
                message: Message::Commit {
                    zxid: self.committed,
                },
            });
        }
    }

    pub(super) fn check_newleader_acks(&mut self) {
        let quorum = self.quorum();
        // The leader counts itself once its own log is durable; only then does it take the
        // new epoch as current (as a follower does before acknowledging NEWLEADER).
        let own_durable = self.durable >= self.history.last();
        let Role::Leading(leading) = &mut self.role else {
            return;
        };
        let synced = leading.learners.values().filter(|l| l.synced).count();
        if leading.phase != LeadPhase::Sync || !own_durable || synced + 1 < quorum {
            return;
        }
        leading.phase = LeadPhase::Broadcast;
        let epoch = leading.epoch;
        let established = self.history.last();
        let links: Vec<(LinkId, bool)> = leading
            .learners
            .values()
            .filter(|l| l.forwarding)
            .map(|l| (l.link, l.synced))
            .collect();
        self.current_epoch = epoch;
        self.actions.push(Action::PersistCurrentEpoch(epoch));
        self.committed = self.committed.max(established);
        self.apply_upto(established);
        for (link, synced) in links {
            self.actions.push(Action::Send {
                link,
                message: Message::Commit { zxid: established },
            });
            if synced {
                self.actions.push(Action::Send {
                    link,
                    message: Message::UpToDate,
                });
            }
        }
        self.role_changed();
    }

    /// Commits up to the highest zxid a quorum holds durably.
    pub(super) fn try_commit(&mut self) {
        let quorum = self.quorum();
        let Role::Leading(leading) = &self.role else {
            return;
        };
        if leading.phase != LeadPhase::Broadcast {
            return;
        }
        let mut acks: Vec<Zxid> = leading
            .learners
            .values()
            .filter(|l| l.synced)
            .map(|l| l.acked)
            .collect();
        acks.push(self.durable);
        if acks.len() < quorum {
            return;
        }
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let agreed = acks[quorum - 1].min(self.history.last());
        if agreed <= self.committed {
            return;
        }
        self.committed = agreed;
        self.apply_upto(agreed);
        self.send_to_forwarding(&Message::Commit { zxid: agreed });
    }

    pub(super) fn send_to_forwarding(&mut self, message: &Message) {
        if let Role::Leading(leading) = &self.role {
            for learner in leading.learners.values().filter(|l| l.forwarding) {
                self.actions.push(Action::Send {
                    link: learner.link,
                    message: message.clone(),
                });
            }
        }
    }
}

//! Following: discovery (FOLLOWERINFO, LEADERINFO, ACKEPOCH), the sync the leader sends
//! (DIFF, TRUNC, SNAP, proposals, NEWLEADER), and acknowledging durable log positions.

use std::sync::Arc;

use zk_engine::Zxid;

use super::{Action, FollowPhase, Following, Peer, Role};
use crate::zab::history::History;
use crate::zab::message::{LinkId, Message, ServerId};

impl Peer {
    pub(super) fn become_follower(&mut self, leader: ServerId) {
        let link = LinkId {
            follower: self.config.id,
            leader,
            nonce: self.next_nonce(),
        };
        self.role = Role::Following(Following {
            leader,
            link,
            phase: FollowPhase::Discovery,
            epoch: 0,
            last_heard: self.now,
            newleader_upto: None,
            acking: false,
            reconnect_at: None,
            attempts: 0,
        });
        self.role_changed();
        self.connect_to_leader(link);
    }

    pub(super) fn connect_to_leader(&mut self, link: LinkId) {
        self.actions.push(Action::OpenLink { link });
        let message = Message::FollowerInfo {
            accepted_epoch: self.accepted_epoch,
            last_zxid: self.history.last(),
        };
        self.actions.push(Action::Send { link, message });
    }

    pub(super) fn on_follower_link(&mut self, link: LinkId, message: Message) {
        let Role::Following(following) = &mut self.role else {
            return;
        };
        if following.link != link {
            return;
        }
        following.last_heard = self.now;
        let phase = following.phase;
        match message {
            Message::LeaderInfo { epoch } => {
                if phase != FollowPhase::Discovery {
                    self.violation(format!("LEADERINFO in phase {phase:?}"));
                    return;
                }
                if epoch < self.accepted_epoch {
                    log::warn!(
                        "server {}: leader {} proposes epoch {epoch}, below the accepted {}; \
                         electing again",
                        self.config.id,
                        link.leader,
                        self.accepted_epoch
                    );
                    self.start_looking();
                    return;
                }
                if epoch > self.accepted_epoch {
                    self.accepted_epoch = epoch;
                    self.actions.push(Action::PersistAcceptedEpoch(epoch));
                }
                if let Role::Following(following) = &mut self.role {
                    following.epoch = epoch;
                    following.phase = FollowPhase::Syncing;
                }
                let message = Message::AckEpoch {
                    current_epoch: self.current_epoch,
                    last_zxid: self.history.last(),
                    snapshot_zxid: self.history.base(),
                };
                self.actions.push(Action::Send { link, message });
            }
            Message::Diff => {
                if phase != FollowPhase::Syncing {
                    self.violation(format!("DIFF in phase {phase:?}"));
                }
            }
            Message::Trunc { to } => {
                if phase != FollowPhase::Syncing {
                    self.violation(format!("TRUNC in phase {phase:?}"));
                    return;
                }
                if to < self.history.base() || to < self.committed {
                    self.violation(format!(
                        "TRUNC to {to} below the snapshot {} or the committed {}",
                        self.history.base(),
                        self.committed
                    ));
                    self.start_looking();
                    return;
                }
                self.history.truncate(to);
                self.pending.retain(|(zxid, _)| *zxid <= to);
                self.durable = self.durable.min(to);
                self.applied = self.applied.min(to);
                self.actions.push(Action::Truncate { after: to });
            }
            Message::Snap { base, state } => {
                if phase != FollowPhase::Syncing {
                    self.violation(format!("SNAP in phase {phase:?}"));
                    return;
                }
                self.history = History::new(base);
                self.pending.clear();
                self.durable = base;
                self.applied = base;
                self.actions.push(Action::InstallSnapshot { base, state });
            }
            Message::Proposal { zxid, data } => self.follower_proposal(phase, zxid, data),
            Message::NewLeader { epoch, last_zxid } => {
                let expected = match &self.role {
                    Role::Following(following) => following.epoch,
                    _ => return,
                };
                if phase != FollowPhase::Syncing || epoch != expected {
                    self.violation(format!("NEWLEADER {epoch} in phase {phase:?}"));
                    return;
                }
                if last_zxid != self.history.last() {
                    self.violation(format!(
                        "NEWLEADER says the sync ends at {last_zxid}, the log ends at {}",
                        self.history.last()
                    ));
                    self.start_looking();
                    return;
                }
                // The new current epoch is persisted in `follower_acknowledge`, once the
                // synced log is durable: a server that took the epoch with its log not yet
                // durable could win an election after a crash with the history it lost.
                if let Role::Following(following) = &mut self.role {
                    following.phase = FollowPhase::Synced;
                    following.newleader_upto = Some(last_zxid);
                }
                self.follower_acknowledge();
            }
            Message::Commit { zxid } => {
                if zxid > self.history.last() {
                    self.violation(format!(
                        "COMMIT {zxid} beyond the log's last {}",
                        self.history.last()
                    ));
                    self.start_looking();
                    return;
                }
                self.committed = self.committed.max(zxid);
                self.apply_upto(zxid);
            }
            Message::UpToDate => {
                if phase != FollowPhase::Synced {
                    self.violation(format!("UPTODATE in phase {phase:?}"));
                    return;
                }
                if let Role::Following(following) = &mut self.role {
                    following.phase = FollowPhase::Broadcast;
                }
                self.role_changed();
            }
            Message::Ping => {
                self.actions.push(Action::Send {
                    link,
                    message: Message::Pong,
                });
            }
            other => self.violation(format!("a follower got {other:?} from its leader")),
        }
    }

    pub(super) fn follower_proposal(&mut self, phase: FollowPhase, zxid: Zxid, data: Arc<[u8]>) {
        if phase == FollowPhase::Discovery {
            self.violation(format!("PROPOSAL {zxid} before the epoch was agreed"));
            return;
        }
        if zxid <= self.history.base() {
            return; // already in the snapshot
        }
        if zxid <= self.history.last() {
            if !self.history.contains(zxid) {
                self.violation(format!("PROPOSAL {zxid} conflicts with the log"));
                self.start_looking();
            }
            return;
        }
        if let Err(err) = self.history.append(zxid) {
            self.violation(format!("PROPOSAL does not extend the log: {err}"));
            self.start_looking();
            return;
        }
        self.pending.push_back((zxid, Arc::clone(&data)));
        self.actions.push(Action::Append { zxid, data });
    }

    /// Acknowledges NEWLEADER once durable up to the sync's end, and every durable advance
    /// after that.
    pub(super) fn follower_acknowledge(&mut self) {
        let durable = self.durable;
        let Role::Following(following) = &mut self.role else {
            return;
        };
        let link = following.link;
        if following.acking {
            self.actions.push(Action::Send {
                link,
                message: Message::Ack { zxid: durable },
            });
        } else if following.newleader_upto.is_some_and(|upto| durable >= upto) {
            following.acking = true;
            let epoch = following.epoch;
            self.current_epoch = epoch;
            self.actions.push(Action::PersistCurrentEpoch(epoch));
            self.actions.push(Action::Send {
                link,
                message: Message::AckNewLeader { zxid: durable },
            });
        }
    }
}

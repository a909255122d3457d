//! Fast leader election: votes ranked by (current epoch, last zxid, id), rounds, the finalize
//! wait, and joining a leader that a quorum already follows.

use std::collections::BTreeMap;

use super::{Action, Looking, Peer, Role};
use crate::zab::message::{LinkId, Message, PeerState, ServerId, Vote};

impl Peer {
    pub(super) fn own_vote(&self) -> Vote {
        Vote {
            leader: self.config.id,
            zxid: self.history.last(),
            epoch: self.current_epoch,
        }
    }

    pub(super) fn notification(&self) -> Message {
        Message::Notification {
            vote: self.vote,
            round: self.round,
            state: self.state(),
        }
    }

    pub(super) fn broadcast_vote(&mut self) {
        let message = self.notification();
        for &to in &self.config.voters {
            if to != self.config.id {
                self.actions.push(Action::SendVote {
                    to,
                    message: message.clone(),
                });
            }
        }
    }

    pub(super) fn start_looking(&mut self) {
        match &self.role {
            Role::Following(following) => {
                let link = following.link;
                self.actions.push(Action::CloseLink { link });
            }
            Role::Leading(leading) => {
                let links: Vec<LinkId> = leading.learners.values().map(|l| l.link).collect();
                for link in links {
                    self.actions.push(Action::CloseLink { link });
                }
            }
            Role::Looking(_) => {}
        }
        self.round += 1;
        self.vote = self.own_vote();
        let mut votes = BTreeMap::new();
        votes.insert(self.config.id, self.vote);
        self.role = Role::Looking(Looking {
            votes,
            decided: BTreeMap::new(),
            decide_at: None,
            next_notify: self.now + self.config.notify_interval_ms,
        });
        self.role_changed();
        self.broadcast_vote();
        self.update_decision();
    }

    pub(super) fn update_decision(&mut self) {
        let quorum = self.quorum();
        let now = self.now;
        let wait = self.config.finalize_wait_ms;
        let vote = self.vote;
        if let Role::Looking(looking) = &mut self.role {
            let backing = looking.votes.values().filter(|v| **v == vote).count();
            if backing >= quorum {
                looking.decide_at.get_or_insert(now + wait);
            } else {
                looking.decide_at = None;
            }
        }
    }

    pub(super) fn on_vote(&mut self, from: ServerId, message: Message) {
        let Message::Notification { vote, round, state } = message else {
            self.violation(format!(
                "server {from} sent a non-vote on the election channel"
            ));
            return;
        };
        if from == self.config.id || !self.is_voter(from) {
            return;
        }
        let me = self.config.id;
        if !matches!(self.role, Role::Looking(_)) {
            // A looking peer learns who leads from the answer.
            if state == PeerState::Looking {
                let message = self.notification();
                self.actions.push(Action::SendVote { to: from, message });
            }
            return;
        }
        match state {
            PeerState::Looking => {
                if round > self.round {
                    self.round = round;
                    let own = self.own_vote();
                    self.vote = if vote.beats(&own) { vote } else { own };
                    if let Role::Looking(looking) = &mut self.role {
                        looking.votes.clear();
                        looking.decide_at = None;
                    }
                    self.broadcast_vote();
                } else if round < self.round {
                    let message = self.notification();
                    self.actions.push(Action::SendVote { to: from, message });
                    return;
                } else if vote.beats(&self.vote) {
                    self.vote = vote;
                    if let Role::Looking(looking) = &mut self.role {
                        looking.decide_at = None;
                    }
                    self.broadcast_vote();
                }
                let own = self.vote;
                if let Role::Looking(looking) = &mut self.role {
                    looking.votes.insert(from, vote);
                    looking.votes.insert(me, own);
                }
                self.update_decision();
            }
            PeerState::Following | PeerState::Leading => {
                let quorum = self.quorum();
                let Role::Looking(looking) = &mut self.role else {
                    return;
                };
                looking.decided.insert(from, (vote, state));
                // Followers may have joined in different rounds with different votes for the
                // same leader: count who they follow. Joining a server that is not really
                // leading costs a retry, never safety: discovery decides that.
                let backing = looking
                    .decided
                    .values()
                    .filter(|(v, _)| v.leader == vote.leader)
                    .count();
                let leader_confirms = vote.leader != me
                    && looking
                        .decided
                        .get(&vote.leader)
                        .is_some_and(|(_, s)| *s == PeerState::Leading);
                if backing >= quorum && leader_confirms {
                    self.round = round;
                    self.decide(vote);
                }
            }
        }
    }

    pub(super) fn decide(&mut self, vote: Vote) {
        self.vote = vote;
        if vote.leader == self.config.id {
            self.become_leader();
        } else {
            self.become_follower(vote.leader);
        }
    }
}

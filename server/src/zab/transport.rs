//! Placeholder with the transport's API, replaced by the real module (being written elsewhere).
use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::message::{LinkId, Message, ServerId};

/// A server's quorum and election addresses.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddress {
    /// Leader–follower links.
    pub quorum: SocketAddr,
    /// Election.
    pub election: SocketAddr,
}

/// What arrives from other servers.
#[derive(Debug)]
pub enum Incoming {
    /// A vote.
    Vote {
        /// Sender.
        from: ServerId,
        /// The notification.
        message: Message,
    },
    /// A message on a link.
    Link {
        /// The link.
        link: LinkId,
        /// The message.
        message: Message,
    },
    /// A link closed.
    LinkClosed {
        /// The link.
        link: LinkId,
    },
}

/// Placeholder.
pub struct Transport;

impl Transport {
    /// Placeholder.
    pub async fn start(
        _me: ServerId,
        _peers: BTreeMap<ServerId, PeerAddress>,
        _incoming: tokio::sync::mpsc::UnboundedSender<Incoming>,
    ) -> std::io::Result<Transport> {
        Ok(Transport)
    }
    /// Placeholder.
    pub fn send_vote(&self, _to: ServerId, _message: Message) {}
    /// Placeholder.
    pub fn open_link(&self, _link: LinkId) {}
    /// Placeholder.
    pub fn send(&self, _link: LinkId, _message: Message) {}
    /// Placeholder.
    pub fn close_link(&self, _link: LinkId) {}
    /// Placeholder.
    pub fn shutdown(&self) {}
}

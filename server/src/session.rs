//! Session liveness (ZooKeeper's `SessionTracker`): which sessions exist, when each was last
//! heard from, which connection carries it, and what it has authenticated as. The replicated
//! session table (ids and timeouts) lives in the engine's tree; this is the server's view of it.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};
use tokio::sync::mpsc::UnboundedSender;

use crate::auth::Identity;

/// Messages to a connection's writer.
#[derive(Debug)]
pub enum Outbound {
    /// Bytes of one or more whole frames.
    Frame(Vec<u8>),
    /// Write what is queued, then close the connection.
    Close,
}

/// A connection carrying a session.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    /// Unique per connection.
    pub id: u64,
    /// Where its frames go.
    pub outbound: UnboundedSender<Outbound>,
    /// The client's address.
    pub peer: std::net::SocketAddr,
}

/// One session.
#[derive(Debug)]
pub struct Session {
    /// Negotiated timeout.
    pub timeout: Duration,
    /// When the session was last heard from.
    pub last_active: Instant,
    /// The connection that carries it, if any.
    pub connection: Option<ConnectionHandle>,
    /// What it has authenticated as (kept across reconnects, as ZooKeeper does within a
    /// connection only: a reconnect starts from the new connection's identity).
    pub identity: Option<Identity>,
    /// A close (client or expiry) has been submitted.
    pub closing: bool,
}

/// Every session the server knows.
#[derive(Debug)]
pub struct SessionTracker {
    sessions: HashMap<i64, Session>,
    next_id: i64,
}

impl SessionTracker {
    /// A tracker whose new ids start from the current time (ZooKeeper's
    /// `initializeNextSessionId`): server id in the top byte, milliseconds below, so ids do not
    /// repeat across restarts.
    pub fn new(server_id: u8) -> SessionTracker {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let next_id = ((millis << 24) as u64 >> 8) as i64 | (i64::from(server_id) << 56);
        SessionTracker {
            sessions: HashMap::new(),
            next_id,
        }
    }

    /// A fresh session id.
    pub fn next_session_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Registers a session (new, or known from the tree after a restart).
    pub fn insert(&mut self, id: i64, timeout: Duration, connection: Option<ConnectionHandle>) {
        self.sessions.insert(
            id,
            Session {
                timeout,
                last_active: Instant::now(),
                connection,
                identity: None,
                closing: false,
            },
        );
    }

    /// The session, if it exists.
    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// The session, for changes.
    pub fn get_mut(&mut self, id: i64) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    /// Forgets a session (after its close was applied).
    pub fn remove(&mut self, id: i64) -> Option<Session> {
        self.sessions.remove(&id)
    }

    /// Marks the session as heard from now.
    pub fn touch(&mut self, id: i64) {
        if let Some(session) = self.sessions.get_mut(&id) {
            session.last_active = Instant::now();
        }
    }

    /// Sessions silent for longer than their timeout and not yet closing; marks them closing.
    pub fn take_expired(&mut self, now: Instant) -> Vec<i64> {
        let mut expired = Vec::new();
        for (id, session) in &mut self.sessions {
            if !session.closing && now.duration_since(session.last_active) > session.timeout {
                session.closing = true;
                expired.push(*id);
            }
        }
        expired.sort_unstable();
        expired
    }

    /// Sessions with a connection here that were heard from within their timeout.
    pub fn live_connected(&self, now: Instant) -> Vec<i64> {
        let mut live: Vec<i64> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.connection.is_some() && now.duration_since(s.last_active) <= s.timeout
            })
            .map(|(id, _)| *id)
            .collect();
        live.sort_unstable();
        live
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Every session id with its timeout and connection.
    pub fn all(&self) -> Vec<(i64, Duration, Option<ConnectionHandle>)> {
        let mut all: Vec<(i64, Duration, Option<ConnectionHandle>)> = self
            .sessions
            .iter()
            .map(|(id, s)| (*id, s.timeout, s.connection.clone()))
            .collect();
        all.sort_unstable_by_key(|(id, _, _)| *id);
        all
    }
}

/// The 16-byte password of a session, derived from its id and the server's secret, so that it
/// is the same after a restart (ZooKeeper derives it the same way from a fixed secret).
pub fn session_password(session_id: i64, secret: &[u8]) -> [u8; 16] {
    let mut hasher = Sha1::new();
    hasher.update(secret);
    hasher.update(session_id.to_be_bytes());
    let digest = hasher.finalize();
    let mut password = [0u8; 16];
    for (slot, byte) in password.iter_mut().zip(digest.iter()) {
        *slot = *byte;
    }
    password
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_silent_sessions_once() {
        let mut tracker = SessionTracker::new(0);
        let a = tracker.next_session_id();
        let b = tracker.next_session_id();
        assert_ne!(a, b);
        tracker.insert(a, Duration::from_millis(10), None);
        tracker.insert(b, Duration::from_secs(3600), None);
        let later = Instant::now() + Duration::from_millis(50);
        assert_eq!(tracker.take_expired(later), vec![a]);
        assert!(tracker.take_expired(later).is_empty());
        assert_eq!(tracker.len(), 2);
    }

    #[test]
    fn passwords_depend_on_id_and_secret() {
        assert_eq!(session_password(1, b"s"), session_password(1, b"s"));
        assert_ne!(session_password(1, b"s"), session_password(2, b"s"));
        assert_ne!(session_password(1, b"s"), session_password(1, b"t"));
    }
}

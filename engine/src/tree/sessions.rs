//! The session table: the sessions the replicated history has opened and not yet closed, with
//! their negotiated timeouts. It is part of the replicated state (a snapshot stores it, the log
//! changes it) but it tracks no liveness: expiry is the server's session tracker's job.

use std::collections::BTreeMap;

/// Open sessions by id, ascending (the order a snapshot writes them in).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionTable {
    timeouts_ms: BTreeMap<i64, i32>,
}

impl SessionTable {
    /// An empty table.
    pub fn new() -> SessionTable {
        SessionTable::default()
    }

    /// Records an open session (replacing its timeout if it is already open).
    pub fn open(&mut self, session_id: i64, timeout_ms: i32) {
        self.timeouts_ms.insert(session_id, timeout_ms);
    }

    /// Forgets a session; returns its timeout if it was open.
    pub fn close(&mut self, session_id: i64) -> Option<i32> {
        self.timeouts_ms.remove(&session_id)
    }

    /// The timeout of an open session.
    pub fn timeout_ms(&self, session_id: i64) -> Option<i32> {
        self.timeouts_ms.get(&session_id).copied()
    }

    /// Whether the session is open.
    pub fn contains(&self, session_id: i64) -> bool {
        self.timeouts_ms.contains_key(&session_id)
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.timeouts_ms.len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.timeouts_ms.is_empty()
    }

    /// (session id, timeout ms), by ascending id.
    pub fn iter(&self) -> impl Iterator<Item = (i64, i32)> + '_ {
        self.timeouts_ms.iter().map(|(id, timeout)| (*id, *timeout))
    }
}

//! Counters the four-letter words report (`srvr`, `stat`, `mntr`), reset by `srst`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Server-wide counters.
#[derive(Debug)]
pub struct ServerStats {
    packets_received: AtomicU64,
    packets_sent: AtomicU64,
    writes: AtomicU64,
    notifications: AtomicU64,
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    latency_min_micros: AtomicU64,
    latency_max_micros: AtomicU64,
}

impl Default for ServerStats {
    fn default() -> ServerStats {
        ServerStats {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            notifications: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            latency_sum_micros: AtomicU64::new(0),
            latency_min_micros: AtomicU64::new(u64::MAX),
            latency_max_micros: AtomicU64::new(0),
        }
    }
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Frames read from clients.
    pub packets_received: u64,
    /// Frames written to clients.
    pub packets_sent: u64,
    /// Transactions applied.
    pub writes: u64,
    /// Watch notifications sent.
    pub notifications: u64,
    /// Requests timed.
    pub latency_count: u64,
    /// Their total latency.
    pub latency_sum_micros: u64,
    /// The fastest (0 when none).
    pub latency_min_micros: u64,
    /// The slowest.
    pub latency_max_micros: u64,
}

impl ServerStats {
    /// A frame came in.
    pub fn note_received(&self) {
        self.packets_received.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame went out.
    pub fn note_sent(&self) {
        self.packets_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A transaction was applied.
    pub fn note_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// A notification was queued.
    pub fn note_notification(&self) {
        self.notifications.fetch_add(1, Ordering::Relaxed);
    }

    /// A request was answered after `took`.
    pub fn note_latency(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.latency_min_micros.fetch_min(micros, Ordering::Relaxed);
        self.latency_max_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// `srst`.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency_count.store(0, Ordering::Relaxed);
        self.latency_sum_micros.store(0, Ordering::Relaxed);
        self.latency_min_micros.store(u64::MAX, Ordering::Relaxed);
        self.latency_max_micros.store(0, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let min = self.latency_min_micros.load(Ordering::Relaxed);
        StatsSnapshot {
            packets_received: self.packets_received.load(Ordering::Relaxed),
            packets_sent: self.packets_sent.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            notifications: self.notifications.load(Ordering::Relaxed),
            latency_count: self.latency_count.load(Ordering::Relaxed),
            latency_sum_micros: self.latency_sum_micros.load(Ordering::Relaxed),
            latency_min_micros: if min == u64::MAX { 0 } else { min },
            latency_max_micros: self.latency_max_micros.load(Ordering::Relaxed),
        }
    }
}

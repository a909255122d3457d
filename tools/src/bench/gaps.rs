//! Write availability for `--reconnect` runs: when successful writes stopped and started
//! again, over all sessions together.
//!
//! `benches/compare` kills an ensemble's leader while such a run goes on; the gap in successful
//! writes that spans the kill is the failover time as clients see it. Every successful write
//! reply (create, setData, delete or multi with error code 0) is noted here; a pause of at
//! least [`GAP_RECORDED_MIN`] between two of them is kept, the longest
//! [`GAPS_KEPT_MAX`] of them at most, with wall-clock ends so that a caller can place them
//! beside its own timestamps (the moment it sent SIGKILL).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shorter pauses between successful writes are not recorded.
pub const GAP_RECORDED_MIN: Duration = Duration::from_millis(100);
/// Most gaps kept (the longest ones).
pub const GAPS_KEPT_MAX: usize = 32;
/// Most connection-loss reasons kept, for the report.
pub const LOSS_REASONS_KEPT_MAX: usize = 8;

/// One pause in successful writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The last successful write before it (or the start of the measured window).
    pub from: Instant,
    /// The first successful write after it (or the end of the run when `open`).
    pub to: Instant,
    /// Writes had not resumed when the run ended.
    pub open: bool,
}

impl Gap {
    /// Its length.
    pub fn length(&self) -> Duration {
        self.to.saturating_duration_since(self.from)
    }
}

/// What a `--reconnect` run saw of write availability and connection losses.
#[derive(Debug, Clone)]
pub struct WriteGaps {
    /// Instant and wall-clock time read together, to convert instants to Unix time.
    origin: (Instant, SystemTime),
    /// The last successful write so far (starts at the beginning of the measured window).
    last_success: Instant,
    /// Successful measured writes.
    pub successful_writes: u64,
    /// The longest gaps, longest first, at most [`GAPS_KEPT_MAX`].
    pub gaps: Vec<Gap>,
    /// Connections that failed during the load.
    pub connection_losses: u64,
    /// Sessions opened again after a loss.
    pub reconnects: u64,
    /// Attempts to open a session again that failed.
    pub reconnect_failures: u64,
    /// The first few reasons connections were lost.
    pub loss_reasons: Vec<String>,
}

impl WriteGaps {
    /// Tracking that starts at `measure_from` (a write pause before the first success counts
    /// from there).
    pub fn new(measure_from: Instant) -> WriteGaps {
        WriteGaps {
            origin: (Instant::now(), SystemTime::now()),
            last_success: measure_from,
            successful_writes: 0,
            gaps: Vec::new(),
            connection_losses: 0,
            reconnects: 0,
            reconnect_failures: 0,
            loss_reasons: Vec::new(),
        }
    }

    /// Notes a successful write whose reply arrived at `completed`.
    pub fn write_succeeded(&mut self, completed: Instant) {
        self.successful_writes += 1;
        if completed <= self.last_success {
            return;
        }
        let gap = Gap {
            from: self.last_success,
            to: completed,
            open: false,
        };
        self.last_success = completed;
        self.keep(gap);
    }

    /// Notes that a connection failed, and why.
    pub fn connection_lost(&mut self, reason: &str) {
        self.connection_losses += 1;
        if self.loss_reasons.len() < LOSS_REASONS_KEPT_MAX {
            self.loss_reasons.push(reason.to_owned());
        }
    }

    /// Closes the run at `end`: a pause since the last success that is still going on is kept
    /// as an open gap.
    pub fn finish(&mut self, end: Instant) {
        if end > self.last_success {
            let gap = Gap {
                from: self.last_success,
                to: end,
                open: true,
            };
            self.keep(gap);
        }
    }

    fn keep(&mut self, gap: Gap) {
        if gap.length() < GAP_RECORDED_MIN {
            return;
        }
        let position = self
            .gaps
            .iter()
            .position(|kept| kept.length() < gap.length())
            .unwrap_or(self.gaps.len());
        self.gaps.insert(position, gap);
        self.gaps.truncate(GAPS_KEPT_MAX);
    }

    /// The longest gap, if any was recorded.
    pub fn longest(&self) -> Option<&Gap> {
        self.gaps.first()
    }

    /// `instant` as nanoseconds since the Unix epoch.
    pub fn unix_ns(&self, instant: Instant) -> u128 {
        let (origin_instant, origin_wall) = self.origin;
        let origin_ns = origin_wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        if instant >= origin_instant {
            origin_ns + instant.duration_since(origin_instant).as_nanos()
        } else {
            origin_ns.saturating_sub(origin_instant.duration_since(instant).as_nanos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_longest_gaps_in_order() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut gaps = WriteGaps::new(start);
        gaps.write_succeeded(at(10)); // 10 ms: too short
        gaps.write_succeeded(at(400)); // 390 ms
        gaps.write_succeeded(at(400)); // same instant: no gap
        gaps.write_succeeded(at(450)); // 50 ms: too short
        gaps.write_succeeded(at(2450)); // 2000 ms
        gaps.finish(at(2600)); // 150 ms, open
        assert_eq!(gaps.successful_writes, 5);
        let lengths: Vec<u128> = gaps.gaps.iter().map(|g| g.length().as_millis()).collect();
        assert_eq!(lengths, [2000, 390, 150]);
        let longest = gaps.longest().expect("a gap");
        assert_eq!(
            (longest.from, longest.to, longest.open),
            (at(450), at(2450), false)
        );
        assert!(gaps.gaps[2].open);
        let from_ns = gaps.unix_ns(longest.from);
        assert_eq!(gaps.unix_ns(longest.to) - from_ns, 2_000_000_000);
    }

    #[test]
    fn keeps_a_bounded_number() {
        let start = Instant::now();
        let mut gaps = WriteGaps::new(start);
        for step in 1..=(GAPS_KEPT_MAX as u64 + 10) {
            gaps.write_succeeded(start + Duration::from_millis(200 * step + step));
        }
        assert_eq!(gaps.gaps.len(), GAPS_KEPT_MAX);
        assert!(gaps.gaps.windows(2).all(|w| w[0].length() >= w[1].length()));
        for number in 0..20 {
            gaps.connection_lost(&format!("loss {number}"));
        }
        assert_eq!(gaps.connection_losses, 20);
        assert_eq!(gaps.loss_reasons.len(), LOSS_REASONS_KEPT_MAX);
    }
}

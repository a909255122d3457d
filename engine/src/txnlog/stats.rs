//! Counters of the commit thread: records, batches, batch sizes, sync latencies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Number of power-of-two buckets in each histogram.
pub const HISTOGRAM_BUCKETS: usize = 24;

/// A histogram with power-of-two buckets: bucket `i` counts values in `[2^i, 2^(i+1))`, bucket 0
/// also counts 0; the last bucket counts everything above.
#[derive(Default)]
pub(crate) struct AtomicHistogram {
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl AtomicHistogram {
    pub fn record(&self, value: u64) {
        let bucket = (64 - value.leading_zeros()).saturating_sub(1) as usize;
        let bucket = bucket.min(HISTOGRAM_BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum: self.sum.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a histogram's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    /// `buckets[i]` counts values in `[2^i, 2^(i+1))` (bucket 0 includes 0; the last is open).
    pub buckets: [u64; HISTOGRAM_BUCKETS],
    /// Number of values.
    pub count: u64,
    /// Sum of the values.
    pub sum: u64,
    /// Largest value.
    pub max: u64,
}

impl Histogram {
    /// Mean value (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// An upper bound of the `q` quantile (0.0..=1.0): the top of the bucket holding it.
    pub fn quantile_upper_bound(&self, q: f64) -> u64 {
        let target = (q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return (1u64 << (i + 1)) - 1;
            }
        }
        self.max
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub batches: AtomicU64,
    pub slow_syncs: AtomicU64,
    pub segments_rolled: AtomicU64,
    pub batch_records: AtomicHistogram,
    pub sync_micros: AtomicHistogram,
}

/// What the log has done since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Records made durable.
    pub records: u64,
    /// Bytes written for them (headers and padding included).
    pub bytes: u64,
    /// Write batches, i.e. syncs of the log.
    pub batches: u64,
    /// Syncs slower than the configured warning threshold.
    pub slow_syncs: u64,
    /// Segments started.
    pub segments_rolled: u64,
    /// Records per batch.
    pub batch_records: Histogram,
    /// Latency of each batch's write and sync, in microseconds.
    pub sync_micros: Histogram,
}

impl Counters {
    pub fn snapshot(&self) -> LogStats {
        LogStats {
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            slow_syncs: self.slow_syncs.load(Ordering::Relaxed),
            segments_rolled: self.segments_rolled.load(Ordering::Relaxed),
            batch_records: self.batch_records.snapshot(),
            sync_micros: self.sync_micros.snapshot(),
        }
    }

    pub fn record_batch(&self, records: u64, bytes: u64, took: Duration) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batch_records.record(records);
        self.sync_micros
            .record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_power_of_two() {
        let h = AtomicHistogram::default();
        for v in [0, 1, 2, 3, 4, 1000, u64::MAX] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets[0], 2); // 0 and 1
        assert_eq!(s.buckets[1], 2); // 2 and 3
        assert_eq!(s.buckets[2], 1); // 4
        assert_eq!(s.buckets[9], 1); // 1000 in [512, 1024)
        assert_eq!(s.buckets[HISTOGRAM_BUCKETS - 1], 1);
        assert_eq!(s.count, 7);
        assert_eq!(s.max, u64::MAX);
        assert_eq!(s.quantile_upper_bound(0.5), 3);
    }
}

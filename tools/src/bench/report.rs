//! The result of a run: throughput, latency percentiles from HDR histograms, errors by
//! ZooKeeper code name, the client's own CPU use; printed as a table or as one JSON object.
//!
//! Every completed measured request counts in the throughput and the latencies, failed or not;
//! failures are listed apart. Latencies are recorded in nanoseconds and shown in microseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use zk_server::proto::ErrorCode;

use super::gaps::WriteGaps;
use super::mix::Operation;
use super::session::SetupSummary;
use super::{BenchConfig, RunLength};

/// The name of a ZooKeeper error code (`NoNode`), or `code <n>` for a value outside the table.
pub fn error_name(code: i32) -> String {
    match ErrorCode::try_from(code) {
        Ok(known) => format!("{known:?}"),
        Err(unknown) => format!("code {unknown}"),
    }
}

/// Percentiles of one latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LatencySummary {
    /// Requests recorded.
    pub count: u64,
    /// Arithmetic mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest latency (precise to the histogram's 3 significant digits).
    pub max_us: f64,
}

impl LatencySummary {
    /// Summarises a histogram of nanosecond latencies; all zero when it is empty.
    pub fn from_histogram(histogram: &Histogram<u64>) -> LatencySummary {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        let microseconds = |nanoseconds: u64| nanoseconds as f64 / 1000.0;
        LatencySummary {
            count: histogram.len(),
            mean_us: histogram.mean() / 1000.0,
            p50_us: microseconds(histogram.value_at_quantile(0.50)),
            p90_us: microseconds(histogram.value_at_quantile(0.90)),
            p99_us: microseconds(histogram.value_at_quantile(0.99)),
            p999_us: microseconds(histogram.value_at_quantile(0.999)),
            max_us: microseconds(histogram.max()),
        }
    }
}

/// Throughput and latencies of one operation, or of all of them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OperationSummary {
    /// Completed measured requests (failed ones included).
    pub ops: u64,
    /// `ops` per second of the measured window.
    pub ops_per_second: f64,
    /// How many of `ops` failed (or were lost with their connection, and then are not in
    /// `ops`).
    pub errors: u64,
    /// Their latencies.
    pub latency: LatencySummary,
}

impl OperationSummary {
    /// Summarises `histogram` over a measured window of `elapsed`, with `errors` failures.
    pub fn new(histogram: &Histogram<u64>, elapsed: Duration, errors: u64) -> OperationSummary {
        let ops = histogram.len();
        let seconds = elapsed.as_secs_f64();
        OperationSummary {
            ops,
            ops_per_second: if seconds > 0.0 {
                ops as f64 / seconds
            } else {
                0.0
            },
            errors,
            latency: LatencySummary::from_histogram(histogram),
        }
    }
}

/// CPU time this process used (all threads) over a wall-clock interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuUse {
    /// CPU time consumed.
    pub cpu: Duration,
    /// Wall-clock time it was consumed in.
    pub wall: Duration,
}

impl CpuUse {
    /// CPU time as a percentage of one core (200 = two cores busy).
    pub fn percent_of_one_core(&self) -> f64 {
        let wall = self.wall.as_secs_f64();
        if wall > 0.0 {
            100.0 * self.cpu.as_secs_f64() / wall
        } else {
            0.0
        }
    }
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was asked for.
    pub config: BenchConfig,
    /// The negotiated session timeout of the first session.
    pub session_timeout: Duration,
    /// What the setup phase did.
    pub setup: SetupSummary,
    /// Length of the measured window: from the end of the warm-up to the last measured reply.
    pub elapsed: Duration,
    /// All operations together.
    pub total: OperationSummary,
    /// Each operation that was sent, in [`Operation::ALL`] order.
    pub by_operation: Vec<(Operation, OperationSummary)>,
    /// Failed measured requests by ZooKeeper error code (a failed multi counts the code of the
    /// operation that failed it; lost connections count their requests in flight as
    /// `ConnectionLoss`).
    pub errors: BTreeMap<i32, u64>,
    /// This process's CPU use during the measured window, when `/proc` tells it.
    pub client_cpu: Option<CpuUse>,
    /// Why sessions ended early (empty when none did; with `--reconnect` a lost connection is
    /// replaced and listed in [`Report::write_gaps`] instead).
    pub sessions_lost: Vec<String>,
    /// `--reconnect` runs: pauses in successful writes, connection losses and reconnects.
    pub write_gaps: Option<WriteGaps>,
}

impl Report {
    /// Sum of all error counts.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The human-readable table.
    pub fn to_table(&self) -> String {
        let config = &self.config;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "zk-bench: {} | {} session(s) x {} outstanding | mix {} | payload {} B{} | keys {}{}",
            config.hosts.join(","),
            config.sessions,
            config.outstanding,
            config.mix,
            config.payload_bytes,
            if config.distinct_payloads {
                " (distinct)"
            } else {
                ""
            },
            config.keys,
            if config.mix.weight(Operation::Multi) > 0 {
                format!(" | {} setData per multi", config.multi_ops)
            } else {
                String::new()
            },
        );
        let length = match config.length {
            RunLength::Duration(duration) => format!("duration {:.1} s", duration.as_secs_f64()),
            RunLength::Operations(ops) => format!("{ops} operations"),
        };
        let _ = writeln!(
            out,
            "setup: {} keys created, {} replaced in {:.2} s | warm-up {:.1} s | {} | \
             measured {:.3} s | session timeout {} ms | {} runtime thread(s)",
            self.setup.keys_created,
            self.setup.keys_replaced,
            self.setup.elapsed.as_secs_f64(),
            config.warmup.as_secs_f64(),
            length,
            self.elapsed.as_secs_f64(),
            self.session_timeout.as_millis(),
            config.threads,
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<12} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "operation",
            "ops",
            "ops/s",
            "mean us",
            "p50 us",
            "p90 us",
            "p99 us",
            "p99.9 us",
            "max us",
            "errors"
        );
        let row = |out: &mut String, name: &str, summary: &OperationSummary| {
            let latency = &summary.latency;
            let _ = writeln!(
                out,
                "{:<12} {:>10} {:>11.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8}",
                name,
                summary.ops,
                summary.ops_per_second,
                latency.mean_us,
                latency.p50_us,
                latency.p90_us,
                latency.p99_us,
                latency.p999_us,
                latency.max_us,
                summary.errors
            );
        };
        for (operation, summary) in &self.by_operation {
            row(&mut out, operation.name(), summary);
        }
        row(&mut out, "total", &self.total);
        let _ = writeln!(out);
        if self.errors.is_empty() {
            let _ = writeln!(out, "errors: none");
        } else {
            let listed: Vec<String> = self
                .errors
                .iter()
                .map(|(code, count)| format!("{} {count}", error_name(*code)))
                .collect();
            let _ = writeln!(out, "errors: {}", listed.join(", "));
        }
        match &self.client_cpu {
            Some(cpu) => {
                let _ = writeln!(
                    out,
                    "client CPU: {:.2} s in {:.2} s = {:.1}% of one core",
                    cpu.cpu.as_secs_f64(),
                    cpu.wall.as_secs_f64(),
                    cpu.percent_of_one_core()
                );
            }
            None => {
                let _ = writeln!(out, "client CPU: not available (no /proc)");
            }
        }
        for reason in &self.sessions_lost {
            let _ = writeln!(out, "session lost: {reason}");
        }
        if let Some(gaps) = &self.write_gaps {
            let _ = writeln!(
                out,
                "reconnect: {} successful writes | {} connection(s) lost | {} reconnect(s), {} \
                 failed attempt(s)",
                gaps.successful_writes,
                gaps.connection_losses,
                gaps.reconnects,
                gaps.reconnect_failures
            );
            for gap in &gaps.gaps {
                let _ = writeln!(
                    out,
                    "write gap: {:.3} s from {} to {} ns since the epoch{}",
                    gap.length().as_secs_f64(),
                    gaps.unix_ns(gap.from),
                    gaps.unix_ns(gap.to),
                    if gap.open {
                        " (writes had not resumed at the end)"
                    } else {
                        ""
                    }
                );
            }
            for reason in &gaps.loss_reasons {
                let _ = writeln!(out, "connection lost: {reason}");
            }
        }
        out
    }

    /// The whole report as one JSON object (one line).
    pub fn to_json(&self) -> String {
        let config = &self.config;
        let mut out = String::from("{");
        let hosts: Vec<String> = config.hosts.iter().map(|host| json_string(host)).collect();
        let _ = write!(
            out,
            "\"hosts\":[{}],\"sessions\":{},\"outstanding\":{},\"mix\":{},\"payload_bytes\":{},\
             \"distinct_payloads\":{},\"keys\":{},\"multi_ops\":{},\"warmup_s\":{},",
            hosts.join(","),
            config.sessions,
            config.outstanding,
            json_string(&config.mix.to_string()),
            config.payload_bytes,
            config.distinct_payloads,
            config.keys,
            config.multi_ops,
            json_number(config.warmup.as_secs_f64()),
        );
        match config.length {
            RunLength::Duration(duration) => {
                let _ = write!(
                    out,
                    "\"duration_s\":{},",
                    json_number(duration.as_secs_f64())
                );
            }
            RunLength::Operations(ops) => {
                let _ = write!(out, "\"ops_requested\":{ops},");
            }
        }
        let _ = write!(
            out,
            "\"threads\":{},\"seed\":{},\"session_timeout_ms\":{},",
            config.threads,
            config.seed,
            self.session_timeout.as_millis()
        );
        let _ = write!(
            out,
            "\"setup\":{{\"keys_created\":{},\"keys_replaced\":{},\"elapsed_s\":{}}},",
            self.setup.keys_created,
            self.setup.keys_replaced,
            json_number(self.setup.elapsed.as_secs_f64())
        );
        let _ = write!(
            out,
            "\"elapsed_s\":{},",
            json_number(self.elapsed.as_secs_f64())
        );
        write_summary_fields(&mut out, &self.total);
        out.push_str(",\"by_operation\":{");
        for (position, (operation, summary)) in self.by_operation.iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}:{{", json_string(operation.name()));
            write_summary_fields(&mut out, summary);
            out.push('}');
        }
        out.push_str("},\"errors\":{");
        for (position, (code, count)) in self.errors.iter().enumerate() {
            if position > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}:{count}", json_string(&error_name(*code)));
        }
        out.push_str("},\"client_cpu\":");
        match &self.client_cpu {
            Some(cpu) => {
                let _ = write!(
                    out,
                    "{{\"cpu_s\":{},\"wall_s\":{},\"percent_of_one_core\":{}}}",
                    json_number(cpu.cpu.as_secs_f64()),
                    json_number(cpu.wall.as_secs_f64()),
                    json_number(cpu.percent_of_one_core())
                );
            }
            None => out.push_str("null"),
        }
        let lost: Vec<String> = self
            .sessions_lost
            .iter()
            .map(|reason| json_string(reason))
            .collect();
        let _ = write!(out, ",\"sessions_lost\":[{}]", lost.join(","));
        if let Some(gaps) = &self.write_gaps {
            write_gaps_json(&mut out, gaps);
        }
        out.push('}');
        out
    }
}

/// `,"write_gaps":{...}`: every kept gap with its ends in Unix nanoseconds.
fn write_gaps_json(out: &mut String, gaps: &WriteGaps) {
    let listed: Vec<String> = gaps
        .gaps
        .iter()
        .map(|gap| {
            format!(
                "{{\"from_unix_ns\":{},\"to_unix_ns\":{},\"length_s\":{},\"open\":{}}}",
                gaps.unix_ns(gap.from),
                gaps.unix_ns(gap.to),
                json_number(gap.length().as_secs_f64()),
                gap.open
            )
        })
        .collect();
    let reasons: Vec<String> = gaps
        .loss_reasons
        .iter()
        .map(|reason| json_string(reason))
        .collect();
    let _ = write!(
        out,
        ",\"write_gaps\":{{\"successful_writes\":{},\"connection_losses\":{},\"reconnects\":{},\
         \"reconnect_failures\":{},\"longest_s\":{},\"gaps\":[{}],\"loss_reasons\":[{}]}}",
        gaps.successful_writes,
        gaps.connection_losses,
        gaps.reconnects,
        gaps.reconnect_failures,
        json_number(gaps.longest().map_or(0.0, |gap| gap.length().as_secs_f64())),
        listed.join(","),
        reasons.join(",")
    );
}

/// `"ops":..,"ops_per_s":..,"error_count":..,"latency_us":{...}` (no braces around).
fn write_summary_fields(out: &mut String, summary: &OperationSummary) {
    let _ = write!(
        out,
        "\"ops\":{},\"ops_per_s\":{},\"error_count\":{},\"latency_us\":{}",
        summary.ops,
        json_number(summary.ops_per_second),
        summary.errors,
        latency_json(&summary.latency),
    );
}

/// `{"mean":..,"p50":..,"p90":..,"p99":..,"p99_9":..,"max":..}`, in microseconds.
pub(crate) fn latency_json(latency: &LatencySummary) -> String {
    format!(
        "{{\"mean\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}",
        json_number(latency.mean_us),
        json_number(latency.p50_us),
        json_number(latency.p90_us),
        json_number(latency.p99_us),
        json_number(latency.p999_us),
        json_number(latency.max_us),
    )
}

/// A JSON number with at most 3 decimals; non-finite values (never produced) become 0.
pub(crate) fn json_number(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_owned();
    }
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() || text == "-" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A JSON string literal.
pub(crate) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(control));
            }
            other => out.push(other),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::session::new_histogram;

    #[test]
    fn summary_of_known_latencies() {
        let mut histogram = new_histogram();
        // 1 .. 1000 microseconds, one request each.
        for microseconds in 1..=1000_u64 {
            histogram.record(microseconds * 1000).expect("in range");
        }
        let summary = LatencySummary::from_histogram(&histogram);
        assert_eq!(summary.count, 1000);
        let close = |actual: f64, expected: f64| (actual - expected).abs() <= expected * 0.001;
        assert!(close(summary.p50_us, 500.0), "{summary:?}");
        assert!(close(summary.p90_us, 900.0), "{summary:?}");
        assert!(close(summary.p99_us, 990.0), "{summary:?}");
        assert!(close(summary.p999_us, 999.0), "{summary:?}");
        assert!(close(summary.max_us, 1000.0), "{summary:?}");
        assert!(close(summary.mean_us, 500.5), "{summary:?}");

        let throughput = OperationSummary::new(&histogram, Duration::from_millis(500), 3);
        assert_eq!(throughput.ops, 1000);
        assert_eq!(throughput.errors, 3);
        assert!((throughput.ops_per_second - 2000.0).abs() < 1e-9);
    }

    #[test]
    fn empty_histograms_summarise_to_zero() {
        let histogram = new_histogram();
        assert_eq!(
            LatencySummary::from_histogram(&histogram),
            LatencySummary::default()
        );
        let summary = OperationSummary::new(&histogram, Duration::ZERO, 0);
        assert_eq!(summary.ops_per_second, 0.0);
    }

    #[test]
    fn latencies_beyond_the_bound_saturate() {
        let mut histogram = new_histogram();
        histogram.saturating_record(u64::MAX);
        let summary = LatencySummary::from_histogram(&histogram);
        let bound_us = crate::bench::session::LATENCY_NS_MAX as f64 / 1000.0;
        assert!((summary.max_us - bound_us).abs() <= bound_us * 0.001);
    }

    #[test]
    fn error_names_and_json_text() {
        assert_eq!(error_name(-101), "NoNode");
        assert_eq!(error_name(-4), "ConnectionLoss");
        assert_eq!(error_name(-126), "code -126");
        assert_eq!(json_string("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        assert_eq!(json_number(12.0), "12");
        assert_eq!(json_number(0.25), "0.25");
        assert_eq!(json_number(1.0 / 3.0), "0.333");
        assert_eq!(json_number(0.0), "0");
        assert_eq!(json_number(f64::NAN), "0");
    }

    #[test]
    fn cpu_percent() {
        let cpu = CpuUse {
            cpu: Duration::from_millis(250),
            wall: Duration::from_secs(1),
        };
        assert!((cpu.percent_of_one_core() - 25.0).abs() < 1e-9);
    }
}

//! `--stats`: counts and bytes per operation type, the zxid range and its epochs, the time span.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;

use zk_engine::txn::TxnBody;
use zk_engine::Zxid;

use crate::render::{op_name, Filter};
use crate::text::{bytes_text, duration_text, json_array, utc_time, zxid_hex, JsonObject};
use crate::walk::{Record, SegmentEnd, Sink};

#[derive(Debug, Default, Clone, Copy)]
struct OpCount {
    count: u64,
    /// Bytes of the encoded transactions.
    txn_bytes: u64,
    /// Bytes the records take in the log (record header and padding included).
    log_bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct EpochCount {
    count: u64,
    first: Zxid,
    last: Zxid,
}

/// Accumulates the statistics of the transactions that pass the filter.
#[derive(Default)]
pub struct StatsSink {
    filter: Filter,
    segments: Vec<(String, u64)>,
    total: OpCount,
    undecodable: u64,
    after_damage: u64,
    first: Option<Zxid>,
    last: Option<Zxid>,
    epochs: BTreeMap<u32, EpochCount>,
    time_span: Option<(i64, i64)>,
    ops: BTreeMap<&'static str, OpCount>,
    multi_ops: BTreeMap<&'static str, u64>,
    sessions: BTreeSet<i64>,
}

impl StatsSink {
    /// Statistics of the transactions that pass `filter`.
    pub fn new(filter: Filter) -> StatsSink {
        StatsSink {
            filter,
            ..StatsSink::default()
        }
    }

    fn filtered(&self) -> bool {
        let f = &self.filter;
        f.from_zxid.is_some()
            || f.to_zxid.is_some()
            || f.session.is_some()
            || f.path_prefix.is_some()
    }

    /// The report as text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let file_bytes: u64 = self.segments.iter().map(|(_, len)| len).sum();
        let names = match (self.segments.first(), self.segments.last()) {
            (Some((first, _)), Some((last, _))) if self.segments.len() > 1 => {
                format!(" ({first} to {last})")
            }
            (Some((only, _)), _) => format!(" ({only})"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "segments         {}, {}{names}",
            self.segments.len(),
            bytes_text(file_bytes)
        );
        let filtered = if self.filtered() { " (filtered)" } else { "" };
        let _ = writeln!(
            out,
            "transactions     {}{filtered}, {} encoded, {} in the log",
            self.total.count,
            bytes_text(self.total.txn_bytes),
            bytes_text(self.total.log_bytes)
        );
        if self.undecodable > 0 {
            let _ = writeln!(out, "undecodable      {}", self.undecodable);
        }
        if self.after_damage > 0 {
            let _ = writeln!(
                out,
                "after damage     {} (read past damage; zk-server would not replay them)",
                self.after_damage
            );
        }
        if let (Some(first), Some(last)) = (self.first, self.last) {
            let _ = writeln!(
                out,
                "zxids            {} to {}",
                zxid_hex(first),
                zxid_hex(last)
            );
        }
        let _ = writeln!(out, "epochs           {}", self.epochs.len());
        for (epoch, count) in &self.epochs {
            let _ = writeln!(
                out,
                "  epoch {epoch:<8} {} transactions, zxid {} to {}",
                count.count,
                zxid_hex(count.first),
                zxid_hex(count.last)
            );
        }
        if let Some((from, to)) = self.time_span {
            let _ = writeln!(
                out,
                "time span        {} to {} ({})",
                utc_time(from),
                utc_time(to),
                duration_text(i128::from(to) - i128::from(from))
            );
        }
        let _ = writeln!(out, "sessions         {} distinct", self.sessions.len());
        let _ = writeln!(
            out,
            "operation                count    txn bytes    log bytes"
        );
        for (name, count) in &self.ops {
            let _ = writeln!(
                out,
                "  {name:<20} {:>9} {:>12} {:>12}",
                count.count, count.txn_bytes, count.log_bytes
            );
        }
        if !self.multi_ops.is_empty() {
            let _ = writeln!(out, "inside multi             count");
            for (name, count) in &self.multi_ops {
                let _ = writeln!(out, "  {name:<20} {count:>9}");
            }
        }
        out
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        let mut object = JsonObject::new();
        let segments: Vec<String> = self
            .segments
            .iter()
            .map(|(name, len)| {
                JsonObject::new()
                    .str("file", name)
                    .num("size", *len)
                    .finish()
            })
            .collect();
        object
            .str("type", "stats")
            .raw("segments", &json_array(&segments))
            .bool("filtered", self.filtered())
            .num("transactions", self.total.count)
            .num("txn_bytes", self.total.txn_bytes)
            .num("log_bytes", self.total.log_bytes)
            .num("undecodable", self.undecodable)
            .num("after_damage", self.after_damage);
        if let (Some(first), Some(last)) = (self.first, self.last) {
            object
                .str("first_zxid", &zxid_hex(first))
                .str("last_zxid", &zxid_hex(last));
        }
        let epochs: Vec<String> = self
            .epochs
            .iter()
            .map(|(epoch, count)| {
                JsonObject::new()
                    .num("epoch", *epoch)
                    .num("transactions", count.count)
                    .str("first_zxid", &zxid_hex(count.first))
                    .str("last_zxid", &zxid_hex(count.last))
                    .finish()
            })
            .collect();
        object.raw("epochs", &json_array(&epochs));
        if let Some((from, to)) = self.time_span {
            object
                .str("time_first", &utc_time(from))
                .str("time_last", &utc_time(to))
                .num("time_span_ms", i128::from(to) - i128::from(from));
        }
        object.num("sessions", self.sessions.len() as u64);
        let mut ops = JsonObject::new();
        for (name, count) in &self.ops {
            ops.raw(
                name,
                &JsonObject::new()
                    .num("count", count.count)
                    .num("txn_bytes", count.txn_bytes)
                    .num("log_bytes", count.log_bytes)
                    .finish(),
            );
        }
        object.raw("operations", &ops.finish());
        let mut multi = JsonObject::new();
        for (name, count) in &self.multi_ops {
            multi.num(name, *count);
        }
        object.raw("inside_multi", &multi.finish());
        object.finish()
    }
}

impl Sink for StatsSink {
    fn record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if !self.filter.accepts(record) {
            return Ok(());
        }
        let txn_bytes = record.payload.len() as u64;
        let log_bytes = record.next_offset.saturating_sub(record.offset);
        let add = |count: &mut OpCount| {
            count.count += 1;
            count.txn_bytes += txn_bytes;
            count.log_bytes += log_bytes;
        };
        add(&mut self.total);
        if record.after_damage {
            self.after_damage += 1;
        }
        self.first = Some(self.first.map_or(record.zxid, |z| z.min(record.zxid)));
        self.last = Some(self.last.map_or(record.zxid, |z| z.max(record.zxid)));
        let epoch = self
            .epochs
            .entry(record.zxid.epoch())
            .or_insert(EpochCount {
                count: 0,
                first: record.zxid,
                last: record.zxid,
            });
        epoch.count += 1;
        epoch.first = epoch.first.min(record.zxid);
        epoch.last = epoch.last.max(record.zxid);
        let Ok(txn) = record.txn else {
            self.undecodable += 1;
            add(self.ops.entry("(undecodable)").or_default());
            return Ok(());
        };
        let time = txn.header.time_ms;
        self.time_span = Some(match self.time_span {
            None => (time, time),
            Some((from, to)) => (from.min(time), to.max(time)),
        });
        self.sessions.insert(txn.header.session_id);
        add(self.ops.entry(op_name(&txn.body)).or_default());
        if let TxnBody::Multi(ops) = &txn.body {
            for op in ops {
                *self.multi_ops.entry(op_name(op)).or_default() += 1;
            }
        }
        Ok(())
    }

    fn segment_end(&mut self, segment: &SegmentEnd<'_>) -> io::Result<()> {
        self.segments
            .push((segment.file.to_owned(), segment.file_len));
        Ok(())
    }
}

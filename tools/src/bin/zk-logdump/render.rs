//! Output of `zk-logdump`: transactions as text lines or JSON objects, the filters, and the
//! sinks of the dump and `--verify` modes.

use std::io::{self, Write};

use zk_engine::format::segment_header::SegmentHeader;
use zk_engine::txn::{CreateMode, Txn, TxnBody};
use zk_engine::Zxid;

use crate::text::{
    acl_json, acl_token, data_json, data_token, error_code_name, json_array, path_token,
    session_hex, utc_time, zxid_hex, JsonObject,
};
use crate::walk::{Note, Problem, Record, SegmentEnd, SegmentStart, Sink};

/// Which transactions are shown (and counted by `--stats`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only zxids at or after this one.
    pub from_zxid: Option<Zxid>,
    /// Only zxids at or before this one.
    pub to_zxid: Option<Zxid>,
    /// Only transactions of this session.
    pub session: Option<i64>,
    /// Only transactions that touch a path starting with this.
    pub path_prefix: Option<String>,
}

impl Filter {
    /// Whether `record` passes. A record whose transaction does not decode passes only the
    /// zxid filters (its session and paths are unknown).
    pub fn accepts(&self, record: &Record<'_>) -> bool {
        if self.from_zxid.is_some_and(|from| record.zxid < from)
            || self.to_zxid.is_some_and(|to| record.zxid > to)
        {
            return false;
        }
        if self.session.is_none() && self.path_prefix.is_none() {
            return true;
        }
        let Ok(txn) = record.txn else {
            return false;
        };
        if self
            .session
            .is_some_and(|session| txn.header.session_id != session)
        {
            return false;
        }
        match &self.path_prefix {
            None => true,
            Some(prefix) => paths_of(&txn.body)
                .iter()
                .any(|path| path.starts_with(prefix.as_str())),
        }
    }
}

/// Every path a body touches, multi operations and a session close's ephemerals included.
pub fn paths_of(body: &TxnBody) -> Vec<&str> {
    match body {
        TxnBody::Create(create) => vec![create.path.as_str()],
        TxnBody::Delete { path }
        | TxnBody::SetData { path, .. }
        | TxnBody::SetAcl { path, .. }
        | TxnBody::Check { path, .. } => vec![path.as_str()],
        TxnBody::Multi(ops) => ops.iter().flat_map(paths_of).collect(),
        TxnBody::CloseSession { paths } => paths.iter().map(String::as_str).collect(),
        TxnBody::CreateSession { .. } | TxnBody::Error { .. } => Vec::new(),
    }
}

/// The operation name, as ZooKeeper's `OpCode` spells it.
pub fn op_name(body: &TxnBody) -> &'static str {
    match body {
        TxnBody::Create(_) => "create",
        TxnBody::Delete { .. } => "delete",
        TxnBody::SetData { .. } => "setData",
        TxnBody::SetAcl { .. } => "setACL",
        TxnBody::Check { .. } => "check",
        TxnBody::Multi(_) => "multi",
        TxnBody::CreateSession { .. } => "createSession",
        TxnBody::CloseSession { .. } => "closeSession",
        TxnBody::Error { .. } => "error",
    }
}

/// ZooKeeper's `CreateMode` name.
pub fn mode_name(mode: CreateMode) -> &'static str {
    match mode {
        CreateMode::Persistent => "PERSISTENT",
        CreateMode::Ephemeral => "EPHEMERAL",
        CreateMode::PersistentSequential => "PERSISTENT_SEQUENTIAL",
        CreateMode::EphemeralSequential => "EPHEMERAL_SEQUENTIAL",
        CreateMode::Container => "CONTAINER",
        CreateMode::PersistentWithTtl { .. } => "PERSISTENT_WITH_TTL",
        CreateMode::PersistentSequentialWithTtl { .. } => "PERSISTENT_SEQUENTIAL_WITH_TTL",
    }
}

fn error_text(code: i32) -> String {
    match error_code_name(code) {
        Some(name) => format!("code={code} ({name})"),
        None => format!("code={code}"),
    }
}

/// A data field for a text line: `data="text" size=N`, `data=0x... size=N`, or `data=null`
/// (ZooKeeper tells null data from empty data).
fn data_text(data: Option<&[u8]>, data_limit: usize) -> String {
    match data {
        Some(data) => format!("data={} size={}", data_token(data, data_limit), data.len()),
        None => "data=null".to_owned(),
    }
}

/// A data field as JSON: an object (see [`data_json`]) or `null`.
fn data_json_or_null(data: Option<&[u8]>, data_limit: usize) -> String {
    match data {
        Some(data) => data_json(data, data_limit),
        None => "null".to_owned(),
    }
}

/// An operation and its arguments for a text line: `create /a data="x" size=1 ...`.
pub fn body_text(body: &TxnBody, data_limit: usize) -> String {
    let name = op_name(body);
    match body {
        TxnBody::Create(create) => {
            let ttl = create
                .mode
                .ttl_ms()
                .map(|ttl| format!(" ttl={ttl}ms"))
                .unwrap_or_default();
            format!(
                "{name} {} {} acl={} mode={}{ttl} parent_cversion={}",
                path_token(&create.path),
                data_text(create.data.as_deref(), data_limit),
                acl_token(&create.acl),
                mode_name(create.mode),
                create.parent_cversion
            )
        }
        TxnBody::Delete { path } => format!("{name} {}", path_token(path)),
        TxnBody::SetData {
            path,
            data,
            version,
        } => format!(
            "{name} {} {} version={version}",
            path_token(path),
            data_text(data.as_deref(), data_limit)
        ),
        TxnBody::SetAcl { path, acl, version } => format!(
            "{name} {} acl={} version={version}",
            path_token(path),
            acl_token(acl)
        ),
        TxnBody::Check { path, version } => {
            format!("{name} {} version={version}", path_token(path))
        }
        TxnBody::Multi(ops) => {
            let ops: Vec<String> = ops.iter().map(|op| body_text(op, data_limit)).collect();
            format!("{name} [{}]", ops.join("; "))
        }
        TxnBody::CreateSession { timeout_ms } => format!("{name} timeout={timeout_ms}ms"),
        TxnBody::CloseSession { paths } => {
            let paths: Vec<String> = paths.iter().map(|p| path_token(p)).collect();
            format!("{name} ephemerals=[{}]", paths.join(","))
        }
        TxnBody::Error { code } => format!("{name} {}", error_text(*code)),
    }
}

/// An operation and its arguments as JSON members (added to `object`).
pub fn body_json(object: &mut JsonObject, body: &TxnBody, data_limit: usize) {
    object.str("op", op_name(body));
    match body {
        TxnBody::Create(create) => {
            object
                .str("path", &create.path)
                .raw(
                    "data",
                    &data_json_or_null(create.data.as_deref(), data_limit),
                )
                .raw("acl", &acl_json(&create.acl))
                .str("mode", mode_name(create.mode));
            if let Some(ttl) = create.mode.ttl_ms() {
                object.num("ttl_ms", ttl);
            }
            object.num("parent_cversion", create.parent_cversion);
        }
        TxnBody::Delete { path } => {
            object.str("path", path);
        }
        TxnBody::SetData {
            path,
            data,
            version,
        } => {
            object
                .str("path", path)
                .raw("data", &data_json_or_null(data.as_deref(), data_limit))
                .num("version", *version);
        }
        TxnBody::SetAcl { path, acl, version } => {
            object
                .str("path", path)
                .raw("acl", &acl_json(acl))
                .num("version", *version);
        }
        TxnBody::Check { path, version } => {
            object.str("path", path).num("version", *version);
        }
        TxnBody::Multi(ops) => {
            let ops: Vec<String> = ops
                .iter()
                .map(|op| {
                    let mut inner = JsonObject::new();
                    body_json(&mut inner, op, data_limit);
                    inner.finish()
                })
                .collect();
            object.raw("ops", &json_array(&ops));
        }
        TxnBody::CreateSession { timeout_ms } => {
            object.num("timeout_ms", *timeout_ms);
        }
        TxnBody::CloseSession { paths } => {
            let paths: Vec<String> = paths.iter().map(|p| crate::text::json_string(p)).collect();
            object.raw("paths", &json_array(&paths));
        }
        TxnBody::Error { code } => {
            object.num("code", *code);
            if let Some(name) = error_code_name(*code) {
                object.str("name", name);
            }
        }
    }
}

/// One transaction as a text line (no line end).
pub fn txn_line(txn: &Txn, data_limit: usize) -> String {
    format!(
        "{} session {} cxid {} zxid {} {}",
        utc_time(txn.header.time_ms),
        session_hex(txn.header.session_id),
        txn.header.cxid,
        zxid_hex(txn.header.zxid),
        body_text(&txn.body, data_limit)
    )
}

/// One record as a text line, whether or not its transaction decodes.
pub fn record_line(record: &Record<'_>, data_limit: usize) -> String {
    match record.txn {
        Ok(txn) => txn_line(txn, data_limit),
        Err(error) => format!(
            "- session - cxid - zxid {} undecodable ({error}) payload={} size={}",
            zxid_hex(record.zxid),
            data_token(record.payload, data_limit),
            record.payload.len()
        ),
    }
}

/// One record as a JSON object.
pub fn record_json(record: &Record<'_>, data_limit: usize) -> String {
    let mut object = JsonObject::new();
    object
        .str("type", "txn")
        .str("file", record.file)
        .num("offset", record.offset);
    match record.txn {
        Ok(txn) => {
            object
                .str("time", &utc_time(txn.header.time_ms))
                .num("time_ms", txn.header.time_ms)
                .str("session", &session_hex(txn.header.session_id))
                .num("cxid", txn.header.cxid)
                .str("zxid", &zxid_hex(record.zxid));
            body_json(&mut object, &txn.body, data_limit);
        }
        Err(error) => {
            object
                .str("zxid", &zxid_hex(record.zxid))
                .str("error", error)
                .raw("payload", &data_json(record.payload, data_limit));
        }
    }
    if record.after_damage {
        object.bool("after_damage", true);
    }
    object.finish()
}

/// The text of a segment's start.
pub fn segment_line(segment: &SegmentStart<'_>) -> String {
    match &segment.header {
        Some(header) => format!(
            "segment {}: first zxid {}, follows {}, {} bytes, created {}",
            segment.file,
            zxid_hex(header.first_zxid),
            zxid_hex(header.prev_zxid),
            segment.file_len,
            created(header)
        ),
        None => format!(
            "segment {}: {} bytes, no valid header",
            segment.file, segment.file_len
        ),
    }
}

fn created(header: &SegmentHeader) -> String {
    i64::try_from(header.created_ms)
        .map(utc_time)
        .unwrap_or_else(|_| format!("{} ms", header.created_ms))
}

/// A segment's start as JSON.
pub fn segment_json(segment: &SegmentStart<'_>) -> String {
    let mut object = JsonObject::new();
    object
        .str("type", "segment")
        .str("file", segment.file)
        .num("size", segment.file_len);
    match &segment.header {
        Some(header) => {
            object
                .str("first_zxid", &zxid_hex(header.first_zxid))
                .str("prev_zxid", &zxid_hex(header.prev_zxid))
                .num("created_ms", header.created_ms)
                .str("created", &created(header));
        }
        None => {
            object.bool("header_valid", false);
        }
    }
    object.finish()
}

/// A problem as JSON.
pub fn problem_json(problem: &Problem) -> String {
    JsonObject::new()
        .str("type", problem.tag())
        .str("file", &problem.file)
        .num("offset", problem.offset)
        .str("zxid", &zxid_hex(problem.last_good))
        .str("what", &problem.what)
        .str("message", &problem.headline())
        .finish()
}

/// A note as JSON.
pub fn note_json(note: &Note<'_>) -> String {
    JsonObject::new()
        .str("type", "note")
        .str("file", note.file)
        .str("text", note.text)
        .finish()
}

/// The dump: every transaction that passes the filter, with segment starts, problems and notes
/// where they are found (`# ` and `#! ` lines in text).
pub struct DumpSink<W: Write> {
    /// Where the dump goes.
    pub out: W,
    /// JSON lines instead of text.
    pub json: bool,
    /// Which transactions to show.
    pub filter: Filter,
    /// At most this many data bytes per field (0 = all).
    pub data_limit: usize,
}

impl<W: Write> Sink for DumpSink<W> {
    fn segment_start(&mut self, segment: &SegmentStart<'_>) -> io::Result<()> {
        if self.json {
            writeln!(self.out, "{}", segment_json(segment))
        } else {
            writeln!(self.out, "# {}", segment_line(segment))
        }
    }

    fn record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if !self.filter.accepts(record) {
            return Ok(());
        }
        if self.json {
            writeln!(self.out, "{}", record_json(record, self.data_limit))
        } else {
            writeln!(self.out, "{}", record_line(record, self.data_limit))
        }
    }

    fn problem(&mut self, problem: &Problem) -> io::Result<()> {
        if self.json {
            writeln!(self.out, "{}", problem_json(problem))
        } else {
            writeln!(self.out, "#! {}", problem.headline())
        }
    }

    fn note(&mut self, note: &Note<'_>) -> io::Result<()> {
        if self.json {
            writeln!(self.out, "{}", note_json(note))
        } else {
            writeln!(self.out, "# {}: {}", note.file, note.text)
        }
    }
}

/// `--verify`: one line per segment, the problems and notes where they are found.
pub struct VerifySink<W: Write> {
    /// Where the report goes.
    pub out: W,
    /// JSON lines instead of text.
    pub json: bool,
}

impl<W: Write> Sink for VerifySink<W> {
    fn problem(&mut self, problem: &Problem) -> io::Result<()> {
        if self.json {
            writeln!(self.out, "{}", problem_json(problem))
        } else {
            writeln!(self.out, "{}", problem.headline())
        }
    }

    fn note(&mut self, note: &Note<'_>) -> io::Result<()> {
        if self.json {
            writeln!(self.out, "{}", note_json(note))
        } else {
            writeln!(self.out, "note: {}: {}", note.file, note.text)
        }
    }

    fn segment_end(&mut self, segment: &SegmentEnd<'_>) -> io::Result<()> {
        if self.json {
            let mut object = JsonObject::new();
            object
                .str("type", "segment")
                .str("file", segment.file)
                .num("size", segment.file_len)
                .num("records", segment.records);
            if let (Some(first), Some(last)) = (segment.first, segment.last) {
                object
                    .str("first_zxid", &zxid_hex(first))
                    .str("last_zxid", &zxid_hex(last));
            }
            if segment.records_after_damage > 0 {
                object.num("records_after_damage", segment.records_after_damage);
            }
            return writeln!(self.out, "{}", object.finish());
        }
        let range = match (segment.first, segment.last) {
            (Some(first), Some(last)) => {
                format!(", zxid {} to {}", zxid_hex(first), zxid_hex(last))
            }
            _ => String::new(),
        };
        let after = match segment.records_after_damage {
            0 => String::new(),
            n => format!(" ({n} of them after damage)"),
        };
        let plural = if segment.records == 1 { "" } else { "s" };
        writeln!(
            self.out,
            "{}: {} transaction{plural}{range}{after}",
            segment.file, segment.records
        )
    }
}

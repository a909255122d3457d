//! What `zk-snapdump` prints: the dump, the summary, the verification report and the diff, as
//! text or JSON lines.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use zk_engine::tree::EphemeralType;
use zk_engine::Zxid;

use crate::collect::{depth_of, parent_of, path_order, Node};
use crate::load::{headline, Loaded};
use crate::snapfile::Problem;
use crate::text::{
    acl_json, acl_token, data_json, data_token, path_token, session_hex, utc_time, zxid_hex,
    JsonObject,
};

/// `ephemeralOwner` as one token: the session in hex, or the marker of a container or TTL node.
pub fn owner_token(owner: i64) -> String {
    match EphemeralType::of(owner) {
        EphemeralType::Persistent => "0x0".to_owned(),
        EphemeralType::Session(id) => session_hex(id),
        EphemeralType::Container => format!("{}(container)", session_hex(owner)),
        EphemeralType::Ttl { ttl_ms } => format!("{}(ttl={ttl_ms}ms)", session_hex(owner)),
    }
}

fn zxid_of(value: i64) -> String {
    zxid_hex(Zxid(value as u64))
}

/// The number of transactions between two zxids, when they are of one epoch.
fn span(start: Zxid, end: Zxid) -> String {
    if start == end {
        "not fuzzy: no transaction was applied during the walk".to_owned()
    } else if start.epoch() == end.epoch() && end > start {
        let n = end.counter() - start.counter();
        format!(
            "fuzzy over {n} transaction{}",
            if n == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "fuzzy over the transactions after {} up to {}",
            zxid_hex(start),
            zxid_hex(end)
        )
    }
}

/// The header lines of the dump (without the `# ` prefix).
pub fn header_lines(loaded: &Loaded<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(scan) = &loaded.scan else {
        lines.push(format!("snapshot {}: unreadable", loaded.located.name));
        return lines;
    };
    lines.push(format!(
        "snapshot {}: {} bytes",
        loaded.located.name, scan.file_len
    ));
    match scan.header {
        Some(header) => {
            let damaged = if scan.header_ok {
                ""
            } else {
                " (damaged header)"
            };
            lines.push(format!(
                "format version {}, compression {}, block size {}{damaged}",
                header.version,
                if header.compression == 1 {
                    "zstd".to_owned()
                } else {
                    format!("{} (unknown)", header.compression)
                },
                header.block_size
            ));
            lines.push(format!(
                "start zxid {}, created {}",
                zxid_hex(header.start_zxid),
                created(header.created_ms)
            ));
        }
        None => lines.push("no header (bad magic number)".to_owned()),
    }
    match (scan.trailer, scan.header) {
        (Some(trailer), header) => {
            let fuzzy = header
                .map(|h| format!(" ({})", span(h.start_zxid, trailer.end_zxid)))
                .unwrap_or_default();
            lines.push(format!(
                "end zxid {}{fuzzy}, digest 0x{:016x}",
                zxid_hex(trailer.end_zxid),
                trailer.digest
            ));
            lines.push(format!(
                "{} nodes, {} sessions, {} blocks, body {} bytes",
                trailer.nodes, trailer.sessions, trailer.blocks, trailer.body_len
            ));
        }
        (None, _) => lines.push("no valid trailer: end zxid, digest and counts unknown".to_owned()),
    }
    lines
}

fn created(ms: u64) -> String {
    i64::try_from(ms)
        .map(utc_time)
        .unwrap_or_else(|_| format!("{ms} ms"))
}

fn header_json(loaded: &Loaded<'_>) -> String {
    let mut object = JsonObject::new();
    object
        .str("type", "snapshot")
        .str("file", &loaded.located.name);
    if let Some(scan) = &loaded.scan {
        object.num("size", scan.file_len);
        if let Some(header) = scan.header {
            object
                .bool("header_valid", scan.header_ok)
                .num("format_version", header.version)
                .str("start_zxid", &zxid_hex(header.start_zxid))
                .num("created_ms", header.created_ms)
                .str("created", &created(header.created_ms))
                .str(
                    "compression",
                    if header.compression == 1 {
                        "zstd"
                    } else {
                        "unknown"
                    },
                )
                .num("block_size", header.block_size);
        }
        match scan.trailer {
            Some(trailer) => {
                object
                    .str("end_zxid", &zxid_hex(trailer.end_zxid))
                    .str("digest", &format!("0x{:016x}", trailer.digest))
                    .num("nodes", trailer.nodes)
                    .num("sessions", trailer.sessions)
                    .num("blocks", trailer.blocks)
                    .num("body_len", trailer.body_len);
            }
            None => {
                object.bool("trailer_valid", false);
            }
        }
    }
    object.finish()
}

fn problem_json(file: &str, problem: &Problem) -> String {
    JsonObject::new()
        .str(
            "type",
            if problem.unreadable {
                "unreadable"
            } else {
                "corruption"
            },
        )
        .str("file", file)
        .num("offset", problem.offset)
        .str("what", &problem.what)
        .str("message", &headline(file, problem))
        .finish()
}

fn note_json(file: &str, text: &str) -> String {
    JsonObject::new()
        .str("type", "note")
        .str("file", file)
        .str("text", text)
        .finish()
}

/// Notes and problems, as `# note:` and `#! ` lines or JSON.
fn write_findings(
    out: &mut dyn Write,
    loaded: &Loaded<'_>,
    json: bool,
    prefix: bool,
) -> io::Result<()> {
    let file = &loaded.located.name;
    for note in &loaded.notes {
        if json {
            writeln!(out, "{}", note_json(file, note))?;
        } else if prefix {
            writeln!(out, "# note: {note}")?;
        } else {
            writeln!(out, "note: {note}")?;
        }
    }
    for problem in &loaded.problems {
        if json {
            writeln!(out, "{}", problem_json(file, problem))?;
        } else if prefix {
            writeln!(out, "#! {}", headline(file, problem))?;
        } else {
            writeln!(out, "{}", headline(file, problem))?;
        }
    }
    Ok(())
}

/// The verdict line.
pub fn write_verdict(
    out: &mut dyn Write,
    loaded: &Loaded<'_>,
    json: bool,
    prefix: &str,
) -> io::Result<()> {
    if json {
        let collector = &loaded.collector;
        writeln!(
            out,
            "{}",
            JsonObject::new()
                .str("type", "verdict")
                .str(
                    "verdict",
                    match loaded.problems.first() {
                        None => "clean",
                        Some(p) if p.unreadable => "unreadable",
                        Some(_) => "corruption",
                    }
                )
                .num("exit_code", loaded.exit_code())
                .str("message", &loaded.verdict())
                .num("nodes", collector.nodes.len() as u64)
                .num("sessions", collector.sessions.len() as u64)
                .num("problems", loaded.problems.len() as u64)
                .finish()
        )
    } else {
        writeln!(out, "{prefix}{}", loaded.verdict())
    }
}

fn ephemeral_counts(nodes: &[Node]) -> HashMap<i64, u64> {
    let mut counts = HashMap::new();
    for node in nodes {
        if let EphemeralType::Session(id) = EphemeralType::of(node.stat.ephemeral_owner) {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

fn node_data_token(node: &Node, limit: usize) -> String {
    match &node.data {
        Some(Some(data)) => data_token(data, limit),
        _ => "null".to_owned(),
    }
}

/// One node as a text line.
pub fn node_line(loaded: &Loaded<'_>, node: &Node, data: Option<usize>) -> String {
    let stat = &node.stat;
    let acl = loaded
        .collector
        .acl_of(node)
        .map(acl_token)
        .unwrap_or_else(|| format!("<list {} not read>", node.acl_id));
    let mut line = format!(
        "{} cZxid={} ctime={} mZxid={} mtime={} pZxid={} cversion={} dataVersion={} \
         aclVersion={} ephemeralOwner={} dataLength={} numChildren={} acl={acl}",
        path_token(&node.path),
        zxid_of(stat.czxid),
        utc_time(stat.ctime),
        zxid_of(stat.mzxid),
        utc_time(stat.mtime),
        zxid_of(stat.pzxid),
        stat.cversion,
        stat.version,
        stat.aversion,
        owner_token(stat.ephemeral_owner),
        node.data_len,
        node.children
    );
    if let Some(limit) = data {
        line.push_str(" data=");
        line.push_str(&node_data_token(node, limit));
    }
    line
}

/// One node as JSON.
pub fn node_json(loaded: &Loaded<'_>, node: &Node, data: Option<usize>) -> String {
    let stat = &node.stat;
    let mut object = JsonObject::new();
    object
        .str("type", "node")
        .str("path", &node.path)
        .str("czxid", &zxid_of(stat.czxid))
        .str("ctime", &utc_time(stat.ctime))
        .num("ctime_ms", stat.ctime)
        .str("mzxid", &zxid_of(stat.mzxid))
        .str("mtime", &utc_time(stat.mtime))
        .num("mtime_ms", stat.mtime)
        .str("pzxid", &zxid_of(stat.pzxid))
        .num("cversion", stat.cversion)
        .num("version", stat.version)
        .num("aversion", stat.aversion)
        .str("ephemeral_owner", &session_hex(stat.ephemeral_owner))
        .num("data_length", node.data_len)
        .num("num_children", node.children);
    match loaded.collector.acl_of(node) {
        Some(acl) => object.raw("acl", &acl_json(acl)),
        None => object.raw("acl", "null"),
    };
    if let Some(limit) = data {
        match &node.data {
            Some(Some(bytes)) => object.raw("data", &data_json(bytes, limit)),
            _ => object.raw("data", "null"),
        };
    }
    object.finish()
}

/// The dump: header, findings, sessions, nodes, verdict.
pub fn dump(
    out: &mut dyn Write,
    loaded: &Loaded<'_>,
    json: bool,
    data: Option<usize>,
) -> io::Result<()> {
    if json {
        writeln!(out, "{}", header_json(loaded))?;
    } else {
        for line in header_lines(loaded) {
            writeln!(out, "# {line}")?;
        }
    }
    write_findings(out, loaded, json, true)?;
    let collector = &loaded.collector;
    let ephemerals = ephemeral_counts(&collector.nodes);
    for &(id, timeout_ms) in &collector.sessions {
        let count = ephemerals.get(&id).copied().unwrap_or(0);
        if json {
            writeln!(
                out,
                "{}",
                JsonObject::new()
                    .str("type", "session")
                    .str("session", &session_hex(id))
                    .num("timeout_ms", timeout_ms)
                    .num("ephemerals", count)
                    .finish()
            )?;
        } else {
            writeln!(
                out,
                "session {} timeout={timeout_ms}ms ephemerals={count}",
                session_hex(id)
            )?;
        }
    }
    for node in &collector.nodes {
        if json {
            writeln!(out, "{}", node_json(loaded, node, data))?;
        } else {
            writeln!(out, "{}", node_line(loaded, node, data))?;
        }
    }
    write_verdict(out, loaded, json, "# verdict: ")
}

/// `--summary DEPTH`: per node down to `depth`, its children and its subtree's nodes and bytes.
pub fn summary(
    out: &mut dyn Write,
    loaded: &Loaded<'_>,
    depth: usize,
    json: bool,
) -> io::Result<()> {
    let nodes = &loaded.collector.nodes;
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.path.as_str(), i))
        .collect();
    // Subtree totals: each node adds itself to every ancestor that was read.
    let mut subtree_nodes = vec![0u64; nodes.len()];
    let mut subtree_bytes = vec![0u64; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let mut at = Some(i);
        let mut path = node.path.as_str();
        while let Some(slot) = at {
            if let Some(n) = subtree_nodes.get_mut(slot) {
                *n += 1;
            }
            if let Some(b) = subtree_bytes.get_mut(slot) {
                *b += node.data_len;
            }
            at = parent_of(path).and_then(|p| {
                path = p;
                index.get(p).copied()
            });
        }
    }
    if !json {
        for line in header_lines(loaded) {
            writeln!(out, "# {line}")?;
        }
    } else {
        writeln!(out, "{}", header_json(loaded))?;
    }
    write_findings(out, loaded, json, true)?;
    if !json {
        writeln!(out, "depth  children      nodes        bytes  path")?;
    }
    for (i, node) in nodes.iter().enumerate() {
        let node_depth = node.depth();
        if node_depth > depth {
            continue;
        }
        let total_nodes = subtree_nodes.get(i).copied().unwrap_or(0);
        let total_bytes = subtree_bytes.get(i).copied().unwrap_or(0);
        if json {
            writeln!(
                out,
                "{}",
                JsonObject::new()
                    .str("type", "summary")
                    .str("path", &node.path)
                    .num("depth", node_depth as u64)
                    .num("children", node.children)
                    .num("subtree_nodes", total_nodes)
                    .num("subtree_bytes", total_bytes)
                    .finish()
            )?;
        } else {
            writeln!(
                out,
                "{node_depth:>5} {:>9} {:>10} {:>12}  {}{}",
                node.children,
                total_nodes,
                total_bytes,
                "  ".repeat(node_depth),
                path_token(&node.path)
            )?;
        }
    }
    write_verdict(out, loaded, json, "# verdict: ")
}

/// The outcome of the digest check.
pub enum DigestCheck {
    /// Recomputed; `how` says over what.
    Match { digest: u64, how: String },
    /// Recomputed and different: the snapshot (or its log) is wrong.
    Mismatch {
        computed: u64,
        stored: u64,
        how: String,
    },
    /// Not checked, and why.
    NotChecked(String),
}

/// `--verify`: what was checked, the findings, the verdict.
pub fn verify(
    out: &mut dyn Write,
    loaded: &Loaded<'_>,
    digest: &DigestCheck,
    json: bool,
) -> io::Result<()> {
    let file = &loaded.located.name;
    let mut checks: Vec<(&str, bool, String)> = Vec::new();
    if let Some(scan) = &loaded.scan {
        let header = match scan.header {
            Some(h) if scan.header_ok => format!(
                "format version {}, start zxid {}",
                h.version,
                zxid_hex(h.start_zxid)
            ),
            _ => "damaged".to_owned(),
        };
        checks.push(("header", scan.header_ok, header));
        let trailer = match scan.trailer {
            Some(t) => format!(
                "end zxid {}, {} nodes, {} sessions, {} blocks",
                zxid_hex(t.end_zxid),
                t.nodes,
                t.sessions,
                t.blocks
            ),
            None => "missing or damaged".to_owned(),
        };
        checks.push(("trailer", scan.trailer.is_some(), trailer));
        let blocks = if scan.blocks_ok {
            format!("{} blocks, compressed checksums match", scan.blocks.len())
        } else {
            format!("{} intact before the first damaged one", scan.blocks.len())
        };
        checks.push(("blocks", scan.blocks_ok, blocks));
        checks.push((
            "file checksum",
            scan.blocks_ok,
            if scan.blocks_ok {
                "matches"
            } else {
                "not matched"
            }
            .to_owned(),
        ));
        let collector = &loaded.collector;
        let body = if loaded.verified {
            format!(
                "content checksums match; {} sessions, {} ACL lists, {} nodes, as the trailer says",
                collector.sessions.len(),
                collector.acls.len(),
                collector.nodes.len()
            )
        } else {
            format!(
                "read as far as it goes: {} sessions, {} ACL lists, {} nodes",
                collector.sessions.len(),
                collector.acls.len(),
                collector.nodes.len()
            )
        };
        checks.push(("body", loaded.verified, body));
    }
    let (digest_ok, digest_text) = match digest {
        DigestCheck::Match { digest, how } => {
            (true, format!("0x{digest:016x} matches the trailer ({how})"))
        }
        DigestCheck::Mismatch {
            computed,
            stored,
            how,
        } => (
            false,
            format!(
                "MISMATCH: recomputed 0x{computed:016x}, the trailer says 0x{stored:016x} ({how})"
            ),
        ),
        DigestCheck::NotChecked(why) => (true, format!("not checked: {why}")),
    };
    checks.push(("digest", digest_ok, digest_text));
    for (name, ok, text) in &checks {
        if json {
            writeln!(
                out,
                "{}",
                JsonObject::new()
                    .str("type", "check")
                    .str("file", file)
                    .str("check", name)
                    .bool("ok", *ok)
                    .str("text", text)
                    .finish()
            )?;
        } else {
            writeln!(out, "{name:<14} {text}")?;
        }
    }
    write_findings(out, loaded, json, false)?;
    write_verdict(out, loaded, json, "")
}

/// The fields of two nodes that differ.
fn changed_fields(a: &Loaded<'_>, x: &Node, b: &Loaded<'_>, y: &Node) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if x.data_null != y.data_null || x.data_len != y.data_len || x.data_crc != y.data_crc {
        fields.push("data");
    }
    if a.collector.acl_of(x) != b.collector.acl_of(y) {
        fields.push("acl");
    }
    let (s, t) = (&x.stat, &y.stat);
    for (name, differs) in [
        ("czxid", s.czxid != t.czxid),
        ("mzxid", s.mzxid != t.mzxid),
        ("pzxid", s.pzxid != t.pzxid),
        ("ctime", s.ctime != t.ctime),
        ("mtime", s.mtime != t.mtime),
        ("version", s.version != t.version),
        ("cversion", s.cversion != t.cversion),
        ("aversion", s.aversion != t.aversion),
        ("ephemeralOwner", s.ephemeral_owner != t.ephemeral_owner),
    ] {
        if differs {
            fields.push(name);
        }
    }
    fields
}

#[derive(Default, Clone, Copy)]
struct DepthCount {
    added: u64,
    removed: u64,
    changed: u64,
}

/// `diff A B`; returns whether the nodes differ.
pub fn diff(out: &mut dyn Write, a: &Loaded<'_>, b: &Loaded<'_>, json: bool) -> io::Result<bool> {
    for (label, loaded) in [("A", a), ("B", b)] {
        let describe = loaded
            .scan
            .as_ref()
            .and_then(|s| s.header)
            .map(|h| format!("start zxid {}", zxid_hex(h.start_zxid)))
            .unwrap_or_else(|| "no header".to_owned());
        let end = loaded
            .scan
            .as_ref()
            .and_then(|s| s.trailer)
            .map(|t| format!(", end zxid {}", zxid_hex(t.end_zxid)))
            .unwrap_or_default();
        if json {
            writeln!(
                out,
                "{}",
                JsonObject::new()
                    .str("type", "snapshot")
                    .str("side", label)
                    .str("file", &loaded.located.name)
                    .num("nodes", loaded.collector.nodes.len() as u64)
                    .str("verdict", &loaded.verdict())
                    .finish()
            )?;
        } else {
            writeln!(
                out,
                "# {label}: {} ({describe}{end}, {} nodes)",
                loaded.located.name,
                loaded.collector.nodes.len()
            )?;
        }
        write_findings(out, loaded, json, true)?;
    }
    let mut depths: BTreeMap<usize, DepthCount> = BTreeMap::new();
    let (xs, ys) = (&a.collector.nodes, &b.collector.nodes);
    let (mut i, mut j) = (0, 0);
    let mut emit =
        |out: &mut dyn Write, kind: &str, path: &str, fields: &[&str]| -> io::Result<()> {
            let depth = depth_of(path);
            let count = depths.entry(depth).or_default();
            match kind {
                "added" => count.added += 1,
                "removed" => count.removed += 1,
                _ => count.changed += 1,
            }
            if json {
                let mut object = JsonObject::new();
                object
                    .str("type", kind)
                    .str("path", path)
                    .num("depth", depth as u64);
                if !fields.is_empty() {
                    let names: Vec<String> =
                        fields.iter().map(|f| crate::text::json_string(f)).collect();
                    object.raw("fields", &crate::text::json_array(&names));
                }
                writeln!(out, "{}", object.finish())
            } else if fields.is_empty() {
                writeln!(out, "{kind:<8} {}", path_token(path))
            } else {
                writeln!(out, "{kind:<8} {} {}", path_token(path), fields.join(","))
            }
        };
    while i < xs.len() || j < ys.len() {
        match (xs.get(i), ys.get(j)) {
            (Some(x), Some(y)) => match path_order(&x.path, &y.path) {
                std::cmp::Ordering::Less => {
                    emit(out, "removed", &x.path, &[])?;
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    emit(out, "added", &y.path, &[])?;
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let fields = changed_fields(a, x, b, y);
                    if !fields.is_empty() {
                        emit(out, "changed", &x.path, &fields)?;
                    }
                    i += 1;
                    j += 1;
                }
            },
            (Some(x), None) => {
                emit(out, "removed", &x.path, &[])?;
                i += 1;
            }
            (None, Some(y)) => {
                emit(out, "added", &y.path, &[])?;
                j += 1;
            }
            (None, None) => break,
        }
    }
    let total = depths
        .values()
        .fold(DepthCount::default(), |sum, c| DepthCount {
            added: sum.added + c.added,
            removed: sum.removed + c.removed,
            changed: sum.changed + c.changed,
        });
    if json {
        for (depth, count) in &depths {
            writeln!(
                out,
                "{}",
                JsonObject::new()
                    .str("type", "depth")
                    .num("depth", *depth as u64)
                    .num("added", count.added)
                    .num("removed", count.removed)
                    .num("changed", count.changed)
                    .finish()
            )?;
        }
    } else {
        writeln!(out, "depth    added  removed  changed")?;
        for (depth, count) in &depths {
            writeln!(
                out,
                "{depth:<5} {:>8} {:>8} {:>8}",
                count.added, count.removed, count.changed
            )?;
        }
        writeln!(
            out,
            "total {:>8} {:>8} {:>8}",
            total.added, total.removed, total.changed
        )?;
    }
    // Sessions opened and closed between the two.
    let sessions_a: BTreeMap<i64, i32> = a.collector.sessions.iter().copied().collect();
    let sessions_b: BTreeMap<i64, i32> = b.collector.sessions.iter().copied().collect();
    let opened: Vec<String> = sessions_b
        .keys()
        .filter(|id| !sessions_a.contains_key(id))
        .map(|id| session_hex(*id))
        .collect();
    let closed: Vec<String> = sessions_a
        .keys()
        .filter(|id| !sessions_b.contains_key(id))
        .map(|id| session_hex(*id))
        .collect();
    let differ = total.added + total.removed + total.changed > 0;
    if json {
        let list = |ids: &[String]| {
            let quoted: Vec<String> = ids.iter().map(|s| crate::text::json_string(s)).collect();
            crate::text::json_array(&quoted)
        };
        writeln!(
            out,
            "{}",
            JsonObject::new()
                .str("type", "total")
                .num("added", total.added)
                .num("removed", total.removed)
                .num("changed", total.changed)
                .raw("sessions_opened", &list(&opened))
                .raw("sessions_closed", &list(&closed))
                .bool("differ", differ)
                .finish()
        )?;
    } else {
        let show = |ids: &[String]| {
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(",")
            }
        };
        writeln!(
            out,
            "sessions opened {}, closed {}",
            show(&opened),
            show(&closed)
        )?;
    }
    Ok(differ)
}

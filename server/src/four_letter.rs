//! The four-letter words, answered on the client port as ZooKeeper answers them (same keys and
//! layout, so that monitoring scripts written for ZooKeeper keep working), behind
//! `4lw.commands.whitelist`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use crate::proto::FourLetterWord;
use crate::server::Server;
use crate::watch::WatchKind;

/// What `srvr` and friends call the version.
pub const VERSION: &str = concat!(
    "3.9.3-zk-rs-",
    env!("CARGO_PKG_VERSION"),
    ", built on 01/01/2026 00:00 GMT"
);

/// Runs a four-letter word for a client at `peer`; returns the text to send.
pub fn run(server: &Server, word: FourLetterWord, peer: SocketAddr) -> String {
    let name = word.name();
    if !server.config.four_letter_whitelist.allows(name) {
        return format!("{name} is not executed because it is not in the whitelist.\n");
    }
    log::debug!("four-letter word {name} from {peer}");
    match word {
        FourLetterWord::AreYouOk => "imok".to_owned(),
        FourLetterWord::IsReadOnly => "rw".to_owned(),
        FourLetterWord::Server => server_details(server, false),
        FourLetterWord::Statistics => server_details(server, true),
        FourLetterWord::Monitor => monitor(server),
        FourLetterWord::Configuration => configuration(server),
        FourLetterWord::Environment => environment(server),
        FourLetterWord::Connections => connections(server) + "\n",
        FourLetterWord::ResetConnectionStatistics => "Connection stats reset.\n".to_owned(),
        FourLetterWord::ResetStatistics => {
            server.stats.reset();
            "Server stats reset.\n".to_owned()
        }
        FourLetterWord::Directories => directories(server),
        FourLetterWord::Dump => dump(server),
        FourLetterWord::WatchSummary => watch_summary(server),
        FourLetterWord::WatchesByConnection => watches_by_session(server),
        FourLetterWord::WatchesByPath => watches_by_path(server),
        FourLetterWord::GetTraceMask | FourLetterWord::SetTraceMask => "0\n".to_owned(),
        FourLetterWord::Hash => format!("{}\n", server.tree().digest()),
        _ => format!("{name} is not supported by this server.\n"),
    }
}

fn connection_count(server: &Server) -> usize {
    server
        .sessions()
        .all()
        .iter()
        .filter(|(_, _, connection)| connection.is_some())
        .count()
}

fn connections(server: &Server) -> String {
    let mut out = String::new();
    for (id, timeout, connection) in server.sessions().all() {
        if let Some(connection) = connection {
            let _ = writeln!(
                out,
                " /{}[1](queued=0,sid=0x{id:x},to={})",
                connection.peer,
                timeout.as_millis()
            );
        }
    }
    out
}

fn server_details(server: &Server, with_clients: bool) -> String {
    let stats = server.stats.snapshot();
    let average = if stats.latency_count == 0 {
        0.0
    } else {
        stats.latency_sum_micros as f64 / stats.latency_count as f64 / 1000.0
    };
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if with_clients {
        out.push_str("Clients:\n");
        out.push_str(&connections(server));
        out.push('\n');
    }
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{average:.4}/{}\nReceived: {}\nSent: {}\nConnections: {}\n\
         Outstanding: 0\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        stats.latency_min_micros / 1000,
        stats.latency_max_micros / 1000,
        stats.packets_received,
        stats.packets_sent,
        connection_count(server),
        server.last_applied_zxid().0,
        mode(server),
        server.tree().node_count(),
    );
    if let Some(status) = leader_status(server) {
        let _ = writeln!(
            out,
            "Synced followers: {}/{}",
            status.synced_followers,
            status.voters - 1
        );
    }
    out
}

/// The ensemble status, when this server leads.
fn leader_status(server: &Server) -> Option<crate::ensemble::Status> {
    let status = server.replication()?.status();
    (status.state == crate::zab::message::PeerState::Leading).then_some(status)
}

/// `standalone`, `leader` or `follower` (ZooKeeper's words).
fn mode(server: &Server) -> &'static str {
    match server.replication().map(|r| r.status().state) {
        None => "standalone",
        Some(crate::zab::message::PeerState::Leading) => "leader",
        Some(crate::zab::message::PeerState::Following) => "follower",
        Some(crate::zab::message::PeerState::Looking) => "looking",
    }
}

fn monitor(server: &Server) -> String {
    let stats = server.stats.snapshot();
    let tree = server.tree();
    let log_stats = server.log().stats();
    let average = if stats.latency_count == 0 {
        0.0
    } else {
        stats.latency_sum_micros as f64 / stats.latency_count as f64 / 1000.0
    };
    let ephemerals: usize = server
        .sessions()
        .all()
        .iter()
        .map(|(id, _, _)| tree.ephemerals(*id).len())
        .sum();
    let watches = server.watches();
    let lines: Vec<(&str, String)> = vec![
        ("zk_version", VERSION.to_owned()),
        ("zk_server_state", mode(server).to_owned()),
        ("zk_avg_latency", format!("{average:.4}")),
        (
            "zk_max_latency",
            (stats.latency_max_micros / 1000).to_string(),
        ),
        (
            "zk_min_latency",
            (stats.latency_min_micros / 1000).to_string(),
        ),
        ("zk_packets_received", stats.packets_received.to_string()),
        ("zk_packets_sent", stats.packets_sent.to_string()),
        (
            "zk_num_alive_connections",
            connection_count(server).to_string(),
        ),
        ("zk_outstanding_requests", "0".to_owned()),
        ("zk_znode_count", tree.node_count().to_string()),
        ("zk_watch_count", watches.count().to_string()),
        ("zk_ephemerals_count", ephemerals.to_string()),
        (
            "zk_approximate_data_size",
            tree.memory_estimate().node_heap_bytes.to_string(),
        ),
        ("zk_global_sessions", server.sessions().len().to_string()),
        (
            "zk_fsync_threshold_exceed_count",
            log_stats.slow_syncs.to_string(),
        ),
        ("zk_log_records", log_stats.records.to_string()),
        ("zk_log_syncs", log_stats.batches.to_string()),
        (
            "zk_log_sync_avg_micros",
            format!("{:.1}", log_stats.sync_micros.mean()),
        ),
        (
            "zk_log_batch_avg_records",
            format!("{:.2}", log_stats.batch_records.mean()),
        ),
        (
            "zk_log_write_mode",
            server.log().write_mode().name().to_owned(),
        ),
        ("zk_digest", tree.digest().to_string()),
    ];
    let mut lines = lines;
    if let Some(status) = leader_status(server) {
        lines.push(("zk_followers", (status.voters - 1).to_string()));
        lines.push(("zk_synced_followers", status.synced_followers.to_string()));
    }
    let mut out = String::new();
    for (key, value) in lines {
        let _ = writeln!(out, "{key}\t{value}");
    }
    out
}

fn configuration(server: &Server) -> String {
    let config = &server.config;
    format!(
        "clientPort={}\nclientPortAddress={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\n\
         dataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\n\
         maxSessionTimeout={}\nserverId=0\n",
        config.client_address.port(),
        config.client_address.ip(),
        absolute(&config.data_dir),
        directory_size(&config.data_dir),
        absolute(&config.data_log_dir),
        directory_size(&config.data_log_dir),
        config.tick_time_ms,
        config.max_client_connections,
        config.min_session_timeout_ms,
        config.max_session_timeout_ms,
    )
}

fn environment(server: &Server) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "Environment:\nzookeeper.version={VERSION}\nhost.name={}\nos.name={}\nos.arch={}\n\
         user.dir={cwd}\nprocess.id={}\nlog.write.mode={}\n",
        host.trim(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::process::id(),
        server.log().write_mode().name(),
    )
}

fn directories(server: &Server) -> String {
    format!(
        "datadir_size: {}\nlogdir_size: {}\n",
        directory_size(&server.config.data_dir),
        directory_size(&server.config.data_log_dir)
    )
}

fn dump(server: &Server) -> String {
    let sessions = server.sessions().all();
    let tree = server.tree();
    let mut out = format!(
        "SessionTracker dump:\nGlobal Sessions({}):\n",
        sessions.len()
    );
    for (id, timeout, _) in &sessions {
        let _ = writeln!(out, "0x{id:x}\t{}ms", timeout.as_millis());
    }
    let with_ephemerals: Vec<(i64, Vec<String>)> = sessions
        .iter()
        .map(|(id, _, _)| (*id, tree.ephemerals(*id)))
        .filter(|(_, paths)| !paths.is_empty())
        .collect();
    let _ = writeln!(
        out,
        "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
        with_ephemerals.len()
    );
    for (id, paths) in with_ephemerals {
        let _ = writeln!(out, "0x{id:x}:");
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out
}

fn watch_summary(server: &Server) -> String {
    let watches = server.watches();
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n",
        watches.by_session().len(),
        watches.path_count(),
        watches.count()
    )
}

fn watches_by_session(server: &Server) -> String {
    let watches = server.watches();
    let mut sessions: Vec<_> = watches.by_session().iter().collect();
    sessions.sort_by_key(|(id, _)| **id);
    let mut out = String::new();
    for (id, keys) in sessions {
        let _ = writeln!(out, "0x{id:x}");
        let paths: std::collections::BTreeSet<&str> =
            keys.iter().map(|(_, p)| p.as_str()).collect();
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out
}

fn watches_by_path(server: &Server) -> String {
    let watches = server.watches();
    let mut by_path: std::collections::BTreeMap<&str, std::collections::BTreeSet<i64>> =
        std::collections::BTreeMap::new();
    for (id, keys) in watches.by_session() {
        for (kind, path) in keys {
            let _: &WatchKind = kind;
            by_path.entry(path.as_str()).or_default().insert(*id);
        }
    }
    let mut out = String::new();
    for (path, ids) in by_path {
        let _ = writeln!(out, "{path}");
        for id in ids {
            let _ = writeln!(out, "\t0x{id:x}");
        }
    }
    out
}

fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

fn directory_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => stack.push(entry.path()),
                Ok(meta) => total += meta.len(),
                Err(_) => {}
            }
        }
    }
    total
}

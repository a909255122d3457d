//! `zoo.cfg`, read as ZooKeeper reads it: a Java properties file whose known keys configure the
//! server and whose other keys become `zookeeper.<key>` system properties. Every key this server
//! does not act on is reported by name at start-up, never silently ignored.
//!
//! With no file at all the embedded defaults serve standalone on 127.0.0.1:2181 with data in
//! `./data`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// What went wrong reading a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A value is not what its key takes.
    #[error("{file}:{line}: {key}={value}: {why}")]
    Invalid {
        /// The file (or `<defaults>`).
        file: String,
        /// Line number (1-based; 0 when the problem is not on one line).
        line: usize,
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong and what is expected.
        why: String,
    },
}

/// Which four-letter words answer on the client port (`4lw.commands.whitelist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FourLetterWhitelist {
    /// `*`: every word.
    All,
    /// Only these words.
    Only(BTreeSet<String>),
}

impl FourLetterWhitelist {
    /// Whether `word` may run.
    pub fn allows(&self, word: &str) -> bool {
        match self {
            FourLetterWhitelist::All => true,
            FourLetterWhitelist::Only(words) => words.contains(word),
        }
    }
}

/// One `server.N=host:quorumPort:electionPort[:role][;clientAddress]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumServer {
    /// `N`.
    pub id: u64,
    /// The host.
    pub host: String,
    /// Port followers connect to the leader on.
    pub quorum_port: u16,
    /// Port of leader election.
    pub election_port: u16,
    /// Whether the role is `observer`.
    pub observer: bool,
    /// The text after `;`, if any (the server's client address).
    pub client_address: Option<String>,
}

/// The server's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The file it came from (`None`: embedded defaults).
    pub source: Option<PathBuf>,
    /// `tickTime`, ms. Default 3000 (ZooKeeper's built-in value).
    pub tick_time_ms: u32,
    /// `dataDir`: snapshots, epochs, `myid`. Default `./data`.
    pub data_dir: PathBuf,
    /// `dataLogDir`: the transaction log. Default: `dataDir`.
    pub data_log_dir: PathBuf,
    /// `clientPortAddress` and `clientPort`. Default 127.0.0.1:2181.
    pub client_address: SocketAddr,
    /// `maxClientCnxns`: connections from one client address (0 = no limit). Default 60.
    pub max_client_connections: u32,
    /// `minSessionTimeout`, ms. Default 2 ticks.
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout`, ms. Default 20 ticks.
    pub max_session_timeout_ms: u32,
    /// `initLimit`, ticks. Default 10.
    pub init_limit: u32,
    /// `syncLimit`, ticks. Default 5.
    pub sync_limit: u32,
    /// `snapCount`: transactions between snapshots (randomised as ZooKeeper does). Default 100000.
    pub snap_count: u64,
    /// `snapSizeLimitInKb`: log bytes between snapshots, KiB (<= 0 disables). Default 4 GiB.
    pub snap_size_limit_kb: i64,
    /// `preAllocSize`: log segment size, KiB. Default 65536 (64 MiB).
    pub pre_alloc_size_kb: u64,
    /// `autopurge.snapRetainCount`. Default 3 (the minimum).
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval`, hours; 0 disables. Default 0.
    pub autopurge_purge_interval_hours: u32,
    /// `4lw.commands.whitelist`. Default: `srvr` only.
    pub four_letter_whitelist: FourLetterWhitelist,
    /// `jute.maxbuffer`: the largest frame, bytes. Default 0xfffff.
    pub jute_max_buffer: u32,
    /// `forceSync`: sync the log before acknowledging. Default yes.
    pub force_sync: bool,
    /// `fsync.warningthresholdms`. Default 1000.
    pub fsync_warning_threshold_ms: u64,
    /// `extendedTypesEnabled`: TTL nodes allowed. Default false.
    pub extended_types_enabled: bool,
    /// `znode.container.checkIntervalMs`. Default 60000.
    pub container_check_interval_ms: u64,
    /// `DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`). Default none.
    pub super_digest: Option<String>,
    /// `server.N` lines.
    pub servers: Vec<QuorumServer>,
    /// The number in `<dataDir>/myid`, read when `server.N` lines are given.
    pub my_id: Option<u64>,
    /// `logWriteMode` (ours): `pwrite`, `mmap` or `io_uring`. Default `pwrite`.
    pub log_write_mode: String,
    /// Every other key, as the `zookeeper.<key>` system property ZooKeeper would set.
    pub system_properties: BTreeMap<String, String>,
    /// Keys given that this server does not act on, with their line numbers, for the start-up
    /// report.
    pub unsupported: Vec<(usize, String)>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        let tick_time_ms = 3000;
        ServerConfig {
            source: None,
            tick_time_ms,
            data_dir: PathBuf::from("data"),
            data_log_dir: PathBuf::from("data"),
            client_address: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2181),
            max_client_connections: 60,
            min_session_timeout_ms: 2 * tick_time_ms,
            max_session_timeout_ms: 20 * tick_time_ms,
            init_limit: 10,
            sync_limit: 5,
            snap_count: 100_000,
            snap_size_limit_kb: 4_194_304,
            pre_alloc_size_kb: 65_536,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval_hours: 0,
            four_letter_whitelist: FourLetterWhitelist::Only(BTreeSet::from(["srvr".to_owned()])),
            jute_max_buffer: 0xfffff,
            force_sync: true,
            fsync_warning_threshold_ms: 1000,
            extended_types_enabled: false,
            container_check_interval_ms: 60_000,
            super_digest: None,
            servers: Vec::new(),
            my_id: None,
            log_write_mode: "pwrite".to_owned(),
            system_properties: BTreeMap::new(),
            unsupported: Vec::new(),
        }
    }
}

/// Keys ZooKeeper understands that this server accepts but does not act on yet.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "secureClientPort",
    "secureClientPortAddress",
    "observerMasterPort",
    "clientPortListenBacklog",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "connectToLearnerMasterLimit",
    "electionAlg",
    "quorumListenOnAllIPs",
    "peerType",
    "syncEnabled",
    "dynamicConfigFile",
    "standaloneEnabled",
    "reconfigEnabled",
    "sslQuorum",
    "portUnification",
    "sslQuorumReloadCertFiles",
    "snapshot.compression.method",
    "txnLogSizeLimitInKb",
];

/// Key prefixes ZooKeeper understands that this server does not act on.
const KNOWN_UNSUPPORTED_PREFIXES: &[&str] = &[
    "group.",
    "weight.",
    "metricsProvider.",
    "quorum.auth.",
    "multiAddress.",
    "admin.",
    "ssl.",
];

/// One `key=value` of a properties file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Line number where the entry starts (1-based).
    pub line: usize,
    /// The key, unescaped and trimmed.
    pub key: String,
    /// The value, unescaped and trimmed (ZooKeeper trims both).
    pub value: String,
}

/// Parses the Java properties syntax: `#` and `!` comment lines; `key=value`, `key:value` or
/// `key value`; a backslash at the end of a line continues it; `\t`, `\n`, `\r`, `\f`, `\uXXXX`
/// and escaped separators in keys and values.
pub fn parse_properties(text: &str) -> Vec<Property> {
    let mut properties = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let start_line = index + 1;
        let trimmed = raw.trim_start_matches([' ', '\t', '\u{c}']);
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let mut logical = String::new();
        let mut current = trimmed.to_owned();
        loop {
            let trailing_backslashes = current.chars().rev().take_while(|&c| c == '\\').count();
            if trailing_backslashes % 2 == 1 {
                current.pop();
                logical.push_str(&current);
                match lines.next() {
                    Some((_, next)) => {
                        current = next.trim_start_matches([' ', '\t', '\u{c}']).to_owned();
                    }
                    None => break,
                }
            } else {
                logical.push_str(&current);
                break;
            }
        }
        let (key, value) = split_key_value(&logical);
        properties.push(Property {
            line: start_line,
            key: unescape(&key).trim().to_owned(),
            value: unescape(&value).trim().to_owned(),
        });
    }
    properties
}

fn split_key_value(logical: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = logical.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                key.push('\\');
                if let Some(next) = chars.next() {
                    key.push(next);
                }
            }
            '=' | ':' => break,
            ' ' | '\t' | '\u{c}' => {
                while chars
                    .peek()
                    .is_some_and(|c| matches!(c, ' ' | '\t' | '\u{c}'))
                {
                    chars.next();
                }
                if chars.peek().is_some_and(|c| matches!(c, '=' | ':')) {
                    chars.next();
                }
                break;
            }
            other => key.push(other),
        }
    }
    (key, chars.collect())
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

impl ServerConfig {
    /// Reads a `zoo.cfg`. Relative `dataDir`/`dataLogDir` are taken relative to the current
    /// directory, as ZooKeeper does.
    pub fn from_file(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = ServerConfig::from_text(&text, &path.display().to_string())?;
        config.source = Some(path.to_owned());
        if config.is_ensemble() {
            let myid = config.data_dir.join("myid");
            match std::fs::read_to_string(&myid) {
                Ok(text) => {
                    let id = text
                        .trim()
                        .parse::<u64>()
                        .map_err(|_| ConfigError::Invalid {
                            file: myid.display().to_string(),
                            line: 1,
                            key: "myid".to_owned(),
                            value: text.trim().to_owned(),
                            why: "the file must hold this server's number N of server.N".to_owned(),
                        })?;
                    config.my_id = Some(id);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ConfigError::Read { path: myid, source }),
            }
        }
        Ok(config)
    }

    /// Whether `server.N` lines name an ensemble (more than one server; with one, ZooKeeper
    /// runs standalone too).
    pub fn is_ensemble(&self) -> bool {
        self.servers.len() > 1
    }

    /// Builds a configuration from the text of a `zoo.cfg`; `file` names it in errors.
    pub fn from_text(text: &str, file: &str) -> Result<ServerConfig, ConfigError> {
        let mut config = ServerConfig::default();
        let mut data_log_dir = None;
        let mut client_port = None;
        let mut client_port_address = None;
        let mut min_session_timeout = None;
        let mut max_session_timeout = None;
        for Property { line, key, value } in parse_properties(text) {
            let invalid = |why: &str| ConfigError::Invalid {
                file: file.to_owned(),
                line,
                key: key.clone(),
                value: value.clone(),
                why: why.to_owned(),
            };
            let number = |why: &str| value.parse::<u64>().map_err(|_| invalid(why));
            let narrow = |n: u64, why: &str| u32::try_from(n).map_err(|_| invalid(why));
            match key.as_str() {
                "tickTime" => {
                    config.tick_time_ms = narrow(number("a tick in milliseconds")?, "too large")?;
                    if config.tick_time_ms == 0 {
                        return Err(invalid("tickTime must be positive"));
                    }
                }
                "dataDir" => config.data_dir = PathBuf::from(&value),
                "dataLogDir" => data_log_dir = Some(PathBuf::from(&value)),
                "clientPort" => {
                    let port = number("a TCP port")?;
                    client_port =
                        Some(u16::try_from(port).map_err(|_| invalid("a TCP port, 0..65535"))?);
                }
                "clientPortAddress" => {
                    client_port_address = Some(
                        value
                            .parse::<IpAddr>()
                            .map_err(|_| invalid("an IP address, e.g. 127.0.0.1"))?,
                    );
                }
                "maxClientCnxns" => {
                    config.max_client_connections = narrow(number("a count")?, "too large")?;
                }
                "minSessionTimeout" => min_session_timeout = Some(parse_timeout(&value)),
                "maxSessionTimeout" => max_session_timeout = Some(parse_timeout(&value)),
                "initLimit" => config.init_limit = narrow(number("ticks")?, "too large")?,
                "syncLimit" => config.sync_limit = narrow(number("ticks")?, "too large")?,
                "snapCount" => {
                    config.snap_count = number("a transaction count")?.max(2);
                }
                "snapSizeLimitInKb" => {
                    config.snap_size_limit_kb =
                        value.parse().map_err(|_| invalid("a size in KiB"))?;
                }
                "preAllocSize" => config.pre_alloc_size_kb = number("a size in KiB")?,
                "autopurge.snapRetainCount" => {
                    // ZooKeeper raises anything below 3 to 3.
                    config.autopurge_snap_retain_count =
                        narrow(number("a count")?, "too large")?.max(3);
                }
                "autopurge.purgeInterval" => {
                    config.autopurge_purge_interval_hours = narrow(number("hours")?, "too large")?;
                }
                "4lw.commands.whitelist" => {
                    config.four_letter_whitelist = parse_whitelist(&value);
                }
                "jute.maxbuffer" => {
                    config.jute_max_buffer = parse_jute_max_buffer(&value)
                        .ok_or_else(|| invalid("a byte count (decimal or 0x hex)"))?;
                }
                "forceSync" => config.force_sync = !value.eq_ignore_ascii_case("no"),
                "fsync.warningthresholdms" => {
                    config.fsync_warning_threshold_ms = number("milliseconds")?;
                }
                "extendedTypesEnabled" => {
                    config.extended_types_enabled = value.eq_ignore_ascii_case("true");
                }
                "znode.container.checkIntervalMs" => {
                    config.container_check_interval_ms = number("milliseconds")?;
                }
                "DigestAuthenticationProvider.superDigest" => {
                    config.super_digest = Some(value.clone());
                }
                "logWriteMode" => {
                    if !["pwrite", "mmap", "io_uring"].contains(&value.as_str()) {
                        return Err(invalid("one of pwrite, mmap, io_uring"));
                    }
                    config.log_write_mode = value.clone();
                }
                _ if key.starts_with("server.") => {
                    config
                        .servers
                        .push(parse_server(&key, &value).map_err(|why| invalid(&why))?);
                }
                _ => {
                    // ZooKeeper turns every key it does not parse into a system property; ours
                    // that matter are handled above, so whatever lands here is not acted on.
                    let property = if key.starts_with("zookeeper.") {
                        key.clone()
                    } else {
                        format!("zookeeper.{key}")
                    };
                    config.system_properties.insert(property, value.clone());
                    config.unsupported.push((line, key.clone()));
                }
            }
        }
        config.data_log_dir = data_log_dir.unwrap_or_else(|| config.data_dir.clone());
        let address = client_port_address.unwrap_or(config.client_address.ip());
        config.client_address = SocketAddr::new(address, client_port.unwrap_or(2181));
        let tick = config.tick_time_ms;
        config.min_session_timeout_ms = min_session_timeout.flatten().unwrap_or(2 * tick);
        config.max_session_timeout_ms = max_session_timeout.flatten().unwrap_or(20 * tick);
        if config.min_session_timeout_ms > config.max_session_timeout_ms {
            return Err(ConfigError::Invalid {
                file: file.to_owned(),
                line: 0,
                key: "minSessionTimeout".into(),
                value: config.min_session_timeout_ms.to_string(),
                why: format!(
                    "must not exceed maxSessionTimeout ({})",
                    config.max_session_timeout_ms
                ),
            });
        }
        Ok(config)
    }

    /// Lines for the start-up report of keys that are accepted but not acted on.
    pub fn unsupported_report(&self) -> Vec<String> {
        self.unsupported
            .iter()
            .map(|(line, key)| {
                let known = KNOWN_UNSUPPORTED.contains(&key.as_str())
                    || KNOWN_UNSUPPORTED_PREFIXES
                        .iter()
                        .any(|p| key.starts_with(p));
                let what = if known {
                    "is a ZooKeeper setting this server does not support yet; it has no effect"
                } else {
                    "is not a setting this server knows; kept as a system property, with no effect"
                };
                let file = self
                    .source
                    .as_ref()
                    .map_or_else(|| "<defaults>".to_owned(), |p| p.display().to_string());
                format!("{file}:{line}: {key} {what}")
            })
            .collect()
    }

    /// The log segment size in bytes, from `preAllocSize`, rounded to what the engine accepts.
    pub fn log_segment_size(&self) -> u64 {
        let bytes = self.pre_alloc_size_kb.saturating_mul(1024);
        (bytes.max(64 * 1024) / 4096) * 4096
    }
}

/// ZooKeeper treats -1 (and anything unparsable as a number below 0) as "derive from tickTime".
fn parse_timeout(value: &str) -> Option<u32> {
    value
        .parse::<i64>()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
}

fn parse_jute_max_buffer(value: &str) -> Option<u32> {
    match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

fn parse_whitelist(value: &str) -> FourLetterWhitelist {
    let words: BTreeSet<String> = value
        .split(',')
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    if words.contains("*") {
        FourLetterWhitelist::All
    } else {
        FourLetterWhitelist::Only(words)
    }
}

fn parse_server(key: &str, value: &str) -> Result<QuorumServer, String> {
    let id = key
        .strip_prefix("server.")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| "server.N needs a numeric N".to_owned())?;
    let (address, client_address) = match value.split_once(';') {
        Some((address, client)) => (address.trim(), Some(client.trim().to_owned())),
        None => (value.trim(), None),
    };
    let parts: Vec<&str> = address.split(':').collect();
    let port = |text: Option<&&str>| -> Result<u16, String> {
        text.and_then(|p| p.parse().ok()).ok_or_else(|| {
            "expected host:quorumPort:electionPort[:participant|observer]".to_owned()
        })
    };
    let host = parts
        .first()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| "missing host".to_owned())?;
    let observer = match parts.get(3).map(|r| r.trim()) {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(other) => return Err(format!("unknown role {other}: participant or observer")),
    };
    Ok(QuorumServer {
        id,
        host: (*host).to_owned(),
        quorum_port: port(parts.get(1))?,
        election_port: port(parts.get(2))?,
        observer,
        client_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_standalone_on_loopback() {
        let config = ServerConfig::default();
        assert_eq!(
            config.client_address,
            "127.0.0.1:2181".parse().expect("address")
        );
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.data_log_dir, PathBuf::from("data"));
        assert_eq!(config.min_session_timeout_ms, 6000);
        assert_eq!(config.max_session_timeout_ms, 60000);
        assert!(config.four_letter_whitelist.allows("srvr"));
        assert!(!config.four_letter_whitelist.allows("ruok"));
    }

    #[test]
    fn a_sample_zoo_cfg_is_read_as_zookeeper_reads_it() {
        let text = "\
# The number of milliseconds of each tick
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2182
clientPortAddress = 127.0.0.2
#maxClientCnxns=60
autopurge.snapRetainCount=1
autopurge.purgeInterval=1
4lw.commands.whitelist=ruok, srvr,mntr
jute.maxbuffer=0x200000
forceSync=no
extendedTypesEnabled=true
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
someFutureKnob=1
server.1=127.0.0.1:2888:3888
server.2=127.0.0.1:2889:3889:observer;127.0.0.1:2183
";
        let config = ServerConfig::from_text(text, "zoo.cfg").expect("parses");
        assert_eq!(config.tick_time_ms, 2000);
        assert_eq!(config.min_session_timeout_ms, 4000);
        assert_eq!(config.max_session_timeout_ms, 40000);
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(config.data_log_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(
            config.client_address,
            "127.0.0.2:2182".parse().expect("address")
        );
        assert_eq!(config.autopurge_snap_retain_count, 3);
        assert_eq!(config.autopurge_purge_interval_hours, 1);
        assert!(config.four_letter_whitelist.allows("mntr"));
        assert!(!config.four_letter_whitelist.allows("dump"));
        assert_eq!(config.jute_max_buffer, 0x200000);
        assert!(!config.force_sync);
        assert!(config.extended_types_enabled);
        assert_eq!(
            config.super_digest.as_deref(),
            Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
        );
        assert_eq!(config.servers.len(), 2);
        assert_eq!(config.servers[1].election_port, 3889);
        assert!(config.servers[1].observer);
        assert_eq!(
            config.servers[1].client_address.as_deref(),
            Some("127.0.0.1:2183")
        );
        assert_eq!(
            config
                .system_properties
                .get("zookeeper.someFutureKnob")
                .map(String::as_str),
            Some("1")
        );
        let report = config.unsupported_report();
        assert_eq!(report.len(), 2, "{report:?}");
        assert!(report[0].starts_with("<defaults>:16: metricsProvider.className is a ZooKeeper"));
        assert!(report[1].contains(":17: someFutureKnob is not a setting"));
    }

    #[test]
    fn properties_syntax_matches_java() {
        let props = parse_properties(
            "a=1\n  b : 2 \nc 3\n! comment\nd=multi\\\n   line\ne\\=x=y\nf=\\u0041\\t\ng\n",
        );
        let pairs: Vec<(&str, &str)> = props
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("a", "1"),
                ("b", "2"),
                ("c", "3"),
                ("d", "multiline"),
                ("e=x", "y"),
                ("f", "A"),
                ("g", "")
            ]
        );
        assert_eq!(props[3].line, 5);
    }

    #[test]
    fn bad_values_name_the_file_line_and_key() {
        let err = ServerConfig::from_text("tickTime=2000\nclientPort=http\n", "zoo.cfg")
            .expect_err("invalid");
        assert_eq!(err.to_string(), "zoo.cfg:2: clientPort=http: a TCP port");
        let err = ServerConfig::from_text("minSessionTimeout=9000\nmaxSessionTimeout=4000\n", "z")
            .expect_err("invalid");
        assert!(err
            .to_string()
            .contains("must not exceed maxSessionTimeout"));
    }

    #[test]
    fn explicit_session_bounds_and_log_dir_win() {
        let config = ServerConfig::from_text(
            "dataDir=d\ndataLogDir=l\nminSessionTimeout=100\nmaxSessionTimeout=-1\n",
            "z",
        )
        .expect("parses");
        assert_eq!(config.data_log_dir, PathBuf::from("l"));
        assert_eq!(config.min_session_timeout_ms, 100);
        assert_eq!(config.max_session_timeout_ms, 60000);
        assert_eq!(config.log_segment_size(), 64 * 1024 * 1024);
    }
}

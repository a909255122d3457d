//! Command-line parsing for `zk-bench` (hand-rolled: a dozen flags do not need a parser
//! crate). Every flag is documented in [`HELP`]; `--flag value` and `--flag=value` are both
//! accepted.

use std::time::Duration;

use std::path::PathBuf;

use super::mix::Mix;
use super::probe::RawFsyncConfig;
use super::{BenchConfig, RunLength};

/// The `--help` text.
pub const HELP: &str = "\
zk-bench: a load generator that speaks the ZooKeeper client protocol

USAGE:
    zk-bench [OPTIONS]

Opens SESSIONS sessions, each keeping up to OUTSTANDING requests in flight, and sends a mix of
requests for a duration or a number of operations. Reports throughput and latency percentiles
(HDR histogram, microseconds) per operation, errors by ZooKeeper error code, and the client's
own CPU use (so you can tell whether the client was the bottleneck).

Before measuring, a setup session creates /zk-bench and /zk-bench/new, and, when the mix has
set, get, exists, children or multi, the keys /zk-bench/k0000000.. with the payload as data
(keys that exist already get the payload written). Nothing is deleted at the end.

OPTIONS:
    --hosts HOST:PORT[,HOST:PORT...]
            Servers; sessions are spread over them round-robin. [default: 127.0.0.1:2181]
    --sessions N
            Number of sessions (TCP connections). [default: 1]
    --outstanding M
            Requests each session keeps in flight (pipelined, answered in order). [default: 1]
    --mix NAME=WEIGHT[,NAME=WEIGHT...]
            Operation mix; weights are relative. Names:
              create    create a persistent znode /zk-bench/new/<session>-<n> with the payload
              set       setData of a random key with the payload (any version)
              get       getData of a random key
              exists    exists of a random key
              children  getChildren of a random key (keys have no children)
              delete    delete the oldest znode this session created (a create is sent
                        instead while the session has none left to delete)
              multi     a multi of --multi-ops setData on random keys
            ZooKeeper's names (setData, getData, getChildren) are accepted too.
            [default: get=90,set=10]
    --payload BYTES
            Data size of every create and setData. [default: 100]
    --distinct-payloads
            Give every create and setData data of its own (pseudo-random hex digits, which
            compress about as well as typical znode data) instead of the same payload each time
            (which a compressed snapshot shrinks to almost nothing). The setup's keys still get
            the one payload.
    --keys K
            Size of the key space (at most 10000000). [default: 10000]
    --multi-ops K
            setData operations inside each multi. [default: 4]
    --duration SECONDS
            Measure for this long after the warm-up (fractions allowed). [default: 10]
    --ops N
            Instead of --duration: send exactly N measured requests over all sessions.
    --warmup SECONDS
            Unmeasured load before measuring starts. [default: 2 with --duration, 0 with --ops]
    --session-timeout MS
            Session timeout to ask for; the server may adjust it. Idle sessions ping every
            third of it, and a session that hears nothing for a whole timeout is lost.
            [default: 30000]
    --threads N
            Runtime worker threads; 1 runs every session on one thread. [default: 1]
    --seed N
            Seed for the choice of operations, keys and payload bytes. [default: 1]
    --reconnect
            When a session's connection fails (the server died, or closed it while electing a
            leader), open a new session on the next of --hosts (then the next, every 50 ms)
            and go on until the run ends, instead of ending the session. The report then also
            lists connection losses, reconnects and the pauses in successful writes (over all
            sessions together) of at least 100 ms, the longest 32, with their start and end as
            Unix time in ns: benches/compare kills an ensemble's leader during such a run and
            reads its failover time from them. When the load starts, a line on standard error
            tells when: zk-bench: load started at N ns since the epoch; measuring from M ns.
    --sync-create
            Shorthand for workload (a), synchronous creates: --sessions 1 --outstanding 1
            --mix create=100 --payload 100. Flags given explicitly still win.
    --json
            Print the report as one JSON object instead of a table.
    -h, --help
            Print this text.

PROBES (no load; used by benches/compare):
    --raw-fsync DIR
            Instead of a benchmark: measure the disk's floor for a durable write. Creates a
            64 MiB file in DIR (zero-written and synced), then times --ops pwrite of --payload
            bytes, each after the previous one, each followed by fdatasync (after 100
            unmeasured ones), and removes the file. Put DIR on the file system of the data
            directories. [--ops default: 2000]
    --wait-read PATH
            Instead of a benchmark: open a session to the first of --hosts and getData PATH,
            every 5 ms until a read succeeds; print when (Unix time in ns, to subtract a
            server's start time from) and after how many attempts. Exit status 1 when no read
            succeeded within --wait-timeout.
    --wait-timeout SECONDS
            How long --wait-read keeps trying. [default: 600]

A request counts when its reply arrives; failed requests count in throughput and latency and
are also listed by error code. A request is measured when it is sent after the warm-up.

EXIT STATUS:
    0  the run completed
    1  the server was unreachable, refused a session, or setup failed; or a session was lost
       during the run (the report is still printed)
    2  bad command line

EXAMPLES:
    zk-bench --hosts 127.0.0.1:2181 --sessions 32 --outstanding 8 --mix set=100 --duration 10
    zk-bench --sync-create --duration 10
    zk-bench --sessions 4 --outstanding 16 --mix get=90,set=10 --ops 100000 --json
    zk-bench --raw-fsync /var/lib/zookeeper --json
    zk-bench --hosts 127.0.0.1:2181 --wait-read /zk-bench --json
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print [`HELP`].
    Help,
    /// Run a benchmark.
    Run {
        /// The benchmark.
        config: BenchConfig,
        /// Print JSON instead of the table.
        json: bool,
    },
    /// Measure `pwrite` + `fdatasync` ([`super::probe::raw_fsync`]).
    RawFsync {
        /// What to measure.
        config: RawFsyncConfig,
        /// Print JSON instead of a line of text.
        json: bool,
    },
    /// Poll a server until a read succeeds ([`super::probe::wait_read`]).
    WaitRead {
        /// `host:port`.
        host: String,
        /// The znode to read.
        path: String,
        /// How long to keep trying.
        timeout: Duration,
        /// Print JSON instead of a line of text.
        json: bool,
    },
}

/// Flags as given; `None` = not given.
#[derive(Debug, Default)]
struct Given {
    hosts: Option<Vec<String>>,
    sessions: Option<u32>,
    outstanding: Option<u32>,
    mix: Option<Mix>,
    payload_bytes: Option<usize>,
    keys: Option<u32>,
    multi_ops: Option<u32>,
    duration: Option<Duration>,
    ops: Option<u64>,
    warmup: Option<Duration>,
    session_timeout_ms: Option<i32>,
    threads: Option<usize>,
    seed: Option<u64>,
    sync_create: bool,
    distinct_payloads: bool,
    reconnect: bool,
    json: bool,
    raw_fsync: Option<PathBuf>,
    wait_read: Option<String>,
    wait_timeout: Option<Duration>,
}

/// Parses the arguments (without the program name).
///
/// # Errors
///
/// A message naming the flag at fault.
pub fn parse<I, S>(arguments: I) -> Result<Command, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut given = Given::default();
    let mut arguments = arguments.into_iter().map(Into::into);
    while let Some(argument) = arguments.next() {
        let (flag, inline_value) = match argument.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (argument.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match &inline_value {
                Some(value) => Ok(value.clone()),
                None => arguments
                    .next()
                    .ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--hosts" => {
                let hosts: Vec<String> = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|host| !host.is_empty())
                    .map(str::to_owned)
                    .collect();
                if hosts.is_empty() {
                    return Err("--hosts names no server".to_owned());
                }
                given.hosts = Some(hosts);
            }
            "--sessions" => given.sessions = Some(number(&flag, &value()?)?),
            "--outstanding" => given.outstanding = Some(number(&flag, &value()?)?),
            "--mix" => given.mix = Some(Mix::parse(&value()?).map_err(|error| error.to_string())?),
            "--payload" => given.payload_bytes = Some(number(&flag, &value()?)?),
            "--keys" => given.keys = Some(number(&flag, &value()?)?),
            "--multi-ops" => given.multi_ops = Some(number(&flag, &value()?)?),
            "--duration" => given.duration = Some(seconds(&flag, &value()?)?),
            "--ops" => given.ops = Some(number(&flag, &value()?)?),
            "--warmup" => given.warmup = Some(seconds(&flag, &value()?)?),
            "--session-timeout" => given.session_timeout_ms = Some(number(&flag, &value()?)?),
            "--threads" => given.threads = Some(number(&flag, &value()?)?),
            "--seed" => given.seed = Some(number(&flag, &value()?)?),
            "--sync-create" | "--json" | "--distinct-payloads" | "--reconnect"
                if inline_value.is_some() =>
            {
                return Err(format!("{flag} takes no value"));
            }
            "--raw-fsync" => given.raw_fsync = Some(PathBuf::from(value()?)),
            "--wait-read" => given.wait_read = Some(value()?),
            "--wait-timeout" => given.wait_timeout = Some(seconds(&flag, &value()?)?),
            "--sync-create" => given.sync_create = true,
            "--distinct-payloads" => given.distinct_payloads = true,
            "--reconnect" => given.reconnect = true,
            "--json" => given.json = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let json = given.json;
    if let Some(probe) = given.probe_command()? {
        return Ok(probe);
    }
    let config = given.into_config()?;
    config.validate().map_err(|error| error.to_string())?;
    Ok(Command::Run { config, json })
}

impl Given {
    /// The probe asked for, if any (`--raw-fsync`, `--wait-read`).
    fn probe_command(&mut self) -> Result<Option<Command>, String> {
        let json = self.json;
        match (self.raw_fsync.take(), self.wait_read.take()) {
            (Some(_), Some(_)) => Err("give --raw-fsync or --wait-read, not both".to_owned()),
            (Some(dir), None) => {
                let mut config = RawFsyncConfig {
                    dir,
                    ..RawFsyncConfig::default()
                };
                config.count = self.ops.unwrap_or(config.count);
                config.record_bytes = self.payload_bytes.unwrap_or(config.record_bytes);
                if config.count == 0 || config.record_bytes == 0 {
                    return Err("--raw-fsync needs --ops and --payload above 0".to_owned());
                }
                if config.record_bytes > super::MAX_PAYLOAD_BYTES {
                    return Err(format!(
                        "--payload must be at most {} bytes",
                        super::MAX_PAYLOAD_BYTES
                    ));
                }
                Ok(Some(Command::RawFsync { config, json }))
            }
            (None, Some(path)) => {
                if !path.starts_with('/') {
                    return Err(format!(
                        "--wait-read: `{path}` is not an absolute znode path"
                    ));
                }
                let host = self
                    .hosts
                    .as_ref()
                    .and_then(|hosts| hosts.first().cloned())
                    .unwrap_or_else(|| BenchConfig::default().hosts[0].clone());
                Ok(Some(Command::WaitRead {
                    host,
                    path,
                    timeout: self.wait_timeout.unwrap_or(Duration::from_secs(600)),
                    json,
                }))
            }
            (None, None) if self.wait_timeout.is_some() => {
                Err("--wait-timeout goes with --wait-read".to_owned())
            }
            (None, None) => Ok(None),
        }
    }

    fn into_config(self) -> Result<BenchConfig, String> {
        let mut config = BenchConfig::default();
        if self.sync_create {
            config.sessions = 1;
            config.outstanding = 1;
            config.mix = Mix::only(super::Operation::Create);
            config.payload_bytes = 100;
        }
        config.hosts = self.hosts.unwrap_or(config.hosts);
        config.sessions = self.sessions.unwrap_or(config.sessions);
        config.outstanding = self.outstanding.unwrap_or(config.outstanding);
        config.mix = self.mix.unwrap_or(config.mix);
        config.payload_bytes = self.payload_bytes.unwrap_or(config.payload_bytes);
        config.keys = self.keys.unwrap_or(config.keys);
        config.distinct_payloads = self.distinct_payloads;
        config.reconnect = self.reconnect;
        config.multi_ops = self.multi_ops.unwrap_or(config.multi_ops);
        config.session_timeout_ms = self.session_timeout_ms.unwrap_or(config.session_timeout_ms);
        config.threads = self.threads.unwrap_or(config.threads);
        config.seed = self.seed.unwrap_or(config.seed);
        let default_warmup = match (self.duration, self.ops) {
            (Some(_), Some(_)) => return Err("give --duration or --ops, not both".to_owned()),
            (_, Some(ops)) => {
                config.length = RunLength::Operations(ops);
                Duration::ZERO
            }
            (Some(duration), None) => {
                config.length = RunLength::Duration(duration);
                config.warmup
            }
            (None, None) => config.warmup,
        };
        config.warmup = self.warmup.unwrap_or(default_warmup);
        Ok(config)
    }
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{flag}: `{text}` is not a valid number"))
}

/// Non-negative seconds, fractions allowed, at most a day.
fn seconds(flag: &str, text: &str) -> Result<Duration, String> {
    let value: f64 = number(flag, text)?;
    if !(0.0..=86_400.0).contains(&value) {
        return Err(format!(
            "{flag}: `{text}` is not between 0 and 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Operation;

    fn run_config(arguments: &[&str]) -> (BenchConfig, bool) {
        match parse(arguments.iter().copied()) {
            Ok(Command::Run { config, json }) => (config, json),
            other => panic!("{arguments:?} gave {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let (config, json) = run_config(&[]);
        assert_eq!(config, BenchConfig::default());
        assert!(!json);
        assert_eq!(parse(["--help"]), Ok(Command::Help));
        assert_eq!(parse(["--sessions", "2", "-h"]), Ok(Command::Help));
    }

    #[test]
    fn every_flag() {
        let (config, json) = run_config(&[
            "--hosts",
            "127.0.0.1:1,localhost:2",
            "--sessions=32",
            "--outstanding",
            "8",
            "--mix",
            "set=100",
            "--payload",
            "1024",
            "--keys",
            "500",
            "--multi-ops",
            "3",
            "--duration",
            "2.5",
            "--warmup",
            "0.5",
            "--session-timeout",
            "6000",
            "--threads",
            "2",
            "--seed",
            "9",
            "--distinct-payloads",
            "--reconnect",
            "--json",
        ]);
        assert!(json);
        assert_eq!(config.hosts, ["127.0.0.1:1", "localhost:2"]);
        assert_eq!(config.sessions, 32);
        assert_eq!(config.outstanding, 8);
        assert_eq!(config.mix.to_string(), "set=100");
        assert_eq!(config.payload_bytes, 1024);
        assert_eq!(config.keys, 500);
        assert_eq!(config.multi_ops, 3);
        assert_eq!(
            config.length,
            RunLength::Duration(Duration::from_millis(2500))
        );
        assert_eq!(config.warmup, Duration::from_millis(500));
        assert_eq!(config.session_timeout_ms, 6000);
        assert_eq!(config.threads, 2);
        assert_eq!(config.seed, 9);
        assert!(config.distinct_payloads);
        assert!(config.reconnect);
    }

    #[test]
    fn ops_mode_has_no_default_warmup() {
        let (config, _) = run_config(&["--ops", "2000"]);
        assert_eq!(config.length, RunLength::Operations(2000));
        assert_eq!(config.warmup, Duration::ZERO);
        let (config, _) = run_config(&["--ops", "2000", "--warmup", "1"]);
        assert_eq!(config.warmup, Duration::from_secs(1));
    }

    #[test]
    fn sync_create_is_workload_a_unless_overridden() {
        let (config, _) = run_config(&["--outstanding", "4", "--sync-create"]);
        assert_eq!(config.sessions, 1);
        assert_eq!(config.outstanding, 4);
        assert_eq!(config.mix, Mix::only(Operation::Create));
        assert_eq!(config.payload_bytes, 100);
        let (config, _) = run_config(&["--sync-create"]);
        assert_eq!(config.outstanding, 1);
    }

    #[test]
    fn bad_command_lines() {
        for arguments in [
            &["--sessions"][..],
            &["--sessions", "many"],
            &["--sessions", "0"],
            &["--duration", "-1"],
            &["--duration", "1", "--ops", "5"],
            &["--mix", "read=1"],
            &["--json=yes"],
            &["--reconnect=1"],
            &["--frobnicate"],
            &["extra"],
            &["--hosts", ","],
        ] {
            assert!(parse(arguments.iter().copied()).is_err(), "{arguments:?}");
        }
    }

    #[test]
    fn probes() {
        match parse(["--raw-fsync", "/tmp/x", "--ops", "50", "--json"]) {
            Ok(Command::RawFsync { config, json }) => {
                assert!(json);
                assert_eq!(config.dir, PathBuf::from("/tmp/x"));
                assert_eq!(config.count, 50);
                assert_eq!(config.record_bytes, 100);
            }
            other => panic!("{other:?}"),
        }
        match parse([
            "--hosts",
            "127.0.0.1:9",
            "--wait-read",
            "/a",
            "--wait-timeout",
            "2",
        ]) {
            Ok(Command::WaitRead {
                host,
                path,
                timeout,
                json,
            }) => {
                assert_eq!(host, "127.0.0.1:9");
                assert_eq!(path, "/a");
                assert_eq!(timeout, Duration::from_secs(2));
                assert!(!json);
            }
            other => panic!("{other:?}"),
        }
        for arguments in [
            &["--raw-fsync", "/tmp", "--wait-read", "/"][..],
            &["--wait-read", "relative"],
            &["--wait-timeout", "3"],
            &["--raw-fsync", "/tmp", "--payload", "0"],
        ] {
            assert!(parse(arguments.iter().copied()).is_err(), "{arguments:?}");
        }
    }

    #[test]
    fn help_documents_every_flag() {
        for flag in [
            "--hosts",
            "--sessions",
            "--outstanding",
            "--mix",
            "--payload",
            "--keys",
            "--multi-ops",
            "--duration",
            "--ops",
            "--warmup",
            "--session-timeout",
            "--threads",
            "--seed",
            "--sync-create",
            "--json",
            "--help",
            "--distinct-payloads",
            "--reconnect",
            "--raw-fsync",
            "--wait-read",
            "--wait-timeout",
        ] {
            assert!(HELP.contains(flag), "{flag} is not in --help");
        }
    }
}

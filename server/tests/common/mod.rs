//! Test support for the black-box and differential tests: start a ZooKeeper server (ours or
//! Apache ZooKeeper 3.8 from Debian) on a free loopback port with a fresh data directory and a
//! generated `zoo.cfg`, wait until it answers `ruok`, and stop it when dropped; run external
//! clients (Python scripts, zkCli.sh, cli_mt) with a bound on their running time.
//!
//! Rules this module keeps: everything listens on and connects to 127.0.0.1 only; every wait is
//! bounded; only processes started here are signalled, by their own PID or by the process group
//! created for them at spawn time, and only while they have not been reaped (so the PID cannot
//! have been reused).
//!
//! Every server runs under `timeout(1)` as a lifetime guard: if the test process itself dies
//! before `Drop` runs, the server still ends after [`SERVER_LIFETIME_LIMIT`].

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Debian's Python, which has `python3-kazoo` (not the pyenv `python3` that may come first on
/// `PATH`).
pub const PYTHON: &str = "/usr/bin/python3";
/// Java 17 (Debian `openjdk-17-jre-headless`).
pub const JAVA: &str = "/usr/bin/java";
/// Apache ZooKeeper 3.8 (Debian `zookeeper` / `libzookeeper-java`). Its manifest `Class-Path`
/// names every dependency jar in `/usr/share/java`.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// An SLF4J binding, so that Apache ZooKeeper's log reaches its stderr (our log file).
pub const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
/// The Java command-line client (Debian `zookeeper`).
pub const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
/// The C client's shell (Debian `zookeeper-bin`).
pub const CLI_MT: &str = "/usr/lib/zookeeper/bin/cli_mt";

/// How long a server may take from spawn to answering `ruok` (a JVM on a loaded CI machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server has to exit after SIGTERM before it gets SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most a server may live, even if the test process is killed (enforced by `timeout(1)`).
pub const SERVER_LIFETIME_LIMIT: Duration = Duration::from_secs(1800);
/// Default bound for one Python script run.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

/// Which server to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `zk-server --config <zoo.cfg>` (this crate's binary).
    Ours,
    /// Apache ZooKeeper 3.8 standalone, `ZooKeeperServerMain <zoo.cfg>`, in the foreground.
    Apache,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "zk-server",
            Kind::Apache => "apache-zookeeper",
        }
    }
}

/// The knobs a test may turn. Each becomes a `zoo.cfg` line; for Apache, the ones ZooKeeper
/// 3.8 does not take from `zoo.cfg` are passed as JVM system properties as well (see
/// `Config::apache_jvm_flags`). Findings on Apache 3.8.0: `extendedTypesEnabled`,
/// `DigestAuthenticationProvider.superDigest`, `4lw.commands.whitelist` and
/// `admin.enableServer` work from `zoo.cfg` (unknown keys become `zookeeper.<key>` system
/// properties, read after the file is parsed); `znode.container.checkIntervalMs` does not (it
/// is read without the `zookeeper.` prefix), so it also goes on the java command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// `tickTime`, ms. Default 2000 (ZooKeeper's sample configuration).
    pub tick_time_ms: u32,
    /// `minSessionTimeout`, ms. Default: unset (2 ticks).
    pub min_session_timeout_ms: Option<u32>,
    /// `maxSessionTimeout`, ms. Default: unset (20 ticks).
    pub max_session_timeout_ms: Option<u32>,
    /// `extendedTypesEnabled` (TTL nodes). Default false.
    pub extended_types_enabled: bool,
    /// `DigestAuthenticationProvider.superDigest`, `super:<base64 sha1>`. Default none.
    pub super_digest: Option<String>,
    /// `4lw.commands.whitelist`. Default `*`. Must allow `ruok`: readiness is checked with it.
    pub four_letter_whitelist: String,
    /// `znode.container.checkIntervalMs`: how often containers and TTL nodes are checked.
    /// Default: unset (60 s).
    pub container_check_interval_ms: Option<u64>,
    /// Any other `key=value` lines, written as given.
    pub extra: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tick_time_ms: 2000,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            extended_types_enabled: false,
            super_digest: None,
            four_letter_whitelist: "*".to_owned(),
            container_check_interval_ms: None,
            extra: Vec::new(),
        }
    }
}

/// `super:` + base64(sha1("super:test-super-secret")), i.e. the digest of the password
/// `test-super-secret` for the user `super`
/// (`python3 -c "from kazoo.security import make_digest_acl_credential as m;
/// print(m('super', 'test-super-secret'))"`).
pub const SUPER_DIGEST: &str = "super:AaO9nBOv+DJFv92R9NUZrTXjqLc=";
/// The credential that matches [`SUPER_DIGEST`], as `add_auth('digest', ...)` takes it.
pub const SUPER_CREDENTIAL: &str = "super:test-super-secret";

impl Config {
    /// Short ticks, so that session tests expire within a few seconds: tick 200 ms, session
    /// timeouts 400 ms .. 10 s.
    pub fn fast_sessions() -> Config {
        Config {
            tick_time_ms: 200,
            min_session_timeout_ms: Some(400),
            max_session_timeout_ms: Some(10_000),
            ..Config::default()
        }
    }

    /// Everything the kazoo scripts need: fast ticks, TTL nodes, a container check every
    /// 200 ms, the test super digest.
    pub fn for_scripts() -> Config {
        Config {
            extended_types_enabled: true,
            container_check_interval_ms: Some(200),
            super_digest: Some(SUPER_DIGEST.to_owned()),
            ..Config::fast_sessions()
        }
    }

    /// The `zoo.cfg` text for a server on `port` with data in `data_dir`.
    fn zoo_cfg(&self, kind: Kind, port: u16, data_dir: &Path) -> String {
        let mut text = String::new();
        let mut line = |key: &str, value: &str| {
            let _ = writeln!(text, "{key}={value}");
        };
        line("tickTime", &self.tick_time_ms.to_string());
        line("dataDir", &data_dir.display().to_string());
        line("clientPort", &port.to_string());
        line("clientPortAddress", "127.0.0.1");
        line("4lw.commands.whitelist", &self.four_letter_whitelist);
        if let Some(ms) = self.min_session_timeout_ms {
            line("minSessionTimeout", &ms.to_string());
        }
        if let Some(ms) = self.max_session_timeout_ms {
            line("maxSessionTimeout", &ms.to_string());
        }
        if self.extended_types_enabled {
            line("extendedTypesEnabled", "true");
        }
        if let Some(digest) = &self.super_digest {
            line("DigestAuthenticationProvider.superDigest", digest);
        }
        if let Some(ms) = self.container_check_interval_ms {
            // zk-server reads this key; Apache ZooKeeper 3.8 turns it into the system property
            // `zookeeper.znode.container.checkIntervalMs`, which nothing reads (it reads
            // `znode.container.checkIntervalMs`), so Apache also gets a -D flag.
            line("znode.container.checkIntervalMs", &ms.to_string());
        }
        if kind == Kind::Apache {
            // No Jetty admin server (it would take a fixed port, 8080).
            line("admin.enableServer", "false");
        }
        for (key, value) in &self.extra {
            line(key, value);
        }
        text
    }

    /// JVM flags for Apache ZooKeeper: a small heap and a quick start, plus the settings 3.8 only
    /// takes as system properties.
    fn apache_jvm_flags(&self) -> Vec<String> {
        let mut flags: Vec<String> = [
            "-Xms32m",
            "-Xmx192m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData",
            "-Xshare:auto",
            "-Djava.awt.headless=true",
            "-Djava.net.preferIPv4Stack=true",
            "-Dzookeeper.admin.enableServer=false",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        if let Some(ms) = self.container_check_interval_ms {
            flags.push(format!("-Dznode.container.checkIntervalMs={ms}"));
        }
        flags
    }
}

/// A running server. Dropping it stops it (SIGTERM, then SIGKILL) and removes its directory,
/// unless the thread is panicking: then the directory (with `zoo.cfg` and `server.log`) is kept
/// and its path printed.
pub struct Server {
    kind: Kind,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    log_path: PathBuf,
}

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

/// A port that was free a moment ago: bind 127.0.0.1:0, read the port, release it.
pub fn free_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 to pick a port");
    listener.local_addr().expect("local address").port()
}

/// A fresh directory under cargo's per-target temporary directory.
pub fn fresh_dir(label: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("blackbox")
        .join(format!("{label}-{}-{n}", std::process::id()));
    if dir.exists() {
        fs::remove_dir_all(&dir).expect("remove a stale test directory");
    }
    fs::create_dir_all(&dir).expect("create the test directory");
    dir
}

/// Fails with a message naming the Debian package when a prerequisite is missing.
pub fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` \
         (apt-get install {package})"
    );
}

impl Server {
    /// zk-server with the default [`Config`].
    pub fn ours() -> Server {
        Server::start(Kind::Ours, &Config::default())
    }

    /// Apache ZooKeeper 3.8 with the default [`Config`].
    pub fn apache() -> Server {
        Server::start(Kind::Apache, &Config::default())
    }

    /// Starts a server of `kind` and waits until it answers `ruok` with `imok`. Panics (with the
    /// server's log) if it exits or does not answer within [`START_TIMEOUT`]. A port taken by
    /// someone else between picking and binding is retried with another port.
    pub fn start(kind: Kind, config: &Config) -> Server {
        match kind {
            Kind::Ours => {}
            Kind::Apache => {
                require(JAVA, "openjdk-17-jre-headless");
                require(ZOOKEEPER_JAR, "zookeeper");
            }
        }
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let dir = fresh_dir(kind.name());
            let data_dir = dir.join("data");
            fs::create_dir_all(&data_dir).expect("create dataDir");
            let cfg_path = dir.join("zoo.cfg");
            fs::write(&cfg_path, config.zoo_cfg(kind, port, &data_dir)).expect("write zoo.cfg");
            let log_path = dir.join("server.log");
            let log = fs::File::create(&log_path).expect("create server.log");
            let log_err = log.try_clone().expect("clone the log file handle");

            let mut command = Command::new("timeout");
            command
                .arg("--kill-after=5")
                .arg(SERVER_LIFETIME_LIMIT.as_secs().to_string());
            match kind {
                Kind::Ours => {
                    command
                        .arg(env!("CARGO_BIN_EXE_zk-server"))
                        .arg("--config")
                        .arg(&cfg_path)
                        .env("RUST_LOG", "info");
                }
                Kind::Apache => {
                    let classpath = if Path::new(SLF4J_SIMPLE_JAR).exists() {
                        format!("{ZOOKEEPER_JAR}:{SLF4J_SIMPLE_JAR}")
                    } else {
                        ZOOKEEPER_JAR.to_owned()
                    };
                    command
                        .arg(JAVA)
                        .args(config.apache_jvm_flags())
                        .arg("-cp")
                        .arg(classpath)
                        .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                        .arg(&cfg_path);
                }
            }
            command
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log_err))
                // Its own process group: the lifetime guard and the server are signalled
                // together, and a terminal's Ctrl-C does not reach them twice.
                .process_group(0);
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", kind.name()));
            let mut server = Server {
                kind,
                child: Some(child),
                port,
                dir,
                log_path,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(Exited(status)) => {
                    last_log = server.log_tail(60);
                    let port_taken = last_log.contains("Address already in use");
                    // Keep nothing of a failed attempt but its log text.
                    server.stop_quietly();
                    if port_taken {
                        continue;
                    }
                    panic!(
                        "{} exited ({status}) before answering ruok; log:\n{last_log}",
                        kind.name()
                    );
                }
                Err(NotReady) => {
                    let log = server.log_tail(60);
                    panic!(
                        "{} did not answer ruok on 127.0.0.1:{port} within {:?}; log:\n{log}",
                        kind.name(),
                        START_TIMEOUT
                    );
                }
            }
        }
        panic!(
            "{}: the port was taken three times in a row; last log:\n{last_log}",
            kind.name()
        );
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the connect string clients take.
    pub fn hosts(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The server's directory: `zoo.cfg`, `server.log`, `data/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Sends a four-letter word and returns the whole answer.
    pub fn four_letter_word(&self, word: &str) -> io::Result<String> {
        four_letter_word(self.address(), word, Duration::from_secs(5))
    }

    /// Whether the process is still running (not exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn wait_ready(&mut self) -> Result<(), StartFailure> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(Exited(status));
                }
            }
            if let Ok(answer) =
                four_letter_word(self.address(), "ruok", Duration::from_millis(1000))
            {
                if answer.trim() == "imok" {
                    // The answer must come from our process: if it failed to bind (the port
                    // was taken after free_port() released it), another server answered.
                    thread::sleep(Duration::from_millis(100));
                    if let Some(child) = self.child.as_mut() {
                        if let Ok(Some(status)) = child.try_wait() {
                            return Err(Exited(status));
                        }
                    }
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(NotReady);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server: SIGTERM, up to [`STOP_TIMEOUT`] for it to exit, then SIGKILL to its
    /// process group. Returns its exit status (None if it had to be killed).
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.stop_child()
    }

    fn stop_quietly(&mut self) {
        let _ = self.stop_child();
        let _ = fs::remove_dir_all(&self.dir);
    }

    fn stop_child(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        stop_child(&mut child, STOP_TIMEOUT)
    }
}

enum StartFailure {
    Exited(ExitStatus),
    NotReady,
}
use StartFailure::{Exited, NotReady};

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop_child();
        if thread::panicking() {
            eprintln!(
                "{} on port {} kept for inspection: {} (log: {})",
                self.kind.name(),
                self.port,
                self.dir.display(),
                self.log_path.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// SIGTERM to the child, a bounded wait, then SIGKILL to its process group (which it leads:
/// every child here is spawned with `process_group(0)`). The child has not been reaped before
/// this call, so its PID still names it.
pub fn stop_child(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let pid = child.id().to_string();
    let _ = Command::new("kill")
        .args(["-TERM", &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    kill_group(child);
    let _ = child.wait();
    None
}

/// SIGKILL to the process group led by `child` (spawned with `process_group(0)`), then to the
/// child itself in case it left the group.
pub fn kill_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
    }
}

/// Sends a four-letter word to `address` and reads the answer until the server closes.
pub fn four_letter_word(address: SocketAddr, word: &str, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// What a bounded run produced.
#[derive(Debug)]
pub struct RunOutput {
    /// None if it was killed for running too long.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// A readable account for a failure message.
    pub fn describe(&self) -> String {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => format!("killed after {:?} (time limit)", self.elapsed),
        };
        format!(
            "status: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs `command` with `stdin` fed to it, for at most `limit`; on time-out the whole process
/// group it leads is killed. Output is captured (read on threads, so a full pipe cannot block).
pub fn run_bounded(command: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> RunOutput {
    let started = Instant::now();
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let stdout = collect(child.stdout.take().expect("piped stdout"));
    let stderr = collect(child.stderr.take().expect("piped stderr"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let input = input.to_vec();
        // A writer thread: a child that does not read its input must not block us.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let deadline = started + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                kill_group(&mut child);
                let _ = child.wait();
                break None;
            }
        }
    };
    // A process the child left behind may hold the pipes open; its output is not waited for
    // beyond a few seconds (and it is not signalled: after the child was reaped, its PID no
    // longer names anything this module started).
    let output_deadline = Instant::now() + Duration::from_secs(5);
    let stdout = finish(stdout, output_deadline);
    let stderr = finish(stderr, output_deadline);
    RunOutput {
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    }
}

/// Reads a pipe to its end on a thread; the text arrives on the returned channel.
fn collect(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    receiver
}

/// The text `collect` read, waiting until `deadline` at most.
fn finish(receiver: mpsc::Receiver<String>, deadline: Instant) -> String {
    let left = deadline.saturating_duration_since(Instant::now());
    receiver
        .recv_timeout(left)
        .unwrap_or_else(|_| "<output still open after the process ended; not read>".to_owned())
}

/// The directory holding the Python scripts.
pub fn blackbox_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("blackbox")
}

/// Runs `/usr/bin/python3 tests/blackbox/<script> --hosts <server> <args>` (bounded by
/// [`SCRIPT_TIMEOUT`]) and returns its output, whatever its status.
pub fn run_python(server: &Server, script: &str, args: &[&str]) -> RunOutput {
    require(PYTHON, "python3");
    require(
        "/usr/lib/python3/dist-packages/kazoo/client.py",
        "python3-kazoo",
    );
    let path = blackbox_dir().join(script);
    assert!(path.exists(), "{} is missing", path.display());
    let mut command = Command::new(PYTHON);
    command
        .arg(&path)
        .arg("--hosts")
        .arg(server.hosts())
        .arg("--timeout")
        .arg((SCRIPT_TIMEOUT.as_secs() - 10).to_string())
        .args(args)
        .current_dir(blackbox_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        // Debian's interpreter with Debian's packages only: no user site, no PYTHONPATH.
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env("PYTHONNOUSERSITE", "1");
    run_bounded(&mut command, None, SCRIPT_TIMEOUT)
}

/// Runs a script and panics with its output and the server's log if it fails.
pub fn run_script(server: &Server, script: &str, args: &[&str]) -> RunOutput {
    let output = run_python(server, script, args);
    assert!(
        output.success(),
        "{script} against {} failed\n{}\n--- server log (tail) ---\n{}",
        server.kind().name(),
        output.describe(),
        server.log_tail(80)
    );
    output
}

/// A unified diff of two texts (line by line, 3 lines of context), or None if they are equal.
/// The output is cut after `max_lines` lines, so the first differences are what it shows; a
/// last line counts the differing lines it left out.
pub fn unified_diff(
    left_name: &str,
    left: &str,
    right_name: &str,
    right: &str,
    max_lines: usize,
) -> Option<String> {
    if left == right {
        return None;
    }
    let a: Vec<&str> = left.lines().collect();
    let b: Vec<&str> = right.lines().collect();
    let edits = line_edits(&a, &b);
    let context = 3;
    // Indices (into `edits`) of the changes, grouped into hunks that share context.
    let changes: Vec<usize> = (0..edits.len())
        .filter(|&k| !matches!(edits[k], Edit::Same(..)))
        .collect();
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &k in &changes {
        let start = k.saturating_sub(context);
        let end = (k + context + 1).min(edits.len());
        match hunks.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    let mut out = format!("--- {left_name}\n+++ {right_name}\n");
    let mut printed = 0;
    let mut shown_changes = 0;
    'hunks: for (start, end) in hunks {
        let (a_start, b_start) = edits[start].positions();
        let a_len = edits[start..end]
            .iter()
            .filter(|e| !matches!(e, Edit::Insert(_)))
            .count();
        let b_len = edits[start..end]
            .iter()
            .filter(|e| !matches!(e, Edit::Delete(_)))
            .count();
        let _ = writeln!(
            out,
            "@@ -{},{a_len} +{},{b_len} @@",
            a_start + 1,
            b_start + 1
        );
        for edit in &edits[start..end] {
            if printed >= max_lines {
                break 'hunks;
            }
            let line = match *edit {
                Edit::Same(i, _) => format!(" {}", a[i]),
                Edit::Delete(i) => format!("-{}", a[i]),
                Edit::Insert(j) => format!("+{}", b[j]),
            };
            if !matches!(edit, Edit::Same(..)) {
                shown_changes += 1;
            }
            out.push_str(&line);
            out.push('\n');
            printed += 1;
        }
    }
    if shown_changes < changes.len() {
        let _ = writeln!(
            out,
            "... and {} more differing lines",
            changes.len() - shown_changes
        );
    }
    Some(out)
}

/// One step of a line diff: a line in both texts, only in the left, or only in the right.
#[derive(Clone, Copy, Debug)]
enum Edit {
    Same(usize, usize),
    Delete(usize),
    Insert(usize),
}

impl Edit {
    /// Where this edit sits in the left and the right text (0-based line numbers).
    fn positions(self) -> (usize, usize) {
        match self {
            Edit::Same(i, j) => (i, j),
            Edit::Delete(i) => (i, 0),
            Edit::Insert(j) => (0, j),
        }
    }
}

/// A shortest edit script by longest common subsequence (quadratic: transcripts have hundreds
/// of lines). Texts too large for the table are compared line by line instead.
fn line_edits(a: &[&str], b: &[&str]) -> Vec<Edit> {
    const MAX_CELLS: usize = 16 * 1024 * 1024;
    if (a.len() + 1).saturating_mul(b.len() + 1) > MAX_CELLS {
        let mut edits = Vec::new();
        for k in 0..a.len().max(b.len()) {
            match (a.get(k), b.get(k)) {
                (Some(x), Some(y)) if x == y => edits.push(Edit::Same(k, k)),
                (x, y) => {
                    if x.is_some() {
                        edits.push(Edit::Delete(k));
                    }
                    if y.is_some() {
                        edits.push(Edit::Insert(k));
                    }
                }
            }
        }
        return edits;
    }
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let width = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * width];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut edits = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            edits.push(Edit::Same(i, j));
            i += 1;
            j += 1;
        } else if i < a.len()
            && (j == b.len() || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])
        {
            // Removals before additions, as diff(1) prints them.
            edits.push(Edit::Delete(i));
            i += 1;
        } else {
            edits.push(Edit::Insert(j));
            j += 1;
        }
    }
    edits
}

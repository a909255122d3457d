//! The command-line clients shipped by Debian against a running server: the Java `zkCli.sh`
//! (package `zookeeper`), one command per run, and the C client's `cli_mt` (package
//! `zookeeper-bin`), driven through its stdin one command at a time. The tests against
//! zk-server are at the top; `apache_reference` runs the same against Apache ZooKeeper 3.8 to
//! show that the expectations are right.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use common::{require, run_bounded, stop_child, Config, Kind, RunOutput, Server, CLI_MT, ZKCLI};

/// The bound for one zkCli.sh run (a JVM start and one request).
const ZKCLI_TIMEOUT: Duration = Duration::from_secs(60);
/// The bound on a zkCli.sh session's expiry (maxSessionTimeout is 2 s in that test).
const EPHEMERAL_EXPIRY_WAIT: Duration = Duration::from_secs(30);
/// The bound for one answer from cli_mt.
const CLI_MT_TIMEOUT: Duration = Duration::from_secs(15);

// ------------------------------------------------------------------ zkCli.sh

/// Runs `zkCli.sh -server 127.0.0.1:PORT <args>` once.
fn run_zkcli(server: &Server, args: &[&str]) -> RunOutput {
    require(ZKCLI, "zookeeper");
    let mut command = Command::new(ZKCLI);
    command
        .arg("-server")
        .arg(server.hosts())
        .args(args)
        // A small, quickly started JVM; zkCli.sh adds these to its java command line.
        .env(
            "CLIENT_JVMFLAGS",
            "-Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData",
        );
    run_bounded(&mut command, None, ZKCLI_TIMEOUT)
}

/// A zkCli.sh run that must succeed; returns its stdout and stderr together.
fn zkcli_ok(server: &Server, args: &[&str]) -> String {
    let output = run_zkcli(server, args);
    assert!(
        output.success(),
        "zkCli.sh {args:?} failed\n{}\n--- server log (tail) ---\n{}",
        output.describe(),
        server.log_tail(40)
    );
    format!("{}{}", output.stdout, output.stderr)
}

/// A zkCli.sh run that must fail (exit status 1) with `message` in its output.
fn zkcli_fails(server: &Server, args: &[&str], message: &str) {
    let output = run_zkcli(server, args);
    let text = format!("{}{}", output.stdout, output.stderr);
    assert!(
        output.status.is_some() && !output.success() && text.contains(message),
        "zkCli.sh {args:?} should fail with {message:?}\n{}",
        output.describe()
    );
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l.trim_end() == line)
}

fn assert_line(text: &str, line: &str, what: &str) {
    assert!(
        has_line(text, line),
        "{what}: expected the line {line:?} in:\n{text}"
    );
}

/// The names in zkCli.sh's `[a, b, c]` listing.
fn listing(text: &str) -> BTreeSet<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .unwrap_or_else(|| panic!("no [..] listing in:\n{text}"));
    line[1..line.len() - 1]
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn zkcli_commands(kind: Kind) {
    // Short sessions: zkCli.sh leaves its session open when it exits (see below).
    let config = Config {
        max_session_timeout_ms: Some(2000),
        ..Config::for_scripts()
    };
    let server = Server::start(kind, &config);
    let out = zkcli_ok(&server, &["create", "/zkcli", "hello"]);
    assert_line(&out, "Created /zkcli", "create");
    zkcli_fails(
        &server,
        &["create", "/zkcli", "again"],
        "Node already exists: /zkcli",
    );
    let out = zkcli_ok(&server, &["get", "/zkcli"]);
    assert_line(&out, "hello", "get");
    zkcli_ok(&server, &["set", "/zkcli", "world"]);
    let out = zkcli_ok(&server, &["get", "-s", "/zkcli"]);
    assert_line(&out, "world", "get -s data");
    for line in [
        "dataVersion = 1",
        "cversion = 0",
        "aclVersion = 0",
        "ephemeralOwner = 0x0",
        "dataLength = 5",
        "numChildren = 0",
    ] {
        assert_line(&out, line, "get -s stat");
    }
    let out = zkcli_ok(&server, &["stat", "/zkcli"]);
    assert_line(&out, "dataVersion = 1", "stat");
    zkcli_fails(
        &server,
        &["set", "-v", "7", "/zkcli", "x"],
        "version No is not valid : /zkcli",
    );

    let out = zkcli_ok(&server, &["create", "/zkcli/child", "c"]);
    assert_line(&out, "Created /zkcli/child", "create child");
    let out = zkcli_ok(&server, &["create", "-s", "/zkcli/seq-", "s"]);
    assert_line(&out, "Created /zkcli/seq-0000000001", "create -s");
    // zkCli.sh exits without closing its session: the ephemeral stays until the session
    // expires (the server caps zkCli's 30 s request at maxSessionTimeout).
    let out = zkcli_ok(&server, &["create", "-e", "/zkcli/eph", "e"]);
    assert_line(&out, "Created /zkcli/eph", "create -e");
    let deadline = Instant::now() + EPHEMERAL_EXPIRY_WAIT;
    loop {
        let output = run_zkcli(&server, &["stat", "/zkcli/eph"]);
        let text = format!("{}{}", output.stdout, output.stderr);
        if text.contains("Node does not exist: /zkcli/eph") {
            break;
        }
        assert!(
            output.success() && !text.contains("ephemeralOwner = 0x0\n"),
            "stat of the ephemeral\n{}",
            output.describe()
        );
        assert!(
            Instant::now() < deadline,
            "the ephemeral of zkCli.sh's session is still there after {EPHEMERAL_EXPIRY_WAIT:?}"
        );
        thread::sleep(Duration::from_millis(200));
    }
    let out = zkcli_ok(&server, &["ls", "/zkcli"]);
    assert_eq!(listing(&out), set(&["child", "seq-0000000001"]), "ls");
    let out = zkcli_ok(&server, &["ls", "-s", "/zkcli"]);
    assert_line(&out, "numChildren = 2", "ls -s");
    assert_line(&out, "cversion = 4", "ls -s: three creates and a delete");
    let out = zkcli_ok(&server, &["ls", "/"]);
    assert_eq!(listing(&out), set(&["zkcli", "zookeeper"]), "ls /");
    let out = zkcli_ok(&server, &["getAllChildrenNumber", "/zkcli"]);
    assert_line(&out, "2", "getAllChildrenNumber");
    let out = zkcli_ok(&server, &["sync", "/zkcli"]);
    assert_line(&out, "Sync is OK", "sync");
    let out = zkcli_ok(&server, &["whoami"]);
    assert_line(&out, "ip: 127.0.0.1", "whoami");

    let out = zkcli_ok(&server, &["getAcl", "/zkcli"]);
    assert_line(&out, "'world,'anyone", "getAcl scheme and id");
    assert_line(&out, ": cdrwa", "getAcl permissions");
    zkcli_ok(&server, &["setAcl", "/zkcli", "world:anyone:cdra"]);
    let out = zkcli_ok(&server, &["getAcl", "/zkcli"]);
    assert_line(&out, ": cdra", "getAcl after setAcl");
    zkcli_fails(
        &server,
        &["set", "/zkcli", "x"],
        "Insufficient permission : /zkcli",
    );
    zkcli_ok(&server, &["setAcl", "/zkcli", "world:anyone:cdrwa"]);
    let out = zkcli_ok(&server, &["stat", "/zkcli"]);
    assert_line(&out, "aclVersion = 2", "aclVersion after two setAcl");

    let out = zkcli_ok(&server, &["create", "-c", "/zkcli-container"]);
    assert_line(&out, "Created /zkcli-container", "create -c");
    let out = zkcli_ok(&server, &["create", "-t", "600000", "/zkcli-ttl"]);
    assert_line(&out, "Created /zkcli-ttl", "create -t (TTL)");

    zkcli_fails(&server, &["delete", "/zkcli"], "Node not empty: /zkcli");
    zkcli_ok(&server, &["delete", "/zkcli/child"]);
    zkcli_ok(&server, &["deleteall", "/zkcli"]);
    zkcli_fails(&server, &["get", "/zkcli"], "Node does not exist: /zkcli");
    zkcli_fails(
        &server,
        &["delete", "/zkcli"],
        "Node does not exist: /zkcli",
    );
}

// ------------------------------------------------------------------ cli_mt

/// A running `cli_mt`: commands go to its stdin; its answers (on stderr) are read line by line.
struct CliMt {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    transcript: Vec<String>,
}

impl CliMt {
    fn start(server: &Server) -> CliMt {
        require(CLI_MT, "zookeeper-bin");
        let mut child = Command::new(CLI_MT)
            .arg("-h")
            .arg(server.hosts())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CLI_MT}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let (sender, lines) = mpsc::channel();
        forward_lines(child.stdout.take().expect("piped stdout"), sender.clone());
        forward_lines(child.stderr.take().expect("piped stderr"), sender);
        let mut cli = CliMt {
            child,
            stdin,
            lines,
            transcript: Vec::new(),
        };
        cli.expect(
            |l| l == "Watcher SESSION_EVENT state = CONNECTED_STATE",
            "the session to connect",
        );
        cli
    }

    fn send(&mut self, command: &str) {
        self.transcript.push(format!(">>> {command}"));
        writeln!(self.stdin, "{command}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("cannot write {command:?} to cli_mt: {e}"));
    }

    /// Reads lines until one satisfies `done`; returns the lines read (including that one).
    fn expect(&mut self, done: impl Fn(&str) -> bool, what: &str) -> Vec<String> {
        let deadline = Instant::now() + CLI_MT_TIMEOUT;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    let finished = done(&line);
                    got.push(line);
                    if finished {
                        return got;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => panic!(
                    "cli_mt: no answer for {what} within {CLI_MT_TIMEOUT:?}; transcript:\n{}",
                    self.transcript.join("\n")
                ),
            }
        }
    }

    /// Reads lines until every line of `wanted` has been seen, in any order (cli_mt prints
    /// watch events and completions from different threads).
    fn expect_all(&mut self, wanted: &[&str], what: &str) -> Vec<String> {
        let mut missing: Vec<String> = wanted.iter().map(|s| (*s).to_owned()).collect();
        let mut got = Vec::new();
        while !missing.is_empty() {
            let left = missing.clone();
            let lines = self.expect(move |l| left.iter().any(|m| m == l), what);
            let last = lines.last().expect("expect returns the matching line");
            missing.retain(|m| m != last);
            got.extend(lines);
        }
        got
    }

    /// Sends `command` and reads until all of `answer` has been seen.
    fn run(&mut self, command: &str, answer: &[&str]) -> Vec<String> {
        self.send(command);
        self.expect_all(answer, command)
    }

    fn quit(mut self) {
        self.send("quit");
        self.expect(|l| l == "Quitting...", "quit");
        let deadline = Instant::now() + CLI_MT_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("cli_mt did not exit after quit");
    }
}

impl Drop for CliMt {
    fn drop(&mut self) {
        let _ = stop_child(&mut self.child, Duration::from_secs(2));
    }
}

fn forward_lines(pipe: impl Read + Send + 'static, sender: mpsc::Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            match line {
                Ok(line) => {
                    if sender.send(line).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
}

fn contains(lines: &[String], wanted: &str) -> bool {
    lines.iter().any(|l| l == wanted)
}

fn cli_mt_commands(kind: Kind) {
    let server = Server::start(kind, &Config::for_scripts());
    let mut cli = CliMt::start(&server);
    // Each step reads the whole answer, so that nothing of it is left for the next one.
    cli.run("create /climt", &["[/climt]: rc = 0", "\tname = /climt"]);
    cli.run("create /climt", &["[/climt]: rc = -110"]);
    // get sets a watch; cli_mt creates nodes with the data "new".
    let lines = cli.run(
        "get /climt",
        &[
            "/climt: rc = 0",
            " value_len = 3",
            "new",
            "Stat:",
            "\tephemeralOwner = 0",
        ],
    );
    assert!(
        contains(&lines, "\tversion=0\taversion=0"),
        "get's stat: {lines:?}"
    );
    // The watch set by get fires, and the reply carries the new version.
    cli.run(
        "set /climt hello",
        &[
            "Watcher CHANGED_EVENT state = CONNECTED_STATE for path /climt",
            "/climt: rc = 0 Stat:",
            "\tversion=1\taversion=0",
            "\tephemeralOwner = 0",
        ],
    );
    cli.run(
        "get /climt",
        &[
            "/climt: rc = 0",
            "hello",
            "\tversion=1\taversion=0",
            "\tephemeralOwner = 0",
        ],
    );
    cli.run(
        "create /climt/a",
        &["[/climt/a]: rc = 0", "\tname = /climt/a"],
    );
    cli.run(
        "create +s /climt/s",
        &["[/climt/s]: rc = 0", "\tname = /climt/s0000000001"],
    );
    cli.run(
        "create +e /climt/e",
        &["[/climt/e]: rc = 0", "\tname = /climt/e"],
    );
    // ls sets a child watch; its listing ends with a second "time = " line.
    cli.send("ls /climt");
    cli.expect_all(&["/climt: rc = 0"], "ls");
    let lines = cli.expect(|l| l.starts_with("time = "), "ls listing");
    let names: BTreeSet<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix('\t'))
        .map(str::to_owned)
        .collect();
    assert_eq!(names, set(&["a", "e", "s0000000001"]), "ls: {lines:?}");
    cli.run(
        "delete /climt/a",
        &[
            "/climt/a: rc = 0",
            "Watcher CHILD_EVENT state = CONNECTED_STATE for path /climt",
        ],
    );
    cli.run("delete /climt", &["/climt: rc = -111"]);
    cli.run("get /climt/nothing", &["/climt/nothing: rc = -101"]);
    cli.run("sync /climt", &["[/climt]: rc = 0", "\tname = /climt"]);
    let lines = cli.run(
        "ls2 /climt",
        &[
            "/climt: rc = 0",
            "\tversion=1\taversion=0",
            "\tephemeralOwner = 0",
        ],
    );
    assert!(
        contains(&lines, "\te"),
        "ls2 lists the ephemeral: {lines:?}"
    );
    cli.quit();

    // The ephemeral went with the first session (cli_mt closes its session on quit).
    let mut cli = CliMt::start(&server);
    cli.run("get /climt/e", &["/climt/e: rc = -101"]);
    cli.run("delete /climt/s0000000001", &["/climt/s0000000001: rc = 0"]);
    cli.run("delete /climt", &["/climt: rc = 0"]);
    cli.quit();
}

#[test]
fn zkcli() {
    zkcli_commands(Kind::Ours);
}

#[test]
fn cli_mt() {
    cli_mt_commands(Kind::Ours);
}

/// The same against Apache ZooKeeper 3.8 (Debian).
mod apache_reference {
    use super::*;

    #[test]
    fn zkcli() {
        zkcli_commands(Kind::Apache);
    }

    #[test]
    fn cli_mt() {
        cli_mt_commands(Kind::Apache);
    }
}

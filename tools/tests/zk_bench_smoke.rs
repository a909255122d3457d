//! Smoke test of `zk-bench` against zk-server started in this process on 127.0.0.1:0 with a
//! fresh data directory: every operation of the mix, a fixed number of requests, no errors.
//! Counts only; never speed.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use zk_server::config::ServerConfig;
use zk_tools::bench::{self, BenchConfig, BenchError, Mix, Operation, RunLength};

/// zk-server on a background thread with its own runtime; stopped and joined on drop.
struct InProcessServer {
    address: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<JoinHandle<Result<(), String>>>,
    _data: tempfile::TempDir,
}

impl InProcessServer {
    fn start() -> InProcessServer {
        let data = tempfile::tempdir().expect("temporary data directory");
        let config = ServerConfig {
            data_dir: data.path().to_path_buf(),
            data_log_dir: data.path().to_path_buf(),
            // Small segments: the test needs little log, and a 64 MiB preallocation is slow
            // on a busy CI disk.
            pre_alloc_size_kb: 4096,
            ..ServerConfig::default()
        };
        let store = zk_server::store::open(&config).expect("open the store");
        let (server, _apply_thread) =
            zk_server::server::Server::start(config, store.database, store.session_secret)
                .expect("start the server");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let thread =
            std::thread::spawn(move || runtime.block_on(zk_server::run(server, listener, stopped)));
        InProcessServer {
            address,
            stop,
            thread: Some(thread),
            _data: data,
        }
    }
}

impl Drop for InProcessServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let outcome = thread.join();
            if !std::thread::panicking() {
                let outcome = outcome.expect("server thread panicked");
                outcome.expect("server stopped with an error");
            }
        }
    }
}

fn config_for(server: &InProcessServer) -> BenchConfig {
    BenchConfig {
        hosts: vec![server.address.to_string()],
        sessions: 4,
        outstanding: 8,
        mix: Mix::parse("create=10,set=20,get=30,exists=10,children=10,delete=10,multi=10")
            .expect("valid mix"),
        payload_bytes: 64,
        keys: 100,
        multi_ops: 3,
        length: RunLength::Operations(2000),
        warmup: std::time::Duration::ZERO,
        ..BenchConfig::default()
    }
}

#[test]
fn fixed_number_of_operations_completes_without_errors() {
    let server = InProcessServer::start();
    let config = config_for(&server);
    let report = bench::run(&config).expect("the benchmark runs");

    assert_eq!(report.total.ops, 2000, "{}", report.to_table());
    assert!(report.errors.is_empty(), "{}", report.to_table());
    assert!(report.sessions_lost.is_empty(), "{}", report.to_table());
    assert_eq!(report.setup.keys_created, 100);
    let per_operation: u64 = report.by_operation.iter().map(|(_, s)| s.ops).sum();
    assert_eq!(per_operation, 2000);
    for operation in Operation::ALL {
        let sent = report
            .by_operation
            .iter()
            .any(|(listed, summary)| *listed == operation && summary.ops > 0);
        assert!(
            sent,
            "no {} was sent:\n{}",
            operation.name(),
            report.to_table()
        );
    }
    let latency = report.total.latency;
    assert_eq!(latency.count, 2000);
    assert!(latency.p50_us <= latency.p99_us && latency.p99_us <= latency.max_us);
    let json = report.to_json();
    assert!(json.starts_with('{') && json.ends_with('}'), "{json}");
    assert!(json.contains("\"ops\":2000"), "{json}");
    assert!(json.contains("\"errors\":{}"), "{json}");

    // A second run against the same server reuses the keys (their data is replaced).
    let again = BenchConfig {
        length: RunLength::Operations(200),
        sessions: 2,
        ..config
    };
    let report = bench::run(&again).expect("the second run");
    assert_eq!(report.total.ops, 200);
    assert!(report.errors.is_empty(), "{}", report.to_table());
    assert_eq!(report.setup.keys_replaced, 100);
}

#[test]
fn duration_mode_with_warmup_has_no_errors() {
    let server = InProcessServer::start();
    let config = BenchConfig {
        sessions: 2,
        outstanding: 4,
        mix: Mix::parse("get=90,set=10").expect("valid mix"),
        length: RunLength::Duration(std::time::Duration::from_millis(300)),
        warmup: std::time::Duration::from_millis(100),
        threads: 2,
        ..config_for(&server)
    };
    let report = bench::run(&config).expect("the benchmark runs");
    assert!(report.errors.is_empty(), "{}", report.to_table());
    assert!(report.sessions_lost.is_empty(), "{}", report.to_table());
}

#[test]
fn unreachable_server_is_an_error() {
    // Bind a port and close it again: nothing listens there now.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("pick a port");
    let config = BenchConfig {
        hosts: vec![address.to_string()],
        length: RunLength::Operations(10),
        ..BenchConfig::default()
    };
    match bench::run(&config) {
        Err(BenchError::Connect { .. }) => {}
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[test]
fn binary_exit_codes() {
    let binary = env!("CARGO_BIN_EXE_zk-bench");
    let help = std::process::Command::new(binary)
        .arg("--help")
        .output()
        .expect("run zk-bench --help");
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--outstanding"));

    let usage = std::process::Command::new(binary)
        .arg("--sessions=zero")
        .output()
        .expect("run zk-bench with a bad flag");
    assert_eq!(usage.status.code(), Some(2));

    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("pick a port");
    let unreachable = std::process::Command::new(binary)
        .args(["--hosts", &address.to_string(), "--ops", "10"])
        .output()
        .expect("run zk-bench against a closed port");
    assert_eq!(unreachable.status.code(), Some(1));
    let message = String::from_utf8_lossy(&unreachable.stderr);
    assert!(message.contains("cannot reach"), "{message}");
}

#[test]
fn binary_prints_json_against_a_server() {
    let server = InProcessServer::start();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zk-bench"))
        .args([
            "--hosts",
            &server.address.to_string(),
            "--sessions",
            "2",
            "--outstanding",
            "4",
            "--mix",
            "get=50,set=50",
            "--keys",
            "50",
            "--ops",
            "300",
            "--json",
        ])
        .output()
        .expect("run zk-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.trim();
    assert!(
        line.starts_with('{') && line.ends_with('}') && !line.contains('\n'),
        "{line}"
    );
    assert!(line.contains("\"ops_requested\":300"), "{line}");
    assert!(line.contains("\"ops\":300"), "{line}");
}

#[test]
fn replies_larger_than_the_receive_buffer() {
    let server = InProcessServer::start();
    let config = BenchConfig {
        sessions: 2,
        outstanding: 4,
        mix: Mix::parse("get=50,set=50").expect("valid mix"),
        // Larger than the 64 KiB receive buffer a connection starts with.
        payload_bytes: 150_000,
        keys: 5,
        length: RunLength::Operations(60),
        ..config_for(&server)
    };
    let report = bench::run(&config).expect("the benchmark runs");
    assert_eq!(report.total.ops, 60, "{}", report.to_table());
    assert!(report.errors.is_empty(), "{}", report.to_table());
    assert!(report.sessions_lost.is_empty(), "{}", report.to_table());
}

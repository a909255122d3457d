//! `zk-bench` binary: parses the command line, runs the benchmark, prints the report.
//! Everything else is in `zk_tools::bench`.
#![forbid(unsafe_code)]

use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use zk_tools::bench::{self, args::Command};

fn main() -> ExitCode {
    let command = match bench::args::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("zk-bench: {message}\n(see zk-bench --help)");
            return ExitCode::from(2);
        }
    };
    let (config, json) = match command {
        Command::Help => {
            print!("{}", bench::args::HELP);
            return ExitCode::SUCCESS;
        }
        Command::Run { config, json } => (config, json),
        Command::RawFsync { config, json } => return raw_fsync(&config, json),
        Command::WaitRead {
            host,
            path,
            timeout,
            json,
        } => return wait_read(&host, &path, timeout, json),
    };
    match run(&config, json) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("zk-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &bench::BenchConfig, json: bool) -> anyhow::Result<ExitCode> {
    let report = bench::run(config)
        .with_context(|| format!("benchmark against {} did not run", config.hosts.join(",")))?;
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    if report.sessions_lost.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "zk-bench: {} session(s) lost during the run",
            report.sessions_lost.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

fn raw_fsync(config: &bench::probe::RawFsyncConfig, json: bool) -> ExitCode {
    match bench::probe::raw_fsync(config) {
        Ok(report) if json => println!("{}", report.to_json()),
        Ok(report) => print!("{}", report.to_table()),
        Err(error) => {
            eprintln!("zk-bench: raw fsync probe failed: {error}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn wait_read(host: &str, path: &str, timeout: Duration, json: bool) -> ExitCode {
    let address = match host.to_socket_addrs().map(|mut found| found.next()) {
        Ok(Some(address)) => address,
        Ok(None) => {
            eprintln!("zk-bench: {host} has no address");
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("zk-bench: cannot resolve {host}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match bench::probe::wait_read(address, path, timeout) {
        Ok(report) if json => println!("{}", report.to_json()),
        Ok(report) => print!("{}", report.to_table()),
        Err(error) => {
            eprintln!("zk-bench: {error}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

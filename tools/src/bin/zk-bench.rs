//! `zk-bench` binary: parses the command line, runs the benchmark, prints the report.
//! Everything else is in `zk_tools::bench`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

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

//! `zk-logdump`: dumps, checks and cuts the transaction log of zk-server, offline and read-only
//! (the manual is [`args::HELP`]). It is built for damaged logs: the engine's own classification
//! says what is clean, what is a torn tail and what is corruption, and everything readable is
//! still shown.
#![forbid(unsafe_code)]

mod args;
mod input;
mod progress;
mod render;
mod stats;
mod text;
mod truncate;
mod walk;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;

use args::{Command, Mode, ReadOptions};
use progress::Progress;
use render::{DumpSink, VerifySink};
use stats::StatsSink;
use text::JsonObject;
use walk::Outcome;

/// Exit status for a wrong command line (`sysexits.h` `EX_USAGE`).
const EXIT_USAGE: u8 = 64;
/// Exit status for corruption, an unreadable input or a failed truncate.
const EXIT_DAMAGED: u8 = 2;

fn main() -> ExitCode {
    let command = match args::parse(std::env::args_os().skip(1).collect()) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("zk-logdump: {message}\nTry 'zk-logdump --help'.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match command {
        Command::Help => {
            print!("{}", args::HELP);
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("zk-logdump {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Truncate {
            after,
            input,
            output,
        } => match truncate::truncate(after, &input, &output) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("zk-logdump: truncate: {message}");
                ExitCode::from(EXIT_DAMAGED)
            }
        },
        Command::Read(options) => match read(&options) {
            Ok(code) => ExitCode::from(code),
            Err(error) => {
                eprintln!("zk-logdump: {error:#}");
                ExitCode::from(EXIT_DAMAGED)
            }
        },
    }
}

/// Dump, verify or stats; returns the exit status.
fn read(options: &ReadOptions) -> anyhow::Result<u8> {
    let input = match input::resolve(&options.input) {
        Ok(input) => input,
        Err(message) => {
            eprintln!("zk-logdump: {message}");
            return Ok(EXIT_DAMAGED);
        }
    };
    if let Some(via) = &input.found_via {
        eprintln!("zk-logdump: reading {via}");
    }
    let total: u64 = input
        .segments
        .iter()
        .filter_map(|s| std::fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum();
    // The dump and --verify print as they read: on a terminal, that output is the progress.
    let mut progress = Progress::new(total, options.mode != Mode::Stats);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let json = options.json;
    let outcome = match options.mode {
        Mode::Dump => {
            let data_limit = options.data_limit.unwrap_or(if json { 0 } else { 64 });
            let mut sink = DumpSink {
                out: &mut out,
                json,
                filter: options.filter.clone(),
                data_limit,
            };
            let walked = walk::walk(&input, &mut sink, &mut progress);
            finish(walked, &mut out, json, "# verdict: ")
        }
        Mode::Verify => {
            let mut sink = VerifySink {
                out: &mut out,
                json,
            };
            let walked = walk::walk(&input, &mut sink, &mut progress);
            finish(walked, &mut out, json, "")
        }
        Mode::Stats => {
            let mut sink = StatsSink::new(options.filter.clone());
            let (outcome, error) = walk::walk(&input, &mut sink, &mut progress);
            let error = error.or_else(|| {
                let written = if json {
                    writeln!(out, "{}", sink.json())
                } else {
                    write!(out, "{}", sink.text())
                };
                written.err()
            });
            finish((outcome, error), &mut out, json, "verdict: ")
        }
    };
    let code = outcome?;
    if code != 0 && options.mode != Mode::Verify {
        eprintln!(
            "zk-logdump: the log is not clean (exit status {code}); see the {} lines",
            if json {
                "torn_tail/corruption/unreadable"
            } else {
                "\"#!\""
            }
        );
    }
    Ok(code)
}

/// Prints the verdict line and returns the exit status. A closed pipe ends the output quietly.
fn finish(
    (outcome, error): (Outcome, Option<io::Error>),
    out: &mut impl Write,
    json: bool,
    prefix: &str,
) -> anyhow::Result<u8> {
    match error {
        None => {}
        Some(error) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(outcome.exit_code()),
        Some(error) => return Err(error).context("cannot write the output"),
    }
    let line = if json {
        let mut object = JsonObject::new();
        object
            .str("type", "verdict")
            .str("verdict", outcome.verdict_tag())
            .num("exit_code", outcome.exit_code())
            .str("message", &outcome.verdict())
            .num("segments", outcome.segments as u64)
            .num("transactions", outcome.records)
            .num("problems", outcome.problems.len() as u64);
        object.finish()
    } else {
        format!("{prefix}{}", outcome.verdict())
    };
    let written = writeln!(out, "{line}").and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(outcome.exit_code()),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(outcome.exit_code()),
        Err(error) => Err(error).context("cannot write the output"),
    }
}

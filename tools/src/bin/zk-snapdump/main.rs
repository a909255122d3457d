//! `zk-snapdump`: dumps, summarizes, checks and compares zk-server snapshots, offline and
//! read-only (the manual is [`args::HELP`]). The engine's snapshot reader does the decoding; a
//! damaged file is read as far as it goes (see [`snapfile`]).
#![forbid(unsafe_code)]

mod args;
mod collect;
mod load;
mod output;
mod snapfile;

// Shared with zk-logdump: text helpers, the progress line, finding a zoo.cfg's directories,
// and reading the log (for the digest check of a fuzzy snapshot).
#[allow(dead_code)]
#[path = "../zk-logdump/input.rs"]
mod input;
#[allow(dead_code)]
#[path = "../zk-logdump/progress.rs"]
mod progress;
#[allow(dead_code)]
#[path = "../zk-logdump/text.rs"]
mod text;
#[allow(dead_code)]
#[path = "../zk-logdump/walk.rs"]
mod walk;

use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use zk_engine::snapshot::load_snapshot;
use zk_engine::txn::Txn;
use zk_engine::Zxid;

use args::{Command, Mode, ReadOptions};
use load::{load, locate, Loaded};
use output::DigestCheck;
use progress::Progress;
use text::zxid_hex;

/// Exit status for a wrong command line (`sysexits.h` `EX_USAGE`).
const EXIT_USAGE: u8 = 64;
/// Exit status for a damaged or unreadable snapshot.
const EXIT_DAMAGED: u8 = 2;

fn main() -> ExitCode {
    let command = match args::parse(std::env::args_os().skip(1).collect()) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("zk-snapdump: {message}\nTry 'zk-snapdump --help'.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("zk-snapdump {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Read(options) => read(&options),
        Command::Diff { json, a, b } => diff(json, &a, &b),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("zk-snapdump: {error:#}");
            ExitCode::from(EXIT_DAMAGED)
        }
    }
}

/// Ends the output; a closed pipe (e.g. `| head`) is not an error.
fn finish(written: io::Result<()>, code: u8) -> anyhow::Result<u8> {
    match written {
        Ok(()) => Ok(code),
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(code),
        Err(error) => Err(error).context("cannot write the output"),
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn read(options: &ReadOptions) -> anyhow::Result<u8> {
    let mut located = match locate(&options.input) {
        Ok(located) => located,
        Err(message) => {
            eprintln!("zk-snapdump: {message}");
            return Ok(EXIT_DAMAGED);
        }
    };
    if let Some(via) = &located.found_via {
        eprintln!("zk-snapdump: reading {via}");
    }
    if let Some(log) = &options.log {
        located.log = Some(log.clone());
    }
    // Everything is printed once the snapshot is read, so the progress line never mixes with it.
    let mut progress = Progress::new(file_len(&located.path), false);
    let data = options.data.then(|| options.data_limit.unwrap_or(0));
    let mut loaded = load(located, options.data, &mut progress);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let written = match options.mode {
        Mode::Dump => output::dump(&mut out, &loaded, options.json, data),
        Mode::Summary(depth) => output::summary(&mut out, &loaded, depth, options.json),
        Mode::Verify => {
            let digest = check_digest(&mut loaded);
            output::verify(&mut out, &loaded, &digest, options.json)
        }
    };
    let code = loaded.exit_code();
    let written = written.and_then(|()| out.flush());
    if code != 0 && options.mode != Mode::Verify {
        eprintln!("zk-snapdump: the snapshot is not intact (exit status {code})");
    }
    finish(written, code)
}

fn diff(json: bool, a: &Path, b: &Path) -> anyhow::Result<u8> {
    let mut located = Vec::new();
    for input in [a, b] {
        match locate(input) {
            Ok(found) => {
                if let Some(via) = &found.found_via {
                    eprintln!("zk-snapdump: reading {via}");
                }
                located.push(found);
            }
            Err(message) => {
                eprintln!("zk-snapdump: {message}");
                return Ok(EXIT_DAMAGED);
            }
        }
    }
    let [located_a, located_b]: [load::Located; 2] = match located.try_into() {
        Ok(pair) => pair,
        Err(_) => return Ok(EXIT_DAMAGED),
    };
    let mut progress_a = Progress::new(file_len(&located_a.path), false);
    let mut progress_b = Progress::new(file_len(&located_b.path), false);
    let loaded_a = load(located_a, false, &mut progress_a);
    let loaded_b = load(located_b, false, &mut progress_b);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::new(stdout);
    let result = output::diff(&mut out, &loaded_a, &loaded_b, json);
    let damaged = loaded_a.exit_code() != 0 || loaded_b.exit_code() != 0;
    match result {
        Ok(differ) => {
            let code = if damaged {
                EXIT_DAMAGED
            } else {
                u8::from(differ)
            };
            finish(out.flush(), code)
        }
        Err(error) => finish(Err(error), EXIT_DAMAGED),
    }
}

/// Recomputes the tree digest and compares it with the trailer's (FORMAT.md 8.5). A mismatch is
/// added to the snapshot's problems.
fn check_digest(loaded: &mut Loaded<'_>) -> DigestCheck {
    let (Some(scan), true) = (&loaded.scan, loaded.verified) else {
        return DigestCheck::NotChecked("the snapshot could not be read whole".into());
    };
    let (Some(header), Some(trailer)) = (scan.header, scan.trailer) else {
        return DigestCheck::NotChecked("the snapshot could not be read whole".into());
    };
    let digest_offset = scan.file_len.saturating_sub(64) + 16;
    let (start, end) = (header.start_zxid, trailer.end_zxid);
    let outcome = if start == end {
        let nodes = loaded.collector.nodes.len();
        compare(
            loaded.collector.digest,
            trailer.digest,
            format!(
                "recomputed over its {nodes} nodes; no transaction was applied during the walk"
            ),
        )
    } else {
        match &loaded.located.log {
            None => DigestCheck::NotChecked(format!(
                "the snapshot is fuzzy over the transactions after {} up to {}, and the digest \
                 holds only once they are replayed; give the log with --log DIRECTORY (or read \
                 a dataDir or zoo.cfg)",
                zxid_hex(start),
                zxid_hex(end)
            )),
            Some(log) => replay_and_compare(&loaded.located.path, log, start, end, trailer.digest),
        }
    };
    if let DigestCheck::Mismatch {
        computed,
        stored,
        how,
    } = &outcome
    {
        loaded.problems.push(snapfile::Problem {
            offset: digest_offset,
            what: format!(
                "tree digest mismatch: recomputed 0x{computed:016x}, the trailer says \
                 0x{stored:016x} ({how})"
            ),
            unreadable: false,
        });
    }
    outcome
}

fn compare(computed: u64, stored: u64, how: String) -> DigestCheck {
    if computed == stored {
        DigestCheck::Match {
            digest: computed,
            how,
        }
    } else {
        DigestCheck::Mismatch {
            computed,
            stored,
            how,
        }
    }
}

/// The transactions `(start, end]` of a log, and whether the log is intact up to `end`.
struct Replay {
    start: Zxid,
    end: Zxid,
    txns: Vec<Txn>,
    problem_before_end: Option<String>,
}

impl walk::Sink for Replay {
    fn record(&mut self, record: &walk::Record<'_>) -> io::Result<()> {
        if record.zxid > self.start && record.zxid <= self.end && !record.after_damage {
            if let Ok(txn) = record.txn {
                self.txns.push(txn.clone());
            }
        }
        Ok(())
    }

    fn problem(&mut self, problem: &walk::Problem) -> io::Result<()> {
        if self.problem_before_end.is_none() && problem.last_good < self.end {
            self.problem_before_end = Some(problem.headline());
        }
        Ok(())
    }
}

/// Loads the snapshot, replays its fuzzy range from the log, compares the digests.
fn replay_and_compare(
    snapshot: &Path,
    log: &Path,
    start: Zxid,
    end: Zxid,
    stored: u64,
) -> DigestCheck {
    let input = match input::resolve(log) {
        Ok(input) => input,
        Err(message) => return DigestCheck::NotChecked(format!("no log to replay: {message}")),
    };
    let mut replay = Replay {
        start,
        end,
        txns: Vec::new(),
        problem_before_end: None,
    };
    let (_, error) = walk::walk(&input, &mut replay, &mut Progress::hidden());
    if let Some(error) = error {
        return DigestCheck::NotChecked(format!("the log could not be read: {error}"));
    }
    if let Some(problem) = replay.problem_before_end {
        return DigestCheck::NotChecked(format!(
            "the log is damaged before zxid {}: {problem}",
            zxid_hex(end)
        ));
    }
    let from_start = replay
        .txns
        .first()
        .is_some_and(|t| start.is_followed_by(t.header.zxid));
    let to_end = replay.txns.last().is_some_and(|t| t.header.zxid == end);
    if !from_start || !to_end {
        return DigestCheck::NotChecked(format!(
            "the log in {} does not hold every transaction after zxid {} up to {}",
            log.display(),
            zxid_hex(start),
            zxid_hex(end)
        ));
    }
    let mut tree = match load_snapshot(snapshot) {
        Ok(loaded) => loaded.tree,
        Err(error) => {
            return DigestCheck::NotChecked(format!("the engine cannot load it: {error}"))
        }
    };
    for txn in &replay.txns {
        tree.replay(txn);
    }
    compare(
        tree.digest(),
        stored,
        format!(
            "after replaying the {} transactions {} to {} from the log over its tree",
            replay.txns.len(),
            replay
                .txns
                .first()
                .map(|t| zxid_hex(t.header.zxid))
                .unwrap_or_default(),
            zxid_hex(end)
        ),
    )
}

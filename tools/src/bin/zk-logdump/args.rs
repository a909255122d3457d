//! The command line of `zk-logdump` (see [`HELP`]).

use std::ffi::OsString;
use std::path::PathBuf;

use zk_engine::Zxid;

use crate::render::Filter;
use crate::text::{parse_session, parse_zxid};

/// What to do.
#[derive(Debug)]
pub enum Command {
    /// Print the manual.
    Help,
    /// Print the version.
    Version,
    /// Read a log (dump, verify or stats).
    Read(ReadOptions),
    /// Write a copy of the log cut after a zxid.
    Truncate {
        /// The last zxid to keep.
        after: Zxid,
        /// The log to read.
        input: PathBuf,
        /// The new directory to write.
        output: PathBuf,
    },
}

/// What the read modes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One line per transaction.
    Dump,
    /// Check only.
    Verify,
    /// Statistics.
    Stats,
}

/// Options of the read modes.
#[derive(Debug)]
pub struct ReadOptions {
    /// Dump, verify or stats.
    pub mode: Mode,
    /// JSON lines.
    pub json: bool,
    /// Which transactions.
    pub filter: Filter,
    /// `--data-limit`, when given.
    pub data_limit: Option<usize>,
    /// What to read.
    pub input: PathBuf,
}

/// Parses the arguments (without the program name). The error is a sentence for the operator.
pub fn parse(args: Vec<OsString>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|a| a == "truncate") {
        args.next();
        return parse_truncate(args.collect());
    }
    let mut mode = Mode::Dump;
    let mut json = false;
    let mut filter = Filter::default();
    let mut data_limit = None;
    let mut positional = Vec::new();
    let mut options_done = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        if options_done || !text.starts_with('-') || text == "-" {
            positional.push(PathBuf::from(arg));
            continue;
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (text.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            if let Some(value) = &inline {
                return Ok(value.clone());
            }
            args.next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "--" => options_done = true,
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--json" => json = true,
            "--verify" => set_mode(Mode::Verify, "--verify", &mut mode)?,
            "--stats" => set_mode(Mode::Stats, "--stats", &mut mode)?,
            "--from-zxid" => {
                let text = value("a zxid")?;
                filter.from_zxid = Some(zxid(&text)?);
            }
            "--to-zxid" => {
                let text = value("a zxid")?;
                filter.to_zxid = Some(zxid(&text)?);
            }
            "--session" => {
                let text = value("a session id")?;
                filter.session = Some(
                    parse_session(&text)
                        .ok_or_else(|| format!("--session: {text:?} is not a session id"))?,
                );
            }
            "--path-prefix" => filter.path_prefix = Some(value("a path")?),
            "--data-limit" => {
                let text = value("a byte count")?;
                data_limit = Some(
                    text.parse::<usize>()
                        .map_err(|_| format!("--data-limit: {text:?} is not a byte count"))?,
                );
            }
            _ => return Err(format!("unknown option {name}")),
        }
    }
    if mode == Mode::Verify
        && (filter.from_zxid.is_some()
            || filter.to_zxid.is_some()
            || filter.session.is_some()
            || filter.path_prefix.is_some())
    {
        return Err("--verify checks the whole log; it takes no filter".into());
    }
    let input = match positional.len() {
        1 => positional.remove(0),
        0 => {
            return Err(
                "no input given (a segment file, a log directory, a dataDir or a zoo.cfg)".into(),
            )
        }
        _ => return Err("give one input only".into()),
    };
    Ok(Command::Read(ReadOptions {
        mode,
        json,
        filter,
        data_limit,
        input,
    }))
}

fn set_mode(new: Mode, name: &str, mode: &mut Mode) -> Result<(), String> {
    if *mode != Mode::Dump && *mode != new {
        return Err(format!(
            "{name} cannot be combined with --verify or --stats"
        ));
    }
    *mode = new;
    Ok(())
}

fn zxid(text: &str) -> Result<Zxid, String> {
    parse_zxid(text)
        .ok_or_else(|| format!("{text:?} is not a zxid (write 0x100000005, 4294967301 or 1.5)"))
}

fn parse_truncate(args: Vec<OsString>) -> Result<Command, String> {
    let mut after = None;
    let mut positional = Vec::new();
    let mut args = args.into_iter();
    let mut options_done = false;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        if options_done || !text.starts_with('-') {
            positional.push(PathBuf::from(arg));
            continue;
        }
        if text == "--" {
            options_done = true;
        } else if text == "-h" || text == "--help" {
            return Ok(Command::Help);
        } else if let Some(value) = text.strip_prefix("--after-zxid=") {
            after = Some(zxid(value)?);
        } else if text == "--after-zxid" {
            let value = args
                .next()
                .ok_or("--after-zxid needs a zxid")?
                .to_string_lossy()
                .into_owned();
            after = Some(zxid(&value)?);
        } else {
            return Err(format!("truncate: unknown option {text}"));
        }
    }
    let after = after.ok_or("truncate needs --after-zxid ZXID")?;
    let [input, output]: [PathBuf; 2] = positional
        .try_into()
        .map_err(|_| "truncate needs an input and a new output directory")?;
    Ok(Command::Truncate {
        after,
        input,
        output,
    })
}

/// The manual (`--help`).
pub const HELP: &str = "\
NAME
    zk-logdump - dump, check and cut the transaction log of zk-server

SYNOPSIS
    zk-logdump [--json] [FILTER...] [--data-limit BYTES] INPUT
    zk-logdump --verify [--json] INPUT
    zk-logdump --stats [--json] [FILTER...] INPUT
    zk-logdump truncate --after-zxid ZXID INPUT NEW_DIRECTORY
    zk-logdump --help | --version

DESCRIPTION
    Reads the write-ahead log of zk-server offline, without opening it the way the
    server does: nothing is ever modified, and a log the server refuses to open can
    still be read. It is meant for damaged logs: it says precisely where the damage
    is and what it is, classifies it exactly as the server's recovery would
    (engine/FORMAT.md, section 5), and still shows everything that can be read,
    including intact records found past the damage.

    By default it prints one line per transaction, in log order:

        TIME session SESSION cxid CXID zxid ZXID OPERATION ARGUMENTS

    TIME is the leader's clock when the transaction was made, in UTC; SESSION and
    ZXID are hexadecimal, as ZooKeeper prints them. OPERATION is one of create,
    delete, setData, setACL, check, multi, createSession, closeSession and error,
    followed by its arguments: the path; data=\"text\" when the data is printable
    UTF-8, else data=0x and hex, followed by size=BYTES (data=null for null data);
    versions; ACLs as [scheme:id:perms,...], the way zkCli's setAcl takes them
    (perms in cdrwa letters); the create mode and TTL; multi operations in [...]
    separated by \"; \"; the ephemeral nodes a closeSession removes; error codes
    with their ZooKeeper name. Paths with spaces or quotes are printed in double
    quotes with JSON escapes.

    Lines starting with \"# \" describe segments and give notes; lines starting with
    \"#! \" report problems, where they are found. The last line is \"# verdict: \"
    followed by the verdict (see --verify).

INPUT
    A segment file (log.<zxid>); a log directory; a dataLogDir (or dataDir) whose log
    is in its log/ subdirectory, as zk-server keeps it; or a zoo.cfg, whose dataLogDir
    (else dataDir) is used. Relative directories in a zoo.cfg are taken from the
    current directory, as the server does. A segment read on its own is checked by
    itself (links to other segments are not); damage at its end counts as a torn
    tail only when no newer segment is in its directory.

OPTIONS
    --json
        One JSON object per line instead of text. Every object has a \"type\": txn,
        segment, note, torn_tail, corruption, unreadable, stats or verdict. Zxids and
        session ids are hex strings; data is {\"size\":N,\"text\":\"...\"} when printable,
        else {\"size\":N,\"base64\":\"...\"}.

    --from-zxid ZXID, --to-zxid ZXID
        Show only transactions with a zxid in this range (both ends included). A ZXID
        is written 0x100000005 (hex), 4294967301 (decimal) or 1.5 (epoch.counter).

    --session ID
        Show only the transactions of this session (0x... hex, or decimal).

    --path-prefix PREFIX
        Show only transactions touching a path that starts with PREFIX (any operation
        of a multi, any ephemeral node of a closeSession).

    --data-limit BYTES
        Show at most BYTES bytes of each data field; a cut is marked with \"...\" in
        text and \"truncated\":true in JSON. 0 shows everything. Default: 64 in text,
        no limit in JSON.

    --verify
        Check the whole log and print no transaction: every record's checksum and
        transaction, the zxid order within and across segments, every header, the
        file names, the links between segments. Prints one line per segment, each
        problem and note, and last the verdict, one of:
            clean
            torn tail at FILE:OFFSET (zxid ZXID): WHAT
            corruption at FILE:OFFSET (zxid ZXID): WHAT
            unreadable: FILE: WHAT
        ZXID is the last intact transaction before the damage. Filters are refused.

    --stats
        Print statistics instead of transactions: segments, transaction count and
        bytes (encoded and in the log) per operation type and inside multis, the
        zxid range and each epoch, the time span, the number of sessions, then the
        verdict. Filters apply to the counts.

    -h, --help
        Print this manual.

    -V, --version
        Print the version.

TRUNCATE
    zk-logdump truncate --after-zxid ZXID INPUT NEW_DIRECTORY

    Writes a new log directory holding every transaction of INPUT up to and
    including ZXID, for the operator who must cut a log by hand (for example just
    before a damaged record, so that the server starts and the rest is restored
    from the ensemble). INPUT is never modified. NEW_DIRECTORY must not exist, or be
    empty. Segments before the one holding ZXID are copied as they are; the segment
    holding ZXID is written anew with everything after ZXID zeroed; later segments
    are left out. The new log is read back and must verify clean. ZXID must be a
    transaction of the log, and the log must be intact up to it: a cut after damage
    is refused (the message names the last zxid before the damage). To use the
    result, stop the server, move its dataLogDir/log aside and put NEW_DIRECTORY in
    its place.

EXIT STATUS
    Dump, --verify and --stats:
        0   the log is clean.
        1   torn tail only: a crash cut the last, unsynced write batch (or left a
            segment whose header was never written). zk-server cuts it at start-up,
            keeping the bytes in log.<zxid>.torn-<offset>; nothing acknowledged is
            lost.
        2   corruption, or a file that cannot be read (including a format version this
            build does not know, or an input that is not a log): zk-server refuses to
            start on this log.
        When the output is cut short (for example piped into head), the status
        covers what was read until then.
    truncate:
        0   the new log was written and verified.
        2   refused or failed; nothing usable was written.
    Any command:
        64  the command line is wrong.

EXAMPLES
    zk-logdump /var/lib/zookeeper
    zk-logdump --verify /etc/zookeeper/zoo.cfg
    zk-logdump --from-zxid 0x500000001 --path-prefix /app --json data/log
    zk-logdump --stats data/log/log.0000000500000001
    zk-logdump truncate --after-zxid 0x50000a3f2 /var/lib/zookeeper /tmp/log-cut

SEE ALSO
    zk-snapdump(1); engine/FORMAT.md (log format and recovery table),
    engine/FORMAT-TXN.md (transaction encoding).
";

//! The command line of `zk-snapdump` (see [`HELP`]).

use std::ffi::OsString;
use std::path::PathBuf;

/// What to do.
#[derive(Debug)]
pub enum Command {
    /// Print the manual.
    Help,
    /// Print the version.
    Version,
    /// Read one snapshot.
    Read(ReadOptions),
    /// Compare two snapshots.
    Diff {
        /// JSON lines.
        json: bool,
        /// The older snapshot (or what to find it in).
        a: PathBuf,
        /// The newer snapshot.
        b: PathBuf,
    },
}

/// What the read modes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Header, sessions, nodes.
    Dump,
    /// Children and bytes per subtree down to a depth.
    Summary(usize),
    /// Check only.
    Verify,
}

/// Options of the read modes.
#[derive(Debug)]
pub struct ReadOptions {
    /// Dump, summary or verify.
    pub mode: Mode,
    /// JSON lines.
    pub json: bool,
    /// `-d`: show each node's data.
    pub data: bool,
    /// `--data-limit`, when given.
    pub data_limit: Option<usize>,
    /// `--log`: the transaction log, for the digest check of a fuzzy snapshot.
    pub log: Option<PathBuf>,
    /// What to read.
    pub input: PathBuf,
}

/// Parses the arguments (without the program name). The error is a sentence for the operator.
pub fn parse(args: Vec<OsString>) -> Result<Command, String> {
    let is_diff = args.first().is_some_and(|a| a == "diff");
    let mut mode = Mode::Dump;
    let mut json = false;
    let mut data = false;
    let mut data_limit = None;
    let mut log = None;
    let mut positional = Vec::new();
    let mut options_done = false;
    let mut args = args.into_iter().skip(usize::from(is_diff));
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
        let read_only = |option: &str| -> Result<(), String> {
            if is_diff {
                Err(format!("{option} is not an option of diff"))
            } else {
                Ok(())
            }
        };
        let set_mode = |new: Mode, mode: &mut Mode| -> Result<(), String> {
            if *mode != Mode::Dump {
                return Err("--summary and --verify cannot be combined".into());
            }
            *mode = new;
            Ok(())
        };
        match name.as_str() {
            "--" => options_done = true,
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--json" => json = true,
            "-d" | "--data" => {
                read_only(&name)?;
                data = true;
            }
            "--data-limit" => {
                read_only(&name)?;
                let text = value("a byte count")?;
                data_limit = Some(
                    text.parse::<usize>()
                        .map_err(|_| format!("--data-limit: {text:?} is not a byte count"))?,
                );
            }
            "--log" => {
                read_only(&name)?;
                log = Some(PathBuf::from(value("a directory")?));
            }
            "--verify" => {
                read_only(&name)?;
                set_mode(Mode::Verify, &mut mode)?;
            }
            "--summary" => {
                read_only(&name)?;
                let text = value("a depth")?;
                let depth = text
                    .parse::<usize>()
                    .map_err(|_| format!("--summary: {text:?} is not a depth (0, 1, 2, ...)"))?;
                set_mode(Mode::Summary(depth), &mut mode)?;
            }
            _ => return Err(format!("unknown option {name}")),
        }
    }
    if is_diff {
        let [a, b]: [PathBuf; 2] = positional
            .try_into()
            .map_err(|_| "diff needs two snapshots: diff A B")?;
        return Ok(Command::Diff { json, a, b });
    }
    if data && mode != Mode::Dump {
        return Err("-d only goes with the dump".into());
    }
    let input = match positional.len() {
        1 => positional.remove(0),
        0 => return Err("no input given (a snapshot file, a dataDir or a zoo.cfg)".into()),
        _ => return Err("give one input only (to compare two snapshots: diff A B)".into()),
    };
    Ok(Command::Read(ReadOptions {
        mode,
        json,
        data,
        data_limit,
        log,
        input,
    }))
}

/// The manual (`--help`).
pub const HELP: &str = "\
NAME
    zk-snapdump - dump, summarize, check and compare zk-server snapshots

SYNOPSIS
    zk-snapdump [-d] [--data-limit BYTES] [--json] INPUT
    zk-snapdump --summary DEPTH [--json] INPUT
    zk-snapdump --verify [--log DIRECTORY] [--json] INPUT
    zk-snapdump diff [--json] A B
    zk-snapdump --help | --version

DESCRIPTION
    Reads a snapshot of zk-server offline (engine/FORMAT.md, section 8). Nothing is
    ever modified. It is meant for damaged snapshots too: every problem is reported
    with the file and the byte offset of the damage, and what can still be read is
    still shown: a snapshot cut short or with a damaged block is read up to the
    damage, and a damaged header or trailer does not stop the blocks from being read.

    By default it prints the header, then the sessions, then every node with its
    stat, in path order (a node's subtree follows it):

        # snapshot FILE: BYTES bytes
        # format version 2, compression zstd, block size BYTES
        # start zxid ZXID, created TIME
        # end zxid ZXID, digest DIGEST
        # NODES nodes, SESSIONS sessions, BLOCKS blocks, body BYTES bytes
        session ID timeout=MSms ephemerals=COUNT
        PATH cZxid=.. ctime=.. mZxid=.. mtime=.. pZxid=.. cversion=.. dataVersion=..
            aclVersion=.. ephemeralOwner=.. dataLength=.. numChildren=.. acl=[..]

    (one line per node). The stat is the one the snapshot stores: cversion is
    ZooKeeper's persisted count of child creations, times are UTC. ephemeralOwner
    shows (container) or (ttl=MSms) for those node types. ACLs are written
    scheme:id:perms as zkCli's setAcl takes them. Lines starting with \"#! \" report
    problems; the last line is \"# verdict: \" and the verdict (see --verify).

    A snapshot is fuzzy: it was taken while transactions start zxid + 1 to end
    zxid were being applied, and it is exact only once they are replayed from the
    log. The nodes shown are those in the file.

INPUT
    A snapshot file (snap.<zxid>); a snapshot directory, a dataDir (its snap/
    subdirectory), or a zoo.cfg (its dataDir): then the newest snapshot there is
    read (the others are listed in a note). With a dataDir or a zoo.cfg the log is
    found too (dataLogDir/log), for --verify.

OPTIONS
    -d, --data
        Show each node's data: data=\"text\" when printable UTF-8, else data=0x and hex
        (base64 in JSON); data=null for null data.

    --data-limit BYTES
        With -d, show at most BYTES bytes of each node's data (\"...\" marks a cut).
        Default: all.

    --json
        One JSON object per line: \"type\" is snapshot, session, node, summary,
        check, added, removed, changed, depth, total, note, corruption, unreadable
        or verdict. Zxids and session ids are hex strings.

    --summary DEPTH
        Instead of every node, one line per node down to DEPTH (/ is depth 0):
        its depth, its direct children, the nodes and the data bytes of its whole
        subtree, and its path; in path order.

    --verify
        Check the snapshot and print what was checked: the header, every block's
        checksum over its compressed bytes and over its content, the body's
        structure against the trailer (nodes, sessions, blocks, length), the
        whole-file checksum, the trailer, and the tree digest recomputed and
        compared with the trailer's. When the snapshot is fuzzy (start zxid below
        end zxid) the digest only holds after the transactions in between are
        replayed: they are read from the log (found from a dataDir or zoo.cfg, or
        given with --log) and replayed over the snapshot's tree, as zk-server does
        at start-up; without a log the digest is reported as not checked. The last
        line is the verdict:
            clean
            corruption at FILE:OFFSET: WHAT
            unreadable: FILE: WHAT

    --log DIRECTORY
        The transaction log to replay for the digest check (a log directory, a
        dataLogDir or a zoo.cfg).

    -h, --help
        Print this manual.

    -V, --version
        Print the version.

DIFF
    zk-snapdump diff [--json] A B

    Compares the nodes of two snapshots (each a file, a directory or a zoo.cfg, as
    INPUT): one line per node added in B, removed from A, or changed (with the names
    of the fields that differ: data, acl, and the stat fields), in path order; then
    the counts per depth and in total, and the sessions opened and closed. A damaged
    snapshot is compared as far as it can be read, and the damage is reported.

EXIT STATUS
    Dump, --summary, --verify:
        0   the snapshot is intact (and its digest matches where it was checked).
        2   it is damaged (any checksum, structure or digest problem), cannot be
            read, or is in a format this build does not know; zk-server would not
            use it and would fall back to an older snapshot.
    diff:
        0   the two snapshots hold the same nodes.
        1   they differ.
        2   one of them is damaged or cannot be read.
    Any command:
        64  the command line is wrong.

EXAMPLES
    zk-snapdump /var/lib/zookeeper
    zk-snapdump -d --json data/snap/snap.0000000500000012
    zk-snapdump --summary 2 /etc/zookeeper/zoo.cfg
    zk-snapdump --verify /var/lib/zookeeper
    zk-snapdump diff old/snap.0000000400000001 /var/lib/zookeeper

SEE ALSO
    zk-logdump(1); engine/FORMAT.md (snapshot format), engine/FORMAT-TXN.md (stat and
    digest).
";

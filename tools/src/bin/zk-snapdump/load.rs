//! Finding the snapshot to read and reading it: the first pass of [`snapfile`], then the
//! sections through the engine's reader into a [`Collector`].

use std::path::{Path, PathBuf};

use zk_engine::snapshot::{is_temporary_file_name, parse_snapshot_file_name, SNAPSHOT_MAGIC};
use zk_engine::{Error, Zxid};

use crate::collect::Collector;
use crate::progress::Progress;
use crate::snapfile::{self, Problem, Scan, Sections};

/// The snapshot to read.
#[derive(Debug, Clone)]
pub struct Located {
    /// The file.
    pub path: PathBuf,
    /// Its name, as printed.
    pub name: String,
    /// The zxid its name gives (`snap.<zxid>`).
    pub name_zxid: Option<Zxid>,
    /// The transaction log that goes with it, when the input says where it is.
    pub log: Option<PathBuf>,
    /// How the file was found, when not named directly.
    pub found_via: Option<String>,
    /// Things worth telling (other snapshots, leftovers).
    pub notes: Vec<String>,
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn starts_with_magic(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == SNAPSHOT_MAGIC
}

/// Finds the snapshot `input` names (a file, a snapshot directory, a dataDir, a zoo.cfg).
pub fn locate(input: &Path) -> Result<Located, String> {
    let metadata =
        std::fs::metadata(input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    if metadata.is_dir() {
        if has_snapshots(input)? {
            let log = input.parent().map(|p| p.join("log")).filter(|p| p.is_dir());
            return newest_in(input, log, None);
        }
        let snap = input.join("snap");
        if snap.is_dir() {
            let log = Some(input.join("log")).filter(|p| p.is_dir());
            return newest_in(
                &snap,
                log,
                Some(format!(
                    "the newest snapshot of data directory {}",
                    input.display()
                )),
            );
        }
        return Err(format!(
            "no snapshot in {}: it holds no snap.<zxid> file and has no snap subdirectory",
            input.display()
        ));
    }
    let name = file_name(input);
    let name_zxid = parse_snapshot_file_name(&name);
    if name_zxid.is_some() || starts_with_magic(input) {
        return Ok(Located {
            path: input.to_owned(),
            name,
            name_zxid,
            log: None,
            found_via: None,
            notes: Vec::new(),
        });
    }
    let (data_dir, data_log_dir) = crate::input::data_dirs_of_config(input).map_err(|why| {
        format!(
            "{} is neither a snapshot (snap.<zxid>) nor a zoo.cfg: {why}",
            input.display()
        )
    })?;
    let snap = data_dir.join("snap");
    if !snap.is_dir() {
        return Err(format!(
            "{} names the data directory {}, which has no snap subdirectory",
            input.display(),
            data_dir.display()
        ));
    }
    newest_in(
        &snap,
        Some(data_log_dir.join("log")).filter(|p| p.is_dir()),
        Some(format!(
            "the newest snapshot of {} ({})",
            input.display(),
            snap.display()
        )),
    )
}

fn has_snapshots(dir: &Path) -> Result<bool, String> {
    Ok(crate::input::list_names(dir)?
        .iter()
        .any(|n| parse_snapshot_file_name(n).is_some() || is_temporary_file_name(n)))
}

fn newest_in(
    dir: &Path,
    log: Option<PathBuf>,
    found_via: Option<String>,
) -> Result<Located, String> {
    let names = crate::input::list_names(dir)?;
    let mut snapshots: Vec<(Zxid, String)> = names
        .iter()
        .filter_map(|n| parse_snapshot_file_name(n).map(|z| (z, n.clone())))
        .collect();
    snapshots.sort();
    let Some((zxid, name)) = snapshots.pop() else {
        return Err(format!("no snapshot in {}", dir.display()));
    };
    let mut notes = Vec::new();
    if !snapshots.is_empty() {
        let older: Vec<&str> = snapshots.iter().rev().map(|(_, n)| n.as_str()).collect();
        notes.push(format!(
            "reading the newest snapshot; older ones (zk-server falls back to them, newest first, \
             when a newer one is damaged): {}",
            older.join(", ")
        ));
    }
    for leftover in names.iter().filter(|n| is_temporary_file_name(n)) {
        notes.push(format!(
            "{leftover}: an unfinished snapshot; zk-server deletes it at start-up"
        ));
    }
    Ok(Located {
        path: dir.join(&name),
        name,
        name_zxid: Some(zxid),
        log,
        found_via,
        notes,
    })
}

/// A snapshot read as far as it goes.
pub struct Loaded<'p> {
    /// Which file.
    pub located: Located,
    /// What the first pass found (`None` when the file could not be read at all).
    pub scan: Option<Scan>,
    /// What the sections hold.
    pub collector: Collector<'p>,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
    /// Notes on how it was read.
    pub notes: Vec<String>,
    /// Whether the whole file was read and verified by the engine's reader.
    pub verified: bool,
}

impl Loaded<'_> {
    /// `clean`, or the first problem's headline.
    pub fn verdict(&self) -> String {
        match self.problems.first() {
            None => "clean".to_owned(),
            Some(problem) => headline(&self.located.name, problem),
        }
    }

    /// 0 intact, 2 anything wrong.
    pub fn exit_code(&self) -> u8 {
        if self.problems.is_empty() {
            0
        } else {
            2
        }
    }
}

/// `corruption at FILE:OFFSET: what`, or `unreadable: FILE: what`.
pub fn headline(file: &str, problem: &Problem) -> String {
    if problem.unreadable {
        format!("unreadable: {file}: {}", problem.what)
    } else {
        format!("corruption at {file}:{}: {}", problem.offset, problem.what)
    }
}

/// A problem from an error of the engine's reader.
pub fn problem_of(error: Error) -> Problem {
    match error {
        Error::Corrupt { offset, reason, .. } => Problem {
            offset,
            what: reason,
            unreadable: false,
        },
        other => Problem {
            offset: 0,
            what: other.to_string(),
            unreadable: true,
        },
    }
}

/// Reads the snapshot `located` names as far as it goes.
pub fn load<'p>(located: Located, keep_data: bool, progress: &'p mut Progress) -> Loaded<'p> {
    progress.start_file(&format!("checking {}", located.name));
    let scan = snapfile::scan(&located.path, progress);
    if let Ok(scan) = &scan {
        let body_len: u64 = scan
            .blocks
            .iter()
            .map(|b| u64::from(b.uncompressed_len))
            .sum();
        progress.restart(body_len, &format!("reading {}", located.name));
    }
    let mut collector = Collector::new(keep_data, progress);
    let mut problems = Vec::new();
    let mut notes = located.notes.clone();
    let mut verified = false;
    let scan = match scan {
        Ok(scan) => scan,
        Err(error) => {
            problems.push(Problem {
                offset: 0,
                what: format!("cannot read the file: {error}"),
                unreadable: true,
            });
            return Loaded {
                located,
                scan: None,
                collector,
                problems,
                notes,
                verified,
            };
        }
    };
    problems.extend(scan.problems.iter().cloned());
    match snapfile::read_sections(&located.path, &scan, located.name_zxid, &mut collector) {
        Sections::Whole(Ok(_)) => verified = true,
        Sections::Whole(Err(error)) => problems.push(problem_of(error)),
        Sections::Salvaged { blocks, error } => {
            let after = match scan.blocks_after_damage {
                0 => String::new(),
                n => format!(
                    "; {n} intact-looking block{} after the damage cannot be read without the \
                     bytes before {}",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" }
                ),
            };
            notes.push(format!(
                "read what the intact blocks before the damage hold ({blocks} block{}): the \
                 sessions and nodes shown are those{after}",
                if blocks == 1 { "" } else { "s" },
            ));
            if let Some(error) = error {
                problems.push(problem_of(error));
            }
        }
        Sections::Nothing(why) => notes.push(format!("no node can be read: {why}")),
    }
    problems.sort_by_key(|p| p.offset);
    collector.finish_tree();
    Loaded {
        located,
        scan: Some(scan),
        collector,
        problems,
        notes,
        verified,
    }
}

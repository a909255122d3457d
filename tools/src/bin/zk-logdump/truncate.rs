//! `zk-logdump truncate --after-zxid Z INPUT OUTPUT`: writes a new log directory holding every
//! transaction of INPUT up to and including Z, for the operator who must cut a log by hand.
//!
//! The input is never modified. Segments before the one holding Z are copied byte for byte; the
//! segment holding Z is written anew with everything after Z's record zeroed (so it keeps its
//! salt, header and record layout, and ends cleanly); later segments are left out. Each file is
//! written as `<name>.tmp`, synced and renamed, then the directory is synced; finally the new
//! log is read back and must verify clean and end at Z.
//!
//! It refuses when the log is damaged at or before Z: a cut there would keep damaged data.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use zk_engine::format::segment_header::{
    parse_segment_file_name, segment_file_name, SegmentHeader,
};
use zk_engine::Zxid;

use crate::input::{self, LogInput};
use crate::progress::Progress;
use crate::text::zxid_hex;
use crate::walk::{self, Record, Sink};

/// Where Z's record is, and what the log holds around it.
#[derive(Default)]
struct Finder {
    target: Zxid,
    /// `(segment, offset, next_offset, after_damage)` of Z's record.
    found: Option<(usize, u64, u64, bool)>,
    /// Records up to and including Z (intact ones).
    kept: u64,
    /// Records after Z.
    dropped: u64,
    first_dropped: Option<Zxid>,
    last_dropped: Option<Zxid>,
    first: Option<Zxid>,
    last: Option<Zxid>,
}

impl Sink for Finder {
    fn record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.first.is_none() {
            self.first = Some(record.zxid);
        }
        self.last = Some(record.zxid);
        if record.zxid == self.target && self.found.is_none_or(|(.., after)| after) {
            self.found = Some((
                record.segment,
                record.offset,
                record.next_offset,
                record.after_damage,
            ));
        }
        match self.found {
            Some((segment, offset, ..)) if (record.segment, record.offset) > (segment, offset) => {
                self.dropped += 1;
                self.first_dropped.get_or_insert(record.zxid);
                self.last_dropped = Some(record.zxid);
            }
            _ => self.kept += 1,
        }
        Ok(())
    }
}

/// Cuts the log at `input_path` after `after` into the new directory `output`; returns the
/// report for the operator, or why it refused or failed.
pub fn truncate(after: Zxid, input_path: &Path, output: &Path) -> Result<String, String> {
    let input = input::resolve(input_path)?;
    if let Some(via) = &input.found_via {
        eprintln!("zk-logdump: reading {via}");
    }
    let total = total_len(&input);
    let mut progress = Progress::new(total, false);
    let mut finder = Finder {
        target: after,
        ..Finder::default()
    };
    let (outcome, error) = walk::walk(&input, &mut finder, &mut progress);
    if let Some(error) = error {
        return Err(format!("reading the log failed: {error}"));
    }
    let Some((segment, offset, next_offset, after_damage)) = finder.found else {
        let range = match (finder.first, finder.last) {
            (Some(first), Some(last)) => {
                format!("it holds zxid {} to {}", zxid_hex(first), zxid_hex(last))
            }
            _ => "it holds no transaction".to_owned(),
        };
        return Err(format!(
            "zxid {} is not in the log ({range}); the cut must be after a transaction of the log",
            zxid_hex(after)
        ));
    };
    if after_damage {
        return Err(format!(
            "zxid {} was only found by reading past damage; a log cut there would keep the \
             damage. Verify the log (zk-logdump --verify) and cut before the first problem",
            zxid_hex(after)
        ));
    }
    if let Some(problem) = outcome
        .problems
        .iter()
        .find(|p| (p.segment, p.offset) <= (segment, offset))
    {
        return Err(format!(
            "the log is damaged at or before zxid {}: {}. Cut at or before zxid {} instead",
            zxid_hex(after),
            problem.headline(),
            zxid_hex(problem.last_good)
        ));
    }

    prepare_output(output)?;
    let mut written = Vec::new();
    for (index, file) in input.segments.iter().enumerate().take(segment + 1) {
        let mut bytes = fs::read(&file.path)
            .map_err(|e| format!("cannot read {}: {e}", file.path.display()))?;
        let name = match parse_segment_file_name(&file.name) {
            Some(_) => file.name.clone(),
            None => match SegmentHeader::decode(&bytes) {
                Ok(header) => segment_file_name(header.first_zxid),
                Err(_) => {
                    return Err(format!(
                        "{} changed while it was being read",
                        file.path.display()
                    ))
                }
            },
        };
        if index == segment {
            let cut = usize::try_from(next_offset).unwrap_or(usize::MAX);
            match bytes.get_mut(cut..) {
                Some(tail) => tail.fill(0),
                None => {
                    return Err(format!(
                        "{} changed while it was being read",
                        file.path.display()
                    ))
                }
            }
        }
        write_durably(output, &name, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", output.join(&name).display()))?;
        written.push(name);
    }
    File::open(output)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| format!("cannot sync the directory {}: {e}", output.display()))?;

    // Read the new log back: it must be clean and end at Z.
    let check_input = input::resolve(output)?;
    let mut check = Finder {
        target: after,
        ..Finder::default()
    };
    let (check_outcome, error) = walk::walk(&check_input, &mut check, &mut Progress::hidden());
    if let Some(error) = error {
        return Err(format!("reading the new log back failed: {error}"));
    }
    if check_outcome.exit_code() != 0 || check.last != Some(after) {
        return Err(format!(
            "the new log in {} does not verify ({}); do not use it",
            output.display(),
            check_outcome.verdict()
        ));
    }

    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let mut report = format!(
        "wrote {}: {} ({}), {} up to zxid {}",
        output.display(),
        plural(written.len() as u64, "segment"),
        written.join(", "),
        plural(check.kept, "transaction"),
        zxid_hex(after)
    );
    match (finder.first_dropped, finder.last_dropped) {
        (Some(first), Some(last)) => report.push_str(&format!(
            "; left out {} after it (zxid {} to {})",
            plural(finder.dropped, "transaction"),
            zxid_hex(first),
            zxid_hex(last)
        )),
        _ => report.push_str("; nothing after it was left out"),
    }
    match outcome.problems.len() {
        0 => {}
        1 => report.push_str(&format!(
            "; the problem after the cut stays behind ({})",
            outcome.verdict()
        )),
        n => report.push_str(&format!(
            "; the {n} problems after the cut stay behind (the worst: {})",
            outcome.verdict()
        )),
    }
    Ok(report)
}

fn total_len(input: &LogInput) -> u64 {
    input
        .segments
        .iter()
        .filter_map(|s| fs::metadata(&s.path).ok())
        .map(|m| m.len())
        .sum()
}

/// The output must be a new directory, or an empty one: nothing is ever overwritten.
fn prepare_output(output: &Path) -> Result<(), String> {
    match fs::read_dir(output) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!(
                    "{} is not empty; truncate writes a new log and never overwrites one",
                    output.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(output)
            .map_err(|e| format!("cannot create {}: {e}", output.display())),
        Err(e) => Err(format!(
            "cannot use {} as the output: {e}",
            output.display()
        )),
    }
}

/// Writes `name.tmp`, syncs it, renames it to `name`.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(name))
}

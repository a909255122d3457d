//! Finds the segment files to read from what the operator named: one segment file, a log
//! directory, a `dataLogDir` (the log is its `log` subdirectory), or a `zoo.cfg` (its
//! `dataLogDir`, else `dataDir`, then `log`).

use std::io::Read;
use std::path::{Path, PathBuf};

use zk_engine::format::segment_header::{parse_segment_file_name, SEGMENT_MAGIC};
use zk_engine::Zxid;

/// One segment file to read.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    /// The file name, as printed.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// The zxid its name gives (`log.<zxid>`), when the name is a segment name.
    pub name_zxid: Option<Zxid>,
}

/// A file of the log directory that is not a segment, worth a word to the operator.
#[derive(Debug, Clone)]
pub struct OtherFile {
    /// The file name.
    pub name: String,
    /// What it is.
    pub what: &'static str,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct LogInput {
    /// How the directory was found, when not named directly (for a message on standard error).
    pub found_via: Option<String>,
    /// The segments, oldest first.
    pub segments: Vec<SegmentFile>,
    /// Whether the segments are a whole log, so the links between them are checked.
    pub whole_log: bool,
    /// Whether the last of `segments` is the newest segment of its log: only there can a crash
    /// leave a torn tail.
    pub last_is_newest: bool,
    /// Other files of the log directory.
    pub other_files: Vec<OtherFile>,
}

/// Resolves `path` (module doc). The error is a sentence for the operator.
pub fn resolve(path: &Path) -> Result<LogInput, String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if metadata.is_dir() {
        if looks_like_log_dir(path)? {
            return read_log_dir(path, None);
        }
        let sub = path.join("log");
        if sub.is_dir() {
            return read_log_dir(
                &sub,
                Some(format!("the log of data directory {}", path.display())),
            );
        }
        return Err(format!(
            "no transaction log in {}: it holds no segment file (log.<zxid>) and has no log \
             subdirectory",
            path.display()
        ));
    }
    let name = file_name(path);
    if parse_segment_file_name(&name).is_some() || starts_with_segment_magic(path) {
        return single_segment(path, name);
    }
    let log_dir = log_dir_of_config(path)?;
    if !log_dir.is_dir() {
        return Err(format!(
            "{} names the log directory {}, which does not exist",
            path.display(),
            log_dir.display()
        ));
    }
    read_log_dir(
        &log_dir,
        Some(format!(
            "the log of {} ({})",
            path.display(),
            log_dir.display()
        )),
    )
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn starts_with_segment_magic(path: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok()
        && magic == SEGMENT_MAGIC
}

/// The names of the regular files in `dir`, sorted.
pub(crate) fn list_names(dir: &Path) -> Result<Vec<String>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn looks_like_log_dir(dir: &Path) -> Result<bool, String> {
    Ok(list_names(dir)?
        .iter()
        .any(|name| name == "LOCK" || name.starts_with("log.")))
}

fn read_log_dir(dir: &Path, found_via: Option<String>) -> Result<LogInput, String> {
    let mut segments = Vec::new();
    let mut other_files = Vec::new();
    for name in list_names(dir)? {
        if let Some(zxid) = parse_segment_file_name(&name) {
            segments.push(SegmentFile {
                path: dir.join(&name),
                name,
                name_zxid: Some(zxid),
            });
            continue;
        }
        let what = if name == "LOCK" || name == "log.prepared.tmp" {
            continue; // part of every open log
        } else if name.contains(".torn-") {
            "bytes cut from a torn tail by an earlier start-up, kept for the operator"
        } else if name.starts_with("log.") && name.ends_with(".tmp") {
            "a segment whose roll never completed; zk-server deletes it at start-up"
        } else {
            "not part of the log; ignored"
        };
        other_files.push(OtherFile { name, what });
    }
    segments.sort_by_key(|s| s.name_zxid);
    Ok(LogInput {
        found_via,
        segments,
        whole_log: true,
        last_is_newest: true,
        other_files,
    })
}

fn single_segment(path: &Path, name: String) -> Result<LogInput, String> {
    let name_zxid = parse_segment_file_name(&name);
    // Only the newest segment of a log can end in a torn tail: look for newer siblings.
    let last_is_newest = match (name_zxid, path.parent()) {
        (Some(zxid), Some(parent)) => !list_names(parent)
            .unwrap_or_default()
            .iter()
            .filter_map(|n| parse_segment_file_name(n))
            .any(|other| other > zxid),
        _ => true,
    };
    Ok(LogInput {
        found_via: None,
        segments: vec![SegmentFile {
            name,
            path: path.to_owned(),
            name_zxid,
        }],
        whole_log: false,
        last_is_newest,
        other_files: Vec::new(),
    })
}

/// The log directory of a `zoo.cfg`: `<dataLogDir>/log`, `dataLogDir` defaulting to `dataDir`.
fn log_dir_of_config(path: &Path) -> Result<PathBuf, String> {
    let (_, data_log_dir) = data_dirs_of_config(path).map_err(|why| {
        format!(
            "{} is neither a segment file (log.<zxid>) nor a zoo.cfg: {why}",
            path.display()
        )
    })?;
    Ok(data_log_dir.join("log"))
}

/// `(dataDir, dataLogDir)` of a `zoo.cfg`. The server's own parser is used; when it refuses the
/// file (an operator's tool must work on a half-broken setup), only those two keys are read. The
/// error says why the file is not a usable `zoo.cfg`.
pub fn data_dirs_of_config(path: &Path) -> Result<(PathBuf, PathBuf), String> {
    match zk_server::config::ServerConfig::from_file(path) {
        Ok(config) => Ok((config.data_dir, config.data_log_dir)),
        Err(strict) => {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let properties = zk_server::config::parse_properties(&text);
            let value = |key: &str| {
                properties
                    .iter()
                    .rev()
                    .find(|p| p.key == key)
                    .map(|p| PathBuf::from(&p.value))
            };
            let Some(data_dir) = value("dataDir") else {
                return Err(format!("it sets no dataDir ({strict})"));
            };
            let data_log_dir = value("dataLogDir").unwrap_or_else(|| data_dir.clone());
            eprintln!(
                "warning: {strict}; using dataDir and dataLogDir from {} anyway",
                path.display()
            );
            Ok((data_dir, data_log_dir))
        }
    }
}

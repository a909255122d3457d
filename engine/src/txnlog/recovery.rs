//! Opening a log directory: scan every segment in zxid order, act on the verdicts of
//! [`super::scan`] (cut a torn tail, drop a torn roll), and refuse to open on anything else.

use std::sync::Arc;

use super::scan::{scan_segment, SegmentScan, SegmentVerdict};
use super::SegmentInfo;
use crate::error::{Error, Result};
use crate::format::segment_header::{parse_segment_file_name, SegmentHeader};
use crate::storage::LogDir;
use crate::zxid::Zxid;

/// What recovery found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments kept.
    pub segments: usize,
    /// Records found intact.
    pub records: u64,
    /// The first zxid the log can replay (0 when empty).
    pub first_zxid: Zxid,
    /// The last zxid in the log (0 when empty).
    pub last_zxid: Zxid,
    /// The zxid the log's first segment says precedes it (0 when the log starts from nothing).
    pub base_zxid: Zxid,
    /// A torn tail that was cut.
    pub torn_tail: Option<TornTail>,
    /// Files removed (leftover `.tmp` files, a torn roll, an empty last segment).
    pub removed: Vec<String>,
}

/// A torn tail cut at recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub segment: String,
    /// Where the cut starts.
    pub offset: u64,
    /// How many bytes (up to the last non-zero one) were cut.
    pub bytes: u64,
    /// Valid records of the same unsynced batch that were cut with it.
    pub valid_records_cut: usize,
    /// Where the cut bytes were saved.
    pub saved_as: String,
}

/// The open state recovered from disk.
pub(crate) struct Recovered {
    pub segments: Vec<SegmentInfo>,
    /// Offset in the last segment where the next record goes.
    pub last_end_offset: u64,
    pub last_header: Option<SegmentHeader>,
    pub report: RecoveryReport,
}

/// The files of a log directory that recovery cares about.
pub(crate) struct Listing {
    /// Segments, in zxid order.
    pub segments: Vec<(Zxid, String)>,
    /// Leftover temporary files.
    pub temporary: Vec<String>,
}

/// Lists the segment files in zxid order; reports (but keeps) names it does not recognise.
pub(crate) fn list_segments(dir: &dyn LogDir) -> Result<Listing> {
    let names = dir
        .list()
        .map_err(|e| Error::io("list the log directory", dir.path_of(""), e))?;
    let mut segments = Vec::new();
    let mut temporary = Vec::new();
    for name in names {
        if let Some(zxid) = parse_segment_file_name(&name) {
            segments.push((zxid, name));
        } else if name.starts_with("log.") && name.ends_with(".tmp") {
            temporary.push(name);
        } else if name != "LOCK" && !name.contains(".torn-") {
            log::warn!(
                "ignoring unexpected file {} in the log directory",
                dir.path_of(&name).display()
            );
        }
    }
    segments.sort();
    Ok(Listing {
        segments,
        temporary,
    })
}

pub(crate) fn recover(dir: &Arc<dyn LogDir>) -> Result<Recovered> {
    let Listing {
        segments,
        temporary,
    } = list_segments(dir.as_ref())?;
    let mut report = RecoveryReport::default();
    for name in temporary {
        dir.remove(&name)
            .map_err(|e| Error::io("remove a leftover temporary file", dir.path_of(&name), e))?;
        if name == super::prepare::PREPARED_NAME {
            log::debug!(
                "removed the unused prepared segment {}",
                dir.path_of(&name).display()
            );
        } else {
            log::info!(
                "removed {}: a segment whose roll never completed (none of it was acknowledged)",
                dir.path_of(&name).display()
            );
        }
        report.removed.push(name);
    }

    // After a kill -9 the page cache may hold writes and renames that never reached the disk.
    // Sync them before trusting them: the log will build on what it reads now.
    for (_, name) in &segments {
        dir.sync_file(name).map_err(|e| {
            Error::io(
                "sync what an earlier process wrote to",
                dir.path_of(name),
                e,
            )
        })?;
    }
    sync_dir(dir.as_ref())?;

    let mut kept: Vec<SegmentInfo> = Vec::new();
    let mut last_end_offset = 0;
    let mut last_header = None;
    let count = segments.len();
    for (index, (name_zxid, name)) in segments.into_iter().enumerate() {
        let is_last = index + 1 == count;
        let path = dir.path_of(&name);
        let bytes = dir.read(&name).map_err(|e| Error::io("read", &path, e))?;
        let expected_prev = kept.last().map(|s| s.last_zxid);
        let scan: SegmentScan = scan_segment(&bytes, name_zxid, is_last, expected_prev, |_, _| {});
        let corrupt = |offset: u64, reason: String, last_good: Zxid| Error::Corrupt {
            path: path.clone(),
            offset,
            last_good_zxid: last_good,
            reason,
        };
        match scan.verdict.clone() {
            SegmentVerdict::Corrupt { offset, reason } => {
                return Err(corrupt(offset, reason, scan.last_zxid));
            }
            SegmentVerdict::UnsupportedVersion(found) => {
                return Err(Error::UnsupportedVersion {
                    path,
                    found,
                    supported: crate::format::segment_header::SEGMENT_FORMAT_VERSION,
                });
            }
            SegmentVerdict::TornRoll => {
                dir.remove(&name)
                    .map_err(|e| Error::io("remove", &path, e))?;
                sync_dir(dir.as_ref())?;
                log::warn!(
                    "removed {}: its header was never written (a crash while the segment was \
                     being started; none of it was acknowledged)",
                    path.display()
                );
                report.removed.push(name);
                continue;
            }
            SegmentVerdict::TornTail {
                torn_offset,
                torn_end,
                valid_after,
            } => {
                let saved_as = cut_torn_tail(dir, &name, &bytes, torn_offset, torn_end)?;
                log::warn!(
                    "cut a torn tail of {} bytes at offset {torn_offset} of {} (after zxid {}; {} \
                     intact records of the same unsynced batch went with it); the bytes are kept \
                     in {saved_as}",
                    torn_end - torn_offset,
                    path.display(),
                    scan.last_zxid,
                    valid_after,
                );
                report.torn_tail = Some(TornTail {
                    segment: name.clone(),
                    offset: torn_offset,
                    bytes: torn_end - torn_offset,
                    valid_records_cut: valid_after,
                    saved_as,
                });
            }
            SegmentVerdict::Clean => {}
        }
        let Some(header) = scan.header else {
            return Err(corrupt(
                0,
                "segment without a header".into(),
                scan.last_zxid,
            ));
        };
        if scan.records == 0 {
            if !is_last {
                return Err(corrupt(
                    scan.end_offset,
                    "a segment that is not the last holds no record".into(),
                    scan.last_zxid,
                ));
            }
            dir.remove(&name)
                .map_err(|e| Error::io("remove", &path, e))?;
            sync_dir(dir.as_ref())?;
            log::info!(
                "removed {}: the last segment held no record",
                path.display()
            );
            report.removed.push(name);
            if kept.is_empty() {
                report.base_zxid = header.prev_zxid;
            }
            continue;
        }
        if kept.is_empty() {
            report.base_zxid = header.prev_zxid;
            report.first_zxid = scan.first_zxid;
        }
        report.records += scan.records;
        report.last_zxid = scan.last_zxid;
        last_end_offset = scan.end_offset;
        last_header = Some(header);
        kept.push(SegmentInfo {
            name,
            first_zxid: scan.first_zxid,
            prev_zxid: header.prev_zxid,
            last_zxid: scan.last_zxid,
        });
    }
    if report.last_zxid == Zxid::NONE {
        report.last_zxid = report.base_zxid;
    }
    report.segments = kept.len();
    Ok(Recovered {
        segments: kept,
        last_end_offset,
        last_header,
        report,
    })
}

/// Saves the torn bytes beside the segment, then zeroes them in place and syncs.
fn cut_torn_tail(
    dir: &Arc<dyn LogDir>,
    name: &str,
    bytes: &[u8],
    offset: u64,
    end: u64,
) -> Result<String> {
    let torn = bytes.get(offset as usize..end as usize).unwrap_or_default();
    let mut saved_as = format!("{name}.torn-{offset}");
    let mut attempt = 1;
    loop {
        match dir.write_new(&saved_as, torn) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
                saved_as = format!("{name}.torn-{offset}-{attempt}");
            }
            Err(e) => {
                return Err(Error::io(
                    "save the torn tail to",
                    dir.path_of(&saved_as),
                    e,
                ))
            }
        }
    }
    sync_dir(dir.as_ref())?;
    let path = dir.path_of(name);
    let mut writer = dir
        .open_writer(name)
        .map_err(|e| Error::io("open for writing", &path, e))?;
    writer
        .write_durable(offset, &vec![0u8; torn.len()])
        .map_err(|e| Error::io("zero the torn tail of", &path, e))?;
    Ok(saved_as)
}

pub(crate) fn sync_dir(dir: &dyn LogDir) -> Result<()> {
    dir.sync_dir()
        .map_err(|e| Error::io("fsync the log directory", dir.path_of(""), e))
}

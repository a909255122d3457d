//! Reading records back, in zxid order, from the durable part of the log.

use std::sync::Arc;

use super::scan::{scan_segment, SegmentVerdict};
use super::SegmentInfo;
use crate::error::{Error, Result};
use crate::format::segment_header::parse_segment_file_name;
use crate::storage::LogDir;
use crate::zxid::Zxid;

/// A record read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its zxid.
    pub zxid: Zxid,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Iterates over the records with zxid in `from..=durable`, one segment in memory at a time.
pub struct LogReader {
    dir: Arc<dyn LogDir>,
    segments: std::vec::IntoIter<SegmentInfo>,
    from: Zxid,
    durable: Zxid,
    buffered: std::vec::IntoIter<LogRecord>,
    failed: bool,
}

impl LogReader {
    pub(crate) fn new(
        dir: Arc<dyn LogDir>,
        segments: Vec<SegmentInfo>,
        from: Zxid,
        durable: Zxid,
    ) -> Result<LogReader> {
        let skip = segments
            .iter()
            .rposition(|s| s.first_zxid <= from)
            .unwrap_or(0);
        let segments: Vec<SegmentInfo> = segments.into_iter().skip(skip).collect();
        Ok(LogReader {
            dir,
            segments: segments.into_iter(),
            from,
            durable,
            buffered: Vec::new().into_iter(),
            failed: false,
        })
    }

    fn load(&mut self, segment: &SegmentInfo) -> Result<Vec<LogRecord>> {
        let path = self.dir.path_of(&segment.name);
        let bytes = self
            .dir
            .read(&segment.name)
            .map_err(|e| Error::io("read", &path, e))?;
        let name_zxid = parse_segment_file_name(&segment.name).unwrap_or(segment.first_zxid);
        let (from, durable) = (self.from, self.durable);
        let mut records = Vec::new();
        // Treated as the last segment: the active one may have a batch in flight past `durable`.
        let scan = scan_segment(&bytes, name_zxid, true, None, |record, payload| {
            if record.zxid >= from && record.zxid <= durable {
                records.push(LogRecord {
                    zxid: record.zxid,
                    payload: payload.to_vec(),
                });
            }
        });
        let reached = scan.last_zxid >= segment.last_zxid.min(durable);
        if let (SegmentVerdict::Corrupt { offset, reason }, false) = (&scan.verdict, reached) {
            return Err(Error::Corrupt {
                path,
                offset: *offset,
                last_good_zxid: scan.last_zxid,
                reason: reason.clone(),
            });
        }
        if !reached {
            return Err(Error::Corrupt {
                path,
                offset: scan.end_offset,
                last_good_zxid: scan.last_zxid,
                reason: format!(
                    "the segment ends at zxid {} but held records up to {}",
                    scan.last_zxid, segment.last_zxid
                ),
            });
        }
        Ok(records)
    }
}

impl Iterator for LogReader {
    type Item = Result<LogRecord>;

    fn next(&mut self) -> Option<Result<LogRecord>> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(record) = self.buffered.next() {
                return Some(Ok(record));
            }
            let segment = self.segments.next()?;
            if segment.first_zxid > self.durable {
                return None;
            }
            match self.load(&segment) {
                Ok(records) => self.buffered = records.into_iter(),
                Err(err) => {
                    self.failed = true;
                    return Some(Err(err));
                }
            }
        }
    }
}

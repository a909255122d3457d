//! The commit thread: takes every queued record, writes them as one batch with one sync, and
//! resolves their completions. It also rolls segments, and runs truncate and purge between batches
//! so that they never race a write.

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::mem;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::prepare::Preparer;
use super::recovery::{sync_dir, Recovered};
use super::scan::scan_segment;
use super::{Control, PendingRecord, Queue, SegmentInfo, Shared};
use crate::error::{Error, Result};
use crate::format::record::{encode_into, encoded_len, RecordHeader};
use crate::format::segment_header::{segment_file_name, SegmentHeader, SEGMENT_HEADER_LEN};
use crate::storage::SegmentWriter;
use crate::zxid::Zxid;

/// The segment records are appended to.
struct Active {
    name: String,
    header: SegmentHeader,
    writer: Box<dyn SegmentWriter>,
    /// Where the next record goes.
    end: u64,
    /// Everything before this offset is known synced: what records written now carry as their
    /// `batch_start` (FORMAT.md 4). Equal to `end` after each batch when syncing is on.
    synced_end: u64,
}

pub(crate) struct Committer {
    shared: Arc<Shared>,
    preparer: Preparer,
    active: Option<Active>,
    /// The last zxid in the log: what a new segment's `prev_zxid` will be.
    last_zxid: Zxid,
    batch: Vec<u8>,
    /// Records of the last take, how long writing and syncing them took, and how many records
    /// were queued when they became durable: what [`Committer::gather`] waits for, and for how
    /// long at most.
    last_take_records: usize,
    last_take_took: Duration,
    queued_when_durable: usize,
}

/// A gathering commit thread waits at most the last take's write and sync divided by this
/// (and at most `LogConfig::gather_limit`).
const GATHER_SHARE_OF_LAST_SYNC: u32 = 2;
/// ...for this share of the last take's records to be followed by new ones: the last few
/// writers to wake are not worth a wait.
const GATHER_SHARE_OF_LAST_TAKE: (usize, usize) = (3, 4);

impl Committer {
    pub fn new(shared: Arc<Shared>, recovered: Recovered, preparer: Preparer) -> Result<Committer> {
        let active = match (recovered.segments.last(), recovered.last_header) {
            (Some(last), Some(header)) => {
                let writer = shared.dir.open_writer(&last.name).map_err(|e| {
                    Error::io("open for writing", shared.dir.path_of(&last.name), e)
                })?;
                Some(Active {
                    name: last.name.clone(),
                    header,
                    writer,
                    end: recovered.last_end_offset,
                    // Recovery synced the segment before trusting it.
                    synced_end: recovered.last_end_offset,
                })
            }
            _ => None,
        };
        Ok(Committer {
            shared,
            preparer,
            active,
            last_zxid: recovered.report.last_zxid,
            batch: Vec::new(),
            last_take_records: 0,
            last_take_took: Duration::ZERO,
            queued_when_durable: 0,
        })
    }

    pub fn run(mut self) {
        // However this thread ends (a panic included), waiters must not sleep forever.
        let _closer = CloseWatermark(Arc::clone(&self.shared));
        // Swapped with the queue's pending list each round, so that neither reallocates once both
        // have grown to the usual batch size.
        let mut records: Vec<PendingRecord> = Vec::new();
        loop {
            let (take, controls) = {
                let mut queue = self.gather(self.shared.lock_queue());
                while queue.pending.is_empty() && queue.control.is_empty() && !queue.closing {
                    queue.committer_sleeping = true;
                    queue = self
                        .shared
                        .work
                        .wait(queue)
                        .unwrap_or_else(|e| e.into_inner());
                }
                queue.committer_sleeping = false;
                if queue.pending.is_empty() && queue.control.is_empty() {
                    return; // closing, and nothing left to do
                }
                mem::swap(&mut records, &mut queue.pending);
                queue.takes += 1;
                (queue.takes, mem::take(&mut queue.control))
            };
            if !records.is_empty() {
                let started = Instant::now();
                self.last_take_records = records.len();
                self.commit(take, &mut records);
                self.last_take_took = started.elapsed();
            }
            records.clear();
            for control in controls {
                self.run_control(control);
            }
        }
    }

    /// Waits, briefly, for the records that the last take's completions cause: when its records
    /// became durable, their writers (threads woken, or the server's callbacks) started
    /// appending the next ones, and a take made while they are still at it splits what one
    /// sync could carry into two. The wait ends once three quarters of the last take's count
    /// have been queued since it became durable, on a control request or close, or after half
    /// the last take's write and sync. There is no wait after a take of one record (a lone
    /// writer), nor when half as many records as the last take held or more were queued while
    /// it was written and synced: appends that keep coming whatever completes (a follower's
    /// proposals, many clients) would only be delayed.
    fn gather<'a>(&self, mut queue: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        let last = self.last_take_records;
        let limit = self.shared.config.gather_limit;
        let steady_stream = self.queued_when_durable * 2 >= last;
        let (share, of) = GATHER_SHARE_OF_LAST_TAKE;
        let expected = self.queued_when_durable + (last * share).div_ceil(of);
        let gathering = |queue: &Queue| {
            queue.pending.len() < expected && queue.control.is_empty() && !queue.closing
        };
        if last <= 1 || steady_stream || limit.is_zero() || !gathering(&queue) {
            return queue;
        }
        let deadline =
            Instant::now() + (self.last_take_took / GATHER_SHARE_OF_LAST_SYNC).min(limit);
        queue.wake_at_pending = expected;
        while gathering(&queue) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            queue.committer_sleeping = true;
            queue = match self.shared.work.wait_timeout(queue, left) {
                Ok((queue, _)) => queue,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        queue.committer_sleeping = false;
        queue.wake_at_pending = 1;
        queue
    }

    fn poisoned(&self) -> Option<String> {
        self.shared.lock_queue().poisoned.clone()
    }

    /// Marks the log poisoned with its first failure and fails `records`.
    fn poison(&self, cause: String, records: impl IntoIterator<Item = PendingRecord>) {
        log::error!("the transaction log is poisoned: {cause}");
        let cause = {
            let mut queue = self.shared.lock_queue();
            queue.poisoned.get_or_insert(cause).clone()
        };
        // After the cause is set: a woken waiter reads it.
        self.shared.watermark.poison();
        for record in records {
            if let Some(callback) = record.on_durable {
                callback(Err(Error::Poisoned {
                    cause: cause.clone(),
                }));
            }
        }
    }

    /// Writes and syncs `records` (in as many batches as segment ends require), then resolves
    /// them. Leaves `records` holding only records already resolved; the caller clears it.
    fn commit(&mut self, take: u64, records: &mut Vec<PendingRecord>) {
        if let Some(cause) = self.poisoned() {
            self.poison(cause, records.drain(..));
            return;
        }
        let segment_size = self.shared.config.segment_size;
        // Index of the first record not yet written.
        let mut next = 0;
        while let Some(rest) = records.get(next..).filter(|rest| !rest.is_empty()) {
            let first_len = encoded_len(rest.first().map_or(0, |r| r.payload.len()));
            let rolling = match &self.active {
                Some(active) => active.end + first_len > segment_size,
                None => true,
            };
            let (start, synced_end, salt) = match (&self.active, rolling) {
                (Some(active), false) => (active.end, active.synced_end, active.header.salt),
                _ => {
                    let first = SEGMENT_HEADER_LEN as u64;
                    (first, first, random_salt())
                }
            };
            self.batch.clear();
            if rolling {
                self.batch.resize(SEGMENT_HEADER_LEN, 0); // the header goes here
            }
            let mut end = start;
            let mut taken: usize = 0;
            for record in rest {
                let len = encoded_len(record.payload.len());
                if end + len > segment_size {
                    break;
                }
                let header = RecordHeader {
                    zxid: record.zxid,
                    batch_start: synced_end,
                };
                encode_into(&mut self.batch, salt, header, &record.payload);
                end += len;
                taken += 1;
            }
            let (Some(first), Some(last)) =
                (rest.first(), taken.checked_sub(1).and_then(|i| rest.get(i)))
            else {
                // Unreachable: enqueue refuses records larger than an empty segment.
                let cause = "a record does not fit in an empty segment".to_owned();
                self.poison(cause, records.drain(next..));
                return;
            };
            let (first_zxid, last_zxid, last_seq) = (first.zxid, last.zxid, last.seq);
            let started = Instant::now();
            let written = if rolling {
                self.roll(first_zxid, salt, end)
            } else {
                self.write_batch(start)
            };
            let took = started.elapsed();
            if let Err(err) = written {
                self.poison(err.to_string(), records.drain(next..));
                return;
            }
            let synced = rolling || self.shared.config.sync;
            if let Some(active) = &mut self.active {
                active.end = end;
                if synced {
                    active.synced_end = end;
                }
            }
            self.last_zxid = last_zxid;
            // Counted before the wake, so that a waiter that returns sees its batch counted.
            self.note_batch(taken as u64, end - start, took);
            if let Some(segment) = self.shared.lock_segments().last_mut() {
                segment.last_zxid = last_zxid;
            }
            {
                let mut queue = self.shared.lock_queue();
                queue.durable = last_zxid;
                self.queued_when_durable = queue.pending.len();
            }
            // One store and one wake for the whole batch; waiters re-check on their own.
            self.shared.watermark.publish_durable(take, last_seq);
            // Callbacks after the wake, so that the waiters run meanwhile on the other CPUs.
            let chunk = records.get_mut(next..next + taken).unwrap_or_default();
            for record in chunk {
                if let Some(callback) = record.on_durable.take() {
                    callback(Ok(record.zxid));
                }
            }
            next += taken;
        }
    }

    fn note_batch(&self, records: u64, bytes: u64, took: std::time::Duration) {
        self.shared.counters.record_batch(records, bytes, took);
        let threshold = self.shared.config.slow_sync_warning;
        if took > threshold {
            self.shared
                .counters
                .slow_syncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let file = self.active.as_ref().map_or("", |a| a.name.as_str());
            log::warn!(
                "writing and syncing the transaction log took {} ms (file {}, {records} records, \
                 {bytes} bytes), above the {} ms warning threshold; a slow log disk delays every \
                 write: give dataLogDir a device of its own",
                took.as_millis(),
                self.shared.dir.path_of(file).display(),
                threshold.as_millis()
            );
        }
    }

    fn write_batch(&mut self, start: u64) -> Result<()> {
        let Some(active) = &mut self.active else {
            return Err(Error::Closed);
        };
        let path = || self.shared.dir.path_of(&active.name);
        if self.shared.config.sync {
            active
                .writer
                .write_durable(start, &self.batch)
                .map_err(|e| Error::io("write and sync", path(), e))
        } else {
            active
                .writer
                .write_at(start, &self.batch)
                .map_err(|e| Error::io("write", path(), e))
        }
    }

    /// Starts a new segment whose first record is `first_zxid`, writing the header and the batch
    /// (already in `self.batch`, behind a placeholder for the header) as FORMAT.md 2.1 says.
    fn roll(&mut self, first_zxid: Zxid, salt: u64, end: u64) -> Result<()> {
        let dir = Arc::clone(&self.shared.dir);
        let header = SegmentHeader {
            salt,
            first_zxid,
            prev_zxid: self.last_zxid,
            segment_size: self.shared.config.segment_size,
            created_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        if let Some(slot) = self.batch.get_mut(..SEGMENT_HEADER_LEN) {
            slot.copy_from_slice(&header.encode());
        }
        // The new segment names the old one's last record as its predecessor, so the old one
        // must be durable first (it is already, unless syncing is off).
        if let Some(active) = &mut self.active {
            if active.synced_end < active.end {
                let (from, len) = (active.synced_end, active.end - active.synced_end);
                active
                    .writer
                    .sync(from, len)
                    .map_err(|e| Error::io("sync before rolling", dir.path_of(&active.name), e))?;
                active.synced_end = active.end;
            }
        }
        let name = segment_file_name(first_zxid);
        let temporary = format!("{name}.tmp");
        self.preparer
            .take_as(dir.as_ref(), &temporary)
            .map_err(|cause| {
                Error::io("roll to", dir.path_of(&temporary), io::Error::other(cause))
            })?;
        let mut writer = dir
            .open_writer(&temporary)
            .map_err(|e| Error::io("open for writing", dir.path_of(&temporary), e))?;
        writer
            .write_durable(0, &self.batch)
            .map_err(|e| Error::io("write and sync", dir.path_of(&temporary), e))?;
        dir.rename(&temporary, &name)
            .map_err(|e| Error::io("rename the new segment to", dir.path_of(&name), e))?;
        sync_dir(dir.as_ref())?;
        self.shared.lock_segments().push(SegmentInfo {
            name: name.clone(),
            first_zxid,
            prev_zxid: self.last_zxid,
            last_zxid: first_zxid,
        });
        self.shared
            .counters
            .segments_rolled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.active = Some(Active {
            name,
            header,
            writer,
            end,
            synced_end: end,
        });
        Ok(())
    }

    fn run_control(&mut self, control: Control) {
        match control {
            Control::TruncateAfter(zxid, reply) => {
                let result = match self.poisoned() {
                    Some(cause) => Err(Error::Poisoned { cause }),
                    None => self.truncate_after(zxid),
                };
                if let Err(err) = &result {
                    if matches!(err, Error::Io { .. }) {
                        self.poison(format!("truncate failed: {err}"), Vec::new());
                    }
                }
                let _ = reply.send(result);
            }
            Control::PurgeBefore(zxid, reply) => {
                let _ = reply.send(self.purge_before(zxid));
            }
        }
    }

    fn truncate_after(&mut self, zxid: Zxid) -> Result<()> {
        let dir = Arc::clone(&self.shared.dir);
        let segments = self.shared.lock_segments().clone();
        let base = segments.first().map_or(self.last_zxid, |s| s.prev_zxid);
        let keep = if zxid == self.last_zxid {
            return Ok(());
        } else if zxid == base || zxid == Zxid::NONE {
            0
        } else {
            match segments
                .iter()
                .position(|s| s.first_zxid <= zxid && zxid <= s.last_zxid)
            {
                Some(index) => index + 1,
                None => {
                    return Err(Error::ZxidNotInLog {
                        zxid,
                        detail: format!(
                            "the log holds {}..={} after base {base}",
                            segments.first().map_or(Zxid::NONE, |s| s.first_zxid),
                            self.last_zxid
                        ),
                    })
                }
            }
        };
        // From here on readers stop at `zxid`, whether or not every step below succeeds (a
        // failure poisons the log, and a restart recovers whatever prefix is left).
        self.shared.lock_queue().durable = zxid;
        // Newest first, each removal made durable before the next, so that a crash at any point
        // leaves a log that is a prefix of itself. The list forgets a file as soon as it is gone.
        for segment in segments.iter().skip(keep).rev() {
            if self.active.as_ref().is_some_and(|a| a.name == segment.name) {
                self.active = None;
            }
            dir.remove(&segment.name)
                .map_err(|e| Error::io("remove", dir.path_of(&segment.name), e))?;
            self.shared.lock_segments().pop();
            sync_dir(dir.as_ref())?;
        }
        if let Some(segment) = keep.checked_sub(1).and_then(|i| segments.get(i)) {
            self.cut_segment_after(segment, zxid)?;
        }
        self.last_zxid = zxid;
        self.shared.lock_queue().last_appended = zxid;
        Ok(())
    }

    /// Zeroes the records after `zxid` in `segment`, which becomes the active segment. The
    /// zeroing goes one write batch at a time from the end, each synced before the next, so that a
    /// crash at any moment leaves the log a prefix of itself: a partly zeroed batch is the last
    /// thing in the segment, which recovery reads as a torn tail.
    fn cut_segment_after(&mut self, segment: &SegmentInfo, zxid: Zxid) -> Result<()> {
        let dir = Arc::clone(&self.shared.dir);
        let path = dir.path_of(&segment.name);
        let bytes = dir
            .read(&segment.name)
            .map_err(|e| Error::io("read", &path, e))?;
        let mut cut_at = None;
        // Offsets where the records after the cut start, and their batch starts.
        let mut later: Vec<(u64, u64)> = Vec::new();
        let scan = scan_segment(&bytes, segment.first_zxid, true, None, |record, _| {
            if record.zxid == zxid {
                cut_at = Some(record.next_offset);
            } else if record.zxid > zxid {
                later.push((record.offset, record.batch_start));
            }
        });
        let (Some(cut_at), Some(header)) = (cut_at, scan.header) else {
            return Err(Error::ZxidNotInLog {
                zxid,
                detail: format!("not found in {}", path.display()),
            });
        };
        let mut writer = match self.active.take() {
            Some(active) if active.name == segment.name => active.writer,
            _ => dir
                .open_writer(&segment.name)
                .map_err(|e| Error::io("open for writing", &path, e))?,
        };
        if let Some(last) = self.shared.lock_segments().last_mut() {
            last.last_zxid = zxid;
        }
        let mut end = scan.end_offset.max(cut_at);
        while end > cut_at {
            // The last batch still standing starts at the first record that shares the batch
            // start of the last record (or at the cut, whichever is later).
            let last_batch = later.last().map_or(0, |&(_, batch)| batch);
            let start = later
                .iter()
                .find(|&&(_, batch)| batch == last_batch)
                .map_or(cut_at, |&(offset, _)| offset)
                .max(cut_at);
            later.retain(|&(offset, _)| offset < start);
            let zeros = vec![0u8; (end - start) as usize];
            writer
                .write_durable(start, &zeros)
                .map_err(|e| Error::io("zero the truncated records of", &path, e))?;
            end = start;
        }
        self.active = Some(Active {
            name: segment.name.clone(),
            header,
            writer,
            end: cut_at,
            synced_end: cut_at,
        });
        Ok(())
    }

    fn purge_before(&mut self, zxid: Zxid) -> Result<Vec<String>> {
        let dir = Arc::clone(&self.shared.dir);
        let mut removed = Vec::new();
        loop {
            let oldest = {
                let segments = self.shared.lock_segments();
                match (segments.first(), segments.get(1)) {
                    (Some(oldest), Some(next)) if next.first_zxid <= zxid => oldest.name.clone(),
                    _ => break,
                }
            };
            // Oldest first, each removal durable before the next: the log stays contiguous. The
            // list forgets the file as soon as it is gone, whether or not the sync then fails.
            dir.remove(&oldest)
                .map_err(|e| Error::io("remove", dir.path_of(&oldest), e))?;
            self.shared.lock_segments().remove(0);
            removed.push(oldest);
            sync_dir(dir.as_ref())?;
        }
        Ok(removed)
    }
}

/// Closes the watermark when the commit thread ends, however it ends.
struct CloseWatermark(Arc<Shared>);

impl Drop for CloseWatermark {
    fn drop(&mut self) {
        self.0.watermark.close();
    }
}

/// A fresh random salt for a segment (std's hasher keys are seeded from the OS).
fn random_salt() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

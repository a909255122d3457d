//! Reads the segments of a log in order and reports everything it finds to a [`Sink`]: each
//! segment, each record (with its transaction decoded), each problem and each note.
//!
//! Classification is the engine's own ([`scan_segment`], FORMAT.md 5), so the tool and the
//! server never disagree on what is clean, what is a torn tail the server would cut, and what is
//! corruption. On top of it the walk checks what a single-segment scan cannot see (the file
//! name, the link between segments, transactions that do not decode), and it keeps reading after
//! damage: from the first damaged byte it looks for the next intact record (one whose checksum,
//! salted with the segment's salt, matches) and goes on from there, so that an operator sees
//! everything that can still be read. Records found that way are marked `after_damage`.
//!
//! It never writes anything and never panics on any input.

use std::io;

use zk_engine::format::pad8;
use zk_engine::format::record::{
    decode_at, RecordError, RecordRef, RECORD_HEADER_LEN, RECORD_KIND_TXN,
};
use zk_engine::format::segment_header::{
    HeaderError, SegmentHeader, SEGMENT_FORMAT_VERSION, SEGMENT_HEADER_LEN, SEGMENT_MAGIC,
};
use zk_engine::txn::Txn;
use zk_engine::txnlog::scan::{scan_segment, SegmentVerdict};
use zk_engine::Zxid;

use crate::input::LogInput;
use crate::progress::Progress;
use crate::text::zxid_hex;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A crash cut the last write batch; zk-server repairs this at start-up (exit code 1).
    TornTail,
    /// Damaged data; zk-server refuses to start (exit code 2).
    Corruption,
    /// A file that cannot be read at all, or a format this build does not know (exit code 2).
    Unreadable,
}

/// Something wrong with the log.
#[derive(Debug, Clone)]
pub struct Problem {
    /// How bad it is.
    pub kind: ProblemKind,
    /// Index of the segment in [`LogInput::segments`].
    pub segment: usize,
    /// The segment's file name.
    pub file: String,
    /// Byte offset of the damage in the file.
    pub offset: u64,
    /// The last intact transaction before the damage (0 when none).
    pub last_good: Zxid,
    /// What is wrong, for a person.
    pub what: String,
}

impl Problem {
    /// The one-line report: `torn tail at FILE:OFFSET (zxid Z): what`, `corruption at
    /// FILE:OFFSET (zxid Z): what`, or `unreadable: FILE: what`.
    pub fn headline(&self) -> String {
        let at = format!(
            "{}:{} (zxid {})",
            self.file,
            self.offset,
            zxid_hex(self.last_good)
        );
        match self.kind {
            ProblemKind::TornTail => format!("torn tail at {at}: {}", self.what),
            ProblemKind::Corruption => format!("corruption at {at}: {}", self.what),
            ProblemKind::Unreadable => format!("unreadable: {}: {}", self.file, self.what),
        }
    }

    /// The problem's kind as a JSON tag.
    pub fn tag(&self) -> &'static str {
        match self.kind {
            ProblemKind::TornTail => "torn_tail",
            ProblemKind::Corruption => "corruption",
            ProblemKind::Unreadable => "unreadable",
        }
    }
}

/// The start of a segment.
pub struct SegmentStart<'a> {
    /// File name.
    pub file: &'a str,
    /// File length.
    pub file_len: u64,
    /// The header, when it is valid.
    pub header: Option<SegmentHeader>,
}

/// One record.
pub struct Record<'a> {
    /// Index of its segment.
    pub segment: usize,
    /// Its segment's file name.
    pub file: &'a str,
    /// Offset of the record in the file.
    pub offset: u64,
    /// Offset just past it (padding included).
    pub next_offset: u64,
    /// The record's zxid.
    pub zxid: Zxid,
    /// The payload (the encoded transaction).
    pub payload: &'a [u8],
    /// The decoded transaction, or why it does not decode.
    pub txn: &'a Result<Txn, String>,
    /// Found by reading on after damage (zk-server would not replay it).
    pub after_damage: bool,
}

/// The end of a segment.
pub struct SegmentEnd<'a> {
    /// File name.
    pub file: &'a str,
    /// Records read (after damage included).
    pub records: u64,
    /// Records read after damage.
    pub records_after_damage: u64,
    /// Zxid of the first record read.
    pub first: Option<Zxid>,
    /// Zxid of the last record read.
    pub last: Option<Zxid>,
    /// File length.
    pub file_len: u64,
}

/// Something worth telling that is not a problem.
pub struct Note<'a> {
    /// The file it is about.
    pub file: &'a str,
    /// What to say.
    pub text: &'a str,
}

/// Receives what the walk finds, in log order. An error (e.g. a closed pipe) stops the walk.
pub trait Sink {
    /// A segment starts.
    fn segment_start(&mut self, _segment: &SegmentStart<'_>) -> io::Result<()> {
        Ok(())
    }
    /// One record.
    fn record(&mut self, _record: &Record<'_>) -> io::Result<()> {
        Ok(())
    }
    /// A problem, reported where it is found.
    fn problem(&mut self, _problem: &Problem) -> io::Result<()> {
        Ok(())
    }
    /// A note.
    fn note(&mut self, _note: &Note<'_>) -> io::Result<()> {
        Ok(())
    }
    /// A segment ends.
    fn segment_end(&mut self, _segment: &SegmentEnd<'_>) -> io::Result<()> {
        Ok(())
    }
}

/// What the whole walk found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every problem, in log order.
    pub problems: Vec<Problem>,
    /// Segments read.
    pub segments: usize,
    /// Records read (after damage included).
    pub records: u64,
}

impl Outcome {
    /// The worst problem: the first corruption or unreadable file, else the first torn tail.
    pub fn worst(&self) -> Option<&Problem> {
        self.problems
            .iter()
            .find(|p| p.kind != ProblemKind::TornTail)
            .or_else(|| self.problems.first())
    }

    /// 0 clean, 1 torn tail only, 2 corruption or unreadable.
    pub fn exit_code(&self) -> u8 {
        match self.worst().map(|p| p.kind) {
            None => 0,
            Some(ProblemKind::TornTail) => 1,
            Some(_) => 2,
        }
    }

    /// `clean`, or the headline of the worst problem.
    pub fn verdict(&self) -> String {
        match self.worst() {
            None => "clean".to_owned(),
            Some(problem) => problem.headline(),
        }
    }

    /// `clean`, `torn_tail`, `corruption` or `unreadable`.
    pub fn verdict_tag(&self) -> &'static str {
        self.worst().map(Problem::tag).unwrap_or("clean")
    }
}

/// Reads every segment of `input` in order and reports to `sink`. The walk stops early only when
/// the sink fails; its error comes back with what was found until then.
pub fn walk(
    input: &LogInput,
    sink: &mut dyn Sink,
    progress: &mut Progress,
) -> (Outcome, Option<io::Error>) {
    let mut walker = Walker {
        sink,
        outcome: Outcome::default(),
        error: None,
    };
    for other in &input.other_files {
        walker.note(&other.name, other.what);
    }
    if !input.whole_log {
        if let Some(file) = input.segments.first() {
            let text = if input.last_is_newest {
                "one segment read on its own: its links to other segments are not checked"
            } else {
                "one segment read on its own: its links to other segments are not checked; a \
                 newer segment is in its directory, so damage at its end is corruption, not a \
                 torn tail"
            };
            walker.note(&file.name, text);
        }
    }
    // The last zxid of the segment before, when known: the next segment must follow it.
    let mut previous_last: Option<Zxid> = None;
    let count = input.segments.len();
    for (index, file) in input.segments.iter().enumerate() {
        if walker.error.is_some() {
            break;
        }
        let is_last = index + 1 == count && input.last_is_newest;
        progress.start_file(&file.name);
        let bytes = match std::fs::read(&file.path) {
            Ok(bytes) => bytes,
            Err(error) => {
                walker.problem(Problem {
                    kind: ProblemKind::Unreadable,
                    segment: index,
                    file: file.name.clone(),
                    offset: 0,
                    last_good: previous_last.unwrap_or(Zxid::NONE),
                    what: format!("cannot read the file: {error}"),
                });
                previous_last = None;
                continue;
            }
        };
        let context = SegmentContext {
            index,
            file: &file.name,
            name_zxid: file.name_zxid,
            is_last,
            whole_log: input.whole_log,
            previous_last,
        };
        previous_last = walker.segment(&context, &bytes, progress);
        progress.finish_file(bytes.len() as u64);
        walker.outcome.segments += 1;
    }
    progress.clear();
    (walker.outcome, walker.error)
}

/// What the walk knows about a segment before reading it.
struct SegmentContext<'a> {
    index: usize,
    file: &'a str,
    name_zxid: Option<Zxid>,
    /// The newest segment of its log (only there a torn tail is possible).
    is_last: bool,
    whole_log: bool,
    previous_last: Option<Zxid>,
}

/// Per-segment counters.
struct Counted {
    records: u64,
    records_after_damage: u64,
    first: Option<Zxid>,
    /// The last intact zxid so far (the header's `prev_zxid` before any record).
    last: Zxid,
}

struct Walker<'s> {
    sink: &'s mut dyn Sink,
    outcome: Outcome,
    /// The first error of the sink; nothing more is sent once it is set.
    error: Option<io::Error>,
}

impl Walker<'_> {
    fn send(&mut self, call: impl FnOnce(&mut dyn Sink) -> io::Result<()>) {
        if self.error.is_none() {
            if let Err(error) = call(self.sink) {
                self.error = Some(error);
            }
        }
    }

    fn problem(&mut self, problem: Problem) {
        self.send(|sink| sink.problem(&problem));
        self.outcome.problems.push(problem);
    }

    fn note(&mut self, file: &str, text: &str) {
        self.send(|sink| sink.note(&Note { file, text }));
    }

    /// Reads one segment; returns its last zxid when known.
    fn segment(
        &mut self,
        context: &SegmentContext<'_>,
        bytes: &[u8],
        progress: &mut Progress,
    ) -> Option<Zxid> {
        let file_len = bytes.len() as u64;
        let problem = |kind, offset, last_good, what: String| Problem {
            kind,
            segment: context.index,
            file: context.file.to_owned(),
            offset,
            last_good,
            what,
        };
        let before = context.previous_last.unwrap_or(Zxid::NONE);
        let header = match SegmentHeader::decode(bytes) {
            Ok(header) => header,
            Err(error) => {
                self.send(|sink| {
                    sink.segment_start(&SegmentStart {
                        file: context.file,
                        file_len,
                        header: None,
                    })
                });
                let mut counted = Counted {
                    records: 0,
                    records_after_damage: 0,
                    first: None,
                    last: before,
                };
                match error {
                    HeaderError::Zeroed if bytes.iter().all(|&b| b == 0) && context.is_last => {
                        self.problem(problem(
                            ProblemKind::TornTail,
                            0,
                            before,
                            "the segment's header was never written (a crash while the segment \
                             was being started; nothing in it was acknowledged); zk-server \
                             deletes the file at start-up"
                                .into(),
                        ));
                    }
                    HeaderError::Zeroed if bytes.iter().all(|&b| b == 0) => {
                        self.problem(problem(
                            ProblemKind::Corruption,
                            0,
                            before,
                            "the segment is all zeros but it is not the last one: its header \
                             and records are lost"
                                .into(),
                        ));
                    }
                    HeaderError::Zeroed => {
                        self.problem(problem(
                            ProblemKind::Corruption,
                            0,
                            before,
                            "the segment header is all zeros but data follows; without the \
                             header's salt no record can be checked, so none is shown"
                                .into(),
                        ));
                    }
                    HeaderError::UnsupportedVersion(version) => {
                        self.problem(problem(
                            ProblemKind::Unreadable,
                            8,
                            before,
                            format!(
                                "segment format version {version} is not supported (this build \
                                 reads version {SEGMENT_FORMAT_VERSION}); use a newer zk-logdump"
                            ),
                        ));
                    }
                    HeaderError::Invalid(why) => {
                        self.problem(problem(
                            ProblemKind::Corruption,
                            0,
                            before,
                            format!("invalid segment header: {why}"),
                        ));
                        if let Some(raw) = RawHeader::read(bytes) {
                            if let Some(previous) = context.previous_last {
                                if previous != raw.prev_zxid {
                                    self.problem(problem(
                                        ProblemKind::Corruption,
                                        32,
                                        previous,
                                        link_problem(raw.prev_zxid, previous),
                                    ));
                                }
                            }
                            self.note(
                                context.file,
                                "reading on with the salt that the damaged header holds: only \
                                 records whose checksum matches it are shown",
                            );
                            counted.last = raw.prev_zxid;
                            self.read_from_start(context, bytes, raw.salt, &mut counted, progress);
                        }
                    }
                }
                self.end_segment(context, &counted, file_len);
                return (counted.records > 0).then_some(counted.last);
            }
        };
        self.send(|sink| {
            sink.segment_start(&SegmentStart {
                file: context.file,
                file_len,
                header: Some(header),
            })
        });

        let mut body = bytes;
        let mut cut_short = false;
        if header.segment_size != file_len {
            self.problem(problem(
                ProblemKind::Corruption,
                40,
                before,
                format!(
                    "the header says the segment is {} bytes, the file has {file_len} (it was \
                     cut short or extended)",
                    header.segment_size
                ),
            ));
            match usize::try_from(header.segment_size)
                .ok()
                .and_then(|size| bytes.get(..size))
            {
                Some(prefix) => body = prefix,
                None => cut_short = true,
            }
        }
        match context.name_zxid {
            Some(name_zxid) if name_zxid != header.first_zxid => {
                self.problem(problem(
                    ProblemKind::Corruption,
                    24,
                    before,
                    format!(
                        "the header's first zxid {} does not match the file name",
                        zxid_hex(header.first_zxid)
                    ),
                ));
            }
            None => self.note(
                context.file,
                "the file name is not a segment name (log.<zxid>); the header's first zxid is \
                 used",
            ),
            _ => {}
        }
        match context.previous_last {
            Some(previous) if previous != header.prev_zxid => {
                self.problem(problem(
                    ProblemKind::Corruption,
                    32,
                    previous,
                    link_problem(header.prev_zxid, previous),
                ));
            }
            None if context.index == 0 && context.whole_log && header.prev_zxid != Zxid::NONE => {
                self.note(
                    context.file,
                    &format!(
                        "the log starts after zxid {}: older segments were purged (the newest \
                         snapshot must reach back to it)",
                        zxid_hex(header.prev_zxid)
                    ),
                );
            }
            _ => {}
        }

        let mut counted = Counted {
            records: 0,
            records_after_damage: 0,
            first: None,
            last: header.prev_zxid,
        };
        if cut_short {
            // The engine's scan needs the whole file; read what there is record by record.
            self.read_from_start(context, body, header.salt, &mut counted, progress);
        } else {
            let scan = {
                let walker = &mut *self;
                let counted = &mut counted;
                let progress = &mut *progress;
                scan_segment(
                    body,
                    header.first_zxid,
                    context.is_last,
                    None,
                    |record, payload| {
                        walker.record(context, record, payload, counted, false);
                        progress.update(record.offset);
                    },
                )
            };
            match scan.verdict {
                SegmentVerdict::Clean => {}
                SegmentVerdict::TornTail {
                    torn_offset,
                    torn_end,
                    valid_after,
                } => {
                    let batch = match valid_after {
                        0 => String::new(),
                        1 => ", holding 1 intact record of the same batch".to_owned(),
                        n => format!(", holding {n} intact records of the same batch"),
                    };
                    self.problem(problem(
                        ProblemKind::TornTail,
                        torn_offset,
                        scan.last_zxid,
                        format!(
                            "{} bytes (to offset {torn_end}) of a write batch that was never \
                             synced{batch}; zk-server cuts them at start-up and keeps them in \
                             {}.torn-{torn_offset}",
                            torn_end.saturating_sub(torn_offset),
                            context.file
                        ),
                    ));
                    if valid_after > 0 {
                        self.read_on(
                            context,
                            body,
                            header.salt,
                            torn_offset,
                            &mut counted,
                            ReadOn::TornTail,
                            progress,
                        );
                    }
                }
                SegmentVerdict::Corrupt { offset, reason } => {
                    self.problem(problem(
                        ProblemKind::Corruption,
                        offset,
                        scan.last_zxid,
                        reason,
                    ));
                    self.read_on(
                        context,
                        body,
                        header.salt,
                        offset,
                        &mut counted,
                        ReadOn::Damage,
                        progress,
                    );
                }
                SegmentVerdict::TornRoll => {
                    // Not reachable with a valid header; reported all the same.
                    self.problem(problem(
                        ProblemKind::TornTail,
                        0,
                        before,
                        "a segment whose roll never completed".into(),
                    ));
                }
                SegmentVerdict::UnsupportedVersion(version) => {
                    self.problem(problem(
                        ProblemKind::Unreadable,
                        8,
                        before,
                        format!("segment format version {version} is not supported"),
                    ));
                }
            }
        }
        if counted.records == 0 {
            if context.whole_log && !context.is_last {
                self.problem(problem(
                    ProblemKind::Corruption,
                    SEGMENT_HEADER_LEN as u64,
                    counted.last,
                    "a segment that is not the last holds no record (a segment is missing, or \
                     this one was emptied)"
                        .into(),
                ));
            } else if context.is_last && self.outcome.problems.is_empty() {
                self.note(
                    context.file,
                    "the last segment holds no record; zk-server removes it at start-up",
                );
            }
        }
        self.end_segment(context, &counted, file_len);
        Some(counted.last)
    }

    fn end_segment(&mut self, context: &SegmentContext<'_>, counted: &Counted, file_len: u64) {
        let last = counted.first.map(|_| counted.last);
        self.send(|sink| {
            sink.segment_end(&SegmentEnd {
                file: context.file,
                records: counted.records,
                records_after_damage: counted.records_after_damage,
                first: counted.first,
                last,
                file_len,
            })
        });
    }

    /// One record: decode its transaction, check it, hand it on.
    fn record(
        &mut self,
        context: &SegmentContext<'_>,
        record: &RecordRef,
        payload: &[u8],
        counted: &mut Counted,
        after_damage: bool,
    ) {
        let txn = match zk_engine::txn::decode(payload) {
            Ok(txn) if txn.header.zxid != record.zxid => {
                self.problem(Problem {
                    kind: ProblemKind::Corruption,
                    segment: context.index,
                    file: context.file.to_owned(),
                    offset: record.offset,
                    last_good: counted.last,
                    what: format!(
                        "the record of zxid {} holds a transaction of zxid {}",
                        zxid_hex(record.zxid),
                        zxid_hex(txn.header.zxid)
                    ),
                });
                Ok(txn)
            }
            Ok(txn) => Ok(txn),
            Err(error) => {
                self.problem(Problem {
                    kind: ProblemKind::Corruption,
                    segment: context.index,
                    file: context.file.to_owned(),
                    offset: record.offset,
                    last_good: counted.last,
                    what: format!(
                        "the record of zxid {} holds no valid transaction: {error}",
                        zxid_hex(record.zxid)
                    ),
                });
                Err(error.to_string())
            }
        };
        self.send(|sink| {
            sink.record(&Record {
                segment: context.index,
                file: context.file,
                offset: record.offset,
                next_offset: record.next_offset,
                zxid: record.zxid,
                payload,
                txn: &txn,
                after_damage,
            })
        });
        counted.records += 1;
        if after_damage {
            counted.records_after_damage += 1;
        }
        if counted.first.is_none() {
            counted.first = Some(record.zxid);
        }
        counted.last = record.zxid;
        self.outcome.records += 1;
    }

    /// Reads a segment record by record from its first record, the way the engine's scan does,
    /// for files the scan cannot take (cut short, or a damaged header with an intact magic).
    /// At the first offset that is not a record following the last one, anything but zeros to
    /// the end is damage: reported, then read on from.
    fn read_from_start(
        &mut self,
        context: &SegmentContext<'_>,
        bytes: &[u8],
        salt: u64,
        counted: &mut Counted,
        progress: &mut Progress,
    ) {
        let mut offset = SEGMENT_HEADER_LEN as u64;
        loop {
            match decode_at(bytes, salt, offset) {
                Ok(record)
                    if counted.last == Zxid::NONE || counted.last.is_followed_by(record.zxid) =>
                {
                    let payload = record.payload(bytes);
                    self.record(context, &record, payload, counted, false);
                    progress.update(record.offset);
                    offset = record.next_offset;
                }
                Ok(record) => {
                    self.problem(Problem {
                        kind: ProblemKind::Corruption,
                        segment: context.index,
                        file: context.file.to_owned(),
                        offset,
                        last_good: counted.last,
                        what: format!(
                            "record zxid {} does not follow {} (a zxid went backwards or skipped)",
                            zxid_hex(record.zxid),
                            zxid_hex(counted.last)
                        ),
                    });
                    self.read_on(
                        context,
                        bytes,
                        salt,
                        offset,
                        counted,
                        ReadOn::Damage,
                        progress,
                    );
                    return;
                }
                Err(error) => {
                    let rest = usize::try_from(offset)
                        .ok()
                        .and_then(|at| bytes.get(at..))
                        .unwrap_or_default();
                    if rest.iter().all(|&b| b == 0) {
                        return;
                    }
                    let what = match error {
                        RecordError::Empty => "an empty length word followed by data".to_owned(),
                        RecordError::Invalid(why) => why,
                    };
                    self.problem(Problem {
                        kind: ProblemKind::Corruption,
                        segment: context.index,
                        file: context.file.to_owned(),
                        offset,
                        last_good: counted.last,
                        what,
                    });
                    self.read_on(
                        context,
                        bytes,
                        salt,
                        offset,
                        counted,
                        ReadOn::Damage,
                        progress,
                    );
                    return;
                }
            }
        }
    }

    /// Reads on from `from` after damage: every 8-aligned offset that holds an intact record
    /// of this segment (its checksum, salted with `salt`, matches) is taken, and the zxid order
    /// is checked from there.
    #[allow(clippy::too_many_arguments)]
    fn read_on(
        &mut self,
        context: &SegmentContext<'_>,
        bytes: &[u8],
        salt: u64,
        from: u64,
        counted: &mut Counted,
        why: ReadOn,
        progress: &mut Progress,
    ) {
        let end = bytes.len() as u64;
        let mut offset = pad8(from.max(SEGMENT_HEADER_LEN as u64));
        // After damage the record at the damage itself is intact when what is wrong is its
        // zxid order; after a torn tail it is not.
        let mut probe_first = why == ReadOn::Damage;
        if !probe_first {
            offset += 8;
        }
        let mut found_any = false;
        while offset.saturating_add(RECORD_HEADER_LEN as u64) <= end {
            let candidate = if probe_first || plausible(bytes, offset) {
                decode_at(bytes, salt, offset).ok()
            } else {
                None
            };
            probe_first = false;
            let Some(record) = candidate else {
                offset += 8;
                if offset.is_multiple_of(1 << 20) {
                    progress.update(offset);
                }
                continue;
            };
            if !found_any {
                let text = match why {
                    ReadOn::Damage => format!(
                        "reading on after the damage: the next intact record is at offset {} \
                         (zxid {}){}; zk-server would not replay it",
                        record.offset,
                        zxid_hex(record.zxid),
                        lost_zxids(counted.last, record.zxid)
                    ),
                    ReadOn::TornTail => format!(
                        "intact records after the torn tail follow, from offset {}: they belong \
                         to the unsynced batch and zk-server cuts them with it",
                        record.offset
                    ),
                };
                self.note(context.file, &text);
            } else if !counted.last.is_followed_by(record.zxid) {
                self.problem(Problem {
                    kind: ProblemKind::Corruption,
                    segment: context.index,
                    file: context.file.to_owned(),
                    offset: record.offset,
                    last_good: counted.last,
                    what: format!(
                        "record zxid {} does not follow {} (a zxid went backwards or skipped)",
                        zxid_hex(record.zxid),
                        zxid_hex(counted.last)
                    ),
                });
            }
            found_any = true;
            let payload = record.payload(bytes);
            self.record(context, &record, payload, counted, true);
            progress.update(record.offset);
            offset = record.next_offset;
        }
        if !found_any && why == ReadOn::Damage {
            self.note(
                context.file,
                "no intact record follows the damage in this segment",
            );
        }
    }
}

/// Why [`Walker::read_on`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadOn {
    /// After a damaged or out-of-order record.
    Damage,
    /// After a torn tail that holds intact records of its batch.
    TornTail,
}

/// Cheap checks of the fixed fields before a checksum is computed, so that reading on through
/// garbage stays linear: a random length word alone would make every probe hash megabytes.
fn plausible(bytes: &[u8], offset: u64) -> bool {
    let Ok(at) = usize::try_from(offset) else {
        return false;
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let (Some(len), Some(zxid), Some(batch_start), Some(kind), Some(reserved)) = (
        u32_at(at),
        u64_at(at + 8),
        u64_at(at + 16),
        u32_at(at + 24),
        u32_at(at + 28),
    ) else {
        return false;
    };
    len as usize >= RECORD_HEADER_LEN
        && offset.saturating_add(pad8(u64::from(len))) <= bytes.len() as u64
        && kind == RECORD_KIND_TXN
        && reserved == 0
        && zxid != 0
        && batch_start.is_multiple_of(8)
        && batch_start >= SEGMENT_HEADER_LEN as u64
        && batch_start <= offset
}

/// The fields of a header whose checksum does not match, when its magic is intact: the salt may
/// still be right, and the records' own checksums will tell.
struct RawHeader {
    salt: u64,
    prev_zxid: Zxid,
}

impl RawHeader {
    fn read(bytes: &[u8]) -> Option<RawHeader> {
        if bytes.get(..8)? != SEGMENT_MAGIC {
            return None;
        }
        let u64_at = |at: usize| {
            bytes
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        Some(RawHeader {
            salt: u64_at(16)?,
            prev_zxid: Zxid(u64_at(32)?),
        })
    }
}

/// `, zxids A to B are lost` when records are missing between `last` and `next`.
fn lost_zxids(last: Zxid, next: Zxid) -> String {
    if last == Zxid::NONE || last.is_followed_by(next) || next <= last {
        return String::new();
    }
    if last.epoch() == next.epoch() {
        let first = Zxid(last.0 + 1);
        let until = Zxid(next.0 - 1);
        if first == until {
            format!("; zxid {} is lost", zxid_hex(first))
        } else {
            format!(
                "; zxids {} to {} are lost",
                zxid_hex(first),
                zxid_hex(until)
            )
        }
    } else {
        format!(
            "; the transactions between {} and {} are lost",
            zxid_hex(last),
            zxid_hex(next)
        )
    }
}

/// What a broken link between two segments means.
fn link_problem(prev_in_header: Zxid, previous_last: Zxid) -> String {
    let head = format!(
        "the segment follows zxid {} but the segment before it ends at {}",
        zxid_hex(prev_in_header),
        zxid_hex(previous_last)
    );
    if prev_in_header > previous_last {
        let missing = if previous_last.epoch() == prev_in_header.epoch() {
            format!(
                "zxids {} to {}",
                zxid_hex(Zxid(previous_last.0 + 1)),
                zxid_hex(prev_in_header)
            )
        } else {
            format!(
                "the transactions after {} up to {}",
                zxid_hex(previous_last),
                zxid_hex(prev_in_header)
            )
        };
        format!("{head}: {missing} are missing (a segment was deleted or lost)")
    } else {
        format!("{head}: the two overlap (a segment was replaced or copied in from elsewhere)")
    }
}

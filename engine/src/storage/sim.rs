//! A simulated disk for crash tests: [`SimDir`] implements [`LogDir`] in memory and keeps apart
//! what is durable and what a power loss could still take away.
//!
//! What it models:
//!
//! - Each file has an id; the directory maps names to ids. Open writers refer to the id, so a
//!   rename does not disturb them.
//! - For each file, its *durable* bytes and its *pending* writes (offset and data, in call order).
//!   [`SegmentWriter::sync`] makes every pending write of the file durable. Files have a fixed
//!   length: a write past the end is an error, as is a write to a file that no longer has a name.
//! - Directory operations (the names given by `create_zeroed` and `write_new`, renames, removals)
//!   are pending until [`LogDir::sync_dir`]. The *contents* written by `create_zeroed` and
//!   `write_new` are durable at once, because both sync their data.
//! - Reads ([`LogDir::read`], [`LogDir::list`]) see the live state: durable plus pending,
//!   applied in order, as the page cache would show it.
//! - A crash image ([`SimDir::crash`]) keeps the durable directory plus a *prefix* of the pending
//!   directory operations, and for each surviving file its durable bytes plus any subset of its
//!   pending writes; a kept write may be torn at 512-byte sector boundaries, and a sector of it may
//!   land as zeros.
//! - Fault injection: the n-th next call of an operation fails ([`SimDir::fail_after`]), and a full
//!   disk makes file creation fail with [`io::ErrorKind::StorageFull`] ([`SimDir::set_disk_full`]).
//!
//! What it does not model: misdirected or lost-but-acknowledged writes, bit rot of durable data
//! (use [`SimDir::corrupt`] for that), reordering of directory operations (they survive as a
//! prefix, as on a journaling file system), damage outside the byte range of a pending write
//! (a zeroed sector is zeroed only where the write covered it), reads that fail, and the Linux
//! behaviour where a retried `fsync` after a failed one reports success without the data: here a
//! failed sync leaves the writes pending, and a later successful sync makes them durable. The log
//! must never retry a failed sync (it poisons itself), which this disk does not check.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{LogDir, SegmentWriter, WriteMode};

/// The unit a torn write is cut into: each sector of a write lands whole or not at all.
pub const SECTOR_LEN: u64 = 512;

/// An operation that [`SimDir::fail_after`] can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// [`SegmentWriter::write_at`] (and the write half of `write_durable`). Nothing is written.
    WriteAt,
    /// [`SegmentWriter::sync`]. The file's pending writes stay pending: a crash image may keep or
    /// drop them.
    Sync,
    /// [`LogDir::create_zeroed`]. Nothing is created.
    CreateZeroed,
    /// [`LogDir::write_new`]. Nothing is created.
    WriteNew,
    /// [`LogDir::rename`]. Nothing is renamed.
    Rename,
    /// [`LogDir::remove`]. Nothing is removed.
    Remove,
    /// [`LogDir::sync_dir`]. The directory operations stay pending.
    SyncDir,
}

/// The number of [`Operation`] variants.
const OPERATION_COUNT: usize = 7;

impl Operation {
    fn index(self) -> usize {
        match self {
            Operation::WriteAt => 0,
            Operation::Sync => 1,
            Operation::CreateZeroed => 2,
            Operation::WriteNew => 3,
            Operation::Rename => 4,
            Operation::Remove => 5,
            Operation::SyncDir => 6,
        }
    }
}

/// A small deterministic random number generator (splitmix64), so that a crash image or a test
/// schedule is reproduced exactly from a `u64` seed.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0), nearly uniform.
    pub fn below(&mut self, n: u64) -> u64 {
        // Multiply-shift maps 64 random bits onto 0..n without a division.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A simulated directory of log files. Cloning it is cheap and the clones share one disk, so a test
/// can keep a handle while the log owns another.
#[derive(Clone, Default)]
pub struct SimDir {
    state: Arc<Mutex<SimState>>,
}

type FileId = u64;

#[derive(Default)]
struct SimState {
    files: BTreeMap<FileId, SimFile>,
    next_file_id: FileId,
    /// The directory as it is on disk.
    durable_names: BTreeMap<String, FileId>,
    /// The directory as it is seen: `durable_names` with `pending_dir_ops` applied.
    live_names: BTreeMap<String, FileId>,
    pending_dir_ops: Vec<DirOp>,
    /// Per [`Operation`]: how many calls remain until the one that fails.
    fault_countdowns: [Option<u64>; OPERATION_COUNT],
    disk_full: bool,
    write_count: u64,
    sync_count: u64,
    dir_sync_count: u64,
}

struct SimFile {
    durable: Vec<u8>,
    /// `durable` with `pending` applied in order. Always the same length as `durable`.
    live: Vec<u8>,
    pending: Vec<PendingWrite>,
}

struct PendingWrite {
    offset: u64,
    data: Vec<u8>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Create { name: String, id: FileId },
    Rename { from: String, to: String },
    Remove { name: String },
}

impl DirOp {
    fn apply(&self, names: &mut BTreeMap<String, FileId>) {
        match self {
            DirOp::Create { name, id } => {
                names.insert(name.clone(), *id);
            }
            DirOp::Rename { from, to } => {
                if let Some(id) = names.remove(from) {
                    names.insert(to.clone(), id);
                }
            }
            DirOp::Remove { name } => {
                names.remove(name);
            }
        }
    }
}

/// What a crash keeps of one pending write.
enum WriteFate {
    Lost,
    Whole,
    Torn,
}

/// What a crash keeps of one sector of a torn write.
enum SectorFate {
    Lost,
    Zeroed,
    Landed,
}

/// How a crash image chooses what survives.
enum Survival<'a> {
    /// Exactly the durable state.
    Nothing,
    /// Every pending operation, whole.
    Everything,
    /// Each choice asks the function for a number in `0..n`.
    Chosen(&'a mut dyn FnMut(u64) -> u64),
}

impl Survival<'_> {
    fn choose(chooser: &mut dyn FnMut(u64) -> u64, n: u64) -> u64 {
        chooser(n) % n
    }

    fn dir_prefix(&mut self, pending: usize) -> usize {
        match self {
            Survival::Nothing => 0,
            Survival::Everything => pending,
            Survival::Chosen(chooser) => {
                let kept = Self::choose(*chooser, pending as u64 + 1);
                usize::try_from(kept).unwrap_or(pending)
            }
        }
    }

    fn write(&mut self) -> WriteFate {
        match self {
            Survival::Nothing => WriteFate::Lost,
            Survival::Everything => WriteFate::Whole,
            Survival::Chosen(chooser) => match Self::choose(*chooser, 3) {
                0 => WriteFate::Lost,
                1 => WriteFate::Whole,
                _ => WriteFate::Torn,
            },
        }
    }

    fn sector(&mut self) -> SectorFate {
        match self {
            Survival::Nothing => SectorFate::Lost,
            Survival::Everything => SectorFate::Landed,
            Survival::Chosen(chooser) => match Self::choose(*chooser, 4) {
                0 => SectorFate::Lost,
                1 => SectorFate::Zeroed,
                _ => SectorFate::Landed,
            },
        }
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("sim: no file named {name:?}"),
    )
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("sim: {name:?} is not a plain file name"),
        ));
    }
    Ok(())
}

/// `offset..offset + len` as indices into a file of `file_len` bytes, if it fits.
fn byte_range(offset: u64, len: usize, file_len: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(len)?;
    (end <= file_len).then_some(start..end)
}

impl SimDir {
    /// An empty disk.
    pub fn new() -> SimDir {
        SimDir::default()
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A test that panicked while holding the lock left the state whole: every mutation below
        // checks before it changes anything.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the `n`-th next call of `op` fail, once, with an injected error (`n = 1`: the next
    /// call). Every call of `op` counts, whatever its outcome. `n = 0` disarms the fault.
    pub fn fail_after(&self, op: Operation, n: u64) {
        self.lock().fault_countdowns[op.index()] = (n > 0).then_some(n);
    }

    /// Disarms every fault set with [`SimDir::fail_after`] and clears a full disk.
    pub fn clear_faults(&self) {
        let mut state = self.lock();
        state.fault_countdowns = [None; OPERATION_COUNT];
        state.disk_full = false;
    }

    /// While `full`, [`LogDir::create_zeroed`] and [`LogDir::write_new`] fail with
    /// [`io::ErrorKind::StorageFull`] and create nothing. Writes into existing files still work:
    /// their space was taken when they were created.
    pub fn set_disk_full(&self, full: bool) {
        self.lock().disk_full = full;
    }

    /// The live content of `name` (what a read sees now), or `None` if no file has that name.
    pub fn file_bytes(&self, name: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        let id = state.live_names.get(name)?;
        state.files.get(id).map(|file| file.live.clone())
    }

    /// The content of `name` as a crash that keeps nothing pending would leave it: looked up in the
    /// durable directory, with its durable bytes. `None` if the durable directory has no such name.
    pub fn durable_file_bytes(&self, name: &str) -> Option<Vec<u8>> {
        let state = self.lock();
        let id = state.durable_names.get(name)?;
        state.files.get(id).map(|file| file.durable.clone())
    }

    /// The names in the durable directory, sorted.
    pub fn durable_names(&self) -> Vec<String> {
        self.lock().durable_names.keys().cloned().collect()
    }

    /// The names in the live directory, sorted.
    pub fn live_names(&self) -> Vec<String> {
        self.lock().live_names.keys().cloned().collect()
    }

    /// How many writes to `name` (live directory) are not yet synced; 0 if there is no such file.
    pub fn pending_write_count(&self, name: &str) -> usize {
        let state = self.lock();
        state
            .live_names
            .get(name)
            .and_then(|id| state.files.get(id))
            .map_or(0, |file| file.pending.len())
    }

    /// How many directory operations wait for [`LogDir::sync_dir`].
    pub fn pending_dir_op_count(&self) -> usize {
        self.lock().pending_dir_ops.len()
    }

    /// Whether anything (a write or a directory operation) is not yet durable.
    pub fn has_pending(&self) -> bool {
        let state = self.lock();
        !state.pending_dir_ops.is_empty() || state.files.values().any(|f| !f.pending.is_empty())
    }

    /// Damages one byte of `name` (live directory) in place, as a medium would: the byte becomes
    /// `f(live byte)` in the live view, in the durable bytes, and in every pending write covering
    /// it, so that every crash image sees the damage.
    pub fn corrupt(&self, name: &str, offset: u64, f: impl FnOnce(&mut u8)) -> io::Result<()> {
        let mut state = self.lock();
        let id = *state.live_names.get(name).ok_or_else(|| not_found(name))?;
        let file = state.files.get_mut(&id).ok_or_else(|| not_found(name))?;
        let index = byte_range(offset, 1, file.live.len())
            .map(|range| range.start)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("sim: offset {offset} is past the end of {name:?}"),
                )
            })?;
        let mut byte = file.live[index];
        f(&mut byte);
        file.live[index] = byte;
        file.durable[index] = byte;
        for write in &mut file.pending {
            if let Some(at) = offset.checked_sub(write.offset) {
                if let Some(slot) = usize::try_from(at)
                    .ok()
                    .and_then(|at| write.data.get_mut(at))
                {
                    *slot = byte;
                }
            }
        }
        Ok(())
    }

    /// Sets the length of `name` (live directory) to `len`, durably and at once: bytes past `len`
    /// are gone (pending writes are cut to fit), new bytes are zeros.
    pub fn truncate_file(&self, name: &str, len: u64) -> io::Result<()> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sim: length too large"))?;
        let mut state = self.lock();
        let id = *state.live_names.get(name).ok_or_else(|| not_found(name))?;
        let file = state.files.get_mut(&id).ok_or_else(|| not_found(name))?;
        file.durable.resize(len, 0);
        file.live.resize(len, 0);
        file.pending.retain_mut(|write| {
            let start = usize::try_from(write.offset).unwrap_or(usize::MAX);
            write.data.truncate(len.saturating_sub(start));
            !write.data.is_empty()
        });
        Ok(())
    }

    /// Successful [`SegmentWriter::write_at`] calls so far (empty writes included).
    pub fn write_count(&self) -> u64 {
        self.lock().write_count
    }

    /// Successful [`SegmentWriter::sync`] calls so far.
    pub fn sync_count(&self) -> u64 {
        self.lock().sync_count
    }

    /// Successful [`LogDir::sync_dir`] calls so far.
    pub fn dir_sync_count(&self) -> u64 {
        self.lock().dir_sync_count
    }

    /// A new disk holding what could survive a power loss now. Every choice calls `choose(n)` for a
    /// number in `0..n` (taken modulo `n`), in this order:
    ///
    /// 1. `choose(p + 1)`: how many of the `p` pending directory operations survive (a prefix).
    /// 2. For each file in the resulting directory, by creation order, for each of its pending
    ///    writes in order: `choose(3)`: 0 lost, 1 lands whole, 2 torn. A torn write is cut at
    ///    512-byte sector boundaries of the file and each piece asks `choose(4)`: 0 lost,
    ///    1 lands as zeros, 2 or 3 lands.
    ///
    /// Surviving writes are applied in their original order over the durable bytes. The new disk
    /// has nothing pending, no faults armed and its counters at 0; this disk is unchanged.
    pub fn crash(&self, choose: &mut impl FnMut(u64) -> u64) -> SimDir {
        self.crash_image(Survival::Chosen(choose))
    }

    /// [`SimDir::crash`] with choices drawn from [`SimRng::new`]`(seed)`.
    pub fn crash_with_seed(&self, seed: u64) -> SimDir {
        let mut rng = SimRng::new(seed);
        self.crash(&mut |n| rng.below(n))
    }

    /// The crash image that keeps exactly the durable state.
    pub fn crash_clean(&self) -> SimDir {
        self.crash_image(Survival::Nothing)
    }

    /// The crash image that keeps everything pending, as after a `kill -9` where the page cache
    /// survives: the new disk's durable state is this disk's live state.
    pub fn crash_keep_all(&self) -> SimDir {
        self.crash_image(Survival::Everything)
    }

    fn crash_image(&self, mut survival: Survival<'_>) -> SimDir {
        let state = self.lock();
        let mut names = state.durable_names.clone();
        let kept_ops = survival.dir_prefix(state.pending_dir_ops.len());
        for op in state.pending_dir_ops.iter().take(kept_ops) {
            op.apply(&mut names);
        }
        let mut files = BTreeMap::new();
        // Ids grow with creation, so this visits files in creation order.
        let surviving: std::collections::BTreeSet<FileId> = names.values().copied().collect();
        for id in surviving {
            let Some(file) = state.files.get(&id) else {
                continue;
            };
            let mut bytes = file.durable.clone();
            for write in &file.pending {
                land(&mut bytes, write, &mut survival);
            }
            files.insert(
                id,
                SimFile {
                    live: bytes.clone(),
                    durable: bytes,
                    pending: Vec::new(),
                },
            );
        }
        let image = SimState {
            files,
            next_file_id: state.next_file_id,
            live_names: names.clone(),
            durable_names: names,
            ..SimState::default()
        };
        SimDir {
            state: Arc::new(Mutex::new(image)),
        }
    }
}

/// Applies what survives of `write` to `bytes`.
fn land(bytes: &mut [u8], write: &PendingWrite, survival: &mut Survival<'_>) {
    let Some(range) = byte_range(write.offset, write.data.len(), bytes.len()) else {
        return;
    };
    match survival.write() {
        WriteFate::Lost => {}
        WriteFate::Whole => bytes[range].copy_from_slice(&write.data),
        WriteFate::Torn => {
            let mut start = write.offset;
            let end = write.offset + write.data.len() as u64;
            while start < end {
                let piece_end = ((start / SECTOR_LEN + 1) * SECTOR_LEN).min(end);
                // Both fit in usize: the whole write is inside `bytes`.
                let (from, to) = (start as usize, piece_end as usize);
                let (data_from, data_to) = (
                    (start - write.offset) as usize,
                    (piece_end - write.offset) as usize,
                );
                match survival.sector() {
                    SectorFate::Lost => {}
                    SectorFate::Zeroed => bytes[from..to].fill(0),
                    SectorFate::Landed => {
                        bytes[from..to].copy_from_slice(&write.data[data_from..data_to]);
                    }
                }
                start = piece_end;
            }
        }
    }
}

impl SimState {
    /// Counts a call of `op`; fails it if its countdown reaches zero now.
    fn tick(&mut self, op: Operation) -> io::Result<()> {
        let slot = &mut self.fault_countdowns[op.index()];
        match *slot {
            Some(1) => {
                *slot = None;
                Err(io::Error::other(format!("sim: injected fault in {op:?}")))
            }
            Some(n) => {
                *slot = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn check_space(&self) -> io::Result<()> {
        if self.disk_full {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "sim: no space left on device",
            ));
        }
        Ok(())
    }

    fn create(&mut self, name: &str, content: Vec<u8>) -> io::Result<()> {
        check_name(name)?;
        if self.live_names.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("sim: {name:?} already exists"),
            ));
        }
        self.check_space()?;
        let id = self.next_file_id;
        self.next_file_id += 1;
        self.files.insert(
            id,
            SimFile {
                live: content.clone(),
                durable: content,
                pending: Vec::new(),
            },
        );
        self.apply_dir_op(DirOp::Create {
            name: name.to_owned(),
            id,
        });
        Ok(())
    }

    fn apply_dir_op(&mut self, op: DirOp) {
        op.apply(&mut self.live_names);
        self.pending_dir_ops.push(op);
    }

    fn is_linked(&self, id: FileId) -> bool {
        self.live_names.values().any(|&linked| linked == id)
    }
}

impl LogDir for SimDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.live_names())
    }

    fn create_zeroed(&self, name: &str, len: u64) -> io::Result<()> {
        let mut state = self.lock();
        state.tick(Operation::CreateZeroed)?;
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sim: length too large"))?;
        state.create(name, vec![0; len])
    }

    fn open_writer(&self, name: &str) -> io::Result<Box<dyn SegmentWriter>> {
        let state = self.lock();
        let id = *state.live_names.get(name).ok_or_else(|| not_found(name))?;
        Ok(Box::new(SimWriter {
            dir: self.clone(),
            id,
            name: name.to_owned(),
        }))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        self.file_bytes(name).ok_or_else(|| not_found(name))
    }

    fn sync_file(&self, name: &str) -> io::Result<()> {
        self.open_writer(name)?.sync(0, 0)
    }

    fn write_new(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        state.tick(Operation::WriteNew)?;
        state.create(name, data.to_vec())
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut state = self.lock();
        state.tick(Operation::Rename)?;
        check_name(to)?;
        if !state.live_names.contains_key(from) {
            return Err(not_found(from));
        }
        if from != to {
            state.apply_dir_op(DirOp::Rename {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut state = self.lock();
        state.tick(Operation::Remove)?;
        if !state.live_names.contains_key(name) {
            return Err(not_found(name));
        }
        state.apply_dir_op(DirOp::Remove {
            name: name.to_owned(),
        });
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        let mut state = self.lock();
        state.tick(Operation::SyncDir)?;
        state.pending_dir_ops.clear();
        state.durable_names = state.live_names.clone();
        // A file with no name left can never be reached again, not even by a crash image.
        let SimState {
            files,
            durable_names,
            ..
        } = &mut *state;
        files.retain(|id, _| durable_names.values().any(|linked| linked == id));
        state.dir_sync_count += 1;
        Ok(())
    }

    fn path_of(&self, name: &str) -> PathBuf {
        PathBuf::from("sim").join(name)
    }

    fn write_mode(&self) -> WriteMode {
        WriteMode::Pwrite
    }
}

/// A writer into one simulated file, by id: renames do not disturb it.
struct SimWriter {
    dir: SimDir,
    id: FileId,
    /// The name it was opened under, for error messages.
    name: String,
}

impl SimWriter {
    fn removed(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("sim: the file opened as {:?} was removed", self.name),
        )
    }
}

impl SegmentWriter for SimWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.dir.lock();
        state.tick(Operation::WriteAt)?;
        if !state.is_linked(self.id) {
            return Err(self.removed());
        }
        let file = state
            .files
            .get_mut(&self.id)
            .ok_or_else(|| self.removed())?;
        let range = byte_range(offset, data.len(), file.live.len()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "sim: write of {} bytes at {offset} is past the end of {:?} ({} bytes)",
                    data.len(),
                    self.name,
                    file.live.len()
                ),
            )
        })?;
        if !data.is_empty() {
            file.live[range].copy_from_slice(data);
            file.pending.push(PendingWrite {
                offset,
                data: data.to_vec(),
            });
        }
        state.write_count += 1;
        Ok(())
    }

    fn sync(&mut self, _offset: u64, _len: u64) -> io::Result<()> {
        let mut state = self.dir.lock();
        state.tick(Operation::Sync)?;
        let file = state
            .files
            .get_mut(&self.id)
            .ok_or_else(|| self.removed())?;
        for write in std::mem::take(&mut file.pending) {
            if let Some(range) = byte_range(write.offset, write.data.len(), file.durable.len()) {
                file.durable[range].copy_from_slice(&write.data);
            }
        }
        state.sync_count += 1;
        Ok(())
    }
}

impl fmt::Debug for SimDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        let mut list = f.debug_map();
        for (name, id) in &state.live_names {
            if let Some(file) = state.files.get(id) {
                let pending = file.pending.len();
                list.entry(
                    name,
                    &format_args!("{} bytes, {pending} writes pending", file.live.len()),
                );
            }
        }
        list.finish()?;
        write!(
            f,
            " ({} directory operations pending)",
            state.pending_dir_ops.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chooser that answers from a script, then 0.
    fn script(answers: &[u64]) -> impl FnMut(u64) -> u64 + '_ {
        let mut next = answers.iter();
        move |n| {
            let answer = next.next().copied().unwrap_or(0);
            assert!(answer < n, "scripted answer {answer} out of 0..{n}");
            answer
        }
    }

    /// A disk with one durable, dir-synced, zero-filled file `name` of `len` bytes.
    fn disk_with(name: &str, len: u64) -> SimDir {
        let dir = SimDir::new();
        dir.create_zeroed(name, len).unwrap();
        dir.sync_dir().unwrap();
        dir
    }

    #[test]
    fn identity() {
        let dir = SimDir::new();
        assert_eq!(dir.write_mode(), WriteMode::Pwrite);
        assert_eq!(dir.path_of("log.1"), PathBuf::from("sim/log.1"));
        assert!(dir.list().unwrap().is_empty());
        assert!(!dir.has_pending());
    }

    #[test]
    fn unsynced_writes_vanish_in_a_clean_crash_and_synced_ones_survive() {
        let dir = disk_with("seg", 1024);
        let mut writer = dir.open_writer("seg").unwrap();
        writer.write_at(0, b"synced").unwrap();
        writer.sync(0, 6).unwrap();
        writer.write_at(100, b"pending").unwrap();

        let mut live = vec![0u8; 1024];
        live[..6].copy_from_slice(b"synced");
        live[100..107].copy_from_slice(b"pending");
        assert_eq!(dir.file_bytes("seg").unwrap(), live);
        assert_eq!(dir.read("seg").unwrap(), live);
        assert_eq!(dir.pending_write_count("seg"), 1);

        let mut durable = vec![0u8; 1024];
        durable[..6].copy_from_slice(b"synced");
        assert_eq!(dir.durable_file_bytes("seg").unwrap(), durable);
        let clean = dir.crash_clean();
        assert_eq!(clean.file_bytes("seg").unwrap(), durable);
        assert!(!clean.has_pending());

        let kept = dir.crash_keep_all();
        assert_eq!(kept.file_bytes("seg").unwrap(), live);
        assert_eq!(kept.durable_file_bytes("seg").unwrap(), live);

        // Whatever the seed, the synced bytes are there and the pending ones are all or nothing
        // per sector (here one sector), possibly zeros.
        for seed in 0..64 {
            let image = dir.crash_with_seed(seed).file_bytes("seg").unwrap();
            assert_eq!(&image[..6], b"synced");
            let tail = &image[100..107];
            assert!(
                tail == b"pending" || tail == [0; 7],
                "seed {seed}: {tail:?}"
            );
        }
    }

    #[test]
    fn write_durable_is_durable() {
        let dir = disk_with("seg", 64);
        let mut writer = dir.open_writer("seg").unwrap();
        writer.write_durable(8, b"abc").unwrap();
        assert_eq!(&dir.crash_clean().file_bytes("seg").unwrap()[8..11], b"abc");
        assert_eq!(dir.sync_count(), 1);
        assert_eq!(dir.write_count(), 1);
    }

    #[test]
    fn a_created_file_has_durable_zeros_but_a_pending_name() {
        let dir = SimDir::new();
        dir.create_zeroed("a", 16).unwrap();
        dir.write_new("b", b"copy").unwrap();
        assert_eq!(dir.list().unwrap().len(), 2);
        assert_eq!(dir.durable_file_bytes("a"), None);
        assert!(dir.crash_clean().list().unwrap().is_empty());

        dir.sync_dir().unwrap();
        assert_eq!(dir.durable_file_bytes("a").unwrap(), vec![0; 16]);
        let image = dir.crash_clean();
        assert_eq!(image.file_bytes("a").unwrap(), vec![0; 16]);
        assert_eq!(image.file_bytes("b").unwrap(), b"copy");
        assert_eq!(dir.dir_sync_count(), 1);

        let err = dir.create_zeroed("a", 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let err = dir.write_new("b", b"again").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let err = dir.create_zeroed("sub/c", 16).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn renames_not_dir_synced_may_be_lost() {
        let dir = disk_with("log.prepared.tmp", 512);
        dir.rename("log.prepared.tmp", "log.1.tmp").unwrap();
        assert_eq!(dir.list().unwrap(), vec!["log.1.tmp".to_owned()]);
        assert_eq!(dir.durable_names(), vec!["log.prepared.tmp".to_owned()]);

        assert_eq!(dir.crash_clean().live_names(), vec!["log.prepared.tmp"]);
        assert_eq!(dir.crash_keep_all().live_names(), vec!["log.1.tmp"]);

        let (mut old, mut new) = (0, 0);
        for seed in 0..64 {
            match dir.crash_with_seed(seed).live_names().as_slice() {
                [name] if name == "log.prepared.tmp" => old += 1,
                [name] if name == "log.1.tmp" => new += 1,
                other => panic!("seed {seed}: {other:?}"),
            }
        }
        assert!(old > 0 && new > 0, "{old} old, {new} new");

        dir.sync_dir().unwrap();
        assert_eq!(dir.crash_clean().live_names(), vec!["log.1.tmp"]);
    }

    #[test]
    fn directory_operations_survive_as_a_prefix() {
        let dir = disk_with("old", 8);
        dir.create_zeroed("x", 8).unwrap();
        dir.rename("x", "y").unwrap();
        dir.remove("old").unwrap();
        assert_eq!(dir.pending_dir_op_count(), 3);

        let image = |kept: u64| dir.crash(&mut script(&[kept])).live_names();
        assert_eq!(image(0), vec!["old"]);
        assert_eq!(image(1), vec!["old", "x"]);
        assert_eq!(image(2), vec!["old", "y"]);
        assert_eq!(image(3), vec!["y"]);
    }

    #[test]
    fn rename_replaces_the_target_and_keeps_writers() {
        let dir = disk_with("a", 32);
        dir.create_zeroed("b", 16).unwrap();
        let mut writer = dir.open_writer("a").unwrap();
        dir.rename("a", "b").unwrap();
        writer.write_at(0, b"moved").unwrap();
        assert_eq!(&dir.file_bytes("b").unwrap()[..5], b"moved");
        assert_eq!(dir.file_bytes("a"), None);
        assert_eq!(dir.list().unwrap(), vec!["b".to_owned()]);

        let err = dir.rename("missing", "c").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        dir.rename("b", "b").unwrap();
        assert_eq!(dir.pending_dir_op_count(), 2);
    }

    #[test]
    fn writes_past_the_end_or_to_removed_files_fail() {
        let dir = disk_with("seg", 100);
        let mut writer = dir.open_writer("seg").unwrap();
        writer.write_at(96, b"1234").unwrap();
        let err = writer.write_at(97, b"1234").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(writer.write_at(u64::MAX, b"1").is_err());

        dir.remove("seg").unwrap();
        let err = writer.write_at(0, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            dir.open_writer("seg").err().unwrap().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            dir.read("seg").err().unwrap().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            dir.remove("seg").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );

        // The removal is not durable yet: a clean crash brings the file back, durable bytes only.
        assert_eq!(dir.crash_clean().file_bytes("seg").unwrap(), vec![0; 100]);
        dir.sync_dir().unwrap();
        assert!(dir.crash_keep_all().list().unwrap().is_empty());
        assert!(writer.sync(0, 0).is_err());
    }

    #[test]
    fn a_torn_write_lands_partially_at_sector_boundaries() {
        let dir = disk_with("seg", 2048);
        let mut writer = dir.open_writer("seg").unwrap();
        let data = vec![0xAB; 1536];
        writer.write_at(256, &data).unwrap();

        // No directory operation is pending (choose(1) = 0), the write is torn (2), then its
        // pieces 256..512, 512..1024, 1024..1536, 1536..1792: landed, lost, zeroed, landed.
        let image = dir.crash(&mut script(&[0, 2, 2, 0, 1, 3]));
        let bytes = image.file_bytes("seg").unwrap();
        let mut expected = vec![0u8; 2048];
        expected[256..512].fill(0xAB);
        expected[1536..1792].fill(0xAB);
        assert_eq!(bytes, expected);

        // With a non-zero background, a zeroed piece is visible as zeros and a lost one as the
        // old bytes.
        let dir = SimDir::new();
        dir.write_new("seg", &[0x11; 1024]).unwrap();
        dir.sync_dir().unwrap();
        let mut writer = dir.open_writer("seg").unwrap();
        writer.write_at(0, &[0x22; 1024]).unwrap();
        let bytes = dir
            .crash(&mut script(&[0, 2, 0, 1]))
            .file_bytes("seg")
            .unwrap();
        assert_eq!(&bytes[..512], &[0x11; 512][..]);
        assert_eq!(&bytes[512..], &[0; 512][..]);
    }

    #[test]
    fn seeded_crashes_tear_only_at_sector_boundaries() {
        let dir = SimDir::new();
        dir.write_new("seg", &[0x11; 4096]).unwrap();
        dir.sync_dir().unwrap();
        let mut writer = dir.open_writer("seg").unwrap();
        writer.write_at(100, &[0x22; 3000]).unwrap();
        writer.write_at(2000, &[0x33; 2000]).unwrap();

        let mut torn_seen = false;
        for seed in 0..256 {
            let image = dir.crash_with_seed(seed).file_bytes("seg").unwrap();
            assert_eq!(image, dir.crash_with_seed(seed).file_bytes("seg").unwrap());
            assert_eq!(&image[..100], &[0x11; 100][..]);
            assert_eq!(&image[4000..], &[0x11; 96][..]);
            // Cut at every sector boundary and every write boundary: each piece is uniform.
            let cuts = [
                100, 512, 1024, 1536, 2000, 2048, 2560, 3072, 3100, 3584, 4000,
            ];
            let mut kinds = std::collections::BTreeSet::new();
            for pair in cuts.windows(2) {
                let piece = &image[pair[0]..pair[1]];
                assert!(
                    piece.iter().all(|&b| b == piece[0]),
                    "seed {seed}: piece {pair:?}"
                );
                kinds.insert(piece[0]);
            }
            torn_seen |= kinds.len() > 2;
        }
        assert!(torn_seen);
    }

    #[test]
    fn fault_countdowns_fire_exactly_once_at_the_nth_call() {
        let dir = disk_with("seg", 64);
        let mut writer = dir.open_writer("seg").unwrap();

        dir.fail_after(Operation::Sync, 3);
        writer.sync(0, 0).unwrap();
        writer.sync(0, 0).unwrap();
        writer.write_at(0, b"kept?").unwrap();
        assert!(writer.sync(0, 5).is_err());
        // The failed sync left the write pending: live, not durable, and a crash may do either.
        assert_eq!(dir.pending_write_count("seg"), 1);
        assert_eq!(&dir.file_bytes("seg").unwrap()[..5], b"kept?");
        assert_eq!(&dir.durable_file_bytes("seg").unwrap()[..5], &[0; 5]);
        assert_eq!(&dir.crash_clean().file_bytes("seg").unwrap()[..5], &[0; 5]);
        assert_eq!(
            &dir.crash_keep_all().file_bytes("seg").unwrap()[..5],
            b"kept?"
        );
        for _ in 0..5 {
            writer.sync(0, 0).unwrap();
        }
        assert_eq!(dir.sync_count(), 7);

        dir.fail_after(Operation::WriteAt, 2);
        writer.write_at(10, b"a").unwrap();
        assert!(writer.write_at(11, b"b").is_err());
        writer.write_at(12, b"c").unwrap();
        assert_eq!(&dir.file_bytes("seg").unwrap()[10..13], b"a\0c");
        assert_eq!(dir.write_count(), 3);

        dir.fail_after(Operation::CreateZeroed, 1);
        assert!(dir.create_zeroed("next", 64).is_err());
        assert!(dir.file_bytes("next").is_none());
        dir.create_zeroed("next", 64).unwrap();

        dir.fail_after(Operation::SyncDir, 1);
        assert!(dir.sync_dir().is_err());
        assert_eq!(dir.pending_dir_op_count(), 1);
        dir.sync_dir().unwrap();
        assert_eq!(dir.pending_dir_op_count(), 0);

        dir.fail_after(Operation::Rename, 2);
        dir.fail_after(Operation::Rename, 0);
        dir.rename("next", "a").unwrap();
        dir.rename("a", "b").unwrap();
    }

    #[test]
    fn a_full_disk_refuses_new_files() {
        let dir = SimDir::new();
        dir.set_disk_full(true);
        let err = dir.create_zeroed("seg", 64).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        let err = dir.write_new("copy", b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        assert!(dir.list().unwrap().is_empty());
        dir.clear_faults();
        dir.create_zeroed("seg", 64).unwrap();
    }

    #[test]
    fn corrupt_and_truncate_change_every_view() {
        let dir = disk_with("seg", 1024);
        let mut writer = dir.open_writer("seg").unwrap();
        writer.write_at(0, &[7; 8]).unwrap();
        dir.corrupt("seg", 3, |b| *b ^= 0xFF).unwrap();
        assert_eq!(dir.file_bytes("seg").unwrap()[3], 7 ^ 0xFF);
        assert_eq!(dir.durable_file_bytes("seg").unwrap()[3], 7 ^ 0xFF);
        assert_eq!(dir.crash_keep_all().file_bytes("seg").unwrap()[3], 7 ^ 0xFF);
        assert!(dir.corrupt("seg", 1024, |b| *b = 1).is_err());
        assert!(dir.corrupt("none", 0, |b| *b = 1).is_err());

        writer.write_at(600, &[9; 8]).unwrap();
        dir.truncate_file("seg", 604).unwrap();
        assert_eq!(dir.file_bytes("seg").unwrap().len(), 604);
        assert_eq!(dir.durable_file_bytes("seg").unwrap().len(), 604);
        assert_eq!(
            &dir.crash_keep_all().file_bytes("seg").unwrap()[600..],
            &[9; 4]
        );
        dir.truncate_file("seg", 2048).unwrap();
        assert_eq!(dir.file_bytes("seg").unwrap()[604..], vec![0; 1444][..]);
        writer.write_at(2040, &[1; 8]).unwrap();
    }

    #[test]
    fn clones_share_one_disk_and_crash_images_are_independent() {
        let dir = disk_with("seg", 16);
        let handle = dir.clone();
        let mut writer = dir.open_writer("seg").unwrap();
        writer.write_at(0, b"x").unwrap();
        assert_eq!(handle.file_bytes("seg").unwrap()[0], b'x');

        let image = handle.crash_keep_all();
        image.open_writer("seg").unwrap().write_at(0, b"y").unwrap();
        assert_eq!(dir.file_bytes("seg").unwrap()[0], b'x');
        assert!(format!("{image:?}").contains("seg"));
    }

    #[test]
    fn rng_is_deterministic_and_bounded() {
        let mut a = SimRng::new(42);
        let mut b = SimRng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert!(a.below(7) < 7);
            b.below(7);
        }
        assert_eq!(a.below(0), 0);
        assert_ne!(SimRng::new(1).next_u64(), SimRng::new(2).next_u64());
    }
}

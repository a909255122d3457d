//! The background thread that prepares the next segment (zero-filled, synced) before the current
//! one fills, so that a roll costs a rename rather than 64 MiB of writes.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::storage::LogDir;

/// Name of the prepared segment.
pub const PREPARED_NAME: &str = "log.prepared.tmp";

/// How long the preparer waits before trying again after a failure (a full disk, say).
const RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    ready: bool,
    wanted: bool,
    last_error: Option<String>,
    shutdown: bool,
}

/// Hands prepared segments to the commit thread.
pub(crate) struct Preparer {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    /// Starts the thread and asks it for a first segment of `segment_size` bytes.
    pub fn start(dir: Arc<dyn LogDir>, segment_size: u64) -> std::io::Result<Preparer> {
        let shared = Arc::new((
            Mutex::new(State {
                wanted: true,
                ..State::default()
            }),
            Condvar::new(),
        ));
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("zk-log-prepare".into())
            .spawn(move || run(&dir, segment_size, &thread_shared))?;
        Ok(Preparer {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits for a prepared segment, renames it to `name`, then asks for the next one. Fails when
    /// preparation failed and no file is ready.
    pub fn take_as(&self, dir: &dyn LogDir, name: &str) -> Result<(), String> {
        let (lock, ready_cv) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.ready {
                // Renamed under the lock: the preparer must not start the next file (which first
                // removes any leftover of that name) before this one has left.
                dir.rename(PREPARED_NAME, name).map_err(|e| {
                    format!(
                        "cannot rename the prepared segment to {}: {e}",
                        dir.path_of(name).display()
                    )
                })?;
                state.ready = false;
                state.wanted = true;
                ready_cv.notify_all();
                return Ok(());
            }
            if let Some(err) = state.last_error.take() {
                state.wanted = true;
                ready_cv.notify_all();
                return Err(err);
            }
            state = ready_cv.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(|e| e.into_inner()).shutdown = true;
        cv.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(dir: &Arc<dyn LogDir>, segment_size: u64, shared: &(Mutex<State>, Condvar)) {
    let (lock, cv) = shared;
    loop {
        {
            let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !state.wanted && !state.shutdown {
                state = cv.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.shutdown {
                return;
            }
            state.wanted = false;
        }
        let outcome = prepare_one(dir.as_ref(), segment_size);
        let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Ok(()) => {
                state.ready = true;
                state.last_error = None;
            }
            Err(err) => {
                let message = format!(
                    "cannot prepare the next log segment {}: {err}",
                    dir.path_of(PREPARED_NAME).display()
                );
                log::error!("{message}; writes will fail when the current segment is full");
                state.last_error = Some(message);
                state.wanted = true;
                cv.notify_all();
                let (next, _) = cv
                    .wait_timeout(state, RETRY_DELAY)
                    .unwrap_or_else(|e| e.into_inner());
                state = next;
            }
        }
        cv.notify_all();
        drop(state);
    }
}

fn prepare_one(dir: &dyn LogDir, segment_size: u64) -> std::io::Result<()> {
    // A leftover from a failed attempt (say, a full disk) is replaced.
    if dir.list()?.iter().any(|n| n == PREPARED_NAME) {
        dir.remove(PREPARED_NAME)?;
    }
    let made = dir.create_zeroed(PREPARED_NAME, segment_size);
    if made.is_err() {
        let _ = dir.remove(PREPARED_NAME);
    }
    made
}

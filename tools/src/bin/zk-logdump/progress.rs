//! A progress line on standard error: drawn only when standard error is a terminal and the work
//! has already taken more than a second, redrawn at most ten times a second with a carriage
//! return, and erased when the work is done, so that it never mixes with the output.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Work shorter than this never shows a progress line.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Minimum time between two redraws.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Progress through `total` bytes of input.
pub struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    /// Bytes of the files already finished.
    finished: u64,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// Progress through `total` bytes; silent unless standard error is a terminal. When the
    /// caller streams its results to standard output and that is the same terminal, the output
    /// itself shows progress and the line stays off (it would tear the output apart).
    pub fn new(total: u64, streams_to_stdout: bool) -> Progress {
        let stdout_is_terminal = std::io::stdout().is_terminal();
        Progress {
            enabled: std::io::stderr().is_terminal() && !(streams_to_stdout && stdout_is_terminal),
            label: String::new(),
            total,
            finished: 0,
            started: Instant::now(),
            last_draw: None,
        }
    }

    /// A progress that never draws.
    #[allow(dead_code)]
    pub fn hidden() -> Progress {
        let mut progress = Progress::new(0, true);
        progress.enabled = false;
        progress
    }

    /// Starts a new phase of `total` bytes, shown as `label` (the timer keeps running: a line
    /// already drawn stays up).
    #[allow(dead_code)]
    pub fn restart(&mut self, total: u64, label: &str) {
        self.total = total;
        self.finished = 0;
        self.label = label.to_owned();
    }

    /// Starts the next file, shown as `label`.
    pub fn start_file(&mut self, label: &str) {
        self.label = label.to_owned();
    }

    /// The current file is done; `len` is its length.
    pub fn finish_file(&mut self, len: u64) {
        self.finished = self.finished.saturating_add(len);
        self.update(0);
    }

    /// `offset` bytes of the current file are done.
    pub fn update(&mut self, offset: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.started) < SHOW_AFTER {
            return;
        }
        if self
            .last_draw
            .is_some_and(|last| now.duration_since(last) < REDRAW_EVERY)
        {
            return;
        }
        self.last_draw = Some(now);
        let done = self.finished.saturating_add(offset).min(self.total);
        let percent = if self.total == 0 {
            100
        } else {
            (u128::from(done) * 100 / u128::from(self.total)) as u64
        };
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r\x1b[K{percent:3}% {:.1}/{:.1} MiB {}",
            mib(done),
            mib(self.total),
            self.label
        );
        let _ = stderr.flush();
    }

    /// Erases the progress line, if one was drawn.
    pub fn clear(&mut self) {
        if self.last_draw.take().is_some() {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[K");
            let _ = stderr.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

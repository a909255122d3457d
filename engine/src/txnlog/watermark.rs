//! The durable watermark waiters block on: the sequence number of the last record made durable,
//! and whether the log has failed or stopped. The commit thread publishes a whole batch with one
//! store and one wake, instead of one channel send and one wake per record.
//!
//! Each record knows, when it is queued, which *take* of the commit thread will carry it (the
//! commit thread takes everything queued at once): take `n + 1` while take `n` is being written.
//! Sleepers wait on one of two futex words by the parity of their take, so that publishing take
//! `n` wakes exactly the waiters of take `n`, and not those already queued for take `n + 1`
//! (who would only wake, see their record is not durable yet, and sleep again). A woken waiter
//! re-reads atomics only; it takes no lock, so waking a whole batch at once does not make its
//! waiters queue on a mutex. Elsewhere than Linux a `Mutex` + `Condvar` stands in.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

/// What a waiter finds when it stops waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The record is durable.
    Durable,
    /// The log is poisoned: the record never will be.
    Poisoned,
    /// The commit thread is gone without resolving the record.
    Closed,
}

const RUNNING: u8 = 0;
const POISONED: u8 = 1;
const CLOSED: u8 = 2;

/// Sleepers of take `n` wait on lane `n % LANES`.
const LANES: usize = 2;

/// One futex word: bumped by every publish that concerns the lane; sleepers wait for it to move.
#[derive(Default)]
struct Lane {
    generation: AtomicU32,
}

pub(crate) struct Watermark {
    /// Sequence number (see `Queue::appended_seq`) of the last durable record. Never decreases,
    /// not even on truncation: a record once acknowledged stays acknowledged.
    durable_seq: AtomicU64,
    /// `RUNNING`, `POISONED` or `CLOSED`; leaves `RUNNING` at most once.
    state: AtomicU8,
    lanes: [Lane; LANES],
    #[cfg(not(target_os = "linux"))]
    fallback: (std::sync::Mutex<()>, std::sync::Condvar),
}

impl Watermark {
    pub fn new() -> Watermark {
        Watermark {
            durable_seq: AtomicU64::new(0),
            state: AtomicU8::new(RUNNING),
            lanes: Default::default(),
            #[cfg(not(target_os = "linux"))]
            fallback: Default::default(),
        }
    }

    fn lane(&self, take: u64) -> &Lane {
        &self.lanes[(take % LANES as u64) as usize]
    }

    /// Marks every record up to sequence number `seq` durable, `take` being the take that carried
    /// them, and wakes their waiters.
    pub fn publish_durable(&self, take: u64, seq: u64) {
        self.durable_seq.fetch_max(seq, Ordering::SeqCst);
        let lane = self.lane(take);
        lane.generation.fetch_add(1, Ordering::SeqCst);
        self.wake_all(lane);
    }

    /// Fails every record not yet durable, now and later, and wakes every sleeper.
    pub fn poison(&self) {
        let _ = self
            .state
            .compare_exchange(RUNNING, POISONED, Ordering::SeqCst, Ordering::SeqCst);
        self.wake_every_lane();
    }

    /// Records not yet durable will never be (the commit thread exited); wakes every sleeper.
    pub fn close(&self) {
        let _ = self
            .state
            .compare_exchange(RUNNING, CLOSED, Ordering::SeqCst, Ordering::SeqCst);
        self.wake_every_lane();
    }

    fn wake_every_lane(&self) {
        for lane in &self.lanes {
            lane.generation.fetch_add(1, Ordering::SeqCst);
            self.wake_all(lane);
        }
    }

    fn check(&self, seq: u64) -> Option<Outcome> {
        // Durability is checked first: a record made durable before a later failure is durable.
        if self.durable_seq.load(Ordering::SeqCst) >= seq {
            return Some(Outcome::Durable);
        }
        match self.state.load(Ordering::SeqCst) {
            RUNNING => None,
            POISONED => Some(Outcome::Poisoned),
            _ => Some(Outcome::Closed),
        }
    }

    /// Blocks until the record with sequence number `seq`, queued for take `take`, is durable or
    /// cannot become so.
    pub fn wait(&self, take: u64, seq: u64) -> Outcome {
        let lane = self.lane(take);
        loop {
            // The generation is read before the check, so a publish after the check changes it
            // and the sleep below returns at once.
            let generation = lane.generation.load(Ordering::SeqCst);
            if let Some(outcome) = self.check(seq) {
                return outcome;
            }
            self.sleep_while(lane, generation);
        }
    }

    #[cfg(target_os = "linux")]
    fn sleep_while(&self, lane: &Lane, generation: u32) {
        futex::wait(&lane.generation, generation);
    }

    #[cfg(target_os = "linux")]
    fn wake_all(&self, lane: &Lane) {
        futex::wake_all(&lane.generation);
    }

    #[cfg(not(target_os = "linux"))]
    fn sleep_while(&self, lane: &Lane, generation: u32) {
        let (lock, condvar) = &self.fallback;
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        while lane.generation.load(Ordering::SeqCst) == generation {
            guard = condvar.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn wake_all(&self, _lane: &Lane) {
        let (lock, condvar) = &self.fallback;
        drop(lock.lock().unwrap_or_else(|e| e.into_inner()));
        condvar.notify_all();
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod futex {
    use std::sync::atomic::AtomicU32;

    /// Sleeps while `word` holds `expected` (returns at once if it does not; may return early).
    pub fn wait(word: &AtomicU32, expected: u32) {
        // SAFETY: FUTEX_WAIT reads the aligned u32 behind a live reference and takes no other
        // pointer (the timeout is null: no time limit). EINTR and EAGAIN are early returns the
        // caller's loop handles.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                expected,
                std::ptr::null::<libc::timespec>(),
            );
        }
    }

    /// Wakes every thread sleeping on `word`.
    pub fn wake_all(word: &AtomicU32) {
        // SAFETY: FUTEX_WAKE only uses the address of `word` as a key; it reads no memory.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                i32::MAX,
            );
        }
    }
}

//! Which zxids a server's log holds, without their contents: the base (the zxid of the state the
//! log starts from: a snapshot, or none) and, per epoch, the contiguous run of counters after it.
//!
//! A zxid names one proposal in the whole ensemble (one leader per epoch hands out counters in
//! order), so knowing *which* zxids two servers hold is enough to tell where their logs part.
//! The leader uses that to choose how to bring a follower in line: a diff, a truncation, or a
//! snapshot.

use zk_engine::Zxid;

/// One epoch's contiguous counters `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    epoch: u32,
    first: u32,
    last: u32,
}

impl Run {
    fn first_zxid(&self) -> Zxid {
        Zxid::new(self.epoch, self.first)
    }

    fn last_zxid(&self) -> Zxid {
        Zxid::new(self.epoch, self.last)
    }
}

/// A zxid that cannot follow the log's last one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("zxid {next} cannot follow {last} in the log (a gap or a step back)")]
pub struct NotContiguous {
    /// The log's last zxid.
    pub last: Zxid,
    /// The zxid that did not fit.
    pub next: Zxid,
}

/// The zxids a log holds: `base`, then runs of consecutive counters, epochs increasing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    base: Zxid,
    runs: Vec<Run>,
}

impl History {
    /// An empty log over the state at `base` (`Zxid::NONE` for the empty tree).
    pub fn new(base: Zxid) -> History {
        History {
            base,
            runs: Vec::new(),
        }
    }

    /// A log over `base` holding `zxids`, in order. Zxids at or below `base` are skipped (a log
    /// may keep records a snapshot already covers).
    pub fn from_zxids(
        base: Zxid,
        zxids: impl IntoIterator<Item = Zxid>,
    ) -> Result<History, NotContiguous> {
        let mut history = History::new(base);
        for zxid in zxids {
            if zxid > base {
                history.append(zxid)?;
            }
        }
        Ok(history)
    }

    /// The zxid of the state the log starts from.
    pub fn base(&self) -> Zxid {
        self.base
    }

    /// The last zxid held (the base when the log is empty).
    pub fn last(&self) -> Zxid {
        self.runs.last().map_or(self.base, Run::last_zxid)
    }

    /// Whether the log is empty above its base.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Whether this history reaches `zxid`: it is the base, or a logged zxid.
    pub fn contains(&self, zxid: Zxid) -> bool {
        if zxid == self.base {
            return true;
        }
        zxid > self.base
            && self.runs.iter().any(|run| {
                run.epoch == zxid.epoch() && (run.first..=run.last).contains(&zxid.counter())
            })
    }

    /// The largest zxid this history reaches that is at most `zxid`; `None` when `zxid` is below
    /// the base (the history cannot say).
    pub fn floor(&self, zxid: Zxid) -> Option<Zxid> {
        if zxid < self.base {
            return None;
        }
        for run in self.runs.iter().rev() {
            if run.last_zxid() <= zxid {
                return Some(run.last_zxid());
            }
            if run.first_zxid() <= zxid {
                return Some(zxid);
            }
        }
        Some(self.base)
    }

    /// The zxid that would come next in `epoch`.
    pub fn next_in(&self, epoch: u32) -> Zxid {
        let last = self.last();
        if last.epoch() == epoch {
            Zxid::new(epoch, last.counter() + 1)
        } else {
            Zxid::new(epoch, 1)
        }
    }

    /// Records `zxid` as logged after the last one.
    pub fn append(&mut self, zxid: Zxid) -> Result<(), NotContiguous> {
        let last = self.last();
        let follows = if last == Zxid::NONE {
            zxid.counter() == 1
        } else {
            last.is_followed_by(zxid)
        };
        if !follows {
            return Err(NotContiguous { last, next: zxid });
        }
        match self.runs.last_mut() {
            Some(run) if run.epoch == zxid.epoch() => run.last = zxid.counter(),
            _ => self.runs.push(Run {
                epoch: zxid.epoch(),
                first: zxid.counter(),
                last: zxid.counter(),
            }),
        }
        Ok(())
    }

    /// Forgets every zxid above `to`. `to` below the base leaves the base only.
    pub fn truncate(&mut self, to: Zxid) {
        self.runs.retain(|run| run.first_zxid() <= to);
        if let Some(run) = self.runs.last_mut() {
            // A kept run starts at or below `to`; if it ends above, `to` is in its epoch.
            if run.last_zxid() > to {
                run.last = to.counter();
            }
        }
    }

    /// Makes `base` the new base: zxids up to it are now in a snapshot, not the log.
    pub fn compact(&mut self, base: Zxid) {
        if base <= self.base {
            return;
        }
        self.runs.retain(|run| run.last_zxid() > base);
        if let Some(run) = self.runs.first_mut() {
            if run.first_zxid() <= base {
                run.first = base.counter() + 1;
            }
        }
        self.base = base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn z(epoch: u32, counter: u32) -> Zxid {
        Zxid::new(epoch, counter)
    }

    fn sample() -> History {
        // Epoch 1: 1..=3, epoch 3: 1..=2.
        History::from_zxids(Zxid::NONE, [z(1, 1), z(1, 2), z(1, 3), z(3, 1), z(3, 2)])
            .expect("contiguous")
    }

    #[test]
    fn contains_and_floor_follow_the_runs() {
        let history = sample();
        assert!(history.contains(Zxid::NONE));
        assert!(history.contains(z(1, 2)));
        assert!(!history.contains(z(1, 4)));
        assert!(!history.contains(z(2, 1)));
        assert!(history.contains(z(3, 2)));
        assert!(!history.contains(z(3, 3)));
        assert_eq!(history.floor(z(1, 7)), Some(z(1, 3)));
        assert_eq!(history.floor(z(2, 5)), Some(z(1, 3)));
        assert_eq!(history.floor(z(3, 1)), Some(z(3, 1)));
        assert_eq!(history.floor(z(9, 9)), Some(z(3, 2)));
        assert_eq!(history.last(), z(3, 2));
    }

    #[test]
    fn gaps_and_steps_back_are_refused() {
        let mut history = sample();
        assert!(history.append(z(3, 4)).is_err());
        assert!(history.append(z(2, 1)).is_err());
        assert!(history.append(z(4, 2)).is_err());
        assert!(history.append(z(4, 1)).is_ok());
        assert!(History::new(Zxid::NONE).append(z(1, 2)).is_err());
    }

    #[test]
    fn truncate_keeps_what_is_at_or_below() {
        let mut history = sample();
        history.truncate(z(2, 9));
        assert_eq!(history.last(), z(1, 3));
        history.truncate(z(1, 1));
        assert_eq!(history.last(), z(1, 1));
        assert!(history.append(z(1, 2)).is_ok());
        history.truncate(Zxid::NONE);
        assert!(history.is_empty());
    }

    #[test]
    fn compact_moves_the_base() {
        let mut history = sample();
        history.compact(z(1, 2));
        assert_eq!(history.base(), z(1, 2));
        assert!(history.contains(z(1, 2)));
        assert!(!history.contains(z(1, 1)));
        assert_eq!(history.floor(z(1, 1)), None);
        assert!(history.contains(z(1, 3)));
        history.compact(z(3, 2));
        assert!(history.is_empty());
        assert_eq!(history.last(), z(3, 2));
        assert!(history.append(z(3, 3)).is_ok());
    }

    #[test]
    fn from_zxids_skips_what_the_base_covers() {
        let history = History::from_zxids(z(1, 2), [z(1, 1), z(1, 2), z(1, 3)]).expect("ok");
        assert_eq!(history.base(), z(1, 2));
        assert_eq!(history.last(), z(1, 3));
    }
}

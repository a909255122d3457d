//! Zxids: 64-bit transaction ids, the epoch in the high 32 bits and the counter in the low 32.

use std::fmt;

/// A ZooKeeper transaction id. `Zxid(0)` means "none".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Zxid(pub u64);

impl Zxid {
    /// No transaction.
    pub const NONE: Zxid = Zxid(0);

    /// Builds a zxid from its epoch and counter.
    pub fn new(epoch: u32, counter: u32) -> Zxid {
        Zxid((u64::from(epoch) << 32) | u64::from(counter))
    }

    /// The leader epoch that issued this zxid.
    pub fn epoch(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The position of this transaction within its epoch.
    pub fn counter(self) -> u32 {
        (self.0 & 0xFFFF_FFFF) as u32
    }

    /// Whether `next` may directly follow `self` in a log (FORMAT.md 4.1): the next counter of the
    /// same epoch, or counter 1 of a higher epoch. Anything following `Zxid::NONE` is accepted.
    pub fn is_followed_by(self, next: Zxid) -> bool {
        if self == Zxid::NONE {
            return next != Zxid::NONE;
        }
        if next.epoch() == self.epoch() {
            self.counter() != u32::MAX && next.counter() == self.counter() + 1
        } else {
            next.epoch() > self.epoch() && next.counter() == 1
        }
    }
}

impl fmt::Debug for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

impl fmt::Display for Zxid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_within_and_across_epochs() {
        assert!(Zxid::NONE.is_followed_by(Zxid::new(1, 1)));
        assert!(Zxid::NONE.is_followed_by(Zxid::new(7, 42)));
        assert!(!Zxid::NONE.is_followed_by(Zxid::NONE));
        assert!(Zxid::new(1, 1).is_followed_by(Zxid::new(1, 2)));
        assert!(!Zxid::new(1, 1).is_followed_by(Zxid::new(1, 3)));
        assert!(!Zxid::new(1, 2).is_followed_by(Zxid::new(1, 2)));
        assert!(!Zxid::new(1, 2).is_followed_by(Zxid::new(1, 1)));
        assert!(Zxid::new(1, 9).is_followed_by(Zxid::new(3, 1)));
        assert!(!Zxid::new(3, 9).is_followed_by(Zxid::new(2, 1)));
        assert!(!Zxid::new(1, 9).is_followed_by(Zxid::new(2, 2)));
        assert!(!Zxid::new(1, u32::MAX).is_followed_by(Zxid(Zxid::new(1, u32::MAX).0 + 1)));
    }

    #[test]
    fn epoch_and_counter_split() {
        let z = Zxid(0x0000_0003_0000_0010);
        assert_eq!(z.epoch(), 3);
        assert_eq!(z.counter(), 16);
        assert_eq!(Zxid::new(3, 16), z);
        assert_eq!(z.to_string(), "0x300000010");
    }
}

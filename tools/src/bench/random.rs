//! A small, fast, seeded pseudo-random generator (xorshift64*), so that runs are repeatable and
//! the client spends a few nanoseconds, not a syscall, per draw. Not for cryptography.

/// xorshift64* state; never zero.
#[derive(Debug, Clone)]
pub(crate) struct Random {
    state: u64,
}

impl Random {
    /// A generator for `seed`; different seeds (including 0) give unrelated sequences.
    pub(crate) fn new(seed: u64) -> Random {
        // One splitmix64 step spreads nearby seeds (session 0, 1, 2 ...) apart.
        let mut mixed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^= mixed >> 31;
        Random {
            state: if mixed == 0 { 1 } else { mixed },
        }
    }

    /// The next 64 pseudo-random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..bound` (`bound` > 0), by multiply-and-shift of the high 32 bits; the bias
    /// is below 2^-32 and does not matter for picking keys.
    pub(crate) fn below(&mut self, bound: u32) -> u32 {
        let high = self.next_u64() >> 32;
        let scaled = (high * u64::from(bound)) >> 32;
        u32::try_from(scaled).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_below_the_bound_and_cover_it() {
        let mut random = Random::new(0);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let draw = random.below(7);
            assert!(draw < 7);
            seen[draw as usize] = true;
        }
        assert!(seen.iter().all(|hit| *hit));
        assert_eq!(random.below(1), 0);
    }

    #[test]
    fn seeds_are_repeatable_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut random = Random::new(5);
                move |_| random.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut random = Random::new(5);
                move |_| random.next_u64()
            })
            .collect();
        let c = Random::new(6).next_u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
    }
}

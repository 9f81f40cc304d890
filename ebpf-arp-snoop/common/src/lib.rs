//! Definitions shared by the snooper's kernel program and its host-side loader.
//!
//! Everything here is `no_std` and free of pointers, so the same bytes mean the
//! same thing on both sides of a BPF map.
#![no_std]

/// Name of the per-CPU counter array in the eBPF object.
pub const COUNTERS_MAP: &str = "COUNTERS";

/// Name of the TC classifier program in the eBPF object.
pub const TC_PROGRAM: &str = "arp_snoop_tc";

/// One slot of the per-CPU counter array. The discriminant is the array index.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every frame the program was called for.
    Seen = 0,
}

impl Counter {
    /// All counters, in index order.
    pub const ALL: [Self; 1] = [Self::Seen];

    /// The number of slots the counter array needs.
    #[expect(clippy::cast_possible_truncation, reason = "a handful of counters always fits in u32")]
    pub const COUNT: u32 = Self::ALL.len() as u32;

    /// The array index of this counter.
    #[must_use]
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// The name used in logs and state.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Seen => "seen",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn counter_indices_are_dense_and_ordered() {
        for (position, counter) in Counter::ALL.iter().enumerate() {
            assert_eq!(usize::try_from(counter.index()).ok(), Some(position));
        }
        assert_eq!(usize::try_from(Counter::COUNT).ok(), Some(Counter::ALL.len()));
    }
}

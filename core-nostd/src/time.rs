//! Timestamps.
//!
//! The core never reads a clock: every time it records (snapshot time, key creation, file mtimes)
//! is handed to it by the caller as a [`Timestamp`], seconds and nanoseconds since the Unix epoch.
//! Formatting for people (time zones, calendars) is the caller's business.

use serde::{Deserialize, Serialize};

/// A point in time: seconds since 1970-01-01T00:00:00Z and nanoseconds within that second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Timestamp {
    /// Seconds since the Unix epoch (negative before 1970).
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self { secs: 0, nanos: 0 };

    /// A timestamp from seconds and nanoseconds (nanoseconds above one second are carried over).
    pub fn new(secs: i64, nanos: u32) -> Self {
        Self { secs: secs.saturating_add(i64::from(nanos / 1_000_000_000)), nanos: nanos % 1_000_000_000 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_nanoseconds() {
        assert_eq!(Timestamp::new(5, 2_500_000_000), Timestamp { secs: 7, nanos: 500_000_000 });
        assert!(Timestamp::new(1, 0) < Timestamp::new(1, 1));
    }
}

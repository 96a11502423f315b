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

/// A duration in seconds, shown to people in its largest whole units ("3 days 4 hours").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub i64);

impl core::fmt::Display for Span {
    /// The largest unit that is not zero, and the next one if it is not zero either.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.0.unsigned_abs();
        let parts = [
            (s / 31_536_000, "year"),
            (s % 31_536_000 / 86_400, "day"),
            (s % 86_400 / 3600, "hour"),
            (s % 3600 / 60, "minute"),
            (s % 60, "second"),
        ];
        let Some(first) = parts.iter().position(|(n, _)| *n > 0) else { return f.write_str("0 seconds") };
        for (i, (n, name)) in parts.iter().enumerate().skip(first).take(2) {
            if *n == 0 {
                break;
            }
            let sep = if i == first { "" } else { " " };
            write!(f, "{sep}{n} {name}{}", if *n == 1 { "" } else { "s" })?;
        }
        Ok(())
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (proleptic Gregorian; the
/// well-known era algorithm, exact for every `i64` day within ±10^15 years).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_for_people() {
        assert_eq!(alloc::format!("{}", Span(0)), "0 seconds");
        assert_eq!(alloc::format!("{}", Span(61)), "1 minute 1 second");
        assert_eq!(alloc::format!("{}", Span(3 * 86_400 + 4 * 3600 + 5)), "3 days 4 hours");
        assert_eq!(alloc::format!("{}", Span(2 * 365 * 86_400 + 3600)), "2 years");
    }

    #[test]
    fn carries_nanoseconds() {
        assert_eq!(Timestamp::new(5, 2_500_000_000), Timestamp { secs: 7, nanos: 500_000_000 });
        assert!(Timestamp::new(1, 0) < Timestamp::new(1, 1));
    }
}

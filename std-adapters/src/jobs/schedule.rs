//! Schedules: when a job runs by itself.
//!
//! A schedule is written as one of
//!
//! | schedule | runs |
//! |---|---|
//! | `hourly` or `hourly at :MM` | every hour, at minute MM (default 00) |
//! | `daily at HH:MM` (or `daily`, at 00:00) | every day |
//! | `weekly on DAY at HH:MM` (`DAY`: `mon` ... `sun`) | every week |
//! | `monthly on N at HH:MM` (`N`: 1 to 28, or `last`; or `monthly`, on the 1st at 00:00) | every month |
//! | `cron M H DOM MON DOW` | a five-field cron expression (`*/15 * * * *`, `0 3 * * 1-5`) |
//!
//! Times are the machine's local time (daylight-saving changes are handled as cron does:
//! a skipped time runs at the next valid time, a repeated one runs once). The friendly forms are
//! cron expressions underneath, evaluated by the `croner` crate.

use std::str::FromStr;

use croner::Cron;
use jiff::tz::TimeZone;

use crate::error::{Error, ErrorKind};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    pattern: String,
}

fn bad(text: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("{text:?} is not a schedule: {why}")).with_hint(
        "write hourly, hourly at :30, daily at 02:30, weekly on sun at 03:00, monthly on 1 at 04:00, or cron followed \
         by five cron fields",
    )
}

/// `HH:MM` as (hour, minute).
fn clock(text: &str, t: &str) -> Result<(u32, u32), Error> {
    let (h, m) = t.split_once(':').ok_or_else(|| bad(text, "the time must be HH:MM"))?;
    let h: u32 = h.parse().ok().filter(|h| *h < 24).ok_or_else(|| bad(text, "the hour must be 0 to 23"))?;
    let m: u32 = m.parse().ok().filter(|m| *m < 60).ok_or_else(|| bad(text, "the minute must be 0 to 59"))?;
    Ok((h, m))
}

impl Schedule {
    /// Parses a schedule (see the [module docs](self)).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let pattern = match words.as_slice() {
            ["hourly"] => "0 * * * *".to_string(),
            ["hourly", "at", m] => {
                let m = m.strip_prefix(':').unwrap_or(m);
                let m: u32 =
                    m.parse().ok().filter(|m| *m < 60).ok_or_else(|| bad(text, "the minute must be :00 to :59"))?;
                format!("{m} * * * *")
            }
            ["daily"] => "0 0 * * *".to_string(),
            ["daily", "at", t] => {
                let (h, m) = clock(text, t)?;
                format!("{m} {h} * * *")
            }
            ["weekly", "on", day, "at", t] => {
                const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
                let d = day.to_ascii_lowercase();
                let n = DAYS
                    .iter()
                    .position(|x| d.starts_with(x))
                    .ok_or_else(|| bad(text, "the day must be mon, tue, wed, thu, fri, sat or sun"))?;
                let (h, m) = clock(text, t)?;
                format!("{m} {h} * * {n}")
            }
            ["monthly"] => "0 0 1 * *".to_string(),
            ["monthly", "on", day, "at", t] => {
                let day = match *day {
                    "last" => "L".to_string(),
                    n => n
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=28).contains(n))
                        .ok_or_else(|| {
                            bad(text, "the day must be 1 to 28 (every month has it), or last (the month's last day)")
                        })?
                        .to_string(),
                };
                let (h, m) = clock(text, t)?;
                format!("{m} {h} {day} * *")
            }
            ["cron", fields @ ..] => {
                if fields.len() != 5 {
                    return Err(bad(text, "a cron expression has five fields: minute hour day month weekday"));
                }
                fields.join(" ")
            }
            _ => return Err(bad(text, "unknown form")),
        };
        let cron = Cron::from_str(&pattern).map_err(|e| bad(text, &e.to_string()))?;
        let schedule = Self { cron, pattern };
        // One that never comes (the 31st of February) is refused now, not found out at its time:
        // every date a cron expression names comes within eight years (a 29th of February).
        const JAN_1_2024: i64 = 1_704_067_200;
        if schedule.next_after_in(JAN_1_2024, &TimeZone::UTC).is_err() {
            return Err(bad(text, "it never fires (no month has that day, or that day is never that weekday)"));
        }
        Ok(schedule)
    }

    /// The cron expression underneath.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The first time strictly after `now` (Unix seconds) that the schedule fires, in the
    /// machine's time zone.
    pub fn next_after(&self, now: i64) -> Result<i64, Error> {
        self.next_after_in(now, &TimeZone::system())
    }

    /// The schedule's interval after `t`: the time between the two slots that follow it.
    pub fn interval_after(&self, t: i64) -> Result<i64, Error> {
        let first = self.next_after(t)?;
        Ok(self.next_after(first)? - first)
    }

    /// As [`Schedule::next_after`], in time zone `tz`.
    pub fn next_after_in(&self, now: i64, tz: &TimeZone) -> Result<i64, Error> {
        let t = jiff::Timestamp::from_second(now)
            .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("time out of range: {e}")))?;
        let next = self.cron.find_next_occurrence(&t.to_zoned(tz.clone()), false).map_err(|_| {
            Error::new(ErrorKind::InvalidInput, format!("the schedule {} never fires again", self.pattern))
        })?;
        Ok(next.timestamp().as_second())
    }
}

/// 06:00 on the day after `now`, in the machine's time zone (the end of "pause until
/// tomorrow").
pub fn tomorrow_morning(now: i64) -> Result<i64, Error> {
    let bad = |e: jiff::Error| Error::new(ErrorKind::InvalidInput, format!("time out of range: {e}"));
    let zoned = jiff::Timestamp::from_second(now).map_err(bad)?.to_zoned(TimeZone::system());
    let morning =
        zoned.date().tomorrow().map_err(bad)?.at(6, 0, 0, 0).to_zoned(zoned.time_zone().clone()).map_err(bad)?;
    Ok(morning.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let utc = TimeZone::UTC;
        // 2026-11-22 10:17:00 UTC, a Sunday.
        let now = 1_795_342_620;
        let next = |s: &str| Schedule::parse(s).unwrap().next_after_in(now, &utc).unwrap();
        assert_eq!(next("hourly"), now - 17 * 60 + 3600);
        assert_eq!(next("hourly at :30"), now + 13 * 60);
        assert_eq!(next("daily at 02:30"), now - (10 * 3600 + 17 * 60) + 86_400 + 2 * 3600 + 30 * 60);
        assert_eq!(next("weekly on mon at 00:00"), now - (10 * 3600 + 17 * 60) + 86_400);
        assert_eq!(next("cron */15 * * * *"), now + 13 * 60);
        assert_eq!(Schedule::parse("daily at 2:05").unwrap().pattern(), "5 2 * * *");
        // Monthly: on a day every month has, or on the last.
        assert_eq!(next("monthly"), 1_796_083_200, "2026-12-01 00:00");
        assert_eq!(next("monthly on 22 at 11:00"), now + 43 * 60, "today, later");
        assert_eq!(next("monthly on last at 23:00"), 1_796_079_600, "2026-11-30 23:00");
        // Feb 29 comes in leap years; the 30th of February never.
        assert!(Schedule::parse("cron 0 0 29 2 *").is_ok());
        for bad in [
            "daily at 25:00",
            "weekly on moon at 01:00",
            "cron * * *",
            "cron 61 * * * *",
            "often",
            "",
            "cron 0 0 31 2 *",
            "cron 0 0 30 2 *",
            "monthly on 31 at 01:00",
            "monthly on 0 at 01:00",
            "monthly on first at 01:00",
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.to_string().contains("is not a schedule"), "{bad}: {e}");
        }
    }
}

//! Retention: which snapshots a [`KeepPolicy`] keeps.
//!
//! Terms:
//! - **group**: snapshots of the same host and the same set of backed-up paths. Every rule
//!   applies within each group on its own, so one machine's snapshots never push out another's.
//! - **bucket**: a calendar hour, day, ISO week, month or year, in the snapshot's local time
//!   (the caller passes each snapshot's UTC offset; the core has no time zone database). A
//!   `--keep-daily 7` rule keeps the newest snapshot of each of the 7 newest days that have one.
//! - **within**: keeps every snapshot no older than the duration before the group's newest
//!   snapshot (not before "now": a machine that stopped backing up keeps its history).
//! - **in the future**: a snapshot dated more than [`FUTURE_TOLERANCE_SECS`] after
//!   [`KeepPolicy::now`] (written by a machine whose clock was wrong). It is kept, counts for
//!   no rule, and is never the newest that `within` measures from: one snapshot dated years ahead
//!   would otherwise make `within` keep it alone.
//!
//! A snapshot is kept if any rule keeps it, and the plan says which rules did. A policy with no
//! rule at all is refused ([`KeepPolicy::is_empty`]): it would remove everything.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::id::SnapshotId;
use crate::snapshot::FUTURE_TOLERANCE_SECS;
use crate::time::{Timestamp, civil_from_days};

/// How many snapshots to keep, per group. Zero (the default) disables a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepPolicy {
    /// The newest N snapshots.
    pub last: u32,
    /// The newest snapshot of each of the newest N hours.
    pub hourly: u32,
    /// ... days.
    pub daily: u32,
    /// ... ISO weeks (Monday to Sunday).
    pub weekly: u32,
    /// ... months.
    pub monthly: u32,
    /// ... years.
    pub yearly: u32,
    /// Every snapshot at most this many seconds older than the group's newest.
    pub within_secs: Option<u64>,
    /// Every snapshot carrying any of these tags.
    pub tags: Vec<String>,
    /// The caller's time, to recognise snapshots dated in the future (see the
    /// [module docs](self)). `None` takes every date as it is.
    pub now: Option<Timestamp>,
}

impl KeepPolicy {
    /// True if no rule is set: such a policy would keep nothing.
    pub fn is_empty(&self) -> bool {
        self.last == 0
            && self.hourly == 0
            && self.daily == 0
            && self.weekly == 0
            && self.monthly == 0
            && self.yearly == 0
            && self.within_secs.is_none()
            && self.tags.is_empty()
    }
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// One of the newest `--keep-last`.
    Last,
    /// The newest of its hour.
    Hourly,
    /// The newest of its day.
    Daily,
    /// The newest of its ISO week.
    Weekly,
    /// The newest of its month.
    Monthly,
    /// The newest of its year.
    Yearly,
    /// Within the `--keep-within` duration of the newest.
    Within,
    /// Dated in the future: kept until a person looks at it (see the [module docs](self)).
    InFuture,
    /// It carries this kept tag.
    Tag(String),
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Last => f.write_str("last"),
            Self::Hourly => f.write_str("hourly"),
            Self::Daily => f.write_str("daily"),
            Self::Weekly => f.write_str("weekly"),
            Self::Monthly => f.write_str("monthly"),
            Self::Yearly => f.write_str("yearly"),
            Self::Within => f.write_str("within"),
            Self::InFuture => f.write_str("dated in the future"),
            Self::Tag(t) => write!(f, "tag {t}"),
        }
    }
}

/// One snapshot as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionInput {
    /// Its id.
    pub id: SnapshotId,
    /// When it was taken.
    pub time: Timestamp,
    /// The UTC offset of the local time zone at `time`, in seconds (east positive).
    pub utc_offset_secs: i32,
    /// Its host.
    pub hostname: String,
    /// Its backed-up paths (the group key sorts them).
    pub paths: Vec<Vec<u8>>,
    /// Its tags.
    pub tags: Vec<String>,
}

impl RetentionInput {
    /// Snapshot `id` as retention sees it, taken where the UTC offset at its time was
    /// `utc_offset_secs` (the caller knows the time zone; the core does not).
    pub fn of(id: SnapshotId, snapshot: &crate::Snapshot, utc_offset_secs: i32) -> Self {
        Self {
            id,
            time: snapshot.time,
            utc_offset_secs,
            hostname: snapshot.hostname.clone(),
            paths: snapshot.paths.clone(),
            tags: snapshot.tags.clone(),
        }
    }
}

/// A snapshot the plan keeps, with every rule that keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The snapshot.
    pub id: SnapshotId,
    /// When it was taken.
    pub time: Timestamp,
    /// The rules that keep it (at least one).
    pub reasons: Vec<KeepReason>,
}

/// The plan for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPlan {
    /// The group's host.
    pub hostname: String,
    /// The group's paths, sorted.
    pub paths: Vec<Vec<u8>>,
    /// Kept snapshots, newest first.
    pub keep: Vec<Kept>,
    /// Snapshots to remove, newest first, with their times.
    pub remove: Vec<(SnapshotId, Timestamp)>,
}

/// What a [`KeepPolicy`] does to a set of snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// One plan per group, ordered by host and paths.
    pub groups: Vec<GroupPlan>,
}

impl RetentionPlan {
    /// Every snapshot to remove.
    pub fn removed(&self) -> impl Iterator<Item = SnapshotId> + '_ {
        self.groups.iter().flat_map(|g| g.remove.iter().map(|(id, _)| *id))
    }
}

/// Applies `policy` to `snapshots`, group by group.
pub fn plan_retention(snapshots: &[RetentionInput], policy: &KeepPolicy) -> RetentionPlan {
    let mut groups: BTreeMap<(String, Vec<Vec<u8>>), Vec<&RetentionInput>> = BTreeMap::new();
    for s in snapshots {
        let mut paths = s.paths.clone();
        paths.sort();
        paths.dedup();
        groups.entry((s.hostname.clone(), paths)).or_default().push(s);
    }
    let groups = groups
        .into_iter()
        .map(|((hostname, paths), mut members)| {
            // Newest first; ties broken by id so that the plan is deterministic.
            members.sort_by(|a, b| b.time.cmp(&a.time).then(a.id.cmp(&b.id)));
            let (keep, remove) = plan_group(&members, policy);
            GroupPlan { hostname, paths, keep, remove }
        })
        .collect();
    RetentionPlan { groups }
}

/// The bucket a local time falls in, for one calendar rule.
type BucketKey = fn(&Civil) -> i64;

fn plan_group(members: &[&RetentionInput], policy: &KeepPolicy) -> (Vec<Kept>, Vec<(SnapshotId, Timestamp)>) {
    let mut reasons: Vec<Vec<KeepReason>> = alloc::vec![Vec::new(); members.len()];
    let buckets: [(u32, KeepReason, BucketKey); 6] = [
        (policy.last, KeepReason::Last, |_| 0),
        (policy.hourly, KeepReason::Hourly, Civil::hour_key),
        (policy.daily, KeepReason::Daily, Civil::day_key),
        (policy.weekly, KeepReason::Weekly, Civil::week_key),
        (policy.monthly, KeepReason::Monthly, Civil::month_key),
        (policy.yearly, KeepReason::Yearly, Civil::year_key),
    ];
    let civil: Vec<Civil> = members.iter().map(|s| Civil::of(s.time, s.utc_offset_secs)).collect();
    let future =
        |s: &RetentionInput| policy.now.is_some_and(|now| s.time.secs > now.secs.saturating_add(FUTURE_TOLERANCE_SECS));
    for (i, s) in members.iter().enumerate() {
        if future(s)
            && let Some(r) = reasons.get_mut(i)
        {
            r.push(KeepReason::InFuture);
        }
    }
    for (count, reason, key) in buckets {
        let mut left = count;
        let mut last_key = None;
        for (i, c) in civil.iter().enumerate() {
            if left == 0 {
                break;
            }
            if members.get(i).is_some_and(|s| future(s)) {
                continue;
            }
            // `last` has no buckets: every snapshot is a bucket of its own.
            let k = if reason == KeepReason::Last { None } else { Some(key(c)) };
            if k.is_some() && k == last_key {
                continue;
            }
            last_key = k;
            left -= 1;
            if let Some(r) = reasons.get_mut(i) {
                r.push(reason.clone());
            }
        }
    }
    if let (Some(within), Some(newest)) = (policy.within_secs, members.iter().find(|s| !future(s))) {
        let limit = newest.time.secs.saturating_sub(i64::try_from(within).unwrap_or(i64::MAX));
        for (i, s) in members.iter().enumerate() {
            if s.time.secs >= limit
                && !future(s)
                && let Some(r) = reasons.get_mut(i)
            {
                r.push(KeepReason::Within);
            }
        }
    }
    for (i, s) in members.iter().enumerate() {
        for t in policy.tags.iter().filter(|t| s.tags.contains(t)) {
            if let Some(r) = reasons.get_mut(i) {
                r.push(KeepReason::Tag(t.clone()));
            }
        }
    }
    let mut keep = Vec::new();
    let mut remove = Vec::new();
    for (s, r) in members.iter().zip(reasons) {
        if r.is_empty() {
            remove.push((s.id, s.time));
        } else {
            keep.push(Kept { id: s.id, time: s.time, reasons: r });
        }
    }
    (keep, remove)
}

/// A local calendar time, as bucket keys.
#[derive(Debug, Clone, Copy)]
struct Civil {
    /// Days since 1970-01-01, local.
    days: i64,
    hour: i64,
    year: i64,
    month: i64,
}

impl Civil {
    fn of(t: Timestamp, utc_offset_secs: i32) -> Self {
        let local = t.secs.saturating_add(i64::from(utc_offset_secs));
        let days = local.div_euclid(86_400);
        let hour = local.rem_euclid(86_400) / 3600;
        let (year, month, _) = civil_from_days(days);
        Self { days, hour, year, month }
    }
    fn hour_key(&self) -> i64 {
        self.days * 24 + self.hour
    }
    fn day_key(&self) -> i64 {
        self.days
    }
    /// The days number of the Monday starting the ISO week: a week that straddles a new year is
    /// one bucket.
    fn week_key(&self) -> i64 {
        // 1970-01-01 was a Thursday: Monday-based weekday is (days + 3) mod 7.
        self.days - (self.days + 3).rem_euclid(7)
    }
    fn month_key(&self) -> i64 {
        self.year * 12 + self.month
    }
    fn year_key(&self) -> i64 {
        self.year
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        // 2025-12-29 (Monday) and 2026-01-04 (Sunday) share ISO week 2026-W01.
        let mon = Civil::of(Timestamp::new(20_451 * 86_400, 0), 0);
        let sun = Civil::of(Timestamp::new(20_457 * 86_400 + 86_399, 0), 0);
        let next_mon = Civil::of(Timestamp::new(20_458 * 86_400, 0), 0);
        assert_eq!(mon.week_key(), sun.week_key());
        assert_ne!(sun.week_key(), next_mon.week_key());
        // An offset moves a snapshot into the next local day.
        let late = Timestamp::new(20_454 * 86_400 - 1800, 0); // 2025-12-31 23:30 UTC
        assert_eq!(Civil::of(late, 0).year, 2025);
        assert_eq!(Civil::of(late, 3600).year, 2026);
    }

    #[test]
    fn reasons_display() {
        assert_eq!(KeepReason::Tag("x".to_string()).to_string(), "tag x");
        assert_eq!(vec![KeepReason::Daily.to_string()], vec!["daily"]);
    }
}

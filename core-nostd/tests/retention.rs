//! Retention plans against a table of snapshot times with the expected kept sets.

use cairn_core::{Id, KeepPolicy, KeepReason, RetentionInput, SnapshotId, Timestamp, plan_retention};

/// Seconds of a UTC date and time.
fn at(y: i64, m: i64, d: i64, h: i64, min: i64) -> i64 {
    // Days from civil (the inverse of the core's calendar), for the test table only.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + min * 60
}

fn snap(n: u8, secs: i64, host: &str, tags: &[&str]) -> RetentionInput {
    RetentionInput {
        id: SnapshotId(Id([n; 32])),
        time: Timestamp::new(secs, 0),
        utc_offset_secs: 0,
        hostname: host.into(),
        paths: vec![b"/home".to_vec()],
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

/// The table: a year and a half of irregular backups of one host.
fn table() -> Vec<RetentionInput> {
    vec![
        snap(1, at(2025, 1, 10, 9, 0), "a", &[]),
        snap(2, at(2025, 3, 2, 9, 0), "a", &["keep"]),
        snap(3, at(2025, 12, 28, 9, 0), "a", &[]), // Sunday, ISO week 2025-W52
        snap(4, at(2025, 12, 29, 9, 0), "a", &[]), // Monday, ISO week 2026-W01
        snap(5, at(2026, 1, 2, 9, 0), "a", &[]),   // Friday, 2026-W01
        snap(6, at(2026, 2, 14, 8, 0), "a", &[]),
        snap(7, at(2026, 2, 14, 8, 30), "a", &[]),
        snap(8, at(2026, 2, 14, 9, 15), "a", &[]),
        snap(9, at(2026, 2, 15, 23, 59), "a", &[]),
        snap(10, at(2026, 2, 16, 0, 1), "a", &[]),
    ]
}

fn kept(policy: &KeepPolicy, input: &[RetentionInput]) -> Vec<u8> {
    let plan = plan_retention(input, policy);
    let mut ids: Vec<u8> = plan.groups.iter().flat_map(|g| g.keep.iter().map(|k| k.id.0.0[0])).collect();
    ids.sort();
    // Every snapshot is either kept or removed, exactly once.
    let removed: Vec<u8> = plan.removed().map(|id| id.0.0[0]).collect();
    assert_eq!(ids.len() + removed.len(), input.len());
    assert!(removed.iter().all(|r| !ids.contains(r)));
    ids
}

#[test]
fn rules_against_the_table() {
    let t = table();
    let cases: Vec<(KeepPolicy, Vec<u8>)> = vec![
        (policy(|p| p.last = 3), vec![8, 9, 10]),
        (policy(|p| p.last = 100), (1..=10).collect()),
        // Hours: 02-16 00h, 02-15 23h, 02-14 09h, 02-14 08h (newest of the hour is 7).
        (policy(|p| p.hourly = 4), vec![7, 8, 9, 10]),
        // Days: 02-16, 02-15, 02-14 (newest: 8), 01-02, 12-29.
        (policy(|p| p.daily = 5), vec![4, 5, 8, 9, 10]),
        // ISO weeks: 2026-W08 (10, Monday 02-16), W07 (9), W01 (5, not 4), 2025-W52 (3).
        (policy(|p| p.weekly = 4), vec![3, 5, 9, 10]),
        // Months: 2026-02, 2026-01, 2025-12 (newest: 4), 2025-03.
        (policy(|p| p.monthly = 4), vec![2, 4, 5, 10]),
        (policy(|p| p.yearly = 5), vec![4, 10]),
        (policy(|p| p.within_secs = Some(2 * 86_400)), vec![6, 7, 8, 9, 10]),
        (policy(|p| p.tags = vec!["keep".into()]), vec![2]),
        (
            policy(|p| {
                p.last = 1;
                p.monthly = 2;
                p.yearly = 3;
            }),
            vec![4, 5, 10],
        ),
    ];
    for (p, expected) in cases {
        assert_eq!(kept(&p, &t), expected, "{p:?}");
    }
}

#[test]
fn reasons_are_all_listed_and_groups_are_separate() {
    let mut t = table();
    t.push(snap(20, at(2024, 5, 1, 0, 0), "b", &[]));
    t.push(snap(21, at(2024, 5, 2, 0, 0), "b", &["keep"]));
    let mut other_paths = snap(22, at(2026, 2, 16, 0, 5), "a", &[]);
    other_paths.paths = vec![b"/etc".to_vec(), b"/home".to_vec()];
    t.push(other_paths);
    let plan = plan_retention(
        &t,
        &policy(|p| {
            p.last = 1;
            p.daily = 1;
            p.tags = vec!["keep".into()];
        }),
    );
    assert_eq!(plan.groups.len(), 3, "host a /home, host a /etc+/home, host b");
    let a = &plan.groups[0];
    assert_eq!((a.hostname.as_str(), a.paths.len()), ("a", 2));
    let a_home = &plan.groups[1];
    assert_eq!(a_home.keep[0].id.0.0[0], 10);
    assert_eq!(a_home.keep[0].reasons, vec![KeepReason::Last, KeepReason::Daily]);
    assert_eq!(a_home.keep[1].reasons, vec![KeepReason::Tag("keep".into())]);
    assert_eq!(a_home.remove.len(), 8);
    // Host b keeps its newest even though host a has newer snapshots.
    let b = &plan.groups[2];
    let b_kept: Vec<u8> = b.keep.iter().map(|k| k.id.0.0[0]).collect();
    assert_eq!(b_kept, vec![21]);
}

#[test]
fn local_time_decides_the_bucket() {
    // 23:30 and 00:10 UTC fall on two UTC days but on one local day at UTC+1.
    let mut t = vec![snap(1, at(2026, 3, 1, 23, 30), "a", &[]), snap(2, at(2026, 3, 2, 0, 10), "a", &[])];
    assert_eq!(kept(&policy(|p| p.daily = 1), &t), vec![2]);
    let utc = plan_retention(&t, &policy(|p| p.daily = 2));
    assert_eq!(utc.groups[0].keep.len(), 2, "different UTC days");
    for s in &mut t {
        s.utc_offset_secs = 3600;
    }
    let local = plan_retention(&t, &policy(|p| p.daily = 2));
    assert_eq!(local.groups[0].keep.len(), 1, "the same local day at UTC+1");
}

#[test]
fn empty_policy_is_detectable() {
    assert!(KeepPolicy::default().is_empty());
    assert!(!policy(|p| p.within_secs = Some(0)).is_empty());
}

fn policy(f: impl FnOnce(&mut KeepPolicy)) -> KeepPolicy {
    let mut p = KeepPolicy::default();
    f(&mut p);
    p
}

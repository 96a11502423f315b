//! Overdue jobs: enabled, scheduled, and without a success within twice their interval (the
//! rule Backrest 1.14 flags by).

use crate::catalog::{Catalog, JobRecord};
use crate::error::Error;
use crate::jobs::schedule::Schedule;

/// Since when `job` is without success, if that makes it overdue at `now`: its last success, or
/// its creation if it never succeeded. A job without a schedule, or disabled, is never overdue.
pub fn overdue_since(catalog: &Catalog, job: &JobRecord, now: i64) -> Result<Option<i64>, Error> {
    let Some(pattern) = job.spec.schedule.as_deref().filter(|_| job.enabled) else { return Ok(None) };
    let Ok(schedule) = Schedule::parse(pattern) else { return Ok(None) };
    let since = catalog.last_success(&job.name)?.unwrap_or(job.created);
    let Ok(interval) = schedule.interval_after(since) else { return Ok(None) };
    Ok((now - since > 2 * interval).then_some(since))
}

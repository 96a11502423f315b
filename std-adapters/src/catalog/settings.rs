//! The daemon's settings and memory in the catalog's `meta` table: which events reach the
//! desktop, a pause of every scheduled job, which overdue jobs the user was told about, and
//! whether the user allowed backups in the background.

use super::Catalog;
use crate::desktop::DesktopNotifications;
use crate::error::{Error, ErrorKind};

const DESKTOP_NOTIFICATIONS: &str = "desktop_notifications";
const PAUSED_UNTIL: &str = "paused_until";
const OVERDUE_TOLD: &str = "overdue_told:";
const BACKGROUND: &str = "background_backups";

impl Catalog {
    /// Which events reach the desktop (`failures` unless set).
    pub fn desktop_notifications(&self) -> Result<DesktopNotifications, Error> {
        Ok(self.meta(DESKTOP_NOTIFICATIONS)?.and_then(|s| DesktopNotifications::parse(&s)).unwrap_or_default())
    }

    /// Sets which events reach the desktop.
    pub fn set_desktop_notifications(&self, which: DesktopNotifications) -> Result<(), Error> {
        self.set_meta(DESKTOP_NOTIFICATIONS, which.name())
    }

    /// Until when (Unix seconds) the daemon starts no scheduled job, if it is paused.
    pub fn paused_until(&self) -> Result<Option<i64>, Error> {
        Ok(self.meta(PAUSED_UNTIL)?.and_then(|s| s.parse().ok()))
    }

    /// Pauses scheduled jobs until `until` (a run that falls due meanwhile runs once at its
    /// end), or resumes them (`None`).
    pub fn set_paused_until(&self, until: Option<i64>) -> Result<(), Error> {
        match until {
            Some(t) if t <= 0 => Err(Error::new(ErrorKind::InvalidInput, "pause: the end of the pause is not a time")),
            Some(t) => self.set_meta(PAUSED_UNTIL, &t.to_string()),
            None => self.set_meta(PAUSED_UNTIL, ""),
        }
    }

    /// The last success of `job` at the time the user was told it is overdue, if told.
    pub(crate) fn overdue_told(&self, job: &str) -> Result<Option<i64>, Error> {
        Ok(self.meta(&format!("{OVERDUE_TOLD}{job}"))?.and_then(|s| s.parse().ok()))
    }

    /// Notes that the user was told `job` is overdue since its success at `since` (0: never).
    pub(crate) fn set_overdue_told(&self, job: &str, since: i64) -> Result<(), Error> {
        self.set_meta(&format!("{OVERDUE_TOLD}{job}"), &since.to_string())
    }

    /// Whether the user allowed backups in the background (the desktop app asks once): `None`
    /// until answered.
    pub fn background_backups(&self) -> Result<Option<bool>, Error> {
        Ok(self.meta(BACKGROUND)?.and_then(|s| match s.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        }))
    }

    /// Notes the user's answer.
    pub fn set_background_backups(&self, allowed: bool) -> Result<(), Error> {
        self.set_meta(BACKGROUND, if allowed { "yes" } else { "no" })
    }
}

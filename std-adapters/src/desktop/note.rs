//! What a desktop notification says, made from a daemon event, and which events get one.

use crate::jobs::daemon::Event;

/// How pressing a notification is: the desktop shows critical ones until dismissed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Routine (a successful backup, when asked for).
    Low,
    /// Worth a look (a partially complete backup).
    Normal,
    /// Needs the user (a failed backup, an overdue job, a failing destination).
    Critical,
}

/// One desktop notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Note {
    /// The headline.
    pub summary: String,
    /// The detail.
    pub body: String,
    /// How pressing it is.
    pub urgency: Urgency,
    /// The window's screen that clicking it opens: `overview`, `job:NAME` or `destination:NAME`.
    pub screen: String,
}

/// Which events reach the desktop (the catalog's setting; `failures` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DesktopNotifications {
    /// None.
    Off,
    /// Failed and partial runs, overdue jobs, failing destinations.
    #[default]
    Failures,
    /// Those and every successful run.
    All,
}

impl DesktopNotifications {
    /// Parses `off`, `failures` or `all`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "failures" => Some(Self::Failures),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Failures => "failures",
            Self::All => "all",
        }
    }

    /// The notification for `event` under this setting, if it gets one.
    pub fn note_for(self, event: &Event) -> Option<Note> {
        if self == Self::Off {
            return None;
        }
        let job = event.job.as_deref().unwrap_or("");
        let destination = event.destination.as_deref().unwrap_or("");
        let (summary, urgency, screen) = match (event.event, event.status.as_str()) {
            ("backup_succeeded", _) if self == Self::All => {
                (format!("Backup of {job} finished"), Urgency::Low, format!("job:{job}"))
            }
            ("backup_succeeded", _) => return None,
            ("backup_failed", "partial") => {
                (format!("Backup of {job} is incomplete"), Urgency::Normal, format!("job:{job}"))
            }
            ("backup_failed", _) => (format!("Backup of {job} failed"), Urgency::Critical, format!("job:{job}")),
            ("job_overdue", _) => (format!("{job} is overdue"), Urgency::Critical, "overview".to_string()),
            ("destination_unhealthy", _) => (
                format!("Destination {destination} failed its test"),
                Urgency::Critical,
                format!("destination:{destination}"),
            ),
            _ => return None,
        };
        Some(Note { summary, body: event.message.clone(), urgency, screen })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &'static str, status: &str) -> Event {
        let mut e = Event::test(0);
        e.event = kind;
        e.status = status.into();
        e.job = Some("docs".into());
        e.destination = Some("usb".into());
        e
    }

    #[test]
    fn failures_reach_the_desktop_and_routine_success_only_when_asked() {
        let f = DesktopNotifications::Failures;
        assert_eq!(f.note_for(&event("backup_succeeded", "succeeded")), None);
        let failed = f.note_for(&event("backup_failed", "failed")).unwrap();
        assert_eq!((failed.urgency, failed.screen.as_str()), (Urgency::Critical, "job:docs"));
        assert_eq!(f.note_for(&event("backup_failed", "partial")).unwrap().urgency, Urgency::Normal);
        assert_eq!(f.note_for(&event("job_overdue", "overdue")).unwrap().screen, "overview");
        assert_eq!(f.note_for(&event("destination_unhealthy", "unhealthy")).unwrap().screen, "destination:usb");
        assert_eq!(
            DesktopNotifications::All.note_for(&event("backup_succeeded", "succeeded")).unwrap().urgency,
            Urgency::Low
        );
        assert_eq!(DesktopNotifications::Off.note_for(&event("backup_failed", "failed")), None);
        for s in ["off", "failures", "all"] {
            assert_eq!(DesktopNotifications::parse(s).unwrap().name(), s);
        }
        assert_eq!(DesktopNotifications::parse("sometimes"), None);
    }
}

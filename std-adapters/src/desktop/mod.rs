//! The desktop session around the daemon: notifications for people (freedesktop notifications
//! over the session D-Bus) and the machine's state that a job may wait for (on battery, on a
//! metered network: UPower and NetworkManager over the system D-Bus).
//!
//! Built without the `desktop` feature (appliances, other systems) there is no D-Bus: a
//! notification fails with a clear reason and the machine counts as on mains power and on an
//! unmetered network.

mod conditions;
mod note;
#[cfg(feature = "desktop")]
mod notifier;
#[cfg(not(feature = "desktop"))]
#[path = "notifier_none.rs"]
mod notifier;

pub use conditions::{Conditions, Hold};
pub use note::{DesktopNotifications, Note, Urgency};
pub use notifier::{Notifier, machine_conditions};

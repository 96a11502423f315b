//! Without the `desktop` feature: no D-Bus, so no notifications and no machine state.

use std::path::PathBuf;

use super::{Conditions, Note};

/// Notifications are not built in: every send says so.
#[derive(Debug)]
pub struct Notifier;

impl Notifier {
    /// A notifier that cannot notify.
    pub fn start(_opener: Option<PathBuf>) -> Self {
        Self
    }

    /// A notifier that cannot notify.
    pub fn on_bus(_address: Option<String>, _opener: Option<PathBuf>) -> Self {
        Self
    }

    /// Always the reason there is none.
    pub async fn send(&self, _note: Note) -> Result<u32, String> {
        Err("this build of Cairn has no desktop notifications (the `desktop` feature)".into())
    }
}

/// Unknown: no job waits.
pub fn machine_conditions() -> Conditions {
    Conditions::default()
}

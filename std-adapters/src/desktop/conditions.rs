//! What a job may wait for: mains power and an unmetered network (Vorta has the metered rule).

/// The machine's state, as far as it is known (`None`: no way to tell, which holds no job back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Conditions {
    /// Running on battery (UPower's `OnBattery`).
    pub on_battery: Option<bool>,
    /// On a metered network (NetworkManager's `Metered`: yes or guessed yes).
    pub metered: Option<bool>,
}

/// Why a due job waits, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// The job runs only on mains power.
    OnBattery,
    /// The job runs only on unmetered networks.
    Metered,
}

impl Hold {
    /// For people.
    pub fn reason(self) -> &'static str {
        match self {
            Self::OnBattery => "waits for mains power",
            Self::Metered => "waits for an unmetered network",
        }
    }
}

impl Conditions {
    /// Whether a job with these wishes waits now.
    pub fn hold(&self, not_on_battery: bool, not_on_metered: bool) -> Option<Hold> {
        if not_on_battery && self.on_battery == Some(true) {
            Some(Hold::OnBattery)
        } else if not_on_metered && self.metered == Some(true) {
            Some(Hold::Metered)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_known_condition_holds_a_job_back() {
        let unknown = Conditions::default();
        assert_eq!(unknown.hold(true, true), None);
        let battery = Conditions { on_battery: Some(true), metered: Some(false) };
        assert_eq!(battery.hold(true, true), Some(Hold::OnBattery));
        assert_eq!(battery.hold(false, true), None);
        let metered = Conditions { on_battery: Some(false), metered: Some(true) };
        assert_eq!(metered.hold(true, true), Some(Hold::Metered));
        assert_eq!(metered.hold(true, false), None);
    }
}

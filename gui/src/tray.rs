//! The tray icon's state and actions, computed here (tested headless) and shown by the thin
//! shell: idle, a backup running with its percentage (whichever process runs it), something
//! that needs attention (a failed last run, an overdue job, a failing destination), paused;
//! "Back up now" runs every enabled job that does not run yet.

use crate::{Gui, GuiError, JobView, OverviewView, now};

/// What the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    /// Which icon.
    pub state: TrayState,
    /// One line for the top of the menu (and the tooltip where the desktop has one).
    pub status: String,
    /// A short label beside the icon (the percentage of a backup running), empty if none.
    pub label: String,
    /// Whether backups are paused (the menu offers Resume instead of Pause).
    pub paused: bool,
}

/// The tray's icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    /// Nothing to say: every backup is fine.
    Idle,
    /// A backup runs.
    Running,
    /// Something needs attention (see [`TrayView::status`]).
    Attention,
    /// Backups are paused.
    Paused,
}

impl Gui {
    /// What the tray shows now.
    pub async fn tray(&self) -> Result<TrayView, GuiError> {
        Ok(tray_of(&self.overview().await?))
    }

    /// "Back up now": runs every enabled job that does not run yet (here or in another
    /// process), one after the other. Returns each job with how it ended.
    pub async fn back_up_now(&self) -> Result<Vec<(String, String)>, GuiError> {
        let jobs = self.jobs().await?;
        let mut out = Vec::new();
        for j in jobs.iter().filter(|j| j.enabled && !j.running && j.progress.is_none()) {
            let name = j.form.name.clone();
            let status = match self.run_job(name.clone()).await {
                Ok(run) => run.status,
                Err(e) => format!("not run: {e}"),
            };
            out.push((name, status));
        }
        Ok(out)
    }
}

fn running_text(j: &JobView) -> Option<(String, String)> {
    let p = j.progress.as_ref()?;
    let percent = p.percent.map(|p| format!("{p}%"));
    let to = p.destination.as_deref().map(|d| format!(" to {d}")).unwrap_or_default();
    let status = match &percent {
        Some(pc) => format!("Backing up {}{to}: {pc}", j.form.name),
        None => format!("Backing up {}{to}", j.form.name),
    };
    Some((status, percent.unwrap_or_default()))
}

/// The tray's view of the overview: a backup running first, then what needs attention, then
/// a pause, then all is well (with the next backup).
pub(crate) fn tray_of(o: &OverviewView) -> TrayView {
    let paused = o.scheduler.paused_until.is_some_and(|t| t > now());
    let view = |state, status: String, label: String| TrayView { state, status, label, paused };
    let running: Vec<(String, String)> = o.jobs.iter().filter_map(running_text).collect();
    if let Some((status, label)) = running.first() {
        let more = if running.len() > 1 { format!(" (and {} more)", running.len() - 1) } else { String::new() };
        return view(TrayState::Running, format!("{status}{more}"), label.clone());
    }
    if let Some(w) = o.warnings.iter().find(|w| w.level == "bad") {
        return view(TrayState::Attention, w.text.clone(), String::new());
    }
    if paused {
        let when = o.scheduler.paused_until.map(|t| cairn_std::local_time(cairn_core::Timestamp::new(t, 0)));
        return view(TrayState::Paused, format!("Backups paused until {}", when.unwrap_or_default()), String::new());
    }
    let status = match (&o.scheduler.next_job, o.scheduler.next_due) {
        _ if o.jobs.is_empty() => "No backup set up yet".to_string(),
        (Some(job), Some(t)) => {
            format!("Backups are fine. Next: {job} at {}", cairn_std::local_time(cairn_core::Timestamp::new(t, 0)))
        }
        _ => "Backups are fine".to_string(),
    };
    view(TrayState::Idle, status, String::new())
}

impl TrayState {
    /// The colour of the dot on the icon (RGB), none when idle.
    fn dot(self) -> Option<[u8; 3]> {
        match self {
            Self::Idle => None,
            Self::Running => Some([0x2f, 0x80, 0xed]),
            Self::Attention => Some([0xd9, 0x30, 0x25]),
            Self::Paused => Some([0x9a, 0x9a, 0x9a]),
        }
    }
}

/// The icon for `state`: the app's icon (`rgba`, `width` × `height` pixels) with a dot of the
/// state's colour in its lower right corner, ringed in white so it shows on any panel.
pub fn badge(rgba: &[u8], width: u32, height: u32, state: TrayState) -> Vec<u8> {
    let mut out = rgba.to_vec();
    let Some(colour) = state.dot() else { return out };
    let (w, h) = (width as usize, height as usize);
    if out.len() != w * h * 4 {
        return out;
    }
    let r = w.min(h) as f64 * 0.22;
    let (cx, cy) = (w as f64 - r - 1.0, h as f64 - r - 1.0);
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2)).sqrt();
            let px = &mut out[(y * w + x) * 4..][..4];
            if d <= r * 0.75 {
                px.copy_from_slice(&[colour[0], colour[1], colour[2], 0xff]);
            } else if d <= r {
                px.copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
            }
        }
    }
    out
}

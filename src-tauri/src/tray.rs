//! The tray icon: its state from `cairn_gui::Gui::tray` every few seconds (icon, status line,
//! percentage beside it), and its menu: Back up now, Pause for 1 hour, Pause until tomorrow,
//! Resume, Open Cairn, Quit.

use std::time::Duration;

use cairn_gui::Gui;
use cairn_gui::tray::{TrayState, TrayView, badge};
use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, Wry};

use crate::window;

/// How often the tray looks at the catalog.
const EVERY: Duration = Duration::from_secs(3);

struct Tray {
    icon: TrayIcon,
    status: MenuItem<Wry>,
    pause_hour: MenuItem<Wry>,
    pause_tomorrow: MenuItem<Wry>,
    resume: MenuItem<Wry>,
    base: Image<'static>,
}

/// Puts the icon in the tray and keeps it up to date. Returns false where the desktop has no
/// tray (on Linux: no AppIndicator library), and the app then lives only as long as its window.
pub(crate) fn start(app: &AppHandle) -> bool {
    let tray = match build(app) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cairn-desktop: no tray icon: {e}");
            return false;
        }
    };
    let handle = app.clone();
    let _ = std::thread::Builder::new().name("cairn-tray".into()).spawn(move || {
        let mut shown: Option<TrayView> = None;
        loop {
            match tauri::async_runtime::block_on(handle.state::<Gui>().tray()) {
                Ok(view) if shown.as_ref() != Some(&view) => {
                    tray.show(&view, shown.as_ref().map(|s| s.state));
                    shown = Some(view);
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tray.status.set_text(format!("Cannot read the catalog: {e}"));
                    shown = None;
                }
            }
            std::thread::sleep(EVERY);
        }
    });
    true
}

fn build(app: &AppHandle) -> Result<Tray, String> {
    let item = |id: &str, text: &str, enabled: bool| {
        MenuItem::with_id(app, id, text, enabled, None::<&str>).map_err(|e| e.to_string())
    };
    let status = item("status", "Cairn", false)?;
    let back_up = item("back-up-now", "Back up now", true)?;
    let pause_hour = item("pause-hour", "Pause backups for 1 hour", true)?;
    let pause_tomorrow = item("pause-tomorrow", "Pause backups until tomorrow", true)?;
    let resume = item("resume", "Resume backups", false)?;
    let open = item("open", "Open Cairn", true)?;
    let quit = item("quit", "Quit", true)?;
    let line = || PredefinedMenuItem::separator(app).map_err(|e| e.to_string());
    let menu = Menu::with_items(
        app,
        &[&status, &line()?, &back_up, &pause_hour, &pause_tomorrow, &resume, &line()?, &open, &quit],
    )
    .map_err(|e| e.to_string())?;
    let base = app.default_window_icon().cloned().ok_or("the app has no icon")?.to_owned();
    let builder = TrayIconBuilder::with_id("cairn")
        .icon(base.clone())
        .tooltip("Cairn")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu);
    // On Linux the tray needs the AppIndicator library, which the tray crate loads when first
    // used and panics without: a desktop without it gets no tray, not a crash.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.build(app)));
    std::panic::set_hook(previous);
    let icon = match built {
        Ok(Ok(icon)) => icon,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("the AppIndicator library (libayatana-appindicator3) is not installed".into()),
    };
    Ok(Tray { icon, status, pause_hour, pause_tomorrow, resume, base })
}

impl Tray {
    fn show(&self, view: &TrayView, before: Option<TrayState>) {
        let _ = self.status.set_text(&view.status);
        let _ = self.icon.set_tooltip(Some(&view.status));
        // Beside the icon where the panel shows labels: the percentage of a running backup.
        let _ = self.icon.set_title(Some(&view.label).filter(|l| !l.is_empty()));
        let _ = self.pause_hour.set_enabled(!view.paused);
        let _ = self.pause_tomorrow.set_enabled(!view.paused);
        let _ = self.resume.set_enabled(view.paused);
        if before != Some(view.state) {
            let rgba = badge(self.base.rgba(), self.base.width(), self.base.height(), view.state);
            let _ = self.icon.set_icon(Some(Image::new_owned(rgba, self.base.width(), self.base.height())));
        }
    }
}

fn on_menu(app: &AppHandle, event: MenuEvent) {
    let id = event.id().as_ref().to_string();
    let handle = app.clone();
    match id.as_str() {
        "open" => window::show(app, None),
        "quit" => app.exit(0),
        _ => {
            // The catalog's work runs off the main thread, and the tray shows its effect at
            // its next look.
            tauri::async_runtime::spawn(async move {
                let gui = handle.state::<Gui>();
                let result = match id.as_str() {
                    "back-up-now" => gui.back_up_now().await.map(drop),
                    "pause-hour" => gui.pause_backups(60).await.map(drop),
                    "pause-tomorrow" => gui.pause_backups(0).await.map(drop),
                    "resume" => gui.resume_backups().await.map(drop),
                    _ => Ok(()),
                };
                if let Err(e) = result {
                    eprintln!("cairn-desktop: {id}: {e}");
                }
            });
        }
    }
}

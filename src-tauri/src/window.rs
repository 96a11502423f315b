//! The app's one window: made when asked for (not at a background start), shown and brought
//! forward when asked again, at the screen asked for; closing it leaves the app running in the
//! tray.

use cairn_gui::Gui;
use tauri::{AppHandle, Emitter, Manager};

const LABEL: &str = "main";

/// Shows the window, making it if it is not there, at `screen` if given.
pub(crate) fn show(app: &AppHandle, screen: Option<String>) {
    let handle = app.clone();
    // Windows are made and shown on the main thread.
    let _ = app.run_on_main_thread(move || {
        if let Some(w) = handle.get_webview_window(LABEL) {
            let _ = w.show();
            let _ = w.unminimize();
            let _ = w.set_focus();
            if let Some(screen) = screen {
                let _ = w.emit("cairn-navigate", screen);
            }
            return;
        }
        // A new window asks for its first screen when it loads.
        handle.state::<Gui>().set_start_screen(screen);
        let Some(config) = handle.config().app.windows.iter().find(|w| w.label == LABEL).cloned() else {
            eprintln!("cairn-desktop: the window is missing from tauri.conf.json");
            return;
        };
        if let Err(e) = tauri::WebviewWindowBuilder::from_config(&handle, &config).and_then(|b| b.build()) {
            eprintln!("cairn-desktop: cannot open the window: {e}");
        }
    });
}

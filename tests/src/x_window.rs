//! The top-level windows of an X display, seen and closed as a user does: counted by title
//! (`xwininfo`), and closed as a window manager's close button closes them (WM_DELETE_WINDOW,
//! which the app may answer by hiding to its tray, unlike a kill).

use std::process::Command;

/// The ids (hex, as `xwininfo` writes them) of the windows of `display` titled `title`.
pub fn titled(display: &str, title: &str) -> Vec<String> {
    let out = Command::new("xwininfo").args(["-root", "-tree"]).env("DISPLAY", display).output().expect("run xwininfo");
    let quoted = format!("\"{title}\"");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&quoted))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Asks every window of `display` titled `title` to close; returns how many were asked.
pub fn close(display: &str, title: &str) -> usize {
    let windows = titled(display, title);
    for id in &windows {
        let out = Command::new("python3")
            .args(["-c", include_str!("x_window/close.py"), id.trim_start_matches("0x")])
            .env("DISPLAY", display)
            .output()
            .expect("run python3");
        assert!(out.status.success(), "closing window {id}: {}", String::from_utf8_lossy(&out.stderr));
    }
    windows.len()
}

//! Settings: the recovery kit and the notification sinks.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use cairn_std::catalog::NotificationSink;
use cairn_std::daemon::send_test;
use cairn_std::desktop::DesktopNotifications;

use crate::{AppInfo, FolderListing, Gui, GuiError, NotificationView, now};

impl Gui {
    /// Version, catalog, user and home folder, and the screen to open at (told once: the
    /// window asks when it loads).
    pub fn app_info(&self) -> AppInfo {
        AppInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            catalog: self.paths.catalog.display().to_string(),
            user: cairn_std::username(),
            home: home(),
            start_screen: self.start_screen.lock().unwrap_or_else(|p| p.into_inner()).take(),
        }
    }

    /// The subfolders of local folder `path` (empty: the home folder), for the folder picker.
    pub fn local_folders(&self, path: String) -> Result<FolderListing, GuiError> {
        let path = if path.trim().is_empty() { home() } else { path.trim().to_string() };
        let dir = PathBuf::from(&path);
        if !dir.is_absolute() {
            return Err(GuiError::field("path", "give an absolute path"));
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| cairn_std::Error::io("cannot list the folder", &dir, e))?;
        let mut folders: Vec<(bool, String)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| {
                let hidden = e.file_name().to_string_lossy().starts_with('.');
                (hidden, e.path().display().to_string())
            })
            .collect();
        folders.sort();
        Ok(FolderListing {
            parent: dir.parent().map(|p| p.display().to_string()),
            path: dir.display().to_string(),
            folders: folders.into_iter().map(|(_, p)| p).collect(),
        })
    }

    /// Writes the master-key recovery kit into a new file that only the user can read (an
    /// existing file is never replaced). The kit opens every secret of the catalog: keep it
    /// offline. Returns the file's path.
    pub async fn export_recovery_kit(&self, file: String) -> Result<String, GuiError> {
        self.on_thread(move |catalog| async move {
            let path = PathBuf::from(file.trim());
            if !path.is_absolute() {
                return Err(GuiError::field("file", "choose where to save the recovery kit"));
            }
            let kit = catalog.recovery_kit();
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| cairn_std::Error::io("cannot create the recovery kit file", &path, e))?;
            let text = [
                b"# Cairn recovery kit: with a configuration export, `cairn recover` rebuilds the catalog.\n"
                    .as_slice(),
                b"# Keep it offline: it opens every password stored in the catalog.\n",
                kit.expose(),
                b"\n",
            ]
            .concat();
            f.write_all(&text)
                .and_then(|()| f.sync_all())
                .map_err(|e| cairn_std::Error::io("cannot write the recovery kit", &path, e))?;
            Ok(path.display().to_string())
        })
        .await
    }

    /// Where events go.
    pub async fn notifications(&self) -> Result<Vec<NotificationView>, GuiError> {
        self.on_thread(|catalog| async move {
            Ok(catalog
                .notifications()?
                .into_iter()
                .map(|(id, sink)| {
                    let (kind, target) = match sink {
                        NotificationSink::Command(c) => ("command", c),
                        NotificationSink::Webhook(u) => ("webhook", u),
                    };
                    NotificationView { id, kind: kind.into(), target }
                })
                .collect())
        })
        .await
    }

    /// Adds a `command` or `webhook` sink.
    pub async fn add_notification(&self, kind: String, target: String) -> Result<i64, GuiError> {
        self.on_thread(move |catalog| async move {
            let target = target.trim().to_string();
            if target.is_empty() {
                return Err(GuiError::field("target", "is required"));
            }
            let sink = match kind.as_str() {
                "command" => NotificationSink::Command(target),
                "webhook" => NotificationSink::Webhook(target),
                _ => return Err(GuiError::field("kind", "choose command or webhook")),
            };
            Ok(catalog.add_notification(&sink)?)
        })
        .await
    }

    /// Which events reach the desktop: `off`, `failures` or `all`.
    pub async fn desktop_notifications(&self) -> Result<String, GuiError> {
        self.on_thread(|catalog| async move { Ok(catalog.desktop_notifications()?.name().to_string()) }).await
    }

    /// Sets which events reach the desktop.
    pub async fn set_desktop_notifications(&self, which: String) -> Result<String, GuiError> {
        self.on_thread(move |catalog| async move {
            let parsed = DesktopNotifications::parse(&which)
                .ok_or_else(|| GuiError::field("desktop", "choose off, failures or all"))?;
            catalog.set_desktop_notifications(parsed)?;
            Ok(parsed.name().to_string())
        })
        .await
    }

    /// Removes a sink.
    pub async fn remove_notification(&self, id: i64) -> Result<(), GuiError> {
        self.on_thread(move |catalog| async move { Ok(catalog.remove_notification(id)?) }).await
    }

    /// Sends a test event to every sink and to the desktop; returns the failures, one line each.
    pub async fn test_notifications(&self) -> Result<Vec<String>, GuiError> {
        self.on_thread(|catalog| async move { Ok(send_test(&catalog, now(), None).await?) }).await
    }
}

fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/".into())
}

//! The desktop app's command layer: every command the window needs, as plain async functions
//! on [`Gui`], over the catalog and the engine of `cairn-std`. No Tauri here: the shell in
//! `src-tauri/` only forwards its `cmd_*` commands to these functions and [`GuiEvent`]s to the
//! window, so everything below is tested headless.
//!
//! Each command runs on a thread of its own with a current-thread runtime (the engine's futures
//! are not `Send`, the window's commands must be), opening the catalog there. Long operations
//! (Test, job runs, restores) report through the event sink given to [`Gui::new`] and stop when
//! [`Gui::cancel`] is called with their operation id. Snapshot browsing keeps one open
//! repository per destination on its own thread ([`restore`]), so that walking directories
//! does not reopen the repository each time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cairn_gui::GuiError> {
//! use std::sync::Arc;
//! let gui = cairn_gui::Gui::new(cairn_gui::Paths::default_paths()?, Arc::new(|event| println!("{event:?}")));
//! for d in gui.destinations().await? {
//!     println!("{} {}", d.name, d.location);
//! }
//! # Ok(()) }
//! ```

mod destinations;
mod first_run;
pub mod instance;
mod jobs;
mod overview;
mod progress;
pub mod restore;
mod scheduler;
mod settings;
pub mod tray;
pub mod types;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use cairn_std::catalog::Catalog;
use cairn_std::{Error, ErrorKind};

/// What tells the desktop (see [`Gui::with_desktop_notifier`]).
pub use cairn_std::desktop::Notifier;
pub use types::*;

/// Where the catalog and its key are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The catalog database.
    pub catalog: PathBuf,
    /// The file holding its master key.
    pub key: PathBuf,
}

impl Paths {
    /// The user's catalog (`$XDG_DATA_HOME/cairn`), as the CLI uses it.
    pub fn default_paths() -> Result<Self, GuiError> {
        let (catalog, key) = Catalog::default_paths()?;
        Ok(Self { catalog, key })
    }

    /// The catalog named by `CAIRN_CATALOG` (its key beside it, `.key`), as the CLI reads it,
    /// else the user's.
    pub fn from_env() -> Result<Self, GuiError> {
        match std::env::var_os("CAIRN_CATALOG").filter(|v| !v.is_empty()) {
            Some(file) => {
                let catalog = PathBuf::from(file);
                Ok(Self { key: catalog.with_extension("key"), catalog })
            }
            None => Self::default_paths(),
        }
    }
}

/// Receives the events of long operations.
pub type EventSink = Arc<dyn Fn(GuiEvent) + Send + Sync>;

/// The command layer (see the [crate docs](crate)).
pub struct Gui {
    paths: Arc<Paths>,
    events: EventSink,
    /// Cancel flags of running operations, by operation id.
    ops: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
    browsers: restore::Browsers,
    /// The screen the window opens at next (`--screen`: a notification's click).
    start_screen: Mutex<Option<String>>,
    /// Where the app's own runs tell the desktop (as the daemon's do), if anywhere.
    notifier: Option<Arc<Notifier>>,
}

impl std::fmt::Debug for Gui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gui").field("paths", &self.paths).finish_non_exhaustive()
    }
}

/// Field names as the window knows them, by the name errors use.
const FIELDS: &[(&str, &str)] = &[
    ("name", "name"),
    ("kind", "kind"),
    ("url", "kind"),
    ("backup-dir", "backupDir"),
    ("remote", "remote"),
    ("vendor", "vendor"),
    ("endpoint", "endpoint"),
    ("region", "region"),
    ("bucket", "bucket"),
    ("account", "account"),
    ("access-key", "accessKey"),
    ("secret-key", "secretKey"),
    ("storage-class", "storageClass"),
    ("container", "container"),
    ("access-tier", "accessTier"),
    ("host", "host"),
    ("port", "port"),
    ("user", "user"),
    ("key-file", "keyFile"),
    ("host-key", "hostKey"),
    ("scheme", "scheme"),
    ("retries", "retries"),
    ("connections", "connections"),
    ("sources", "sources"),
    ("source", "sources"),
    ("excludes", "excludes"),
    ("exclude", "excludes"),
    ("destinations", "destinations"),
    ("destination", "destinations"),
    ("schedule", "schedule"),
    ("structure", "structure"),
    ("pre-hook", "preHook"),
    ("post-hook", "postHook"),
];

impl From<Error> for GuiError {
    fn from(e: Error) -> Self {
        let kind = match e.kind() {
            ErrorKind::InvalidInput => "invalidInput",
            ErrorKind::RepositoryNotFound => "repositoryNotFound",
            ErrorKind::RepositoryExists => "repositoryExists",
            ErrorKind::WrongPassword => "wrongPassword",
            ErrorKind::NotFound => "notFound",
            ErrorKind::StorageFull => "storageFull",
            ErrorKind::PermissionDenied => "permissionDenied",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Locked => "locked",
            ErrorKind::LockLost => "lockLost",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Io => "io",
            _ => "other",
        };
        let message = e.message().to_string();
        let (field, message) = match message.split_once(": ") {
            Some((f, rest)) => match FIELDS.iter().find(|(name, _)| *name == f) {
                Some((_, ui)) => (Some((*ui).to_string()), rest.to_string()),
                None => (None, message.clone()),
            },
            None => (None, message.clone()),
        };
        GuiError { kind: kind.into(), message, hint: e.hint().map(str::to_string), field }
    }
}

impl From<cairn_core::Error> for GuiError {
    fn from(e: cairn_core::Error) -> Self {
        Error::from(e).into()
    }
}

impl GuiError {
    /// An error about a form field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        GuiError { kind: "invalidInput".into(), message: message.into(), hint: None, field: Some(field.into()) }
    }

    fn internal(message: impl Into<String>) -> Self {
        GuiError { kind: "other".into(), message: message.into(), hint: None, field: None }
    }
}

impl std::fmt::Display for GuiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GuiError {}

/// Removes an operation's cancel flag when the operation ends, however it ends.
struct OpGuard {
    ops: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
    op: String,
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.op);
    }
}

impl Gui {
    /// The command layer over the catalog at `paths`, sending events to `events`.
    pub fn new(paths: Paths, events: EventSink) -> Self {
        Self {
            paths: Arc::new(paths),
            events,
            ops: Arc::default(),
            browsers: restore::Browsers::default(),
            start_screen: Mutex::default(),
            notifier: None,
        }
    }

    /// The same commands, with the runs they start (the window's Run, the tray's Back up now)
    /// telling the desktop through `notifier` as the catalog's setting asks: a failure by
    /// default, as the scheduler's runs do.
    #[must_use]
    pub fn with_desktop_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(Arc::new(notifier));
        self
    }

    /// Makes the window that loads next open at `screen` (`overview`, `job:NAME`,
    /// `destination:NAME`, `settings`).
    pub fn set_start_screen(&self, screen: Option<String>) {
        *self.start_screen.lock().unwrap_or_else(|p| p.into_inner()) = screen;
    }

    /// Asks the operation `op` (a Test, a job run `job:NAME`, a restore) to stop. Returns
    /// whether it was running. A backup stops between files and writes no snapshot; what it
    /// uploaded is reused by the next run.
    pub fn cancel(&self, op: &str) -> bool {
        match self.ops.lock().unwrap_or_else(|p| p.into_inner()).get(op) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Whether operation `op` is running.
    pub fn is_running(&self, op: &str) -> bool {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).contains_key(op)
    }

    /// Registers operation `op`, refusing a second one with the same id.
    fn start_op(&self, op: &str) -> Result<(Arc<AtomicBool>, OpGuard), GuiError> {
        let mut ops = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        if ops.contains_key(op) {
            return Err(GuiError {
                kind: "locked".into(),
                message: format!("{op} is already running"),
                hint: Some("wait for it to finish, or cancel it".into()),
                field: None,
            });
        }
        let flag = Arc::new(AtomicBool::new(false));
        ops.insert(op.to_string(), flag.clone());
        Ok((flag, OpGuard { ops: self.ops.clone(), op: op.to_string() }))
    }

    /// Runs `f` with the catalog on a thread of its own (see the [crate docs](crate)).
    fn on_thread<T, F, Fut>(&self, f: F) -> impl Future<Output = Result<T, GuiError>> + Send + use<T, F, Fut>
    where
        T: Send + 'static,
        F: FnOnce(Catalog) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, GuiError>>,
    {
        let paths = self.paths.clone();
        off_thread(move || {
            let worker = cairn_std::ThreadWorker::new();
            match cairn_std::runtime(&worker) {
                Ok(rt) => match Catalog::open(&paths.catalog, &paths.key) {
                    Ok(catalog) => rt.block_on(f(catalog)),
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(GuiError::internal(format!("cannot start a runtime: {e}"))),
            }
        })
    }

    fn emit(&self) -> EventSink {
        self.events.clone()
    }
}

/// The TypeScript declarations of every type the window exchanges with the commands, as
/// `ui/src/bindings.ts` holds them (generated with ts-rs; 64-bit integers are JSON numbers).
pub fn typescript() -> String {
    use ts_rs::{Config, TS};
    let cfg = Config::default();
    let decls = [
        GuiError::decl(&cfg),
        FieldError::decl(&cfg),
        DestinationForm::decl(&cfg),
        FormCheck::decl(&cfg),
        VendorView::decl(&cfg),
        StepView::decl(&cfg),
        TestView::decl(&cfg),
        SaveView::decl(&cfg),
        HealthView::decl(&cfg),
        DiskView::decl(&cfg),
        DestinationView::decl(&cfg),
        ObjectView::decl(&cfg),
        ArchiveView::decl(&cfg),
        RetentionForm::decl(&cfg),
        JobForm::decl(&cfg),
        RunView::decl(&cfg),
        JobProgressView::decl(&cfg),
        JobView::decl(&cfg),
        JobRunView::decl(&cfg),
        ScheduleCheck::decl(&cfg),
        SnapshotView::decl(&cfg),
        EntryView::decl(&cfg),
        DirPage::decl(&cfg),
        FoundVersion::decl(&cfg),
        SearchHit::decl(&cfg),
        SearchView::decl(&cfg),
        RestoreTargetForm::decl(&cfg),
        RestoreRequest::decl(&cfg),
        RestoreSummary::decl(&cfg),
        ProgressView::decl(&cfg),
        GuiEvent::decl(&cfg),
        NotificationView::decl(&cfg),
        DaemonView::decl(&cfg),
        WarningView::decl(&cfg),
        OverviewView::decl(&cfg),
        FolderSuggestion::decl(&cfg),
        DiskChoice::decl(&cfg),
        AppInfo::decl(&cfg),
        FolderListing::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from gui/src/types.rs by `CAIRN_UPDATE_BINDINGS=1 cargo test -p cairn-gui bindings`.\n\
         // Do not edit: change the Rust types instead.\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d.replace("bigint", "number"));
        out.push_str("\n\n");
    }
    out
}

/// Runs `f` on a thread of its own, so that blocking work (a catalog, a child process) never
/// holds up the caller's runtime.
fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GuiError> + Send + 'static,
) -> impl Future<Output = Result<T, GuiError>> + Send {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new().name("cairn-gui".into()).spawn(move || {
        let _ = tx.send(f());
    });
    async move {
        started.map_err(|e| GuiError::internal(format!("cannot start a thread: {e}")))?;
        rx.await.map_err(|_| GuiError::internal("the operation stopped unexpectedly (see the log)"))?
    }
}

/// `now` in Unix seconds.
fn now() -> i64 {
    cairn_std::now().secs
}

//! The std side's error: one type with a kind, a message and guidance.
//!
//! Policy:
//! - An [`Error`] says in one line what went wrong (`message`), and where it can, what to do about
//!   it (`hint`). Front ends print `error: {message}` and then the hint; they map [`ErrorKind`] to
//!   exit codes or dialogs.
//! - The underlying error (a core error, an `io::Error`) is kept as `source()` for logs.
//! - Secrets (passwords, keys) never appear in messages: callers never put them in, and the core
//!   never does either.

use std::fmt;

use cairn_core::{DisplayPath, IoErrorKind};

/// What kind of failure, for exit codes and for deciding what to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The command line, a path or another input is invalid.
    InvalidInput,
    /// No repository at the given location.
    RepositoryNotFound,
    /// A repository already exists where one was to be created.
    RepositoryExists,
    /// The password opens no key of the repository.
    WrongPassword,
    /// A snapshot, path or key asked for does not exist.
    NotFound,
    /// The destination or restore target is full.
    StorageFull,
    /// Access was refused.
    PermissionDenied,
    /// Data in the repository is damaged or was tampered with.
    Corrupt,
    /// The repository needs a newer version of Cairn.
    Unsupported,
    /// Another process holds a conflicting repository lock.
    Locked,
    /// This process's lease was revoked by another process: it stopped before writing or
    /// deleting anything more.
    LockLost,
    /// Storage or filesystem failure.
    Io,
    /// The user stopped the operation.
    Cancelled,
    /// Anything else.
    Other,
}

/// An error with guidance. See the [module docs](self).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a one-line `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), hint: None, source: None }
    }

    /// Adds what the user can do about it.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Keeps the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Puts `context` in front of the message (`context: message`).
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The message followed by the hint in parentheses, for one-line records (history, reports).
    pub fn with_hint_inline(&self) -> String {
        match &self.hint {
            Some(h) => format!("{} ({h})", self.message),
            None => self.message.clone(),
        }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What to do about it, if known.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// An `io::Error` on `path`, with guidance for the common cases.
    pub fn io(what: impl fmt::Display, path: &std::path::Path, e: std::io::Error) -> Self {
        let kind = io_error_kind(&e);
        let err = Self::new(error_kind_of_io(kind), format!("{what} {}: {}", path.display(), plain_io_message(&e)));
        let err = match kind {
            IoErrorKind::StorageFull => err.with_hint("free some space there, or choose another location"),
            IoErrorKind::PermissionDenied => {
                err.with_hint("check the permissions of that path, or run as a user who may access it")
            }
            _ => err,
        };
        err.with_source(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// The message of an `io::Error` without the "(os error N)" suffix.
pub(crate) fn plain_io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Maps an `io::Error` to the core's kinds.
pub fn io_error_kind(e: &std::io::Error) -> IoErrorKind {
    use std::io::ErrorKind as K;
    if matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)) {
        return IoErrorKind::StorageFull;
    }
    match e.kind() {
        K::NotFound => IoErrorKind::NotFound,
        K::AlreadyExists => IoErrorKind::AlreadyExists,
        K::PermissionDenied => IoErrorKind::PermissionDenied,
        K::StorageFull | K::QuotaExceeded => IoErrorKind::StorageFull,
        K::ReadOnlyFilesystem => IoErrorKind::ReadOnly,
        K::InvalidData | K::UnexpectedEof => IoErrorKind::InvalidData,
        K::TimedOut | K::Interrupted | K::ConnectionReset | K::ConnectionAborted => IoErrorKind::Unavailable,
        K::Unsupported => IoErrorKind::Unsupported,
        _ => IoErrorKind::Other,
    }
}

pub(crate) fn error_kind_of_io(kind: IoErrorKind) -> ErrorKind {
    match kind {
        IoErrorKind::NotFound => ErrorKind::NotFound,
        IoErrorKind::PermissionDenied | IoErrorKind::ReadOnly => ErrorKind::PermissionDenied,
        IoErrorKind::StorageFull => ErrorKind::StorageFull,
        IoErrorKind::InvalidData => ErrorKind::Corrupt,
        _ => ErrorKind::Io,
    }
}

/// An `io::Error` that remembers the path it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", path.display(), plain_io_message(source))]
pub struct PathError {
    /// The path.
    pub path: std::path::PathBuf,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

/// Wraps an `io::Error` on `path` into the core's [`cairn_core::IoError`].
pub fn core_io_error(path: &std::path::Path, source: std::io::Error) -> cairn_core::IoError {
    cairn_core::IoError::new(io_error_kind(&source), PathError { path: path.to_path_buf(), source })
}

impl From<cairn_core::Error> for Error {
    fn from(e: cairn_core::Error) -> Self {
        use cairn_core::Error as E;
        // A lost lease reaches the engine as the failure of the storage call that found it.
        if e.is_lock_lost() && !matches!(e, E::LockLost) {
            return Self::from(E::LockLost).with_source(e);
        }
        let message = e.to_string();
        let err = match &e {
            E::WrongPassword => Self::new(ErrorKind::WrongPassword, message)
                .with_hint("check the password (CAIRN_PASSWORD, --password-file, or what you typed)"),
            E::WrongPasswordOrDamagedKey { damaged } => {
                Self::new(ErrorKind::WrongPassword, message).with_hint(format!(
                    "check the password; if it is right, restore keys/{damaged} from another copy of the repository"
                ))
            }
            E::NoKeys => Self::new(ErrorKind::Corrupt, message)
                .with_hint("the keys/ folder is empty or unreadable: restore it from a copy of the repository"),
            E::NotInitialized => Self::new(ErrorKind::RepositoryNotFound, message)
                .with_hint("check the repository location, or create a repository there with `cairn init`"),
            E::AlreadyInitialized => Self::new(ErrorKind::RepositoryExists, message)
                .with_hint("use the existing repository, or choose an empty location"),
            E::UnsupportedVersion { .. } | E::UnknownMandatoryFeature { .. } => {
                Self::new(ErrorKind::Unsupported, message)
                    .with_hint("this repository was written by a newer Cairn: upgrade Cairn to use it")
            }
            E::SnapshotNotFound { .. } => Self::new(ErrorKind::NotFound, message)
                .with_hint("list snapshots with `cairn snapshots`; use a full id, an unambiguous prefix or `latest`"),
            E::AmbiguousSnapshot { .. } => Self::new(ErrorKind::InvalidInput, message),
            E::PathNotFound { .. } | E::NotADirectory { .. } => Self::new(ErrorKind::NotFound, message)
                .with_hint("list the snapshot's contents with `cairn ls SNAPSHOT`"),
            E::InvalidParameter { .. } | E::LastKey => Self::new(ErrorKind::InvalidInput, message),
            E::Locked { holder, id } => {
                let message = match holder {
                    Some(h) => format!("the repository is locked by {}", crate::describe_lock(h)),
                    None if *id == cairn_core::Id::ZERO => message,
                    None => format!("the repository is locked by lock {} which cannot be read", id.to_hex()),
                };
                Self::new(ErrorKind::Locked, message).with_hint(
                    "wait for that to finish; a lock counts as stale once this machine has seen it unchanged for \
                     the repository's stale age (30 minutes unless set otherwise), and at once if its process is \
                     gone from this machine; `cairn unlock` removes stale locks",
                )
            }
            E::SnapshotsWithheld { .. } => Self::new(ErrorKind::Corrupt, message).with_hint(
                "the store may have been rolled back, not show everything yet, or be withholding them: nothing was \
                 deleted. If they were removed on purpose (another program, a copy of an older repository), accept \
                 it with --forget-missing",
            ),
            E::Cancelled => Self::new(ErrorKind::Cancelled, message)
                .with_hint("nothing was recorded as finished; what was uploaded is reused by the next backup"),
            E::LockLost => Self::new(ErrorKind::LockLost, message)
                .with_hint("no snapshot was saved and nothing was deleted after that; run the operation again"),
            E::Corrupt { .. } | E::Decode { .. } | E::BlobNotInIndex { .. } => Self::new(ErrorKind::Corrupt, message)
                .with_hint("run `cairn check --read-data` to find everything that is affected"),
            E::Storage { source, .. } | E::Source { source, .. } | E::Target { source, .. } => {
                let err = Self::new(error_kind_of_io(source.kind()), message);
                // A remote destination's own message already says what to fix.
                let explained = source
                    .inner()
                    .is_some_and(|s| s.is::<crate::http::DestinationError>() || s.is::<crate::UnknownHostKey>());
                match source.kind() {
                    _ if explained => err,
                    IoErrorKind::StorageFull => err.with_hint("free some space there, or choose another location"),
                    IoErrorKind::PermissionDenied => {
                        err.with_hint("check the permissions, or run as a user who may access it")
                    }
                    IoErrorKind::Unavailable => {
                        err.with_hint("the destination did not answer; try again when it is reachable")
                    }
                    _ => err,
                }
            }
            _ => Self::new(ErrorKind::Other, message),
        };
        err.with_source(e)
    }
}

/// A path for messages (non-UTF-8 bytes shown as U+FFFD).
pub fn show_path(path: &[u8]) -> String {
    DisplayPath(path).to_string()
}

/// A timestamp in the local time zone for people (`YYYY-MM-DD HH:MM:SS`).
pub fn local_time(t: cairn_core::Timestamp) -> String {
    match jiff::Timestamp::new(t.secs, t.nanos as i32) {
        Ok(ts) => ts.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => format!("@{}", t.secs),
    }
}

/// The local time zone's offset from UTC at `t`, in seconds (0 if `t` is out of range), as
/// retention's calendar buckets need it.
pub fn utc_offset(t: cairn_core::Timestamp) -> i32 {
    jiff::Timestamp::new(t.secs, 0).map(|ts| jiff::tz::TimeZone::system().to_offset(ts).seconds()).unwrap_or(0)
}

/// An error from a destination outside the engine, said as the engine says it: what was being
/// done to which object, where.
pub fn storage_error(
    place: &str,
    op: cairn_core::StorageOp,
    handle: &cairn_core::Handle,
    source: cairn_core::IoError,
) -> Error {
    Error::from(cairn_core::Error::Storage { op, kind: handle.kind, id: handle.id, source }).context(place)
}

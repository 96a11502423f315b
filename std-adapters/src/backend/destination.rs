//! Destinations: where a repository lives, named by one URL syntax for every type.
//!
//! | URL | destination |
//! |---|---|
//! | `PATH`, `local:PATH` | a local directory |
//! | `s3:https://HOST[:PORT]/BUCKET[/DIR][?OPTIONS]` | an S3-compatible bucket at that endpoint |
//! | `s3:VENDOR/BUCKET[/DIR][?OPTIONS]` | a bucket of a preset vendor ([`crate::backend::s3::vendors`]) |
//! | `rest:https://[USER[:PASSWORD]@]HOST[:PORT]/PATH[?OPTIONS]` | a restic REST server |
//! | `sftp://[USER@]HOST[:PORT]/ABSOLUTE/PATH[?key=FILE&host-key=FP&known-hosts=FILE]` | a directory over SSH |
//! | `azure:ACCOUNT/CONTAINER[/DIR][?OPTIONS]` | an Azure Blob container |
//! | `webdav:https://[USER@]HOST[:PORT]/PATH[?OPTIONS]` | a WebDAV folder |
//! | `ftp://[USER@]HOST[:PORT]/PATH[?OPTIONS]`, `ftps://...` | a folder on an FTP server |
//! | `rclone:REMOTE:PATH[?OPTIONS]` | a folder on any rclone remote (Google Drive, OneDrive, ...) |
//!
//! S3 options: `region=`, `path-style=true|false`, `verify-tls=true|false`, `retries=N`,
//! `stall-timeout=SECONDS` (no byte for this long retries the request; default 60),
//! `connections=N`, `storage-class=CLASS` (data packs only), `vendor=ID` (with an explicit
//! endpoint: that vendor's addressing and regions), `account=` (R2 account id, Oracle
//! namespace), `endpoint=TEMPLATE` (vendor `custom`: `{region}` and optionally `{bucket}` are
//! filled in), `access-key=`. The secret key never goes in a URL: it comes from the environment
//! (`AWS_SECRET_ACCESS_KEY`) or the catalog. An explicit endpoint defaults to path-style
//! addressing (it works without wildcard DNS) except on `amazonaws.com`.
//!
//! Azure options: `endpoint=URL` (default `https://ACCOUNT.blob.core.windows.net`; an emulator
//! such as Azurite: `http://HOST:PORT/ACCOUNT`), `access-tier=Hot|Cool|Cold` (data packs only),
//! `verify-tls=`, `retries=`, `stall-timeout=`, `connections=`. The account key
//! (`AZURE_ACCOUNT_KEY`) or a SAS token (`AZURE_ACCOUNT_SAS`) comes from the environment or the
//! catalog, never from the URL.
//!
//! WebDAV options: `verify-tls=`, `retries=`, `stall-timeout=`, `connections=`; the password comes
//! from `CAIRN_WEBDAV_PASSWORD` or the catalog, never from the URL.
//!
//! FTP: the path is relative to the login folder (`ftp://HOST//srv/backups` for an absolute
//! one). `ftp://` uses TLS when the server offers it, `ftps://` always (explicit `AUTH TLS`);
//! options `tls=off` (never), `verify-tls=`, `retries=`, `stall-timeout=`, `connections=`. No
//! user name: anonymous. The password comes from `CAIRN_FTP_PASSWORD` or the catalog.
//!
//! rclone: `REMOTE` is a remote of the user's rclone configuration (`rclone config`), or
//! `:TYPE` for an on-the-fly backend (`rclone::local:/srv/backups`); Cairn runs
//! `rclone serve restic --stdio REMOTE:PATH` ([`crate::backend::rest::rclone`]) and the remote's credentials
//! stay in rclone's configuration. Options `retries=`, `stall-timeout=`, `connections=`;
//! `CAIRN_RCLONE` names the rclone program (default: `rclone` on PATH).

use std::path::PathBuf;

use bytes::Bytes;
use cairn_core::{FileKind, Handle, IoError, ObjectInfo, ReadOnly, ReadRange, Storage, StorageProperties, WriteMode};

use crate::backend::azure::{AzureBackend, AzureConfig};
use crate::backend::ftp::{FtpBackend, FtpConfig};
use crate::backend::local::LocalBackend;
use crate::backend::path_store::{Body, PathStore};
use crate::backend::rest::rclone::RcloneConfig;
use crate::backend::rest::{RestBackend, RestConfig};
use crate::backend::s3::{S3Backend, S3Config};
use crate::backend::secrets::DestinationSecrets;
use crate::backend::sftp::{SftpBackend, SftpConfig};
use crate::backend::side_files;
use crate::backend::webdav::{WebDavBackend, WebDavConfig};
use crate::backend::{azure, ftp, rest, s3, sftp, webdav};
use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// A parsed destination URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DestinationUrl {
    /// A local directory (absolute).
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3(Box<S3Config>),
    /// A restic REST server.
    Rest(Box<RestConfig>),
    /// A directory on an SFTP server.
    Sftp(Box<SftpConfig>),
    /// An Azure Blob container.
    Azure(Box<AzureConfig>),
    /// A WebDAV folder.
    WebDav(Box<WebDavConfig>),
    /// A folder on an FTP server.
    Ftp(Box<FtpConfig>),
    /// A folder on an rclone remote, through `rclone serve restic --stdio`.
    Rclone(Box<RcloneConfig>),
}

impl DestinationUrl {
    /// The URL to show: no secret in it.
    pub fn show(&self) -> String {
        match self {
            Self::Local(p) => p.display().to_string(),
            Self::S3(c) => s3::url::show(c),
            Self::Rest(c) => rest::url::show(c),
            Self::Sftp(c) => sftp::url::show(c),
            Self::Azure(c) => azure::url::show(c),
            Self::WebDav(c) => webdav::url::show(c),
            Self::Ftp(c) => ftp::url::show(c),
            Self::Rclone(c) => format!("rclone:{}", c.target()),
        }
    }

    /// Where its backup directory is, for telling whether two destinations share one: the
    /// place shown, without a trailing `/`; a local folder that exists as its real path (links
    /// and `..` resolved).
    pub fn place(&self) -> String {
        if let Self::Local(p) = self
            && let Ok(real) = std::fs::canonicalize(p)
        {
            return real.display().to_string();
        }
        let shown = self.show();
        shown.trim_end_matches('/').to_string()
    }

    /// Opens the destination (no request is made yet).
    pub fn open(&self) -> Result<Destination, Error> {
        fn opened<T>(what: &str, made: Result<T, IoError>) -> Result<Box<T>, Error> {
            made.map(Box::new)
                .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid {what} destination: {e}")))
        }
        Ok(match self {
            Self::Local(p) => Destination::Local(Box::new(LocalBackend::new(p))),
            Self::S3(c) => Destination::S3(opened("S3", S3Backend::new((**c).clone()))?),
            Self::Rest(c) => Destination::Rest(opened("REST", RestBackend::new((**c).clone()))?),
            Self::Sftp(c) => Destination::Sftp(opened("SFTP", SftpBackend::new((**c).clone()))?),
            Self::Azure(c) => Destination::Azure(opened("Azure", AzureBackend::new((**c).clone()))?),
            Self::WebDav(c) => Destination::WebDav(opened("WebDAV", WebDavBackend::new((**c).clone()))?),
            Self::Ftp(c) => Destination::Ftp(opened("FTP", FtpBackend::new((**c).clone()))?),
            Self::Rclone(c) => Destination::Rest(Box::new(RestBackend::rclone((**c).clone()))),
        })
    }
}

/// Credentials from outside the URL (environment, flags, catalog): the secrets of every slot,
/// and what else a type takes from outside its URL.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The secrets (S3 secret key, REST, SSH, Azure, WebDAV and FTP ones).
    pub secrets: DestinationSecrets,
    /// The S3 access key id.
    pub access_key: Option<String>,
    /// The session token of temporary S3 credentials.
    pub session_token: Option<Secret>,
    /// The SSH private key file (a `key=` in the URL wins).
    pub ssh_key: Option<PathBuf>,
    /// A host key fingerprint (`SHA256:...`) the user accepted.
    pub accept_host_key: Option<String>,
    /// The `known_hosts` file [default: `~/.ssh/known_hosts`].
    pub known_hosts: Option<PathBuf>,
}

/// Parses a destination URL (see the [module docs](self)).
pub fn parse_destination(url: &str, credentials: Credentials) -> Result<DestinationUrl, Error> {
    if let Some(rest) = url.strip_prefix("s3:") {
        return s3::url::parse(url, rest, credentials).map(|c| DestinationUrl::S3(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("webdav:") {
        return webdav::url::parse(url, rest, credentials.secrets.webdav_password)
            .map(|c| DestinationUrl::WebDav(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("azure:") {
        return azure::url::parse(url, rest, credentials).map(|c| DestinationUrl::Azure(Box::new(c)));
    }
    if url.starts_with("ftp://") || url.starts_with("ftps://") {
        return ftp::url::parse(url, credentials.secrets.ftp_password).map(|c| DestinationUrl::Ftp(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("rclone:") {
        return rest::url::parse_rclone(url, rest).map(|c| DestinationUrl::Rclone(Box::new(c)));
    }
    if url.starts_with("sftp://") {
        return sftp::url::parse(url, credentials).map(|c| DestinationUrl::Sftp(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("rest:") {
        return rest::url::parse(url, rest, credentials.secrets.rest_password)
            .map(|c| DestinationUrl::Rest(Box::new(c)));
    }
    let path = if let Some(p) = url.strip_prefix("local:") {
        p
    } else if let Some((scheme, _)) = url.split_once(':').filter(|(s, _)| is_scheme(s)) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("destination type \"{scheme}:\" is not supported by this build"),
        )
        .with_hint("use a directory path, local:PATH, or s3:https://HOST/BUCKET/DIR"));
    } else {
        url
    };
    if path.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "the repository path is empty"));
    }
    let path = std::path::absolute(path)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid repository path {path:?}: {e}")))?;
    Ok(DestinationUrl::Local(path))
}

fn is_scheme(s: &str) -> bool {
    s.len() > 1 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
}

/// An open destination of any type.
#[derive(Debug)]
#[non_exhaustive]
pub enum Destination {
    /// A local directory.
    Local(Box<LocalBackend>),
    /// An S3-compatible bucket.
    S3(Box<S3Backend>),
    /// A restic REST server.
    Rest(Box<RestBackend>),
    /// A directory on an SFTP server.
    Sftp(Box<SftpBackend>),
    /// An Azure Blob container.
    Azure(Box<AzureBackend>),
    /// A WebDAV folder.
    WebDav(Box<WebDavBackend>),
    /// A folder on an FTP server.
    Ftp(Box<FtpBackend>),
}

/// `$body` with `$s` bound to the [`PathStore`] of `$dest`, or `$rest` with `$r` bound to the
/// REST backend, which keeps only a repository's own objects; without a `rest` arm, `$body` for
/// every type alike. The one list of the types that dispatch walks.
macro_rules! dispatch {
    ($dest:expr, $s:ident => $body:expr, rest $r:pat => $rest:expr) => {
        match $dest {
            Destination::Rest($r) => $rest,
            Destination::Local($s) => $body,
            Destination::S3($s) => $body,
            Destination::Sftp($s) => $body,
            Destination::Azure($s) => $body,
            Destination::WebDav($s) => $body,
            Destination::Ftp($s) => $body,
        }
    };
    ($dest:expr, $s:ident => $body:expr) => {
        dispatch!($dest, $s => $body, rest $s => $body)
    };
}

impl Storage for Destination {
    fn properties(&self) -> StorageProperties {
        dispatch!(self, s => Storage::properties(&**s))
    }
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        dispatch!(self, s => s.list(kind).await)
    }
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        dispatch!(self, s => s.read(handle, range).await)
    }
    async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        dispatch!(self, s => s.read_into(handle, range, buf).await)
    }
    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        dispatch!(self, s => s.write(handle, data, mode).await)
    }
    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        dispatch!(self, s => s.remove(handle).await)
    }
}

/// How long a temporary file must have been left alone before [`Destination::remove_stale_temporaries`]
/// takes it for a leftover of an interrupted upload: an upload in progress changes its file
/// all the time, and a process that holds a lock refreshes it far more often than this.
pub const STALE_TEMPORARY_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

impl Destination {
    /// Removes the temporary files that interrupted uploads left (`.tmp-*` on local disks,
    /// `.cairn-tmp-*` over SFTP and WebDAV, `cairn-tmp-*` over FTP), if last changed more than
    /// `older_than` ago; returns how many. Call it holding the exclusive lock (prune does).
    /// Object stores keep no temporary objects (a failed multipart upload, archives only, is
    /// aborted; one that a killed process left is for the bucket's lifecycle rules) and a REST
    /// server keeps its own.
    pub async fn remove_stale_temporaries(&self, older_than: std::time::Duration) -> Result<u64, IoError> {
        dispatch!(self, s => side_files::remove_stale_temporaries(&**s, older_than).await, rest _ => Ok(0))
    }

    /// Refuses, before anything is changed, an operation that deletes data on a destination
    /// that does not allow deleting (an append-only REST server), saying so.
    pub async fn ensure_deletes_allowed(&self, operation: &str) -> Result<(), Error> {
        let allowed = match self {
            Self::Rest(r) => r.allows_deletes().await.map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?,
            _ => true,
        };
        if allowed {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("{operation} deletes data, and this REST server is append-only: it refuses deletes"),
        )
        .with_hint("run it against the server started without --append-only (backups and restores work as they are)"))
    }
}

/// Files beside the repository, outside its format (see [`crate::backend::side_files`]). A restic REST
/// server holds only a repository's own objects, so it has none.
impl Destination {
    fn no_side_files() -> IoError {
        crate::http::error(
            cairn_core::IoErrorKind::Unsupported,
            "a REST server (rclone's included) stores only repository objects, not other files",
        )
    }

    /// Whether this destination can hold files beside the repository.
    pub fn has_side_files(&self) -> bool {
        dispatch!(self, _s => true, rest _ => false)
    }

    /// Writes (replacing) the file `name` beside the repository.
    pub async fn put_file(&self, name: &str, data: Bytes) -> Result<(), IoError> {
        let body = Body::Bytes(&data);
        dispatch!(self, s => side_files::put(&**s, name, body, WriteMode::Replace).await, rest _ => Err(Self::no_side_files()))
    }

    /// Reads the file `name` beside the repository (at most `max_len` bytes).
    pub async fn get_file(&self, name: &str, max_len: u64) -> Result<Bytes, IoError> {
        dispatch!(self, s => side_files::get(&**s, name, max_len).await, rest _ => Err(IoError::from_kind(cairn_core::IoErrorKind::NotFound)))
    }

    /// Writes the file `name` beside the repository from the local file `src` of `size` bytes,
    /// streamed: memory stays bounded whatever the size. With [`WriteMode::CreateNew`] a file
    /// already there is kept and the write fails with `AlreadyExists`.
    pub async fn put_file_from(
        &self,
        name: &str,
        src: &std::fs::File,
        size: u64,
        mode: WriteMode,
    ) -> Result<(), IoError> {
        let body = Body::File { src, size };
        dispatch!(self, s => side_files::put(&**s, name, body, mode).await, rest _ => Err(Self::no_side_files()))
    }

    /// Copies the file `name` beside the repository, `size` bytes long (as listed), into `out`,
    /// a few MiB at a time.
    pub async fn get_file_into(&self, name: &str, size: u64, out: &mut impl std::io::Write) -> Result<(), IoError> {
        dispatch!(self, s => side_files::get_into(&**s, name, size, out).await, rest _ => Err(IoError::from_kind(cairn_core::IoErrorKind::NotFound)))
    }

    /// The files directly in `dir` beside the repository, with their sizes, sorted by name.
    pub async fn list_files(&self, dir: &str) -> Result<Vec<(String, u64)>, IoError> {
        dispatch!(self, s => side_files::list(&**s, dir).await, rest _ => Ok(Vec::new()))
    }

    /// Free bytes on the destination, where it can tell (local disks; SFTP servers with the
    /// `statvfs` extension). Object stores and REST have no such notion.
    pub async fn free_space(&self) -> Result<Option<u64>, IoError> {
        dispatch!(self, s => PathStore::free_space(&**s).await, rest _ => Ok(None))
    }

    /// Removes the file `name` beside the repository (absent is fine).
    pub async fn remove_file(&self, name: &str) -> Result<(), IoError> {
        dispatch!(self, s => side_files::remove(&**s, name).await, rest _ => Ok(()))
    }
}

/// A destination as commands use it: writable, or wrapped in [`ReadOnly`] so that nothing can
/// write to it (a read-only destination is restored from and browsed, never written).
#[derive(Debug)]
pub enum Access {
    /// Reads and writes.
    Writable(Destination),
    /// Reads only: writes and removals fail before reaching the destination.
    ReadOnly(ReadOnly<Destination>),
}

impl Access {
    /// `destination`, read-only if `read_only`.
    pub fn new(destination: Destination, read_only: bool) -> Self {
        if read_only { Self::ReadOnly(ReadOnly::new(destination)) } else { Self::Writable(destination) }
    }

    /// Whether writes are refused.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Self::ReadOnly(_))
    }

    /// The destination, for reading and for questions about it.
    pub fn destination(&self) -> &Destination {
        match self {
            Self::Writable(d) => d,
            Self::ReadOnly(r) => r.inner(),
        }
    }

    /// The destination for writing, or the error that says it is read-only.
    pub fn writable(&self, operation: &str) -> Result<&Destination, Error> {
        match self {
            Self::Writable(d) => Ok(d),
            Self::ReadOnly(_) => Err(read_only_error(operation)),
        }
    }

    /// As [`Destination::ensure_deletes_allowed`], and refused on a read-only destination.
    pub async fn ensure_deletes_allowed(&self, operation: &str) -> Result<(), Error> {
        self.writable(operation)?.ensure_deletes_allowed(operation).await
    }
}

/// The error for an operation that would write to a read-only destination.
pub fn read_only_error(operation: &str) -> Error {
    Error::new(ErrorKind::PermissionDenied, format!("{operation} writes to the destination, and it is read-only"))
        .with_hint("read-only destinations are for restoring and browsing; back up to a writable destination")
}

impl Storage for Access {
    fn properties(&self) -> StorageProperties {
        self.destination().properties()
    }
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        self.destination().list(kind).await
    }
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        self.destination().read(handle, range).await
    }
    async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        self.destination().read_into(handle, range, buf).await
    }
    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        match self {
            Self::Writable(d) => d.write(handle, data, mode).await,
            Self::ReadOnly(r) => r.write(handle, data, mode).await,
        }
    }
    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        match self {
            Self::Writable(d) => d.remove(handle).await,
            Self::ReadOnly(r) => r.remove(handle).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::ftp::FtpTls;
    use crate::backend::sftp::SftpAuth;

    proptest::proptest! {
        #![proptest_config(crate::hostile::config(4000))]
        /// Destination URLs as users (or a damaged catalog row) may give them: parsed or
        /// refused with a reason, never a panic.
        #[test]
        fn hostile_urls_never_panic(url in crate::hostile::text(&[
            "s3:https://s3.eu-central-1.wasabisys.com/bucket/dir?region=eu-central-1&retries=3&path-style=true",
            "sftp://me@[::1]:2222/srv/backup?key=/k&host-key=SHA256:abc&known-hosts=/kh&connections=4",
            "rest:https://me@host:8000/repo/?retries=1&stall-timeout=5",
            "/home/me/backup",
            "s3:http://127.0.0.1:9000/b?vendor=custom&endpoint=https://{bucket}.x.{region}.y&storage-class=GLACIER",
            "sftp://%ff%00@h:99999999999//..//x?retries=-1&&=&key",
            "azure:myaccount/backups/laptop?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Fmyaccount&access-tier=Cool",
            "webdav:https://me@cloud.example.com/remote.php/dav/files/me/B%20x?verify-tls=false&connections=2",
        ])) {
            let _ = parse_destination(&url, creds());
        }
    }

    fn creds() -> Credentials {
        let secrets = DestinationSecrets {
            s3_secret_key: Some(Secret::new(b"SK".to_vec())),
            azure_key: Some(Secret::new(b"a2V5".to_vec())),
            webdav_password: Some(Secret::new(b"pw".to_vec())),
            ..Default::default()
        };
        Credentials {
            secrets,
            access_key: Some("AK".into()),
            ssh_key: Some("/keys/id".into()),
            ..Credentials::default()
        }
    }

    fn s3(url: &str) -> Result<S3Config, Error> {
        match parse_destination(url, creds())? {
            DestinationUrl::S3(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls() {
        let c = s3("s3:https://s3.eu-west-1.amazonaws.com/my-bucket/backups/laptop").unwrap();
        assert_eq!(
            (c.endpoint.as_str(), c.bucket.as_str(), c.directory.as_str()),
            ("https://s3.eu-west-1.amazonaws.com", "my-bucket", "/backups/laptop")
        );
        assert_eq!(c.region, "eu-west-1");
        assert!(!c.path_style);
        let c = s3("s3:http://127.0.0.1:9000/bucket?region=eu-1&retries=5&verify-tls=false").unwrap();
        assert!(c.path_style && !c.connection.verify_tls);
        assert_eq!((c.directory.as_str(), c.region.as_str(), c.connection.retries), ("/", "eu-1", 5));
        let c = s3("s3:https://s3.eu-central-2.wasabisys.com/bucket/dir?vendor=wasabi&region=eu-central-2").unwrap();
        assert!(!c.path_style);
        assert!(s3("s3:https://x.example/bucket?vendor=wasabi&region=moon").is_err());
        let c = s3("s3:wasabi/bucket/dir?region=eu-central-2").unwrap();
        assert_eq!(c.endpoint, "https://s3.eu-central-2.wasabisys.com");
        let c = s3("s3:r2/bucket?account=abc123").unwrap();
        assert_eq!(c.endpoint, "https://abc123.r2.cloudflarestorage.com");
        let c = s3("s3:custom/bucket/d?endpoint=https://{bucket}.s3.{region}.example.com&region=x-1").unwrap();
        assert_eq!((c.endpoint.as_str(), c.path_style), ("https://s3.x-1.example.com", false));
        let shown = parse_destination("s3:https://h.example/b-1/dir", creds()).unwrap().show();
        assert_eq!(shown, "s3:https://h.example/b-1/dir");

        let err = |u: &str| {
            let e = s3(u).unwrap_err();
            format!("{e} {}", e.hint().unwrap_or(""))
        };
        assert!(err("s3:https://h/b-1/dir?secret-key=x").contains("AWS_SECRET_ACCESS_KEY"));
        assert!(err("s3:https://h/b-1?color=red").contains("unknown option \"color\""));
        assert!(err("s3:https://h/b-1/my dir").contains("' '"));
        assert!(err("s3:https://h/").contains("no bucket"));
        assert!(err("s3:https://h/Bad_Bucket").contains("not a bucket name"));
        assert!(err("s3:nowhere/bucket").contains("unknown vendor"));
        assert!(err("s3:wasabi/bucket?region=mars-1").contains("regions: us-east-1"));
        assert!(err("s3:r2/bucket").contains("account"));
        assert!(err("s3:https://h/b-1?retries=many").contains("retries"));
        let none = parse_destination("s3:https://h/b-1", Credentials::default()).unwrap_err();
        assert!(none.hint().unwrap().contains("AWS_ACCESS_KEY_ID"));
        assert!(parse_destination("gopher://x", creds()).unwrap_err().to_string().contains("not supported"));
        // FTP: relative and absolute paths, the TLS choice, no password in the URL.
        let DestinationUrl::Ftp(f) = parse_destination("ftp://x", creds()).unwrap() else { panic!() };
        assert_eq!((f.host.as_str(), f.port, f.user.as_str(), f.directory.as_str()), ("x", 21, "anonymous", ""));
        assert_eq!(f.tls, FtpTls::IfOffered);
        let mut with_pw = creds();
        with_pw.secrets.ftp_password = Some(Secret::new(b"pw".to_vec()));
        let DestinationUrl::Ftp(f) = parse_destination("ftps://me@[::1]:2121//srv/b%20x/?retries=1", with_pw).unwrap()
        else {
            panic!()
        };
        assert_eq!((f.host.as_str(), f.port, f.user.as_str(), f.directory.as_str()), ("::1", 2121, "me", "/srv/b x"));
        assert_eq!((f.tls, f.connection.retries), (FtpTls::Required, 1));
        assert!(err("ftp://me:pw@x/y").contains("CAIRN_FTP_PASSWORD"));
        assert!(err("ftp://me@x/y").contains("no password") || err("ftp://me@x/y").contains("CAIRN_FTP_PASSWORD"));
        assert!(err("ftp://x/a/../b").contains(".."));
        assert!(err("ftps://x/y?tls=off").contains("always uses TLS"));
        assert!(err("ftp://x:0/y").contains("port"));
        // rclone: a configured remote or an on-the-fly backend, a path on it, no credentials.
        let DestinationUrl::Rclone(r) = parse_destination("rclone:gdrive:Backups/My%20Laptop/", creds()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (r.remote.as_str(), r.path.as_str(), r.target()),
            ("gdrive", "Backups/My Laptop", "gdrive:Backups/My Laptop".into())
        );
        assert_eq!(DestinationUrl::Rclone(r).show(), "rclone:gdrive:Backups/My Laptop");
        let DestinationUrl::Rclone(r) =
            parse_destination("rclone::local:/srv/b?retries=7&connections=2", creds()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (r.remote.as_str(), r.path.as_str(), r.connection.retries, r.connection.connections),
            (":local", "/srv/b", 7, 2)
        );
        assert!(parse_destination("rclone:my remote:", creds()).is_ok(), "a remote's root");
        assert!(err("rclone:gdrive").contains("rclone:REMOTE:PATH"));
        assert!(err("rclone::s3,secret_access_key=x:b").contains("credentials"));
        assert!(err("rclone:--config=/x:b").contains("not an rclone remote name"));
        assert!(err("rclone::b").contains("rclone:REMOTE:PATH"));
        assert!(err("rclone:::b").contains("not an rclone remote name"));
        assert!(err("rclone:r:a/../b").contains(".."));
        assert!(err("rclone:r:b?verify-tls=false").contains("unknown option"));
        let DestinationUrl::Rest(r) =
            parse_destination("rest:https://me:p%40ss@host:8000/repo/?retries=1", creds()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (r.url.as_str(), r.user.as_deref(), r.connection.retries),
            ("https://host:8000/repo", Some("me"), 1)
        );
        assert_eq!(r.password.as_ref().unwrap().expose(), b"p@ss");
        let shown = DestinationUrl::Rest(r).show();
        assert_eq!(shown, "rest:https://me@host:8000/repo", "no password shown");
        assert!(
            parse_destination("rest:https://me@host/r", creds())
                .unwrap_err()
                .hint()
                .unwrap()
                .contains("CAIRN_REST_PASSWORD")
        );
        assert!(parse_destination("rest:ftp://host/r", creds()).is_err());
        let DestinationUrl::Sftp(c) =
            parse_destination("sftp://me@nas.local:2222/srv/backup/?retries=5", creds()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str(), c.directory.as_str(), c.connection.retries),
            ("nas.local", 2222, "me", "/srv/backup", 5)
        );
        assert!(matches!(&c.auth, SftpAuth::Key { path, .. } if path == std::path::Path::new("/keys/id")));
        assert_eq!(DestinationUrl::Sftp(c).show(), "sftp://me@nas.local:2222/srv/backup");
        let DestinationUrl::Sftp(c) = parse_destination("sftp://me@h/d?key=/other", creds()).unwrap() else { panic!() };
        assert_eq!(c.port, 22);
        assert!(matches!(&c.auth, SftpAuth::Key { path, .. } if path == std::path::Path::new("/other")));
        assert!(parse_destination("sftp://me@h", creds()).unwrap_err().to_string().contains("no directory"));
        assert!(parse_destination("sftp://me@h:x/d", creds()).unwrap_err().to_string().contains("is not a port"));
    }
}

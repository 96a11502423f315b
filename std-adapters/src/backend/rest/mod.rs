//! The restic REST server destination (protocol v2), as served by restic's `rest-server` and by
//! `rclone serve restic`.
//!
//! Objects are `BASE/config` and `BASE/<type>/<name>` with types `keys`, `snapshots`, `index`,
//! `data` and `locks` (the server files packs under `data/<2 hex>/` itself). Reads are GETs with
//! a `Range` header; the last bytes of an object are found with a HEAD first (servers answer a
//! suffix range longer than the object differently). Listings ask for
//! `application/vnd.x.restic.rest.v2` (names and sizes, as JSON). Writes are POSTs; the protocol
//! has no create-only write, so [`WriteMode::CreateNew`] goes through claims
//! ([`crate::backend::claim`]).
//! An append-only server refuses deletes (and overwriting data): removal fails with a message
//! that says so, and rewriting an object that exists under its content-derived name succeeds.
//! Requests are retried as for S3 ([`crate::http`]).

pub(crate) mod rclone;
pub(crate) mod url;

use std::fmt;

use bytes::Bytes;
use cairn_core::{
    FileKind, Handle, Id, IoError, IoErrorKind, ObjectInfo, ReadRange, Storage, StorageProperties, WriteMode,
};
use serde::Deserialize;

use crate::backend::connection::ConnectionOptions;
use crate::http::{Answer, BasicHttp, error};
use crate::secret::Secret;

/// Where and how to reach a REST server.
#[derive(Clone)]
#[non_exhaustive]
pub struct RestConfig {
    /// `https://host[:port]/path` (no user name or password in it).
    pub url: String,
    /// Basic authentication user.
    pub user: Option<String>,
    /// Basic authentication password.
    pub password: Option<Secret>,
    /// TLS, retries, stall timeout, connections at once.
    pub connection: ConnectionOptions,
}

impl fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "**redacted**"))
            .finish_non_exhaustive()
    }
}

impl RestConfig {
    /// A configuration with the defaults: TLS verified, 3 retries, 60 s stall timeout, 4
    /// connections, no authentication.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            user: None,
            password: None,
            connection: ConnectionOptions::default(),
        }
    }
}

/// How requests reach the server: over HTTP(S), or to a child `rclone serve restic --stdio`.
enum Transport {
    Http(BasicHttp),
    Rclone(Box<crate::backend::rest::rclone::RcloneBridge>),
}

impl Transport {
    async fn exchange(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        limit: u64,
    ) -> Result<Answer, IoError> {
        match self {
            Self::Http(h) => h.exchange(method, url, headers, body, limit).await,
            Self::Rclone(r) => r.exchange(method, url, headers, body, limit).await,
        }
    }
}

/// A repository on a REST server.
pub struct RestBackend {
    config: RestConfig,
    http: Transport,
    /// Who answers, for messages: "the REST server", or "rclone" with its remote.
    server: String,
}

impl fmt::Debug for RestBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestBackend").field("config", &self.config).finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct ListEntry {
    name: String,
    size: u64,
}

/// Largest listing accepted (about 400,000 entries).
const MAX_LISTING: u64 = 64 << 20;

impl RestBackend {
    /// A backend for `config` (no request is made yet).
    pub fn new(config: RestConfig) -> Result<Self, IoError> {
        let rest =
            config.url.strip_prefix("https://").or_else(|| config.url.strip_prefix("http://")).ok_or_else(|| {
                error(IoErrorKind::InvalidData, format!("the REST URL {:?} must start with https://", config.url))
            })?;
        let authority = rest.split('/').next().unwrap_or_default().to_string();
        if authority.is_empty() || authority.contains('@') {
            return Err(error(IoErrorKind::InvalidData, "the REST URL needs a host (and no user name in it)"));
        }
        let http = BasicHttp::new(&authority, config.user.clone(), config.password.clone(), &config.connection)?;
        Ok(Self { config, http: Transport::Http(http), server: "the REST server".to_string() })
    }

    /// A repository on an rclone remote, through a child `rclone serve restic --stdio`
    /// ([`crate::backend::rest::rclone`]).
    pub fn rclone(config: crate::backend::rest::rclone::RcloneConfig) -> Self {
        let mut rest = RestConfig::new("http://rclone");
        rest.connection = config.connection;
        let server = format!("rclone (serving {})", config.target());
        Self {
            config: rest,
            http: Transport::Rclone(Box::new(crate::backend::rest::rclone::RcloneBridge::new(config))),
            server,
        }
    }

    fn url_of(&self, handle: &Handle) -> String {
        match handle.kind {
            FileKind::Config => format!("{}/config", self.config.url),
            kind => format!("{}/{}/{}", self.config.url, kind.dir(), handle.id.to_hex()),
        }
    }

    fn failure(&self, what: &str, a: &Answer) -> IoError {
        let (kind, message) = match a.status {
            401 => (
                IoErrorKind::PermissionDenied,
                format!("{} refused the user name or password: check them", self.server),
            ),
            403 => (IoErrorKind::PermissionDenied, format!("{} forbids {what}", self.server)),
            404 => (IoErrorKind::NotFound, format!("{what}: not found")),
            416 => (IoErrorKind::InvalidData, format!("{what}: the object is shorter than the range asked for")),
            429 | 500..=599 => (
                IoErrorKind::Unavailable,
                format!(
                    "{} is busy or failing (HTTP {}), after {} retries",
                    self.server, a.status, self.config.connection.retries
                ),
            ),
            s => (IoErrorKind::Other, format!("{what}: {} answered HTTP {s}", self.server)),
        };
        error(kind, message)
    }

    /// The size of an object, or `None` if it does not exist.
    async fn size_of(&self, handle: &Handle) -> Result<Option<u64>, IoError> {
        let url = self.url_of(handle);
        let a = self.http.exchange(reqwest::Method::HEAD, &url, &[], Bytes::new(), 0).await?;
        match a.status {
            404 => Ok(None),
            _ if a.ok() => Ok(a.header("content-length").and_then(|v| v.parse().ok())),
            _ => Err(self.failure(&format!("reading {}", handle.path()), &a)),
        }
    }

    /// Whether the server lets data be deleted (false for an append-only server). Asks to delete
    /// a pack that cannot exist: an append-only server refuses before looking.
    pub async fn allows_deletes(&self) -> Result<bool, IoError> {
        let url = format!("{}/data/{}", self.config.url, "0".repeat(64));
        let a = self
            .http
            .exchange(reqwest::Method::DELETE, &url, &[], Bytes::new(), crate::http::MAX_SMALL_BODY as u64)
            .await?;
        match a.status {
            403 => Ok(false),
            401 => Err(self.failure("deleting", &a)),
            _ => Ok(true),
        }
    }

    /// Asks the server to create the repository's directories (`POST /?create=true`).
    async fn create_repository(&self) -> Result<(), IoError> {
        let url = format!("{}/?create=true", self.config.url);
        let a = self
            .http
            .exchange(reqwest::Method::POST, &url, &[], Bytes::new(), crate::http::MAX_SMALL_BODY as u64)
            .await?;
        if a.ok() { Ok(()) } else { Err(self.failure("creating the repository", &a)) }
    }
}

impl Storage for RestBackend {
    fn properties(&self) -> StorageProperties {
        StorageProperties::new(self.config.connection.connections)
    }

    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        if kind == FileKind::Config {
            let size = self.size_of(&Handle::CONFIG).await?;
            return Ok(size.map(|size| ObjectInfo { id: Id::ZERO, size }).into_iter().collect());
        }
        let url = format!("{}/{}/", self.config.url, kind.dir());
        let accept = [("accept", "application/vnd.x.restic.rest.v2".to_string())];
        let a = self.http.exchange(reqwest::Method::GET, &url, &accept, Bytes::new(), MAX_LISTING).await?;
        if a.status == 404 {
            return Ok(Vec::new());
        }
        if !a.ok() {
            return Err(self.failure(&format!("listing {}", kind.dir()), &a));
        }
        let entries: Vec<ListEntry> = serde_json::from_slice(&a.body).map_err(|e| {
            error(
                IoErrorKind::InvalidData,
                format!("the listing of {} by {} does not parse: {e}", kind.dir(), self.server),
            )
        })?;
        Ok(entries
            .into_iter()
            .filter_map(|e| Id::from_hex(&e.name).ok().map(|id| ObjectInfo { id, size: e.size }))
            .collect())
    }

    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        let size = || async {
            self.size_of(handle)
                .await?
                .ok_or_else(|| error(IoErrorKind::NotFound, format!("{} does not exist", handle.path())))
        };
        let Some((span, limit)) = crate::http::read_plan(range, size).await? else { return Ok(Bytes::new()) };
        let headers: Vec<(&str, String)> =
            span.map(|s| vec![("range", crate::http::range_header(s))]).unwrap_or_default();
        let url = self.url_of(handle);
        let a = self.http.exchange(reqwest::Method::GET, &url, &headers, Bytes::new(), limit).await?;
        if !a.ok() {
            return Err(self.failure(&format!("reading {}", handle.path()), &a));
        }
        crate::http::check_span(span, &a.body, &handle.path())?;
        Ok(a.body)
    }

    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        if handle.kind == FileKind::Config {
            self.create_repository().await?;
        }
        if mode == WriteMode::CreateNew {
            return Box::pin(crate::backend::claim::create_new(self, handle, data)).await;
        }
        let url = self.url_of(handle);
        let a = self
            .http
            .exchange(reqwest::Method::POST, &url, &[], data.clone(), crate::http::MAX_SMALL_BODY as u64)
            .await?;
        if a.ok() {
            return Ok(());
        }
        // An append-only server refuses to overwrite, but lets locks be deleted: a lock is
        // refreshed by deleting and writing it again (no prune can run there anyway).
        if a.status == 403 && handle.kind == FileKind::Lock && mode == WriteMode::Replace {
            self.remove(handle).await?;
            let again =
                self.http.exchange(reqwest::Method::POST, &url, &[], data, crate::http::MAX_SMALL_BODY as u64).await?;
            return if again.ok() { Ok(()) } else { Err(self.failure(&format!("writing {}", handle.path()), &again)) };
        }
        // An object that is there under its content-derived name (packs, index, snapshots,
        // keys) already holds these bytes.
        if a.status == 403
            && mode == WriteMode::Replace
            && !matches!(handle.kind, FileKind::Lock | FileKind::Config)
            && self.size_of(handle).await? == Some(data.len() as u64)
        {
            return Ok(());
        }
        Err(self.failure(&format!("writing {}", handle.path()), &a))
    }

    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        let url = self.url_of(handle);
        let a = self
            .http
            .exchange(reqwest::Method::DELETE, &url, &[], Bytes::new(), crate::http::MAX_SMALL_BODY as u64)
            .await?;
        match a.status {
            404 => Ok(()),
            403 => Err(error(
                IoErrorKind::ReadOnly,
                format!(
                    "{} refuses to delete {} (it runs in append-only mode): forget and prune need a server \
                     without --append-only; backups and restores still work",
                    self.server,
                    handle.path()
                ),
            )),
            _ if a.ok() => Ok(()),
            _ => Err(self.failure(&format!("deleting {}", handle.path()), &a)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(crate::hostile::config(4000))]
        /// A hostile REST server's listing decodes to a value or an error, never a panic.
        #[test]
        fn hostile_listings_never_panic(body in crate::hostile::bytes(vec![
            br#"[{"name":"abab","size":12},{"name":"cd","size":18446744073709551615}]"#.to_vec(),
            br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]"#.to_vec(),
            br#"[{"name":"\ud800","size":-1}]"#.to_vec(),
        ])) {
            let _ = serde_json::from_slice::<Vec<ListEntry>>(&body);
        }
    }
}

//! The WebDAV destination (RFC 4918): a repository in a directory of a WebDAV server (Nextcloud,
//! ownCloud, a NAS, Apache `mod_dav`, `rclone serve webdav`), with basic authentication over
//! HTTPS (TLS verified unless turned off).
//!
//! Objects are files named as on every path-like store (`DIR/data/ab/abcd...`, `DIR/index/...`).
//!
//! - **Writes** go to a temporary file (`.cairn-tmp-*`) in the object's directory, then `MOVE`
//!   into place, so that no reader ever sees half an object. [`WriteMode::CreateNew`] moves with
//!   `Overwrite: F`, which a server must refuse (412) when the name is taken: two writers can
//!   never both create one lock. Missing directories are made with `MKCOL`, once each.
//! - **Reads** are ranged GETs; the last bytes of a file are found with a `PROPFIND` of its size
//!   first. A body longer than asked for is refused before it is buffered.
//! - **Listing** is `PROPFIND` with `Depth: 1`, directory by directory (`Depth: infinity` is
//!   often disabled), parsed by local element names whatever the namespace prefixes.
//! - **Retries** as for S3 ([`crate::http`]).

pub(crate) mod url;

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{IoError, IoErrorKind, ReadRange, StorageProperties, WriteMode};
use rand_core::Rng;

use crate::backend::connection::ConnectionOptions;
use crate::backend::path_store::{Body, FolderEntry, PathStore};
use crate::http::{Answer, BasicHttp, MAX_SMALL_BODY, error, percent_encode};
use crate::secret::Secret;

/// Where and how to reach a WebDAV directory.
#[derive(Clone)]
#[non_exhaustive]
pub struct WebDavConfig {
    /// `https://host[:port]/path` of the backup directory, the path not percent-encoded (no user
    /// name or password in it).
    pub url: String,
    /// Basic authentication user.
    pub user: Option<String>,
    /// Basic authentication password.
    pub password: Option<Secret>,
    /// TLS, retries, stall timeout, connections at once.
    pub connection: ConnectionOptions,
}

impl fmt::Debug for WebDavConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebDavConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "**redacted**"))
            .finish_non_exhaustive()
    }
}

impl WebDavConfig {
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

/// A repository in a WebDAV directory.
pub struct WebDavBackend {
    config: WebDavConfig,
    http: BasicHttp,
    /// `https://host[:port]`.
    origin: String,
    /// The backup directory's path on the server, percent-encoded, without a trailing `/`.
    base: String,
    /// Directories known to exist (relative to the backup directory).
    made: RefCell<HashSet<String>>,
}

impl fmt::Debug for WebDavBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebDavBackend").field("config", &self.config).finish_non_exhaustive()
    }
}

/// One entry of a `PROPFIND` answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DavEntry {
    /// The `href`, percent-decoded.
    pub(crate) href: String,
    pub(crate) is_dir: bool,
    pub(crate) size: u64,
    /// Seconds since the epoch, when the server gave `getlastmodified`.
    pub(crate) modified: Option<i64>,
}

/// Largest `PROPFIND` answer accepted (about 100,000 entries).
/// How often a MOVE that the server answers 423 Locked is asked again (about 1.5 s in all).
const MOVE_RETRIES: u32 = 7;
const MAX_LISTING: u64 = 64 << 20;

/// Parses a `207 Multi-Status` answer: every `response` with its `href`, size, type and time.
/// Element names are compared by their local part, so any namespace prefix works.
pub(crate) fn parse_multistatus(body: &[u8]) -> Result<Vec<DavEntry>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut entry = DavEntry::default();
    let mut in_response = false;
    let mut current = Vec::<u8>::new();
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| e.to_string())?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                if name == b"response" {
                    in_response = true;
                    entry = DavEntry::default();
                } else if name == b"collection" && in_response {
                    entry.is_dir = true;
                }
                current = name;
            }
            Event::Empty(e) if e.local_name().as_ref() == b"collection" && in_response => {
                entry.is_dir = true;
            }
            Event::Text(t) if in_response => {
                let text = t.xml10_content().map_err(|e| e.to_string())?;
                match current.as_slice() {
                    b"href" => entry.href.push_str(&crate::http::percent_decode(text.trim())),
                    b"getcontentlength" => entry.size = text.trim().parse().unwrap_or(0),
                    b"getlastmodified" => {
                        entry.modified = jiff::fmt::rfc2822::parse(text.trim()).ok().map(|z| z.timestamp().as_second())
                    }
                    _ => {}
                }
            }
            Event::End(e) => {
                if e.local_name().as_ref() == b"response" && in_response {
                    in_response = false;
                    out.push(std::mem::take(&mut entry));
                }
                current.clear();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        if out.len() > 1_000_000 {
            return Err("more than a million entries".into());
        }
    }
    Ok(out)
}

const PROPFIND_BODY: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:propfind xmlns:D=\"DAV:\"><D:prop>\
<D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>";

impl WebDavBackend {
    /// A backend for `config` (no request is made yet).
    pub fn new(config: WebDavConfig) -> Result<Self, IoError> {
        let url = config.url.trim_end_matches('/');
        let (scheme, rest) =
            url.split_once("://").filter(|(s, _)| matches!(*s, "http" | "https")).ok_or_else(|| {
                error(IoErrorKind::InvalidData, format!("the WebDAV URL {url:?} must start with https://"))
            })?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() || authority.contains('@') {
            return Err(error(IoErrorKind::InvalidData, "the WebDAV URL needs a host (and no user name in it)"));
        }
        let http = BasicHttp::new(authority, config.user.clone(), config.password.clone(), &config.connection)?;
        let base = match path.trim_matches('/') {
            "" => String::new(),
            p => format!("/{}", percent_encode(p, true)),
        };
        Ok(Self { origin: format!("{scheme}://{authority}"), base, config, http, made: RefCell::new(HashSet::new()) })
    }

    /// The URL of `rel` (relative to the backup directory; `""` is the directory itself).
    fn url(&self, rel: &str) -> String {
        if rel.is_empty() {
            format!("{}{}/", self.origin, self.base)
        } else {
            format!("{}{}/{}", self.origin, self.base, percent_encode(rel, true))
        }
    }

    fn failure(&self, what: &str, a: &Answer) -> IoError {
        let (kind, message) = match a.status {
            401 => (
                IoErrorKind::PermissionDenied,
                "the WebDAV server refused the user name or password: check them".to_string(),
            ),
            403 => (IoErrorKind::PermissionDenied, format!("the WebDAV server forbids {what}")),
            404 | 409 => (IoErrorKind::NotFound, format!("{what}: not found")),
            405 => (
                IoErrorKind::Unsupported,
                format!("{what}: the server does not allow this method here: is the URL a WebDAV folder?"),
            ),
            412 => (IoErrorKind::AlreadyExists, format!("{what}: it exists already")),
            423 => (IoErrorKind::Unavailable, format!("{what}: the WebDAV server says it is locked")),
            416 => (IoErrorKind::InvalidData, format!("{what}: the file is shorter than the range asked for")),
            507 => (IoErrorKind::StorageFull, format!("{what}: the WebDAV server is out of space (or over quota)")),
            429 | 500..=599 => (
                IoErrorKind::Unavailable,
                format!(
                    "the WebDAV server is busy or failing (HTTP {}), after {} retries",
                    a.status, self.config.connection.retries
                ),
            ),
            s => (IoErrorKind::Other, format!("{what}: the WebDAV server answered HTTP {s}")),
        };
        error(kind, message)
    }

    /// The entries directly in the directory `rel` (not the directory itself); empty if it
    /// does not exist.
    async fn list_dir(&self, rel: &str) -> Result<Vec<(String, DavEntry)>, IoError> {
        let url = if rel.is_empty() { self.url("") } else { format!("{}/", self.url(rel)) };
        let headers = [("depth", "1".to_string()), ("content-type", "application/xml".to_string())];
        let a = self
            .http
            .exchange(method("PROPFIND"), &url, &headers, Bytes::from_static(PROPFIND_BODY.as_bytes()), MAX_LISTING)
            .await?;
        if a.status == 404 {
            return Ok(Vec::new());
        }
        if a.status != 207 {
            return Err(
                self.failure(&format!("listing {}", if rel.is_empty() { "the backup directory" } else { rel }), &a)
            );
        }
        let entries = parse_multistatus(&a.body).map_err(|e| {
            error(IoErrorKind::InvalidData, format!("the WebDAV listing of {rel:?} does not parse: {e}"))
        })?;
        // The directory itself comes back too: compare paths (an href may be a whole URL).
        let own = format!("{}/{rel}", crate::http::percent_decode(&self.base));
        let own = own.trim_end_matches('/');
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let path = match e.href.split_once("://") {
                    Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
                    None => e.href.clone(),
                };
                let path = path.trim_end_matches('/');
                let name = path.rsplit('/').next().unwrap_or_default().to_string();
                (!name.is_empty() && path != own).then_some((name, e))
            })
            .collect())
    }

    /// Makes the directory `rel` and its parents, each once.
    async fn make_dirs(&self, rel: &str) -> Result<(), IoError> {
        let mut path = String::new();
        for seg in rel.split('/').filter(|s| !s.is_empty()) {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(seg);
            if self.made.borrow().contains(&path) {
                continue;
            }
            let a = self
                .http
                .exchange(method("MKCOL"), &format!("{}/", self.url(&path)), &[], Bytes::new(), MAX_SMALL_BODY as u64)
                .await?;
            // 405: it exists already. 423: another of our uploads is making it at this moment
            // (the server locks a folder while it makes it): wait until it is there.
            if a.status == 423 {
                self.wait_for_folder(&path, &a).await?;
            } else if !(a.ok() || a.status == 405) {
                return Err(self.failure(&format!("making the folder {path}"), &a));
            }
            self.made.borrow_mut().insert(path.clone());
        }
        Ok(())
    }

    /// Waits (up to about 6 s) for the folder `rel` that a concurrent request is making, then
    /// fails with `answer` (the server's 423 Locked) if it never appears.
    async fn wait_for_folder(&self, rel: &str, answer: &Answer) -> Result<(), IoError> {
        for attempt in 0..6u32 {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            if self.folder_exists(rel).await? {
                return Ok(());
            }
        }
        Err(self.failure(&format!("making the folder {rel}"), answer))
    }

    /// Whether the folder `rel` exists (a `PROPFIND` of depth 0).
    async fn folder_exists(&self, rel: &str) -> Result<bool, IoError> {
        let headers = [("depth", "0".to_string()), ("content-type", "application/xml".to_string())];
        let url = if rel.is_empty() { self.url("") } else { format!("{}/", self.url(rel)) };
        let body = Bytes::from_static(PROPFIND_BODY.as_bytes());
        let a = self.http.exchange(method("PROPFIND"), &url, &headers, body, MAX_SMALL_BODY as u64).await?;
        Ok(a.status == 207)
    }

    /// Makes the backup directory on the server: itself first (most often its parent exists,
    /// and the folders above it, such as Nextcloud's `/remote.php/`, may not be ours to touch),
    /// and its parents only when the server says one is missing (409).
    async fn make_base(&self) -> Result<(), IoError> {
        if self.made.borrow().contains("") || self.base.is_empty() {
            return Ok(());
        }
        let mkcol = |path: String| async move {
            self.http
                .exchange(method("MKCOL"), &format!("{}{path}/", self.origin), &[], Bytes::new(), MAX_SMALL_BODY as u64)
                .await
        };
        let mut a = mkcol(self.base.clone()).await?;
        if a.status == 409 {
            let segments: Vec<&str> = self.base.split('/').filter(|s| !s.is_empty()).collect();
            let mut path = String::new();
            for seg in &segments[..segments.len().saturating_sub(1)] {
                path.push('/');
                path.push_str(seg);
                let parent = mkcol(path.clone()).await?;
                if parent.status == 401 {
                    return Err(self.failure("making the backup folder", &parent));
                }
            }
            a = mkcol(self.base.clone()).await?;
        }
        // 405: it exists already; 423: another of our uploads is making it.
        if a.status == 423 {
            self.wait_for_folder("", &a).await?;
        } else if !(a.ok() || a.status == 405) {
            return Err(self.failure("making the backup folder", &a));
        }
        self.made.borrow_mut().insert(String::new());
        Ok(())
    }

    async fn size_of(&self, rel: &str) -> Result<Option<u64>, IoError> {
        let headers = [("depth", "0".to_string()), ("content-type", "application/xml".to_string())];
        let a = self
            .http
            .exchange(
                method("PROPFIND"),
                &self.url(rel),
                &headers,
                Bytes::from_static(PROPFIND_BODY.as_bytes()),
                MAX_SMALL_BODY as u64,
            )
            .await?;
        if a.status == 404 {
            return Ok(None);
        }
        if a.status != 207 {
            return Err(self.failure(&format!("reading {rel}"), &a));
        }
        let entries = parse_multistatus(&a.body)
            .map_err(|e| error(IoErrorKind::InvalidData, format!("the WebDAV answer for {rel} does not parse: {e}")))?;
        Ok(entries.first().map(|e| e.size))
    }

    async fn read_rel(&self, rel: &str, range: ReadRange) -> Result<Bytes, IoError> {
        let size = || async {
            self.size_of(rel).await?.ok_or_else(|| error(IoErrorKind::NotFound, format!("{rel} does not exist")))
        };
        let Some((span, limit)) = crate::http::read_plan(range, size).await? else { return Ok(Bytes::new()) };
        let headers: Vec<(&str, String)> =
            span.map(|s| vec![("range", crate::http::range_header(s))]).unwrap_or_default();
        let a = self.http.exchange(reqwest::Method::GET, &self.url(rel), &headers, Bytes::new(), limit).await?;
        if !a.ok() {
            return Err(self.failure(&format!("reading {rel}"), &a));
        }
        if span.is_some() && a.status != 206 {
            return Err(error(
                IoErrorKind::Unsupported,
                format!("the WebDAV server ignored the byte range asked for {rel}: it must support ranged reads"),
            ));
        }
        crate::http::check_span(span, &a.body, rel)?;
        Ok(a.body)
    }

    /// Writes `data` to a temporary file beside `rel`, then moves it into place (refused with
    /// [`IoErrorKind::AlreadyExists`] if `mode` is create-only and `rel` exists).
    async fn write_rel(&self, rel: &str, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        let tmp = self.temporary_beside(rel).await?;
        let a = self.http.exchange(reqwest::Method::PUT, &self.url(&tmp), &[], data, MAX_SMALL_BODY as u64).await?;
        if !a.ok() {
            return Err(self.failure(&format!("writing {rel}"), &a));
        }
        self.move_into_place(&tmp, rel, mode).await
    }

    /// Makes the folders of `rel` and returns a temporary name beside it to upload to.
    async fn temporary_beside(&self, rel: &str) -> Result<String, IoError> {
        self.make_base().await?;
        let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
        self.make_dirs(dir).await?;
        let name = format!(".cairn-tmp-{:016x}", crate::rng::os_rng().next_u64());
        Ok(if dir.is_empty() { name } else { format!("{dir}/{name}") })
    }

    /// Moves the uploaded `tmp` to `rel` (refused with [`IoErrorKind::AlreadyExists`] if `mode`
    /// is create-only and `rel` exists), removing `tmp` if that fails.
    async fn move_into_place(&self, tmp: &str, rel: &str, mode: WriteMode) -> Result<(), IoError> {
        let overwrite = if mode == WriteMode::CreateNew { "F" } else { "T" };
        let headers = [("destination", self.url(rel)), ("overwrite", overwrite.to_string())];
        let mut attempt = 0;
        let moved = loop {
            let m =
                self.http.exchange(method("MOVE"), &self.url(tmp), &headers, Bytes::new(), MAX_SMALL_BODY as u64).await;
            // 423 Locked: another writer's MOVE to the same name is under way (rclone's server
            // says so, for example). It ends within moments: ask again, and a create-only
            // write then hears that the name exists.
            match m {
                Ok(a) if a.status == 423 && attempt < MOVE_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
                }
                other => break other,
            }
        };
        match moved {
            Ok(m) if m.ok() => Ok(()),
            Ok(m) => {
                let _ = self.remove_rel(tmp).await;
                Err(self.failure(&format!("writing {rel}"), &m))
            }
            Err(e) => {
                let _ = self.remove_rel(tmp).await;
                Err(e)
            }
        }
    }

    async fn remove_rel(&self, rel: &str) -> Result<(), IoError> {
        let a = self
            .http
            .exchange(reqwest::Method::DELETE, &self.url(rel), &[], Bytes::new(), MAX_SMALL_BODY as u64)
            .await?;
        if a.ok() || a.status == 404 {
            return Ok(());
        }
        Err(self.failure(&format!("deleting {rel}"), &a))
    }

    /// Uploads the local file `src` (`size` bytes) to `rel` as a stream read from disk, so that
    /// memory stays bounded whatever its size.
    async fn write_streamed(&self, rel: &str, src: &std::fs::File, size: u64, mode: WriteMode) -> Result<(), IoError> {
        const PIECE: u64 = 8 << 20;
        // A request body can be sent only once; a retried upload reads the file again.
        let file =
            src.try_clone().map_err(|e| error(IoErrorKind::Other, format!("cannot read the file to upload: {e}")))?;
        let stream = futures_util::stream::unfold(0u64, move |at| {
            let file = file.try_clone();
            async move {
                if at >= size {
                    return None;
                }
                let n = PIECE.min(size - at);
                let piece = file
                    .map_err(|e| error(IoErrorKind::Other, format!("cannot read the file to upload: {e}")))
                    .and_then(|f| Body::File { src: &f, size }.piece(at, n as usize));
                Some((piece, at + n))
            }
        });
        let tmp = self.temporary_beside(rel).await?;
        let b = self.http.request(reqwest::Method::PUT, &self.url(&tmp)).header("content-length", size.to_string());
        match b.body(reqwest::Body::wrap_stream(stream)).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                let status = r.status().as_u16();
                let a = Answer { status, headers: r.headers().clone(), body: Bytes::new() };
                let _ = self.remove_rel(&tmp).await;
                return Err(self.failure(&format!("writing {rel}"), &a));
            }
            Err(e) => {
                let _ = self.remove_rel(&tmp).await;
                return Err(crate::http::transport_error(&self.http.authority, 0, &e));
            }
        }
        self.move_into_place(&tmp, rel, mode).await
    }
}

fn method(name: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(name.as_bytes()).unwrap_or(reqwest::Method::GET)
}

crate::backend::path_store::storage_over_paths!(WebDavBackend);

impl PathStore for WebDavBackend {
    const TEMPORARY_PREFIX: Option<&'static str> = Some(".cairn-tmp-");

    fn properties(&self) -> StorageProperties {
        StorageProperties::new(self.config.connection.connections)
    }

    async fn read_path(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError> {
        self.read_rel(path, range).await
    }

    async fn write_path(&self, path: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        match body {
            Body::File { src, size } if size > 8 << 20 => self.write_streamed(path, src, size, mode).await,
            _ => self.write_rel(path, body.whole()?, mode).await,
        }
    }

    async fn remove_path(&self, path: &str) -> Result<(), IoError> {
        self.remove_rel(path).await
    }

    async fn list_folder(&self, dir: &str) -> Result<Vec<FolderEntry>, IoError> {
        Ok(self
            .list_dir(dir)
            .await?
            .into_iter()
            .map(|(name, e)| FolderEntry { name, is_dir: e.is_dir, size: e.size, modified: e.modified })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistatus_answers_parse_whatever_the_prefix() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<d:multistatus xmlns:d="DAV:"><d:response><d:href>/r/data/</d:href><d:propstat><d:prop>
<d:resourcetype><d:collection/></d:resourcetype></d:prop></d:propstat></d:response>
<D:response xmlns:D="DAV:"><D:href>/r/index/ab%20cd</D:href><D:propstat><D:prop><D:resourcetype/>
<D:getcontentlength>12</D:getcontentlength><D:getlastmodified>Sun, 22 Nov 2026 10:00:00 GMT</D:getlastmodified>
</D:prop></D:propstat></D:response></d:multistatus>"#;
        let e = parse_multistatus(body).unwrap();
        assert_eq!(e.len(), 2);
        assert!(e[0].is_dir && e[0].href == "/r/data/");
        assert_eq!((e[1].href.as_str(), e[1].size, e[1].is_dir), ("/r/index/ab cd", 12, false));
        assert!(e[1].modified.is_some());
    }

    proptest::proptest! {
        #![proptest_config(crate::hostile::config(4000))]
        /// A hostile server's PROPFIND answer parses to entries or an error, never a panic.
        #[test]
        fn hostile_listings_never_panic(body in crate::hostile::bytes(vec![
            br#"<multistatus><response><href>/a</href><propstat><prop><getcontentlength>99999999999999999999999</getcontentlength></prop></propstat></response></multistatus>"#.to_vec(),
            br#"<a:multistatus xmlns:a="DAV:"><a:response><a:href>%zz%</a:href><a:getlastmodified>Mon, 99 Xyz</a:getlastmodified></a:response>"#.to_vec(),
        ])) {
            let _ = parse_multistatus(&body);
        }
    }
}

//! The Azure Blob Storage destination: a repository under a directory of a container, as block
//! blobs named as on every path-like store (`DIR/data/ab/abcd...`, `DIR/index/...`).
//!
//! - **Authentication**: the storage account's shared key (every request signed with
//!   `SharedKey`, HMAC-SHA256 over the canonical request as the Blob service defines it), or a
//!   SAS token (appended to every request's query; it carries its own signature, permissions and
//!   expiry). Both are secrets: neither ever goes in a URL that is shown.
//! - **Reads** are ranged GETs (`x-ms-range`); the last bytes of a blob are found with a HEAD
//!   first. A body longer than asked for is refused before it is buffered.
//! - **Listing** is List Blobs, page by page (`NextMarker`), with a guard against a server that
//!   repeats a marker.
//! - **Writes** are single Put Blob requests up to 64 MiB (packs are 16 MiB), and Put Block plus
//!   Put Block List above (archives). [`WriteMode::CreateNew`] sends `If-None-Match: *`, which the
//!   service enforces: two writers can never both create one lock.
//! - **Retries** as for S3 ([`crate::http`]): connection failures, stalls, 5xx and 429.
//! - **Errors** name what to fix: the key or the SAS token, the SAS permissions, the container,
//!   the clock, TLS verification.

pub(crate) mod url;

use std::fmt;

use base64::Engine;
use bytes::Bytes;
use cairn_core::{FileKind, Handle, IoError, IoErrorKind, ObjectInfo, ReadRange, StorageProperties, WriteMode};
use hmac::{KeyInit, Mac};
use serde::Deserialize;

use crate::backend::connection::ConnectionOptions;
use crate::backend::path_store::{Body, FolderEntry, PathStore};
use crate::http::{Answer, ExchangeError, MAX_SMALL_BODY, error, percent_encode};
use crate::secret::Secret;

/// The Blob service version Cairn speaks.
const API_VERSION: &str = "2023-11-03";

/// How requests are authorised.
#[derive(Clone)]
#[non_exhaustive]
pub enum AzureAuth {
    /// The storage account key (base64, as the portal shows it).
    SharedKey(Secret),
    /// A SAS token (`sv=...&sig=...`, with or without the leading `?`).
    Sas(Secret),
}

impl fmt::Debug for AzureAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SharedKey(_) => "SharedKey(**redacted**)",
            Self::Sas(_) => "Sas(**redacted**)",
        })
    }
}

/// Where and how to reach an Azure Blob container.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureConfig {
    /// The storage account name.
    pub account: String,
    /// The Blob service endpoint, without the container: `https://ACCOUNT.blob.core.windows.net`
    /// by default; for Azurite and other emulators `http://HOST:PORT/ACCOUNT`.
    pub endpoint: String,
    /// The container.
    pub container: String,
    /// The backup directory inside the container: `/` or `/a/b` (letters, digits and `/`).
    pub directory: String,
    /// The account key or a SAS token.
    pub auth: AzureAuth,
    /// Access tier for packs (`Hot`, `Cool`, `Cold`); other blobs keep the account's default.
    pub pack_access_tier: Option<String>,
    /// TLS, retries, stall timeout, connections at once.
    pub connection: ConnectionOptions,
    /// Blobs larger than this are uploaded block by block.
    pub block_threshold: usize,
    /// Size of each block of a blob uploaded block by block.
    pub block_size: usize,
}

impl AzureConfig {
    /// A configuration with the defaults: the account's public endpoint, TLS verified, 3
    /// retries, 60 s stall timeout, 4 connections, blocks of 16 MiB above 64 MiB.
    pub fn new(account: &str, container: &str, auth: AzureAuth) -> Self {
        Self {
            account: account.to_string(),
            endpoint: format!("https://{account}.blob.core.windows.net"),
            container: container.to_string(),
            directory: "/".to_string(),
            auth,
            pack_access_tier: None,
            connection: ConnectionOptions::default(),
            block_threshold: 64 << 20,
            block_size: 16 << 20,
        }
    }
}

/// Whether `name` is a storage account name: 3 to 24 lower-case letters and digits.
pub(crate) fn valid_account_name(name: &str) -> bool {
    (3..=24).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Whether `name` is a container name: 3 to 63 of a-z, 0-9 and '-', starting and ending with
/// a letter or digit, no two '-' in a row.
pub(crate) fn valid_container_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("--")
}

/// A repository in an Azure Blob container.
pub struct AzureBackend {
    config: AzureConfig,
    client: reqwest::Client,
    /// `https://host[:port]` of the endpoint.
    origin: String,
    /// The endpoint's path (`""`, or `/ACCOUNT` for an emulator).
    base_path: String,
    /// The host and port, for messages.
    authority: String,
    /// The decoded account key (SharedKey only).
    key: Option<Secret>,
    /// The SAS token without its leading `?` (SAS only).
    sas: Option<Secret>,
    /// The blob name prefix of the backup directory: `""` or `a/b/`.
    prefix: String,
}

impl fmt::Debug for AzureBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureBackend").field("config", &self.config).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    List,
    Get,
    Put,
    Delete,
}

impl Op {
    fn permission(self) -> &'static str {
        match self {
            Self::List => "list (l)",
            Self::Get => "read (r)",
            Self::Put => "write (w) and create (c)",
            Self::Delete => "delete (d)",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    authentication_error_detail: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    blobs: Blobs,
    next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Blobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<BlobEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BlobEntry {
    name: String,
    properties: BlobProperties,
}

#[derive(Debug, Deserialize)]
struct BlobProperties {
    #[serde(rename = "Content-Length")]
    content_length: u64,
}

/// One request before signing.
struct Call<'a> {
    method: reqwest::Method,
    /// The blob name, or `None` for the container.
    blob: Option<&'a str>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl Call<'_> {
    fn new(method: reqwest::Method, blob: Option<&str>) -> Call<'_> {
        Call { method, blob, query: Vec::new(), headers: Vec::new(), body: Bytes::new() }
    }
}

/// RFC 1123 time, as `x-ms-date` wants it.
fn http_date() -> String {
    let now = jiff::Timestamp::now();
    now.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The `SharedKey` string to sign of a request (Blob service, version 2015-02-21 and later).
/// `headers` are the request's headers, lower-case names; `query` its decoded parameters.
pub(crate) fn string_to_sign(
    method: &str,
    account: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    content_length: usize,
) -> String {
    let header = |name: &str| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).unwrap_or("");
    let length = if content_length == 0 { String::new() } else { content_length.to_string() };
    let mut s = format!(
        "{method}\n{}\n{}\n{length}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        header("content-encoding"),
        header("content-language"),
        header("content-md5"),
        header("content-type"),
        header("date"),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    );
    let mut ms: Vec<(&str, &str)> = headers.iter().filter(|(k, _)| k.starts_with("x-ms-")).copied().collect();
    ms.sort();
    for (k, v) in ms {
        s.push_str(k);
        s.push(':');
        s.push_str(v.trim());
        s.push('\n');
    }
    s.push('/');
    s.push_str(account);
    s.push_str(path);
    let mut q: Vec<(String, &str)> = query.iter().map(|(k, v)| (k.to_ascii_lowercase(), *v)).collect();
    q.sort();
    for (k, v) in q {
        s.push('\n');
        s.push_str(&k);
        s.push(':');
        s.push_str(v);
    }
    s
}

impl AzureBackend {
    /// A backend for `config` (no request is made yet). Fails if the endpoint is not an
    /// `https://` (or `http://`) URL or the account key is not base64.
    pub fn new(config: AzureConfig) -> Result<Self, IoError> {
        let endpoint = config.endpoint.trim_end_matches('/');
        let rest = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://")).ok_or_else(|| {
            error(IoErrorKind::InvalidData, format!("the endpoint {endpoint:?} must start with https://"))
        })?;
        let (authority, base_path) = match rest.split_once('/') {
            Some((a, p)) => (a.to_string(), format!("/{}", p.trim_matches('/'))),
            None => (rest.to_string(), String::new()),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(error(IoErrorKind::InvalidData, "the endpoint needs a host (and no user name in it)"));
        }
        let origin = format!("{}://{authority}", if endpoint.starts_with("https://") { "https" } else { "http" });
        let (key, sas) = match &config.auth {
            AzureAuth::SharedKey(k) => {
                let text = std::str::from_utf8(k.expose()).unwrap_or_default().trim();
                let decoded = base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| {
                    error(
                        IoErrorKind::PermissionDenied,
                        "the storage account key is not base64: copy key1 or key2 from the storage account's \
                         Access keys page",
                    )
                })?;
                (Some(Secret::new(decoded)), None)
            }
            AzureAuth::Sas(t) => {
                let text = std::str::from_utf8(t.expose()).unwrap_or_default().trim().trim_start_matches('?');
                if !text.contains("sig=") {
                    return Err(error(
                        IoErrorKind::PermissionDenied,
                        "the SAS token has no signature (sig=): copy the whole token the portal generated",
                    ));
                }
                (None, Some(Secret::new(text.as_bytes().to_vec())))
            }
        };
        let client = crate::http::client(&config.connection)?;
        let prefix = match config.directory.trim_matches('/') {
            "" => String::new(),
            d => format!("{d}/"),
        };
        Ok(Self { config, client, origin, base_path, authority, key, sas, prefix })
    }

    /// The configuration.
    pub fn config(&self) -> &AzureConfig {
        &self.config
    }

    fn blob_of(&self, handle: &Handle) -> String {
        format!("{}{}", self.prefix, handle.path())
    }

    fn path(&self, blob: Option<&str>) -> String {
        match blob {
            Some(b) => format!("{}/{}/{}", self.base_path, self.config.container, percent_encode(b, true)),
            None => format!("{}/{}", self.base_path, self.config.container),
        }
    }

    /// Signs (or adds the SAS token to) and sends one attempt.
    async fn send_once(&self, call: &Call<'_>) -> Result<reqwest::Response, ExchangeError> {
        let path = self.path(call.blob);
        let mut url = format!("{}{}", self.origin, path);
        let mut sep = '?';
        for (k, v) in &call.query {
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&percent_encode(v, false));
            sep = '&';
        }
        if let Some(sas) = &self.sas {
            url.push(sep);
            url.push_str(std::str::from_utf8(sas.expose()).unwrap_or_default());
        }
        let mut headers: Vec<(&str, String)> = vec![("x-ms-date", http_date()), ("x-ms-version", API_VERSION.into())];
        headers.extend(call.headers.iter().map(|(k, v)| (*k, v.clone())));
        let mut builder = self.client.request(call.method.clone(), &url);
        if let Some(key) = &self.key {
            let header_refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let query_refs: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let to_sign = string_to_sign(
                call.method.as_str(),
                &self.config.account,
                &path,
                &query_refs,
                &header_refs,
                call.body.len(),
            );
            let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.expose()).map_err(|_| {
                ExchangeError::Request(error(IoErrorKind::PermissionDenied, "the storage account key is empty"))
            })?;
            mac.update(to_sign.as_bytes());
            let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            builder = builder.header("authorization", format!("SharedKey {}:{signature}", self.config.account));
        }
        for (k, v) in &headers {
            builder = builder.header(*k, v.as_str());
        }
        crate::http::with_body(builder, &call.method, call.body.clone()).send().await.map_err(ExchangeError::Http)
    }

    async fn exchange(&self, call: &Call<'_>, limit: u64) -> Result<Answer, IoError> {
        match crate::http::exchange(self.config.connection.retries, limit, || self.send_once(call)).await {
            Ok(a) => Ok(a),
            Err(ExchangeError::Request(e)) => Err(e),
            Err(ExchangeError::TooLarge) => Err(error(
                IoErrorKind::InvalidData,
                format!("the server's answer for {} is larger than expected", call.blob.unwrap_or("the container")),
            )),
            Err(ExchangeError::Http(e)) => {
                Err(crate::http::transport_error(&self.authority, self.config.connection.retries, &e))
            }
        }
    }

    /// Turns a non-success answer into an error that says what to fix.
    fn failure(&self, op: Op, blob: Option<&str>, a: &Answer) -> IoError {
        let status = a.status;
        let body: ErrorBody = quick_xml::de::from_reader(&a.body[..]).unwrap_or_default();
        let code = if body.code.is_empty() { a.header("x-ms-error-code").unwrap_or_default() } else { &body.code };
        let object = blob.map_or_else(|| format!("container {}", self.config.container), str::to_string);
        let detail = if body.message.is_empty() {
            String::new()
        } else {
            format!(" ({})", body.message.lines().next().unwrap_or_default())
        };
        let credential = if self.sas.is_some() { "SAS token" } else { "storage account key" };
        use IoErrorKind as K;
        let (kind, message) = match (status, code) {
            (_, "AuthenticationFailed") if body.authentication_error_detail.contains("date") => (
                K::PermissionDenied,
                "the server refused the request's time (AuthenticationFailed): set this computer's clock right"
                    .to_string(),
            ),
            (_, "AuthenticationFailed") if self.sas.is_some() && body.authentication_error_detail.contains("xpir") => {
                (K::PermissionDenied, "the SAS token has expired: generate a new one".to_string())
            }
            (_, "AuthenticationFailed") => {
                (K::PermissionDenied, format!("the server refused the {credential} (AuthenticationFailed): check it"))
            }
            (_, "AuthorizationFailure") => (
                K::PermissionDenied,
                format!(
                    "the server refused the {credential} (AuthorizationFailure): check it; if it is right, the \
                     account's network rules may not let this computer in"
                ),
            ),
            (_, "AuthorizationSourceIPMismatch") => (
                K::PermissionDenied,
                "the SAS token does not allow this computer's IP address: generate one without an IP range, or \
                 with this address in it"
                    .to_string(),
            ),
            (_, "AuthorizationProtocolMismatch") => (
                K::PermissionDenied,
                "the SAS token allows HTTPS only, and the endpoint is http://: use https://".to_string(),
            ),
            (_, "AuthorizationServiceMismatch") => (
                K::PermissionDenied,
                "the SAS token is not for the Blob service: generate one with the Blob service (ss=b)".to_string(),
            ),
            (_, "AuthorizationPermissionMismatch" | "AuthorizationResourceTypeMismatch") | (403, _) => (
                K::PermissionDenied,
                format!(
                    "the {credential} does not allow this on {object}: it needs the {} permission",
                    op.permission()
                ),
            ),
            (_, "ContainerNotFound") => (
                K::NotFound,
                format!(
                    "the container {} does not exist in the account {}: check its name, or create it",
                    self.config.container, self.config.account
                ),
            ),
            (_, "ContainerBeingDeleted") => {
                (K::Unavailable, format!("the container {} is being deleted", self.config.container))
            }
            (_, "AccountIsDisabled") => {
                (K::PermissionDenied, format!("the account {} is disabled", self.config.account))
            }
            (404, _) => (K::NotFound, format!("{object} does not exist")),
            (409 | 412, "BlobAlreadyExists" | "ConditionNotMet" | "") | (412, _) => {
                (K::AlreadyExists, format!("{object} already exists"))
            }
            (416, _) => (K::InvalidData, format!("{object} is shorter than the range asked for")),
            (429 | 500..=599, _) => (
                K::Unavailable,
                format!(
                    "the server is busy or failing (HTTP {status} {code}){detail}, after {} retries",
                    self.config.connection.retries
                ),
            ),
            _ => (K::Other, format!("the server answered HTTP {status} {code}{detail}")),
        };
        error(kind, message)
    }

    async fn list_page(&self, prefix: &str, marker: Option<&str>) -> Result<ListResult, IoError> {
        let mut call = Call::new(reqwest::Method::GET, None);
        call.query = vec![("comp", "list".into()), ("prefix", prefix.to_string()), ("restype", "container".into())];
        if let Some(m) = marker {
            call.query.push(("marker", m.to_string()));
        }
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        if !a.ok() {
            return Err(self.failure(Op::List, None, &a));
        }
        if !a.body.windows(19).any(|w| w == b"<EnumerationResults") {
            return Err(error(
                IoErrorKind::InvalidData,
                format!("{} did not answer with a blob listing: is it an Azure Blob endpoint?", self.authority),
            ));
        }
        quick_xml::de::from_reader(&a.body[..])
            .map_err(|e| error(IoErrorKind::InvalidData, format!("the blob listing does not parse: {e}")))
    }

    /// Every blob under `prefix` with its size, through all listing pages.
    async fn list_blobs(&self, prefix: &str) -> Result<Vec<(String, u64)>, IoError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self.list_page(prefix, marker.as_deref()).await?;
            out.extend(page.blobs.blob.into_iter().map(|b| (b.name, b.properties.content_length)));
            match page.next_marker.filter(|m| !m.is_empty()) {
                Some(next) => {
                    if marker.as_deref() == Some(next.as_str()) {
                        return Err(error(IoErrorKind::InvalidData, "the server repeated a listing page"));
                    }
                    marker = Some(next);
                }
                None => break,
            }
        }
        Ok(out)
    }

    /// Creates the container (a Test does when it is missing); one that exists is fine.
    pub async fn create_container(&self) -> Result<(), IoError> {
        let mut call = Call::new(reqwest::Method::PUT, None);
        call.query = vec![("restype", "container".into())];
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        if a.ok() || a.status == 409 {
            return Ok(());
        }
        Err(self.failure(Op::Put, None, &a))
    }

    async fn size_of(&self, blob: &str) -> Result<u64, IoError> {
        let a = self.exchange(&Call::new(reqwest::Method::HEAD, Some(blob)), 0).await?;
        if !a.ok() {
            return Err(self.failure(Op::Get, Some(blob), &a));
        }
        a.header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| error(IoErrorKind::InvalidData, format!("the server gave no size for {blob}")))
    }

    async fn read_blob(&self, blob: &str, range: ReadRange) -> Result<Bytes, IoError> {
        let Some((span, limit)) = crate::http::read_plan(range, || self.size_of(blob)).await? else {
            return Ok(Bytes::new());
        };
        let mut call = Call::new(reqwest::Method::GET, Some(blob));
        if let Some(s) = span {
            call.headers.push(("x-ms-range", crate::http::range_header(s)));
        }
        let a = self.exchange(&call, limit).await?;
        if !a.ok() {
            return Err(self.failure(Op::Get, Some(blob), &a));
        }
        crate::http::check_span(span, &a.body, blob)?;
        Ok(a.body)
    }

    async fn put_blob(&self, blob: &str, data: Bytes, mode: WriteMode, tier: Option<&str>) -> Result<(), IoError> {
        let mut call = Call::new(reqwest::Method::PUT, Some(blob));
        call.headers.push(("x-ms-blob-type", "BlockBlob".into()));
        call.headers.extend(crate::http::create_only_header(mode));
        if let Some(t) = tier {
            call.headers.push(("x-ms-access-tier", t.to_string()));
        }
        call.body = data;
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        if a.ok() {
            return Ok(());
        }
        Err(self.failure(Op::Put, Some(blob), &a))
    }

    /// Uploads `size` bytes block by block (`next` yields them in order), then commits the
    /// block list. Uncommitted blocks of a failed upload are discarded by the service.
    /// Writes `blob` (`size` bytes, `next(offset, len)` giving them) block by block, then
    /// commits the list (create-only with [`WriteMode::CreateNew`]).
    async fn put_blocks<F>(&self, blob: &str, size: u64, mode: WriteMode, mut next: F) -> Result<(), IoError>
    where
        F: FnMut(u64, usize) -> Result<Bytes, IoError>,
    {
        // At most 50,000 blocks: a larger blob gets larger blocks.
        let block = (self.config.block_size.max(1 << 20) as u64).max(size.div_ceil(50_000));
        // Uncommitted blocks are shared by every writer of the blob's name: block ids of this
        // upload's own, so that two writers of one name never commit each other's blocks.
        let upload = crate::rng::random_hex::<8>();
        let mut ids = Vec::new();
        let mut at = 0u64;
        while at < size {
            let n = block.min(size - at);
            let id = base64::engine::general_purpose::STANDARD.encode(format!("cairn-{upload}-{:06}", ids.len()));
            let mut call = Call::new(reqwest::Method::PUT, Some(blob));
            call.query = vec![("blockid", id.clone()), ("comp", "block".into())];
            call.body = next(at, n as usize)?;
            let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
            if !a.ok() {
                return Err(self.failure(Op::Put, Some(blob), &a));
            }
            ids.push(id);
            at += n;
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in &ids {
            xml.push_str(&format!("<Latest>{id}</Latest>"));
        }
        xml.push_str("</BlockList>");
        let mut call = Call::new(reqwest::Method::PUT, Some(blob));
        call.query = vec![("comp", "blocklist".into())];
        call.body = Bytes::from(xml);
        call.headers.extend(crate::http::create_only_header(mode));
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        if a.ok() {
            return Ok(());
        }
        Err(self.failure(Op::Put, Some(blob), &a))
    }

    async fn write_blob(&self, blob: &str, data: Bytes, mode: WriteMode, tier: Option<&str>) -> Result<(), IoError> {
        let result = if data.len() > self.config.block_threshold && mode == WriteMode::Replace {
            let whole = data.clone();
            self.put_blocks(blob, data.len() as u64, mode, |at, n| Ok(whole.slice(at as usize..at as usize + n))).await
        } else {
            self.put_blob(blob, data.clone(), mode, tier).await
        };
        match result {
            // A create whose answer was lost, then retried, finds its own blob: the bytes (a
            // lock's random token, a config's random id) tell it apart from another writer's.
            Err(e) if e.kind() == IoErrorKind::AlreadyExists => {
                match self.read_blob(blob, ReadRange::All { max_len: data.len() as u64 }).await {
                    Ok(found) if found == data => Ok(()),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    async fn remove_blob(&self, blob: &str) -> Result<(), IoError> {
        let a = self.exchange(&Call::new(reqwest::Method::DELETE, Some(blob)), MAX_SMALL_BODY as u64).await?;
        if a.ok() || a.status == 404 {
            return Ok(());
        }
        Err(self.failure(Op::Delete, Some(blob), &a))
    }
}

crate::backend::path_store::storage_over_paths!(AzureBackend);

impl PathStore for AzureBackend {
    const TEMPORARY_PREFIX: Option<&'static str> = None;

    fn properties(&self) -> StorageProperties {
        StorageProperties::new(self.config.connection.connections)
    }

    async fn read_path(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError> {
        self.read_blob(&format!("{}{path}", self.prefix), range).await
    }

    /// Block by block above the threshold, so that memory stays bounded whatever the size.
    async fn write_path(&self, path: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        let blob = format!("{}{path}", self.prefix);
        if let Body::File { size, .. } = body
            && size > self.config.block_threshold as u64
        {
            return self.put_blocks(&blob, size, mode, |at, n| body.piece(at, n)).await;
        }
        self.write_blob(&blob, body.whole()?, mode, None).await
    }

    async fn remove_path(&self, path: &str) -> Result<(), IoError> {
        self.remove_blob(&format!("{}{path}", self.prefix)).await
    }

    async fn list_folder(&self, dir: &str) -> Result<Vec<FolderEntry>, IoError> {
        let under = if dir.is_empty() { self.prefix.clone() } else { format!("{}{dir}/", self.prefix) };
        let blobs = self.list_blobs(&under).await?;
        let relative =
            blobs.into_iter().filter_map(|(b, size)| Some((b.strip_prefix(&self.prefix)?.to_string(), size)));
        Ok(crate::backend::path_store::folder_of_keys(dir, relative.collect()))
    }

    /// One listing of the kind's prefix, however deep.
    async fn list_objects(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        let keys = self.list_blobs(&format!("{}{}", self.prefix, crate::backend::path_store::key_prefix(kind))).await?;
        Ok(crate::backend::path_store::objects_of_keys(&self.prefix, kind, keys))
    }

    /// Packs get their access tier.
    async fn write_object(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        let tier = if handle.kind == FileKind::Pack { self.config.pack_access_tier.as_deref() } else { None };
        self.write_blob(&self.blob_of(handle), data, mode, tier).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::path_store::id_of_key as id_of;

    /// The example of the Blob service's documentation shape: method, empty standard headers,
    /// sorted x-ms- headers, then the account, path and sorted query.
    #[test]
    fn the_string_to_sign_follows_the_blob_service_rules() {
        let s = string_to_sign(
            "GET",
            "myaccount",
            "/mycontainer",
            &[("restype", "container"), ("comp", "list"), ("prefix", "a b")],
            &[("x-ms-version", "2023-11-03"), ("x-ms-date", "Fri, 26 Jun 2015 23:39:12 GMT")],
            0,
        );
        assert_eq!(
            s,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2023-11-03\n\
             /myaccount/mycontainer\ncomp:list\nprefix:a b\nrestype:container"
        );
        let put =
            string_to_sign("PUT", "a", "/c/b", &[], &[("if-none-match", "*"), ("x-ms-blob-type", "BlockBlob")], 5);
        assert_eq!(put, "PUT\n\n\n5\n\n\n\n\n\n*\n\n\nx-ms-blob-type:BlockBlob\n/a/c/b");
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_account_name("devstoreaccount1"));
        assert!(!valid_account_name("Dev"));
        assert!(valid_container_name("cairn-backups"));
        assert!(!valid_container_name("a--b"));
        assert!(!valid_container_name("-ab"));
        assert!(!valid_container_name("ab"));
    }

    #[test]
    fn blob_names_are_parsed_back_to_ids() {
        let hex = "ab".repeat(32);
        assert!(id_of("d/", FileKind::Pack, &format!("d/data/ab/{hex}")).is_some());
        assert!(id_of("d/", FileKind::Pack, &format!("d/data/cd/{hex}")).is_none());
        assert!(id_of("", FileKind::Index, &format!("index/{hex}")).is_some());
        assert!(id_of("", FileKind::Index, "index/zz").is_none());
    }

    proptest::proptest! {
        #![proptest_config(crate::hostile::config(4000))]
        /// Whatever a server answers, decoding it gives a value or an error, never a panic.
        #[test]
        fn hostile_answers_never_panic(body in crate::hostile::bytes(vec![
            b"<EnumerationResults><Blobs><Blob><Name>index/ab</Name><Properties><Content-Length>12</Content-Length></Properties></Blob></Blobs><NextMarker>x</NextMarker></EnumerationResults>".to_vec(),
            b"<Error><Code>AuthenticationFailed</Code><Message>no</Message><AuthenticationErrorDetail>date</AuthenticationErrorDetail></Error>".to_vec(),
            b"<EnumerationResults><Blobs><Blob><Name>&#0;</Name><Properties><Content-Length>-1</Content-Length></Properties></Blob></Blobs></EnumerationResults>".to_vec(),
        ])) {
            let _ = quick_xml::de::from_reader::<_, ListResult>(&body[..]);
            let _ = quick_xml::de::from_reader::<_, ErrorBody>(&body[..]);
        }
    }
}

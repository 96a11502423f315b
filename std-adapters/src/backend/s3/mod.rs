//! The S3-compatible destination: a repository under a prefix of a bucket.
//!
//! Every request is signed with the core's SigV4 builder ([`cairn_core::sigv4`]), with the
//! body's SHA-256 as its payload hash, so the server rejects a body damaged in transit. Objects
//! are named as on every path-like store (`PREFIX/data/ab/abcd...`, `PREFIX/index/...`).
//!
//! - **Reads** are ranged GETs; a body longer than asked for is refused before it is buffered.
//! - **Listing** is ListObjectsV2, page by page, with a guard against a server that repeats a
//!   continuation token.
//! - **Writes** are single PUTs up to [`S3Config::multipart_threshold`], multipart uploads above
//!   (aborted if a part fails). [`WriteMode::CreateNew`] goes through claims ([`crate::backend::claim`]):
//!   `If-None-Match: *` is atomic on AWS but not on every S3-compatible server (s3s-fs checks,
//!   then writes, so concurrent creators all succeed). [`S3Backend::probe_conditional_create`]
//!   still tells whether a server refuses a second create at all.
//! - **Retries**: connection failures, stalls (no byte for [`S3Config::stall_timeout`]), 5xx,
//!   429 and 503 SlowDown are retried up to [`S3Config::retries`] times with exponential backoff
//!   and full jitter; other 4xx are final.
//! - **Errors** name the cause a person can fix: the access key or the secret key, the bucket,
//!   the permission missing, the bucket's real region, the clock's skew, or TLS verification.

pub(crate) mod url;
pub mod vendors;

use std::cell::RefCell;
use std::fmt;

use bytes::Bytes;
use cairn_core::sigv4::{self, Credentials, HeaderOptions, Request, Scope, SigningKey};
use cairn_core::{FileKind, Handle, IoError, IoErrorKind, ObjectInfo, ReadRange, StorageProperties, WriteMode};
use rand_core::Rng;
use serde::Deserialize;
use sha2::Digest;

use crate::backend::connection::ConnectionOptions;
use crate::backend::path_store::{Body, FolderEntry, PathStore};
use crate::secret::Secret;

/// Where and how to reach an S3-compatible bucket.
#[derive(Clone)]
#[non_exhaustive]
pub struct S3Config {
    /// `https://host[:port]` (or `http://` for a local test server), without the bucket.
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    /// The backup directory inside the bucket: `/` or `/a/b` (letters, digits and `/`).
    pub directory: String,
    /// The signing region.
    pub region: String,
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: Secret,
    /// The session token of temporary credentials (STS, SSO).
    pub session_token: Option<Secret>,
    /// Address the bucket as `endpoint/bucket/...` instead of `bucket.endpoint/...`.
    pub path_style: bool,
    /// TLS, retries, stall timeout, connections at once.
    pub connection: ConnectionOptions,
    /// Storage class for packs (`STANDARD_IA`, `GLACIER_IR`, ...); other objects stay standard.
    pub pack_storage_class: Option<String>,
    /// Objects larger than this are uploaded in parts.
    pub multipart_threshold: usize,
    /// Size of each part of a multipart upload (S3 requires at least 5 MiB but for the last).
    pub part_size: usize,
    /// Keys per listing page (`max-keys`; the server's default, 1000, when `None`).
    pub list_page_size: Option<u32>,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("directory", &self.directory)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &self.secret_key)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

impl S3Config {
    /// A configuration with the defaults: virtual-hosted addressing, TLS verified, 3 retries,
    /// 60 s stall timeout, 64 MiB multipart threshold and 16 MiB parts, 4 connections.
    pub fn new(endpoint: &str, bucket: &str, region: &str, access_key: &str, secret_key: Secret) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            bucket: bucket.to_string(),
            directory: "/".to_string(),
            region: region.to_string(),
            access_key: access_key.to_string(),
            secret_key,
            session_token: None,
            path_style: false,
            connection: ConnectionOptions::default(),
            pack_storage_class: None,
            multipart_threshold: 64 << 20,
            part_size: 16 << 20,
            list_page_size: None,
        }
    }
}

/// Whether `name` is a valid bucket name: 3 to 63 of a-z, 0-9, '.' and '-', starting and
/// ending with a letter or digit.
pub(crate) fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Checks a backup directory: absolute, only `A-Z a-z 0-9 /`, no empty segment.
pub fn validate_directory(dir: &str) -> Result<(), String> {
    if !dir.starts_with('/') {
        return Err(format!("the backup directory {dir:?} must start with /"));
    }
    if let Some(c) = dir.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '/')) {
        return Err(format!(
            "the backup directory {dir:?} contains {c:?}: only letters A-Z and a-z, digits and / are allowed"
        ));
    }
    if dir.len() > 1 && dir.trim_end_matches('/').split('/').skip(1).any(str::is_empty) {
        return Err(format!("the backup directory {dir:?} contains an empty part (//)"));
    }
    Ok(())
}

use crate::http::{Answer, ExchangeError, MAX_SMALL_BODY, error as s3_error};

/// A repository in an S3-compatible bucket.
pub struct S3Backend {
    config: S3Config,
    client: reqwest::Client,
    scheme: String,
    /// `host[:port]` of the bucket's endpoint (with the bucket in front when virtual-hosted).
    authority: String,
    /// Key prefix: the directory without its leading `/`, with a trailing `/` unless empty.
    prefix: String,
    signing_key: RefCell<Option<SigningKey>>,
}

impl fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Backend").field("config", &self.config).finish_non_exhaustive()
    }
}

/// What one S3 call does, for messages ("s3:GetObject").
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
            Self::List => "s3:ListBucket",
            Self::Get => "s3:GetObject",
            Self::Put => "s3:PutObject",
            Self::Delete => "s3:DeleteObject",
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
    region: Option<String>,
    server_time: Option<String>,
    request_time: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListResult {
    #[serde(default)]
    contents: Vec<ListEntry>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntry {
    key: String,
    size: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersioningConfiguration {
    status: Option<String>,
}

/// A bucket's versioning, as [`S3Backend::versioning`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketVersioning {
    /// `Enabled`, `Suspended`, or empty if versioning was never turned on.
    pub status: String,
    /// Whether a lifecycle rule expires old (noncurrent) versions; `None` if unknown.
    pub expires_old_versions: Option<bool>,
}

impl BucketVersioning {
    /// A warning for the user, when deleted backup data would keep costing storage.
    pub fn warning(&self) -> Option<String> {
        let keeps = self.status == "Enabled" || self.status == "Suspended";
        (keeps && self.expires_old_versions != Some(true)).then(|| {
            "the bucket keeps old versions of objects and no lifecycle rule expires them: data that prune deletes \
             will keep costing storage; add a lifecycle rule that expires noncurrent versions (after 1 day, say)"
                .to_string()
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateResult {
    upload_id: String,
}

/// One request before signing.
struct Call<'a> {
    method: reqwest::Method,
    key: Option<&'a str>,
    query: Vec<(&'a str, String)>,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl S3Backend {
    /// A backend for `config` (no request is made yet).
    pub fn new(config: S3Config) -> Result<Self, IoError> {
        validate_directory(&config.directory).map_err(|m| s3_error(IoErrorKind::InvalidData, m))?;
        let (scheme, host) = config.endpoint.split_once("://").ok_or_else(|| {
            s3_error(IoErrorKind::InvalidData, format!("the endpoint {:?} must start with https://", config.endpoint))
        })?;
        if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains('/') {
            return Err(s3_error(
                IoErrorKind::InvalidData,
                format!("the endpoint {:?} must be https://HOST[:PORT]", config.endpoint),
            ));
        }
        let host = match (scheme, host.rsplit_once(':')) {
            ("https", Some((h, "443"))) | ("http", Some((h, "80"))) => h,
            _ => host,
        };
        let authority = if config.path_style { host.to_string() } else { format!("{}.{host}", config.bucket) };
        let dir = config.directory.trim_matches('/');
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let client = crate::http::client(&config.connection)?;
        Ok(Self { scheme: scheme.to_string(), authority, prefix, client, signing_key: RefCell::new(None), config })
    }

    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.config
    }

    fn key_of(&self, handle: &Handle) -> String {
        format!("{}{}", self.prefix, handle.path())
    }

    /// The path part of a request's URL, percent-encoded.
    fn path(&self, key: Option<&str>) -> String {
        let mut p = String::new();
        if self.config.path_style {
            p.push('/');
            p.push_str(&self.config.bucket);
        }
        p.push('/');
        if let Some(k) = key {
            // Writing into a String cannot fail.
            let _ = sigv4::write_encoded_path(&mut p, k);
        }
        p
    }

    fn signing_key(&self, scope: &Scope<'_>) -> Result<SigningKey, IoError> {
        let mut cached = self.signing_key.borrow_mut();
        if let Some(k) = cached.as_ref().filter(|k| k.is_for_day(scope)) {
            return Ok(k.clone());
        }
        let secret = std::str::from_utf8(self.config.secret_key.expose())
            .map_err(|_| s3_error(IoErrorKind::PermissionDenied, "the secret key is not valid text"))?;
        let key = SigningKey::derive(secret, scope)
            .map_err(|e| s3_error(IoErrorKind::Other, format!("cannot sign requests: {e}")))?;
        *cached = Some(key.clone());
        Ok(key)
    }

    /// Signs and sends one request, once.
    /// Signs and sends one attempt; `payload` is the body's SHA-256 in hex.
    async fn send_once(&self, call: &Call<'_>, payload: &str) -> Result<reqwest::Response, ExchangeError> {
        let path = self.path(call.key);
        let query: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut url = format!("{}://{}{}", self.scheme, self.authority, path);
        if !query.is_empty() {
            url.push('?');
            let _ = sigv4::write_encoded_query(&mut url, &query);
        }
        let headers: Vec<(&str, &str)> = call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let req = Request {
            method: call.method.as_str(),
            host: &self.authority,
            path: &path,
            query: &query,
            headers: &headers,
            payload_hash: payload,
        };
        let secret = std::str::from_utf8(self.config.secret_key.expose()).unwrap_or_default();
        let token = self.config.session_token.as_ref().and_then(|t| std::str::from_utf8(t.expose()).ok());
        let creds =
            Credentials { access_key_id: &self.config.access_key, secret_access_key: secret, session_token: token };
        let scope = Scope { region: &self.config.region, service: "s3", time: crate::process::now() };
        let key = self.signing_key(&scope).map_err(ExchangeError::Request)?;
        let signed = sigv4::sign_headers(&req, &creds, &scope, &key, HeaderOptions::default()).map_err(|e| {
            ExchangeError::Request(s3_error(IoErrorKind::InvalidData, format!("cannot sign the request: {e}")))
        })?;
        let mut builder = self
            .client
            .request(call.method.clone(), &url)
            .header("x-amz-date", signed.x_amz_date())
            .header("x-amz-content-sha256", payload)
            .header("authorization", signed.authorization().to_string());
        if let Some(t) = signed.security_token {
            builder = builder.header("x-amz-security-token", t);
        }
        for (k, v) in &call.headers {
            builder = builder.header(*k, v.as_str());
        }
        builder.body(call.body.clone()).send().await.map_err(ExchangeError::Http)
    }

    /// One whole exchange, retried (see [`crate::http`]).
    async fn exchange(&self, call: &Call<'_>, limit: u64) -> Result<Answer, IoError> {
        // Hashed once for all attempts: a retried 16 MiB pack is not hashed again.
        let payload = hex(&sha2::Sha256::digest(&call.body));
        match crate::http::exchange(self.config.connection.retries, limit, || self.send_once(call, &payload)).await {
            Ok(a) => Ok(a),
            Err(ExchangeError::Request(e)) => Err(e),
            Err(ExchangeError::TooLarge) => Err(s3_error(
                IoErrorKind::InvalidData,
                format!("the server's answer for {} is larger than expected", call.key.unwrap_or("the bucket")),
            )),
            Err(ExchangeError::Http(e)) => {
                Err(crate::http::transport_error(&self.authority, self.config.connection.retries, &e))
            }
        }
    }

    /// Turns a non-success answer into an error that says what to fix.
    fn failure(&self, op: Op, key: Option<&str>, a: &Answer) -> IoError {
        let status = a.status;
        let bucket_region = a.header("x-amz-bucket-region").map(String::from);
        let e: ErrorBody = quick_xml::de::from_reader(&a.body[..]).unwrap_or_default();
        let object = key.map_or_else(|| format!("bucket {}", self.config.bucket), |k| k.to_string());
        let detail = if e.message.is_empty() { String::new() } else { format!(" ({})", e.message) };
        let region = bucket_region.or(e.region.clone());
        use IoErrorKind as K;
        let (kind, message) = match (status, e.code.as_str()) {
            (_, "SignatureDoesNotMatch") => (
                K::PermissionDenied,
                "the server refused the signature (SignatureDoesNotMatch): check the secret key".to_string(),
            ),
            (_, "InvalidAccessKeyId" | "NotSignedUp" | "InvalidClientTokenId") => (
                K::PermissionDenied,
                format!(
                    "the server does not know the access key {} ({}): check the access key",
                    self.config.access_key, e.code
                ),
            ),
            (_, "RequestTimeTooSkewed") => {
                let skew = skew_secs(e.request_time.as_deref(), e.server_time.as_deref());
                let by = skew.map_or_else(String::new, |s| format!(" by {s} s"));
                (
                    K::PermissionDenied,
                    format!("this computer's clock differs from the server's{by}: set the clock right"),
                )
            }
            (_, "NoSuchBucket") => (
                K::NotFound,
                format!("the bucket {} does not exist: check the bucket name, or create it", self.config.bucket),
            ),
            (_, "PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException")
            | (301, _) => match region {
                Some(r) if r != self.config.region => (
                    K::PermissionDenied,
                    format!(
                        "the bucket {} is in region {r}, not {}: set the region to {r}",
                        self.config.bucket, self.config.region
                    ),
                ),
                _ => (
                    K::PermissionDenied,
                    format!("the server redirected the request ({}){detail}: check the region and endpoint", e.code),
                ),
            },
            (403, _) => (
                K::PermissionDenied,
                format!("access denied to {object}{detail}: the key needs the {} permission", op.permission()),
            ),
            (404, _) => (K::NotFound, format!("{object} does not exist")),
            (412, _) => (K::AlreadyExists, format!("{object} already exists")),
            (416, _) => (K::InvalidData, format!("{object} is shorter than the range asked for")),
            (429 | 500..=599, _) => (
                K::Unavailable,
                format!(
                    "the server is busy or failing (HTTP {status} {}){detail}, after {} retries",
                    e.code, self.config.connection.retries
                ),
            ),
            _ => (K::Other, format!("the server answered HTTP {status} {}{detail}", e.code)),
        };
        s3_error(kind, message)
    }

    async fn list_page(&self, prefix: &str, token: Option<&str>) -> Result<ListResult, IoError> {
        let mut query = vec![("list-type", "2".to_string()), ("prefix", prefix.to_string())];
        if let Some(n) = self.config.list_page_size {
            query.push(("max-keys", n.to_string()));
        }
        if let Some(t) = token {
            query.push(("continuation-token", t.to_string()));
        }
        let call = Call { method: reqwest::Method::GET, key: None, query, headers: Vec::new(), body: Bytes::new() };
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        if !a.ok() {
            return Err(self.failure(Op::List, None, &a));
        }
        // The XML decoder ignores the root's name: make sure this is a listing at all.
        if !a.body.windows(17).any(|w| w == b"<ListBucketResult") {
            return Err(s3_error(
                IoErrorKind::InvalidData,
                format!("{} did not answer with a bucket listing: is it an S3 endpoint?", self.authority),
            ));
        }
        quick_xml::de::from_reader(&a.body[..])
            .map_err(|e| s3_error(IoErrorKind::InvalidData, format!("the bucket listing does not parse: {e}")))
    }

    async fn put(&self, key: &str, data: Bytes, headers: Vec<(&'static str, String)>) -> Result<(), IoError> {
        let call = Call { method: reqwest::Method::PUT, key: Some(key), query: Vec::new(), headers, body: data };
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        if a.ok() {
            return Ok(());
        }
        Err(self.failure(Op::Put, Some(key), &a))
    }

    async fn put_multipart(&self, key: &str, data: Bytes, headers: Vec<(&'static str, String)>) -> Result<(), IoError> {
        let part_size = self.part_size();
        let mut at = 0;
        self.put_multipart_with(key, headers, || {
            let part = (at < data.len()).then(|| data.slice(at..(at + part_size).min(data.len())));
            at += part_size;
            Ok(part)
        })
        .await
    }

    fn part_size(&self) -> usize {
        self.config.part_size.max(5 << 20)
    }

    /// A multipart upload of the parts `next` yields in order (each [`Self::part_size`] bytes
    /// but the last), aborted if any step fails.
    async fn put_multipart_with<F>(
        &self,
        key: &str,
        headers: Vec<(&'static str, String)>,
        next: F,
    ) -> Result<(), IoError>
    where
        F: FnMut() -> Result<Option<Bytes>, IoError>,
    {
        // A condition (If-None-Match) applies when the upload completes (AWS and others ignore
        // it on the start): the object appears then, and only if no other did meanwhile.
        let (complete_headers, headers): (Vec<_>, Vec<_>) =
            headers.into_iter().partition(|(name, _)| name.starts_with("if-"));
        let init = Call {
            method: reqwest::Method::POST,
            key: Some(key),
            query: vec![("uploads", String::new())],
            headers,
            body: Bytes::new(),
        };
        let a = self.exchange(&init, MAX_SMALL_BODY as u64).await?;
        if !a.ok() {
            return Err(self.failure(Op::Put, Some(key), &a));
        }
        let upload: InitiateResult = quick_xml::de::from_reader(&a.body[..]).map_err(|e| {
            s3_error(IoErrorKind::InvalidData, format!("the multipart upload answer does not parse: {e}"))
        })?;
        let result = self.upload_parts(key, &upload.upload_id, complete_headers, next).await;
        if result.is_err() {
            let abort = Call {
                method: reqwest::Method::DELETE,
                key: Some(key),
                query: vec![("uploadId", upload.upload_id.clone())],
                headers: Vec::new(),
                body: Bytes::new(),
            };
            // Best effort: an upload left behind is cleaned by the bucket's lifecycle rules.
            let _ = self.exchange(&abort, MAX_SMALL_BODY as u64).await;
        }
        result
    }

    async fn upload_parts<F>(
        &self,
        key: &str,
        upload_id: &str,
        complete_headers: Vec<(&'static str, String)>,
        mut next: F,
    ) -> Result<(), IoError>
    where
        F: FnMut() -> Result<Option<Bytes>, IoError>,
    {
        let mut etags = Vec::new();
        while let Some(part) = next()? {
            if etags.len() >= 10_000 {
                return Err(s3_error(IoErrorKind::Unsupported, format!("{key} needs more than 10,000 parts")));
            }
            let call = Call {
                method: reqwest::Method::PUT,
                key: Some(key),
                query: vec![("partNumber", (etags.len() + 1).to_string()), ("uploadId", upload_id.to_string())],
                headers: Vec::new(),
                body: part,
            };
            let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
            if !a.ok() {
                return Err(self.failure(Op::Put, Some(key), &a));
            }
            let etag = a.header("etag").unwrap_or_default().to_string();
            etags.push(etag);
        }
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, etag) in etags.iter().enumerate() {
            let etag = etag.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            xml.push_str(&format!("<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>", i + 1));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let call = Call {
            method: reqwest::Method::POST,
            key: Some(key),
            query: vec![("uploadId", upload_id.to_string())],
            headers: complete_headers,
            body: Bytes::from(xml),
        };
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        // CompleteMultipartUpload can fail with 200 and an <Error> body.
        if a.ok() && !a.body.windows(7).any(|w| w == b"<Error>") {
            return Ok(());
        }
        if !a.ok() {
            return Err(self.failure(Op::Put, Some(key), &a));
        }
        let e: ErrorBody = quick_xml::de::from_reader(&a.body[..]).unwrap_or_default();
        Err(s3_error(
            IoErrorKind::Unavailable,
            format!("completing the upload of {key} failed ({}: {})", e.code, e.message),
        ))
    }

    /// Whether the bucket keeps old versions of objects, and whether a lifecycle rule expires
    /// them. `None` when the server does not say (many S3-compatible servers do not implement
    /// versioning).
    pub async fn versioning(&self) -> Result<Option<BucketVersioning>, IoError> {
        let get = |sub: &'static str| Call {
            method: reqwest::Method::GET,
            key: None,
            query: vec![(sub, String::new())],
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let a = self.exchange(&get("versioning"), MAX_SMALL_BODY as u64).await?;
        if matches!(a.status, 400 | 404 | 405 | 501) && !a.body.windows(12).any(|w| w == b"NoSuchBucket") {
            return Ok(None);
        }
        if !a.ok() {
            return Err(self.failure(Op::List, None, &a));
        }
        let v: VersioningConfiguration = quick_xml::de::from_reader(&a.body[..]).unwrap_or_default();
        let status = v.status.unwrap_or_default();
        if status.is_empty() {
            return Ok(Some(BucketVersioning { status, expires_old_versions: None }));
        }
        let l = self.exchange(&get("lifecycle"), MAX_SMALL_BODY as u64).await?;
        let expires_old_versions = match l.status {
            200..=299 => Some(l.body.windows(27).any(|w| w == b"NoncurrentVersionExpiration")),
            404 => Some(false),
            _ => None,
        };
        Ok(Some(BucketVersioning { status, expires_old_versions }))
    }

    /// The size of an object (a HEAD request).
    async fn size_of(&self, key: &str) -> Result<u64, IoError> {
        let call = Call {
            method: reqwest::Method::HEAD,
            key: Some(key),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let a = self.exchange(&call, 0).await?;
        if !a.ok() {
            return Err(self.failure(Op::Get, Some(key), &a));
        }
        a.header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| s3_error(IoErrorKind::InvalidData, format!("the server gave no size for {key}")))
    }

    /// Writes a probe object twice with `If-None-Match: *` and reports whether the second write
    /// was refused (the server enforces conditional creates), then removes it.
    pub async fn probe_conditional_create(&self) -> Result<bool, IoError> {
        let key = format!("{}locks/.cairn-probe-{:016x}", self.prefix, crate::rng::os_rng().next_u64());
        let headers = || crate::http::create_only_header(WriteMode::CreateNew).into_iter().collect();
        self.put(&key, Bytes::from_static(b"probe"), headers()).await?;
        let second = self.put(&key, Bytes::from_static(b"probe"), headers()).await;
        let del = Call {
            method: reqwest::Method::DELETE,
            key: Some(&key),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let _ = self.exchange(&del, MAX_SMALL_BODY as u64).await;
        let enforced = match second {
            Err(e) if e.kind() == IoErrorKind::AlreadyExists => true,
            Ok(()) => false,
            Err(e) => return Err(e),
        };
        Ok(enforced)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds between the request's time and the server's, from an S3 error body.
fn skew_secs(request: Option<&str>, server: Option<&str>) -> Option<i64> {
    let parse = |s: &str| -> Option<i64> {
        if let Ok(t) = s.parse::<jiff::Timestamp>() {
            return Some(t.as_second());
        }
        // 20260101T000000Z
        let t = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", s).ok()?;
        t.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_second())
    };
    Some((parse(request?)? - parse(server?)?).abs())
}

crate::backend::path_store::storage_over_paths!(S3Backend);

impl PathStore for S3Backend {
    const TEMPORARY_PREFIX: Option<&'static str> = None;

    fn properties(&self) -> StorageProperties {
        // Create-only writes hold either way: through If-None-Match, or through claims.
        StorageProperties::new(self.config.connection.connections)
    }

    async fn read_path(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError> {
        self.read_key(&format!("{}{path}", self.prefix), range).await
    }

    async fn write_path(&self, path: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        let key = format!("{}{path}", self.prefix);
        if body.len() > self.config.multipart_threshold as u64 {
            return self.write_in_parts(&key, body, mode).await;
        }
        self.write_key(&key, body.whole()?, mode, None).await
    }

    async fn remove_path(&self, path: &str) -> Result<(), IoError> {
        self.remove_key(&format!("{}{path}", self.prefix)).await
    }

    async fn list_folder(&self, dir: &str) -> Result<Vec<FolderEntry>, IoError> {
        let under = if dir.is_empty() { self.prefix.clone() } else { format!("{}{dir}/", self.prefix) };
        let keys = self.list_keys(&under).await?;
        let relative = keys.into_iter().filter_map(|(k, size)| Some((k.strip_prefix(&self.prefix)?.to_string(), size)));
        Ok(crate::backend::path_store::folder_of_keys(dir, relative.collect()))
    }

    /// One listing of the kind's prefix, however deep.
    async fn list_objects(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        let keys = self.list_keys(&format!("{}{}", self.prefix, crate::backend::path_store::key_prefix(kind))).await?;
        Ok(crate::backend::path_store::objects_of_keys(&self.prefix, kind, keys))
    }

    /// Create-only writes go through claims; packs get their storage class.
    async fn write_object(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        // If-None-Match is not atomic on every S3-compatible server (s3s-fs lets concurrent
        // creators all succeed): create-only writes go through claims.
        if mode == WriteMode::CreateNew {
            return Box::pin(crate::backend::claim::create_new(self, handle, data)).await;
        }
        let key = self.key_of(handle);
        let class = if handle.kind == FileKind::Pack { self.config.pack_storage_class.clone() } else { None };
        self.write_key(&key, data, mode, class).await
    }
}

impl S3Backend {
    /// Every key under `prefix` with its size, through all listing pages.
    async fn list_keys(&self, prefix: &str) -> Result<Vec<(String, u64)>, IoError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(prefix, token.as_deref()).await?;
            out.extend(page.contents.iter().map(|e| (e.key.clone(), e.size)));
            match page.next_continuation_token {
                Some(next) if page.is_truncated => {
                    if token.as_deref() == Some(next.as_str()) {
                        return Err(s3_error(IoErrorKind::InvalidData, "the server repeated a listing page"));
                    }
                    token = Some(next);
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// Uploads `body` (`size` bytes) to `key` in parts, so that memory stays bounded whatever
    /// its size.
    async fn write_in_parts(&self, key: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        let headers = crate::http::create_only_header(mode).into_iter().collect();
        let size = body.len();
        let part_size = self.part_size() as u64;
        // A part count past S3's 10,000 grows the parts instead.
        let part_size = part_size.max(size.div_ceil(10_000));
        let mut at = 0u64;
        self.put_multipart_with(key, headers, || {
            if at >= size {
                return Ok(None);
            }
            let n = part_size.min(size - at);
            let part = body.piece(at, n as usize)?;
            at += n;
            Ok(Some(part))
        })
        .await
    }

    async fn read_key(&self, key: &str, range: ReadRange) -> Result<Bytes, IoError> {
        let key = key.to_string();
        // A suffix range longer than the object is not handled alike by every server (s3s-fs
        // fails with 500), so a tail asks for the size first and reads an exact span.
        let Some((span, limit)) = crate::http::read_plan(range, || self.size_of(&key)).await? else {
            return Ok(Bytes::new());
        };
        let headers = span.map(|s| vec![("range", crate::http::range_header(s))]).unwrap_or_default();
        let call =
            Call { method: reqwest::Method::GET, key: Some(&key), query: Vec::new(), headers, body: Bytes::new() };
        let a = self.exchange(&call, limit).await?;
        if !a.ok() {
            return Err(self.failure(Op::Get, Some(&key), &a));
        }
        crate::http::check_span(span, &a.body, &key)?;
        Ok(a.body)
    }

    async fn write_key(&self, key: &str, data: Bytes, mode: WriteMode, class: Option<String>) -> Result<(), IoError> {
        let key = key.to_string();
        let mut headers: Vec<_> = crate::http::create_only_header(mode).into_iter().collect();
        if let Some(class) = class {
            headers.push(("x-amz-storage-class", class));
        }
        let result = if data.len() > self.config.multipart_threshold {
            self.put_multipart(&key, data.clone(), headers).await
        } else {
            self.put(&key, data.clone(), headers).await
        };
        match result {
            // A create whose answer was lost, then retried, finds its own object: the bytes
            // (a lock's random token, a config's random id) tell it apart from another writer's.
            Err(e) if e.kind() == IoErrorKind::AlreadyExists => {
                let max_len = data.len() as u64;
                match self.read_key(&key, ReadRange::All { max_len }).await {
                    Ok(found) if found == data => Ok(()),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    async fn remove_key(&self, key: &str) -> Result<(), IoError> {
        let key = key.to_string();
        let call = Call {
            method: reqwest::Method::DELETE,
            key: Some(&key),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
        };
        let a = self.exchange(&call, MAX_SMALL_BODY as u64).await?;
        if a.ok() || a.status == 404 {
            return Ok(());
        }
        Err(self.failure(Op::Delete, Some(&key), &a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::path_store::id_of_key as id_of;
    use cairn_core::Id;

    proptest::proptest! {
        #![proptest_config(crate::hostile::config(4000))]
        /// Whatever a server answers, decoding it gives a value or an error (never a panic);
        /// bodies are read with a size limit first, so memory is bounded by that.
        #[test]
        fn hostile_answers_never_panic(body in crate::hostile::bytes(vec![
            br#"<?xml version="1.0"?><ListBucketResult><Contents><Key>p/data/ab/abab</Key><Size>12</Size></Contents><IsTruncated>true</IsTruncated><NextContinuationToken>t&amp;x</NextContinuationToken></ListBucketResult>"#.to_vec(),
            br#"<Error><Code>SlowDown</Code><Message>m</Message><Region>eu</Region><ServerTime>x</ServerTime></Error>"#.to_vec(),
            br#"<InitiateMultipartUploadResult><UploadId>u-1</UploadId></InitiateMultipartUploadResult>"#.to_vec(),
            br#"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"#.to_vec(),
            br#"<a><![CDATA[<Key>]]></a><!DOCTYPE x [<!ENTITY e "&e;&e;">]><b>&e;</b>"#.to_vec(),
        ])) {
            let _ = quick_xml::de::from_reader::<_, ListResult>(&body[..]);
            let _ = quick_xml::de::from_reader::<_, ErrorBody>(&body[..]);
            let _ = quick_xml::de::from_reader::<_, InitiateResult>(&body[..]);
            let _ = quick_xml::de::from_reader::<_, VersioningConfiguration>(&body[..]);
            let key = String::from_utf8_lossy(&body);
            for kind in [FileKind::Pack, FileKind::Index, FileKind::Snapshot, FileKind::Key, FileKind::Lock, FileKind::Config] {
                let _ = id_of("p/", kind, &key);
            }
        }
    }

    #[test]
    fn directories_are_checked() {
        assert!(validate_directory("/").is_ok());
        assert!(validate_directory("/backups/Laptop2").is_ok());
        assert!(validate_directory("backups").unwrap_err().contains("start with /"));
        assert!(validate_directory("/my backups").unwrap_err().contains("' '"));
        assert!(validate_directory("/a-b").unwrap_err().contains("'-'"));
        assert!(validate_directory("/a//b").unwrap_err().contains("//"));
    }

    #[test]
    fn keys_are_parsed_back_to_ids() {
        let id = Id::from_hex(&"ab".repeat(32)).unwrap();
        let hex = id.to_hex();
        assert_eq!(id_of("p/", FileKind::Pack, &format!("p/data/ab/{hex}")), Some(id));
        assert_eq!(id_of("p/", FileKind::Pack, &format!("p/data/cd/{hex}")), None);
        assert_eq!(id_of("p/", FileKind::Index, &format!("p/index/{hex}")), Some(id));
        assert_eq!(id_of("", FileKind::Index, &format!("index/{hex}")), Some(id));
        assert_eq!(id_of("p/", FileKind::Index, "p/index/.tmp"), None);
        assert_eq!(id_of("p/", FileKind::Lock, &format!("p/locks/.cairn-probe-{hex}")), None);
    }

    #[test]
    fn skew_is_measured() {
        assert_eq!(skew_secs(Some("20260101T000000Z"), Some("2026-01-01T00:15:00Z")), Some(900));
        assert_eq!(skew_secs(None, Some("x")), None);
    }
}

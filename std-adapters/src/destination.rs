//! Destinations: where a repository lives, named by one URL syntax for every type.
//!
//! | URL | destination |
//! |---|---|
//! | `PATH`, `local:PATH` | a local directory |
//! | `s3:https://HOST[:PORT]/BUCKET[/DIR][?OPTIONS]` | an S3-compatible bucket at that endpoint |
//! | `s3:VENDOR/BUCKET[/DIR][?OPTIONS]` | a bucket of a preset vendor ([`crate::s3_vendors`]) |
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
//! `rclone serve restic --stdio REMOTE:PATH` ([`crate::rclone`]) and the remote's credentials
//! stay in rclone's configuration. Options `retries=`, `stall-timeout=`, `connections=`;
//! `CAIRN_RCLONE` names the rclone program (default: `rclone` on PATH).

use std::path::PathBuf;

use bytes::Bytes;
use cairn_core::{FileKind, Handle, IoError, ObjectInfo, ReadOnly, ReadRange, Storage, StorageProperties, WriteMode};

use crate::azure::{AzureAuth, AzureBackend, AzureConfig};
use crate::error::{Error, ErrorKind};
use crate::ftp::{FtpBackend, FtpConfig, FtpTls};
use crate::http::percent_decode;
use crate::local::LocalBackend;
use crate::path_store::{Body, PathStore};
use crate::rclone::RcloneConfig;
use crate::rest::{RestBackend, RestConfig};
use crate::s3::{S3Backend, S3Config, validate_directory};
use crate::s3_vendors::{resolve_template, vendor};
use crate::secret::Secret;
use crate::sftp::{SftpAuth, SftpBackend, SftpConfig};
use crate::side_files;
use crate::webdav::{WebDavBackend, WebDavConfig};

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
            Self::S3(c) => {
                let dir = if c.directory == "/" { String::new() } else { c.directory.clone() };
                format!("s3:{}/{}{dir}", c.endpoint, c.bucket)
            }
            Self::Rest(c) => match &c.user {
                Some(u) => {
                    let (scheme, rest) = c.url.split_once("://").unwrap_or(("https", &c.url));
                    format!("rest:{scheme}://{u}@{rest}")
                }
                None => format!("rest:{}", c.url),
            },
            Self::Sftp(c) => format!("sftp://{}@{}:{}{}", c.user, c.host, c.port, c.directory),
            Self::Azure(c) => {
                let dir = if c.directory == "/" { String::new() } else { c.directory.clone() };
                let default = format!("https://{}.blob.core.windows.net", c.account);
                let endpoint = if c.endpoint == default { String::new() } else { format!("?endpoint={}", c.endpoint) };
                format!("azure:{}/{}{dir}{endpoint}", c.account, c.container)
            }
            Self::WebDav(c) => match &c.user {
                Some(u) => {
                    let (scheme, rest) = c.url.split_once("://").unwrap_or(("https", &c.url));
                    format!("webdav:{scheme}://{u}@{rest}")
                }
                None => format!("webdav:{}", c.url),
            },
            Self::Ftp(c) => {
                let scheme = if c.tls == FtpTls::Required { "ftps" } else { "ftp" };
                let user = if c.user == "anonymous" { String::new() } else { format!("{}@", c.user) };
                let port = if c.port == 21 { String::new() } else { format!(":{}", c.port) };
                format!("{scheme}://{user}{}{port}/{}", c.host, c.directory)
            }
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
        Ok(match self {
            Self::Local(p) => Destination::Local(Box::new(LocalBackend::new(p))),
            Self::S3(c) => Destination::S3(Box::new(
                S3Backend::new((**c).clone())
                    .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid S3 destination: {e}")))?,
            )),
            Self::Rest(c) => Destination::Rest(Box::new(
                RestBackend::new((**c).clone())
                    .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid REST destination: {e}")))?,
            )),
            Self::Sftp(c) => Destination::Sftp(Box::new(
                SftpBackend::new((**c).clone())
                    .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid SFTP destination: {e}")))?,
            )),
            Self::Azure(c) => Destination::Azure(Box::new(
                AzureBackend::new((**c).clone())
                    .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid Azure destination: {e}")))?,
            )),
            Self::WebDav(c) => Destination::WebDav(Box::new(
                WebDavBackend::new((**c).clone())
                    .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid WebDAV destination: {e}")))?,
            )),
            Self::Ftp(c) => Destination::Ftp(Box::new(
                FtpBackend::new((**c).clone())
                    .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid FTP destination: {e}")))?,
            )),
            Self::Rclone(c) => Destination::Rest(Box::new(RestBackend::rclone((**c).clone()))),
        })
    }
}

/// Credentials from outside the URL (environment, flags, catalog): S3 keys, the REST password.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// The access key id.
    pub access_key: Option<String>,
    /// The secret access key.
    pub secret_key: Option<Secret>,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
    /// The REST server password, when not in the URL.
    pub rest_password: Option<Secret>,
    /// The SSH private key file (a `key=` in the URL wins).
    pub ssh_key: Option<PathBuf>,
    /// The SSH key's passphrase.
    pub ssh_passphrase: Option<Secret>,
    /// The SSH password (used when there is no key).
    pub ssh_password: Option<Secret>,
    /// A host key fingerprint (`SHA256:...`) the user accepted.
    pub accept_host_key: Option<String>,
    /// The `known_hosts` file [default: `~/.ssh/known_hosts`].
    pub known_hosts: Option<PathBuf>,
    /// The Azure storage account key.
    pub azure_key: Option<Secret>,
    /// An Azure SAS token (used when there is no account key).
    pub azure_sas: Option<Secret>,
    /// The WebDAV password.
    pub webdav_password: Option<Secret>,
    /// The FTP password.
    pub ftp_password: Option<Secret>,
}

fn bad(url: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("invalid destination {url:?}: {why}"))
}

fn flag(url: &str, name: &str, v: &str) -> Result<bool, Error> {
    match v {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(bad(url, format!("{name} must be true or false, not {v:?}"))),
    }
}

/// `retries=N` (0 to 20).
fn retries(url: &str, v: &str) -> Result<u32, Error> {
    v.parse().ok().filter(|n| *n <= 20).ok_or_else(|| bad(url, "retries must be 0 to 20"))
}

/// `connections=N` (1 to 64).
fn connections(url: &str, v: &str) -> Result<usize, Error> {
    v.parse().ok().filter(|n| (1..=64).contains(n)).ok_or_else(|| bad(url, "connections must be 1 to 64"))
}

/// `stall-timeout=SECONDS` (1 to 3600).
fn stall_timeout(url: &str, v: &str) -> Result<std::time::Duration, Error> {
    let secs: u64 = v
        .parse()
        .ok()
        .filter(|n| (1..=3600).contains(n))
        .ok_or_else(|| bad(url, "stall-timeout must be 1 to 3600 seconds"))?;
    Ok(std::time::Duration::from_secs(secs))
}

/// Sets the connection option `k` that every HTTP destination takes (`verify-tls`, `retries`,
/// `stall-timeout`, `connections`) from `v`; false if `k` is not one of them.
fn http_option(
    url: &str,
    k: &str,
    v: &str,
    verify_tls: &mut bool,
    retry_count: &mut u32,
    stall: &mut std::time::Duration,
    pool: &mut usize,
) -> Result<bool, Error> {
    match k {
        "verify-tls" => *verify_tls = flag(url, "verify-tls", v)?,
        "retries" => *retry_count = retries(url, v)?,
        "stall-timeout" => *stall = stall_timeout(url, v)?,
        "connections" => *pool = connections(url, v)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// The query of a destination that takes only the connection options of [`http_option`].
fn http_options(
    url: &str,
    query: &str,
    verify_tls: &mut bool,
    retry_count: &mut u32,
    stall: &mut std::time::Duration,
    pool: &mut usize,
) -> Result<(), Error> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !http_option(url, k, v, verify_tls, retry_count, stall, pool)? {
            return Err(bad(url, format!("unknown option {k:?}"))
                .with_hint("known options: verify-tls, retries, stall-timeout, connections"));
        }
    }
    Ok(())
}

/// Parses a destination URL (see the [module docs](self)).
pub fn parse_destination(url: &str, credentials: Credentials) -> Result<DestinationUrl, Error> {
    if let Some(rest) = url.strip_prefix("s3:") {
        return parse_s3(url, rest, credentials).map(|c| DestinationUrl::S3(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("webdav:") {
        return parse_webdav(url, rest, credentials.webdav_password).map(|c| DestinationUrl::WebDav(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("azure:") {
        return parse_azure(url, rest, credentials).map(|c| DestinationUrl::Azure(Box::new(c)));
    }
    if url.starts_with("ftp://") || url.starts_with("ftps://") {
        return parse_ftp(url, credentials.ftp_password).map(|c| DestinationUrl::Ftp(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("rclone:") {
        return parse_rclone(url, rest).map(|c| DestinationUrl::Rclone(Box::new(c)));
    }
    if url.starts_with("sftp://") {
        return parse_sftp(url, credentials).map(|c| DestinationUrl::Sftp(Box::new(c)));
    }
    if let Some(rest) = url.strip_prefix("rest:") {
        return parse_rest(url, rest, credentials.rest_password).map(|c| DestinationUrl::Rest(Box::new(c)));
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

fn parse_s3(url: &str, rest: &str, credentials: Credentials) -> Result<S3Config, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut opts: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // Values are percent-encoded as the form writes them (an endpoint template's "://").
        opts.push((k.to_ascii_lowercase(), percent_decode(v)));
    }
    let opt = |name: &str| opts.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    const KNOWN: [&str; 11] = [
        "stall-timeout",
        "vendor",
        "region",
        "path-style",
        "verify-tls",
        "retries",
        "connections",
        "storage-class",
        "account",
        "endpoint",
        "access-key",
    ];
    for (k, _) in &opts {
        if k == "secret-key" || k == "secret" {
            return Err(bad(url, "the secret key cannot go in the URL")
                .with_hint("set AWS_SECRET_ACCESS_KEY (or keep it in the catalog)"));
        }
        if !KNOWN.contains(&k.as_str()) {
            return Err(
                bad(url, format!("unknown option {k:?}")).with_hint(format!("known options: {}", KNOWN.join(", ")))
            );
        }
    }

    // Endpoint and bucket path: explicit `https://HOST/BUCKET/DIR`, or `VENDOR/BUCKET/DIR`.
    let (endpoint, path, default_path_style, region) = if let Some((scheme, after)) = location.split_once("://") {
        let (host, path) = after.split_once('/').unwrap_or((after, ""));
        if host.is_empty() {
            return Err(bad(url, "no host in the endpoint"));
        }
        // `vendor=` with an explicit endpoint brings that vendor's addressing and region list.
        let preset = match opt("vendor") {
            Some(id) => Some(vendor(id).ok_or_else(|| bad(url, format!("unknown vendor {id:?}")))?),
            None => None,
        };
        let default_region =
            preset.and_then(|v| v.regions.first().copied()).or(aws_region(host)).unwrap_or("us-east-1");
        let region = opt("region").unwrap_or(default_region).to_string();
        if let Some(v) = preset.filter(|v| !v.regions.is_empty() && !v.regions.contains(&region.as_str())) {
            return Err(bad(url, format!("{} has no region {region:?}", v.name))
                .with_hint(format!("regions: {}", v.regions.join(", "))));
        }
        let path_style = preset.map_or(!host.ends_with(".amazonaws.com"), |v| v.path_style);
        (format!("{scheme}://{host}"), path.to_string(), path_style, region)
    } else {
        let (vendor_id, path) = location.split_once('/').unwrap_or((location, ""));
        if vendor_id == "custom" {
            let template = opt("endpoint").ok_or_else(|| {
                bad(url, "the custom vendor needs endpoint=TEMPLATE (like https://s3.{region}.example.com)")
            })?;
            let region = opt("region").unwrap_or("us-east-1").to_string();
            let (endpoint, virtual_hosted) =
                resolve_template(template, &region, opt("account")).map_err(|e| bad(url, e))?;
            (endpoint, path.to_string(), !virtual_hosted, region)
        } else {
            let v = vendor(vendor_id).ok_or_else(|| {
                bad(url, format!("unknown vendor {vendor_id:?}")).with_hint(format!(
                    "use s3:https://ENDPOINT/BUCKET/DIR, or a vendor: {}, custom",
                    crate::s3_vendors::VENDORS.iter().map(|v| v.id).collect::<Vec<_>>().join(", ")
                ))
            })?;
            if v.endpoint.is_empty() {
                return Err(bad(url, format!("{} needs its endpoint: s3:https://HOST:PORT/BUCKET/DIR", v.name)));
            }
            let region = opt("region").or(v.regions.first().copied()).unwrap_or("us-east-1").to_string();
            if !v.regions.is_empty() && !v.regions.contains(&region.as_str()) {
                return Err(bad(url, format!("{} has no region {region:?}", v.name))
                    .with_hint(format!("regions: {}", v.regions.join(", "))));
            }
            let (endpoint, _) = resolve_template(v.endpoint, &region, opt("account")).map_err(|e| bad(url, e))?;
            (endpoint, path.to_string(), v.path_style, region)
        }
    };
    let (bucket, dir) = path.split_once('/').unwrap_or((&path, ""));
    if bucket.is_empty() {
        return Err(bad(url, "no bucket: write s3:https://HOST/BUCKET/DIR"));
    }
    if !crate::s3::valid_bucket_name(bucket) {
        return Err(bad(url, format!("{bucket:?} is not a bucket name (3 to 63 of a-z, 0-9, '.', '-')")));
    }
    let directory = format!("/{}", dir.trim_end_matches('/'));
    validate_directory(&directory).map_err(|e| bad(url, e))?;

    let access_key = opt("access-key").map(String::from).or(credentials.access_key).ok_or_else(|| {
        Error::new(ErrorKind::InvalidInput, "no S3 access key")
            .with_hint("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    })?;
    let secret_key = credentials.secret_key.ok_or_else(|| {
        Error::new(ErrorKind::InvalidInput, "no S3 secret key").with_hint("set AWS_SECRET_ACCESS_KEY")
    })?;
    let mut c = S3Config::new(&endpoint, bucket, &region, &access_key, secret_key);
    c.session_token = credentials.session_token;
    c.directory = directory;
    c.path_style = opt("path-style").map(|v| flag(url, "path-style", v)).transpose()?.unwrap_or(default_path_style);
    if let Some(v) = opt("verify-tls") {
        c.verify_tls = flag(url, "verify-tls", v)?;
    }
    if let Some(v) = opt("retries") {
        c.retries = retries(url, v)?;
    }
    if let Some(v) = opt("connections") {
        c.connections = connections(url, v)?;
    }
    if let Some(v) = opt("stall-timeout") {
        c.stall_timeout = stall_timeout(url, v)?;
    }
    c.pack_storage_class = opt("storage-class").filter(|v| !v.is_empty()).map(String::from);
    Ok(c)
}

/// `sftp://[USER@]HOST[:PORT]/ABSOLUTE/PATH[?key=FILE&host-key=SHA256:...&known-hosts=FILE&retries=N&connections=N]`
/// (`host-key` pins the server's key by its fingerprint, percent-encoded).
fn parse_sftp(url: &str, credentials: Credentials) -> Result<SftpConfig, Error> {
    let rest = url.strip_prefix("sftp://").unwrap_or(url);
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = location
        .split_once('/')
        .ok_or_else(|| bad(url, "no directory: write sftp://USER@HOST[:PORT]/ABSOLUTE/PATH"))?;
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (percent_decode(u), h),
        None => (std::env::var("USER").unwrap_or_else(|_| "root".into()), authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
            h.trim_matches(|c| c == '[' || c == ']'),
            p.parse::<u16>().map_err(|_| bad(url, format!("bad port {p:?}")))?,
        ),
        _ => (hostport.trim_matches(|c| c == '[' || c == ']'), 22),
    };
    if host.is_empty() {
        return Err(bad(url, "no host"));
    }
    let directory = format!("/{}", percent_decode(path).trim_end_matches('/'));
    let mut key = credentials.ssh_key;
    let mut known_hosts = credentials.known_hosts;
    let mut retry_count = None;
    let mut pool = None;
    let mut host_key = credentials.accept_host_key;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "key" => key = Some(PathBuf::from(percent_decode(v))),
            "host-key" => host_key = Some(percent_decode(v)),
            "connections" => pool = Some(connections(url, v)?),
            "known-hosts" => known_hosts = Some(PathBuf::from(percent_decode(v))),
            "retries" => retry_count = Some(retries(url, v)?),
            other => {
                return Err(bad(url, format!("unknown option {other:?}"))
                    .with_hint("known options: key, host-key, known-hosts, retries, connections"));
            }
        }
    }
    let auth = match (key, credentials.ssh_password) {
        (Some(path), _) => SftpAuth::Key { path, passphrase: credentials.ssh_passphrase },
        (None, Some(p)) => SftpAuth::Password(p),
        (None, None) => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            let found =
                ["id_ed25519", "id_ecdsa", "id_rsa"].iter().map(|n| home.join(".ssh").join(n)).find(|p| p.is_file());
            match found {
                Some(path) => SftpAuth::Key { path, passphrase: credentials.ssh_passphrase },
                None => {
                    return Err(Error::new(ErrorKind::InvalidInput, "no SSH key or password for the SFTP server")
                        .with_hint("give --ssh-key FILE (or ?key=FILE in the URL), or set CAIRN_SSH_PASSWORD"));
                }
            }
        }
    };
    let mut c = SftpConfig::new(host, &user, auth, &directory);
    c.port = port;
    c.known_hosts = known_hosts;
    c.accepted_host_key = host_key;
    if let Some(r) = retry_count {
        c.retries = r;
    }
    if let Some(n) = pool {
        c.connections = n;
    }
    Ok(c)
}

/// `rest:http(s)://[USER[:PASSWORD]@]HOST[:PORT]/PATH[?OPTIONS]`.
fn parse_rest(url: &str, rest: &str, password: Option<Secret>) -> Result<RestConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, after) = location
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "http" | "https"))
        .ok_or_else(|| bad(url, "write rest:https://[USER@]HOST[:PORT]/PATH"))?;
    let (authority, path) = after.split_once('/').unwrap_or((after, ""));
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(bad(url, "no host"));
    }
    let (user, url_password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((name, pw)) => (Some(percent_decode(name)), Some(Secret::new(percent_decode(pw).into_bytes()))),
            None => (Some(percent_decode(u)), None),
        },
        None => (None, None),
    };
    let mut c = RestConfig::new(&format!("{scheme}://{host}/{}", path.trim_end_matches('/')));
    c.password = url_password.or(password);
    if user.is_some() && c.password.is_none() {
        return Err(Error::new(ErrorKind::InvalidInput, "no password for the REST server")
            .with_hint("set CAIRN_REST_PASSWORD, or put it in the URL as rest:https://USER:PASSWORD@HOST/PATH"));
    }
    c.user = user;
    http_options(url, query, &mut c.verify_tls, &mut c.retries, &mut c.stall_timeout, &mut c.connections)?;
    Ok(c)
}

/// `azure:ACCOUNT/CONTAINER[/DIR][?OPTIONS]` (see the [module docs](self)).
fn parse_azure(url: &str, rest: &str, credentials: Credentials) -> Result<AzureConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut parts = location.splitn(3, '/');
    let account = parts.next().unwrap_or_default();
    let container = parts.next().unwrap_or_default();
    let dir = parts.next().unwrap_or_default();
    if account.is_empty() || container.is_empty() {
        return Err(bad(url, "write azure:ACCOUNT/CONTAINER/DIR"));
    }
    if !crate::azure::valid_account_name(account) {
        return Err(bad(url, format!("{account:?} is not a storage account name (3 to 24 of a-z and 0-9)")));
    }
    if !crate::azure::valid_container_name(container) {
        return Err(bad(
            url,
            format!(
                "{container:?} is not a container name (3 to 63 of a-z, 0-9 and single '-', starting with a letter or digit)"
            ),
        ));
    }
    let directory = format!("/{}", dir.trim_end_matches('/'));
    validate_directory(&directory).map_err(|e| bad(url, e))?;
    let auth = match (credentials.azure_key, credentials.azure_sas) {
        (Some(k), _) => AzureAuth::SharedKey(k),
        (None, Some(t)) => AzureAuth::Sas(t),
        (None, None) => {
            return Err(Error::new(ErrorKind::InvalidInput, "no Azure account key or SAS token")
                .with_hint("set AZURE_ACCOUNT_KEY (the storage account's key1 or key2) or AZURE_ACCOUNT_SAS"));
        }
    };
    let mut c = AzureConfig::new(account, container, auth);
    c.directory = directory;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "endpoint" => {
                let v = percent_decode(v);
                if !(v.starts_with("https://") || v.starts_with("http://")) || v.len() < 9 {
                    return Err(bad(url, format!("the endpoint {v:?} must be an https:// URL")));
                }
                c.endpoint = v.trim_end_matches('/').to_string();
            }
            "access-tier" => {
                c.pack_access_tier = match v.to_ascii_lowercase().as_str() {
                    "" => None,
                    "hot" => Some("Hot".into()),
                    "cool" => Some("Cool".into()),
                    "cold" => Some("Cold".into()),
                    "archive" => {
                        return Err(bad(url, "access-tier Archive cannot hold packs: reading them back takes hours")
                            .with_hint("use Cool or Cold, or a lifecycle rule on old data"));
                    }
                    _ => return Err(bad(url, format!("access-tier must be Hot, Cool or Cold, not {v:?}"))),
                };
            }
            "verify-tls" | "retries" | "stall-timeout" | "connections" => {
                http_option(url, k, v, &mut c.verify_tls, &mut c.retries, &mut c.stall_timeout, &mut c.connections)?;
            }
            "key" | "account-key" | "sas" | "sig" => {
                return Err(bad(url, "the account key or SAS token cannot go in the URL")
                    .with_hint("set AZURE_ACCOUNT_KEY or AZURE_ACCOUNT_SAS (or keep it in the catalog)"));
            }
            other => {
                return Err(bad(url, format!("unknown option {other:?}")).with_hint(
                    "known options: endpoint, access-tier, verify-tls, retries, stall-timeout, connections",
                ));
            }
        }
    }
    Ok(c)
}

/// `rclone:REMOTE:PATH[?OPTIONS]` (see the [module docs](self)).
fn parse_rclone(url: &str, rest: &str) -> Result<RcloneConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    // `:TYPE:PATH` is an on-the-fly backend: its name holds the first colon.
    let split = match location.strip_prefix(':') {
        Some(after) => after.find(':').map(|i| i + 1),
        None => location.find(':'),
    };
    let Some((remote, path)) = split.map(|i| (&location[..i], &location[i + 1..])) else {
        return Err(bad(url, "write rclone:REMOTE:PATH (a remote set up with `rclone config`)"));
    };
    if remote.contains(',') {
        // Not echoed: the options may be credentials.
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "invalid rclone destination: options after the remote's name (REMOTE,OPTION=VALUE) are not taken here: \
             they can hold credentials, which would end up in Cairn's catalog and logs",
        )
        .with_hint("set the remote up with `rclone config` and give its name"));
    }
    if !crate::rclone::valid_remote_name(remote) {
        return Err(bad(url, format!("{remote:?} is not an rclone remote name"))
            .with_hint("`rclone listremotes` lists yours; `rclone config` sets one up"));
    }
    let path = percent_decode(path);
    if path.split('/').any(|p| p == "..") || path.contains(['\r', '\n', '\0']) {
        return Err(bad(url, "the path may not contain '..', line breaks or NUL"));
    }
    let mut c = RcloneConfig::new(remote, path.trim_end_matches('/'));
    let mut verify_tls = true;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "verify-tls"
            || !http_option(url, k, v, &mut verify_tls, &mut c.retries, &mut c.stall_timeout, &mut c.connections)?
        {
            return Err(bad(url, format!("unknown option {k:?}"))
                .with_hint("known options: retries, stall-timeout, connections (TLS is rclone's to set up)"));
        }
    }
    Ok(c)
}

/// `webdav:http(s)://[USER@]HOST[:PORT]/PATH[?OPTIONS]`.
fn parse_webdav(url: &str, rest: &str, password: Option<Secret>) -> Result<WebDavConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, after) = location
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "http" | "https"))
        .ok_or_else(|| bad(url, "write webdav:https://[USER@]HOST[:PORT]/PATH"))?;
    let (authority, path) = after.split_once('/').unwrap_or((after, ""));
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() {
        return Err(bad(url, "no host"));
    }
    if user.is_some_and(|u| u.contains(':')) {
        return Err(bad(url, "the WebDAV password cannot go in the URL")
            .with_hint("set CAIRN_WEBDAV_PASSWORD (or keep it in the catalog)"));
    }
    let path = percent_decode(path);
    if path.split('/').any(|s| s == "..") || path.contains(['?', '#', '\0']) {
        return Err(bad(url, "the path may not contain '..', '?', '#' or NUL"));
    }
    let mut c = WebDavConfig::new(&format!("{scheme}://{host}/{}", path.trim_matches('/')));
    c.user = user.map(percent_decode);
    c.password = password;
    if c.user.is_some() && c.password.is_none() {
        return Err(Error::new(ErrorKind::InvalidInput, "no password for the WebDAV server")
            .with_hint("set CAIRN_WEBDAV_PASSWORD"));
    }
    http_options(url, query, &mut c.verify_tls, &mut c.retries, &mut c.stall_timeout, &mut c.connections)?;
    Ok(c)
}

/// `ftp://[USER@]HOST[:PORT]/PATH[?OPTIONS]` or `ftps://...` (see the [module docs](self)).
fn parse_ftp(url: &str, password: Option<Secret>) -> Result<FtpConfig, Error> {
    let (scheme, after) = url.split_once("://").ok_or_else(|| bad(url, "write ftp://[USER@]HOST[:PORT]/PATH"))?;
    let (location, query) = after.split_once('?').unwrap_or((after, ""));
    let (authority, path) = location.split_once('/').unwrap_or((location, ""));
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if user.is_some_and(|u| u.contains(':')) {
        return Err(bad(url, "the FTP password cannot go in the URL")
            .with_hint("set CAIRN_FTP_PASSWORD (or keep it in the catalog)"));
    }
    let (host, port) = match hostport.rsplit_once(':').filter(|(h, _)| !h.ends_with(']') || h.starts_with('[')) {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
            (h, p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad(url, format!("{p:?} is not a port")))?)
        }
        _ => (hostport, 21),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad(url, "no host"));
    }
    let path = percent_decode(path);
    if path.split('/').any(|s| s == "..") || path.contains(['\r', '\n', '\0']) {
        return Err(bad(url, "the path may not contain '..', line breaks or NUL"));
    }
    // `ftp://host/dir` is relative to the login folder; `ftp://host//srv/dir` is absolute.
    let directory = if let Some(abs) = path.strip_prefix('/') {
        format!("/{}", abs.trim_matches('/'))
    } else {
        path.trim_matches('/').to_string()
    };
    let mut c = FtpConfig::new(host, &directory);
    c.port = port;
    if let Some(u) = user {
        let u = percent_decode(u);
        if u.is_empty() || u.contains(['\r', '\n', '\0']) {
            return Err(bad(url, "the user name is empty or has a line break"));
        }
        c.user = u;
    }
    c.password = password;
    if user.is_some() && c.user != "anonymous" && c.password.is_none() {
        return Err(
            Error::new(ErrorKind::InvalidInput, "no password for the FTP server").with_hint("set CAIRN_FTP_PASSWORD")
        );
    }
    if c.password.as_ref().is_some_and(|p| p.expose().iter().any(|b| matches!(b, b'\r' | b'\n' | 0))) {
        return Err(Error::new(ErrorKind::InvalidInput, "the FTP password has a line break or NUL in it"));
    }
    c.tls = if scheme == "ftps" { FtpTls::Required } else { FtpTls::IfOffered };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "tls" => {
                c.tls = match (scheme, v) {
                    ("ftp", "off" | "false" | "no") => FtpTls::Off,
                    ("ftp", "if-offered" | "auto") => FtpTls::IfOffered,
                    (_, "required" | "on" | "true" | "yes") => FtpTls::Required,
                    ("ftps", _) => return Err(bad(url, "ftps:// always uses TLS; use ftp:// with tls=off for clear")),
                    _ => return Err(bad(url, format!("tls must be off, if-offered or required, not {v:?}"))),
                }
            }
            _ => {
                if !http_option(url, k, v, &mut c.verify_tls, &mut c.retries, &mut c.stall_timeout, &mut c.connections)?
                {
                    return Err(bad(url, format!("unknown option {k:?}"))
                        .with_hint("known options: tls, verify-tls, retries, stall-timeout, connections"));
                }
            }
        }
    }
    Ok(c)
}

/// The region in an AWS endpoint host (`s3.eu-west-1.amazonaws.com`).
fn aws_region(host: &str) -> Option<&str> {
    let rest = host.strip_suffix(".amazonaws.com")?;
    let region = rest.rsplit('.').next()?;
    (region != "s3" && !region.is_empty()).then_some(region)
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

/// `$body` with `$s` bound to the open backend of `$dest`, whatever its type.
macro_rules! each_type {
    ($dest:expr, $s:ident => $body:expr) => {
        match $dest {
            Destination::Rest($s) => $body,
            Destination::Local($s) => $body,
            Destination::S3($s) => $body,
            Destination::Sftp($s) => $body,
            Destination::Azure($s) => $body,
            Destination::WebDav($s) => $body,
            Destination::Ftp($s) => $body,
        }
    };
}

/// `$body` with `$s` bound to the [`PathStore`] of `$dest`, or `$rest` for a REST server,
/// which keeps only a repository's own objects.
macro_rules! path_store {
    ($dest:expr, $s:ident => $body:expr, rest => $rest:expr) => {
        match $dest {
            Destination::Rest(_) => $rest,
            Destination::Local($s) => $body,
            Destination::S3($s) => $body,
            Destination::Sftp($s) => $body,
            Destination::Azure($s) => $body,
            Destination::WebDav($s) => $body,
            Destination::Ftp($s) => $body,
        }
    };
}

impl Storage for Destination {
    fn properties(&self) -> StorageProperties {
        each_type!(self, s => Storage::properties(&**s))
    }
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        each_type!(self, s => s.list(kind).await)
    }
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        each_type!(self, s => s.read(handle, range).await)
    }
    async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        each_type!(self, s => s.read_into(handle, range, buf).await)
    }
    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        each_type!(self, s => s.write(handle, data, mode).await)
    }
    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        each_type!(self, s => s.remove(handle).await)
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
        path_store!(self, s => side_files::remove_stale_temporaries(&**s, older_than).await, rest => Ok(0))
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

/// Files beside the repository, outside its format (see [`crate::side_files`]). A restic REST
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
        path_store!(self, _s => true, rest => false)
    }

    /// Writes (replacing) the file `name` beside the repository.
    pub async fn put_file(&self, name: &str, data: Bytes) -> Result<(), IoError> {
        let body = Body::Bytes(&data);
        path_store!(self, s => side_files::put(&**s, name, body, WriteMode::Replace).await, rest => Err(Self::no_side_files()))
    }

    /// Reads the file `name` beside the repository (at most `max_len` bytes).
    pub async fn get_file(&self, name: &str, max_len: u64) -> Result<Bytes, IoError> {
        path_store!(self, s => side_files::get(&**s, name, max_len).await, rest => Err(IoError::from_kind(cairn_core::IoErrorKind::NotFound)))
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
        path_store!(self, s => side_files::put(&**s, name, body, mode).await, rest => Err(Self::no_side_files()))
    }

    /// Copies the file `name` beside the repository, `size` bytes long (as listed), into `out`,
    /// a few MiB at a time.
    pub async fn get_file_into(&self, name: &str, size: u64, out: &mut impl std::io::Write) -> Result<(), IoError> {
        path_store!(self, s => side_files::get_into(&**s, name, size, out).await, rest => Err(IoError::from_kind(cairn_core::IoErrorKind::NotFound)))
    }

    /// The files directly in `dir` beside the repository, with their sizes, sorted by name.
    pub async fn list_files(&self, dir: &str) -> Result<Vec<(String, u64)>, IoError> {
        path_store!(self, s => side_files::list(&**s, dir).await, rest => Ok(Vec::new()))
    }

    /// Free bytes on the destination, where it can tell (local disks; SFTP servers with the
    /// `statvfs` extension). Object stores and REST have no such notion.
    pub async fn free_space(&self) -> Result<Option<u64>, IoError> {
        path_store!(self, s => PathStore::free_space(&**s).await, rest => Ok(None))
    }

    /// Removes the file `name` beside the repository (absent is fine).
    pub async fn remove_file(&self, name: &str) -> Result<(), IoError> {
        path_store!(self, s => side_files::remove(&**s, name).await, rest => Ok(()))
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
        Credentials {
            access_key: Some("AK".into()),
            secret_key: Some(Secret::new(b"SK".to_vec())),
            session_token: None,
            rest_password: None,
            ssh_key: Some("/keys/id".into()),
            azure_key: Some(Secret::new(b"a2V5".to_vec())),
            webdav_password: Some(Secret::new(b"pw".to_vec())),
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
        assert!(c.path_style && !c.verify_tls);
        assert_eq!((c.directory.as_str(), c.region.as_str(), c.retries), ("/", "eu-1", 5));
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
        with_pw.ftp_password = Some(Secret::new(b"pw".to_vec()));
        let DestinationUrl::Ftp(f) = parse_destination("ftps://me@[::1]:2121//srv/b%20x/?retries=1", with_pw).unwrap()
        else {
            panic!()
        };
        assert_eq!((f.host.as_str(), f.port, f.user.as_str(), f.directory.as_str()), ("::1", 2121, "me", "/srv/b x"));
        assert_eq!((f.tls, f.retries), (FtpTls::Required, 1));
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
        assert_eq!((r.remote.as_str(), r.path.as_str(), r.retries, r.connections), (":local", "/srv/b", 7, 2));
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
        assert_eq!((r.url.as_str(), r.user.as_deref(), r.retries), ("https://host:8000/repo", Some("me"), 1));
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
            (c.host.as_str(), c.port, c.user.as_str(), c.directory.as_str(), c.retries),
            ("nas.local", 2222, "me", "/srv/backup", 5)
        );
        assert!(matches!(&c.auth, SftpAuth::Key { path, .. } if path == std::path::Path::new("/keys/id")));
        assert_eq!(DestinationUrl::Sftp(c).show(), "sftp://me@nas.local:2222/srv/backup");
        let DestinationUrl::Sftp(c) = parse_destination("sftp://me@h/d?key=/other", creds()).unwrap() else { panic!() };
        assert_eq!(c.port, 22);
        assert!(matches!(&c.auth, SftpAuth::Key { path, .. } if path == std::path::Path::new("/other")));
        assert!(parse_destination("sftp://me@h", creds()).unwrap_err().to_string().contains("no directory"));
        assert!(parse_destination("sftp://me@h:x/d", creds()).unwrap_err().to_string().contains("bad port"));
    }
}

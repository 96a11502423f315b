//! A destination described field by field, as the CLI's `destination create --type` and the
//! desktop form give it, checked one field at a time and turned into the one URL syntax of
//! [`crate::parse_destination`].
//!
//! Every error names its field (`bucket: ...`, `port: ...`), so a form can show it next to the
//! field that caused it. Secrets are not fields here: they go to the catalog sealed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::connection::{ConnectionOptions, OPTION_NAMES};
use crate::backend::s3::vendors::vendor;
use crate::error::{Error, ErrorKind};
use crate::http::percent_encode as encode;

/// A destination's fields (see the [module docs](self)). Which fields apply depends on `kind`.
///
/// The command line takes them as flags (with the `clap` feature, `#[command(flatten)]`):
/// `destination create --type sftp --host nas --backup-dir /srv/cairn`. A field not given
/// is `None` (or empty), so an update can change exactly the fields given ([`Self::merge`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[cfg_attr(feature = "clap", command(next_help_heading = "Destination fields"))]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub struct DestinationFields {
    /// local, s3, sftp, rest, azure, webdav, ftp or rclone
    #[cfg_attr(
        feature = "clap",
        arg(long = "type", value_name = "TYPE", default_value = "", hide_default_value = true)
    )]
    pub kind: String,
    /// The backup directory: an absolute path (local, SFTP), a prefix in the bucket (S3) or
    /// container (Azure), a path on the server (REST, WebDAV), relative to the login folder
    /// unless it starts with / (FTP), a folder on the remote (rclone)
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR", default_value = "", hide_default_value = true))]
    pub backup_dir: String,
    /// rclone: the remote's name in rclone's configuration (`rclone listremotes` lists them),
    /// or :TYPE for an on-the-fly backend
    #[cfg_attr(feature = "clap", arg(long))]
    pub remote: Option<String>,
    /// S3 vendor: aws, wasabi, b2, r2, digitalocean, scaleway, linode, ibm, oracle, gcs,
    /// minio or custom
    #[cfg_attr(feature = "clap", arg(long))]
    pub vendor: Option<String>,
    /// S3 endpoint (https://HOST[:PORT]), or the custom vendor's template with {region}; Azure
    /// Blob endpoint, if not https://ACCOUNT.blob.core.windows.net (http://HOST:PORT/ACCOUNT
    /// for an emulator)
    #[cfg_attr(feature = "clap", arg(long))]
    pub endpoint: Option<String>,
    /// S3 region
    #[cfg_attr(feature = "clap", arg(long))]
    pub region: Option<String>,
    /// S3 bucket
    #[cfg_attr(feature = "clap", arg(long))]
    pub bucket: Option<String>,
    /// S3 account id (Cloudflare R2) or namespace (Oracle); Azure storage account (its key in
    /// AZURE_ACCOUNT_KEY, or a SAS token in AZURE_ACCOUNT_SAS)
    #[cfg_attr(feature = "clap", arg(long))]
    pub account: Option<String>,
    /// Azure container
    #[cfg_attr(feature = "clap", arg(long))]
    pub container: Option<String>,
    /// Azure access tier for data packs: Hot, Cool or Cold
    #[cfg_attr(feature = "clap", arg(long))]
    pub access_tier: Option<String>,
    /// S3 access key id (the secret key in AWS_SECRET_ACCESS_KEY)
    #[cfg_attr(feature = "clap", arg(skip))]
    pub access_key: Option<String>,
    /// S3 storage class for data packs
    #[cfg_attr(feature = "clap", arg(long))]
    pub storage_class: Option<String>,
    /// SFTP, REST, WebDAV or FTP host
    #[cfg_attr(feature = "clap", arg(long))]
    pub host: Option<String>,
    /// SFTP, REST, WebDAV or FTP port
    #[cfg_attr(feature = "clap", arg(long))]
    pub port: Option<u16>,
    /// SFTP, REST, WebDAV or FTP user (the WebDAV password in CAIRN_WEBDAV_PASSWORD, the FTP
    /// password in CAIRN_FTP_PASSWORD; FTP without a user: anonymous)
    #[cfg_attr(feature = "clap", arg(long))]
    pub user: Option<String>,
    /// SFTP: the private key file (else the password secret)
    #[cfg_attr(feature = "clap", arg(skip))]
    pub key_file: Option<PathBuf>,
    /// SFTP: the server's host key fingerprint to trust (`SHA256:...`)
    #[cfg_attr(feature = "clap", arg(skip))]
    pub host_key: Option<String>,
    /// REST or WebDAV: http or https [default: https]; FTP: ftp (TLS when the server offers
    /// it) or ftps (TLS required) [default: ftp]
    #[cfg_attr(feature = "clap", arg(long))]
    pub scheme: Option<String>,
    /// Do not check TLS certificates (S3, REST, Azure, WebDAV, FTPS): only for servers you
    /// trust on a network you trust
    #[cfg_attr(
        feature = "clap",
        arg(long = "no-verify-tls", num_args = 0, default_missing_value = "false", value_parser = clap::builder::BoolishValueParser::new())
    )]
    pub verify_tls: Option<bool>,
    /// Retries of a failed request or operation (0 to 20)
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub retries: Option<u32>,
    /// Requests or operations at once (1 to 64)
    #[cfg_attr(feature = "clap", arg(long, value_name = "N"))]
    pub connections: Option<u32>,
    /// S3, REST, WebDAV, FTP, Azure and rclone: seconds without progress after which a
    /// request is given up and retried (1 to 3600)
    #[cfg_attr(feature = "clap", arg(long, value_name = "SECONDS"))]
    pub stall_timeout: Option<u32>,
    /// SFTP: the known_hosts file, if not ~/.ssh/known_hosts
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub known_hosts: Option<PathBuf>,
    /// S3: the bucket in the path (true) or in the host name (false), if not the vendor's way
    #[cfg_attr(feature = "clap", arg(long, value_name = "BOOL"))]
    pub path_style: Option<bool>,
}

impl DestinationFields {
    /// Sets every field that `given` has (a value, or a non-empty text) and keeps the others;
    /// returns whether any was given. `kind` is not merged: a new type starts from no fields.
    pub fn merge(&mut self, given: &DestinationFields) -> bool {
        let mut any = false;
        if !given.backup_dir.is_empty() {
            self.backup_dir.clone_from(&given.backup_dir);
            any = true;
        }
        macro_rules! take {
            ($($field:ident),*) => {$(
                if given.$field.is_some() {
                    self.$field.clone_from(&given.$field);
                    any = true;
                }
            )*};
        }
        take!(
            remote,
            vendor,
            endpoint,
            region,
            bucket,
            account,
            container,
            access_tier,
            access_key,
            storage_class,
            host,
            port,
            user,
            key_file,
            host_key,
            scheme,
            verify_tls,
            retries,
            connections,
            stall_timeout,
            known_hosts,
            path_style
        );
        any
    }
}

fn field(name: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("{name}: {why}"))
}

fn required<'a>(name: &str, v: &'a Option<String>) -> Result<&'a str, Error> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| field(name, "is required"))
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && (h.parse::<std::net::IpAddr>().is_ok()
            || h.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
            }))
}

fn absolute_dir(name: &str, dir: &str) -> Result<String, Error> {
    if !dir.starts_with('/') {
        return Err(field(name, format!("{dir:?} is not an absolute path")).with_hint("start it with /"));
    }
    if dir.contains('\0') || dir.split('/').any(|s| s == "..") {
        return Err(field(name, format!("{dir:?} may not contain '..' or NUL")));
    }
    Ok(dir.trim_end_matches('/').to_string())
}

impl DestinationFields {
    /// Checks every field and returns the destination URL (without secrets).
    pub fn to_url(&self) -> Result<String, Error> {
        let mut options: Vec<String> = Vec::new();
        if self.stall_timeout.is_some()
            && !matches!(self.kind.as_str(), "s3" | "rest" | "webdav" | "ftp" | "azure" | "rclone")
        {
            return Err(field("stall-timeout", "applies to S3, REST, WebDAV, FTP, Azure and rclone destinations"));
        }
        let given =
            [("retries", self.retries), ("connections", self.connections), ("stall-timeout", self.stall_timeout)];
        for (name, value) in given.into_iter().filter_map(|(n, v)| Some((n, v?))) {
            // Checked as the URL's parser will check it, and named as the form names it.
            ConnectionOptions::default().set(&OPTION_NAMES, name, &value.to_string()).map_err(|e| field(name, e))?;
            options.push(format!("{name}={value}"));
        }
        let tls_option = |options: &mut Vec<String>| {
            if self.verify_tls == Some(false) {
                options.push("verify-tls=false".into());
            }
        };
        let url = match self.kind.as_str() {
            "local" => {
                if !options.is_empty() {
                    return Err(field("retries", "applies to network destinations only"));
                }
                absolute_dir("backup-dir", &self.backup_dir)?
            }
            "s3" => {
                let bucket = required("bucket", &self.bucket)?;
                if !crate::backend::s3::valid_bucket_name(bucket) {
                    return Err(field("bucket", format!("{bucket:?} is not a bucket name"))
                        .with_hint("3 to 63 of a-z, 0-9, '.' and '-', starting and ending with a letter or digit"));
                }
                let dir = self.backup_dir.trim_matches('/');
                if !dir.is_empty() {
                    crate::backend::s3::validate_directory(&format!("/{dir}")).map_err(|e| field("backup-dir", e))?;
                }
                let path = if dir.is_empty() { bucket.to_string() } else { format!("{bucket}/{dir}") };
                let region = self.region.as_deref().map(str::trim).filter(|s| !s.is_empty());
                // Where the bucket is: a vendor preset (`s3:VENDOR/...`) or an endpoint.
                let base = match (
                    self.vendor.as_deref().filter(|v| !v.is_empty()),
                    self.endpoint.as_deref().filter(|e| !e.is_empty()),
                ) {
                    (Some("custom"), Some(template)) => {
                        let region = region.ok_or_else(|| field("region", "is required"))?;
                        let account = self.account.as_deref().filter(|a| !a.is_empty());
                        crate::backend::s3::vendors::resolve_template(template, region, account)
                            .map_err(|e| field("endpoint", e))?;
                        options.push(format!("endpoint={}", encode(template, false)));
                        options.push(format!("region={region}"));
                        "s3:custom".to_string()
                    }
                    (Some("custom"), None) => {
                        return Err(field("endpoint", "a custom vendor needs an endpoint template")
                            .with_hint("for example https://s3.{region}.example.com"));
                    }
                    (Some(v), None) => {
                        let preset = vendor(v).ok_or_else(|| field("vendor", format!("unknown vendor {v:?}")))?;
                        if let Some(r) = region {
                            if !preset.regions.is_empty() && !preset.regions.contains(&r) {
                                return Err(field("region", format!("{r:?} is not a {} region", preset.name))
                                    .with_hint(format!("regions: {}", preset.regions.join(", "))));
                            }
                            options.push(format!("region={r}"));
                        }
                        format!("s3:{v}")
                    }
                    (vendor_id, Some(endpoint)) => {
                        let ok = reqwest::Url::parse(endpoint)
                            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host() && u.path() == "/");
                        if !ok {
                            return Err(field("endpoint", format!("{endpoint:?} is not an http(s)://HOST[:PORT] URL")));
                        }
                        if let Some(v) = vendor_id {
                            options.push(format!("vendor={v}"));
                        }
                        if let Some(r) = region {
                            options.push(format!("region={r}"));
                        }
                        format!("s3:{}", endpoint.trim_end_matches('/'))
                    }
                    (None, None) => return Err(field("vendor", "choose a vendor or give an endpoint")),
                };
                if let Some(a) = self.account.as_deref().filter(|a| !a.is_empty()) {
                    options.push(format!("account={}", encode(a, false)));
                }
                if let Some(k) = self.access_key.as_deref().filter(|k| !k.is_empty()) {
                    if !k.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(field("access-key", "may hold only printable characters without spaces"));
                    }
                    options.push(format!("access-key={}", encode(k, false)));
                }
                if let Some(c) = self.storage_class.as_deref().filter(|c| !c.is_empty()) {
                    options.push(format!("storage-class={c}"));
                }
                if let Some(p) = self.path_style {
                    options.push(format!("path-style={p}"));
                }
                tls_option(&mut options);
                format!("{base}/{path}")
            }
            "sftp" => {
                let host = required("host", &self.host)?;
                if !valid_host(host) {
                    return Err(field("host", format!("{host:?} is not a host name or address")));
                }
                let user = required("user", &self.user)?;
                if user.contains(['@', '/', ':', ' ']) {
                    return Err(field("user", format!("{user:?} may not contain '@', '/', ':' or spaces")));
                }
                let dir = absolute_dir("backup-dir", &self.backup_dir)?;
                if let Some(k) = &self.key_file {
                    check_key_file(k)?;
                    options.push(format!("key={}", encode(&k.to_string_lossy(), true)));
                }
                if let Some(fp) = self.host_key.as_deref().filter(|f| !f.is_empty()) {
                    if !fp.starts_with("SHA256:") || fp.len() < 20 {
                        return Err(field("host-key", format!("{fp:?} is not a SHA256:... fingerprint"))
                            .with_hint("copy it from `ssh-keygen -lf` on the server, or from the unknown-host error"));
                    }
                    options.push(format!("host-key={}", encode(fp, false)));
                }
                if let Some(k) = &self.known_hosts {
                    options.push(format!("known-hosts={}", encode(&k.to_string_lossy(), true)));
                }
                let port = self.port.unwrap_or(22);
                if port == 0 {
                    return Err(field("port", "must be 1 to 65535"));
                }
                let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
                format!("sftp://{}@{host}:{port}{dir}", encode(user, false))
            }
            "rest" => {
                let (scheme, host) = self.http_server()?;
                let dir = self.backup_dir.trim_matches('/');
                if dir.contains("..") || dir.contains(['?', '#', ' ']) {
                    return Err(field("backup-dir", format!("{dir:?} may not contain '..', '?', '#' or spaces")));
                }
                let user = match self.user.as_deref().filter(|u| !u.is_empty()) {
                    Some(u) => format!("{}@", encode(u, false)),
                    None => String::new(),
                };
                tls_option(&mut options);
                format!("rest:{scheme}://{user}{host}/{}", encode(dir, true))
            }
            "webdav" => {
                let (scheme, host) = self.http_server()?;
                let dir = self.backup_dir.trim_matches('/');
                if dir.split('/').any(|s| s == "..") || dir.contains(['?', '#', '\0']) {
                    return Err(field("backup-dir", format!("{dir:?} may not contain '..', '?' or '#'")));
                }
                let user = match self.user.as_deref().filter(|u| !u.is_empty()) {
                    Some(u) if u.contains(['@', '/', ':']) => {
                        return Err(field("user", format!("{u:?} may not contain '@', '/' or ':'")));
                    }
                    Some(u) => format!("{}@", encode(u, false)),
                    None => String::new(),
                };
                tls_option(&mut options);
                format!("webdav:{scheme}://{user}{host}/{}", encode(dir, true))
            }
            "ftp" => {
                let host = required("host", &self.host)?;
                if !valid_host(host) {
                    return Err(field("host", format!("{host:?} is not a host name or address")));
                }
                let scheme = self.scheme.as_deref().filter(|s| !s.is_empty()).unwrap_or("ftp");
                if !matches!(scheme, "ftp" | "ftps") {
                    return Err(field("scheme", "must be ftp (TLS when offered) or ftps (TLS required)"));
                }
                if self.port == Some(0) {
                    return Err(field("port", "must be 1 to 65535"));
                }
                let user = match self.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
                    Some(u) if u.contains(['@', '/', ':', '\r', '\n']) => {
                        return Err(field("user", format!("{u:?} may not contain '@', '/', ':' or line breaks")));
                    }
                    Some(u) => format!("{}@", encode(u, false)),
                    None => String::new(),
                };
                // Relative to the login folder, or absolute if it starts with '/'.
                let dir = self.backup_dir.trim();
                if dir.split('/').any(|s| s == "..") || dir.contains(['\r', '\n', '\0', '?', '#']) {
                    return Err(field("backup-dir", format!("{dir:?} may not contain '..', '?', '#' or line breaks")));
                }
                let path = match dir.strip_prefix('/') {
                    Some(abs) => format!("/{}", encode(abs.trim_matches('/'), true)),
                    None => encode(dir.trim_matches('/'), true),
                };
                let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
                let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
                tls_option(&mut options);
                format!("{scheme}://{user}{host}{port}/{path}")
            }
            "rclone" => {
                let remote = required("remote", &self.remote)?.trim_end_matches(':');
                if remote.contains(',') {
                    return Err(field(
                        "remote",
                        "options after the name are not taken here: they can hold credentials",
                    )
                    .with_hint("set the remote up with `rclone config` and give its name"));
                }
                if !crate::backend::rest::rclone::valid_remote_name(remote) {
                    return Err(field("remote", format!("{remote:?} is not an rclone remote name"))
                        .with_hint("`rclone listremotes` lists yours; `rclone config` sets one up"));
                }
                if self.verify_tls == Some(false) {
                    return Err(field("verify-tls", "TLS to an rclone remote is set up in rclone"));
                }
                let dir = self.backup_dir.trim().trim_end_matches('/');
                if dir.split('/').any(|s| s == "..") || dir.contains(['\r', '\n', '\0']) {
                    return Err(field("backup-dir", format!("{dir:?} may not contain '..' or line breaks")));
                }
                format!("rclone:{remote}:{}", encode(dir, true))
            }
            "azure" => {
                let account = required("account", &self.account)?;
                if !crate::backend::azure::valid_account_name(account) {
                    return Err(field("account", format!("{account:?} is not a storage account name"))
                        .with_hint("3 to 24 lower-case letters and digits, as in ACCOUNT.blob.core.windows.net"));
                }
                let container = required("container", &self.container)?;
                if !crate::backend::azure::valid_container_name(container) {
                    return Err(field("container", format!("{container:?} is not a container name")).with_hint(
                        "3 to 63 of a-z, 0-9 and '-', starting and ending with a letter or digit, no '--'",
                    ));
                }
                let dir = self.backup_dir.trim_matches('/');
                if !dir.is_empty() {
                    crate::backend::s3::validate_directory(&format!("/{dir}")).map_err(|e| field("backup-dir", e))?;
                }
                if let Some(endpoint) = self.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
                    let ok = reqwest::Url::parse(endpoint)
                        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host() && u.query().is_none());
                    if !ok {
                        return Err(field(
                            "endpoint",
                            format!("{endpoint:?} is not an http(s)://HOST[:PORT][/PATH] URL"),
                        )
                        .with_hint("leave it empty for ACCOUNT.blob.core.windows.net"));
                    }
                    options.push(format!("endpoint={}", encode(endpoint.trim_end_matches('/'), false)));
                }
                if let Some(t) = self.access_tier.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                    if !["hot", "cool", "cold"].contains(&t.to_ascii_lowercase().as_str()) {
                        return Err(field("access-tier", format!("{t:?} is not Hot, Cool or Cold"))
                            .with_hint("Archive cannot hold packs: reading them back takes hours"));
                    }
                    options.push(format!("access-tier={t}"));
                }
                tls_option(&mut options);
                let path = if dir.is_empty() { container.to_string() } else { format!("{container}/{dir}") };
                format!("azure:{account}/{path}")
            }
            other => {
                return Err(field("type", format!("unknown destination type {other:?}"))
                    .with_hint("use local, s3, sftp, rest, azure, webdav, ftp or rclone"));
            }
        };
        Ok(if options.is_empty() { url } else { format!("{url}?{}", options.join("&")) })
    }
}

impl DestinationFields {
    /// The scheme and `host[:port]` of a REST or WebDAV server (an IPv6 address in brackets),
    /// checking the host, scheme and port fields in that order.
    fn http_server(&self) -> Result<(&str, String), Error> {
        let host = required("host", &self.host)?;
        if !valid_host(host) {
            return Err(field("host", format!("{host:?} is not a host name or address")));
        }
        let scheme = self.scheme.as_deref().unwrap_or("https");
        if !matches!(scheme, "http" | "https") {
            return Err(field("scheme", "must be http or https"));
        }
        if self.port == Some(0) {
            return Err(field("port", "must be 1 to 65535"));
        }
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
        Ok((scheme, format!("{host}{port}")))
    }
}

/// Checks that an SSH private key file exists and parses (an encrypted key is accepted: its
/// passphrase is a secret, checked by the Test).
pub fn check_key_file(path: &std::path::Path) -> Result<(), Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| field("key-file", format!("cannot read {}: {e}", path.display())))?;
    match russh::keys::decode_secret_key(&text, None) {
        Ok(_) => Ok(()),
        Err(russh::keys::Error::KeyIsEncrypted) => Ok(()),
        Err(e) => Err(field("key-file", format!("{} is not an SSH private key: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_changes_exactly_the_fields_given() {
        let mut saved = DestinationFields { kind: "sftp".into(), backup_dir: "/srv".into(), ..Default::default() };
        saved.host = Some("nas".into());
        saved.port = Some(22);
        saved.retries = Some(2);
        let mut given = DestinationFields::default();
        assert!(!saved.clone().merge(&given), "nothing given, nothing changed");
        given.port = Some(2223);
        given.verify_tls = Some(false);
        let mut merged = saved.clone();
        assert!(merged.merge(&given));
        assert_eq!((merged.port, merged.verify_tls, merged.retries), (Some(2223), Some(false), Some(2)));
        assert_eq!(
            (merged.kind.as_str(), merged.backup_dir.as_str(), merged.host.as_deref()),
            ("sftp", "/srv", Some("nas"))
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::hostile::config(2000))]
        /// Form fields as a window (or anyone calling its commands) may send them: a URL or a
        /// field error, never a panic.
        #[test]
        fn hostile_form_fields_never_panic(
            kind in proptest::sample::select(vec!["local", "s3", "sftp", "rest", "azure", "webdav", "", "ftp", "S3"]),
            texts in proptest::collection::vec(crate::hostile::text(&["eu-central-1", "my-bucket", "/srv/b", "https://{bucket}.h/{region}", "..", "a b", "me@h"]), 8),
            port in proptest::num::u16::ANY,
            retries in proptest::option::of(0u32..100),
        ) {
            let mut f = fields(kind);
            f.vendor = Some(texts[0].clone());
            f.endpoint = Some(texts[1].clone());
            f.region = Some(texts[2].clone());
            f.bucket = Some(texts[3].clone());
            f.backup_dir = texts[4].clone();
            f.host = Some(texts[5].clone());
            f.user = Some(texts[6].clone());
            f.key_file = Some(texts[7].clone().into());
            f.account = Some(texts[3].clone());
            f.container = Some(texts[0].clone());
            f.access_tier = Some(texts[2].clone());
            f.port = Some(port);
            f.retries = retries;
            let _ = f.to_url();
        }
    }

    fn fields(kind: &str) -> DestinationFields {
        DestinationFields { kind: kind.into(), ..Default::default() }
    }

    #[test]
    fn urls_from_fields() {
        let mut f = fields("local");
        f.backup_dir = "/srv/backup/".into();
        assert_eq!(f.to_url().unwrap(), "/srv/backup");
        f.backup_dir = "backup".into();
        assert!(f.to_url().unwrap_err().to_string().starts_with("backup-dir:"));

        let mut f = fields("s3");
        f.vendor = Some("wasabi".into());
        f.region = Some("eu-central-2".into());
        f.bucket = Some("my-backups".into());
        f.backup_dir = "laptop".into();
        f.access_key = Some("AKIA1".into());
        assert_eq!(f.to_url().unwrap(), "s3:wasabi/my-backups/laptop?region=eu-central-2&access-key=AKIA1");
        f.region = Some("mars-1".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("region:"));
        f.vendor = Some("custom".into());
        f.endpoint = Some("https://s3.{region}.example.com".into());
        assert_eq!(
            f.to_url().unwrap(),
            "s3:custom/my-backups/laptop?endpoint=https%3A%2F%2Fs3.%7Bregion%7D.example.com&region=mars-1&access-key=AKIA1"
        );
        // That URL opens (its endpoint decoded); a bad template is the endpoint's fault, shown
        // as typed.
        let mut secret = crate::backend::destination::Credentials::default();
        secret.secrets.s3_secret_key = Some(crate::secret::Secret::new(b"s".to_vec()));
        let parsed = crate::backend::destination::parse_destination(&f.to_url().unwrap(), secret).unwrap();
        assert_eq!(parsed.show(), "s3:https://s3.mars-1.example.com/my-backups/laptop");
        f.endpoint = Some("s3.{region}.example.com".into());
        let e = f.to_url().unwrap_err().to_string();
        assert!(e.starts_with("endpoint:") && e.contains("\"s3.mars-1.example.com\""), "{e}");
        f.endpoint = Some("https://s3.{region}.example.com".into());
        f.vendor = None;
        f.endpoint = Some("ftp://x".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("endpoint:"));
        f.bucket = None;
        assert!(f.to_url().unwrap_err().to_string().starts_with("bucket:"));

        let mut f = fields("sftp");
        f.host = Some("nas.local".into());
        f.user = Some("me".into());
        f.port = Some(2222);
        f.backup_dir = "/srv/b".into();
        f.host_key = Some("SHA256:abcdefghijklmnop+/=".into());
        assert_eq!(f.to_url().unwrap(), "sftp://me@nas.local:2222/srv/b?host-key=SHA256%3Aabcdefghijklmnop%2B%2F%3D");
        f.key_file = Some("/nonexistent/key".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("key-file:"));
        f.key_file = None;
        f.host = Some("bad host".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("host:"));

        let mut f = fields("rest");
        f.host = Some("127.0.0.1".into());
        f.port = Some(8000);
        f.scheme = Some("http".into());
        f.user = Some("me".into());
        f.backup_dir = "/laptop/".into();
        assert_eq!(f.to_url().unwrap(), "rest:http://me@127.0.0.1:8000/laptop");
        assert!(fields("gopher").to_url().unwrap_err().to_string().starts_with("type:"));

        let mut f = fields("rclone");
        assert!(f.to_url().unwrap_err().to_string().starts_with("remote:"));
        f.remote = Some("gdrive:".into());
        f.backup_dir = "Backups/My Laptop/".into();
        f.retries = Some(5);
        assert_eq!(f.to_url().unwrap(), "rclone:gdrive:Backups/My%20Laptop?retries=5");
        f.remote = Some("-x".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("remote:"));
        f.remote = Some(":s3,access_key_id=k".into());
        assert!(f.to_url().unwrap_err().to_string().contains("credentials"));

        let mut f = fields("ftp");
        f.host = Some("files.example.com".into());
        f.user = Some("me".into());
        f.backup_dir = "Backups/laptop".into();
        assert_eq!(f.to_url().unwrap(), "ftp://me@files.example.com/Backups/laptop");
        f.scheme = Some("ftps".into());
        f.port = Some(2121);
        f.backup_dir = "/srv/backups".into();
        assert_eq!(f.to_url().unwrap(), "ftps://me@files.example.com:2121//srv/backups");
        f.scheme = Some("sftp".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("scheme:"));

        let mut f = fields("webdav");
        f.host = Some("cloud.example.com".into());
        f.user = Some("me".into());
        f.backup_dir = "/remote.php/dav/files/me/Backups/".into();
        assert_eq!(f.to_url().unwrap(), "webdav:https://me@cloud.example.com/remote.php/dav/files/me/Backups");
        f.backup_dir = "/a/../b".into();
        assert!(f.to_url().unwrap_err().to_string().starts_with("backup-dir:"));

        let mut f = fields("azure");
        f.account = Some("myaccount".into());
        f.container = Some("backups".into());
        f.backup_dir = "laptop".into();
        assert_eq!(f.to_url().unwrap(), "azure:myaccount/backups/laptop");
        f.endpoint = Some("http://127.0.0.1:10000/myaccount".into());
        f.access_tier = Some("Cool".into());
        assert_eq!(
            f.to_url().unwrap(),
            "azure:myaccount/backups/laptop?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Fmyaccount&access-tier=Cool"
        );
        f.access_tier = Some("Archive".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("access-tier:"));
        f.access_tier = None;
        f.container = Some("Bad_Name".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("container:"));
        f.container = Some("backups".into());
        f.account = Some("My-Account".into());
        assert!(f.to_url().unwrap_err().to_string().starts_with("account:"));
    }
}

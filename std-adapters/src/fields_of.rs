//! A saved destination back as its fields, the reverse of [`DestinationFields::to_url`]: what
//! the window's edit form and `destination update` start from, so that an edit changes only
//! the fields it gives and keeps every other setting, connection options included.

use crate::backend::s3::vendors::vendor;
use crate::form::DestinationFields;
use crate::http::percent_decode;
use crate::{DestinationUrl, FtpTls, SftpAuth};

/// The value of option `key` in the query of the stored URL `url`, decoded.
fn option(url: &str, key: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')).map(percent_decode)
}

/// The host, port, path and scheme of a REST or WebDAV server's `http(s)://host[:port]/path`.
fn server(f: &mut DestinationFields, url: &str, user: Option<&str>) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    f.scheme = (scheme != "https").then(|| scheme.to_string());
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match hostport.rsplit_once(':').filter(|(h, _)| !h.ends_with(':') || h.starts_with('[')) {
        Some((h, p)) if !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p.parse().ok()),
        _ => (hostport, None),
    };
    f.host = Some(host.trim_start_matches('[').trim_end_matches(']').to_string());
    f.port = port;
    f.backup_dir = format!("/{}", percent_decode(path.trim_end_matches('/')));
    f.user = user.map(str::to_string);
}

impl DestinationFields {
    /// The fields of the destination saved as `stored` (its URL, without secrets), which
    /// parses as `parsed`.
    pub fn of(stored: &str, parsed: &DestinationUrl) -> Self {
        let mut f = Self::default();
        match parsed {
            DestinationUrl::Local(p) => {
                f.kind = "local".into();
                f.backup_dir = p.display().to_string();
            }
            DestinationUrl::S3(c) => {
                f.kind = "s3".into();
                // `s3:VENDOR/BUCKET/...` keeps its preset; an explicit endpoint stays one.
                let first = stored.strip_prefix("s3:").and_then(|r| r.split('/').next());
                match first.filter(|v| *v == "custom" || vendor(v).is_some()) {
                    Some("custom") => {
                        f.vendor = Some("custom".into());
                        f.endpoint = option(stored, "endpoint");
                    }
                    Some(v) => f.vendor = Some(v.to_string()),
                    None => {
                        f.endpoint = Some(c.endpoint.clone());
                        f.vendor = option(stored, "vendor");
                    }
                }
                f.bucket = Some(c.bucket.clone());
                f.backup_dir = c.directory.trim_start_matches('/').to_string();
                f.region = option(stored, "region");
                f.account = option(stored, "account");
                f.access_key = Some(c.access_key.clone()).filter(|k| !k.is_empty());
                f.storage_class = c.pack_storage_class.clone();
                f.path_style = option(stored, "path-style").map(|v| matches!(v.as_str(), "true" | "yes" | "1"));
            }
            DestinationUrl::Sftp(c) => {
                f.kind = "sftp".into();
                f.host = Some(c.host.clone());
                f.port = Some(c.port);
                f.user = Some(c.user.clone());
                f.backup_dir = c.directory.clone();
                f.host_key = c.accepted_host_key.clone();
                if let SftpAuth::Key { path, .. } = &c.auth {
                    f.key_file = Some(path.clone());
                }
            }
            DestinationUrl::Rest(c) => {
                f.kind = "rest".into();
                server(&mut f, &c.url, c.user.as_deref());
            }
            DestinationUrl::WebDav(c) => {
                f.kind = "webdav".into();
                server(&mut f, &c.url, c.user.as_deref());
            }
            DestinationUrl::Ftp(c) => {
                f.kind = "ftp".into();
                f.scheme = (c.tls == FtpTls::Required).then(|| "ftps".to_string());
                f.host = Some(c.host.clone());
                f.port = (c.port != 21).then_some(c.port);
                f.user = (c.user != "anonymous").then(|| c.user.clone());
                f.backup_dir = c.directory.clone();
            }
            DestinationUrl::Azure(c) => {
                f.kind = "azure".into();
                f.account = Some(c.account.clone());
                f.container = Some(c.container.clone());
                f.backup_dir = c.directory.trim_start_matches('/').to_string();
                f.endpoint = option(stored, "endpoint");
                f.access_tier = c.pack_access_tier.clone();
            }
            DestinationUrl::Rclone(c) => {
                f.kind = "rclone".into();
                f.remote = Some(c.remote.clone());
                f.backup_dir = c.path.clone();
            }
        }
        // The connection options, as given.
        f.verify_tls = option(stored, "verify-tls").map(|v| !matches!(v.as_str(), "false" | "no" | "0"));
        f.retries = option(stored, "retries").and_then(|v| v.parse().ok());
        f.connections = option(stored, "connections").and_then(|v| v.parse().ok());
        f.stall_timeout = option(stored, "stall-timeout").and_then(|v| v.parse().ok());
        f.known_hosts = option(stored, "known-hosts").map(Into::into);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::destination::{Credentials, parse_destination};
    use crate::secret::Secret;

    #[test]
    fn a_saved_url_reads_back_as_fields_that_write_it_again() {
        let credentials = || {
            let mut c = Credentials::default();
            c.secrets.s3_secret_key = Some(Secret::new(b"s".to_vec()));
            c.secrets.ssh_password = Some(Secret::new(b"p".to_vec()));
            c.secrets.azure_key = Some(Secret::new(b"a2V5".to_vec()));
            c.secrets.rest_password = Some(Secret::new(b"r".to_vec()));
            c.secrets.webdav_password = Some(Secret::new(b"w".to_vec()));
            c.secrets.ftp_password = Some(Secret::new(b"f".to_vec()));
            c
        };
        for url in [
            "/srv/backups/laptop",
            "s3:wasabi/my-bucket/laptop?region=eu-central-1&access-key=AKID&storage-class=STANDARD_IA",
            "s3:https://minio.lan:9000/bucket?retries=5&stall-timeout=30&access-key=AKID&path-style=true&verify-tls=false",
            "s3:custom/bucket/dir?endpoint=https%3A%2F%2Fs3.%7Bregion%7D.example.com&region=r1&access-key=AKID",
            "sftp://backup@nas.lan:2222/volume1/cairn?host-key=SHA256%3AabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ&known-hosts=%2Fetc%2Fssh%2Fkh&retries=2",
            "rest:http://alice@10.0.0.5:8000/repo/one?connections=4",
            "webdav:https://dav.example.com/remote.php/dav/files/me/cairn?verify-tls=false",
            "ftps://bob@ftp.example.com:2121/backups/laptop?stall-timeout=120",
            "ftp://ftp.example.com/relative/dir",
            "azure:myaccount/container/dir?endpoint=http%3A%2F%2F127.0.0.1%3A10000%2Fmyaccount&access-tier=Cool",
            "rclone:gdrive:Backups/laptop?retries=3",
        ] {
            let parsed = parse_destination(url, credentials()).unwrap_or_else(|e| panic!("{url}: {e}"));
            let fields = DestinationFields::of(url, &parsed);
            let again = fields.to_url().unwrap_or_else(|e| panic!("{url}: {e} from {fields:?}"));
            let reparsed = parse_destination(&again, credentials()).unwrap();
            assert_eq!(parsed.show(), reparsed.show(), "{url} became {again}");
            assert_eq!(DestinationFields::of(&again, &reparsed), fields, "{url} became {again}");
        }
    }
}

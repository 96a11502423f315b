//! The SFTP URL: user, host, port, absolute directory, key and host-key options.

use std::path::PathBuf;

use super::{SftpAuth, SftpConfig};
use crate::backend::Credentials;
use crate::backend::connection::ConnectionOptions;
use crate::backend::url::{bad, host_port, options, split_user};
use crate::error::{Error, ErrorKind};
use crate::http::percent_decode;

/// `sftp://[USER@]HOST[:PORT]/ABSOLUTE/PATH[?key=FILE&host-key=SHA256:...&known-hosts=FILE&retries=N&connections=N]`
/// (`host-key` pins the server's key by its fingerprint, percent-encoded).
pub(crate) fn parse(url: &str, credentials: Credentials) -> Result<SftpConfig, Error> {
    let rest = url.strip_prefix("sftp://").unwrap_or(url);
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = location
        .split_once('/')
        .ok_or_else(|| bad(url, "no directory: write sftp://USER@HOST[:PORT]/ABSOLUTE/PATH"))?;
    let (user, hostport) = split_user(authority);
    let user = user.map_or_else(|| std::env::var("USER").unwrap_or_else(|_| "root".into()), percent_decode);
    let (host, port) = host_port(url, hostport, 22)?;
    let directory = format!("/{}", percent_decode(path).trim_end_matches('/'));
    let mut key = credentials.ssh_key;
    let mut known_hosts = credentials.known_hosts;
    let mut host_key = credentials.accept_host_key;
    let mut connection = ConnectionOptions::default();
    options(url, query, &mut connection, &["retries", "connections"], &["key", "host-key", "known-hosts"], |k, v| {
        match k {
            "key" => key = Some(PathBuf::from(v)),
            "host-key" => host_key = Some(v),
            _ => known_hosts = Some(PathBuf::from(v)),
        }
        Ok(())
    })?;
    let auth = match (key, credentials.secrets.ssh_password) {
        (Some(path), _) => SftpAuth::Key { path, passphrase: credentials.secrets.ssh_passphrase },
        (None, Some(p)) => SftpAuth::Password(p),
        (None, None) => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            let found =
                ["id_ed25519", "id_ecdsa", "id_rsa"].iter().map(|n| home.join(".ssh").join(n)).find(|p| p.is_file());
            match found {
                Some(path) => SftpAuth::Key { path, passphrase: credentials.secrets.ssh_passphrase },
                None => {
                    return Err(Error::new(ErrorKind::InvalidInput, "no SSH key or password for the SFTP server")
                        .with_hint("give --ssh-key FILE (or ?key=FILE in the URL), or set CAIRN_SSH_PASSWORD"));
                }
            }
        }
    };
    let mut c = SftpConfig::new(&host, &user, auth, &directory);
    c.port = port;
    c.known_hosts = known_hosts;
    c.accepted_host_key = host_key;
    c.connection = connection;
    Ok(c)
}

/// The URL to show: no secret in it.
pub(crate) fn show(c: &SftpConfig) -> String {
    format!("sftp://{}@{}:{}{}", c.user, c.host, c.port, c.directory)
}

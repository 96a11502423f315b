//! The FTP URL: `ftp://` or `ftps://`, user, host, port, folder and options.

use super::{FtpConfig, FtpTls};
use crate::backend::connection::OPTION_NAMES;
use crate::backend::url::{bad, host_port, options, split_user};
use crate::error::{Error, ErrorKind};
use crate::http::percent_decode;
use crate::secret::Secret;

/// `ftp://[USER@]HOST[:PORT]/PATH[?OPTIONS]` or `ftps://...` (see [`crate::backend::destination`]).
pub(crate) fn parse(url: &str, password: Option<Secret>) -> Result<FtpConfig, Error> {
    let (scheme, after) = url.split_once("://").ok_or_else(|| bad(url, "write ftp://[USER@]HOST[:PORT]/PATH"))?;
    let (location, query) = after.split_once('?').unwrap_or((after, ""));
    let (authority, path) = location.split_once('/').unwrap_or((location, ""));
    let (user, hostport) = split_user(authority);
    if user.is_some_and(|u| u.contains(':')) {
        return Err(bad(url, "the FTP password cannot go in the URL")
            .with_hint("set CAIRN_FTP_PASSWORD (or keep it in the catalog)"));
    }
    let (host, port) = host_port(url, hostport, 21)?;
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
    let mut c = FtpConfig::new(&host, &directory);
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
    options(url, query, &mut c.connection, &OPTION_NAMES, &["tls"], |_, v| {
        c.tls = match (scheme, v.as_str()) {
            ("ftp", "off" | "false" | "no") => FtpTls::Off,
            ("ftp", "if-offered" | "auto") => FtpTls::IfOffered,
            (_, "required" | "on" | "true" | "yes") => FtpTls::Required,
            ("ftps", _) => return Err(bad(url, "ftps:// always uses TLS; use ftp:// with tls=off for clear")),
            _ => return Err(bad(url, format!("tls must be off, if-offered or required, not {v:?}"))),
        };
        Ok(())
    })?;
    Ok(c)
}

/// The URL to show: no password in it.
pub(crate) fn show(c: &FtpConfig) -> String {
    let scheme = if c.tls == FtpTls::Required { "ftps" } else { "ftp" };
    let user = if c.user == "anonymous" { String::new() } else { format!("{}@", c.user) };
    let port = if c.port == 21 { String::new() } else { format!(":{}", c.port) };
    format!("{scheme}://{user}{}{port}/{}", c.host, c.directory)
}

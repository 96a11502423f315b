//! The WebDAV URL: scheme, user, host, folder and connection options.

use super::WebDavConfig;
use crate::backend::connection::OPTION_NAMES;
use crate::backend::url::{bad, options, split_user};
use crate::error::{Error, ErrorKind};
use crate::http::percent_decode;
use crate::secret::Secret;

/// `webdav:http(s)://[USER@]HOST[:PORT]/PATH[?OPTIONS]`.
pub(crate) fn parse(url: &str, rest: &str, password: Option<Secret>) -> Result<WebDavConfig, Error> {
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, after) = location
        .split_once("://")
        .filter(|(s, _)| matches!(*s, "http" | "https"))
        .ok_or_else(|| bad(url, "write webdav:https://[USER@]HOST[:PORT]/PATH"))?;
    let (authority, path) = after.split_once('/').unwrap_or((after, ""));
    let (user, host) = split_user(authority);
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
    options(url, query, &mut c.connection, &OPTION_NAMES, &[], |_, _| Ok(()))?;
    Ok(c)
}

/// The URL to show: no password in it.
pub(crate) fn show(c: &WebDavConfig) -> String {
    match &c.user {
        Some(u) => {
            let (scheme, rest) = c.url.split_once("://").unwrap_or(("https", &c.url));
            format!("webdav:{scheme}://{u}@{rest}")
        }
        None => format!("webdav:{}", c.url),
    }
}

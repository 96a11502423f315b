//! `rclone serve webdav`: a WebDAV server.

use super::*;

/// `rclone serve webdav`: a WebDAV server with basic authentication ([`WEBDAV_PASSWORD`]).
#[derive(Debug)]
pub struct WebDavServer(RcloneServer);

impl WebDavServer {
    /// Starts a server, or returns `None` (outside CI, saying why) if rclone is not installed.
    pub fn start() -> Option<Self> {
        // rclone's file system layer keeps directory listings for five minutes by default and
        // updates them from its own writes; concurrent writers can race that update, and a
        // listing then misses a file just written (the lease races in the conformance suite
        // saw it). Cairn needs a listing to show what was written: read the disk every time.
        RcloneServer::start("webdav", WEBDAV_PASSWORD, &["--dir-cache-time", "0s"]).map(Self)
    }

    /// A destination URL for the directory `dir` on the server.
    pub fn repo_url(&self, dir: &str) -> String {
        format!("webdav:http://{}@127.0.0.1:{}/{dir}", self.user, self.port)
    }
}

impl std::ops::Deref for WebDavServer {
    type Target = RcloneServer;
    fn deref(&self) -> &RcloneServer {
        &self.0
    }
}

/// The password of every [`WebDavServer`].
pub const WEBDAV_PASSWORD: &str = "webdav pass-Qm8r/word";

//! `rclone serve restic`: the restic REST server.

use super::*;

/// `rclone serve restic`: a restic REST server (protocol v2) with basic authentication
/// ([`REST_PASSWORD`]).
#[derive(Debug)]
pub struct RestServer(RcloneServer);

impl RestServer {
    /// Starts a server (append-only if asked), or returns `None` (outside CI, saying why) if
    /// rclone is not installed.
    pub fn start(append_only: bool) -> Option<Self> {
        let extra: &[&str] = if append_only { &["--append-only"] } else { &[] };
        RcloneServer::start("restic", REST_PASSWORD, extra).map(Self)
    }
}

impl std::ops::Deref for RestServer {
    type Target = RcloneServer;
    fn deref(&self) -> &RcloneServer {
        &self.0
    }
}

/// The password of every [`RestServer`].
pub const REST_PASSWORD: &str = "rest pass/word-Zk3v";

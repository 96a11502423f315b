//! Real servers for the destination tests, each started on 127.0.0.1 on a free port and stopped
//! when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds a tool: `$CAIRN_<NAME>` (upper case, `-` as `_`), then PATH, then the tools folder
/// that `test.sh` installs into (`~/.cache/cairn/tools/bin`).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let var = format!("CAIRN_{}", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var).map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = Path::new(&home).join(".cache/cairn/tools/bin").join(name);
        p.is_file().then_some(p)
    })
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// True if a server accepts connections on `port`. A connection to a free port of the
/// ephemeral range can succeed without any server: when the kernel picks that same port as
/// the source, TCP's simultaneous open connects the socket to itself. That is not a server.
fn accepts(port: u16) -> bool {
    match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s.local_addr().ok() != s.peer_addr().ok(),
        Err(_) => false,
    }
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    if let Err(e) = try_wait_for_port(port, child, what) {
        panic!("{e}");
    }
}

/// [`wait_for_port`], failing with what went wrong.
fn try_wait_for_port(port: u16, child: &mut Child, what: &str) -> Result<(), String> {
    let start = Instant::now();
    while !accepts(port) {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited before listening: {status}"));
        }
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!("{what} did not listen on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// A new empty directory under the system's temp directory.
    pub fn new(tag: &str) -> Self {
        let n: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let p = std::env::temp_dir().join(format!("cairn-{tag}-{}-{n:x}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `cmd`, failing the test with its error output if it fails; its output.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

mod azurite;
mod fault_proxy;
mod ftp;
mod rclone;
mod rest;
mod s3;
mod ssh;
mod tcp_fault;
mod webdav;

pub use azurite::*;
pub use fault_proxy::*;
pub use ftp::*;
pub use rclone::*;
pub use rest::*;
pub use s3::*;
pub use ssh::*;
pub use tcp_fault::*;
pub use webdav::*;

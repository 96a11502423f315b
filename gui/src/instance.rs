//! One app per catalog: the first start holds a lock beside a Unix socket and listens on it; a
//! later start (the menu entry, a notification's click, the login entry) hands its request
//! over the socket, the first one opens its window at the screen asked for, and the later one
//! exits. The socket lives in the user's private runtime directory (`XDG_RUNTIME_DIR`), else
//! beside the catalog, and takes only the two requests below.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What a start asks the running app for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Open the window (where it was).
    Open,
    /// Open the window at a screen (`overview`, `job:NAME`, `destination:NAME`, `settings`).
    Screen(String),
}

/// Requests longer than this are not Cairn's and are dropped.
const MAX_REQUEST: u64 = 4096;

impl Request {
    fn line(&self) -> String {
        match self {
            Self::Open => "open\n".into(),
            Self::Screen(s) => format!("screen {}\n", s.replace('\n', " ")),
        }
    }

    fn parse(line: &str) -> Option<Self> {
        match line.trim_end_matches('\n') {
            "open" => Some(Self::Open),
            l => l.strip_prefix("screen ").filter(|s| !s.is_empty()).map(|s| Self::Screen(s.to_string())),
        }
    }
}

/// How a start went.
#[derive(Debug)]
pub enum Claim {
    /// This is the first app on the catalog: it serves later starts.
    First(Listener),
    /// An app runs already and took the request (if any): this one has nothing to do.
    Handed,
}

/// The first app's end of the socket; the lock is held while it lives.
#[derive(Debug)]
pub struct Listener {
    socket: UnixListener,
    path: PathBuf,
    _lock: File,
}

/// Where the socket of the app on `catalog` lives.
pub fn socket_path(catalog: &Path) -> PathBuf {
    // FNV-1a of the catalog's path: one socket per catalog, a short name.
    let hash = catalog
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_dir()) {
        Some(dir) => dir.join(format!("cairn-desktop-{hash:016x}.sock")),
        None => catalog.with_extension("window.sock"),
    }
}

/// Claims the app on `catalog` for this process, or hands `request` to the app that has it.
pub fn claim(catalog: &Path, request: Option<&Request>) -> std::io::Result<Claim> {
    let path = socket_path(catalog);
    let lock_path = path.with_extension("lock");
    let lock = File::options().create(true).truncate(false).write(true).open(&lock_path)?;
    match lock.try_lock() {
        Ok(()) => {
            // The first: a socket left by an app that was killed goes.
            let _ = std::fs::remove_file(&path);
            let socket = UnixListener::bind(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            Ok(Claim::First(Listener { socket, path, _lock: lock }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            if let Some(request) = request {
                hand_over(&path, request)?;
            }
            Ok(Claim::Handed)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Sends `request` to the app listening at `path`, waiting up to 10 s for it to listen (it may
/// have just started) and for its answer.
fn hand_over(path: &Path, request: &Request) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(request.line().as_bytes())?;
    let mut answer = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut answer)?;
    if answer.trim() == "ok" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("the running Cairn app did not take the request ({})", answer.trim())))
    }
}

impl Listener {
    /// Serves later starts on a thread of its own for as long as the process lives, calling
    /// `on` with each request.
    pub fn serve(self, on: impl Fn(Request) + Send + 'static) {
        let _ = std::thread::Builder::new().name("cairn-instance".into()).spawn(move || {
            // The whole listener, its lock with it, lives as long as this thread.
            let this = self;
            for stream in this.socket.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                if BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line).is_err() {
                    continue;
                }
                let answer: &[u8] = match Request::parse(&line) {
                    Some(r) => {
                        on(r);
                        b"ok\n"
                    }
                    None => b"unknown request\n",
                };
                let _ = (&stream).write_all(answer);
            }
        });
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

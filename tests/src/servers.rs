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

/// `s3s-fs`: an S3-compatible server that verifies SigV4 signatures, with one bucket.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket created for the test.
    pub bucket: String,
    /// Access key accepted by the server.
    pub access_key: String,
    /// Secret key accepted by the server.
    pub secret_key: String,
    /// The directory the server stores into (a bucket is a subdirectory).
    pub data: PathBuf,
    /// Its port.
    pub port: u16,
    child: Child,
    _dir: ScratchDir,
}

impl S3Server {
    /// Starts a server, or returns `None` (outside CI, saying why) if `s3s-fs` is not installed.
    pub fn start() -> Option<Self> {
        let bin = find_tool("s3s-fs");
        if !crate::prerequisite(bin.is_some(), "s3s-fs (cargo install s3s-fs@0.14.1 --locked --features binary)") {
            return None;
        }
        let dir = ScratchDir::new("s3");
        let data = dir.0.join("data");
        let bucket = "cairn-test".to_string();
        std::fs::create_dir_all(data.join(&bucket)).unwrap();
        let port = free_port();
        let (access_key, secret_key) = ("AKIACAIRNTEST".to_string(), S3_SECRET_KEY.to_string());
        let mut child = Command::new(bin.unwrap())
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", &access_key])
            .args(["--secret-key", &secret_key])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        wait_for_port(port, &mut child, "s3s-fs");
        Some(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            access_key,
            secret_key,
            data,
            port,
            child,
            _dir: dir,
        })
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fault a [`FaultProxy`] injects into one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Close the connection without answering.
    Reset,
    /// Answer `503 SlowDown` as S3 does when throttling.
    SlowDown,
    /// Answer `500 InternalError`.
    InternalError,
    /// Say nothing for this long, then close.
    Stall(Duration),
    /// Forward, but cut the answer's body in half.
    Truncate,
    /// Answer with this status, body and extra headers instead of forwarding.
    Answer(u16, String, Vec<(String, String)>),
    /// Wait this long, then forward (latency, not a failure).
    Delay(Duration),
}

/// An HTTP proxy on 127.0.0.1 in front of a server, injecting faults into every `every`-th
/// request (cycling through the faults given), never into the same request twice in a row. It handles one request per connection and
/// answers with `Connection: close`.
#[derive(Debug)]
pub struct FaultProxy {
    /// The port it listens on.
    pub port: u16,
    /// Requests seen.
    pub requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Faults injected.
    pub injected: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The head (request line and headers) of every request, in arrival order.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream_port`.
    pub fn start(upstream_port: u16, every: u64, faults: Vec<Fault>) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicU64::new(0));
        let injected = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (r, i, s, l) = (requests.clone(), injected.clone(), stop.clone(), log.clone());
        // The same request (method and target) is not faulted again within ten seconds: faults
        // are transient, as on a real network, so a client within its retry budget gets
        // through, even when several clients send the same request at once (concurrent
        // creators of one object) and one's pass would otherwise clear another's fault.
        let last_faulted = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, Instant>::new()));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, i, l, faults, last_faulted) =
                    (r.clone(), i.clone(), l.clone(), faults.clone(), last_faulted.clone());
                std::thread::spawn(move || {
                    let decide = |line: &str| {
                        let n = r.fetch_add(1, Ordering::SeqCst);
                        let due = every > 0 && !faults.is_empty() && n % every == every - 1;
                        let mut last = last_faulted.lock().unwrap();
                        let recent = last.get(line).is_some_and(|at| at.elapsed() < Duration::from_secs(10));
                        if !due || recent {
                            return None;
                        }
                        last.insert(line.to_string(), Instant::now());
                        i.fetch_add(1, Ordering::SeqCst);
                        Some(faults[((n / every) as usize) % faults.len()].clone())
                    };
                    let _ = proxy_one(conn, upstream_port, &decide, &l);
                });
            }
        });
        Self { port, requests, injected, log, stop }
    }

    /// Faults injected so far.
    pub fn faults(&self) -> u64 {
        self.injected.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one HTTP message head (up to the blank line) and returns it with what followed.
fn read_head(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before the head ended"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// The head with any `Connection` header replaced by `Connection: close`.
fn closing(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

fn canned(status: u16, reason: &str, body: &str, extra: &[(String, String)]) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    head.into_bytes()
}

fn proxy_one(
    mut client: TcpStream,
    upstream_port: u16,
    decide: &dyn Fn(&str) -> Option<Fault>,
    log: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let (head, mut body) = read_head(&mut client)?;
    let text = String::from_utf8_lossy(&head).into_owned();
    let fault = decide(text.lines().next().unwrap_or_default());
    log.lock().unwrap().push(text);
    let want = content_length(&head);
    while body.len() < want {
        let mut chunk = vec![0u8; (want - body.len()).min(1 << 20)];
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    match &fault {
        Some(Fault::Reset) => return Ok(()),
        Some(Fault::Stall(d)) => {
            std::thread::sleep(*d);
            return Ok(());
        }
        Some(Fault::SlowDown) => {
            let xml = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            return client.write_all(&canned(503, "Slow Down", xml, &[]));
        }
        Some(Fault::InternalError) => {
            let xml = "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>";
            return client.write_all(&canned(500, "Internal Server Error", xml, &[]));
        }
        Some(Fault::Answer(status, xml, extra)) => return client.write_all(&canned(*status, "Injected", xml, extra)),
        Some(Fault::Delay(d)) => std::thread::sleep(*d),
        Some(Fault::Truncate) | None => {}
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
    upstream.write_all(&closing(&head))?;
    upstream.write_all(&body)?;
    let (rhead, mut rbody) = read_head(&mut upstream)?;
    upstream.read_to_end(&mut rbody)?;
    client.write_all(&closing(&rhead))?;
    if matches!(fault, Some(Fault::Truncate)) && rbody.len() > 1 {
        client.write_all(&rbody[..rbody.len() / 2])?;
        return Ok(());
    }
    client.write_all(&rbody)
}

/// A fault a [`TcpFaultProxy`] injects into one connection, once a number of bytes (both
/// directions together) has passed through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFault {
    /// Close both sides.
    Reset,
    /// Flip one bit of the next byte from the server (SSH's MAC catches it; the connection dies).
    Corrupt,
    /// Forward nothing for this long, then go on.
    Stall(Duration),
    /// Delay every piece forwarded from then on by this long.
    Latency(Duration),
}

impl TcpFault {
    /// Whether the connection dies of it.
    pub fn cuts(self) -> bool {
        matches!(self, Self::Reset | Self::Corrupt)
    }
}

/// Per-kind counts of the faults a [`TcpFaultProxy`] injected.
#[derive(Debug, Default, Clone)]
pub struct TcpFaultCounts {
    /// Connections accepted.
    pub connections: u64,
    /// Connections reset.
    pub resets: u64,
    /// Connections with a flipped bit.
    pub corruptions: u64,
    /// Stalls.
    pub stalls: u64,
    /// Connections slowed down.
    pub latencies: u64,
}

impl TcpFaultCounts {
    /// All faults injected.
    pub fn total(&self) -> u64 {
        self.resets + self.corruptions + self.stalls + self.latencies
    }
}

/// A TCP proxy on 127.0.0.1 in front of a server (SSH, say). Each connection, with odds of one
/// in `odds` each, gets a cut (a reset or a flipped bit, from `faults`) after `min_bytes` to
/// `window` bytes (both directions together), and a slow-down (a stall or latency, from `faults`)
/// anywhere from the handshake to a quarter of `window`; which one and where are drawn from
/// `seed`. Cuts are transient, as on a real network: a connection that follows one cut early
/// (before `window` bytes) is cut no earlier than `window` bytes, so any operation smaller than
/// that gets through on its second or third try.
#[derive(Debug)]
pub struct TcpFaultProxy {
    /// The port it listens on.
    pub port: u16,
    counts: std::sync::Arc<std::sync::Mutex<TcpFaultCounts>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TcpFaultProxy {
    /// Starts a proxy to `upstream_port` (see the type's docs).
    pub fn start(upstream_port: u16, seed: u64, odds: u64, faults: Vec<TcpFault>, min_bytes: u64, window: u64) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Mutex::new(TcpFaultCounts::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        let (cuts, slows): (Vec<TcpFault>, Vec<TcpFault>) = faults.into_iter().partition(|f| f.cuts());
        std::thread::spawn(move || {
            let mut state = seed;
            let mut next = move || {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            };
            let mut early_cut = false;
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else { continue };
                let cut = (!cuts.is_empty() && next() % odds.max(1) == 0).then(|| {
                    let at = if early_cut {
                        window + next() % window.max(1)
                    } else {
                        min_bytes + next() % window.saturating_sub(min_bytes).max(1)
                    };
                    early_cut = at < window;
                    (cuts[(next() % cuts.len() as u64) as usize], at)
                });
                if cut.is_none() {
                    early_cut = false;
                }
                let slow = (!slows.is_empty() && next() % odds.max(1) == 0).then(|| {
                    // A scale from 1 KiB up to a quarter of the window, then a point below it.
                    let scale = (1024u64 << (next() % 16)).min((window / 4).max(1024));
                    (slows[(next() % slows.len() as u64) as usize], next() % scale)
                });
                c.lock().unwrap().connections += 1;
                let shared = Arc::new(TcpConn {
                    moved: Mutex::new(0),
                    faults: [cut, slow],
                    fired: [AtomicBool::new(false), AtomicBool::new(false)],
                });
                for (from, to, from_server) in
                    [(client.try_clone().unwrap(), upstream.try_clone().unwrap(), false), (upstream, client, true)]
                {
                    let (shared, counts) = (shared.clone(), c.clone());
                    std::thread::spawn(move || pump(from, to, from_server, &shared, &counts));
                }
            }
        });
        Self { port, counts, stop }
    }

    /// What it has injected so far.
    pub fn counts(&self) -> TcpFaultCounts {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for TcpFaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One proxied connection: its faults (a cut, a slow-down) with the byte counts they fire at.
struct TcpConn {
    moved: std::sync::Mutex<u64>,
    faults: [Option<(TcpFault, u64)>; 2],
    fired: [std::sync::atomic::AtomicBool; 2],
}

/// Copies `from` to `to` until either side closes, injecting the connection's faults once
/// their byte counts have passed (both directions together).
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    from_server: bool,
    conn: &TcpConn,
    counts: &std::sync::Mutex<TcpFaultCounts>,
) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let moved = {
            let mut moved = conn.moved.lock().unwrap();
            *moved += n as u64;
            *moved
        };
        for (fault, fired) in conn.faults.iter().zip(&conn.fired) {
            let Some((fault, at)) = *fault else { continue };
            // Corruption waits for a piece from the server, so that the client is the one to notice.
            if moved < at || (fault == TcpFault::Corrupt && !from_server) || fired.swap(true, Ordering::SeqCst) {
                continue;
            }
            let mut c = counts.lock().unwrap();
            match fault {
                TcpFault::Reset => {
                    c.resets += 1;
                    drop(c);
                    // A reset, not a polite close: the sockets are closed with no lingering,
                    // once the other direction lets go of them too.
                    for s in [&from, &to] {
                        let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                    }
                    let _ = from.shutdown(std::net::Shutdown::Both);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                    return;
                }
                TcpFault::Corrupt => {
                    c.corruptions += 1;
                    buf[n / 2] ^= 0x10;
                }
                TcpFault::Stall(d) => {
                    c.stalls += 1;
                    drop(c);
                    std::thread::sleep(d);
                }
                TcpFault::Latency(_) => c.latencies += 1,
            }
        }
        if let Some((TcpFault::Latency(d), _)) = conn.faults[1]
            && conn.fired[1].load(Ordering::SeqCst)
        {
            std::thread::sleep(d);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

/// `rclone serve restic`: a restic REST server (protocol v2) with basic authentication.
#[derive(Debug)]
pub struct RestServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// User name accepted.
    pub user: String,
    /// Password accepted.
    pub password: String,
    /// Where it stores.
    pub data: PathBuf,
    child: Child,
    _dir: ScratchDir,
}

impl RestServer {
    /// Starts a server (append-only if asked), or returns `None` (outside CI, saying why) if
    /// rclone is not installed.
    pub fn start(append_only: bool) -> Option<Self> {
        let extra: &[&str] = if append_only { &["--append-only"] } else { &[] };
        let (port, data, child, dir) = rclone_serve("restic", REST_PASSWORD, extra)?;
        let (user, password) = ("cairn".to_string(), REST_PASSWORD.to_string());
        Some(Self { url: format!("http://127.0.0.1:{port}"), port, user, password, data, child, _dir: dir })
    }
}

/// `rclone serve PROTOCOL` on a free port of 127.0.0.1, user `cairn` with `password`, storing in
/// a scratch directory's `data/`: its port, that directory, the process and the scratch
/// directory; `None` (outside CI, saying why) if rclone is not installed.
fn rclone_serve(protocol: &str, password: &str, extra: &[&str]) -> Option<(u16, PathBuf, Child, ScratchDir)> {
    let bin = find_tool("rclone");
    if !crate::prerequisite(bin.is_some(), "rclone (apt-get install rclone)") {
        return None;
    }
    let dir = ScratchDir::new(protocol);
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let mut child = Command::new(bin.unwrap())
        .args(["serve", protocol, "--addr", &format!("127.0.0.1:{port}"), "--user", "cairn", "--pass", password])
        .args(extra)
        // rclone reads no config file it does not need; keep it from touching the user's.
        .env("RCLONE_CONFIG", dir.0.join("rclone.conf"))
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, &format!("rclone serve {protocol}"));
    Some((port, data, child, dir))
}

impl Drop for RestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Azurite's Blob service: an Azure Blob Storage emulator that checks SharedKey and SAS
/// signatures, with one account ([`AZURE_ACCOUNT`], key [`AZURE_ACCOUNT_KEY`]) and one container.
#[derive(Debug)]
pub struct AzuriteServer {
    /// The account's Blob endpoint: `http://127.0.0.1:PORT/ACCOUNT`.
    pub endpoint: String,
    /// The container created for the test.
    pub container: String,
    /// Its port.
    pub port: u16,
    /// Where it stores.
    pub data: PathBuf,
    child: Child,
    _dir: ScratchDir,
}

impl AzuriteServer {
    /// Starts a server with an empty container, or returns `None` (outside CI, saying why) if
    /// `azurite-blob` is not installed.
    pub fn start() -> Option<Self> {
        let bin = find_tool("azurite-blob");
        if !crate::prerequisite(bin.is_some(), "azurite-blob (npm install azurite; ./test.sh installs it)") {
            return None;
        }
        let dir = ScratchDir::new("azure");
        let data = dir.0.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let bin = bin.unwrap();
        // Now and then, with several tests starting servers at once, Azurite is seen listening
        // and then refuses the first request: such a start is noticed by the container's
        // creation and made again on another port.
        let mut tries = 0;
        loop {
            tries += 1;
            let port = free_port();
            let mut cmd = Command::new(&bin);
            // CAIRN_AZURITE_DEBUG=FILE: Azurite's debug log (every request, string to sign).
            if let Some(log) = std::env::var_os("CAIRN_AZURITE_DEBUG") {
                cmd.arg("--debug").arg(log);
            }
            let mut child = cmd
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location"])
                .arg(&data)
                .args(["--disableTelemetry", "--skipApiVersionCheck", "--silent"])
                .env("AZURITE_ACCOUNTS", format!("{AZURE_ACCOUNT}:{AZURE_ACCOUNT_KEY}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start azurite-blob");
            let created = try_wait_for_port(port, &mut child, "azurite-blob")
                .and_then(|()| create_container_at(port, "cairn-test"));
            let exited = child.try_wait().ok().flatten();
            if created.is_ok() && exited.is_none() {
                return Some(Self {
                    endpoint: format!("http://127.0.0.1:{port}/{AZURE_ACCOUNT}"),
                    container: "cairn-test".to_string(),
                    port,
                    data,
                    child,
                    _dir: dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(tries < 5, "azurite-blob did not start: {created:?}, exited: {exited:?}");
            eprintln!("azurite-blob on port {port} not usable ({created:?}, exited: {exited:?}); starting again");
        }
    }

    /// Creates a container with a SharedKey-signed request of its own (not Cairn's code).
    pub fn create_container(&self, name: &str) {
        if let Err(e) = create_container_at(self.port, name) {
            panic!("{e}");
        }
    }

    /// An account SAS token for the Blob service with these permissions (`rwdlac`: all that
    /// Cairn needs), valid until `expiry` (`2099-01-01T00:00:00Z`).
    pub fn account_sas(&self, permissions: &str, expiry: &str) -> String {
        let version = "2022-11-02";
        let to_sign = format!("{AZURE_ACCOUNT}\n{permissions}\nb\nsco\n\n{expiry}\n\n\n{version}\n\n");
        let encode = |s: &str| {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        };
        format!(
            "sv={version}&ss=b&srt=sco&sp={permissions}&se={}&sig={}",
            encode(expiry),
            encode(&azure_sign(&to_sign))
        )
    }
}

/// Creates container `name` on the Azurite at `port` with a SharedKey-signed request.
fn create_container_at(port: u16, name: &str) -> Result<(), String> {
    let date = http_date();
    let path = format!("/{AZURE_ACCOUNT}/{name}");
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:2023-11-03\n/{AZURE_ACCOUNT}{path}\nrestype:container"
    );
    let request = format!(
        "PUT {path}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-ms-date: {date}\r\nx-ms-version: \
         2023-11-03\r\nAuthorization: SharedKey {AZURE_ACCOUNT}:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        azure_sign(&to_sign)
    );
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("create container: {e}"))?;
    s.write_all(request.as_bytes()).map_err(|e| format!("create container: {e}"))?;
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    if answer.starts_with("HTTP/1.1 201") || answer.starts_with("HTTP/1.1 409") {
        Ok(())
    } else {
        Err(format!("create container: {answer}"))
    }
}

impl Drop for AzuriteServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Base64 HMAC-SHA256 with the account key, as SharedKey and SAS signatures are.
fn azure_sign(text: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let key = base64::engine::general_purpose::STANDARD.decode(AZURE_ACCOUNT_KEY).unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn http_date() -> String {
    let out = Command::new("date").args(["-u", "+%a, %d %b %Y %H:%M:%S GMT"]).env("LC_ALL", "C").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The storage account of every [`AzuriteServer`].
pub const AZURE_ACCOUNT: &str = "cairntest";
/// Its key, base64 as the portal shows it: what `AZURE_ACCOUNT_KEY` is set to.
pub const AZURE_ACCOUNT_KEY: &str = "Y2Fpcm4tYXp1cmUtdGVzdC1rZXktWHE3djktMDEyMzQ1Njc4OWFiY2RlZiE=";

impl AzuriteServer {
    /// A destination URL for the backup directory `dir` of the test container.
    pub fn repo_url(&self, dir: &str) -> String {
        format!("azure:{AZURE_ACCOUNT}/{}/{dir}?endpoint={}", self.container, self.endpoint)
    }
}

/// `rclone serve webdav`: a WebDAV server with basic authentication.
#[derive(Debug)]
pub struct WebDavServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// User name accepted.
    pub user: String,
    /// Password accepted ([`WEBDAV_PASSWORD`]).
    pub password: String,
    /// Where it stores.
    pub data: PathBuf,
    child: Child,
    _dir: ScratchDir,
}

impl WebDavServer {
    /// Starts a server, or returns `None` (outside CI, saying why) if rclone is not installed.
    pub fn start() -> Option<Self> {
        // rclone's file system layer keeps directory listings for five minutes by default and
        // updates them from its own writes; concurrent writers can race that update, and a
        // listing then misses a file just written (the lease races in the conformance suite
        // saw it). Cairn needs a listing to show what was written: read the disk every time.
        let (port, data, child, dir) = rclone_serve("webdav", WEBDAV_PASSWORD, &["--dir-cache-time", "0s"])?;
        let (user, password) = ("cairn".to_string(), WEBDAV_PASSWORD.to_string());
        Some(Self { url: format!("http://127.0.0.1:{port}"), port, user, password, data, child, _dir: dir })
    }

    /// A destination URL for the directory `dir` on the server.
    pub fn repo_url(&self, dir: &str) -> String {
        format!("webdav:http://{}@127.0.0.1:{}/{dir}", self.user, self.port)
    }
}

impl Drop for WebDavServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The password of every [`WebDavServer`].
pub const WEBDAV_PASSWORD: &str = "webdav pass-Qm8r/word";

/// The secret access key of every [`S3Server`].
pub const S3_SECRET_KEY: &str = "cairn/test+secret/KEY-s3Q7x";
/// The password of every [`RestServer`].
pub const REST_PASSWORD: &str = "rest pass/word-Zk3v";

/// The account [`SshServer::start_with_passwords`] logs in as.
pub const PASSWORD_USER: &str = "cairn-sftp-test";
/// Its password.
pub const PASSWORD: &str = "a passphrase: not secret";

/// OpenSSH `sshd` started by hand with its own config, host key and authorized key (no system
/// config touched). Needs root (sshd's privilege separation) and the openssh-server package.
#[derive(Debug)]
pub struct SshServer {
    /// Its port.
    pub port: u16,
    /// The user to log in as (the one running the tests).
    pub user: String,
    /// A private key the server accepts (ed25519, no passphrase).
    pub client_key: PathBuf,
    /// A `known_hosts` file that lists the server's host key.
    pub known_hosts: PathBuf,
    /// The host key's fingerprint (`SHA256:...`).
    pub fingerprint: String,
    /// A scratch directory the tests may use (absolute, on the server's filesystem).
    pub root: PathBuf,
    child: Option<Child>,
    config: PathBuf,
    dir: ScratchDir,
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl SshServer {
    /// Starts a server, or returns `None` (outside CI, saying why) if sshd cannot run here.
    pub fn start() -> Option<Self> {
        Self::start_with(false)
    }

    /// Starts a server that also takes passwords, for [`PASSWORD_USER`] (created if missing,
    /// with password [`PASSWORD`]); its `root` belongs to that user.
    pub fn start_with_passwords() -> Option<Self> {
        Self::start_with(true)
    }

    fn start_with(passwords: bool) -> Option<Self> {
        let sshd = Path::new("/usr/sbin/sshd");
        let ok = sshd.is_file() && find_tool("ssh-keygen").is_some() && crate::is_root();
        if !crate::prerequisite(ok, "sshd as root (apt-get install openssh-server)") {
            return None;
        }
        let dir = ScratchDir::new("sshd");
        let d = &dir.0;
        let keygen = |name: &str, t: &str, pass: &str| {
            run_ok(Command::new("ssh-keygen").args(["-q", "-t", t, "-N", pass, "-C", name, "-f"]).arg(d.join(name)));
        };
        keygen("host_key", "ed25519", "");
        keygen("client_key", "ed25519", "");
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let config = d.join("sshd_config");
        let lines = [
            format!("Port {port}"),
            "ListenAddress 127.0.0.1".into(),
            format!("HostKey {}", d.join("host_key").display()),
            format!("PidFile {}", d.join("sshd.pid").display()),
            format!("AuthorizedKeysFile {}", d.join("authorized_keys").display()),
            "PermitRootLogin prohibit-password".into(),
            format!("PasswordAuthentication {}", if passwords { "yes" } else { "no" }),
            "KbdInteractiveAuthentication no".into(),
            "UsePAM no".into(),
            "StrictModes no".into(),
            "Subsystem sftp internal-sftp".into(),
        ];
        std::fs::write(&config, lines.join("\n") + "\n").unwrap();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let known_hosts = d.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        let fingerprint =
            run_ok(Command::new("ssh-keygen").args(["-l", "-E", "sha256", "-f"]).arg(d.join("host_key.pub")))
                .split_whitespace()
                .nth(1)
                .unwrap()
                .to_string();
        let mut user = run_ok(Command::new("id").arg("-un")).trim().to_string();
        let root = d.join("files");
        std::fs::create_dir_all(&root).unwrap();
        if passwords {
            // A dedicated account (sshd refuses locked ones such as nobody) that owns `root`.
            if !Command::new("id").arg(PASSWORD_USER).output().unwrap().status.success() {
                run_ok(Command::new("useradd").args(["--create-home", "--shell", "/bin/sh", PASSWORD_USER]));
            }
            let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
            std::io::Write::write_all(
                chpasswd.stdin.as_mut().unwrap(),
                format!("{PASSWORD_USER}:{PASSWORD}\n").as_bytes(),
            )
            .unwrap();
            assert!(chpasswd.wait().unwrap().success());
            run_ok(Command::new("chown").arg(PASSWORD_USER).arg(&root));
            // The scratch directory's parents must let that user through.
            let _ = Command::new("chmod").arg("755").arg(d).status();
            user = PASSWORD_USER.to_string();
        }
        let mut server = Self {
            port,
            user,
            client_key: d.join("client_key"),
            known_hosts,
            fingerprint,
            root,
            child: None,
            config,
            dir,
        };
        server.restart();
        Some(server)
    }

    /// Generates another client key of `kind` (`ed25519`, `ecdsa`, `rsa`) with `passphrase`,
    /// authorizes it, and returns its path.
    pub fn add_client_key(&self, kind: &str, passphrase: &str) -> PathBuf {
        let path = self.dir.0.join(format!("client_{kind}"));
        run_ok(Command::new("ssh-keygen").args(["-q", "-t", kind, "-N", passphrase, "-C", kind, "-f"]).arg(&path));
        let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        let mut authorized = std::fs::read_to_string(self.dir.0.join("authorized_keys")).unwrap();
        authorized.push_str(&public);
        std::fs::write(self.dir.0.join("authorized_keys"), authorized).unwrap();
        path
    }

    /// The `sftp://` URL of `dir` under [`SshServer::root`].
    pub fn repo_url(&self, dir: &str) -> String {
        format!("sftp://{}@127.0.0.1:{}{}", self.user, self.port, self.root.join(dir).display())
    }

    /// The `cairn` flags that log in with [`SshServer::client_key`] and trust the host key
    /// through [`SshServer::known_hosts`].
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "--ssh-key".into(),
            self.client_key.display().to_string(),
            "--known-hosts".into(),
            self.known_hosts.display().to_string(),
        ]
    }

    /// Writes a `known_hosts` file that records another key for this server (as after a
    /// reinstall, or an interception) and returns it.
    pub fn changed_known_hosts(&self) -> PathBuf {
        let other = self.dir.0.join("other_host_key");
        run_ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&other));
        let line = std::fs::read_to_string(other.with_extension("pub")).unwrap();
        let path = self.dir.0.join("changed_known_hosts");
        std::fs::write(&path, format!("[127.0.0.1]:{} {line}", self.port)).unwrap();
        path
    }

    /// Stops the server (connections drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // sshd forks a process per connection, a child of the listener: end those first
            // (only this server's, never anyone else's sessions).
            let _ = Command::new("pkill").arg("-KILL").arg("-P").arg(c.id().to_string()).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// (Re)starts the server on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        wait_for_port(self.port, &mut child, "sshd");
        self.child = Some(child);
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The password of every [`FtpServer`]'s user.
pub const FTP_PASSWORD: &str = "ftp pass-Wq4z/word";

/// Debian's pure-ftpd, started by hand on 127.0.0.1 with one virtual user ([`FtpServer::user`],
/// [`FTP_PASSWORD`]) chrooted to its home, passive ports from the kernel, and TLS offered with a
/// self-signed certificate (`tls`) or not at all. Needs root (pure-ftpd's privilege separation)
/// and the pure-ftpd and openssl packages.
#[derive(Debug)]
pub struct FtpServer {
    /// Its port.
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// The user's home (its `/` when logged in): where the files land.
    pub home: PathBuf,
    child: Child,
    _dir: ScratchDir,
}

impl FtpServer {
    /// Starts a server offering TLS (`tls`) or not, or returns `None` (outside CI, saying why)
    /// if pure-ftpd cannot run here.
    pub fn start(tls: bool) -> Option<Self> {
        let ftpd =
            find_tool("pure-ftpd").or_else(|| Some(PathBuf::from("/usr/sbin/pure-ftpd")).filter(|p| p.is_file()));
        let pw = find_tool("pure-pw").or_else(|| Some(PathBuf::from("/usr/bin/pure-pw")).filter(|p| p.is_file()));
        let openssl = find_tool("openssl");
        let ok = ftpd.is_some() && pw.is_some() && openssl.is_some() && crate::is_root();
        if !crate::prerequisite(ok, "pure-ftpd and openssl as root (apt-get install pure-ftpd openssl)") {
            return None;
        }
        let (ftpd, pw, openssl) = (ftpd.unwrap(), pw.unwrap(), openssl.unwrap());
        let openssl = &openssl;
        let dir = ScratchDir::new("ftp");
        let home = dir.0.join("home");
        std::fs::create_dir_all(&home).unwrap();
        // The virtual user's files belong to nobody, as a shared host's would.
        run_ok(Command::new("chown").args(["nobody:nogroup", home.to_str().unwrap()]));
        let user = "cairn".to_string();
        let passwd = dir.0.join("passwd");
        let mut add = Command::new(&pw)
            .args(["useradd", &user, "-u", "nobody", "-g", "nogroup", "-d", home.to_str().unwrap(), "-f"])
            .arg(&passwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = add.stdin.take().unwrap();
            write!(stdin, "{FTP_PASSWORD}\n{FTP_PASSWORD}\n").unwrap();
        }
        assert!(add.wait().unwrap().success(), "pure-pw useradd failed");
        // pure-pw hashes with Argon2id at 511 passes: 4 s per login here. A test server needs
        // no such cost, so the hash becomes a SHA-512 crypt one.
        let hash = run_ok(Command::new(openssl).args(["passwd", "-6", FTP_PASSWORD]));
        let line = std::fs::read_to_string(&passwd).unwrap();
        let mut fields: Vec<&str> = line.trim_end().split(':').collect();
        fields[1] = hash.trim();
        std::fs::write(&passwd, format!("{}\n", fields.join(":"))).unwrap();
        let db = dir.0.join("pureftpd.pdb");
        run_ok(Command::new(&pw).arg("mkdb").arg(&db).arg("-f").arg(&passwd));
        let port = free_port();
        let mut cmd = Command::new(ftpd);
        cmd.arg("-S")
            .arg(format!("127.0.0.1,{port}"))
            .arg("-l")
            .arg(format!("puredb:{}", db.display()))
            // No anonymous logins, no DNS lookups, everyone chrooted, a pid file of its own.
            .args(["-E", "-H", "-A", "-g"])
            .arg(dir.0.join("pid"));
        if tls {
            let (key, cert, both) = (dir.0.join("key.pem"), dir.0.join("cert.pem"), dir.0.join("both.pem"));
            run_ok(
                Command::new(openssl)
                    .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
                    .args([
                        "-days",
                        "2",
                        "-subj",
                        "/CN=localhost",
                        "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    ])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
            );
            let pem = [std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()].concat();
            std::fs::write(&both, pem).unwrap();
            cmd.args(["-Y", "1", "-2"]).arg(&both);
        } else {
            cmd.args(["-Y", "0"]);
        }
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        wait_for_port(port, &mut child, "pure-ftpd");
        Some(Self { port, user, home, child, _dir: dir })
    }

    /// A destination URL (`ftp://`) for the directory `dir` under the user's home, with
    /// `options` (`verify-tls=false&...`, or empty).
    pub fn repo_url(&self, dir: &str, options: &str) -> String {
        let q = if options.is_empty() { String::new() } else { format!("?{options}") };
        format!("ftp://{}@localhost:{}/{dir}{q}", self.user, self.port)
    }
}

impl Drop for FtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// rclone, for the rclone bridge's tests (give it as `CAIRN_RCLONE` or `RcloneConfig::program`),
/// or `None` (outside CI, saying why) if it is not installed. It is a wrapper that runs rclone
/// with two work-arounds for the S3 test remote, neither of which Cairn's own S3 destination
/// needs: without `AWS_CA_BUNDLE` (Debian's rclone 1.60 fails every S3 remote when that
/// variable is set, "LoadCustomCABundleError ... unsupported transport", and some machines set
/// it), and with rclone's recursive listing off (`RCLONE_DISABLE=ListR`: s3s-fs 0.14 answers a
/// listing with an empty `delimiter=` as if it were a one-character one, so rclone would see
/// no packs; without ListR rclone lists folder by folder, as it does on most cloud drives).
pub fn rclone() -> Option<PathBuf> {
    let bin = find_tool("rclone");
    if !crate::prerequisite(bin.is_some(), "rclone (apt-get install rclone)") {
        return None;
    }
    let script =
        format!("#!/bin/sh\nunset AWS_CA_BUNDLE\nexport RCLONE_DISABLE=ListR\nexec '{}' \"$@\"\n", bin?.display());
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join("cairn-test-rclone");
    let wrapper = dir.join("rclone");
    if std::fs::read_to_string(&wrapper).ok().as_deref() != Some(script.as_str()) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir).unwrap();
        // Other test processes may write it at the same time: each through a file of its own.
        let tmp = dir.join(format!(".rclone-{}", std::process::id()));
        std::fs::write(&tmp, &script).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &wrapper).unwrap();
    }
    Some(wrapper)
}

/// Writes an rclone configuration file into `dir` with a `local` remote named `cairnlocal`
/// and, given an S3 test server, an `s3` remote named `s3fs` that reaches it (path-style,
/// SigV4, its keys); returns the file's path (for `RCLONE_CONFIG` or `--config`).
pub fn rclone_config(dir: &Path, s3: Option<&S3Server>) -> PathBuf {
    let mut text = String::from("[cairnlocal]\ntype = local\n");
    if let Some(s) = s3 {
        text.push_str(&format!(
            "\n[s3fs]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}\n\
             region = us-east-1\nforce_path_style = true\nno_check_bucket = true\n",
            s.access_key, s.secret_key, s.endpoint
        ));
    }
    let file = dir.join("rclone.conf");
    std::fs::write(&file, text).unwrap();
    file
}

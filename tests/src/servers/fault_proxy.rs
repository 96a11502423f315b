//! An HTTP proxy that injects faults (errors, throttling, stalls, cut bodies) into requests.

use super::*;

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

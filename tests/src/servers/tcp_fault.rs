//! A TCP proxy that injects faults (resets, stalls) into connections once bytes have passed.

use super::*;

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

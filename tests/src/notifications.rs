//! A private session D-Bus (a real `dbus-daemon`) with a notification listener on it: it owns
//! `org.freedesktop.Notifications`, answers `Notify` as a desktop's notification service does,
//! hands over what it was asked to show, and can click a notification (`ActionInvoked`).

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dbus::blocking::Connection;
use dbus::channel::{Channel, MatchingReceiver};
use dbus::message::MatchRule;

/// One `Notify` call the listener received.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The id the listener gave it.
    pub id: u32,
    /// The sending application's name.
    pub app: String,
    /// The headline.
    pub summary: String,
    /// The detail.
    pub body: String,
    /// The actions offered, as key and label.
    pub actions: Vec<String>,
    /// The urgency hint (0 low, 1 normal, 2 critical), if given.
    pub urgency: Option<u8>,
}

/// The bus and its listener; both stop when dropped.
#[derive(Debug)]
pub struct SessionBus {
    daemon: Child,
    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
    shown: mpsc::Receiver<Shown>,
    clicks: mpsc::Sender<u32>,
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

impl SessionBus {
    /// Starts `dbus-daemon --session` and the listener on it. Panics (the test fails) if
    /// dbus-daemon is missing.
    pub fn start() -> Self {
        let program = crate::servers::find_tool("dbus-daemon")
            .expect("dbus-daemon is not installed (apt-get install dbus-daemon; ./test.sh does it)");
        let mut daemon = Command::new(program)
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(daemon.stdout.take().unwrap()), &mut line).unwrap();
        let address = line.trim().to_string();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        let (shown_tx, shown) = mpsc::channel();
        let (clicks, clicked) = mpsc::channel::<u32>();
        let (ready_tx, ready) = mpsc::channel();
        let addr = address.clone();
        std::thread::spawn(move || {
            let mut channel = Channel::open_private(&addr).expect("connect to the test bus");
            channel.register().expect("register on the test bus");
            let conn = Connection::from(channel);
            conn.request_name("org.freedesktop.Notifications", false, true, true).expect("own the name");
            let next = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(1));
            conn.start_receive(
                MatchRule::new_method_call(),
                Box::new(move |msg, conn| {
                    let reply = match msg.member().as_deref() {
                        Some("Notify") => {
                            let id = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let mut it = msg.iter_init();
                            let app: String = it.read().unwrap_or_default();
                            let _replaces: u32 = it.read().unwrap_or_default();
                            let _icon: String = it.read().unwrap_or_default();
                            let summary: String = it.read().unwrap_or_default();
                            let body: String = it.read().unwrap_or_default();
                            let actions: Vec<String> = it.read().unwrap_or_default();
                            let hints: dbus::arg::PropMap = it.read().unwrap_or_default();
                            let urgency = hints.get("urgency").and_then(|v| v.0.as_u64()).map(|u| u as u8);
                            let _ = shown_tx.send(Shown { id, app, summary, body, actions, urgency });
                            msg.method_return().append1(id)
                        }
                        Some("GetCapabilities") => msg.method_return().append1(vec!["actions", "body"]),
                        Some("GetServerInformation") => {
                            msg.method_return().append2("cairn-test", "cairn").append2("1", "1.2")
                        }
                        _ => msg.method_return(),
                    };
                    let _ = dbus::channel::Sender::send(conn, reply);
                    true
                }),
            );
            let _ = ready_tx.send(());
            loop {
                if conn.process(Duration::from_millis(50)).is_err() {
                    return;
                }
                while let Ok(id) = clicked.try_recv() {
                    let signal = dbus::Message::new_signal(
                        "/org/freedesktop/Notifications",
                        "org.freedesktop.Notifications",
                        "ActionInvoked",
                    )
                    .unwrap()
                    .append2(id, "default");
                    let _ = dbus::channel::Sender::send(&conn, signal);
                }
            }
        });
        ready.recv_timeout(Duration::from_secs(10)).expect("the notification listener did not start");
        Self { daemon, address, shown, clicks }
    }

    /// The next notification shown, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Shown> {
        self.shown.recv_timeout(timeout).ok()
    }

    /// Every notification shown within `timeout` from now.
    pub fn all_within(&self, timeout: Duration) -> Vec<Shown> {
        let end = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.shown.recv_timeout(left) {
                Ok(s) => out.push(s),
                Err(_) => break,
            }
        }
        out
    }

    /// Clicks notification `id` (its default action), as the user would.
    pub fn click(&self, id: u32) {
        self.clicks.send(id).unwrap();
    }
}

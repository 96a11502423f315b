//! Desktop notifications over the session D-Bus (the freedesktop Notifications interface), with
//! a click opening the window at the right screen, and the power and network state over the
//! system D-Bus.
//!
//! A [`Notifier`] owns one thread that holds the session bus connection (made again if it was
//! lost): it sends each note and listens for `ActionInvoked`, on which it starts the desktop app
//! with `--screen SCREEN`. The daemon keeps one for its lifetime, so a notification it sent
//! stays clickable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use dbus::arg::{PropMap, RefArg, Variant};
use dbus::blocking::Connection;
use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
use dbus::message::MatchRule;

use super::{Conditions, Note, Urgency};

const NAME: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
/// How long a D-Bus call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

type Reply = tokio::sync::oneshot::Sender<Result<u32, String>>;

/// Sends desktop notifications from a thread of its own (see the module docs).
#[derive(Debug)]
pub struct Notifier {
    queue: mpsc::Sender<(Note, Reply)>,
}

impl Notifier {
    /// Starts the thread. A click on a notification runs `opener --screen SCREEN` (`None`: the
    /// notification offers nothing to click).
    pub fn start(opener: Option<PathBuf>) -> Self {
        Self::on_bus(None, opener)
    }

    /// As [`Notifier::start`], on the bus at `address` (`None`: the session bus).
    pub fn on_bus(address: Option<String>, opener: Option<PathBuf>) -> Self {
        let (queue, notes) = mpsc::channel();
        std::thread::Builder::new()
            .name("cairn-notifier".into())
            .spawn(move || serve(&notes, address.as_deref(), opener.as_ref()))
            .map(drop)
            .unwrap_or_else(|e| eprintln!("warning: no desktop notifications: cannot start their thread: {e}"));
        Self { queue }
    }

    /// Shows `note` on the desktop; returns its id, or why it could not be shown.
    pub async fn send(&self, note: Note) -> Result<u32, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue.send((note, reply)).map_err(|_| "the notification thread has stopped".to_string())?;
        answer.await.map_err(|_| "the notification thread has stopped".to_string())?
    }
}

/// The thread: sends what comes, and acts on clicks between notes.
fn serve(notes: &mpsc::Receiver<(Note, Reply)>, address: Option<&str>, opener: Option<&PathBuf>) {
    let shown = std::sync::Arc::new(std::sync::Mutex::new(HashMap::<u32, String>::new()));
    let mut bus: Option<Connection> = None;
    loop {
        match notes.recv_timeout(if bus.is_some() { Duration::from_millis(200) } else { Duration::from_secs(3600) }) {
            Ok((note, reply)) => {
                if bus.is_none() {
                    match connect(address, &shown, opener) {
                        Ok(conn) => bus = Some(conn),
                        Err(e) => {
                            let _ =
                                reply.send(Err(format!("no desktop session bus (is a desktop session running?): {e}")));
                            continue;
                        }
                    }
                }
                let Some(conn) = &bus else { continue };
                let sent = notify(conn, &note, opener.is_some());
                if let Ok(id) = sent {
                    shown.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, note.screen.clone());
                } else {
                    bus = None;
                }
                let _ = reply.send(sent);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if let Some(conn) = &bus
            && conn.process(Duration::ZERO).is_err()
        {
            bus = None;
        }
    }
}

/// Connects to the session bus and listens for clicks and closings.
fn connect(
    address: Option<&str>,
    shown: &std::sync::Arc<std::sync::Mutex<HashMap<u32, String>>>,
    opener: Option<&PathBuf>,
) -> Result<Connection, String> {
    let conn = match address {
        None => Connection::new_session().map_err(|e| e.to_string())?,
        Some(a) => {
            let mut channel = dbus::channel::Channel::open_private(a).map_err(|e| e.to_string())?;
            channel.register().map_err(|e| e.to_string())?;
            Connection::from(channel)
        }
    };
    let (clicked, closed) = (shown.clone(), shown.clone());
    let opener = opener.cloned();
    let rule = MatchRule::new_signal(NAME, "ActionInvoked");
    conn.add_match(rule, move |(id, _action): (u32, String), _: &Connection, _: &dbus::Message| {
        let screen = clicked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
        if let (Some(screen), Some(program)) = (screen, &opener) {
            // The window is a program of its own; it is not waited for (it runs as long as the user keeps it).
            let _ = std::process::Command::new(program)
                .arg("--screen")
                .arg(screen)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .spawn()
                .map(|child| std::thread::spawn(move || drop(child.wait_with_output())));
        }
        true
    })
    .map_err(|e| e.to_string())?;
    let rule = MatchRule::new_signal(NAME, "NotificationClosed");
    conn.add_match(rule, move |(id, _reason): (u32, u32), _: &Connection, _: &dbus::Message| {
        closed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
        true
    })
    .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One `Notify` call.
fn notify(conn: &Connection, note: &Note, clickable: bool) -> Result<u32, String> {
    let proxy = conn.with_proxy(NAME, PATH, CALL_TIMEOUT);
    let urgency: u8 = match note.urgency {
        Urgency::Low => 0,
        Urgency::Normal => 1,
        Urgency::Critical => 2,
    };
    let mut hints = PropMap::new();
    hints.insert("urgency".into(), Variant(Box::new(urgency) as Box<dyn RefArg>));
    hints.insert("desktop-entry".into(), Variant(Box::new("cairn-desktop".to_string()) as Box<dyn RefArg>));
    let actions: Vec<&str> = if clickable { vec!["default", "Open Cairn"] } else { Vec::new() };
    // Critical notes stay until dismissed (-1 leaves the others to the desktop's default).
    let expire: i32 = if note.urgency == Urgency::Critical { 0 } else { -1 };
    let (id,): (u32,) = proxy
        .method_call(
            NAME,
            "Notify",
            ("Cairn", 0u32, "cairn-desktop", note.summary.as_str(), note.body.as_str(), actions, hints, expire),
        )
        .map_err(|e| format!("the desktop's notification service: {}", e.message().unwrap_or("no answer")))?;
    Ok(id)
}

/// The machine's power and network state from the system bus (unknown where there is none).
pub fn machine_conditions() -> Conditions {
    let Ok(conn) = Connection::new_system() else { return Conditions::default() };
    let upower = conn.with_proxy("org.freedesktop.UPower", "/org/freedesktop/UPower", CALL_TIMEOUT);
    let on_battery = upower.get::<bool>("org.freedesktop.UPower", "OnBattery").ok();
    let nm = conn.with_proxy("org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager", CALL_TIMEOUT);
    // NMMetered: 1 yes, 3 guessed yes; 2 no, 4 guessed no, 0 unknown.
    let metered = nm.get::<u32>("org.freedesktop.NetworkManager", "Metered").ok().and_then(|m| match m {
        1 | 3 => Some(true),
        2 | 4 => Some(false),
        _ => None,
    });
    Conditions { on_battery, metered }
}

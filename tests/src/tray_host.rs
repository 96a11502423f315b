//! A tray host on a private session bus ([`crate::notifications::SessionBus`]): it owns
//! `org.kde.StatusNotifierWatcher` as a desktop's panel does, takes the registration of a tray
//! icon (a StatusNotifierItem, as libayatana-appindicator makes it), and reads and clicks the
//! icon's menu over `com.canonical.dbusmenu`, as the panel does when the user clicks.

use std::sync::mpsc;
use std::time::Duration;

use dbus::arg::{PropMap, RefArg, Variant};
use dbus::blocking::Connection;
use dbus::blocking::stdintf::org_freedesktop_dbus::Properties;
use dbus::channel::{Channel, MatchingReceiver};
use dbus::message::MatchRule;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The watcher; it runs until the bus stops.
#[derive(Debug)]
pub struct TrayHost {
    address: String,
    items: mpsc::Receiver<(String, String)>,
}

/// A registered tray icon.
pub struct TrayItem {
    conn: Connection,
    /// Its owner on the bus.
    pub service: String,
    /// Its object path.
    pub path: String,
}

impl std::fmt::Debug for TrayItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrayItem").field("service", &self.service).field("path", &self.path).finish()
    }
}

/// One entry of a tray icon's menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    /// Its id in the menu.
    pub id: i32,
    /// Its text (empty for a separator).
    pub label: String,
    /// Whether it can be clicked.
    pub enabled: bool,
}

fn connect(address: &str) -> Connection {
    let mut channel = Channel::open_private(address).expect("connect to the test bus");
    channel.register().expect("register on the test bus");
    Connection::from(channel)
}

impl TrayHost {
    /// Starts the watcher on the bus at `address`.
    pub fn start(address: &str) -> Self {
        let (items_tx, items) = mpsc::channel();
        let (ready_tx, ready) = mpsc::channel();
        let addr = address.to_string();
        std::thread::spawn(move || {
            let conn = connect(&addr);
            conn.request_name("org.kde.StatusNotifierWatcher", false, true, true).expect("own the watcher's name");
            conn.start_receive(
                MatchRule::new_method_call(),
                Box::new(move |msg, conn| {
                    let reply = match (msg.interface().as_deref(), msg.member().as_deref()) {
                        (_, Some("RegisterStatusNotifierItem")) => {
                            let arg: String = msg.read1().unwrap_or_default();
                            let sender = msg.sender().map(|s| s.to_string()).unwrap_or_default();
                            // The spec allows a bus name or an object path of the sender.
                            let item = if arg.starts_with('/') {
                                (sender, arg)
                            } else {
                                (arg, "/StatusNotifierItem".to_string())
                            };
                            let _ = items_tx.send(item);
                            msg.method_return()
                        }
                        (_, Some("RegisterStatusNotifierHost")) => msg.method_return(),
                        (Some("org.freedesktop.DBus.Properties"), Some("Get")) => {
                            let (_, name): (String, String) = msg.read2().unwrap_or_default();
                            match watcher_properties().remove(&name) {
                                Some(v) => msg.method_return().append1(v),
                                None => {
                                    msg.error(&"org.freedesktop.DBus.Error.UnknownProperty".into(), c"no such property")
                                }
                            }
                        }
                        (Some("org.freedesktop.DBus.Properties"), Some("GetAll")) => {
                            msg.method_return().append1(watcher_properties())
                        }
                        _ => msg.method_return(),
                    };
                    let _ = dbus::channel::Sender::send(conn, reply);
                    true
                }),
            );
            let _ = ready_tx.send(());
            while conn.process(Duration::from_millis(50)).is_ok() {}
        });
        ready.recv_timeout(TIMEOUT).expect("the tray host did not start");
        Self { address: address.to_string(), items }
    }

    /// The next tray icon that registers, waiting up to `timeout`.
    pub fn wait_item(&self, timeout: Duration) -> Option<TrayItem> {
        let (service, path) = self.items.recv_timeout(timeout).ok()?;
        Some(TrayItem { conn: connect(&self.address), service, path })
    }
}

fn watcher_properties() -> PropMap {
    let mut p = PropMap::new();
    p.insert("IsStatusNotifierHostRegistered".into(), Variant(Box::new(true)));
    p.insert("ProtocolVersion".into(), Variant(Box::new(0i32)));
    p.insert("RegisteredStatusNotifierItems".into(), Variant(Box::new(Vec::<String>::new())));
    p
}

impl TrayItem {
    fn item(&self) -> dbus::blocking::Proxy<'_, &Connection> {
        self.conn.with_proxy(self.service.as_str(), self.path.as_str(), TIMEOUT)
    }

    /// A text property of the item (`Title`, `Status`, `IconName`, `XAyatanaLabel`, ...).
    pub fn property(&self, name: &str) -> Option<String> {
        self.item().get::<String>("org.kde.StatusNotifierItem", name).ok()
    }

    fn menu_path(&self) -> String {
        let path: dbus::Path<'static> =
            self.item().get("org.kde.StatusNotifierItem", "Menu").expect("the tray icon has no menu");
        path.to_string()
    }

    /// The menu's entries, in order, submenus flattened.
    pub fn menu(&self) -> Vec<MenuEntry> {
        let path = self.menu_path();
        let proxy = self.conn.with_proxy(self.service.as_str(), path.as_str(), TIMEOUT);
        let (_revision, (_, _, children)): (u32, Layout) = proxy
            .method_call("com.canonical.dbusmenu", "GetLayout", (0i32, -1i32, Vec::<String>::new()))
            .expect("read the tray menu");
        let mut out = Vec::new();
        for child in &children {
            entries(&*child.0, &mut out);
        }
        out
    }

    /// Clicks the enabled entry whose text is `label`, as the user would. Panics (the test
    /// fails) if there is none.
    pub fn click(&self, label: &str) {
        let entry = self.menu().into_iter().find(|e| e.label == label && e.enabled);
        let entry = entry.unwrap_or_else(|| panic!("no enabled menu entry {label:?} in {:?}", self.menu()));
        let path = self.menu_path();
        let proxy = self.conn.with_proxy(self.service.as_str(), path.as_str(), TIMEOUT);
        let now = 0u32;
        let () = proxy
            .method_call("com.canonical.dbusmenu", "Event", (entry.id, "clicked", Variant(0i32), now))
            .expect("click the tray menu");
    }
}

/// A dbusmenu layout: the root's id, properties and children (each a variant of a layout).
type Layout = (i32, PropMap, Vec<Variant<Box<dyn RefArg>>>);

/// Reads one `(id, properties, children)` entry of a dbusmenu layout and its children.
fn entries(v: &dyn RefArg, out: &mut Vec<MenuEntry>) {
    let Some(mut it) = v.as_iter() else { return };
    let (Some(id), Some(props), Some(children)) = (it.next(), it.next(), it.next()) else { return };
    let mut entry = MenuEntry { id: id.as_i64().unwrap_or(-1) as i32, label: String::new(), enabled: true };
    if let Some(mut kv) = props.as_iter() {
        while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
            match k.as_str() {
                // GTK's mnemonics: "_Quit" is "Quit".
                Some("label") => entry.label = v.as_str().unwrap_or_default().replace('_', ""),
                Some("enabled") => entry.enabled = v.as_i64() != Some(0),
                _ => {}
            }
        }
    }
    out.push(entry);
    if let Some(children) = children.as_iter() {
        for c in children {
            if let Some(inner) = c.as_iter().and_then(|mut i| i.next()) {
                entries(inner, out);
            }
        }
    }
}

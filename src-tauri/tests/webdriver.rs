//! The real app in a real WebKit window, driven through WebDriver: Xvfb, `tauri-driver` and
//! WebKitGTK's `WebKitWebDriver`. Creates a local destination through the form, runs its Test
//! and sees every step pass, creates a job and runs it, opens the restore browser, finds a file
//! by search, restores it and compares it. A screenshot of each screen goes to
//! `target/screenshots/`. The app at login lives in the tray of a real tray host on a private
//! session bus, whose menu is clicked as a panel does. `CAIRN_DESKTOP_APP=/usr/bin/cairn-desktop` runs it on an installed
//! package instead of the build.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_e2e::servers::{find_tool, free_port};
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on a display it picks itself (`-displayfd`: two tests at once never share one);
/// returns it and the display name.
fn xvfb() -> (Killed, String) {
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start Xvfb");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let n = line.trim();
    assert!(!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()), "Xvfb named no display: {line:?}");
    (Killed(child), format!(":{n}"))
}

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    rt: tokio::runtime::Runtime,
    shots: PathBuf,
    /// Screenshots are named with this in front.
    prefix: String,
}

impl Driver {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let mut req = self.http.request(method, &url);
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b.to_string());
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let text = resp.text().await.unwrap();
            serde_json::from_str::<Value>(&text).unwrap_or_else(|_| panic!("{url}: not JSON: {text}"))
        })
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(reqwest::Method::POST, &path, Some(body))
    }

    fn get(&self, path: &str) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(reqwest::Method::GET, &path, None)
    }

    fn find(&self, css: &str) -> Option<String> {
        let v = self.post("/element", json!({ "using": "css selector", "value": css }));
        v["value"][ELEMENT].as_str().map(str::to_string)
    }

    /// Waits for `css` to match (up to 60 s: a Test or a backup may be running).
    fn wait(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if started.elapsed() > Duration::from_secs(60) {
                self.shot("timeout");
                let last = self.post("/element", json!({ "using": "css selector", "value": css }));
                panic!(
                    "{css} did not appear ({last}); page: {}",
                    self.script("return document.body.innerText", json!([]))
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn click(&self, css: &str) {
        let e = self.wait(css);
        let r = self.post(&format!("/element/{e}/click"), json!({}));
        assert!(r["value"].is_null(), "click {css}: {r}");
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.wait(css);
        self.post(&format!("/element/{e}/clear"), json!({}));
        let r = self.post(&format!("/element/{e}/value"), json!({ "text": text }));
        assert!(r["value"].is_null(), "type into {css}: {r}");
    }

    fn text(&self, css: &str) -> String {
        let e = self.wait(css);
        self.get(&format!("/element/{e}/text"))["value"].as_str().unwrap_or_default().to_string()
    }

    fn script(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))["value"].clone()
    }

    /// Waits until `script` returns true.
    fn until(&self, what: &str, script: &str) {
        let started = Instant::now();
        while self.script(script, json!([])) != json!(true) {
            if started.elapsed() > Duration::from_secs(60) {
                self.shot("timeout");
                panic!("{what} did not happen; page: {}", self.script("return document.body.innerText", json!([])));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a screenshot, after two animation frames so that it shows the last repaint.
    fn shot(&self, name: &str) -> PathBuf {
        self.post(
            "/execute/async",
            json!({ "script": "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));", "args": [] }),
        );
        let png = self.get("/screenshot")["value"].as_str().unwrap_or_default().to_string();
        let path = self.shots.join(format!("{}{name}.png", self.prefix));
        std::fs::write(&path, base64_decode(&png)).unwrap();
        path
    }
}

/// Fills the open job form: its name, one source folder and the `usb` destination.
fn fill_job_form(d: &Driver, name: &str, source: &std::path::Path) {
    d.type_into("#j-name", name);
    d.type_into("#j-source", source.to_str().unwrap());
    d.click("#job-sources + div button");
    d.click("#j-dest-usb");
}

fn base64_decode(s: &str) -> Vec<u8> {
    let table = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(table) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn wait_port(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "tauri-driver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The app running under Xvfb and tauri-driver with a user's HOME and data folder under `dir`;
/// everything it started stops when this is dropped.
struct App {
    d: Driver,
    _driver: Killed,
    _x: Killed,
    scheduler: StopScheduler,
}

impl App {
    /// Starts it on the session bus at `bus` (none: no desktop bus, so no tray and a desktop
    /// notification fails, visibly); screenshots are named with `prefix`.
    fn open(dir: &Path, home: &Path, prefix: &str, bus: Option<&str>) -> Self {
        let t_path = dir;
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let runtime_dir = t_path.join("run");
        std::fs::create_dir_all(&runtime_dir).unwrap();
        // The scheduler the app starts outlives the window: stopped when the test ends, however.
        let _scheduler = StopScheduler(t_path.join("data"));
        assert!(
            Path::new(env!("CARGO_BIN_EXE_cairn-desktop")).with_file_name("cairn").is_file(),
            "the cairn command is not built beside the app (cargo build -p cairn-cli): the app starts it as the scheduler"
        );

        let (_x, display) = xvfb();
        let port = free_port();
        let native = free_port();
        let no_bus = format!("unix:path={}", t_path.join("no-bus").display());
        // No systemd user manager here (the app starts the scheduler itself, as at a login
        // without systemd).
        let env = [
            ("DISPLAY", PathBuf::from(&display)),
            ("HOME", home.to_path_buf()),
            ("PATH", PathBuf::from(std::env::var_os("PATH").unwrap_or_default())),
            ("XDG_DATA_HOME", t_path.join("data")),
            ("XDG_RUNTIME_DIR", runtime_dir.clone()),
            ("DBUS_SESSION_BUS_ADDRESS", PathBuf::from(bus.unwrap_or(&no_bus))),
        ];
        let _driver = Killed(
            Command::new(find_tool("tauri-driver").unwrap())
                .args(["--port", &port.to_string(), "--native-port", &native.to_string()])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("TAURI_WEBVIEW_AUTOMATION", "true")
                .env_remove("CAIRN_CATALOG")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start tauri-driver"),
        );
        wait_port(port);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Plain HTTP to the driver; reqwest still wants a TLS provider chosen.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let mut d = Driver {
            http,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            rt,
            shots,
            prefix: String::new(),
        };
        // CAIRN_DESKTOP_APP runs the same test on another build, an installed .deb's for example.
        let app =
            std::env::var("CAIRN_DESKTOP_APP").unwrap_or_else(|_| env!("CARGO_BIN_EXE_cairn-desktop").to_string());
        // tauri-driver listens before the WebKitWebDriver behind it does: on a loaded machine the
        // first session request can be dropped (seen in CI), so it is sent again for up to 30 s.
        let capabilities = json!({ "capabilities": { "alwaysMatch": { "browserName": "wry", "tauri:options": { "application": app } } } });
        let started = Instant::now();
        let created = loop {
            let url = format!("{}/session", d.base);
            let sent = d.rt.block_on(async {
                let r = d
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(capabilities.to_string())
                    .send()
                    .await?;
                r.text().await
            });
            match sent {
                Ok(text) => {
                    break serde_json::from_str::<Value>(&text).unwrap_or_else(|_| panic!("{url}: not JSON: {text}"));
                }
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    eprintln!("{url}: {e}; asking again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("{url}: {e}"),
            }
        };
        d.session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string();

        d.prefix = prefix.to_string();
        App { d, _driver, _x, scheduler: _scheduler }
    }
}

#[test]
fn the_app_adds_a_destination_backs_up_and_restores_a_file_found_by_search() {
    let tools = ["Xvfb", "tauri-driver", "WebKitWebDriver", "rclone"];
    let ok = tools.iter().all(|t| find_tool(t).is_some());
    if !cairn_e2e::prerequisite(ok, "Xvfb, tauri-driver, WebKitWebDriver and rclone (see test.sh)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = home.join("Documents");
    std::fs::create_dir_all(src.join("letters/2026")).unwrap();
    cairn_e2e::make_tree(&src.join("photos"), 2_000_000);
    std::fs::write(src.join("letters/2026/tuesday-needle.txt"), b"the letter from last Tuesday\n").unwrap();
    let repo = t.path().join("usb/cairn");
    let out = home.join("Restored");
    // The user's rclone configuration, where rclone keeps it: the rclone form lists its remotes.
    std::fs::create_dir_all(home.join(".config/rclone")).unwrap();
    std::fs::write(
        home.join(".config/rclone/rclone.conf"),
        "[work-drive]\ntype = local\n\n[family-photos]\ntype = local\n",
    )
    .unwrap();
    let app = App::open(t.path(), &home, "", None);
    let d = &app.d;

    // The first start: the overview, empty, and the question, asked once, whether backups may
    // run in the background.
    d.wait("#overview-empty");
    d.wait("#background-yes");
    d.shot("00-first-start-question");
    d.click("#background-yes");
    d.until(
        "the scheduler running",
        "return (document.querySelector('#scheduler-state')?.textContent ?? '').startsWith('Scheduler running')",
    );
    // Its toast leaves by itself.
    d.wait(".toast.ok");
    let toasted = Instant::now();
    d.until("the toast gone", "return !document.querySelector('.toast.ok')");
    assert!(toasted.elapsed() < Duration::from_secs(10), "the toast stayed {:?}", toasted.elapsed());
    d.shot("00b-overview-empty-scheduler-running");

    // The Destinations screen, empty, says what to do.
    d.click("#nav-destinations");
    d.wait("#destinations-empty");
    d.shot("01-destinations-empty");

    // The form: inline validation, then a Test with every step, then Save.
    d.click("#add-destination");
    d.type_into("#f-name", "usb");
    d.type_into("#f-backupDir", "relative/path");
    d.until(
        "the backup directory error",
        "return document.querySelector('#f-backupDir-error').textContent.includes('absolute')",
    );
    assert_eq!(d.script("return document.querySelector('#save-destination').disabled", json!([])), json!(true));
    d.shot("02-destination-form-error");
    // The S3 form: a custom provider's endpoint template shows the URL it resolves to.
    d.click("[data-kind=s3]");
    d.script(
        "const s = document.querySelector('#f-vendor'); s.value = 'custom'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    d.type_into("#f-endpoint", "https://{bucket}.s3.{region}.example.net");
    d.type_into("#f-region", "nl-ams");
    d.type_into("#f-bucket", "my-backups");
    d.until(
        "the resolved endpoint",
        "return document.querySelector('#resolved-endpoint').textContent === 'https://my-backups.s3.nl-ams.example.net'",
    );
    d.shot("02b-destination-form-s3-custom");
    // The Azure form: its help, the SAS choice relabels the secret, a bad container is named.
    d.click("[data-kind=azure]");
    d.wait("#azure-help");
    d.script(
        "const s = document.querySelector('#f-azureAuth'); s.value = 'sas'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    d.until("the SAS label", "return document.querySelector('label[for=f-secretKey]').textContent === 'SAS token'");
    d.type_into("#f-account", "mybackups");
    d.type_into("#f-container", "Bad_Container");
    d.until(
        "the container error",
        "return document.querySelector('#f-container-error').textContent.includes('container')",
    );
    d.shot("02c-destination-form-azure");
    // The FTP form: its help, the TLS choice (TLS when offered by default), a bad host named.
    d.click("[data-kind=ftp]");
    d.wait("#ftp-help");
    d.until("TLS when offered", "return document.querySelector('#f-scheme').value === 'ftp'");
    d.type_into("#f-host", "bad host");
    d.until("the host error", "return document.querySelector('#f-host-error').textContent.includes('host')");
    d.shot("02d-destination-form-ftp");
    // The rclone form: the remotes of the user's rclone configuration, to choose from.
    d.click("[data-kind=rclone]");
    d.wait("#rclone-help");
    d.until(
        "the rclone remotes listed",
        "const s = document.querySelector('#f-remote'); return s && s.tagName === 'SELECT' && \
         Array.from(s.options).map(o => o.value).join(',') === 'family-photos,work-drive'",
    );
    d.shot("02e-destination-form-rclone");
    d.click("[data-kind=local]");
    d.type_into("#f-backupDir", repo.to_str().unwrap());
    d.until("Save enabled", "return !document.querySelector('#save-destination').disabled");
    d.click("#test-destination");
    d.wait("[data-testid=test-passed]");
    let steps = d.text("[data-testid=test-steps]");
    for step in ["connect, authenticate and list", "write a probe", "read it back", "delete it", "find the repository"]
    {
        assert!(steps.contains(step), "step {step} missing: {steps}");
    }
    d.shot("03-destination-test");
    d.click("#save-destination");
    d.wait("article[data-destination=usb] .badge.ok");
    d.shot("04-destinations");
    assert!(repo.join("config").exists(), "Save initialised the repository");

    // A job, run now with its progress, then its result.
    d.click("#nav-jobs");
    d.wait("#jobs-empty");
    d.shot("05-jobs-empty");
    d.click("#jobs-empty button");
    fill_job_form(d, "documents", &src);
    d.shot("06-job-form");
    d.click("#save-job");
    d.wait("article[data-job=documents]");
    d.click("article[data-job=documents] [data-action=run]");
    d.wait("[data-testid=job-result][data-status=succeeded]");
    d.shot("07-job-ran");

    // The restore browser: search, select, restore into a folder, compare.
    d.click("#nav-restore");
    d.wait("#snapshot-list .vrow");
    d.wait("#entry-list .vrow");
    // It opens at the folder that was backed up, not at /.
    let inside = format!(
        "return [...document.querySelectorAll('#entry-list .vrow')].every(r => r.dataset.path.startsWith({:?}))",
        format!("{}/", src.display())
    );
    d.until("the browser at the backed-up folder", &inside);
    d.shot("08-restore-browser");
    d.type_into("#restore-search", "NEEDLE");
    d.click("#restore-search-go");
    let hit = "#entry-list .vrow[data-path$='tuesday-needle.txt']";
    d.wait(hit);
    // The name of a hit shows whole.
    let whole = format!("const n = document.querySelector(\"{hit} .name\"); return n.scrollWidth <= n.clientWidth");
    assert_eq!(d.script(&whole, json!([])), json!(true), "the hit's name is cut");
    d.click(&format!("{hit} input[type=checkbox]"));
    d.until(
        "one item selected",
        "return document.querySelector('#selection-count').textContent.startsWith('1 selected')",
    );
    d.shot("09-restore-search");
    d.click("#restore-selected");
    d.click("#target-folder");
    d.type_into("#target-path", out.to_str().unwrap());
    d.shot("10-restore-dialog");
    d.click("#restore-go");
    d.wait("#restore-summary");
    d.shot("11-restore-summary");
    let restored = std::fs::read(out.join("tuesday-needle.txt")).expect("the restored file");
    assert_eq!(restored, std::fs::read(src.join("letters/2026/tuesday-needle.txt")).unwrap());
    d.click("#summary-close");

    // File history: the letter is rewritten and backed up again (with the cairn command on the
    // same catalog); its history shows both versions, and the older one is restored.
    let first_letter = std::fs::read(src.join("letters/2026/tuesday-needle.txt")).unwrap();
    std::fs::write(src.join("letters/2026/tuesday-needle.txt"), b"the letter, rewritten on Wednesday\n").unwrap();
    // (The form's retention keeps one backup a day: the job keeps the last ten too.)
    for args in [&["job", "update", "documents", "--keep-last", "10"][..], &["job", "run", "documents"]] {
        let ran = Command::new(Path::new(env!("CARGO_BIN_EXE_cairn-desktop")).with_file_name("cairn"))
            .args(args)
            .env("HOME", &home)
            .env("XDG_DATA_HOME", t.path().join("data"))
            .env_remove("CAIRN_CATALOG")
            .output()
            .unwrap();
        assert!(ran.status.success(), "cairn {args:?}: {}", String::from_utf8_lossy(&ran.stderr));
    }
    d.click("#nav-overview");
    d.click("#nav-restore");
    d.wait("#entry-list .vrow");
    d.type_into("#restore-search", "needle");
    d.click("#restore-search-go");
    d.click(&format!("{hit} [data-action=versions]"));
    d.until("two versions", "return document.querySelectorAll('#file-versions tr').length === 2");
    d.shot("09b-file-history");
    d.click("#file-versions tr:nth-child(2) [data-action=restore-version]");
    d.click("#target-folder");
    let older = home.join("Older");
    d.type_into("#target-path", older.to_str().unwrap());
    d.click("#restore-go");
    d.wait("#restore-summary");
    assert_eq!(std::fs::read(older.join("tuesday-needle.txt")).expect("the older version"), first_letter);
    d.click("#summary-close");

    // A compressed job: its .tar.gz shows under the snapshots and is extracted into a new folder.
    d.click("#nav-jobs");
    d.wait("#add-job");
    d.click("#add-job");
    fill_job_form(d, "letters-tgz", &src);
    d.script(
        "const s = document.querySelector('#j-structure'); s.value = 'compressed'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    d.click("#save-job");
    d.wait("article[data-job=letters-tgz]");
    d.click("article[data-job=letters-tgz] [data-action=run]");
    d.wait("article[data-job=letters-tgz] [data-testid=job-result][data-status=succeeded]");
    d.click("#nav-restore");
    d.wait("#archive-list .archive-row");
    d.shot("11b-restore-archives");
    d.click("#archive-list .archive-row button");
    let unpacked = out.join("from-archive");
    d.script(
        "const i = document.querySelector('#archive-target'); i.value = arguments[0];",
        json!([unpacked.to_str().unwrap()]),
    );
    d.click("#archive-go");
    d.wait("#restore-summary");
    let inside = unpacked.join(src.strip_prefix("/").unwrap()).join("letters/2026/tuesday-needle.txt");
    assert_eq!(
        std::fs::read(&inside).expect("the extracted file"),
        std::fs::read(src.join("letters/2026/tuesday-needle.txt")).unwrap()
    );
    d.click("#summary-close");

    // A job that fails, due every minute: the scheduler runs it with no click, and the
    // overview puts its failure first, beside the job that succeeded.
    d.click("#nav-jobs");
    d.click("#add-job");
    fill_job_form(d, "broken", &src);
    d.type_into("#j-schedule", "cron * * * * *");
    d.type_into("#j-pre", "exit 3");
    d.click("#save-job");
    d.wait("article[data-job=broken]");
    d.click("#nav-overview");
    let started = Instant::now();
    while d.script(
        "return [...document.querySelectorAll('.warning.bad')].some(w => w.textContent.includes('broken'))",
        json!([]),
    ) != json!(true)
    {
        assert!(started.elapsed() < Duration::from_secs(150), "the scheduler did not run the failing job");
        std::thread::sleep(Duration::from_secs(2));
        d.click("#nav-overview");
    }
    let first = d.text("#warnings li:first-child");
    // Laid out as a line, not its icon filling the screen (seen once).
    let line = "const r = document.querySelector('#warnings li').getBoundingClientRect(); return r.height < 80";
    assert_eq!(d.script(line, json!([])), json!(true), "the warning is not laid out as a line");
    assert!(first.contains("broken") && first.contains("failed"), "the failure is not first: {first}");
    assert_eq!(
        d.script(
            "return document.querySelector('#overview-jobs tr[data-job=documents] .badge').textContent",
            json!([])
        ),
        json!("OK")
    );
    // Sizes: the job that backed up tells its size; the one that never did tells nothing.
    let size = |job: &str| {
        d.script(
            "return document.querySelector(`#overview-jobs tr[data-job=${arguments[0]}] td:nth-child(4)`).textContent",
            json!([job]),
        )
    };
    assert!(size("documents").as_str().is_some_and(|s| s.ends_with(" backed up")), "{}", size("documents"));
    assert_eq!(size("broken"), json!(""));
    d.shot("13-overview-failed-and-succeeded");

    // Settings: the scheduler's real state; an error toast stays until dismissed.
    d.click("#nav-settings");
    d.wait("#export-kit");
    d.wait("#settings-scheduler-state");
    d.click("#test-notifications");
    d.wait(".toast.bad");
    std::thread::sleep(Duration::from_secs(6));
    assert!(d.find(".toast.bad").is_some(), "the error toast left by itself");
    d.shot("12-settings");
    d.click(".toast.bad .toast-close");
    d.until("the error toast dismissed", "return !document.querySelector('.toast.bad')");

    // Restart: the scheduler that ran ends, a new one runs, and the screen says so.
    let before = app.scheduler.pids();
    assert_eq!(before.len(), 1, "{before:?}");
    d.click("#scheduler-restart");
    eventually("the scheduler's restart", || {
        let now = app.scheduler.pids();
        now.len() == 1 && now != before && !Path::new("/proc").join(&before[0]).exists()
    });
    d.until(
        "the restarted scheduler shown running",
        "return document.querySelector('#settings-scheduler-state')?.textContent === 'Running'",
    );
    d.call(reqwest::Method::DELETE, &format!("/session/{}", d.session), None);
}

/// Stops the scheduler the app started on the catalog under this data folder (its process id
/// is in the daemon's lock file).
struct StopScheduler(PathBuf);

impl StopScheduler {
    /// The process ids in the schedulers' lock files.
    fn pids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.0.join("cairn")) else { return Vec::new() };
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".daemon-lock"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|pid| pid.trim().to_string())
            .filter(|pid| !pid.is_empty())
            .collect()
    }
}

impl Drop for StopScheduler {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = Command::new("kill").arg(pid).status();
        }
    }
}

#[test]
fn the_first_run_goes_from_an_empty_catalog_to_a_first_backup_and_a_kit_kept_offline() {
    let tools = ["Xvfb", "tauri-driver", "WebKitWebDriver"];
    let ok = tools.iter().all(|t| find_tool(t).is_some());
    if !cairn_e2e::prerequisite(ok, "Xvfb, tauri-driver and WebKitWebDriver (see test.sh)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    cairn_e2e::make_tree(&home.join("Documents"), 300_000);
    std::fs::create_dir_all(home.join("Pictures")).unwrap();
    std::fs::write(home.join("Pictures/cat.jpg"), vec![7u8; 20_000]).unwrap();
    std::fs::create_dir_all(home.join("Projects/cairn")).unwrap();
    std::fs::create_dir_all(home.join(".cache/big")).unwrap();
    let backups = t.path().join("backup-disk/cairn");
    // A desktop's session bus with a panel that hosts tray icons.
    let bus = cairn_e2e::notifications::SessionBus::start();
    let host = cairn_e2e::tray_host::TrayHost::start(&bus.address);
    let app = App::open(t.path(), &home, "first-run-", Some(&bus.address));
    let d = &app.d;

    d.click("#background-yes");
    d.click("#start-first-run");
    // What: the home's folders with their sizes, the usual ones checked, hidden ones left out.
    d.wait("#first-run-folders input");
    let checked =
        |name: &str| d.script(&format!("return document.querySelector('#first-run-folder-{name}').checked"), json!([]));
    assert_eq!(checked("Documents"), json!(true));
    assert_eq!(checked("Pictures"), json!(true));
    assert_eq!(checked("Projects"), json!(false));
    assert!(d.find("#first-run-folder-_cache").is_none(), "a hidden folder is offered");
    assert!(d.text("#first-run-folders").contains("19.5 KiB"), "{}", d.text("#first-run-folders"));
    d.shot("01-what");
    d.click("#first-run-next");
    // Where: no USB disk is plugged in here, so a folder.
    d.wait("#first-run-path");
    d.type_into("#first-run-path", backups.to_str().unwrap());
    d.shot("02-where");
    d.click("#first-run-next");
    // When: nightly unless changed.
    d.wait("#first-run-start");
    assert_eq!(d.script("return document.querySelector('#first-run-when-nightly').checked", json!([])), json!(true));
    d.shot("03-when");
    d.click("#first-run-start");
    d.wait("#first-run-done");
    d.shot("04-first-backup");
    assert!(backups.join("config").is_file(), "the destination was not initialised");
    // The recovery kit: saved, and Finish only once it is confirmed as kept offline.
    d.click("#first-run-next");
    d.click("#first-run-kit-save");
    d.until("the kit saved", "return !document.querySelector('#first-run-kit-offline').disabled");
    assert_eq!(d.script("return document.querySelector('#first-run-finish').disabled", json!([])), json!(true));
    let kit = home.join("cairn-recovery-kit.txt");
    assert!(std::fs::read_to_string(&kit).unwrap().starts_with("# Cairn recovery kit"));
    d.click("#first-run-kit-offline");
    d.shot("05-recovery-kit");
    d.click("#first-run-finish");
    // The overview: the job, nightly, its first backup fine, nothing that needs attention.
    d.wait("#overview-jobs tr[data-job=my-files]");
    assert_eq!(
        d.script("return document.querySelector('#overview-jobs tr[data-job=my-files] .badge').textContent", json!([])),
        json!("OK")
    );
    assert!(d.find(".warning.bad").is_none(), "{}", d.text("#main"));
    assert!(d.text("#overview-jobs").contains("Next:"), "{}", d.text("#overview-jobs"));
    assert!(d.text("#overview-jobs").contains("backed up"), "{}", d.text("#overview-jobs"));
    d.shot("06-overview");

    // The app put its icon in the tray of the desktop's panel.
    assert!(host.wait_item(Duration::from_secs(30)).is_some(), "the app put no icon in the tray");
    d.call(reqwest::Method::DELETE, &format!("/session/{}", d.session), None);
}

/// Runs the built `cairn` with `env`; panics with its output on failure.
fn cairn_cli(env: &[(&str, PathBuf)], args: &[&str]) -> String {
    let program = Path::new(env!("CARGO_BIN_EXE_cairn-desktop")).with_file_name("cairn");
    let out = Command::new(program).args(args).env_clear().envs(env.iter().map(|(k, v)| (k, v))).output().unwrap();
    assert!(out.status.success(), "cairn {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The top-level windows of the X display titled `title`.
fn windows_titled(display: &str, title: &str) -> usize {
    cairn_e2e::x_window::titled(display, title).len()
}

/// Waits up to 60 s for `ok`, naming `what` if it never comes.
fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < Duration::from_secs(60), "{what} did not happen");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn at_login_the_app_lives_in_the_tray_and_its_menu_pauses_backs_up_opens_the_window_and_quits() {
    use cairn_e2e::notifications::SessionBus;
    use cairn_e2e::tray_host::TrayHost;

    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let docs = home.join("Documents");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("letter.txt"), b"Dear tray").unwrap();
    let runtime_dir = t.path().join("run");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    let (_x, display) = xvfb();
    // A desktop's session bus with a panel that hosts tray icons.
    let bus = SessionBus::start();
    let host = TrayHost::start(&bus.address);
    let env = [
        ("HOME", home.clone()),
        ("PATH", PathBuf::from(std::env::var_os("PATH").unwrap_or_default())),
        ("XDG_DATA_HOME", t.path().join("data")),
        ("XDG_RUNTIME_DIR", runtime_dir.clone()),
        ("DISPLAY", PathBuf::from(&display)),
        ("DBUS_SESSION_BUS_ADDRESS", PathBuf::from(&bus.address)),
    ];
    let usb = t.path().join("usb");
    cairn_cli(
        &env,
        &["destination", "create", "--name", "usb", "--type", "local", "--backup-dir", usb.to_str().unwrap()],
    );
    cairn_cli(&env, &["job", "create", "--name", "docs", "--destination", "usb", "--source", docs.to_str().unwrap()]);
    let _scheduler = StopScheduler(t.path().join("data"));

    // At login: the app starts in the tray, with no window.
    let desktop = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn-desktop"));
        c.env_clear().envs(env.iter().map(|(k, v)| (k, v))).stdout(Stdio::null()).stderr(Stdio::null());
        c
    };
    let mut app = Killed(desktop().arg("--background").spawn().unwrap());
    let item = host.wait_item(Duration::from_secs(60)).expect("the app put no icon in the tray");
    let labels = |item: &cairn_e2e::tray_host::TrayItem| item.menu().into_iter().map(|e| e.label).collect::<Vec<_>>();
    eventually("the tray's status line", || labels(&item).first().is_some_and(|s| s == "Backups are fine"));
    let menu = labels(&item);
    for entry in [
        "Back up now",
        "Pause backups for 1 hour",
        "Pause backups until tomorrow",
        "Resume backups",
        "Open Cairn",
        "Quit",
    ] {
        assert!(menu.iter().any(|l| l == entry), "{entry:?} missing from the tray menu {menu:?}");
    }
    // The menu as the panel shows it, for review beside the screenshots.
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shown: Vec<String> =
        item.menu().iter().map(|e| format!("{}{}", e.label, if e.enabled { "" } else { " (greyed)" })).collect();
    std::fs::write(shots.join("tray-menu.txt"), shown.join("\n") + "\n").unwrap();
    assert_eq!(windows_titled(&display, "Cairn"), 0, "a window opened at login");
    assert!(app.0.try_wait().unwrap().is_none(), "the app ended at login instead of staying in the tray");

    // Pause and Resume from the tray: the catalog is paused, and the menu says so.
    item.click("Pause backups for 1 hour");
    eventually("the pause", || labels(&item)[0].starts_with("Backups paused until "));
    assert!(item.menu().iter().any(|e| e.label == "Resume backups" && e.enabled));
    assert!(item.menu().iter().any(|e| e.label == "Pause backups for 1 hour" && !e.enabled));
    item.click("Resume backups");
    eventually("the end of the pause", || labels(&item)[0] == "Backups are fine");

    // Back up now runs the job in the app; its run is in the history.
    item.click("Back up now");
    eventually("the run of Back up now", || {
        let history: Value = serde_json::from_str(&cairn_cli(&env, &["--json", "job", "history"])).unwrap();
        history.as_array().is_some_and(|runs| runs.iter().any(|r| r["job"] == "docs" && r["status"] == "succeeded"))
    });

    // A later start (the menu entry, a notification's click) opens the one app's window and ends.
    let mut second = Killed(desktop().args(["--screen", "job:docs"]).spawn().unwrap());
    eventually("the end of the second start", || second.0.try_wait().unwrap().is_some());
    assert!(second.0.try_wait().unwrap().unwrap().success());
    eventually("the window", || windows_titled(&display, "Cairn") > 0);
    item.click("Open Cairn");
    assert_eq!(windows_titled(&display, "Cairn"), 1, "a second window");

    // Closing the window (as a window manager's close button does) keeps the app, its tray
    // icon and its scheduler; Open Cairn brings the window back.
    assert_eq!(cairn_e2e::x_window::close(&display, "Cairn"), 1);
    eventually("the window's close", || windows_titled(&display, "Cairn") == 0);
    std::thread::sleep(Duration::from_secs(1));
    assert!(app.0.try_wait().unwrap().is_none(), "closing the window ended the app");
    eventually("the tray's status line after the close", || {
        labels(&item).first().is_some_and(|s| s == "Backups are fine")
    });
    item.click("Open Cairn");
    eventually("the window, opened again", || windows_titled(&display, "Cairn") == 1);

    // Quit ends the app; the tray icon goes.
    item.click("Quit");
    eventually("the end of the app", || app.0.try_wait().unwrap().is_some());
    assert!(app.0.try_wait().unwrap().unwrap().success());
}

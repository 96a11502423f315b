//! Azurite, the Azure Blob Storage emulator.

use super::*;

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

//! OpenSSH `sshd`, the SFTP server.

use super::*;

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

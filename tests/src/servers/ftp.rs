//! pure-ftpd, the FTP server (plain or with TLS).

use super::*;

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

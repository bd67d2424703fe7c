//! MariaDB servers of the tests' own (Debian's `mariadb-server`):
//! `mariadb-install-db` into a temp dir, `mariadbd` on a free port and a
//! socket there, with an `app` user and database; stopped on drop. As root,
//! MariaDB runs as the `mysql` user the package creates.

use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{check, eventually, free_port, tmp_root, Certs};

pub const MYSQL_APP_PASSWORD: &str = "my-App-Pw-5c2e81";

/// uid/gid of `mysql`, when we are root (mariadbd will not run as root).
fn mysql_identity() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("mysql:"))
        .expect("a mysql user exists (the mariadb-server package creates it)");
    let f: Vec<&str> = line.split(':').collect();
    Some((f[2].parse().unwrap(), f[3].parse().unwrap()))
}

fn give_to_mysql(path: &Path) {
    if let Some((uid, gid)) = mysql_identity() {
        chown(path, Some(uid), Some(gid)).expect("chown to mysql");
    }
}

/// A data directory made once per test run with `mariadb-install-db`
/// (several at once can fail); each server starts from a copy.
fn template() -> &'static Path {
    static TEMPLATE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        for entry in std::fs::read_dir(tmp_root()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("mariadb-template-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = tmp_root().join(format!("mariadb-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        give_to_mysql(&dir);
        let data = dir.join("data");
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db");
        if mysql_identity().is_some() {
            install.arg("--user=mysql");
        }
        check(&mut install, "mariadb-install-db");
        data
    })
}

/// A MariaDB server of this test's own.
pub struct MySql {
    pub port: u16,
    dir: tempfile::TempDir,
    server: Child,
}

impl MySql {
    pub fn start() -> MySql {
        MySql::start_configured(100, None)
    }

    pub fn start_with(max_connections: u32) -> MySql {
        MySql::start_configured(max_connections, None)
    }

    /// A server that also speaks TLS with the server certificate in `certs`.
    pub fn start_tls(certs: &Certs) -> MySql {
        MySql::start_configured(100, Some(certs))
    }

    fn start_configured(max_connections: u32, certs: Option<&Certs>) -> MySql {
        let dir = tempfile::Builder::new()
            .prefix("mariadb-")
            .tempdir_in(tmp_root())
            .unwrap();
        give_to_mysql(dir.path());
        let data = dir.path().join("data");
        let user = if mysql_identity().is_some() {
            "mysql"
        } else {
            ""
        };
        check(
            Command::new("cp").arg("-a").arg(template()).arg(&data),
            "copy the MariaDB template",
        );
        let port = free_port();
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .arg(format!("--max-connections={max_connections}"))
            .args([
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=8M",
                "--skip-name-resolve",
                "--performance-schema=OFF",
            ]);
        if !user.is_empty() {
            cmd.arg(format!("--user={user}"));
        }
        if let Some(certs) = certs {
            for name in ["server.pem", "server.key", "ca.pem"] {
                let to = dir.path().join(name);
                std::fs::copy(certs.path(name), &to).unwrap();
                give_to_mysql(&to);
            }
            cmd.arg(format!(
                "--ssl-cert={}",
                dir.path().join("server.pem").display()
            ))
            .arg(format!(
                "--ssl-key={}",
                dir.path().join("server.key").display()
            ))
            .arg(format!("--ssl-ca={}", dir.path().join("ca.pem").display()));
        }
        let server = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let db = MySql { port, dir, server };
        eventually(
            Duration::from_secs(30),
            "mariadbd to accept connections",
            || db.try_admin("SELECT 1").is_some(),
        );
        db.admin(&format!(
            "CREATE DATABASE app; CREATE USER 'app'@'%' IDENTIFIED BY '{MYSQL_APP_PASSWORD}'; GRANT ALL ON app.* TO 'app'@'%'; CREATE USER 'holder'@'localhost';"
        ));
        db
    }

    pub fn url(&self) -> String {
        format!(
            "mysql://app:{MYSQL_APP_PASSWORD}@127.0.0.1:{}/app",
            self.port
        )
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// Runs SQL as root over the socket; returns the output (tab-separated,
    /// no headers).
    pub fn admin(&self, sql: &str) -> String {
        match self.try_admin(sql) {
            Some(out) => out,
            None => panic!("mariadb {sql:?} failed; server log: {}", self.log()),
        }
    }

    fn try_admin(&self, sql: &str) -> Option<String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-uroot", "-N", "-B", "-e", sql])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("err.log")).unwrap_or_default()
    }

    /// Connections the `app` user holds.
    pub fn app_connections(&self) -> usize {
        self.admin("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'")
            .parse()
            .unwrap()
    }

    /// Holds `n` connections as `holder`, a user without SUPER (so root
    /// still has its reserved slot), until released. Clients refused while
    /// root's own queries held a slot are replaced until `n` are in.
    pub fn hold_connections(&self, n: usize) -> Vec<Child> {
        let holders = || -> usize {
            self.admin("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'holder'")
                .parse()
                .unwrap()
        };
        let mut held = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let have = holders();
            if have >= n {
                return held;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {have} of {n} connections held"
            );
            for _ in have..n {
                held.push(
                    Command::new("mariadb")
                        .arg("--no-defaults")
                        .arg(format!("--socket={}", self.socket().display()))
                        .args(["-uholder", "-e", "SELECT SLEEP(600)"])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Ends connections `hold_connections` made: the clients, and their
    /// sessions on the server (a SLEEP outlives its killed client).
    pub fn release(&self, mut held: Vec<Child>) {
        for c in &mut held {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.admin("KILL USER holder");
        eventually(Duration::from_secs(10), "held connections to end", || {
            self.admin("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'holder'")
                == "0"
        });
    }

    /// Stops the server (SIGKILL: a crash) and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Drop for MySql {
    fn drop(&mut self) {
        self.kill();
    }
}

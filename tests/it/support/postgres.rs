//! PostgreSQL clusters of the tests' own: `initdb` once per run into a
//! template, then a copy per test started with `pg_ctl` on a free port, with
//! an `app` role and database, and helpers to act as the app, the admin, a
//! crash or a failover. As root, PostgreSQL runs as the `postgres` user.

use std::io::Write;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::{check, eventually, free_port, readygate, spawn, tmp_root, Certs};

pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app-Pw-7d1f9c";
pub const ADMIN_PASSWORD: &str = "admin-Pw-3e8a2b";

/// uid/gid to run PostgreSQL as: `postgres` when we are root (it refuses to
/// run as root), else ourselves.
fn pg_identity() -> Option<(u32, u32)> {
    if !is_root() {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("a postgres user exists to run PostgreSQL as");
    let f: Vec<&str> = line.split(':').collect();
    Some((f[2].parse().unwrap(), f[3].parse().unwrap()))
}

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

fn as_pg(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = pg_identity() {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn give_to_pg(path: &Path) {
    if let Some((uid, gid)) = pg_identity() {
        chown(path, Some(uid), Some(gid)).expect("chown to postgres");
    }
}

/// A data directory made once per test run: `initdb`, then an `app` role
/// and database. Each cluster starts from a copy.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // Templates of earlier runs whose process is gone are stale.
        for entry in std::fs::read_dir(tmp_root()).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("pg-template-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let dir = tmp_root().join(format!("pg-template-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        give_to_pg(&dir);
        let data = dir.join("data");
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, ADMIN_PASSWORD).unwrap();
        give_to_pg(&pwfile);
        check(
            as_pg(
                Command::new("initdb")
                    .arg("-D")
                    .arg(&data)
                    .args([
                        "-U",
                        "postgres",
                        "--no-sync",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ])
                    .arg(format!("--pwfile={}", pwfile.display())),
            ),
            "initdb",
        );
        let mut pg = Postgres::start_in(dir.clone(), 100);
        pg.psql(
            "postgres",
            "postgres",
            &format!("CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'"),
        );
        pg.psql(
            "postgres",
            "postgres",
            &format!("CREATE DATABASE app OWNER {APP_USER}"),
        );
        pg.stop_quietly();
        pg.keep = true;
        dir
    })
}

/// A PostgreSQL cluster of this test's own.
pub struct Postgres {
    dir: PathBuf,
    pub port: u16,
    max_connections: u32,
    keep: bool,
    _tmp: Option<tempfile::TempDir>,
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(100)
    }

    pub fn start_with(max_connections: u32) -> Postgres {
        Postgres::start_configured(max_connections, None)
    }

    /// A cluster that also speaks TLS with the server certificate in `certs`.
    pub fn start_tls(certs: &Certs) -> Postgres {
        Postgres::start_configured(100, Some(certs))
    }

    fn start_configured(max_connections: u32, certs: Option<&Certs>) -> Postgres {
        let template = template();
        let tmp = tempfile::Builder::new()
            .prefix("pg-")
            .tempdir_in(tmp_root())
            .unwrap();
        give_to_pg(tmp.path());
        check(
            as_pg(
                Command::new("cp")
                    .arg("-a")
                    .arg(template.join("data"))
                    .arg(tmp.path()),
            ),
            "copy template cluster",
        );
        if let Some(certs) = certs {
            let data = tmp.path().join("data");
            for (from, to) in [("server.pem", "server.crt"), ("server.key", "server.key")] {
                std::fs::copy(certs.path(from), data.join(to)).unwrap();
                give_to_pg(&data.join(to));
                std::fs::set_permissions(
                    data.join(to),
                    std::os::unix::fs::PermissionsExt::from_mode(0o600),
                )
                .unwrap();
            }
            let mut conf = std::fs::OpenOptions::new()
                .append(true)
                .open(data.join("postgresql.conf"))
                .unwrap();
            writeln!(conf, "ssl = on").unwrap();
        }
        let mut pg = Postgres::start_in(tmp.path().to_path_buf(), max_connections);
        pg._tmp = Some(tmp);
        pg
    }

    fn start_in(dir: PathBuf, max_connections: u32) -> Postgres {
        let pg = Postgres {
            dir,
            port: free_port(),
            max_connections,
            keep: false,
            _tmp: None,
        };
        pg.pg_ctl_start();
        pg
    }

    fn pg_ctl_start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections={} -c superuser_reserved_connections=3",
            self.port,
            self.dir.display(),
            self.max_connections
        );
        let log = self.dir.join("log").display().to_string();
        let args = ["-l", &log, "-o", &opts, "-w", "-t", "30", "start"];
        check(&mut self.pg_ctl(&args), "pg_ctl start");
    }

    /// `pg_ctl -D DATA ARGS`, as the user PostgreSQL runs as.
    fn pg_ctl(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("pg_ctl");
        cmd.arg("-D").arg(self.dir.join("data")).args(args);
        as_pg(&mut cmd);
        cmd
    }

    /// The directory of the cluster's Unix socket.
    pub fn socket_dir(&self) -> String {
        self.dir.display().to_string()
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{}/app",
            self.port
        )
    }

    /// Runs SQL as the superuser in the `app` database; returns psql's output.
    pub fn admin(&self, sql: &str) -> String {
        self.psql("postgres", "app", sql)
    }

    /// How many connections readygate holds (it names itself `readygate`).
    pub fn gate_connections(&self) -> String {
        self.admin("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'readygate'")
    }

    /// A gate waiting (up to 60 s) for `table`, once it holds its connection.
    pub fn gate_holding_connection(&self, table: &str) -> Child {
        let child = spawn(
            readygate()
                .arg(self.url())
                .args(["--table", table, "--timeout", "60s"]),
        );
        eventually(Duration::from_secs(10), "the gate to connect", || {
            self.gate_connections() == "1"
        });
        child
    }

    /// Runs SQL as the `app` role (the "web" running migrations).
    pub fn as_app(&self, sql: &str) -> String {
        self.psql(APP_USER, "app", sql)
    }

    fn psql(&self, user: &str, db: &str, sql: &str) -> String {
        let out = Command::new("psql")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args([
                "-h",
                &self.dir.display().to_string(),
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                db,
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server: `immediate` is a crash (SIGQUIT to all backends).
    pub fn stop(&self, mode: &str) {
        check(&mut self.pg_ctl(&["-m", mode, "-w", "stop"]), "pg_ctl stop");
    }

    pub fn restart_server(&self) {
        self.pg_ctl_start();
    }

    /// Kills the postmaster and every backend with SIGKILL, as the OOM
    /// killer or a node failure would; the next start runs crash recovery.
    pub fn kill_all(&self) {
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .expect("postmaster.pid")
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_string();
        check(
            Command::new("kill").args(["-STOP", &pid]),
            "stop postmaster",
        );
        // Children first, while the stopped postmaster cannot restart them.
        let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        check(
            Command::new("kill").args(["-KILL", &pid]),
            "kill postmaster",
        );
        eventually(Duration::from_secs(10), "the postmaster to die", || {
            !Path::new(&format!("/proc/{pid}")).exists()
        });
    }

    /// Restarts the cluster as a standby (`standby.signal`, no primary):
    /// with `hot` it takes read-only connections and `pg_is_in_recovery()`
    /// is true; without, it refuses them with 57P03 ("not yet accepting").
    pub fn restart_as_standby(&self, hot: bool) {
        self.stop("fast");
        let data = self.dir.join("data");
        std::fs::write(data.join("standby.signal"), "").unwrap();
        give_to_pg(&data.join("standby.signal"));
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .unwrap();
        writeln!(conf, "hot_standby = {}", if hot { "on" } else { "off" }).unwrap();
        self.pg_ctl_start();
    }

    /// Promotes a standby to a primary.
    pub fn promote(&self) {
        check(&mut self.pg_ctl(&["-w", "promote"]), "pg_ctl promote");
    }

    fn stop_quietly(&self) {
        let _ = self
            .pg_ctl(&["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// `psql` as the app role over TCP, to `db`, with a clean environment.
    fn app_psql(&self, db: &str) -> Command {
        let mut cmd = Command::new("psql");
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PGPASSWORD", APP_PASSWORD)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                APP_USER,
                "-d",
                db,
            ]);
        cmd
    }

    /// Holds `n` idle connections as the app role (each a `psql` sleeping in
    /// a query) until dropped. A superuser check can briefly take a normal
    /// slot, so a holder refused for that is started again.
    pub fn hold_connections(&self, n: usize) -> Holders {
        let spawn = || {
            self.app_psql("app")
                .args(["-c", "SELECT pg_sleep(60)"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn psql")
        };
        let mut holders = Holders((0..n).map(|_| spawn()).collect());
        eventually(
            Duration::from_secs(20),
            "the app's connections to be held",
            || {
                for child in holders.0.iter_mut() {
                    if child.try_wait().unwrap().is_some() {
                        *child = spawn();
                    }
                }
                let count = self.admin("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND state = 'active'");
                count == n.to_string()
            },
        );
        holders
    }

    /// A long-lived session as the `app` role (a migrator holding a lock
    /// between statements), fed one statement at a time.
    pub fn app_session(&self) -> AppSession {
        self.app_session_in("app")
    }

    /// The same, in another database of the cluster.
    pub fn app_session_in(&self, db: &str) -> AppSession {
        let mut child = self
            .app_psql(db)
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn psql");
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        AppSession { child, out }
    }

    /// Creates a `_prisma_migrations` table like Prisma's.
    pub fn create_prisma_table(&self) {
        self.as_app(
            "CREATE TABLE _prisma_migrations (
                id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
                migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz,
                started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)",
        );
    }

    /// Records a migration row: `finished` and `rolled_back` set timestamps.
    pub fn prisma_row(&self, name: &str, finished: bool, rolled_back: bool, logs: Option<&str>) {
        let ts = |b: bool| if b { "now()" } else { "NULL" };
        let logs = logs.map_or("NULL".to_string(), |l| {
            format!("'{}'", l.replace('\'', "''"))
        });
        self.as_app(&format!(
            "INSERT INTO _prisma_migrations (id, checksum, migration_name, finished_at, rolled_back_at, logs, applied_steps_count)
             VALUES (gen_random_uuid()::text, 'x', '{name}', {}, {}, {logs}, 1)",
            ts(finished),
            ts(rolled_back)
        ));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.keep {
            self.stop_quietly();
        }
    }
}

/// A session from [`Postgres::app_session`]; ends on drop.
pub struct AppSession {
    child: Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl AppSession {
    /// Runs one statement and waits until psql has answered it.
    pub fn exec(&mut self, sql: &str) {
        use std::io::BufRead;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{sql};\n\\echo __done").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "psql ended while running {sql:?}");
            if line.trim() == "__done" {
                return;
            }
        }
    }
}

impl Drop for AppSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connections held by [`Postgres::hold_connections`]; closed on drop.
pub struct Holders(Vec<Child>);

impl Drop for Holders {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

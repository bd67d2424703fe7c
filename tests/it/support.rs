//! Real servers for the tests: PostgreSQL clusters made with `initdb` and
//! `pg_ctl` in temp dirs on free ports, a small HTTP server on 127.0.0.1:0,
//! and a runner for the real `readygate` binary. Everything started here is
//! stopped on drop, also when a test fails. A server that cannot start fails
//! the test; nothing is skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

pub const APP_USER: &str = "app";
pub const APP_PASSWORD: &str = "app-Pw-7d1f9c";
pub const ADMIN_PASSWORD: &str = "admin-Pw-3e8a2b";

/// The readygate binary with a clean environment.
pub fn readygate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_readygate"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.stdin(Stdio::null());
    cmd
}

/// Starts a command with its output captured, for tests that act while it waits.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn readygate")
}

/// Waits for a spawned readygate (killing it after 90 s) and collects its output.
pub fn finish(child: Child) -> Ran {
    let started = Instant::now();
    let output = wait_output(child, Duration::from_secs(90));
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// What a finished run printed and returned.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs a command to completion (killing it after 90 s).
pub fn run(cmd: &mut Command) -> Ran {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn readygate");
    let output = wait_output(child, Duration::from_secs(90));
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn wait_output(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("readygate did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// Polls `cond` until it holds or `limit` passes.
pub fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// A port free right now, below Linux's ephemeral range (32768-60999), so
/// no outgoing connection takes it as its source port while a test waits
/// for it to open. Distinct within this test process.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let start = 20_000 + (std::process::id() as usize * 7919) % 12_000;
    for _ in 0..12_700 {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (20_000 + (start - 20_000 + n) % 12_700) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32699");
}

/// Where clusters live: under the system temp dir, which the `postgres`
/// user can reach even when the checkout sits in a private home directory.
fn tmp_root() -> PathBuf {
    let root = std::env::temp_dir().join("readygate-tests");
    std::fs::create_dir_all(&root).expect("create temp root");
    let _ = std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o1777));
    root
}

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

fn check(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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
        check(
            as_pg(
                Command::new("pg_ctl")
                    .arg("-D")
                    .arg(self.dir.join("data"))
                    .arg("-l")
                    .arg(self.dir.join("log"))
                    .args(["-o", &opts, "-w", "-t", "30", "start"]),
            ),
            "pg_ctl start",
        );
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
        check(
            as_pg(
                Command::new("pg_ctl")
                    .arg("-D")
                    .arg(self.dir.join("data"))
                    .args(["-m", mode, "-w", "stop"]),
            ),
            "pg_ctl stop",
        );
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
        check(
            as_pg(
                Command::new("pg_ctl")
                    .arg("-D")
                    .arg(self.dir.join("data"))
                    .args(["-w", "promote"]),
            ),
            "pg_ctl promote",
        );
    }

    fn stop_quietly(&self) {
        let _ = as_pg(
            Command::new("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"]),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    }

    /// Holds `n` idle connections as the app role (each a `psql` sleeping in
    /// a query) until dropped. A superuser check can briefly take a normal
    /// slot, so a holder refused for that is started again.
    pub fn hold_connections(&self, n: usize) -> Holders {
        let spawn = || {
            Command::new("psql")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    APP_USER,
                    "-d",
                    "app",
                    "-c",
                    "SELECT pg_sleep(60)",
                ])
                .env("PGPASSWORD", APP_PASSWORD)
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

/// What the HTTP stub answers; changeable while it runs.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A tiny real HTTP/1.1 server on 127.0.0.1:0 that answers every request
/// with the current [`Reply`] and records request heads.
pub struct HttpStub {
    pub port: u16,
    reply: Arc<Mutex<Reply>>,
    pub heads: Arc<Mutex<Vec<String>>>,
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HttpStub {
    pub fn start(status: u16, body: &str) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new(Reply {
            status,
            body: body.to_string(),
        }));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, n, s) = (reply.clone(), heads.clone(), hits.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, h, n) = (r.clone(), h.clone(), n.clone());
                thread::spawn(move || serve(conn, &r, &h, &n));
            }
        });
        HttpStub {
            port,
            reply,
            heads,
            hits,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = Reply {
            status,
            body: body.to_string(),
        };
    }
}

/// One HTTP request head (without the blank line); `None` at EOF or error.
fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line == "\r\n" => return Some(head),
            Ok(_) => head.push_str(&line),
        }
    }
}

fn serve(
    mut conn: TcpStream,
    reply: &Mutex<Reply>,
    heads: &Mutex<Vec<String>>,
    hits: &AtomicUsize,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    while let Some(head) = read_head(&mut reader) {
        hits.fetch_add(1, Ordering::SeqCst);
        heads.lock().unwrap().push(head);
        let Reply { status, body } = reply.lock().unwrap().clone();
        let response = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        if conn.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A throwaway CA and a server certificate for `localhost` and 127.0.0.1,
/// made with the `openssl` command.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

impl Certs {
    pub fn generate() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("certs-")
            .tempdir_in(tmp_root())
            .unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        for (name, subject) in [
            ("ca", "/CN=readygate test CA"),
            ("other-ca", "/CN=some other CA"),
        ] {
            check(
                Command::new("openssl")
                    .current_dir(d)
                    .args(["req", "-x509"])
                    .args(ec)
                    .args([
                        "-keyout",
                        &format!("{name}.key"),
                        "-out",
                        &format!("{name}.pem"),
                        "-days",
                        "2",
                        "-subj",
                        subject,
                    ]),
                "openssl CA",
            );
        }
        check(
            Command::new("openssl")
                .current_dir(d)
                .arg("req")
                .args(ec)
                .args([
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ]),
            "openssl CSR",
        );
        check(
            Command::new("openssl").current_dir(d).args([
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ]),
            "openssl sign",
        );
        Certs { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// `openssl s_server -www`: a real HTTPS server answering 200 with a status page.
pub struct HttpsServer {
    pub port: u16,
    _child: ChildGuard,
}

impl HttpsServer {
    pub fn start(certs: &Certs) -> HttpsServer {
        let port = free_port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-www",
                "-quiet",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                &certs.path("server.pem"),
                "-key",
                &certs.path("server.key"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let server = HttpsServer {
            port,
            _child: ChildGuard(child),
        };
        eventually(
            Duration::from_secs(10),
            "openssl s_server to listen",
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        server
    }
}

/// A `redis-server` of this test's own, on a free port, with no persistence.
pub struct Redis {
    pub port: u16,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// Plain TCP; `password` sets `requirepass`.
    pub fn start(password: Option<&str>) -> Redis {
        Redis::launch(password, None)
    }

    /// Plain TCP on a given port (for "comes up later").
    pub fn start_on(port: u16) -> Redis {
        Redis::launch_on(port, None, None)
    }

    /// A server that spends a few seconds loading a dataset at start
    /// (`key-load-delay`), answering `LOADING` meanwhile.
    pub fn start_loading() -> Redis {
        let filler =
            Redis::launch_with(free_port(), None, None, &["--enable-debug-command", "yes"]);
        let cli = |args: &[&str]| {
            check(
                Command::new("redis-cli")
                    .args(["-p", &filler.port.to_string()])
                    .args(args),
                "redis-cli",
            );
        };
        cli(&["DEBUG", "POPULATE", "20000"]);
        cli(&["SAVE"]);
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("redis-")
            .tempdir_in(tmp_root())
            .unwrap();
        std::fs::copy(
            filler._dir.path().join("dump.rdb"),
            dir.path().join("dump.rdb"),
        )
        .unwrap();
        drop(filler);
        let extra = [
            "--key-load-delay",
            "100",
            "--loading-process-events-interval-bytes",
            "1024",
        ];
        Redis::launch_in(dir, port, None, None, &extra)
    }

    /// TLS only, with the server certificate in `certs`.
    pub fn start_tls(certs: &Certs, password: Option<&str>) -> Redis {
        Redis::launch(password, Some(certs))
    }

    fn launch(password: Option<&str>, certs: Option<&Certs>) -> Redis {
        Redis::launch_on(free_port(), password, certs)
    }

    fn launch_on(port: u16, password: Option<&str>, certs: Option<&Certs>) -> Redis {
        Redis::launch_with(port, password, certs, &[])
    }

    fn launch_with(
        port: u16,
        password: Option<&str>,
        certs: Option<&Certs>,
        extra: &[&str],
    ) -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("redis-")
            .tempdir_in(tmp_root())
            .unwrap();
        Redis::launch_in(dir, port, password, certs, extra)
    }

    /// Starts redis-server with its data directory in `dir`.
    fn launch_in(
        dir: tempfile::TempDir,
        port: u16,
        password: Option<&str>,
        certs: Option<&Certs>,
        extra: &[&str],
    ) -> Redis {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
        ])
        .arg(dir.path());
        match certs {
            None => cmd.args(["--port", &port.to_string()]),
            Some(c) => cmd
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
                    "--tls-auth-clients",
                    "no",
                ])
                .args([
                    "--tls-cert-file",
                    &c.path("server.pem"),
                    "--tls-key-file",
                    &c.path("server.key"),
                    "--tls-ca-cert-file",
                    &c.path("ca.pem"),
                ]),
        };
        if let Some(pw) = password {
            cmd.args(["--requirepass", pw]);
        }
        cmd.args(extra);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install redis-server)");
        let redis = Redis {
            port,
            _child: ChildGuard(child),
            _dir: dir,
        };
        eventually(Duration::from_secs(10), "redis-server to listen", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        redis
    }
}

pub const CLICKHOUSE_PASSWORD: &str = "ch-Pw-5c2e91";

/// A `clickhouse-server` (Debian's 18.16 is enough: the probe uses the HTTP
/// interface) from a minimal config in a temp dir.
pub struct ClickHouse {
    pub port: u16,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
}

impl ClickHouse {
    pub fn start() -> ClickHouse {
        ClickHouse::start_on(free_port())
    }

    /// On a given HTTP port (for "comes up later").
    pub fn start_on(port: u16) -> ClickHouse {
        let dir = tempfile::Builder::new()
            .prefix("clickhouse-")
            .tempdir_in(tmp_root())
            .unwrap();
        let d = dir.path().display().to_string();
        let tcp_port = free_port();
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                "<yandex><logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog></logger>\
                 <http_port>{port}</http_port><tcp_port>{tcp_port}</tcp_port><listen_host>127.0.0.1</listen_host>\
                 <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>\
                 <format_schema_path>{d}/format_schemas/</format_schema_path><users_config>users.xml</users_config>\
                 <default_profile>default</default_profile><default_database>default</default_database>\
                 <mark_cache_size>67108864</mark_cache_size></yandex>"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("users.xml"),
            format!(
                "<yandex><profiles><default></default></profiles><users><default><password>{CLICKHOUSE_PASSWORD}</password>\
                 <networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users>\
                 <quotas><default></default></quotas></yandex>"
            ),
        )
        .unwrap();
        let child = Command::new("clickhouse-server")
            .arg(format!("--config-file={d}/config.xml"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server (apt-get install clickhouse-server)");
        let ch = ClickHouse {
            port,
            _child: ChildGuard(child),
            _dir: dir,
        };
        eventually(
            Duration::from_secs(30),
            "clickhouse-server to answer /ping",
            || {
                ch.http("GET", "/ping", "")
                    .is_some_and(|b| b.starts_with("Ok."))
            },
        );
        ch
    }

    pub fn url(&self, db: &str) -> String {
        format!(
            "clickhouse://default:{CLICKHOUSE_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// Runs a query as `default`; panics on a server error.
    pub fn query(&self, sql: &str) -> String {
        let body = self.http("POST", "/", sql).expect("clickhouse answers");
        assert!(!body.starts_with("Code:"), "{sql}: {body}");
        body
    }

    /// A minimal HTTP/1.0 exchange; `None` when nothing listens.
    fn http(&self, method: &str, path: &str, body: &str) -> Option<String> {
        let mut conn = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nX-ClickHouse-User: default\r\nX-ClickHouse-Key: {CLICKHOUSE_PASSWORD}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        conn.read_to_string(&mut response).ok()?;
        response.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    }

    /// golang-migrate's table, with rows of (version, dirty).
    pub fn migrations(&self, rows: &[(i64, bool)]) {
        self.query("CREATE TABLE IF NOT EXISTS schema_migrations (version Int64, dirty UInt8, sequence UInt64) ENGINE = TinyLog");
        for (i, (version, dirty)) in rows.iter().enumerate() {
            self.query(&format!(
                "INSERT INTO schema_migrations VALUES ({version}, {}, {})",
                u8::from(*dirty),
                i + 1
            ));
        }
    }
}

/// A sidecar (`--serve 127.0.0.1:0`) and the port it bound, read from its log.
pub struct Sidecar {
    pub child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl Sidecar {
    pub fn start(cmd: &mut Command) -> Sidecar {
        let mut child = cmd
            .args(["--serve", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn readygate");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .rsplit("http://127.0.0.1:")
                    .next()
                    .filter(|_| line.contains("serving"))
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the sidecar logs the address it serves on");
        Sidecar { child, port, log }
    }

    /// GET `path`; the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "")
    }

    pub fn request(&self, method: &str, path: &str, headers: &str) -> (u16, String) {
        let mut conn =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the sidecar");
        write!(
            conn,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n"
        )
        .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server process that is killed and reaped when dropped, also when a test fails.
pub struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a [`Hostile`] server misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Misbehave {
    /// Accepts connections and never sends a byte.
    Silent,
    /// Sends a 200 head promising a body, then stalls.
    HeadThenStall,
    /// Sends a head and part of the body, then closes the connection.
    CloseMidBody,
    /// Sends a whole 200 response, one byte a second.
    Trickle,
    /// A 200 with a 50 MiB body.
    Huge,
    /// Redirects every request to another path on itself.
    RedirectLoop,
}

/// A TCP server on 127.0.0.1:0 that misbehaves in one way; counts the
/// connections it accepted. Held connections are closed on drop.
pub struct Hostile {
    pub port: u16,
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Hostile {
    pub fn start(how: Misbehave) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (a, s, h) = (accepted.clone(), stop.clone(), held.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                h.lock().unwrap().push(conn.try_clone().unwrap());
                let s = s.clone();
                thread::spawn(move || misbehave(conn, how, &s));
            }
        });
        Hostile {
            port,
            accepted,
            stop,
            held,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn misbehave(mut conn: TcpStream, how: Misbehave, stop: &AtomicBool) {
    let stall = || {
        while !stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(50));
        }
    };
    if let Misbehave::Silent = how {
        return stall();
    }
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = 0;
    while read_head(&mut reader).is_some() {
        request += 1;
        let head = |len: usize| {
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
        };
        match how {
            Misbehave::Silent => unreachable!(),
            Misbehave::HeadThenStall => {
                let _ = conn.write_all(head(100).as_bytes());
                return stall();
            }
            Misbehave::CloseMidBody => {
                let _ = conn.write_all(format!("{}{{\"status\":", head(100)).as_bytes());
                let _ = conn.shutdown(std::net::Shutdown::Both);
                return;
            }
            Misbehave::Trickle => {
                let body = r#"{"status":"OK"}"#;
                for byte in format!("{}{body}", head(body.len())).bytes() {
                    if stop.load(Ordering::SeqCst) || conn.write_all(&[byte]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_secs(1));
                }
            }
            Misbehave::Huge => {
                let len = 50 << 20;
                let chunk = vec![b' '; 64 << 10];
                if conn.write_all(head(len).as_bytes()).is_err() {
                    return;
                }
                for _ in 0..len / chunk.len() {
                    if conn.write_all(&chunk).is_err() {
                        return;
                    }
                }
            }
            Misbehave::RedirectLoop => {
                let response = format!(
                    "HTTP/1.1 302 Found\r\nLocation: /loop/{request}\r\nContent-Length: 0\r\n\r\n"
                );
                if conn.write_all(response.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for conn in self.held.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A process's resident memory (VmRSS, KiB) and open descriptors.
pub fn rss_and_fds(pid: u32) -> Option<(u64, usize)> {
    let rss = status_kib(pid, "VmRSS")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((rss, fds))
}

/// Peak resident memory (VmHWM, KiB) of a running process.
pub fn peak_rss(pid: u32) -> u64 {
    status_kib(pid, "VmHWM").unwrap_or(0)
}

/// A port whose TCP handshakes hang: a listener with a backlog of one that
/// never accepts, its queue filled, so the kernel drops further SYNs and a
/// connect waits for the client's own timeout. (Python, because std's
/// listener cannot set the backlog.)
pub struct BlackHole {
    pub port: u16,
    _listener: ChildGuard,
    _queued: Vec<TcpStream>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let port = free_port();
        let mut child = Command::new("python3")
            .args([
                "-c",
                "import socket, sys, time\n\
                 s = socket.socket()\n\
                 s.bind(('127.0.0.1', int(sys.argv[1])))\n\
                 s.listen(0)\n\
                 print('listening', flush=True)\n\
                 time.sleep(600)",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening");
        let guard = ChildGuard(child);
        // Fill the accept queue until a connect no longer completes.
        let mut queued = Vec::new();
        loop {
            match TcpStream::connect_timeout(
                &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(300),
            ) {
                Ok(conn) => queued.push(conn),
                Err(_) => break,
            }
            assert!(queued.len() < 16, "the accept queue never filled");
        }
        BlackHole {
            port,
            _listener: guard,
            _queued: queued,
        }
    }
}

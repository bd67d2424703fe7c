//! Test support: a runner for the real `readygate` binary, and real servers
//! for it to wait on, one module per server. Everything started here is
//! stopped on drop, also when a test fails. A server that cannot start fails
//! the test; nothing is skipped.

mod clickhouse;
mod hostile;
mod http;
mod mysql;
mod postgres;
mod redis;
mod s3;
mod tls;

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub use clickhouse::{ClickHouse, CLICKHOUSE_PASSWORD};
pub use hostile::{BlackHole, FakePostgresTls, Hostile, Misbehave};
pub use http::{HttpStub, Sidecar};
pub use mysql::{MySql, MYSQL_APP_PASSWORD};
pub use postgres::{Postgres, ADMIN_PASSWORD, APP_PASSWORD};
pub use redis::{Redis, RedisCluster};
pub use s3::S3;
pub use tls::{Certs, HttpsServer};

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

/// Exit 2 and one short line that starts like every usage error and names
/// the culprit; never a panic.
pub fn usage_error(ran: &Ran, case: &str, culprit: &str) {
    let err = &ran.stderr;
    assert_eq!(ran.code, Some(2), "{case}: {err:.500}");
    assert_eq!(err.lines().count(), 1, "{case}: not one line: {err:.500}");
    assert!(err.starts_with("readygate: error: "), "{case}: {err:.500}");
    assert!(
        err.contains(culprit),
        "{case}: {culprit:?} not named in {err:.500}"
    );
    assert!(err.len() < 1024, "{case}: {} bytes of error", err.len());
    assert!(!err.contains("panicked"), "{case}: {err:.500}");
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

/// Where servers keep their files: under the system temp dir, which the
/// `postgres` user can reach even when the checkout sits in a private home
/// directory.
fn tmp_root() -> PathBuf {
    let root = std::env::temp_dir().join("readygate-tests");
    std::fs::create_dir_all(&root).expect("create temp root");
    let _ = std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o1777));
    root
}

/// Runs a setup command (`initdb`, `openssl`, ...) and fails the test, with
/// the command's output, unless it succeeds.
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

/// A server process that is killed and reaped when dropped, also when a test fails.
pub struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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

//! Faults, with real processes: servers that are down, crash, stay in
//! recovery, never answer, answer badly, names that resolve late, signals in
//! every state, many targets, a long wait. Each test is a row of
//! RELIABILITY.md (see `record.rs`).

use std::io::Write;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::record::{ms, row};
use crate::support::{
    eventually, finish, free_port, peak_rss, readygate, rss_and_fds, run, spawn, BlackHole,
    ClickHouse, Hostile, HttpStub, Misbehave, Postgres, Redis, APP_PASSWORD, CLICKHOUSE_PASSWORD,
};

fn alive(child: &mut Child) -> bool {
    child.try_wait().unwrap().is_none()
}

/// Sends SIGTERM; returns how long the process took to exit, and its code.
fn terminate(child: Child) -> (Duration, Option<i32>, String) {
    let sent = Instant::now();
    let status = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    (
        sent.elapsed(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn postgres_down_at_start_then_up() {
    let mut row = row(
        "PostgreSQL",
        "down when the gate starts, up 1.5 s later",
        "keeps trying (connection refused), ready once the server is up",
    );
    let pg = Postgres::start();
    pg.as_app("CREATE TABLE users (id int)");
    pg.stop("fast");
    let mut child = spawn(readygate().arg(pg.url()).args([
        "--table",
        "users",
        "--timeout",
        "60s",
        "--progress-every",
        "500ms",
    ]));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        alive(&mut child),
        "the gate gave up while the server was down"
    );
    let up = Instant::now();
    pg.restart_server();
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("connection refused"), "{}", ran.stderr);
    row.saw("\"connection refused\" while down");
    row.saw(format!(
        "exit 0 {} after pg_ctl start began",
        ms(up.elapsed())
    ));
}

#[test]
fn postgres_killed_with_sigkill_mid_wait_and_restarted() {
    let mut row = row(
        "PostgreSQL",
        "postmaster and backends killed with SIGKILL mid-wait, then restarted (crash recovery)",
        "notices the dead connection, reconnects, ready once the table exists",
    );
    let pg = Postgres::start();
    let child = pg.gate_holding_connection("users");
    pg.kill_all();
    std::thread::sleep(Duration::from_millis(500));
    pg.restart_server();
    eventually(Duration::from_secs(10), "the gate to reconnect", || {
        pg.gate_connections() == "1"
    });
    row.saw("reconnected after crash recovery");
    pg.as_app("CREATE TABLE users (id int)");
    let made = Instant::now();
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw(format!(
        "exit 0 {} after the table was created",
        ms(made.elapsed())
    ));
}

#[test]
fn postgres_starting_up_or_in_recovery_is_not_ready() {
    let mut row = row(
        "PostgreSQL",
        "a standby: refusing connections (57P03, hot_standby=off), then read-only in recovery (hot_standby=on), then promoted",
        "not ready while starting or in recovery, though the tables exist; ready once promoted",
    );
    let pg = Postgres::start();
    pg.as_app("CREATE TABLE users (id int)");
    let gate = || {
        run(readygate()
            .arg(pg.url())
            .args(["--table", "users", "--timeout", "1s"]))
    };
    pg.restart_as_standby(false);
    let ran = gate();
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("not accepting connections yet"),
        "{}",
        ran.stderr
    );
    row.saw("hot_standby=off: exit 1, \"server is not accepting connections yet\"");
    pg.restart_as_standby(true);
    let ran = gate();
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("server is in recovery"),
        "{}",
        ran.stderr
    );
    row.saw("hot standby: exit 1, \"server is in recovery\"");
    let child = spawn(
        readygate()
            .arg(pg.url())
            .args(["--table", "users", "--timeout", "30s"]),
    );
    std::thread::sleep(Duration::from_millis(500));
    let promoted = Instant::now();
    pg.promote();
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw(format!(
        "promoted: exit 0 {} after pg_ctl promote began",
        ms(promoted.elapsed())
    ));
}

#[test]
fn postgres_that_accepts_but_never_answers_times_out_each_attempt() {
    let mut row = row(
        "PostgreSQL",
        "accepts TCP but never answers the startup packet",
        "each attempt ends at --attempt-timeout and the next begins; exit 1 at the deadline",
    );
    let silent = Hostile::start(Misbehave::Silent);
    let url = format!(
        "postgres://app:{APP_PASSWORD}@127.0.0.1:{}/app",
        silent.port
    );
    let ran = run(readygate().args([&url, "--attempt-timeout", "500ms", "--timeout", "3s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("no answer within 500ms"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.elapsed < Duration::from_millis(3400),
        "{:?}",
        ran.elapsed
    );
    let attempts = silent.accepted();
    assert!(attempts >= 4, "only {attempts} attempts in 3 s");
    row.saw(format!(
        "{attempts} attempts in 3 s, exit 1 after {}, \"no answer within 500ms\"",
        ms(ran.elapsed)
    ));
}

/// An HTTP fault: the gate must end every attempt and exit 1 at the deadline
/// with `reason` in its summary.
fn http_fault(how: Misbehave, fault: &str, extra: &[&str], reason: &str) {
    let mut row = row(
        "HTTP",
        fault,
        "not ready; every attempt ends by --attempt-timeout; exit 1 at the deadline with the reason",
    );
    let server = Hostile::start(how);
    let url = format!("http://127.0.0.1:{}/health", server.port);
    let mut cmd = readygate();
    cmd.args([&url, "--attempt-timeout", "1s", "--timeout", "3s"])
        .args(extra);
    let started = Instant::now();
    let child = spawn(&mut cmd);
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(2500));
    let rss = peak_rss(pid);
    let ran = finish(child);
    let took = started.elapsed();
    assert_eq!(ran.code, Some(1), "{how:?}: {}", ran.stderr);
    assert!(took < Duration::from_millis(3400), "{how:?}: {took:?}");
    let summary = ran
        .stderr
        .lines()
        .find_map(|l| l.split_once("not ready: ").map(|(_, l)| l.to_string()))
        .unwrap_or_default();
    assert!(
        summary.contains(reason),
        "{how:?}: {reason:?} not in {}",
        ran.stderr
    );
    assert!(rss < 64 * 1024, "{how:?}: peak RSS {rss} KiB");
    row.saw(format!(
        "exit 1 after {}, {} connections, peak RSS {} MiB (debug build); summary: {summary}",
        ms(took),
        server.accepted(),
        rss / 1024
    ));
}

#[test]
fn http_that_accepts_but_never_answers() {
    http_fault(
        Misbehave::Silent,
        "accepts but never responds",
        &[],
        "no answer within",
    );
}

#[test]
fn http_that_sends_headers_then_stalls_the_body() {
    http_fault(
        Misbehave::HeadThenStall,
        "sends a 200 head, then stalls the body (with --http-json)",
        &["--http-json", "/status=OK"],
        "no answer within",
    );
}

#[test]
fn http_that_closes_mid_response() {
    http_fault(
        Misbehave::CloseMidBody,
        "closes the connection mid-body (with --http-json)",
        &["--http-json", "/status=OK"],
        "the connection closed before the whole response arrived",
    );
}

#[test]
fn http_that_trickles_one_byte_a_second() {
    http_fault(
        Misbehave::Trickle,
        "trickles its response one byte a second",
        &[],
        "no answer within",
    );
}

#[test]
fn http_with_a_50_mib_body() {
    http_fault(
        Misbehave::Huge,
        "answers 200 with a 50 MiB body (with --http-body)",
        &["--http-body", "needle"],
        "in its first 1 MiB",
    );
}

#[test]
fn http_redirect_loop() {
    http_fault(
        Misbehave::RedirectLoop,
        "redirects in a loop",
        &[],
        "redirect",
    );
}

/// Runs `args` with /etc/hosts and /etc/resolv.conf replaced (bind mounts in
/// a private mount namespace), so a name can start resolving mid-wait.
fn with_hosts(hosts: &std::path::Path, resolv: &std::path::Path, args: &[String]) -> Command {
    let mut outer = Command::new("unshare");
    outer
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@""#)
        .arg("sh")
        .arg(hosts)
        .arg(resolv)
        .arg(env!("CARGO_BIN_EXE_readygate"))
        .args(args)
        .stdin(std::process::Stdio::null());
    outer
}

#[test]
fn a_name_that_resolves_later() {
    let mut row = row(
        "Names",
        "host names that do not resolve yet, added to /etc/hosts 1.5 s in (a private mount namespace)",
        "not ready with a DNS reason, keeps trying, ready once the names resolve",
    );
    let pg = Postgres::start();
    let web = HttpStub::start(200, "{}");
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    // Nothing listens there: lookups fail at once instead of timing out.
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.3\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let args = vec![
        format!("http://web.readygate.test:{}/", web.port),
        format!(
            "postgres://app:{APP_PASSWORD}@db.readygate.test:{}/app",
            pg.port
        ),
        "--timeout".into(),
        "30s".into(),
        "--progress-every".into(),
        "500ms".into(),
    ];
    let mut child = spawn(&mut with_hosts(&hosts, &resolv, &args));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        alive(&mut child),
        "the gate stopped before the names resolved"
    );
    // Appended in place: the bind mount follows the inode.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&hosts)
        .unwrap();
    writeln!(file, "127.0.0.1 web.readygate.test db.readygate.test").unwrap();
    let added = Instant::now();
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("does not resolve"), "{}", ran.stderr);
    row.saw("\"the host name does not resolve (yet)\" while missing");
    row.saw(format!(
        "exit 0 {} after the names were added",
        ms(added.elapsed())
    ));
}

#[test]
fn a_tcp_connection_to_itself_is_not_a_listener() {
    let mut row = row(
        "TCP",
        "a closed local port that the kernel also hands out as the source port: the connect succeeds to itself (TCP simultaneous open); forced in a private network namespace whose ephemeral range is that one port",
        "not ready: nothing listens there, though connect() succeeded",
    );
    let ran = run(Command::new("unshare")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("READYGATE_LOG", "readygate=debug")
        .args(["--net", "sh", "-c"])
        .arg(r#"ip link set lo up && sysctl -q -w net.ipv4.ip_local_port_range="40000 40000" && exec "$0" tcp://127.0.0.1:40000 --timeout 1s"#)
        .arg(env!("CARGO_BIN_EXE_readygate"))
        .stdin(std::process::Stdio::null()));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("the connection went to itself"),
        "{}",
        ran.stderr
    );
    row.saw("exit 1; the attempt that connected to itself says \"the connection went to itself: nothing listens there\"");
}

#[test]
fn clickhouse_down_then_up() {
    let mut row = row(
        "ClickHouse",
        "down when the gate starts, started 1 s later",
        "keeps trying, ready once /ping and the login answer",
    );
    let port = free_port();
    let url = format!("clickhouse://default:{CLICKHOUSE_PASSWORD}@127.0.0.1:{port}/default");
    let mut child = spawn(readygate().args([&url, "--timeout", "60s"]));
    std::thread::sleep(Duration::from_secs(1));
    assert!(alive(&mut child));
    let started = Instant::now();
    let _ch = ClickHouse::start_on(port);
    let up = started.elapsed();
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw(format!(
        "exit 0 {} after clickhouse-server was launched (it took {} to answer the test's /ping)",
        ms(started.elapsed()),
        ms(up)
    ));
}

#[test]
fn wrong_passwords_without_fail_fast_wait_until_the_deadline() {
    let mut row = row(
        "Redis, ClickHouse",
        "wrong password, without --fail-fast",
        "keeps trying (a password may be rotated in); exit 1 at the deadline naming the login failure, never the password",
    );
    let redis = Redis::start(Some("right-Redis-Pw-1"));
    let ch = ClickHouse::start();
    let redis_url = format!("redis://:wrong-Redis-Pw-2@127.0.0.1:{}", redis.port);
    let ch_url = ch
        .url("default")
        .replace(CLICKHOUSE_PASSWORD, "wrong-Ch-Pw-3");
    let ran = run(readygate().args([&redis_url, &ch_url, "--timeout", "1500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    for secret in ["wrong-Redis-Pw-2", "wrong-Ch-Pw-3", "right-Redis-Pw-1"] {
        assert!(
            !ran.stderr.contains(secret),
            "{secret} leaked: {}",
            ran.stderr
        );
    }
    let summary: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("not ready:"))
        .collect();
    assert_eq!(summary.len(), 2, "{}", ran.stderr);
    assert!(
        summary
            .iter()
            .any(|l| l.contains("redis") && l.contains("password")),
        "{}",
        ran.stderr
    );
    assert!(
        summary
            .iter()
            .any(|l| l.contains(r#"ClickHouse rejected user "default""#)),
        "{}",
        ran.stderr
    );
    row.saw(format!("exit 1 after {}", ms(ran.elapsed)));
    for line in summary {
        row.saw(
            line.split_once("not ready: ")
                .map_or(line, |(_, l)| l)
                .to_string(),
        );
    }
}

#[test]
fn the_deadline_holds_with_every_target_hung() {
    let mut row = row(
        "Deadline",
        "every target hung (TCP to a port that drops SYNs; PostgreSQL, HTTP, HTTPS, Redis and ClickHouse on servers that accept and never answer), --timeout 2s",
        "exit 1 within 2.3 s with a summary line per target",
    );
    let silent = Hostile::start(Misbehave::Silent);
    let hole = BlackHole::start();
    let p = silent.port;
    let targets = [
        format!("tcp://127.0.0.1:{}", hole.port),
        format!("postgres://app:pw@127.0.0.1:{p}/app"),
        format!("http://127.0.0.1:{p}/health"),
        format!("https://127.0.0.1:{p}/health"),
        format!("redis://127.0.0.1:{p}"),
        format!("clickhouse://default:pw@127.0.0.1:{p}/default"),
    ];
    let ran = run(readygate().args(&targets).args(["--timeout", "2s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.elapsed < Duration::from_millis(2300),
        "took {:?}",
        ran.elapsed
    );
    let lines = ran.stderr.matches("not ready:").count();
    assert_eq!(lines, targets.len(), "{}", ran.stderr);
    row.saw(format!(
        "exit 1 after {}, {lines} summary lines",
        ms(ran.elapsed)
    ));
}

#[test]
fn sigterm_stops_the_gate_within_100ms_in_every_state() {
    let pg = Postgres::start();
    let silent = Hostile::start(Misbehave::Silent);
    let hole = BlackHole::start();
    let refused = free_port();
    let states: Vec<(&str, Vec<String>)> = vec![
        (
            "mid-connect to a port that drops SYNs",
            vec![format!("tcp://127.0.0.1:{}", hole.port)],
        ),
        (
            "between attempts (connection refused)",
            vec![format!("tcp://127.0.0.1:{refused}")],
        ),
        (
            "mid-attempt on an HTTP server that never answers",
            vec![format!("http://127.0.0.1:{}/", silent.port)],
        ),
        (
            "mid-handshake on a TLS server that never answers",
            vec![format!("https://127.0.0.1:{}/", silent.port)],
        ),
        (
            "mid-startup on a PostgreSQL that never answers",
            vec![format!("postgres://app:pw@127.0.0.1:{}/app", silent.port)],
        ),
        (
            "holding a PostgreSQL connection, waiting for a table",
            vec![pg.url(), "--table".into(), "never".into()],
        ),
        (
            "a sidecar serving /readyz",
            vec![
                format!("tcp://127.0.0.1:{refused}"),
                "--serve".into(),
                "127.0.0.1:0".into(),
            ],
        ),
    ];
    for (state, args) in states {
        let mut row = row(
            "Signals",
            format!("SIGTERM {state}"),
            "exits within 100 ms: 143 while waiting (summary printed), 0 as a sidecar",
        );
        let sidecar = args.iter().any(|a| a == "--serve");
        let mut cmd = readygate();
        cmd.args(&args);
        if !sidecar {
            cmd.args(["--timeout", "60s"]);
        }
        let mut child = spawn(&mut cmd);
        std::thread::sleep(Duration::from_millis(700));
        assert!(alive(&mut child), "{state}: exited early");
        let (took, code, stderr) = terminate(child);
        assert!(took < Duration::from_millis(100), "{state}: took {took:?}");
        let want = if sidecar { 0 } else { 143 };
        assert_eq!(code, Some(want), "{state}: {stderr}");
        if !sidecar {
            assert!(stderr.contains("stopped by SIGTERM"), "{state}: {stderr}");
        }
        row.saw(format!("exit {want} after {}", ms(took)));
    }
}

#[test]
fn two_hundred_targets_at_once() {
    let mut row = row(
        "Scale",
        "200 targets at once (100 TCP ports that open 1 s in, 100 HTTP paths that turn 200 1 s in)",
        "all checked concurrently; ready soon after the last one; descriptors bounded",
    );
    let web = HttpStub::start(503, "{}");
    let ports: Vec<u16> = (0..100).map(|_| free_port()).collect();
    let mut args: Vec<String> = ports
        .iter()
        .map(|p| format!("tcp://127.0.0.1:{p}"))
        .collect();
    args.extend((0..100).map(|i| web.url(&format!("/health/{i}"))));
    let child = spawn(readygate().args(&args).args(["--timeout", "60s"]));
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(1));
    let (rss, fds) = rss_and_fds(pid).expect("gate running");
    let listeners: Vec<std::net::TcpListener> = ports
        .iter()
        .map(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).expect("port still free"))
        .collect();
    web.set(200, "{}");
    let ready = Instant::now();
    let ran = finish(child);
    drop(listeners);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let lag = ready.elapsed();
    assert!(lag < Duration::from_millis(1500), "took {lag:?}");
    assert!(fds < 300, "{fds} descriptors while waiting");
    row.saw(format!(
        "exit 0 {} after all were ready; while waiting: {fds} descriptors, {} MiB RSS (debug build)",
        ms(lag),
        rss / 1024
    ));
}

/// A long wait for a table that never appears (and a web that stays 503):
/// memory and descriptors must stay flat. 20 s here; `scripts/soak` runs it
/// for 10 minutes with the release binary (`READYGATE_SOAK_SECS`,
/// `READYGATE_SOAK_BIN`).
#[test]
fn a_long_wait_does_not_grow() {
    let secs: u64 = std::env::var("READYGATE_SOAK_SECS")
        .map(|s| s.parse().expect("READYGATE_SOAK_SECS is seconds"))
        .unwrap_or(20);
    let mut row = row(
        "Soak",
        format!("a {secs} s wait for a table that never appears and a web that stays 503"),
        "resident memory and open descriptors do not grow",
    );
    let pg = Postgres::start();
    let web = HttpStub::start(503, r#"{"status":"starting"}"#);
    let mut cmd = readygate();
    if let Ok(bin) = std::env::var("READYGATE_SOAK_BIN") {
        cmd = Command::new(bin);
        cmd.env_clear();
    }
    let mut child = spawn(cmd.args([
        &pg.url(),
        &web.url("/health"),
        "--table",
        "never",
        "--timeout",
        "24h",
        "-q",
    ]));
    let pid = child.id();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        assert!(alive(&mut child), "the gate exited");
        samples.push(rss_and_fds(pid).expect("gate running"));
    }
    let gate_connections = pg.gate_connections();
    let _ = child.kill();
    let _ = child.wait();
    // Past the first 10 s (connection set up, schedule at its slowest),
    // compare the first and the last third.
    let steady = &samples[samples.len().min(10)..];
    let third = steady.len() / 3;
    assert!(third >= 2, "too short: {} samples", samples.len());
    let max = |s: &[(u64, usize)]| {
        (
            s.iter().map(|x| x.0).max().unwrap(),
            s.iter().map(|x| x.1).max().unwrap(),
        )
    };
    let (rss_first, fds_first) = max(&steady[..third]);
    let (rss_last, fds_last) = max(&steady[steady.len() - third..]);
    assert!(
        rss_last <= rss_first + 256,
        "RSS grew from {rss_first} KiB to {rss_last} KiB"
    );
    assert!(
        fds_last <= fds_first,
        "descriptors grew from {fds_first} to {fds_last}"
    );
    row.saw(format!(
        "RSS {rss_first} KiB early, {rss_last} KiB late; descriptors {fds_first} then {fds_last}; {} samples",
        samples.len()
    ));
    assert_eq!(gate_connections, "1", "PostgreSQL connections held");
    row.saw("one PostgreSQL connection held throughout");
}

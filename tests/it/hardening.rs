//! Inputs a careless operator or an attacker gives, each refused at start
//! (exit 2, one short line naming the culprit) or kept out of every output:
//! the issue-12 slice of the reliability suite.

use std::time::{Duration, Instant};

use crate::record::row;
use crate::support::{readygate, run, usage_error, HttpStub};

/// Samples `/readyz` every `every` for `during`: each answer must be 200,
/// and the sidecar must never have logged "no longer ready". The samples.
fn readyz_never_flaps(
    sidecar: &crate::support::Sidecar,
    during: Duration,
    every: Duration,
) -> usize {
    let began = Instant::now();
    let mut samples = 0;
    while began.elapsed() < during {
        let (status, body) = sidecar.get("/readyz");
        assert_eq!(status, 200, "flapped after {:?}: {body}", began.elapsed());
        samples += 1;
        std::thread::sleep(every);
    }
    assert!(
        !sidecar.log().contains("no longer ready"),
        "{}",
        sidecar.log()
    );
    samples
}

/// `--preset langfuse-worker` with the least environment it accepts (no
/// server behind it); each test sets, overrides or removes what it is about.
fn langfuse_preset(web: &str) -> std::process::Command {
    let mut cmd = readygate();
    cmd.args(["--preset", "langfuse-worker", "--langfuse-web", web])
        .env("DATABASE_URL", "postgresql://u:p@db:5432/lf")
        .env("REDIS_CONNECTION_STRING", "redis://redis:6379")
        .env("CLICKHOUSE_URL", "http://ch:8123")
        .env("CLICKHOUSE_USER", "default")
        .env("CLICKHOUSE_PASSWORD", "x")
        .env("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "langfuse");
    cmd
}

#[test]
fn an_attempt_timeout_below_10ms_is_refused() {
    let mut row = row(
        "Hostile input",
        "--attempt-timeout 1ns (or READYGATE_ATTEMPT_TIMEOUT=9ms): no connection completes that fast",
        "exit 2 naming the flag or variable; 10ms is the floor, as for --interval",
    );
    for (args, env, culprit) in [
        (
            vec!["--attempt-timeout", "1ns"],
            None,
            "--attempt-timeout must be at least 10ms",
        ),
        (
            vec![],
            Some("9ms"),
            "READYGATE_ATTEMPT_TIMEOUT must be at least 10ms",
        ),
    ] {
        let mut cmd = readygate();
        cmd.arg("tcp://127.0.0.1:1").args(&args);
        if let Some(v) = env {
            cmd.env("READYGATE_ATTEMPT_TIMEOUT", v);
        }
        usage_error(&run(&mut cmd), &format!("{args:?} {env:?}"), culprit);
    }
    let ran = run(readygate().args(["tcp://127.0.0.1:1", "--attempt-timeout", "10ms", "--once"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    row.saw("1ns and 9ms: exit 2 naming the flag or variable; 10ms accepted");
}

#[test]
fn credentials_that_are_not_utf8_or_hold_a_nul_are_refused_not_mangled() {
    let mut row = row(
        "Hostile input",
        "a Redis or S3 URL whose user, password, key or secret percent-decodes to bytes that are not UTF-8 (%ff) or to a NUL (%00)",
        "exit 2 naming the part, never showing it (the server would get something else than was written)",
    );
    for (url, culprit) in [
        (
            "redis://:Secret%ff@127.0.0.1:6379",
            "password that is not UTF-8",
        ),
        (
            "redis://Us%00er:Secret@127.0.0.1:6379",
            "NUL byte (%00) in its user name",
        ),
        (
            "redis-sentinel://127.0.0.1:26379/ma%ffster",
            "master name that is not UTF-8",
        ),
        (
            "s3://KEY:Secret%00x@bucket?endpoint=http://127.0.0.1:9000",
            "NUL byte (%00) in its secret key",
        ),
        (
            "s3://K%ffEY:Secret@bucket?endpoint=http://127.0.0.1:9000",
            "access key that is not UTF-8",
        ),
    ] {
        let ran = run(readygate().arg(url).arg("--once"));
        usage_error(&ran, url, culprit);
        assert!(!ran.stderr.contains("Secret"), "{url}: {}", ran.stderr);
    }
    row.saw("5 URLs: exit 2 naming the part; no secret shown");
}

#[test]
fn a_progress_interval_below_100ms_is_refused() {
    let mut row = row(
        "Hostile input",
        "--progress-every 1ns (a typo that would log thousands of lines a second)",
        "exit 2 naming the flag or variable; 100ms is the floor",
    );
    for (args, env) in [
        (vec!["--progress-every", "1ns"], None),
        (vec!["--progress-every", "99ms"], None),
        (vec![], Some("1us")),
    ] {
        let mut cmd = readygate();
        cmd.arg("tcp://127.0.0.1:1").args(&args);
        if let Some(v) = env {
            cmd.env("READYGATE_PROGRESS_EVERY", v);
        }
        let ran = run(&mut cmd);
        let culprit = if env.is_some() {
            "READYGATE_PROGRESS_EVERY must be at least 100ms"
        } else {
            "--progress-every must be at least 100ms"
        };
        usage_error(&ran, &format!("{args:?} {env:?}"), culprit);
    }
    let ran = run(readygate().args([
        "tcp://127.0.0.1:1",
        "--progress-every",
        "100ms",
        "--timeout",
        "350ms",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let lines = ran.stderr.matches("still waiting").count();
    assert!((2..=4).contains(&lines), "{lines} progress lines in 350 ms");
    row.saw(format!(
        "1ns, 99ms and READYGATE_PROGRESS_EVERY=1us: exit 2; 100ms: {lines} lines in 350 ms"
    ));
}

#[test]
fn port_0_is_refused_for_every_kind() {
    let mut row = row(
        "Hostile input",
        "port 0 in a target (tcp, http, postgres, redis, clickhouse, postgres ?port=0, PGPORT=0)",
        "exit 2 at start instead of waiting on a port no server can listen on",
    );
    for target in [
        "tcp://db:0",
        "http://web:0/health",
        "postgres://u:pw@db:0/app",
        "redis://cache:0",
        "clickhouse://ch:0/default",
        "postgres://u:pw@db/app?port=0",
    ] {
        let ran = run(readygate().arg(target));
        usage_error(&ran, target, "port");
        assert!(ran.stderr.contains("target #1"), "{target}: {}", ran.stderr);
        assert!(!ran.stderr.contains(":pw@"), "{target}: {}", ran.stderr);
    }
    let ran = run(readygate().arg("postgres://u:pw@db/app").env("PGPORT", "0"));
    usage_error(&ran, "PGPORT=0", "PGPORT is 0");
    row.saw("6 of 6 forms and PGPORT=0: exit 2, \"port 0, where no server can listen\"");
}

#[test]
fn pem_paths_that_never_end_or_block_are_refused_at_once() {
    let mut row = row(
        "Hostile input",
        "a CA path that never ends (/dev/zero) or blocks (a FIFO), in --ca-file, sslrootcert= and REDIS_TLS_CA_PATH",
        "exit 2 within a second naming the flag, parameter or variable; memory stays bounded",
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ca.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo failed");
    let fifo = fifo.display().to_string();
    let huge = dir.path().join("huge.pem");
    std::fs::write(&huge, vec![b'a'; 5 * 1024 * 1024]).unwrap();
    let huge = huge.display().to_string();
    let langfuse = |ca: &str| {
        let mut cmd = langfuse_preset("http://web:3000");
        cmd.env("REDIS_CONNECTION_STRING", "rediss://:r@redis:6379")
            .env("REDIS_TLS_ENABLED", "true")
            .env("REDIS_TLS_CA_PATH", ca);
        cmd
    };
    let mut slowest = Duration::ZERO;
    for path in ["/dev/zero", fifo.as_str(), huge.as_str()] {
        let cases: Vec<(std::process::Command, &str)> = vec![
            (
                {
                    let mut cmd = readygate();
                    cmd.args(["https://web/", "--ca-file", path]);
                    cmd
                },
                "--ca-file",
            ),
            (
                {
                    let mut cmd = readygate();
                    cmd.arg(format!("postgres://u:p@db/x?sslrootcert={path}"));
                    cmd
                },
                "sslrootcert",
            ),
            (langfuse(path), "REDIS_TLS_CA_PATH"),
        ];
        for (mut cmd, culprit) in cases {
            let began = Instant::now();
            let ran = run(&mut cmd);
            slowest = slowest.max(began.elapsed());
            usage_error(&ran, &format!("{culprit} {path}"), culprit);
            let why = if path == huge {
                "larger than 4 MiB"
            } else {
                "not a regular file"
            };
            assert!(ran.stderr.contains(why), "{culprit} {path}: {}", ran.stderr);
        }
    }
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    row.saw(format!(
        "9 of 9: exit 2, \"not a regular file\" or \"larger than 4 MiB\"; slowest {} ms",
        slowest.as_millis()
    ));
}

#[test]
fn huge_paths_are_shortened_in_errors() {
    let mut row = row(
        "Hostile input",
        "a 120,000-character path in --ca-file and --prisma-migrations-dir, a 4,000-character one in sslrootcert= (targets stop at 4096)",
        "exit 2 with one line under 1 KiB",
    );
    let long = format!("/{}", "a".repeat(120_000));
    for (args, culprit) in [
        (
            vec!["https://web/".to_string(), "--ca-file".into(), long.clone()],
            "--ca-file",
        ),
        (
            vec![
                "postgres://u:p@db/x".to_string(),
                "--prisma-migrations-dir".into(),
                long.clone(),
            ],
            "--prisma-migrations-dir",
        ),
        (
            vec![format!(
                "postgres://u:p@db/x?sslrootcert=/{}",
                "b".repeat(4000)
            )],
            "sslrootcert",
        ),
    ] {
        let ran = run(readygate().args(&args));
        usage_error(&ran, culprit, culprit);
    }
    row.saw("3 of 3: exit 2, one line under 1 KiB");
}

#[test]
fn a_langfuse_web_url_with_a_query_or_fragment_is_refused() {
    let mut row = row(
        "Hostile input",
        "--langfuse-web with a ?query or #fragment (the health path would land inside it)",
        "exit 2 naming --langfuse-web",
    );
    for web in ["http://web:3000/?x=1", "http://web:3000#f"] {
        let ran = run(&mut langfuse_preset(web));
        usage_error(&ran, web, "--langfuse-web");
    }
    row.saw(
        "2 of 2: exit 2, \"--langfuse-web takes the web's base URL without a ?query or #fragment\"",
    );
}

#[test]
fn a_token_given_as_the_url_user_name_is_never_shown() {
    let mut row = row(
        "Secrets",
        "a token given as the URL's user name (https://TOKEN@api/health, sent as Basic auth)",
        "the token appears in no output: --print-config, logs, --once, the summary",
    );
    let token = "tok-4f9a1c7e2b";
    let web = HttpStub::start(503, "{}");
    let url = web
        .url("/health")
        .replacen("http://", &format!("http://{token}@"), 1);
    let print = run(readygate().args([&url, "--print-config"]));
    assert_eq!(print.code, Some(0), "{}", print.stderr);
    assert!(
        print.stdout.contains("http://***@127.0.0.1"),
        "{}",
        print.stdout
    );
    let once = run(readygate().args([&url, "--once"]));
    assert_eq!(once.code, Some(1), "{}", once.stderr);
    let wait = run(readygate().args([&url, "--timeout", "300ms", "--log-format", "json"]));
    assert_eq!(wait.code, Some(1), "{}", wait.stderr);
    for ran in [&print, &once, &wait] {
        assert!(!ran.all_output().contains(token), "{}", ran.all_output());
    }
    let heads = web.heads.lock().unwrap().join("\n").to_ascii_lowercase();
    assert!(heads.contains("authorization: basic"), "{heads}");
    row.saw("--print-config shows http://***@...; --once, text and JSON logs: no token");
}

#[test]
fn the_command_sees_no_readygate_variable_and_print_config_masks_its_secrets() {
    let mut row = row(
        "Secrets",
        "the exec'd command: READYGATE_* variables (header tokens among them) and secret arguments",
        "the command's environment holds no READYGATE_* variable; --print-config masks URL passwords and secret-looking NAME=value arguments",
    );
    let web = HttpStub::start(200, "{}");
    let ran = run(readygate()
        .arg(web.url("/health"))
        .env(
            "READYGATE_HTTP_HEADERS",
            "Authorization: Bearer hdr-secret-77",
        )
        .env("READYGATE_TIMEOUT", "5s")
        .env("KEEP_ME", "yes")
        .args(["-q", "--", "/usr/bin/env"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("KEEP_ME=yes"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("READYGATE_"), "{}", ran.stdout);
    let print = run(readygate().args([
        &web.url("/health"),
        "--print-config",
        "--",
        "psql",
        "postgres://u:arg-secret-55@db/x",
        "--password=arg-secret-66",
        "API_TOKEN=arg-secret-77",
        "DATABASE_URL=postgres://u:arg-secret-88@db/x",
        "--token",
        "arg-secret-99",
    ]));
    assert_eq!(print.code, Some(0), "{}", print.stderr);
    assert!(
        print
            .stdout
            .contains("then run: psql postgres://u:***@db/x --password=*** API_TOKEN=*** DATABASE_URL=postgres://u:***@db/x --token ***"),
        "{}",
        print.stdout
    );
    assert!(!print.stdout.contains("arg-secret"), "{}", print.stdout);
    row.saw("env: KEEP_ME passed, no READYGATE_*; --print-config: then run: psql postgres://u:***@db/x --password=*** API_TOKEN=***");
}

#[test]
fn a_secret_the_server_echoes_is_redacted_before_it_is_cut_short() {
    use crate::support::Sidecar;
    let mut row = row(
        "Secrets",
        "a 503 body or JSON value that echoes a header token across the 120-character cut, or with a tab inside",
        "no part of the token appears in text or JSON logs, the termination log or /readyz",
    );
    let token = "tok4c7e9b2d1f0a8e6c3b5d7f9a1c3e5b7d9f1a3c5e7b";
    let tabbed = "tab-Sec\tret-91f3e5a7c9";
    let cut = format!("{}{token}", "x".repeat(100));
    let tab_body = format!("{} {tabbed}", "y".repeat(50));
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for body in [
        cut.clone(),
        format!(r#"{{"echo":"{cut}"}}"#),
        tab_body.replace('\t', "\\t"),
    ] {
        let web = HttpStub::start(503, &body);
        let log = dir.path().join("termination.log");
        let headers = [format!("X-Token: {token}"), format!("X-Tabbed: {tabbed}")];
        let mut outputs = Vec::new();
        for format in ["text", "json"] {
            let ran = run(readygate()
                .arg(web.url("/health"))
                .args(["--http-header", &headers[0], "--http-header", &headers[1]])
                .args(["--http-json", "/echo=1", "--timeout", "400ms"])
                .args(["--log-format", format])
                .arg("--termination-log")
                .arg(&log));
            assert_eq!(ran.code, Some(1), "{}", ran.stderr);
            outputs.push(ran.all_output());
            outputs.push(std::fs::read_to_string(&log).unwrap_or_default());
        }
        let sidecar = Sidecar::start(readygate().arg(web.url("/health")).args([
            "--http-header",
            &headers[0],
            "--http-header",
            &headers[1],
        ]));
        crate::support::eventually(Duration::from_secs(5), "a failed check", || {
            sidecar.get("/readyz").1.contains("HTTP 503")
        });
        outputs.push(sidecar.get("/readyz").1);
        outputs.push(sidecar.get("/readyz?format=json").1);
        for out in &outputs {
            for part in [&token[..12], &token[30..], "tab-Sec", "ret-91f3e5a7c9"] {
                assert!(!out.contains(part), "{part} of a secret in: {out}");
            }
        }
        seen.push(outputs.len());
    }
    row.saw(format!(
        "3 bodies x {} outputs each (text, JSON, termination log, /readyz text and JSON): no fragment of either token",
        seen[0]
    ));
}

#[test]
fn a_sql_check_that_cannot_run_is_permanent() {
    use crate::support::Postgres;
    let mut row = row(
        "PostgreSQL",
        "a --sql with a syntax error (42601), a first column that is not a boolean, or an answer over 8 MiB (a million rows)",
        "a permanent failure: exit 3 at once with --fail-fast, and --once says it does not fix itself",
    );
    let pg = Postgres::start();
    for (sql, says) in [
        ("SELECT true FROM", "syntax error"),
        ("SELECT 42", "not a boolean"),
        (
            "SELECT true FROM generate_series(1, 1000000)",
            "answered with over 8 MiB of rows",
        ),
    ] {
        let began = Instant::now();
        let ran =
            run(readygate()
                .arg(pg.url())
                .args(["--sql", sql, "--fail-fast", "--timeout", "30s"]));
        let took = began.elapsed();
        assert_eq!(ran.code, Some(3), "{sql}: {}", ran.stderr);
        assert!(took < Duration::from_secs(5), "{sql}: {took:?}");
        assert!(ran.stderr.contains(says), "{sql}: {}", ran.stderr);
        let once = run(readygate().arg(pg.url()).args(["--sql", sql, "--once"]));
        assert_eq!(once.code, Some(1), "{sql}: {}", once.stderr);
        assert!(
            once.stderr.contains("does not fix itself"),
            "{sql}: {}",
            once.stderr
        );
        row.saw(format!(
            "{sql:?}: --fail-fast exit 3 after {} ms; --once: \"{says}\", \"does not fix itself\"",
            took.as_millis()
        ));
    }
}

#[test]
fn an_idle_session_timeout_does_not_make_the_sidecar_flap() {
    use crate::support::{Postgres, Sidecar};
    let mut row = row(
        "PostgreSQL",
        "a role with idle_session_timeout = 1s under the sidecar's kept connection (SQLSTATE 57P05)",
        "the sidecar reconnects and stays ready: /readyz never flaps",
    );
    let pg = Postgres::start();
    pg.admin("ALTER ROLE app SET idle_session_timeout = '1s'");
    let sidecar = Sidecar::start(readygate().arg(pg.url()).args(["--interval", "1500ms"]));
    crate::support::eventually(Duration::from_secs(10), "ready", || {
        sidecar.get("/readyz").0 == 200
    });
    let samples = readyz_never_flaps(&sidecar, Duration::from_secs(9), Duration::from_millis(100));
    row.saw(format!(
        "{samples} samples of /readyz over 9 s (6 idle timeouts): all 200, no \"no longer ready\""
    ));
}

#[test]
fn a_server_that_is_not_postgresql_is_named_as_such() {
    use crate::support::{Hostile, Misbehave};
    let mut row = row(
        "PostgreSQL",
        "the URL points at a server that is not PostgreSQL (an SSH banner, an HTTP answer)",
        "\"is not a PostgreSQL server\", not a certificate error; not permanent (no exit 3)",
    );
    for banner in [
        &b"SSH-2.0-OpenSSH_9.2\r\n"[..],
        &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"[..],
    ] {
        let server = Hostile::start(Misbehave::Banner(banner));
        let url = format!("postgres://u:p@127.0.0.1:{}/db", server.port);
        let ran = run(readygate().args([&url, "--fail-fast", "--timeout", "500ms"]));
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(
            ran.stderr.contains("is not a PostgreSQL server"),
            "{}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("certificate"), "{}", ran.stderr);
    }
    row.saw("SSH banner and HTTP 400: exit 1 at the deadline, \"is not a PostgreSQL server\"");
}

#[test]
fn a_postgresql_that_declares_a_huge_message_or_floods_is_cut_off() {
    use crate::support::{finish, peak_rss, spawn, Hostile, Misbehave};
    let mut row = row(
        "PostgreSQL",
        "a \"PostgreSQL\" that answers the startup with an E message declaring 0x7ffffff0 bytes (or 2, which makes sqlx panic) and streams, or sends notices without end",
        "cut off by the relay before sqlx reads it: not ready, peak RSS under 64 MiB, exit 1 by the deadline, no abort",
    );
    let mut seen = Vec::new();
    for (label, how, sslmode, says) in [
        (
            "declares 0x7ffffff0",
            Misbehave::Flood(b"NE\x7f\xff\xff\xf0"),
            "prefer",
            "2147483632 bytes long",
        ),
        (
            "declares 0x7ffffff0, sslmode=disable",
            Misbehave::Flood(b"E\x7f\xff\xff\xf0"),
            "disable",
            "2147483632 bytes long",
        ),
        (
            "declares 2",
            Misbehave::Flood(b"NE\x00\x00\x00\x02"),
            "prefer",
            "says is 2 bytes long",
        ),
        (
            "endless notices",
            Misbehave::Repeat(b"N", b"N\x00\x00\x00\x0dSNOTICE\x00\x00"),
            "prefer",
            "sent over 8 MiB without being asked",
        ),
    ] {
        let server = Hostile::start(how);
        let url = format!(
            "postgres://u:p@127.0.0.1:{}/db?sslmode={sslmode}",
            server.port
        );
        let started = Instant::now();
        let gate = spawn(readygate().args([&url, "--timeout", "2s"]));
        std::thread::sleep(Duration::from_millis(1500));
        let peak = peak_rss(gate.id());
        let ran = finish(gate);
        assert_eq!(ran.code, Some(1), "{label}: {}", ran.stderr);
        assert!(ran.stderr.contains(says), "{label}: {}", ran.stderr);
        assert!(
            started.elapsed() < Duration::from_millis(3000),
            "{label}: {:?}",
            started.elapsed()
        );
        assert!(peak < 64 * 1024, "{label}: peak RSS {peak} KiB");
        assert!(server.accepted() >= 1, "{label}");
        seen.push(format!(
            "{label}: exit 1 in {:.1} s, peak RSS {} MiB",
            ran.elapsed.as_secs_f64(),
            peak / 1024
        ));
    }
    row.saw(format!("{} (debug build)", seen.join("; ")));
}

#[test]
fn a_postgresql_that_lies_inside_tls_is_cut_off_too() {
    use crate::support::{finish, peak_rss, spawn, Certs, FakePostgresTls};
    let mut row = row(
        "PostgreSQL",
        "a \"PostgreSQL\" that shakes hands over TLS, then sends a header declaring 0xFFFFFFFF bytes (sqlx zeroed a buffer that size: 4 GiB)",
        "the gate does TLS itself, so the relay reads the header and cuts it off: peak RSS under 64 MiB, exit 1 by the deadline; verify-full still verifies, require with sslrootcert verifies the chain (libpq), a client certificate refused after the handshake is a TLS failure",
    );
    let certs = Certs::generate();
    let server = FakePostgresTls::start(&certs, "huge-header");
    let ca = certs.dir.path().join("ca.pem");
    let other = certs.dir.path().join("other-ca.pem");
    let mut seen = Vec::new();
    for query in [
        "sslmode=require".to_string(),
        format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    ] {
        let url = format!("postgres://u:p@127.0.0.1:{}/db?{query}", server.port);
        let started = Instant::now();
        let gate = spawn(readygate().args([&url, "--timeout", "2s"]));
        std::thread::sleep(Duration::from_millis(1500));
        let peak = peak_rss(gate.id());
        let ran = finish(gate);
        let took = started.elapsed();
        assert_eq!(ran.code, Some(1), "{query}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("4294967295 bytes long"),
            "{query}: {}",
            ran.stderr
        );
        assert!(took < Duration::from_millis(2800), "{query}: {took:?}");
        assert!(peak < 64 * 1024, "{query}: peak RSS {peak} KiB");
        seen.push(format!(
            "{}: exit 1 after {} ms, peak RSS {} MiB",
            query.split('&').next().unwrap(),
            took.as_millis(),
            peak / 1024
        ));
    }
    let url = format!(
        "postgres://u:p@127.0.0.1:{}/db?sslmode=verify-full&sslrootcert={}",
        server.port,
        other.display()
    );
    let ran = run(readygate().args([&url, "--fail-fast", "--timeout", "5s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS failed"), "{}", ran.stderr);
    // libpq: require with a root certificate verifies the chain.
    let url = format!(
        "postgres://u:p@127.0.0.1:{}/db?sslmode=require&sslrootcert={}",
        server.port,
        other.display()
    );
    let ran = run(readygate().args([&url, "--fail-fast", "--timeout", "5s"]));
    assert_eq!(
        ran.code,
        Some(3),
        "require with sslrootcert: {}",
        ran.stderr
    );
    assert!(ran.stderr.contains("TLS failed"), "{}", ran.stderr);
    // TLS 1.3: the server's refusal of a missing client certificate comes
    // after the handshake; it is a TLS failure, not a server starting up.
    let picky = FakePostgresTls::start(&certs, "wants-client-cert");
    let url = format!("postgres://u:p@127.0.0.1:{}/db?sslmode=require", picky.port);
    let ran = run(readygate().args([&url, "--fail-fast", "--timeout", "5s"]));
    assert_eq!(ran.code, Some(3), "client certificate: {}", ran.stderr);
    assert!(
        ran.stderr.contains("ended the TLS session"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("client certificate"), "{}", ran.stderr);
    row.saw(format!("{}; another CA (verify-full, and require with sslrootcert, as libpq): exit 3, \"TLS failed\"; a client certificate refused after a TLS 1.3 handshake: exit 3, \"ended the TLS session\" (debug build)", seen.join("; ")));
}

#[test]
fn a_server_that_makes_the_driver_panic_fails_the_attempt_not_the_gate() {
    use crate::support::{Certs, FakePostgresTls, Hostile, Misbehave};
    let mut row = row(
        "Hostile input",
        "PostgreSQL and MySQL messages with bodies too short for their type (an Authentication of length 4, MD5 without its salt, in plain and inside TLS; a 1-byte MySQL ERR packet), which make sqlx panic",
        "that attempt fails with one line saying the server sent what the client library cannot read; the gate does not abort, a sidecar keeps serving /livez",
    );
    let certs = Certs::generate();
    let tls = FakePostgresTls::start(&certs, "short-auth");
    let servers = [
        Hostile::start(Misbehave::Banner(b"NR\x00\x00\x00\x04")),
        Hostile::start(Misbehave::Banner(b"R\x00\x00\x00\x04")),
        Hostile::start(Misbehave::Banner(b"NR\x00\x00\x00\x08\x00\x00\x00\x05")),
        Hostile::start(Misbehave::Banner(b"\x01\x00\x00\x00\xff")),
    ];
    let urls = [
        format!("postgres://u:p@127.0.0.1:{}/db", servers[0].port),
        format!(
            "postgres://u:p@127.0.0.1:{}/db?sslmode=disable",
            servers[1].port
        ),
        format!("postgres://u:p@127.0.0.1:{}/db", servers[2].port),
        format!("mysql://u:p@127.0.0.1:{}/db", servers[3].port),
        format!("postgres://u:p@127.0.0.1:{}/db?sslmode=require", tls.port),
    ];
    for url in &urls {
        let ran = run(readygate().args([url, "--once"]));
        assert_eq!(ran.code, Some(1), "{url}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("could not read what the server sent"),
            "{url}: {}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("panicked"), "{url}: {}", ran.stderr);
        assert_eq!(ran.stderr.lines().count(), 1, "{url}: {}", ran.stderr);
    }
    // A sidecar checks again and again: it must not die on the first.
    let port = crate::support::free_port();
    let mut gate = crate::support::spawn(readygate().args([
        &urls[0],
        "--serve",
        &format!("127.0.0.1:{port}"),
        "--interval",
        "100ms",
    ]));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(gate.try_wait().unwrap().is_none(), "the sidecar exited");
    let live = ureq::get(&format!("http://127.0.0.1:{port}/livez")).call();
    assert!(
        live.is_ok_and(|r| r.status() == 200),
        "/livez did not answer 200"
    );
    let _ = gate.kill();
    let _ = gate.wait();
    row.saw("5 servers (PostgreSQL plain, sslmode=disable, MD5 without salt, inside TLS; MySQL): exit 1, one line each, no panic; a sidecar alive after 1.5 s of them, /livez 200");
}

#[test]
fn a_server_that_floods_notices_does_not_flood_the_log() {
    use crate::support::{Hostile, Misbehave};
    let mut row = row(
        "PostgreSQL",
        "a \"PostgreSQL\" that logs the gate in and then sends NoticeResponse messages without end (severity NOTICE, and ERROR), which sqlx logs one line each",
        "the library's own lines are not shown by default (nor with -q): a few lines, not 100 MB/s",
    );
    let mut seen = Vec::new();
    for (label, notice) in [
        ("NOTICE", &b"N\x00\x00\x00\x0dSNOTICE\x00\x00"[..]),
        ("ERROR", &b"N\x00\x00\x00\x0cSERROR\x00\x00"[..]),
    ] {
        let server = Hostile::start(Misbehave::Repeat(
            b"NR\x00\x00\x00\x08\x00\x00\x00\x00",
            notice,
        ));
        let url = format!("postgres://u:p@127.0.0.1:{}/db", server.port);
        for quiet in [false, true] {
            let mut cmd = readygate();
            cmd.args([&url, "--timeout", "2s"]);
            if quiet {
                cmd.arg("-q");
            }
            let ran = run(&mut cmd);
            assert_eq!(ran.code, Some(1), "{label}: {}", ran.stderr);
            assert!(
                ran.stderr.len() < 4096,
                "{label} quiet={quiet}: {} bytes of stderr",
                ran.stderr.len()
            );
            assert!(
                !ran.stderr.contains("NOTICE\"") && !ran.stderr.contains("SNOTICE"),
                "{}",
                ran.stderr
            );
            seen.push(format!(
                "{label}{}: {} bytes",
                if quiet { " -q" } else { "" },
                ran.stderr.len()
            ));
        }
    }
    row.saw(format!("2 s of notices: stderr {}", seen.join(", ")));
}

#[test]
fn a_password_split_by_a_space_in_readygate_targets_is_not_echoed() {
    let mut row = row(
        "Secrets",
        "READYGATE_TARGETS holding a password with a space (?password=correct horse-battery-staple), split in two",
        "exit 2 naming READYGATE_TARGETS #N and how to write a space; no half of the password shown",
    );
    for (targets, culprit) in [
        (
            "postgres://u@db/x?password=correct horse-battery-staple",
            "READYGATE_TARGETS #2",
        ),
        (
            "postgres://u:correct horse-battery-staple@db/x",
            "READYGATE_TARGETS #1",
        ),
        // The second half shaped like host:port is not echoed either.
        (
            "postgres://u@db/x?password=correct horse:1234",
            "READYGATE_TARGETS #2",
        ),
    ] {
        let ran = run(readygate().env("READYGATE_TARGETS", targets));
        usage_error(&ran, targets, culprit);
        assert!(ran.stderr.contains("%20"), "{}", ran.stderr);
        for half in ["correct", "horse-battery-staple", "horse", "1234"] {
            assert!(!ran.stderr.contains(half), "{half}: {}", ran.stderr);
        }
    }
    row.saw("2 of 2: exit 2, \"READYGATE_TARGETS #2 is not a URL ... write it as %20\", no part of the password");
}

#[test]
fn sql_checks_leave_nothing_behind() {
    use crate::support::{eventually, finish, spawn, Postgres, ADMIN_PASSWORD};
    let mut row = row(
        "PostgreSQL",
        "a \"read-only\" --sql with effects: lo_from_bytea, VACUUM FULL, PREPARE TRANSACTION, holding Prisma's advisory lock, running as a superuser",
        "nothing survives an attempt: the transaction is rolled back, session locks let go, superuser connections refused unless --sql-as-superuser",
    );
    let pg = Postgres::start();
    pg.as_app("CREATE TABLE t (x int); INSERT INTO t VALUES (1)");
    let ran = run(readygate().arg(pg.url()).args([
        "--sql",
        "SELECT lo_from_bytea(0, 'x') > 0",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        pg.admin("SELECT count(*) FROM pg_largeobject_metadata"),
        "0"
    );
    let before = pg.admin("SELECT pg_relation_filenode('t')");
    // Not queries: refused before anything runs.
    for statement in ["VACUUM FULL t", "PREPARE TRANSACTION 'x'", "COMMIT"] {
        let ran = run(readygate()
            .arg(pg.url())
            .args(["--sql", statement, "--timeout", "500ms"]));
        assert_eq!(ran.code, Some(2), "{statement}: {}", ran.stderr);
        assert!(ran.stderr.contains("is not a query"), "{}", ran.stderr);
    }
    assert_eq!(
        pg.admin("SELECT pg_relation_filenode('t')"),
        before,
        "t was rewritten"
    );
    // Prisma migrates under pg_advisory_lock(72707369): the gate must not hold it.
    let gate = spawn(readygate().arg(pg.url()).args([
        "--sql",
        "SELECT pg_try_advisory_lock(72707369) AND false",
        "--timeout",
        "3s",
    ]));
    eventually(Duration::from_secs(10), "the gate to connect", || {
        pg.gate_connections() == "1"
    });
    let mut held = 0;
    for _ in 0..10 {
        let n: u32 = pg
            .admin("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369")
            .parse()
            .unwrap();
        held += n;
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = finish(gate);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert_eq!(held, 0, "the advisory lock was held between attempts");
    // A superuser could write files (COPY ... TO), which no transaction undoes.
    let superuser = format!(
        "postgres://postgres:{ADMIN_PASSWORD}@127.0.0.1:{}/app",
        pg.port
    );
    let ran = run(readygate().arg(&superuser).args([
        "--sql",
        "SELECT true",
        "--fail-fast",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("a superuser or a role that can write server files"),
        "{}",
        ran.stderr
    );
    let ran = run(readygate().arg(&superuser).args([
        "--sql",
        "SELECT true",
        "--sql-as-superuser",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("lo_from_bytea: ready, 0 large objects; VACUUM FULL, PREPARE TRANSACTION, COMMIT: exit 2 (not a query), table not rewritten; advisory lock held in 0 of 10 samples; superuser: exit 3; --sql-as-superuser: exit 0");
}

#[test]
fn a_kept_alive_connection_closed_by_the_server_is_not_a_failure() {
    use crate::support::{Hostile, Misbehave, Sidecar};
    let mut row = row(
        "HTTP",
        "the server closes each idle keep-alive connection just as the sidecar reuses it",
        "the request is sent once more on a new connection: /readyz never flaps",
    );
    let server = Hostile::start(Misbehave::ClosesKeptConnection);
    let url = format!("http://127.0.0.1:{}/health", server.port);
    let sidecar = Sidecar::start(readygate().args([&url, "--interval", "200ms"]));
    crate::support::eventually(Duration::from_secs(5), "ready", || {
        sidecar.get("/readyz").0 == 200
    });
    let samples = readyz_never_flaps(&sidecar, Duration::from_secs(3), Duration::from_millis(50));
    let connections = server.accepted();
    assert!(
        connections >= 10,
        "only {connections} connections: was the connection reused?"
    );
    row.saw(format!(
        "{samples} samples of /readyz over 3 s, all 200; {connections} connections (one closed under each reuse)"
    ));
}

#[test]
fn a_clickhouse_that_floods_its_answer_is_cut_off() {
    use crate::support::{finish, peak_rss, spawn, Hostile, Misbehave};
    let mut row = row(
        "ClickHouse",
        "a \"ClickHouse\" that answers a query with a 50 MiB body",
        "the answer is cut off at 1 MiB: not ready, memory stays small",
    );
    let server = Hostile::start(Misbehave::Huge);
    let url = format!("clickhouse://u:p@127.0.0.1:{}/default", server.port);
    let gate = spawn(readygate().args([&url, "--timeout", "2s"]));
    std::thread::sleep(Duration::from_millis(1500));
    let peak = peak_rss(gate.id());
    let ran = finish(gate);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("more than 1 MiB"), "{}", ran.stderr);
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
    row.saw(format!(
        "exit 1, \"answered with more than 1 MiB\", peak RSS {} MiB (debug build)",
        peak / 1024
    ));
}

#[test]
fn a_flood_of_connections_cannot_grow_the_sidecar() {
    use std::io::Write;
    use std::net::TcpStream;

    use crate::support::{peak_rss, Sidecar};
    let mut row = row(
        "Sidecar",
        "300 connections sending 400 KB of headers, then 2,000 slowloris connections",
        "at most 128 connections served at once and 16 KiB of head each: peak RSS under 32 MiB (the examples' limit); /readyz answers again once the flood ends",
    );
    let web = HttpStub::start(200, "{}");
    let sidecar = Sidecar::start(readygate().arg(web.url("/health")));
    crate::support::eventually(Duration::from_secs(5), "ready", || {
        sidecar.get("/readyz").0 == 200
    });
    let addr = ("127.0.0.1", sidecar.port);
    let header = format!("X-Flood: {}\r\n", "a".repeat(1000));
    let mut big = Vec::new();
    for _ in 0..300 {
        let Ok(mut conn) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = conn.set_write_timeout(Some(Duration::from_millis(200)));
        let _ = conn.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n");
        for _ in 0..400 {
            if conn.write_all(header.as_bytes()).is_err() {
                break;
            }
        }
        big.push(conn);
    }
    let mut slow = Vec::new();
    for _ in 0..2000 {
        if let Ok(mut conn) = TcpStream::connect(addr) {
            let _ = conn.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            slow.push(conn);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let peak = peak_rss(sidecar.child.id());
    drop(big);
    drop(slow);
    crate::support::eventually(Duration::from_secs(10), "/readyz after the flood", || {
        sidecar.get("/readyz").0 == 200
    });
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
    row.saw(format!(
        "peak RSS {} MiB (debug build); /readyz 200 again after the flood",
        peak / 1024
    ));
}

#[test]
fn libpq_socket_forms_are_understood() {
    use crate::support::{Postgres, APP_PASSWORD};
    let mut row = row(
        "PostgreSQL",
        "libpq's Unix-socket URL forms: postgres://u:p@/db?host=/dir and postgres://u:p@%2Fdir/db",
        "accepted as libpq reads them, and ready through the socket",
    );
    let pg = Postgres::start();
    pg.as_app("CREATE TABLE t (x int)");
    let dir = pg.socket_dir();
    let encoded = dir.replace('/', "%2F");
    for url in [
        format!(
            "postgres://app:{APP_PASSWORD}@/app?host={dir}&port={}",
            pg.port
        ),
        format!(
            "postgresql://app:{APP_PASSWORD}@{encoded}/app?port={}",
            pg.port
        ),
    ] {
        let ran = run(readygate().args([&url, "--table", "t", "--timeout", "10s"]));
        assert_eq!(ran.code, Some(0), "{url}: {}", ran.stderr);
        assert!(
            !ran.all_output().contains(APP_PASSWORD),
            "{}",
            ran.all_output()
        );
    }
    row.saw("both forms: exit 0 through the socket; the password shown as ***");
}

#[test]
fn a_termination_log_that_is_not_a_file_does_not_hang_the_exit() {
    let mut row = row(
        "Hostile input",
        "--termination-log naming a FIFO nobody reads (or a directory)",
        "the gate warns and exits at its deadline instead of blocking for ever",
    );
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("log.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in [fifo.display().to_string(), dir.path().display().to_string()] {
        let began = Instant::now();
        let ran = run(readygate()
            .args(["tcp://127.0.0.1:1", "--timeout", "300ms"])
            .args(["--termination-log", &path]));
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        assert!(
            began.elapsed() < Duration::from_secs(3),
            "{:?}",
            began.elapsed()
        );
        assert!(ran.stderr.contains("not a regular file"), "{}", ran.stderr);
    }
    row.saw("FIFO and directory: exit 1 at the deadline with a warning");
}

#[test]
fn libpq_certificate_variables_are_checked_like_url_parameters() {
    let mut row = row(
        "Hostile input",
        "PGSSLROOTCERT, PGSSLCERT or PGSSLKEY naming /dev/zero (the driver reads them itself, at every connect)",
        "exit 2 at start naming the variable",
    );
    for var in ["PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY"] {
        let ran = run(readygate().arg("postgres://u:p@db/x").env(var, "/dev/zero"));
        usage_error(&ran, var, var);
    }
    row.saw("3 of 3: exit 2, \"not a regular file\"");
}

#[test]
fn a_body_cut_at_1_mib_or_echoing_a_basic_header_shows_no_secret() {
    use base64::Engine as _;
    let mut row = row(
        "Secrets",
        "a 503 body whose 1 MiB cut falls inside a token, and a body echoing the decoded form of a Basic header",
        "no fragment of either secret in the output",
    );
    let token = "tok3n-ABCdef-0123456789-zyxw";
    let cut = format!("{}{token}", " ".repeat(1024 * 1024 - 10));
    let web = HttpStub::start(503, &cut);
    let ran = run(readygate().arg(web.url("/health")).args([
        "--http-header",
        &format!("Authorization: Bearer {token}"),
        "--once",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        !ran.all_output().contains(&token[..6]),
        "{}",
        ran.all_output()
    );
    let pair = "carol:S3cretBasicPw!";
    let basic = base64::engine::general_purpose::STANDARD.encode(pair);
    let web = HttpStub::start(503, &format!("who: {pair}"));
    let ran = run(readygate().arg(web.url("/health")).args([
        "--http-header",
        &format!("Authorization: Basic {basic}"),
        "--once",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        !ran.all_output().contains("S3cretBasicPw"),
        "{}",
        ran.all_output()
    );
    row.saw(
        "--once output: no fragment of the token at the cut, nor of the decoded Basic password",
    );
}

#[test]
fn connections_that_never_read_cannot_keep_the_probe_out() {
    use std::io::Write;
    use std::net::TcpStream;

    use crate::support::{peak_rss, Sidecar};
    let mut row = row(
        "Sidecar",
        "200 connections that pipeline 2,000 requests each and never read an answer, held open",
        "the oldest connection makes room for a new one: /readyz keeps answering the probe; memory stays bounded",
    );
    let web = HttpStub::start(200, "{}");
    let sidecar = Sidecar::start(readygate().arg(web.url("/health")));
    crate::support::eventually(Duration::from_secs(5), "ready", || {
        sidecar.get("/readyz").0 == 200
    });
    let requests = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
    let mut held = Vec::new();
    for _ in 0..200 {
        let Ok(mut conn) = TcpStream::connect(("127.0.0.1", sidecar.port)) else {
            continue;
        };
        let _ = conn.set_write_timeout(Some(Duration::from_millis(50)));
        let _ = conn.write_all(requests.as_bytes());
        held.push(conn);
    }
    let mut answered = 0;
    for _ in 0..30 {
        if sidecar.get("/readyz").0 == 200 {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let peak = peak_rss(sidecar.child.id());
    drop(held);
    assert!(
        answered >= 28,
        "/readyz answered {answered} of 30 probes during the flood"
    );
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
    row.saw(format!(
        "/readyz answered {answered} of 30 probes while 200 stalled connections were held; peak RSS {} MiB (debug build)",
        peak / 1024
    ));
}

#[test]
fn a_redis_that_declares_a_huge_reply_is_cut_off() {
    use crate::support::{finish, peak_rss, spawn, Hostile, Misbehave};
    let mut row = row(
        "Redis",
        "a \"Redis\" that answers $4000000000 and then streams bytes",
        "refused before anything is allocated: not ready, memory stays small, the deadline holds",
    );
    let server = Hostile::start(Misbehave::Flood(b"$4000000000\r\n"));
    let url = format!("redis://:p@127.0.0.1:{}", server.port);
    let gate = spawn(readygate().args([&url, "--timeout", "2s"]));
    std::thread::sleep(Duration::from_millis(1500));
    let peak = peak_rss(gate.id());
    let ran = finish(gate);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("larger than 1 MiB"), "{}", ran.stderr);
    assert!(ran.elapsed < Duration::from_secs(4), "{:?}", ran.elapsed);
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
    row.saw(format!(
        "exit 1 in {:.1} s, \"sent a reply larger than 1 MiB\", peak RSS {} MiB (debug build)",
        ran.elapsed.as_secs_f64(),
        peak / 1024
    ));
}

#[test]
fn langfuse_redis_settings_that_break_the_worker_are_refused_without_echoing_them() {
    let mut row = row(
        "Hostile input",
        "--preset langfuse-worker: REDIS_CONNECTION_STRING with the chart's unencoded password holding ? or a stray %, with scheme http://, REDIS_PORT not a number, or LANGFUSE_S3_EVENT_UPLOAD_BUCKET holding / @ : or capitals",
        "exit 2, one line naming the variable, no part of the password shown",
    );
    for (var, value, password, culprit) in [
        (
            "REDIS_CONNECTION_STRING",
            "redis://default:1234?HiddenPart@redis:6379/0",
            "1234?HiddenPart",
            "REDIS_PASSWORD",
        ),
        (
            "REDIS_CONNECTION_STRING",
            "redis://default:50%Hidden@redis:6379/0",
            "50%Hidden",
            "REDIS_PASSWORD",
        ),
        (
            "REDIS_CONNECTION_STRING",
            "http://redis:6379",
            "unused-Pw",
            "REDIS_CONNECTION_STRING",
        ),
    ] {
        let ran = run(langfuse_preset("http://web:3000")
            .env("REDIS_PASSWORD", password)
            .env(var, value));
        usage_error(&ran, value, culprit);
        assert!(!ran.stderr.contains("Hidden"), "{}", ran.stderr);
    }
    let ran = run(langfuse_preset("http://web:3000")
        .env_remove("REDIS_CONNECTION_STRING")
        .env("REDIS_HOST", "redis")
        .env("REDIS_PORT", "63 79"));
    usage_error(&ran, "REDIS_PORT=63 79", "REDIS_PORT");
    for bucket in ["langfuse/sub", "ak:pw@langfuse", "Langfuse"] {
        let ran =
            run(langfuse_preset("http://web:3000").env("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", bucket));
        usage_error(&ran, bucket, "LANGFUSE_S3_EVENT_UPLOAD_BUCKET");
    }
    row.saw("exit 2 naming REDIS_PASSWORD / REDIS_CONNECTION_STRING / REDIS_PORT / LANGFUSE_S3_EVENT_UPLOAD_BUCKET; the password never shown");
}

#[test]
fn langfuse_print_config_shows_warnings_tls_and_the_pooler() {
    let mut row = row(
        "Langfuse",
        "--print-config with DATABASE_PORT, DATABASE_URL through PgBouncer (pgbouncer=true) beside DIRECT_URL, and Redis over TLS with a client certificate and REDIS_TLS_CHECK_SERVER_IDENTITY=false",
        "the warnings are printed; the login through PgBouncer is checked; the TLS settings are described",
    );
    let certs = crate::support::Certs::generate();
    let ran = run(langfuse_preset("http://web:3000")
        .arg("--print-config")
        .env(
            "DATABASE_URL",
            "postgresql://u:p@pooler:6432/lf?pgbouncer=true",
        )
        .env("DIRECT_URL", "postgresql://u:p@db:5432/lf")
        .env("DATABASE_PORT", "5433")
        .env("REDIS_CONNECTION_STRING", "redis://default:pw@redis:6379/0")
        .env("REDIS_TLS_ENABLED", "true")
        .env("REDIS_TLS_CA_PATH", certs.path("ca.pem"))
        .env("REDIS_TLS_CERT_PATH", certs.path("client-v1.pem"))
        .env("REDIS_TLS_KEY_PATH", certs.path("client.key"))
        .env("REDIS_TLS_CHECK_SERVER_IDENTITY", "false"));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let out = &ran.stdout;
    assert!(
        out.contains("warning: DATABASE_PORT=5433 is set, but Langfuse never reads it"),
        "{out}"
    );
    assert!(
        out.contains("warning: REDIS_TLS_CHECK_SERVER_IDENTITY=false"),
        "{out}"
    );
    assert!(out.contains("postgresql://u:***@pooler:6432/lf [preset langfuse-worker]\n    ready when: login works, not in recovery (through PgBouncer)"), "{out}");
    assert!(out.contains("over TLS trusting the CA in REDIS_TLS_CA_PATH, presenting the client certificate in REDIS_TLS_CERT_PATH: chain verified, name NOT checked"), "{out}");
    let ran = run(langfuse_preset("http://web:3000")
        .arg("--print-config")
        .env(
            "DATABASE_URL",
            "postgresql://u:p@pooler:6432/lf?pgbouncer=true",
        )
        .env(
            "LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT",
            "https://x.supabase.co/storage/v1/s3",
        ));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout
            .contains("Prisma migrations complete (through PgBouncer)"),
        "{}",
        ran.stdout
    );
    // Without FORCE_PATH_STYLE the SDK puts the bucket in the host name,
    // and keeps the endpoint's path.
    assert!(
        ran.stdout
            .contains("at https://langfuse.x.supabase.co/storage/v1/s3 (virtual-hosted style)"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("Region is missing"), "{}", ran.stdout);
    row.saw("warnings, \"(through PgBouncer)\" and the TLS settings printed; an X.509 v1 client certificate accepted");
}

#[test]
fn url_credentials_and_an_authorization_header_are_not_both_taken() {
    let mut row = row(
        "Hostile input",
        "an http:// target with user:password@ and --http-header \"Authorization: Bearer ...\"",
        "exit 2 naming --http-header: the URL's Basic credentials would silently replace the header",
    );
    let ran = run(readygate().args([
        "http://u:url-Pw-1@web:3000/health",
        "--http-header",
        "Authorization: Bearer tok-Secret-2",
    ]));
    usage_error(&ran, "URL login and Authorization header", "--http-header");
    assert!(
        !ran.stderr.contains("url-Pw-1") && !ran.stderr.contains("tok-Secret-2"),
        "{}",
        ran.stderr
    );
    row.saw("exit 2 naming --http-header, neither secret shown");
}

#[test]
fn a_sidecar_connection_cannot_be_held_for_ever() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use crate::support::Sidecar;
    let mut row = row(
        "Sidecar",
        "a client that sends one request, then keeps the connection open and idle",
        "the sidecar closes it after at most 10 s (probes and scrapes take milliseconds)",
    );
    let web = HttpStub::start(200, "{}");
    let sidecar = Sidecar::start(readygate().arg(web.url("/health")));
    let mut conn = TcpStream::connect(("127.0.0.1", sidecar.port)).unwrap();
    conn.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let held = started.elapsed();
    assert!(
        String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"),
        "{seen:?}"
    );
    assert!(held < Duration::from_secs(12), "held {held:?}");
    row.saw(format!(
        "answered, then closed after {:.1} s",
        held.as_secs_f64()
    ));
}

//! MySQL / MariaDB targets against a real MariaDB server (Debian's
//! mariadb-server): tables, read-only `--sql`, one kept connection, a full
//! server, TLS, permanent failures and bad input.

use std::time::{Duration, Instant};

use crate::support::{
    eventually, finish, free_port, readygate, run, spawn, usage_error, Certs, Hostile, Misbehave,
    MySql, Sidecar, MYSQL_APP_PASSWORD,
};

#[test]
fn a_table_that_appears_is_seen_on_one_kept_connection() {
    let mut row = crate::record::row(
        "MySQL",
        "the required table is created 1.5 s after the gate starts",
        "one connection held while waiting; ready within a second of the table appearing",
    );
    let db = MySql::start();
    let gate = spawn(readygate().args([&db.url(), "--table", "users", "--timeout", "30s"]));
    eventually(Duration::from_secs(10), "the gate to connect", || {
        db.app_connections() == 1
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        db.app_connections(),
        1,
        "one kept connection, not one per attempt"
    );
    db.admin("CREATE TABLE app.users (id INT PRIMARY KEY)");
    let created = Instant::now();
    let ran = finish(gate);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        created.elapsed() < Duration::from_secs(2),
        "{:?}",
        created.elapsed()
    );
    assert!(!ran.all_output().contains(MYSQL_APP_PASSWORD));
    // The name is exact: another case is another table.
    let ran = run(readygate().args(["--once", &db.url(), "--table", "Users"]));
    assert!(
        ran.stderr.contains(r#"table "Users" does not exist"#),
        "{}",
        ran.stderr
    );
    // mariadb:// is the same kind; a schema-qualified name looks there.
    let other = db.url().replace("mysql://", "mariadb://");
    let ran = run(readygate().args(["--once", &other, "--table", "app.users"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // Over the server's Unix socket.
    let socket = format!(
        "mysql://app:{MYSQL_APP_PASSWORD}@localhost/app?socket={}",
        db.socket().display()
    );
    let ran = run(readygate().args(["--once", &socket, "--table", "users"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw(
        "1 connection while waiting; exit 0 within 2 s of CREATE TABLE; 'Users' is not 'users'",
    );
}

#[test]
fn sql_checks_cannot_write() {
    let mut row = crate::record::row(
        "MySQL",
        "--sql that would write: a second statement, a function that inserts, INTO OUTFILE, GET_LOCK, a user variable assigned (:=) that would count attempts",
        "nothing is written; the check fails (or is refused at start, exit 2) and says why",
    );
    let db = MySql::start();
    db.admin("CREATE TABLE app.users (id INT); INSERT INTO app.users VALUES (1)");
    db.admin("DELIMITER //\nCREATE FUNCTION app.sneaky() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO app.users VALUES (2); RETURN 1; END //\nDELIMITER ;");
    let url = db.url();
    let check = |sql: &str| run(readygate().args(["--once", &url, "--sql", sql]));
    assert_eq!(check("SELECT COUNT(*) > 0 FROM users").code, Some(0));
    let ran = check("SELECT COUNT(*) > 5 FROM users");
    assert!(
        ran.stderr.contains("--sql returned false"),
        "{}",
        ran.stderr
    );
    let ran = check("SELECT 1; DELETE FROM users");
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("error in your SQL syntax"),
        "{}",
        ran.stderr
    );
    let ran = check("SELECT sneaky() = 1");
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("read-only"), "{}", ran.stderr);
    assert_eq!(
        db.admin("SELECT COUNT(*) FROM app.users"),
        "1",
        "nothing was written"
    );
    let ran = check("SELECT name FROM users");
    assert!(ran.stderr.contains("Unknown column"), "{}", ran.stderr);
    let ran = run(readygate().args(["--once", &url, "--sql", "SELECT FROM users", "--fail-fast"]));
    assert_eq!(
        ran.code,
        Some(3),
        "a syntax error does not fix itself: {}",
        ran.stderr
    );
    // A column a migration may still add is waited for, not fatal.
    let ran = run(readygate().args([
        "--once",
        &url,
        "--sql",
        "SELECT nope FROM users",
        "--fail-fast",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    for (sql, culprit) in [
        ("SELECT 1 INTO OUTFILE '/tmp/readygate-x'", "INTO"),
        ("SELECT 1 /*! INTO @x */", "executable comment"),
        ("SELECT GET_LOCK('m', 1)", "GET_LOCK"),
        ("SELECT (@n := COALESCE(@n, 0) + 1) > 3", "user variable"),
        ("DELETE FROM users", "is not a query"),
    ] {
        usage_error(&check(sql), sql, culprit);
    }
    assert_eq!(db.admin("SELECT COUNT(*) FROM app.users"), "1");
    row.saw("a second statement is a syntax error; the inserting function fails read-only; INTO, /*! */, GET_LOCK, := and DELETE exit 2; the table keeps its 1 row");
}

#[test]
fn a_full_server_is_left_room() {
    let mut row = crate::record::row(
        "MySQL",
        "the server is at max_connections (10 held of 10), then has room",
        "'too many connections' said and backed off from; ready once there is room; no connection kept while the server is nearly full",
    );
    let db = MySql::start_with(10);
    db.admin("CREATE TABLE app.users (id INT)");
    let held = db.hold_connections(10);
    let ran = run(readygate().args(["--once", &db.url()]));
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("Too many connections"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("backing off"), "{}", ran.stderr);
    db.release(held);
    // Nearly full: 8 of 10 held, so 1 free once the gate is in: it hangs up
    // after each attempt rather than keep a slot the app may need.
    let held = db.hold_connections(8);
    let gate = spawn(readygate().args([&db.url(), "--table", "later", "--timeout", "4s"]));
    std::thread::sleep(Duration::from_millis(1500));
    let samples: Vec<usize> = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            db.app_connections()
        })
        .collect();
    let ran = finish(gate);
    assert_eq!(ran.code, Some(1));
    assert!(
        samples.iter().filter(|&&n| n == 0).count() >= 7,
        "connections kept on a nearly full server: {samples:?}"
    );
    db.release(held);
    row.saw("'Too many connections ... backing off'; on a nearly full server the gate held no connection in most samples");
}

#[test]
fn tls_is_verified_and_failures_are_permanent() {
    let mut row = crate::record::row(
        "MySQL",
        "TLS: the right CA, another CA, a server without TLS, and a wrong password",
        "ready with the right CA; TLS and login failures exit 3 at once with --fail-fast; the password never printed",
    );
    let certs = Certs::generate();
    let db = MySql::start_tls(&certs);
    let base = db.url();
    let with = |query: &str| format!("{base}?{query}");
    let ca = certs.path("ca.pem");
    let ran = run(readygate().args([
        "--once",
        &with(&format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}")),
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let other = certs.path("other-ca.pem");
    let ran = run(readygate().args([
        &with(&format!("ssl-mode=VERIFY_CA&ssl-ca={other}")),
        "--fail-fast",
        "--timeout",
        "10s",
    ]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS failed"), "{}", ran.stderr);
    let wrong = base.replace(MYSQL_APP_PASSWORD, "not-the-Pw-9f8e");
    let ran = run(readygate().args([&wrong, "--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(r#"login as "app" rejected"#),
        "{}",
        ran.stderr
    );
    assert!(!ran.all_output().contains("not-the-Pw-9f8e"));
    let plain = MySql::start();
    let ran = run(readygate().args(["--once", &format!("{}?ssl-mode=REQUIRED", plain.url())]));
    assert!(
        ran.stderr
            .contains("TLS failed: server does not support TLS"),
        "{}",
        ran.stderr
    );
    row.saw("ready with the right CA; another CA and a wrong password exit 3 at once; a server without TLS named");
}

#[test]
fn a_sidecar_survives_a_killed_connection_and_a_read_only_server() {
    let mut row = crate::record::row(
        "MySQL",
        "the sidecar's kept connection is killed (KILL), then the server is made read-only",
        "a killed connection is replaced without a failed check; read-only is not ready, with the reason",
    );
    let db = MySql::start();
    db.admin("CREATE TABLE app.users (id INT)");
    let sc =
        Sidecar::start(readygate().args([&db.url(), "--table", "users", "--interval", "200ms"]));
    eventually(Duration::from_secs(10), "ready", || {
        sc.get("/readyz").0 == 200
    });
    let id = db.admin("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'app'");
    db.admin(&format!("KILL {id}"));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!sc.log().contains("no longer ready"), "{}", sc.log());
    assert_eq!(db.app_connections(), 1);
    db.admin("SET GLOBAL read_only = 1");
    eventually(Duration::from_secs(10), "not ready", || {
        sc.get("/readyz").0 == 503
    });
    assert!(
        sc.get("/readyz").1.contains("read-only"),
        "{}",
        sc.get("/readyz").1
    );
    row.saw("no 'no longer ready' after KILL, one connection again; read-only made /readyz 503 with the reason");
}

#[test]
fn bad_mysql_input_is_one_line() {
    let port = free_port();
    let url = format!("mysql://app:{MYSQL_APP_PASSWORD}@127.0.0.1:{port}/app");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("{url}?sslmode=verify-full")], "ssl-mode"),
        (
            vec![format!("{url}?ssl_ca=/tmp/ca.pem")],
            "unknown parameter",
        ),
        (vec![format!("{url}?ssl-ca=/dev/zero")], "ssl-ca"),
        (vec![format!("{url}?socket=mysqld.sock")], "absolute path"),
        (
            vec![
                format!("mysql://app:{MYSQL_APP_PASSWORD}@127.0.0.1:{port}"),
                "--table".into(),
                "users".into(),
            ],
            "names no database",
        ),
        (
            vec![url.clone(), "--prisma-migrations".into()],
            "--prisma-migrations",
        ),
        (
            vec![
                url.clone(),
                "--sql-as-superuser".into(),
                "--sql".into(),
                "SELECT 1".into(),
            ],
            "--sql-as-superuser",
        ),
        (vec!["mysql:///app".into()], "needs a host"),
        (vec![format!("{url}?charset=nonsense")], "charset="),
        (
            vec![format!("{url}?ssl-mode=DISABLED&ssl-mode=REQUIRED")],
            "twice",
        ),
    ];
    for (args, culprit) in cases {
        let ran = run(readygate().args(&args).arg("--once"));
        usage_error(&ran, &format!("{args:?}"), culprit);
        assert!(!ran.stderr.contains(MYSQL_APP_PASSWORD), "{}", ran.stderr);
    }
}

/// Hostile "MySQL" servers: one that answers with a 840 KB error message,
/// one that accepts and closes at once (a proxy with no backend).
#[test]
fn hostile_mysql_servers_get_short_lines_and_no_hammering() {
    let mut row = crate::record::row(
        "MySQL",
        "a server whose error message is 840 KB; a server that accepts and closes every connection",
        "one short line (the message cut at a word); an accept-and-close is retried on the gentle schedule, not every 80 ms",
    );
    // An error packet (0xFF, 1045, '#28000', message) as the greeting.
    let message = "access denied ".repeat(60_000);
    let mut payload = vec![0xFF, 0x15, 0x04];
    payload.extend_from_slice(b"#28000");
    payload.extend_from_slice(message.as_bytes());
    let len = payload.len() as u32;
    let mut packet = len.to_le_bytes()[..3].to_vec();
    packet.push(0);
    packet.extend_from_slice(&payload);
    let wordy = Hostile::start(Misbehave::Banner(Box::leak(packet.into_boxed_slice())));
    let url = format!(
        "mysql://app:{MYSQL_APP_PASSWORD}@127.0.0.1:{}/app",
        wordy.port
    );
    let ran = run(readygate().args(["--once", &url]));
    assert_eq!(ran.code, Some(1), "{:.300}", ran.stderr);
    assert!(
        ran.stderr.len() < 2048,
        "{} bytes: {:.300}",
        ran.stderr.len(),
        ran.stderr
    );
    assert!(
        ran.stderr.contains("access denied (cut)"),
        "{:.300}",
        ran.stderr
    );
    // Accepts and closes: each try cost an accept, so they slow down.
    let closes = Hostile::start(Misbehave::CloseAtOnce);
    let url = format!(
        "mysql://app:{MYSQL_APP_PASSWORD}@127.0.0.1:{}/app",
        closes.port
    );
    let ran = run(readygate().args([&url, "--timeout", "6s"]));
    assert_eq!(ran.code, Some(1));
    let accepted = closes.accepted();
    assert!(
        (25..=50).contains(&accepted),
        "{accepted} connections in 6 s"
    );
    row.saw(format!(
        "a {}-byte line ending in '(cut)'; {accepted} accepts in 6 s (80 ms would be 75)",
        ran.stderr.len()
    ));
}

/// A "MySQL" that streams one endless packet (continuations of 0xFFFFFF
/// bytes): the driver would join them without a limit.
#[test]
fn an_endless_packet_is_cut_off() {
    use crate::support::peak_rss;
    let mut row = crate::record::row(
        "MySQL",
        "a \"MySQL\" whose greeting is an endless packet (0xFFFFFF-byte continuations, streamed)",
        "cut off at its first header, which declares 16 MiB (a packet may have 1 MiB): not ready, peak RSS under 64 MiB, the deadline holds",
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                // Packets of 0xFFFFFF bytes, each saying "more follows".
                let chunk = vec![0u8; 0xFF_FFFF / 15];
                for seq in 0u8.. {
                    if conn.write_all(&[0xff, 0xff, 0xff, seq]).is_err() {
                        return;
                    }
                    for _ in 0..15 {
                        if conn.write_all(&chunk).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    let url = format!("mysql://app:{MYSQL_APP_PASSWORD}@127.0.0.1:{port}/app");
    let gate = spawn(readygate().args([&url, "--timeout", "3s"]));
    std::thread::sleep(Duration::from_millis(2500));
    let peak = peak_rss(gate.id());
    let ran = finish(gate);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("sent a packet it says is 16777215 bytes long"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.elapsed < Duration::from_millis(3300),
        "{:?}",
        ran.elapsed
    );
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");
    row.saw(format!(
        "exit 1 in {:.1} s, \"sent a packet it says is 16777215 bytes long\", peak RSS {} MiB (debug build)",
        ran.elapsed.as_secs_f64(),
        peak / 1024
    ));
}

/// A "MySQL" without TLS that asks for full caching_sha2_password
/// authentication: the driver would fetch the server's RSA key and send the
/// password encrypted to it, which whoever strips TLS could read.
#[test]
fn a_plain_login_never_sends_the_password_to_a_servers_key() {
    use std::io::{Read, Write};
    let mut row = crate::record::row(
        "MySQL",
        "a server without TLS asks for caching_sha2_password's full authentication (a man in the middle that stripped TLS)",
        "the request for the server's RSA key is never sent: not ready, a permanent TLS failure (exit 3 with --fail-fast), the password never leaves",
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let packet = |seq: u8, payload: &[u8]| {
            let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
            p.push(seq);
            p.extend_from_slice(payload);
            p
        };
        let mut greeting = vec![0x0a];
        greeting.extend_from_slice(b"8.0.36\0");
        greeting.extend_from_slice(&7u32.to_le_bytes());
        greeting.extend_from_slice(b"abcdefgh\0");
        let caps: u32 = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x80000;
        greeting.extend_from_slice(&(caps as u16).to_le_bytes());
        greeting.push(45);
        greeting.extend_from_slice(&2u16.to_le_bytes());
        greeting.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
        greeting.push(21);
        greeting.extend_from_slice(&[0; 10]);
        greeting.extend_from_slice(b"ijklmnopqrst\0");
        greeting.extend_from_slice(b"caching_sha2_password\0");
        conn.write_all(&packet(0, &greeting)).unwrap();
        // The handshake response, then "perform full authentication".
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap_or(0);
        got.extend_from_slice(&buf[..n]);
        conn.write_all(&packet(2, &[0x01, 0x04])).unwrap();
        while let Ok(n) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    let url = format!("mysql://app:{MYSQL_APP_PASSWORD}@127.0.0.1:{port}/app");
    let ran = run(readygate().args([&url, "--fail-fast", "--timeout", "10s"]));
    let got = seen.join().unwrap();
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("without TLS; refused"),
        "{}",
        ran.stderr
    );
    // After the handshake response: nothing, least of all [0x02] (sequence 3).
    assert!(
        !got.windows(5).any(|w| w == [1, 0, 0, 3, 2]),
        "the key was requested"
    );
    assert!(!String::from_utf8_lossy(&got).contains(MYSQL_APP_PASSWORD));
    row.saw("exit 3, 'asked for the password encrypted to its own RSA key over a connection without TLS; refused'; the server received no key request");
}

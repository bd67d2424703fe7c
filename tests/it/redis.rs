//! The Redis probe against real redis-server instances.

use std::time::Duration;

use crate::support::{finish, free_port, readygate, run, spawn, Certs, Redis};

#[test]
fn ping_with_and_without_a_password() {
    let mut row = crate::record::row(
        "Redis",
        "wrong password, with --fail-fast",
        "exit 3 at once naming the login failure, never the password",
    );
    let open = Redis::start(None);
    let ran = run(readygate().args([
        &format!("redis://127.0.0.1:{}/0", open.port),
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let locked = Redis::start(Some("redis-Pw-9a7c"));
    let ran = run(readygate().args([
        &format!("redis://:redis-Pw-9a7c@127.0.0.1:{}/2", locked.port),
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let wrong = format!("redis://:not-it-Pw-0000@127.0.0.1:{}", locked.port);
    let ran = run(readygate().args([&wrong, "--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Redis rejected the login"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("not-it-Pw-0000"), "{}", ran.stderr);
    let ran = run(readygate().args([&wrong, "--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);

    let none = format!("redis://127.0.0.1:{}", locked.port);
    let ran = run(readygate().args([&none, "--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("REDIS_AUTH"), "{}", ran.stderr);
    row.saw("exit 3, \"Redis rejected the login\"");
}

#[test]
fn waits_for_redis_to_come_up() {
    let mut row = crate::record::row(
        "Redis",
        "down when the gate starts, started later",
        "keeps trying, ready once PING answers",
    );
    let port = free_port();
    let child = spawn(readygate().args([&format!("redis://127.0.0.1:{port}"), "--timeout", "20s"]));
    std::thread::sleep(Duration::from_millis(700));
    let _redis = Redis::start_on(port);
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("exit 0 once redis-server was up");
}

#[test]
fn rediss_needs_the_ca() {
    let certs = Certs::generate();
    let redis = Redis::start_tls(&certs, Some("tls-Pw-31b0"));
    let url = format!("rediss://:tls-Pw-31b0@localhost:{}", redis.port);
    let ran = run(readygate().args([&url, "--ca-file", &certs.path("ca.pem"), "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args([
        &url,
        "--ca-file",
        &certs.path("other-ca.pem"),
        "--timeout",
        "3s",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS"), "{}", ran.stderr);
}

#[test]
fn a_server_loading_its_dataset_is_not_ready_until_it_is_done() {
    let mut row = crate::record::row(
        "Redis",
        "server still loading its dataset (LOADING)",
        "not ready: loading; ready once loaded",
    );
    let redis = Redis::start_loading();
    let ran = run(readygate()
        .args([
            &format!("redis://127.0.0.1:{}", redis.port),
            "--timeout",
            "60s",
            "--log-format",
            "json",
        ])
        .env("READYGATE_LOG", "readygate=debug"));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("Redis is loading its dataset into memory"),
        "never saw LOADING: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(r#""class":"starting""#),
        "{}",
        ran.stderr
    );
    row.saw("not ready while LOADING, exit 0 after");
}

#[test]
fn rediss_with_insecure_skips_verification_as_it_says() {
    let mut row = crate::record::row(
        "Hostile input",
        "rediss:// with --insecure, or with #insecure in the URL, and a certificate no CA given vouches for",
        "--insecure means it for every TLS kind: ready (with the warning); without it, a TLS failure",
    );
    let certs = Certs::generate();
    let redis = Redis::start_tls(&certs, Some("tls-Pw-31b0"));
    let url = format!("rediss://:tls-Pw-31b0@localhost:{}", redis.port);
    let ran = run(readygate().args([&url, "--insecure", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("NOT verified"), "{}", ran.stderr);
    let ran = run(readygate().args([&format!("{url}/#insecure"), "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args([&url, "--timeout", "2s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS"), "{}", ran.stderr);
    row.saw(
        "--insecure: exit 0 with the warning; #insecure: exit 0; neither: exit 1, a TLS failure",
    );
}

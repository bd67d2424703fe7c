//! The HTTP and TCP probes against real servers.

use std::time::Duration;

use crate::support::{finish, free_port, readygate, run, spawn, HttpStub};

#[test]
fn status_json_body_and_headers_are_checked() {
    let web = HttpStub::start(
        200,
        r#"{"status":"OK","version":"3.225.4","db":{"ok":true}}"#,
    );
    let url = web.url("/api/public/health");
    let ok = run(readygate().arg(&url).args([
        "--http-json",
        "/status=OK",
        "--http-json",
        "/version=3.225.4",
        "--http-json",
        "/db/ok=true",
        "--http-body",
        "\"version\"",
        "--http-header",
        "X-Probe: readygate-test",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert!(
        web.heads
            .lock()
            .unwrap()
            .iter()
            .any(|h| h.contains("x-probe: readygate-test")),
        "header not sent"
    );

    let cases: &[(&[&str], &str)] = &[
        (
            &["--http-json", "/version=3.1.0"],
            r#"JSON /version is "3.225.4", want "3.1.0""#,
        ),
        (&["--http-json", "/missing=1"], "JSON /missing is missing"),
        (&["--http-body", "nope"], r#"body does not contain "nope""#),
        (&["--http-status", "204"], "HTTP 200 OK, want 204"),
    ];
    for (args, expected) in cases {
        let ran = run(readygate()
            .arg(&url)
            .args(*args)
            .args(["--timeout", "300ms"]));
        assert_eq!(ran.code, Some(1), "{args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains(expected),
            "{args:?}: want {expected:?} in {}",
            ran.stderr
        );
    }
}

#[test]
fn an_endpoint_that_turns_healthy_is_seen_quickly() {
    let web = HttpStub::start(503, r#"{"status":"starting"}"#);
    let url = web.url("/health");
    let child = spawn(readygate().arg(&url).args(["--timeout", "10s"]));
    std::thread::sleep(Duration::from_millis(700));
    web.set(200, r#"{"status":"OK"}"#);
    let flipped = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        flipped.elapsed() < Duration::from_millis(400),
        "{:?}",
        flipped.elapsed()
    );
    // 80 ms polling in the first seconds, not a hammering loop.
    let hits = web.hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!((5..=14).contains(&hits), "{hits} requests in ~0.8 s");
}

#[test]
fn a_503_is_explained_with_its_body() {
    let web = HttpStub::start(503, r#"{"status":"migrating"}"#);
    let ran = run(readygate().arg(web.url("/")).args(["--timeout", "300ms"]));
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains(
            r#"HTTP 503 Service Unavailable, want 200-299 (body: {"status":"migrating"})"#
        ),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("check its logs"), "{}", ran.stderr);
}

#[test]
fn a_huge_body_is_capped() {
    let web = HttpStub::start(200, &"x".repeat(3 * 1024 * 1024));
    let ran = run(readygate()
        .arg(web.url("/"))
        .args(["--http-body", "needle", "--timeout", "1s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("in its first 1 MiB"), "{}", ran.stderr);
}

#[test]
fn tcp_targets_wait_for_a_port_to_open() {
    let port = free_port();
    let child = spawn(
        readygate()
            .arg(format!("tcp://127.0.0.1:{port}"))
            .args(["--timeout", "10s"]),
    );
    std::thread::sleep(Duration::from_millis(500));
    let _listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate()
        .arg(format!("tcp://127.0.0.1:{}", free_port()))
        .args(["--timeout", "300ms"]));
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("connection refused"), "{}", ran.stderr);
}

#[test]
fn unresolvable_hosts_say_so() {
    let ran = run(readygate().args(["tcp://no-such-host.invalid:5432", "--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1));
    assert!(ran.stderr.contains("does not resolve"), "{}", ran.stderr);
}

#[test]
fn once_prints_one_line_per_target() {
    let web = HttpStub::start(200, "{}");
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let ran = run(readygate().arg(web.url("/")).arg(&closed).arg("--once"));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ran.stderr);
    assert!(lines[0].contains("ready: http://127.0.0.1"), "{}", lines[0]);
    assert!(
        lines[1].contains(&format!("not ready: {closed}")),
        "{}",
        lines[1]
    );
    let ran = run(readygate().arg(web.url("/")).arg("--once"));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
}

/// `http://user:pass@host/` sends Basic authentication (percent-decoded),
/// and neither the password nor its Basic form appears in the output.
#[test]
fn url_credentials_are_sent_as_basic_authentication() {
    let web = HttpStub::start(200, "{}");
    let url = web
        .url("/health")
        .replacen("http://", "http://ad%40min:s3cret%2Fpw@", 1);
    let ran = run(readygate().args([&url, "--once"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // base64("ad@min:s3cret/pw")
    let basic = "authorization: basic ywrabwluonmzy3jldc9wdw==";
    let heads = web.heads.lock().unwrap().join("\n").to_ascii_lowercase();
    assert!(heads.contains(basic), "no Basic credentials sent: {heads}");
    let all = ran.all_output();
    for secret in ["s3cret", "YWRAbWluOnMzY3JldC9wdw=="] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
}

#[test]
fn once_with_json_logs_is_one_object_per_target() {
    let web = HttpStub::start(200, "ok");
    let closed = format!("tcp://127.0.0.1:{}", free_port());
    let ran = run(readygate().args(["--once", "--log-format", "json", &web.url("/h"), &closed]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let lines: Vec<serde_json::Value> = ran
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{}", ran.stderr);
    let ready = lines
        .iter()
        .find(|l| l["ready"] == true)
        .expect("a ready object");
    assert_eq!(ready["target_url"], web.url("/h"));
    let down = lines
        .iter()
        .find(|l| l["ready"] == false)
        .expect("a not-ready object");
    assert_eq!(down["target_url"], closed);
    assert_eq!(down["class"], "refused");
    assert_eq!(down["permanent"], false);
    assert!(
        down["reason"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{down}"
    );
    assert!(!down["hint"].as_str().unwrap().is_empty(), "{down}");
}

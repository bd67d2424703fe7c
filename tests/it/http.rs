//! The HTTP and TCP probes against real servers.

use std::time::Duration;

use crate::support::{finish, free_port, readygate, run, spawn, usage_error, HttpStub};

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
fn methods_bodies_response_headers_and_patterns() {
    let mut row = crate::record::row(
        "HTTP",
        "POST with a body, HEAD, a response header and a body pattern, flags and per-target fragments",
        "sends what is asked; ready only when the header and pattern match; a fragment's settings apply to its target alone",
    );
    let web = HttpStub::start(200, r#"{"status": "OK", "version": "3.225.4"}"#);
    web.add_header("X-Ready", "yes");
    web.add_header("Set-Cookie", "session=hunter2hunter2");
    let url = web.url("/graphql");
    let once = |args: &[&str]| run(readygate().args(["--once", &url]).args(args));
    // POST with a JSON body: typed as JSON, sent as given.
    let ran = once(&["--http-send-body", r#"{"query":"{ health }"}"#]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let head = web.heads.lock().unwrap().last().cloned().unwrap();
    assert!(head.starts_with("POST /graphql "), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.ends_with(r#"{"query":"{ health }"}"#), "{head}");
    // A Content-Type from --http-header wins.
    let ran = once(&[
        "--http-send-body",
        "ping",
        "--http-header",
        "Content-Type: application/x-ping",
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let head = web.heads.lock().unwrap().last().cloned().unwrap();
    assert!(
        head.contains("content-type: application/x-ping") && !head.contains("text/plain"),
        "{head}"
    );
    let ran = once(&["--http-method", "head"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(web
        .heads
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .starts_with("HEAD /graphql "));
    // Response headers and body patterns.
    assert_eq!(
        once(&["--http-expect-header", "X-Ready: yes"]).code,
        Some(0)
    );
    assert_eq!(
        once(&["--http-expect-header", "content-type: application/*"]).code,
        Some(0)
    );
    let ran = once(&["--http-expect-header", "X-Ready: no"]);
    assert!(
        ran.stderr.contains(r#"header x-ready is "yes", want "no""#),
        "{}",
        ran.stderr
    );
    let ran = once(&["--http-expect-header", "X-Migrated"]);
    assert!(
        ran.stderr.contains("the response has no x-migrated header"),
        "{}",
        ran.stderr
    );
    let ran = once(&[
        "--http-expect-header",
        "Set-Cookie: session=expected-Tok-4a1",
    ]);
    assert_eq!(ran.code, Some(1));
    assert!(!ran.stderr.contains("expected-Tok-4a1"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("hunter2") && ran.stderr.contains("values not shown"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        once(&["--http-body-regex", r#""version":\s*"3\.\d+"#]).code,
        Some(0)
    );
    let ran = once(&["--http-body-regex", r#""status":\s*"(DOWN|FAIL)""#]);
    assert!(ran.stderr.contains("body does not match"), "{}", ran.stderr);

    // Per target: the flags say 200-299 and "OK"; the maintenance page's
    // fragment says 503 and its own text, for it alone.
    let down = HttpStub::start(503, r#"{"status":"maintenance"}"#);
    let ran = run(readygate().args([
        "--once",
        &url,
        &format!("{}#status=503&body=maintenance&method=GET", down.url("/")),
        "--http-body",
        "OK",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(readygate().args(["--once", &down.url("/"), "--http-body", "OK"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let ran = run(readygate().args([
        "--print-config",
        &format!("{}#method=HEAD&expect-header=X-Ready:yes", web.url("/h")),
    ]));
    assert!(
        ran.stdout
            .contains("HEAD; status 200-299; header x-ready: \"yes\""),
        "{}",
        ran.stdout
    );
    // Bodies and credential headers' expected values are never shown, from
    // flags or fragments, in the target's name or its description.
    let secret_url = format!(
        "{}#send-body=body-Tok-77c1&expect-header=Authorization:%20Bearer%20frag-Tok-19ad",
        web.url("/s")
    );
    let flags = [
        "--http-expect-header",
        "X-Api-Key: flag-Tok-52be",
        "--http-send-body",
        "flagbody-Tok-0c3",
    ];
    for args in [
        vec!["--print-config", &secret_url],
        vec!["--once", &secret_url],
        [&["--print-config", &url][..], &flags[..]].concat(),
        [&["--once", &url][..], &flags[..]].concat(),
    ] {
        let ran = run(readygate().args(&args).env("READYGATE_LOG", "trace"));
        for secret in [
            "body-Tok-77c1",
            "frag-Tok-19ad",
            "flag-Tok-52be",
            "flagbody-Tok-0c3",
        ] {
            assert!(
                !ran.all_output().contains(secret),
                "{args:?} shows {secret}: {}",
                ran.all_output()
            );
        }
    }

    // Bad input: exit 2, one line naming the flag or the target.
    let tcp = format!("tcp://127.0.0.1:{}", free_port());
    let bad: &[(&[&str], &str)] = &[
        (&[&url, "--http-method", "PUT"], "--http-method"),
        (
            &[&url, "--http-method", "GET", "--http-send-body", "x"],
            "--http-method",
        ),
        (&[&url, "--http-method", "HEAD", "--http-body", "x"], "HEAD"),
        (&[&url, "--http-body-regex", "("], "--http-body-regex"),
        (&[&url, "--http-body-regex", "[01]*1[01]{40}"], "too large"),
        (
            &[&url, "--http-expect-header", "Bad Name: x"],
            "--http-expect-header",
        ),
        (&[&tcp, "--http-method", "HEAD"], "--http-method"),
        (&[&format!("{url}#methd=GET")], "unknown fragment setting"),
        (&[&format!("{url}#method=HEAD&json=/a=1")], "HEAD"),
        (&[&format!("{url}#status=2xx")], "#status="),
        (&[&format!("{url}#body=")], "empty #body="),
        (
            &[&url, "--http-header", "Content-Length: 5"],
            "frames the request",
        ),
        (
            &[&url, "--http-header", "Transfer-Encoding: chunked"],
            "frames the request",
        ),
    ];
    for (args, culprit) in bad {
        let ran = run(readygate().args(*args).args(["--timeout", "1s"]));
        usage_error(&ran, &format!("{args:?}"), culprit);
    }
    row.saw("POST typed by its form, HEAD sent; mismatched header, pattern and a cookie (not shown) explained; fragments override the flags per target; 10 bad inputs exit 2");
}

/// Past the first seconds, a refused connect stays at 80 ms (it costs the
/// other side nothing) while an endpoint that answers 503 is asked more and
/// more gently. Both gates run side by side for 6 s.
#[test]
fn refused_connects_stay_fast_while_answers_slow_down() {
    let web = HttpStub::start(503, r#"{"status":"starting"}"#);
    let closed = format!("http://127.0.0.1:{}/health", free_port());
    let gate = |url: &str| {
        spawn(
            readygate()
                .arg(url)
                .args(["--timeout", "6s"])
                .env("READYGATE_LOG", "readygate=debug"),
        )
    };
    let (answered, refused) = (gate(&web.url("/health")), gate(&closed));
    let (answered, refused) = (finish(answered), finish(refused));
    assert_eq!((answered.code, refused.code), (Some(1), Some(1)));
    let tries = refused.stderr.matches(" not ready: ").count();
    assert!(
        refused.stderr.contains("connection refused"),
        "{}",
        refused.stderr
    );
    // 6 s at 80 ms is 75 tries; the gentle schedule makes about 44.
    assert!(
        (62..=80).contains(&tries),
        "{tries} refused connects in 6 s"
    );
    let hits = web.hits.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (30..=50).contains(&hits),
        "{hits} requests answered 503 in 6 s"
    );
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

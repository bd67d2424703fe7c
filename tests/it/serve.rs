//! Sidecar mode (`--serve`) against real servers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value};

use crate::support::{eventually, readygate, run, HttpStub, Postgres, Sidecar};

/// Polls until `path` answers `status`; returns how long that took.
fn until_status(sc: &Sidecar, path: &str, status: u16, limit: Duration) -> Duration {
    let start = Instant::now();
    eventually(limit, &format!("{path} to answer {status}"), || {
        sc.get(path).0 == status
    });
    start.elapsed()
}

#[test]
fn readyz_follows_targets_down_and_up_while_startupz_stays_latched() {
    let mut row = crate::record::row(
        "Sidecar",
        "a target goes down and comes back while serving",
        "/readyz follows (503, then 200); /startupz stays latched",
    );
    let pg = Postgres::start();
    let web = HttpStub::start(200, r#"{"status":"OK"}"#);
    let secret_url = format!("{}?password=Qp-Secret-8841", web.url("/health"));
    let sc = Sidecar::start(readygate().args([
        &pg.url(),
        &secret_url,
        "--interval",
        "500ms",
        "--table",
        "users",
    ]));
    assert_eq!(
        sc.get("/startupz").0,
        503,
        "not started before the table exists"
    );
    pg.as_app("CREATE TABLE users (id int)");
    until_status(&sc, "/readyz", 200, Duration::from_secs(5));
    assert_eq!(sc.get("/startupz").0, 200);

    web.set(503, r#"{"status":"degraded"}"#);
    let took = until_status(&sc, "/readyz", 503, Duration::from_secs(3));
    assert!(
        took <= Duration::from_millis(1000),
        "503 after {took:?}, more than two intervals"
    );
    let (_, body) = sc.get("/readyz");
    assert!(
        body.contains("not-ready since") && body.contains("HTTP 503"),
        "{body}"
    );
    let (_, json) = sc.request("GET", "/readyz", &[("Accept", "application/json")]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["ready"], false);
    assert_eq!(doc["targets"][1]["class"], "response");
    assert_eq!(sc.get("/startupz").0, 200, "startup stays latched");

    web.set(200, r#"{"status":"OK"}"#);
    let took = until_status(&sc, "/readyz", 200, Duration::from_secs(3));
    assert!(took <= Duration::from_millis(1000), "200 after {took:?}");
    assert_eq!(sc.get("/livez").0, 200);
    assert_eq!(sc.get("/elsewhere").0, 404);
    assert_eq!(sc.request("POST", "/readyz", &[]).0, 405);

    // The gate keeps one idle connection to PostgreSQL, not one per check.
    let conns = pg.gate_connections();
    assert_eq!(conns, "1");

    let everything = format!(
        "{}{}{}{}",
        sc.get("/readyz").1,
        json,
        sc.get("/metrics").1,
        sc.log()
    );
    for secret in ["Qp-Secret-8841", crate::support::APP_PASSWORD] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    row.saw("503 then 200; /startupz stays 200");
}

#[test]
fn metrics_parse_with_the_prometheus_parser() {
    let web = HttpStub::start(503, "{}");
    let sc = Sidecar::start(readygate().args([&web.url("/h"), "--interval", "200ms"]));
    let failed = |m: &str| {
        m.lines()
            .any(|l| l.contains(r#"reason="response""#) && !l.ends_with(" 0"))
    };
    eventually(Duration::from_secs(5), "a failed check", || {
        failed(&sc.get("/metrics").1)
    });
    let (status, text) = sc.get("/metrics");
    assert_eq!(status, 200);
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses");
    // The parser skips a line it cannot read: every sample line must be in it.
    let sample_lines = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    let parsed: usize = scrape
        .samples
        .iter()
        .map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.len(),
            Value::Summary(quantiles) => quantiles.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(parsed, sample_lines, "lines the parser skipped:\n{text}");
    let samples = |name: &str| -> Vec<&Sample> {
        let found: Vec<&Sample> = scrape.samples.iter().filter(|s| s.metric == name).collect();
        assert!(!found.is_empty(), "no {name} in\n{text}");
        found
    };
    let value = |s: &Sample| match s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        _ => panic!("{} is not a single value: {s:?}", s.metric),
    };
    let ready = samples("readygate_target_ready")[0];
    assert!(
        value(ready) == 0.0 && ready.labels.get("kind") == Some("http"),
        "{ready:?}"
    );
    assert_eq!(value(samples("readygate_ready")[0]), 0.0);
    let failures: HashMap<&str, f64> = samples("readygate_check_failures_total")
        .into_iter()
        .map(|s| (s.labels.get("reason").expect("a reason label"), value(s)))
        .collect();
    assert!(
        failures["response"] >= 1.0 && failures["auth"] == 0.0 && failures.len() == 16,
        "{failures:?}"
    );
    assert!(value(samples("readygate_check_duration_seconds_count")[0]) >= 1.0);
    // The histogram's buckets, grouped by the parser under the family's name.
    let inf_bucket = samples("readygate_check_duration_seconds")
        .iter()
        .any(|s| matches!(&s.value, Value::Histogram(b) if b.iter().any(|b| b.less_than == f64::INFINITY)));
    assert!(inf_bucket, "no +Inf bucket in\n{text}");
    assert_eq!(value(samples("readygate_build_info")[0]), 1.0);
}

#[test]
fn sigterm_stops_the_sidecar_promptly_with_0() {
    let web = HttpStub::start(200, "{}");
    let mut sc = Sidecar::start(readygate().arg(web.url("/")));
    until_status(&sc, "/readyz", 200, Duration::from_secs(5));
    let sent = Instant::now();
    let ok = std::process::Command::new("kill")
        .args(["-s", "TERM", &sc.child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = sc.child.wait().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_refuses_what_a_sidecar_cannot_do() {
    for (args, culprit) in [
        (
            &["tcp://a:1", "--serve", "127.0.0.1:0", "--", "worker"][..],
            "--serve",
        ),
        (
            &["tcp://a:1", "--serve", "127.0.0.1:0", "--once"],
            "--serve",
        ),
        (
            &["tcp://a:1", "--serve", "127.0.0.1:0", "--timeout", "1m"],
            "--serve",
        ),
        (&["tcp://a:1", "--serve", "localhost"], "--serve"),
        (
            &["tcp://a:1", "--serve", "127.0.0.1:0", "--fail-fast"],
            "--fail-fast",
        ),
        (
            &[
                "tcp://a:1",
                "--serve",
                "127.0.0.1:0",
                "--progress-every",
                "5s",
            ],
            "--progress-every",
        ),
        (
            &["tcp://a:1", "tcp://a:1", "--serve", "127.0.0.1:0"],
            "twice",
        ),
    ] {
        let ran = run(readygate().args(args));
        assert_eq!(ran.code, Some(2), "{args:?}: {}", ran.stderr);
        assert!(
            ran.stderr.starts_with("readygate: error: ") && ran.stderr.contains(culprit),
            "{}",
            ran.stderr
        );
    }
}

#[test]
fn a_sidecar_told_not_here_serves_ready_instead_of_exiting() {
    // A native sidecar that exits is restarted for ever; it must stay up.
    let sc = Sidecar::start(
        readygate()
            .args(["tcp://127.0.0.1:1", "--only-if", "COMPONENT=worker"])
            .env("COMPONENT", "web"),
    );
    assert_eq!(sc.get("/startupz").0, 200);
    assert_eq!(sc.get("/readyz").0, 200);
    let disabled = Sidecar::start(
        readygate()
            .arg("tcp://127.0.0.1:1")
            .env("READYGATE_DISABLED", "true"),
    );
    assert_eq!(disabled.get("/startupz").0, 200);
    assert!(sc.log().contains("not waiting here"), "{}", sc.log());
}

#[test]
fn a_postgres_restart_is_seen_and_recovered_from() {
    let mut row = crate::record::row(
        "Sidecar",
        "PostgreSQL restarted under a serving sidecar",
        "/readyz turns 503 with the reason, then 200 again, with one connection",
    );
    let pg = Postgres::start();
    let sc = Sidecar::start(readygate().args([&pg.url(), "--interval", "300ms"]));
    until_status(&sc, "/readyz", 200, Duration::from_secs(5));
    pg.stop("fast");
    until_status(&sc, "/readyz", 503, Duration::from_secs(3));
    pg.restart_server();
    // The kept connection died with the server; the next check reconnects.
    until_status(&sc, "/readyz", 200, Duration::from_secs(3));
    assert!(sc.log().contains("is no longer ready"), "{}", sc.log());
    row.saw("503 while down, 200 after, one connection");
}

#[test]
fn a_healthcheck_beside_the_sidecar_ignores_its_variables() {
    let mut row = crate::record::row(
        "Sidecar",
        "`readygate --once .../readyz` run as a healthcheck inside the sidecar's container, whose READYGATE_* variables configure the sidecar",
        "--no-env sets them aside: the healthcheck answers for /readyz alone (without it, exit 2: READYGATE_SERVE cannot be combined with --once)",
    );
    let web = HttpStub::start(200, "{}");
    let sidecar = Sidecar::start(readygate().arg(web.url("/health")));
    crate::support::eventually(Duration::from_secs(5), "ready", || {
        sidecar.get("/readyz").0 == 200
    });
    let readyz = format!("http://127.0.0.1:{}/readyz", sidecar.port);
    let in_the_container = |extra: &[&str]| {
        run(readygate()
            .env("READYGATE_SERVE", "0.0.0.0:9090")
            .env("READYGATE_TARGETS", web.url("/health"))
            .env("READYGATE_INTERVAL", "5s")
            .args(extra)
            .args(["--once", &readyz]))
    };
    let ran = in_the_container(&[]);
    crate::support::usage_error(&ran, "--once beside READYGATE_SERVE", "READYGATE_SERVE");
    let ran = in_the_container(&["--no-env"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("without --no-env: exit 2 naming READYGATE_SERVE; with it: exit 0");
}

//! A distinct secret in every place a secret can go; none may come out, in
//! any mode or format.

use crate::support::{readygate, run, HttpStub, Postgres, Ran, APP_PASSWORD};

#[test]
fn no_secret_appears_in_any_output() {
    let mut row = crate::record::row(
        "Secrets",
        "distinct secrets in URL passwords, password= parameters, token query parameters, an --http-header, READYGATE_TARGETS and READYGATE_HTTP_HEADERS, and in targets that fail to parse",
        "no secret in text or JSON logs (trace level included), summaries, --print-config, --once, --fail-fast, -q, errors or the termination log",
    );
    let pg = Postgres::start();
    let web = HttpStub::start(401, r#"{"error":"unauthorized"}"#);
    let secrets = [
        "Sec1-url-pw-q9",
        "Sec2-http-pw-w8",
        "Sec3-token-e7",
        "Sec4-header-r6",
        "Sec5-param-pw-t5",
        "Sec6-bad-target-y4",
        APP_PASSWORD,
    ];
    let pg_url = pg.url();
    let pg_wrong_pw = format!("postgres://app:{}@127.0.0.1:{}/app", secrets[0], pg.port);
    let http_url = format!(
        "http://user:{}@127.0.0.1:{}/health?api_token={}",
        secrets[1], web.port, secrets[2]
    );
    let pg_param = format!(
        "postgres://app@127.0.0.1:{}/app?password={}",
        pg.port, secrets[4]
    );
    // Not Authorization: the URL's user:password is Basic authentication,
    // and readygate refuses both at once.
    let header = format!("X-Api-Key: Bearer {}", secrets[3]);
    let common = |extra: &[&str]| -> Ran {
        let mut cmd = readygate();
        cmd.args([&pg_url, &pg_wrong_pw, &http_url, &pg_param])
            .args(["--http-header", &header, "--table", "t"])
            .args(extra);
        run(&mut cmd)
    };
    let mut runs: Vec<(String, Ran)> = Vec::new();
    for mode in [
        &["--timeout", "1500ms", "--progress-every", "500ms"][..],
        &["--timeout", "1s", "--log-format", "json"],
        &["--once"],
        &["--once", "--log-format", "json"],
        &["--print-config"],
        &["--fail-fast", "--timeout", "5s"],
        &["--fail-fast", "--timeout", "5s", "--log-format", "json"],
        &["-q", "--timeout", "500ms"],
    ] {
        runs.push((format!("{mode:?}"), common(mode)));
    }
    // Library logs at trace level, in both formats.
    for format in ["text", "json"] {
        let mut cmd = readygate();
        cmd.args([&pg_wrong_pw, &http_url])
            .args([
                "--http-header",
                &header,
                "--timeout",
                "500ms",
                "--log-format",
                format,
            ])
            .env("READYGATE_LOG", "trace");
        runs.push((format!("trace {format}"), run(&mut cmd)));
    }
    // Secrets given through the environment, and a target that fails to parse.
    let mut cmd = readygate();
    cmd.env("READYGATE_TARGETS", format!("{http_url} {pg_wrong_pw}"))
        .env("READYGATE_HTTP_HEADERS", &header)
        .args(["--timeout", "300ms"]);
    runs.push(("env".into(), run(&mut cmd)));
    let mut cmd = readygate();
    cmd.arg(format!("ftp://u:{}@host/", secrets[5]));
    runs.push(("bad target".into(), run(&mut cmd)));
    let mut cmd = readygate();
    cmd.arg(format!("postgres://u:{}@host/db?sslmode=nope", secrets[5]));
    runs.push(("bad sslmode".into(), run(&mut cmd)));
    let mut cmd = readygate();
    cmd.env(
        "READYGATE_TARGETS",
        format!(
            "postgresql://u:{} {}@db/x",
            &secrets[5][..4],
            &secrets[5][4..]
        ),
    );
    let split = run(&mut cmd);
    assert_eq!(split.code, Some(2), "{}", split.stderr);
    assert!(
        !split.stderr.contains(&secrets[5][..4]),
        "half a password leaked: {}",
        split.stderr
    );
    runs.push(("unencoded space in a password".into(), split));
    let mut cmd = readygate();
    cmd.arg(format!("http://host:99999/?token={}", secrets[5]));
    runs.push(("bad port with a token".into(), run(&mut cmd)));
    // The termination log gets the summary, redacted too.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("termination-log");
    let mut cmd = readygate();
    cmd.args([
        &pg_wrong_pw,
        &http_url,
        "--timeout",
        "300ms",
        "--termination-log",
    ])
    .arg(&log);
    let mut ran = run(&mut cmd);
    ran.stdout = std::fs::read_to_string(&log).expect("termination log written");
    assert!(ran.stdout.contains("gave up after 300ms"), "{}", ran.stdout);
    runs.push(("termination log".into(), ran));

    for (mode, ran) in &runs {
        let out = ran.all_output();
        assert!(!out.is_empty(), "{mode}: no output at all");
        for secret in secrets {
            assert!(
                !out.contains(secret),
                "{mode}: secret {secret:?} leaked:\n{out}"
            );
        }
    }
    // The runs did reach the servers: the failures are the real ones.
    let fail_fast = &runs[5].1;
    assert_eq!(fail_fast.code, Some(3), "{}", fail_fast.stderr);
    assert!(
        runs[0].1.stderr.contains("HTTP 401"),
        "{}",
        runs[0].1.stderr
    );
    assert!(
        runs[0].1.stderr.contains("login as \"app\" rejected"),
        "{}",
        runs[0].1.stderr
    );
    row.saw(format!("{} runs searched: none found", runs.len()));
}

/// The Langfuse preset reads secrets from the worker's environment (and the
/// environment holds others the gate never needs); a sidecar publishes state
/// over HTTP. Every byte out, in every mode, is searched for every secret.
#[test]
fn no_secret_from_the_langfuse_environment_reaches_any_output_or_endpoint() {
    use crate::support::{ClickHouse, Redis, Sidecar, CLICKHOUSE_PASSWORD};
    let mut row = crate::record::row(
        "Secrets",
        "Langfuse preset environment (DATABASE_URL / DATABASE_PASSWORD, REDIS_AUTH, REDIS_CONNECTION_STRING, CLICKHOUSE_PASSWORD, unrelated SALT, ENCRYPTION_KEY, NEXTAUTH_SECRET, S3 keys), wrong on purpose so library errors are produced, plus an --http-header",
        "no secret in text or JSON logs, summaries, --print-config, --once, the termination log, /readyz (text and JSON), /metrics or the sidecar log",
    );
    let pg = Postgres::start();
    let redis = Redis::start(Some("Redis-Right-Pw-z1"));
    let ch = ClickHouse::start();
    let web = HttpStub::start(503, r#"{"status":"starting"}"#);
    let s = [
        "LfSec1-db-pw-a1",
        "LfSec2-redis-auth-b2",
        "LfSec3-redis-url-c3",
        "LfSec4-ch-pw-d4",
        "LfSec5-salt-e5",
        "LfSec6-enc-key-f6",
        "LfSec7-nextauth-g7",
        "LfSec8-s3-secret-h8",
        "LfSec9-header-i9",
        "LfSec10-db-part-j10",
        "Redis-Right-Pw-z1",
        CLICKHOUSE_PASSWORD,
    ];
    let base = |cmd: &mut std::process::Command, parts: bool| {
        if parts {
            cmd.env("DATABASE_HOST", format!("127.0.0.1:{}", pg.port))
                .env("DATABASE_USERNAME", "app")
                .env("DATABASE_PASSWORD", s[9])
                .env("DATABASE_NAME", "app");
        } else {
            cmd.env(
                "DATABASE_URL",
                format!("postgresql://app:{}@127.0.0.1:{}/app", s[0], pg.port),
            );
        }
        cmd.env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", redis.port.to_string())
            .env("REDIS_AUTH", s[1])
            .env("CLICKHOUSE_URL", format!("http://127.0.0.1:{}", ch.port))
            .env("CLICKHOUSE_USER", "default")
            .env("CLICKHOUSE_PASSWORD", s[3])
            .env("SALT", s[4])
            .env("ENCRYPTION_KEY", s[5])
            .env("NEXTAUTH_SECRET", s[6])
            .env("LANGFUSE_S3_EVENT_UPLOAD_SECRET_ACCESS_KEY", s[7])
            .env("LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID", "AKIAEXAMPLE")
            .env("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "langfuse")
            .env(
                "LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT",
                format!("http://127.0.0.1:{}", web.port),
            )
            .env("LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE", "true")
            .args(["--preset", "langfuse-worker", "--langfuse-web"])
            .arg(format!("http://127.0.0.1:{}", web.port))
            .args(["--http-header", &format!("Authorization: Bearer {}", s[8])]);
    };
    let mut outputs: Vec<(String, String)> = Vec::new();
    for (mode, extra) in [
        (
            "text",
            &["--timeout", "1500ms", "--progress-every", "500ms"][..],
        ),
        ("json", &["--timeout", "1500ms", "--log-format", "json"]),
        ("once", &["--once"]),
        ("print-config", &["--print-config"]),
        ("fail-fast", &["--fail-fast", "--timeout", "10s"]),
        ("trace", &["--timeout", "800ms", "--log-format", "json"]),
    ] {
        for parts in [false, true] {
            let mut cmd = readygate();
            base(&mut cmd, parts);
            cmd.args(extra);
            if mode == "trace" {
                cmd.env("READYGATE_LOG", "trace");
            }
            let ran = run(&mut cmd);
            outputs.push((format!("{mode} parts={parts}"), ran.all_output()));
        }
    }
    // REDIS_CONNECTION_STRING instead of the parts.
    let mut cmd = readygate();
    base(&mut cmd, false);
    cmd.env(
        "REDIS_CONNECTION_STRING",
        format!("redis://:{}@127.0.0.1:{}", s[2], redis.port),
    )
    .args(["--timeout", "800ms"]);
    outputs.push(("redis url".into(), run(&mut cmd).all_output()));
    // The termination log.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("termination-log");
    let mut cmd = readygate();
    base(&mut cmd, false);
    cmd.args(["--timeout", "800ms", "--termination-log"])
        .arg(&log);
    let ran = run(&mut cmd);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    outputs.push((
        "termination log".into(),
        std::fs::read_to_string(&log).expect("termination log written"),
    ));
    // A sidecar: every endpoint, and its log.
    let mut cmd = readygate();
    base(&mut cmd, false);
    let sidecar = Sidecar::start(&mut cmd);
    crate::support::eventually(
        std::time::Duration::from_secs(10),
        "the sidecar to report failures",
        || sidecar.get("/readyz").1.contains("rejected"),
    );
    for path in [
        "/readyz",
        "/readyz?format=json",
        "/startupz",
        "/livez",
        "/metrics",
    ] {
        let (_, body) = sidecar.get(path);
        outputs.push((format!("sidecar {path}"), body));
    }
    outputs.push(("sidecar log".into(), sidecar.log()));
    drop(sidecar);

    for (mode, out) in &outputs {
        assert!(!out.trim().is_empty(), "{mode}: no output at all");
        for secret in s {
            assert!(
                !out.contains(secret),
                "{mode}: secret {secret:?} leaked:\n{out}"
            );
        }
    }
    // The failures are the real ones, from the libraries.
    let all: String = outputs.iter().map(|(_, o)| o.as_str()).collect();
    for want in [
        r#"login as "app" rejected"#,
        "Redis rejected the login",
        r#"ClickHouse rejected user "default""#,
        "HTTP 503",
    ] {
        assert!(all.contains(want), "{want:?} never reported");
    }
    row.saw(format!(
        "{} outputs searched for {} secrets: none found; the login failures were reported by PostgreSQL, Redis and ClickHouse",
        outputs.len(),
        s.len()
    ));
}

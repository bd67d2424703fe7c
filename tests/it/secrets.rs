//! A distinct secret in every place a secret can go; none may come out, in
//! any mode or format.

use crate::support::{readygate, run, HttpStub, Postgres, Ran, APP_PASSWORD};

#[test]
fn no_secret_appears_in_any_output() {
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
    let header = format!("Authorization: Bearer {}", secrets[3]);
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
}

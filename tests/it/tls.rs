//! TLS: HTTPS with and without --ca-file, PostgreSQL with sslmode=verify-full.

use crate::support::{readygate, run, Certs, HttpsServer, Postgres, APP_PASSWORD};

#[test]
fn https_needs_the_ca_unless_told_otherwise() {
    let mut row = crate::record::row(
        "HTTP",
        "HTTPS with a certificate from an unknown CA; then with --ca-file; then another CA",
        "not ready with a TLS reason and a --ca-file hint (exit 3 with --fail-fast); ready with the right --ca-file",
    );
    let certs = Certs::generate();
    let server = HttpsServer::start(&certs);
    let url = format!("https://localhost:{}/", server.port);

    let ran = run(readygate().args([&url, "--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("TLS verification failed"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("--ca-file"), "{}", ran.stderr);

    let ran = run(readygate().args([&url, "--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);

    let ran = run(readygate().args([&url, "--ca-file", &certs.path("ca.pem"), "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let ran = run(readygate().args([
        &url,
        "--ca-file",
        &certs.path("other-ca.pem"),
        "--timeout",
        "500ms",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);

    let ran = run(readygate().args([&url, "--insecure", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("NOT verified"), "{}", ran.stderr);
    row.saw("unknown CA: exit 1 \"TLS verification failed\"; --fail-fast: exit 3; --ca-file: exit 0; wrong CA: exit 1");
}

#[test]
fn postgres_verify_full_uses_sslrootcert() {
    let certs = Certs::generate();
    let pg = Postgres::start_tls(&certs);
    let url = |ca: &str| {
        format!(
            "postgres://app:{APP_PASSWORD}@localhost:{}/app?sslmode=verify-full&sslrootcert={}",
            pg.port,
            certs.path(ca)
        )
    };
    pg.as_app("CREATE TABLE users (id int)");
    let ran = run(readygate().args([&url("ca.pem"), "--table", "users", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // The gate's session really used TLS.
    let ran = run(readygate().args([
        &url("ca.pem"),
        "--sql",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        "--timeout",
        "10s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let ran = run(readygate().args([&url("other-ca.pem"), "--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS"), "{}", ran.stderr);
    assert!(ran.stderr.contains("sslrootcert"), "{}", ran.stderr);
}

//! The ClickHouse probe against a real clickhouse-server.

use crate::support::{readygate, run, ClickHouse, CLICKHOUSE_PASSWORD};

#[test]
fn clickhouse_tables_and_migrations() {
    let ch = ClickHouse::start();
    let url = ch.url("default");
    let ran = run(readygate().args([&url, "--timeout", "5s"]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    let ran = run(readygate().args([&url, "--clickhouse-table", "traces", "--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(r#"ClickHouse table "traces" does not exist"#),
        "{}",
        ran.stderr
    );

    let ran = run(readygate().args([&url, "--clickhouse-migrations", "--timeout", "500ms"]));
    assert!(
        ran.stderr
            .contains(r#"table "schema_migrations" does not exist"#),
        "{}",
        ran.stderr
    );

    ch.query("CREATE TABLE traces (id String) ENGINE = TinyLog");
    ch.migrations(&[(1, false), (2, true)]);
    let ran = run(readygate().args([
        &url,
        "--clickhouse-table",
        "traces",
        "--clickhouse-migrations",
        "--timeout",
        "500ms",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("ClickHouse migration 2 is marked dirty: running now, or interrupted"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("if the migrating service is still at it, wait"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("`migrate force 1`"), "{}", ran.stderr);

    // The migration tool finishes: a newer clean row.
    ch.migrations(&[(2, false)]);
    ch.query("INSERT INTO schema_migrations VALUES (3, 0, 10)");
    let ran = run(readygate().args([
        &url,
        "--clickhouse-table",
        "traces",
        "--clickhouse-migrations",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
}

#[test]
fn clickhouse_login_and_database_errors() {
    let mut row = crate::record::row(
        "ClickHouse",
        "wrong password, unknown database, with --fail-fast",
        "exit 3 at once naming the failure, never the password",
    );
    let ch = ClickHouse::start();
    let wrong = ch
        .url("default")
        .replace(CLICKHOUSE_PASSWORD, "wrong-Pw-77aa");
    let ran = run(readygate().args([&wrong, "--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(r#"ClickHouse rejected user "default""#),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("wrong-Pw-77aa"), "{}", ran.stderr);
    let ran = run(readygate().args([&ch.url("nope"), "--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(r#"ClickHouse database "nope" does not exist"#),
        "{}",
        ran.stderr
    );
    row.saw("exit 3, \"ClickHouse rejected user \"default\"\"; unknown database: exit 3");
}

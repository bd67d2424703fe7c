//! The PostgreSQL probe against real clusters.

use std::time::Duration;

use crate::support::{eventually, finish, readygate, run, spawn, Postgres};

#[test]
fn ready_at_once_when_the_schema_is_there() {
    let pg = Postgres::start();
    pg.as_app(
        "CREATE TABLE users (id int); CREATE SCHEMA other; CREATE TABLE other.things (id int)",
    );
    let ran = run(readygate().arg(pg.url()).args([
        "--table",
        "users",
        "--table",
        "other.things",
        "--timeout",
        "10s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("is ready after"), "{}", ran.stderr);
    assert!(ran.elapsed < Duration::from_secs(2), "{:?}", ran.elapsed);
}

#[test]
fn waits_for_a_table_created_later() {
    let pg = Postgres::start();
    let child = spawn(readygate().arg(pg.url()).args([
        "--table",
        "blob_storage_integrations",
        "--timeout",
        "30s",
        "--progress-every",
        "1s",
    ]));
    std::thread::sleep(Duration::from_millis(1500));
    // While the table is missing, the gate holds at most one connection:
    // running its query or idle, never idle inside a transaction.
    for _ in 0..20 {
        let states = pg.admin("SELECT coalesce(string_agg(state, ','), '') FROM pg_stat_activity WHERE application_name = 'readygate'");
        assert!(
            matches!(states.as_str(), "idle" | "active" | ""),
            "gate connection state: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    pg.as_app("CREATE TABLE blob_storage_integrations (id int)");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("still waiting for postgres://app:***@127.0.0.1"),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"table "blob_storage_integrations" does not exist"#),
        "{stderr}"
    );
}

#[test]
fn deadline_gives_a_summary_with_reason_and_hint() {
    let pg = Postgres::start();
    let ran = run(readygate().arg(pg.url()).args([
        "--table",
        "traces",
        "--table",
        "users",
        "--timeout",
        "1s",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let last = ran.stderr.lines().last().unwrap();
    assert!(
        last.contains(r#"tables "traces", "users" do not exist"#),
        "{last}"
    );
    assert!(last.contains("not migrated yet"), "{last}");
    assert!(
        ran.stderr
            .contains("gave up after 1s: 1 of 1 targets not ready"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.elapsed < Duration::from_millis(1800),
        "{:?}",
        ran.elapsed
    );
}

#[test]
fn failed_prisma_migration_is_named_with_its_log() {
    let pg = Postgres::start();
    pg.create_prisma_table();
    pg.prisma_row("20240101000000_init", true, false, None);
    pg.prisma_row(
        "20250324110557_add_blobstorage_integration_table",
        false,
        false,
        Some("\nDatabase error: column \"x\" already exists\nmore"),
    );
    // Also when the table that migration creates is waited for: the failure is the root cause.
    let ran = run(readygate().arg(pg.url()).args([
        "--prisma-migrations",
        "--table",
        "blob_storage_integrations",
        "--timeout",
        "1s",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let last = ran.stderr.lines().last().unwrap();
    assert!(last.contains(r#"migration 20250324110557_add_blobstorage_integration_table failed: Database error: column "x" already exists"#), "{last}");
    assert!(
        last.contains(
            "prisma migrate resolve --rolled-back 20250324110557_add_blobstorage_integration_table"
        ),
        "{last}"
    );
}

#[test]
fn rolled_back_then_reapplied_migration_is_ready() {
    let pg = Postgres::start();
    pg.create_prisma_table();
    pg.prisma_row("20240101000000_init", false, true, Some("failed once"));
    pg.prisma_row("20240101000000_init", true, false, None);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("20240101000000_init")).unwrap();
    std::fs::write(
        dir.path().join("20240101000000_init/migration.sql"),
        "SELECT 1;",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("migration_lock.toml"),
        "provider = \"postgresql\"",
    )
    .unwrap();
    let ran = run(readygate()
        .arg(pg.url())
        .args([
            "--prisma-migrations",
            "--migration",
            "20240101000000_init",
            "--timeout",
            "5s",
        ])
        .arg("--prisma-migrations-dir")
        .arg(dir.path()));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
}

#[test]
fn migrations_missing_from_a_prisma_directory_are_waited_for() {
    let pg = Postgres::start();
    pg.create_prisma_table();
    pg.prisma_row("20240101000000_init", true, false, None);
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "20240101000000_init",
        "20250324110557_add_blobstorage_integration_table",
    ] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("migration.sql"), "SELECT 1;").unwrap();
    }
    let ran = run(readygate()
        .arg(pg.url())
        .arg("--prisma-migrations-dir")
        .arg(dir.path())
        .args(["--timeout", "1s"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("migration 20250324110557_add_blobstorage_integration_table not applied yet"),
        "{}",
        ran.stderr
    );
    // Nothing applied yet is also not ready, with --prisma-migrations.
    let pg2 = Postgres::start();
    pg2.create_prisma_table();
    let ran = run(readygate()
        .arg(pg2.url())
        .args(["--prisma-migrations", "--timeout", "500ms"]));
    assert!(
        ran.stderr.contains("no Prisma migration has finished yet"),
        "{}",
        ran.stderr
    );
}

#[test]
fn custom_sql_must_return_true_and_cannot_write() {
    let mut row = crate::record::row(
        "Hostile input",
        "a custom --sql that tries to write: INSERT, UPDATE, DELETE in a CTE, DROP, two statements, SET ROLE, set_config(role)",
        "cannot change the database: the session is read-only and takes one statement",
    );
    let pg = Postgres::start();
    pg.as_app("CREATE TABLE flags (ready bool); INSERT INTO flags VALUES (false)");
    let ran = run(readygate().arg(pg.url()).args([
        "--sql",
        "SELECT bool_and(ready) FROM flags",
        "--timeout",
        "600ms",
    ]));
    assert_eq!(ran.code, Some(1));
    assert!(
        ran.stderr.contains("--sql returned false"),
        "{}",
        ran.stderr
    );
    pg.as_app("UPDATE flags SET ready = true");
    let ran = run(readygate().arg(pg.url()).args([
        "--sql",
        "SELECT bool_and(ready) FROM flags",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // Statements that are not queries are refused at start (exit 2); the
    // queries that try to write fail in the read-only transaction (exit 1).
    for (write, code) in [
        ("INSERT INTO flags VALUES (false) RETURNING true", 2),
        ("DROP TABLE flags", 2),
        ("SELECT true; DROP TABLE flags", 1),
        ("UPDATE flags SET ready = false RETURNING true", 2),
        ("WITH d AS (DELETE FROM flags RETURNING 1) SELECT true", 1),
        ("SET ROLE postgres", 2),
        ("SELECT set_config('role', 'postgres', false) <> ''", 1),
        (
            "SELECT set_config('default_transaction_read_only', 'off', false) <> ''; DELETE FROM flags",
            1,
        ),
        ("CREATE TABLE sneaky AS SELECT true", 2),
    ] {
        let ran = run(readygate()
            .arg(pg.url())
            .args(["--sql", write, "--timeout", "400ms"]));
        assert_eq!(ran.code, Some(code), "{write}: {}", ran.stderr);
    }
    assert_eq!(
        pg.admin("SELECT count(*)::text || ':' || bool_and(ready)::text FROM flags"),
        "1:true"
    );
    assert_eq!(pg.admin("SELECT to_regclass('sneaky') IS NULL"), "t");
    row.saw("every write refused (exit 1); the table is unchanged");
}

#[test]
fn an_alter_table_migration_is_not_blocked_by_the_waiting_gate() {
    let pg = Postgres::start();
    pg.as_app("CREATE TABLE traces (id int)");
    let child = spawn(readygate().arg(pg.url()).args([
        "--table",
        "observations",
        "--sql",
        "SELECT count(*) >= 0 FROM traces",
        "--timeout",
        "30s",
    ]));
    std::thread::sleep(Duration::from_millis(800));
    // Fails with lock_timeout if the gate sits in a transaction holding a lock.
    for i in 0..5 {
        pg.as_app(&format!(
            "SET lock_timeout = '1s'; ALTER TABLE traces ADD COLUMN c{i} int"
        ));
        std::thread::sleep(Duration::from_millis(50));
    }
    pg.as_app("CREATE TABLE observations (id int)");
    for i in 0..5 {
        pg.as_app(&format!(
            "SET lock_timeout = '1s'; ALTER TABLE traces DROP COLUMN c{i}"
        ));
    }
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
}

#[test]
fn survives_a_postgres_restart_and_a_crash_while_waiting() {
    let mut row = crate::record::row(
        "PostgreSQL",
        "restarted (pg_ctl stop -m fast, then -m immediate) while the gate holds its connection",
        "notices the lost connection, reconnects, ready once the table exists",
    );
    let pg = Postgres::start();
    let child = pg.gate_holding_connection("users");
    pg.stop("fast");
    std::thread::sleep(Duration::from_millis(300));
    pg.restart_server();
    eventually(Duration::from_secs(10), "the gate to reconnect", || {
        pg.gate_connections() == "1"
    });
    pg.stop("immediate");
    pg.restart_server();
    pg.as_app("CREATE TABLE users (id int)");
    let ran = finish(child);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw(
        "reconnected after a fast restart and after a crash; exit 0 once the table was created",
    );
}

#[test]
fn wrong_password_and_unknown_database_fail_fast_with_exit_3() {
    let mut row = crate::record::row(
        "PostgreSQL",
        "wrong password, unknown database",
        "with --fail-fast exit 3 at once; without, keep trying until the deadline (exit 1); never print the password",
    );
    let pg = Postgres::start();
    let bad_pw = pg
        .url()
        .replace(crate::support::APP_PASSWORD, "not-the-Password-41");
    let ran = run(readygate()
        .arg(&bad_pw)
        .args(["--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(r#"login as "app" rejected"#),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("not-the-Password-41"),
        "{}",
        ran.stderr
    );
    let no_db = format!(
        "postgres://app:{}@127.0.0.1:{}/nope",
        crate::support::APP_PASSWORD,
        pg.port
    );
    let ran = run(readygate()
        .arg(&no_db)
        .args(["--fail-fast", "--timeout", "10s"]));
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(r#"database "nope" does not exist"#),
        "{}",
        ran.stderr
    );
    // Without --fail-fast it keeps trying until the deadline.
    let ran = run(readygate().arg(&no_db).args(["--timeout", "500ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    row.saw("--fail-fast: exit 3, \"login as \"app\" rejected\"; without: exit 1 at the deadline");
}

#[test]
fn too_many_connections_backs_off_and_leaves_room_for_the_app() {
    let mut row = crate::record::row(
        "PostgreSQL",
        "too many connections (SQLSTATE 53300: every non-reserved slot held)",
        "not ready naming max_connections; backs off 2-4 s instead of hammering",
    );
    // 3 superuser-reserved + 5 others.
    let pg = Postgres::start_with(8);
    let hog = pg.hold_connections(5);
    let ran = run(readygate()
        .arg(pg.url())
        .args(["--timeout", "3s", "--log-format", "json"])
        .env("READYGATE_LOG", "readygate=debug"));
    drop(hog);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let attempts = ran
        .stderr
        .lines()
        .filter(|l| l.contains("too_many_connections"))
        .count();
    // 100 ms polling would be ~30 attempts; backing off keeps it to a few.
    assert!(
        (1..=3).contains(&attempts),
        "{attempts} attempts: {}",
        ran.stderr
    );
    assert!(ran.stderr.contains("max_connections"), "{}", ran.stderr);
    row.saw(format!(
        "{attempts} attempts in 3 s; exit 1 naming max_connections"
    ));
}

#[test]
fn gives_its_connection_back_when_the_server_is_nearly_full() {
    let mut row = crate::record::row(
        "PostgreSQL",
        "server nearly full (fewer than max(3, max_connections/10) slots free)",
        "hangs up after each attempt so the app can connect",
    );
    // max 20, 3 reserved: 17 usable; the gate keeps a connection only while >= 3 are free.
    let pg = Postgres::start_with(20);
    let count = || pg.gate_connections();
    let mut gate = spawn(
        readygate()
            .arg(pg.url())
            .args(["--table", "never", "--timeout", "30s"]),
    );
    eventually(
        Duration::from_secs(10),
        "the gate to keep a connection",
        || count() == "1",
    );
    let hog = pg.hold_connections(14);
    // It notices at its next count of free slots (at most a second old,
    // plus its interval); from then on it connects per attempt and hangs
    // up, which a second of samples shows.
    eventually(
        Duration::from_secs(5),
        "the gate to hang up once the server is nearly full",
        || count() == "0",
    );
    let mut held = 0;
    for _ in 0..20 {
        if count() == "1" {
            held += 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = gate.kill();
    let _ = gate.wait();
    drop(hog);
    assert!(
        held < 12,
        "the gate held its connection in {held} of 20 samples on a nearly full server"
    );
    row.saw(format!(
        "held its connection in {held} of 20 samples while crowded"
    ));
}

#[test]
fn a_prisma_style_database_url_works_as_is() {
    let pg = Postgres::start();
    pg.as_app("CREATE TABLE users (id int)");
    let url = format!("{}?schema=public&connection_limit=1&pool_timeout=5&pgbouncer=false&options=-c%20lock_timeout%3D1s", pg.url());
    let ran = run(readygate().args([
        &url,
        "--table",
        "users",
        "--sql",
        "SELECT current_setting('lock_timeout') = '1s'",
        "--timeout",
        "5s",
    ]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    // Prisma's schema parameter is the search_path: a table elsewhere is not found.
    pg.as_app("CREATE SCHEMA lf; CREATE TABLE lf.traces (id int)");
    let in_lf = format!("{}?schema=lf", pg.url());
    assert_eq!(
        run(readygate().args([&in_lf, "--table", "traces", "--timeout", "5s"])).code,
        Some(0)
    );
    let ran = run(readygate().args([&url, "--table", "traces", "--timeout", "300ms"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
}

#[test]
fn a_custom_check_that_changes_the_session_is_refused() {
    let mut row = crate::record::row(
        "Hostile input",
        "a custom --sql that changes the session (read-only off, statement_timeout 0, BEGIN, SET ROLE)",
        "refused or undone: --sql runs in a transaction that is rolled back, so the kept session is unchanged; no connection left in a transaction",
    );
    let pg = Postgres::start();
    for (sql, code) in [
        (
            "SELECT set_config('default_transaction_read_only', 'off', false) = 'x'",
            1,
        ),
        (
            "SELECT set_config('statement_timeout', '0', false) = 'x'",
            1,
        ),
        // Not queries: refused at start.
        ("BEGIN", 2),
        ("SET ROLE app", 2),
    ] {
        let ran = run(readygate().args([&pg.url(), "--sql", sql, "--timeout", "600ms"]));
        assert_eq!(ran.code, Some(code), "{sql}: {}", ran.stderr);
    }
    // --sql runs in a transaction that is rolled back: a session setting it
    // makes does not outlive the attempt on the connection the gate keeps.
    let mut gate = spawn(readygate().args([
        &pg.url(),
        "--sql",
        "SELECT set_config('application_name', 'changed', false) = 'x'",
        "--timeout",
        "60s",
    ]));
    eventually(Duration::from_secs(10), "the gate to connect", || {
        pg.gate_connections() == "1"
    });
    std::thread::sleep(Duration::from_millis(500));
    let names = pg.admin(
        "SELECT string_agg(application_name, ',') FROM pg_stat_activity WHERE application_name IN ('readygate', 'changed')",
    );
    let _ = gate.kill();
    let _ = gate.wait();
    assert_eq!(names, "readygate", "the session kept what --sql set");
    // No connection was left behind inside a transaction.
    eventually(
        Duration::from_secs(5),
        "the gate's connection to close",
        || pg.gate_connections() == "0",
    );
    row.saw("exit 1 for each; a setting made by --sql is rolled back with its transaction; 0 connections left open");
}

#[test]
fn migration_progress_is_told_while_prisma_migrates() {
    let mut row = crate::record::row(
        "PostgreSQL",
        "a Prisma migration runs: one session holds pg_advisory_lock(72707369) and records four migrations over ~3 s",
        "progress lines say whether the lock is held and for how long, how many are applied, the newest, how many remain; the migrator is never blocked",
    );
    let pg = Postgres::start();
    pg.create_prisma_table();
    let dir = tempfile::tempdir().unwrap();
    let names = ["20240101_init", "20240201_b", "20240301_c", "20240401_d"];
    for name in names {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("migration.sql"), "SELECT 1;").unwrap();
    }
    let gate = spawn(
        readygate()
            .arg(pg.url())
            .arg("--prisma-migrations-dir")
            .arg(dir.path())
            .args([
                "--interval",
                "100ms",
                "--progress-every",
                "300ms",
                "--timeout",
                "30s",
            ]),
    );
    // Nothing migrates yet: the lock is free.
    std::thread::sleep(Duration::from_millis(700));
    let mut migrator = pg.app_session();
    migrator.exec("SELECT pg_advisory_lock(72707369)");
    // While the gate polls every 100 ms, the migrator's exclusive locks
    // never wait on it (lock_timeout would fail the statement).
    let started = std::time::Instant::now();
    for (i, name) in names.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(600));
        migrator.exec(&format!(
            "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, applied_steps_count) VALUES ('{i}', 'x', '{name}', now(), 0)"
        ));
        std::thread::sleep(Duration::from_millis(400));
        migrator.exec(&format!(
            "BEGIN; SET LOCAL lock_timeout = '1s'; LOCK TABLE _prisma_migrations IN ACCESS EXCLUSIVE MODE; UPDATE _prisma_migrations SET finished_at = now(), applied_steps_count = 1 WHERE migration_name = '{name}'; COMMIT"
        ));
    }
    let migrating = started.elapsed();
    migrator.exec("SELECT pg_advisory_unlock(72707369)");
    let ran = finish(gate);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let err = &ran.stderr;
    assert!(
        err.contains("Prisma's migration lock is free: no migration is running"),
        "{err}"
    );
    assert!(
        err.contains("Prisma's migration lock held by pid "),
        "{err}"
    );
    assert!(err.contains(", connected for "), "{err}");
    assert!(err.contains("is still running"), "{err}");
    assert!(
        err.contains("1 migration applied, newest 20240101_init; 3 of 4 to go"),
        "{err}"
    );
    assert!(
        err.contains("3 migrations applied, newest 20240301_c; 1 of 4 to go"),
        "{err}"
    );
    // Four 1-second steps: a blocked lock would have added up to 1 s each.
    assert!(migrating < Duration::from_millis(4800), "{migrating:?}");
    row.saw(format!(
        "said the lock was free, then held, 1 then 3 of 4 applied; the migrator's 4 exclusive locks took {} ms beyond its sleeps",
        migrating.as_millis().saturating_sub(4000)
    ));
}

#[test]
fn migration_progress_is_about_this_database_and_never_forged() {
    let mut row = crate::record::row(
        "PostgreSQL",
        "Prisma's lock held in another database; a migration name with a newline and an escape; a migrator holding an exclusive lock on _prisma_migrations",
        "the other database's lock is not this one's; names are shown escaped on one line; a lock wait ends at lock_timeout and says a migration is running",
    );
    let pg = Postgres::start();
    pg.create_prisma_table();
    // Prisma's lock, held in the cluster's other database.
    let mut elsewhere = pg.app_session_in("postgres");
    elsewhere.exec("SELECT pg_advisory_lock(72707369)");
    pg.prisma_row(
        "20240101_a\n[forged] INFO ready\u{1b}[2J",
        false,
        false,
        None,
    );
    let ran = run(readygate().arg(pg.url()).args([
        "--migration",
        "20240201_b",
        "--migration",
        "20240201_b",
        "--prisma-migrations",
        "--once",
    ]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let err = &ran.stderr;
    assert!(
        err.contains("Prisma's migration lock is free"),
        "another database's lock counted: {err}"
    );
    assert!(err.contains("1 of 1 to go"), "{err}");
    assert!(err.contains("\\u{a}[forged]"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    drop(elsewhere);
    // A migrator holding an exclusive lock on what the status reads.
    let mut migrator = pg.app_session();
    migrator.exec("BEGIN; LOCK TABLE _prisma_migrations IN ACCESS EXCLUSIVE MODE");
    let ran = run(readygate()
        .arg(pg.url())
        .args(["--prisma-migrations", "--once"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("a migration"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("packets are dropped"),
        "{}",
        ran.stderr
    );
    assert!(ran.elapsed < Duration::from_secs(4), "{:?}", ran.elapsed);
    row.saw("lock elsewhere: 'free'; names escaped on one line; an exclusive lock: 'a migration ... holds a lock' within lock_timeout");
}

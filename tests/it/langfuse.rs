//! The Langfuse preset end to end: real PostgreSQL, Redis and ClickHouse,
//! a "web" stub that migrates and turns healthy a few seconds in, and the
//! worker's environment as the official Helm chart gives it.

use std::time::Duration;

use crate::support::{
    readygate, run, spawn, ClickHouse, HttpStub, Postgres, Ran, Redis, APP_PASSWORD,
    CLICKHOUSE_PASSWORD,
};

const REDIS_AUTH: &str = "redis-Pw-lf42";

struct Stack {
    pg: Postgres,
    redis: Redis,
    ch: ClickHouse,
    web: HttpStub,
}

impl Stack {
    fn start() -> Stack {
        Stack {
            pg: Postgres::start(),
            redis: Redis::start(Some(REDIS_AUTH)),
            ch: ClickHouse::start(),
            web: HttpStub::start(503, r#"{"status":"starting"}"#),
        }
    }

    /// The worker's environment, `DATABASE_HOST` style, as the Helm chart sets it.
    fn worker_env(&self) -> Vec<(String, String)> {
        [
            ("DATABASE_HOST", "127.0.0.1".to_string()),
            ("DATABASE_PORT", self.pg.port.to_string()),
            ("DATABASE_USERNAME", "app".to_string()),
            ("DATABASE_PASSWORD", APP_PASSWORD.to_string()),
            ("DATABASE_NAME", "app".to_string()),
            ("REDIS_HOST", "127.0.0.1".to_string()),
            ("REDIS_PORT", self.redis.port.to_string()),
            ("REDIS_AUTH", REDIS_AUTH.to_string()),
            (
                "CLICKHOUSE_URL",
                format!("http://127.0.0.1:{}", self.ch.port),
            ),
            ("CLICKHOUSE_USER", "default".to_string()),
            ("CLICKHOUSE_PASSWORD", CLICKHOUSE_PASSWORD.to_string()),
            ("COMPONENT", "worker".to_string()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    }

    fn gate(&self, extra: &[&str], env: &[(&str, &str)]) -> std::process::Command {
        let mut cmd = readygate();
        cmd.envs(self.worker_env()).args([
            "--preset",
            "langfuse-worker",
            "--langfuse-web",
            &self.web.url(""),
        ]);
        cmd.args(["--only-if", "COMPONENT=worker"]).args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// What the Langfuse web does before it listens: Prisma, then ClickHouse.
    fn migrate(&self) {
        self.pg.create_prisma_table();
        self.pg.prisma_row("20240101000000_init", true, false, None);
        self.pg.prisma_row(
            "20250324110557_add_blobstorage_integration_table",
            true,
            false,
            None,
        );
        self.pg.as_app(
            "CREATE TABLE blob_storage_integrations (project_id text); CREATE TABLE background_migrations (id text);
             CREATE TABLE models (id text); CREATE TABLE prices (id text)",
        );
        self.ch.migrations(&[(1, false), (2, false)]);
        self.web.set(200, r#"{"status":"OK","version":"3.225.4"}"#);
    }
}

fn summary(ran: &Ran) -> &str {
    ran.stderr.lines().last().unwrap_or_default()
}

#[test]
fn the_worker_waits_for_the_web_to_migrate_then_starts() {
    let stack = Stack::start();
    let child = spawn(&mut stack.gate(
        &[
            "--expect-version",
            "v3.225.4",
            "--progress-every",
            "1s",
            "--timeout",
            "60s",
        ],
        &[],
    ));
    std::thread::sleep(Duration::from_millis(2500));
    stack.migrate();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // While it waited, it said why, in Langfuse's terms.
    assert!(stderr.contains(r#"tables "blob_storage_integrations", "background_migrations", "models", "prices" do not exist"#), "{stderr}");
    assert!(
        stderr.contains("LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 503"), "{stderr}");
    assert!(stderr.contains("all 4 targets ready"), "{stderr}");

    // Each known cause ends with its own hint.
    let ran = run(&mut stack.gate(&["--timeout", "1s"], &[("REDIS_AUTH", "not-the-Pw-1111")]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Redis rejected the login") && ran.stderr.contains("check REDIS_AUTH"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("not-the-Pw-1111") && !ran.stderr.contains(APP_PASSWORD),
        "{}",
        ran.stderr
    );

    stack.web.set(200, r#"{"status":"OK","version":"3.1.0"}"#);
    let ran = run(&mut stack.gate(&["--expect-version", "3.225.4", "--timeout", "1s"], &[]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        summary(&ran).contains("runs version 3.1.0, this gate expects 3.225.4"),
        "{}",
        ran.stderr
    );
    assert!(summary(&ran).contains("same image tag"), "{}", ran.stderr);
    stack.web.set(200, r#"{"status":"OK","version":"3.225.4"}"#);

    stack
        .ch
        .query("INSERT INTO schema_migrations VALUES (3, 1, 3)");
    let ran = run(&mut stack.gate(&["--timeout", "1s"], &[]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        summary(&ran).contains("ClickHouse migration 3 is dirty"),
        "{}",
        ran.stderr
    );
    assert!(summary(&ran).contains("liveness probe"), "{}", ran.stderr);
    stack
        .ch
        .query("INSERT INTO schema_migrations VALUES (3, 0, 4)");

    stack.pg.prisma_row(
        "20251101000000_add_something",
        false,
        false,
        Some("Database error code: 42701\ncolumn exists"),
    );
    let ran = run(&mut stack.gate(&["--timeout", "1s"], &[]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        summary(&ran)
            .contains("migration 20251101000000_add_something failed: Database error code: 42701"),
        "{}",
        ran.stderr
    );
    assert!(
        summary(&ran).contains("prisma migrate resolve --rolled-back 20251101000000_add_something"),
        "{}",
        ran.stderr
    );

    // In the web pod (the Helm chart puts extraInitContainers there too) it does not wait.
    let ran = run(&mut stack.gate(&["--timeout", "30s"], &[("COMPONENT", "web")]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stderr.contains("not waiting here"), "{}", ran.stderr);
}

#[test]
fn missing_langfuse_variables_are_all_named() {
    let ran = run(readygate()
        .args(["--preset", "langfuse-worker"])
        .env("DATABASE_HOST", "db")
        .env("CLICKHOUSE_URL", "http://ch:8123"));
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    for name in [
        "DATABASE_URL",
        "REDIS_CONNECTION_STRING",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "--langfuse-web",
    ] {
        assert!(ran.stderr.contains(name), "{name}: {}", ran.stderr);
    }
}

#[test]
fn the_preset_combines_with_explicit_targets_and_flags() {
    let web = HttpStub::start(200, "{}");
    let env = [
        ("DATABASE_URL", "postgresql://u:db-Pw-55@db:5432/lf"),
        ("REDIS_CONNECTION_STRING", "redis://:r-Pw-66@redis:6379"),
        ("CLICKHOUSE_URL", "http://ch:8123"),
        ("CLICKHOUSE_USER", "default"),
        ("CLICKHOUSE_PASSWORD", "ch-Pw-77"),
    ];
    let mut cmd = readygate();
    cmd.envs(env)
        .args([
            "--preset",
            "langfuse-worker",
            "--langfuse-web",
            "http://langfuse-web:3000",
            "--table",
            "extra",
            "--print-config",
        ])
        .arg(web.url("/other"));
    let ran = run(&mut cmd);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let out = &ran.stdout;
    assert!(
        out.contains("postgresql://u:***@db:5432/lf [preset langfuse-worker]"),
        "{out}"
    );
    assert!(out.contains("tables exist: extra, blob_storage_integrations, background_migrations, models, prices; Prisma migrations complete"), "{out}");
    assert!(
        out.contains("http://langfuse-web:3000/api/public/health [preset langfuse-worker]"),
        "{out}"
    );
    assert!(out.contains("status 200; JSON /status = \"OK\""), "{out}");
    assert!(
        out.contains(&format!(
            "{}\n    ready when: status 200-299",
            web.url("/other")
        )),
        "{out}"
    );
    for secret in ["db-Pw-55", "r-Pw-66", "ch-Pw-77"] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
}

/// `--http-status` restating the default (for the user's own HTTP targets)
/// leaves the web's stricter 200; a real choice applies to the web too.
#[test]
fn the_webs_status_is_200_unless_http_status_says_otherwise() {
    let env = [
        ("DATABASE_URL", "postgresql://u:p@db:5432/lf"),
        ("REDIS_CONNECTION_STRING", "redis://redis:6379"),
        ("CLICKHOUSE_URL", "http://ch:8123"),
        ("CLICKHOUSE_USER", "default"),
        ("CLICKHOUSE_PASSWORD", "ch-Pw-77"),
    ];
    for (status, want) in [("200-299", "status 200;"), ("200,503", "status 200,503;")] {
        let ran = run(readygate().envs(env).args([
            "--preset",
            "langfuse-worker",
            "--langfuse-web",
            "http://langfuse-web:3000",
            "--http-status",
            status,
            "--print-config",
        ]));
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let web = ran
            .stdout
            .split("api/public/health [preset langfuse-worker]")
            .nth(1)
            .unwrap_or_default();
        assert!(
            web.trim_start().starts_with(&format!("ready when: {want}")),
            "{status}: {}",
            ran.stdout
        );
    }
}

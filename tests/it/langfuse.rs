//! The Langfuse preset end to end: real PostgreSQL, Redis (standalone,
//! cluster, sentinel) and ClickHouse, a "web" stub that migrates and turns
//! healthy a few seconds in, and the worker's environment exactly as the
//! official Helm chart 2.0.0 renders it (docs/langfuse.md), for Langfuse
//! v4.16.0.

use std::time::Duration;

use crate::support::{
    readygate, run, spawn, Certs, ClickHouse, HttpStub, Postgres, Ran, Redis, RedisCluster,
    APP_PASSWORD, CLICKHOUSE_PASSWORD, S3,
};

const REDIS_PASSWORD: &str = "redis-Pw-lf42";
const RELEASE: &str = "4.16.0";

/// How Redis is deployed, as the chart's values choose it.
enum RedisMode {
    /// `redis.deploy` (the bundled Valkey): `REDIS_CONNECTION_STRING`.
    Standalone(Redis),
    /// `redis.cluster.enabled`: `REDIS_CLUSTER_NODES`.
    Cluster(RedisCluster),
    /// `redis.sentinel.enabled`: a master and a sentinel.
    Sentinel { _master: Redis, sentinel: Redis },
}

struct Stack {
    pg: Postgres,
    redis: RedisMode,
    ch: ClickHouse,
    s3: S3,
    web: HttpStub,
}

impl Stack {
    fn start() -> Stack {
        Stack::with(RedisMode::Standalone(Redis::start(Some(REDIS_PASSWORD))))
    }

    fn with(redis: RedisMode) -> Stack {
        Stack {
            pg: Postgres::start(),
            redis,
            ch: ClickHouse::start(),
            s3: S3::start("langfuse"),
            web: HttpStub::start(503, r#"{"status":"starting"}"#),
        }
    }

    /// The worker's environment as chart 2.0.0 renders it (with Kubernetes
    /// having expanded `$(REDIS_PASSWORD)`). The chart has no port variable
    /// Langfuse reads: a non-default port goes into `DATABASE_HOST`.
    fn worker_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("NODE_ENV", "production".to_string()),
            ("DATABASE_HOST", format!("127.0.0.1:{}", self.pg.port)),
            ("DATABASE_USERNAME", "app".to_string()),
            ("DATABASE_PASSWORD", APP_PASSWORD.to_string()),
            ("DATABASE_NAME", "app".to_string()),
            (
                "LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED",
                "false".to_string(),
            ),
        ];
        match &self.redis {
            RedisMode::Standalone(r) => env.extend([
                ("REDIS_PASSWORD", REDIS_PASSWORD.to_string()),
                ("REDIS_TLS_ENABLED", "false".to_string()),
                (
                    "REDIS_CONNECTION_STRING",
                    format!("redis://default:{REDIS_PASSWORD}@127.0.0.1:{}/0", r.port),
                ),
            ]),
            RedisMode::Cluster(c) => {
                let nodes: Vec<String> = c
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port))
                    .collect();
                env.extend([
                    ("REDIS_PASSWORD", REDIS_PASSWORD.to_string()),
                    ("REDIS_CLUSTER_ENABLED", "true".to_string()),
                    ("REDIS_CLUSTER_NODES", nodes.join(",")),
                    ("REDIS_AUTH", REDIS_PASSWORD.to_string()),
                    ("REDIS_TLS_ENABLED", "false".to_string()),
                ]);
            }
            RedisMode::Sentinel { sentinel, .. } => env.extend([
                ("REDIS_PASSWORD", REDIS_PASSWORD.to_string()),
                ("REDIS_SENTINEL_ENABLED", "true".to_string()),
                ("REDIS_SENTINEL_MASTER_NAME", "mymaster".to_string()),
                (
                    "REDIS_SENTINEL_NODES",
                    format!("127.0.0.1:{}", sentinel.port),
                ),
                ("REDIS_SENTINEL_PASSWORD", SENTINEL_PASSWORD.to_string()),
                ("REDIS_AUTH", REDIS_PASSWORD.to_string()),
                ("REDIS_TLS_ENABLED", "false".to_string()),
            ]),
        }
        env.extend([
            (
                "CLICKHOUSE_MIGRATION_URL",
                format!("clickhouse://127.0.0.1:{}", self.ch.tcp_port),
            ),
            ("CLICKHOUSE_MIGRATION_SSL", "false".to_string()),
            (
                "CLICKHOUSE_URL",
                format!("http://127.0.0.1:{}", self.ch.port),
            ),
            ("CLICKHOUSE_DB", "default".to_string()),
            ("CLICKHOUSE_USER", "default".to_string()),
            ("CLICKHOUSE_PASSWORD", CLICKHOUSE_PASSWORD.to_string()),
            ("CLICKHOUSE_CLUSTER_ENABLED", "true".to_string()),
            (
                "LANGFUSE_AUTO_CLICKHOUSE_MIGRATION_DISABLED",
                "false".to_string(),
            ),
            ("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "langfuse".to_string()),
            ("LANGFUSE_S3_EVENT_UPLOAD_REGION", "auto".to_string()),
            ("LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT", self.s3.endpoint()),
            (
                "LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID",
                self.s3.access_key.clone(),
            ),
            (
                "LANGFUSE_S3_EVENT_UPLOAD_SECRET_ACCESS_KEY",
                self.s3.secret_key.clone(),
            ),
            (
                "LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE",
                "true".to_string(),
            ),
            ("HOSTNAME", "0.0.0.0".to_string()),
            ("COMPONENT", "worker".to_string()),
        ]);
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
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
            "20260813120000_add_posthog_integration_error_fields",
            true,
            false,
            None,
        );
        self.pg.as_app(
            "CREATE TABLE models (id text); CREATE TABLE pricing_tiers (id text); CREATE TABLE prices (id text);
             CREATE TABLE eval_templates (id text); CREATE TABLE dashboards (id text); CREATE TABLE dashboard_widgets (id text);
             CREATE TABLE background_migrations (id text); CREATE TABLE blob_storage_integrations (project_id text);
             CREATE TABLE batch_actions (id text); CREATE TABLE monitors (id text)",
        );
        self.ch.migrations(&[(45, false), (46, false)]);
        self.web
            .set(200, &format!(r#"{{"status":"OK","version":"{RELEASE}"}}"#));
    }
}

const SENTINEL_PASSWORD: &str = "sentinel-Pw-77";

/// The gate waits while the web migrates, then exits 0.
fn waits_then_starts(stack: &Stack) -> String {
    let child = spawn(&mut stack.gate(
        &[
            "--expect-version",
            RELEASE,
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
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for secret in [
        REDIS_PASSWORD,
        APP_PASSWORD,
        CLICKHOUSE_PASSWORD,
        SENTINEL_PASSWORD,
    ] {
        assert!(!stderr.contains(secret), "{secret} leaked: {stderr}");
    }
    stderr
}

#[test]
fn with_the_charts_cluster_redis_the_worker_waits_then_starts() {
    let mut row = crate::record::row(
        "Langfuse",
        "chart 2.0.0's worker environment with redis.cluster.enabled (3 masters), the web migrating 2.5 s in",
        "waits, then exit 0 with all 5 targets ready",
    );
    let cluster = RedisCluster::start(REDIS_PASSWORD);
    cluster.create();
    let stack = Stack::with(RedisMode::Cluster(cluster));
    let stderr = waits_then_starts(&stack);
    assert!(stderr.contains("all 5 targets ready"), "{stderr}");
    row.saw("exit 0, all 5 targets ready");
}

#[test]
fn with_the_charts_sentinel_redis_the_worker_waits_then_starts() {
    let mut row = crate::record::row(
        "Langfuse",
        "chart 2.0.0's worker environment with redis.sentinel.enabled (a master and a sentinel, passwords on both), the web migrating 2.5 s in",
        "waits, then exit 0 with all 5 targets ready",
    );
    let master = Redis::start(Some(REDIS_PASSWORD));
    let sentinel =
        Redis::start_sentinel(master.port, "mymaster", REDIS_PASSWORD, SENTINEL_PASSWORD);
    let stack = Stack::with(RedisMode::Sentinel {
        _master: master,
        sentinel,
    });
    let stderr = waits_then_starts(&stack);
    assert!(stderr.contains("all 5 targets ready"), "{stderr}");
    row.saw("exit 0, all 5 targets ready");
}

#[test]
fn redis_mutual_tls_through_the_connection_string() {
    let mut row = crate::record::row(
        "Langfuse",
        "REDIS_CONNECTION_STRING redis:// + REDIS_TLS_ENABLED=true with REDIS_TLS_CA_PATH, _CERT_PATH, _KEY_PATH against a server that requires a client certificate; then without the client certificate",
        "TLS applies to the connection string as in Langfuse: ready; without the certificate a TLS failure",
    );
    let certs = Certs::generate();
    let redis = Redis::start_mutual_tls(&certs, Some(REDIS_PASSWORD));
    let url = format!(
        "redis://default:{REDIS_PASSWORD}@localhost:{}/0",
        redis.port
    );
    let stack = Stack::start();
    stack.migrate();
    let tls = [
        ("REDIS_CONNECTION_STRING", url.as_str()),
        ("REDIS_TLS_ENABLED", "true"),
        ("REDIS_TLS_CA_PATH", &certs.path("ca.pem")),
        // X.509 v1, as `openssl x509 -req` makes it: Node and Redis take it.
        ("REDIS_TLS_CERT_PATH", &certs.path("client-v1.pem")),
        ("REDIS_TLS_KEY_PATH", &certs.path("client.key")),
    ];
    let ran = run(&mut stack.gate(&["--timeout", "20s"], &tls));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let ran = run(&mut stack.gate(&["--timeout", "2s"], &tls[..3]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("TLS"), "{}", ran.stderr);
    row.saw("exit 0 with the client certificate; exit 1, a TLS failure, without");
}

#[test]
fn clickhouse_login_comes_from_the_url_and_the_schema_from_clickhouse_db() {
    let mut row = crate::record::row(
        "Langfuse",
        "CLICKHOUSE_URL with user, password and a database in its path (which Langfuse's client lets win), CLICKHOUSE_USER/_PASSWORD wrong, CLICKHOUSE_DB the migrations' database",
        "logs in with the URL's credentials, checks schema_migrations in CLICKHOUSE_DB, warns that the worker reads the URL's database",
    );
    let stack = Stack::start();
    stack.migrate();
    let url = format!(
        "http://default:{CLICKHOUSE_PASSWORD}@127.0.0.1:{}/other_db",
        stack.ch.port
    );
    let ran = run(&mut stack.gate(
        &["--timeout", "10s"],
        &[
            ("CLICKHOUSE_URL", &url),
            ("CLICKHOUSE_USER", "nobody"),
            ("CLICKHOUSE_PASSWORD", "not-the-Pw-3"),
        ],
    ));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains(r#"CLICKHOUSE_URL names database "other_db""#),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.all_output().contains(CLICKHOUSE_PASSWORD),
        "{}",
        ran.all_output()
    );
    row.saw("exit 0 through the URL's login; the database mismatch warned about");
}

#[test]
fn clickhouse_cluster_mode_on_a_server_without_the_cluster_is_explained() {
    let mut row = crate::record::row(
        "Langfuse",
        "CLICKHOUSE_CLUSTER_ENABLED=true (Langfuse's default) with CLICKHOUSE_CLUSTER_NAME naming a cluster the server does not define",
        "not ready: names the missing cluster and says to set CLICKHOUSE_CLUSTER_ENABLED=false on a single server",
    );
    let stack = Stack::start();
    stack.migrate();
    let ran = run(&mut stack.gate(
        &["--timeout", "1s"],
        &[("CLICKHOUSE_CLUSTER_NAME", "lf-cluster")],
    ));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        summary(&ran).contains(r#"defines no cluster "lf-cluster""#),
        "{}",
        ran.stderr
    );
    assert!(
        summary(&ran).contains("CLICKHOUSE_CLUSTER_ENABLED=false"),
        "{}",
        ran.stderr
    );
    let ran = run(&mut stack.gate(
        &["--timeout", "5s"],
        &[
            ("CLICKHOUSE_CLUSTER_NAME", "lf-cluster"),
            ("CLICKHOUSE_CLUSTER_ENABLED", "false"),
        ],
    ));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("exit 1 naming cluster \"lf-cluster\" and CLICKHOUSE_CLUSTER_ENABLED=false; exit 0 with it false");
}

fn summary(ran: &Ran) -> &str {
    ran.stderr.lines().last().unwrap_or_default()
}

#[test]
fn the_worker_waits_for_the_web_to_migrate_then_starts() {
    let stack = Stack::start();
    let stderr = waits_then_starts(&stack);
    // While it waited, it said why, in Langfuse's terms.
    assert!(
        stderr.contains(r#"tables "models", "pricing_tiers", "prices""#),
        "{stderr}"
    );
    assert!(stderr.contains(r#""monitors" do not exist"#), "{stderr}");
    assert!(
        stderr.contains("LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED"),
        "{stderr}"
    );
    assert!(stderr.contains("HTTP 503"), "{stderr}");
    assert!(stderr.contains("all 5 targets ready"), "{stderr}");

    // Each known cause ends with its own hint.
    let RedisMode::Standalone(redis) = &stack.redis else {
        unreachable!("Stack::start is standalone")
    };
    let wrong = format!("redis://default:not-the-Pw-1111@127.0.0.1:{}/0", redis.port);
    let ran = run(&mut stack.gate(&["--timeout", "1s"], &[("REDIS_CONNECTION_STRING", &wrong)]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("Redis rejected the login")
            && ran
                .stderr
                .contains("check the password in REDIS_CONNECTION_STRING"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains("not-the-Pw-1111") && !ran.stderr.contains(APP_PASSWORD),
        "{}",
        ran.stderr
    );

    stack.web.set(200, r#"{"status":"OK","version":"4.15.0"}"#);
    let ran = run(&mut stack.gate(&["--expect-version", RELEASE, "--timeout", "1s"], &[]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        summary(&ran).contains("runs version 4.15.0, this gate expects 4.16.0"),
        "{}",
        ran.stderr
    );
    assert!(summary(&ran).contains("same image tag"), "{}", ran.stderr);
    stack
        .web
        .set(200, &format!(r#"{{"status":"OK","version":"{RELEASE}"}}"#));

    // A dirty newest row: running now or interrupted; never "force" blindly.
    stack
        .ch
        .query("INSERT INTO schema_migrations VALUES (47, 1, 3)");
    let ran = run(&mut stack.gate(&["--timeout", "1s"], &[]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        summary(&ran)
            .contains("ClickHouse migration 47 is marked dirty: running now, or interrupted"),
        "{}",
        ran.stderr
    );
    assert!(
        summary(&ran).contains("never `migrate force` meanwhile"),
        "{}",
        ran.stderr
    );
    assert!(summary(&ran).contains("livenessProbe"), "{}", ran.stderr);
    stack
        .ch
        .query("INSERT INTO schema_migrations VALUES (47, 0, 4)");

    // Floating tags never match what the web reports.
    let ran = run(&mut stack.gate(&["--expect-version", "4.16", "--timeout", "1s"], &[]));
    crate::support::usage_error(&ran, "--expect-version 4.16", "--expect-version");
    assert!(ran.stderr.contains("floating tag"), "{}", ran.stderr);
    // DATABASE_PORT is Langfuse-dead: warned about, and not used.
    let ran = run(&mut stack.gate(&["--timeout", "10s"], &[("DATABASE_PORT", "1")]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("DATABASE_PORT=1 is set, but Langfuse never reads it"),
        "{}",
        ran.stderr
    );

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
        "LANGFUSE_S3_EVENT_UPLOAD_BUCKET",
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
        ("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "langfuse"),
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
    assert!(out.contains("tables exist: extra, models, pricing_tiers, prices, eval_templates, dashboards, dashboard_widgets, background_migrations, blob_storage_integrations, batch_actions, monitors; Prisma migrations complete"), "{out}");
    assert!(
        out.contains("clusters defined: default; newest schema_migrations row not dirty"),
        "{out}"
    );
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
        ("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "langfuse"),
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

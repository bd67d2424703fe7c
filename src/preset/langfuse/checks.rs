//! What the Langfuse worker's dependencies must satisfy beyond the flags,
//! and how their failures read in Langfuse's words: the tables the worker
//! reads at start-up, finished migrations, the web's health answer, and the
//! hint tables that turn "table missing" into "the web has not migrated".

use super::{flag, LangfuseEnv};
use crate::not_ready::{Class, Hints};
use crate::probe::postgres::TableName;
use crate::probe::{clickhouse, http, postgres, Extra};

/// Tables the Langfuse v4.16.0 worker reads or writes as it starts, beyond
/// "every Prisma migration finished" (docs/langfuse.md lists the source of
/// each): the seeding awaited before it listens (`worker/src/initialize.ts`:
/// `upsertDefaultModelPrices` - models, pricing_tiers, prices;
/// `upsertManagedEvaluators` - eval_templates; `upsertLangfuseDashboards` -
/// dashboards, dashboard_widgets), then what `worker/src/app.ts` starts at
/// import: the background migrations (background_migrations, and the
/// pending one that encrypts blob_storage_integrations), the batch-action
/// runner (batch_actions) and the monitor scheduler (monitors). Each of
/// these tries once: run too early, its work is skipped until a restart.
pub(super) const WORKER_TABLES: &[&str] = &[
    "models",
    "pricing_tiers",
    "prices",
    "eval_templates",
    "dashboards",
    "dashboard_widgets",
    "background_migrations",
    "blob_storage_integrations",
    "batch_actions",
    "monitors",
];

pub(super) const DATABASE_HINTS: Hints = Hints::new(&[
    (Class::Schema, "the Langfuse web migrates the database (`prisma migrate deploy`) before it listens: while its lock is held, wait; if no migration is running, check the web's logs, and whether LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED=true is set on it"),
    (Class::Auth, "check DATABASE_URL (or DATABASE_USERNAME and DATABASE_PASSWORD) and DIRECT_URL in the worker's environment"),
    (Class::UnknownDatabase, "check DATABASE_NAME (or the database in DATABASE_URL): web and worker must use the same one"),
]);
pub(super) const CLICKHOUSE_HINTS: Hints = Hints::new(&[
    (Class::Schema, "the Langfuse web has not run its ClickHouse migrations yet (its entrypoint runs them after Prisma's, before it listens): check its logs; is LANGFUSE_AUTO_CLICKHOUSE_MIGRATION_DISABLED=true set on it?"),
    (Class::FailedMigration, "golang-migrate marks a migration dirty while it runs: if the Langfuse web is still starting, it is migrating now: wait, and never `migrate force` meanwhile. If the web restarted or logs `Dirty database version N`, the migration was interrupted, most often by the web's liveness probe (chart 2.0.0 gives the web no startupProbe: raise langfuse.web.livenessProbe.initialDelaySeconds); repair version N by hand, then `migrate force` and restart the web"),
    (Class::Auth, "check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, or the user and password in CLICKHOUSE_URL, which win"),
]);
pub(super) const REDIS_HINTS: Hints = Hints::new(&[(
    Class::Auth,
    "check the password in REDIS_CONNECTION_STRING (the chart fills it from REDIS_PASSWORD), or REDIS_AUTH and REDIS_USERNAME (cluster, sentinel, REDIS_HOST); REDIS_SENTINEL_PASSWORD for the sentinels",
)]);
pub(super) const S3_HINTS: Hints = Hints::new(&[
    (Class::Schema, "the worker writes every event to LANGFUSE_S3_EVENT_UPLOAD_BUCKET: create the bucket, or check its name and LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT"),
    (Class::Auth, "check LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID and _SECRET_ACCESS_KEY (without both, the AWS_* variables); ingestion jobs fail for good with these credentials"),
]);
pub(super) const WEB_HINTS: Hints = Hints::new(&[
    (Class::Refused, "not listening yet: the Langfuse web migrates PostgreSQL and ClickHouse before it listens; if this lasts, check its logs and --langfuse-web (the web Service's port, 3000). A web killed mid-migration by its liveness probe restarts for ever: raise langfuse.web.livenessProbe.initialDelaySeconds in the chart"),
    (Class::Dns, "check --langfuse-web: the web Service's name (and namespace)"),
    (Class::Timeout, "check --langfuse-web and NetworkPolicy between the worker and the web"),
    (Class::Response, "the Langfuse web is up but not healthy yet: check its logs"),
    (Class::Version, "deploy the Langfuse web and worker from one release (the same image tag); a rolling upgrade settles by itself"),
]);
/// For a `listen://` target beside the worker (a native sidecar sharing its
/// network namespace): the worker listens on `PORT` (3030) at `HOSTNAME`,
/// the web on 3000 (`worker/src/env.ts`, `web/Dockerfile`).
pub(super) const LISTEN_HINTS: Hints = Hints::new(&[
    (Class::LoopbackOnly, "the Langfuse worker binds to HOSTNAME, which Kubernetes and Docker set to the pod or container name: set HOSTNAME=0.0.0.0 in the worker container's environment"),
    (Class::WrongPort, "the Langfuse web listens on 3000 and the worker on 3030: a container listening on 3000 runs the web image (langfuse/langfuse); the worker's image is langfuse/langfuse-worker, with the same tag as the web's"),
    (Class::Refused, "the worker listens once it has initialised (model prices, evaluators, dashboards in PostgreSQL): if this lasts, check its logs, and that the liveness probe gives it time (a startupProbe)"),
]);

/// `DATABASE_URL`, when the schema is checked through `DIRECT_URL`: the
/// worker's own login must work too.
pub(super) fn login_extra(pooled: bool) -> Extra {
    Extra::Postgres(postgres::Extra {
        tables: Vec::new(),
        prisma: false,
        pooled,
    })
}

/// The worker reads these tables at start-up and needs every Prisma
/// migration finished.
pub(super) fn database_extra(pooled: bool) -> Extra {
    let tables = WORKER_TABLES
        .iter()
        .map(|t| TableName::parse(t).expect("the preset's table names are valid"))
        .collect();
    Extra::Postgres(postgres::Extra {
        tables,
        prisma: true,
        pooled,
    })
}

/// Finished ClickHouse migrations and, with `CLICKHOUSE_CLUSTER_ENABLED`
/// true (Langfuse's default; only `false` turns it off), the clusters they
/// and the worker need: `default`, hard-coded in every clustered migration
/// (`packages/shared/clickhouse/migrations/clustered/*.up.sql`), and
/// `CLICKHOUSE_CLUSTER_NAME` (default `default`) for `schema_migrations`
/// and queries.
pub(super) fn clickhouse_extra(lf: &LangfuseEnv) -> Result<Extra, String> {
    let clustered = lf.clickhouse_cluster_enabled.is_none()
        || flag("CLICKHOUSE_CLUSTER_ENABLED", &lf.clickhouse_cluster_enabled)?;
    let mut clusters = Vec::new();
    if clustered {
        clusters.push("default".to_string());
        if let Some(name) = lf
            .clickhouse_cluster_name
            .as_ref()
            .filter(|n| *n != "default")
        {
            clusters.push(name.clone());
        }
    }
    Ok(Extra::ClickHouse(clickhouse::Extra {
        migrations: true,
        clusters,
        cluster_hint: Some(CLUSTER_HINT.into()),
    }))
}

const CLUSTER_HINT: &str = "CLICKHOUSE_CLUSTER_ENABLED is true (Langfuse's default): its migrations run ON CLUSTER default with Replicated tables; on a single ClickHouse server set CLICKHOUSE_CLUSTER_ENABLED=false on the web and the worker (as Langfuse's docker-compose does), or define the cluster (remote_servers) and ClickHouse Keeper";

/// The web's health endpoint answers 200 `{"status":"OK","version":...}`
/// once its migrations are done.
pub(super) fn web_extra() -> Extra {
    Extra::Http(http::Extra {
        status: Some(http::StatusSet::parse("200").expect("a valid status")),
        json: vec![http::JsonExpect::parse("/status=OK").expect("a valid pointer")],
        reports_version: true,
    })
}

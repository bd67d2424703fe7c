//! What the Langfuse worker's dependencies must satisfy beyond the flags,
//! and how their failures read in Langfuse's words: the tables the worker
//! reads at start-up, finished migrations, the web's health answer, and the
//! hint tables that turn "table missing" into "the web has not migrated".

use super::LangfuseEnv;
use crate::not_ready::{Class, Hints};
use crate::probe::postgres::TableName;
use crate::probe::{clickhouse, http, postgres, redis, Extra};

/// Tables the worker reads at start-up, beyond "all Prisma migrations
/// finished": `blob_storage_integrations` (its absence is the crash loop,
/// created by 20250324110557_add_blobstorage_integration_table, Langfuse
/// 3.45.0), `background_migrations` (the worker runs them at start),
/// `models` and `prices` (default model prices are upserted at start).
/// Tables of newer releases (dashboards, ...) are left to
/// `--prisma-migrations`, so an older 3.x web does not block for ever.
pub(super) const WORKER_TABLES: &[&str] = &[
    "blob_storage_integrations",
    "background_migrations",
    "models",
    "prices",
];

pub(super) const DATABASE_HINTS: Hints = Hints::new(&[
    (Class::Schema, "the Langfuse web has not migrated the database yet: check its logs for `prisma migrate deploy`; is LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED=true set on it?"),
    (Class::Auth, "check DATABASE_URL, or DATABASE_USERNAME and DATABASE_PASSWORD, in the worker's environment"),
    (Class::UnknownDatabase, "check DATABASE_NAME (or the database in DATABASE_URL): web and worker must use the same one"),
]);
pub(super) const CLICKHOUSE_HINTS: Hints = Hints::new(&[
    (Class::Schema, "the Langfuse web has not run its ClickHouse migrations yet: check its logs; is LANGFUSE_AUTO_CLICKHOUSE_MIGRATION_DISABLED=true set on it?"),
    (Class::FailedMigration, "a ClickHouse migration was interrupted, often because the web pod was killed by its liveness probe mid-migration: give the web a startupProbe, check the schema, then `migrate force VERSION` and restart the web"),
    (Class::Auth, "check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD in the worker's environment"),
]);
pub(super) const REDIS_HINTS: Hints = Hints::new(&[(
    Class::Auth,
    "check REDIS_AUTH (or the password in REDIS_CONNECTION_STRING)",
)]);
pub(super) const WEB_HINTS: Hints = Hints::new(&[
    (Class::Refused, WEB_UNREACHABLE),
    (Class::Dns, WEB_UNREACHABLE),
    (Class::Response, "the Langfuse web is up but not healthy yet; it answers 200 only after its migrations: check its logs"),
    (Class::Version, "deploy the Langfuse web and worker from one release (the same image tag); a rolling upgrade settles by itself"),
]);
const WEB_UNREACHABLE: &str = "check --langfuse-web: the web Service's name and port (3000); the web must listen on all interfaces (HOSTNAME=0.0.0.0)";

/// The worker reads these tables at start-up and needs every Prisma
/// migration finished.
pub(super) fn database_extra() -> Extra {
    let tables = WORKER_TABLES
        .iter()
        .map(|t| TableName::parse(t).expect("the preset's table names are valid"))
        .collect();
    Extra::Postgres(postgres::Extra {
        tables,
        prisma: true,
    })
}

/// `REDIS_TLS_CA_PATH` is trusted for this target alone.
pub(super) fn redis_extra(lf: &LangfuseEnv) -> Extra {
    Extra::Redis(redis::Extra {
        ca_file: lf
            .redis_tls_ca_path
            .clone()
            .map(|path| (path, "REDIS_TLS_CA_PATH")),
    })
}

pub(super) fn clickhouse_extra() -> Extra {
    Extra::ClickHouse(clickhouse::Extra { migrations: true })
}

/// The web's health endpoint answers 200 `{"status":"OK","version":...}`
/// once its migrations are done.
pub(super) fn web_extra() -> Extra {
    Extra::Http(http::Extra {
        status: Some(http::StatusSet::parse("200").expect("a valid status")),
        json: vec![http::JsonExpect::parse("/status=OK").expect("a valid pointer")],
        reports_version: true,
    })
}

//! PostgreSQL probe: ready when a login succeeds and the schema is there:
//! required tables, finished Prisma migrations, and an optional read-only
//! custom check.
//!
//! The probe keeps one connection between attempts, idle and never inside a
//! transaction, so it holds no lock a migration could wait on. It gives the
//! connection back when the server is close to `max_connections`, and the wait
//! loop backs off when the server refuses with "too many connections", so a
//! fleet of gates cannot starve the app it waits for.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection, Row};
use url::Url;

use super::{Class, NotReady};

/// A table name: `schema.name`, or `name` looked up through `search_path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (schema, name) = match raw.split_once('.') {
            Some((s, n)) => (Some(s.to_string()), n.to_string()),
            None => (None, raw.to_string()),
        };
        let bad = |part: &str| part.is_empty() || part.len() > 63 || part.contains(['\0', '.']);
        if bad(&name) || schema.as_deref().is_some_and(bad) {
            return Err(format!(
                "{:?} is not a table name; write name or schema.name (at most 63 bytes each)",
                crate::duration::shorten(raw)
            ));
        }
        Ok(TableName { schema, name })
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What must hold, beyond a successful login, for PostgreSQL to be ready.
#[derive(Clone, Debug, Default)]
pub struct Requirements {
    pub tables: Vec<TableName>,
    /// `--prisma-migrations`: no failed or running migration, at least one applied.
    pub prisma: bool,
    /// Migrations that must be applied (`--migration`, `--prisma-migrations-dir`).
    pub migrations: Vec<String>,
    /// `--sql`: must return true in the first column of its first row.
    pub sql: Option<String>,
}

impl Requirements {
    fn needs_prisma_table(&self) -> bool {
        self.prisma || !self.migrations.is_empty()
    }
}

/// Prisma's own URL parameters, which are not libpq's and are ignored here
/// (except `schema`, which becomes the `search_path`).
const PRISMA_PARAMS: &[&str] = &[
    "connection_limit",
    "pool_timeout",
    "pgbouncer",
    "connect_timeout",
    "socket_timeout",
    "statement_cache_size",
    "sslaccept",
    "sslidentity",
    "sslpassword",
];

/// Builds connect options from a target URL: libpq's parameters that matter
/// (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `host`, `port`, `user`,
/// `password`, `dbname`, `application_name`, `options`) and Prisma's `schema`.
/// `attempt_timeout` bounds every statement and any open transaction.
pub fn connect_options(url: &Url, attempt_timeout: Duration) -> Result<PgConnectOptions, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut opts = PgConnectOptions::new_without_pgpass()
        .host(
            url.host_str()
                .unwrap_or("localhost")
                .trim_start_matches('[')
                .trim_end_matches(']'),
        )
        .port(url.port().unwrap_or(5432))
        .application_name("readygate")
        .ssl_mode(PgSslMode::Prefer);
    if !url.username().is_empty() {
        opts = opts.username(&decode(url.username()));
    }
    if let Some(password) = url.password() {
        opts = opts.password(&decode(password));
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() {
        opts = opts.database(&decode(db));
    }
    let mut settings: Vec<(String, String)> = Vec::new();
    for (key, value) in url.query_pairs() {
        let value = value.into_owned();
        match &*key {
            "sslmode" => {
                let mode = value.parse::<PgSslMode>().map_err(|_| {
                    format!("has sslmode={value:?}; use disable, allow, prefer, require, verify-ca or verify-full")
                })?;
                opts = opts.ssl_mode(mode);
            }
            "sslrootcert" => {
                readable(&value, "sslrootcert")?;
                opts = opts.ssl_root_cert(&value);
            }
            "sslcert" => {
                readable(&value, "sslcert")?;
                opts = opts.ssl_client_cert(&value);
            }
            "sslkey" => {
                readable(&value, "sslkey")?;
                opts = opts.ssl_client_key(&value);
            }
            "host" if value.starts_with('/') => opts = opts.socket(&value),
            "host" => opts = opts.host(&value),
            "port" => opts = opts.port(value.parse().map_err(|_| format!("has port={value:?}, not a port number"))?),
            "user" => opts = opts.username(&value),
            "password" => opts = opts.password(&value),
            "dbname" => opts = opts.database(&value),
            "application_name" => opts = opts.application_name(&value),
            "options" => {
                for setting in value.split("-c").map(str::trim).filter(|s| !s.is_empty()) {
                    let (k, v) = setting.split_once('=').ok_or("has an options= value that is not -c key=value")?;
                    settings.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            "schema" => settings.push(("search_path".into(), quote_ident(&value))),
            k if PRISMA_PARAMS.contains(&k) => {}
            other => {
                return Err(format!(
                    "has unknown parameter {:?}; readygate understands libpq's sslmode, sslrootcert, sslcert, sslkey, host, port, user, password, dbname, application_name, options, and Prisma's schema",
                    crate::duration::shorten(other)
                ))
            }
        }
    }
    let ms = attempt_timeout.as_millis().max(1).to_string();
    settings.push(("statement_timeout".into(), ms.clone()));
    settings.push(("idle_in_transaction_session_timeout".into(), ms));
    Ok(opts
        .options(settings.iter().map(|(k, v)| (k.as_str(), escape_option(v))))
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600)))
}

fn readable(path: &str, param: &str) -> Result<(), String> {
    std::fs::metadata(path)
        .map(drop)
        .map_err(|e| format!("has {param}={path:?}, which cannot be read ({e})"))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Startup `options` are split on spaces by the server; escape them.
fn escape_option(value: &str) -> String {
    value.replace('\\', "\\\\").replace(' ', "\\ ")
}

pub struct PostgresProbe {
    options: PgConnectOptions,
    what: String,
    req: Arc<Requirements>,
    conn: Option<PgConnection>,
}

/// The result of one attempt on an open connection.
struct Attempt {
    result: Result<(), NotReady>,
    /// Whether the connection is healthy and may be kept for the next attempt.
    keep: bool,
}

impl PostgresProbe {
    pub fn new(options: PgConnectOptions, req: Arc<Requirements>) -> Self {
        let what = match options.get_socket() {
            Some(path) => path.display().to_string(),
            None => format!("{}:{}", options.get_host(), options.get_port()),
        };
        PostgresProbe {
            options,
            what,
            req,
            conn: None,
        }
    }

    pub async fn check(&mut self, _budget: Duration) -> Result<(), NotReady> {
        // Taken out, so a cancelled attempt drops (closes) the connection.
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => match boxed(PgConnection::connect_with(&self.options)).await {
                Ok(conn) => conn,
                Err(e) => return Err(self.classify(e)),
            },
        };
        let Attempt { result, keep } = boxed(self.attempt(&mut conn)).await;
        if keep && result.is_err() {
            self.conn = Some(conn);
        } else {
            // Ready targets are not checked again; say goodbye properly.
            let _ = tokio::time::timeout(Duration::from_millis(200), conn.close()).await;
        }
        result
    }

    async fn attempt(&self, conn: &mut PgConnection) -> Attempt {
        let status = match boxed(self.status(conn)).await {
            Ok(status) => status,
            Err(e) => {
                return Attempt {
                    keep: false,
                    result: Err(self.classify(e)),
                }
            }
        };
        // Keep the connection only while the server has room for the app.
        let keep = status.free_slots >= (status.max_connections / 10).max(3);
        let fail = move |e: NotReady| Attempt {
            result: Err(e),
            keep,
        };
        if status.in_recovery {
            return fail(
                NotReady::new(
                    Class::Starting,
                    "server is in recovery (a standby, or still replaying WAL)",
                )
                .hint("point the URL at the primary, which the migrations write to"),
            );
        }
        if !status.missing_tables.is_empty() {
            let names: Vec<String> = status
                .missing_tables
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect();
            let (noun, verb) = if names.len() == 1 {
                ("table", "does")
            } else {
                ("tables", "do")
            };
            return fail(NotReady::new(Class::Schema, format!("{noun} {} {verb} not exist", names.join(", ")))
                .hint("the schema is not migrated yet: check the logs of the service that runs the migrations"));
        }
        if self.req.needs_prisma_table() {
            if !status.has_prisma_table {
                return fail(NotReady::new(Class::Schema, "table \"_prisma_migrations\" does not exist")
                    .hint("no Prisma migration has run yet: check the migrating service's logs for `prisma migrate deploy`"));
            }
            match boxed(self.prisma(conn)).await {
                Ok(Ok(())) => {}
                Ok(Err(not_ready)) => return fail(not_ready),
                Err(e) => {
                    return Attempt {
                        keep: false,
                        result: Err(self.classify(e)),
                    }
                }
            }
        }
        if let Some(sql) = &self.req.sql {
            match boxed(custom_check(conn, sql)).await {
                Ok(Ok(())) => {}
                Ok(Err(not_ready)) => return fail(not_ready),
                Err(e) => {
                    return Attempt {
                        keep: false,
                        result: Err(self.classify(e)),
                    }
                }
            }
        }
        Attempt {
            result: Ok(()),
            keep,
        }
    }

    /// One statement per attempt while the schema is missing.
    async fn status(&self, conn: &mut PgConnection) -> Result<Status, sqlx::Error> {
        let schemas: Vec<String> = self
            .req
            .tables
            .iter()
            .map(|t| t.schema.clone().unwrap_or_default())
            .collect();
        let names: Vec<String> = self.req.tables.iter().map(|t| t.name.clone()).collect();
        let row = sqlx::query(STATUS_SQL)
            .bind(schemas)
            .bind(names)
            .fetch_one(&mut *conn);
        let row = boxed(row).await?;
        let missing: Vec<i64> = row.try_get(0)?;
        Ok(Status {
            missing_tables: missing
                .iter()
                .filter_map(|&i| self.req.tables.get((i - 1) as usize))
                .cloned()
                .collect(),
            has_prisma_table: row.try_get(1)?,
            in_recovery: row.try_get(2)?,
            max_connections: row.try_get(3)?,
            free_slots: row.try_get(4)?,
        })
    }

    async fn prisma(&self, conn: &mut PgConnection) -> Result<Result<(), NotReady>, sqlx::Error> {
        let row = sqlx::query(PRISMA_SQL)
            .bind(self.req.migrations.clone())
            .fetch_one(&mut *conn);
        let row = boxed(row).await?;
        let applied: i64 = row.try_get(0)?;
        let unfinished: Option<String> = row.try_get(1)?;
        let logs: Option<String> = row.try_get(2)?;
        let missing: Vec<String> = row.try_get(3)?;
        if let Some(name) = unfinished.filter(|n| self.req.prisma || missing.contains(n)) {
            return Ok(Err(match logs.as_deref().and_then(|l| l.lines().map(str::trim).find(|l| !l.is_empty())) {
                Some(first) => NotReady::new(Class::FailedMigration, format!("migration {name} failed: {first}")).hint(format!(
                    "Prisma blocks later deploys until it is resolved (P3009): fix the cause, run `prisma migrate resolve --rolled-back {name}`, then redeploy the migrating service"
                )),
                None => NotReady::new(Class::Schema, format!("migration {name} is still running"))
                    .hint("wait for it; if it stays, the migrating process died: check its logs"),
            }));
        }
        if self.req.prisma && applied == 0 {
            return Ok(Err(NotReady::new(
                Class::Schema,
                "no Prisma migration has finished yet",
            )
            .hint(
                "check the migrating service's logs for `prisma migrate deploy`",
            )));
        }
        if let Some(first) = missing.first() {
            let more = if missing.len() > 1 {
                format!(" and {} more", missing.len() - 1)
            } else {
                String::new()
            };
            return Ok(Err(NotReady::new(Class::Schema, format!("migration {first}{more} not applied yet")).hint(
                "the migrating service has not deployed this release's migrations: is it the same version, and did it start?",
            )));
        }
        Ok(Ok(()))
    }

    fn classify(&self, err: sqlx::Error) -> NotReady {
        classify(
            err,
            &self.what,
            self.options.get_username(),
            self.options.get_database(),
        )
    }
}

struct Status {
    missing_tables: Vec<TableName>,
    has_prisma_table: bool,
    in_recovery: bool,
    max_connections: i32,
    free_slots: i32,
}

const STATUS_SQL: &str = "\
SELECT
  ARRAY(SELECT t.i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(s, n, i)
        WHERE NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
          WHERE c.relname = t.n AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND CASE WHEN t.s = '' THEN ns.nspname = ANY (pg_catalog.current_schemas(false)) ELSE ns.nspname = t.s END)),
  EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
          WHERE c.relname = '_prisma_migrations' AND ns.nspname = ANY (pg_catalog.current_schemas(false))),
  pg_catalog.pg_is_in_recovery(),
  pg_catalog.current_setting('max_connections')::int4,
  (pg_catalog.current_setting('max_connections')::int4
   - pg_catalog.current_setting('superuser_reserved_connections')::int4
   - (SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'client backend'))::int4";

const PRISMA_SQL: &str = "\
SELECT
  (SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL),
  f.migration_name,
  f.logs,
  ARRAY(SELECT m FROM unnest($1::text[]) AS m
        WHERE NOT EXISTS (SELECT 1 FROM _prisma_migrations p
                          WHERE p.migration_name = m AND p.finished_at IS NOT NULL AND p.rolled_back_at IS NULL))
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT migration_name, logs FROM _prisma_migrations
                   WHERE finished_at IS NULL AND rolled_back_at IS NULL
                   ORDER BY started_at LIMIT 1) AS f ON true";

/// Runs `--sql` in a read-only transaction (the session's statement timeout
/// bounds it) and always ends the transaction before returning.
async fn custom_check(
    conn: &mut PgConnection,
    sql: &str,
) -> Result<Result<(), NotReady>, sqlx::Error> {
    boxed(sqlx::query("BEGIN READ ONLY").execute(&mut *conn)).await?;
    // Extended protocol: one statement only, and no splicing.
    let row = boxed(sqlx::query(sql).fetch_optional(&mut *conn)).await;
    boxed(sqlx::query("ROLLBACK").execute(&mut *conn)).await?;
    let verdict = match row {
        Ok(Some(row)) => match row.try_get::<Option<bool>, _>(0) {
            Ok(Some(true)) => Ok(()),
            Ok(v) => Err(NotReady::new(
                Class::Schema,
                format!(
                    "--sql returned {}",
                    v.map_or("NULL".into(), |b| b.to_string())
                ),
            )
            .hint("the custom check is not satisfied yet")),
            Err(e) => Err(NotReady::new(
                Class::Other,
                format!("--sql's first column is not a boolean ({e})"),
            )
            .hint("make the query return true when ready, e.g. SELECT count(*) > 0 FROM ...")),
        },
        Ok(None) => Err(NotReady::new(Class::Schema, "--sql returned no rows")
            .hint("the custom check is not satisfied yet")),
        Err(sqlx::Error::Database(db)) => Err(database_error(&*db, "--sql failed")),
        Err(other) => return Err(other),
    };
    Ok(verdict)
}

/// Classifies an error from connecting or querying.
pub fn classify(err: sqlx::Error, what: &str, user: &str, db: Option<&str>) -> NotReady {
    match err {
        sqlx::Error::Io(io) => NotReady::from_io(&io, what),
        sqlx::Error::Tls(e) => NotReady::new(Class::Tls, format!("TLS with {what} failed: {}", super::http::error_chain(&*e)))
            .hint("the server's certificate is not trusted or names another host: set sslrootcert=PATH in the URL, or check sslmode"),
        sqlx::Error::Database(db_err) => match db_err.code().as_deref() {
            Some("28P01" | "28000") => NotReady::new(Class::Auth, format!("login as {user:?} rejected: {}", db_err.message()))
                .hint("check the user and password in the URL (and pg_hba.conf for this client)"),
            Some("3D000") => NotReady::new(Class::UnknownDatabase, format!("database {:?} does not exist", db.unwrap_or(user)))
                .hint("check the database name in the URL, or create the database"),
            _ => database_error(&*db_err, "query failed"),
        },
        sqlx::Error::PoolTimedOut => NotReady::timeout(Duration::ZERO),
        other => {
            let text = super::http::error_chain(&other);
            if super::is_dns_error(&text) {
                NotReady::new(Class::Dns, format!("cannot resolve {what}: {text}"))
                    .hint("the host name does not resolve (yet): check the service name and namespace, or wait for DNS")
            } else if text.to_ascii_lowercase().contains("tls") || text.contains("certificate") {
                NotReady::new(Class::Tls, format!("TLS with {what} failed: {text}"))
                    .hint("set sslrootcert=PATH in the URL, or check sslmode")
            } else {
                NotReady::new(Class::Other, format!("{what}: {text}"))
            }
        }
    }
}

fn database_error(db: &dyn sqlx::error::DatabaseError, context: &str) -> NotReady {
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let message = db.message();
    match code.as_str() {
        "53300" => NotReady::new(Class::TooManyConnections, format!("server refused: {message}"))
            .hint("the server is at max_connections; backing off so the app can connect"),
        "57P03" => NotReady::new(Class::Starting, format!("server is not accepting connections yet: {message}"))
            .hint("PostgreSQL is starting up, shutting down or recovering; wait"),
        "57P01" | "57P02" => NotReady::new(Class::Starting, format!("server is shutting down: {message}")),
        "57014" => NotReady::new(Class::Timeout, format!("{context}: statement timed out"))
            .hint("the query is slow or waits for a lock: check for long transactions"),
        "42P01" => NotReady::new(Class::Schema, format!("{context}: {message}"))
            .hint("the schema is not migrated yet: check the logs of the service that runs the migrations"),
        "42501" => NotReady::new(Class::Other, format!("{context}: {message}"))
            .hint("the user lacks privileges: GRANT SELECT on what the check reads"),
        "25006" => NotReady::new(Class::Other, format!("{context}: {message}"))
            .hint("--sql runs read-only; make it a SELECT that returns true when ready"),
        _ => NotReady::new(Class::Other, format!("{context}: {message} (SQLSTATE {code})")),
    }
}

/// Erases a future's type behind `dyn Send`. sqlx's futures borrow the
/// connection in ways rustc cannot prove `Send` for every lifetime once they
/// are nested in a generic caller (rust-lang/rust#102211); boxing each one at
/// its call site, where the lifetimes are concrete, sidesteps that.
fn boxed<'a, T>(
    fut: impl Future<Output = T> + Send + 'a,
) -> Pin<Box<dyn Future<Output = T> + Send + 'a>> {
    Box::pin(fut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert_eq!(
            TableName::parse("users").unwrap(),
            TableName {
                schema: None,
                name: "users".into()
            }
        );
        assert_eq!(
            TableName::parse("app.users").unwrap().to_string(),
            "app.users"
        );
        for bad in ["", ".x", "x.", "a.b.c", &"x".repeat(64)] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_parameters() {
        let t = Duration::from_secs(5);
        let url = Url::parse(
            "postgresql://u:p%40ss@db:6543/lf?schema=app&sslmode=require&connection_limit=5",
        )
        .unwrap();
        let o = connect_options(&url, t).unwrap();
        assert_eq!(
            (o.get_host(), o.get_port(), o.get_database()),
            ("db", 6543, Some("lf"))
        );
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
        assert!(o.get_options().unwrap().contains("search_path=\"app\""));
        assert!(o.get_options().unwrap().contains("statement_timeout=5000"));
        let bad = Url::parse("postgres://db/x?sslmode=sometimes").unwrap();
        assert!(connect_options(&bad, t).unwrap_err().contains("sslmode"));
        let bad = Url::parse("postgres://db/x?sslrootcert=/nonexistent/ca.pem").unwrap();
        assert!(connect_options(&bad, t)
            .unwrap_err()
            .contains("sslrootcert"));
        let bad = Url::parse("postgres://db/x?frobnicate=1").unwrap();
        assert!(connect_options(&bad, t).unwrap_err().contains("frobnicate"));
    }
}

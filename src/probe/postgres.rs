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
        // Invisible characters (zero-width, bidi controls) come from copy
        // and paste, not from migrations: a table that nobody will create.
        let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}');
        let bad = |part: &str| {
            part.is_empty()
                || part.len() > 63
                || part.contains(|c: char| c == '.' || c.is_control() || invisible(c))
        };
        if bad(&name) || schema.as_deref().is_some_and(bad) {
            return Err(format!(
                "{:?} is not a table name; write name or schema.name (at most 63 bytes each, no control or invisible characters)",
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

/// Prisma's own URL parameters, which are not libpq's: ignored here, except
/// `schema` (the `search_path`) and `pgbouncer=true` (refused: see below).
const PRISMA_PARAMS: &[&str] = &[
    "connection_limit",
    "pool_timeout",
    "connect_timeout",
    "socket_timeout",
    "statement_cache_size",
    "sslaccept",
    "sslidentity",
    "sslpassword",
];

/// `statement_timeout` and friends are 32-bit milliseconds on the server.
pub const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Builds connect options from a target URL: libpq's parameters that matter
/// (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `host`, `port`, `user`,
/// `password`, `dbname`, `application_name`, `options`) and Prisma's `schema`.
/// What the URL leaves out comes from libpq's `PG*` variables, as with `psql`.
/// Every session is read-only by default, and `attempt_timeout` bounds every
/// statement and any open transaction.
///
/// `pgbouncer=true` is refused: PgBouncer in transaction mode rejects the
/// startup options that make the session read-only and time-bounded, and
/// splits sqlx's prepare and execute across server connections. The gate
/// belongs on the direct URL the migrations use (Prisma's `DIRECT_URL`).
pub fn connect_options(url: &Url, attempt_timeout: Duration) -> Result<PgConnectOptions, String> {
    use crate::target::{decode_part as decode, no_nul};
    let mut opts = PgConnectOptions::new_without_pgpass().application_name("readygate");
    if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
        opts = opts.host(host.trim_start_matches('[').trim_end_matches(']'));
    }
    if let Some(port) = url.port() {
        opts = opts.port(port);
    }
    if !url.username().is_empty() {
        opts = opts.username(&decode("user name", url.username())?);
    }
    if let Some(password) = url.password() {
        opts = opts.password(&decode("password", password)?);
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() {
        opts = opts.database(&decode("database name", db)?);
    }
    let mut settings: Vec<(String, String)> = Vec::new();
    for (key, value) in url.query_pairs() {
        let value = no_nul(&format!("{key}= parameter"), value.into_owned())?;
        match &*key {
            "sslmode" => {
                let mode = value.parse::<PgSslMode>().map_err(|_| {
                    format!("has sslmode={:?}; use disable, allow, prefer, require, verify-ca or verify-full", crate::duration::shorten(&value))
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
            "port" => {
                opts = opts.port(value.parse().map_err(|_| "has a port= that is not a port number".to_string())?)
            }
            "user" => opts = opts.username(&value),
            "password" => opts = opts.password(&value),
            "dbname" => opts = opts.database(&value),
            "application_name" => opts = opts.application_name(&value),
            "options" => settings.extend(parse_options(&value)?),
            "schema" => settings.push(("search_path".into(), quote_ident(&value))),
            "pgbouncer" if value == "true" => {
                return Err("has pgbouncer=true; point readygate at PostgreSQL directly (the URL the migrations use, e.g. Prisma's DIRECT_URL), not at PgBouncer".into())
            }
            "pgbouncer" => {}
            k if PRISMA_PARAMS.contains(&k) => {}
            other => {
                return Err(format!(
                    "has unknown parameter {:?}; readygate understands libpq's sslmode, sslrootcert, sslcert, sslkey, host, port, user, password, dbname, application_name, options, and Prisma's schema",
                    crate::duration::shorten(other)
                ))
            }
        }
    }
    let ms = attempt_timeout
        .as_millis()
        .clamp(1, MAX_ATTEMPT_TIMEOUT.as_millis())
        .to_string();
    settings.push(("statement_timeout".into(), ms.clone()));
    settings.push(("idle_in_transaction_session_timeout".into(), ms));
    settings.push(("default_transaction_read_only".into(), "on".into()));
    Ok(opts
        .options(settings.iter().map(|(k, v)| (k.as_str(), escape_option(v))))
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600)))
}

/// Parses libpq's `options` value: `-c key=value`, `-ckey=value` or
/// `--key=value`, separated by unescaped spaces.
fn parse_options(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let bad = || "has an options= value that is not -c key=value".to_string();
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let setting = match w.as_str() {
            "-c" => words.next().ok_or_else(bad)?,
            _ if w.starts_with("--") => w[2..].to_string(),
            _ if w.starts_with("-c") => w[2..].to_string(),
            _ => return Err(bad()),
        };
        let (k, v) = setting.split_once('=').ok_or_else(bad)?;
        settings.push((k.replace('-', "_"), v.to_string()));
    }
    Ok(settings)
}

fn readable(path: &str, param: &str) -> Result<(), String> {
    let text = std::fs::read(path)
        .map_err(|e| format!("has {param}={path:?}, which cannot be read ({e})"))?;
    if !text.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(format!("has {param}={path:?}, which holds no PEM data"));
    }
    Ok(())
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
    conn: Option<Session>,
    /// Sidecar mode: checked again after it is ready, so keep the connection.
    monitoring: bool,
}

/// A kept connection and what its session looked like when it was opened.
struct Session {
    conn: PgConnection,
    /// Read-only default, statement timeout, role and "not inside a
    /// transaction", as first seen; a `--sql` that changes them loses the
    /// connection.
    baseline: Option<String>,
    /// `_prisma_migrations` was seen, so the Prisma columns can be asked
    /// for in the same statement as the rest.
    prisma_table: bool,
    /// The last count of free connection slots: when, how many, of how many.
    slots: Option<SlotCount>,
}

#[derive(Clone, Copy)]
struct SlotCount {
    at: tokio::time::Instant,
    free: i32,
    max_connections: i32,
}

impl SlotCount {
    fn crowded(self) -> bool {
        self.free < crowded_below(self.max_connections)
    }

    /// Due for counting again: a second old, or close to crowded.
    fn stale(self) -> bool {
        self.at.elapsed() >= COUNT_SLOTS_EVERY
            || self.free < 2 * crowded_below(self.max_connections)
    }
}

/// Counting free slots reads every backend's status (pg_stat_activity),
/// most of an attempt's cost on a busy server: 100 gates polling every
/// 80 ms would spend a core on it. Once a second is enough to decide
/// whether to keep a connection, except when the last count was close to
/// crowded: then every attempt counts, or a fleet starting at once would
/// overshoot (each gate counted before the last ones arrived).
const COUNT_SLOTS_EVERY: Duration = Duration::from_secs(1);

/// Fewer free slots than this and the gate gives its connection back: a
/// tenth of `max_connections`, at least 3.
fn crowded_below(max_connections: i32) -> i32 {
    (max_connections / 10).max(3)
}

/// The result of one attempt on an open connection.
struct Attempt {
    result: Result<(), NotReady>,
    /// Whether the connection is healthy and may be kept for the next attempt.
    keep: bool,
}

impl Attempt {
    fn drop_with(e: NotReady) -> Attempt {
        Attempt {
            result: Err(e),
            keep: false,
        }
    }
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
            monitoring: false,
        }
    }

    /// Keeps the connection after a successful check too (sidecar mode).
    pub fn keep_when_ready(&mut self) {
        self.monitoring = true;
    }

    pub async fn check(&mut self, _budget: Duration) -> Result<(), NotReady> {
        let reused = self.conn.is_some();
        let result = boxed(self.check_on_session()).await;
        match result {
            // The kept connection had died (server restart, idle timeout,
            // terminated backend): that says nothing about the server now.
            Err(e)
                if reused
                    && self.conn.is_none()
                    && matches!(e.class, Class::Refused | Class::Starting) =>
            {
                boxed(self.check_on_session()).await
            }
            other => other,
        }
    }

    async fn check_on_session(&mut self) -> Result<(), NotReady> {
        // Taken out, so a cancelled attempt drops (closes) the connection.
        let mut session = match self.conn.take() {
            Some(session) => session,
            None => match boxed(PgConnection::connect_with(&self.options)).await {
                Ok(conn) => Session {
                    conn,
                    baseline: None,
                    prisma_table: false,
                    slots: None,
                },
                Err(e) => return Err(self.classify(e)),
            },
        };
        let Attempt { result, keep } = boxed(self.attempt(&mut session)).await;
        if keep {
            self.conn = Some(session);
        } else {
            // Ready targets are not checked again; say goodbye properly.
            let _ = tokio::time::timeout(Duration::from_millis(200), session.conn.close()).await;
        }
        result
    }

    async fn attempt(&self, session: &mut Session) -> Attempt {
        let with_prisma = self.req.needs_prisma_table() && session.prisma_table;
        let count = session.slots.is_none_or(SlotCount::stale);
        let mut status = match boxed(self.status(&mut session.conn, with_prisma, count)).await {
            Ok(status) => status,
            Err(e) => return Attempt::drop_with(self.classify(e)),
        };
        if self.req.needs_prisma_table() && status.has_prisma_table && !with_prisma {
            // Just appeared: ask again with the Prisma columns, this once.
            session.prisma_table = true;
            status = match boxed(self.status(&mut session.conn, true, count)).await {
                Ok(status) => status,
                Err(e) => return Attempt::drop_with(self.classify(e)),
            };
        }
        match &session.baseline {
            None => session.baseline = Some(status.session.clone()),
            Some(seen) if self.req.sql.is_some() && *seen != status.session => {
                return Attempt::drop_with(
                    NotReady::new(Class::Other, "--sql changed the session (read-only default, timeouts, search_path or role)")
                        .hint("make --sql a single SELECT that returns true when ready; readygate reconnects meanwhile"),
                )
            }
            Some(_) => {}
        }
        // Keep the connection only while the server has room for the app.
        if let Some(free) = status.free_slots {
            session.slots = Some(SlotCount {
                at: tokio::time::Instant::now(),
                free,
                max_connections: status.max_connections,
            });
        }
        let crowded = session.slots.is_some_and(SlotCount::crowded);
        let fail = move |e: NotReady| Attempt {
            result: Err(NotReady { crowded, ..e }),
            keep: !crowded,
        };
        if status.in_recovery {
            // Not kept: after a failover, a new connection finds the new primary.
            return Attempt::drop_with(
                NotReady::new(
                    Class::Starting,
                    "server is in recovery (a standby, or still replaying WAL)",
                )
                .hint("point the URL at the primary, which the migrations write to"),
            );
        }
        // A failed migration is the root cause of any table still missing.
        let prisma = match (&status.prisma, self.req.needs_prisma_table()) {
            (_, false) => Ok(()),
            (Some(prisma), true) => self.judge_prisma(prisma),
            (None, true) => Err(NotReady::new(Class::Schema, "table \"_prisma_migrations\" does not exist")
                .hint("no Prisma migration has run yet: check the migrating service's logs for `prisma migrate deploy`")),
        };
        if let Err(failed) = &prisma {
            if failed.class == Class::FailedMigration {
                return fail(failed.clone());
            }
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
            return fail(
                NotReady::new(Class::Schema, format!("{noun} {} {verb} not exist", names.join(", ")))
                    .hint("the schema is not migrated yet: check the logs of the service that runs the migrations"),
            );
        }
        if let Err(not_ready) = prisma {
            return fail(not_ready);
        }
        if let Some(sql) = &self.req.sql {
            match boxed(self.custom_check(&mut session.conn, sql)).await {
                Ok(()) => {}
                // Anything but a boolean row may have been a statement that
                // changed the session (BEGIN, SET ...): do not keep it.
                Err((not_ready, keep)) => {
                    return Attempt {
                        keep: keep && !crowded,
                        result: Err(NotReady {
                            crowded,
                            ..not_ready
                        }),
                    }
                }
            }
        }
        Attempt {
            result: Ok(()),
            keep: self.monitoring && !crowded,
        }
    }

    /// One statement per attempt: the tables, the server's state and, once
    /// `_prisma_migrations` exists, the migrations.
    async fn status(
        &self,
        conn: &mut PgConnection,
        with_prisma: bool,
        count_slots: bool,
    ) -> Result<Status, sqlx::Error> {
        let schemas: Vec<String> = self
            .req
            .tables
            .iter()
            .map(|t| t.schema.clone().unwrap_or_default())
            .collect();
        let names: Vec<String> = self.req.tables.iter().map(|t| t.name.clone()).collect();
        let sql = if with_prisma {
            STATUS_WITH_PRISMA_SQL
        } else {
            STATUS_SQL
        };
        let mut query = sqlx::query(sql).bind(schemas).bind(names).bind(count_slots);
        if with_prisma {
            query = query.bind(self.req.migrations.clone());
        }
        let row = boxed(query.fetch_one(&mut *conn)).await?;
        let missing: Vec<i64> = row.try_get(0)?;
        let prisma = if with_prisma {
            Some(Prisma {
                applied: row.try_get(6)?,
                unfinished: row.try_get(7)?,
                logs: row.try_get(8)?,
                missing: row.try_get(9)?,
            })
        } else {
            None
        };
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
            session: row.try_get(5)?,
            prisma,
        })
    }

    fn judge_prisma(&self, p: &Prisma) -> Result<(), NotReady> {
        if let Some(name) = p
            .unfinished
            .as_ref()
            .filter(|n| self.req.prisma || p.missing.contains(n))
        {
            let first = p
                .logs
                .as_deref()
                .and_then(|l| l.lines().map(str::trim).find(|l| !l.is_empty()));
            return Err(match first {
                Some(first) => NotReady::new(Class::FailedMigration, format!("migration {name} failed: {first}")).hint(format!(
                    "Prisma blocks later deploys until it is resolved (P3009): fix the cause, run `prisma migrate resolve --rolled-back {name}`, then redeploy the migrating service"
                )),
                None => NotReady::new(Class::Schema, format!("migration {name} is still running"))
                    .hint("wait for it; if it stays, the migrating process died: check its logs"),
            });
        }
        if self.req.prisma && p.applied == 0 {
            return Err(
                NotReady::new(Class::Schema, "no Prisma migration has finished yet")
                    .hint("check the migrating service's logs for `prisma migrate deploy`"),
            );
        }
        if let Some(first) = p.missing.first() {
            let more = if p.missing.len() > 1 {
                format!(" and {} more", p.missing.len() - 1)
            } else {
                String::new()
            };
            return Err(NotReady::new(Class::Schema, format!("migration {first}{more} not applied yet")).hint(
                "the migrating service has not deployed this release's migrations: is it the same version, and did it start?",
            ));
        }
        Ok(())
    }

    /// Runs `--sql` as one statement (the extended protocol refuses several)
    /// in the session's read-only transaction, under its statement timeout.
    /// The error says whether the connection may be kept.
    async fn custom_check(
        &self,
        conn: &mut PgConnection,
        sql: &str,
    ) -> Result<(), (NotReady, bool)> {
        let row = boxed(sqlx::query(sql).fetch_optional(&mut *conn)).await;
        let unsatisfied = |what: String| {
            NotReady::new(Class::Schema, what).hint("the custom check is not satisfied yet")
        };
        match row {
            Ok(Some(row)) => match row.try_get::<Option<bool>, _>(0) {
                Ok(Some(true)) => Ok(()),
                Ok(Some(false)) => Err((unsatisfied("--sql returned false".into()), true)),
                Ok(None) => Err((unsatisfied("--sql returned NULL".into()), true)),
                Err(e) => Err((
                    NotReady::new(
                        Class::Other,
                        format!("--sql's first column is not a boolean ({e})"),
                    )
                    .hint(
                        "make the query return true when ready, e.g. SELECT count(*) > 0 FROM ...",
                    ),
                    false,
                )),
            },
            Ok(None) => Err((
                NotReady::new(Class::Schema, "--sql returned no rows")
                    .hint("make --sql a single SELECT that returns one row with true when ready"),
                false,
            )),
            Err(sqlx::Error::Database(db)) => Err((database_error(&*db, "--sql failed"), false)),
            Err(other) => Err((self.classify(other), false)),
        }
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
    /// Counted at most once a second (`COUNT_SLOTS_EVERY`), else `None`.
    free_slots: Option<i32>,
    session: String,
    prisma: Option<Prisma>,
}

struct Prisma {
    applied: i64,
    unfinished: Option<String>,
    logs: Option<String>,
    missing: Vec<String>,
}

macro_rules! status_columns {
    () => {
        "SELECT
  ARRAY(SELECT t.i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(s, n, i)
        WHERE NOT EXISTS (
          SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
          WHERE c.relname = t.n AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
            AND CASE WHEN t.s = '' THEN ns.nspname = ANY (pg_catalog.current_schemas(false)) ELSE ns.nspname = t.s END)),
  EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
          WHERE c.relname = '_prisma_migrations' AND ns.nspname = ANY (pg_catalog.current_schemas(false))),
  pg_catalog.pg_is_in_recovery(),
  pg_catalog.current_setting('max_connections')::int4,
  CASE WHEN $3 THEN (pg_catalog.current_setting('max_connections')::int4
   - pg_catalog.current_setting('superuser_reserved_connections')::int4
   - coalesce(pg_catalog.current_setting('reserved_connections', true)::int4, 0)
   - (SELECT count(*) FROM pg_catalog.pg_stat_get_activity(NULL) a
      WHERE a.backend_type = 'client backend'))::int4 END,
  concat_ws('|', pg_catalog.current_setting('default_transaction_read_only'),
            pg_catalog.current_setting('statement_timeout'),
            pg_catalog.current_setting('idle_in_transaction_session_timeout'),
            pg_catalog.current_setting('search_path'), current_user = session_user)"
    };
}

const STATUS_SQL: &str = status_columns!();

/// The same, plus the Prisma columns; only sent once `_prisma_migrations`
/// exists, since a missing table fails the whole statement.
const STATUS_WITH_PRISMA_SQL: &str = concat!(
    status_columns!(),
    ",
  (SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL),
  f.migration_name,
  f.logs,
  ARRAY(SELECT m FROM unnest($4::text[]) AS m
        WHERE NOT EXISTS (SELECT 1 FROM _prisma_migrations p
                          WHERE p.migration_name = m AND p.finished_at IS NOT NULL AND p.rolled_back_at IS NULL))
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT migration_name, logs FROM _prisma_migrations
                   WHERE finished_at IS NULL AND rolled_back_at IS NULL
                   ORDER BY started_at LIMIT 1) AS f ON true"
);

/// Classifies an error from connecting or querying.
pub fn classify(err: sqlx::Error, what: &str, user: &str, db: Option<&str>) -> NotReady {
    match err {
        sqlx::Error::Io(io) if is_tls_error(&io.to_string()) => tls(&io.to_string()),
        sqlx::Error::Io(io) => NotReady::from_io(&io, what),
        sqlx::Error::Tls(e) => tls(&super::http::error_chain(&*e)),
        sqlx::Error::Database(db_err) => match db_err.code().as_deref() {
            Some("28P01" | "28000") => NotReady::new(
                Class::Auth,
                format!("login as {user:?} rejected: {}", db_err.message()),
            )
            .hint("check the user and password in the URL (and pg_hba.conf for this client)"),
            Some("3D000") => NotReady::new(
                Class::UnknownDatabase,
                format!("database {:?} does not exist", db.unwrap_or(user)),
            )
            .hint("check the database name in the URL, or create the database"),
            _ => database_error(&*db_err, "query failed"),
        },
        sqlx::Error::PoolTimedOut => NotReady::new(Class::Timeout, format!("{what}: timed out")),
        other => {
            let text = super::http::error_chain(&other);
            if super::is_dns_error(&text) {
                super::dns(what, &text)
            } else if is_tls_error(&text) {
                tls(&text)
            } else {
                NotReady::new(Class::Other, format!("{what}: {text}"))
            }
        }
    }
}

fn is_tls_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate") || t.contains("tls") || t.contains("unknownissuer")
}

fn tls(detail: &str) -> NotReady {
    NotReady::new(Class::Tls, format!("TLS failed: {detail}"))
        .hint("the server's certificate is not trusted or names another host: set sslrootcert=PATH to its CA in the URL, or check sslmode")
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
    fn libpq_options_forms() {
        let parsed =
            parse_options("-c search_path=my-cache -cwork_mem=4MB --lock-timeout=1s -c a=b\\ c")
                .unwrap();
        let want = [
            ("search_path", "my-cache"),
            ("work_mem", "4MB"),
            ("lock_timeout", "1s"),
            ("a", "b c"),
        ];
        assert_eq!(parsed, want.map(|(k, v)| (k.to_string(), v.to_string())));
        for bad in ["search_path=x", "-c", "-c novalue"] {
            assert!(parse_options(bad).is_err(), "{bad}");
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
        let bouncer = Url::parse("postgresql://u@db/lf?pgbouncer=true").unwrap();
        assert!(connect_options(&bouncer, t)
            .unwrap_err()
            .contains("DIRECT_URL"));
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

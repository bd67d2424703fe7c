//! The SQL of an attempt: one statement that reads the tables, the
//! server's state and, once `_prisma_migrations` exists, the migrations; the
//! judgement of Prisma's table; and `--sql`, run read-only under the
//! session's statement timeout.

use sqlx::postgres::PgConnection;
use sqlx::Row;

use super::errors::database_error;
use super::{boxed, sql_truth, Requirements, TableName};
use crate::not_ready::{Class, NotReady};
use crate::text::noun_verb;

pub(super) struct Status {
    pub(super) missing_tables: Vec<TableName>,
    pub(super) has_prisma_table: bool,
    pub(super) in_recovery: bool,
    pub(super) max_connections: i32,
    /// Counted at most once a second (`probe::slots`), else `None`.
    pub(super) free_slots: Option<i32>,
    pub(super) session: String,
    /// Who holds Prisma's migration lock, when asked (`progress`).
    pub(super) lock: Option<MigrationLock>,
    pub(super) prisma: Option<Prisma>,
}

/// Another session holds `pg_advisory_lock(72707369)`: a Prisma migration
/// runs (`migrate deploy` takes it for the whole run).
pub(super) struct MigrationLock {
    pub(super) pid: i32,
    /// How long its session has been connected (`prisma migrate deploy`
    /// takes the lock as it connects; PostgreSQL keeps no time for the lock
    /// itself); `None` when the role may not see it (another role's
    /// session, without `pg_read_all_stats`).
    pub(super) seconds: Option<i64>,
}

pub(super) struct Prisma {
    pub(super) applied: i64,
    /// The newest finished migration, by name (Prisma applies in name order).
    pub(super) newest: Option<String>,
    pub(super) unfinished: Option<String>,
    pub(super) logs: Option<String>,
    pub(super) missing: Vec<String>,
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
            pg_catalog.current_setting('search_path'), current_user = session_user),
  CASE WHEN $4 THEN (SELECT l.pid FROM pg_catalog.pg_locks l
    WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 72707369 AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
      AND l.granted AND l.pid <> pg_catalog.pg_backend_pid() LIMIT 1) END,
  CASE WHEN $4 THEN (SELECT extract(epoch FROM pg_catalog.now() - a.backend_start)::int8
    FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 72707369 AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
      AND l.granted AND l.pid <> pg_catalog.pg_backend_pid() LIMIT 1) END"
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
  (SELECT max(migration_name) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL),
  ARRAY(SELECT m FROM unnest($5::text[]) AS m
        WHERE NOT EXISTS (SELECT 1 FROM _prisma_migrations p
                          WHERE p.migration_name = m AND p.finished_at IS NOT NULL AND p.rolled_back_at IS NULL))
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (SELECT migration_name, logs FROM _prisma_migrations
                   WHERE finished_at IS NULL AND rolled_back_at IS NULL
                   ORDER BY started_at LIMIT 1) AS f ON true"
);

/// What one status statement asks besides the tables and the server's state.
#[derive(Clone, Copy)]
pub(super) struct Ask {
    /// The Prisma columns (only once `_prisma_migrations` exists).
    pub(super) prisma: bool,
    /// The free connection slots.
    pub(super) slots: bool,
    /// Who holds Prisma's migration lock. Reading `pg_locks` takes no
    /// heavyweight lock and waits for none: a migrator is never slowed.
    pub(super) progress: bool,
}

/// One statement per attempt: the tables, the server's state and, once
/// `_prisma_migrations` exists, the migrations.
pub(super) async fn status(
    conn: &mut PgConnection,
    req: &Requirements,
    ask: Ask,
) -> Result<Status, sqlx::Error> {
    let Ask {
        prisma: with_prisma,
        slots: count_slots,
        progress,
    } = ask;
    let schemas: Vec<String> = req
        .tables
        .iter()
        .map(|t| t.schema.clone().unwrap_or_default())
        .collect();
    let names: Vec<String> = req.tables.iter().map(|t| t.name.clone()).collect();
    let sql = if with_prisma {
        STATUS_WITH_PRISMA_SQL
    } else {
        STATUS_SQL
    };
    let mut query = sqlx::query(sql)
        .bind(schemas)
        .bind(names)
        .bind(count_slots)
        .bind(progress);
    if with_prisma {
        query = query.bind(req.migrations.clone());
    }
    let row = boxed(query.fetch_one(&mut *conn)).await?;
    let missing: Vec<i64> = row.try_get(0)?;
    let prisma = if with_prisma {
        Some(Prisma {
            applied: row.try_get(8)?,
            unfinished: row.try_get(9)?,
            logs: row.try_get(10)?,
            newest: row.try_get(11)?,
            missing: row.try_get(12)?,
        })
    } else {
        None
    };
    Ok(Status {
        missing_tables: missing
            .iter()
            .filter_map(|&i| req.tables.get((i - 1) as usize))
            .cloned()
            .collect(),
        has_prisma_table: row.try_get(1)?,
        in_recovery: row.try_get(2)?,
        max_connections: row.try_get(3)?,
        free_slots: row.try_get(4)?,
        session: row.try_get(5)?,
        lock: row
            .try_get::<Option<i32>, _>(6)?
            .map(|pid| -> Result<MigrationLock, sqlx::Error> {
                Ok(MigrationLock {
                    pid,
                    seconds: row.try_get(7)?,
                })
            })
            .transpose()?,
        prisma,
    })
}

/// Where the migrations stand, for a reason that would otherwise only say
/// "table missing": applied, newest, still to go, and the lock.
/// `None` when nothing about Prisma was seen or asked for.
pub(super) fn progress(req: &Requirements, status: &Status, asked: bool) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(p) = &status.prisma {
        let (noun, _) = noun_verb(usize::try_from(p.applied).unwrap_or(0), "migration");
        let mut applied = format!("{} {noun} applied", p.applied);
        if let Some(newest) = &p.newest {
            applied.push_str(&format!(", newest {}", printable(newest)));
        }
        parts.push(applied);
        if !req.migrations.is_empty() {
            parts.push(format!(
                "{} of {} to go",
                p.missing.len(),
                req.migrations.len()
            ));
        }
    }
    let prisma = status.prisma.is_some() || status.has_prisma_table || req.needs_prisma_table();
    if asked && prisma {
        parts.push(match &status.lock {
            Some(MigrationLock {
                pid,
                seconds: Some(s),
            }) => {
                let age = match u64::try_from(*s).unwrap_or(0) {
                    0 => "less than 1s".to_string(),
                    s => crate::duration::show(std::time::Duration::from_secs(s)),
                };
                format!("Prisma's migration lock held by pid {pid}, connected for {age}")
            }
            Some(MigrationLock { pid, seconds: None }) => {
                format!("Prisma's migration lock held by pid {pid} (another role's session)")
            }
            None => "Prisma's migration lock is free: no migration is running".into(),
        });
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A migration name or log line for a one-line message: control
/// characters (a newline, an escape sequence) shown escaped, at most 255
/// characters (Prisma's column); redaction happens later, on whole lines.
fn printable(text: &str) -> String {
    crate::text::printable(&text.chars().take(255).collect::<String>())
}

pub(super) fn judge_prisma(req: &Requirements, p: &Prisma) -> Result<(), NotReady> {
    if let Some(name) = p
        .unfinished
        .as_ref()
        .filter(|n| req.prisma || p.missing.contains(n))
    {
        let first = p
            .logs
            .as_deref()
            .and_then(|l| l.lines().map(str::trim).find(|l| !l.is_empty()));
        return Err(match first {
            Some(first) => NotReady::new(Class::FailedMigration, format!("migration {} failed: {}", printable(name), printable(first))).hint(format!(
                "Prisma blocks later deploys until it is resolved (P3009): fix the cause, run `prisma migrate resolve --rolled-back {}`, then redeploy the migrating service", printable(name)
            )),
            None => NotReady::new(Class::Schema, format!("migration {} is still running", printable(name)))
                .hint("wait for it; if it stays, the migrating process died: check its logs"),
        });
    }
    if req.prisma && p.applied == 0 {
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
        return Err(NotReady::new(Class::Schema, format!("migration {}{more} not applied yet", printable(first))).hint(
            "the migrating service has not deployed this release's migrations yet: if no migration is running, is it the same version, and did it start?",
        ));
    }
    Ok(())
}

/// Runs `--sql` as one statement (the extended protocol refuses several)
/// in the session's read-only transaction, under its statement timeout.
/// The error says whether the connection may be kept.
pub(super) async fn custom_check(
    conn: &mut PgConnection,
    sql: &str,
    classify: impl Fn(sqlx::Error) -> NotReady,
) -> Result<(), (NotReady, bool)> {
    // In a read-only transaction that is always rolled back, so nothing
    // transactional survives (a large object, a temporary table, a SET);
    // statements that cannot run in a transaction block (VACUUM, ALTER
    // SYSTEM) fail. Session-level advisory locks (Prisma migrates under
    // pg_advisory_lock(72707369)) are let go in the same round trip.
    if let Err(e) = boxed(sqlx::query("BEGIN READ ONLY").execute(&mut *conn)).await {
        return Err((classify(e), false));
    }
    let row = boxed(sqlx::query(sql).fetch_optional(&mut *conn)).await;
    let mut undone = true;
    for undo in ["ROLLBACK", "SELECT pg_catalog.pg_advisory_unlock_all()"] {
        undone &= boxed(sqlx::query(undo).execute(&mut *conn)).await.is_ok();
    }
    custom_verdict(row, classify).map_err(|(not_ready, keep)| (not_ready, keep && undone))
}

/// What `--sql`'s answer says; the error says whether the connection may be kept.
fn custom_verdict(
    row: Result<Option<sqlx::postgres::PgRow>, sqlx::Error>,
    classify: impl Fn(sqlx::Error) -> NotReady,
) -> Result<(), (NotReady, bool)> {
    match row {
        Ok(Some(row)) => match row.try_get::<Option<bool>, _>(0) {
            Ok(truth) => sql_truth(Some(truth)).map_err(|e| (e, true)),
            Err(e) => Err((
                NotReady::new(
                    Class::BadCheck,
                    format!("--sql's first column is not a boolean ({e})"),
                )
                .hint("make the query return true when ready, e.g. SELECT count(*) > 0 FROM ... (this does not fix itself: exit 3 with --fail-fast)"),
                false,
            )),
        },
        Ok(None) => sql_truth(None).map_err(|e| (e, false)),
        Err(sqlx::Error::Database(db)) => Err((database_error(&*db, "--sql failed"), false)),
        Err(other) => Err((classify(other), false)),
    }
}

/// A query, by its first word after comments: `SELECT`, `WITH`, `VALUES`,
/// `TABLE` or a parenthesis. Anything else (`PREPARE TRANSACTION`, `COMMIT`,
/// `SET`, `COPY`, `CALL`, DDL) could outlive the rolled-back transaction
/// `--sql` runs in, or has no business in a readiness check.
pub(super) fn is_query(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after
                .split_once('\n')
                .map_or("", |(_, next)| next)
                .trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after
                .split_once("*/")
                .map_or("", |(_, next)| next)
                .trim_start();
        } else {
            break;
        }
    }
    if rest.starts_with('(') {
        return true;
    }
    let word: String = rest
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(word.as_str(), "select" | "with" | "values" | "table")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_are_sql_checks() {
        for query in [
            "SELECT true",
            "  select 1 = 1",
            "-- why\nSELECT true",
            "/* a */ /* b */ WITH x AS (SELECT 1) SELECT true",
            "(SELECT true)",
            "VALUES (true)",
            "TABLE flags",
        ] {
            assert!(is_query(query), "{query}");
        }
        for other in [
            "PREPARE TRANSACTION 'x'",
            "COMMIT",
            "BEGIN",
            "SET ROLE postgres",
            "COPY (SELECT 1) TO '/tmp/x'",
            "DROP TABLE flags",
            "CALL p()",
            "-- SELECT\nDELETE FROM t",
            "/* SELECT */ VACUUM FULL t",
            "selectx",
            "",
        ] {
            assert!(!is_query(other), "{other}");
        }
    }
}

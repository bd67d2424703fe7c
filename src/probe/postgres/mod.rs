//! PostgreSQL targets (`postgres://`, `postgresql://`): ready when a login
//! succeeds and the schema is there: required tables, finished Prisma
//! migrations, an optional read-only custom check. This room owns their URL
//! rules and connect options (`url`), the flags that apply to them, the
//! probe's session (`session`), its SQL (`sql`) and how errors read
//! (`errors`).

mod errors;
mod session;
mod sql;
mod tls;
mod url;
pub(crate) mod watch;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::url::{connect_options, socket_form, PemFiles, MAX_ATTEMPT_TIMEOUT};
pub(crate) use session::PostgresProbe;

use crate::options::{applies_to, err, ConfigError, Merge, Opt, Split, Takes};
use crate::text::shorten;

const TABLES: Opt = Opt {
    flag: Some("--table"),
    short: None,
    var: "READYGATE_TABLES",
    takes: Takes::List("NAME", Split::CommaOrWhitespace),
    help:
        "PostgreSQL, MySQL: this table must exist (schema.name, or name through search_path or in the URL's database); repeatable",
};
const PRISMA: Opt = Opt {
    flag: Some("--prisma-migrations"),
    short: None,
    var: "READYGATE_PRISMA_MIGRATIONS",
    takes: Takes::Switch,
    help: "PostgreSQL: Prisma migrations must be complete (none failed or running, one applied)",
};
const MIGRATIONS: Opt = Opt {
    flag: Some("--migration"),
    short: None,
    var: "READYGATE_MIGRATIONS",
    takes: Takes::List("NAME", Split::CommaOrWhitespace),
    help: "PostgreSQL: this Prisma migration must be applied; repeatable",
};
const MIGRATIONS_DIR: Opt = Opt {
    flag: Some("--prisma-migrations-dir"),
    short: None,
    var: "READYGATE_PRISMA_MIGRATIONS_DIR",
    takes: Takes::Value("DIR"),
    help: "PostgreSQL: every migration in this prisma/migrations directory must be applied",
};
const SQL: Opt = Opt {
    flag: Some("--sql"),
    short: None,
    var: "READYGATE_SQL",
    takes: Takes::Value("QUERY"),
    help: "PostgreSQL, MySQL: this query must return true; runs read-only with a statement timeout",
};

const SQL_AS_SUPERUSER: Opt = Opt {
    flag: Some("--sql-as-superuser"),
    short: None,
    var: "READYGATE_SQL_AS_SUPERUSER",
    takes: Takes::Switch,
    help: "PostgreSQL: run --sql even on a superuser connection (which can write files and change the server's configuration)",
};

pub(crate) const OPTIONS: &[&Opt] = &[
    &TABLES,
    &PRISMA,
    &MIGRATIONS,
    &MIGRATIONS_DIR,
    &SQL,
    &SQL_AS_SUPERUSER,
];

const KINDS: &str = "postgres://";
/// `--table` and `--sql` apply to MySQL targets too.
const SQL_KINDS: &str = "postgres:// or mysql://";

/// What a PostgreSQL target URL must hold: a host, or a `host=` socket.
pub(crate) fn check_url(url: &::url::Url, has_host: bool) -> Result<(), String> {
    let socket = url.query_pairs().any(|(k, _)| k == "host");
    if !has_host && !socket {
        return Err("needs a host, e.g. postgres://user:pass@db:5432/app".into());
    }
    Ok(())
}

/// A table name: `schema.name`, or `name` looked up through `search_path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableName {
    pub(crate) schema: Option<String>,
    pub(crate) name: String,
}

impl TableName {
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
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
                shorten(raw)
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

/// What a `--sql` answer says, for PostgreSQL and MySQL alike: the first
/// column's truth value, or `None` for no row at all.
pub(crate) fn sql_truth(answer: Option<Option<bool>>) -> Result<(), crate::not_ready::NotReady> {
    use crate::not_ready::{Class, NotReady};
    let unsatisfied = |what: &str| {
        NotReady::new(Class::Schema, what.to_string()).hint("the custom check is not satisfied yet")
    };
    match answer {
        Some(Some(true)) => Ok(()),
        Some(Some(false)) => Err(unsatisfied("--sql returned false")),
        Some(None) => Err(unsatisfied("--sql returned NULL")),
        None => Err(NotReady::new(Class::Schema, "--sql returned no rows")
            .hint("make --sql a single SELECT that returns one row with true when ready")),
    }
}

/// The relay ended the connection while `--sql` ran: its answer was too
/// long (many rows, or a huge value), which asking again will not change.
/// For PostgreSQL and MySQL alike.
pub(crate) fn sql_cut(cut: crate::probe::relay::Cut) -> crate::not_ready::NotReady {
    use crate::not_ready::{Class, NotReady};
    use crate::probe::relay::{Cut, ANSWER_MAX, MESSAGE_MAX};
    let size = match cut {
        Cut::Declared(len) => format!("a row of {len} bytes (over {} MiB)", MESSAGE_MAX >> 20),
        _ => format!("over {} MiB of rows", ANSWER_MAX >> 20),
    };
    NotReady::new(Class::BadCheck, format!("--sql answered with {size}; cut off"))
        .hint("make --sql return one row, e.g. SELECT EXISTS (SELECT 1 FROM ...), or add LIMIT 1 (this does not fix itself: exit 3 with --fail-fast)")
}

/// "table "a", "b" do not exist": the reason when required tables are
/// missing, for PostgreSQL and MySQL alike.
pub(crate) fn missing_tables(missing: &[TableName]) -> crate::not_ready::NotReady {
    use crate::not_ready::{Class, NotReady};
    let names: Vec<String> = missing.iter().map(|t| format!("\"{t}\"")).collect();
    let (noun, verb) = crate::text::noun_verb(names.len(), "table");
    NotReady::new(
        Class::Schema,
        format!("{noun} {} {verb} not exist", names.join(", ")),
    )
    .hint("the schema is not migrated yet: check the logs of the service that runs the migrations")
}

/// What must hold, beyond a successful login, for PostgreSQL to be ready.
#[derive(Clone, Debug, Default)]
pub(crate) struct Requirements {
    pub(crate) tables: Vec<TableName>,
    /// `--prisma-migrations`: no failed or running migration, at least one applied.
    pub(crate) prisma: bool,
    /// Migrations that must be applied (`--migration`, `--prisma-migrations-dir`).
    pub(crate) migrations: Vec<String>,
    /// `--sql`: must return true in the first column of its first row.
    pub(crate) sql: Option<String>,
    /// `--sql-as-superuser`: a superuser connection may run `--sql`.
    pub(crate) sql_as_superuser: bool,
    /// The PEM files of libpq's `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`,
    /// which a URL's own parameters override.
    pub(crate) libpq_pem: PemFiles,
}

impl Requirements {
    fn needs_prisma_table(&self) -> bool {
        self.prisma || !self.migrations.is_empty()
    }

    /// Reads the flags; `present` says whether there is a PostgreSQL
    /// target, `mysql` whether there is a MySQL one (`--table` and `--sql`
    /// apply to both).
    pub(crate) fn read(m: &Merge, present: bool, mysql: bool) -> Result<Requirements, ConfigError> {
        let mut req = Requirements::default();
        for given in m.list(&TABLES)? {
            applies_to(given.origin, present || mysql, SQL_KINDS)?;
            req.tables
                .push(TableName::parse(&given.value).or_else(|e| err(given.origin, e))?);
        }
        req.prisma = m.switch(&PRISMA)?;
        if req.prisma {
            applies_to(m.switch_origin(&PRISMA), present, KINDS)?;
        }
        for given in m.list(&MIGRATIONS)? {
            applies_to(given.origin, present, KINDS)?;
            if given.value.len() > 255 {
                return err(given.origin, "names a migration longer than 255 characters");
            }
            if !req.migrations.contains(&given.value) {
                req.migrations.push(given.value);
            }
        }
        if let Some(dir) = m.value(&MIGRATIONS_DIR)? {
            applies_to(dir.origin, present, KINDS)?;
            for name in
                prisma_migrations_in(Path::new(&dir.value)).or_else(|e| err(dir.origin, e))?
            {
                if !req.migrations.contains(&name) {
                    req.migrations.push(name);
                }
            }
        }
        if let Some(sql) = m.value(&SQL)? {
            applies_to(sql.origin, present || mysql, SQL_KINDS)?;
            if sql.value.contains('\0') {
                return err(sql.origin, "contains a NUL byte");
            }
            if !sql::is_query(&sql.value) {
                return err(sql.origin, "is not a query: write one SELECT (or WITH, VALUES, TABLE) that returns true when ready");
            }
            req.sql = Some(sql.value);
        }
        if present {
            // The driver reads libpq's variables itself, when it connects: a
            // FIFO there would hang every attempt, /dev/zero exhaust memory.
            if m.env.get("PGPORT").is_some_and(|p| p.trim() == "0") {
                return err(
                    "PGPORT",
                    "is 0, where no server can listen; give the server's port or unset it",
                );
            }
            // The driver ignores a value it cannot parse (prefer, unverified).
            if let Some(mode) = m.env.get("PGSSLMODE") {
                if mode.parse::<sqlx::postgres::PgSslMode>().is_err() {
                    return err(
                        "PGSSLMODE",
                        format_args!("is {:?}; use disable, allow, prefer, require, verify-ca or verify-full", shorten(mode)),
                    );
                }
            }
            let pem = |var: &str| match m.env.get(var) {
                None => Ok(None),
                Some(path) => crate::probe::tls::read_pem(path)
                    .map(Some)
                    .or_else(|e| err(var, format_args!("{:?} {e}", shorten(path)))),
            };
            req.libpq_pem = PemFiles {
                root: pem("PGSSLROOTCERT")?,
                cert: pem("PGSSLCERT")?,
                key: pem("PGSSLKEY")?,
            };
        }
        req.sql_as_superuser = m.switch(&SQL_AS_SUPERUSER)?;
        if req.sql_as_superuser {
            applies_to(m.switch_origin(&SQL_AS_SUPERUSER), present, KINDS)?;
        }
        if req.sql_as_superuser && req.sql.is_none() {
            return err(
                m.switch_origin(&SQL_AS_SUPERUSER),
                "applies to --sql, which is not given",
            );
        }
        Ok(req)
    }

    /// These requirements and a preset's, together.
    fn with(&self, extra: &Extra) -> Requirements {
        let mut req = self.clone();
        for table in &extra.tables {
            if !req.tables.contains(table) {
                req.tables.push(table.clone());
            }
        }
        req.prisma |= extra.prisma;
        req
    }

    fn describe(&self) -> String {
        let mut parts = vec!["login works, not in recovery".to_string()];
        if !self.tables.is_empty() {
            let tables: Vec<String> = self.tables.iter().map(ToString::to_string).collect();
            parts.push(format!("tables exist: {}", tables.join(", ")));
        }
        if self.prisma {
            parts.push("Prisma migrations complete".into());
        }
        if !self.migrations.is_empty() {
            parts.push(format!(
                "migrations applied: {}",
                self.migrations.join(", ")
            ));
        }
        if let Some(sql) = &self.sql {
            parts.push(format!("--sql is true: {sql}"));
        }
        parts.join("; ")
    }
}

/// What a preset adds to one of its PostgreSQL targets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    pub(crate) tables: Vec<TableName>,
    pub(crate) prisma: bool,
    /// The URL leads to PgBouncer (its `pgbouncer=true` taken off): log in
    /// without named prepared statements, which transaction pooling breaks.
    pub(crate) pooled: bool,
}

/// Plans PostgreSQL targets.
pub(crate) struct Planner {
    plain: Arc<Requirements>,
    attempt_timeout: Duration,
}

impl Planner {
    pub(crate) fn new(req: Requirements, attempt_timeout: Duration) -> Planner {
        Planner {
            plain: Arc::new(req),
            attempt_timeout,
        }
    }

    /// The probe for one target and what it must satisfy, in words;
    /// `origin` names the target in errors.
    pub(crate) fn plan(
        &self,
        url: &::url::Url,
        extra: Option<&Extra>,
        origin: &str,
    ) -> Result<(PostgresProbe, String), ConfigError> {
        let (mut options, files) =
            connect_options(url, self.attempt_timeout).or_else(|e| err(origin, e))?;
        let tls = tls::Tls::new(options.get_ssl_mode(), files, &self.plain.libpq_pem)
            .or_else(|e| err(origin, e))?;
        let req = match extra {
            None => self.plain.clone(),
            Some(extra) => Arc::new(self.plain.with(extra)),
        };
        let mut description = req.describe();
        if extra.is_some_and(|e| e.pooled) {
            options = options.statement_cache_capacity(0);
            description.push_str(" (through PgBouncer)");
        }
        Ok((PostgresProbe::new(options, tls, req), description))
    }
}

/// The migration names in a Prisma `prisma/migrations` directory: every
/// subdirectory that holds a `migration.sql`, sorted as Prisma applies them.
fn prisma_migrations_in(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "{:?} cannot be read ({e})",
            shorten(&dir.display().to_string())
        )
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if entry.path().join("migration.sql").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    if names.is_empty() {
        return Err(format!(
            "{:?} holds no migration (no */migration.sql); point it at prisma/migrations",
            shorten(&dir.display().to_string())
        ));
    }
    names.sort();
    Ok(names)
}

/// Erases a future's type behind `dyn Send` (the MySQL room uses it too). sqlx's futures borrow the
/// connection in ways rustc cannot prove `Send` for every lifetime once they
/// are nested in a generic caller (rust-lang/rust#102211); boxing each one at
/// its call site, where the lifetimes are concrete, sidesteps that.
pub(crate) fn boxed<'a, T>(
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
}

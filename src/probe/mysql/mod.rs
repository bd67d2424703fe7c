//! MySQL and MariaDB targets (`mysql://`, `mariadb://`): ready when a login
//! succeeds, the server is writable and the required tables exist, and an
//! optional read-only `--sql` returns true. The same contract as
//! PostgreSQL's, through sqlx's MySQL driver: `--table` and `--sql` apply to
//! both (declared in the PostgreSQL room, which owns them first); Prisma's
//! migration checks are PostgreSQL's alone. This room owns the URL rules and
//! connect options, the session (`session`) and how errors read (`errors`).

mod errors;
mod session;
pub(crate) mod watch;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use url::Url;

pub(crate) use session::MySqlProbe;

use crate::options::{err, ConfigError};
use crate::probe::postgres::TableName;
use crate::probe::url_part::{decode_part, no_nul};
use crate::text::shorten;

/// What a MySQL target must satisfy beyond a login.
#[derive(Clone, Debug, Default)]
pub(crate) struct Requirements {
    pub(crate) tables: Vec<TableName>,
    pub(crate) sql: Option<String>,
}

impl Requirements {
    fn describe(&self) -> String {
        let mut parts = vec!["login works, not read-only".to_string()];
        if !self.tables.is_empty() {
            let tables: Vec<String> = self.tables.iter().map(ToString::to_string).collect();
            parts.push(format!("tables exist: {}", tables.join(", ")));
        }
        if let Some(sql) = &self.sql {
            parts.push(format!("--sql is true: {sql}"));
        }
        parts.join("; ")
    }
}

/// What a `mysql://` or `mariadb://` URL must hold: a host (or `socket=`)
/// and only parameters readygate knows, with valid values.
pub(crate) fn check_url(url: &Url, has_host: bool) -> Result<(), String> {
    let socket = url.query_pairs().any(|(k, _)| k == "socket");
    if !has_host && !socket {
        return Err("needs a host, e.g. mysql://user:pass@db:3306/app".into());
    }
    connect_options(url).map(drop)
}

/// The driver's connect options from the URL. sqlx ignores parameters it
/// does not know: here they are refused, so a typo (`sslmode=verify_ca`
/// in the PostgreSQL spelling, `ssl_ca=`) is not silently unchecked.
pub(crate) fn connect_options(url: &Url) -> Result<MySqlConnectOptions, String> {
    let mut opts = MySqlConnectOptions::new();
    if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
        opts = opts.host(host.trim_start_matches('[').trim_end_matches(']'));
    }
    if let Some(port) = url.port() {
        opts = opts.port(port);
    }
    if !url.username().is_empty() {
        opts = opts.username(&decode_part("user name", url.username())?);
    }
    if let Some(password) = url.password() {
        opts = opts.password(&decode_part("password", password)?);
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() {
        let db = decode_part("database name", db)?;
        if db.contains('/') || db.len() > 64 {
            return Err("has a database name with a / or over 64 bytes, which MySQL cannot have; write mysql://user:pass@db:3306/NAME".into());
        }
        opts = opts.database(&db);
    }
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in url.query_pairs() {
        let value = no_nul(&format!("{key}= parameter"), value.into_owned())?;
        let canonical = key.replace('-', "");
        if seen.contains(&canonical) {
            return Err(format!("sets {}= twice; give it once", shorten(&key)));
        }
        seen.push(canonical);
        match &*key {
            "ssl-mode" | "sslmode" => {
                let mode = MySqlSslMode::from_str(&value).map_err(|_| {
                    format!("has ssl-mode={:?}; use DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY", shorten(&value))
                })?;
                opts = opts.ssl_mode(mode);
            }
            "ssl-ca" | "sslca" => {
                readable(&value, &key)?;
                opts = opts.ssl_ca(&value);
            }
            "ssl-cert" | "sslcert" => {
                readable(&value, &key)?;
                opts = opts.ssl_client_cert(&value);
            }
            "ssl-key" | "sslkey" => {
                readable(&value, &key)?;
                opts = opts.ssl_client_key(&value);
            }
            "socket" if value.starts_with('/') => opts = opts.socket(&value),
            "socket" => return Err("has a socket= that is not an absolute path; write e.g. ?socket=/run/mysqld/mysqld.sock".into()),
            "charset" if CHARSETS.contains(&value.to_ascii_lowercase().as_str()) => {
                opts = opts.charset(&value.to_ascii_lowercase());
            }
            "charset" => {
                return Err(format!(
                    "has charset={:?}; use one of {}",
                    shorten(&value),
                    CHARSETS.join(", ")
                ))
            }
            other => {
                return Err(format!(
                    "has an unknown parameter {:?}; mysql:// takes ssl-mode, ssl-ca, ssl-cert, ssl-key, socket and charset",
                    shorten(other)
                ))
            }
        }
    }
    // The statement cache holds one statement per distinct query: a few.
    // sqlx's own statement logging would name no target (and warns at the
    // default level about slow ones): the probe says what matters.
    use sqlx::ConnectOptions as _;
    Ok(opts
        .statement_cache_capacity(8)
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, std::time::Duration::from_secs(3600)))
}

/// The character sets a gate's session may ask for: the ones a check's
/// names and `--sql` can need (sqlx refuses others only when connecting).
const CHARSETS: [&str; 6] = ["utf8mb4", "utf8mb3", "utf8", "latin1", "ascii", "binary"];

/// A certificate or key file named in the URL: read once now, bounded, so a
/// FIFO or `/dev/zero` is exit 2 rather than a hang or an exhausted heap.
fn readable(path: &str, key: &str) -> Result<(), String> {
    crate::probe::tls::read_pem(path)
        .map(drop)
        .map_err(|e| format!("has {key}={:?}, which {e}", shorten(path)))
}

/// `--sql` for MySQL: one query, nothing MySQL would run besides it.
/// Executable comments (`/*! ... */`, `/*M! ... */`) run their contents;
/// `INTO` writes a file (`INTO OUTFILE`) or a variable.
pub(crate) fn check_sql(sql: &str) -> Result<(), String> {
    let lower = sql.to_ascii_lowercase();
    if lower.contains("/*!") || lower.contains("/*m!") {
        return Err("has an executable comment (/*! ... */), which MySQL runs as part of the statement: write the query plainly".into());
    }
    let words = lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
    if words.clone().any(|w| w == "into") {
        return Err("has INTO, which writes a file or a variable: --sql only reads (SELECT ... that returns true when ready)".into());
    }
    if lower.contains(":=") {
        return Err("assigns a user variable (:=), which would outlive the check on the kept connection: --sql only reads".into());
    }
    if words.clone().any(|w| w == "get_lock") {
        return Err("takes a lock (GET_LOCK), which would outlive the check on the kept connection: --sql only reads".into());
    }
    Ok(())
}

/// Plans MySQL targets.
pub(crate) struct Planner {
    plain: Arc<Requirements>,
    /// A statement stops after this (the attempt timeout), so an abandoned
    /// one does not keep running on the server.
    statement_time: std::time::Duration,
}

impl Planner {
    pub(crate) fn new(req: Requirements, attempt_timeout: std::time::Duration) -> Planner {
        Planner {
            plain: Arc::new(req),
            statement_time: attempt_timeout.min(std::time::Duration::from_secs(30)),
        }
    }

    /// The probe for one target and what it must satisfy, in words;
    /// `origin` names the target in errors.
    pub(crate) fn plan(
        &self,
        url: &Url,
        origin: &str,
    ) -> Result<(MySqlProbe, String), ConfigError> {
        let options = connect_options(url).or_else(|e| err(origin, e))?;
        if options.get_database().is_none() {
            if let Some(t) = self.plain.tables.iter().find(|t| t.schema.is_none()) {
                return err(
                    origin,
                    format_args!("names no database, so table {t} has nowhere to be: add the database to the URL (mysql://user:pass@db:3306/NAME) or write --table DB.{t}"),
                );
            }
        }
        Ok((
            MySqlProbe::new(options, self.plain.clone(), self.statement_time),
            self.plain.describe(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(raw: &str) -> Result<MySqlConnectOptions, String> {
        connect_options(&Url::parse(raw).unwrap())
    }

    #[test]
    fn urls() {
        let o = options("mysql://app:p%40ss@db:3307/langfuse?ssl-mode=REQUIRED").unwrap();
        assert_eq!(o.get_host(), "db");
        assert_eq!(o.get_port(), 3307);
        assert_eq!(o.get_username(), "app");
        assert_eq!(o.get_database(), Some("langfuse"));
        assert!(options("mariadb://app@db/x?socket=/run/mysqld/mysqld.sock").is_ok());
        for (bad, says) in [
            ("mysql://db/x?sslmode=verify-full", "ssl-mode"),
            ("mysql://db/x?ssl_ca=/x", "unknown parameter \"ssl_ca\""),
            ("mysql://db/x?ssl-ca=/nonexistent/ca.pem", "ssl-ca"),
            ("mysql://db/x?socket=mysqld.sock", "absolute path"),
            ("mysql://u:%FF@db/x", "not UTF-8"),
            ("mysql://db/a%2Fb", "database name"),
            ("mysql://db/x?charset=nonsense", "charset="),
            ("mysql://db/x?ssl-mode=DISABLED&sslmode=REQUIRED", "twice"),
        ] {
            let e = options(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn sql_checks_only_read() {
        assert!(check_sql("SELECT COUNT(*) > 0 FROM users").is_ok());
        assert!(
            check_sql("SELECT 'into' = 'x'").is_err(),
            "INTO even in a string: refused, said why"
        );
        for bad in [
            "SELECT 1 INTO OUTFILE '/tmp/x'",
            "SELECT 1 /*! INTO @x */",
            "SELECT 1 /*M!100000 INTO @x */",
            "SELECT GET_LOCK('x', 1)",
            "SELECT (@n:=COALESCE(@n,0)+1) > 3",
        ] {
            assert!(check_sql(bad).is_err(), "{bad}");
        }
    }
}

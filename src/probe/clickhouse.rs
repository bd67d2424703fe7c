//! ClickHouse probe over the HTTP interface (which every ClickHouse since
//! 18.x speaks): ready when a query works, every `--clickhouse-table`
//! exists, and with `--clickhouse-migrations` the newest row of
//! golang-migrate's `schema_migrations` (highest `sequence`) is not dirty.
//! Credentials travel in the `X-ClickHouse-User`/`-Key` headers, never in
//! the query string. Old servers know no query parameters, so names are
//! spliced as escaped string literals after strict validation.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use url::Url;

use super::http::{classify as classify_http, plain_client};
use super::tls::Tls;
use super::url_part::decode_part;
use crate::not_ready::{Class, NotReady};
use crate::options::{applies_to, err, ConfigError, Merge, Opt, Split, Takes};
use crate::secret::Redactor;
use crate::text::{noun_verb, one_line, shorten, shorten_to};

const TABLES: Opt = Opt {
    flag: Some("--clickhouse-table"),
    short: None,
    var: "READYGATE_CLICKHOUSE_TABLES",
    takes: Takes::List("NAME", Split::CommaOrWhitespace),
    help: "ClickHouse: this table must exist in the URL's database; repeatable",
};
const MIGRATIONS: Opt = Opt {
    flag: Some("--clickhouse-migrations"),
    short: None,
    var: "READYGATE_CLICKHOUSE_MIGRATIONS",
    takes: Takes::Switch,
    help: "ClickHouse: the newest golang-migrate schema_migrations row must not be dirty",
};

pub(crate) const OPTIONS: &[&Opt] = &[&TABLES, &MIGRATIONS];

const KINDS: &str = "clickhouse://";

/// At most this much of an answer is read.
const ANSWER_CAP: usize = 1024 * 1024;

/// What must hold, beyond a working query.
#[derive(Clone, Debug, Default)]
pub(crate) struct Requirements {
    tables: Vec<String>,
    migrations: bool,
    /// Clusters the server must define (`system.clusters`).
    clusters: Vec<String>,
    cluster_hint: Option<String>,
}

impl Requirements {
    /// Reads the flags; `present` says whether there is a ClickHouse target.
    pub(crate) fn read(m: &Merge, present: bool) -> Result<Requirements, ConfigError> {
        let mut req = Requirements::default();
        for given in m.list(&TABLES)? {
            applies_to(given.origin, present, KINDS)?;
            req.tables
                .push(table_name(&given.value).or_else(|e| err(given.origin, e))?);
        }
        req.migrations = m.switch(&MIGRATIONS)?;
        if req.migrations {
            applies_to(m.switch_origin(&MIGRATIONS), present, KINDS)?;
        }
        Ok(req)
    }

    fn describe(&self) -> String {
        let mut parts = vec!["a query works".to_string()];
        if !self.clusters.is_empty() {
            parts.push(format!("clusters defined: {}", self.clusters.join(", ")));
        }
        if !self.tables.is_empty() {
            parts.push(format!("tables exist: {}", self.tables.join(", ")));
        }
        if self.migrations {
            parts.push("newest schema_migrations row not dirty".into());
        }
        parts.join("; ")
    }
}

/// What a preset adds to one of its ClickHouse targets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    pub(crate) migrations: bool,
    /// Clusters the server must define, each with why, for the message.
    pub(crate) clusters: Vec<String>,
    /// Says why the clusters are needed and what to do without them.
    pub(crate) cluster_hint: Option<String>,
}

/// Plans ClickHouse targets: one client for all, without `--http-header`
/// (those are for the HTTP targets, not for the database) or redirects.
pub(crate) struct Planner {
    client: Client,
    plain: Arc<Requirements>,
    proxies: Arc<super::proxy::Proxies>,
}

impl Planner {
    pub(crate) fn new(req: Requirements, tls: &Tls) -> Result<Planner, ConfigError> {
        Ok(Planner {
            client: plain_client(tls)?,
            plain: Arc::new(req),
            proxies: tls.proxies.clone(),
        })
    }

    /// The probe for one target and what it must satisfy, in words;
    /// `origin` names the target in errors.
    pub(crate) fn plan(
        &self,
        url: &Url,
        extra: Option<&Extra>,
        origin: &str,
        redactor: &Redactor,
    ) -> Result<(ClickHouseProbe, String), ConfigError> {
        let req = match extra {
            None => self.plain.clone(),
            Some(extra) => Arc::new(Requirements {
                migrations: self.plain.migrations || extra.migrations,
                clusters: extra.clusters.clone(),
                cluster_hint: extra.cluster_hint.clone(),
                ..(*self.plain).clone()
            }),
        };
        let description = req.describe();
        let mut probe = ClickHouseProbe::new(self.client.clone(), url, req, redactor.clone())
            .or_else(|e| err(origin, e))?;
        probe.via = self.proxies.for_url(&probe.endpoint).cloned();
        Ok((probe, description))
    }
}

/// Validates a ClickHouse table name for `--clickhouse-table`.
fn table_name(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 255
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "{:?} is not a ClickHouse table name (letters, digits, '_' and '.')",
            shorten(raw)
        ))
    }
}

/// A ClickHouse string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[derive(Clone)]
pub(crate) struct ClickHouseProbe {
    client: Client,
    endpoint: Url,
    user: String,
    password: String,
    database: String,
    what: String,
    req: Arc<Requirements>,
    /// Cleans server errors before they are cut short for a message.
    redactor: Redactor,
    /// The proxy requests go through, which failures there are blamed on.
    via: Option<super::proxy::Via>,
}

impl ClickHouseProbe {
    /// From `clickhouse://user:pass@host:8123/db?secure=true`.
    fn new(
        client: Client,
        url: &Url,
        req: Arc<Requirements>,
        redactor: Redactor,
    ) -> Result<Self, String> {
        // User and password travel as HTTP headers: no control characters.
        let decode = |what: &str, s: &str| {
            decode_part(what, s).and_then(|v| match v.contains(char::is_control) {
                true => Err(format!("has a control character in its {what}")),
                false => Ok(v),
            })
        };
        let mut secure = false;
        for (k, v) in url.query_pairs() {
            match (&*k, &*v) {
                ("secure", "true" | "1") => secure = true,
                ("secure", "false" | "0") => secure = false,
                ("secure", _) => return Err("has secure= that is not true or false".into()),
                (other, _) => {
                    return Err(format!(
                        "has unknown parameter {:?}; only secure=true is understood",
                        shorten(other)
                    ))
                }
            }
        }
        let scheme = if secure { "https" } else { "http" };
        let host = url.host_str().unwrap_or("localhost");
        let port = url.port().unwrap_or(if secure { 8443 } else { 8123 });
        let endpoint = Url::parse(&format!("{scheme}://{host}:{port}/"))
            .map_err(|e| format!("has a bad host ({e})"))?;
        let database = decode("database name", url.path().trim_start_matches('/'))?;
        let user = if url.username().is_empty() {
            "default".to_string()
        } else {
            decode("user name", url.username())?
        };
        let password = match url.password() {
            Some(p) => decode("password", p)?,
            None => String::new(),
        };
        Ok(ClickHouseProbe {
            client,
            what: format!("{host}:{port}"),
            endpoint,
            user,
            password,
            database: if database.is_empty() {
                "default".into()
            } else {
                database
            },
            req,
            redactor,
            via: None,
        })
    }

    /// The proxy its requests go through.
    pub(crate) fn via(&self) -> Option<&super::proxy::Via> {
        self.via.as_ref()
    }

    pub(crate) async fn check(&mut self, budget: Duration) -> Result<(), NotReady> {
        if !self.req.clusters.is_empty() {
            self.check_clusters(budget).await?;
        }
        let mut wanted: Vec<&str> = self.req.tables.iter().map(String::as_str).collect();
        if self.req.migrations {
            wanted.push("schema_migrations");
        }
        if wanted.is_empty() {
            return self.query("SELECT 1", budget).await.map(drop);
        }
        let names: Vec<String> = wanted.iter().map(|n| literal(n)).collect();
        let sql = format!(
            "SELECT name FROM system.tables WHERE database = {} AND name IN ({}) FORMAT TabSeparated",
            literal(&self.database),
            names.join(", ")
        );
        let found = self.query(&sql, budget).await?;
        let found: Vec<&str> = found.lines().collect();
        let missing: Vec<String> = self
            .req
            .tables
            .iter()
            .filter(|t| !found.contains(&t.as_str()))
            .map(|t| format!("\"{t}\""))
            .collect();
        if self.req.migrations && !found.contains(&"schema_migrations") {
            return Err(NotReady::new(
                Class::Schema,
                format!(
                    "table \"schema_migrations\" does not exist in ClickHouse database {:?}",
                    self.database
                ),
            )
            .hint("no ClickHouse migration has run yet: check the migrating service's logs"));
        }
        if self.req.migrations {
            let newest = self
                .query("SELECT version, dirty FROM schema_migrations ORDER BY sequence DESC LIMIT 1 FORMAT TabSeparated", budget)
                .await?;
            let mut fields = newest.trim().split('\t');
            match (fields.next(), fields.next()) {
                (Some(version), Some("1")) => {
                    // The server's text: one short line, whatever it sent.
                    let version = shorten_to(&one_line(version), 40);
                    let before = version.parse::<i64>().map_or_else(
                        |_| "the version before".to_string(),
                        |v| (v - 1).to_string(),
                    );
                    return Err(NotReady::new(Class::FailedMigration, format!("ClickHouse migration {version} is marked dirty: running now, or interrupted")).hint(format!(
                        "golang-migrate marks a migration dirty while it runs: if the migrating service is still at it, wait; if it stopped or logs `Dirty database version {version}`, it was interrupted: undo its partial changes and run `migrate force {before}` (or finish it by hand and `migrate force {version}`), then restart the migrating service"
                    )));
                }
                (Some(v), Some(_)) if !v.is_empty() => {}
                _ => {
                    return Err(NotReady::new(
                        Class::Schema,
                        "no ClickHouse migration recorded in schema_migrations yet",
                    )
                    .hint("check the migrating service's logs"))
                }
            }
        }
        if !missing.is_empty() {
            let (noun, verb) = noun_verb(missing.len(), "table");
            return Err(NotReady::new(Class::Schema, format!("ClickHouse {noun} {} {verb} not exist", missing.join(", ")))
                .hint("the ClickHouse schema is not migrated yet: check the logs of the service that runs the migrations"));
        }
        Ok(())
    }

    /// Every required cluster is defined (`remote_servers` in the config).
    async fn check_clusters(&self, budget: Duration) -> Result<(), NotReady> {
        let defined = self
            .query(
                "SELECT DISTINCT cluster FROM system.clusters FORMAT TabSeparated",
                budget,
            )
            .await?;
        let defined: Vec<&str> = defined.lines().collect();
        let missing: Vec<String> = self
            .req
            .clusters
            .iter()
            .filter(|c| !defined.contains(&c.as_str()))
            .map(|c| format!("{c:?}"))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let noun = if missing.len() == 1 {
            "cluster"
        } else {
            "clusters"
        };
        let hint = self.req.cluster_hint.clone().unwrap_or_else(|| {
            "define it under remote_servers in the ClickHouse server's configuration".into()
        });
        Err(NotReady::new(
            Class::Other,
            format!(
                "ClickHouse at {} defines no {noun} {} (system.clusters)",
                self.what,
                missing.join(", ")
            ),
        )
        .hint(hint))
    }

    /// Runs one query; the body on success.
    async fn query(&self, sql: &str, budget: Duration) -> Result<String, NotReady> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("database", &self.database);
        let mut response = self
            .client
            .post(url)
            .timeout(budget)
            .header("X-ClickHouse-User", &self.user)
            .header("X-ClickHouse-Key", &self.password)
            .body(sql.to_string())
            .send()
            .await
            .map_err(|e| classify_http(e, budget))?;
        let status = response.status();
        // The answers asked for are a few lines: a server that streams more
        // (a proxy's page, an endless body) is cut off, never buffered whole.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| classify_http(e, budget))?
        {
            if body.len() + chunk.len() > ANSWER_CAP {
                return Err(NotReady::new(
                    Class::Other,
                    format!("{} answered with more than 1 MiB; ClickHouse's answers here are a few lines", self.what),
                )
                .hint("check the URL: is this ClickHouse's HTTP port (8123), not a proxy or another service?"));
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        if status.is_success() {
            return Ok(body);
        }
        Err(classify_server(
            &self.redactor.clean(&body),
            &self.user,
            &self.database,
            &self.what,
        ))
    }
}

/// ClickHouse reports errors as `Code: N, e.displayText() = DB::Exception: ...`.
fn classify_server(body: &str, user: &str, database: &str, what: &str) -> NotReady {
    let line = one_line(body);
    let code = line
        .strip_prefix("Code: ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok());
    let short: String = line.chars().take(200).collect();
    match code {
        Some(192..=194 | 516) => NotReady::new(
            Class::Auth,
            format!("ClickHouse rejected user {user:?}: {short}"),
        )
        .hint("check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (the URL's user and password)"),
        Some(81) => NotReady::new(
            Class::UnknownDatabase,
            format!("ClickHouse database {database:?} does not exist"),
        )
        .hint("check the database in the URL (CLICKHOUSE_DB), or create it"),
        _ => NotReady::new(
            Class::Other,
            format!("ClickHouse at {what} answered: {short}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_literals() {
        assert_eq!(literal("a'b\\c"), r"'a\'b\\c'");
        assert!(table_name("traces").is_ok());
        assert!(table_name("default.traces").is_ok());
        for bad in ["", "x'y", "a b", "t;DROP"] {
            assert!(table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_errors_are_classified() {
        let auth = "Code: 516, e.displayText() = DB::Exception: default: Authentication failed";
        assert_eq!(
            classify_server(auth, "default", "db", "h:1").class,
            Class::Auth
        );
        let db = "Code: 81, e.displayText() = DB::Exception: Database nope doesn't exist";
        assert_eq!(
            classify_server(db, "u", "nope", "h:1").class,
            Class::UnknownDatabase
        );
        assert_eq!(classify_server("oops", "u", "d", "h:1").class, Class::Other);
    }
}

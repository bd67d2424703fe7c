//! The validated configuration: every flag merged with its `READYGATE_*` twin
//! (the flag wins), durations, URLs, expectations and TLS material parsed, and
//! every bad value turned into one line that names the flag or variable it
//! came from. Nothing here opens a connection.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::cli::Cli;
use crate::duration::{self, shorten};
use crate::probe::clickhouse::{self, ClickHouseProbe};
use crate::probe::http::{Expect, HttpProbe, JsonExpect, StatusSet};
use crate::probe::postgres::{self, PostgresProbe, Requirements, TableName};
use crate::probe::redis::RedisProbe;
use crate::probe::tcp::TcpProbe;
use crate::probe::Probe;
use crate::schedule::Schedule;
use crate::target::{Kind, Target};
use crate::wait::{self, Watched};

mod clients;
mod conditions;
mod env;

use clients::{build_client, parse_header, redirect_policy, ClientTls};
pub use conditions::{Condition, Conditions};
use env::{by_comma_or_whitespace, by_line, by_whitespace, check_variable_names, Merge};
pub use env::{disabled, process_env, Env, VARIABLES};

/// A configuration error: one line, naming the flag or variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(origin: &str, message: impl std::fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("{origin} {message}")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// How each target will be probed, parsed once.
enum Spec {
    Tcp,
    Http,
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
    Redis(Box<RedisProbe>),
    ClickHouse(Box<ClickHouseProbe>),
}

pub struct Config {
    pub targets: Vec<Target>,
    specs: Vec<Spec>,
    pub wait: wait::Options,
    pub once: bool,
    pub print_config: bool,
    pub quiet: bool,
    pub log_format: LogFormat,
    /// `READYGATE_LOG`: a tracing filter such as `debug` or `readygate=debug`.
    pub log_filter: Option<String>,
    pub postgres: Arc<Requirements>,
    pub http: Arc<Expect>,
    /// ClickHouse requirements, when there is a ClickHouse target.
    pub clickhouse: Option<Arc<clickhouse::Requirements>>,
    header_names: Vec<String>,
    http_client: Option<reqwest::Client>,
    pub insecure: bool,
    pub ca_file: Option<String>,
    pub command: Vec<String>,
    /// `--only-if` / `--skip-if`, checked against the environment.
    pub conditions: Conditions,
    /// `--termination-log`; `None` means `/dev/termination-log` if writable.
    pub termination_log: Option<std::path::PathBuf>,
    /// Every secret the configuration holds, for the output redactor.
    pub secrets: Vec<String>,
}

impl Config {
    /// Validates raw arguments against the environment.
    pub fn new(cli: Cli, env: &Env) -> Result<Config, ConfigError> {
        check_variable_names(env)?;
        let m = Merge { env };
        // libpq's PGPASSWORD applies when a URL has no password.
        let mut secrets: Vec<String> = env.get("PGPASSWORD").into_iter().cloned().collect();

        let raw_targets = m.list(cli.targets, "target", "READYGATE_TARGETS", by_whitespace)?;
        let mut targets = Vec::new();
        for (n, (raw, origin)) in raw_targets.iter().enumerate() {
            if raw.chars().count() > 4096 {
                return err(
                    &format!("{origin} #{}", n + 1),
                    "is longer than 4096 characters",
                );
            }
            match Target::parse(raw) {
                Ok(t) => {
                    secrets.extend(t.secrets());
                    targets.push(t);
                }
                Err(why) => {
                    // The raw value may hold a password: name it by position.
                    // Only something like `db:5432` is safe to echo.
                    let shown = if raw.contains("//") || raw.contains(['@', '?', '#']) {
                        String::new()
                    } else {
                        format!(" {:?}", shorten(raw))
                    };
                    return err(&format!("{origin} #{}{shown}", n + 1), why);
                }
            }
        }
        let print_config = m.flag(cli.print_config, "READYGATE_PRINT_CONFIG")?;
        if targets.is_empty() {
            return Err(ConfigError(
                "no targets: give URLs as arguments or in READYGATE_TARGETS, e.g. readygate postgres://user:pass@db:5432/app".into(),
            ));
        }

        let timeout = m.duration(
            cli.timeout,
            "--timeout",
            "READYGATE_TIMEOUT",
            Duration::from_secs(300),
            true,
            None,
        )?;
        let attempt_timeout = m.duration(
            cli.attempt_timeout,
            "--attempt-timeout",
            "READYGATE_ATTEMPT_TIMEOUT",
            Duration::from_secs(5),
            false,
            Some(postgres::MAX_ATTEMPT_TIMEOUT),
        )?;
        let schedule = match m.value(cli.interval, "--interval", "READYGATE_INTERVAL")? {
            None => Schedule::Adaptive,
            Some((raw, origin)) => match duration::parse(&raw) {
                Ok(d) if d < Duration::from_millis(10) => {
                    return err(&origin, "must be at least 10ms")
                }
                Ok(d) => Schedule::Fixed(d),
                Err(e) => return err(&origin, e),
            },
        };
        let progress_every = m.duration(
            cli.progress_every,
            "--progress-every",
            "READYGATE_PROGRESS_EVERY",
            Duration::from_secs(10),
            false,
            None,
        )?;
        let fail_fast = m.flag(cli.fail_fast, "READYGATE_FAIL_FAST")?;
        let once = m.flag(cli.once, "READYGATE_ONCE")?;
        let quiet = m.flag(cli.quiet, "READYGATE_QUIET")?;
        let log_format = match m.value(cli.log_format, "--log-format", "READYGATE_LOG_FORMAT")? {
            None => LogFormat::Text,
            Some((v, origin)) => match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return err(
                        &origin,
                        format_args!("is {:?}; use text or json", shorten(&v)),
                    )
                }
            },
        };
        let log_filter = match env.get("READYGATE_LOG") {
            Some(f) if f.trim().is_empty() => {
                return err(
                    "READYGATE_LOG",
                    "is set but empty; unset it or give a filter such as debug",
                )
            }
            Some(f) => {
                tracing_subscriber::EnvFilter::try_new(f).or_else(|e| {
                    err(
                        "READYGATE_LOG",
                        format_args!("is not a log filter ({e}); use e.g. info or readygate=debug"),
                    )
                })?;
                Some(f.clone())
            }
            None => None,
        };
        if once && !cli.command.is_empty() {
            return Err(ConfigError(
                "--once checks and exits; it cannot be combined with -- COMMAND".into(),
            ));
        }

        let kinds = |k: Kind| targets.iter().any(|t| t.kind == k);
        let (has_pg, has_http) = (kinds(Kind::Postgres), kinds(Kind::Http));
        let needs = |origin: &str, present: bool, kind: &str| -> Result<(), ConfigError> {
            if present {
                Ok(())
            } else {
                err(
                    origin,
                    format_args!("applies to {kind} targets, but none is given"),
                )
            }
        };

        // PostgreSQL requirements.
        let mut req = Requirements::default();
        for (raw, origin) in m.list(
            cli.tables,
            "--table",
            "READYGATE_TABLES",
            by_comma_or_whitespace,
        )? {
            needs(&origin, has_pg, "postgres://")?;
            req.tables
                .push(TableName::parse(&raw).or_else(|e| err(&origin, e))?);
        }
        req.prisma = m.flag(cli.prisma_migrations, "READYGATE_PRISMA_MIGRATIONS")?;
        if req.prisma {
            needs("--prisma-migrations", has_pg, "postgres://")?;
        }
        for (raw, origin) in m.list(
            cli.migrations,
            "--migration",
            "READYGATE_MIGRATIONS",
            by_comma_or_whitespace,
        )? {
            needs(&origin, has_pg, "postgres://")?;
            if raw.len() > 255 {
                return err(&origin, "names a migration longer than 255 characters");
            }
            req.migrations.push(raw);
        }
        if let Some((dir, origin)) = m.value(
            cli.prisma_migrations_dir,
            "--prisma-migrations-dir",
            "READYGATE_PRISMA_MIGRATIONS_DIR",
        )? {
            needs(&origin, has_pg, "postgres://")?;
            req.migrations
                .extend(prisma_migrations_in(Path::new(&dir)).or_else(|e| err(&origin, e))?);
        }
        if let Some((sql, origin)) = m.value(cli.sql, "--sql", "READYGATE_SQL")? {
            needs(&origin, has_pg, "postgres://")?;
            if sql.contains('\0') {
                return err(&origin, "contains a NUL byte");
            }
            req.sql = Some(sql);
        }

        // HTTP expectations and client.
        let mut expect = Expect::default();
        if let Some((raw, origin)) =
            m.value(cli.http_status, "--http-status", "READYGATE_HTTP_STATUS")?
        {
            needs(&origin, has_http, "http(s)://")?;
            expect.status = StatusSet::parse(&raw).or_else(|e| err(&origin, e))?;
        }
        for (raw, origin) in m.list(cli.http_json, "--http-json", "READYGATE_HTTP_JSON", by_line)? {
            needs(&origin, has_http, "http(s)://")?;
            expect
                .json
                .push(JsonExpect::parse(&raw).or_else(|e| err(&origin, e))?);
        }
        if let Some((body, origin)) =
            m.value(cli.http_body, "--http-body", "READYGATE_HTTP_BODY")?
        {
            needs(&origin, has_http, "http(s)://")?;
            expect.body = Some(body);
        }
        let mut headers = HeaderMap::new();
        let mut header_names = Vec::new();
        for (raw, origin) in m.list(
            cli.http_headers,
            "--http-header",
            "READYGATE_HTTP_HEADERS",
            by_line,
        )? {
            needs(&origin, has_http, "http(s)://")?;
            let (name, value) = parse_header(&raw).or_else(|e| err(&origin, e))?;
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if let Some((_, token)) = text.split_once(' ') {
                secrets.push(token.trim().to_string());
            }
            secrets.push(text);
            header_names.push(name.to_string());
            headers.append(name, value);
        }
        let insecure = m.flag(cli.insecure, "READYGATE_INSECURE")?;
        let ca = m.value(cli.ca_file, "--ca-file", "READYGATE_CA_FILE")?;
        if insecure && ca.is_some() {
            return Err(ConfigError("--insecure and --ca-file contradict each other; keep --ca-file and drop --insecure".into()));
        }
        let tls_targets = targets
            .iter()
            .any(|t| matches!(t.url.scheme(), "https" | "rediss" | "clickhouse"));
        if insecure {
            needs(
                "--insecure",
                tls_targets,
                "https://, rediss:// or clickhouse://",
            )?;
        }
        let ca_pem = match &ca {
            None => None,
            Some((path, origin)) => {
                needs(origin, tls_targets, "https://, rediss:// or clickhouse://")?;
                let pem = std::fs::read(path)
                    .or_else(|e| err(origin, format_args!("{path:?} cannot be read ({e})")))?;
                if reqwest::Certificate::from_pem_bundle(&pem)
                    .ok()
                    .is_none_or(|c| c.is_empty())
                {
                    return err(origin, format_args!("{path:?} holds no PEM certificate"));
                }
                Some(pem)
            }
        };
        let ca_file = ca.as_ref().map(|(path, _)| path.clone());
        let tls = ClientTls {
            ca_pem: ca_pem.as_deref(),
            insecure,
        };
        let http_client = if has_http {
            Some(build_client(
                &tls,
                headers,
                redirect_policy(!header_names.is_empty()),
            )?)
        } else {
            None
        };
        // ClickHouse gets a client of its own: --http-header values are for
        // the HTTP targets, not for the database.
        let clickhouse_client = if kinds(Kind::ClickHouse) {
            Some(build_client(
                &tls,
                HeaderMap::new(),
                reqwest::redirect::Policy::none(),
            )?)
        } else {
            None
        };
        let mut ch = clickhouse::Requirements::default();
        for (raw, origin) in m.list(
            cli.clickhouse_tables,
            "--clickhouse-table",
            "READYGATE_CLICKHOUSE_TABLES",
            by_comma_or_whitespace,
        )? {
            needs(&origin, kinds(Kind::ClickHouse), "clickhouse://")?;
            ch.tables
                .push(clickhouse::table_name(&raw).or_else(|e| err(&origin, e))?);
        }
        ch.migrations = m.flag(cli.clickhouse_migrations, "READYGATE_CLICKHOUSE_MIGRATIONS")?;
        if ch.migrations {
            needs(
                "--clickhouse-migrations",
                kinds(Kind::ClickHouse),
                "clickhouse://",
            )?;
        }
        let ch = Arc::new(ch);

        let mut conditions = Conditions::default();
        for (raw, origin) in m.list(cli.only_if, "--only-if", "READYGATE_ONLY_IF", by_line)? {
            conditions
                .only_if
                .push(Condition::parse(&raw).or_else(|e| err(&origin, e))?);
        }
        for (raw, origin) in m.list(cli.skip_if, "--skip-if", "READYGATE_SKIP_IF", by_line)? {
            conditions
                .skip_if
                .push(Condition::parse(&raw).or_else(|e| err(&origin, e))?);
        }

        let termination_log = m
            .value(
                cli.termination_log,
                "--termination-log",
                "READYGATE_TERMINATION_LOG",
            )?
            .map(|(path, _)| std::path::PathBuf::from(path));

        let mut specs = Vec::with_capacity(targets.len());
        for (n, t) in targets.iter().enumerate() {
            specs.push(match t.kind {
                Kind::Tcp => Spec::Tcp,
                Kind::Http => Spec::Http,
                Kind::Postgres => Spec::Postgres(Box::new(
                    postgres::connect_options(&t.url, attempt_timeout)
                        .or_else(|e| err(&format!("{} #{} ({t})", raw_targets[n].1, n + 1), e))?,
                )),
                Kind::Redis => Spec::Redis(Box::new(
                    RedisProbe::new(&t.url, ca_pem.as_deref())
                        .or_else(|e| err(&format!("{} #{} ({t})", raw_targets[n].1, n + 1), e))?,
                )),
                Kind::ClickHouse => {
                    let client = clickhouse_client
                        .clone()
                        .expect("built whenever there is a ClickHouse target");
                    Spec::ClickHouse(Box::new(
                        ClickHouseProbe::new(client, &t.url, ch.clone()).or_else(|e| {
                            err(&format!("{} #{} ({t})", raw_targets[n].1, n + 1), e)
                        })?,
                    ))
                }
            });
        }

        Ok(Config {
            targets,
            specs,
            wait: wait::Options {
                timeout: (!timeout.is_zero()).then_some(timeout),
                attempt_timeout,
                schedule,
                progress_every,
                fail_fast,
            },
            once,
            print_config,
            quiet,
            log_format,
            log_filter,
            postgres: Arc::new(req),
            http: Arc::new(expect),
            clickhouse: clickhouse_client.is_some().then(|| ch.clone()),
            header_names,
            http_client,
            insecure,
            ca_file,
            command: cli.command,
            conditions,
            termination_log,
            secrets,
        })
    }

    /// The probes, one per target, in target order.
    pub fn probes(&self) -> Vec<Watched<Probe>> {
        self.targets
            .iter()
            .zip(&self.specs)
            .map(|(t, spec)| {
                let check = match spec {
                    Spec::Tcp => Probe::Tcp(TcpProbe::new(
                        t.url.host_str().unwrap_or_default(),
                        t.url.port().unwrap_or(0),
                    )),
                    Spec::Http => {
                        let client = self
                            .http_client
                            .clone()
                            .expect("an HTTP client is built whenever there is an HTTP target");
                        Probe::Http(HttpProbe::new(client, t.url.clone(), self.http.clone()))
                    }
                    Spec::Postgres(spec) => Probe::Postgres(Box::new(PostgresProbe::new(
                        (**spec).clone(),
                        self.postgres.clone(),
                    ))),
                    Spec::Redis(probe) => Probe::Redis((**probe).clone()),
                    Spec::ClickHouse(probe) => Probe::ClickHouse((**probe).clone()),
                };
                Watched {
                    name: t.to_string(),
                    check,
                }
            })
            .collect()
    }

    /// The resolved configuration for `--print-config`, secrets redacted.
    pub fn describe(&self) -> String {
        let mut out = String::from("targets:\n");
        for t in &self.targets {
            let _ = writeln!(out, "  {t}");
        }
        let show = duration::show;
        let timeout = self
            .wait
            .timeout
            .map_or("0 (wait forever)".to_string(), show);
        let interval = match self.wait.schedule {
            Schedule::Adaptive => "adaptive (80ms for 2s, slowing to 900ms by 10s)".to_string(),
            Schedule::Fixed(d) => show(d),
        };
        let _ = writeln!(out, "timeout: {timeout}");
        let _ = writeln!(out, "attempt-timeout: {}", show(self.wait.attempt_timeout));
        let _ = writeln!(out, "interval: {interval}");
        let _ = writeln!(out, "progress-every: {}", show(self.wait.progress_every));
        let _ = writeln!(out, "fail-fast: {}", self.wait.fail_fast);
        let pg = &self.postgres;
        if self.targets.iter().any(|t| t.kind == Kind::Postgres) {
            let tables: Vec<String> = pg.tables.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "postgres tables: {}",
                if tables.is_empty() {
                    "-".into()
                } else {
                    tables.join(", ")
                }
            );
            let _ = writeln!(out, "prisma migrations complete: {}", pg.prisma);
            let _ = writeln!(
                out,
                "migrations applied: {}",
                if pg.migrations.is_empty() {
                    "-".into()
                } else {
                    pg.migrations.join(", ")
                }
            );
            let _ = writeln!(out, "sql: {}", pg.sql.as_deref().unwrap_or("-"));
        }
        if let Some(_client) = &self.http_client {
            let _ = writeln!(out, "http status: {}", self.http.status);
            for j in &self.http.json {
                let _ = writeln!(out, "http json: {} = {:?}", j.pointer, j.value);
            }
            if let Some(body) = &self.http.body {
                let _ = writeln!(out, "http body contains: {body:?}");
            }
            for name in &self.header_names {
                let _ = writeln!(out, "http header: {name}: ***");
            }
            let verify = if self.insecure {
                "off (--insecure)".to_string()
            } else if let Some(ca) = &self.ca_file {
                format!("on, CA {ca}")
            } else {
                "on".into()
            };
            let _ = writeln!(out, "https certificate verification: {verify}");
        }
        for c in &self.conditions.only_if {
            let _ = writeln!(out, "only if: {c}");
        }
        for c in &self.conditions.skip_if {
            let _ = writeln!(out, "skip if: {c}");
        }
        if let Some((tables, migrations)) = self
            .clickhouse
            .as_ref()
            .map(|c| (c.tables.join(", "), c.migrations))
        {
            let _ = writeln!(
                out,
                "clickhouse tables: {}",
                if tables.is_empty() { "-" } else { &tables }
            );
            let _ = writeln!(out, "clickhouse migrations clean: {migrations}");
        }
        if !self.command.is_empty() {
            let _ = writeln!(out, "then run: {}", self.command.join(" "));
        }
        out
    }
}

/// The migration names in a Prisma `prisma/migrations` directory: every
/// subdirectory that holds a `migration.sql`, sorted as Prisma applies them.
pub fn prisma_migrations_in(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{:?} cannot be read ({e})", dir.display().to_string()))?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if entry.path().join("migration.sql").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    if names.is_empty() {
        return Err(format!(
            "{:?} holds no migration (no */migration.sql); point it at prisma/migrations",
            dir.display().to_string()
        ));
    }
    names.sort();
    Ok(names)
}

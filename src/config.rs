//! The validated configuration: every flag merged with its `READYGATE_*` twin
//! (the flag wins), durations, URLs, expectations and TLS material parsed, and
//! every bad value turned into one line that names the flag or variable it
//! came from. Nothing here opens a connection.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

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

/// The environment, as a map; tests pass their own.
pub type Env = HashMap<String, String>;

/// Reads the process environment; a `READYGATE_*` variable that is not UTF-8
/// is an error rather than silently skipped.
pub fn process_env() -> Result<Env, ConfigError> {
    let mut env = Env::new();
    for (k, v) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        match v.into_string() {
            Ok(v) => {
                env.insert(k.to_string(), v);
            }
            Err(_) if k.starts_with("READYGATE_") => return err(k, "is not valid UTF-8"),
            Err(_) => {}
        }
    }
    Ok(env)
}

/// `READYGATE_DISABLED`: checked before anything else, so the switch works
/// even when the rest of the configuration is broken.
pub fn disabled(env: &Env) -> Result<bool, ConfigError> {
    match env.get("READYGATE_DISABLED") {
        None => Ok(false),
        Some(v) => boolean("READYGATE_DISABLED", v),
    }
}

fn boolean(origin: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => err(
            origin,
            format_args!("is {:?}; use true or false", shorten(raw)),
        ),
    }
}

/// Every `READYGATE_*` variable readygate reads. Any other is a typo, and
/// ignoring it could make the gate pass too early (`READYGATE_TABLE` for
/// `READYGATE_TABLES` would drop the table check).
pub const VARIABLES: &[&str] = &[
    "READYGATE_TARGETS",
    "READYGATE_TIMEOUT",
    "READYGATE_INTERVAL",
    "READYGATE_ATTEMPT_TIMEOUT",
    "READYGATE_PROGRESS_EVERY",
    "READYGATE_ONCE",
    "READYGATE_FAIL_FAST",
    "READYGATE_PRINT_CONFIG",
    "READYGATE_QUIET",
    "READYGATE_LOG_FORMAT",
    "READYGATE_LOG",
    "READYGATE_DISABLED",
    "READYGATE_TABLES",
    "READYGATE_PRISMA_MIGRATIONS",
    "READYGATE_MIGRATIONS",
    "READYGATE_PRISMA_MIGRATIONS_DIR",
    "READYGATE_SQL",
    "READYGATE_HTTP_STATUS",
    "READYGATE_HTTP_JSON",
    "READYGATE_HTTP_BODY",
    "READYGATE_HTTP_HEADERS",
    "READYGATE_CA_FILE",
    "READYGATE_INSECURE",
    "READYGATE_TERMINATION_LOG",
    "READYGATE_CLICKHOUSE_TABLES",
    "READYGATE_CLICKHOUSE_MIGRATIONS",
    "READYGATE_ONLY_IF",
    "READYGATE_SKIP_IF",
];

fn check_variable_names(env: &Env) -> Result<(), ConfigError> {
    let mut unknown: Vec<&String> = env
        .keys()
        .filter(|k| {
            k.starts_with("READYGATE_") && !VARIABLES.contains(&k.as_str()) && !is_service_link(k)
        })
        .collect();
    unknown.sort();
    let Some(name) = unknown.first() else {
        return Ok(());
    };
    let closest = VARIABLES
        .iter()
        .min_by_key(|known| edit_distance(name, known))
        .filter(|known| edit_distance(name, known) <= 3);
    match closest {
        Some(known) => err(
            name,
            format_args!("is not a readygate variable; did you mean {known}?"),
        ),
        None => err(
            name,
            "is not a readygate variable; see readygate --help for the READYGATE_* names",
        ),
    }
}

/// Kubernetes puts `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_8080_TCP_ADDR`
/// and friends into every pod of a namespace with a Service of that name; a
/// Service called `readygate` must not break every gate beside it.
fn is_service_link(name: &str) -> bool {
    if name.contains("_SERVICE_HOST") || name.contains("_SERVICE_PORT") || name.ends_with("_PORT") {
        return true;
    }
    let Some((_, rest)) = name.split_once("_PORT_") else {
        return false;
    };
    let mut parts = rest.split('_');
    let number = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let proto = parts
        .next()
        .is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"));
    let tail = parts
        .next()
        .is_none_or(|p| matches!(p, "ADDR" | "PORT" | "PROTO"));
    number && proto && tail && parts.next().is_none()
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Looks up one option: the flag if given, else its environment twin.
struct Merge<'a> {
    env: &'a Env,
}

impl Merge<'_> {
    fn value(
        &self,
        flag: Option<String>,
        flag_name: &str,
        var: &str,
    ) -> Result<Option<(String, String)>, ConfigError> {
        if let Some(v) = flag {
            if v.trim().is_empty() {
                return err(flag_name, "is empty; give a value or leave the flag out");
            }
            return Ok(Some((v, flag_name.to_string())));
        }
        match self.env.get(var) {
            Some(v) if v.trim().is_empty() => {
                err(var, "is set but empty; unset it or give a value")
            }
            Some(v) => Ok(Some((v.clone(), var.to_string()))),
            None => Ok(None),
        }
    }

    fn flag(&self, flag: bool, var: &str) -> Result<bool, ConfigError> {
        if flag {
            return Ok(true);
        }
        self.env.get(var).map_or(Ok(false), |v| boolean(var, v))
    }

    /// A repeatable flag; its twin holds several values split by `split`.
    fn list(
        &self,
        flag: Vec<String>,
        flag_name: &str,
        var: &str,
        split: fn(&str) -> Vec<String>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        if flag.iter().any(|v| v.trim().is_empty()) {
            return err(flag_name, "is empty; give a value or leave the flag out");
        }
        if !flag.is_empty() {
            return Ok(flag
                .into_iter()
                .map(|v| (v, flag_name.to_string()))
                .collect());
        }
        match self.env.get(var) {
            Some(v) if v.trim().is_empty() => {
                err(var, "is set but empty; unset it or give a value")
            }
            Some(v) => match split(v) {
                items if items.is_empty() => {
                    err(var, "holds no values; unset it or give at least one")
                }
                items => Ok(items
                    .into_iter()
                    .map(|item| (item, var.to_string()))
                    .collect()),
            },
            None => Ok(Vec::new()),
        }
    }

    fn duration(
        &self,
        flag: Option<String>,
        flag_name: &str,
        var: &str,
        default: Duration,
        zero_ok: bool,
        max: Option<Duration>,
    ) -> Result<Duration, ConfigError> {
        let Some((raw, origin)) = self.value(flag, flag_name, var)? else {
            return Ok(default);
        };
        let d = duration::parse(&raw).or_else(|e| err(&origin, e))?;
        if d.is_zero() && !zero_ok {
            return err(&origin, "must be longer than 0");
        }
        if let Some(max) = max.filter(|&max| d > max) {
            return err(
                &origin,
                format_args!("must be at most {}", duration::show(max)),
            );
        }
        Ok(d)
    }
}

fn by_whitespace(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn by_comma_or_whitespace(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

fn by_line(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
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

/// `NAME=VALUE`: holds when the variable NAME is set to exactly VALUE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub name: String,
    pub value: String,
}

impl Condition {
    fn parse(raw: &str) -> Result<Condition, String> {
        let (name, value) = raw.split_once('=').ok_or_else(|| {
            format!(
                "{:?} has no '='; write NAME=VALUE, e.g. COMPONENT=worker",
                shorten(raw)
            )
        })?;
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!(
                "{:?} is not an environment variable name",
                shorten(name)
            ));
        }
        Ok(Condition {
            name: name.to_string(),
            value: value.to_string(),
        })
    }

    fn holds(&self, env: &Env) -> bool {
        env.get(&self.name) == Some(&self.value)
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// Whether this gate should wait here at all: every `--only-if` must hold and
/// no `--skip-if` may. One image and one configuration can then serve pods
/// that should wait and pods that must not (the Helm chart puts
/// `extraInitContainers` into the web pod too, which would deadlock).
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    pub only_if: Vec<Condition>,
    pub skip_if: Vec<Condition>,
}

impl Conditions {
    /// Why not to wait here, or `None` to wait.
    pub fn skip_reason(&self, env: &Env) -> Option<String> {
        if let Some(c) = self.only_if.iter().find(|c| !c.holds(env)) {
            let actual = env
                .get(&c.name)
                .map_or("unset".to_string(), |v| format!("{:?}", shorten(v)));
            return Some(format!(
                "--only-if {c} does not hold ({} is {actual})",
                c.name
            ));
        }
        self.skip_if
            .iter()
            .find(|c| c.holds(env))
            .map(|c| format!("--skip-if {c} holds"))
    }
}

/// TLS settings shared by the HTTP and ClickHouse clients.
struct ClientTls<'a> {
    ca_pem: Option<&'a [u8]>,
    insecure: bool,
}

/// Builds a client once; attempts only send requests on it.
fn build_client(
    tls: &ClientTls,
    headers: HeaderMap,
    redirect: reqwest::redirect::Policy,
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(concat!("readygate/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect)
        .pool_max_idle_per_host(1)
        .danger_accept_invalid_certs(tls.insecure);
    if let Some(pem) = tls.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default() {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .or_else(|e| err("HTTP client", format_args!("cannot be built ({e})")))
}

/// Follows up to 5 redirects; with `--http-header` set, only to the same
/// host, since reqwest forwards custom headers (API keys) to any host.
fn redirect_policy(same_host_only: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let first = attempt
            .previous()
            .first()
            .map(|u| (u.host_str().map(String::from), u.port_or_known_default()));
        let here = (
            attempt.url().host_str().map(String::from),
            attempt.url().port_or_known_default(),
        );
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if same_host_only && first.is_some_and(|f| f != here) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or("has no ':'; write it as 'Name: value'")?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("has an invalid header name {:?}", shorten(name.trim())))?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("{name} has a value with characters a header cannot carry"))?;
    value.set_sensitive(true);
    Ok((name, value))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_service_links_are_not_typos() {
        for name in [
            "READYGATE_SERVICE_HOST",
            "READYGATE_SERVICE_PORT",
            "READYGATE_SERVICE_PORT_METRICS",
            "READYGATE_PORT",
            "READYGATE_PORT_9477_TCP",
            "READYGATE_PORT_9477_TCP_ADDR",
            "READYGATE_PORT_9477_UDP_PROTO",
        ] {
            assert!(is_service_link(name), "{name}");
        }
        for name in ["READYGATE_TABLE", "READYGATE_PORT_X_TCP", "READYGATE_PORTS"] {
            assert!(!is_service_link(name), "{name}");
        }
        let env: Env = [("READYGATE_SERVICE_HOST".to_string(), "10.0.0.1".to_string())].into();
        assert!(check_variable_names(&env).is_ok());
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("READYGATE_TABLE", "READYGATE_TABLES"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

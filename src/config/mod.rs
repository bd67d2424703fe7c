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
use crate::preset::{Hints, Langfuse, Part, LANGFUSE_WORKER_TABLES};
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

pub struct Config {
    pub targets: Vec<Target>,
    /// One probe per target, built here; taken by `probes()`.
    checks: Vec<Probe>,
    /// What each target must satisfy, for `--print-config`.
    details: Vec<String>,
    /// How each target's failures are explained.
    hints: Vec<Hints>,
    /// Problems noticed in the configuration, to log once logging is set up.
    pub warnings: Vec<String>,
    pub wait: wait::Options,
    /// `--serve`: sidecar mode on this address.
    pub serve: Option<std::net::SocketAddr>,
    /// Sidecar mode's interval once a target has been ready.
    pub serve_interval: std::time::Duration,
    pub once: bool,
    pub print_config: bool,
    pub quiet: bool,
    pub log_format: LogFormat,
    /// `READYGATE_LOG`: a tracing filter such as `debug` or `readygate=debug`.
    pub log_filter: Option<String>,
    pub insecure: bool,
    pub command: Vec<std::ffi::OsString>,
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
        // What each target stands for; the preset's targets get Langfuse hints.
        let mut hints = vec![Hints::Generic; targets.len()];
        let mut own_ca: Vec<Option<String>> = vec![None; targets.len()];
        let mut warnings = Vec::new();
        let web = m.value(cli.langfuse_web, "--langfuse-web", "READYGATE_LANGFUSE_WEB")?;
        match m.value(cli.preset, "--preset", "READYGATE_PRESET")? {
            Some((name, _)) if name == "langfuse-worker" => {
                let lf = Langfuse::from_env(env, web.as_ref().map(|(w, _)| w.as_str()))
                    .map_err(ConfigError)?;
                for pt in lf.targets {
                    targets.push(pt.target);
                    hints.push(Hints::Langfuse(pt.part));
                    own_ca.push(pt.ca_path);
                }
                secrets.extend(lf.secrets);
                warnings.extend(lf.warnings);
            }
            Some((name, origin)) => {
                return err(
                    &origin,
                    format_args!(
                        "is {:?}; the only preset is langfuse-worker",
                        shorten(&name)
                    ),
                )
            }
            None => {
                if let Some((_, origin)) = web {
                    return err(
                        &origin,
                        "applies to --preset langfuse-worker, which is not given",
                    );
                }
            }
        }
        let is_preset = |n: usize, part: Part| hints[n] == Hints::Langfuse(part);
        let print_config = m.flag(cli.print_config, "READYGATE_PRINT_CONFIG")?;
        if targets.is_empty() {
            return Err(ConfigError(
                "no targets: give URLs as arguments or in READYGATE_TARGETS, e.g. readygate postgres://user:pass@db:5432/app".into(),
            ));
        }

        let timeout_given = cli.timeout.is_some() || env.contains_key("READYGATE_TIMEOUT");
        let progress_given =
            cli.progress_every.is_some() || env.contains_key("READYGATE_PROGRESS_EVERY");
        let termination_log_given =
            cli.termination_log.is_some() || env.contains_key("READYGATE_TERMINATION_LOG");
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
        let serve = match m.value(cli.serve, "--serve", "READYGATE_SERVE")? {
            None => None,
            Some((raw, origin)) => {
                let addr = raw.trim().parse::<std::net::SocketAddr>().or_else(|_| {
                    err(&origin, format_args!("{:?} is not an address to listen on; write e.g. 0.0.0.0:9477 or 127.0.0.1:0", shorten(&raw)))
                })?;
                if !cli.command.is_empty() {
                    return err(&origin, "keeps running beside the app and cannot exec a command: run the app in its own container, or drop --serve to wait and exec");
                }
                if once {
                    let once_name = if cli.once { "--once" } else { "READYGATE_ONCE" };
                    return err(
                        &origin,
                        format_args!("keeps checking; it cannot be combined with {once_name}"),
                    );
                }
                if timeout_given {
                    return err(
                        &origin,
                        "keeps checking for as long as it runs; drop --timeout (READYGATE_TIMEOUT)",
                    );
                }
                let fail_fast_name = if cli.fail_fast {
                    "--fail-fast"
                } else {
                    "READYGATE_FAIL_FAST"
                };
                for (given, name) in [
                    (fail_fast, fail_fast_name),
                    (progress_given, "--progress-every"),
                    (termination_log_given, "--termination-log"),
                ] {
                    if given {
                        return err(&origin, format_args!("keeps serving its state instead of exiting; {name} does not apply to it"));
                    }
                }
                // Identical names would be identical metric series.
                let names: Vec<String> = targets.iter().map(ToString::to_string).collect();
                if let Some(dup) = names
                    .iter()
                    .enumerate()
                    .find_map(|(i, n)| names[..i].contains(n).then_some(n))
                {
                    return err(
                        &origin,
                        format_args!("would show {dup} twice; give each target once"),
                    );
                }
                Some(addr)
            }
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
        let version = m.value(
            cli.expect_version,
            "--expect-version",
            "READYGATE_EXPECT_VERSION",
        )?;
        if let Some((v, origin)) = &version {
            needs(origin, has_http, "http(s)://")?;
            if v.trim().is_empty() || v.chars().count() > 64 || v.chars().any(char::is_whitespace) {
                return err(
                    origin,
                    format_args!("{:?} is not a version; write e.g. 3.225.4", shorten(v)),
                );
            }
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

        // Each target's own checks: the flags apply to every target of their
        // kind; the preset's targets add the Langfuse checks on top.
        let version = version.map(|(v, _)| v);
        let user_status_set = expect.status != StatusSet::default();
        let pg_req = Arc::new(req.clone());
        let mut lf_req = req;
        for table in LANGFUSE_WORKER_TABLES {
            let table = TableName::parse(table).expect("the preset's table names are valid");
            if !lf_req.tables.contains(&table) {
                lf_req.tables.push(table);
            }
        }
        lf_req.prisma = true;
        let lf_req = Arc::new(lf_req);
        let mut web_expect = expect.clone();
        if !user_status_set {
            web_expect.status = StatusSet::parse("200").expect("a valid status");
        }
        web_expect
            .json
            .push(JsonExpect::parse("/status=OK").expect("a valid pointer"));
        web_expect.version = version.clone();
        let web_expect = Arc::new(web_expect);
        let preset_given = hints.iter().any(|h| *h != Hints::Generic);
        if !preset_given {
            expect.version = version;
        }
        let expect = Arc::new(expect);
        let lf_ch = Arc::new(clickhouse::Requirements {
            migrations: true,
            ..(*ch).clone()
        });

        let mut checks = Vec::with_capacity(targets.len());
        let mut details = Vec::with_capacity(targets.len());
        for (n, t) in targets.iter().enumerate() {
            let origin = match raw_targets.get(n) {
                Some((_, origin)) => format!("{origin} #{} ({t})", n + 1),
                None => format!("--preset langfuse-worker ({t})"),
            };
            let (check, detail) = match t.kind {
                Kind::Tcp => (
                    Probe::Tcp(TcpProbe::new(
                        t.url.host_str().unwrap_or_default(),
                        t.url.port().unwrap_or(0),
                    )),
                    "a TCP connection opens".to_string(),
                ),
                Kind::Http => {
                    let client = http_client
                        .clone()
                        .expect("an HTTP client is built whenever there is an HTTP target");
                    let e = if is_preset(n, Part::Web) {
                        web_expect.clone()
                    } else {
                        expect.clone()
                    };
                    let detail = describe_http(&e, &header_names, insecure, ca_file.as_deref());
                    (
                        Probe::Http(HttpProbe::new(client, t.url.clone(), e)),
                        detail,
                    )
                }
                Kind::Postgres => {
                    let opts = postgres::connect_options(&t.url, attempt_timeout)
                        .or_else(|e| err(&origin, e))?;
                    let r = if is_preset(n, Part::Database) {
                        lf_req.clone()
                    } else {
                        pg_req.clone()
                    };
                    let detail = describe_postgres(&r);
                    (
                        Probe::Postgres(Box::new(PostgresProbe::new(opts, r))),
                        detail,
                    )
                }
                Kind::Redis => {
                    let own = match &own_ca[n] {
                        Some(path) => Some(std::fs::read(path).or_else(|e| {
                            err(
                                "REDIS_TLS_CA_PATH",
                                format_args!("{path:?} cannot be read ({e})"),
                            )
                        })?),
                        None => None,
                    };
                    let pem = own.as_deref().or(ca_pem.as_deref());
                    let probe = RedisProbe::new(&t.url, pem).or_else(|e| err(&origin, e))?;
                    (
                        Probe::Redis(probe),
                        "AUTH and PING succeed, dataset loaded".to_string(),
                    )
                }
                Kind::ClickHouse => {
                    let client = clickhouse_client
                        .clone()
                        .expect("built whenever there is a ClickHouse target");
                    let r = if is_preset(n, Part::ClickHouse) {
                        lf_ch.clone()
                    } else {
                        ch.clone()
                    };
                    let detail = describe_clickhouse(&r);
                    let probe =
                        ClickHouseProbe::new(client, &t.url, r).or_else(|e| err(&origin, e))?;
                    (Probe::ClickHouse(probe), detail)
                }
            };
            checks.push(check);
            details.push(detail);
        }

        Ok(Config {
            targets,
            checks,
            details,
            hints,
            warnings,
            wait: wait::Options {
                timeout: (!timeout.is_zero()).then_some(timeout),
                attempt_timeout,
                schedule,
                progress_every,
                fail_fast,
            },
            serve,
            serve_interval: match schedule {
                Schedule::Fixed(d) => d,
                Schedule::Adaptive => crate::sidecar::DEFAULT_INTERVAL,
            },
            once,
            print_config,
            quiet,
            log_format,
            log_filter,
            insecure,
            command: cli.command,
            conditions,
            termination_log,
            secrets,
        })
    }

    /// Forgets every target (a sidecar told "not here" by the conditions).
    pub fn drop_targets(&mut self) {
        self.targets.clear();
        self.checks.clear();
        self.details.clear();
        self.hints.clear();
    }

    /// The probes with their metric kinds, prepared for sidecar mode; taken once.
    pub fn monitors(&mut self) -> Vec<(Watched<Probe>, &'static str)> {
        self.probes()
            .into_iter()
            .map(|w| {
                let kind = w.check.kind();
                (
                    Watched {
                        check: w.check.for_monitoring(),
                        ..w
                    },
                    kind,
                )
            })
            .collect()
    }

    /// The probes, one per target, in target order; taken once.
    pub fn probes(&mut self) -> Vec<Watched<Probe>> {
        let checks = std::mem::take(&mut self.checks);
        self.targets
            .iter()
            .zip(checks)
            .zip(&self.hints)
            .map(|((t, check), &hints)| Watched {
                name: t.to_string(),
                check,
                hints,
            })
            .collect()
    }

    /// The resolved configuration for `--print-config`, secrets redacted.
    pub fn describe(&self) -> String {
        let mut out = String::from("targets:\n");
        for ((t, detail), hints) in self.targets.iter().zip(&self.details).zip(&self.hints) {
            let from = if *hints == Hints::Generic {
                ""
            } else {
                " [preset langfuse-worker]"
            };
            let _ = writeln!(out, "  {t}{from}\n    ready when: {detail}");
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
        for c in &self.conditions.only_if {
            let _ = writeln!(out, "only if: {c}");
        }
        for c in &self.conditions.skip_if {
            let _ = writeln!(out, "skip if: {c}");
        }
        if !self.command.is_empty() {
            let words: Vec<_> = self.command.iter().map(|w| w.to_string_lossy()).collect();
            let _ = writeln!(out, "then run: {}", words.join(" "));
        }
        out
    }
}

fn describe_postgres(r: &Requirements) -> String {
    let mut parts = vec!["login works, not in recovery".to_string()];
    if !r.tables.is_empty() {
        let tables: Vec<String> = r.tables.iter().map(ToString::to_string).collect();
        parts.push(format!("tables exist: {}", tables.join(", ")));
    }
    if r.prisma {
        parts.push("Prisma migrations complete".into());
    }
    if !r.migrations.is_empty() {
        parts.push(format!("migrations applied: {}", r.migrations.join(", ")));
    }
    if let Some(sql) = &r.sql {
        parts.push(format!("--sql is true: {sql}"));
    }
    parts.join("; ")
}

fn describe_http(e: &Expect, header_names: &[String], insecure: bool, ca: Option<&str>) -> String {
    let mut parts = vec![format!("status {}", e.status)];
    parts.extend(
        e.json
            .iter()
            .map(|j| format!("JSON {} = {:?}", j.pointer, j.value)),
    );
    if let Some(body) = &e.body {
        parts.push(format!("body contains {body:?}"));
    }
    if let Some(v) = &e.version {
        parts.push(format!("version {v}"));
    }
    parts.extend(header_names.iter().map(|n| format!("header {n}: ***")));
    if insecure {
        parts.push("certificates NOT verified (--insecure)".into());
    } else if let Some(ca) = ca {
        parts.push(format!("CA {ca}"));
    }
    parts.join("; ")
}

fn describe_clickhouse(r: &clickhouse::Requirements) -> String {
    let mut parts = vec!["a query works".to_string()];
    if !r.tables.is_empty() {
        parts.push(format!("tables exist: {}", r.tables.join(", ")));
    }
    if r.migrations {
        parts.push("newest schema_migrations row not dirty".into());
    }
    parts.join("; ")
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

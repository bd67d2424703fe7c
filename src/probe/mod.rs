//! The target kinds, one room each: a kind's URL rules, the flags that apply
//! to it, its probe and how `--print-config` describes it live in its file
//! or folder. This file is the registry: the closed list of kinds, the
//! target URL that names one, and the dispatch to each room. Adding a kind
//! is a new room plus its line in each `match` here.
//!
//! A probe is one attempt at telling whether a dependency is ready; retrying,
//! deadlines and output belong to the engine (`attempt`, `wait`, `sidecar`).

pub(crate) mod clickhouse;
pub(crate) mod file;
pub(crate) mod http;
pub(crate) mod listen;
pub(crate) mod mysql;
pub(crate) mod postgres;
pub(crate) mod proxy;
pub(crate) mod redis;
pub(crate) mod relay;
pub(crate) mod s3;
pub(crate) mod slots;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod url_part;

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::attempt::Check;
use crate::not_ready::{Class, NotReady};
use crate::options::{self, ConfigError, Merge, Opt};
use crate::secret::{self, Redactor};

/// What kind of dependency a target URL names, from its scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Tcp,
    Listen,
    File,
    Unix,
    Http,
    Postgres,
    MySql,
    Redis,
    ClickHouse,
    S3,
}

impl Kind {
    fn from_scheme(scheme: &str) -> Option<Kind> {
        Some(match scheme {
            "tcp" => Kind::Tcp,
            "listen" => Kind::Listen,
            "file" => Kind::File,
            "unix" => Kind::Unix,
            "http" | "https" | http::UNIX_SCHEME => Kind::Http,
            "postgres" | "postgresql" => Kind::Postgres,
            "mysql" | "mariadb" => Kind::MySql,
            s if redis::SCHEMES.contains(&s) => Kind::Redis,
            "clickhouse" => Kind::ClickHouse,
            "s3" => Kind::S3,
            _ => return None,
        })
    }

    /// The kind's name, for metric labels and `/readyz`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::Tcp => "tcp",
            Kind::Listen => "listen",
            Kind::File => "file",
            Kind::Unix => "unix",
            Kind::Http => "http",
            Kind::Postgres => "postgres",
            Kind::MySql => "mysql",
            Kind::Redis => "redis",
            Kind::ClickHouse => "clickhouse",
            Kind::S3 => "s3",
        }
    }

    /// A target of this kind watches the app beside readygate (in its
    /// network namespace), not a dependency the app needs before it starts.
    pub(crate) fn watches_the_app(self) -> bool {
        self == Kind::Listen
    }

    fn check_url(self, url: &Url, has_host: bool) -> Result<(), String> {
        match self {
            Kind::Tcp => tcp::check_url(url, has_host),
            Kind::Listen => listen::check_url(url),
            Kind::File | Kind::Unix => file::check_url(url),
            Kind::Postgres => postgres::check_url(url, has_host),
            Kind::MySql => mysql::check_url(url, has_host),
            Kind::Redis => redis::check_url(url, has_host),
            Kind::S3 => s3::check_url(url, has_host),
            Kind::Http => http::check_url(url, has_host),
            Kind::ClickHouse if !has_host => {
                Err("needs a host, e.g. clickhouse://ch:8123/default".into())
            }
            Kind::ClickHouse => Ok(()),
        }
    }
}

/// Every flag a kind declares, for the command line and `--help`.
pub(crate) const OPTIONS: &[&[&Opt]] = &[
    postgres::OPTIONS,
    clickhouse::OPTIONS,
    http::OPTIONS,
    tls::OPTIONS,
];

/// A validated target URL.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) kind: Kind,
    pub(crate) url: Url,
}

impl Target {
    /// Parses one target; the error is a sentence without the raw input, which
    /// may hold a password.
    pub(crate) fn parse(raw: &str) -> Result<Target, String> {
        let rewritten = postgres::socket_form(raw).or_else(|| listen::any_host_form(raw));
        let raw = rewritten.as_deref().unwrap_or(raw);
        let url = Url::parse(raw).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => {
                "is not a URL; write it as scheme://host:port, e.g. tcp://db:5432".to_string()
            }
            url::ParseError::InvalidPort if raw.contains('@') => "is not a valid URL (invalid port number); a user or password holding / ? # or @ must be percent-encoded (/ as %2F, @ as %40)".to_string(),
            other => format!("is not a valid URL ({other})"),
        })?;
        if url.cannot_be_a_base() {
            return Err(
                "is not a URL with a host; write it as scheme://host:port, e.g. tcp://db:5432"
                    .into(),
            );
        }
        let Some(kind) = Kind::from_scheme(url.scheme()) else {
            return Err(format!(
                "has unknown scheme {:?}; use tcp://, listen://, file://, unix://, http(s)://, http+unix://, postgres(ql)://, mysql://, mariadb://, redis(s)://, redis(s)-cluster://, redis(s)-sentinel://, clickhouse:// or s3://",
                url.scheme()
            ));
        };
        let has_host = url.host_str().is_some_and(|h| !h.is_empty());
        // Outside http(s), the URL parser keeps other characters as %-escapes
        // that no resolver would find: say so now rather than wait on them.
        if url.host_str().is_some_and(|h| h.contains('%')) && url.scheme() != http::UNIX_SCHEME {
            return Err("has a host name with characters a DNS name cannot hold (spaces, control or non-ASCII characters; write non-ASCII names in punycode)".into());
        }
        if url.port() == Some(0) {
            return Err("has port 0, where no server can listen; give the service's port".into());
        }
        kind.check_url(&url, has_host)?;
        Ok(Target { kind, url })
    }

    /// Whether it speaks TLS (so `--ca-file` and `--insecure` apply to it).
    pub(crate) fn speaks_tls(&self) -> bool {
        matches!(self.url.scheme(), "https" | "clickhouse" | "s3")
            || redis::speaks_tls(self.url.scheme())
    }

    /// Passwords and secret query values in this target, for the redactor;
    /// for HTTP also the `Basic` credential the user:password turns into,
    /// and a user name without a password (a token, as often as not).
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut found = secret::url_secrets(&self.url);
        if self.kind == Kind::Http {
            found.extend(http::credential_secrets(&self.url));
            found.extend(http::fragment_secrets(&self.url));
        }
        found
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self.kind {
            Kind::Http => http::redact_url(&self.url),
            Kind::Listen => listen::show(&self.url),
            _ => secret::redact_url(&self.url),
        };
        // `Url` adds a trailing slash to bare tcp:// and http:// hosts; keep
        // what people write.
        match self.kind {
            Kind::Tcp => f.write_str(shown.trim_end_matches('/')),
            _ => f.write_str(&shown),
        }
    }
}

/// What a preset adds to the checks of one of its targets.
#[derive(Clone, Debug)]
pub(crate) enum Extra {
    Http(http::Extra),
    Postgres(postgres::Extra),
    Redis(redis::Extra),
    ClickHouse(clickhouse::Extra),
    S3(s3::Extra),
}

/// Every kind's flags, validated, with what is built once for all targets
/// of a kind (clients, shared requirements).
pub(crate) struct Planner {
    tls: tls::Tls,
    http: Option<http::Planner>,
    postgres: postgres::Planner,
    mysql: mysql::Planner,
    clickhouse: Option<clickhouse::Planner>,
    s3: Option<s3::Planner>,
}

impl Planner {
    /// Reads every kind's flags for these targets (a flag for a kind that
    /// has none is an error). `version_reporters`: a preset's HTTP target
    /// reports the version `--expect-version` names.
    pub(crate) fn new(
        m: &Merge,
        targets: &[&Target],
        version_reporters: bool,
        attempt_timeout: Duration,
    ) -> Result<Planner, ConfigError> {
        let present = |kind: Kind| targets.iter().any(|t| t.kind == kind);
        let postgres =
            postgres::Requirements::read(m, present(Kind::Postgres), present(Kind::MySql))?;
        let mysql = mysql::Requirements {
            tables: postgres.tables.clone(),
            sql: postgres.sql.clone(),
        };
        if let (Some(sql), true) = (&mysql.sql, present(Kind::MySql)) {
            mysql::check_sql(sql).or_else(|e| options::err("--sql", e))?;
        }
        let http = http::Flags::read(m, present(Kind::Http))?;
        // Both would go out, and the URL's would silently win.
        let url_login = targets.iter().any(|t| {
            t.kind == Kind::Http && (!t.url.username().is_empty() || t.url.password().is_some())
        });
        if http.sets_authorization() && url_login {
            return Err(ConfigError("--http-header sets Authorization, and an http(s) target has user:password@ too, which would replace it: keep one".into()));
        }
        let tls = tls::Tls::read(m, targets.iter().any(|t| t.speaks_tls()))?;
        let http = match present(Kind::Http) {
            true => Some(http::Planner::new(http, &tls, version_reporters)?),
            false => None,
        };
        let clickhouse = clickhouse::Requirements::read(m, present(Kind::ClickHouse))?;
        let clickhouse = match present(Kind::ClickHouse) {
            true => Some(clickhouse::Planner::new(clickhouse, &tls)?),
            false => None,
        };
        let s3 = match present(Kind::S3) {
            true => Some(s3::Planner::new(m.env, &tls)?),
            false => None,
        };
        Ok(Planner {
            s3,
            http,
            postgres: postgres::Planner::new(postgres, attempt_timeout),
            mysql: mysql::Planner::new(mysql, attempt_timeout),
            clickhouse,
            tls,
        })
    }

    /// Secrets the flags hold (`--http-header` values), for the redactor.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut found = self
            .http
            .as_ref()
            .map_or_else(Vec::new, http::Planner::secrets);
        found.extend(self.s3.iter().flat_map(s3::Planner::secrets));
        found.extend(self.tls.proxies.secrets());
        found
    }

    /// `--insecure` was given.
    pub(crate) fn insecure(&self) -> bool {
        self.tls.insecure
    }

    /// The probe for one target and what it must satisfy, in words.
    /// `origin` names the target in errors.
    pub(crate) fn plan(
        &self,
        target: &Target,
        extra: Option<&Extra>,
        origin: &str,
        redactor: &Redactor,
    ) -> Result<(Probe, String), ConfigError> {
        let url = &target.url;
        Ok(match target.kind {
            Kind::Tcp => (
                Probe::Tcp(tcp::TcpProbe::new(url)),
                tcp::TcpProbe::describe(),
            ),
            Kind::File => {
                let probe = file::FileProbe::new(url);
                let description = probe.describe();
                (Probe::File(probe), description)
            }
            Kind::Unix => {
                let probe = file::UnixProbe::new(url);
                let description = probe.describe();
                (Probe::Unix(probe), description)
            }
            Kind::Listen => {
                let probe = listen::ListenProbe::new(url);
                let description = probe.describe();
                (Probe::Listen(probe), description)
            }
            Kind::Http => {
                let extra = match extra {
                    Some(Extra::Http(e)) => Some(e),
                    _ => None,
                };
                let planner = self
                    .http
                    .as_ref()
                    .expect("planned with an HTTP target present");
                let (probe, description) = planner.plan(url, extra, origin, redactor)?;
                (Probe::Http(probe), description)
            }
            Kind::Postgres => {
                let extra = match extra {
                    Some(Extra::Postgres(e)) => Some(e),
                    _ => None,
                };
                let (probe, description) = self.postgres.plan(url, extra, origin)?;
                (Probe::Postgres(Box::new(probe)), description)
            }
            Kind::MySql => {
                let (probe, description) = self.mysql.plan(url, origin)?;
                (Probe::MySql(Box::new(probe)), description)
            }
            Kind::Redis => {
                let extra = match extra {
                    Some(Extra::Redis(e)) => Some(e),
                    _ => None,
                };
                let planner = redis::Planner { tls: &self.tls };
                let (probe, description) = planner.plan(url, extra, origin)?;
                (Probe::Redis(probe), description)
            }
            Kind::ClickHouse => {
                let extra = match extra {
                    Some(Extra::ClickHouse(e)) => Some(e),
                    _ => None,
                };
                let planner = self
                    .clickhouse
                    .as_ref()
                    .expect("planned with a ClickHouse target present");
                let (probe, description) = planner.plan(url, extra, origin, redactor)?;
                (Probe::ClickHouse(probe), description)
            }
            Kind::S3 => {
                let extra = match extra {
                    Some(Extra::S3(e)) => Some(e),
                    _ => None,
                };
                let planner = self.s3.as_ref().expect("planned with an S3 target present");
                let (probe, description) = planner.plan(url, extra, origin)?;
                (Probe::S3(probe), description)
            }
        })
    }
}

/// Every probe kind readygate knows.
pub(crate) enum Probe {
    Tcp(tcp::TcpProbe),
    Listen(listen::ListenProbe),
    /// `--until-down`: ready when the wrapped check fails.
    UntilDown(Box<Probe>),
    File(file::FileProbe),
    Unix(file::UnixProbe),
    Http(http::HttpProbe),
    Postgres(Box<postgres::PostgresProbe>),
    MySql(Box<mysql::MySqlProbe>),
    Redis(redis::RedisProbe),
    ClickHouse(clickhouse::ClickHouseProbe),
    S3(s3::S3Probe),
}

impl Probe {
    /// Prepares for being checked again and again (sidecar mode).
    pub(crate) fn for_monitoring(mut self) -> Self {
        match &mut self {
            Probe::Postgres(p) => p.keep_when_ready(),
            Probe::MySql(p) => p.keep_when_ready(),
            _ => {}
        }
        self
    }
}

impl Check for Probe {
    async fn check(&mut self, budget: Duration) -> Result<(), NotReady> {
        let result = match &mut *self {
            Probe::UntilDown(p) => until_down(p.check_kind(budget).await),
            p => p.check_kind(budget).await,
        };
        result.map_err(|e| NotReady {
            cheap: e.cheap || self.asks_itself(),
            ..e
        })
    }
}

impl Probe {
    /// Every failure of this probe costs the other side nothing measurable:
    /// a look at our own file system or socket table, or (`--until-down`) a
    /// port or socket that still accepts. Other kinds' failures are free
    /// only when nothing answered (`NotReady::free_to_retry`, set where a
    /// connect is refused); a DNS failure, an accepted-then-closed
    /// connection or an answer (an HTTP status, a query) keep the gentle
    /// schedule.
    fn asks_itself(&self) -> bool {
        match self {
            Probe::File(_) | Probe::Unix(_) | Probe::Listen(_) => true,
            Probe::UntilDown(p) => matches!(
                **p,
                Probe::Tcp(_) | Probe::File(_) | Probe::Unix(_) | Probe::Listen(_)
            ),
            _ => false,
        }
    }

    /// The proxy the kinds that speak HTTP send through, if any.
    fn via(&self) -> Option<proxy::Via> {
        match self {
            Probe::Http(p) => p.via().cloned(),
            Probe::ClickHouse(p) => p.via().cloned(),
            Probe::S3(p) => p.via().cloned(),
            _ => None,
        }
    }

    /// One attempt of the kind's own check (`--until-down` wraps it once);
    /// a failure at a proxy is blamed on the proxy.
    async fn check_kind(&mut self, budget: Duration) -> Result<(), NotReady> {
        let via = self.via();
        self.check_leaf(budget)
            .await
            .map_err(|e| proxy::blame(via.as_ref(), e))
    }

    async fn check_leaf(&mut self, budget: Duration) -> Result<(), NotReady> {
        match self {
            Probe::Tcp(p) => p.check().await,
            Probe::Listen(p) => p.check().await,
            Probe::File(p) => p.check().await,
            Probe::Unix(p) => p.check().await,
            Probe::Http(p) => p.check(budget).await,
            Probe::Postgres(p) => p.check(budget).await,
            Probe::MySql(p) => p.check().await,
            Probe::Redis(p) => p.check().await,
            Probe::ClickHouse(p) => p.check(budget).await,
            Probe::S3(p) => p.check(budget).await,
            Probe::UntilDown(_) => Err(NotReady::new(
                Class::BadCheck,
                "--until-down cannot wrap itself",
            )),
        }
    }
}

/// `--until-down`: a check that fails for any reason but no answer in time
/// means the dependency is down; one that passes, that it is still up. No
/// answer says nothing either way, so it is not "down".
fn until_down(result: Result<(), NotReady>) -> Result<(), NotReady> {
    match result {
        Ok(()) => Err(
            NotReady::new(Class::Other, "still up (--until-down waits for it to stop)")
                .hint("the old instance has not stopped or drained yet"),
        ),
        Err(e) if e.class == Class::Timeout => Err(e),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_down_inverts_all_but_no_answer() {
        assert!(until_down(Ok(())).is_err());
        assert!(until_down(Err(NotReady::new(Class::Refused, "refused"))).is_ok());
        assert!(until_down(Err(NotReady::new(Class::Response, "503"))).is_ok());
        assert!(until_down(Err(NotReady::new(Class::Timeout, "slow"))).is_err());
    }

    #[test]
    fn schemes_map_to_kinds() {
        assert_eq!(Target::parse("tcp://db:5432").unwrap().kind, Kind::Tcp);
        assert_eq!(
            Target::parse("https://web/health").unwrap().kind,
            Kind::Http
        );
        assert_eq!(
            Target::parse("postgresql://u:p@db/x").unwrap().kind,
            Kind::Postgres
        );
    }

    #[test]
    fn bad_targets_are_rejected_without_echoing_them() {
        for bad in [
            "db:5432",
            "ftp://u:hunter2@x",
            "tcp://u:hunter2@db",
            "tcp://:5432",
            "http://",
            "postgres://u:hunter2@/x",
            "tcp://db:99999",
            "http://u:hunter2@[::1",
            // Found by fuzzing: a multi-byte character where "%2F" would be.
            "postgresql://r:hunter2@[:\u{131}x]:20",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }

    #[test]
    fn display_hides_the_password() {
        let t = Target::parse("postgres://app:hunter22@db:5432/lf").unwrap();
        assert_eq!(t.to_string(), "postgres://app:***@db:5432/lf");
        assert_eq!(
            Target::parse("tcp://db:1").unwrap().to_string(),
            "tcp://db:1"
        );
    }
}

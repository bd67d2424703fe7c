//! Probes: one attempt at telling whether a dependency is ready.
//!
//! Each kind lives in its own file. A probe keeps what makes the next attempt
//! cheap (a parsed configuration, a client, an open connection) and reports a
//! [`NotReady`] that says why and, where we can tell, what to do about it.
//! Retrying, deadlines and output belong to the wait loop, not here.

pub mod clickhouse;
pub mod http;
pub mod postgres;
pub mod redis;
pub mod tcp;

use std::fmt;
use std::future::Future;
use std::io;
use std::time::Duration;

/// Broad reason classes, for hints, back-off and `--fail-fast`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Connection refused or reset: nothing listens yet.
    Refused,
    /// The host name does not resolve.
    Dns,
    /// No answer within the attempt timeout.
    Timeout,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// Login rejected: wrong user or password.
    Auth,
    /// The database named in the URL does not exist.
    UnknownDatabase,
    /// The server is at its connection limit.
    TooManyConnections,
    /// The server is up but starting, shutting down or in recovery.
    Starting,
    /// The schema is not there yet (tables, migrations, custom check).
    Schema,
    /// A migration failed and needs a human.
    FailedMigration,
    /// The HTTP answer does not match the expectations.
    Response,
    /// The service runs another release than expected.
    Version,
    /// Anything else.
    Other,
}

impl Class {
    /// Every class, for metrics that start at zero.
    pub const ALL: [Class; 13] = [
        Class::Refused,
        Class::Dns,
        Class::Timeout,
        Class::Tls,
        Class::Auth,
        Class::UnknownDatabase,
        Class::TooManyConnections,
        Class::Starting,
        Class::Schema,
        Class::FailedMigration,
        Class::Response,
        Class::Version,
        Class::Other,
    ];

    /// Failures that waiting will not fix; `--fail-fast` stops on them.
    pub fn is_permanent(self) -> bool {
        matches!(self, Class::Tls | Class::Auth | Class::UnknownDatabase)
    }

    /// A short stable name, for JSON logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Refused => "refused",
            Class::Dns => "dns",
            Class::Timeout => "timeout",
            Class::Tls => "tls",
            Class::Auth => "auth",
            Class::UnknownDatabase => "unknown_database",
            Class::TooManyConnections => "too_many_connections",
            Class::Starting => "starting",
            Class::Schema => "schema",
            Class::FailedMigration => "failed_migration",
            Class::Response => "response",
            Class::Version => "version",
            Class::Other => "other",
        }
    }
}

/// Why a target is not ready: a one-line reason and, when known, a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotReady {
    pub class: Class,
    pub reason: String,
    pub hint: Option<String>,
    /// The server is short of connection slots: retry later than usual.
    pub crowded: bool,
}

impl NotReady {
    pub fn new(class: Class, reason: impl Into<String>) -> Self {
        NotReady {
            class,
            reason: one_line(&reason.into()),
            hint: None,
            crowded: false,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The attempt ran out of time.
    pub fn timeout(after: Duration) -> Self {
        NotReady::new(Class::Timeout, format!("no answer within {}", crate::duration::show(after))).hint(
            "the server is slow or packets are dropped: check the host, port, NetworkPolicy and the server's load",
        )
    }

    /// Classifies an I/O error from connecting.
    pub fn from_io(err: &io::Error, what: &str) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => {
                NotReady::new(Class::Refused, format!("connection refused by {what}")).hint(
                    "nothing listens there yet: is the server up, and are the host and port right?",
                )
            }
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe => NotReady::new(
                Class::Refused,
                format!("connection to {what} closed: {err}"),
            )
            .hint("the server is starting, restarting or refusing this client"),
            io::ErrorKind::TimedOut => NotReady::new(
                Class::Timeout,
                format!("connecting to {what} timed out"),
            )
            .hint(
                "packets are dropped on the way: check the host, port, firewall and NetworkPolicy",
            ),
            _ if is_dns_error(&err.to_string()) => dns(what, err),
            _ => NotReady::new(Class::Other, format!("cannot connect to {what}: {err}")),
        }
    }
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

/// A name resolution failure, the same reason and hint for every probe.
pub(super) fn dns(what: &str, err: &dyn fmt::Display) -> NotReady {
    NotReady::new(Class::Dns, format!("cannot resolve {what}: {err}"))
        .hint("the host name does not resolve (yet): check the service name and namespace, or wait for DNS")
}

/// True when an error text is a name resolution failure (getaddrinfo and
/// friends report these as plain strings).
pub fn is_dns_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("failed to lookup address")
        || t.contains("name or service not known")
        || t.contains("temporary failure in name resolution")
        || t.contains("no address associated")
        || t.contains("nodename nor servname")
        || t.contains("dns error")
}

/// Error texts from libraries can span lines; output is one line each.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One attempt at a target. The wait loop is generic over this so it can be
/// tested with fake probes under paused time.
pub trait Check: Send + 'static {
    /// Checks once; `budget` is how long this attempt may take.
    fn check(&mut self, budget: Duration) -> impl Future<Output = Result<(), NotReady>> + Send;
}

/// Every probe kind readygate knows.
pub enum Probe {
    Tcp(tcp::TcpProbe),
    Http(http::HttpProbe),
    Postgres(Box<postgres::PostgresProbe>),
    Redis(redis::RedisProbe),
    ClickHouse(clickhouse::ClickHouseProbe),
}

impl Probe {
    /// The scheme family, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Tcp(_) => "tcp",
            Probe::Http(_) => "http",
            Probe::Postgres(_) => "postgres",
            Probe::Redis(_) => "redis",
            Probe::ClickHouse(_) => "clickhouse",
        }
    }

    /// Prepares for being checked again and again (sidecar mode).
    pub fn for_monitoring(mut self) -> Self {
        if let Probe::Postgres(p) = &mut self {
            p.keep_when_ready();
        }
        self
    }
}

impl Check for Probe {
    async fn check(&mut self, budget: Duration) -> Result<(), NotReady> {
        match self {
            Probe::Tcp(p) => p.check().await,
            Probe::Http(p) => p.check(budget).await,
            Probe::Postgres(p) => p.check(budget).await,
            Probe::Redis(p) => p.check(budget).await,
            Probe::ClickHouse(p) => p.check(budget).await,
        }
    }
}

//! Why a target is not ready: a reason class (for back-off, `--fail-fast`
//! and metrics), a one-line reason and, where we can tell, what to do. Every
//! probe reports these; the wait loop, the sidecar and the report read them.
//! [`Hints`] lets a preset replace a generic hint with its own, as data.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::text::one_line;

/// Broad reason classes, for hints, back-off and `--fail-fast`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Connection refused or reset: nothing listens yet.
    Refused,
    /// Something listens on the port, on loopback only: unreachable from outside.
    LoopbackOnly,
    /// Nothing listens on the port, but other ports do: another program runs.
    WrongPort,
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
    /// The check itself is wrong (a `--sql` syntax error): waiting cannot fix it.
    BadCheck,
    /// Anything else.
    Other,
}

impl Class {
    /// Every class, for metrics that start at zero.
    pub(crate) const ALL: [Class; 16] = [
        Class::Refused,
        Class::LoopbackOnly,
        Class::WrongPort,
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
        Class::BadCheck,
        Class::Other,
    ];

    /// Failures that waiting will not fix; `--fail-fast` stops on them.
    pub(crate) fn is_permanent(self) -> bool {
        matches!(
            self,
            Class::Tls | Class::Auth | Class::UnknownDatabase | Class::BadCheck
        )
    }

    /// A short stable name, for JSON logs and metric labels.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Class::Refused => "refused",
            Class::LoopbackOnly => "loopback_only",
            Class::WrongPort => "wrong_port",
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
            Class::BadCheck => "bad_check",
            Class::Other => "other",
        }
    }
}

/// The longest reason kept, in bytes: a server's 16 MiB error message must
/// not become a 16 MiB log line or `/readyz` body.
const REASON_MAX: usize = 1024;

/// Why a target is not ready: a one-line reason and, when known, a hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NotReady {
    pub(crate) class: Class,
    pub(crate) reason: String,
    pub(crate) hint: Option<String>,
    /// The server is short of connection slots: retry later than usual.
    pub(crate) crowded: bool,
    /// Asking again costs the other side nothing measurable (nothing
    /// listened, or the answer came from our own file system): retry at the
    /// fast interval however long the wait.
    pub(crate) cheap: bool,
}

impl NotReady {
    pub(crate) fn new(class: Class, reason: impl Into<String>) -> Self {
        NotReady {
            class,
            reason: crate::text::capped(&one_line(&reason.into()), REASON_MAX),
            hint: None,
            crowded: false,
            cheap: false,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Nothing answered (a refused connect, no socket file): asking again
    /// costs the other side nothing, so the schedule need not slow down.
    /// Not for a connection that was accepted and then closed: that cost
    /// an accept, and is what a proxy with no backend does.
    pub(crate) fn free_to_retry(mut self) -> Self {
        self.cheap = true;
        self
    }

    /// The attempt ran out of time.
    pub(crate) fn timeout(after: Duration) -> Self {
        NotReady::new(Class::Timeout, format!("no answer within {}", crate::duration::show(after))).hint(
            "the server is slow or packets are dropped: check the host, port, NetworkPolicy and the server's load",
        )
    }

    /// Classifies an I/O error from connecting.
    pub(crate) fn from_io(err: &io::Error, what: &str) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => NotReady::new(
                Class::Refused,
                format!("connection refused by {what}"),
            )
            .hint("nothing listens there yet: is the server up, and are the host and port right?")
            .free_to_retry(),
            // A Unix socket path (PostgreSQL's host=, MySQL's socket=).
            io::ErrorKind::NotFound => NotReady::new(
                Class::Refused,
                format!("no socket at {what} yet"),
            )
            .hint("the server has not created its socket yet: is it up, and is the path right?")
            .free_to_retry(),
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

    /// The reason alone, for the JSON `reason` field (`None`: no attempt finished).
    pub(crate) fn reason_of(last: Option<&NotReady>) -> &str {
        last.map_or("no attempt finished yet", |e| e.reason.as_str())
    }

    /// The hint alone, for the JSON `hint` field.
    pub(crate) fn hint_of(last: Option<&NotReady>) -> &str {
        last.and_then(|e| e.hint.as_deref()).unwrap_or("")
    }

    /// The class name, or `pending` when no attempt finished.
    pub(crate) fn class_of(last: Option<&NotReady>) -> &'static str {
        last.map_or("pending", |e| e.class.as_str())
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
pub(crate) fn dns(what: &str, err: &dyn fmt::Display) -> NotReady {
    NotReady::new(Class::Dns, format!("cannot resolve {what}: {err}"))
        .hint("the host name does not resolve (yet): check the service name and namespace, or wait for DNS")
}

/// True when an error text is a name resolution failure (getaddrinfo and
/// friends report these as plain strings).
pub(crate) fn is_dns_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("failed to lookup address")
        || t.contains("name or service not known")
        || t.contains("temporary failure in name resolution")
        || t.contains("no address associated")
        || t.contains("nodename nor servname")
        || t.contains("dns error")
}

/// Hints that replace a probe's generic hint for some classes: how a preset
/// explains failures in its product's words. The engine applies them without
/// knowing whose they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hints(&'static [(Class, &'static str)]);

impl Hints {
    /// No replacements: the probes' generic hints stand.
    pub(crate) const GENERIC: Hints = Hints(&[]);

    pub(crate) const fn new(table: &'static [(Class, &'static str)]) -> Hints {
        Hints(table)
    }

    /// Replaces the hint when this table has one for the error's class.
    pub(crate) fn apply(self, e: &mut NotReady) {
        if let Some((_, hint)) = self.0.iter().find(|(class, _)| *class == e.class) {
            e.hint = Some((*hint).to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_replace_only_their_classes() {
        const TABLE: Hints = Hints::new(&[(Class::Schema, "run the migrations")]);
        let mut e = NotReady::new(Class::Schema, "table \"x\" does not exist").hint("generic");
        TABLE.apply(&mut e);
        assert_eq!(e.hint.as_deref(), Some("run the migrations"));
        let mut e = NotReady::new(Class::Timeout, "slow").hint("generic");
        TABLE.apply(&mut e);
        assert_eq!(e.hint.as_deref(), Some("generic"));
        Hints::GENERIC.apply(&mut e);
        assert_eq!(e.hint.as_deref(), Some("generic"));
    }
}

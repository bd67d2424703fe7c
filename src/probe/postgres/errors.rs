//! How PostgreSQL says no: SQLSTATEs, I/O errors and what the relay cut,
//! turned into a reason class, a one-line reason and a hint. Authentication
//! and unknown databases are permanent (`--fail-fast`); shutdown and
//! recovery are not.

use crate::not_ready::{dns, is_dns_error, Class, NotReady};
use crate::probe::relay::{Cut, ANSWER_MAX};
use crate::text::error_chain;

/// Classifies an error; `context` says what was going on ("login failed").
pub(super) fn classify(
    err: sqlx::Error,
    what: &str,
    user: &str,
    db: Option<&str>,
    context: &str,
) -> NotReady {
    // sqlx speaks plain to the relay: TLS, and a server that is not
    // PostgreSQL answering the SSL request, are the gate's own (`tls.rs`).
    match err {
        sqlx::Error::Io(io) => NotReady::from_io(&io, what),
        sqlx::Error::Database(db_err) => match db_err.code().as_deref() {
            Some("28000") if db_err.message().contains("no encryption") => NotReady::new(
                Class::Auth,
                format!("login as {user:?} rejected: {}", db_err.message()),
            )
            .hint("the server accepts this user only over TLS (a hostssl line in pg_hba.conf): use sslmode=require or verify-full"),
            Some("28P01" | "28000") => NotReady::new(
                Class::Auth,
                format!("login as {user:?} rejected: {}", db_err.message()),
            )
            .hint("check the user and password in the URL (and pg_hba.conf for this client)"),
            Some("3D000") => NotReady::new(
                Class::UnknownDatabase,
                format!("database {:?} does not exist", db.unwrap_or(user)),
            )
            .hint("check the database name in the URL, or create the database"),
            _ => database_error(&*db_err, context),
        },
        sqlx::Error::PoolTimedOut => NotReady::new(Class::Timeout, format!("{what}: timed out")),
        other => {
            let text = error_chain(&other);
            if is_dns_error(&text) {
                dns(what, &text)
            } else {
                NotReady::new(Class::Other, format!("{what}: {text}"))
            }
        }
    }
}

/// Why the relay ended a connection (`probe/relay.rs`).
pub(super) fn cut(cut: Cut, what: &str) -> NotReady {
    match cut {
        Cut::Declared(len) => NotReady::new(Class::Other, format!("{what} sent a message it says is {len} bytes long, which no PostgreSQL server sends here; cut off"))
            .hint("check the host and port: is this PostgreSQL's port (5432), not another service?"),
        Cut::Tls(said) => NotReady::new(Class::Tls, format!("{what} ended the TLS session: {said}"))
            .hint("the server refused the client certificate (sslcert and sslkey in the URL: signed by a CA the server trusts, the key matching it), or TLS broke: check the server's log"),
        Cut::TooMuch | Cut::KeyWithoutTls => NotReady::new(Class::Other, format!("{what} sent over {} MiB without being asked; cut off", ANSWER_MAX >> 20))
            .hint("check the host and port: is this PostgreSQL's port (5432), not another service?"),
    }
}

/// A certificate the gate's TLS (`tls.rs`) does not accept.
pub(super) fn tls(detail: &str) -> NotReady {
    NotReady::new(Class::Tls, format!("TLS failed: {detail}"))
        .hint("the server's certificate is not trusted or names another host: set sslrootcert=PATH to its CA in the URL, or check sslmode")
}

pub(super) fn database_error(db: &dyn sqlx::error::DatabaseError, context: &str) -> NotReady {
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let message = db.message();
    match code.as_str() {
        "53300" => NotReady::new(Class::TooManyConnections, format!("server refused: {message}"))
            .hint("the server is at max_connections; backing off so the app can connect"),
        "57P03" => NotReady::new(Class::Starting, format!("server is not accepting connections yet: {message}"))
            .hint("PostgreSQL is starting up, shutting down or recovering; wait"),
        "57P01" | "57P02" => NotReady::new(Class::Starting, format!("server is shutting down: {message}")),
        // idle_session_timeout: the kept connection was closed while idle;
        // like a restart, the probe reconnects and asks again at once.
        "57P05" => NotReady::new(Class::Starting, format!("server closed the idle connection: {message}")),
        "55P03" => NotReady::new(Class::Schema, format!("{context}: waited for a lock someone else holds: {message}"))
            .hint("a migration (or another long transaction) holds a lock on what the check reads: it is running now; wait for it"),
        "57014" => NotReady::new(Class::Timeout, format!("{context}: statement timed out"))
            .hint("the query is slow or waits for a lock: check for long transactions"),
        "42P01" => NotReady::new(Class::Schema, format!("{context}: {message}"))
            .hint("the schema is not migrated yet: check the logs of the service that runs the migrations"),
        "42501" => NotReady::new(Class::Other, format!("{context}: {message}"))
            .hint("the user lacks privileges: GRANT SELECT on what the check reads"),
        "42601" => NotReady::new(Class::BadCheck, format!("{context}: {message}"))
            .hint("a syntax error does not fix itself: correct the query (exit 3 with --fail-fast)"),
        "25006" => NotReady::new(Class::Other, format!("{context}: {message}"))
            .hint("--sql runs read-only; make it a SELECT that returns true when ready"),
        "" => NotReady::new(Class::Other, format!("{context}: {message}")),
        _ => NotReady::new(Class::Other, format!("{context}: {message} (SQLSTATE {code})")),
    }
}

//! How MySQL and MariaDB say no: error numbers, I/O and TLS errors turned
//! into a reason class, a one-line reason and a hint. Authentication and
//! unknown databases are permanent (`--fail-fast`); shutdown is not.

use sqlx::mysql::MySqlDatabaseError;

use crate::not_ready::{dns, is_dns_error, Class, NotReady};
use crate::probe::relay::Cut;
use crate::text::error_chain;

/// Classifies an error from connecting or querying; `what` is host:port.
pub(super) fn classify(err: sqlx::Error, what: &str, user: &str, db: Option<&str>) -> NotReady {
    match err {
        sqlx::Error::Database(e) => match e.try_downcast_ref::<MySqlDatabaseError>() {
            Some(e) => database_error(e, user, db, "query failed"),
            None => NotReady::new(Class::Other, format!("query failed: {}", e.message())),
        },
        sqlx::Error::Io(io) if is_tls_error(&io.to_string()) => tls(&io.to_string()),
        sqlx::Error::Io(io) => NotReady::from_io(&io, what),
        sqlx::Error::Tls(e) => tls(&error_chain(&*e)),
        other => {
            let text = error_chain(&other);
            let lower = text.to_ascii_lowercase();
            if is_dns_error(&text) {
                dns(what, &text)
            } else if is_tls_error(&text) {
                tls(&text)
            } else if lower.contains("protocol")
                || lower.contains("unexpected")
                || lower.contains("invalid data")
            {
                NotReady::new(Class::Other, format!("{what} does not answer as a MySQL server: {}", crate::text::shorten_to(&text, 200)))
                    .hint("check the host and port: is this MySQL's port (3306), not HTTP, PostgreSQL or another service?")
            } else {
                NotReady::new(Class::Other, format!("{what}: {text}"))
            }
        }
    }
}

fn is_tls_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("certificate")
        || t.contains("tls")
        || t.contains("unknownissuer")
        || t.contains("ssl")
}

fn tls(detail: &str) -> NotReady {
    NotReady::new(Class::Tls, format!("TLS failed: {detail}"))
        .hint("the server's certificate is not trusted, names another host, or the server has no TLS: set ssl-ca=PATH in the URL, or check ssl-mode")
}

/// Why the relay ended a connection (`probe/relay.rs`).
pub(super) fn cut(cut: Cut, what: &str) -> NotReady {
    use crate::probe::relay::ANSWER_MAX;
    match cut {
        Cut::Declared(len) => NotReady::new(Class::Other, format!("{what} sent a packet it says is {len} bytes long, which no MySQL server sends here; cut off"))
            .hint("check the host and port: is this MySQL's port (3306), not another service?"),
        Cut::Tls(said) => NotReady::new(Class::Tls, format!("{what} ended the TLS session: {said}")),
        Cut::TooMuch => NotReady::new(Class::Other, format!("{what} sent over {} MiB without being asked; cut off", ANSWER_MAX >> 20))
            .hint("check the host and port: is this MySQL's port (3306), not another service?"),
        Cut::KeyWithoutTls => NotReady::new(Class::Tls, format!("{what} asked for the password encrypted to its own RSA key over a connection without TLS; refused (whoever is on the path could answer with theirs)"))
            .hint("use TLS (ssl-mode=REQUIRED, better VERIFY_IDENTITY with ssl-ca=) or give the account mysql_native_password"),
    }
}

/// A server error by its number.
pub(super) fn database_error(
    e: &MySqlDatabaseError,
    user: &str,
    db: Option<&str>,
    context: &str,
) -> NotReady {
    let message = e.message();
    match e.number() {
        1045 => NotReady::new(Class::Auth, format!("login as {user:?} rejected: {message}"))
            .hint("check the user and password in the URL, and the account's host part ('user'@'%')"),
        1044 => NotReady::new(Class::Auth, format!("{user:?} may not use the database: {message}"))
            .hint("GRANT the user access to the database in the URL"),
        1049 => NotReady::new(Class::UnknownDatabase, format!("database {:?} does not exist", db.unwrap_or_default()))
            .hint("check the database name in the URL, or create the database"),
        1040 | 1203 => NotReady::new(Class::TooManyConnections, format!("server refused: {message}"))
            .hint("the server is at max_connections; backing off so the app can connect"),
        1053 | 1927 | 4031 => NotReady::new(Class::Starting, format!("server is shutting down or closed the connection: {message}")),
        1129 => NotReady::new(Class::Other, format!("server refused: {message}"))
            .hint("the server blocked this host after too many failed connections: run FLUSH HOSTS (mariadb-admin flush-hosts) there"),
        1146 | 1054 => NotReady::new(Class::Schema, format!("{context}: {message}"))
            .hint("the schema is not migrated yet: check the logs of the service that runs the migrations"),
        1205 => NotReady::new(Class::Schema, format!("{context}: waited for a lock someone else holds: {message}"))
            .hint("a migration (or another long transaction) holds a lock on what the check reads: it is running now; wait for it"),
        1969 | 3024 => NotReady::new(Class::Timeout, format!("{context}: statement timed out"))
            .hint("the query is slow or waits for a lock: check for long transactions"),
        1064 | 1305 | 1582 => NotReady::new(Class::BadCheck, format!("{context}: {message}"))
            .hint("an error in the query does not fix itself: correct --sql (exit 3 with --fail-fast)"),
        1142 | 1143 | 1227 | 1370 => NotReady::new(Class::Other, format!("{context}: {message}"))
            .hint("the user lacks privileges: GRANT SELECT on what the check reads"),
        1792 => NotReady::new(Class::BadCheck, format!("{context}: {message}"))
            .hint("--sql runs read-only; make it a SELECT that returns true when ready"),
        n => NotReady::new(Class::Other, format!("{context}: {message} (error {n})")),
    }
}

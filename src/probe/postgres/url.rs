//! PostgreSQL connect options from a target URL: libpq's parameters that
//! matter, Prisma's `schema`, and the session settings that make every
//! session read-only and time-bounded. Files named in the URL are checked
//! here, before any connection.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::ConnectOptions;
use url::Url;

use crate::text::shorten;

/// Prisma's own URL parameters, which are not libpq's: ignored here, except
/// `schema` (the `search_path`) and `pgbouncer=true` (refused: see below).
const PRISMA_PARAMS: &[&str] = &[
    "connection_limit",
    "pool_timeout",
    "connect_timeout",
    "socket_timeout",
    "statement_cache_size",
    "sslaccept",
    "sslidentity",
    "sslpassword",
];

/// `statement_timeout` and friends are 32-bit milliseconds on the server.
pub(crate) const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Builds connect options from a target URL: libpq's parameters that matter
/// (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `host`, `port`, `user`,
/// `password`, `dbname`, `application_name`, `options`) and Prisma's `schema`.
/// What the URL leaves out comes from libpq's `PG*` variables, as with `psql`.
/// Every session is read-only by default, and `attempt_timeout` bounds every
/// statement and any open transaction.
///
/// `pgbouncer=true` is refused: PgBouncer in transaction mode rejects the
/// startup options that make the session read-only and time-bounded, and
/// splits sqlx's prepare and execute across server connections. The gate
/// belongs on the direct URL the migrations use (Prisma's `DIRECT_URL`).
pub(crate) fn connect_options(
    url: &Url,
    attempt_timeout: Duration,
) -> Result<(PgConnectOptions, PemFiles), String> {
    let mut files = PemFiles::default();
    use crate::probe::url_part::{decode_part as decode, no_nul};
    let mut opts = PgConnectOptions::new_without_pgpass().application_name("readygate");
    if let Some(host) = url.host_str().filter(|h| !h.is_empty()) {
        opts = opts.host(host.trim_start_matches('[').trim_end_matches(']'));
    }
    if let Some(port) = url.port() {
        opts = opts.port(port);
    }
    if !url.username().is_empty() {
        opts = opts.username(&decode("user name", url.username())?);
    }
    if let Some(password) = url.password() {
        opts = opts.password(&decode("password", password)?);
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() {
        opts = opts.database(&decode("database name", db)?);
    }
    let mut settings: Vec<(String, String)> = Vec::new();
    for (key, value) in url.query_pairs() {
        let value = no_nul(&format!("{key}= parameter"), value.into_owned())?;
        match &*key {
            "sslmode" => {
                let mode = value.parse::<PgSslMode>().map_err(|_| {
                    format!("has sslmode={:?}; use disable, allow, prefer, require, verify-ca or verify-full", shorten(&value))
                })?;
                opts = opts.ssl_mode(mode);
            }
            "sslrootcert" => files.root = Some(pem(&value, "sslrootcert")?),
            "sslcert" => files.cert = Some(pem(&value, "sslcert")?),
            "sslkey" => files.key = Some(pem(&value, "sslkey")?),
            "host" if value.starts_with('/') => opts = opts.socket(&value),
            "host" => opts = opts.host(&value),
            "port" => match value.parse::<u16>() {
                Ok(0) => return Err("has port=0, where no server can listen; give the service's port".into()),
                Ok(port) => opts = opts.port(port),
                Err(_) => return Err("has a port= that is not a port number".into()),
            },
            "user" => opts = opts.username(&value),
            "password" => opts = opts.password(&value),
            "dbname" => opts = opts.database(&value),
            "application_name" => opts = opts.application_name(&value),
            "options" => settings.extend(parse_options(&value)?),
            "schema" => settings.push(("search_path".into(), quote_ident(&value))),
            "pgbouncer" if value == "true" => {
                return Err("has pgbouncer=true; point readygate at PostgreSQL directly (the URL the migrations use, e.g. Prisma's DIRECT_URL), not at PgBouncer".into())
            }
            "pgbouncer" => {}
            // libpq's that need nothing of the gate: it never uses GSSAPI
            // encryption, always checks the primary (not in recovery), and
            // rustls sends SNI for host names and never compresses.
            "channel_binding" | "gssencmode" if matches!(&*value, "disable" | "prefer") => {}
            "channel_binding" => {
                return Err("has channel_binding=require, which readygate cannot do (sqlx has no SCRAM-SHA-256-PLUS); in the gate's URL write channel_binding=prefer (or drop it), and sslmode=verify-full to be sure of the server".into())
            }
            "gssencmode" => {
                return Err("has gssencmode=require; readygate does not speak GSSAPI encryption: use sslmode= for TLS".into())
            }
            "sslsni" | "sslcompression" if matches!(&*value, "0" | "1") => {}
            "target_session_attrs" if matches!(&*value, "any" | "read-write" | "primary") => {}
            k if PRISMA_PARAMS.contains(&k) => {}
            other => {
                return Err(format!(
                    "has unknown parameter {:?}; readygate understands libpq's sslmode, sslrootcert, sslcert, sslkey, host, port, user, password, dbname, application_name, options, channel_binding, gssencmode, sslsni, sslcompression, target_session_attrs, and Prisma's schema",
                    shorten(other)
                ))
            }
        }
    }
    let ms = attempt_timeout
        .as_millis()
        .clamp(1, MAX_ATTEMPT_TIMEOUT.as_millis())
        .to_string();
    // `--sql`'s transaction is idle only between its own statements, for
    // milliseconds: a gate stopped there (SIGSTOP) holds its locks at most 1 s.
    let idle_ms = attempt_timeout.as_millis().clamp(1, 1000).to_string();
    settings.push(("statement_timeout".into(), ms));
    // A migration holding a lock on what the status statement reads makes
    // it give up at once with 55P03 ("a migration is running"), rather than
    // wait out the attempt and read as a network timeout. A user's own
    // options=-c lock_timeout=... comes first and is overridden.
    let lock_ms = (attempt_timeout.as_millis() / 2).clamp(1, 1000).to_string();
    settings.retain(|(k, _)| k != "lock_timeout");
    settings.push(("lock_timeout".into(), lock_ms));
    settings.push(("idle_in_transaction_session_timeout".into(), idle_ms));
    settings.push(("default_transaction_read_only".into(), "on".into()));
    let opts = opts
        .options(settings.iter().map(|(k, v)| (k.as_str(), escape_option(v))))
        .log_statements(log::LevelFilter::Off)
        .log_slow_statements(log::LevelFilter::Off, Duration::from_secs(3600));
    Ok((opts, files))
}

/// The PEM files libpq's `sslrootcert`, `sslcert` and `sslkey` name (in a
/// URL, or `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`), their contents read
/// once at start (the gate does TLS itself: `postgres/tls.rs`).
#[derive(Clone, Debug, Default)]
pub(crate) struct PemFiles {
    pub(crate) root: Option<Vec<u8>>,
    pub(crate) cert: Option<Vec<u8>>,
    pub(crate) key: Option<Vec<u8>>,
}

/// Parses libpq's `options` value: `-c key=value`, `-ckey=value` or
/// `--key=value`, separated by unescaped spaces.
fn parse_options(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let bad = || "has an options= value that is not -c key=value".to_string();
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let setting = match w.as_str() {
            "-c" => words.next().ok_or_else(bad)?,
            _ if w.starts_with("--") => w[2..].to_string(),
            _ if w.starts_with("-c") => w[2..].to_string(),
            _ => return Err(bad()),
        };
        let (k, v) = setting.split_once('=').ok_or_else(bad)?;
        settings.push((k.replace('-', "_"), v.to_string()));
    }
    Ok(settings)
}

/// A PEM file named by the URL, read once now: bounded, not a FIFO.
fn pem(path: &str, param: &str) -> Result<Vec<u8>, String> {
    crate::probe::tls::read_pem(path)
        .map_err(|why| format!("has {param}={:?}, which {why}", shorten(path)))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Startup `options` are split on spaces by the server; escape them.
fn escape_option(value: &str) -> String {
    value.replace('\\', "\\\\").replace(' ', "\\ ")
}

/// libpq's Unix-socket forms that are not URLs to a URL parser: a user with
/// an empty host (`postgres://u:p@/db?host=/run/pg`) and a percent-encoded
/// socket directory as the host (`postgres://%2Frun%2Fpg/db`). Both are
/// rewritten to the equivalent `postgres:///db?host=/run/pg&user=u&password=p`
/// (user and password as libpq's query parameters); other URLs are `None`.
pub(crate) fn socket_form(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    if !matches!(scheme, "postgres" | "postgresql") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    // `get`: the host may start with a multi-byte character (found by fuzzing).
    let socket = host.len() > 3 && host.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%2F"));
    if !(socket || host.is_empty() && userinfo.is_some()) {
        return None;
    }
    // `%2Frun%2Fpg:5433`: the port follows the encoded directory.
    let (host, port) = match host.rsplit_once(':') {
        Some((dir, port))
            if socket && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (dir, Some(port))
        }
        _ => (host, None),
    };
    // Userinfo is already percent-encoded; a query also reads `+` as a space.
    let as_value = |s: &str| {
        s.replace('+', "%2B")
            .replace('&', "%26")
            .replace('=', "%3D")
    };
    let mut params = Vec::new();
    if socket {
        params.push(format!("host={host}"));
    }
    if let Some(port) = port {
        params.push(format!("port={port}"));
    }
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            params.push(format!("user={}", as_value(user)));
        }
        if let Some(password) = password {
            params.push(format!("password={}", as_value(password)));
        }
    }
    let (path, query, fragment) = split_tail(tail);
    let mut query: Vec<String> = query.into_iter().map(String::from).collect();
    query.extend(params);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    Some(format!("{scheme}://{path}{query}{fragment}"))
}

/// A URL's tail split into path (with its leading `/`, or `/` when empty),
/// query (without `?`) and fragment (with `#`).
fn split_tail(tail: &str) -> (String, Option<&str>, &str) {
    let (rest, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query).filter(|q| !q.is_empty())),
        None => (rest, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    (path.to_string(), query, fragment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_options_forms() {
        let parsed =
            parse_options("-c search_path=my-cache -cwork_mem=4MB --lock-timeout=1s -c a=b\\ c")
                .unwrap();
        let want = [
            ("search_path", "my-cache"),
            ("work_mem", "4MB"),
            ("lock_timeout", "1s"),
            ("a", "b c"),
        ];
        assert_eq!(parsed, want.map(|(k, v)| (k.to_string(), v.to_string())));
        for bad in ["search_path=x", "-c", "-c novalue"] {
            assert!(parse_options(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_parameters() {
        let t = Duration::from_secs(5);
        let url = Url::parse(
            "postgresql://u:p%40ss@db:6543/lf?schema=app&sslmode=require&connection_limit=5",
        )
        .unwrap();
        let (o, _) = connect_options(&url, t).unwrap();
        let bouncer = Url::parse("postgresql://u@db/lf?pgbouncer=true").unwrap();
        assert!(connect_options(&bouncer, t)
            .unwrap_err()
            .contains("DIRECT_URL"));
        assert_eq!(
            (o.get_host(), o.get_port(), o.get_database()),
            ("db", 6543, Some("lf"))
        );
        assert!(matches!(o.get_ssl_mode(), PgSslMode::Require));
        assert!(o.get_options().unwrap().contains("search_path=\"app\""));
        assert!(o.get_options().unwrap().contains("statement_timeout=5000"));
        let bad = Url::parse("postgres://db/x?sslmode=sometimes").unwrap();
        assert!(connect_options(&bad, t).unwrap_err().contains("sslmode"));
        let bad = Url::parse("postgres://db/x?sslrootcert=/nonexistent/ca.pem").unwrap();
        assert!(connect_options(&bad, t)
            .unwrap_err()
            .contains("sslrootcert"));
        let bad = Url::parse("postgres://db/x?frobnicate=1").unwrap();
        assert!(connect_options(&bad, t).unwrap_err().contains("frobnicate"));
        // Neon's and other providers' URLs carry libpq parameters the gate
        // needs nothing of; binding or GSSAPI it cannot do are refused.
        let neon = Url::parse("postgres://db/x?sslmode=require&channel_binding=prefer&gssencmode=disable&sslsni=1&target_session_attrs=read-write").unwrap();
        assert!(connect_options(&neon, t).is_ok());
        for bad in [
            "channel_binding=require",
            "gssencmode=require",
            "sslsni=2",
            "target_session_attrs=standby",
        ] {
            let url = Url::parse(&format!("postgres://db/x?{bad}")).unwrap();
            assert!(connect_options(&url, t).is_err(), "{bad}");
        }
    }

    #[test]
    fn libpq_socket_forms_become_urls() {
        assert_eq!(
            socket_form("postgres://u:p+q@/db?host=/run/pg").as_deref(),
            Some("postgres:///db?host=/run/pg&user=u&password=p%2Bq")
        );
        assert_eq!(
            socket_form("postgresql://%2Frun%2Fpg/db#x").as_deref(),
            Some("postgresql:///db?host=%2Frun%2Fpg#x")
        );
        assert_eq!(
            socket_form("postgres://u@%2Ftmp").as_deref(),
            Some("postgres:///?host=%2Ftmp&user=u")
        );
        assert_eq!(
            socket_form("postgres://u:p@%2Frun%2Fpg:5433/db").as_deref(),
            Some("postgres:///db?host=%2Frun%2Fpg&port=5433&user=u&password=p")
        );
        for other in [
            "postgres://db/x",
            "postgres:///x?host=/s",
            "http://u@/x",
            "tcp://a:1",
        ] {
            assert_eq!(socket_form(other), None, "{other}");
        }
    }
}

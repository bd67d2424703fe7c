//! The URLs Langfuse's own entrypoints and clients build from the
//! environment, built the same way here (but correctly encoded), so the gate
//! checks what the worker will use.

use url::Url;

use super::LangfuseEnv;

pub(super) use crate::text::percent_encode as encode;

/// What the entrypoints build (`postgresql://USER:PASSWORD@HOST/NAME`, then
/// `?DATABASE_ARGS`), but correctly encoded. `DATABASE_PORT` plays no part:
/// neither entrypoint reads it.
pub(super) fn database_url(lf: &LangfuseEnv) -> String {
    let host = lf.database_host.clone().unwrap_or_default();
    let mut url = format!(
        "postgresql://{}:{}@{host}/{}",
        encode(lf.database_username.as_deref().unwrap_or_default()),
        encode(lf.database_password.as_deref().unwrap_or_default()),
        encode(lf.database_name.as_deref().unwrap_or_default()),
    );
    if let Some(args) = &lf.database_args {
        url.push('?');
        url.push_str(args.trim_start_matches('?'));
    }
    url
}

/// ClickHouse as the worker reaches it: the host of `CLICKHOUSE_URL` (the
/// HTTP interface, `http://clickhouse:8123`), logging in as the URL's user
/// and password when it has them, else `CLICKHOUSE_USER` and
/// `CLICKHOUSE_PASSWORD` (clickhouse-js lets the URL win). The database is
/// `CLICKHOUSE_DB`, where the migrations keep `schema_migrations`
/// (`packages/shared/clickhouse/scripts/up.sh`); a database in the URL's
/// path, which the worker would read instead, is warned about.
pub(super) fn clickhouse_url(
    lf: &LangfuseEnv,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    let raw = lf.clickhouse_url.clone().unwrap_or_default();
    let url = Url::parse(&raw)
        .map_err(|e| format!("--preset langfuse-worker: CLICKHOUSE_URL is not a URL ({e})"))?;
    let secure = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("--preset langfuse-worker: CLICKHOUSE_URL has scheme {other:?}; Langfuse's client takes only http:// or https:// (the HTTP interface, port 8123; clickhouse:// is CLICKHOUSE_MIGRATION_URL's)")),
    };
    let host = url.host_str().unwrap_or_default();
    let port = url
        .port_or_known_default()
        .map_or(String::new(), |p| format!(":{p}"));
    let decoded = crate::text::percent_decode;
    let user = match url.username() {
        "" => lf.clickhouse_user.clone().unwrap_or_default(),
        given => decoded(given),
    };
    let password = match url.password() {
        None | Some("") => lf.clickhouse_password.clone().unwrap_or_default(),
        Some(given) => decoded(given),
    };
    let db = lf.clickhouse_db.as_deref().unwrap_or("default");
    let url_db = decoded(url.path().trim_matches('/'));
    if !url_db.is_empty() && url_db != db {
        warnings.push(format!(
            "CLICKHOUSE_URL names database {:?}, which the worker uses, but the migrations create the schema in CLICKHOUSE_DB ({db:?}): the worker will not find its tables; drop the path from CLICKHOUSE_URL or make the two agree",
            crate::text::shorten_to(&url_db, 40)
        ));
    }
    let query = if secure { "?secure=true" } else { "" };
    Ok(format!(
        "clickhouse://{}:{}@{host}{port}/{}{query}",
        encode(&user),
        encode(&password),
        encode(db),
    ))
}

/// A PostgreSQL URL as Prisma reads it, in the words of the gate's client
/// (libpq's). Langfuse v4.16.0 talks to PostgreSQL only through Prisma's
/// engine (`packages/shared/src/db.ts`: no driver adapter), whose URL
/// parser (prisma-engines, `quaint/src/connector/postgres/url.rs`) differs:
/// - `sslmode` is `disable`, `prefer` or `require`; any other value is `prefer`;
/// - `sslaccept` is `accept_invalid_certs` by default, which verifies
///   nothing, or `strict` (any other value too): chain and host name;
/// - `sslcert` is the server's CA, not a client certificate;
/// - `sslidentity` (PKCS#12) and `sslpassword` are the client's identity;
/// - `sslrootcert` and `sslkey` are ignored.
///
/// `var` names the URL in warnings; `secrets` receives `sslpassword`.
pub(super) fn prisma_url(raw: &str, var: &str, found: &mut super::Found) -> String {
    let Some((base, query)) = raw.split_once('?') else {
        return raw.to_string();
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mode = match get("sslmode") {
        None => None,
        Some(m @ ("disable" | "prefer" | "require")) => Some(m),
        Some(other) => {
            found.warnings.push(format!(
                "{var} has sslmode={}, which Prisma does not know: Langfuse connects with sslmode=prefer (TLS when offered, nothing verified), and so does the gate; write sslmode=require&sslaccept=strict to verify",
                crate::text::shorten_to(other, 16)
            ));
            Some("prefer")
        }
    };
    let strict = get("sslaccept").is_some_and(|a| a != "accept_invalid_certs");
    let ca = get("sslcert");
    if let Some(path) = ca.filter(|p| !p.starts_with('/')) {
        found.warnings.push(format!(
            "{var} has a relative sslcert ({}): Prisma resolves it against a different directory in each Langfuse process; give an absolute path",
            crate::text::shorten_to(path, 40)
        ));
    }
    if get("sslidentity").is_some() {
        found.warnings.push(format!(
            "{var} has sslidentity, a PKCS#12 client identity the gate cannot present: its login is checked without a client certificate"
        ));
    }
    for ignored in ["sslrootcert", "sslkey"] {
        if get(ignored).is_some() {
            found.warnings.push(format!(
                "{var} has {ignored}, which Prisma ignores (its CA parameter is sslcert): the gate ignores it too"
            ));
        }
    }
    found.secrets.extend(get("sslpassword").map(str::to_string));
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        if !matches!(
            k.as_str(),
            "sslmode"
                | "sslaccept"
                | "sslcert"
                | "sslidentity"
                | "sslpassword"
                | "sslrootcert"
                | "sslkey"
        ) {
            out.append_pair(k, v);
        }
    }
    if strict && mode != Some("require") && mode != Some("disable") {
        let given = crate::text::shorten_to(get("sslaccept").unwrap_or_default(), 24);
        found.warnings.push(format!(
            "{var} has sslaccept={given} (Prisma reads anything but accept_invalid_certs as strict) without sslmode=require: Prisma verifies the certificate when the server offers TLS and connects in plain text otherwise; the gate requires verified TLS"
        ));
    }
    match (mode, strict) {
        (Some("disable"), _) => {
            out.append_pair("sslmode", "disable");
        }
        (_, true) => {
            out.append_pair("sslmode", "verify-full");
            if let Some(ca) = ca {
                out.append_pair("sslrootcert", ca);
            }
        }
        (Some(m), false) => {
            out.append_pair("sslmode", m);
        }
        (None, _) => {}
    }
    let query = out.finish();
    match query.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{query}"),
    }
}

/// The URL without query parameter `name`, and whether it had it set to
/// `true`.
pub(super) fn without_param(raw: &str, name: &str) -> (String, bool) {
    let Some((base, query)) = raw.split_once('?') else {
        return (raw.to_string(), false);
    };
    let mut had = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let matches = k == name;
            had |= matches && v == "true";
            !matches
        })
        .collect();
    match kept.is_empty() {
        true => (base.to_string(), had),
        false => (format!("{base}?{}", kept.join("&")), had),
    }
}

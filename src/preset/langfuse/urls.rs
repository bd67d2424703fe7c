//! The URLs Langfuse's own entrypoints and clients build from the
//! environment, built the same way here (but correctly encoded), so the gate
//! checks what the worker will use.

use url::Url;

use super::LangfuseEnv;

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(super) fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

/// What the entrypoint builds, but correctly encoded; the port goes into the
/// host when `DATABASE_PORT` is set and the host has none.
pub(super) fn database_url(lf: &LangfuseEnv) -> String {
    let host = lf.database_host.clone().unwrap_or_default();
    let host = match (&lf.database_port, host.contains(':')) {
        (Some(port), false) => format!("{host}:{port}"),
        _ => host,
    };
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

/// `CLICKHOUSE_URL` is the HTTP interface (`http://clickhouse:8123`);
/// the user, password and database come from their own variables.
pub(super) fn clickhouse_url(lf: &LangfuseEnv) -> Result<String, String> {
    let raw = lf.clickhouse_url.clone().unwrap_or_default();
    let url = Url::parse(&raw)
        .map_err(|e| format!("--preset langfuse-worker: CLICKHOUSE_URL is not a URL ({e})"))?;
    let secure = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("--preset langfuse-worker: CLICKHOUSE_URL has scheme {other:?}; Langfuse uses http:// or https://")),
    };
    let host = url.host_str().unwrap_or_default();
    let port = url
        .port_or_known_default()
        .map_or(String::new(), |p| format!(":{p}"));
    let db = lf.clickhouse_db.as_deref().unwrap_or("default");
    let query = if secure { "?secure=true" } else { "" };
    Ok(format!(
        "clickhouse://{}:{}@{host}{port}/{}{query}",
        encode(lf.clickhouse_user.as_deref().unwrap_or_default()),
        encode(lf.clickhouse_password.as_deref().unwrap_or_default()),
        encode(db),
    ))
}

//! HTTP clients, built once at start-up: one for the HTTP targets (with
//! `--http-header`), one for ClickHouse (without), sharing TLS settings.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::options::{err, ConfigError};
use crate::probe::tls::Tls;
use crate::text::shorten;

/// Builds a client once; attempts only send requests on it.
pub(crate) fn build_client(
    tls: &Tls,
    headers: HeaderMap,
    redirect: reqwest::redirect::Policy,
) -> Result<reqwest::Client, ConfigError> {
    build(tls, headers, redirect, None)
}

/// A client; with `socket`, every connection goes to that Unix socket
/// (no DNS, no proxy).
pub(super) fn build(
    tls: &Tls,
    headers: HeaderMap,
    redirect: reqwest::redirect::Policy,
    socket: Option<std::path::PathBuf>,
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .user_agent(concat!("readygate/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect)
        .pool_max_idle_per_host(1)
        .danger_accept_invalid_certs(tls.insecure);
    // The proxies decided here (`proxy.rs`), not reqwest's own reading of
    // the environment, so failures at a proxy can be blamed on it.
    tls.proxies.usable()?;
    let proxies = tls.proxies.clone();
    builder = builder.proxy(reqwest::Proxy::custom(move |url| {
        proxies.for_url(url).map(|via| via.url.clone())
    }));
    if let Some(socket) = socket {
        builder = builder.unix_socket(socket);
    }
    if let Some(pem) = &tls.ca_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem).unwrap_or_default() {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .or_else(|e| err("HTTP client", format_args!("cannot be built ({e})")))
}

/// A client for the kinds that speak HTTP underneath (ClickHouse, S3): no
/// custom headers (those are for the HTTP targets) and no redirects.
pub(crate) fn plain_client(tls: &Tls) -> Result<reqwest::Client, ConfigError> {
    build_client(tls, HeaderMap::new(), reqwest::redirect::Policy::none())
}

/// Follows up to 5 redirects; with `--http-header` set, only to the same
/// host, since reqwest forwards custom headers (API keys) to any host.
pub(super) fn redirect_policy(same_host_only: bool) -> reqwest::redirect::Policy {
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

pub(super) fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = raw
        .split_once(':')
        .ok_or("has no ':'; write it as 'Name: value'")?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("has an invalid header name {:?}", shorten(name.trim())))?;
    // These frame the request or the connection: a wrong one makes the
    // server wait for bytes that never come, or read half the body.
    const FRAMING: [&str; 8] = [
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
        "keep-alive",
        "proxy-connection",
    ];
    if FRAMING.contains(&name.as_str()) {
        return Err(format!(
            "sets {name}, which frames the request: readygate sets it itself; drop it"
        ));
    }
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("{name} has a value with characters a header cannot carry"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

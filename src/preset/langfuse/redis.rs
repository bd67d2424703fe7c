//! Redis as Langfuse v4.16.0 connects to it
//! (`packages/shared/src/server/redis/redis.ts`, `createNewRedisInstance`
//! and `buildTlsOptions`; see docs/langfuse.md):
//! - both `REDIS_CLUSTER_ENABLED` and `REDIS_SENTINEL_ENABLED` true: no
//!   client at all, and the worker exits at start;
//! - cluster: `REDIS_CLUSTER_NODES` (`host:port,host:port`), logging in
//!   with `REDIS_USERNAME` / `REDIS_AUTH`;
//! - sentinel: `REDIS_SENTINEL_NODES` and `REDIS_SENTINEL_MASTER_NAME`; the
//!   master with `REDIS_USERNAME` / `REDIS_AUTH`, the sentinels with
//!   `REDIS_SENTINEL_USERNAME` / `_PASSWORD`, over TLS only when both
//!   `REDIS_SENTINEL_TLS_ENABLED` and `REDIS_TLS_ENABLED` are true;
//! - otherwise `REDIS_CONNECTION_STRING`, which wins over `REDIS_HOST`,
//!   `REDIS_PORT`, `REDIS_USERNAME` and `REDIS_AUTH`.
//!
//! `REDIS_TLS_ENABLED=true` turns TLS on in every mode, the connection
//! string's too, with `REDIS_TLS_CA_PATH`, `_CERT_PATH`, `_KEY_PATH`,
//! `_SERVERNAME`, `_REJECT_UNAUTHORIZED` and `_CHECK_SERVER_IDENTITY`.

use super::urls::encode;
use super::{flag, Found, LangfuseEnv};
use crate::probe::redis::Extra;
use crate::probe::tls::Verify;

/// The Redis target URL, where it came from, and its TLS settings.
pub(super) struct Redis {
    pub(super) url: String,
    pub(super) origin: &'static str,
    pub(super) extra: Extra,
}

pub(super) fn redis(lf: &LangfuseEnv, found: &mut Found) -> Result<Option<Redis>, String> {
    let cluster = flag("REDIS_CLUSTER_ENABLED", &lf.redis_cluster_enabled)?;
    let sentinel = flag("REDIS_SENTINEL_ENABLED", &lf.redis_sentinel_enabled)?;
    let tls = flag("REDIS_TLS_ENABLED", &lf.redis_tls_enabled)?;
    let sentinel_tls = flag("REDIS_SENTINEL_TLS_ENABLED", &lf.redis_sentinel_tls_enabled)?;
    found.secrets.extend(lf.redis_auth.clone());
    found.secrets.extend(lf.redis_sentinel_password.clone());
    if cluster && sentinel {
        return Err("--preset langfuse-worker: REDIS_CLUSTER_ENABLED and REDIS_SENTINEL_ENABLED are both true; Langfuse then builds no Redis client and the worker exits at start: keep one".into());
    }
    if sentinel_tls && !tls {
        found.warnings.push("REDIS_SENTINEL_TLS_ENABLED=true has no effect without REDIS_TLS_ENABLED=true (Langfuse ignores it): the sentinels are reached in plain text".into());
    }
    let login = login(lf.redis_username.as_deref(), lf.redis_auth.as_deref());
    let s = if tls { "s" } else { "" };
    let (url, origin) = if cluster {
        let Some(nodes) = &lf.redis_cluster_nodes else {
            found
                .missing
                .push("REDIS_CLUSTER_NODES (REDIS_CLUSTER_ENABLED=true)");
            return Ok(None);
        };
        (cluster_url(&login, s, nodes)?, "REDIS_CLUSTER_NODES")
    } else if sentinel {
        let (Some(nodes), Some(master)) =
            (&lf.redis_sentinel_nodes, &lf.redis_sentinel_master_name)
        else {
            found.missing.push(
                "REDIS_SENTINEL_NODES and REDIS_SENTINEL_MASTER_NAME (REDIS_SENTINEL_ENABLED=true)",
            );
            return Ok(None);
        };
        (
            sentinel_url(lf, &login, s, nodes, master)?,
            "REDIS_SENTINEL_NODES",
        )
    } else if let Some(url) = &lf.redis_connection_string {
        (
            connection_string(url, lf, tls, found)?,
            "REDIS_CONNECTION_STRING",
        )
    } else if let Some(host) = &lf.redis_host {
        // `password: String(env.REDIS_AUTH)`: unset, it is the word "undefined".
        let login = match (&lf.redis_username, &lf.redis_auth) {
            (Some(user), None) => format!("{}:undefined@", encode(user)),
            _ => login.clone(),
        };
        let port = lf.redis_port.as_deref().map_or("6379", str::trim);
        if !port.parse::<u16>().is_ok_and(|p| p != 0) {
            return Err(format!(
                "--preset langfuse-worker: REDIS_PORT is {:?}, not a port number",
                crate::text::shorten_to(port, 12)
            ));
        }
        let host = match host.contains(':') && !host.starts_with('[') {
            true => format!("[{host}]"),
            false => host.clone(),
        };
        (
            format!("redis{s}://{login}{host}:{port}"),
            "REDIS_HOST (with REDIS_PORT) gives a URL that",
        )
    } else {
        found.missing.push("REDIS_CONNECTION_STRING (or REDIS_HOST, REDIS_CLUSTER_ENABLED, REDIS_SENTINEL_ENABLED)");
        return Ok(None);
    };
    Ok(Some(Redis {
        url,
        origin,
        extra: tls_extra(lf, tls, sentinel_tls && tls, found)?,
    }))
}

/// `redis(s)-cluster://login@first?addr=...` from `REDIS_CLUSTER_NODES`.
fn cluster_url(login: &str, s: &str, nodes: &str) -> Result<String, String> {
    let nodes = node_list("REDIS_CLUSTER_NODES", nodes)?;
    let query: Vec<String> = nodes[1..].iter().map(|n| format!("addr={n}")).collect();
    Ok(format!(
        "redis{s}-cluster://{login}{}{}",
        nodes[0],
        query_of(&query)
    ))
}

/// `redis(s)-sentinel://login@first/master?addr=...&sentinel_...`.
fn sentinel_url(
    lf: &LangfuseEnv,
    login: &str,
    s: &str,
    nodes: &str,
    master: &str,
) -> Result<String, String> {
    let nodes = node_list("REDIS_SENTINEL_NODES", nodes)?;
    let mut query: Vec<String> = nodes[1..].iter().map(|n| format!("addr={n}")).collect();
    if let Some(user) = &lf.redis_sentinel_username {
        query.push(format!("sentinel_user={}", encode(user)));
    }
    if let Some(password) = &lf.redis_sentinel_password {
        query.push(format!("sentinel_password={}", encode(password)));
    }
    Ok(format!(
        "redis{s}-sentinel://{login}{}/{}{}",
        nodes[0],
        encode(master),
        query_of(&query)
    ))
}

fn query_of(pairs: &[String]) -> String {
    match pairs.is_empty() {
        true => String::new(),
        false => format!("?{}", pairs.join("&")),
    }
}

/// `REDIS_CONNECTION_STRING` as ioredis reads it: `redis://` or
/// `rediss://` in any case; TLS when `REDIS_TLS_ENABLED=true` whatever the
/// scheme; the query holds ioredis options (`family=6`, ...) the check does
/// not need, so it is dropped. A password the chart copied in unencoded
/// with characters that break the URL breaks the worker too (Node's URL
/// parser): refused, without echoing it.
fn connection_string(
    raw: &str,
    lf: &LangfuseEnv,
    tls: bool,
    found: &mut Found,
) -> Result<String, String> {
    if raw.contains("$(") {
        return Err("--preset langfuse-worker: REDIS_CONNECTION_STRING holds an unexpanded $(VARIABLE): Kubernetes expands $(REDIS_PASSWORD) only in a container's env list, from variables listed before it, not through envFrom; give the gate (and the worker) env entries as the chart renders them".into());
    }
    for (var, password) in [
        ("REDIS_PASSWORD", &lf.redis_password),
        ("REDIS_AUTH", &lf.redis_auth),
    ] {
        let Some(password) = password else { continue };
        found.secrets.push(password.clone());
        if raw.contains(password.as_str()) && breaks_url(password) {
            return Err(format!("--preset langfuse-worker: REDIS_CONNECTION_STRING holds {var} unencoded, and it has a character (/ ? # or a % not starting an escape) that breaks the URL: the worker cannot parse it either; URL-encode the password (the chart copies it as is)"));
        }
    }
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err("--preset langfuse-worker: REDIS_CONNECTION_STRING is not a URL; Langfuse expects redis://[user:password@]host:port[/db]".into());
    };
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "redis" if tls => "rediss".to_string(),
        s @ ("redis" | "rediss") => s.to_string(),
        other => {
            return Err(format!(
                "--preset langfuse-worker: REDIS_CONNECTION_STRING has scheme {:?}; Langfuse expects redis:// or rediss://",
                crate::text::shorten_to(other, 16)
            ))
        }
    };
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    Ok(format!("{scheme}://{rest}"))
}

/// Whether a password copied unencoded into a URL's userinfo ends the
/// authority early (`/ ? #`) or makes decoding throw (`%` without two hex
/// digits after it).
fn breaks_url(password: &str) -> bool {
    let bytes = password.as_bytes();
    password.contains(['/', '?', '#'])
        || bytes.iter().enumerate().any(|(i, b)| {
            *b == b'%'
                && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        })
}

/// `user:password@` for a URL; Langfuse passes `REDIS_USERNAME || undefined`.
fn login(user: Option<&str>, password: Option<&str>) -> String {
    match (user, password) {
        (_, None) => String::new(),
        (None, Some(p)) => format!(":{}@", encode(p)),
        (Some(u), Some(p)) => format!("{}:{}@", encode(u), encode(p)),
    }
}

/// `host:port,host:port` as Langfuse splits it: commas, trimmed entries,
/// each a host and a port (no default port, no IPv6 literal).
fn node_list(name: &str, value: &str) -> Result<Vec<String>, String> {
    value
        .split(',')
        .map(|node| {
            let node = node.trim();
            match node.split_once(':') {
                Some((host, port)) if !host.is_empty() && !port.contains(':') && port.parse::<u16>().is_ok_and(|p| p != 0) => Ok(node.to_string()),
                _ => Err(format!(
                    "--preset langfuse-worker: {name} has entry {:?}; Langfuse needs host:port entries separated by commas, e.g. redis-0:6379,redis-1:6379",
                    crate::text::shorten_to(node, 60)
                )),
            }
        })
        .collect()
}

/// `buildTlsOptions`: only with `REDIS_TLS_ENABLED=true`.
fn tls_extra(
    lf: &LangfuseEnv,
    tls: bool,
    sentinel_tls: bool,
    found: &mut Found,
) -> Result<Extra, String> {
    if !tls {
        for (var, value) in [
            ("REDIS_TLS_CA_PATH", &lf.redis_tls_ca_path),
            ("REDIS_TLS_CERT_PATH", &lf.redis_tls_cert_path),
            ("REDIS_TLS_KEY_PATH", &lf.redis_tls_key_path),
        ] {
            if value.is_some() {
                found.warnings.push(format!("{var} is set, but Langfuse applies its TLS settings only with REDIS_TLS_ENABLED=true: it is ignored (a rediss:// URL still uses TLS, with the public CAs)"));
            }
        }
        return Ok(Extra {
            sentinel_tls: Some(false),
            ..Extra::default()
        });
    }
    if lf.redis_tls_key_passphrase.is_some() {
        return Err("--preset langfuse-worker: REDIS_TLS_KEY_PASSPHRASE is set: readygate cannot read an encrypted client key; give the gate an unencrypted copy of the key in REDIS_TLS_KEY_PATH".into());
    }
    let reject = flag(
        "REDIS_TLS_REJECT_UNAUTHORIZED",
        &lf.redis_tls_reject_unauthorized,
    )
    .map(|_| lf.redis_tls_reject_unauthorized.as_deref() != Some("false"))?;
    let identity = flag(
        "REDIS_TLS_CHECK_SERVER_IDENTITY",
        &lf.redis_tls_check_server_identity,
    )
    .map(|_| lf.redis_tls_check_server_identity.as_deref() != Some("false"))?;
    if !reject {
        found.warnings.push("REDIS_TLS_REJECT_UNAUTHORIZED=false: Redis certificates are NOT verified, by the worker and by the gate".into());
    } else if !identity {
        found.warnings.push("REDIS_TLS_CHECK_SERVER_IDENTITY=false: the Redis certificate's name is NOT checked (its CA still is), by the worker and by the gate".into());
    }
    let verify = match (reject, identity) {
        (false, _) => Some(Verify::Nothing),
        (true, false) => Some(Verify::ChainOnly),
        (true, true) => None,
    };
    let path = |value: &Option<String>, var: &'static str| value.clone().map(|p| (p, var));
    Ok(Extra {
        ca_file: path(&lf.redis_tls_ca_path, "REDIS_TLS_CA_PATH"),
        client_cert: path(&lf.redis_tls_cert_path, "REDIS_TLS_CERT_PATH"),
        client_key: path(&lf.redis_tls_key_path, "REDIS_TLS_KEY_PATH"),
        server_name: lf.redis_tls_servername.clone(),
        verify,
        sentinel_tls: Some(sentinel_tls),
    })
}

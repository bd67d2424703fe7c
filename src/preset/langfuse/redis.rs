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
        let nodes = node_list("REDIS_CLUSTER_NODES", nodes)?;
        let rest: Vec<String> = nodes[1..]
            .iter()
            .map(|n| format!("addr={}", encode(n)))
            .collect();
        let query = if rest.is_empty() {
            String::new()
        } else {
            format!("?{}", rest.join("&"))
        };
        (
            format!("redis{s}-cluster://{login}{}{query}", nodes[0]),
            "REDIS_CLUSTER_NODES",
        )
    } else if sentinel {
        let (Some(nodes), Some(master)) =
            (&lf.redis_sentinel_nodes, &lf.redis_sentinel_master_name)
        else {
            found.missing.push(
                "REDIS_SENTINEL_NODES and REDIS_SENTINEL_MASTER_NAME (REDIS_SENTINEL_ENABLED=true)",
            );
            return Ok(None);
        };
        let nodes = node_list("REDIS_SENTINEL_NODES", nodes)?;
        let mut query: Vec<String> = nodes[1..]
            .iter()
            .map(|n| format!("addr={}", encode(n)))
            .collect();
        if let Some(user) = &lf.redis_sentinel_username {
            query.push(format!("sentinel_user={}", encode(user)));
        }
        if let Some(password) = &lf.redis_sentinel_password {
            query.push(format!("sentinel_password={}", encode(password)));
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        (
            format!(
                "redis{s}-sentinel://{login}{}/{}{query}",
                nodes[0],
                encode(master)
            ),
            "REDIS_SENTINEL_NODES",
        )
    } else if let Some(url) = &lf.redis_connection_string {
        if url.contains("$(") {
            return Err("--preset langfuse-worker: REDIS_CONNECTION_STRING holds an unexpanded $(VARIABLE): Kubernetes expands $(REDIS_PASSWORD) only in a container's env list, from variables listed before it, not through envFrom; give the gate (and the worker) env entries as the chart renders them".into());
        }
        // TLS options apply to the connection string too, and turn TLS on.
        let url = match (tls, url.strip_prefix("redis://")) {
            (true, Some(rest)) => format!("rediss://{rest}"),
            _ => url.clone(),
        };
        (url, "REDIS_CONNECTION_STRING")
    } else if let Some(host) = &lf.redis_host {
        let port = lf.redis_port.as_deref().unwrap_or("6379");
        (
            format!("redis{s}://{login}{host}:{port}"),
            "the REDIS_* variables give a URL that",
        )
    } else {
        found.missing.push("REDIS_CONNECTION_STRING (or REDIS_HOST, REDIS_CLUSTER_ENABLED, REDIS_SENTINEL_ENABLED)");
        return Ok(None);
    };
    Ok(Some(Redis {
        url,
        origin,
        extra: tls_extra(lf, tls, sentinel_tls && tls)?,
    }))
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
fn tls_extra(lf: &LangfuseEnv, tls: bool, sentinel_tls: bool) -> Result<Extra, String> {
    if !tls {
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

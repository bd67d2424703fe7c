//! `--preset langfuse-worker`: the targets and checks a Langfuse worker
//! needs, read from the worker's own environment, so an init container that
//! shares it needs almost no configuration. Also the Langfuse-specific hints
//! that turn "table missing" into "the web has not migrated".
//!
//! Facts relied on (see the product brief): only the web migrates, before it
//! listens; `DATABASE_URL` is built by the entrypoint from `DATABASE_*` when
//! empty, without URL-encoding; Redis comes from `REDIS_CONNECTION_STRING`
//! or `REDIS_HOST`/`REDIS_PORT`/`REDIS_AUTH`; ClickHouse from `CLICKHOUSE_*`.

mod checks;
mod urls;

use serde::Deserialize;

use super::{Preset, PresetTarget};
use crate::options::{Env, Opt, Takes};
use crate::probe::Target;
use checks::{
    clickhouse_extra, database_extra, redis_extra, web_extra, CLICKHOUSE_HINTS, DATABASE_HINTS,
    REDIS_HINTS, WEB_HINTS,
};
use urls::{clickhouse_url, database_url, encode};

pub(crate) const WEB: Opt = Opt {
    flag: Some("--langfuse-web"),
    short: None,
    var: "READYGATE_LANGFUSE_WEB",
    takes: Takes::Value("URL"),
    help:
        "With --preset langfuse-worker: the Langfuse web's base URL, e.g. http://langfuse-web:3000",
};

/// The preset's name, as `--preset` takes it.
pub(crate) const NAME: &str = "langfuse-worker";

/// The Langfuse variables the preset reads, as envy sees them.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LangfuseEnv {
    database_url: Option<String>,
    direct_url: Option<String>,
    database_host: Option<String>,
    database_port: Option<String>,
    database_username: Option<String>,
    database_password: Option<String>,
    database_name: Option<String>,
    database_args: Option<String>,
    redis_connection_string: Option<String>,
    redis_host: Option<String>,
    redis_port: Option<String>,
    redis_auth: Option<String>,
    redis_tls_enabled: Option<String>,
    redis_tls_ca_path: Option<String>,
    clickhouse_url: Option<String>,
    clickhouse_user: Option<String>,
    clickhouse_password: Option<String>,
    clickhouse_db: Option<String>,
}

/// Characters Langfuse's entrypoint copies into `DATABASE_URL` unencoded
/// that break the URL.
const URL_BREAKERS: &[char] = &['@', ':', '/', '?', '#', '[', ']', '%', ' '];

/// Reads the worker's environment; `web` is `--langfuse-web`. Every
/// missing variable is named at once.
pub(crate) fn from_env(env: &Env, web: Option<&str>) -> Result<Preset, String> {
    let vars = env
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.clone(), v.clone()));
    let lf: LangfuseEnv =
        envy::from_iter(vars).map_err(|e| format!("cannot read the Langfuse environment ({e})"))?;
    let mut found = Found::default();
    let database = database(&lf, &mut found);
    let redis = redis(&lf, &mut found);
    for (name, value) in [
        ("CLICKHOUSE_URL", &lf.clickhouse_url),
        ("CLICKHOUSE_USER", &lf.clickhouse_user),
        ("CLICKHOUSE_PASSWORD", &lf.clickhouse_password),
    ] {
        if value.is_none() {
            found.missing.push(name);
        }
    }
    found.secrets.extend(lf.clickhouse_password.clone());
    if web.is_none() {
        found
            .missing
            .push("--langfuse-web (READYGATE_LANGFUSE_WEB)");
    }
    if !found.missing.is_empty() {
        return Err(format!(
            "--preset langfuse-worker is missing {}",
            found.missing.join(", ")
        ));
    }
    let web = web.unwrap_or_default().trim_end_matches('/');
    if web.contains(['?', '#']) {
        return Err("--langfuse-web takes the web's base URL without a ?query or #fragment, e.g. http://langfuse-web:3000".into());
    }
    let parts = [
        (
            database.unwrap_or_default(),
            database_origin(&lf),
            DATABASE_HINTS,
            database_extra(),
        ),
        (
            redis.unwrap_or_default(),
            redis_origin(&lf),
            REDIS_HINTS,
            redis_extra(&lf),
        ),
        (
            clickhouse_url(&lf)?,
            "CLICKHOUSE_URL",
            CLICKHOUSE_HINTS,
            clickhouse_extra(),
        ),
        (
            format!("{web}/api/public/health"),
            "--langfuse-web",
            WEB_HINTS,
            web_extra(),
        ),
    ];
    let mut targets = Vec::new();
    for (raw, what, hints, extra) in parts {
        let target =
            Target::parse(&raw).map_err(|why| format!("--preset langfuse-worker: {what} {why}"))?;
        found.secrets.extend(target.secrets());
        targets.push(PresetTarget {
            target,
            extra,
            hints,
        });
    }
    Ok(Preset {
        name: NAME,
        targets,
        secrets: found.secrets,
        warnings: found.warnings,
    })
}

/// What reading the environment found besides the URLs.
#[derive(Default)]
struct Found {
    missing: Vec<&'static str>,
    secrets: Vec<String>,
    warnings: Vec<String>,
}

/// The database URL: `DIRECT_URL`, `DATABASE_URL`, or built from the parts.
fn database(lf: &LangfuseEnv, found: &mut Found) -> Option<String> {
    if let Some(url) = lf.direct_url.as_ref().or(lf.database_url.as_ref()) {
        return Some(url.clone());
    }
    let parts = [
        &lf.database_host,
        &lf.database_username,
        &lf.database_password,
        &lf.database_name,
    ];
    if parts.iter().any(|v| v.is_none()) {
        found.missing.push(
            "DATABASE_URL (or DATABASE_HOST, DATABASE_USERNAME, DATABASE_PASSWORD, DATABASE_NAME)",
        );
        return None;
    }
    let password = lf.database_password.clone().unwrap_or_default();
    if password.contains(URL_BREAKERS) || !password.is_ascii() {
        found.warnings.push("DATABASE_PASSWORD holds a character (such as @ : / ? # % or a space) that Langfuse's entrypoint copies into DATABASE_URL unencoded: the worker itself will fail to connect; URL-encode it, or set DATABASE_URL".to_string());
    }
    found.secrets.push(password);
    Some(database_url(lf))
}

fn database_origin(lf: &LangfuseEnv) -> &'static str {
    if lf.direct_url.is_some() {
        "DIRECT_URL"
    } else if lf.database_url.is_some() {
        "DATABASE_URL"
    } else {
        "the DATABASE_* variables give a URL that"
    }
}

/// The Redis URL: `REDIS_CONNECTION_STRING`, or built from the parts.
fn redis(lf: &LangfuseEnv, found: &mut Found) -> Option<String> {
    found.secrets.extend(lf.redis_auth.clone());
    if let Some(url) = &lf.redis_connection_string {
        return Some(url.clone());
    }
    let Some(host) = &lf.redis_host else {
        found
            .missing
            .push("REDIS_CONNECTION_STRING (or REDIS_HOST)");
        return None;
    };
    let tls = lf
        .redis_tls_enabled
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let scheme = if tls { "rediss" } else { "redis" };
    let port = lf.redis_port.clone().unwrap_or_else(|| "6379".into());
    let auth = lf
        .redis_auth
        .as_deref()
        .map(|a| format!(":{}@", encode(a)))
        .unwrap_or_default();
    Some(format!("{scheme}://{auth}{host}:{port}"))
}

fn redis_origin(lf: &LangfuseEnv) -> &'static str {
    if lf.redis_connection_string.is_some() {
        "REDIS_CONNECTION_STRING"
    } else {
        "the REDIS_* variables give a URL that"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn helm_like() -> Env {
        env(&[
            ("DATABASE_HOST", "langfuse-postgresql"),
            ("DATABASE_PORT", "5432"),
            ("DATABASE_USERNAME", "postgres"),
            ("DATABASE_PASSWORD", "pa ss@word"),
            ("DATABASE_NAME", "postgres_langfuse"),
            ("REDIS_HOST", "langfuse-redis-primary"),
            ("REDIS_PORT", "6379"),
            ("REDIS_AUTH", "redis-secret"),
            ("CLICKHOUSE_URL", "http://langfuse-clickhouse:8123"),
            ("CLICKHOUSE_USER", "default"),
            ("CLICKHOUSE_PASSWORD", "ch-secret"),
        ])
    }

    #[test]
    fn helm_style_environment_gives_four_targets() {
        let lf = from_env(&helm_like(), Some("http://langfuse-web:3000/")).unwrap();
        let urls: Vec<String> = lf
            .targets
            .iter()
            .map(|t| t.target.url.to_string())
            .collect();
        assert_eq!(
            urls[0],
            "postgresql://postgres:pa%20ss%40word@langfuse-postgresql:5432/postgres_langfuse"
        );
        assert_eq!(urls[1], "redis://:redis-secret@langfuse-redis-primary:6379");
        assert_eq!(
            urls[2],
            "clickhouse://default:ch-secret@langfuse-clickhouse:8123/default"
        );
        assert_eq!(urls[3], "http://langfuse-web:3000/api/public/health");
        assert!(lf.warnings[0].contains("DATABASE_PASSWORD"));
        assert!(!lf.warnings[0].contains("pa ss@word"));
        assert!(lf.secrets.contains(&"pa ss@word".to_string()));
    }

    #[test]
    fn urls_win_over_parts_and_direct_url_over_database_url() {
        let mut e = helm_like();
        e.insert(
            "DATABASE_URL".into(),
            "postgresql://u:p@pooler:6432/lf?pgbouncer=true".into(),
        );
        e.insert("DIRECT_URL".into(), "postgresql://u:p@db:5432/lf".into());
        e.insert(
            "REDIS_CONNECTION_STRING".into(),
            "rediss://:x@r:6380/1".into(),
        );
        e.insert("CLICKHOUSE_URL".into(), "https://ch.example:8443".into());
        e.insert("CLICKHOUSE_DB".into(), "lf".into());
        let lf = from_env(&e, Some("http://web:3000")).unwrap();
        assert_eq!(
            lf.targets[0].target.url.as_str(),
            "postgresql://u:p@db:5432/lf"
        );
        assert_eq!(lf.targets[1].target.url.as_str(), "rediss://:x@r:6380/1");
        assert_eq!(
            lf.targets[2].target.url.as_str(),
            "clickhouse://default:ch-secret@ch.example:8443/lf?secure=true"
        );
        assert!(lf.warnings.is_empty());
    }

    #[test]
    fn every_missing_variable_is_named_at_once() {
        let e = env(&[
            ("DATABASE_HOST", "db"),
            ("CLICKHOUSE_URL", "http://ch:8123"),
            ("REDIS_AUTH", ""),
        ]);
        let err = from_env(&e, None).err().unwrap();
        for name in [
            "DATABASE_URL",
            "REDIS_CONNECTION_STRING",
            "CLICKHOUSE_USER",
            "CLICKHOUSE_PASSWORD",
            "--langfuse-web",
        ] {
            assert!(err.contains(name), "{name} not in {err}");
        }
        assert!(!err.contains("CLICKHOUSE_URL,"), "{err}");
    }

    #[test]
    fn langfuse_hints_replace_generic_ones() {
        use crate::not_ready::{Class, NotReady};
        let mut e = NotReady::new(Class::Schema, "table \"x\" does not exist").hint("generic");
        DATABASE_HINTS.apply(&mut e);
        assert!(e
            .hint
            .unwrap()
            .contains("LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED"));
        let mut e = NotReady::new(Class::Timeout, "slow").hint("generic");
        DATABASE_HINTS.apply(&mut e);
        assert_eq!(e.hint.as_deref(), Some("generic"));
        let mut e = NotReady::new(Class::Dns, "no such host");
        WEB_HINTS.apply(&mut e);
        assert!(e.hint.unwrap().contains("HOSTNAME=0.0.0.0"));
    }

    #[test]
    fn the_worker_tables_are_valid_names() {
        use crate::probe::Extra;
        let Extra::Postgres(extra) = database_extra() else {
            panic!("the database gets PostgreSQL requirements")
        };
        assert_eq!(extra.tables.len(), checks::WORKER_TABLES.len());
        assert!(extra.prisma);
    }
}

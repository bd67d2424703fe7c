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
mod redis;
mod s3;
mod urls;

use serde::Deserialize;

use super::{Preset, PresetTarget};
use crate::not_ready::Hints;
use crate::options::{Env, Opt, Takes};
use crate::probe::{Extra, Kind, Target};
use crate::secret::Redactor;
use checks::{
    clickhouse_extra, database_extra, login_extra, web_extra, CLICKHOUSE_HINTS, DATABASE_HINTS,
    LISTEN_HINTS, REDIS_HINTS, S3_HINTS, WEB_HINTS,
};
use urls::{clickhouse_url, database_url, prisma_url};

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
    redis_password: Option<String>,
    redis_username: Option<String>,
    redis_tls_enabled: Option<String>,
    redis_tls_ca_path: Option<String>,
    redis_tls_cert_path: Option<String>,
    redis_tls_key_path: Option<String>,
    redis_tls_key_passphrase: Option<String>,
    redis_tls_servername: Option<String>,
    redis_tls_reject_unauthorized: Option<String>,
    redis_tls_check_server_identity: Option<String>,
    redis_cluster_enabled: Option<String>,
    redis_cluster_nodes: Option<String>,
    redis_sentinel_enabled: Option<String>,
    redis_sentinel_tls_enabled: Option<String>,
    redis_sentinel_nodes: Option<String>,
    redis_sentinel_master_name: Option<String>,
    redis_sentinel_username: Option<String>,
    redis_sentinel_password: Option<String>,
    clickhouse_url: Option<String>,
    clickhouse_user: Option<String>,
    clickhouse_password: Option<String>,
    clickhouse_db: Option<String>,
    clickhouse_cluster_enabled: Option<String>,
    clickhouse_cluster_name: Option<String>,
    langfuse_s3_event_upload_bucket: Option<String>,
    langfuse_s3_event_upload_prefix: Option<String>,
    langfuse_s3_event_upload_region: Option<String>,
    langfuse_s3_event_upload_endpoint: Option<String>,
    langfuse_s3_event_upload_access_key_id: Option<String>,
    langfuse_s3_event_upload_secret_access_key: Option<String>,
    langfuse_s3_event_upload_force_path_style: Option<String>,
    langfuse_use_azure_blob: Option<String>,
    langfuse_use_google_cloud_storage: Option<String>,
    langfuse_use_oci_native_object_storage: Option<String>,
    aws_region: Option<String>,
}

/// Langfuse's enums take exactly `true` or `false`; anything else fails
/// its environment check and the worker exits.
pub(super) fn flag(name: &'static str, value: &Option<String>) -> Result<bool, String> {
    match value.as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!(
            "--preset langfuse-worker: {name} is {:?}; Langfuse accepts only true or false (anything else stops the worker at start)",
            crate::text::shorten_to(other, 20)
        )),
    }
}

/// Said once when no `--expect-version` is given.
pub(crate) const NO_VERSION: &str = "no --expect-version: a worker from another Langfuse release than the web's will start unnoticed; pass the release you deploy, e.g. --expect-version 4.16.0";

/// `--expect-version` with the preset: an exact release, as the web reports
/// it (`VERSION` in `web/src/constants/VERSION.ts` without its `v`), with an
/// optional pre-release; a floating tag would never match.
pub(crate) fn release(given: &str) -> Result<(), String> {
    let bare = given.strip_prefix('v').unwrap_or(given);
    let (core, pre) = bare.split_once('-').unwrap_or((bare, "x"));
    let numbers: Vec<&str> = core.split('.').collect();
    let exact = numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()))
        // 04.16.0 is not how any release is spelled, and never matches.
        && numbers.iter().all(|n| n.len() == 1 || !n.starts_with('0'))
        && !pre.is_empty()
        && pre
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    match exact {
        true => Ok(()),
        false => Err(format!(
            "is {:?}, not an exact Langfuse release: the web reports its exact release (e.g. 4.16.0), so a floating tag such as 4, 4.16 or latest never matches; give the release of the image you deploy",
            crate::text::shorten_to(given, 24)
        )),
    }
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
    let redis = redis::redis(&lf, &mut found)?;
    let bucket = s3::event_bucket(&lf, &mut found)?;
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
    let Some(redis) = redis else {
        unreachable!("a missing Redis setting is in found.missing")
    };
    let web = web.unwrap_or_default().trim_end_matches('/');
    if web.contains(['?', '#']) {
        return Err("--langfuse-web takes the web's base URL without a ?query or #fragment, e.g. http://langfuse-web:3000".into());
    }
    let mut parts: Vec<(String, &str, Hints, Extra)> = database
        .into_iter()
        .flatten()
        .map(|(url, origin, extra)| (url, origin, DATABASE_HINTS, extra))
        .collect();
    parts.extend([
        (
            redis.url,
            redis.origin,
            REDIS_HINTS,
            Extra::Redis(redis.extra),
        ),
        (
            clickhouse_url(&lf, &mut found.warnings)?,
            "CLICKHOUSE_URL",
            CLICKHOUSE_HINTS,
            clickhouse_extra(&lf)?,
        ),
    ]);
    if let Some((url, extra)) = bucket {
        parts.push((
            url,
            "LANGFUSE_S3_EVENT_UPLOAD_BUCKET",
            S3_HINTS,
            Extra::S3(extra),
        ));
    }
    parts.push((
        format!("{web}/api/public/health"),
        "--langfuse-web",
        WEB_HINTS,
        web_extra(),
    ));
    let mut targets = Vec::new();
    for (raw, what, hints, extra) in parts {
        // A password copied unencoded can split a URL so that part of it
        // lands in the error: blank every secret read so far.
        let target = Target::parse(&raw).map_err(|why| {
            Redactor::new(found.secrets.clone())
                .clean(&format!("--preset langfuse-worker: {what} {why}"))
        })?;
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
        user_hints: &[(Kind::Listen, LISTEN_HINTS)],
    })
}

/// What reading the environment found besides the URLs.
#[derive(Default)]
struct Found {
    missing: Vec<&'static str>,
    secrets: Vec<String>,
    warnings: Vec<String>,
}

/// The database targets. The schema is checked through the URL the
/// migrations use (`DIRECT_URL`, else `DATABASE_URL`: `schema.prisma`'s
/// `directUrl`); the worker itself connects only through `DATABASE_URL`,
/// which the entrypoints build from `DATABASE_HOST`, `_USERNAME`,
/// `_PASSWORD`, `_NAME` and `_ARGS` when it is empty (`worker/entrypoint.sh`),
/// so a login through it is checked too when it differs.
fn database(lf: &LangfuseEnv, found: &mut Found) -> Option<Vec<(String, &'static str, Extra)>> {
    if let Some(port) = &lf.database_port {
        found.warnings.push(format!(
            "DATABASE_PORT={} is set, but Langfuse never reads it: its entrypoint builds DATABASE_URL from DATABASE_HOST alone, so the worker connects to port 5432; put the port in DATABASE_HOST (host:{0}) or set DATABASE_URL",
            crate::text::shorten_to(port, 8)
        ));
    }
    let (url, origin) = match &lf.database_url {
        Some(url) => (prisma_url(url, "DATABASE_URL", found), "DATABASE_URL"),
        None => {
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
            let url = prisma_url(&database_url(lf), "DATABASE_ARGS", found);
            (url, "the DATABASE_* variables give a URL that")
        }
    };
    let direct = lf
        .direct_url
        .as_deref()
        .map(|d| prisma_url(d, "DIRECT_URL", found));
    Some(match direct {
        Some(direct) if direct != url => vec![(direct, "DIRECT_URL", database_extra(false)), {
            // Prisma's PgBouncer flag: the worker's login goes through the pooler.
            let (url, pooled) = urls::without_param(&url, "pgbouncer");
            (url, origin, login_extra(pooled))
        }],
        // No DIRECT_URL: the web migrates through DATABASE_URL, pooler or not.
        _ => {
            let (url, pooled) = urls::without_param(&url, "pgbouncer");
            vec![(url, origin, database_extra(pooled))]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        crate::options::env_of(pairs)
    }

    /// The worker's environment as chart 2.0.0 renders it (release
    /// `langfuse`, secrets resolved), standalone Redis.
    fn chart() -> Env {
        env(&[
            ("DATABASE_HOST", "langfuse-postgresql"),
            ("DATABASE_USERNAME", "langfuse"),
            ("DATABASE_PASSWORD", "pa ss@word"),
            ("DATABASE_NAME", "langfuse"),
            ("LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED", "false"),
            ("REDIS_PASSWORD", "redis-secret"),
            ("REDIS_TLS_ENABLED", "false"),
            (
                "REDIS_CONNECTION_STRING",
                "redis://default:redis-secret@langfuse-redis:6379/0",
            ),
            (
                "CLICKHOUSE_MIGRATION_URL",
                "clickhouse://langfuse-clickhouse-headless:9000",
            ),
            ("CLICKHOUSE_MIGRATION_SSL", "false"),
            ("CLICKHOUSE_URL", "http://langfuse-clickhouse-headless:8123"),
            ("CLICKHOUSE_DB", "default"),
            ("CLICKHOUSE_USER", "default"),
            ("CLICKHOUSE_PASSWORD", "ch-secret"),
            ("CLICKHOUSE_CLUSTER_ENABLED", "true"),
            ("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "langfuse"),
            ("HOSTNAME", "0.0.0.0"),
        ])
    }

    fn urls(e: &Env) -> Vec<String> {
        from_env(e, Some("http://langfuse-web:3000/"))
            .unwrap()
            .targets
            .iter()
            .map(|t| t.target.url.to_string())
            .collect()
    }

    #[test]
    fn the_charts_standalone_environment_gives_five_targets() {
        let lf = from_env(&chart(), Some("http://langfuse-web:3000/")).unwrap();
        let urls: Vec<String> = lf
            .targets
            .iter()
            .map(|t| t.target.url.to_string())
            .collect();
        assert_eq!(
            urls,
            [
                "postgresql://langfuse:pa%20ss%40word@langfuse-postgresql/langfuse",
                "redis://default:redis-secret@langfuse-redis:6379/0",
                "clickhouse://default:ch-secret@langfuse-clickhouse-headless:8123/default",
                "s3://langfuse/",
                "http://langfuse-web:3000/api/public/health",
            ]
        );
        assert!(lf.warnings[0].contains("DATABASE_PASSWORD"));
        assert!(!lf.warnings[0].contains("pa ss@word"));
        assert!(lf.secrets.contains(&"pa ss@word".to_string()));
    }

    #[test]
    fn the_charts_cluster_and_sentinel_environments_are_understood() {
        let mut e = chart();
        e.remove("REDIS_CONNECTION_STRING");
        e.insert("REDIS_CLUSTER_ENABLED".into(), "true".into());
        e.insert(
            "REDIS_CLUSTER_NODES".into(),
            "redis-1:6379, redis-2:6379,redis-3:6379".into(),
        );
        e.insert("REDIS_AUTH".into(), "cl@ster".into());
        assert_eq!(
            urls(&e)[1],
            "redis-cluster://:cl%40ster@redis-1:6379?addr=redis-2:6379&addr=redis-3:6379"
        );
        e.insert("REDIS_TLS_ENABLED".into(), "true".into());
        assert!(urls(&e)[1].starts_with("rediss-cluster://"));

        let mut e = chart();
        e.remove("REDIS_CONNECTION_STRING");
        e.insert("REDIS_SENTINEL_ENABLED".into(), "true".into());
        e.insert("REDIS_SENTINEL_MASTER_NAME".into(), "mymaster".into());
        e.insert("REDIS_SENTINEL_NODES".into(), "s1:26379,s2:26379".into());
        e.insert("REDIS_SENTINEL_PASSWORD".into(), "sent".into());
        assert_eq!(
            urls(&e)[1],
            "redis-sentinel://s1:26379/mymaster?addr=s2:26379&sentinel_password=sent"
        );
        e.insert("REDIS_CLUSTER_ENABLED".into(), "true".into());
        let err = from_env(&e, Some("http://w:3000")).err().unwrap();
        assert!(err.contains("both true"), "{err}");
        e.insert("REDIS_CLUSTER_ENABLED".into(), "yes".into());
        let err = from_env(&e, Some("http://w:3000")).err().unwrap();
        assert!(err.contains("only true or false"), "{err}");
    }

    #[test]
    fn redis_follows_langfuse_on_tls_and_refuses_what_kubernetes_left_unexpanded() {
        let mut e = chart();
        e.insert("REDIS_TLS_ENABLED".into(), "true".into());
        assert_eq!(
            urls(&e)[1],
            "rediss://default:redis-secret@langfuse-redis:6379/0"
        );
        e.insert(
            "REDIS_CONNECTION_STRING".into(),
            "redis://default:$(REDIS_PASSWORD)@langfuse-redis:6379/0".into(),
        );
        let err = from_env(&e, Some("http://w:3000")).err().unwrap();
        assert!(err.contains("envFrom"), "{err}");
        let mut e = chart();
        e.insert("REDIS_CLUSTER_ENABLED".into(), "true".into());
        e.insert("REDIS_CLUSTER_NODES".into(), "redis-1".into());
        let err = from_env(&e, Some("http://w:3000")).err().unwrap();
        assert!(err.contains("host:port"), "{err}");
    }

    #[test]
    fn database_port_is_warned_about_not_used_and_database_url_is_logged_in_too() {
        let mut e = chart();
        e.insert("DATABASE_PORT".into(), "5433".into());
        let lf = from_env(&e, Some("http://w:3000")).unwrap();
        assert!(lf.targets[0].target.url.port().is_none());
        assert!(lf
            .warnings
            .iter()
            .any(|w| w.contains("DATABASE_PORT=5433") && w.contains("never reads it")));
        e.insert(
            "DATABASE_URL".into(),
            "postgresql://u:p@pooler:6432/lf?pgbouncer=true".into(),
        );
        e.insert("DIRECT_URL".into(), "postgresql://u:p@db:5432/lf".into());
        let got = urls(&e);
        assert_eq!(got[0], "postgresql://u:p@db:5432/lf");
        assert_eq!(got[1], "postgresql://u:p@pooler:6432/lf");
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn clickhouse_takes_the_urls_login_and_the_migrations_database() {
        let mut e = chart();
        e.insert(
            "CLICKHOUSE_URL".into(),
            "https://u%40x:url-pw@ch.example:8443/other".into(),
        );
        e.insert("CLICKHOUSE_DB".into(), "lf".into());
        let lf = from_env(&e, Some("http://w:3000")).unwrap();
        assert_eq!(
            lf.targets[2].target.url.as_str(),
            "clickhouse://u%40x:url-pw@ch.example:8443/lf?secure=true"
        );
        assert!(lf
            .warnings
            .iter()
            .any(|w| w.contains("\"other\"") && w.contains("CLICKHOUSE_DB")));
        e.insert("CLICKHOUSE_URL".into(), "clickhouse://ch:9000".into());
        let err = from_env(&e, Some("http://w:3000")).err().unwrap();
        assert!(err.contains("CLICKHOUSE_MIGRATION_URL"), "{err}");
    }

    #[test]
    fn prisma_tls_parameters_are_read_as_prisma_reads_them() {
        let with = |args: &str| {
            let mut e = chart();
            e.insert(
                "DATABASE_URL".into(),
                format!("postgresql://u:p@db/lf?{args}"),
            );
            let lf = from_env(&e, Some("http://w:3000")).unwrap();
            (
                lf.targets[0].target.url.to_string(),
                lf.warnings,
                lf.secrets,
            )
        };
        let (url, _, _) = with("sslmode=require&sslcert=/ca.pem");
        assert_eq!(url, "postgresql://u:p@db/lf?sslmode=require");
        let (url, _, _) = with("sslmode=require&sslaccept=strict&sslcert=/ca.pem&schema=lf");
        assert_eq!(
            url,
            "postgresql://u:p@db/lf?schema=lf&sslmode=verify-full&sslrootcert=%2Fca.pem"
        );
        let (url, warnings, _) = with("sslmode=verify-full");
        assert_eq!(url, "postgresql://u:p@db/lf?sslmode=prefer");
        assert!(warnings.iter().any(|w| w.contains("Prisma does not know")));
        let (url, warnings, secrets) =
            with("sslmode=require&sslidentity=/id.p12&sslpassword=p12-secret&sslcert=ca.pem");
        assert_eq!(url, "postgresql://u:p@db/lf?sslmode=require");
        assert!(warnings.iter().any(|w| w.contains("PKCS#12")));
        assert!(warnings.iter().any(|w| w.contains("relative sslcert")));
        assert!(secrets.contains(&"p12-secret".to_string()));
    }

    #[test]
    fn the_connection_string_is_read_as_ioredis_reads_it() {
        let one = |url: &str, tls: &str| {
            let mut e = chart();
            e.insert("REDIS_CONNECTION_STRING".into(), url.into());
            e.insert("REDIS_TLS_ENABLED".into(), tls.into());
            from_env(&e, Some("http://w:3000")).map(|lf| lf.targets[1].target.url.to_string())
        };
        assert_eq!(
            one("REDIS://r:6379/0", "true").unwrap(),
            "rediss://r:6379/0"
        );
        assert_eq!(
            one("redis://r:6379/0?family=0", "false").unwrap(),
            "redis://r:6379/0"
        );
        for bad in ["http://r:6379", "tcp://r:6379", "r:6379"] {
            let e = one(bad, "false").err().unwrap();
            assert!(e.contains("REDIS_CONNECTION_STRING"), "{bad}: {e}");
        }
        let mut e = chart();
        e.insert("REDIS_PASSWORD".into(), "1234?HiddenSecret".into());
        e.insert(
            "REDIS_CONNECTION_STRING".into(),
            "redis://default:1234?HiddenSecret@r:6379/0".into(),
        );
        let err = from_env(&e, Some("http://w:3000")).err().unwrap();
        assert!(
            err.contains("unencoded") && !err.contains("Hidden"),
            "{err}"
        );
        e.insert("REDIS_PASSWORD".into(), "p%40ss".into());
        e.insert(
            "REDIS_CONNECTION_STRING".into(),
            "redis://default:p%40ss@r:6379/0".into(),
        );
        assert!(from_env(&e, Some("http://w:3000")).is_ok());
    }

    #[test]
    fn host_mode_sends_what_langfuse_sends_and_other_stores_skip_s3() {
        let mut e = chart();
        e.remove("REDIS_CONNECTION_STRING");
        e.insert("REDIS_HOST".into(), "::1".into());
        e.insert("REDIS_USERNAME".into(), "worker".into());
        assert_eq!(urls(&e)[1], "redis://worker:undefined@[::1]:6379");
        let mut e = chart();
        e.insert(
            "LANGFUSE_USE_OCI_NATIVE_OBJECT_STORAGE".into(),
            "true".into(),
        );
        let lf = from_env(&e, Some("http://w:3000")).unwrap();
        assert!(lf.targets.iter().all(|t| t.target.url.scheme() != "s3"));
        assert!(lf.warnings.iter().any(|w| w.contains("OCI")));
    }

    #[test]
    fn expect_version_takes_only_an_exact_release() {
        for ok in ["4.16.0", "v4.16.0", "4.16.0-rc.1"] {
            assert!(release(ok).is_ok(), "{ok}");
        }
        for floating in [
            "4", "4.16", "latest", "v4", "4.16.x", "4.16.0-", "", "04.16.0",
        ] {
            assert!(release(floating).is_err(), "{floating}");
        }
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
        let mut e = NotReady::new(Class::Refused, "connection refused");
        WEB_HINTS.apply(&mut e);
        assert!(e
            .hint
            .unwrap()
            .contains("migrates PostgreSQL and ClickHouse before it listens"));
    }

    #[test]
    fn the_worker_tables_are_valid_names() {
        use crate::probe::Extra;
        let Extra::Postgres(extra) = database_extra(false) else {
            panic!("the database gets PostgreSQL requirements")
        };
        assert_eq!(extra.tables.len(), checks::WORKER_TABLES.len());
        assert!(extra.prisma);
    }
}

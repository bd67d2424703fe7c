//! The environment side of configuration: reading the process environment,
//! the list of `READYGATE_*` variables (anything else is a typo and an
//! error), and `Merge`, which takes a flag if given, else its twin, and
//! remembers which of the two a value came from so errors can name it.

use std::collections::HashMap;
use std::time::Duration;

use super::{err, ConfigError};
use crate::duration::{self, shorten};

/// The environment, as a map; tests pass their own.
pub type Env = HashMap<String, String>;

/// Reads the process environment; a `READYGATE_*` variable that is not UTF-8
/// is an error rather than silently skipped.
pub fn process_env() -> Result<Env, ConfigError> {
    let mut env = Env::new();
    for (k, v) in std::env::vars_os() {
        let Some(k) = k.to_str() else {
            if k.as_encoded_bytes().starts_with(b"READYGATE_") {
                return err(
                    &k.to_string_lossy(),
                    "is a variable name that is not valid UTF-8",
                );
            }
            continue;
        };
        match v.into_string() {
            Ok(v) => {
                env.insert(k.to_string(), v);
            }
            Err(_) if k.starts_with("READYGATE_") => return err(k, "is not valid UTF-8"),
            Err(_) => {}
        }
    }
    Ok(env)
}

/// `READYGATE_DISABLED`: checked before anything else, so the switch works
/// even when the rest of the configuration is broken.
pub fn disabled(env: &Env) -> Result<bool, ConfigError> {
    match env.get("READYGATE_DISABLED") {
        None => Ok(false),
        Some(v) => boolean("READYGATE_DISABLED", v),
    }
}

pub(super) fn boolean(origin: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => err(
            origin,
            format_args!("is {:?}; use true or false", shorten(raw)),
        ),
    }
}

/// Every `READYGATE_*` variable readygate reads. Any other is a typo, and
/// ignoring it could make the gate pass too early (`READYGATE_TABLE` for
/// `READYGATE_TABLES` would drop the table check).
pub const VARIABLES: &[&str] = &[
    "READYGATE_TARGETS",
    "READYGATE_TIMEOUT",
    "READYGATE_INTERVAL",
    "READYGATE_ATTEMPT_TIMEOUT",
    "READYGATE_PROGRESS_EVERY",
    "READYGATE_ONCE",
    "READYGATE_FAIL_FAST",
    "READYGATE_PRINT_CONFIG",
    "READYGATE_QUIET",
    "READYGATE_LOG_FORMAT",
    "READYGATE_LOG",
    "READYGATE_DISABLED",
    "READYGATE_TABLES",
    "READYGATE_PRISMA_MIGRATIONS",
    "READYGATE_MIGRATIONS",
    "READYGATE_PRISMA_MIGRATIONS_DIR",
    "READYGATE_SQL",
    "READYGATE_HTTP_STATUS",
    "READYGATE_HTTP_JSON",
    "READYGATE_HTTP_BODY",
    "READYGATE_HTTP_HEADERS",
    "READYGATE_CA_FILE",
    "READYGATE_INSECURE",
    "READYGATE_TERMINATION_LOG",
    "READYGATE_CLICKHOUSE_TABLES",
    "READYGATE_CLICKHOUSE_MIGRATIONS",
    "READYGATE_ONLY_IF",
    "READYGATE_SKIP_IF",
    "READYGATE_PRESET",
    "READYGATE_LANGFUSE_WEB",
    "READYGATE_EXPECT_VERSION",
    "READYGATE_SERVE",
];

pub(super) fn check_variable_names(env: &Env) -> Result<(), ConfigError> {
    let mut unknown: Vec<&String> = env
        .keys()
        .filter(|k| {
            k.starts_with("READYGATE_") && !VARIABLES.contains(&k.as_str()) && !is_service_link(k)
        })
        .collect();
    unknown.sort();
    let Some(name) = unknown.first() else {
        return Ok(());
    };
    let closest = VARIABLES
        .iter()
        .min_by_key(|known| edit_distance(name, known))
        .filter(|known| edit_distance(name, known) <= 3);
    match closest {
        Some(known) => err(
            name,
            format_args!("is not a readygate variable; did you mean {known}?"),
        ),
        None => err(
            name,
            "is not a readygate variable; see readygate --help for the READYGATE_* names",
        ),
    }
}

/// Kubernetes puts `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_8080_TCP_ADDR`
/// and friends into every pod of a namespace with a Service of that name; a
/// Service called `readygate` must not break every gate beside it.
fn is_service_link(name: &str) -> bool {
    if name.contains("_SERVICE_HOST") || name.contains("_SERVICE_PORT") || name.ends_with("_PORT") {
        return true;
    }
    let Some((_, rest)) = name.split_once("_PORT_") else {
        return false;
    };
    let mut parts = rest.split('_');
    let number = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let proto = parts
        .next()
        .is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"));
    let tail = parts
        .next()
        .is_none_or(|p| matches!(p, "ADDR" | "PORT" | "PROTO"));
    number && proto && tail && parts.next().is_none()
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Looks up one option: the flag if given, else its environment twin.
pub(super) struct Merge<'a> {
    pub(super) env: &'a Env,
}

impl Merge<'_> {
    pub(super) fn value(
        &self,
        flag: Option<String>,
        flag_name: &str,
        var: &str,
    ) -> Result<Option<(String, String)>, ConfigError> {
        if let Some(v) = flag {
            if v.trim().is_empty() {
                return err(flag_name, "is empty; give a value or leave the flag out");
            }
            return Ok(Some((v, flag_name.to_string())));
        }
        match self.env.get(var) {
            Some(v) if v.trim().is_empty() => {
                err(var, "is set but empty; unset it or give a value")
            }
            Some(v) => Ok(Some((v.clone(), var.to_string()))),
            None => Ok(None),
        }
    }

    pub(super) fn flag(&self, flag: bool, var: &str) -> Result<bool, ConfigError> {
        if flag {
            return Ok(true);
        }
        self.env.get(var).map_or(Ok(false), |v| boolean(var, v))
    }

    /// A repeatable flag; its twin holds several values split by `split`.
    pub(super) fn list(
        &self,
        flag: Vec<String>,
        flag_name: &str,
        var: &str,
        split: fn(&str) -> Vec<String>,
    ) -> Result<Vec<(String, String)>, ConfigError> {
        if flag.iter().any(|v| v.trim().is_empty()) {
            return err(flag_name, "is empty; give a value or leave the flag out");
        }
        if !flag.is_empty() {
            return Ok(flag
                .into_iter()
                .map(|v| (v, flag_name.to_string()))
                .collect());
        }
        match self.env.get(var) {
            Some(v) if v.trim().is_empty() => {
                err(var, "is set but empty; unset it or give a value")
            }
            Some(v) => match split(v) {
                items if items.is_empty() => {
                    err(var, "holds no values; unset it or give at least one")
                }
                items => Ok(items
                    .into_iter()
                    .map(|item| (item, var.to_string()))
                    .collect()),
            },
            None => Ok(Vec::new()),
        }
    }

    pub(super) fn duration(
        &self,
        flag: Option<String>,
        flag_name: &str,
        var: &str,
        default: Duration,
        zero_ok: bool,
        max: Option<Duration>,
    ) -> Result<Duration, ConfigError> {
        let Some((raw, origin)) = self.value(flag, flag_name, var)? else {
            return Ok(default);
        };
        let d = duration::parse(&raw).or_else(|e| err(&origin, e))?;
        if d.is_zero() && !zero_ok {
            return err(&origin, "must be longer than 0");
        }
        if let Some(max) = max.filter(|&max| d > max) {
            return err(
                &origin,
                format_args!("must be at most {}", duration::show(max)),
            );
        }
        Ok(d)
    }
}

pub(super) fn by_whitespace(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

pub(super) fn by_comma_or_whitespace(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

pub(super) fn by_line(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_service_links_are_not_typos() {
        for name in [
            "READYGATE_SERVICE_HOST",
            "READYGATE_SERVICE_PORT",
            "READYGATE_SERVICE_PORT_METRICS",
            "READYGATE_PORT",
            "READYGATE_PORT_9477_TCP",
            "READYGATE_PORT_9477_TCP_ADDR",
            "READYGATE_PORT_9477_UDP_PROTO",
        ] {
            assert!(is_service_link(name), "{name}");
        }
        for name in ["READYGATE_TABLE", "READYGATE_PORT_X_TCP", "READYGATE_PORTS"] {
            assert!(!is_service_link(name), "{name}");
        }
        let env: Env = [("READYGATE_SERVICE_HOST".to_string(), "10.0.0.1".to_string())].into();
        assert!(check_variable_names(&env).is_ok());
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("READYGATE_TABLE", "READYGATE_TABLES"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

//! The environment side of options: reading the process environment, the
//! booleans its variables hold, and the check that every `READYGATE_*`
//! variable is one readygate reads (anything else is a typo, and ignoring
//! `READYGATE_TABLE` for `READYGATE_TABLES` would pass the gate too early).

use std::collections::HashMap;

use super::{err, ConfigError, Opt};
use crate::text::shorten;

/// The environment, as a map; tests pass their own.
pub type Env = HashMap<String, String>;

/// Reads the process environment; a `READYGATE_*` variable that is not UTF-8
/// is an error rather than silently skipped, unless `--no-env` (before any
/// `--`) sets them all aside.
pub fn process_env() -> Result<Env, ConfigError> {
    let no_env = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--no-env");
    let mut env = Env::new();
    for (k, v) in std::env::vars_os() {
        if no_env && k.as_encoded_bytes().starts_with(b"READYGATE_") {
            continue;
        }
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

pub(crate) fn boolean(origin: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => err(
            origin,
            format_args!("is {:?}; use true or false", shorten(raw)),
        ),
    }
}

/// Refuses a `READYGATE_*` variable that no option declares, suggesting the
/// closest one.
pub(crate) fn check_variable_names(env: &Env, options: &[&Opt]) -> Result<(), ConfigError> {
    let known = |name: &str| options.iter().any(|o| o.var == name);
    let mut unknown: Vec<&String> = env
        .keys()
        .filter(|k| k.starts_with("READYGATE_") && !known(k) && !is_service_link(k))
        .collect();
    unknown.sort();
    let Some(name) = unknown.first() else {
        return Ok(());
    };
    // Ties go to the name that shares more of its start, then of its end
    // (READYGATE_ENABLED: READYGATE_DISABLED rather than READYGATE_TABLES).
    let closest = options
        .iter()
        .map(|o| o.var)
        .min_by_key(|known| {
            let prefix = common(name.chars(), known.chars());
            let suffix = common(name.chars().rev(), known.chars().rev());
            (
                edit_distance(name, known),
                usize::MAX - prefix,
                usize::MAX - suffix,
            )
        })
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

/// How many leading items two sequences share.
fn common(a: impl Iterator<Item = char>, b: impl Iterator<Item = char>) -> usize {
    a.zip(b).take_while(|(x, y)| x == y).count()
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

/// An environment of these pairs, for unit tests.
#[cfg(test)]
pub(crate) fn env_of(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
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
        assert!(check_variable_names(&env, &[]).is_ok());
    }

    #[test]
    fn typos_get_the_closest_name() {
        use crate::options::Takes;
        const fn var(var: &'static str) -> Opt {
            Opt {
                flag: None,
                short: None,
                var,
                takes: Takes::Switch,
                help: "",
            }
        }
        const TABLES: Opt = var("READYGATE_TABLES");
        const DISABLED: Opt = var("READYGATE_DISABLED");
        const SERVE: Opt = var("READYGATE_SERVE");
        const SQL: Opt = var("READYGATE_SQL");
        let options = [&TABLES, &SQL, &DISABLED, &SERVE];
        for (typo, want) in [
            ("READYGATE_ENABLED", "READYGATE_DISABLED"),
            ("READYGATE_DABLED", "READYGATE_DISABLED"),
            ("READYGATE_TABLE", "READYGATE_TABLES"),
            ("READYGATE_SER", "READYGATE_SERVE"),
        ] {
            let env: Env = [(typo.to_string(), "x".to_string())].into();
            let e = check_variable_names(&env, &options).unwrap_err().0;
            assert!(e.ends_with(&format!("did you mean {want}?")), "{typo}: {e}");
        }
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("READYGATE_TABLE", "READYGATE_TABLES"), 1);
        assert_eq!(edit_distance("abc", "abc"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

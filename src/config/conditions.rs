//! `--only-if` and `--skip-if`: whether this gate should wait here at all.

use crate::options::{err, ConfigError, Env, Merge, Opt, Split, Takes};
use crate::secret::is_secret_param;
use crate::text::shorten;

pub(super) const ONLY_IF: Opt = Opt {
    flag: Some("--only-if"),
    short: None,
    var: "READYGATE_ONLY_IF",
    takes: Takes::List("NAME=VALUE", Split::Line),
    help: "Only wait when the environment variable NAME equals VALUE, else exit 0 (or run the command) at once; repeatable, all must hold",
};
pub(super) const SKIP_IF: Opt = Opt {
    flag: Some("--skip-if"),
    short: None,
    var: "READYGATE_SKIP_IF",
    takes: Takes::List("NAME=VALUE", Split::Line),
    help: "Do not wait when the environment variable NAME equals VALUE; repeatable, any skips",
};

/// `NAME=VALUE`: holds when the variable NAME is set to exactly VALUE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Condition {
    name: String,
    value: String,
}

impl Condition {
    fn parse(raw: &str) -> Result<Condition, String> {
        let (name, value) = raw.split_once('=').ok_or_else(|| {
            format!(
                "{:?} has no '='; write NAME=VALUE, e.g. COMPONENT=worker",
                shorten(raw)
            )
        })?;
        let valid = !name.is_empty()
            && name.len() <= 255
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(format!(
                "{:?} is not an environment variable name",
                shorten(name)
            ));
        }
        Ok(Condition {
            name: name.to_string(),
            value: value.to_string(),
        })
    }

    fn holds(&self, env: &Env) -> bool {
        env.get(&self.name) == Some(&self.value)
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// Whether this gate should wait here at all: every `--only-if` must hold and
/// no `--skip-if` may. One image and one configuration can then serve pods
/// that should wait and pods that must not (the Helm chart puts
/// `extraInitContainers` into the web pod too, which would deadlock).
#[derive(Clone, Debug, Default)]
pub(crate) struct Conditions {
    pub(crate) only_if: Vec<Condition>,
    pub(crate) skip_if: Vec<Condition>,
}

impl Conditions {
    pub(super) fn read(m: &Merge) -> Result<Conditions, ConfigError> {
        let parse = |given: crate::options::Given| {
            Condition::parse(&given.value).or_else(|e| err(given.origin, e))
        };
        Ok(Conditions {
            only_if: m
                .list(&ONLY_IF)?
                .into_iter()
                .map(parse)
                .collect::<Result<_, _>>()?,
            skip_if: m
                .list(&SKIP_IF)?
                .into_iter()
                .map(parse)
                .collect::<Result<_, _>>()?,
        })
    }

    /// Why not to wait here, or `None` to wait.
    pub(crate) fn skip_reason(&self, env: &Env) -> Option<String> {
        if let Some(c) = self.only_if.iter().find(|c| !c.holds(env)) {
            // The value helps find a typo, unless the variable holds a secret.
            let actual = match env.get(&c.name) {
                None => "unset".to_string(),
                Some(v) if is_secret_param(&c.name) || !plain(v) => {
                    "set to another value".to_string()
                }
                Some(v) => format!("{:?}", shorten(v)),
            };
            return Some(format!(
                "--only-if {c} does not hold ({} is {actual})",
                c.name
            ));
        }
        self.skip_if
            .iter()
            .find(|c| c.holds(env))
            .map(|c| format!("--skip-if {c} holds"))
    }
}

/// A value safe to echo: a short word (`web`, `worker-2`), not a URL,
/// a DSN or a token-like blob.
fn plain(value: &str) -> bool {
    value.len() <= 40
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_variable_is_not_echoed() {
        let conditions = Conditions {
            only_if: vec![
                Condition::parse("COMPONENT=worker").unwrap(),
                Condition::parse("API_TOKEN=x").unwrap(),
            ],
            skip_if: Vec::new(),
        };
        let env: Env = [("COMPONENT".to_string(), "web".to_string())].into();
        let why = conditions.skip_reason(&env).unwrap();
        assert!(why.ends_with("(COMPONENT is \"web\")"), "{why}");
        let env: Env = [
            ("COMPONENT".to_string(), "worker".to_string()),
            ("API_TOKEN".to_string(), "tok-secret-1".to_string()),
        ]
        .into();
        let why = conditions.skip_reason(&env).unwrap();
        assert!(
            why.ends_with("(API_TOKEN is set to another value)"),
            "{why}"
        );
        let env: Env = [(
            "COMPONENT".to_string(),
            "postgres://u:hunter2pw@db/x".to_string(),
        )]
        .into();
        let why = conditions.skip_reason(&env).unwrap();
        assert!(
            why.ends_with("(COMPONENT is set to another value)"),
            "{why}"
        );
    }
}

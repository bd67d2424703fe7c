//! Options, each declared once: its flag, its `READYGATE_*` twin, what it
//! takes and its help line. From these declarations come the clap command
//! (and so `--help`), the unknown-variable check, and [`Merge`], which reads
//! a flag if given, else its twin, and remembers which of the two a value
//! came from so every error can name it. Nothing here knows what an option
//! means: the configuration and the target kinds declare and interpret them.

mod command;
mod env;
mod merge;

pub(crate) use command::{clap_failure, command, COMMAND, NO_ENV};
#[cfg(test)]
pub(crate) use env::env_of;
pub(crate) use env::{boolean, check_variable_names};
pub use env::{process_env, Env};
pub(crate) use merge::{Given, Merge};

/// A configuration error: one line, naming the flag or variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// An error that names where the bad value came from.
pub(crate) fn err<T>(origin: &str, message: impl std::fmt::Display) -> Result<T, ConfigError> {
    Err(ConfigError(format!("{origin} {message}")))
}

/// One option.
#[derive(Debug)]
pub(crate) struct Opt {
    /// `--name`, or `None` for a variable without a flag.
    pub(crate) flag: Option<&'static str>,
    pub(crate) short: Option<char>,
    /// The environment twin, `READYGATE_*`.
    pub(crate) var: &'static str,
    pub(crate) takes: Takes,
    /// The help line; the twin is added when `--help` is drawn.
    pub(crate) help: &'static str,
}

/// What an option takes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Takes {
    /// One value, e.g. `--timeout 30s`.
    Value(&'static str),
    /// On or off; the twin takes true/false.
    Switch,
    /// Repeatable; the twin holds several values split as given.
    List(&'static str, Split),
    /// The positional arguments (targets); the twin splits as given.
    Positional(&'static str, Split),
}

/// How a variable holds several values.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Split {
    Whitespace,
    CommaOrWhitespace,
    Line,
}

impl Split {
    pub(crate) fn apply(self, s: &str) -> Vec<String> {
        match self {
            Split::Whitespace => s.split_whitespace().map(String::from).collect(),
            Split::CommaOrWhitespace => s
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
            Split::Line => s
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Split::Whitespace => "whitespace separated",
            Split::CommaOrWhitespace => "comma or whitespace separated",
            Split::Line => "one per line",
        }
    }
}

impl Opt {
    /// The name errors use for the command-line side: `--timeout`, or
    /// `target` for the positional arguments.
    pub(crate) fn name(&self) -> &'static str {
        match (self.flag, self.takes) {
            (Some(flag), _) => flag,
            (None, Takes::Positional(..)) => "target",
            (None, _) => self.var,
        }
    }

    /// The clap id: the variable, which is unique.
    pub(crate) fn id(&self) -> &'static str {
        self.var
    }

    /// `[env: READYGATE_X]`, with how several values are split.
    pub(crate) fn env_note(&self) -> String {
        match self.takes {
            Takes::List(_, split) | Takes::Positional(_, split) => {
                format!("[env: {}, {}]", self.var, split.describe())
            }
            _ => format!("[env: {}]", self.var),
        }
    }
}

/// Refuses an option given for a kind of target that is not there.
pub(crate) fn applies_to(origin: &str, present: bool, kinds: &str) -> Result<(), ConfigError> {
    if present {
        Ok(())
    } else {
        err(
            origin,
            format_args!("applies to {kinds} targets, but none is given"),
        )
    }
}

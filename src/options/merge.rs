//! `Merge`: one option's value, from the flag if given, else from its twin,
//! with the name of whichever it came from. Empty values are errors, never
//! silently the default.

use std::time::Duration;

use clap::ArgMatches;

use super::{boolean, err, ConfigError, Env, Opt, Takes};
use crate::duration;

/// A value and where it came from (`--table`, `READYGATE_TABLES`, `target`).
#[derive(Clone, Debug)]
pub(crate) struct Given {
    pub(crate) value: String,
    pub(crate) origin: &'static str,
}

/// Reads options from parsed arguments and the environment.
pub(crate) struct Merge<'a> {
    pub(crate) args: &'a ArgMatches,
    pub(crate) env: &'a Env,
}

impl Merge<'_> {
    /// Whether the flag or its twin is there at all.
    pub(crate) fn given(&self, opt: &Opt) -> bool {
        self.on_command_line(opt) || self.env.contains_key(opt.var)
    }

    fn on_command_line(&self, opt: &Opt) -> bool {
        match opt.takes {
            Takes::Switch => opt.flag.is_some() && self.args.get_flag(opt.id()),
            _ => opt.flag.is_some() && self.args.contains_id(opt.id()),
        }
    }

    /// The name a switch was turned on by: the flag, else the variable.
    pub(crate) fn switch_origin(&self, opt: &Opt) -> &'static str {
        if self.on_command_line(opt) {
            opt.name()
        } else {
            opt.var
        }
    }

    /// A single value.
    pub(crate) fn value(&self, opt: &Opt) -> Result<Option<Given>, ConfigError> {
        let flag = opt.flag.and_then(|_| self.args.get_one::<String>(opt.id()));
        if let Some(v) = flag {
            if v.trim().is_empty() {
                return err(opt.name(), "is empty; give a value or leave the flag out");
            }
            return Ok(Some(Given {
                value: v.clone(),
                origin: opt.name(),
            }));
        }
        match self.env.get(opt.var) {
            Some(v) if v.trim().is_empty() => {
                err(opt.var, "is set but empty; unset it or give a value")
            }
            Some(v) => Ok(Some(Given {
                value: v.clone(),
                origin: opt.var,
            })),
            None => Ok(None),
        }
    }

    /// A switch: on when the flag is given or its twin is true.
    pub(crate) fn switch(&self, opt: &Opt) -> Result<bool, ConfigError> {
        if self.on_command_line(opt) {
            return Ok(true);
        }
        self.env
            .get(opt.var)
            .map_or(Ok(false), |v| boolean(opt.var, v))
    }

    /// A repeatable flag (or the targets); its twin holds several values.
    pub(crate) fn list(&self, opt: &Opt) -> Result<Vec<Given>, ConfigError> {
        let split = match opt.takes {
            Takes::List(_, split) | Takes::Positional(_, split) => split,
            Takes::Value(_) | Takes::Switch => unreachable!("{} is not a list", opt.var),
        };
        let flag: Vec<&String> = self
            .args
            .get_many::<String>(opt.id())
            .map(Iterator::collect)
            .unwrap_or_default();
        if flag.iter().any(|v| v.trim().is_empty()) {
            return err(opt.name(), "is empty; give a value or leave the flag out");
        }
        if !flag.is_empty() {
            return Ok(flag
                .into_iter()
                .map(|v| Given {
                    value: v.clone(),
                    origin: opt.name(),
                })
                .collect());
        }
        match self.env.get(opt.var) {
            Some(v) if v.trim().is_empty() => {
                err(opt.var, "is set but empty; unset it or give a value")
            }
            Some(v) => match split.apply(v) {
                items if items.is_empty() => {
                    err(opt.var, "holds no values; unset it or give at least one")
                }
                items => Ok(items
                    .into_iter()
                    .map(|value| Given {
                        value,
                        origin: opt.var,
                    })
                    .collect()),
            },
            None => Ok(Vec::new()),
        }
    }

    /// A duration with units, at least `min` (`ZERO` allows `0`) and at
    /// most `max`.
    pub(crate) fn duration(
        &self,
        opt: &Opt,
        default: Duration,
        min: Duration,
        max: Option<Duration>,
    ) -> Result<Duration, ConfigError> {
        let Some(Given { value, origin }) = self.value(opt)? else {
            return Ok(default);
        };
        let d = duration::parse(&value).or_else(|e| err(origin, e))?;
        if d.is_zero() && !min.is_zero() {
            return err(origin, "must be longer than 0");
        }
        if d < min {
            return err(
                origin,
                format_args!("must be at least {}", duration::show(min)),
            );
        }
        if let Some(max) = max.filter(|&max| d > max) {
            return err(
                origin,
                format_args!("must be at most {}", duration::show(max)),
            );
        }
        Ok(d)
    }
}

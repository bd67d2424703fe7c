//! The plan: every target, the user's and a preset's, with its probe built,
//! what it must satisfy in words, its hints, and where it came from. One
//! list of one type; the modes take it apart.

use crate::attempt::Watched;
use crate::not_ready::Hints;
use crate::options::{err, ConfigError, Given};
use crate::preset::Preset;
use crate::probe::{Planner, Probe, Target};
use crate::secret::Redactor;
use crate::text::{shorten, shorten_to};

/// One target, ready to be checked.
pub(crate) struct Planned {
    pub(crate) target: Target,
    pub(crate) probe: Probe,
    /// What it must satisfy, for `--print-config`.
    pub(crate) description: String,
    pub(crate) hints: Hints,
    /// The preset that added it, if one did.
    pub(crate) preset: Option<&'static str>,
}

impl Planned {
    /// The target as the engine sees it.
    pub(crate) fn watched(self) -> Watched<Probe> {
        // "X (down) is ready" reads right where "X is ready" would not.
        let name = match self.probe {
            Probe::UntilDown(_) => format!("{} (down)", self.target),
            _ => self.target.to_string(),
        };
        Watched {
            name,
            kind: self.target.kind.label(),
            check: self.probe,
            hints: self.hints,
            after_start: self.target.kind.watches_the_app(),
        }
    }
}

/// Targets as given, parsed, with the name errors use for each.
pub(super) fn parse_targets(given: Vec<Given>) -> Result<Vec<(Target, String)>, ConfigError> {
    let mut targets = Vec::new();
    let several = given.len() > 1;
    for (n, Given { value: raw, origin }) in given.into_iter().enumerate() {
        if raw.chars().count() > 4096 {
            return err(
                &format!("{origin} #{}", n + 1),
                "is longer than 4096 characters",
            );
        }
        match Target::parse(&raw) {
            Ok(t) => {
                // Redacted, and short enough for one line with the reason.
                let name = format!("{origin} #{} ({})", n + 1, shorten_to(&t.to_string(), 120));
                targets.push((t, name));
            }
            Err(why) => {
                // The raw value may hold a password, or half of one that a
                // space split in two: name it by position. Only the shape of
                // a forgotten scheme, `db:5432`, is echoed.
                // A piece of a split variable may be half a password of that shape.
                let split = origin.starts_with("READYGATE_") && several;
                let shown = if looks_like_host_port(&raw) && !split {
                    format!(" {:?}", shorten(&raw))
                } else {
                    String::new()
                };
                let hint = match origin.starts_with("READYGATE_") && several {
                    true => {
                        " (a space in a password or query splits a URL in two: write it as %20)"
                    }
                    false => "",
                };
                return err(
                    &format!("{origin} #{}{shown}", n + 1),
                    format_args!("{why}{hint}"),
                );
            }
        }
    }
    Ok(targets)
}

/// `host:port`, the one shape of a bad target safe to echo.
fn looks_like_host_port(raw: &str) -> bool {
    raw.split_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && !port.is_empty()
            && port.chars().all(|c| c.is_ascii_digit())
    })
}

/// Builds every target's probe: the user's first, then the preset's.
pub(super) fn plan(
    planner: &Planner,
    redactor: &Redactor,
    targets: Vec<(Target, String)>,
    preset: Option<Preset>,
    until_down: bool,
) -> Result<Vec<Planned>, ConfigError> {
    let plan = plan_up(planner, redactor, targets, preset)?;
    if !until_down {
        return Ok(plan);
    }
    // Waiting for each to stop: the check inverted, its readiness hints moot.
    Ok(plan
        .into_iter()
        .map(|p| Planned {
            probe: Probe::UntilDown(Box::new(p.probe)),
            description: format!("no longer ready (--until-down): {}", p.description),
            hints: Hints::GENERIC,
            ..p
        })
        .collect())
}

/// Every target's probe, as readiness checks.
fn plan_up(
    planner: &Planner,
    redactor: &Redactor,
    targets: Vec<(Target, String)>,
    preset: Option<Preset>,
) -> Result<Vec<Planned>, ConfigError> {
    let mut plan = Vec::new();
    for (target, origin) in targets {
        let (probe, description) = planner.plan(&target, None, &origin, redactor)?;
        let hints = preset
            .as_ref()
            .map_or(Hints::GENERIC, |p| p.hints_for(target.kind));
        plan.push(Planned {
            target,
            probe,
            description,
            hints,
            preset: None,
        });
    }
    let Some(preset) = preset else {
        return Ok(plan);
    };
    for added in preset.targets {
        let shown = shorten_to(&added.target.to_string(), 120);
        let origin = format!("--preset {} ({shown})", preset.name);
        let (probe, description) =
            planner.plan(&added.target, Some(&added.extra), &origin, redactor)?;
        plan.push(Planned {
            target: added.target,
            probe,
            description,
            hints: added.hints,
            preset: Some(preset.name),
        });
    }
    Ok(plan)
}

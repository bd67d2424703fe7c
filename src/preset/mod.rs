//! Presets: a product's dependencies, read from its own environment, handed
//! to the configuration as data (targets, what each must satisfy beyond the
//! flags, and hints in the product's words). The engine never learns which
//! product it is waiting for. The only preset is `langfuse-worker`.

mod langfuse;

use crate::not_ready::Hints;
use crate::options::{err, ConfigError, Env, Merge, Opt, Takes};
use crate::probe::{Extra, Kind, Target};
use crate::text::shorten;

const PRESET: Opt = Opt {
    flag: Some("--preset"),
    short: None,
    var: "READYGATE_PRESET",
    takes: Takes::Value("NAME"),
    help: "Add the checks a Langfuse worker needs, from its own environment: langfuse-worker (needs --langfuse-web)",
};

pub(crate) const OPTIONS: &[&Opt] = &[&PRESET, &langfuse::WEB];

/// What a preset found in the environment.
pub(crate) struct Preset {
    /// Shown beside its targets in `--print-config`.
    pub(crate) name: &'static str,
    pub(crate) targets: Vec<PresetTarget>,
    /// Passwords it read, for the redactor.
    pub(crate) secrets: Vec<String>,
    /// Problems the product itself will have, worth a warning.
    pub(crate) warnings: Vec<String>,
    /// Hints for the user's own targets of a kind (a `listen://` target
    /// beside the product), in the product's words.
    pub(crate) user_hints: &'static [(Kind, Hints)],
}

impl Preset {
    /// The hints for a user's target of this kind.
    pub(crate) fn hints_for(&self, kind: Kind) -> Hints {
        self.user_hints
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(Hints::GENERIC, |(_, hints)| *hints)
    }
}

/// One target a preset adds.
pub(crate) struct PresetTarget {
    pub(crate) target: Target,
    /// Checks beyond those the flags ask of every target of its kind.
    pub(crate) extra: Extra,
    pub(crate) hints: Hints,
}

/// Reads `--preset` and, when given, the product's environment.
pub(crate) fn read(m: &Merge, env: &Env) -> Result<Option<Preset>, ConfigError> {
    let web = m.value(&langfuse::WEB)?;
    match m.value(&PRESET)? {
        Some(given) if given.value == langfuse::NAME => {
            let web = web.as_ref().map(|w| w.value.as_str());
            let mut preset = langfuse::from_env(env, web).map_err(ConfigError)?;
            match m.value(&crate::probe::http::EXPECT_VERSION)? {
                Some(v) => langfuse::release(&v.value).or_else(|e| err(v.origin, e))?,
                None => preset.warnings.push(langfuse::NO_VERSION.into()),
            }
            Ok(Some(preset))
        }
        Some(given) => err(
            given.origin,
            format_args!(
                "is {:?}; the only preset is {}",
                shorten(&given.value),
                langfuse::NAME
            ),
        ),
        None => match web {
            Some(web) => err(
                web.origin,
                "applies to --preset langfuse-worker, which is not given",
            ),
            None => Ok(None),
        },
    }
}

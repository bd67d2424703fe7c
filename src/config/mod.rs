//! The validated configuration: every option merged with its `READYGATE_*`
//! twin (the flag wins), durations, URLs, expectations and TLS material
//! parsed, every target's probe built, and every bad value turned into one
//! line that names the flag or variable it came from. Nothing here opens a
//! connection: the configuration is complete before the first one.

mod conditions;
mod describe;
mod mode;
mod plan;

use std::time::Duration;

use clap::ArgMatches;

pub(crate) use conditions::Conditions;
pub(crate) use mode::{Mode, Wait};
pub(crate) use plan::Planned;

use crate::options::{
    boolean, check_variable_names, err, ConfigError, Env, Merge, Opt, Split, Takes,
};
use crate::probe::{self, Target};
use crate::report::{LogFormat, Logging};
use crate::schedule::Schedule;
use crate::secret::Redactor;
use crate::text::shorten;
use crate::{duration, preset};

const TARGETS: Opt = Opt {
    flag: None,
    short: None,
    var: "READYGATE_TARGETS",
    takes: Takes::Positional("TARGET", Split::Whitespace),
    help: "Targets: tcp://host:port, http(s)://..., postgres(ql)://user:pass@host:port/db, redis(s)://:pass@host:6379/0, clickhouse://user:pass@host:8123/db",
};
const INTERVAL: Opt = Opt {
    flag: Some("--interval"),
    short: None,
    var: "READYGATE_INTERVAL",
    takes: Takes::Value("DURATION"),
    help: "Fixed time between attempts [default: adaptive: 80ms for 2s, slowing to 900ms by 10s; 80ms throughout while nothing listens, or for files and sockets]",
};
const ATTEMPT_TIMEOUT: Opt = Opt {
    flag: Some("--attempt-timeout"),
    short: None,
    var: "READYGATE_ATTEMPT_TIMEOUT",
    takes: Takes::Value("DURATION"),
    help: "Longest single attempt, clipped to what is left of --timeout [default: 5s]",
};
const UNTIL_DOWN: Opt = Opt {
    flag: Some("--until-down"),
    short: None,
    var: "READYGATE_UNTIL_DOWN",
    takes: Takes::Switch,
    help: "Wait until every target is NOT ready (the old instance drained, the port released): a failing check, except no answer in time, counts as down",
};
const QUIET: Opt = Opt {
    flag: Some("--quiet"),
    short: Some('q'),
    var: "READYGATE_QUIET",
    takes: Takes::Switch,
    help: "Log only errors and the final summary",
};
const LOG_FORMAT: Opt = Opt {
    flag: Some("--log-format"),
    short: None,
    var: "READYGATE_LOG_FORMAT",
    takes: Takes::Value("FORMAT"),
    help: "Log format on stderr: text or json [default: text]",
};
const LOG: Opt = Opt {
    flag: None,
    short: None,
    var: "READYGATE_LOG",
    takes: Takes::Value("FILTER"),
    help: "A log filter such as debug or readygate=debug (overrides --quiet)",
};
const DISABLED: Opt = Opt {
    flag: None,
    short: None,
    var: "READYGATE_DISABLED",
    takes: Takes::Switch,
    help: "true: wait for nothing, exit 0 or run the command at once (a sidecar serves \"ready\"); checked before anything else, so it works when the rest is broken",
};

/// Every option readygate reads, in `--help` order; assembled once.
pub(crate) fn options() -> &'static [&'static Opt] {
    static ALL: std::sync::LazyLock<Vec<&'static Opt>> = std::sync::LazyLock::new(|| {
        let mut all: Vec<&'static Opt> = vec![
            &TARGETS,
            &mode::TIMEOUT,
            &INTERVAL,
            &ATTEMPT_TIMEOUT,
            &mode::PROGRESS_EVERY,
        ];
        all.extend(preset::OPTIONS);
        all.extend([
            &mode::SERVE,
            &mode::ONCE,
            &mode::FAIL_FAST,
            &mode::RUN_ANYWAY,
            &mode::PRINT_CONFIG,
            &UNTIL_DOWN,
            &QUIET,
            &LOG_FORMAT,
        ]);
        all.extend(probe::OPTIONS.iter().flat_map(|kind| kind.iter().copied()));
        all.extend([
            &conditions::ONLY_IF,
            &conditions::SKIP_IF,
            &mode::TERMINATION_LOG,
            &LOG,
            &DISABLED,
        ]);
        all
    });
    &ALL
}

/// `READYGATE_DISABLED`: checked before anything else, so the switch works
/// even when the rest of the configuration is broken.
pub(crate) fn disabled(env: &Env) -> Result<bool, ConfigError> {
    env.get(DISABLED.var)
        .map_or(Ok(false), |v| boolean(DISABLED.var, v))
}

/// Whether `READYGATE_SERVE` or `--serve` asks for sidecar mode, before the
/// rest is validated (a disabled sidecar still serves).
pub(crate) fn serving(args: &ArgMatches, env: &Env) -> bool {
    args.contains_id(mode::SERVE.id()) || env.contains_key(mode::SERVE.var)
}

/// The configuration, validated.
pub(crate) struct Config {
    pub(crate) plan: Vec<Planned>,
    pub(crate) mode: Mode,
    pub(crate) attempt_timeout: Duration,
    /// When to try again until a target is ready.
    pub(crate) schedule: Schedule,
    pub(crate) logging: Logging,
    /// `--only-if` / `--skip-if`, checked against the environment.
    pub(crate) conditions: Conditions,
    pub(crate) insecure: bool,
    /// Problems noticed in the configuration, to log once logging is set up.
    pub(crate) warnings: Vec<String>,
    /// Blanks every secret the configuration holds out of any output.
    pub(crate) redactor: Redactor,
}

impl Config {
    /// Validates parsed arguments against the environment.
    pub(crate) fn new(args: &ArgMatches, env: &Env) -> Result<Config, ConfigError> {
        check_variable_names(env, options())?;
        let m = Merge { args, env };
        // libpq's PGPASSWORD applies when a URL has no password.
        let mut secrets: Vec<String> = env.get("PGPASSWORD").into_iter().cloned().collect();
        let targets = plan::parse_targets(m.list(&TARGETS)?)?;
        secrets.extend(targets.iter().flat_map(|(t, _)| t.secrets()));
        let mut preset = preset::read(&m, env)?;
        let mut warnings = Vec::new();
        if let Some(preset) = &mut preset {
            secrets.append(&mut preset.secrets);
            warnings.append(&mut preset.warnings);
        }
        let mut all: Vec<&Target> = targets.iter().map(|(t, _)| t).collect();
        if let Some(preset) = &preset {
            all.extend(preset.targets.iter().map(|p| &p.target));
        }
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        if names.is_empty() {
            return Err(ConfigError(
                "no targets: give URLs as arguments or in READYGATE_TARGETS, e.g. readygate postgres://user:pass@db:5432/app".into(),
            ));
        }
        let attempt_timeout = m.duration(
            &ATTEMPT_TIMEOUT,
            Duration::from_secs(5),
            // A floor, as for --interval: no connection completes in 1ns.
            Duration::from_millis(10),
            Some(probe::postgres::MAX_ATTEMPT_TIMEOUT),
        )?;
        let schedule = schedule(&m)?;
        let command = args
            .get_many::<std::ffi::OsString>(crate::options::COMMAND)
            .map(|c| c.cloned().collect())
            .unwrap_or_default();
        let mode = Mode::read(&m, command, schedule, &names)?;
        // The sidecar would take the very port it watches the app for.
        if let Mode::Serve { addr, .. } = &mode {
            let watched = all
                .iter()
                .any(|t| t.kind == probe::Kind::Listen && t.url.port() == Some(addr.port()));
            if watched && addr.port() != 0 {
                let origin = m.value(&mode::SERVE)?.map_or("--serve", |g| g.origin);
                return err(origin, format_args!("is on port {}, which a listen:// target watches for the app: serve on another port (e.g. 9477)", addr.port()));
            }
        }
        let logging = logging(&m)?;
        let version_reporters = preset.as_ref().is_some_and(|p| {
            p.targets
                .iter()
                .any(|t| matches!(&t.extra, probe::Extra::Http(h) if h.reports_version))
        });
        let planner = probe::Planner::new(&m, &all, version_reporters, attempt_timeout)?;
        secrets.extend(planner.secrets());
        let redactor = Redactor::new(secrets);
        let conditions = Conditions::read(&m)?;
        let until_down = m.switch(&UNTIL_DOWN)?;
        let plan = plan::plan(&planner, &redactor, targets, preset, until_down)?;
        Ok(Config {
            plan,
            mode,
            attempt_timeout,
            schedule,
            logging,
            conditions,
            insecure: planner.insecure(),
            warnings,
            redactor,
        })
    }
}

/// `--interval`: a fixed delay, or the adaptive schedule.
fn schedule(m: &Merge) -> Result<Schedule, ConfigError> {
    let Some(given) = m.value(&INTERVAL)? else {
        return Ok(Schedule::Adaptive);
    };
    match duration::parse(&given.value) {
        Ok(d) if d < Duration::from_millis(10) => err(given.origin, "must be at least 10ms"),
        Ok(d) => Ok(Schedule::Fixed(d)),
        Err(e) => err(given.origin, e),
    }
}

/// `--quiet`, `--log-format` and `READYGATE_LOG`.
fn logging(m: &Merge) -> Result<Logging, ConfigError> {
    let quiet = m.switch(&QUIET)?;
    let format = match m.value(&LOG_FORMAT)? {
        None => LogFormat::Text,
        Some(given) => match given.value.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            v => {
                return err(
                    given.origin,
                    format_args!("is {:?}; use text or json", shorten(v)),
                )
            }
        },
    };
    let filter = match m.env.get(LOG.var) {
        Some(f) if f.trim().is_empty() => {
            return err(
                LOG.var,
                "is set but empty; unset it or give a filter such as debug",
            )
        }
        Some(f) => {
            tracing_subscriber::EnvFilter::try_new(f).or_else(|e| {
                err(
                    LOG.var,
                    format_args!("is not a log filter ({e}); use e.g. info or readygate=debug"),
                )
            })?;
            Some(f.clone())
        }
        None => None,
    };
    Ok(Logging {
        format,
        filter,
        quiet,
        no_color: m.env.get("NO_COLOR").is_some_and(|v| !v.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_declared_variable_once() {
        let all = options();
        let help = crate::options::command(all).render_long_help().to_string();
        for opt in all {
            assert_eq!(
                help.matches(&format!("{}]", opt.var)).count()
                    + help.matches(&format!("{},", opt.var)).count()
                    + help.matches(&format!("\n  {}\n", opt.var)).count(),
                1,
                "{} in --help:\n{help}",
                opt.var
            );
        }
        assert!(help.contains("READYGATE_LOG\n") && help.contains("READYGATE_DISABLED\n"));
        let mut vars: Vec<&str> = all.iter().map(|o| o.var).collect();
        vars.sort_unstable();
        vars.dedup();
        assert_eq!(vars.len(), all.len(), "a variable is declared twice");
    }

    /// Every `"READYGATE_..."` the code names is a declared option, so no
    /// variable can be read behind the declarations' back (and miss --help).
    #[test]
    fn the_code_reads_no_undeclared_variable() {
        let declared: Vec<&str> = options().iter().map(|o| o.var).collect();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for (at, _) in code.match_indices("\"READYGATE_") {
                    let name: String = code[at + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    if name == "READYGATE_" {
                        continue; // the prefix itself
                    }
                    seen += 1;
                    assert!(
                        declared.contains(&name.as_str()),
                        "{} names undeclared {name}",
                        path.display()
                    );
                }
            }
        }
        assert!(
            seen >= declared.len(),
            "only {seen} names found: is the scan blind?"
        );
    }
}

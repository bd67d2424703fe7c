//! What readygate does once configured: wait (and maybe exec), check once,
//! serve as a sidecar, or print the configuration. The flags that choose
//! and tune a mode are read here, and what cannot combine is refused here,
//! in one place, so the rest of the program matches on [`Mode`].

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::options::{err, ConfigError, Merge, Opt, Takes};
use crate::schedule::Schedule;
use crate::text::shorten;

pub(super) const TIMEOUT: Opt = Opt {
    flag: Some("--timeout"),
    short: None,
    var: "READYGATE_TIMEOUT",
    takes: Takes::Value("DURATION"),
    help: "Give up after this long; 0 waits forever [default: 5m]",
};
pub(super) const PROGRESS_EVERY: Opt = Opt {
    flag: Some("--progress-every"),
    short: None,
    var: "READYGATE_PROGRESS_EVERY",
    takes: Takes::Value("DURATION"),
    help: "How often to log a \"still waiting\" line per unready target [default: 10s]",
};
pub(super) const SERVE: Opt = Opt {
    flag: Some("--serve"),
    short: None,
    var: "READYGATE_SERVE",
    takes: Takes::Value("ADDR"),
    help: "Sidecar mode: keep checking and serve /readyz, /startupz, /livez and /metrics on this address, e.g. 0.0.0.0:9477 (port 0 picks one)",
};
pub(super) const ONCE: Opt = Opt {
    flag: Some("--once"),
    short: None,
    var: "READYGATE_ONCE",
    takes: Takes::Switch,
    help: "Check every target once, print one line each, exit 0 if all ready, else 1 (3 with --fail-fast on a permanent failure)",
};
pub(super) const FAIL_FAST: Opt = Opt {
    flag: Some("--fail-fast"),
    short: None,
    var: "READYGATE_FAIL_FAST",
    takes: Takes::Switch,
    help: "Exit 3 at once on failures waiting cannot fix: bad password, unknown database, TLS verification",
};
pub(super) const RUN_ANYWAY: Opt = Opt {
    flag: Some("--run-anyway"),
    short: None,
    var: "READYGATE_RUN_ANYWAY",
    takes: Takes::Switch,
    help: "With -- COMMAND: when the deadline passes (or --fail-fast stops), say what is not ready and run the command anyway; its exit code is returned",
};
pub(super) const PRINT_CONFIG: Opt = Opt {
    flag: Some("--print-config"),
    short: None,
    var: "READYGATE_PRINT_CONFIG",
    takes: Takes::Switch,
    help: "Print the resolved configuration (secrets redacted) and exit without connecting",
};
pub(super) const TERMINATION_LOG: Opt = Opt {
    flag: Some("--termination-log"),
    short: None,
    var: "READYGATE_TERMINATION_LOG",
    takes: Takes::Value("PATH"),
    help: "On failure, also write the summary here [default: /dev/termination-log when writable]",
};

/// The sidecar's interval once a target has been ready, without `--interval`.
const SERVE_INTERVAL: Duration = Duration::from_secs(2);

/// What readygate does.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Wait until every target is ready, then exit 0 or exec the command.
    Wait(Wait),
    /// `--once`: one attempt at every target, one line each.
    Once { fail_fast: bool },
    /// `--serve`: keep checking and serve the state.
    Serve {
        addr: SocketAddr,
        /// Between checks once a target has been ready.
        interval: Duration,
    },
    /// `--print-config`: describe the mode and targets, connect to nothing.
    PrintConfig(Box<Mode>),
}

/// How to wait.
#[derive(Debug)]
pub(crate) struct Wait {
    /// `None` waits forever.
    pub(crate) timeout: Option<Duration>,
    pub(crate) progress_every: Duration,
    pub(crate) fail_fast: bool,
    /// `--termination-log`; `None` means `/dev/termination-log` if writable.
    pub(crate) termination_log: Option<PathBuf>,
    /// Exec'd once ready; empty to exit 0.
    pub(crate) command: Vec<OsString>,
    /// `--run-anyway`: exec the command after the deadline too.
    pub(crate) run_anyway: bool,
}

impl Mode {
    /// Reads the mode's flags. `names` are the targets as shown, which a
    /// sidecar's metrics cannot hold twice.
    pub(super) fn read(
        m: &Merge,
        command: Vec<OsString>,
        schedule: Schedule,
        names: &[String],
    ) -> Result<Mode, ConfigError> {
        let timeout = m.duration(&TIMEOUT, Duration::from_secs(300), Duration::ZERO, None)?;
        // A floor, or a typo like 1ns writes thousands of lines a second.
        let progress_every = m.duration(
            &PROGRESS_EVERY,
            Duration::from_secs(10),
            Duration::from_millis(100),
            None,
        )?;
        let fail_fast = m.switch(&FAIL_FAST)?;
        let run_anyway = m.switch(&RUN_ANYWAY)?;
        if run_anyway && command.is_empty() {
            return err(m.switch_origin(&RUN_ANYWAY), "runs the command after -- when the deadline passes; give one (readygate ... --run-anyway -- node worker.js)");
        }
        if run_anyway && timeout.is_zero() && !fail_fast {
            return err(m.switch_origin(&RUN_ANYWAY), "never applies with --timeout 0 (wait for ever) and no --fail-fast: give a deadline");
        }
        let once = m.switch(&ONCE)?;
        let print = m.switch(&PRINT_CONFIG)?;
        let termination_log = m.value(&TERMINATION_LOG)?.map(|g| PathBuf::from(g.value));
        let mode = if let Some(given) = m.value(&SERVE)? {
            let addr = given.value.trim().parse::<SocketAddr>().or_else(|_| {
                err(given.origin, format_args!("{:?} is not an address to listen on; write e.g. 0.0.0.0:9477 or 127.0.0.1:0", shorten(&given.value)))
            })?;
            serve_alone(m, given.origin, &command, once, fail_fast, names)?;
            let interval = match schedule {
                Schedule::Fixed(d) => d,
                Schedule::Adaptive => SERVE_INTERVAL,
            };
            Mode::Serve { addr, interval }
        } else if once {
            if !command.is_empty() {
                return Err(ConfigError(
                    "--once checks and exits; it cannot be combined with -- COMMAND".into(),
                ));
            }
            Mode::Once { fail_fast }
        } else {
            Mode::Wait(Wait {
                timeout: (!timeout.is_zero()).then_some(timeout),
                progress_every,
                fail_fast,
                termination_log,
                command,
                run_anyway,
            })
        };
        Ok(match print {
            true => Mode::PrintConfig(Box::new(mode)),
            false => mode,
        })
    }

    /// The mode that runs (or would run, for `--print-config`).
    pub(crate) fn running(&self) -> &Mode {
        match self {
            Mode::PrintConfig(mode) => mode,
            mode => mode,
        }
    }
}

/// A sidecar keeps running and serving its state: it cannot exec, stop at a
/// deadline or exit on a failure, and each target is one metric series.
fn serve_alone(
    m: &Merge,
    origin: &str,
    command: &[OsString],
    once: bool,
    fail_fast: bool,
    names: &[String],
) -> Result<(), ConfigError> {
    if !command.is_empty() {
        return err(origin, "keeps running beside the app and cannot exec a command: run the app in its own container, or drop --serve to wait and exec");
    }
    if once {
        return err(
            origin,
            format_args!(
                "keeps checking; it cannot be combined with {}",
                m.switch_origin(&ONCE)
            ),
        );
    }
    if m.given(&TIMEOUT) {
        return err(
            origin,
            "keeps checking for as long as it runs; drop --timeout (READYGATE_TIMEOUT)",
        );
    }
    for (given, name) in [
        (fail_fast, m.switch_origin(&FAIL_FAST)),
        (m.given(&PROGRESS_EVERY), "--progress-every"),
        (m.given(&TERMINATION_LOG), "--termination-log"),
    ] {
        if given {
            return err(
                origin,
                format_args!(
                    "keeps serving its state instead of exiting; {name} does not apply to it"
                ),
            );
        }
    }
    if let Some(dup) = names
        .iter()
        .enumerate()
        .find_map(|(i, n)| names[..i].contains(n).then_some(n))
    {
        return err(
            origin,
            format_args!("would show {dup} twice; give each target once"),
        );
    }
    Ok(())
}

//! The run sequence: argv → options → configuration (every target planned)
//! → the mode → the report, an exit code or an exec. Only this file and
//! `main` see the whole; each step below it knows only its own part.

use std::ffi::OsString;
use std::io::Write;

use anyhow::Context;

use crate::attempt::check_once;
use crate::config::{self, Config, Mode, Wait};
use crate::exit;
use crate::options::{self, Env};
use crate::report;
use crate::secret::Redactor;
use crate::sidecar;
use crate::wait::{self, Outcome, Signal};

/// What `main` should do when readygate is done.
#[derive(Debug, PartialEq, Eq)]
pub enum Finish {
    Exit(u8),
    /// Replace the process with this command.
    Exec(Vec<OsString>),
}

fn usage_error(message: &str) -> Finish {
    report::outside_line(
        "ERROR",
        &format!("readygate: error: {}", crate::text::one_line(message)),
    );
    Finish::Exit(exit::USAGE)
}

/// Whether `--log-format json` (or its twin) is asked for, read before the
/// arguments are validated, so that even their errors come out as JSON.
fn wants_json(args: &[OsString], env: &Env) -> bool {
    let mut words = args.iter().skip(1).map(|a| a.to_str().unwrap_or_default());
    let mut no_env = false;
    let mut from_args = None;
    while let Some(word) = words.next() {
        match word {
            "--" => break,
            "--no-env" => no_env = true,
            "--log-format" => from_args = words.next().map(|v| v == "json"),
            w if w.starts_with("--log-format=") => from_args = Some(w == "--log-format=json"),
            _ => {}
        }
    }
    from_args
        .unwrap_or_else(|| !no_env && env.get("READYGATE_LOG_FORMAT").is_some_and(|v| v == "json"))
}

/// Exit 0, or run the command when there is one.
fn ready(command: Vec<OsString>) -> Finish {
    match command.is_empty() {
        true => Finish::Exit(exit::READY),
        false => Finish::Exec(command),
    }
}

/// Names the first argument before `--` that is not UTF-8: the flag it
/// belongs to when there is one. The command after `--` may hold any bytes.
fn not_utf8(args: &[OsString], takes_value: impl Fn(&str) -> bool) -> Option<String> {
    let mut previous: Option<&str> = None;
    for (i, arg) in args.iter().enumerate().skip(1) {
        match arg.to_str() {
            Some("--") => return None,
            Some(text) => previous = Some(text),
            None => {
                let lossy = arg.to_string_lossy();
                return Some(match (lossy.split_once('='), previous) {
                    (Some((flag, _)), _) if flag.starts_with("--") => {
                        format!("the value of {flag}")
                    }
                    (_, Some(flag)) if takes_value(flag) => {
                        format!("the value of {flag}")
                    }
                    _ => format!("argument #{i}"),
                });
            }
        }
    }
    None
}

/// Parses the command line; help and version are a finish of their own.
fn parse_args(args: Vec<OsString>) -> Result<clap::ArgMatches, Finish> {
    let all = config::options();
    let takes_value = |flag: &str| {
        all.iter()
            .any(|o| o.flag == Some(flag) && !matches!(o.takes, options::Takes::Switch))
    };
    if let Some(culprit) = not_utf8(&args, takes_value) {
        return Err(usage_error(&format!("{culprit} is not valid UTF-8")));
    }
    options::command(all)
        .try_get_matches_from(args)
        .map_err(|e| match options::clap_failure(&e, "readygate --help") {
            None => Finish::Exit(exit::READY),
            Some(line) => usage_error(&line),
        })
}

/// Runs readygate with these arguments and environment.
pub fn run(args: impl IntoIterator<Item = OsString>, mut env: Env) -> Finish {
    let args: Vec<OsString> = args.into_iter().collect();
    crate::attempt::catch_panics_in_checks();
    // `readygate lint ...` checks manifests; it shares no option with the gate.
    if args.get(1).is_some_and(|a| a == "lint") {
        report::json_lines(false);
        return Finish::Exit(crate::lint::run(args[2..].to_vec()));
    }
    report::json_lines(wants_json(&args, &env));
    let matches = match parse_args(args) {
        Ok(matches) => matches,
        Err(finish) => return finish,
    };
    if matches.get_flag(options::NO_ENV) {
        env.retain(|name, _| !name.starts_with("READYGATE_"));
    }
    let disabled = match config::disabled(&env) {
        Err(e) => return usage_error(&e.0),
        // A sidecar that exits is restarted: it serves "ready" instead (below).
        Ok(true) if !config::serving(&matches, &env) => {
            report::outside_line(
                "INFO",
                "readygate: READYGATE_DISABLED is true: not waiting for anything",
            );
            let command = matches
                .get_many::<OsString>(options::COMMAND)
                .map(|c| c.cloned().collect())
                .unwrap_or_default();
            return ready(command);
        }
        Ok(disabled) => disabled,
    };
    let mut config = match Config::new(&matches, &env) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.0),
    };
    let redactor = config.redactor.clone();
    let skip = match disabled {
        true => Some("READYGATE_DISABLED is true".to_string()),
        false => config.conditions.skip_reason(&env),
    };
    if let Mode::PrintConfig(_) = config.mode {
        let verdict = skip
            .as_deref()
            .map_or_else(|| "wait".to_string(), |why| format!("do not wait: {why}"));
        let text = format!("{}here: {verdict}", redactor.clean(&config.describe()));
        let _ = writeln!(std::io::stdout(), "{text}");
        return Finish::Exit(exit::READY);
    }
    report::init_logging(&config.logging, redactor.clone());
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(why) = &skip {
        tracing::info!("not waiting here: {why}");
        match config.mode {
            // A sidecar that exits is restarted: serve "ready" with nothing to check.
            Mode::Serve { .. } => config.plan.clear(),
            Mode::Wait(wait) => return ready(wait.command),
            _ => return Finish::Exit(exit::READY),
        }
    }
    if config.insecure {
        tracing::warn!("--insecure: TLS certificates are NOT verified; anyone on the path can pose as the server");
    }
    match in_runtime(config, redactor) {
        Ok(finish) => finish,
        Err(e) => {
            tracing::error!("{e:#}");
            Finish::Exit(exit::USAGE)
        }
    }
}

/// Runs the mode on a single-threaded runtime.
fn in_runtime(config: Config, redactor: Redactor) -> anyhow::Result<Finish> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let finish = runtime.block_on(run_mode(config, redactor));
    // Stop DNS lookups still running on blocking threads before exec or exit.
    runtime.shutdown_background();
    finish
}

async fn run_mode(config: Config, redactor: Redactor) -> anyhow::Result<Finish> {
    let targets: Vec<_> = config
        .plan
        .into_iter()
        .map(config::Planned::watched)
        .collect();
    match config.mode {
        Mode::Serve { addr, interval } => {
            let targets = targets
                .into_iter()
                .map(|mut w| {
                    w.check = w.check.for_monitoring();
                    w
                })
                .collect();
            let opts = sidecar::Options {
                attempt_timeout: config.attempt_timeout,
                schedule: config.schedule,
                interval,
            };
            let signal = sidecar::run(addr, targets, opts, redactor, stop_signal())
                .await
                .with_context(|| format!("cannot listen on {addr} (is the port in use, or is the address not this host's?)"))?;
            Ok(Finish::Exit(match signal {
                Signal::Term => exit::READY,
                Signal::Int => exit::SIGINT,
            }))
        }
        Mode::Once { fail_fast } => Ok(once(targets, config.attempt_timeout, fail_fast).await),
        Mode::Wait(wait) => {
            let opts = wait::Options {
                timeout: wait.timeout,
                attempt_timeout: config.attempt_timeout,
                schedule: config.schedule,
                progress_every: wait.progress_every,
                fail_fast: wait.fail_fast,
            };
            let total = targets.len();
            let outcome = wait::wait_all(targets, &opts, stop_signal()).await;
            Ok(finish_wait(outcome, wait, total, &redactor))
        }
        Mode::PrintConfig(_) => Ok(Finish::Exit(exit::READY)),
    }
}

/// `--once`: one line per target; the worst result decides the code.
async fn once(
    targets: Vec<crate::attempt::Watched<crate::probe::Probe>>,
    attempt_timeout: std::time::Duration,
    fail_fast: bool,
) -> Finish {
    let results = tokio::select! {
        results = check_once(targets, attempt_timeout) => results,
        signal = stop_signal() => {
            tracing::warn!("stopped by a signal before every check finished");
            return Finish::Exit(exit::for_signal(signal));
        }
    };
    let mut code = exit::READY;
    for (name, result) in results {
        match result {
            // With --log-format json, one object per target: ready, and
            // when not, class, reason, hint and whether it is permanent.
            Ok(()) => tracing::info!(target_url = %name, ready = true, "ready: {name}"),
            Err(e) => {
                code = if fail_fast && e.class.is_permanent() {
                    exit::PERMANENT
                } else {
                    code.max(exit::NOT_READY)
                };
                tracing::error!(
                    target_url = %name,
                    ready = false,
                    class = e.class.as_str(),
                    reason = e.reason.as_str(),
                    hint = e.hint.as_deref().unwrap_or(""),
                    permanent = e.class.is_permanent(),
                    "not ready: {name}: {e}"
                );
            }
        }
    }
    Finish::Exit(code)
}

/// Reports how a wait ended, then exits or execs.
fn finish_wait(outcome: Outcome, wait: Wait, total: usize, redactor: &Redactor) -> Finish {
    if !matches!(outcome, Outcome::Ready { .. }) || wait.command.is_empty() {
        let lines = report::summary(&outcome, total);
        // With --run-anyway the app runs on: its own termination log, not
        // a "gave up" the app outlived, is what Kubernetes should show.
        if !lines.is_empty() && !wait.run_anyway {
            report::write_termination_log(
                wait.termination_log.as_deref(),
                &redactor.clean(&lines.join("\n")),
            );
        }
    }
    match outcome {
        Outcome::Ready { elapsed } if !wait.command.is_empty() => {
            tracing::info!(
                elapsed_ms = elapsed.as_millis() as u64,
                "{} ready after {}; running {}",
                crate::text::all_targets(total),
                crate::duration::show(elapsed),
                wait.command[0].to_string_lossy()
            );
            Finish::Exec(wait.command)
        }
        // The gate must never keep the app from starting for good: the
        // summary above said what is not ready; the app runs regardless.
        Outcome::TimedOut { .. } | Outcome::Permanent { .. } if wait.run_anyway => {
            // Printed even with -q: the hand-over must never go unsaid.
            report::outside_line(
                "WARN",
                &format!(
                    "readygate: NOT READY: running {} anyway (--run-anyway); its exit code is returned",
                    wait.command[0].to_string_lossy()
                ),
            );
            Finish::Exec(wait.command)
        }
        other => Finish::Exit(exit::for_outcome(&other)),
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called (inside the runtime), not when the future is first polled, so a
/// signal that arrives while the sidecar binds is not fatal.
fn stop_signal() -> impl std::future::Future<Output = Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => Signal::Term,
                _ = int.recv() => Signal::Int,
            },
            _ => std::future::pending().await,
        }
    }
}

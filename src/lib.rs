//! readygate: wait until dependencies are really ready, then exit or exec.
//!
//! `main` only calls [`run`] and acts on its [`Finish`]. Here the raw
//! arguments become a validated [`config::Config`], logging is set up with
//! secret redaction, and the wait loop runs; the outcome maps to an exit code
//! in [`exit_code`], the one place that does so.

pub mod cli;
pub mod config;
pub mod duration;
pub mod preset;
pub mod probe;
pub mod report;
pub mod schedule;
pub mod secret;
pub mod sidecar;
pub mod target;
pub mod wait;

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use crate::config::{Config, Env};
use crate::secret::Redactor;
use crate::wait::{Outcome, Signal};

/// Exit codes; the README repeats this table.
pub mod code {
    pub const READY: u8 = 0;
    pub const NOT_READY: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const PERMANENT: u8 = 3;
    pub const NOT_EXECUTABLE: u8 = 126;
    pub const NOT_FOUND: u8 = 127;
    pub const SIGINT: u8 = 130;
    pub const SIGTERM: u8 = 143;
}

/// What `main` should do when readygate is done.
#[derive(Debug, PartialEq, Eq)]
pub enum Finish {
    Exit(u8),
    /// Replace the process with this command.
    Exec(Vec<OsString>),
}

/// The exit code for a finished wait; `Ready` means exec when there is a command.
pub fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Ready { .. } => code::READY,
        Outcome::TimedOut { .. } => code::NOT_READY,
        Outcome::Permanent { .. } => code::PERMANENT,
        Outcome::Stopped { signal, .. } => signal_code(*signal),
    }
}

/// The exit code of a wait stopped by a signal: 128 + its number.
fn signal_code(signal: Signal) -> u8 {
    match signal {
        Signal::Term => code::SIGTERM,
        Signal::Int => code::SIGINT,
    }
}

fn usage_error(message: &str) -> Finish {
    report::stderr_line(&format!("readygate: error: {}", probe::one_line(message)));
    Finish::Exit(code::USAGE)
}

/// Names the first argument before `--` that is not UTF-8: the flag it
/// belongs to when there is one. The command after `--` may hold any bytes.
fn not_utf8(args: &[OsString]) -> Option<String> {
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
                    (_, Some(flag)) if flag.starts_with('-') && !flag.contains('=') => {
                        format!("the value of {flag}")
                    }
                    _ => format!("argument #{i}"),
                });
            }
        }
    }
    None
}

/// Runs readygate with these arguments and environment.
pub fn run(args: impl IntoIterator<Item = OsString>, env: Env) -> Finish {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(culprit) = not_utf8(&args) {
        return usage_error(&format!("{culprit} is not valid UTF-8"));
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Finish::Exit(code::READY);
            }
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            return usage_error(&format!("{first}; see readygate --help"));
        }
    };
    let serving = cli.serve.is_some() || env.contains_key("READYGATE_SERVE");
    let disabled = match config::disabled(&env) {
        Err(e) => return usage_error(&e.0),
        // A sidecar that exits is restarted: it serves "ready" instead (below).
        Ok(true) if !serving => {
            report::stderr_line("readygate: READYGATE_DISABLED is true: not waiting for anything");
            return if cli.command.is_empty() {
                Finish::Exit(code::READY)
            } else {
                Finish::Exec(cli.command)
            };
        }
        Ok(disabled) => disabled,
    };
    let mut config = match Config::new(cli, &env) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.0),
    };
    let redactor = Redactor::new(config.secrets.clone());
    let skip = if disabled {
        Some("READYGATE_DISABLED is true".to_string())
    } else {
        config.conditions.skip_reason(&env)
    };
    if config.print_config {
        let verdict = skip
            .as_deref()
            .map_or_else(|| "wait".to_string(), |why| format!("do not wait: {why}"));
        let text = format!("{}here: {verdict}", redactor.clean(&config.describe()));
        let _ = writeln!(std::io::stdout(), "{text}");
        return Finish::Exit(code::READY);
    }
    report::init_logging(
        config.log_format,
        config.log_filter.as_deref(),
        config.quiet,
        redactor.clone(),
    );
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(why) = &skip {
        tracing::info!("not waiting here: {why}");
        if config.serve.is_none() {
            return if config.command.is_empty() {
                Finish::Exit(code::READY)
            } else {
                Finish::Exec(config.command)
            };
        }
        // A sidecar that exits is restarted: serve "ready" with nothing to check.
        config.drop_targets();
    }
    if config.insecure {
        tracing::warn!("--insecure: TLS certificates are NOT verified; anyone on the path can pose as the server");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return Finish::Exit(code::USAGE);
        }
    };
    let finish = runtime.block_on(wait_or_check(config, redactor));
    // Stop DNS lookups still running on blocking threads before exec or exit.
    runtime.shutdown_background();
    finish
}

use crate::cli::Cli;

async fn wait_or_check(mut config: Config, redactor: Redactor) -> Finish {
    let total = config.targets.len();
    if let Some(addr) = config.serve {
        let opts = sidecar::Options {
            attempt_timeout: config.wait.attempt_timeout,
            schedule: config.wait.schedule,
            interval: config.serve_interval,
        };
        return match sidecar::run(addr, config.monitors(), opts, redactor, stop_signal()).await {
            Ok(Signal::Term) => Finish::Exit(code::READY),
            Ok(Signal::Int) => Finish::Exit(code::SIGINT),
            Err(e) => {
                tracing::error!("cannot listen on {addr}: {e}; is the port in use, or is the address not this host's?");
                Finish::Exit(code::USAGE)
            }
        };
    }
    if config.once {
        let results = tokio::select! {
            results = wait::check_once(config.probes(), config.wait.attempt_timeout) => results,
            signal = stop_signal() => {
                tracing::warn!("stopped by a signal before every check finished");
                return Finish::Exit(signal_code(signal));
            }
        };
        let mut code = code::READY;
        for (name, result) in results {
            match result {
                Ok(()) => tracing::info!(target_url = %name, "ready: {name}"),
                Err(e) => {
                    code = if config.wait.fail_fast && e.class.is_permanent() {
                        code::PERMANENT
                    } else {
                        code.max(code::NOT_READY)
                    };
                    tracing::error!(target_url = %name, class = e.class.as_str(), "not ready: {name}: {e}");
                }
            }
        }
        return Finish::Exit(code);
    }
    let outcome = wait::wait_all(config.probes(), &config.wait, stop_signal()).await;
    if !matches!(outcome, Outcome::Ready { .. }) || config.command.is_empty() {
        let lines = report::summary(&outcome, total);
        if !lines.is_empty() {
            report::write_termination_log(
                config.termination_log.as_deref(),
                &redactor.clean(&lines.join("\n")),
            );
        }
    }
    match outcome {
        Outcome::Ready { elapsed } if !config.command.is_empty() => {
            tracing::info!(
                elapsed_ms = elapsed.as_millis() as u64,
                "all {total} targets ready after {}; running {}",
                duration::show(elapsed),
                config.command[0].to_string_lossy()
            );
            Finish::Exec(config.command)
        }
        other => Finish::Exit(exit_code(&other)),
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

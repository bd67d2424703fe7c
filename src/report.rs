//! What readygate tells people: logging set-up (text or JSON lines on stderr,
//! every byte through the secret redactor) and the final summary.

use std::io::IsTerminal;

use tracing_subscriber::fmt::format::debug_fn;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::duration::show;
use crate::probe::NotReady;
use crate::secret::{RedactingWriter, Redactor};
use crate::wait::{Outcome, Signal, Unready};

/// Installs the global logger. Text lines carry only the message (which
/// names the target and says why); JSON lines add the structured fields.
pub fn init_logging(format: LogFormat, filter: Option<&str>, quiet: bool, redactor: Redactor) {
    let default = if quiet {
        "error"
    } else {
        "warn,readygate=info"
    };
    let filter =
        EnvFilter::try_new(filter.unwrap_or(default)).unwrap_or_else(|_| EnvFilter::new(default));
    let writer = move || RedactingWriter::new(std::io::stderr(), redactor.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(debug_fn(|w, field, value| {
                if field.name() == "message" {
                    write!(w, "{value:?}")
                } else {
                    Ok(())
                }
            }))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

fn why(last: &Option<NotReady>) -> String {
    last.as_ref().map_or_else(
        || "no attempt finished yet".to_string(),
        ToString::to_string,
    )
}

fn class(last: &Option<NotReady>) -> &'static str {
    last.as_ref().map_or("pending", |e| e.class.as_str())
}

/// Logs the end of a wait that did not succeed: one line for the verdict,
/// then one line per unready target with its last error and hint.
pub fn summary(outcome: &Outcome, total: usize) {
    match outcome {
        Outcome::Ready { elapsed } => {
            tracing::info!(
                elapsed_ms = elapsed.as_millis() as u64,
                "all {total} targets ready after {}",
                show(*elapsed)
            );
        }
        Outcome::TimedOut { elapsed, unready } => {
            tracing::error!(
                elapsed_ms = elapsed.as_millis() as u64,
                unready = unready.len(),
                "gave up after {}: {} of {total} targets not ready",
                show(*elapsed),
                unready.len()
            );
            each(
                unready,
                |u| tracing::error!(target_url = %u.name, class = class(&u.last), "not ready: {}: {}", u.name, why(&u.last)),
            );
        }
        Outcome::Stopped {
            signal,
            elapsed,
            unready,
        } => {
            let name = match signal {
                Signal::Term => "SIGTERM",
                Signal::Int => "SIGINT",
            };
            tracing::warn!(
                elapsed_ms = elapsed.as_millis() as u64,
                unready = unready.len(),
                "stopped by {name} after {}: {} of {total} targets not ready",
                show(*elapsed),
                unready.len()
            );
            each(
                unready,
                |u| tracing::warn!(target_url = %u.name, class = class(&u.last), "not ready: {}: {}", u.name, why(&u.last)),
            );
        }
        Outcome::Permanent { elapsed, failed } => {
            tracing::error!(target_url = %failed.name, class = class(&failed.last), elapsed_ms = elapsed.as_millis() as u64, "giving up (--fail-fast): {}: {}", failed.name, why(&failed.last));
        }
    }
}

fn each(unready: &[Unready], log: impl Fn(&Unready)) {
    unready.iter().for_each(log);
}

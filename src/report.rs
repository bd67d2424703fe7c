//! What readygate tells people: logging set-up (text or JSON lines on stderr,
//! every byte through the secret redactor) and the final summary.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use tracing_subscriber::fmt::format::debug_fn;
use tracing_subscriber::EnvFilter;

use crate::duration::show;
use crate::not_ready::NotReady;
use crate::secret::{RedactingWriter, Redactor};
use crate::wait::{Outcome, Signal};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// How to log: the format, a `READYGATE_LOG` filter, and `--quiet`.
#[derive(Clone, Debug)]
pub(crate) struct Logging {
    pub(crate) format: LogFormat,
    /// A tracing filter such as `debug` or `readygate=debug`.
    pub(crate) filter: Option<String>,
    pub(crate) quiet: bool,
    /// `NO_COLOR` (no-color.org) is set to something: no ANSI colours even
    /// on a terminal.
    pub(crate) no_color: bool,
}

/// Whether `--log-format json` was asked: then the lines readygate prints
/// outside the log (configuration errors, the disabled notice, a command
/// that cannot run) are JSON log lines too.
static JSON_LINES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets whether lines outside the log are JSON.
pub(crate) fn json_lines(on: bool) {
    JSON_LINES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A line outside the log: `readygate: ...` as plain text, or a JSON log
/// line with `level` and the text after `readygate: ` as its message.
pub fn outside_line(level: &str, text: &str) {
    if !JSON_LINES.load(std::sync::atomic::Ordering::Relaxed) {
        return stderr_line(text);
    }
    // In the log's own field order.
    let quoted = |v: &str| serde_json::Value::from(v).to_string();
    let timestamp = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
    stderr_line(&format!(
        "{{\"timestamp\":{},\"level\":{},\"message\":{}}}",
        quoted(&timestamp),
        quoted(level),
        quoted(text.strip_prefix("readygate: ").unwrap_or(text))
    ));
}

/// Writes a line to stderr; a closed stderr is not an error worth dying for
/// (`eprintln!` would panic).
pub fn stderr_line(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Installs the global logger. Text lines carry only the message (which
/// names the target and says why); JSON lines add the structured fields.
pub(crate) fn init_logging(logging: &Logging, redactor: Redactor) {
    // Only readygate's own lines: a library's (sqlx logs every notice a
    // server sends, and a hostile one sends 100 MB/s) say nothing the
    // reason does not, name no target, and are not bounded. READYGATE_LOG
    // can ask for them.
    let default = if logging.quiet {
        "off,readygate=error"
    } else {
        "off,readygate=info"
    };
    let filter = EnvFilter::try_new(logging.filter.as_deref().unwrap_or(default))
        .unwrap_or_else(|_| EnvFilter::new(default));
    let writer = move || RedactingWriter::new(std::io::stderr(), redactor.clone());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .log_internal_errors(false)
        .with_target(false);
    let _ = match logging.format {
        LogFormat::Text => builder
            .with_ansi(!logging.no_color && std::io::stderr().is_terminal())
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

fn why(last: Option<&NotReady>) -> String {
    last.map_or_else(
        || "no attempt finished yet".to_string(),
        ToString::to_string,
    )
}

/// Logs how a wait ended: for a failure, one line for the verdict, then one
/// line per unready target with its last error and hint. Returns the lines,
/// for the termination log.
pub(crate) fn summary(outcome: &Outcome, total: usize) -> Vec<String> {
    let (head, unready, error) = match outcome {
        Outcome::Ready { elapsed } => {
            tracing::info!(
                elapsed_ms = elapsed.as_millis() as u64,
                "{} ready after {}",
                crate::text::all_targets(total),
                show(*elapsed)
            );
            return Vec::new();
        }
        Outcome::TimedOut { elapsed, unready } => {
            let head = format!(
                "gave up after {}: {} of {total} targets not ready",
                show(*elapsed),
                unready.len()
            );
            (head, unready.as_slice(), true)
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
            let head = format!(
                "stopped by {name} after {}: {} of {total} targets not ready",
                show(*elapsed),
                unready.len()
            );
            // Being stopped is not the gate's failure: warn, not error.
            (head, unready.as_slice(), false)
        }
        Outcome::Permanent { failed, .. } => {
            let head = format!("giving up (--fail-fast) on {}", failed.name);
            (head, std::slice::from_ref(failed), true)
        }
    };
    let mut lines = vec![head];
    lines.extend(
        unready
            .iter()
            .map(|u| format!("not ready: {}: {}", u.name, why(u.last.as_ref()))),
    );
    for (i, line) in lines.iter().enumerate() {
        // Line 0 is the verdict; the others are the targets, in order.
        let u = i.checked_sub(1).map(|i| &unready[i]);
        let name = u.map_or("", |u| u.name.as_str());
        let last = u.and_then(|u| u.last.as_ref());
        let (class, reason, hint) = if u.is_some() {
            (
                NotReady::class_of(last),
                NotReady::reason_of(last),
                NotReady::hint_of(last),
            )
        } else {
            ("", "", "")
        };
        if error {
            tracing::error!(target_url = name, class, reason, hint, "{line}");
        } else {
            tracing::warn!(target_url = name, class, reason, hint, "{line}");
        }
    }
    lines
}

/// Kubernetes shows a container's termination message in `kubectl describe
/// pod`; it keeps at most 4 KiB of it.
const TERMINATION_LOG: &str = "/dev/termination-log";
const TERMINATION_LOG_MAX: usize = 4096;

/// Writes the summary to `path` (given with `--termination-log`), or to
/// `/dev/termination-log` when that exists and is writable; already redacted.
pub(crate) fn write_termination_log(path: Option<&Path>, text: &str) {
    let mut end = text.len().min(TERMINATION_LOG_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    // A FIFO would block the exit until someone reads it, a device could
    // be anything: only a regular file (or a new one) is written.
    let writable = |p: &Path| std::fs::metadata(p).map_or(true, |m| m.is_file());
    if let Some(p) = path.filter(|p| !writable(p)) {
        tracing::warn!(
            "not writing the termination log {}: not a regular file",
            p.display()
        );
        return;
    }
    if path.is_none() && !writable(Path::new(TERMINATION_LOG)) {
        return;
    }
    let result = match path {
        Some(path) => std::fs::write(path, text).map_err(|e| (path.to_path_buf(), e)),
        None => match std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(TERMINATION_LOG)
        {
            Ok(mut file) => file
                .write_all(text.as_bytes())
                .map_err(|e| (PathBuf::from(TERMINATION_LOG), e)),
            Err(_) => Ok(()),
        },
    };
    if let Err((path, e)) = result {
        tracing::warn!("cannot write the termination log {}: {e}", path.display());
    }
}

//! `--print-config`: the resolved configuration in words, what each target
//! must satisfy and how the mode behaves. The caller redacts it.

use std::fmt::Write as _;

use super::{Config, Mode};
use crate::duration::show;
use crate::schedule::Schedule;
use crate::secret::redact_words;

impl Config {
    /// The resolved configuration; secrets are redacted by the caller.
    pub(crate) fn describe(&self) -> String {
        let mut out = String::from("targets:\n");
        for p in &self.plan {
            let from = p
                .preset
                .map_or_else(String::new, |name| format!(" [preset {name}]"));
            let _ = writeln!(
                out,
                "  {}{from}\n    ready when: {}",
                p.target, p.description
            );
        }
        let interval = match self.schedule {
            Schedule::Adaptive => "adaptive (80ms for 2s, slowing to 900ms by 10s; 80ms throughout while nothing listens, or for files and sockets)".to_string(),
            Schedule::Fixed(d) => show(d),
        };
        match self.mode.running() {
            Mode::Wait(wait) => {
                let timeout = wait.timeout.map_or("0 (wait forever)".to_string(), show);
                let _ = writeln!(out, "timeout: {timeout}");
                let _ = writeln!(out, "attempt-timeout: {}", show(self.attempt_timeout));
                let _ = writeln!(out, "interval: {interval}");
                let _ = writeln!(out, "progress-every: {}", show(wait.progress_every));
                let _ = writeln!(out, "fail-fast: {}", wait.fail_fast);
                if wait.run_anyway {
                    let _ = writeln!(out, "run-anyway: the command runs after the deadline too");
                }
            }
            Mode::Once { fail_fast } => {
                let _ = writeln!(out, "mode: once (one check of each target, then exit)");
                let _ = writeln!(out, "attempt-timeout: {}", show(self.attempt_timeout));
                let _ = writeln!(out, "fail-fast: {fail_fast}");
            }
            Mode::Serve {
                addr,
                interval: steady,
            } => {
                let _ = writeln!(out, "mode: serve on {addr}");
                let _ = writeln!(out, "attempt-timeout: {}", show(self.attempt_timeout));
                let _ = writeln!(out, "interval until ready: {interval}");
                let _ = writeln!(out, "interval once ready: {}", show(*steady));
            }
            Mode::PrintConfig(_) => {}
        }
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        for c in &self.conditions.only_if {
            let _ = writeln!(out, "only if: {c}");
        }
        for c in &self.conditions.skip_if {
            let _ = writeln!(out, "skip if: {c}");
        }
        if let Mode::Wait(wait) = self.mode.running() {
            if !wait.command.is_empty() {
                let words: Vec<String> = wait
                    .command
                    .iter()
                    .map(|w| w.to_string_lossy().into_owned())
                    .collect();
                let words = redact_words(words.iter().map(String::as_str));
                let _ = writeln!(out, "then run: {}", words.join(" "));
            }
        }
        out
    }
}

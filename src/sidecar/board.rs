//! What the sidecar knows: every target's latest state, when it last
//! changed, check durations and failures by class. Rendered as `/readyz`
//! (text or JSON), `/startupz`, `/livez` and Prometheus `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use crate::not_ready::{Class, NotReady};

/// Upper bounds of the check-duration histogram, in seconds.
const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// One target's state.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    /// Watches the app beside the sidecar: left out of start-up.
    after_start: bool,
    /// Passed its latest check.
    pub(crate) ready: bool,
    /// At least one check finished.
    pub(crate) checked: bool,
    pub(crate) last: Option<NotReady>,
    /// When `ready` last changed (or the first check finished).
    pub(crate) since: SystemTime,
    /// When the last check finished; `/livez` watches it.
    pub(crate) beat: Instant,
    bucket_counts: Vec<u64>,
    duration_sum: f64,
    checks: u64,
    failures: BTreeMap<&'static str, u64>,
}

/// All targets, plus the latched start-up state.
pub(crate) struct Board {
    pub(crate) entries: Vec<Entry>,
    /// Every target was ready at once, at least once (but those that watch
    /// the app beside the sidecar, which starts after it).
    pub(crate) started: bool,
}

/// A state change worth a log line.
pub(crate) enum Change {
    Ready,
    Lost,
}

impl Board {
    /// `targets`: name, kind, and whether it is checked only after start-up.
    pub(crate) fn new(targets: Vec<(String, &'static str, bool)>) -> Board {
        let now = (SystemTime::now(), Instant::now());
        let entries: Vec<Entry> = targets
            .into_iter()
            .map(|(name, kind, after_start)| Entry {
                name,
                kind,
                after_start,
                ready: false,
                checked: false,
                last: None,
                since: now.0,
                beat: now.1,
                bucket_counts: vec![0; BUCKETS.len()],
                duration_sum: 0.0,
                checks: 0,
                failures: BTreeMap::new(),
            })
            .collect();
        // Nothing to wait for (the conditions said "not here"): started.
        let started = entries.iter().all(|e| e.after_start);
        Board { entries, started }
    }

    /// Records a finished check; says whether readiness changed.
    pub(crate) fn record(
        &mut self,
        i: usize,
        result: Result<(), NotReady>,
        took: Duration,
    ) -> Option<Change> {
        let e = &mut self.entries[i];
        let secs = took.as_secs_f64();
        for (count, bound) in e.bucket_counts.iter_mut().zip(BUCKETS) {
            if secs <= *bound {
                *count += 1;
            }
        }
        e.duration_sum += secs;
        e.checks += 1;
        e.beat = Instant::now();
        let was = (e.checked, e.ready);
        e.checked = true;
        match result {
            Ok(()) => {
                e.ready = true;
                e.last = None;
            }
            Err(err) => {
                *e.failures.entry(err.class.as_str()).or_default() += 1;
                e.ready = false;
                e.last = Some(err);
            }
        }
        let change = match (was, e.ready) {
            ((_, false), true) => Some(Change::Ready),
            ((true, true), false) => Some(Change::Lost),
            _ => None,
        };
        if change.is_some() || !was.0 {
            e.since = SystemTime::now();
        }
        if self.entries.iter().all(|e| e.ready || e.after_start) {
            self.started = true;
        }
        change
    }

    pub(crate) fn all_ready(&self) -> bool {
        self.entries.iter().all(|e| e.ready)
    }

    /// The probing loop is alive: every target finished a check lately.
    pub(crate) fn alive(&self, within: Duration) -> bool {
        self.entries.iter().all(|e| e.beat.elapsed() <= within)
    }

    /// `/readyz` as text: a verdict line, then a line per target.
    pub(crate) fn readyz_text(&self) -> String {
        let mut out = String::from(if self.all_ready() {
            "ready\n"
        } else {
            "not ready\n"
        });
        for e in &self.entries {
            let state = state(e);
            let _ = write!(
                out,
                "{} {state} since {}",
                e.name,
                humantime::format_rfc3339_seconds(e.since)
            );
            if let Some(err) = &e.last {
                let _ = write!(out, ": {err}");
            }
            out.push('\n');
        }
        out
    }

    /// `/readyz` as JSON.
    pub(crate) fn readyz_json(&self) -> String {
        let targets: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "target": e.name,
                    "kind": e.kind,
                    "state": state(e),
                    "ready": e.ready,
                    "since": humantime::format_rfc3339_seconds(e.since).to_string(),
                    "class": e.last.as_ref().map(|l| l.class.as_str()),
                    "error": e.last.as_ref().map(|l| l.reason.clone()),
                    "hint": e.last.as_ref().and_then(|l| l.hint.clone()),
                })
            })
            .collect();
        serde_json::json!({ "ready": self.all_ready(), "started": self.started, "targets": targets }).to_string()
    }

    /// Prometheus text exposition (version 0.0.4).
    pub(crate) fn metrics(&self) -> String {
        let mut out = String::new();
        let label = |e: &Entry| format!("target=\"{}\",kind=\"{}\"", escape(&e.name), e.kind);
        let _ = writeln!(
            out,
            "# HELP readygate_build_info readygate's version.\n# TYPE readygate_build_info gauge"
        );
        let _ = writeln!(
            out,
            "readygate_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(out, "# HELP readygate_ready Whether every target passed its latest check.\n# TYPE readygate_ready gauge");
        let _ = writeln!(out, "readygate_ready {}", u8::from(self.all_ready()));
        let _ = writeln!(out, "# HELP readygate_started Whether every target has been ready at once (latched).\n# TYPE readygate_started gauge");
        let _ = writeln!(out, "readygate_started {}", u8::from(self.started));
        let _ = writeln!(out, "# HELP readygate_target_ready Whether the target passed its latest check.\n# TYPE readygate_target_ready gauge");
        for e in &self.entries {
            let _ = writeln!(
                out,
                "readygate_target_ready{{{}}} {}",
                label(e),
                u8::from(e.ready)
            );
        }
        let _ = writeln!(out, "# HELP readygate_check_duration_seconds How long checks took.\n# TYPE readygate_check_duration_seconds histogram");
        for e in &self.entries {
            for (count, bound) in e.bucket_counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "readygate_check_duration_seconds_bucket{{{},le=\"{bound}\"}} {count}",
                    label(e)
                );
            }
            let _ = writeln!(
                out,
                "readygate_check_duration_seconds_bucket{{{},le=\"+Inf\"}} {}",
                label(e),
                e.checks
            );
            let _ = writeln!(
                out,
                "readygate_check_duration_seconds_sum{{{}}} {}",
                label(e),
                e.duration_sum
            );
            let _ = writeln!(
                out,
                "readygate_check_duration_seconds_count{{{}}} {}",
                label(e),
                e.checks
            );
        }
        let _ = writeln!(out, "# HELP readygate_check_failures_total Failed checks by reason class.\n# TYPE readygate_check_failures_total counter");
        // Every class from the start, so rate() and increase() see the first failure.
        for e in &self.entries {
            for class in Class::ALL {
                let n = e.failures.get(class.as_str()).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "readygate_check_failures_total{{{},reason=\"{}\"}} {n}",
                    label(e),
                    class.as_str()
                );
            }
        }
        out
    }
}

fn state(e: &Entry) -> &'static str {
    match (e.checked, e.ready) {
        (false, _) => "pending",
        (true, true) => "ready",
        (true, false) => "not-ready",
    }
}

/// Escapes a Prometheus label value.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_latches_and_readiness_follows_the_latest_check() {
        let mut b = Board::new(vec![
            ("a".into(), "tcp", false),
            ("b".into(), "http", false),
        ]);
        assert!(!b.all_ready() && !b.started);
        b.record(0, Ok(()), Duration::from_millis(3));
        assert!(matches!(
            b.record(1, Ok(()), Duration::from_millis(30)),
            Some(Change::Ready)
        ));
        assert!(b.all_ready() && b.started);
        let down = NotReady::new(Class::Refused, "connection refused");
        assert!(matches!(
            b.record(1, Err(down), Duration::from_millis(1)),
            Some(Change::Lost)
        ));
        assert!(!b.all_ready() && b.started, "startup stays latched");
        let text = b.readyz_text();
        assert!(
            text.starts_with("not ready\na ready since ") && text.contains("b not-ready since"),
            "{text}"
        );
        let m = b.metrics();
        assert!(
            m.contains("readygate_target_ready{target=\"b\",kind=\"http\"} 0"),
            "{m}"
        );
        assert!(
            m.contains(
                "readygate_check_failures_total{target=\"b\",kind=\"http\",reason=\"refused\"} 1"
            ),
            "{m}"
        );
        assert!(
            m.contains(
                "readygate_check_duration_seconds_bucket{target=\"b\",kind=\"http\",le=\"0.05\"} 2"
            ),
            "{m}"
        );
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert!(
            m.contains(
                "readygate_check_failures_total{target=\"a\",kind=\"tcp\",reason=\"auth\"} 0"
            ),
            "{m}"
        );
    }

    #[test]
    fn the_app_beside_the_sidecar_is_not_part_of_start_up() {
        let mut b = Board::new(vec![
            ("db".into(), "tcp", false),
            ("app".into(), "listen", true),
        ]);
        assert!(!b.started);
        b.record(0, Ok(()), Duration::ZERO);
        assert!(
            b.started && !b.all_ready(),
            "started without the app; not ready without it"
        );
        b.record(1, Ok(()), Duration::ZERO);
        assert!(b.all_ready());
        assert!(Board::new(vec![("app".into(), "listen", true)]).started);
    }

    #[test]
    fn nothing_to_check_is_started_and_ready() {
        let b = Board::new(Vec::new());
        assert!(b.started && b.all_ready());
    }
}

//! Rows of RELIABILITY.md. A test that proves one of readygate's promises
//! under a fault opens a [`Row`] naming the fault and the promise, notes what
//! it saw readygate do, and the row is written when the test ends: passed
//! when the test finished, failed when it panicked. `scripts/reliability`
//! sets `READYGATE_RELIABILITY_OUT` and renders the rows; without it, rows go
//! nowhere and the tests run as any other.

use std::io::Write;

pub struct Row {
    area: &'static str,
    fault: String,
    promise: &'static str,
    seen: Vec<String>,
}

/// Opens a row: the area (PostgreSQL, HTTP, ...), the fault, and what
/// readygate promises under it.
pub fn row(area: &'static str, fault: impl Into<String>, promise: &'static str) -> Row {
    Row {
        area,
        fault: fault.into(),
        promise,
        seen: Vec::new(),
    }
}

impl Row {
    /// Records what readygate was seen to do (one clause; joined with "; ").
    pub fn saw(&mut self, what: impl Into<String>) {
        self.seen.push(what.into());
    }
}

impl Drop for Row {
    fn drop(&mut self) {
        let Ok(path) = std::env::var("READYGATE_RELIABILITY_OUT") else {
            return;
        };
        let test = std::thread::current()
            .name()
            .unwrap_or("unknown")
            .to_string();
        let line = serde_json::json!({
            "area": self.area,
            "fault": self.fault,
            "promise": self.promise,
            "seen": self.seen.join("; "),
            "passed": !std::thread::panicking(),
            "test": test,
        });
        // One write of one line per row: O_APPEND keeps parallel tests' rows whole.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

/// Milliseconds, for rows.
pub fn ms(d: std::time::Duration) -> String {
    format!("{} ms", d.as_millis())
}

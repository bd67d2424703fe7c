//! A database server's free connection slots, as the SQL kinds (PostgreSQL,
//! MySQL) count them to decide whether to keep their connection: a gate
//! must not hold a slot the app it waits for needs.

use std::time::Duration;

/// Counting free slots reads every session's status, most of an attempt's
/// cost on a busy server: 100 gates polling every 80 ms would spend a core
/// on it. Once a second is enough to decide whether to keep a connection,
/// except when the last count was close to crowded: then every attempt
/// counts, or a fleet starting at once would overshoot (each gate counted
/// before the last ones arrived).
const COUNT_EVERY: Duration = Duration::from_secs(1);

/// The last count: when, how many free, of how many.
#[derive(Clone, Copy)]
pub(crate) struct SlotCount {
    at: tokio::time::Instant,
    free: i64,
    max_connections: i64,
}

impl SlotCount {
    pub(crate) fn now(free: i64, max_connections: i64) -> SlotCount {
        SlotCount {
            at: tokio::time::Instant::now(),
            free,
            max_connections,
        }
    }

    /// Too few free slots to keep a connection.
    pub(crate) fn crowded(self) -> bool {
        self.free < crowded_below(self.max_connections)
    }

    /// Due for counting again: a second old, or close to crowded.
    pub(crate) fn stale(self) -> bool {
        self.at.elapsed() >= COUNT_EVERY || self.free < 2 * crowded_below(self.max_connections)
    }
}

/// Fewer free slots than this and the gate gives its connection back: a
/// tenth of `max_connections`, at least 3.
fn crowded_below(max_connections: i64) -> i64 {
    (max_connections / 10).max(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenth_free_at_least_three() {
        assert!(SlotCount::now(2, 10).crowded());
        assert!(!SlotCount::now(3, 10).crowded());
        assert!(SlotCount::now(19, 200).crowded());
        assert!(!SlotCount::now(20, 200).crowded());
        // Close to crowded: counted on every attempt.
        assert!(SlotCount::now(39, 200).stale());
        assert!(!SlotCount::now(40, 200).stale());
    }
}

//! Exit codes, and the one place outcomes map to them; the README repeats
//! this table.

use crate::wait::{Outcome, Signal};

pub const READY: u8 = 0;
pub const NOT_READY: u8 = 1;
pub const USAGE: u8 = 2;
pub const PERMANENT: u8 = 3;
pub const NOT_EXECUTABLE: u8 = 126;
pub const NOT_FOUND: u8 = 127;
pub const SIGINT: u8 = 130;
pub const SIGTERM: u8 = 143;

/// The exit code for a finished wait; `Ready` means exec when there is a command.
pub(crate) fn for_outcome(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Ready { .. } => READY,
        Outcome::TimedOut { .. } => NOT_READY,
        Outcome::Permanent { .. } => PERMANENT,
        Outcome::Stopped { signal, .. } => for_signal(*signal),
    }
}

/// The exit code of a run stopped by a signal: 128 + its number.
pub(crate) fn for_signal(signal: Signal) -> u8 {
    match signal {
        Signal::Term => SIGTERM,
        Signal::Int => SIGINT,
    }
}

//! When to try again. A fixed interval must choose between latency and load;
//! the default schedule does not: it polls every 80 ms for the first two
//! seconds (most dependencies come up within that, and are then seen within
//! about 40 ms), then slows down linearly to one attempt every 900 ms by the
//! tenth second, which keeps a long wait under 2 attempts a second while a
//! late dependency is still seen within a second.
//!
//! The slowing down protects the server, so it applies only to attempts
//! that cost it something. A failure that cost the other side nothing
//! measurable (a refused connect, a look at a file; `NotReady::cheap`) is
//! retried every 80 ms however long the wait: a port or socket that appears
//! after a minute is seen as quickly as one that appears at once.

use std::time::Duration;

use crate::not_ready::{Class, NotReady};

const FAST: Duration = Duration::from_millis(80);
const FAST_FOR: Duration = Duration::from_secs(2);
const SLOW: Duration = Duration::from_millis(900);
const SLOW_FROM: Duration = Duration::from_secs(10);
/// After "too many connections", wait this long (plus jitter) before the
/// next try, so the app being waited for can take the free slots.
const REFUSED_FULL: Duration = Duration::from_secs(2);
/// On a nearly full server the gate hangs up after each attempt instead of
/// holding a slot. It still looks at least every 600-900 ms (jittered, so a
/// fleet spreads out): a gate must not be late by seconds when the table
/// appears, and a short connection costs the app no slot.
const CROWDED: Duration = Duration::from_millis(600);
const CROWDED_JITTER: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// The default: fast at first, then slower; see the module docs.
    Adaptive,
    /// `--interval`: the same delay every time.
    Fixed(Duration),
}

impl Schedule {
    /// The time from the start of one attempt to the start of the next, for
    /// an attempt that began `elapsed` after the wait started and failed
    /// with `failure`. `seed` spreads a fleet of gates apart when backing off.
    pub(crate) fn delay(self, elapsed: Duration, failure: &NotReady, seed: u64) -> Duration {
        let base = match self {
            Schedule::Fixed(d) => d,
            Schedule::Adaptive if elapsed < FAST_FOR || failure.cheap => FAST,
            Schedule::Adaptive if elapsed >= SLOW_FROM => SLOW,
            Schedule::Adaptive => {
                let progress =
                    (elapsed - FAST_FOR).as_secs_f64() / (SLOW_FROM - FAST_FOR).as_secs_f64();
                FAST + (SLOW - FAST).mul_f64(progress)
            }
        };
        if failure.class == Class::TooManyConnections {
            return base.max(REFUSED_FULL + jitter(seed, REFUSED_FULL));
        }
        if failure.crowded {
            return base.max(CROWDED + jitter(seed, CROWDED_JITTER));
        }
        base
    }
}

/// A pseudo-random duration in `[0, max)` derived from `seed` (splitmix64);
/// good enough to spread retries, no RNG crate needed.
pub(crate) fn jitter(seed: u64, max: Duration) -> Duration {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    max.mul_f64((z >> 11) as f64 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn failed(class: Class, crowded: bool) -> NotReady {
        NotReady {
            crowded,
            ..NotReady::new(class, "not yet")
        }
    }

    fn cheap(class: Class) -> NotReady {
        NotReady {
            cheap: true,
            ..NotReady::new(class, "not yet")
        }
    }

    #[test]
    fn adaptive_is_fast_then_slow() {
        let s = Schedule::Adaptive;
        assert_eq!(s.delay(ms(0), &failed(Class::Refused, false), 1), ms(80));
        assert_eq!(s.delay(ms(1999), &failed(Class::Schema, false), 1), ms(80));
        assert_eq!(s.delay(ms(6000), &failed(Class::Schema, false), 1), ms(490));
        assert_eq!(
            s.delay(ms(60_000), &failed(Class::Schema, false), 1),
            ms(900)
        );
    }

    #[test]
    fn what_costs_nothing_stays_fast_at_any_wait_length() {
        let s = Schedule::Adaptive;
        assert_eq!(s.delay(ms(60_000), &cheap(Class::Refused), 1), ms(80));
        assert_eq!(s.delay(ms(3_600_000), &cheap(Class::Response), 1), ms(80));
        // An answer that cost the server something still slows down.
        assert_eq!(
            s.delay(ms(60_000), &failed(Class::Refused, false), 1),
            ms(900)
        );
        // --interval is the user's choice either way.
        assert_eq!(
            Schedule::Fixed(ms(5000)).delay(ms(60_000), &cheap(Class::Refused), 1),
            ms(5000)
        );
    }

    #[test]
    fn adaptive_stays_under_two_attempts_a_second_over_a_minute() {
        let (mut t, mut attempts) = (Duration::ZERO, 0);
        while t < Duration::from_secs(60) {
            t += Schedule::Adaptive.delay(t, &failed(Class::Schema, false), 0);
            attempts += 1;
        }
        assert!(attempts <= 108, "{attempts} attempts in 60 s");
        assert!(
            attempts >= 60,
            "{attempts} attempts in 60 s is slower than promised"
        );
    }

    #[test]
    fn crowded_servers_get_backed_off_with_spread() {
        let a = Schedule::Adaptive.delay(ms(0), &failed(Class::TooManyConnections, false), 1);
        let b = Schedule::Adaptive.delay(ms(0), &failed(Class::TooManyConnections, false), 2);
        assert!(a >= REFUSED_FULL && b >= REFUSED_FULL && a != b);
        assert!(a < REFUSED_FULL * 2 && b < REFUSED_FULL * 2);
        // Nearly full: hung up after each attempt, but never slower than 0.9 s.
        let c = Schedule::Adaptive.delay(ms(0), &failed(Class::Schema, true), 1);
        let d = Schedule::Adaptive.delay(ms(0), &failed(Class::Schema, true), 2);
        let late = Schedule::Adaptive.delay(ms(60_000), &failed(Class::Schema, true), 3);
        assert!(c >= CROWDED && d >= CROWDED && c != d);
        assert!(c < ms(900) && d < ms(900) && late <= ms(900));
        assert_eq!(
            Schedule::Fixed(ms(5000)).delay(ms(0), &failed(Class::TooManyConnections, false), 1),
            ms(5000)
        );
    }
}

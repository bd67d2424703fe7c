//! The wait loop: checks every target concurrently on its own schedule until
//! all are ready, the deadline passes, a signal arrives, or (with
//! `--fail-fast`) one fails permanently. A target that passed is not checked
//! again. It logs a line when a target becomes ready and a "still waiting"
//! line per unready target every `progress_every`; never one per attempt.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};

use crate::attempt::{attempt, Check, Watched};
use crate::duration::show;
use crate::not_ready::{Class, Hints, NotReady};
use crate::schedule::Schedule;

/// How to wait.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// `None` waits forever.
    pub(crate) timeout: Option<Duration>,
    pub(crate) attempt_timeout: Duration,
    pub(crate) schedule: Schedule,
    pub(crate) progress_every: Duration,
    pub(crate) fail_fast: bool,
}

/// A signal that stops the wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Term,
    Int,
}

/// A target that was not ready when the wait ended, with its last error
/// (`None` if no attempt had finished yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unready {
    pub(crate) name: String,
    pub(crate) last: Option<NotReady>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ready {
        elapsed: Duration,
    },
    TimedOut {
        elapsed: Duration,
        unready: Vec<Unready>,
    },
    Stopped {
        signal: Signal,
        elapsed: Duration,
        unready: Vec<Unready>,
    },
    /// `--fail-fast`: this target failed in a way waiting will not fix.
    Permanent {
        elapsed: Duration,
        failed: Unready,
    },
}

enum Event {
    Ready(usize),
    NotReady(usize, NotReady),
}

/// Waits for every target; see the module docs.
pub(crate) async fn wait_all<C: Check>(
    targets: Vec<Watched<C>>,
    opts: &Options,
    stop: impl Future<Output = Signal>,
) -> Outcome {
    let start = Instant::now();
    let deadline = opts.timeout.map(|t| start + t);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    let mut names = Vec::with_capacity(targets.len());
    for (i, target) in targets.into_iter().enumerate() {
        names.push(target.name);
        let watch = Watch {
            index: i,
            opts: opts.clone(),
            start,
            deadline,
            events: tx.clone(),
            hints: target.hints,
        };
        tasks.spawn(watch.run(target.check));
    }
    drop(tx);
    let mut last: Vec<Option<NotReady>> = vec![None; names.len()];
    let mut ready = vec![false; names.len()];
    let mut progress = tokio::time::interval_at(start + opts.progress_every, opts.progress_every);
    progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let unready = |ready: &[bool], last: &[Option<NotReady>]| -> Vec<Unready> {
        (0..names.len())
            .filter(|&i| !ready[i])
            .map(|i| Unready {
                name: names[i].clone(),
                last: last[i].clone(),
            })
            .collect()
    };
    if names.is_empty() {
        return Outcome::Ready {
            elapsed: Duration::ZERO,
        };
    }
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            signal = &mut stop => {
                return Outcome::Stopped { signal, elapsed: start.elapsed(), unready: unready(&ready, &last) };
            }
            event = rx.recv() => match event {
                Some(Event::Ready(i)) => {
                    ready[i] = true;
                    let elapsed = start.elapsed();
                    tracing::info!(target_url = %names[i], elapsed_ms = elapsed.as_millis() as u64, "{} is ready after {}", names[i], show(elapsed));
                    if ready.iter().all(|&r| r) {
                        return Outcome::Ready { elapsed };
                    }
                }
                Some(Event::NotReady(i, e)) => {
                    tracing::debug!(target_url = %names[i], class = e.class.as_str(), "{} not ready: {e}", names[i]);
                    if opts.fail_fast && e.class.is_permanent() {
                        return Outcome::Permanent { elapsed: start.elapsed(), failed: Unready { name: names[i].clone(), last: Some(e) } };
                    }
                    last[i] = Some(e);
                }
                // Every watcher ended without all targets ready: only when the
                // deadline left no time for another attempt.
                None => break,
            },
            _ = until(deadline) => break,
            _ = progress.tick() => {
                let elapsed = show(start.elapsed());
                for u in unready(&ready, &last) {
                    let why = u.last.as_ref().map_or_else(|| "first attempt still running".to_string(), ToString::to_string);
                    let class = u.last.as_ref().map_or("pending", |e| e.class.as_str());
                    tracing::info!(target_url = %u.name, class, reason = NotReady::reason_of(u.last.as_ref()), hint = NotReady::hint_of(u.last.as_ref()), elapsed_ms = start.elapsed().as_millis() as u64, "still waiting for {} after {elapsed}: {why}", u.name);
                }
            }
        }
    }
    // The deadline. Attempts cut off by it report at the same instant.
    tokio::task::yield_now().await;
    while let Ok(event) = rx.try_recv() {
        match event {
            Event::Ready(i) => ready[i] = true,
            Event::NotReady(i, e) => last[i] = Some(e),
        }
    }
    if ready.iter().all(|&r| r) {
        return Outcome::Ready {
            elapsed: start.elapsed(),
        };
    }
    let elapsed = opts.timeout.unwrap_or_else(|| start.elapsed());
    // A target whose first attempt never finished hung all along.
    for slot in last.iter_mut().filter(|l| l.is_none()) {
        *slot = Some(NotReady::timeout(elapsed));
    }
    Outcome::TimedOut {
        elapsed,
        unready: unready(&ready, &last),
    }
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One target's retry loop.
struct Watch {
    index: usize,
    opts: Options,
    start: Instant,
    deadline: Option<Instant>,
    events: mpsc::UnboundedSender<Event>,
    hints: Hints,
}

impl Watch {
    async fn run<C: Check>(self, mut check: C) {
        // As an entrypoint readygate is PID 1 everywhere: the clock spreads a fleet.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seed =
            (u64::from(std::process::id()) << 32 | u64::from(nanos)) ^ (self.index as u64) << 48;
        for round in 0u64.. {
            let began = Instant::now();
            let budget = match self.deadline {
                Some(d) => self
                    .opts
                    .attempt_timeout
                    .min(d.saturating_duration_since(began)),
                None => self.opts.attempt_timeout,
            };
            if budget.is_zero() {
                return;
            }
            let err = match attempt(&mut check, budget, self.hints).await {
                Ok(()) => {
                    let _ = self.events.send(Event::Ready(self.index));
                    return;
                }
                // Cut short by the deadline (here, or by the probe's own timer
                // set to the same budget): the previous reason stays the better
                // explanation (the loop fills in one if there is none).
                Err(e) if e.class == Class::Timeout && budget < self.opts.attempt_timeout => return,
                Err(e) => e,
            };
            let delay =
                self.opts
                    .schedule
                    .delay(began - self.start, &err, seed.wrapping_add(round << 32));
            if self.events.send(Event::NotReady(self.index, err)).is_err() {
                return;
            }
            sleep_until(began + delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::attempt::fake::{watched, Fake};

    fn opts(timeout: Option<u64>) -> Options {
        Options {
            timeout: timeout.map(Duration::from_secs),
            attempt_timeout: Duration::from_secs(5),
            schedule: Schedule::Adaptive,
            progress_every: Duration::from_secs(10),
            fail_fast: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ready_targets_are_seen_within_one_fast_interval_and_not_rechecked() {
        let (a, a_count) = Fake::new(Some(Duration::from_millis(1230)));
        let (b, b_count) = Fake::new(Some(Duration::ZERO));
        let out = wait_all(
            vec![watched("a", a), watched("b", b)],
            &opts(Some(60)),
            std::future::pending(),
        )
        .await;
        let Outcome::Ready { elapsed } = out else {
            panic!("{out:?}")
        };
        assert!(
            elapsed >= Duration::from_millis(1230) && elapsed <= Duration::from_millis(1330),
            "{elapsed:?}"
        );
        assert_eq!(
            b_count.load(Ordering::SeqCst),
            1,
            "a ready target is not checked again"
        );
        assert_eq!(a_count.load(Ordering::SeqCst), 17);
    }

    #[tokio::test(start_paused = true)]
    async fn late_targets_are_seen_within_a_second() {
        let (a, count) = Fake::new(Some(Duration::from_millis(61_234)));
        let out = wait_all(vec![watched("a", a)], &opts(None), std::future::pending()).await;
        let Outcome::Ready { elapsed } = out else {
            panic!("{out:?}")
        };
        assert!(
            elapsed - Duration::from_millis(61_234) < Duration::from_secs(1),
            "{elapsed:?}"
        );
        let per_second = f64::from(count.load(Ordering::SeqCst)) / elapsed.as_secs_f64();
        assert!(per_second <= 2.0, "{per_second} attempts/s");
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_reports_last_error_even_when_a_probe_hangs() {
        let (a, _) = Fake::new(None);
        let (mut b, _) = Fake::new(None);
        b.hang = true;
        let out = wait_all(
            vec![watched("a", a), watched("b", b)],
            &opts(Some(3)),
            std::future::pending(),
        )
        .await;
        let Outcome::TimedOut { elapsed, unready } = out else {
            panic!("{out:?}")
        };
        assert_eq!(elapsed, Duration::from_secs(3));
        assert_eq!(unready[0].last.as_ref().unwrap().reason, "not yet");
        assert_eq!(unready[1].name, "b");
        assert_eq!(
            unready[1].last.as_ref().unwrap().class,
            Class::Timeout,
            "the hung attempt was cut at the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fail_fast_stops_on_permanent_errors_only() {
        let (mut a, _) = Fake::new(None);
        a.class = Class::Auth;
        let mut o = opts(Some(10));
        o.fail_fast = true;
        let out = wait_all(vec![watched("a", a)], &o, std::future::pending()).await;
        assert!(
            matches!(out, Outcome::Permanent { elapsed, .. } if elapsed == Duration::ZERO),
            "{out:?}"
        );
        let (b, _) = Fake::new(None);
        let out = wait_all(vec![watched("b", b)], &o, std::future::pending()).await;
        assert!(matches!(out, Outcome::TimedOut { .. }), "{out:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_stops_the_wait_at_once() {
        let (a, _) = Fake::new(None);
        let stop = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Signal::Term
        };
        let out = wait_all(vec![watched("a", a)], &opts(None), stop).await;
        let Outcome::Stopped {
            signal,
            elapsed,
            unready,
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(
            (signal, elapsed, unready.len()),
            (Signal::Term, Duration::from_millis(1500), 1)
        );
    }
}

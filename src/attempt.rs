//! One attempt at one target, the same for the wait loop, `--once` and the
//! sidecar: the probe runs under a timeout, and a failure gets the target's
//! hints. Also the target as the engine sees it ([`Watched`]) and `--once`,
//! which is one attempt at every target.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::not_ready::{Class, Hints, NotReady};

/// One attempt at a target. The engine is generic over this so it can be
/// tested with fake probes under paused time.
pub(crate) trait Check: Send + 'static {
    /// Checks once; `budget` is how long this attempt may take.
    fn check(&mut self, budget: Duration) -> impl Future<Output = Result<(), NotReady>> + Send;
}

/// A target as the engine sees it: a redacted name, its kind's label, its
/// probe and how its failures are explained.
pub(crate) struct Watched<C> {
    pub(crate) name: String,
    pub(crate) kind: &'static str,
    pub(crate) check: C,
    pub(crate) hints: Hints,
    /// It watches the app the sidecar runs beside, which starts only once
    /// the sidecar has started: not part of `/startupz`.
    pub(crate) after_start: bool,
}

/// Runs one check within `budget`; a failure carries the target's hints.
pub(crate) async fn attempt<C: Check>(
    check: &mut C,
    budget: Duration,
    hints: Hints,
) -> Result<(), NotReady> {
    let result = timeout(budget, Guarded(Box::pin(check.check(budget))))
        .await
        .unwrap_or_else(|_| Err(NotReady::timeout(budget)));
    result.map_err(|mut e| {
        hints.apply(&mut e);
        e
    })
}

thread_local! {
    /// A check is being polled on this thread: a panic is its failure.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// What the last guarded panic said.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Makes a panic inside a check (a client library that trusts what a
/// server sends: sqlx panics on a message body shorter than its type
/// needs) that attempt's failure, not the gate's end. Anywhere else a
/// panic is still a bug, reported as Rust reports it.
pub(crate) fn catch_panics_in_checks() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if GUARDED.with(Cell::get) {
            let said = match info.payload().downcast_ref::<&str>() {
                Some(s) => (*s).to_string(),
                None => info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default(),
            };
            CAUGHT.with(|c| *c.borrow_mut() = Some(said));
        } else {
            default(info);
        }
    }));
}

/// A check's future, polled with panics caught (see [`catch_panics_in_checks`]).
struct Guarded<F>(Pin<Box<F>>);

impl<F: Future<Output = Result<(), NotReady>>> Future for Guarded<F> {
    type Output = Result<(), NotReady>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        let was = GUARDED.with(|g| g.replace(true));
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx)));
        GUARDED.with(|g| g.set(was));
        polled.unwrap_or_else(|_| {
            let said = CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_default();
            Poll::Ready(Err(NotReady::new(
                Class::Other,
                format!("the client library could not read what the server sent ({})", crate::text::shorten(&said)),
            )
            .hint("the server sent a malformed message: check that the host and port are this kind of server, not another service or a proxy")))
        })
    }
}

/// `--once`: one attempt at every target, concurrently; results in order.
pub(crate) async fn check_once<C: Check>(
    targets: Vec<Watched<C>>,
    attempt_timeout: Duration,
) -> Vec<(String, Result<(), NotReady>)> {
    let mut tasks = JoinSet::new();
    let mut results: Vec<(String, Result<(), NotReady>)> = Vec::new();
    for (i, w) in targets.into_iter().enumerate() {
        let Watched {
            name,
            mut check,
            hints,
            ..
        } = w;
        let unfinished = NotReady::new(Class::Other, "the check did not finish");
        results.push((name, Err(unfinished)));
        tasks.spawn(async move { (i, attempt(&mut check, attempt_timeout, hints).await) });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, r)) = joined {
            results[i].1 = r;
        }
    }
    results
}

/// A fake probe for the engine's tests under paused time.
#[cfg(test)]
pub(crate) mod fake {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Check, Watched};
    use crate::not_ready::{Class, Hints, NotReady};

    /// Ready from `ready_at` after the test starts (and, if `down_at` is
    /// set, not ready again from then); counts attempts.
    pub(crate) struct Fake {
        pub(crate) ready_at: Option<Duration>,
        pub(crate) down_at: Option<Duration>,
        pub(crate) class: Class,
        pub(crate) hang: bool,
        pub(crate) start: Instant,
        pub(crate) attempts: Arc<AtomicU32>,
    }

    impl Fake {
        pub(crate) fn new(ready_at: Option<Duration>) -> (Self, Arc<AtomicU32>) {
            let attempts = Arc::new(AtomicU32::new(0));
            let fake = Fake {
                ready_at,
                down_at: None,
                class: Class::Refused,
                hang: false,
                start: Instant::now(),
                attempts: attempts.clone(),
            };
            (fake, attempts)
        }
    }

    impl Check for Fake {
        async fn check(&mut self, _budget: Duration) -> Result<(), NotReady> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            if self.hang {
                std::future::pending::<()>().await;
            }
            let now = self.start.elapsed();
            let up = self.ready_at.is_some_and(|t| now >= t);
            let down = self.down_at.is_some_and(|t| now >= t);
            match up && !down {
                true => Ok(()),
                false => Err(NotReady::new(self.class, "not yet")),
            }
        }
    }

    pub(crate) fn watched(name: &str, f: Fake) -> Watched<Fake> {
        Watched {
            name: name.into(),
            kind: "fake",
            check: f,
            hints: Hints::GENERIC,
            after_start: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::fake::{watched, Fake};
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn once_checks_each_target_one_time() {
        let (a, ac) = Fake::new(Some(Duration::ZERO));
        let (b, bc) = Fake::new(None);
        let results = check_once(
            vec![watched("a", a), watched("b", b)],
            Duration::from_secs(1),
        )
        .await;
        assert!(results[0].1.is_ok() && results[1].1.is_err());
        assert_eq!(
            (ac.load(Ordering::SeqCst), bc.load(Ordering::SeqCst)),
            (1, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_is_cut_at_its_budget_and_explained_by_the_hints() {
        const HINTS: Hints = Hints::new(&[(Class::Timeout, "the preset's words")]);
        let (mut hung, _) = Fake::new(None);
        hung.hang = true;
        let began = tokio::time::Instant::now();
        let e = attempt(&mut hung, Duration::from_millis(700), HINTS)
            .await
            .unwrap_err();
        assert_eq!(began.elapsed(), Duration::from_millis(700));
        assert_eq!(
            (e.class, e.hint.as_deref()),
            (Class::Timeout, Some("the preset's words"))
        );
    }
}

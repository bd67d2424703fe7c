//! Sidecar mode (`--serve ADDR`): keep checking every target for as long as
//! the process runs and serve `/readyz`, `/startupz`, `/livez` and
//! `/metrics`. In a Kubernetes native sidecar (an init container with
//! `restartPolicy: Always` and a startupProbe on `/startupz` or `/readyz`),
//! the app starts only once its dependencies are ready, and the sidecar stays
//! on as a small live monitor.
//!
//! Until a target is first ready it is checked on the start-up schedule
//! (fast); after that every `--interval` (default 2 s), whatever its state.

mod board;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};

use crate::attempt::{attempt, Check, Watched};
use crate::schedule::Schedule;
use crate::secret::Redactor;
use crate::wait::Signal;
use board::{Board, Change};

/// How the sidecar checks.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) attempt_timeout: Duration,
    /// Used until a target is first ready.
    pub(crate) schedule: Schedule,
    /// Between checks once a target has been ready.
    pub(crate) interval: Duration,
}

/// Binds `addr`, then checks and serves until a signal; returns the signal.
pub(crate) async fn run<C: Check>(
    addr: SocketAddr,
    targets: Vec<Watched<C>>,
    opts: Options,
    redactor: Redactor,
    stop: impl std::future::Future<Output = Signal>,
) -> Result<Signal, std::io::Error> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "serving /readyz, /startupz, /livez and /metrics on http://{bound}");
    let board = Arc::new(Mutex::new(Board::new(
        targets
            .iter()
            .map(|w| (w.name.clone(), w.kind, w.after_start))
            .collect(),
    )));
    let mut tasks = JoinSet::new();
    for (i, w) in targets.into_iter().enumerate() {
        tasks.spawn(monitor(i, w, opts.clone(), board.clone(), redactor.clone()));
    }
    let stale_after = (opts.interval + opts.attempt_timeout) * 3;
    let shared = Arc::new(server::Shared { board, stale_after });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        listener,
        shared,
        async {
            let _ = rx.await;
        },
        Duration::from_millis(800),
    ));
    let signal = stop.await;
    tracing::info!(
        "stopping: {}",
        match signal {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
        }
    );
    tasks.abort_all();
    let _ = tx.send(());
    let _ = server.await;
    Ok(signal)
}

/// One target's endless check loop.
async fn monitor<C: Check>(
    i: usize,
    w: Watched<C>,
    opts: Options,
    board: Arc<Mutex<Board>>,
    redactor: Redactor,
) {
    let Watched {
        name,
        mut check,
        hints,
        ..
    } = w;
    let start = Instant::now();
    let mut was_ready = false;
    let seed = u64::from(std::process::id()) << 32 | i as u64;
    for round in 0u64.. {
        let began = Instant::now();
        let mut result = attempt(&mut check, opts.attempt_timeout, hints).await;
        if let Err(e) = &mut result {
            // Library errors can quote a URL; the endpoints show these verbatim.
            e.reason = redactor.clean(&e.reason);
            e.hint = e.hint.as_deref().map(|h| redactor.clean(h));
        }
        let delay = match &result {
            Ok(()) => opts.interval,
            Err(_) if was_ready => opts.interval,
            Err(e) => opts
                .schedule
                .delay(began - start, e, seed.wrapping_add(round << 40))
                .min(opts.interval),
        };
        let reason = result.as_ref().err().map(ToString::to_string);
        let change =
            board
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(i, result, began.elapsed());
        match change {
            Some(Change::Ready) => {
                was_ready = true;
                tracing::info!(target_url = %name, "{name} is ready");
            }
            Some(Change::Lost) => {
                tracing::warn!(target_url = %name, "{name} is no longer ready: {}", reason.unwrap_or_default());
            }
            None => {}
        }
        sleep_until(began + delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::SeqCst;

    use super::*;
    use crate::attempt::fake::{watched, Fake};

    /// Starts one target's check loop on a board of its own.
    fn start(
        fake: Fake,
        attempt_timeout: Duration,
        schedule: Schedule,
    ) -> (Arc<Mutex<Board>>, tokio::task::JoinHandle<()>) {
        let board = Arc::new(Mutex::new(Board::new(vec![("a".into(), "fake", false)])));
        let opts = Options {
            attempt_timeout,
            schedule,
            interval: Duration::from_secs(2),
        };
        let redactor = Redactor::new(Vec::new());
        let task = tokio::spawn(monitor(
            0,
            watched("a", fake),
            opts,
            board.clone(),
            redactor,
        ));
        (board, task)
    }

    #[tokio::test(start_paused = true)]
    async fn checks_fast_until_ready_then_every_interval_and_notices_a_loss() {
        let (mut fake, attempts) = Fake::new(Some(Duration::from_millis(1000)));
        fake.down_at = Some(Duration::from_secs(9));
        let (board, task) = start(fake, Duration::from_secs(5), Schedule::Adaptive);
        // Every 80 ms at first: attempts at 0, 80, ..., 960 fail, 1040 passes.
        tokio::time::sleep(Duration::from_millis(1050)).await;
        assert!(board.lock().unwrap().entries[0].ready);
        assert_eq!(attempts.load(SeqCst), 14);
        // Then every interval: 3040, 5040 and 7040.
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(attempts.load(SeqCst), 17);
        assert!(board.lock().unwrap().all_ready());
        // Down from 9 s: the check at 9040 notices; start-up stays latched.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let b = board.lock().unwrap();
        assert!(!b.entries[0].ready && b.started);
        assert_eq!(b.entries[0].last.as_ref().unwrap().reason, "not yet");
        drop(b);
        task.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_schedule_is_capped_at_the_interval_and_hung_checks_end_at_the_attempt_timeout()
    {
        let (mut fake, attempts) = Fake::new(None);
        fake.hang = true;
        let fixed = Schedule::Fixed(Duration::from_secs(30));
        let (board, task) = start(fake, Duration::from_millis(500), fixed);
        // Attempts at 0, 2, 4 and 6 s, each cut at 500 ms.
        tokio::time::sleep(Duration::from_millis(6600)).await;
        assert_eq!(attempts.load(SeqCst), 4);
        let b = board.lock().unwrap();
        let last = b.entries[0].last.as_ref().unwrap();
        assert_eq!(last.reason, "no answer within 500ms");
        assert!(!b.started);
        drop(b);
        task.abort();
    }
}

//! Sidecar mode (`--serve ADDR`): keep checking every target for as long as
//! the process runs and serve `/readyz`, `/startupz`, `/livez` and
//! `/metrics`. In a Kubernetes native sidecar (an init container with
//! `restartPolicy: Always` and a startupProbe on `/startupz` or `/readyz`),
//! the app starts only once its dependencies are ready, and the sidecar stays
//! on as a small live monitor.
//!
//! Until a target is first ready it is checked on the start-up schedule
//! (fast); after that every `--interval` (default 2 s), whatever its state.

pub mod board;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Instant};

use crate::probe::{Check, NotReady};
use crate::schedule::Schedule;
use crate::secret::Redactor;
use crate::wait::{Signal, Watched};
use board::{Board, Change};

/// The steady interval when `--interval` is not given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// How the sidecar checks.
#[derive(Clone, Debug)]
pub struct Options {
    pub attempt_timeout: Duration,
    /// Used until a target is first ready.
    pub schedule: Schedule,
    /// Between checks once a target has been ready.
    pub interval: Duration,
}

/// Binds `addr`, then checks and serves until a signal; returns the signal.
pub async fn run<C: Check>(
    addr: SocketAddr,
    targets: Vec<(Watched<C>, &'static str)>,
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
            .map(|(w, kind)| (w.name.clone(), *kind))
            .collect(),
    )));
    let mut tasks = JoinSet::new();
    for (i, (w, _)) in targets.into_iter().enumerate() {
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
    } = w;
    let start = Instant::now();
    let mut was_ready = false;
    let seed = u64::from(std::process::id()) << 32 | i as u64;
    for attempt in 0u64.. {
        let began = Instant::now();
        let mut result = timeout(opts.attempt_timeout, check.check(opts.attempt_timeout))
            .await
            .unwrap_or_else(|_| Err(NotReady::timeout(opts.attempt_timeout)));
        if let Err(e) = &mut result {
            hints.apply(e);
            // Library errors can quote a URL; the endpoints show these verbatim.
            e.reason = redactor.clean(&e.reason);
            e.hint = e.hint.as_deref().map(|h| redactor.clean(h));
        }
        let delay = match &result {
            Ok(()) => opts.interval,
            Err(_) if was_ready => opts.interval,
            Err(e) => opts
                .schedule
                .delay(
                    began - start,
                    e.class,
                    e.crowded,
                    seed.wrapping_add(attempt << 40),
                )
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

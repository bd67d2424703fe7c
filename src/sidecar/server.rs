//! The sidecar's HTTP endpoints on a small hyper HTTP/1.1 server: GET only,
//! and a graceful stop that lets in-flight responses finish. Bodies hold
//! redacted target names and reasons already cleaned by the check loop;
//! cleaning whole JSON or Prometheus bodies could break their syntax.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::board::Board;

/// What the handlers share.
pub(crate) struct Shared {
    pub(crate) board: Arc<Mutex<Board>>,
    /// `/livez` fails when a target has not finished a check for this long.
    pub(crate) stale_after: Duration,
}

/// At most this many connections are served at once, so a flood cannot grow
/// the sidecar's memory. When full, the oldest connection is closed for the
/// new one: a flood of connections that never finish cannot keep the
/// kubelet's probe (a new connection each time) from being answered.
const MAX_CONNECTIONS: usize = 128;

/// A request head larger than this is refused (hyper answers 431).
const MAX_HEAD: usize = 16 * 1024;

/// A connection lives at most this long, idle keep-alive included: probes
/// and scrapes take milliseconds, and a client that stops reading (or
/// keeps a connection open for ever) cannot hold a slot.
const MAX_LIFETIME: Duration = Duration::from_secs(10);

/// Serves until `stop` resolves, then stops accepting and gives in-flight
/// responses up to `grace` to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut live: std::collections::VecDeque<tokio::task::AbortHandle> =
        std::collections::VecDeque::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors and the like: do not spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                live.retain(|conn| !conn.is_finished());
                if live.len() >= MAX_CONNECTIONS {
                    if let Some(oldest) = live.pop_front() {
                        oldest.abort();
                    }
                }
                let shared = shared.clone();
                let service = service_fn(move |req| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(handle(&req, &shared)) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(5))
                    .max_buf_size(MAX_HEAD)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                let conn = tokio::time::timeout(MAX_LIFETIME, conn);
                live.push_back(tokio::spawn(conn).abort_handle());
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

fn handle(req: &Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let board = shared
        .board
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let ok = |yes: bool| {
        if yes {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let (status, kind, body) = match req.uri().path() {
        "/readyz" => {
            let json = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|p| p == "format=json"))
                || req
                    .headers()
                    .get(ACCEPT)
                    .and_then(|a| a.to_str().ok())
                    .is_some_and(|a| a.contains("application/json"));
            if json {
                (
                    ok(board.all_ready()),
                    "application/json",
                    board.readyz_json(),
                )
            } else {
                (
                    ok(board.all_ready()),
                    "text/plain; charset=utf-8",
                    board.readyz_text(),
                )
            }
        }
        "/startupz" => {
            let started = board.started;
            (
                ok(started),
                "text/plain",
                if started {
                    "started\n".into()
                } else {
                    "starting\n".into()
                },
            )
        }
        "/livez" => {
            let alive = board.alive(shared.stale_after);
            (
                ok(alive),
                "text/plain",
                if alive {
                    "alive\n".into()
                } else {
                    "the checks have stalled\n".into()
                },
            )
        }
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            board.metrics(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /readyz, /startupz, /livez or /metrics\n".into(),
        ),
    };
    drop(board);
    reply(status, kind, body)
}

fn reply(status: StatusCode, kind: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}

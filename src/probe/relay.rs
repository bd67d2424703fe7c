//! A relay between sqlx and a database server, for what the driver cannot
//! be told: how much a server may send.
//!
//! sqlx reads a message whole before looking at it, and trusts the length
//! the server declares: sqlx-postgres reserves it up front (a hostile
//! "PostgreSQL" declaring 2 GB and streaming drove the gate to 2.7 GB in
//! 3 s), sqlx-mysql joins `0xFFFFFF` continuation packets without end (2 GB
//! in 2 s). So the gate connects to the server itself, then hands sqlx an
//! abstract Unix socket (no file, a random name, only this process may
//! connect) that forwards to that connection. For PostgreSQL the gate does
//! TLS below the relay (`postgres/tls.rs`), so the relay reads every
//! message; MySQL's TLS, which starts mid-login, passes through unread and
//! is verified by sqlx against the server's own host name. The relay reads
//! what it forwards: a server may send at most [`ANSWER_MAX`] between two
//! writes of the client, and each protocol's [`Watch`] adds its own rules
//! (a declared length over the protocol's limit, MySQL's key request
//! without TLS).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::not_ready::{Class, NotReady};

/// The most a server may send between two writes of the client: one
/// message (sqlx buffers it whole) or a result set being drained. A waiting
/// gate stays well under 64 MiB. The gate's own statements answer in a few
/// hundred bytes; a `--sql` result this large is cut off.
pub(crate) const ANSWER_MAX: usize = 8 << 20;

/// Why the relay ended a connection, for the attempt's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The server sent more than [`ANSWER_MAX`] unasked.
    TooMuch,
    /// The server declared a message of this many bytes: over the
    /// protocol's limit, or under its minimum.
    Declared(u64),
    /// The login asked for the server's RSA key without TLS (MySQL).
    KeyWithoutTls,
    /// The TLS session the gate holds with the server failed (an alert
    /// after the handshake: TLS 1.3 servers refuse a client certificate
    /// then); what rustls said.
    Tls(String),
}

/// The longest message a watcher lets a server declare: the gate's
/// statements answer in a few hundred bytes, an error in a few KiB; a
/// `--sql` row this long is a check that reads too much. Each target's
/// connection holds at most about three times this, so many hostile
/// targets stay well within a small limit.
pub(crate) const MESSAGE_MAX: u64 = 1 << 20;

/// Reads the headers of a stream of length-prefixed messages as it passes,
/// skipping the bodies; each protocol says how long its header is and what
/// it declares.
#[derive(Default)]
pub(crate) struct Headers {
    /// The header so far.
    header: Vec<u8>,
    /// Bytes left of the current message's body.
    left: u64,
}

impl Headers {
    /// Feeds the next bytes. `body` reads a whole header (`size` bytes):
    /// the body's length, or `Err` with the declared length when no server
    /// of the protocol sends it, which cuts the connection.
    pub(crate) fn feed(
        &mut self,
        mut bytes: &[u8],
        size: usize,
        body: impl Fn(&[u8]) -> Result<u64, u64>,
    ) -> Option<Cut> {
        while !bytes.is_empty() {
            if self.left > 0 {
                let skip = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                bytes = &bytes[skip..];
                self.left -= skip as u64;
                continue;
            }
            let take = (size - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() < size {
                break;
            }
            match body(&self.header) {
                Ok(len) => self.left = len,
                Err(declared) => return Some(Cut::Declared(declared)),
            }
            self.header.clear();
        }
        None
    }
}

/// A protocol's rules, shown every chunk before it is forwarded.
pub(crate) trait Watch: Send + 'static {
    /// The server waits for the client's first message (PostgreSQL): the
    /// relay reads nothing from it before, so a server that speaks out of
    /// turn is read as what it answers.
    const CLIENT_FIRST: bool;
    /// Bytes from the client; a cut ends the connection.
    fn client(&mut self, bytes: &[u8]) -> Option<Cut>;
    /// Bytes from the server; a cut ends the connection.
    fn server(&mut self, bytes: &[u8]) -> Option<Cut>;
}

/// What one relay saw; read when sqlx reports an error.
#[derive(Clone, Default)]
pub(crate) struct Verdict(Arc<Mutex<Option<Cut>>>);

impl Verdict {
    pub(crate) fn cut(&self) -> Option<Cut> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, cut: Cut) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(cut);
    }
}

/// Where the gate connects: a Unix socket's path, or a host and port.
pub(crate) enum Dial<'a> {
    Socket(&'a std::path::Path),
    Tcp(&'a str, u16),
}

/// A connection to a server: TCP, a Unix socket, or TLS over either.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to the server.
pub(crate) async fn connect(to: Dial<'_>) -> std::io::Result<Box<dyn Io>> {
    Ok(match to {
        Dial::Socket(path) => Box::new(UnixStream::connect(path).await?),
        Dial::Tcp(host, port) => {
            let server = tokio::net::TcpStream::connect((host, port)).await?;
            let _ = server.set_nodelay(true);
            Box::new(server)
        }
    })
}

/// Connects to the server and starts a relay to it (see [`start`]); a
/// failure to connect is explained by `refused`, the kind's own reading of
/// an I/O error.
pub(crate) async fn dial<W: Watch>(
    to: Dial<'_>,
    watch: W,
    suffix: &str,
    what: &str,
    refused: impl Fn(std::io::Error) -> NotReady,
) -> Result<(std::path::PathBuf, Verdict), NotReady> {
    let server = connect(to).await.map_err(refused)?;
    start(server, watch, suffix, what)
}

/// Starts a relay to `server` (already connected), watched by `watch`.
/// sqlx connects to the abstract socket `base` + `suffix` (PostgreSQL adds
/// `/.s.PGSQL.<port>` to the directory it is given); returns `base` and
/// what the relay will have seen. `what` names the server in the error.
pub(crate) fn start<W: Watch>(
    server: Box<dyn Io>,
    watch: W,
    suffix: &str,
    what: &str,
) -> Result<(std::path::PathBuf, Verdict), NotReady> {
    let base = format!("\0readygate-{}-{:016x}", std::process::id(), random());
    let listener = UnixListener::bind(format!("{base}{suffix}")).map_err(|e| {
        NotReady::new(
            Class::Other,
            format!("cannot relay the connection to {what}: {e}"),
        )
    })?;
    let verdict = Verdict::default();
    let seen = verdict.clone();
    tokio::spawn(async move {
        // Only this process: another one in the namespace that guessed the
        // name is turned away (and the attempt fails, not the login leaks).
        // sqlx connects at once; a connect that never comes (the attempt
        // was cancelled) must not keep the server connection open.
        let accepted = tokio::time::timeout(std::time::Duration::from_secs(10), listener.accept());
        let Ok(Ok((client, _))) = accepted.await else {
            return;
        };
        drop(listener);
        let ours = client
            .peer_cred()
            .is_ok_and(|c| c.pid() == Some(std::process::id() as i32));
        if ours {
            pump(client, server, watch, seen).await;
        }
    });
    Ok((std::path::PathBuf::from(base), verdict))
}

/// Forwards both ways until either side closes or a rule is broken.
async fn pump<W: Watch>(client: UnixStream, server: Box<dyn Io>, watch: W, verdict: Verdict) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = tokio::io::split(server);
    // Both directions are polled by this one task; the lock is never
    // held across an await.
    let watch = Mutex::new(watch);
    let rules =
        |f: &dyn Fn(&mut W) -> Option<Cut>| f(&mut watch.lock().unwrap_or_else(|p| p.into_inner()));
    // Bytes the server sent since the client last wrote.
    let unasked = AtomicUsize::new(0);
    let (spoke, heard) = tokio::sync::watch::channel(!W::CLIENT_FIRST);
    let up = async {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(cut) = rules(&|w| w.client(&buf[..n])) {
                verdict.set(cut);
                break;
            }
            unasked.store(0, Ordering::Relaxed);
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
            spoke.send_replace(true);
        }
        let _ = to_server.shutdown().await;
    };
    let down = async {
        let mut heard = heard;
        if heard.wait_for(|spoke| *spoke).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = match from_server.read(&mut buf).await {
                Ok(0) => break,
                Err(e) => {
                    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                        verdict.set(Cut::Tls(tls.to_string()));
                    }
                    break;
                }
                Ok(n) => n,
            };
            let total = unasked.fetch_add(n, Ordering::Relaxed) + n;
            let cut = match total > ANSWER_MAX {
                true => Some(Cut::TooMuch),
                false => rules(&|w| w.server(&buf[..n])),
            };
            if let Some(cut) = cut {
                verdict.set(cut);
                break;
            }
            if to_client.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    };
    // Either direction ending ends the connection.
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

/// An unpredictable number for the socket's name: std's hasher keys come
/// from the OS's random source (no RNG crate needed).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

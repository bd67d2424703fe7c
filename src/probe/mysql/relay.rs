//! A relay between sqlx and the MySQL server, for the two things the driver
//! cannot be told: how much a server may send, and never to fetch the
//! server's RSA key over a connection without TLS.
//!
//! sqlx-mysql joins continuation packets (`0xFFFFFF`) without a limit (a
//! hostile server drove the gate to 2 GB in 2 s), and answers
//! `caching_sha2_password`'s full authentication on a plain connection by
//! asking the server for its public key and encrypting the password to it,
//! so whoever strips TLS on the way gets the password (libmysqlclient
//! refuses unless told `--get-server-public-key`). The gate connects to the
//! server itself, then hands sqlx an abstract Unix socket (no file, a
//! random name, only this process may connect) that forwards to that
//! connection. sqlx keeps the server's host name for TLS, which passes
//! through unread. The relay reads what it forwards: a server may send at
//! most [`ANSWER_MAX`] between two writes of the client, and on a plain
//! connection a client's request for the server's key during the login
//! ends the connection.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The most a server may send between two writes of the client: one
/// logical packet (sqlx buffers it whole, and joins 16 MiB ones without
/// end) or a result set being drained. Below one full packet, so sqlx never
/// starts joining: a waiting gate stays well under 64 MiB. The gate's own
/// statements answer in a few hundred bytes; a `--sql` result this large
/// is cut off.
pub(super) const ANSWER_MAX: usize = 8 << 20;

/// Why the relay ended a connection, for the attempt's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// The server sent more than [`ANSWER_MAX`] unasked.
    TooMuch,
    /// The login asked for the server's RSA key without TLS.
    KeyWithoutTls,
}

/// What one relay saw; read when sqlx reports an error.
#[derive(Clone, Default)]
pub(super) struct Verdict(Arc<Mutex<Option<Cut>>>);

impl Verdict {
    pub(super) fn cut(&self) -> Option<Cut> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, cut: Cut) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(cut);
    }
}

/// Starts a relay to `server` (already connected); returns the abstract
/// socket name for sqlx and what the relay will have seen.
pub(super) fn start<S>(server: S) -> std::io::Result<(std::path::PathBuf, Verdict)>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let name = format!("\0readygate-mysql-{}-{:016x}", std::process::id(), random());
    let listener = UnixListener::bind(&name)?;
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
            pump(client, server, seen).await;
        }
    });
    Ok((std::path::PathBuf::from(name), verdict))
}

/// Forwards both ways until either side closes or a rule is broken.
async fn pump<S>(client: UnixStream, server: S, verdict: Verdict)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = tokio::io::split(server);
    // Bytes the server sent since the client last wrote.
    let unasked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reset = unasked.clone();
    let up_verdict = verdict.clone();
    let up = async move {
        let mut login = Login::default();
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if login.refuses(&buf[..n]) {
                up_verdict.set(Cut::KeyWithoutTls);
                break;
            }
            reset.store(0, std::sync::atomic::Ordering::Relaxed);
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 16 << 10];
        loop {
            let n = match from_server.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let total = unasked.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            if total > ANSWER_MAX {
                verdict.set(Cut::TooMuch);
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

/// Reads the client's packets during the login on a plain connection.
#[derive(Default)]
struct Login {
    /// TLS was asked for (an SSLRequest): the rest is encrypted, unread.
    tls: bool,
    /// The client's first command (sequence 0) was seen: logged in.
    done: bool,
    /// The packet being read: its header so far, then how much payload is left.
    header: Vec<u8>,
    left: usize,
    len: usize,
    seq: u8,
    payload_start: Vec<u8>,
}

impl Login {
    /// Whether `bytes` (the next ones from the client) ask for the server's
    /// RSA key on a plain connection: a one-byte packet 0x01
    /// (`sha256_password`) or 0x02 (`caching_sha2_password`) with a
    /// sequence number past 0 (a command such as COM_QUIT, also 0x01,
    /// starts at 0).
    fn refuses(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() && !self.tls && !self.done {
            if self.left == 0 {
                let take = (4 - self.header.len()).min(bytes.len());
                self.header.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.header.len() < 4 {
                    return false;
                }
                self.len = usize::from(self.header[0])
                    | usize::from(self.header[1]) << 8
                    | usize::from(self.header[2]) << 16;
                self.seq = self.header[3];
                self.left = self.len;
                self.header.clear();
                self.payload_start.clear();
                if self.seq == 0 {
                    self.done = true;
                    return false;
                }
                if self.len == 0 {
                    continue;
                }
            }
            let take = self.left.min(bytes.len());
            if self.payload_start.len() < 4 {
                let keep = take.min(4 - self.payload_start.len());
                self.payload_start.extend_from_slice(&bytes[..keep]);
            }
            bytes = &bytes[take..];
            self.left -= take;
            if self.left == 0 {
                if self.len == 1 && matches!(self.payload_start.first(), Some(1 | 2)) {
                    return true;
                }
                // An SSLRequest: 32 bytes whose capabilities include SSL.
                if self.seq == 1 && self.len == 32 && self.payload_start.len() == 4 {
                    let caps = u32::from_le_bytes([
                        self.payload_start[0],
                        self.payload_start[1],
                        self.payload_start[2],
                        self.payload_start[3],
                    ]);
                    self.tls = caps & 0x800 != 0;
                }
            }
        }
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut p = len.to_le_bytes()[..3].to_vec();
        p.push(seq);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn a_key_request_during_a_plain_login_is_refused() {
        let mut login = Login::default();
        assert!(!login.refuses(&packet(1, &[0u8; 60])));
        assert!(login.refuses(&packet(3, &[2])));
        // Byte by byte, too.
        let mut login = Login::default();
        let bytes = [packet(1, &[7u8; 40]), packet(3, &[1])].concat();
        let refused = bytes.iter().any(|b| login.refuses(&[*b]));
        assert!(refused);
    }

    #[test]
    fn commands_and_tls_pass() {
        // Logged in: COM_QUIT (0x01, sequence 0) is a command.
        let mut login = Login::default();
        assert!(!login.refuses(&packet(1, &[0u8; 60])));
        assert!(!login.refuses(&packet(0, &[1])));
        // An SSLRequest: what follows is TLS, not read.
        let mut login = Login::default();
        let mut ssl = vec![0u8; 32];
        ssl[1] = 0x08;
        assert!(!login.refuses(&packet(1, &ssl)));
        assert!(!login.refuses(&packet(3, &[2])));
    }
}

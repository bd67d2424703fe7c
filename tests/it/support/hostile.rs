//! Servers that misbehave on purpose, hand-written because a real server
//! crate would not: one that never answers, stalls, closes mid-body,
//! trickles, floods or redirects for ever, and a port whose handshakes hang.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use super::free_port;

/// How a [`Hostile`] server misbehaves.
#[derive(Clone, Copy, Debug)]
pub enum Misbehave {
    /// Accepts connections and never sends a byte.
    Silent,
    /// Sends a 200 head promising a body, then stalls.
    HeadThenStall,
    /// Sends a head and part of the body, then closes the connection.
    CloseMidBody,
    /// Sends a whole 200 response, one byte a second.
    Trickle,
    /// A 200 with a 50 MiB body.
    Huge,
    /// Redirects every request to another path on itself.
    RedirectLoop,
    /// Sends these bytes as soon as a client connects, then stalls: another
    /// protocol's greeting (an SSH banner), or an HTTP error to anything.
    Banner(&'static [u8]),
    /// Answers the first request on a connection with a healthy 200 and
    /// keeps it alive, then closes it when the next request arrives: an idle
    /// keep-alive connection closed by the server just as it is reused.
    ClosesKeptConnection,
    /// Sends these bytes as soon as a client connects, then streams filler
    /// until the client goes: a reply that declares a huge length
    /// (`$4000000000`) and then delivers on it.
    Flood(&'static [u8]),
    /// Sends the first bytes as soon as a client connects, then the second
    /// over and over until the client goes: well-formed messages without end.
    Repeat(&'static [u8], &'static [u8]),
    /// Accepts and closes at once: a proxy with no backend behind it.
    CloseAtOnce,
}

/// A TCP server on 127.0.0.1:0 that misbehaves in one way; counts the
/// connections it accepted. Held connections are closed on drop.
pub struct Hostile {
    pub port: u16,
    pub accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Hostile {
    pub fn start(how: Misbehave) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(Mutex::new(Vec::new()));
        let (a, s, h) = (accepted.clone(), stop.clone(), held.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                h.lock().unwrap().push(conn.try_clone().unwrap());
                let s = s.clone();
                thread::spawn(move || misbehave(conn, how, &s));
            }
        });
        Hostile {
            port,
            accepted,
            stop,
            held,
        }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn misbehave(mut conn: TcpStream, how: Misbehave, stop: &AtomicBool) {
    let stall = || {
        while !stop.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(50));
        }
    };
    if let Misbehave::Silent = how {
        return stall();
    }
    if let Misbehave::CloseAtOnce = how {
        let _ = conn.shutdown(std::net::Shutdown::Both);
        return;
    }
    if let Misbehave::Flood(bytes) = how {
        let chunk = vec![b'a'; 64 << 10];
        let mut sent = conn.write_all(bytes);
        while sent.is_ok() && !stop.load(Ordering::SeqCst) {
            sent = conn.write_all(&chunk);
        }
        return;
    }
    if let Misbehave::Repeat(first, again) = how {
        let chunk = again.repeat((64 << 10) / again.len().max(1) + 1);
        let mut sent = conn.write_all(first);
        while sent.is_ok() && !stop.load(Ordering::SeqCst) {
            sent = conn.write_all(&chunk);
        }
        return;
    }
    if let Misbehave::Banner(bytes) = how {
        let _ = conn.write_all(bytes);
        return stall();
    }
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = 0;
    while read_head(&mut reader).is_some() {
        request += 1;
        let head = |len: usize| {
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
        };
        match how {
            Misbehave::Silent
            | Misbehave::Banner(_)
            | Misbehave::Flood(_)
            | Misbehave::Repeat(..)
            | Misbehave::CloseAtOnce => unreachable!(),
            Misbehave::HeadThenStall => {
                let _ = conn.write_all(head(100).as_bytes());
                return stall();
            }
            Misbehave::CloseMidBody => {
                let _ = conn.write_all(format!("{}{{\"status\":", head(100)).as_bytes());
                let _ = conn.shutdown(std::net::Shutdown::Both);
                return;
            }
            Misbehave::Trickle => {
                let body = r#"{"status":"OK"}"#;
                for byte in format!("{}{body}", head(body.len())).bytes() {
                    if stop.load(Ordering::SeqCst) || conn.write_all(&[byte]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_secs(1));
                }
            }
            Misbehave::Huge => {
                let len = 50 << 20;
                let chunk = vec![b' '; 64 << 10];
                if conn.write_all(head(len).as_bytes()).is_err() {
                    return;
                }
                for _ in 0..len / chunk.len() {
                    if conn.write_all(&chunk).is_err() {
                        return;
                    }
                }
            }
            Misbehave::ClosesKeptConnection if request > 1 => {
                let _ = conn.shutdown(std::net::Shutdown::Both);
                return;
            }
            Misbehave::ClosesKeptConnection => {
                let body = r#"{"status":"OK"}"#;
                if conn
                    .write_all(format!("{}{body}", head(body.len())).as_bytes())
                    .is_err()
                {
                    return;
                }
            }
            Misbehave::RedirectLoop => {
                let response = format!(
                    "HTTP/1.1 302 Found\r\nLocation: /loop/{request}\r\nContent-Length: 0\r\n\r\n"
                );
                if conn.write_all(response.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for conn in self.held.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One HTTP request head (without the blank line); `None` at EOF or error.
fn read_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line == "\r\n" => return Some(head),
            Ok(_) => head.push_str(&line),
        }
    }
}

/// A port whose TCP handshakes hang: a listener with the smallest backlog
/// that never accepts, its queue filled, so the kernel drops further SYNs
/// and a connect waits for the client's own timeout. (`socket2`, because
/// std's listener cannot set the backlog.)
pub struct BlackHole {
    pub port: u16,
    _listener: Socket,
    _queued: Vec<TcpStream>,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        listener.bind(&addr.into()).expect("bind the black hole");
        // Linux queues one connection for a backlog of 0.
        listener.listen(0).expect("listen");
        // Fill the accept queue until a connect no longer completes.
        let mut queued = Vec::new();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(conn) => queued.push(conn),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
                Err(e) => panic!("connect to the black hole: {e}"),
            }
            assert!(queued.len() < 16, "the accept queue never filled");
        }
        BlackHole {
            port,
            _listener: listener,
            _queued: queued,
        }
    }
}

/// A "PostgreSQL" that says yes to TLS, shakes hands with `certs`' server
/// certificate, and then misbehaves inside it (`fake_postgres.py`): a
/// header declaring 0xFFFFFFFF bytes (`huge-header`), or an Authentication
/// message without a body (`short-auth`).
pub struct FakePostgresTls {
    pub port: u16,
    _child: super::ChildGuard,
}

impl FakePostgresTls {
    pub fn start(certs: &super::Certs, mode: &str) -> FakePostgresTls {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/fake_postgres.py"
        );
        let d = certs.dir.path();
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .arg(d.join("server.pem"))
            .arg(d.join("server.key"))
            .arg(mode)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start fake_postgres.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .expect("fake_postgres.py prints its port");
        FakePostgresTls {
            port,
            _child: super::ChildGuard(child),
        }
    }
}

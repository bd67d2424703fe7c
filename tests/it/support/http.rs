//! An HTTP server to probe (a stub whose reply can change while it runs,
//! recording the request heads it was sent) and a readygate sidecar with a
//! client for its endpoints.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::hostile::read_head;

/// What the HTTP stub answers; changeable while it runs.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A tiny real HTTP/1.1 server on 127.0.0.1:0 that answers every request
/// with the current [`Reply`] and records request heads.
pub struct HttpStub {
    pub port: u16,
    reply: Arc<Mutex<Reply>>,
    pub heads: Arc<Mutex<Vec<String>>>,
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HttpStub {
    pub fn start(status: u16, body: &str) -> HttpStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let reply = Arc::new(Mutex::new(Reply {
            status,
            body: body.to_string(),
        }));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, n, s) = (reply.clone(), heads.clone(), hits.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, h, n) = (r.clone(), h.clone(), n.clone());
                thread::spawn(move || serve(conn, &r, &h, &n));
            }
        });
        HttpStub {
            port,
            reply,
            heads,
            hits,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn set(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = Reply {
            status,
            body: body.to_string(),
        };
    }
}

fn serve(
    mut conn: TcpStream,
    reply: &Mutex<Reply>,
    heads: &Mutex<Vec<String>>,
    hits: &AtomicUsize,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    while let Some(head) = read_head(&mut reader) {
        hits.fetch_add(1, Ordering::SeqCst);
        heads.lock().unwrap().push(head);
        let Reply { status, body } = reply.lock().unwrap().clone();
        let response = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        if conn.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A sidecar (`--serve 127.0.0.1:0`) and the port it bound, read from its log.
pub struct Sidecar {
    pub child: Child,
    pub port: u16,
    log: Arc<Mutex<String>>,
}

impl Sidecar {
    pub fn start(cmd: &mut Command) -> Sidecar {
        let mut child = cmd
            .args(["--serve", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn readygate");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .rsplit("http://127.0.0.1:")
                    .next()
                    .filter(|_| line.contains("serving"))
                    .and_then(|p| p.trim().parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the sidecar logs the address it serves on");
        Sidecar { child, port, log }
    }

    /// GET `path`; the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, "")
    }

    pub fn request(&self, method: &str, path: &str, headers: &str) -> (u16, String) {
        let mut conn =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the sidecar");
        write!(
            conn,
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\n{headers}\r\n"
        )
        .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

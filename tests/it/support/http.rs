//! An HTTP server to probe and a client for readygate's own endpoints, both
//! from crates: a `tiny_http` stub whose reply can change while it runs and
//! that records what it was asked, and a readygate sidecar read with `ureq`.
//! Servers that must misbehave are hand-written, in `hostile.rs`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The tests' HTTP client: a fresh connection per request (none kept idle,
/// so nothing holds a server's shutdown up), no redirects followed, and
/// every status returned as a response rather than an error.
pub(super) fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .max_idle_connections(0)
        .build()
        .new_agent()
}

/// What the HTTP stub answers; changeable while it runs.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A real HTTP/1.1 server on 127.0.0.1:0 (`tiny_http`) that answers every
/// request with the current [`Reply`] as JSON and records request heads
/// (request line and headers as sent, one string each).
pub struct HttpStub {
    pub port: u16,
    reply: Arc<Mutex<Reply>>,
    pub heads: Arc<Mutex<Vec<String>>>,
    pub hits: Arc<AtomicUsize>,
    /// Extra headers every reply carries.
    headers: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
}

impl HttpStub {
    pub fn start(status: u16, body: &str) -> HttpStub {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("start the HTTP stub"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let reply = Arc::new(Mutex::new(Reply {
            status,
            body: body.to_string(),
        }));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let headers = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let (r, h, n, s, srv, x) = (
            reply.clone(),
            heads.clone(),
            hits.clone(),
            stop.clone(),
            server.clone(),
            headers.clone(),
        );
        thread::spawn(move || loop {
            let mut request = match srv.recv() {
                Ok(request) => request,
                Err(_) if s.load(Ordering::SeqCst) => return,
                Err(_) => continue,
            };
            n.fetch_add(1, Ordering::SeqCst);
            let mut sent = head(&request);
            let mut body = String::new();
            let _ = request
                .as_reader()
                .take(64 * 1024)
                .read_to_string(&mut body);
            if !body.is_empty() {
                sent.push_str(&format!("\r\n{body}"));
            }
            h.lock().unwrap().push(sent);
            let Reply { status, body } = r.lock().unwrap().clone();
            let json = tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap();
            let mut response = tiny_http::Response::from_string(body)
                .with_status_code(status)
                .with_header(json);
            for (name, value) in x.lock().unwrap().iter() {
                let header = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes());
                response.add_header(header.unwrap());
            }
            let response = response
                // Always Content-Length, never chunked, whatever the size.
                .with_chunked_threshold(usize::MAX);
            // A slow reader of a big body holds up only its own request.
            thread::spawn(move || {
                let _ = request.respond(response);
            });
        });
        HttpStub {
            port,
            reply,
            heads,
            hits,
            headers,
            stop,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every reply from now on carries this header too.
    pub fn add_header(&self, name: &str, value: &str) {
        self.headers
            .lock()
            .unwrap()
            .push((name.to_string(), value.to_string()));
    }

    pub fn set(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = Reply {
            status,
            body: body.to_string(),
        };
    }
}

/// A request's head as it came: request line, then each header as sent.
fn head(request: &tiny_http::Request) -> String {
    let mut head = format!(
        "{} {} HTTP/{}\r\n",
        request.method(),
        request.url(),
        request.http_version()
    );
    for header in request.headers() {
        head.push_str(&format!("{}: {}\r\n", header.field, header.value));
    }
    head
}

impl Drop for HttpStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The serving thread ends and drops the last handle: the listener closes.
        self.server.unblock();
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
        self.request("GET", path, &[])
    }

    /// `method` `path` with extra `headers`; the status code and body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}{path}", self.port));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = client()
            .run(request.body(()).unwrap())
            .expect("the sidecar answers");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .read_to_string()
            .expect("the sidecar's body");
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

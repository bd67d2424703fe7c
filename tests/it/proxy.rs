//! HTTP(S) proxies from the environment: used as curl uses them, and a
//! failure at the proxy blamed on the proxy, not on the target.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{free_port, readygate, run, usage_error, HttpStub};

/// A small real proxy: forwards plain-HTTP GETs (absolute URIs) to their
/// target and logs them; answers CONNECT (HTTPS tunnels) with 407.
const PROXY: &str = r#"
import http.server, socketserver, sys, urllib.request
class P(http.server.BaseHTTPRequestHandler):
    def do_CONNECT(self):
        self.send_response(407); self.send_header("Proxy-Authenticate", "Basic"); self.end_headers()
    def do_GET(self):
        if "echo" in self.path:
            # A proxy's error page that echoes what the client sent.
            body = ("denied for " + str(self.headers.get("Proxy-Authorization"))).encode()
            self.send_response(407); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
            return
        print("GET", self.path, flush=True)
        with urllib.request.urlopen(self.path) as r:
            body = r.read()
            self.send_response(r.status); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
    def log_message(self, *a): pass
s = socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), P)
print("up", flush=True)
s.serve_forever()
"#;

struct Proxy(Child, BufReader<std::process::ChildStdout>);

impl Proxy {
    fn start(port: u16) -> Proxy {
        let mut child = Command::new("python3")
            .args(["-c", PROXY, &port.to_string()])
            .env("no_proxy", "*")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the proxy");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "up", "the proxy did not start");
        Proxy(child, out)
    }

    fn next_request(&mut self) -> String {
        let mut line = String::new();
        self.1.read_line(&mut line).unwrap();
        line
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn requests_go_through_the_proxy_and_no_proxy_goes_direct() {
    let mut row = crate::record::row(
        "HTTP",
        "HTTP_PROXY set: a forwarding proxy in between; NO_PROXY naming the host",
        "the request goes through the proxy (and --print-config says so); NO_PROXY goes direct",
    );
    let web = HttpStub::start(200, r#"{"status":"OK"}"#);
    let port = free_port();
    let mut proxy = Proxy::start(port);
    let proxy_url = format!("http://127.0.0.1:{port}");
    let url = web.url("/health");
    let ran = run(readygate()
        .env("HTTP_PROXY", &proxy_url)
        .args(["--once", &url]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        proxy.next_request().contains("/health"),
        "the proxy saw no request"
    );
    let print = run(readygate()
        .env("HTTP_PROXY", &proxy_url)
        .args(["--print-config", &url]));
    assert!(
        print
            .stdout
            .contains(&format!("through the proxy {proxy_url} (from HTTP_PROXY)")),
        "{}",
        print.stdout
    );
    // NO_PROXY: direct, though the proxy is gone.
    drop(proxy);
    let ran = run(readygate()
        .env("HTTP_PROXY", &proxy_url)
        .env("NO_PROXY", "localhost,127.0.0.1")
        .args(["--once", &url]));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    row.saw("ready through the proxy; direct with NO_PROXY while the proxy was down");
}

#[test]
fn failures_at_the_proxy_blame_the_proxy() {
    let mut row = crate::record::row(
        "HTTP",
        "HTTPS_PROXY names a proxy that is down, or one that wants credentials (407 to CONNECT)",
        "the reason says the proxy, from which variable, and the hint says NO_PROXY or credentials",
    );
    let down = free_port();
    let ran = run(readygate()
        .env("HTTPS_PROXY", format!("http://u:hunter2@127.0.0.1:{down}"))
        .args(["--once", "https://api.example.com/health"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "through the proxy http://u:***@127.0.0.1:{down} (from HTTPS_PROXY): connection refused"
        )),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("NO_PROXY"), "{}", ran.stderr);
    assert!(!ran.stderr.contains("hunter2"), "{}", ran.stderr);
    let port = free_port();
    let _proxy = Proxy::start(port);
    let ran = run(readygate()
        .env("https_proxy", format!("127.0.0.1:{port}"))
        .args(["--once", "https://api.example.com/health"]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("through the proxy"), "{}", ran.stderr);
    assert!(ran.stderr.contains("credentials"), "{}", ran.stderr);
    row.saw("'through the proxy ... (from HTTPS_PROXY): connection refused' with a NO_PROXY hint; a 407 asks for credentials in the variable");
}

#[test]
fn a_proxy_variable_that_is_no_url_is_a_usage_error() {
    let ran = run(readygate()
        .env("HTTPS_PROXY", "ftp://proxy")
        .args(["--once", "https://api.example.com/health"]));
    usage_error(&ran, "HTTPS_PROXY=ftp://proxy", "HTTPS_PROXY");
}

#[test]
fn proxy_credentials_are_never_printed() {
    let mut row = crate::record::row(
        "Secrets",
        "a proxy whose 407 page echoes the Proxy-Authorization header; a proxy user name that is a token",
        "neither the password, nor its Basic form, nor a token user name is printed",
    );
    let port = free_port();
    let _proxy = Proxy::start(port);
    let web = HttpStub::start(200, "ok");
    let ran = run(readygate()
        .env(
            "HTTP_PROXY",
            format!("http://ops:pr0xy-Secret-9@127.0.0.1:{port}"),
        )
        .args(["--once", &web.url("/echo")]));
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(ran.stderr.contains("HTTP 407"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("rejected the credentials"),
        "{}",
        ran.stderr
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("ops:pr0xy-Secret-9");
    for secret in ["pr0xy-Secret-9", basic.as_str()] {
        assert!(!ran.stderr.contains(secret), "{secret} in {}", ran.stderr);
    }
    let down = free_port();
    let ran = run(readygate()
        .env(
            "HTTPS_PROXY",
            format!("http://APIKEY0123456789@127.0.0.1:{down}"),
        )
        .args(["--once", "https://api.example.com/h"]));
    assert!(!ran.stderr.contains("APIKEY0123456789"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("http://***@127.0.0.1"),
        "{}",
        ran.stderr
    );
    for bad in ["socks5://127.0.0.1:1080", "http://user:pa/ss@proxy:3128"] {
        let ran = run(readygate()
            .env("HTTPS_PROXY", bad)
            .args(["--once", "https://api.example.com/h"]));
        usage_error(&ran, bad, "HTTPS_PROXY");
        assert!(!ran.stderr.contains("pa/ss"), "{}", ran.stderr);
    }
    row.saw("407 page echoing the header: password and Basic value masked; a token user name masked; SOCKS and an unencoded / refused with exit 2");
}

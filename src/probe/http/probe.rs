//! HTTP probe: ready when the response matches the expectations (status set,
//! JSON pointer values, body substring). One client is built for all HTTP
//! targets, so keep-alive connections are reused between attempts and TLS
//! roots are loaded once. The body read is capped.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use url::Url;

use super::expect::{same_version, Expect};
use super::settings::Ask;
use crate::not_ready::{dns, is_dns_error, Class, NotReady};
use crate::probe::proxy::Via;
use crate::secret::Redactor;
use crate::text::{error_chain, excerpt};

/// At most this much of a body is read.
const BODY_CAP: usize = 1024 * 1024;

pub(crate) struct HttpProbe {
    client: Client,
    /// The URL without its user and password, which travel as `basic`.
    url: Url,
    basic: Option<(String, String)>,
    ask: Ask,
    /// The Content-Type a body goes with, unless `--http-header` sets one.
    content_type: Option<&'static str>,
    expect: Arc<Expect>,
    /// Cleans what the server sent before it is cut short for a message, so
    /// a secret it echoes cannot show through the cut.
    redactor: Redactor,
    /// The proxy requests go through, which failures there are blamed on.
    via: Option<Via>,
    /// `http+unix://`: the socket every request goes to.
    socket: Option<std::path::PathBuf>,
}

impl HttpProbe {
    pub(crate) fn new(
        client: Client,
        mut url: Url,
        ask: Ask,
        typed_by_form: bool,
        expect: Arc<Expect>,
        redactor: Redactor,
        via: Option<Via>,
    ) -> Self {
        // `http://user:pass@host/` means Basic authentication; reqwest does
        // not send the URL's credentials by itself.
        let decode = crate::text::percent_decode;
        let basic = (!url.username().is_empty() || url.password().is_some()).then(|| {
            let user = decode(url.username());
            let password = decode(url.password().unwrap_or_default());
            let _ = url.set_username("");
            let _ = url.set_password(None);
            (user, password)
        });
        let content_type = ask.body.as_deref().filter(|_| typed_by_form).map(|body| {
            match serde_json::from_str::<serde_json::Value>(body) {
                Ok(_) => "application/json",
                Err(_) => "text/plain; charset=utf-8",
            }
        });
        HttpProbe {
            client,
            url,
            basic,
            ask,
            content_type,
            expect,
            redactor,
            via,
            socket: None,
        }
    }

    /// Every request goes to this Unix socket (the client is bound to it):
    /// failures to reach it name it.
    pub(crate) fn over_socket(mut self, socket: std::path::PathBuf) -> Self {
        self.socket = Some(socket);
        self
    }

    /// The proxy its requests go through.
    pub(crate) fn via(&self) -> Option<&Via> {
        self.via.as_ref()
    }

    pub(crate) async fn check(&mut self, budget: Duration) -> Result<(), NotReady> {
        let answer = match (self.fetch(budget).await, &self.socket) {
            (Err(e), Some(socket)) if e.class == Class::Refused => {
                return Err(unreachable_socket(socket, &e));
            }
            (answer, _) => answer?,
        };
        self.judge(&answer)
    }

    /// Sends the request and reads the answer, the body capped.
    async fn fetch(&self, budget: Duration) -> Result<Answer, NotReady> {
        let send = || {
            let mut request = self
                .client
                .request(self.ask.method.clone(), self.url.clone())
                .timeout(budget);
            if let Some(body) = &self.ask.body {
                request = request.body(body.clone());
                if let Some(content_type) = self.content_type {
                    request = request.header(reqwest::header::CONTENT_TYPE, content_type);
                }
            }
            if let Some((user, password)) = &self.basic {
                request = request.basic_auth(user, Some(password));
            }
            request.send()
        };
        let mut response = match send().await {
            Ok(response) => response,
            // A kept-alive connection the server closed while it was idle
            // fails before any byte of an answer: that says nothing about the
            // server. Once more, on a new connection.
            Err(e) if closed_before_answer(&e) => send().await.map_err(|e| classify(e, budget))?,
            Err(e) => return Err(classify(e, budget)),
        };
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, budget))? {
            let room = BODY_CAP - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
            truncated,
        })
    }

    /// Whether the answer is what the target expects.
    fn judge(&self, answer: &Answer) -> Result<(), NotReady> {
        let Answer {
            status,
            headers,
            body,
            truncated,
        } = answer;
        let (status, truncated) = (*status, *truncated);
        let text = String::from_utf8_lossy(body);
        // Messages quote the body: redacted whole, then shortened. A body
        // cut at the cap may end in the first part of a secret, which no
        // longer matches: such a tail is dropped before redaction.
        let shown = |text: &str| {
            let keep = match truncated {
                true => text.len().saturating_sub(self.redactor.longest()),
                false => text.len(),
            };
            let mut end = keep;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            self.redactor.clean(&text[..end])
        };
        if !self.expect.status.contains(status.as_u16()) {
            let mut reason = format!("HTTP {}, want {}", show_status(status), self.expect.status);
            reason.push_str(&body_note(&shown(&text)));
            return Err(NotReady::new(Class::Response, reason).hint(status_hint(status)));
        }
        for expect in &self.expect.headers {
            expect
                .check(headers, |v| self.redactor.clean(v))
                .map_err(|reason| NotReady::new(Class::Response, reason))?;
        }
        if let Some(needle) = &self.expect.body {
            if !text.contains(needle.as_str()) {
                let within = if truncated { " in its first 1 MiB" } else { "" };
                return Err(NotReady::new(
                    Class::Response,
                    format!(
                        "body does not contain {needle:?}{within}{}",
                        body_note(&shown(&text))
                    ),
                ));
            }
        }
        if let Some(re) = &self.expect.body_regex {
            if !re.is_match(body) {
                let within = if truncated { " in its first 1 MiB" } else { "" };
                return Err(NotReady::new(
                    Class::Response,
                    format!(
                        "body does not match {:?}{within}{}",
                        re.pattern,
                        body_note(&shown(&text))
                    ),
                ));
            }
        }
        if !self.expect.json.is_empty() || self.expect.version.is_some() {
            let doc: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
                let why = if truncated {
                    "body is larger than 1 MiB".to_string()
                } else {
                    format!("body is not JSON ({e})")
                };
                NotReady::new(
                    Class::Response,
                    format!("{why}: {}", excerpt(&shown(&text))),
                )
            })?;
            for expect in &self.expect.json {
                expect
                    .check_shown(&doc, shown)
                    .map_err(|reason| NotReady::new(Class::Response, reason))?;
            }
            if let Some(want) = &self.expect.version {
                let have = doc.pointer("/version").and_then(serde_json::Value::as_str);
                match have {
                    Some(have) if same_version(have, want) => {}
                    Some(have) => {
                        return Err(NotReady::new(Class::Version, format!("the service runs version {}, this gate expects {want}", excerpt(&shown(have))))
                            .hint("deploy web and worker from one release (the same image tag); a rolling upgrade settles by itself"))
                    }
                    None => {
                        return Err(NotReady::new(Class::Version, format!("the response has no \"version\", this gate expects {want}"))
                            .hint("point the gate at the health endpoint that reports the version (e.g. /api/public/health)"))
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why a `http+unix://` socket could not be reached, naming it.
fn unreachable_socket(socket: &std::path::Path, e: &NotReady) -> NotReady {
    let shown = crate::text::printable(&socket.display().to_string());
    match e.reason.contains("does not exist") {
        true => NotReady::new(Class::Refused, format!("no socket at {shown} yet")).hint(
            "the server has not created its socket yet: is it up, is the path right, and is its directory a volume both containers mount?",
        ),
        false => NotReady::new(Class::Refused, format!("nothing accepts on {shown}")).hint(
            "a file is there but no server accepts on it (a socket left from an earlier run, or not a socket at all)",
        ),
    }
    .free_to_retry()
}

/// What came back, the body cut at [`BODY_CAP`].
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    truncated: bool,
}

fn show_status(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

fn status_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        404 => "the path is wrong, or another service answers on this port",
        401 | 403 => "the endpoint wants credentials: pass them with --http-header",
        300..=399 => "a redirect was not followed to a matching answer: point at the final URL",
        500..=599 => "the service is up but says it is not healthy: check its logs",
        _ => "the service answers, but not with an accepted status (see --http-status)",
    }
}

/// The request went out on a connection that was closed before anything
/// came back (not a timeout, not a new connection refused).
fn closed_before_answer(err: &reqwest::Error) -> bool {
    if err.is_timeout() || err.is_connect() || !err.is_request() {
        return false;
    }
    // hyper's IncompleteMessage: a kept connection found closed as it was
    // reused. A reset is not retried, or a backend that resets every other
    // connection would pass.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// " (body: ...)" with an excerpt, or nothing for a blank body.
fn body_note(text: &str) -> String {
    match text.trim().is_empty() {
        true => String::new(),
        false => format!(" (body: {})", excerpt(text)),
    }
}

/// Turns a reqwest error into a reason, without the URL (which the target
/// line already shows, redacted).
pub(crate) fn classify(err: reqwest::Error, budget: Duration) -> NotReady {
    if err.is_timeout() {
        return NotReady::timeout(budget);
    }
    let is_redirect = err.is_redirect();
    let chain = error_chain(&err.without_url());
    let lower = chain.to_ascii_lowercase();
    if is_redirect {
        return NotReady::new(Class::Response, format!("too many redirects ({chain})"))
            .hint("the endpoint redirects in a loop: point at the final URL");
    }
    if lower.contains("certificate")
        || lower.contains("tls") && lower.contains("invalid")
        || lower.contains("unknownissuer")
    {
        // A certificate for 1,500 names lists them all: keep it one line.
        let chain = crate::text::shorten_to(&chain, 400);
        return NotReady::new(Class::Tls, format!("TLS verification failed: {chain}"))
            .hint("the server's certificate is not trusted: pass its CA with --ca-file (or fix the host name)");
    }
    if is_dns_error(&lower) {
        return dns("host", &chain);
    }
    if lower.contains("no such file or directory") {
        // Only a Unix socket path can be missing (`http+unix://`).
        return NotReady::new(Class::Refused, "the socket does not exist yet").free_to_retry();
    }
    if lower.contains("connection refused") {
        return NotReady::new(Class::Refused, "connection refused")
            .hint("nothing listens there yet: is the server up, and are the host and port right?")
            .free_to_retry();
    }
    if lower.contains("end of file before message length reached")
        || lower.contains("connection closed before message completed")
        || lower.contains("incomplete message")
        || lower.contains("connection reset")
    {
        return NotReady::new(Class::Other, "the connection closed before the whole response arrived")
            .hint("the server, or a proxy in between, dropped the connection mid-response: check its logs and restarts");
    }
    NotReady::new(Class::Other, format!("request failed: {chain}"))
}

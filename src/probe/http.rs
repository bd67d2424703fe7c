//! HTTP probe: ready when the response matches the expectations (status set,
//! JSON pointer values, body substring). One client is built for all HTTP
//! targets, so keep-alive connections are reused between attempts and TLS
//! roots are loaded once. The body read is capped.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, StatusCode};
use url::Url;

use super::{Class, NotReady};

/// At most this much of a body is read.
pub const BODY_CAP: usize = 1024 * 1024;

/// Accepted status codes: single codes and inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    /// Parses `200`, `200-299`, `200,204,300-399`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in raw.split(',').map(str::trim) {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let code = |s: &str| -> Result<u16, String> {
                match s.trim().parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => Ok(c),
                    _ => Err(format!(
                        "{:?} is not an HTTP status between 100 and 599; write e.g. 200 or 200-299",
                        crate::duration::shorten(part)
                    )),
                }
            };
            let (lo, hi) = (code(lo)?, code(hi)?);
            if lo > hi {
                return Err(format!(
                    "range {part:?} is backwards; write the low code first"
                ));
            }
            ranges.push((lo, hi));
        }
        Ok(StatusSet(ranges))
    }

    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// `--http-json POINTER=VALUE`: the value at an RFC 6901 pointer must equal
/// VALUE (a JSON string compared as text, anything else by its JSON form).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonExpect {
    pub pointer: String,
    pub value: String,
}

impl JsonExpect {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (pointer, value) = raw.split_once('=').ok_or_else(|| {
            format!(
                "{:?} has no '='; write POINTER=VALUE, e.g. /status=OK",
                crate::duration::shorten(raw)
            )
        })?;
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(format!(
                "pointer {:?} must start with '/', e.g. /status=OK",
                crate::duration::shorten(pointer)
            ));
        }
        let mut chars = pointer.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "pointer {:?} has a '~' not followed by 0 or 1 (RFC 6901)",
                    crate::duration::shorten(pointer)
                ));
            }
        }
        Ok(JsonExpect {
            pointer: pointer.to_string(),
            value: value.to_string(),
        })
    }

    pub fn check(&self, doc: &serde_json::Value) -> Result<(), String> {
        match doc.pointer(&self.pointer) {
            None => Err(format!(
                "JSON {} is missing, want {:?}",
                self.pointer, self.value
            )),
            Some(serde_json::Value::String(s)) if *s == self.value => Ok(()),
            Some(other)
                if !other.is_string()
                    && serde_json::from_str::<serde_json::Value>(&self.value)
                        .is_ok_and(|v| v == *other) =>
            {
                Ok(())
            }
            Some(other) => Err(format!(
                "JSON {} is {}, want {:?}",
                self.pointer,
                excerpt(&other.to_string()),
                self.value
            )),
        }
    }
}

/// What a response must look like.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    pub status: StatusSet,
    pub json: Vec<JsonExpect>,
    pub body: Option<String>,
    /// `--expect-version`: the JSON `/version` must be this release (a
    /// leading `v` on either side is ignored).
    pub version: Option<String>,
}

/// `v3.1.0` and `3.1.0` are the same release.
fn same_version(a: &str, b: &str) -> bool {
    let bare = |v: &str| v.trim().trim_start_matches(['v', 'V']).to_string();
    bare(a) == bare(b)
}

pub struct HttpProbe {
    client: Client,
    url: Url,
    expect: Arc<Expect>,
}

impl HttpProbe {
    pub fn new(client: Client, url: Url, expect: Arc<Expect>) -> Self {
        HttpProbe {
            client,
            url,
            expect,
        }
    }

    pub async fn check(&mut self, budget: Duration) -> Result<(), NotReady> {
        let mut response = self
            .client
            .get(self.url.clone())
            .timeout(budget)
            .send()
            .await
            .map_err(|e| classify(e, budget))?;
        let status = response.status();
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
        let text = String::from_utf8_lossy(&body);
        if !self.expect.status.contains(status.as_u16()) {
            let mut reason = format!("HTTP {}, want {}", show_status(status), self.expect.status);
            reason.push_str(&body_note(&text));
            return Err(NotReady::new(Class::Response, reason).hint(status_hint(status)));
        }
        if let Some(needle) = &self.expect.body {
            if !text.contains(needle.as_str()) {
                let within = if truncated { " in its first 1 MiB" } else { "" };
                return Err(NotReady::new(
                    Class::Response,
                    format!(
                        "body does not contain {needle:?}{within}{}",
                        body_note(&text)
                    ),
                ));
            }
        }
        if !self.expect.json.is_empty() || self.expect.version.is_some() {
            let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                let why = if truncated {
                    "body is larger than 1 MiB".to_string()
                } else {
                    format!("body is not JSON ({e})")
                };
                NotReady::new(Class::Response, format!("{why}: {}", excerpt(&text)))
            })?;
            for expect in &self.expect.json {
                expect
                    .check(&doc)
                    .map_err(|reason| NotReady::new(Class::Response, reason))?;
            }
            if let Some(want) = &self.expect.version {
                let have = doc.pointer("/version").and_then(serde_json::Value::as_str);
                match have {
                    Some(have) if same_version(have, want) => {}
                    Some(have) => {
                        return Err(NotReady::new(Class::Version, format!("the service runs version {have}, this gate expects {want}"))
                            .hint("deploy web and worker from one release (the same image tag); a rolling upgrade settles by itself"))
                    }
                    None => {
                        return Err(NotReady::new(Class::Version, format!("the response has no \"version\", this gate expects {want}"))
                            .hint("point the gate at the health endpoint that reports the version (Langfuse: /api/public/health)"))
                    }
                }
            }
        }
        Ok(())
    }
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

/// " (body: ...)" with an excerpt, or nothing for a blank body.
fn body_note(text: &str) -> String {
    match text.trim().is_empty() {
        true => String::new(),
        false => format!(" (body: {})", excerpt(text)),
    }
}

/// A short one-line excerpt of response text for messages.
fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    let line = super::one_line(text);
    if line.chars().count() <= MAX {
        return line;
    }
    let head: String = line.chars().take(MAX).collect();
    format!("{head}...")
}

/// Turns a reqwest error into a reason, without the URL (which the target
/// line already shows, redacted).
pub(super) fn classify(err: reqwest::Error, budget: Duration) -> NotReady {
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
        return NotReady::new(Class::Tls, format!("TLS verification failed: {chain}"))
            .hint("the server's certificate is not trusted: pass its CA with --ca-file (or fix the host name)");
    }
    if super::is_dns_error(&lower) {
        return super::dns("host", &chain);
    }
    if lower.contains("connection refused") {
        return NotReady::new(Class::Refused, "connection refused")
            .hint("nothing listens there yet: is the server up, and are the host and port right?");
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

/// The messages of an error and its sources, joined.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ignore_a_leading_v() {
        assert!(same_version("v3.225.4", "3.225.4") && same_version("3.225.4", "v3.225.4"));
        assert!(!same_version("3.225.4", "3.225.40"));
    }

    #[test]
    fn status_sets() {
        let s = StatusSet::parse("200,204, 300-399").unwrap();
        assert!(s.contains(204) && s.contains(301) && !s.contains(201));
        assert_eq!(s.to_string(), "200,204,300-399");
        for bad in ["", "2xx", "600", "299-200", "200-", "99"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_expectations() {
        let doc: serde_json::Value =
            serde_json::json!({"status": "OK", "n": 3, "ok": true, "a/b": "x"});
        assert!(JsonExpect::parse("/status=OK").unwrap().check(&doc).is_ok());
        assert!(JsonExpect::parse("/n=3").unwrap().check(&doc).is_ok());
        assert!(JsonExpect::parse("/ok=true").unwrap().check(&doc).is_ok());
        assert!(JsonExpect::parse("/a~1b=x").unwrap().check(&doc).is_ok());
        let miss = JsonExpect::parse("/status=ok")
            .unwrap()
            .check(&doc)
            .unwrap_err();
        assert_eq!(miss, r#"JSON /status is "OK", want "ok""#);
        assert!(JsonExpect::parse("/version=1")
            .unwrap()
            .check(&doc)
            .unwrap_err()
            .contains("missing"));
        for bad in ["status=OK", "/status", "/a~2=x", "/a~=x"] {
            assert!(JsonExpect::parse(bad).is_err(), "{bad}");
        }
    }
}

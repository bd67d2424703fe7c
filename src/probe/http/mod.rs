//! HTTP targets (`http://`, `https://`): ready when the response matches
//! the expectations. This room owns their URL rules, their flags
//! (`--http-*`, `--expect-version`) and per-target settings (the URL
//! fragment, `settings.rs`), the one client all HTTP targets share, the
//! probe, and how `--print-config` describes them.

mod client;
mod expect;
mod probe;
mod settings;
mod unix;

use std::sync::Arc;

use url::Url;

pub(crate) use client::{build_client, plain_client};
pub(crate) use expect::{JsonExpect, StatusSet};
pub(crate) use probe::{classify, HttpProbe};
pub(crate) use unix::SCHEME as UNIX_SCHEME;

use super::tls::Tls;
use crate::options::{applies_to, err, ConfigError, Merge, Opt, Split, Takes};
use crate::secret::Redactor;
use crate::text::shorten;
use client::{parse_header, redirect_policy};
use expect::{BodyRegex, Expect, HeaderExpect};
use settings::{Ask, Overrides};

pub(crate) const EXPECT_VERSION: Opt = Opt {
    flag: Some("--expect-version"),
    short: None,
    var: "READYGATE_EXPECT_VERSION",
    takes: Takes::Value("VERSION"),
    help: "The health endpoint's JSON \"version\" must be this release (a leading v is ignored); with a preset, its health endpoint's",
};
const STATUS: Opt = Opt {
    flag: Some("--http-status"),
    short: None,
    var: "READYGATE_HTTP_STATUS",
    takes: Takes::Value("CODES"),
    help: "HTTP: accepted status codes, e.g. 200 or 200-299,304 [default: 200-299]",
};
const JSON: Opt = Opt {
    flag: Some("--http-json"),
    short: None,
    var: "READYGATE_HTTP_JSON",
    takes: Takes::List("POINTER=VALUE", Split::Line),
    help:
        "HTTP: the JSON value at an RFC 6901 pointer must equal VALUE, e.g. /status=OK; repeatable",
};
const BODY: Opt = Opt {
    flag: Some("--http-body"),
    short: None,
    var: "READYGATE_HTTP_BODY",
    takes: Takes::Value("TEXT"),
    help: "HTTP: the body must contain this text",
};
const BODY_REGEX: Opt = Opt {
    flag: Some("--http-body-regex"),
    short: None,
    var: "READYGATE_HTTP_BODY_REGEX",
    takes: Takes::Value("PATTERN"),
    help: "HTTP: the body must match this regular expression (\\d, \\w and \\s are ASCII)",
};
const EXPECT_HEADERS: Opt = Opt {
    flag: Some("--http-expect-header"),
    short: None,
    var: "READYGATE_HTTP_EXPECT_HEADERS",
    takes: Takes::List("NAME[: VALUE]", Split::Line),
    help: "HTTP: the response must have this header with this value (a trailing * matches a prefix), or at all; repeatable",
};
const HEADERS: Opt = Opt {
    flag: Some("--http-header"),
    short: None,
    var: "READYGATE_HTTP_HEADERS",
    takes: Takes::List("NAME: VALUE", Split::Line),
    help: "HTTP: send this header, e.g. 'Authorization: Bearer ...'; repeatable",
};
const METHOD: Opt = Opt {
    flag: Some("--http-method"),
    short: None,
    var: "READYGATE_HTTP_METHOD",
    takes: Takes::Value("METHOD"),
    help: "HTTP: GET, HEAD or POST [default: GET; POST with --http-send-body]",
};
const SEND_BODY: Opt = Opt {
    flag: Some("--http-send-body"),
    short: None,
    var: "READYGATE_HTTP_SEND_BODY",
    takes: Takes::Value("TEXT"),
    help: "HTTP: POST this body (Content-Type application/json if it is JSON, else text/plain, unless --http-header sets one)",
};

pub(crate) const OPTIONS: &[&Opt] = &[
    &EXPECT_VERSION,
    &STATUS,
    &JSON,
    &BODY,
    &BODY_REGEX,
    &EXPECT_HEADERS,
    &HEADERS,
    &METHOD,
    &SEND_BODY,
];

const KINDS: &str = "http(s)://";

/// The most memory the compiled body patterns of all targets may hold.
const PATTERNS_MEMORY: usize = 8 << 20;

pub(crate) use crate::secret::credential_secrets;
pub(crate) use settings::fragment_secrets;

/// An HTTP target as shown: credentials redacted, and in its fragment the
/// request body and credential headers' expected values masked.
pub(crate) fn redact_url(url: &Url) -> String {
    crate::secret::redact_http_url(&settings::masked(url))
}

/// What a preset adds to one of its HTTP targets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    /// Accepted statuses unless `--http-status` is given.
    pub(crate) status: Option<StatusSet>,
    pub(crate) json: Vec<JsonExpect>,
    /// This target's JSON reports the version `--expect-version` names;
    /// with such a target, `--expect-version` applies to it alone.
    pub(crate) reports_version: bool,
}

/// A target's URL rules: a host, and valid per-target settings.
pub(crate) fn check_url(url: &Url, has_host: bool) -> Result<(), String> {
    if !has_host {
        return Err("needs a host, e.g. http://web:3000/health".into());
    }
    if url.scheme() == unix::SCHEME {
        unix::socket_path(url)?;
    }
    Overrides::from_url(url).map(drop)
}

/// The HTTP flags, validated.
pub(crate) struct Flags {
    status: Option<StatusSet>,
    json: Vec<JsonExpect>,
    body: Option<String>,
    body_regex: Option<Arc<BodyRegex>>,
    expect_headers: Vec<HeaderExpect>,
    method: Option<reqwest::Method>,
    send_body: Option<String>,
    version: Option<String>,
    /// `--expect-version` applies to every target (no preset target
    /// reports the version).
    version_for_all: bool,
    headers: reqwest::header::HeaderMap,
    header_names: Vec<String>,
    /// Header values (and their tokens), for the redactor.
    secrets: Vec<String>,
}

impl Flags {
    /// Whether `--http-header` sets `Authorization`.
    pub(crate) fn sets_authorization(&self) -> bool {
        self.headers.contains_key(reqwest::header::AUTHORIZATION)
    }

    /// Reads the flags; `present` says whether there is an HTTP target.
    pub(crate) fn read(m: &Merge, present: bool) -> Result<Flags, ConfigError> {
        let mut status = None;
        if let Some(given) = m.value(&STATUS)? {
            applies_to(given.origin, present, KINDS)?;
            status = Some(StatusSet::parse(&given.value).or_else(|e| err(given.origin, e))?);
        }
        let mut json = Vec::new();
        for given in m.list(&JSON)? {
            applies_to(given.origin, present, KINDS)?;
            json.push(JsonExpect::parse(&given.value).or_else(|e| err(given.origin, e))?);
        }
        let body = m.value(&BODY)?;
        if let Some(given) = &body {
            applies_to(given.origin, present, KINDS)?;
        }
        let mut body_regex = None;
        if let Some(given) = m.value(&BODY_REGEX)? {
            applies_to(given.origin, present, KINDS)?;
            body_regex = Some(Arc::new(
                BodyRegex::parse(&given.value).or_else(|e| err(given.origin, e))?,
            ));
        }
        let mut expect_headers = Vec::new();
        for given in m.list(&EXPECT_HEADERS)? {
            applies_to(given.origin, present, KINDS)?;
            expect_headers
                .push(HeaderExpect::parse(&given.value).or_else(|e| err(given.origin, e))?);
        }
        let mut method = None;
        let given_method = m.value(&METHOD)?;
        if let Some(given) = &given_method {
            applies_to(given.origin, present, KINDS)?;
            method = Some(settings::parse_method(&given.value).or_else(|e| err(given.origin, e))?);
        }
        let send_body = m.value(&SEND_BODY)?;
        if let Some(given) = &send_body {
            applies_to(given.origin, present, KINDS)?;
            if let Err(e) = settings::ask(method.clone(), Some(given.value.clone())) {
                return err(given_method.map_or(given.origin, |g| g.origin), e);
            }
        }
        let version = m.value(&EXPECT_VERSION)?;
        if let Some(given) = &version {
            applies_to(given.origin, present, KINDS)?;
            let v = &given.value;
            if v.trim().is_empty() || v.chars().count() > 64 || v.chars().any(char::is_whitespace) {
                return err(
                    given.origin,
                    format_args!("{:?} is not a version; write e.g. 3.225.4", shorten(v)),
                );
            }
        }
        let mut headers = reqwest::header::HeaderMap::new();
        let mut header_names = Vec::new();
        let mut secrets = Vec::new();
        for given in m.list(&HEADERS)? {
            applies_to(given.origin, present, KINDS)?;
            let (name, value) = parse_header(&given.value).or_else(|e| err(given.origin, e))?;
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if let Some((scheme, token)) = text.split_once(' ') {
                secrets.push(token.trim().to_string());
                // `Basic base64(user:password)`: the decoded forms too.
                if scheme.eq_ignore_ascii_case("basic") {
                    use base64::Engine as _;
                    let decoded = base64::engine::general_purpose::STANDARD.decode(token.trim());
                    if let Ok(pair) = decoded.map(|b| String::from_utf8_lossy(&b).into_owned()) {
                        if let Some((_, password)) = pair.split_once(':') {
                            secrets.push(password.to_string());
                        }
                        secrets.push(pair);
                    }
                }
            }
            secrets.push(text);
            header_names.push(name.to_string());
            headers.append(name, value);
        }
        for h in expect_headers.iter().filter(|h| h.is_secret()) {
            secrets.extend(
                h.value
                    .as_deref()
                    .map(|v| v.trim_end_matches('*').to_string()),
            );
        }
        secrets.extend(send_body.as_ref().map(|g| g.value.clone()));
        Ok(Flags {
            status,
            json,
            body: body.map(|g| g.value),
            body_regex,
            expect_headers,
            method,
            send_body: send_body.map(|g| g.value),
            version: version.map(|g| g.value),
            version_for_all: true,
            headers,
            header_names,
            secrets,
        })
    }
}

/// Plans HTTP targets: one client for all of them, built once (and one per
/// `http+unix://` socket).
pub(crate) struct Planner {
    client: reqwest::Client,
    tls: Tls,
    /// Which targets go through a proxy, to blame failures there on it.
    proxies: Arc<crate::probe::proxy::Proxies>,
    flags: Flags,
    /// `--http-header` sets Content-Type (else a body gets one by its form).
    sets_content_type: bool,
    /// Compiled body patterns by their text, and the memory they hold all
    /// told (at most [`PATTERNS_MEMORY`]).
    patterns: std::sync::Mutex<(std::collections::HashMap<String, Arc<BodyRegex>>, usize)>,
    description_tail: Vec<String>,
}

impl Planner {
    /// `version_reporters`: some target's [`Extra`] reports the version.
    pub(crate) fn new(
        flags: Flags,
        tls: &Tls,
        version_reporters: bool,
    ) -> Result<Planner, ConfigError> {
        let redirect = redirect_policy(!flags.header_names.is_empty());
        let client = build_client(tls, flags.headers.clone(), redirect)?;
        let proxies = tls.proxies.clone();
        let mut flags = flags;
        if version_reporters {
            // With a preset, --expect-version is about its health endpoint.
            flags.version_for_all = false;
        }
        let mut description_tail: Vec<String> = flags
            .header_names
            .iter()
            .map(|n| format!("header {n}: ***"))
            .collect();
        if tls.insecure {
            description_tail.push("certificates NOT verified (--insecure)".into());
        } else if let Some(ca) = &tls.ca_file {
            description_tail.push(format!("CA {ca}"));
        }
        let mut patterns = (std::collections::HashMap::new(), 0);
        if let Some(re) = &flags.body_regex {
            patterns.1 = re.memory();
            patterns.0.insert(re.pattern.clone(), re.clone());
        }
        Ok(Planner {
            patterns: std::sync::Mutex::new(patterns),
            proxies,
            client,
            tls: tls.clone(),
            sets_content_type: flags.headers.contains_key(reqwest::header::CONTENT_TYPE),
            flags,
            description_tail,
        })
    }

    /// Header values (and their tokens), for the redactor.
    pub(crate) fn secrets(&self) -> Vec<String> {
        self.flags.secrets.clone()
    }

    /// The probe for one target and what it must satisfy, in words: the
    /// flags, then what a preset adds, then the target's own fragment.
    /// `origin` names the target in errors.
    pub(crate) fn plan(
        &self,
        url: &Url,
        extra: Option<&Extra>,
        origin: &str,
        redactor: &Redactor,
    ) -> Result<(HttpProbe, String), ConfigError> {
        let f = &self.flags;
        let own = Overrides::from_url(url).or_else(|e| err(origin, e))?;
        let mut json = own.json.unwrap_or_else(|| f.json.clone());
        let mut status = f.status.clone();
        let mut version = f.version.clone().filter(|_| f.version_for_all);
        if let Some(extra) = extra {
            json.extend(extra.json.iter().cloned());
            // A `--http-status` that only restates the default (for the
            // user's own targets) does not loosen a preset's stricter one.
            status = status
                .filter(|s| *s != StatusSet::default())
                .or_else(|| extra.status.clone());
            version = f.version.clone().filter(|_| extra.reports_version);
        }
        let expect = Expect {
            status: own.status.or(status).unwrap_or_default(),
            headers: own
                .expect_headers
                .unwrap_or_else(|| f.expect_headers.clone()),
            json,
            body: own.body.or_else(|| f.body.clone()),
            body_regex: match own.body_regex {
                Some(pattern) => Some(self.pattern(&pattern, origin)?),
                None => f.body_regex.clone(),
            },
            version,
        };
        let (method, send_body) = match (own.method, own.send_body) {
            (None, None) => (f.method.clone(), f.send_body.clone()),
            // A fragment that sets either decides both for its target.
            (method, body) => (method, body),
        };
        let ask = settings::ask(method, send_body).or_else(|e| err(origin, e))?;
        if ask.method == reqwest::Method::HEAD && expect.reads_body() {
            return err(
                origin,
                "is asked with HEAD, which gets no body, but must have a body, JSON or version to check: use GET, or drop those checks",
            );
        }
        let mut description = self.describe(&ask, &expect);
        let (client, sent_to, socket) = match url.scheme() {
            unix::SCHEME => {
                let socket = unix::socket_path(url).or_else(|e| err(origin, e))?;
                description.push_str(&format!("; over the Unix socket {}", socket.display()));
                let redirect = redirect_policy(!self.flags.header_names.is_empty());
                let client = client::build(
                    &self.tls,
                    self.flags.headers.clone(),
                    redirect,
                    Some(socket.clone()),
                )?;
                (client, unix::request_url(url), Some(socket))
            }
            _ => (self.client.clone(), url.clone(), None),
        };
        let via = match socket {
            None => self.proxies.for_url(url).cloned(),
            Some(_) => None,
        };
        if let Some(via) = &via {
            description.push_str(&format!("; through {via}"));
        }
        let probe = HttpProbe::new(
            client,
            sent_to,
            ask,
            !self.sets_content_type,
            Arc::new(expect),
            redactor.clone(),
            via,
        );
        let probe = match socket {
            Some(socket) => probe.over_socket(socket),
            None => probe,
        };
        Ok((probe, description))
    }

    /// A target's body pattern, compiled once however many targets use it;
    /// all of them together hold at most [`PATTERNS_MEMORY`].
    fn pattern(&self, pattern: &str, origin: &str) -> Result<Arc<BodyRegex>, ConfigError> {
        let mut guard = self.patterns.lock().unwrap_or_else(|p| p.into_inner());
        let (compiled, memory) = &mut *guard;
        if let Some(re) = compiled.get(pattern) {
            return Ok(re.clone());
        }
        let re = Arc::new(BodyRegex::parse(pattern).or_else(|e| {
            err(
                origin,
                format_args!("has #body-regex= that {}", e.trim_start_matches("is ")),
            )
        })?);
        *memory += re.memory();
        if *memory > PATTERNS_MEMORY {
            return err(origin, format_args!("brings the body patterns of all targets to over {} MiB of automata; use fewer or simpler patterns", PATTERNS_MEMORY >> 20));
        }
        compiled.insert(pattern.to_string(), re.clone());
        Ok(re)
    }

    fn describe(&self, ask: &Ask, e: &Expect) -> String {
        let mut parts = vec![];
        if ask.method != reqwest::Method::GET {
            parts.push(format!("{}", ask.method));
        }
        if let Some(body) = &ask.body {
            parts.push(format!("sending a body of {} bytes", body.len()));
        }
        parts.push(format!("status {}", e.status));
        parts.extend(e.headers.iter().map(ToString::to_string));
        parts.extend(
            e.json
                .iter()
                .map(|j| format!("JSON {} = {:?}", j.pointer, j.value)),
        );
        if let Some(body) = &e.body {
            parts.push(format!("body contains {body:?}"));
        }
        if let Some(re) = &e.body_regex {
            parts.push(format!("body matches {:?}", re.pattern));
        }
        if let Some(v) = &e.version {
            parts.push(format!("version {v}"));
        }
        parts.extend(self.description_tail.iter().cloned());
        parts.join("; ")
    }
}

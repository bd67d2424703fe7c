//! HTTP targets (`http://`, `https://`): ready when the response matches
//! the expectations. This room owns their URL rules, their flags
//! (`--http-*`, `--expect-version`), the one client all HTTP targets share,
//! the probe, and how `--print-config` describes them.

mod client;
mod expect;
mod probe;

use std::sync::Arc;

use url::Url;

pub(crate) use client::{build_client, plain_client};
pub(crate) use expect::{JsonExpect, StatusSet};
pub(crate) use probe::{classify, HttpProbe};

use super::tls::Tls;
use crate::options::{applies_to, err, ConfigError, Merge, Opt, Split, Takes};
use crate::secret::Redactor;
use crate::text::shorten;
use client::{parse_header, redirect_policy};
use expect::Expect;

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
const HEADERS: Opt = Opt {
    flag: Some("--http-header"),
    short: None,
    var: "READYGATE_HTTP_HEADERS",
    takes: Takes::List("NAME: VALUE", Split::Line),
    help: "HTTP: send this header, e.g. 'Authorization: Bearer ...'; repeatable",
};

pub(crate) const OPTIONS: &[&Opt] = &[&EXPECT_VERSION, &STATUS, &JSON, &BODY, &HEADERS];

const KINDS: &str = "http(s)://";

pub(crate) use crate::secret::{credential_secrets, redact_http_url as redact_url};

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

/// The HTTP flags, validated.
pub(crate) struct Flags {
    status: Option<StatusSet>,
    json: Vec<JsonExpect>,
    body: Option<String>,
    version: Option<String>,
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
        Ok(Flags {
            status,
            json,
            body: body.map(|g| g.value),
            version: version.map(|g| g.value),
            headers,
            header_names,
            secrets,
        })
    }
}

/// Plans HTTP targets: one client for all of them, built once.
pub(crate) struct Planner {
    client: reqwest::Client,
    /// Which targets go through a proxy, to blame failures there on it.
    proxies: Arc<crate::probe::proxy::Proxies>,
    /// The expectations of targets no preset added to.
    plain: Arc<Expect>,
    flags: Flags,
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
        let plain = Arc::new(Expect {
            status: flags.status.clone().unwrap_or_default(),
            json: flags.json.clone(),
            body: flags.body.clone(),
            version: flags.version.clone().filter(|_| !version_reporters),
        });
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
        Ok(Planner {
            proxies,
            client,
            plain,
            flags,
            description_tail,
        })
    }

    /// Header values (and their tokens), for the redactor.
    pub(crate) fn secrets(&self) -> Vec<String> {
        self.flags.secrets.clone()
    }

    /// The probe for one target and what it must satisfy, in words.
    pub(crate) fn plan(
        &self,
        url: &Url,
        extra: Option<&Extra>,
        redactor: &Redactor,
    ) -> (HttpProbe, String) {
        let expect = match extra {
            None => self.plain.clone(),
            Some(extra) => {
                let mut json = self.flags.json.clone();
                json.extend(extra.json.iter().cloned());
                Arc::new(Expect {
                    // A `--http-status` that only restates the default (for the
                    // user's own targets) does not loosen a preset's stricter one.
                    status: self
                        .flags
                        .status
                        .clone()
                        .filter(|s| *s != StatusSet::default())
                        .or_else(|| extra.status.clone())
                        .unwrap_or_default(),
                    json,
                    body: self.flags.body.clone(),
                    version: self.flags.version.clone().filter(|_| extra.reports_version),
                })
            }
        };
        let via = self.proxies.for_url(url).cloned();
        let mut description = self.describe(&expect);
        if let Some(via) = &via {
            description.push_str(&format!("; through {via}"));
        }
        let probe = HttpProbe::new(
            self.client.clone(),
            url.clone(),
            expect,
            redactor.clone(),
            via,
        );
        (probe, description)
    }

    fn describe(&self, e: &Expect) -> String {
        let mut parts = vec![format!("status {}", e.status)];
        parts.extend(
            e.json
                .iter()
                .map(|j| format!("JSON {} = {:?}", j.pointer, j.value)),
        );
        if let Some(body) = &e.body {
            parts.push(format!("body contains {body:?}"));
        }
        if let Some(v) = &e.version {
            parts.push(format!("version {v}"));
        }
        parts.extend(self.description_tail.iter().cloned());
        parts.join("; ")
    }
}

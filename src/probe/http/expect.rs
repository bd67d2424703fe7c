//! What an HTTP response must look like: accepted status codes, headers,
//! JSON pointer values, a body substring or pattern and the version a health
//! endpoint reports. Parsed from the flags before any request is sent.

use regex_automata::dfa::{dense, Automaton};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_automata::Input;
use reqwest::header::{HeaderMap, HeaderName};

use crate::text::{excerpt, shorten};

/// Accepted status codes: single codes and inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    fn default() -> Self {
        StatusSet(vec![(200, 299)])
    }
}

impl StatusSet {
    /// Parses `200`, `200-299`, `200,204,300-399`.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for part in raw.split(',').map(str::trim) {
            let (lo, hi) = part.split_once('-').unwrap_or((part, part));
            let code = |s: &str| -> Result<u16, String> {
                match s.trim().parse::<u16>() {
                    Ok(c) if (100..=599).contains(&c) => Ok(c),
                    _ => Err(format!(
                        "{:?} is not an HTTP status between 100 and 599; write e.g. 200 or 200-299",
                        shorten(part)
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

    pub(crate) fn contains(&self, code: u16) -> bool {
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
pub(crate) struct JsonExpect {
    pub(crate) pointer: String,
    pub(crate) value: String,
}

impl JsonExpect {
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let (pointer, value) = raw.split_once('=').ok_or_else(|| {
            format!(
                "{:?} has no '='; write POINTER=VALUE, e.g. /status=OK",
                shorten(raw)
            )
        })?;
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(format!(
                "pointer {:?} must start with '/', e.g. /status=OK",
                shorten(pointer)
            ));
        }
        let mut chars = pointer.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "pointer {:?} has a '~' not followed by 0 or 1 (RFC 6901)",
                    shorten(pointer)
                ));
            }
        }
        Ok(JsonExpect {
            pointer: pointer.to_string(),
            value: value.to_string(),
        })
    }

    pub(crate) fn check(&self, doc: &serde_json::Value) -> Result<(), String> {
        self.check_shown(doc, str::to_string)
    }

    /// Like [`JsonExpect::check`]; a mismatching value passes through `shown`
    /// (the redactor) before it is cut short for the message.
    pub(crate) fn check_shown(
        &self,
        doc: &serde_json::Value,
        shown: impl Fn(&str) -> String,
    ) -> Result<(), String> {
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
                excerpt(&shown(&other.to_string())),
                self.value
            )),
        }
    }
}

/// `--http-expect-header 'Name: value'`: the response has this header with
/// exactly this value (trimmed; a trailing `*` makes it a prefix), or with
/// any value when only `Name` is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeaderExpect {
    pub(crate) name: HeaderName,
    pub(crate) value: Option<String>,
}

impl HeaderExpect {
    /// A header that carries credentials: its expected value is a secret,
    /// never shown.
    pub(crate) fn is_secret(&self) -> bool {
        is_secret_header(self.name.as_str())
    }

    /// The expected value as shown: `***` for a secret header.
    fn shown_value(&self) -> String {
        match (&self.value, self.is_secret()) {
            (Some(_), true) => "***".into(),
            (Some(v), false) => format!("{v:?}"),
            (None, _) => String::new(),
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let (name, value) = match raw.split_once(':') {
            Some((name, value)) => (name, Some(value.trim().to_string())),
            None => (raw, None),
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            format!(
                "{:?} is not a header name; write 'Name: value' or just 'Name'",
                shorten(name.trim())
            )
        })?;
        if value
            .as_deref()
            .is_some_and(|v| v.contains(['\r', '\n', '\0']))
        {
            return Err(format!(
                "{name} has a value with a line break or NUL, which no header can carry"
            ));
        }
        Ok(HeaderExpect { name, value })
    }

    /// A mismatch in words. Values of headers that carry credentials
    /// (`Set-Cookie`, `*auth*`, `*token*`, ...) are never quoted.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        shown: impl Fn(&str) -> String,
    ) -> Result<(), String> {
        let have: Vec<String> = headers
            .get_all(&self.name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
            .collect();
        let Some(want) = &self.value else {
            return match have.is_empty() {
                true => Err(format!("the response has no {} header", self.name)),
                false => Ok(()),
            };
        };
        let matches = |v: &String| match want.strip_suffix('*') {
            Some(prefix) => v.starts_with(prefix),
            None => v == want,
        };
        if have.iter().any(matches) {
            return Ok(());
        }
        let n = self.name.as_str();
        let want = self.shown_value();
        let Some(first) = have.first() else {
            return Err(format!("the response has no {n} header, want {want}"));
        };
        match self.is_secret() {
            true => Err(format!("header {n} does not match (values not shown)")),
            false => Err(format!(
                "header {n} is \"{}\", want {want}",
                excerpt(&shown(first))
            )),
        }
    }
}

impl std::fmt::Display for HeaderExpect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(_) => write!(f, "header {}: {}", self.name, self.shown_value()),
            None => write!(f, "header {} present", self.name),
        }
    }
}

/// Header names that carry credentials (cookies, authorization, tokens,
/// keys, sessions, passwords): their values are never shown.
pub(crate) fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "cookie", "auth", "token", "key", "secret", "session", "password",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// `--http-body-regex`: a pattern the body must match somewhere. Compiled
/// once into a DFA (regex-automata, which the log filter already links):
/// matching is linear in the body, and a pattern whose automaton would
/// outgrow [`BodyRegex::SIZE_LIMIT`] is refused at start-up. Classes such as
/// `\w` and `\d` are ASCII; other characters match as written.
#[derive(Clone, Debug)]
pub(crate) struct BodyRegex {
    pub(crate) pattern: String,
    dfa: dense::DFA<Vec<u32>>,
}

impl BodyRegex {
    const SIZE_LIMIT: usize = 1 << 20;

    fn syntax() -> syntax::Config {
        syntax::Config::new().unicode(false).utf8(false)
    }

    /// Checks a pattern's syntax only (cheap): for per-target settings,
    /// read before the patterns are compiled, once each.
    pub(crate) fn check_syntax(pattern: &str) -> Result<(), String> {
        if pattern.is_empty() {
            return Err("is empty; write a pattern, e.g. \"status\":\\s*\"OK\"".into());
        }
        syntax::parse_with(pattern, &Self::syntax()).map(drop).map_err(|e| {
            let why = crate::text::one_line(&e.to_string());
            format!(
                "{:?} is not a regular expression readygate can run: {} (no backreferences, look-around or Unicode classes)",
                shorten(pattern),
                crate::text::shorten_to(&why, 200)
            )
        })
    }

    /// The memory its automaton holds.
    pub(crate) fn memory(&self) -> usize {
        self.dfa.memory_usage()
    }

    pub(crate) fn parse(pattern: &str) -> Result<Self, String> {
        Self::check_syntax(pattern)?;
        let dfa = dense::Builder::new()
            .configure(
                dense::DFA::config()
                    .dfa_size_limit(Some(Self::SIZE_LIMIT))
                    .determinize_size_limit(Some(2 * Self::SIZE_LIMIT)),
            )
            .syntax(Self::syntax())
            .thompson(thompson::Config::new().utf8(false).nfa_size_limit(Some(Self::SIZE_LIMIT)))
            .build(pattern)
            .map_err(|e| {
                let why = crate::text::one_line(&crate::text::error_chain(&e));
                match why.contains("limit") || why.contains("too big") {
                    true => format!("{:?} is too large to match in bounded memory (over 1 MiB as an automaton); simplify it", shorten(pattern)),
                    false => format!("{:?} is not a regular expression readygate can run: {} (no backreferences, look-around or Unicode classes)", shorten(pattern), crate::text::shorten_to(&why, 200)),
                }
            })?;
        Ok(BodyRegex {
            pattern: pattern.to_string(),
            dfa,
        })
    }

    pub(crate) fn is_match(&self, body: &[u8]) -> bool {
        matches!(self.dfa.try_search_fwd(&Input::new(body)), Ok(Some(_)))
    }
}

impl PartialEq for BodyRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

/// What a response must look like.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expect {
    pub(crate) status: StatusSet,
    pub(crate) headers: Vec<HeaderExpect>,
    pub(crate) json: Vec<JsonExpect>,
    pub(crate) body: Option<String>,
    pub(crate) body_regex: Option<std::sync::Arc<BodyRegex>>,
    /// `--expect-version`: the JSON `/version` must be this release (a
    /// leading `v` on either side is ignored).
    pub(crate) version: Option<String>,
}

impl Expect {
    /// Something here needs the body (so HEAD cannot be checked).
    pub(crate) fn reads_body(&self) -> bool {
        self.body.is_some()
            || self.body_regex.is_some()
            || !self.json.is_empty()
            || self.version.is_some()
    }
}

/// `v3.1.0` and `3.1.0` are the same release.
pub(super) fn same_version(a: &str, b: &str) -> bool {
    let bare = |v: &str| v.trim().trim_start_matches(['v', 'V']).to_string();
    bare(a) == bare(b)
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
    fn body_patterns() {
        let re = BodyRegex::parse(r#""status":\s*"(OK|ready)""#).unwrap();
        assert!(re.is_match(br#"{"status": "OK"}"#));
        assert!(!re.is_match(br#"{"status": "starting"}"#));
        assert!(BodyRegex::parse("(?i)migrated")
            .unwrap()
            .is_match(b"All MIGRATED."));
        assert!(BodyRegex::parse("caf\u{e9}|café")
            .unwrap()
            .is_match("le café".as_bytes()));
        assert!(BodyRegex::parse("(")
            .unwrap_err()
            .contains("is not a regular expression"));
        assert!(BodyRegex::parse("").is_err());
        // Exponential as a DFA: refused, not built.
        let blowup = BodyRegex::parse("[01]*1[01]{40}").unwrap_err();
        assert!(blowup.contains("too large"), "{blowup}");
    }

    #[test]
    fn header_expectations() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/json; charset=utf-8".parse().unwrap(),
        );
        h.insert("set-cookie", "session=hunter2".parse().unwrap());
        let id = |s: &str| s.to_string();
        let want = |raw: &str| HeaderExpect::parse(raw).unwrap().check(&h, id);
        assert!(want("Content-Type: application/json*").is_ok());
        assert!(want("content-type").is_ok());
        let miss = want("Content-Type: application/json").unwrap_err();
        assert!(
            miss.contains("is \"application/json; charset=utf-8\""),
            "{miss}"
        );
        assert!(want("X-Ready")
            .unwrap_err()
            .contains("has no x-ready header"));
        let cookie = want("Set-Cookie: session=expected2").unwrap_err();
        assert!(
            !cookie.contains("hunter2") && !cookie.contains("expected2"),
            "{cookie}"
        );
        assert!(cookie.contains("not shown"), "{cookie}");
        let shown = HeaderExpect::parse("X-Api-Key: k-expected-9")
            .unwrap()
            .to_string();
        assert_eq!(shown, "header x-api-key: ***");
        assert!(HeaderExpect::parse("X-A: b\r\nX: c").is_err());
        assert!(HeaderExpect::parse("Bad Name: x").is_err());
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

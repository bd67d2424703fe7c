//! What an HTTP response must look like: accepted status codes, JSON
//! pointer values, a body substring and the version a health endpoint
//! reports. Parsed from the flags before any request is sent.

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

/// What a response must look like.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expect {
    pub(crate) status: StatusSet,
    pub(crate) json: Vec<JsonExpect>,
    pub(crate) body: Option<String>,
    /// `--expect-version`: the JSON `/version` must be this release (a
    /// leading `v` on either side is ignored).
    pub(crate) version: Option<String>,
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

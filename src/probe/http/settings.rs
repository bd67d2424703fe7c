//! What to send and what to expect, per target. The `--http-*` flags set
//! them for every HTTP target; a target's URL fragment overrides them for
//! that target alone, with the flags' names (without `--http-`):
//! `http://web:3000/health#status=200&expect-header=X-Ready:1`. A fragment
//! never leaves the gate (HTTP does not send it), so it cannot change what
//! the server sees beyond these settings.

use reqwest::Method;
use url::Url;

use super::expect::{is_secret_header, BodyRegex, HeaderExpect, JsonExpect, StatusSet};
use crate::text::shorten;

/// The request to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) method: Method,
    /// `--http-send-body` (POST only).
    pub(crate) body: Option<String>,
}

impl Default for Ask {
    fn default() -> Self {
        Ask {
            method: Method::GET,
            body: None,
        }
    }
}

/// `--http-method`: GET, HEAD or POST.
pub(crate) fn parse_method(raw: &str) -> Result<Method, String> {
    match raw.trim().to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "HEAD" => Ok(Method::HEAD),
        "POST" => Ok(Method::POST),
        _ => Err(format!(
            "{:?} is not a method readygate sends; use GET, HEAD or POST",
            shorten(raw)
        )),
    }
}

/// The settings one target overrides, each as the flag would give it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overrides {
    pub(crate) method: Option<Method>,
    pub(crate) send_body: Option<String>,
    pub(crate) status: Option<StatusSet>,
    pub(crate) body: Option<String>,
    /// Checked for syntax; the planner compiles it (once per pattern).
    pub(crate) body_regex: Option<String>,
    /// Replace the flags' lists when given.
    pub(crate) expect_headers: Option<Vec<HeaderExpect>>,
    pub(crate) json: Option<Vec<JsonExpect>>,
}

/// The keys a fragment may hold.
const KEYS: &str = "method, send-body, status, body, body-regex, expect-header, json";

impl Overrides {
    /// Reads a target's fragment (`#key=value&...`, values percent-encoded;
    /// a `+` stays a plus). No fragment, no overrides.
    pub(crate) fn from_url(url: &Url) -> Result<Overrides, String> {
        let mut o = Overrides::default();
        let Some(fragment) = url.fragment() else {
            return Ok(o);
        };
        for part in fragment.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = part.split_once('=').ok_or_else(|| {
                format!(
                    "has a fragment setting {:?} without '='; write #key=value with key one of {KEYS}",
                    shorten(part)
                )
            })?;
            let value = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| {
                    format!(
                        "has a fragment value for {key:?} that is not UTF-8 once percent-decoded"
                    )
                })?
                .into_owned();
            let value = crate::probe::url_part::no_nul(key, value)?;
            let bad = |e: String| format!("has #{key}= that {}", e.trim_start_matches("is "));
            let once = |taken: bool| match taken {
                true => Err(format!("sets #{key}= twice; give it once")),
                false => Ok(()),
            };
            match key {
                "method" => {
                    once(o.method.is_some())?;
                    o.method = Some(parse_method(&value).map_err(bad)?);
                }
                "send-body" | "body" if value.is_empty() => {
                    return Err(format!(
                        "has an empty #{key}=; give the text, or drop the setting"
                    ))
                }
                "send-body" => {
                    once(o.send_body.is_some())?;
                    o.send_body = Some(value);
                }
                "status" => {
                    once(o.status.is_some())?;
                    o.status = Some(StatusSet::parse(&value).map_err(bad)?);
                }
                "body" => {
                    once(o.body.is_some())?;
                    o.body = Some(value);
                }
                "body-regex" => {
                    once(o.body_regex.is_some())?;
                    BodyRegex::check_syntax(&value).map_err(bad)?;
                    o.body_regex = Some(value);
                }
                "expect-header" => o
                    .expect_headers
                    .get_or_insert_with(Vec::new)
                    .push(HeaderExpect::parse(&value).map_err(bad)?),
                "json" => o
                    .json
                    .get_or_insert_with(Vec::new)
                    .push(JsonExpect::parse(&value).map_err(bad)?),
                other => {
                    return Err(format!(
                        "has an unknown fragment setting {:?}; use {KEYS}",
                        shorten(other)
                    ))
                }
            }
        }
        Ok(o)
    }
}

/// The URL as shown, its fragment's request body and the expected values
/// of credential headers masked (`send-body=***`,
/// `expect-header=Authorization:***`).
pub(crate) fn masked(url: &Url) -> Url {
    let Some(fragment) = url.fragment() else {
        return url.clone();
    };
    let parts: Vec<String> = fragment
        .split('&')
        .map(|part| match part.split_once('=') {
            Some(("send-body", _)) => "send-body=***".to_string(),
            Some(("expect-header", raw)) => {
                let value = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
                match value.split_once(':') {
                    Some((name, _)) if is_secret_header(name.trim()) => {
                        format!("expect-header={}:***", name.trim())
                    }
                    _ => part.to_string(),
                }
            }
            _ => part.to_string(),
        })
        .collect();
    let mut shown = url.clone();
    shown.set_fragment(Some(&parts.join("&")));
    shown
}

/// The secrets a fragment holds, for the redactor: its request body and
/// the expected values of credential headers.
pub(crate) fn fragment_secrets(url: &Url) -> Vec<String> {
    let Ok(o) = Overrides::from_url(url) else {
        return Vec::new();
    };
    let mut found: Vec<String> = o.send_body.into_iter().collect();
    for h in o.expect_headers.unwrap_or_default() {
        if let (true, Some(v)) = (h.is_secret(), h.value) {
            found.push(v.trim_end_matches('*').to_string());
        }
    }
    found
}

/// What to send, from the method and body given: a body means POST, and
/// goes with no other method; HEAD has no body to check.
pub(crate) fn ask(method: Option<Method>, body: Option<String>) -> Result<Ask, String> {
    match (method, body) {
        (None, None) => Ok(Ask::default()),
        (Some(method), None) => Ok(Ask { method, body: None }),
        (None | Some(Method::POST), Some(body)) => Ok(Ask {
            method: Method::POST,
            body: Some(body),
        }),
        (Some(m), Some(_)) => Err(format!(
            "a request body goes with POST, not {m}: drop the method or the body"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(raw: &str) -> Result<Overrides, String> {
        Overrides::from_url(&Url::parse(raw).unwrap())
    }

    #[test]
    fn fragments_set_one_target() {
        let o = overrides("http://web/h#method=head&status=200,204&expect-header=X-Ready:%201&expect-header=ETag&json=/a=1").unwrap();
        assert_eq!(o.method, Some(Method::HEAD));
        assert_eq!(o.status.unwrap().to_string(), "200,204");
        let headers = o.expect_headers.unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].value.as_deref(), Some("1"));
        assert_eq!(o.json.unwrap().len(), 1);
        let o = overrides("http://web/h#body-regex=a+b|c%2B&send-body=%7B%7D").unwrap();
        assert!(BodyRegex::parse(&o.body_regex.unwrap())
            .unwrap()
            .is_match(b"aab"));
        assert_eq!(o.send_body.as_deref(), Some("{}"));
        assert!(overrides("http://web/h").unwrap().method.is_none());
    }

    #[test]
    fn bad_fragments_say_which_setting() {
        for (raw, says) in [
            (
                "http://web/h#methd=GET",
                "unknown fragment setting \"methd\"",
            ),
            ("http://web/h#method", "without '='"),
            (
                "http://web/h#method=PUT",
                "#method= that \"PUT\" is not a method",
            ),
            ("http://web/h#status=2xx", "#status="),
            ("http://web/h#body-regex=(", "#body-regex="),
            ("http://web/h#status=200&status=204", "twice"),
            ("http://web/h#body=%FF", "not UTF-8"),
            ("http://web/h#body=a%00", "NUL"),
            ("http://web/h#body=", "empty #body="),
            ("http://web/h#send-body=", "empty #send-body="),
            (
                "http://web/h#expect-header=X:%20a%0D%0AEvil:%201",
                "line break",
            ),
        ] {
            let e = overrides(raw).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
        }
    }

    #[test]
    fn fragments_are_shown_without_bodies_or_credentials() {
        let url = Url::parse("http://web/h#status=200&send-body=tok-9f8e&expect-header=Authorization:%20Bearer%20tok-1a2b&expect-header=X-Ready:yes").unwrap();
        let shown = masked(&url).to_string();
        assert_eq!(shown, "http://web/h#status=200&send-body=***&expect-header=Authorization:***&expect-header=X-Ready:yes");
        assert_eq!(fragment_secrets(&url), ["tok-9f8e", "Bearer tok-1a2b"]);
    }

    #[test]
    fn a_body_means_post() {
        assert_eq!(ask(None, Some("{}".into())).unwrap().method, Method::POST);
        assert!(ask(Some(Method::HEAD), Some("x".into())).is_err());
        assert_eq!(ask(Some(Method::HEAD), None).unwrap().method, Method::HEAD);
        assert_eq!(ask(None, None).unwrap(), Ask::default());
    }
}

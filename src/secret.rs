//! Keeping secrets out of every byte readygate writes.
//!
//! Two layers: anything that displays a URL renders it with [`redact_url`], and
//! every log line passes through a [`Redactor`] that blanks the literal secrets
//! the configuration holds, so an error a library formats with a password
//! inside still comes out clean.

use std::io::{self, Write};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use url::Url;

/// What a secret is replaced with.
pub(crate) const MASK: &str = "***";

/// Secrets shorter than this are not blanked in free text: replacing every
/// `a` of a one-letter password would make output unreadable. URLs and headers
/// are still redacted structurally, whatever the length.
const MIN_LITERAL_LEN: usize = 4;

/// True for query parameter names that carry secrets (`password`, `token`,
/// `api_key`, `client_secret`, `sslpassword`, ...).
pub(crate) fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "token",
        "secret",
        "key",
        "auth",
        "credential",
        "signature",
        "sig",
        "code",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Renders a URL with its password and secret query values masked.
pub(crate) fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password, which is then absent.
        let _ = shown.set_password(Some(MASK));
    }
    // Mask secret values in place, keeping the rest as written.
    if let Some(query) = url.query() {
        let masked: Vec<String> = query
            .split('&')
            .map(|pair| {
                let key = pair.split_once('=').map(|(k, _)| k);
                let secret = key.is_some_and(|k| {
                    url::form_urlencoded::parse(k.as_bytes())
                        .next()
                        .is_some_and(|(k, _)| is_secret_param(&k))
                });
                match (key, secret) {
                    (Some(k), true) => format!("{k}={MASK}"),
                    _ => pair.to_string(),
                }
            })
            .collect();
        shown.set_query(Some(&masked.join("&")));
    }
    // `extend_pairs` percent-encodes the mask; show it plainly.
    shown.to_string().replace("%2A%2A%2A", MASK)
}

/// One word of a command line as it may be shown: a URL with its secrets
/// masked, `NAME=value` or `--name=value` with the value masked when the
/// name looks secret (`PGPASSWORD=...`, `--token=...`), anything else as is.
pub(crate) fn redact_word(word: &str) -> String {
    let url_shown = |text: &str| match Url::parse(text) {
        Ok(url) if url.password().is_some() || url.query().is_some() => Some(redact_url(&url)),
        _ => None,
    };
    if let Some(shown) = url_shown(word) {
        return shown;
    }
    match word.split_once('=') {
        Some((name, _)) if is_secret_param(name.trim_start_matches('-')) => {
            format!("{name}={MASK}")
        }
        // `DATABASE_URL=postgres://u:pw@db/x`, `--url=...`
        Some((name, value)) => match url_shown(value) {
            Some(shown) => format!("{name}={shown}"),
            None => word.to_string(),
        },
        None => word.to_string(),
    }
}

/// A command line as it may be shown: each word through [`redact_word`],
/// and the word after a secret-looking flag (`--password hunter2`) masked.
pub(crate) fn redact_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut shown = Vec::new();
    let mut mask_next = false;
    for word in words {
        if mask_next {
            shown.push(MASK.to_string());
            mask_next = false;
            continue;
        }
        let flag = word.starts_with('-') && !word.contains('=');
        mask_next = flag && is_secret_param(word.trim_start_matches('-'));
        shown.push(redact_word(word));
    }
    shown
}

/// The secrets found in a URL: its password (as written and decoded) and the
/// values of secret-looking query parameters.
pub(crate) fn url_secrets(url: &Url) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(password) = url.password() {
        found.push(password.to_string());
        if let Ok(decoded) = percent_decode_str(password).decode_utf8() {
            found.push(decoded.into_owned());
        }
    }
    for (k, v) in url.query_pairs() {
        if is_secret_param(&k) {
            found.push(v.into_owned());
        }
    }
    if let Some(query) = url.query() {
        for pair in query.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                if is_secret_param(k) {
                    found.push(v.to_string());
                }
            }
        }
    }
    found
}

/// The ways a server may echo a secret back: JSON-escaped (as serde writes
/// it, with every non-ASCII character as `\uXXXX`, and with `/` as `\/`),
/// percent-encoded (every reserved character, or only the ones a URL
/// component must escape) and form-encoded (`+` for a space).
fn spellings(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let (mut ascii, mut ascii_upper) = (String::new(), String::new());
    for c in json.chars() {
        if c.is_ascii() {
            ascii.push(c);
            ascii_upper.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii.push_str(&format!("\\u{unit:04x}"));
                ascii_upper.push_str(&format!("\\u{unit:04X}"));
            }
        }
    }
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    // Go's encoding/json escapes & < > for HTML.
    let html_safe = ascii
        .replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e");
    let mut found = vec![
        html_safe,
        json.replace('/', "\\/"),
        ascii_upper,
        ascii.replace('/', "\\/"),
        ascii,
        json,
        crate::text::percent_encode(secret),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        form,
    ];
    found.retain(|f| f != secret);
    found
}

/// What a URL's credentials turn into on the wire, for the redactor: the
/// `Basic` credential, and a user name given without a password, which is a
/// token as often as not (`https://TOKEN@api/health`).
pub(crate) fn credential_secrets(url: &Url) -> Vec<String> {
    use base64::Engine as _;
    let decode = crate::text::percent_decode;
    if url.username().is_empty() && url.password().is_none() {
        return Vec::new();
    }
    let user = decode(url.username());
    let pair = format!("{user}:{}", decode(url.password().unwrap_or_default()));
    let mut found = vec![base64::engine::general_purpose::STANDARD.encode(pair)];
    if url.password().is_none() {
        found.push(url.username().to_string());
        found.push(user);
    }
    found
}

/// An HTTP URL as shown: redacted, and a user name that has no password
/// masked too, since such a user name is a token as often as not.
pub(crate) fn redact_http_url(url: &Url) -> String {
    if url.username().is_empty() || url.password().is_some() {
        return redact_url(url);
    }
    let mut masked = url.clone();
    let _ = masked.set_username("***");
    redact_url(&masked)
}

/// Blanks known secret strings out of free text.
#[derive(Clone, Debug, Default)]
pub(crate) struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl Redactor {
    /// A redactor for these secrets; each is also matched in its JSON-escaped
    /// form, so JSON log lines are covered.
    pub(crate) fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut all: Vec<String> = Vec::new();
        for s in secrets {
            if s.chars().count() < MIN_LITERAL_LEN {
                continue;
            }
            all.extend(spellings(&s));
            all.push(s);
        }
        // Longest first, so a secret containing another is blanked whole.
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        all.dedup();
        Redactor {
            secrets: Arc::new(all),
        }
    }

    /// The length of the longest secret, in bytes (0 without secrets).
    pub(crate) fn longest(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// `text` with every known secret replaced by [`MASK`].
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

/// A writer that redacts each write before passing it on. The log formatter
/// writes one whole line per call, so a secret is never split across writes.
pub(crate) struct RedactingWriter<W> {
    inner: W,
    redactor: Redactor,
}

impl<W: Write> RedactingWriter<W> {
    pub(crate) fn new(inner: W, redactor: Redactor) -> Self {
        RedactingWriter { inner, redactor }
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        // A log reader that went away (a closed pipe) must not stop the gate.
        let _ = self.inner.write_all(self.redactor.clean(&text).as_bytes());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.inner.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_words_are_shown_without_their_secrets() {
        assert_eq!(
            redact_word("postgres://u:hunter22@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(redact_word("--password=hunter22"), "--password=***");
        assert_eq!(redact_word("API_TOKEN=abc123"), "API_TOKEN=***");
        assert_eq!(redact_word("--workers=4"), "--workers=4");
        assert_eq!(redact_word("worker"), "worker");
        assert_eq!(
            redact_word("DATABASE_URL=postgres://u:hunter22@h/db"),
            "DATABASE_URL=postgres://u:***@h/db"
        );
        assert_eq!(
            redact_words(["app", "--password", "hunter22", "--api-key", "k", "-v"]),
            ["app", "--password", "***", "--api-key", "***", "-v"]
        );
    }

    #[test]
    fn url_password_and_secret_params_are_masked() {
        let url = Url::parse("postgres://app:s3cr%40t@db:5432/x?sslmode=require&api_token=abc123")
            .unwrap();
        let shown = redact_url(&url);
        assert_eq!(
            shown,
            "postgres://app:***@db:5432/x?sslmode=require&api_token=***"
        );
        let secrets = url_secrets(&url);
        assert!(secrets.contains(&"s3cr@t".to_string()));
        assert!(secrets.contains(&"abc123".to_string()));
    }

    #[test]
    fn a_password_also_spelled_in_the_query_is_masked_where_it_is_the_password() {
        // Found by fuzzing (fuzz/regressions/target): the query's own text
        // may equal the password; the userinfo is masked regardless.
        let url = Url::parse("http://:%7Bab@r/?%7Bab=1").unwrap();
        assert_eq!(redact_url(&url), "http://:***@r/?%7Bab=1");
    }

    #[test]
    fn redactor_blanks_plain_and_json_escaped_forms() {
        let r = Redactor::new(["pa\"ss-word".to_string(), "ab".to_string()]);
        assert_eq!(r.clean("x pa\"ss-word y"), "x *** y");
        assert_eq!(r.clean(r#"{"m":"pa\"ss-word"}"#), r#"{"m":"***"}"#);
        assert_eq!(r.clean("ab stays"), "ab stays");
    }

    #[test]
    fn echoed_spellings_of_a_secret_are_blanked_too() {
        let r = Redactor::new(["sch\u{f6}n/&Pw 1".to_string()]);
        for echoed in [
            r#"{"e":"sch\u00f6n\/&Pw 1"}"#,
            r#"{"e":"sch\u00F6n/&Pw 1"}"#,
            r#"{"e":"sch\u00f6n/\u0026Pw 1"}"#,
            r#"{"e":"sch\u00f6n\/&Pw 1"}"#,
            "?p=sch%C3%B6n%2F%26Pw%201",
            "p=sch%C3%B6n%2F%26Pw+1",
        ] {
            assert!(
                !r.clean(echoed).contains("Pw"),
                "{echoed} -> {}",
                r.clean(echoed)
            );
        }
    }
}

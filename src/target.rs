//! Targets: the URLs readygate waits for, parsed and checked before any
//! connection is opened. Displaying a target never shows its password.

use std::fmt;

use url::Url;

use crate::secret;

/// What kind of dependency a target URL names, from its scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Http,
    Postgres,
    Redis,
    ClickHouse,
}

/// A validated target URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: Kind,
    pub url: Url,
}

impl Target {
    /// Parses one target; the error is a sentence without the raw input, which
    /// may hold a password.
    pub fn parse(raw: &str) -> Result<Target, String> {
        let url = Url::parse(raw).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => {
                "is not a URL; write it as scheme://host:port, e.g. tcp://db:5432".to_string()
            }
            other => format!("is not a valid URL ({other})"),
        })?;
        if url.cannot_be_a_base() {
            return Err(
                "is not a URL with a host; write it as scheme://host:port, e.g. tcp://db:5432"
                    .into(),
            );
        }
        let kind = match url.scheme() {
            "tcp" => Kind::Tcp,
            "http" | "https" => Kind::Http,
            "postgres" | "postgresql" => Kind::Postgres,
            "redis" | "rediss" => Kind::Redis,
            "clickhouse" => Kind::ClickHouse,
            other => {
                return Err(format!(
                    "has unknown scheme {other:?}; use tcp://, http(s)://, postgres(ql)://, redis(s):// or clickhouse://"
                ))
            }
        };
        let has_host = url.host_str().is_some_and(|h| !h.is_empty());
        // Outside http(s), the URL parser keeps other characters as %-escapes
        // that no resolver would find: say so now rather than wait on them.
        if url.host_str().is_some_and(|h| h.contains('%')) {
            return Err("has a host name with characters a DNS name cannot hold (spaces, control or non-ASCII characters; write non-ASCII names in punycode)".into());
        }
        match kind {
            Kind::Tcp => {
                if !has_host || url.port().is_none() {
                    return Err("needs a host and a port, e.g. tcp://db:5432".into());
                }
                if !matches!(url.path(), "" | "/") || url.query().is_some() {
                    return Err("takes only a host and a port, e.g. tcp://db:5432".into());
                }
            }
            Kind::Http | Kind::Redis | Kind::ClickHouse => {
                if !has_host {
                    return Err("needs a host, e.g. http://web:3000/health, redis://redis:6379 or clickhouse://ch:8123/default".into());
                }
            }
            Kind::Postgres => {
                let socket = url.query_pairs().any(|(k, _)| k == "host");
                if !has_host && !socket {
                    return Err("needs a host, e.g. postgres://user:pass@db:5432/app".into());
                }
            }
        }
        Ok(Target { kind, url })
    }

    /// Passwords and secret query values in this target, for the redactor;
    /// for HTTP also the `Basic` credential the user:password turns into.
    pub fn secrets(&self) -> Vec<String> {
        let mut found = secret::url_secrets(&self.url);
        if let (Kind::Http, Some(password)) = (self.kind, self.url.password()) {
            use base64::Engine as _;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let pair = format!("{}:{}", decode(self.url.username()), decode(password));
            found.push(base64::engine::general_purpose::STANDARD.encode(pair));
        }
        found
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = secret::redact_url(&self.url);
        // `Url` adds a trailing slash to bare tcp:// and http:// hosts; keep
        // what people write.
        match self.kind {
            Kind::Tcp => f.write_str(shown.trim_end_matches('/')),
            _ => f.write_str(&shown),
        }
    }
}

/// A percent-decoded URL part (user, password, database): UTF-8 and free of
/// NUL bytes, which no server protocol here can carry; anything else would be
/// mangled silently.
pub fn decode_part(what: &str, raw: &str) -> Result<String, String> {
    let value = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| format!("has a {what} that is not UTF-8 once percent-decoded"))?;
    no_nul(what, value.into_owned())
}

/// A decoded URL value without NUL bytes.
pub fn no_nul(what: &str, value: String) -> Result<String, String> {
    match value.contains('\0') {
        true => Err(format!("has a NUL byte (%00) in its {what}")),
        false => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_map_to_kinds() {
        assert_eq!(Target::parse("tcp://db:5432").unwrap().kind, Kind::Tcp);
        assert_eq!(
            Target::parse("https://web/health").unwrap().kind,
            Kind::Http
        );
        assert_eq!(
            Target::parse("postgresql://u:p@db/x").unwrap().kind,
            Kind::Postgres
        );
    }

    #[test]
    fn bad_targets_are_rejected_without_echoing_them() {
        for bad in [
            "db:5432",
            "ftp://u:hunter2@x",
            "tcp://u:hunter2@db",
            "tcp://:5432",
            "http://",
            "postgres://u:hunter2@/x",
            "tcp://db:99999",
            "http://u:hunter2@[::1",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }

    #[test]
    fn display_hides_the_password() {
        let t = Target::parse("postgres://app:hunter22@db:5432/lf").unwrap();
        assert_eq!(t.to_string(), "postgres://app:***@db:5432/lf");
        assert_eq!(
            Target::parse("tcp://db:1").unwrap().to_string(),
            "tcp://db:1"
        );
    }
}

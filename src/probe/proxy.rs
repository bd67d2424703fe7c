//! HTTP(S) proxies from the environment, read as curl and reqwest read
//! them: `https_proxy`/`HTTPS_PROXY` for https URLs, `http_proxy`/
//! `HTTP_PROXY` for http ones, `all_proxy`/`ALL_PROXY` for both, and
//! `no_proxy`/`NO_PROXY` (`*`, host names and their subdomains, IP
//! addresses, CIDR ranges) for what goes direct. Decided here, and handed
//! to the HTTP clients, so a failure at the proxy can be blamed on it.

use std::net::IpAddr;

use url::Url;

use crate::not_ready::{Class, NotReady};
use crate::options::{err, ConfigError, Env};

/// A proxy and the variable it came from.
#[derive(Clone, Debug)]
pub(crate) struct Via {
    pub(crate) url: Url,
    pub(crate) var: &'static str,
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the proxy {} (from {})",
            crate::secret::redact_http_url(&self.url).trim_end_matches('/'),
            self.var
        )
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    http: Option<Via>,
    https: Option<Via>,
    no_proxy: Vec<String>,
    /// A variable that is no proxy URL: an error only where a target
    /// speaks HTTP (a PostgreSQL-only gate does not care).
    invalid: Option<String>,
}

/// The first set variable of `names` (lower case first, as curl reads them).
fn first(env: &Env, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|n| {
        env.get(*n)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (*n, v.trim().to_string()))
    })
}

fn parse(var: &'static str, raw: &str) -> Result<Via, ConfigError> {
    // `proxy:3128` without a scheme means http://, as for curl.
    let with_scheme = match raw.contains("://") {
        true => raw.to_string(),
        false => format!("http://{raw}"),
    };
    match Url::parse(&with_scheme) {
        Ok(url) if url.scheme().starts_with("socks") => err(
            var,
            "names a SOCKS proxy, which readygate does not speak: give an HTTP proxy (http://host:port)",
        ),
        Ok(url)
            if matches!(url.path(), "" | "/")
                && url.query().is_none()
                && url.fragment().is_none()
                && url.has_host()
                && matches!(url.scheme(), "http" | "https") =>
        {
            Ok(Via { url, var })
        }
        Ok(url) if matches!(url.scheme(), "http" | "https") => err(
            var,
            "has a path, query or fragment: a password holding / ? # or @ must be percent-encoded (%2F %3F %23 %40)",
        ),
        _ => err(
            var,
            "is not a proxy URL; write it as http://host:port (user:password@ before the host when it asks for credentials)",
        ),
    }
}

impl Proxies {
    /// Reads the variables; a proxy URL that cannot be one is kept as an
    /// error for [`Proxies::usable`].
    pub(crate) fn read(env: &Env) -> Proxies {
        match Proxies::try_read(env) {
            Ok(proxies) => proxies,
            Err(e) => Proxies {
                invalid: Some(e.0),
                ..Proxies::default()
            },
        }
    }

    /// Exit 2 when a proxy variable is no URL; the kinds that speak HTTP ask.
    pub(crate) fn usable(&self) -> Result<(), ConfigError> {
        match &self.invalid {
            Some(e) => Err(ConfigError(e.clone())),
            None => Ok(()),
        }
    }

    fn try_read(env: &Env) -> Result<Proxies, ConfigError> {
        let all = first(env, &["all_proxy", "ALL_PROXY"]);
        let pick = |names: &[&'static str]| -> Result<Option<Via>, ConfigError> {
            match first(env, names).or_else(|| all.clone()) {
                Some((var, raw)) => parse(var, &raw).map(Some),
                None => Ok(None),
            }
        };
        let no_proxy = first(env, &["no_proxy", "NO_PROXY"])
            .map(|(_, v)| {
                v.split(|c: char| c == ',' || c.is_whitespace())
                    .map(|e| {
                        let e = e.trim_start_matches("*.").trim_start_matches('.');
                        e.trim_end_matches('.').to_ascii_lowercase()
                    })
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Proxies {
            http: pick(&["http_proxy", "HTTP_PROXY"])?,
            https: pick(&["https_proxy", "HTTPS_PROXY"])?,
            no_proxy,
            invalid: None,
        })
    }

    /// The proxies' credentials (as written, decoded, and as the Basic
    /// header carries them), for the redactor: a proxy's error page may
    /// echo them.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut found = Vec::new();
        for via in self.http.iter().chain(&self.https) {
            found.extend(crate::secret::url_secrets(&via.url));
            found.extend(crate::secret::credential_secrets(&via.url));
        }
        found
    }

    /// The proxy a request to `url` goes through, if any.
    pub(crate) fn for_url(&self, url: &Url) -> Option<&Via> {
        let via = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        (!self.no_proxy.iter().any(|entry| bypasses(entry, &host))).then_some(via)
    }
}

/// Whether one `NO_PROXY` entry sends `host` direct.
fn bypasses(entry: &str, host: &str) -> bool {
    if entry == "*" {
        return true;
    }
    // `[::1]:8080`, `10.0.0.1:8080`, `host:8080`: the port is not
    // compared (as in curl and reqwest); an IPv6 literal keeps its colons.
    let entry = match entry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None if entry.matches(':').count() == 1 => entry.split(':').next().unwrap_or(entry),
        None => entry,
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match entry.split_once('/') {
            Some((net, bits)) => in_cidr(ip, net, bits),
            None => entry.parse::<IpAddr>() == Ok(ip),
        };
    }
    host == entry || host.ends_with(&format!(".{entry}"))
}

fn in_cidr(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A failure that happened at the proxy, said so: the proxy refused, did not
/// resolve or answer, refused the tunnel, or asked for credentials.
pub(crate) fn blame(via: Option<&Via>, mut e: NotReady) -> NotReady {
    let Some(via) = via else { return e };
    let at_proxy = matches!(e.class, Class::Refused | Class::Dns | Class::Timeout)
        || e.reason.contains("tunnel")
        || e.reason.starts_with("HTTP 407");
    if at_proxy {
        e.reason = format!("through {via}: {}", e.reason);
        let credentials = !via.url.username().is_empty() || via.url.password().is_some();
        let refused = e.reason.contains("407") || e.reason.contains("authorization required");
        e.hint = Some(match (refused, credentials) {
            (true, true) => format!("the proxy rejected the credentials in {}: check them", via.var),
            (true, false) => format!("the proxy wants credentials: put them in {} as http://user:password@proxy:port", via.var),
            (false, _) => "the request goes through the proxy: check that it is up and lets this host through, or add the host to no_proxy/NO_PROXY to reach it directly".to_string(),
        });
    } else if e.class == Class::Response
        && matches!(
            e.reason.get(..8),
            Some("HTTP 502" | "HTTP 503" | "HTTP 504")
        )
    {
        e.hint = Some(format!(
            "{} (through {via}: the answer may be the proxy's; add the host to NO_PROXY to reach it directly)",
            e.hint.unwrap_or_default()
        ));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        crate::options::env_of(pairs)
    }

    #[test]
    fn variables_and_no_proxy_as_curl_reads_them() {
        let p = Proxies::try_read(&env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("http_proxy", "proxy2:8080"),
            (
                "NO_PROXY",
                "localhost,.svc.cluster.local, 10.0.0.0/8,192.168.1.5",
            ),
        ]))
        .unwrap();
        let via = |u: &str| {
            p.for_url(&Url::parse(u).unwrap())
                .map(|v| (v.var, v.url.host_str().unwrap().to_string()))
        };
        assert_eq!(
            via("https://api.example.com/h"),
            Some(("HTTPS_PROXY", "proxy".into()))
        );
        assert_eq!(
            via("http://api.example.com/h"),
            Some(("http_proxy", "proxy2".into()))
        );
        for direct in [
            "https://localhost/h",
            "https://web.ns.svc.cluster.local:3000/",
            "https://10.1.2.3/",
            "http://192.168.1.5:8080/",
        ] {
            assert_eq!(via(direct), None, "{direct}");
        }
        assert!(via("https://192.168.1.6/").is_some());
        assert!(via("https://notlocalhost/").is_some());
        let all =
            Proxies::try_read(&env(&[("ALL_PROXY", "http://p:1"), ("no_proxy", "*")])).unwrap();
        assert!(all.for_url(&Url::parse("https://x/").unwrap()).is_none());
        assert!(Proxies::read(&env(&[("HTTPS_PROXY", "socks5://p:1080")]))
            .usable()
            .is_err());
        assert!(
            Proxies::read(&env(&[("HTTPS_PROXY", "http://user:pa/ss@p:1")]))
                .usable()
                .is_err()
        );
        let six = Proxies::try_read(&env(&[
            ("HTTPS_PROXY", "http://p:1"),
            (
                "NO_PROXY",
                "::1 [fe80::1]:8080 fd00::/8 *.example.com svc.cluster.local.",
            ),
        ]))
        .unwrap();
        for direct in [
            "https://[::1]/",
            "https://[fe80::1]/",
            "https://[fd00::5]/",
            "https://a.example.com/",
            "https://web.ns.svc.cluster.local./",
        ] {
            assert!(
                six.for_url(&Url::parse(direct).unwrap()).is_none(),
                "{direct}"
            );
        }
        assert!(six
            .for_url(&Url::parse("https://[fe80::2]/").unwrap())
            .is_some());
        assert!(Proxies::read(&env(&[("HTTPS_PROXY", "ftp://p")]))
            .usable()
            .is_err());
        assert!(Proxies::read(&env(&[("HTTPS_PROXY", "http://")]))
            .usable()
            .is_err());
    }

    #[test]
    fn failures_at_the_proxy_are_blamed_on_it() {
        let via = Via {
            url: Url::parse("http://u:hunter2@proxy:3128").unwrap(),
            var: "HTTPS_PROXY",
        };
        let e = blame(
            Some(&via),
            NotReady::new(Class::Refused, "connection refused"),
        );
        assert_eq!(
            e.reason,
            "through the proxy http://u:***@proxy:3128 (from HTTPS_PROXY): connection refused"
        );
        let e = blame(
            Some(&via),
            NotReady::new(
                Class::Other,
                "request failed: tunnel error: proxy authorization required",
            ),
        );
        assert!(e.hint.unwrap().contains("credentials"));
        let e = blame(None, NotReady::new(Class::Refused, "connection refused"));
        assert_eq!(e.reason, "connection refused");
    }
}

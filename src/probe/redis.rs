//! Redis probe: ready when AUTH (user and password from the URL) and PING
//! succeed and the server is not loading its dataset. A fresh connection per
//! attempt: Redis connections are cheap, and a kept one would hide restarts.
//! Uses the redis crate rather than hand-written RESP (see the README for its
//! cost in binary size). No flags apply beyond `--ca-file`.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError};
use url::Url;

use super::tls::{read_pem, Tls};
use crate::not_ready::{dns, is_dns_error, Class, NotReady};
use crate::options::{err, ConfigError};
use crate::text::{one_line, shorten};

/// What a preset adds to one of its Redis targets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    /// A CA for this target alone, and the variable that named it.
    pub(crate) ca_file: Option<(String, &'static str)>,
}

/// Plans Redis targets.
pub(crate) struct Planner<'a> {
    pub(crate) tls: &'a Tls,
}

impl Planner<'_> {
    /// The probe for one target and what it must satisfy, in words;
    /// `origin` names the target in errors.
    pub(crate) fn plan(
        &self,
        url: &Url,
        extra: Option<&Extra>,
        origin: &str,
    ) -> Result<(RedisProbe, String), ConfigError> {
        let own = match extra.and_then(|e| e.ca_file.as_ref()) {
            Some((path, var)) => {
                let shown = shorten(path);
                Some(read_pem(path).or_else(|e| err(var, format_args!("{shown:?} {e}")))?)
            }
            None => None,
        };
        let pem = own.as_deref().or(self.tls.ca_pem.as_deref());
        let probe = RedisProbe::new(url, pem, self.tls.insecure).or_else(|e| err(origin, e))?;
        Ok((probe, "AUTH and PING succeed, dataset loaded".to_string()))
    }
}

#[derive(Clone)]
pub(crate) struct RedisProbe {
    client: Client,
    what: String,
}

impl RedisProbe {
    /// Parses the URL once; `ca_pem` is trusted for `rediss://`, and with
    /// `insecure` (`--insecure`, or `#insecure` in the URL as redis-rs
    /// writes it) certificates are not verified at all.
    fn new(url: &Url, ca_pem: Option<&[u8]>, insecure: bool) -> Result<Self, String> {
        let what = format!(
            "{}:{}",
            url.host_str().unwrap_or("localhost"),
            url.port().unwrap_or(6379)
        );
        let mut url = url.clone();
        if insecure && url.scheme() == "rediss" {
            url.set_fragment(Some("insecure"));
        }
        let client = if url.scheme() == "rediss" {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: ca_pem.map(<[u8]>::to_vec),
            };
            Client::build_with_tls(url.as_str(), certs)
        } else {
            Client::open(url.as_str())
        };
        let client = client.map_err(|e| format!("is not a Redis URL ({})", e.category()))?;
        Ok(RedisProbe { client, what })
    }

    pub(crate) async fn check(&mut self, budget: Duration) -> Result<(), NotReady> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(budget))
            .set_response_timeout(Some(budget));
        let mut conn: MultiplexedConnection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| classify(&e, &self.what))?;
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| classify(&e, &self.what))?;
        if pong != "PONG" {
            return Err(NotReady::new(
                Class::Other,
                format!("PING answered {pong:?}, not PONG"),
            ));
        }
        Ok(())
    }
}

fn classify(err: &RedisError, what: &str) -> NotReady {
    let text = one_line(&err.to_string());
    let code = err.code().unwrap_or_default();
    if code == "LOADING" {
        return NotReady::new(Class::Starting, "Redis is loading its dataset into memory")
            .hint("not ready: loading; it answers once the dataset is loaded");
    }
    if err.kind() == ErrorKind::AuthenticationFailed
        || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
    {
        return NotReady::new(Class::Auth, format!("Redis rejected the login: {text}"))
            .hint("check the user and password in the URL (REDIS_AUTH, or the Redis ACL)");
    }
    if err.is_timeout() {
        return NotReady::new(Class::Timeout, format!("no answer from {what}")).hint(
            "the server is slow or packets are dropped: check the host, port and NetworkPolicy",
        );
    }
    if err.is_connection_refusal() {
        return NotReady::new(Class::Refused, format!("connection refused by {what}"))
            .hint("nothing listens there yet: is Redis up, and are the host and port right?");
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("unknownissuer") {
        return NotReady::new(Class::Tls, format!("TLS with {what} failed: {text}"))
            .hint("the server's certificate is not trusted: pass its CA with --ca-file (REDIS_TLS_CA_PATH)");
    }
    if is_dns_error(&lower) {
        return dns(what, &text);
    }
    NotReady::new(Class::Other, format!("{what}: {text}"))
}

//! Redis targets, three shapes of deployment:
//! - `redis://[user:password@]host[:6379][/db]` (`rediss://` for TLS): ready
//!   when AUTH and PING succeed and the dataset is loaded.
//! - `redis-cluster://[user:password@]host:port[?addr=host:port&addr=…]`:
//!   every listed node answers AUTH and PING and reports `cluster_state:ok`.
//! - `redis-sentinel://[user:password@]sentinel:26379/master-name[?addr=…]`:
//!   a sentinel names the master, which answers AUTH and PING with role
//!   master. The URL's user and password log in to the master; the
//!   sentinels get `sentinel_user=` / `sentinel_password=`, or no login, as
//!   ioredis and go-redis do.
//!
//! `addr` follows go-redis's cluster URLs. The client is this folder's own
//! (`resp`, `conn`): it bounds every reply, which the redis crate does not,
//! and a fresh connection per attempt keeps restarts visible. `--ca-file`
//! and `--insecure` apply to the TLS schemes.

mod conn;
mod resp;
mod topology;

pub(crate) use resp::{read as read_reply, REPLY_MAX};

use std::sync::Arc;

use url::Url;

use self::conn::{Addr, Conn, Login};
use super::tls::{client_config, read_pem, Identity, Tls, TlsSetupError, Verify};
use crate::not_ready::NotReady;
use crate::options::{err, ConfigError};
use crate::text::shorten;

/// The schemes of this kind.
pub(crate) const SCHEMES: [&str; 6] = [
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
];

/// The schemes that speak TLS.
pub(crate) fn speaks_tls(scheme: &str) -> bool {
    scheme.starts_with("rediss")
}

/// How the servers are deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Single,
    Cluster,
    Sentinel,
}

/// A target URL, understood.
#[derive(Clone, Debug)]
struct Parsed {
    shape: Shape,
    tls: bool,
    /// The server, the cluster's nodes, or the sentinels.
    nodes: Vec<Addr>,
    login: Login,
    /// `SELECT` this database first (not 0).
    db: Option<u32>,
    /// The sentinels' name for the master.
    master: String,
    sentinel_login: Login,
    /// `#insecure`, as redis-rs writes "do not verify".
    insecure: bool,
}

/// What a target URL must hold; the error is a sentence without the URL.
pub(crate) fn check_url(url: &Url, has_host: bool) -> Result<(), String> {
    if !has_host {
        return Err("needs a host, e.g. redis://redis:6379".into());
    }
    parse(url).map(|_| ())
}

fn parse(url: &Url) -> Result<Parsed, String> {
    let scheme = url.scheme();
    let shape = match scheme.split_once('-') {
        None => Shape::Single,
        Some((_, "cluster")) => Shape::Cluster,
        Some(_) => Shape::Sentinel,
    };
    let default_port = if shape == Shape::Sentinel {
        26379
    } else {
        6379
    };
    let first = Addr {
        host: host_of(url),
        port: url.port().unwrap_or(default_port),
    };
    let mut parsed = Parsed {
        shape,
        tls: speaks_tls(scheme),
        nodes: vec![first],
        login: Login {
            user: decoded("user name", url.username())?,
            password: match url.password() {
                Some(password) => decoded("password", password)?,
                None => None,
            },
        },
        db: None,
        master: String::new(),
        sentinel_login: Login::default(),
        insecure: false,
    };
    match url.fragment() {
        None => {}
        Some("insecure") if parsed.tls => parsed.insecure = true,
        Some(_) => return Err("has a #fragment; only rediss:// URLs take one, #insecure".into()),
    }
    let path = url.path().trim_start_matches('/');
    match shape {
        Shape::Single if !path.is_empty() => {
            let db = path.parse::<u32>().map_err(|_| {
                format!("has path {:?}; a Redis URL's path is the database number, e.g. redis://redis:6379/0", shorten(path))
            })?;
            parsed.db = (db != 0).then_some(db);
        }
        Shape::Cluster if !matches!(path, "" | "0") => {
            return Err("has a path; a cluster has only database 0, e.g. redis-cluster://node1:6379?addr=node2:6379".into())
        }
        Shape::Sentinel => {
            parsed.master = decoded("master name", path)?.ok_or(
                "needs the master's name as its path, e.g. redis-sentinel://sentinel:26379/mymaster",
            )?;
        }
        _ => {}
    }
    for (key, value) in url.query_pairs() {
        match (&*key, shape) {
            ("addr", Shape::Cluster | Shape::Sentinel) => parsed.nodes.push(addr(&value, default_port)?),
            ("sentinel_user", Shape::Sentinel) => parsed.sentinel_login.user = non_empty(value.into_owned()),
            ("sentinel_password", Shape::Sentinel) => parsed.sentinel_login.password = non_empty(value.into_owned()),
            (_, Shape::Single) => return Err(format!("has query parameter {:?}; redis:// takes none (redis-cluster:// and redis-sentinel:// take addr=)", shorten(&key))),
            (_, Shape::Cluster) => return Err(format!("has query parameter {:?}; redis-cluster:// takes only addr=host:port", shorten(&key))),
            (_, Shape::Sentinel) => return Err(format!("has query parameter {:?}; redis-sentinel:// takes addr=, sentinel_user= and sentinel_password=", shorten(&key))),
        }
    }
    Ok(parsed)
}

/// The host without IPv6 brackets, which connecting does not take.
fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("localhost");
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}

/// A percent-decoded URL part; `None` when empty.
/// A percent-decoded part, `None` when empty; not UTF-8 or a NUL is an error
/// (naming the part, never showing it): the server would get something else.
fn decoded(what: &str, part: &str) -> Result<Option<String>, String> {
    crate::probe::url_part::decode_part(what, part).map(non_empty)
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// One `addr=host:port` value.
fn addr(value: &str, default_port: u16) -> Result<Addr, String> {
    let bad = || format!("has addr={:?}; write addr=host:port", shorten(value));
    let url = Url::parse(&format!("redis://{value}")).map_err(|_| bad())?;
    if value.is_empty()
        || url.host_str().is_none_or(str::is_empty)
        || !matches!(url.path(), "" | "/")
        || url.username() != ""
        || url.password().is_some()
        || url.query().is_some()
    {
        return Err(bad());
    }
    if url.port() == Some(0) {
        return Err(format!(
            "has addr={:?} with port 0, where no server can listen",
            shorten(value)
        ));
    }
    Ok(Addr {
        host: host_of(&url),
        port: url.port().unwrap_or(default_port),
    })
}

/// What a preset adds to one of its Redis targets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Extra {
    /// A CA for this target alone, and the variable that named it.
    pub(crate) ca_file: Option<(String, &'static str)>,
    /// A client certificate and key (mutual TLS), each with its variable.
    pub(crate) client_cert: Option<(String, &'static str)>,
    pub(crate) client_key: Option<(String, &'static str)>,
    /// The name to send and verify instead of the host's.
    pub(crate) server_name: Option<String>,
    /// Verify less than the chain and the name.
    pub(crate) verify: Option<Verify>,
    /// Whether the sentinels speak TLS, when it differs from the servers.
    pub(crate) sentinel_tls: Option<bool>,
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
        let parsed = parse(url).or_else(|e| err(origin, e))?;
        let extra = extra.cloned().unwrap_or_default();
        let sentinel_tls = extra.sentinel_tls.unwrap_or(parsed.tls);
        let tls = match parsed.tls || (parsed.shape == Shape::Sentinel && sentinel_tls) {
            true => Some(self.tls_for(&parsed, &extra, origin)?),
            false => None,
        };
        let mut description = describe(&parsed);
        if tls.is_some() {
            description.push_str(&self.describe_tls(&parsed, &extra));
        }
        let probe = RedisProbe {
            servers_tls: tls.clone().filter(|_| parsed.tls),
            sentinels_tls: tls.filter(|_| sentinel_tls),
            parsed,
        };
        Ok((probe, description))
    }

    fn verify(&self, parsed: &Parsed, extra: &Extra) -> Verify {
        match (self.tls.insecure || parsed.insecure, extra.verify) {
            (true, _) => Verify::Nothing,
            (false, Some(v)) => v,
            (false, None) => Verify::Full,
        }
    }

    /// The TLS settings in words, for `--print-config`.
    fn describe_tls(&self, parsed: &Parsed, extra: &Extra) -> String {
        let ca = match (&extra.ca_file, &self.tls.ca_file) {
            (Some((_, var)), _) => format!("the CA in {var}"),
            (None, Some(_)) => "the CA in --ca-file".to_string(),
            (None, None) => "the public CAs".to_string(),
        };
        let client = match &extra.client_cert {
            Some((_, var)) => format!(", presenting the client certificate in {var}"),
            None => String::new(),
        };
        let name = match &extra.server_name {
            Some(name) => format!(", as {:?}", shorten(name)),
            None => String::new(),
        };
        let verify = match self.verify(parsed, extra) {
            Verify::Full => "chain and name verified",
            Verify::ChainOnly => "chain verified, name NOT checked",
            Verify::Nothing => "certificates NOT verified",
        };
        format!("; over TLS trusting {ca}{client}{name}: {verify}")
    }

    fn tls_for(
        &self,
        parsed: &Parsed,
        extra: &Extra,
        origin: &str,
    ) -> Result<conn::Tls, ConfigError> {
        let read = |file: &Option<(String, &'static str)>| -> Result<Option<Vec<u8>>, ConfigError> {
            match file {
                Some((path, var)) => {
                    let shown = shorten(path);
                    Ok(Some(
                        read_pem(path).or_else(|e| err(var, format_args!("{shown:?} {e}")))?,
                    ))
                }
                None => Ok(None),
            }
        };
        let own_ca = read(&extra.ca_file)?;
        let ca = own_ca.as_deref().or(self.tls.ca_pem.as_deref());
        let verify = self.verify(parsed, extra);
        let cert = read(&extra.client_cert)?;
        let key = read(&extra.client_key)?;
        let identity = match (&cert, &key, &extra.client_cert, &extra.client_key) {
            (Some(cert_pem), Some(key_pem), _, _) => Some(Identity { cert_pem, key_pem }),
            (Some(_), None, Some((_, var)), _) => {
                return err(var, "is set without its key; set both or neither")
            }
            (None, Some(_), _, Some((_, var))) => {
                return err(var, "is set without its certificate; set both or neither")
            }
            _ => None,
        };
        let config = client_config(ca, verify, identity).or_else(|e| {
            let var = |file: &Option<(String, &'static str)>| file.as_ref().map(|(_, var)| *var);
            match e {
                TlsSetupError::Ca(why) => err(var(&extra.ca_file).unwrap_or("--ca-file"), why),
                TlsSetupError::Cert(why) => err(var(&extra.client_cert).unwrap_or(origin), why),
                TlsSetupError::Key(why) => err(var(&extra.client_key).unwrap_or(origin), why),
            }
        })?;
        Ok(conn::Tls {
            config: Arc::new(config),
            server_name: extra.server_name.clone(),
        })
    }
}

fn describe(parsed: &Parsed) -> String {
    match parsed.shape {
        Shape::Single => "AUTH and PING succeed, dataset loaded, a master (not a sentinel or replica)".into(),
        Shape::Cluster => format!(
            "each of {} listed nodes answers PING (after AUTH when given) and reports cluster_state:ok",
            parsed.nodes.len()
        ),
        Shape::Sentinel => format!(
            "a sentinel ({} listed) names master {:?}; it answers PING (after AUTH when given) with role master",
            parsed.nodes.len(),
            parsed.master
        ),
    }
}

#[derive(Clone)]
pub(crate) struct RedisProbe {
    parsed: Parsed,
    servers_tls: Option<conn::Tls>,
    sentinels_tls: Option<conn::Tls>,
}

impl RedisProbe {
    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        let p = &self.parsed;
        let tls = self.servers_tls.as_ref();
        match p.shape {
            Shape::Single => {
                let mut conn = Conn::open(&p.nodes[0], tls, &p.login).await?;
                if let Some(db) = p.db {
                    conn.ok(&[b"SELECT", db.to_string().as_bytes()]).await?;
                }
                conn.ping().await?;
                conn.not_a_sentinel_or_replica().await
            }
            Shape::Cluster => topology::cluster(&p.nodes, tls, &p.login).await,
            Shape::Sentinel => {
                let sentinels = topology::Sentinels {
                    addrs: &p.nodes,
                    tls: self.sentinels_tls.as_ref(),
                    login: &p.sentinel_login,
                    master: &p.master,
                };
                topology::sentinel(&sentinels, tls, &p.login).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Result<Parsed, String> {
        parse(&Url::parse(raw).unwrap())
    }

    #[test]
    fn the_three_shapes_parse() {
        let single = parsed("rediss://app:p%40ss@cache:6380/2#insecure").unwrap();
        assert_eq!(single.shape, Shape::Single);
        assert!(single.tls && single.insecure);
        assert_eq!(single.db, Some(2));
        assert_eq!(single.login.password.as_deref(), Some("p@ss"));
        assert_eq!(single.nodes[0].to_string(), "cache:6380");

        let cluster = parsed("redis-cluster://:pw@n1:7000?addr=n2:7001&addr=[::1]:7002").unwrap();
        assert_eq!(cluster.shape, Shape::Cluster);
        let nodes: Vec<String> = cluster.nodes.iter().map(ToString::to_string).collect();
        assert_eq!(nodes, ["n1:7000", "n2:7001", "[::1]:7002"]);

        let sentinel =
            parsed("redis-sentinel://:pw@s1/mymaster?addr=s2&sentinel_password=sp").unwrap();
        assert_eq!(sentinel.master, "mymaster");
        assert_eq!(sentinel.nodes[1].to_string(), "s2:26379");
        assert_eq!(sentinel.sentinel_login.password.as_deref(), Some("sp"));
    }

    #[test]
    fn wrong_parts_are_named_without_the_password() {
        for (raw, says) in [
            ("redis://:pw-secret@r/abc", "database number"),
            ("redis://:pw-secret@r?addr=x:1", "takes none"),
            ("redis://:pw-secret@r#insecure", "#fragment"),
            ("redis-cluster://:pw-secret@r/3", "only database 0"),
            ("redis-cluster://:pw-secret@r?addr=", "addr="),
            ("redis-cluster://:pw-secret@r?addr=u:p@x:1", "addr="),
            ("redis-cluster://:pw-secret@r?addr=x:0", "port 0"),
            ("redis-sentinel://:pw-secret@s", "master's name"),
            ("redis-sentinel://:pw-secret@s/m?db=1", "sentinel_user="),
        ] {
            let e = parsed(raw).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
            assert!(!e.contains("pw-secret"), "{raw}: {e}");
        }
    }
}

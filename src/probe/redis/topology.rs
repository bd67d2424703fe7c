//! Redis cluster and sentinel deployments, checked node by node.

use super::conn::{shown, Addr, Conn, Login, Tls};
use super::resp::Value;
use crate::not_ready::{Class, NotReady};

/// Every node answers AUTH and PING, and sees the cluster as `ok`.
pub(super) async fn cluster(
    nodes: &[Addr],
    tls: Option<&Tls>,
    login: &Login,
) -> Result<(), NotReady> {
    for node in nodes {
        let mut conn = Conn::open(node, tls, login).await?;
        conn.ping().await?;
        let info = match conn.call(&[b"CLUSTER", b"INFO"]).await? {
            Value::Error(e) if e.contains("cluster support disabled") => {
                return Err(NotReady::new(Class::Other, format!("{node} is not in cluster mode ({e})"))
                    .hint("use redis:// for a standalone server, or set cluster-enabled yes on every node"));
            }
            Value::Error(e) => return Err(super::conn::server_error(&e, &node.to_string())),
            other => other.text().unwrap_or_default(),
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_string)
        };
        let state = field("cluster_state").unwrap_or_else(|| "missing".into());
        if state != "ok" {
            let slots = field("cluster_slots_ok").unwrap_or_else(|| "?".into());
            return Err(NotReady::new(
                Class::Starting,
                format!("{node} reports cluster_state:{state} ({slots} of 16384 slots served)"),
            )
            .hint(format!("the cluster is forming or has lost a master; `redis-cli --cluster check {node}` says which slots lack a node")));
        }
    }
    Ok(())
}

/// The sentinels to ask, and how.
pub(super) struct Sentinels<'a> {
    pub(super) addrs: &'a [Addr],
    pub(super) tls: Option<&'a Tls>,
    pub(super) login: &'a Login,
    pub(super) master: &'a str,
}

/// A sentinel names the master; the master answers AUTH and PING and says
/// it is the master.
pub(super) async fn sentinel(
    sentinels: &Sentinels<'_>,
    tls: Option<&Tls>,
    login: &Login,
) -> Result<(), NotReady> {
    let mut first_failure = None;
    let mut named = None;
    for addr in sentinels.addrs {
        match ask(addr, sentinels).await {
            Ok(master) => {
                named = Some((addr, master));
                break;
            }
            Err(e) => {
                first_failure.get_or_insert((addr, e));
            }
        }
    }
    let Some((sentinel, master)) = named else {
        let Some((addr, mut e)) = first_failure else {
            unreachable!("a sentinel URL names at least one sentinel")
        };
        if sentinels.addrs.len() > 1 {
            e.reason = format!(
                "none of the {} sentinels named the master; {addr}: {}",
                sentinels.addrs.len(),
                e.reason
            );
        }
        return Err(e);
    };
    let mut conn = Conn::open(&master, tls, login).await.map_err(|mut e| {
        e.reason = format!(
            "master {master} (named by sentinel {sentinel}): {}",
            e.reason
        );
        e
    })?;
    conn.ping().await?;
    let role = match conn.ok(&[b"ROLE"]).await? {
        Value::Array(items) => items.first().and_then(Value::text).unwrap_or_default(),
        other => shown(&other),
    };
    if role != "master" {
        return Err(NotReady::new(
            Class::Starting,
            format!(
                "{master}, which sentinel {sentinel} names as master {:?}, reports role {role:?}",
                sentinels.master
            ),
        )
        .hint("a failover is under way; the sentinels name the new master once it is over"));
    }
    Ok(())
}

/// One sentinel's answer: where the master is.
async fn ask(addr: &Addr, s: &Sentinels<'_>) -> Result<Addr, NotReady> {
    let mut conn = Conn::open(addr, s.tls, s.login).await?;
    let reply = conn
        .ok(&[b"SENTINEL", b"get-master-addr-by-name", s.master.as_bytes()])
        .await?;
    match reply {
        Value::Array(items) if items.len() == 2 => {
            let host = items[0].text().unwrap_or_default();
            let port = items[1].text().and_then(|p| p.parse::<u16>().ok());
            match port {
                Some(port) if !host.is_empty() && port != 0 => Ok(Addr { host, port }),
                _ => Err(NotReady::new(Class::Other, format!("sentinel {addr} named the master as {host:?} with no usable port"))),
            }
        }
        Value::Nil => Err(NotReady::new(
            Class::Other,
            format!("sentinel {addr} knows no master named {:?}", s.master),
        )
        .hint("check the master name (REDIS_SENTINEL_MASTER_NAME); `SENTINEL MASTERS` on a sentinel lists them")),
        other => Err(NotReady::new(
            Class::Other,
            format!("{addr} answered SENTINEL get-master-addr-by-name with {}; is it a sentinel?", shown(&other)),
        )
        .hint("a sentinel listens on its own port (26379 by default), not the Redis server's")),
    }
}

//! Redis cluster and sentinel deployments, checked node by node.

use super::conn::{shown, Addr, Conn, Login, Tls};
use super::resp::Value;
use crate::not_ready::{Class, NotReady};
use crate::text::shorten_to;

/// Says which server an error came from, unless the reason already does.
fn from(role: String, addr: &Addr) -> impl FnOnce(NotReady) -> NotReady {
    let addr = addr.to_string();
    move |mut e| {
        if !e.reason.contains(&addr) {
            e.reason = format!("{role} {addr}: {}", e.reason);
        }
        e
    }
}

/// Every node answers AUTH and PING, and sees the cluster as `ok`.
pub(super) async fn cluster(
    nodes: &[Addr],
    tls: Option<&Tls>,
    login: &Login,
) -> Result<(), NotReady> {
    for node in nodes {
        node_ok(node, tls, login)
            .await
            .map_err(from("cluster node".into(), node))?;
    }
    Ok(())
}

async fn node_ok(node: &Addr, tls: Option<&Tls>, login: &Login) -> Result<(), NotReady> {
    let mut conn = Conn::open(node, tls, login).await?;
    conn.ping().await?;
    let info = match conn.call(&[b"CLUSTER", b"INFO"]).await? {
        Value::Error(e) if e.contains("cluster support disabled") => {
            return Err(NotReady::new(Class::Other, format!("{node} is not in cluster mode"))
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
    let state = field("cluster_state").map_or_else(|| "missing".into(), |s| shorten_to(&s, 20));
    if state != "ok" {
        let slots = field("cluster_slots_ok").map_or_else(|| "?".into(), |s| shorten_to(&s, 12));
        return Err(NotReady::new(
            Class::Starting,
            format!("{node} reports cluster_state:{state} ({slots} of 16384 slots served)"),
        )
        .hint(format!("the cluster is forming or has lost a master; `redis-cli --cluster check {node}` says which slots lack a node")));
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
/// it is the master. The sentinels are asked at once and the first answer
/// wins, so one that hangs does not hold up the others.
pub(super) async fn sentinel(
    sentinels: &Sentinels<'_>,
    tls: Option<&Tls>,
    login: &Login,
) -> Result<(), NotReady> {
    let mut asks = tokio::task::JoinSet::new();
    for (i, addr) in sentinels.addrs.iter().enumerate() {
        let (addr, tls, login, name) = (
            addr.clone(),
            sentinels.tls.cloned(),
            sentinels.login.clone(),
            sentinels.master.to_string(),
        );
        asks.spawn(async move { (i, ask(&addr, tls.as_ref(), &login, &name).await) });
    }
    let mut failures: Vec<(usize, NotReady)> = Vec::new();
    let mut named = None;
    while let Some(joined) = asks.join_next().await {
        match joined {
            Ok((i, Ok(master))) => {
                named = Some((&sentinels.addrs[i], master));
                break;
            }
            Ok((i, Err(e))) => failures.push((i, e)),
            Err(_) => {}
        }
    }
    let Some((sentinel, master)) = named else {
        failures.sort_by_key(|(i, _)| *i);
        let Some((i, e)) = failures.into_iter().next() else {
            unreachable!("a sentinel URL names at least one sentinel")
        };
        let mut e = from("sentinel".into(), &sentinels.addrs[i])(e);
        if sentinels.addrs.len() > 1 {
            e.reason = format!(
                "none of the {} sentinels named the master; {}",
                sentinels.addrs.len(),
                e.reason
            );
        }
        return Err(e);
    };
    let role = master_role(&master, tls, login).await.map_err(from(
        format!("master (named by sentinel {sentinel})"),
        &master,
    ))?;
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

/// The master's role: `ROLE`, or `INFO replication` when the user may not
/// run `ROLE` (an `-@admin` ACL); neither allowed: assumed master, as
/// ioredis does.
async fn master_role(master: &Addr, tls: Option<&Tls>, login: &Login) -> Result<String, NotReady> {
    let mut conn = Conn::open(master, tls, login).await?;
    conn.ping().await?;
    let role = match conn.call(&[b"ROLE"]).await? {
        Value::Array(items) => items.first().and_then(Value::text).unwrap_or_default(),
        Value::Error(e) if e.starts_with("NOPERM") => {
            match conn.call(&[b"INFO", b"replication"]).await? {
                Value::Error(e) if e.starts_with("NOPERM") => "master".to_string(),
                Value::Error(e) => return Err(super::conn::server_error(&e, &master.to_string())),
                info => info
                    .text()
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("role:").map(str::to_string))
                    .unwrap_or_default(),
            }
        }
        Value::Error(e) => return Err(super::conn::server_error(&e, &master.to_string())),
        other => shown(&other),
    };
    Ok(shorten_to(&role, 20))
}

/// One sentinel's answer: where the master is.
async fn ask(
    addr: &Addr,
    tls: Option<&Tls>,
    login: &Login,
    master: &str,
) -> Result<Addr, NotReady> {
    let mut conn = Conn::open(addr, tls, login).await?;
    let reply = conn
        .ok(&[b"SENTINEL", b"get-master-addr-by-name", master.as_bytes()])
        .await?;
    match reply {
        Value::Array(items) if items.len() == 2 => {
            let host = items[0].text().unwrap_or_default();
            let port = items[1].text().and_then(|p| p.parse::<u16>().ok());
            let plausible = !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:_".contains(&b));
            match port {
                Some(port) if plausible && port != 0 => Ok(Addr { host, port }),
                _ => Err(NotReady::new(Class::Other, format!("sentinel {addr} named the master as {:?} port {}, not a usable address", shorten_to(&host, 60), items[1].text().map_or_else(String::new, |p| shorten_to(&p, 12))))),
            }
        }
        Value::Nil => Err(NotReady::new(
            Class::Other,
            format!("sentinel {addr} knows no master named {master:?}"),
        )
        .hint("check the master name (REDIS_SENTINEL_MASTER_NAME); `SENTINEL MASTERS` on a sentinel lists them")),
        other => Err(NotReady::new(
            Class::Other,
            format!("{addr} answered SENTINEL get-master-addr-by-name with {}; is it a sentinel?", shown(&other)),
        )
        .hint("a sentinel listens on its own port (26379 by default), not the Redis server's")),
    }
}

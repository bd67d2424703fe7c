//! Listener targets (`listen://:PORT`): ready when something in this network
//! namespace listens on TCP port PORT on an address other hosts can reach.
//! A native sidecar shares the namespace with the app container, so this
//! reads the app's own socket table (`/proc/net/tcp`, `/proc/net/tcp6`)
//! without connecting to anything.
//!
//! Not ready, with a reason saying which: nothing listens on the port;
//! something listens there on loopback only (probes from the kubelet or a
//! Service cannot reach it); nothing listens there but other ports do (the
//! container runs another program than expected). readygate's own sockets
//! (the sidecar's port) are left out.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

use crate::not_ready::{Class, NotReady};

/// The socket tables read, IPv4 then IPv6.
const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// `st` of a listening socket in the tables.
const LISTEN: &str = "0A";

/// Lines read per table at most: a pod's namespace holds a few dozen
/// sockets; a host's may hold many thousands, and an attempt stays short.
const MAX_LINES: usize = 200_000;

/// Other listening ports named in a reason, at most.
const SHOWN_PORTS: usize = 5;

/// A service mesh's own proxy ports, listening in every meshed pod before
/// the app is up: Istio's Envoy (15000-15090) and Linkerd's proxy (4140,
/// 4143, 4191). They say nothing about which program the app is.
fn mesh_port(port: u16) -> bool {
    (15000..=15099).contains(&port) || matches!(port, 4140 | 4143 | 4191)
}

/// `listen://:PORT`, as people write it, is not a URL the parser takes (an
/// empty host before a port): it becomes `listen://*:PORT`.
pub(crate) fn any_host_form(raw: &str) -> Option<String> {
    let prefix = raw.get(..10)?;
    let rest = &raw[10..];
    prefix
        .eq_ignore_ascii_case("listen://:")
        .then(|| format!("listen://*:{rest}"))
}

/// What a listener target URL must hold: a port, and no host but `*`.
pub(crate) fn check_url(url: &Url) -> Result<(), String> {
    if url.port().is_none() {
        return Err("needs a port, e.g. listen://:3030".into());
    }
    if url.host_str() != Some("*") {
        return Err("takes a port and no host, e.g. listen://:3030 (it reads this network namespace's own sockets; to connect to a host, use tcp://host:port)".into());
    }
    if !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err("takes only a port, e.g. listen://:3030".into());
    }
    Ok(())
}

/// How the target is shown: as people write it.
pub(crate) fn show(url: &Url) -> String {
    format!("listen://:{}", url.port().unwrap_or(0))
}

pub(crate) struct ListenProbe {
    port: u16,
}

/// One listening socket from the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Listener {
    addr: IpAddr,
    port: u16,
    inode: u64,
}

impl Listener {
    /// Whether a probe from outside the pod can reach it.
    fn reachable(&self) -> bool {
        !is_loopback(self.addr)
    }
}

fn is_loopback(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl ListenProbe {
    pub(crate) fn new(url: &Url) -> Self {
        ListenProbe {
            port: url.port().unwrap_or(0),
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "something in this network namespace listens on port {} on an address other hosts can reach (not loopback only)",
            self.port
        )
    }

    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        let own = own_socket_inodes();
        let mut listeners = Vec::new();
        for table in TABLES {
            match read_table(table, &mut listeners) {
                Ok(()) => {}
                // A kernel without IPv6 has no tcp6 table.
                Err(e) if table.ends_with('6') && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(NotReady::new(Class::Other, format!("cannot read {table}: {e}"))
                        .hint("listen:// reads the socket table of Linux's /proc: run readygate on Linux with /proc mounted"))
                }
            }
        }
        listeners.retain(|l| !own.contains(&l.inode));
        judge(self.port, &listeners)
    }
}

/// The verdict for `port` given every listening socket but readygate's own.
fn judge(port: u16, listeners: &[Listener]) -> Result<(), NotReady> {
    let on_port: Vec<&Listener> = listeners.iter().filter(|l| l.port == port).collect();
    if on_port.iter().any(|l| l.reachable()) {
        return Ok(());
    }
    if let Some(first) = on_port.first() {
        return Err(NotReady::new(
            Class::LoopbackOnly,
            format!("port {port} listens on {} only, which probes from outside cannot reach", first.addr),
        )
        .hint(format!("make the app listen on 0.0.0.0:{port} (for Node and Next.js servers, which bind to HOSTNAME, set HOSTNAME=0.0.0.0: Kubernetes and Docker set HOSTNAME to the pod or container name)")));
    }
    let others: BTreeSet<u16> = listeners
        .iter()
        .map(|l| l.port)
        .filter(|p| !mesh_port(*p))
        .collect();
    if others.is_empty() {
        return Err(NotReady::new(Class::Refused, format!("nothing listens on port {port} yet"))
            .hint("the app has not started listening: is it still starting, or did it exit? check its logs"));
    }
    let shown: Vec<String> = others
        .iter()
        .take(SHOWN_PORTS)
        .map(u16::to_string)
        .collect();
    let listing = match (shown.as_slice(), others.len()) {
        ([one], 1) => format!("port {one} does"),
        (_, n) if n > SHOWN_PORTS => {
            format!("ports {} and {} more do", shown.join(", "), n - SHOWN_PORTS)
        }
        ([first @ .., last], _) => format!("ports {} and {last} do", first.join(", ")),
        ([], _) => "other ports do".to_string(),
    };
    Err(NotReady::new(
        Class::WrongPort,
        format!("nothing listens on port {port}, but {listing}"),
    )
    .hint("the container runs another program or configuration than expected: check its image and its PORT setting"))
}

/// Appends the listening sockets of one table.
fn read_table(path: &str, into: &mut Vec<Listener>) -> std::io::Result<()> {
    let reader = BufReader::new(File::open(path)?);
    for line in reader.lines().skip(1).take(MAX_LINES) {
        if let Some(listener) = parse_line(&line?) {
            into.push(listener);
        }
    }
    Ok(())
}

/// One line of `/proc/net/tcp{,6}`: `sl local rem st ... uid timeout inode`.
fn parse_line(line: &str) -> Option<Listener> {
    let fields: Vec<&str> = line.split_whitespace().take(10).collect();
    if fields.len() < 10 || fields[3] != LISTEN {
        return None;
    }
    let (addr, port) = fields[1].split_once(':')?;
    Some(Listener {
        addr: parse_addr(addr)?,
        port: u16::from_str_radix(port, 16).ok()?,
        inode: fields[9].parse().ok()?,
    })
}

/// The kernel prints each 32-bit word of the address as the number the
/// machine holds in memory (`%08X`), so the bytes come back in native order.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        let text = hex.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(text, 16).ok()?.to_ne_bytes())
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

/// The inodes of readygate's own sockets (the sidecar's listener), which
/// are no app's.
fn own_socket_inodes() -> BTreeSet<u64> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return BTreeSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let text = target.to_str()?;
            text.strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native(v4: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(v4))
    }

    #[test]
    fn table_lines_become_listeners() {
        let line = format!(
            "   0: {}:0BD6 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1131 1 0 100 0 0 10 0",
            native([127, 0, 0, 1])
        );
        let l = parse_line(&line).unwrap();
        assert_eq!(l.addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((l.port, l.inode), (3030, 1131));
        assert!(!l.reachable());
        // An established connection is not a listener.
        assert_eq!(parse_line(&line.replacen(" 0A ", " 01 ", 1)), None);
        let any6 = format!(
            "   1: {}:0BB8 {}:0000 0A 0 0 0 0 0 77 1",
            "0".repeat(32),
            "0".repeat(32)
        );
        let l = parse_line(&any6).unwrap();
        assert_eq!(l.addr, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert!(l.reachable());
        let one6: String = [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
            .iter()
            .map(|w| native(*w))
            .collect();
        assert_eq!(parse_addr(&one6), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let mapped: String = [
            [0, 0, 0, 0],
            [0, 0, 0, 0],
            [0, 0, 0xff, 0xff],
            [127, 0, 0, 1],
        ]
        .iter()
        .map(|w| native(*w))
        .collect();
        assert!(is_loopback(parse_addr(&mapped).unwrap()));
        for bad in [
            "",
            "  sl  local_address",
            "0: zz:0BD6 0 0A 0 0 0 0 0 1",
            "0: 0100007F 0 0A 0 0 0 0 0 1",
        ] {
            assert_eq!(parse_line(bad), None, "{bad}");
        }
    }

    fn at(addr: &str, port: u16) -> Listener {
        Listener {
            addr: addr.parse().unwrap(),
            port,
            inode: 1,
        }
    }

    #[test]
    fn verdicts_name_the_cause() {
        assert!(judge(3030, &[at("0.0.0.0", 3030)]).is_ok());
        assert!(judge(3030, &[at("::", 3030)]).is_ok());
        assert!(judge(3030, &[at("127.0.0.1", 3030), at("10.1.2.3", 3030)]).is_ok());
        let e = judge(3030, &[at("127.0.0.1", 3030)]).unwrap_err();
        assert_eq!(e.class, Class::LoopbackOnly);
        assert!(e.reason.contains("127.0.0.1 only"), "{e}");
        assert!(e.hint.unwrap().contains("HOSTNAME=0.0.0.0"));
        let e = judge(3030, &[at("0.0.0.0", 3000), at("127.0.0.1", 9229)]).unwrap_err();
        assert_eq!(e.class, Class::WrongPort);
        assert_eq!(
            e.reason,
            "nothing listens on port 3030, but ports 3000 and 9229 do"
        );
        let e = judge(1, &[at("0.0.0.0", 3000)]).unwrap_err();
        assert_eq!(e.reason, "nothing listens on port 1, but port 3000 does");
        let many: Vec<Listener> = (2..=8).map(|p| at("::", p)).collect();
        let e = judge(1, &many).unwrap_err();
        assert_eq!(
            e.reason,
            "nothing listens on port 1, but ports 2, 3, 4, 5, 6 and 2 more do"
        );
        assert_eq!(judge(3030, &[]).unwrap_err().class, Class::Refused);
        // A meshed pod while the app starts: Envoy's and Linkerd's ports only.
        let mesh = [
            at("0.0.0.0", 15001),
            at("0.0.0.0", 15021),
            at("0.0.0.0", 4191),
        ];
        assert_eq!(judge(3030, &mesh).unwrap_err().class, Class::Refused);
    }

    #[test]
    fn only_a_port_is_a_listener_target() {
        let parse = |raw: &str| {
            let raw = any_host_form(raw).unwrap_or_else(|| raw.to_string());
            check_url(&Url::parse(&raw).unwrap())
        };
        assert!(parse("listen://:3030").is_ok());
        assert!(parse("listen://*:3030/").is_ok());
        assert!(parse("LISTEN://:3030").is_ok());
        assert!(parse("Listen://:3030").is_ok());
        for bad in [
            "listen://web:3030",
            "listen://:3030/x",
            "listen://:3030?a=b",
            "listen://*",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

//! One connection to one Redis server (or sentinel): TCP, TLS when asked,
//! the login, commands, and what each failure means in a sentence.

use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::resp::{self, ReplyError, Value};
use crate::not_ready::{Class, NotReady};
use crate::text::one_line;

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Addr {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// A user and password for `AUTH`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Login {
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
}

/// TLS for one kind of connection: the rustls settings, and the name to
/// send and verify when it is not the host's (Node's `servername`).
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: Option<String>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open connection.
pub(crate) struct Conn {
    stream: BufReader<Box<dyn Io>>,
    addr: Addr,
}

impl Conn {
    /// Connects, shakes hands over TLS when `tls` is given, and logs in.
    pub(crate) async fn open(
        addr: &Addr,
        tls: Option<&Tls>,
        login: &Login,
    ) -> Result<Conn, NotReady> {
        let what = addr.to_string();
        let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .map_err(|e| NotReady::from_io(&e, &what))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = match tls {
            None => Box::new(tcp),
            Some(tls) => {
                let name = tls.server_name.as_deref().unwrap_or(&addr.host);
                let name = ServerName::try_from(name.to_string()).map_err(|_| {
                    NotReady::new(Class::Tls, format!("{name:?} is not a name TLS can verify"))
                })?;
                let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| tls_failed(&e, &what))?;
                Box::new(stream)
            }
        };
        let mut conn = Conn {
            stream: BufReader::new(stream),
            addr: addr.clone(),
        };
        if let Some(password) = &login.password {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &login.user {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            match conn.call(&auth).await? {
                // A password for a server without one: redis-cli and ioredis
                // carry on, and so does the gate.
                Value::Error(e) if e.contains("without any password configured") => {}
                Value::Error(e) => return Err(server_error(&e, &what)),
                _ => {}
            }
        }
        Ok(conn)
    }

    /// Sends a command and reads its reply; an error reply is returned as
    /// a value (`ok` turns it into `NotReady`).
    pub(crate) async fn call(&mut self, args: &[&[u8]]) -> Result<Value, NotReady> {
        let what = self.addr.to_string();
        // TLS 1.3 servers reject a client certificate after the handshake,
        // so rustls errors can surface on the first read.
        let io = |e: std::io::Error| match e
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            true => tls_failed(&e, &what),
            false => NotReady::from_io(&e, &what),
        };
        self.stream
            .get_mut()
            .write_all(&resp::encode(args))
            .await
            .map_err(io)?;
        self.stream.get_mut().flush().await.map_err(io)?;
        match resp::read(&mut self.stream).await {
            Ok(value) => Ok(value),
            Err(ReplyError::Io(e)) => Err(io(e)),
            Err(ReplyError::Protocol(p)) => Err(NotReady::new(Class::Other, format!("{what} {p}"))
                .hint(
                    "is this a Redis server? check the host and port (a TLS port needs rediss://)",
                )),
        }
    }

    /// Sends a command whose error reply means not ready.
    pub(crate) async fn ok(&mut self, args: &[&[u8]]) -> Result<Value, NotReady> {
        match self.call(args).await? {
            Value::Error(text) => Err(server_error(&text, &self.addr.to_string())),
            value => Ok(value),
        }
    }

    /// `PING`, which must answer `PONG`.
    pub(crate) async fn ping(&mut self) -> Result<(), NotReady> {
        match self.ok(&[b"PING"]).await? {
            Value::Simple(pong) if pong == "PONG" => Ok(()),
            other => Err(NotReady::new(
                Class::Other,
                format!(
                    "{} answered PING with {}, not PONG",
                    self.addr,
                    shown(&other)
                ),
            )),
        }
    }
}

impl Conn {
    /// A plain `redis://` URL must lead to a server that takes writes: not
    /// a sentinel (which answers PING too) and not a read-only replica.
    /// A user who may not run `ROLE` (`-@admin`) is taken at its word.
    pub(crate) async fn not_a_sentinel_or_replica(&mut self) -> Result<(), NotReady> {
        let Value::Array(items) = self.call(&[b"ROLE"]).await? else {
            return Ok(());
        };
        match items.first().and_then(Value::text).as_deref() {
            Some("sentinel") => Err(NotReady::new(Class::BadCheck, format!("{} is a Redis sentinel, not a server", self.addr))
                .hint("name the master through its sentinels: redis-sentinel://sentinel:26379/master-name (REDIS_SENTINEL_ENABLED=true with the preset)")),
            Some("slave" | "replica") => Err(NotReady::new(Class::Other, format!("{} is a read-only replica, not the master", self.addr))
                .hint("point the URL at the master (or use its sentinels); the app writes to Redis")),
            _ => Ok(()),
        }
    }
}

/// A reply in a few words, for messages.
pub(crate) fn shown(value: &Value) -> String {
    match value {
        Value::Array(items) => format!("an array of {}", items.len()),
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        other => format!(
            "{:?}",
            crate::text::shorten_to(&other.text().unwrap_or_default(), 80)
        ),
    }
}

/// What an error reply means.
pub(crate) fn server_error(text: &str, what: &str) -> NotReady {
    let text = crate::text::shorten_to(&one_line(text), 200);
    let code = text.split_whitespace().next().unwrap_or_default();
    let lower = text.to_ascii_lowercase();
    match code {
        "LOADING" => NotReady::new(Class::Starting, "Redis is loading its dataset into memory")
            .hint("not ready: loading; it answers once the dataset is loaded"),
        "WRONGPASS" | "NOAUTH" => login_rejected(&text),
        "NOPERM" => NotReady::new(Class::Other, format!("{what} refused a command to this user: {text}"))
            .hint("the Redis ACL user lacks a command the check needs (PING, SELECT, CLUSTER INFO, ROLE): grant it, e.g. +@connection"),
        "ERR" if lower.contains("db index is out of range") => {
            NotReady::new(Class::BadCheck, format!("{what} answered {text}"))
                .hint("the database number in the URL's path is beyond the server's `databases` setting")
        }
        "ERR"
            if lower.contains("without any password configured")
                || lower.contains("invalid password")
                || lower.contains("invalid username-password") =>
        {
            login_rejected(&text)
        }
        "MASTERDOWN" | "CLUSTERDOWN" | "TRYAGAIN" => {
            NotReady::new(Class::Starting, format!("{what} answered {text}"))
                .hint("a failover or resharding is under way; it answers once it is over")
        }
        _ => NotReady::new(Class::Other, format!("{what} answered an error: {text}")),
    }
}

fn login_rejected(text: &str) -> NotReady {
    NotReady::new(Class::Auth, format!("Redis rejected the login: {text}"))
        .hint("check the user and password in the URL (REDIS_AUTH, or the Redis ACL)")
}

fn tls_failed(e: &std::io::Error, what: &str) -> NotReady {
    // A certificate for 1,500 names lists them all: keep it one line.
    let text = crate::text::shorten_to(&one_line(&e.to_string()), 400);
    if text.contains("NotValidForName") || text.contains("not valid for name") {
        return NotReady::new(Class::Tls, format!("TLS with {what} failed: {text}"))
            .hint("the server's certificate does not name this host: connect by a name it holds, or set the name to verify (REDIS_TLS_SERVERNAME)");
    }
    if text.contains("CertificateRequired")
        || text.contains("HandshakeFailure") && text.contains("alert")
    {
        return NotReady::new(Class::Tls, format!("{what} refused the TLS connection: {text}"))
            .hint("the server requires a client certificate: give one (REDIS_TLS_CERT_PATH and REDIS_TLS_KEY_PATH with the preset)");
    }
    if matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
    ) && !text.to_ascii_lowercase().contains("certificate")
    {
        return NotReady::new(
            Class::Tls,
            format!("{what} closed the connection during the TLS handshake ({text})"),
        )
        .hint("the server may require a client certificate, or not speak TLS on this port");
    }
    NotReady::new(Class::Tls, format!("TLS with {what} failed: {text}")).hint(
        "the server's certificate is not trusted: pass its CA with --ca-file (REDIS_TLS_CA_PATH)",
    )
}

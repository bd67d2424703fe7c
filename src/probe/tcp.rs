//! TCP targets (`tcp://host:port`): ready when a connection opens. The
//! connection is closed at once. No flags apply.

use tokio::net::TcpStream;
use url::Url;

use crate::not_ready::{Class, NotReady};

/// What a TCP target URL must hold: a host and a port, nothing else.
pub(crate) fn check_url(url: &Url, has_host: bool) -> Result<(), String> {
    if !has_host || url.port().is_none() {
        return Err("needs a host and a port, e.g. tcp://db:5432".into());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err("takes only a host and a port, e.g. tcp://db:5432".into());
    }
    Ok(())
}

pub(crate) struct TcpProbe {
    host: String,
    port: u16,
}

impl TcpProbe {
    pub(crate) fn new(url: &Url) -> Self {
        // IPv6 literals come from the URL with brackets, which connect() rejects.
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        TcpProbe {
            host,
            port: url.port().unwrap_or(0),
        }
    }

    pub(crate) fn describe() -> String {
        "a TCP connection opens".to_string()
    }

    pub(crate) async fn check(&mut self) -> Result<(), NotReady> {
        let what = format!("{}:{}", self.host, self.port);
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| NotReady::from_io(&e, &what))?;
        // Polling a closed local port in the ephemeral range, the kernel can
        // pick that very port as the source: the socket connects to itself
        // (TCP simultaneous open) and the port looks open. Nothing listens.
        if stream.local_addr().ok() == stream.peer_addr().ok() {
            return Err(NotReady::new(Class::Refused, format!("connection refused by {what} (the connection went to itself: nothing listens there)"))
                .hint("nothing listens there yet: is the server up, and are the host and port right?"));
        }
        Ok(())
    }
}

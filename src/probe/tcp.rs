//! TCP probe: ready when a connection opens. The connection is closed at once.

use tokio::net::TcpStream;

use super::{Class, NotReady};

pub struct TcpProbe {
    host: String,
    port: u16,
}

impl TcpProbe {
    pub fn new(host: &str, port: u16) -> Self {
        // IPv6 literals come from the URL with brackets, which connect() rejects.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        TcpProbe { host, port }
    }

    pub async fn check(&mut self) -> Result<(), NotReady> {
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

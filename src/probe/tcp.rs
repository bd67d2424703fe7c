//! TCP probe: ready when a connection opens. The connection is closed at once.

use tokio::net::TcpStream;

use super::NotReady;

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
        TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map(drop)
            .map_err(|e| NotReady::from_io(&e, &what))
    }
}

//! What the MySQL relay (`probe/relay.rs`) watches beyond the byte limit:
//! a login on a plain connection must not ask for the server's RSA key.
//!
//! sqlx-mysql answers `caching_sha2_password`'s full authentication on a
//! connection without TLS by asking the server for its public key and
//! encrypting the password to it, so whoever strips TLS on the way gets the
//! password (libmysqlclient refuses unless told `--get-server-public-key`).
//! The relay ends such a connection.

use crate::probe::relay::{Cut, Headers, Watch, MESSAGE_MAX};

/// Reads the client's packets during the login on a plain connection.
#[derive(Default)]
pub(crate) struct Login {
    /// TLS was asked for (an SSLRequest): the rest is encrypted, unread.
    tls: bool,
    /// The client's first command (sequence 0) was seen: logged in.
    done: bool,
    /// The packet being read: its header so far, then how much payload is left.
    header: Vec<u8>,
    left: usize,
    len: usize,
    seq: u8,
    payload_start: Vec<u8>,
    /// The server's packet headers, read while the connection is plain.
    server: Headers,
}

impl Login {
    /// Whether `bytes` (the next ones from the client) ask for the server's
    /// RSA key on a plain connection: a one-byte packet 0x01
    /// (`sha256_password`) or 0x02 (`caching_sha2_password`) with a
    /// sequence number past 0 (a command such as COM_QUIT, also 0x01,
    /// starts at 0).
    fn refuses(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() && !self.tls && !self.done {
            if self.left == 0 {
                let take = (4 - self.header.len()).min(bytes.len());
                self.header.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.header.len() < 4 {
                    return false;
                }
                self.len = usize::from(self.header[0])
                    | usize::from(self.header[1]) << 8
                    | usize::from(self.header[2]) << 16;
                self.seq = self.header[3];
                self.left = self.len;
                self.header.clear();
                self.payload_start.clear();
                if self.seq == 0 {
                    self.done = true;
                    return false;
                }
                if self.len == 0 {
                    continue;
                }
            }
            let take = self.left.min(bytes.len());
            if self.payload_start.len() < 4 {
                let keep = take.min(4 - self.payload_start.len());
                self.payload_start.extend_from_slice(&bytes[..keep]);
            }
            bytes = &bytes[take..];
            self.left -= take;
            if self.left == 0 {
                if self.len == 1 && matches!(self.payload_start.first(), Some(1 | 2)) {
                    return true;
                }
                // An SSLRequest: 32 bytes whose capabilities include SSL.
                if self.seq == 1 && self.len == 32 && self.payload_start.len() == 4 {
                    let caps = u32::from_le_bytes([
                        self.payload_start[0],
                        self.payload_start[1],
                        self.payload_start[2],
                        self.payload_start[3],
                    ]);
                    self.tls = caps & 0x800 != 0;
                }
            }
        }
        false
    }
}

impl Watch for Login {
    const CLIENT_FIRST: bool = false;

    fn client(&mut self, bytes: &[u8]) -> Option<Cut> {
        self.refuses(bytes).then_some(Cut::KeyWithoutTls)
    }

    /// On a plain connection, a packet declaring more than
    /// [`MESSAGE_MAX`] is cut: sqlx reserves what is declared. Under TLS
    /// the packets cannot be read; the relay's byte limit still holds, and
    /// MySQL's packets cannot declare more than 16 MiB.
    fn server(&mut self, bytes: &[u8]) -> Option<Cut> {
        if self.tls {
            return None;
        }
        // A 3-byte little-endian payload length and a sequence number.
        self.server.feed(bytes, 4, |h| {
            let len = u64::from(h[0]) | u64::from(h[1]) << 8 | u64::from(h[2]) << 16;
            match len <= MESSAGE_MAX {
                true => Ok(len),
                false => Err(len),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut p = len.to_le_bytes()[..3].to_vec();
        p.push(seq);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn a_key_request_during_a_plain_login_is_refused() {
        let mut login = Login::default();
        assert!(!login.refuses(&packet(1, &[0u8; 60])));
        assert!(login.refuses(&packet(3, &[2])));
        // Byte by byte, too.
        let mut login = Login::default();
        let bytes = [packet(1, &[7u8; 40]), packet(3, &[1])].concat();
        let refused = bytes.iter().any(|b| login.refuses(&[*b]));
        assert!(refused);
    }

    #[test]
    fn commands_and_tls_pass() {
        // Logged in: COM_QUIT (0x01, sequence 0) is a command.
        let mut login = Login::default();
        assert!(!login.refuses(&packet(1, &[0u8; 60])));
        assert!(!login.refuses(&packet(0, &[1])));
        // An SSLRequest: what follows is TLS, not read.
        let mut login = Login::default();
        let mut ssl = vec![0u8; 32];
        ssl[1] = 0x08;
        assert!(!login.refuses(&packet(1, &ssl)));
        assert!(!login.refuses(&packet(3, &[2])));
    }
}

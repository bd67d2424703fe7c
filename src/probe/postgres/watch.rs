//! What the PostgreSQL relay (`probe/relay.rs`) watches beyond the byte
//! limit: the length each server message declares.
//!
//! sqlx-postgres reserves a message's declared length before reading it,
//! and a length under 4 makes it panic (the gate would abort). The relay
//! reads each message header on a plain connection and ends the connection
//! on a length no PostgreSQL sends. Under TLS the messages cannot be read:
//! only the relay's byte limit holds, so memory stays bounded but sqlx may
//! still reserve (not touch) what a hostile server declares.

use crate::probe::relay::{Cut, Watch, ANSWER_MAX};

/// libpq's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Reads the server's message headers.
#[derive(Default)]
pub(crate) struct Frames {
    /// The client's first bytes (up to 8): an SSLRequest or the startup.
    first: Vec<u8>,
    state: State,
    /// The message header so far (type and length).
    header: Vec<u8>,
    /// Bytes left of the current message's body.
    left: u64,
}

#[derive(Default, PartialEq, Eq)]
enum State {
    /// Nothing from the server yet.
    #[default]
    Start,
    /// Plain messages.
    Messages,
    /// TLS: nothing readable.
    Opaque,
}

impl Watch for Frames {
    const CLIENT_FIRST: bool = true;

    fn client(&mut self, bytes: &[u8]) -> Option<Cut> {
        let take = (SSL_REQUEST.len() - self.first.len()).min(bytes.len());
        self.first.extend_from_slice(&bytes[..take]);
        None
    }

    fn server(&mut self, mut bytes: &[u8]) -> Option<Cut> {
        if self.state == State::Start && !bytes.is_empty() {
            if self.first == SSL_REQUEST {
                // The one-byte answer: `N` goes on in plain messages, `S`
                // starts TLS; anything else sqlx reports as not PostgreSQL.
                self.state = match bytes[0] {
                    b'N' => State::Messages,
                    _ => State::Opaque,
                };
                bytes = &bytes[1..];
            } else {
                self.state = State::Messages;
            }
        }
        while self.state == State::Messages && !bytes.is_empty() {
            if self.left > 0 {
                let skip = (self.left as usize).min(bytes.len());
                bytes = &bytes[skip..];
                self.left -= skip as u64;
                continue;
            }
            let take = (5 - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() < 5 {
                break;
            }
            let h = &self.header;
            let len = u64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]]));
            if !(4..=ANSWER_MAX as u64).contains(&len) {
                return Some(Cut::Declared(len));
            }
            self.left = len - 4;
            self.header.clear();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn a_huge_or_impossible_length_is_cut() {
        let mut w = Frames::default();
        assert_eq!(w.client(&SSL_REQUEST), None);
        assert_eq!(w.server(b"N"), None);
        let fine = [message(b'R', &[0; 4]), message(b'S', b"a\0b\0")].concat();
        assert_eq!(w.server(&fine), None);
        assert_eq!(
            w.server(b"E\x7f\xff\xff\xf0aaaa"),
            Some(Cut::Declared(0x7fff_fff0))
        );
        // No SSLRequest (sslmode=disable); byte by byte; a length under 4.
        let mut w = Frames::default();
        w.client(&[0, 0, 0, 40, 0, 3, 0, 0]);
        let bytes = [message(b'R', &[0; 4]), b"E\0\0\0\x02".to_vec()].concat();
        let cut = bytes.iter().find_map(|b| w.server(&[*b]));
        assert_eq!(cut, Some(Cut::Declared(2)));
    }

    #[test]
    fn tls_is_not_read() {
        let mut w = Frames::default();
        w.client(&SSL_REQUEST[..3]);
        w.client(&SSL_REQUEST[3..]);
        assert_eq!(w.server(b"S\x16\x03\x03\xff\xff"), None);
        assert_eq!(w.server(&[0xff; 64]), None);
    }
}

//! What the PostgreSQL relay (`probe/relay.rs`) watches beyond the byte
//! limit: the length each server message declares.
//!
//! sqlx reserves a message's declared length before reading it (and over
//! TLS zeroes it), and a length under 4 makes it panic. The gate does TLS
//! itself (`tls.rs`), so the relay sees every message sqlx will read, and
//! ends the connection on a length no PostgreSQL sends these statements:
//! over [`MESSAGE_MAX`] or under 4.

use crate::probe::relay::{Cut, Headers, Watch, MESSAGE_MAX};

/// Reads the server's message headers: a type byte and a 4-byte length
/// that counts itself.
#[derive(Default)]
pub(crate) struct Frames(Headers);

impl Watch for Frames {
    const CLIENT_FIRST: bool = true;

    fn client(&mut self, _bytes: &[u8]) -> Option<Cut> {
        None
    }

    fn server(&mut self, bytes: &[u8]) -> Option<Cut> {
        self.0.feed(bytes, 5, |h| {
            let len = u64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]]));
            match (4..=MESSAGE_MAX).contains(&len) {
                true => Ok(len - 4),
                false => Err(len),
            }
        })
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
        let fine = [message(b'R', &[0; 4]), message(b'S', b"a\0b\0")].concat();
        assert_eq!(w.server(&fine), None);
        assert_eq!(
            w.server(b"E\x7f\xff\xff\xf0aaaa"),
            Some(Cut::Declared(0x7fff_fff0))
        );
        // Byte by byte; a length under 4; just over the limit.
        let mut w = Frames::default();
        let bytes = [message(b'R', &[0; 4]), b"E\0\0\0\x02".to_vec()].concat();
        let cut = bytes.iter().find_map(|b| w.server(&[*b]));
        assert_eq!(cut, Some(Cut::Declared(2)));
        let mut w = Frames::default();
        let over = (MESSAGE_MAX as u32 + 1).to_be_bytes();
        assert_eq!(
            w.server(&[b'D', over[0], over[1], over[2], over[3]]),
            Some(Cut::Declared(MESSAGE_MAX + 1))
        );
    }

    #[test]
    fn a_long_body_is_skipped_not_read_as_headers() {
        let mut w = Frames::default();
        let body = vec![0xff; 100_000];
        let bytes = [message(b'D', &body), message(b'Z', b"I")].concat();
        for chunk in bytes.chunks(777) {
            assert_eq!(w.server(chunk), None);
        }
    }
}

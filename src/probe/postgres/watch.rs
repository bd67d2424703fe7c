//! What the PostgreSQL relay (`probe/relay.rs`) watches beyond the byte
//! limit: the length each server message declares.
//!
//! sqlx reserves a message's declared length before reading it (and over
//! TLS zeroes it), and a length under 4 makes it panic. The gate does TLS
//! itself (`tls.rs`), so the relay sees every message sqlx will read, and
//! ends the connection on a length no PostgreSQL sends these statements:
//! over [`MESSAGE_MAX`] or under 4.

use crate::probe::relay::{Cut, Watch};

/// The longest message the gate takes: its statements answer in a few
/// hundred bytes, an error in a few KiB; a `--sql` row this long is a check
/// that reads too much. Each target's connection holds at most about three
/// times this, so many hostile targets stay well within a small limit.
pub(crate) const MESSAGE_MAX: u64 = 1 << 20;

/// Reads the server's message headers.
#[derive(Default)]
pub(crate) struct Frames {
    /// The message header so far (type and length).
    header: Vec<u8>,
    /// Bytes left of the current message's body.
    left: u64,
}

impl Watch for Frames {
    const CLIENT_FIRST: bool = true;

    fn client(&mut self, _bytes: &[u8]) -> Option<Cut> {
        None
    }

    fn server(&mut self, mut bytes: &[u8]) -> Option<Cut> {
        while !bytes.is_empty() {
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
            if !(4..=MESSAGE_MAX).contains(&len) {
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

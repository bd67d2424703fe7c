//! The Redis probe's RESP reader: any bytes a server sends either make one
//! reply within the bounds or are refused; never a panic, never more than
//! `REDIS_REPLY_MAX` bytes taken.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readygate::fuzzing::{redis_reply, REDIS_REPLY_MAX};

fuzz_target!(|bytes: &[u8]| {
    if let Some(taken) = redis_reply(bytes) {
        assert!(taken <= REDIS_REPLY_MAX, "took {taken} bytes");
        assert!(taken <= bytes.len());
    }
});

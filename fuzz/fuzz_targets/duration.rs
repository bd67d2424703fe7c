//! Durations: parsing never panics, and every duration readygate shows in a
//! message parses back (users paste them into flags).
#![no_main]

use libfuzzer_sys::fuzz_target;
use readygate::fuzzing::{parse_duration as parse, show_duration as show};

fuzz_target!(|raw: &str| {
    if let Ok(d) = parse(raw) {
        let shown = show(d);
        assert!(parse(&shown).is_ok(), "{raw:?} -> {d:?} -> {shown:?} does not parse");
    }
});

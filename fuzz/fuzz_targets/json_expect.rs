//! `--http-json POINTER=VALUE`: parsing, and checking against any JSON body,
//! never panic. Input: the expectation, a newline, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readygate::fuzzing::json_expect;

fuzz_target!(|raw: &str| {
    let (expect, body) = raw.split_once('\n').unwrap_or((raw, "{}"));
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(body) {
        let _ = json_expect(expect, &doc);
    }
});

//! Target URLs as a user (or a Langfuse env file) writes them: parsing,
//! PostgreSQL connect options, and redaction must never panic, and a parsed
//! URL's password never survives redaction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readygate::fuzzing::{postgres_options, redact_url, target};

fuzz_target!(|raw: &str| {
    let Some((url, _secrets)) = target(raw) else { return };
    let shown = redact_url(&url);
    if let Some(password) = url.password() {
        // A password that also spells out another part of the URL (the
        // host or a query, say) may appear as that part.
        let mut without = url.clone();
        let _ = without.set_password(None);
        let elsewhere = redact_url(&without);
        if password.len() >= 4 && !elsewhere.contains(password) {
            assert!(!shown.contains(password), "{shown} shows {password}");
        }
    }
    let _ = postgres_options(&url);
});

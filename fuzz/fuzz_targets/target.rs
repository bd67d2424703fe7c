//! Target URLs as a user (or a Langfuse env file) writes them: parsing,
//! PostgreSQL connect options, and redaction must never panic, and a parsed
//! URL's password never survives redaction.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use readygate::probe::postgres::connect_options;
use readygate::secret::redact_url;
use readygate::target::Target;

fuzz_target!(|raw: &str| {
    let Ok(target) = Target::parse(raw) else { return };
    let shown = redact_url(&target.url);
    if let Some(password) = target.url.password() {
        // A password that also spells out another part of the URL (the
        // host or a query, say) may appear as that part.
        let mut without = target.url.clone();
        let _ = without.set_password(None);
        let elsewhere = redact_url(&without);
        if password.len() >= 4 && !elsewhere.contains(password) {
            assert!(!shown.contains(password), "{shown} shows {password}");
        }
    }
    let _ = target.secrets();
    let _ = connect_options(&target.url, Duration::from_secs(5));
});

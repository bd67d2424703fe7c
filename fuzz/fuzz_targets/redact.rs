//! The redactor: a secret of 8 characters or more never survives in the
//! text it cleaned, whatever surrounds it. Input: the secret, a newline,
//! then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use readygate::fuzzing::redact;

fuzz_target!(|raw: &str| {
    let Some((secret, text)) = raw.split_once('\n') else {
        return;
    };
    // Masks are asterisks: a secret made of them is the mask itself.
    if secret.chars().count() < 8 || secret.contains('*') {
        return;
    }
    let cleaned = redact(secret, text);
    assert!(!cleaned.contains(secret), "{secret:?} survived in {cleaned:?}");
});

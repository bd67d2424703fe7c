//! Parts of target URLs as servers receive them: percent-decoded, UTF-8 and
//! free of NUL bytes, which no server protocol here can carry; anything else
//! would be mangled silently.

/// A percent-decoded URL part (user, password, database).
pub(crate) fn decode_part(what: &str, raw: &str) -> Result<String, String> {
    let value = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| {
            format!(
                "has {} {what} that is not UTF-8 once percent-decoded",
                article(what)
            )
        })?;
    no_nul(what, value.into_owned())
}

/// "a" or "an", for a part's name.
fn article(what: &str) -> &'static str {
    match what.starts_with(['a', 'e', 'i', 'o', 'u']) {
        true => "an",
        false => "a",
    }
}

/// A decoded URL value without NUL bytes.
pub(crate) fn no_nul(what: &str, value: String) -> Result<String, String> {
    match value.contains('\0') {
        true => Err(format!("has a NUL byte (%00) in its {what}")),
        false => Ok(value),
    }
}

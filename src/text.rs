//! Text for messages: every line readygate writes is one line, and every
//! value it echoes back is short. Shared by the configuration, the probes
//! and the report, so each message is shaped the same way.

/// Keeps error messages one readable line even for huge inputs.
pub(crate) fn shorten(text: &str) -> String {
    shorten_to(text, 40)
}

/// The first `max` characters of `text`, and "..." when there were more.
pub(crate) fn shorten_to(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}...")
}

/// Text a server or a file wrote, for one output line: control characters
/// (a newline, an escape sequence) shown as `\u{..}`, so it cannot forge or
/// break a line.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_unicode().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// At most `max` bytes of a message, cut before the word that crosses the
/// limit, so that no word (a secret the redactor blanks only whole) is
/// shown in part; "(cut)" marks the cut.
pub(crate) fn capped(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    let head = match text[end..].starts_with(char::is_whitespace) {
        true => head,
        false => head.rsplit_once(char::is_whitespace).map_or("", |(h, _)| h),
    };
    // Never cut inside a word: a secret cut short would escape redaction.
    match head.trim_end() {
        "" => format!(
            "(a text of {} bytes without a space; not shown)",
            text.len()
        ),
        head => format!("{head} (cut)"),
    }
}

/// Error texts from libraries can span lines; output is one line each.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The messages of an error and its sources, joined.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

/// "1 table" / "2 tables": the noun and verb for a list of names.
pub(crate) fn noun_verb(count: usize, noun: &'static str) -> (String, &'static str) {
    if count == 1 {
        (noun.to_string(), "does")
    } else {
        (format!("{noun}s"), "do")
    }
}

/// A short one-line excerpt of response text for messages.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 120;
    let line = one_line(text);
    if line.chars().count() <= MAX {
        return line;
    }
    let head: String = line.chars().take(MAX).collect();
    format!("{head}...")
}

/// "all 3 targets" or, for one, "the target is": the subject of "ready"
/// ("the target ready after 3s" read as a typo).
pub(crate) fn all_targets(total: usize) -> String {
    match total {
        1 => "the target is".to_string(),
        n => format!("all {n} targets"),
    }
}

/// Everything but RFC 3986's unreserved characters, percent-encoded: a
/// value that may stand in any part of a URL.
pub(crate) fn percent_encode(s: &str) -> String {
    const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

/// A URL part percent-decoded as a client would send it (invalid UTF-8
/// replaced).
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_cut_between_words() {
        assert_eq!(capped("short", 10), "short");
        assert_eq!(capped("one two hunter2secret", 12), "one two (cut)");
        assert_eq!(capped("one two three", 8), "one two (cut)");
        assert_eq!(
            capped(&"x".repeat(50), 10),
            "(a text of 50 bytes without a space; not shown)"
        );
        assert_eq!(capped("é é é é", 4), "é (cut)");
    }

    #[test]
    fn shortened_and_one_line() {
        assert_eq!(shorten("short"), "short");
        assert_eq!(shorten(&"x".repeat(50)), format!("{}...", "x".repeat(40)));
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        assert_eq!(noun_verb(1, "table"), ("table".to_string(), "does"));
        assert_eq!(noun_verb(2, "table"), ("tables".to_string(), "do"));
    }
}

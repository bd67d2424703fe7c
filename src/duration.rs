//! Durations as people write them: `30s`, `5m`, `1h30m`, `250ms`. A unit is
//! required, because a bare `30` means seconds to one tool and milliseconds to
//! the next. `0` alone is accepted where the flag documents it.

use std::time::Duration;

/// Parses a duration with units; the error says what was wrong, not where.
pub fn parse(raw: &str) -> Result<Duration, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("is empty; give a duration with a unit, e.g. 30s or 5m".into());
    }
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if text.chars().all(|c| c == '0') {
            return Ok(Duration::ZERO);
        }
        return Err(format!(
            "{text:?} has no unit; write e.g. {text}s or {text}ms"
        ));
    }
    let parsed = humantime::parse_duration(text).map_err(|e| {
        format!(
            "{:?} is not a duration ({e}); write e.g. 30s, 5m or 1h",
            shorten(text)
        )
    })?;
    if parsed > Duration::from_secs(365 * 24 * 3600) {
        return Err(format!(
            "{:?} is longer than a year; use 0 to wait forever",
            shorten(text)
        ));
    }
    Ok(parsed)
}

/// Shows a duration compactly for humans: `250ms`, `2.5s`, `1m30s`.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        let tenths = (ms + 50) / 100;
        return if tenths % 10 == 0 {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Keeps error messages one readable line even for huge inputs.
pub fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX).collect();
    format!("{head}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_required() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bad in [
            "30",
            "",
            " ",
            "5 minutes please",
            "-1s",
            "1.5",
            "99999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn show_is_compact() {
        assert_eq!(show(Duration::from_millis(250)), "250ms");
        assert_eq!(show(Duration::from_millis(2500)), "2.5s");
        assert_eq!(show(Duration::from_secs(90)), "1m30s");
        assert_eq!(show(Duration::from_secs(300)), "5m");
    }
}

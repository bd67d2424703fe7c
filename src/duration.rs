//! Durations as people write them: `30s`, `5m`, `1h30m`, `250ms`. A unit is
//! required, because a bare `30` means seconds to one tool and milliseconds to
//! the next. `0` alone is accepted where the flag documents it.

use std::time::Duration;

use crate::text::shorten;

/// Parses a duration with units; the error says what was wrong, not where.
pub(crate) fn parse(raw: &str) -> Result<Duration, String> {
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
    let bad = |why: &str| {
        format!(
            "{:?} is not a duration ({why}); write e.g. 30s, 5m or 1h30m",
            shorten(text)
        )
    };
    let parsed = sum(text).map_err(|why| bad(&why))?;
    if parsed > Duration::from_secs(365 * 24 * 3600) {
        return Err(format!(
            "{:?} is longer than a year; use 0 to wait forever",
            shorten(text)
        ));
    }
    Ok(parsed)
}

/// `1h30m`, `1.5s`, `2m 30s`: numbers, each with a unit, added up in
/// checked 128-bit nanoseconds (a hand-written parser: humantime's panics on
/// some overflowing inputs, found by fuzzing).
fn sum(text: &str) -> Result<Duration, String> {
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if number.is_empty() {
            return Err(match after.chars().next().or(unit.chars().next()) {
                Some(c) if unit.is_empty() => format!("unexpected {c:?}"),
                _ => format!("{:?} has no number", shorten(unit)),
            });
        }
        let per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000_000,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000_000_000,
            "d" | "day" | "days" => 86_400_000_000_000,
            "" => return Err(format!("{number} has no unit")),
            other => return Err(format!("unknown unit {:?}", shorten(other))),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(format!("{:?} is not a number", shorten(number)));
        }
        let too_big = || "number too large".to_string();
        let digits = |d: &str| -> Result<u128, String> {
            d.bytes().try_fold(0u128, |acc, b| {
                acc.checked_mul(10)
                    .and_then(|a| a.checked_add(u128::from(b - b'0')))
                    .ok_or_else(too_big)
            })
        };
        let mut nanos = digits(whole)?.checked_mul(per_unit).ok_or_else(too_big)?;
        // Fraction digits past nanosecond precision are dropped.
        let mut scale = per_unit;
        for b in frac.bytes() {
            scale /= 10;
            nanos += u128::from(b - b'0') * scale;
        }
        total = total.checked_add(nanos).ok_or_else(too_big)?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| "number too large".to_string())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Shows a duration compactly for humans: `250ms`, `2.5s`, `1m30s`.
pub(crate) fn show(d: Duration) -> String {
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
            "1x",
            "1..5s",
            ".s",
            "s",
            "5s-",
            "18446744073709551615s 0.5s 0.5s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn forms_people_write() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2m 30s"), Ok(Duration::from_secs(150)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(".5m"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1 day"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse("10min"), Ok(Duration::from_secs(600)));
        assert_eq!(parse("100us"), Ok(Duration::from_micros(100)));
    }

    #[test]
    fn everything_shown_parses_back() {
        for ms in [0, 1, 999, 1000, 1049, 59_999, 60_000, 3_599_999, 86_400_000] {
            let d = Duration::from_millis(ms);
            assert!(parse(&show(d)).is_ok(), "{}", show(d));
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

//! `parse_duration`: the one duration syntax used everywhere in the file.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Unit suffixes and their length in nanoseconds. `ms` comes before `m` and `s` only for the
/// reader: matching is on the whole suffix.
const UNITS: &[(&str, u128)] = &[
    ("ms", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3600 * NANOS_PER_SEC),
];

/// More fractional digits than nanoseconds can hold would be silently dropped; refuse them.
const MAX_FRACTION_DIGITS: usize = 9;

/// Longest duration accepted anywhere (ten years). Deadlines are `Instant + Duration`, which
/// panics on overflow, so an absurd value must be refused here rather than crash a shard.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;

/// Parses `500ms`, `30s`, `1m`, `2h`, `1.5s`, or a bare integer meaning seconds (`30`).
///
/// Surrounding whitespace is ignored; there is no space between number and unit, no sign and
/// no compound form (`1m30s`). A bare number must be an integer: `1.5` needs a unit, so that a
/// fraction is never read in a unit the writer did not mean.
///
/// # Errors
/// `invalid duration "5x" (expected e.g. 500ms, 30s, 1m)` for anything else, including values
/// too large for [`Duration`]; `duration "..." is too long (at most 3650 days)` past
/// [`MAX_DURATION_SECS`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {s:?} (expected e.g. 500ms, 30s, 1m)");
    let text = s.trim();
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let unit = if suffix.is_empty() {
        if number.contains('.') {
            return Err(invalid());
        }
        NANOS_PER_SEC
    } else {
        UNITS
            .iter()
            .find(|(name, _)| *name == suffix)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(invalid)?
    };
    let digits_ok = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits_ok(fraction)
        || (number.contains('.') && fraction.is_empty())
        || fraction.len() > MAX_FRACTION_DIGITS
    {
        return Err(invalid());
    }
    let whole: u128 = whole.parse().map_err(|_| invalid())?;
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        let value: u128 = fraction.parse().map_err(|_| invalid())?;
        value * unit / 10u128.pow(fraction.len() as u32)
    };
    let nanos = whole
        .checked_mul(unit)
        .and_then(|n| n.checked_add(fraction_nanos))
        .ok_or_else(invalid)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| invalid())?;
    if secs > MAX_DURATION_SECS {
        return Err(format!(
            "duration {s:?} is too long (at most {} days)",
            MAX_DURATION_SECS / 86_400
        ));
    }
    // The remainder is below one second, so it fits a u32.
    let subsec = (nanos % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_durations_are_refused() {
        let e = parse_duration("100000000h").unwrap_err();
        assert!(e.contains("too long"), "{e}");
        assert!(parse_duration("87600h").is_ok());
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("1m", Duration::from_secs(60)),
            ("2h", Duration::from_secs(7200)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.25ms", Duration::from_micros(250)),
            ("1.000000001s", Duration::new(1, 1)),
            ("30", Duration::from_secs(30)),
            (" 10s ", Duration::from_secs(10)),
            ("0", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejected_forms() {
        for text in [
            "",
            "5x",
            "s",
            "-1s",
            "1.5",
            "1.s",
            ".5s",
            "1..5s",
            "1 s",
            "1m30s",
            "1S",
            "1e3s",
            "1.0000000001s",
            "99999999999999999999999h",
        ] {
            assert_eq!(
                parse_duration(text),
                Err(format!(
                    "invalid duration {text:?} (expected e.g. 500ms, 30s, 1m)"
                )),
                "{text}"
            );
        }
    }
}

//! Lengths of time as the user types them: `--keep-within 1y6m` and `daemon --pause 1h30m`.

use cairn_std::{Error, ErrorKind};

/// Parses a `--keep-within` duration such as `2w`, `36h` or `1y6m` into seconds.
pub(crate) fn parse_duration(s: &str) -> Result<u64, Error> {
    let units = [('y', 365 * 86_400), ('m', 30 * 86_400), ('w', 7 * 86_400), ('d', 86_400), ('h', 3600)];
    parse_units(s, &units).ok_or_else(|| {
        Error::new(ErrorKind::InvalidInput, format!("invalid duration {s:?}"))
            .with_hint("write a number and a unit, possibly several: 2w, 36h, 1y6m (y, m = 30 days, w, d, h)")
    })
}

/// A pause's length: `30m`, `1h`, `2d` or several (`1h30m`), in seconds; here `m` is minutes.
pub(crate) fn parse_pause(s: &str) -> Result<u64, Error> {
    parse_units(s, &PAUSE_UNITS).filter(|t| *t > 0).ok_or_else(|| {
        Error::new(ErrorKind::InvalidInput, format!("invalid pause {s:?}"))
            .with_hint("write a number and a unit (m, h, d), such as 30m, 1h or 2d, or \"tomorrow\"")
    })
}

const PAUSE_UNITS: [(char, u64); 3] = [('m', 60), ('h', 3600), ('d', 86_400)];

/// Seconds in `s`: numbers each followed by one of `units` (letter, seconds), such as `1h30m`;
/// `None` if anything else is there, or nothing, or the sum overflows.
fn parse_units(s: &str, units: &[(char, u64)]) -> Option<u64> {
    let (mut total, mut number) = (0u64, String::new());
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = units.iter().find(|(u, _)| *u == c)?.1;
        let n: u64 = number.parse().ok()?;
        number.clear();
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v))?;
    }
    (number.is_empty() && !s.trim().is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2w").unwrap(), 14 * 86_400);
        assert_eq!(parse_duration("1y6m").unwrap(), (365 + 180) * 86_400);
        assert_eq!(parse_duration("36h").unwrap(), 36 * 3600);
        // A pause's units: m is minutes there.
        assert_eq!(parse_units("1h30m", &PAUSE_UNITS), Some(5400));
        for bad in ["", "30", "1w", "h", "99999999999999999999d"] {
            assert_eq!(parse_units(bad, &PAUSE_UNITS), None, "{bad}");
        }
        assert_eq!(parse_pause("1h30m").unwrap(), 5400);
        assert!(parse_pause("0m").is_err());
        for bad in ["", "3", "h", "2x", "99999999999999999999y", "3 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

//! UTC times and dates as the compliance domain writes them: RFC 3339 with
//! a `Z` and milliseconds at most, and `YYYY-MM-DD` dates. Times are
//! milliseconds since the Unix epoch; nothing here reads the clock.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn digits(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a date `YYYY-MM-DD` into its day number; `None` if malformed or
/// not a real date.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&s[..4])?, digits(&s[5..7])?, digits(&s[8..])?);
    let y = i64::from(y);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Formats a day number as `YYYY-MM-DD`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, into
/// milliseconds since the epoch (the fraction is truncated to
/// milliseconds). Offsets other than `Z` are refused, so that one instant has
/// one spelling in records.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    if s.len() < 19 || s.as_bytes()[10] != b'T' {
        return None;
    }
    let day = parse_date(s.get(..10)?)?;
    let t = s.get(11..19)?.as_bytes();
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (h, mi, se) = (
        digits(s.get(11..13)?)?,
        digits(s.get(14..16)?)?,
        digits(s.get(17..19)?)?,
    );
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let mut ms = 0i64;
    if let Some(frac) = s.get(19..).filter(|f| !f.is_empty()) {
        let f = frac.strip_prefix('.')?;
        if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let padded = format!("{f:0<3}");
        ms = i64::from(digits(&padded[..3])?);
    }
    Some(day * DAY_MS + i64::from(h * 3600 + mi * 60 + se) * 1000 + ms)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_time(ms: i64) -> String {
    let day = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (s, milli) = (rem / 1000, rem % 1000);
    format!(
        "{}T{:02}:{:02}:{:02}.{milli:03}Z",
        format_date(day),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for (text, days) in [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2024-12-31", 20_088),
            ("1969-12-31", -1),
        ] {
            assert_eq!(parse_date(text), Some(days), "{text}");
            assert_eq!(format_date(days), text);
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "24-01-01",
            "2024-01-32",
            "2024/01/01",
            "",
            "2024-01-01T",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_are_strict_utc() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_time("1970-01-02T00:00:00.123456789Z"),
            Some(DAY_MS + 123)
        );
        assert_eq!(format_time(DAY_MS + 123), "1970-01-02T00:00:00.123Z");
        let t = parse_time("2026-11-23T15:35:23.042Z").unwrap();
        assert_eq!(format_time(t), "2026-11-23T15:35:23.042Z");
        for bad in [
            "2026-11-23T15:35:23+01:00",
            "2026-11-23T15:35:23",
            "2026-11-23 15:35:23Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T15:35:23.Z",
            "2026-11-23T15:35:23.1234567890Z",
            "2026-11-23T15:35Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}

//! RFC 3339 timestamps as docs/events.md accepts them, written straight from that page
//! and from the calendar rules, sharing no code with `slipstream::decode::timestamp`.

/// Epoch milliseconds of `text`, or `None` if docs/events.md refuses it.
pub fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = &b[range];
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let separators = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    if !separators || !(1..=12).contains(&month) || day < 1 || day > month_days(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        // Digits after the milliseconds are dropped, missing ones are zeros.
        for i in 0..3 {
            millis = millis * 10
                + fraction
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        rest = &fraction[n..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
            let (h, m) = (h1 * 10 + h2, m1 * 10 + m2);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let days = days_before_year(year) - days_before_year(1970) + day_of_year(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn month_days(year: i64, month: i64) -> i64 {
    const DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    DAYS[month as usize - 1] + i64::from(month == 2 && is_leap(year))
}

/// Days in the years 0 to `year - 1` of the proleptic Gregorian calendar (year 0 leaps).
fn days_before_year(year: i64) -> i64 {
    if year == 0 {
        return 0;
    }
    let y = year - 1;
    365 * year + y / 4 - y / 100 + y / 400 + 1
}

/// Days from 1 January to this date of its year.
fn day_of_year(year: i64, month: i64, day: i64) -> i64 {
    (1..month).map(|m| month_days(year, m)).sum::<i64>() + day - 1
}

/// Panics unless the oracle reads a few instants known from elsewhere (`date -u -d`):
/// the fuzz target calls it once, so a wrong oracle fails at once rather than blaming
/// the decoder.
pub fn self_check() {
    for (text, ms) in [
        ("1970-01-01T00:00:00Z", 0),
        ("2026-11-21T12:59:58.120+01:00", 1_795_262_398_120),
        ("2026-11-19T11:11:52.4Z", 1_795_086_712_400),
        ("0000-01-01T00:00:00Z", -62_167_219_200_000),
        ("2000-03-01t00:00:00.999999z", 951_868_800_999),
        ("9999-12-31 23:59:59-00:01", 253_402_300_859_000),
    ] {
        assert_eq!(parse(text), Some(ms), "{text}");
    }
    for text in [
        "2025-02-29T00:00:00Z",
        "2026-11-21T23:59:60Z",
        "2026-11-21T11:59:59",
    ] {
        assert_eq!(parse(text), None, "{text}");
    }
}

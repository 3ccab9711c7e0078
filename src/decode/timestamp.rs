//! RFC 3339 timestamps to epoch milliseconds, without allocation or a date library.
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, with `t` or a space for `T` and
//! `z` for `Z`. Fraction digits beyond milliseconds are truncated. Leap seconds (`:60`)
//! are refused: no clock in a gateway emits them in practice, and refusing keeps the
//! mapping to epoch time one-to-one.

/// Epoch milliseconds of 0000-01-01 and of 10000-01-01: the range RFC 3339 can write.
pub const MIN_MS: i64 = -62_167_219_200_000;
pub const MAX_MS: i64 = 253_402_300_800_000;

pub fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    parse_rfc3339_cached(s, &mut MinuteCache::default())
}

/// The two dates and times to the minute (`YYYY-MM-DDTHH:MM`) last parsed, and their
/// epoch seconds. Consecutive events mostly share their minute: with the cache, their
/// timestamps skip the date checks and calendar arithmetic. Two, because for the first
/// seconds of every minute events of the minute before still arrive, interleaved (a
/// gateway's clock and its batching are a little out of order). Only text that passed
/// every check is cached, so a hit accepts exactly what a full parse would.
#[derive(Clone, Debug, Default)]
pub struct MinuteCache {
    /// All zero when empty: no valid timestamp starts with a zero byte.
    heads: [[u8; 16]; 2],
    secs: [i64; 2],
    /// The entry a miss replaces: the one not hit last.
    older: usize,
}

/// [`parse_rfc3339`], reusing a minute of the previous calls when it is the same.
pub fn parse_rfc3339_cached(s: &[u8], cache: &mut MinuteCache) -> Option<i64> {
    // The fixed-width head as an array: no bounds check per digit below.
    let head: &[u8; 19] = s.get(..19)?.try_into().ok()?;
    let minute = &head[..16];
    let minute_secs = if minute == cache.heads[0] {
        cache.older = 1;
        cache.secs[0]
    } else if minute == cache.heads[1] {
        cache.older = 0;
        cache.secs[1]
    } else {
        let secs = parse_minute(head)?;
        let slot = cache.older;
        cache.heads[slot].copy_from_slice(minute);
        cache.secs[slot] = secs;
        cache.older = 1 - slot;
        secs
    };
    let second = digits(head, 17, 2)?;
    if head[16] != b':' || second > 59 {
        return None;
    }
    let mut pos = 19;
    let mut millis = 0;
    if s.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while let Some(d) = s.get(pos).filter(|d| d.is_ascii_digit()) {
            if pos - start < 3 {
                millis = millis * 10 + i64::from(d - b'0');
            }
            pos += 1;
        }
        let n = pos - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match s.get(pos)? {
        b'Z' | b'z' if pos + 1 == s.len() => 0,
        sign @ (b'+' | b'-') if pos + 6 == s.len() && s[pos + 3] == b':' => {
            let tail: &[u8; 5] = s[pos + 1..].try_into().ok()?;
            let h = digits(tail, 0, 2)?;
            let m = digits(tail, 3, 2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let secs = minute_secs + second - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

/// Epoch seconds of the minute `YYYY-MM-DDTHH:MM` that starts `head`, if it is valid.
fn parse_minute(head: &[u8; 19]) -> Option<i64> {
    let year = digits(head, 0, 4)?;
    let month = digits(head, 5, 2)?;
    let day = digits(head, 8, 2)?;
    let hour = digits(head, 11, 2)?;
    let minute = digits(head, 14, 2)?;
    if head[4] != b'-' || head[7] != b'-' || !matches!(head[10], b'T' | b't' | b' ') {
        return None;
    }
    if head[13] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60)
}

/// `n` ASCII digits at `at`; `None` if any is not a digit.
#[inline]
fn digits<const N: usize>(s: &[u8; N], at: usize, n: usize) -> Option<i64> {
    let mut v = 0;
    let mut bad = false;
    for &b in &s[at..at + n] {
        let d = b.wrapping_sub(b'0');
        bad |= d > 9;
        v = v * 10 + i64::from(d);
    }
    (!bad).then_some(v)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch milliseconds as RFC 3339 UTC (`Z`), with milliseconds only when non-zero.
pub fn format_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if millis == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
    }
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<i64> {
        parse_rfc3339(s.as_bytes())
    }

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2026-11-21T11:59:59.123Z"), Some(1_795_262_399_123));
        assert_eq!(p("2026-11-21T13:59:59.123+02:00"), Some(1_795_262_399_123));
        assert_eq!(p("2026-11-21t11:59:59.1234567z"), Some(1_795_262_399_123));
        assert_eq!(p("2026-11-21 11:59:59.5Z"), Some(1_795_262_399_500));
        assert_eq!(p("2024-02-29T00:00:00-00:30"), Some(1_709_166_600_000));
        assert_eq!(p("1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "2026-11-21T11:59:59",
            "2026-11-21T11:59:59.Z",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T23:59:60Z",
            "2026-11-21T23:59:59+2:00",
            "2026-11-21T23:59:59Zjunk",
            "2026/11/21T23:59:59Z",
            "20261121T235959Z",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_minute_cache_changes_no_result() {
        let mut cache = MinuteCache::default();
        for s in [
            "2026-11-21T11:59:59.123Z",
            "2026-11-21T11:59:01Z",
            "2026-11-21T11:59:60Z",
            "2026-11-21T11:59:5xZ",
            "2026-11-21T11:59-01Z",
            "2026-11-21T11:58:00+01:00",
            "2025-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2026-11-21T11:59:59.123Z",
            // Two minutes interleaved, as around a minute's turn, then a third.
            "2026-11-21T12:00:00.5Z",
            "2026-11-21T11:59:58Z",
            "2026-11-21T12:00:01Z",
            "2026-11-21T11:59:59Z",
            "2026-11-21T12:01:00Z",
            "2026-11-21T12:00:02Z",
            "2026-11-21T11:59:57Z",
        ] {
            let cached = parse_rfc3339_cached(s.as_bytes(), &mut cache);
            assert_eq!(cached, p(s), "{s}");
        }
        // A miss replaces the entry not used last: 12:01 replaced 12:00, which replaced
        // 11:59, which replaced 12:01. 11:59 was used last.
        assert_eq!(cache.heads[cache.older][14..], *b"00");
        assert_eq!(cache.heads[1 - cache.older][14..], *b"59");
    }

    #[test]
    fn format_round_trips() {
        for ms in [
            0,
            1_795_262_399_123,
            1_795_262_400_000,
            -1000,
            951_782_400_000,
        ] {
            assert_eq!(p(&format_rfc3339(ms)), Some(ms));
        }
        assert_eq!(format_rfc3339(1_795_262_400_000), "2026-11-21T12:00:00Z");
    }
}

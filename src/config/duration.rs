//! Durations as they are written in config files: an integer and one unit of `s`, `m`,
//! `h` or `d` (`5m`, `30d`). A [`Span`] is always a whole, positive number of seconds,
//! which is what keeps every pane boundary on the millisecond grid.

use std::fmt;

/// A positive length of time in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    secs: u64,
}

impl Span {
    pub const SECOND: Span = Span { secs: 1 };
    pub const MINUTE: Span = Span { secs: 60 };
    pub const HOUR: Span = Span { secs: 3600 };
    pub const DAY: Span = Span { secs: 86_400 };

    pub const fn from_secs(secs: u64) -> Span {
        Span { secs }
    }

    pub const fn secs(self) -> u64 {
        self.secs
    }

    pub const fn millis(self) -> i64 {
        (self.secs * 1000) as i64
    }

    /// Parses `<digits><unit>` with unit `s`, `m`, `h` or `d`.
    pub fn parse(text: &str) -> Result<Span, String> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
            format!("`{text}` has no unit: write it as e.g. `30s`, `5m`, `1h` or `30d`")
        })?;
        let (digits, unit) = text.split_at(split);
        if digits.is_empty() {
            return Err(format!(
                "`{text}` does not start with a number: write it as e.g. `5m`"
            ));
        }
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => {
                return Err(format!("`{text}` has unit `{unit}`; use one of s, m, h, d"));
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` is too large"))?;
        let secs = n
            .checked_mul(scale)
            .ok_or_else(|| format!("`{text}` is too large"))?;
        if secs == 0 {
            return Err(format!("`{text}` is zero; a duration must be positive"));
        }
        Ok(Span { secs })
    }
}

/// Written in the largest unit that divides it exactly: `5m`, `2h`, `30d`, `90s`.
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secs;
        if s.is_multiple_of(86_400) {
            write!(f, "{}d", s / 86_400)
        } else if s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(Span::parse("10s").unwrap().secs(), 10);
        assert_eq!(Span::parse("5m").unwrap().secs(), 300);
        assert_eq!(Span::parse("2h").unwrap().secs(), 7200);
        assert_eq!(Span::parse("30d").unwrap().secs(), 2_592_000);
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in [
            "",
            "5",
            "m",
            "5w",
            "0m",
            "1.5h",
            "-1m",
            "99999999999999999999d",
        ] {
            assert!(Span::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn displays_in_the_largest_exact_unit() {
        for (text, shown) in [
            ("120m", "2h"),
            ("90s", "90s"),
            ("1440m", "1d"),
            ("30d", "30d"),
        ] {
            assert_eq!(Span::parse(text).unwrap().to_string(), shown);
        }
    }
}

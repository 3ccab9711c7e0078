//! Percentages as exact integers. A percent of the config (a ladder step, a budget-policy
//! threshold) is held as a whole number of billionths of a percent, so that comparing it
//! with event counts is integer arithmetic: an SLI of exactly 99.9 % meets a 99.9 % step,
//! and a budget spent to exactly 0 % hits a 0 % threshold, with no rounding luck.
//!
//! The value is read from the shortest decimal form of the YAML number (what the user
//! wrote), never from its binary expansion: `99.95` is 99.95 %, exactly.

use std::fmt;

/// Units of [`Percent`] in one percent.
const PER_PERCENT: i64 = 1_000_000_000;
/// Decimal places a percent may have and still be exact.
pub const MAX_DECIMALS: usize = 9;
/// The largest magnitude accepted by [`Percent::parse`]; callers narrow the range.
const MAX_ABS_PERCENT: f64 = 1e6;

/// A percentage in billionths of a percent: 100 % is [`Percent::WHOLE`] units, and one
/// unit is 1e-11 of the whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(i64);

impl Percent {
    /// 100 %, in units.
    pub const WHOLE: i64 = 100 * PER_PERCENT;
    pub const ZERO: Percent = Percent(0);
    pub const HUNDRED: Percent = Percent(Self::WHOLE);
    pub const MINUS_HUNDRED: Percent = Percent(-Self::WHOLE);

    /// The percent a config number stands for, e.g. `99.95`; an error message when it is
    /// not finite, too large, or has more than [`MAX_DECIMALS`] decimal places.
    pub fn parse(value: f64) -> Result<Percent, String> {
        if !value.is_finite() || value.abs() > MAX_ABS_PERCENT {
            return Err(format!("{value} is not a percentage"));
        }
        // Display of an f64 is its shortest round-trip decimal form, never in exponent
        // notation: the digits the user wrote.
        let text = value.to_string();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if fraction.len() > MAX_DECIMALS {
            return Err(format!(
                "{value} has more than {MAX_DECIMALS} decimal places; round it"
            ));
        }
        let whole: i64 = whole
            .parse()
            .map_err(|_| format!("{value} is not a number"))?;
        let fraction: i64 = format!("{fraction:0<MAX_DECIMALS$}")
            .parse()
            .map_err(|_| format!("{value} is not a number"))?;
        let units = whole * PER_PERCENT + fraction;
        Ok(Percent(if negative { -units } else { units }))
    }

    /// The nearest percent to a fraction such as an SLO's `objective` (`0.999` → 99.9 %):
    /// exact for every fraction written with at most 11 decimal places.
    pub fn from_fraction(fraction: f64) -> Percent {
        Percent((fraction * Self::WHOLE as f64).round() as i64)
    }

    pub const fn units(self) -> i64 {
        self.0
    }

    /// As the percent written, e.g. `99.95` (the double nearest to that decimal).
    pub fn as_percent(self) -> f64 {
        self.to_string()
            .parse()
            .expect("Display writes a plain decimal")
    }

    /// As a fraction, the convention of reports: 99.9 % → `0.999` (the double nearest to
    /// the decimal, as if parsed from `"0.999"`).
    pub fn fraction(self) -> f64 {
        self.0 as f64 / Self::WHOLE as f64
    }
}

/// The exact decimal, without trailing zeros: `99.95`, `-50`, `0.000000001`.
impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, fraction) = (abs / PER_PERCENT as u64, abs % PER_PERCENT as u64);
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{fraction:0MAX_DECIMALS$}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_decimal_as_written() {
        assert_eq!(Percent::parse(99.95).unwrap().units(), 99_950_000_000);
        assert_eq!(Percent::parse(-50.0).unwrap().units(), -50 * PER_PERCENT);
        assert_eq!(Percent::parse(0.000000001).unwrap().units(), 1);
        assert_eq!(Percent::parse(-0.5).unwrap().units(), -500_000_000);
        assert_eq!(Percent::parse(100.0).unwrap(), Percent::HUNDRED);
        for bad in [f64::NAN, f64::INFINITY, 1e7] {
            assert!(Percent::parse(bad).is_err(), "{bad}");
        }
        let message = Percent::parse(99.1234567891).unwrap_err();
        assert!(message.contains("more than 9 decimal places"), "{message}");
    }

    #[test]
    fn displays_and_converts_without_float_noise() {
        for (value, text, fraction) in [
            (99.95, "99.95", 0.9995),
            (99.999, "99.999", 0.99999),
            (-12.5, "-12.5", -0.125),
            (0.0, "0", 0.0),
            (90.0, "90", 0.9),
        ] {
            let p = Percent::parse(value).unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(p.fraction(), fraction);
            assert_eq!(Percent::from_fraction(fraction), p);
        }
    }
}

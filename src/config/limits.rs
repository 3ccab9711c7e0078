//! The `limits` section: bounds that keep memory flat whatever the input. Read by
//! `replay` and `run` alike, so that both count the same events in the same series.
//!
//! Raw mirror (deny unknown fields) first, then [`build`]: pure checks, defaults in one
//! place ([`Limits::default`]).

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: max_series_per_slo")]
pub struct RawLimits {
    /// Most series (label combinations) an SLO holds; beyond, new combinations are
    /// counted in one overflow series.
    pub max_series_per_slo: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most series of real label combinations per SLO; the overflow series comes on top.
    pub max_series_per_slo: u32,
}

impl Default for Limits {
    /// Every default of the `limits` section, in one place.
    fn default() -> Self {
        Limits {
            max_series_per_slo: 10_000,
        }
    }
}

/// Series are numbered with a u32, and the overflow series needs one number more.
const MOST_SERIES_PER_SLO: u64 = u32::MAX as u64 - 1;

/// Checks the `limits` section: `(field path, message)` on error.
pub fn build(raw: &RawLimits) -> Result<Limits, (String, String)> {
    let mut out = Limits::default();
    if let Some(n) = raw.max_series_per_slo {
        if n == 0 || n > MOST_SERIES_PER_SLO {
            return Err((
                "limits.max_series_per_slo".into(),
                format!(
                    "must be between 1 and {MOST_SERIES_PER_SLO}, got {n}; it bounds the \
                     series of each SLO (default {})",
                    out.max_series_per_slo
                ),
            ));
        }
        out.max_series_per_slo = n as u32;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_bounds() {
        assert_eq!(build(&RawLimits::default()), Ok(Limits::default()));
        let set = |n| {
            build(&RawLimits {
                max_series_per_slo: Some(n),
            })
        };
        assert_eq!(set(1).map(|l| l.max_series_per_slo), Ok(1));
        for bad in [0, u64::from(u32::MAX)] {
            let (field, message) = set(bad).unwrap_err();
            assert_eq!(field, "limits.max_series_per_slo");
            assert!(message.contains("between 1 and"), "{message}");
        }
    }
}

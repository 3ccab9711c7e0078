//! The baseline of a series: the SLI it achieved over its SLO window, the step of the
//! objective ladder that SLI meets today, the next step, and how many of the window's
//! bad events would have had to be good to meet that next step (docs/budgets.md).
//!
//! Pure integer math on the window's counts: a step is met when `good / total >= step`,
//! decided as `step × total <= good × 100 %` in integers, so an SLI of exactly 99.9 %
//! meets 99.9 %. Fractions appear only in the output.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::ladder::ObjectiveLadder;
use crate::config::percent::Percent;

/// All `None` when the window had no traffic: no traffic is not 100 %.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Baseline {
    /// `good / total` over the SLO window.
    pub achieved: Option<f64>,
    /// The highest step the SLI meets; `None` below the first step.
    pub holds: Option<Percent>,
    /// The lowest step the SLI does not meet; `None` when it meets the last one.
    pub next: Option<Percent>,
    /// Bad events that would have had to be good for the SLI to meet `next`.
    pub bad_events_to_remove: Option<u64>,
    /// `bad_events_to_remove` over the window's bad events, in (0, 1].
    pub bad_share_to_remove: Option<f64>,
}

/// `step × total <= good × 100 %`: whether an SLI of `good / total` meets `step`. Exact:
/// both sides are below 2^101.
fn meets(step: Percent, good: u64, total: u64) -> bool {
    step.units() as u128 * total as u128 <= good as u128 * Percent::WHOLE as u128
}

/// The most bad events a window of `total` may have and still meet `step`:
/// `floor((1 - step) × total)`.
pub fn allowed_bad(step: Percent, total: u64) -> u64 {
    let allowed = (Percent::WHOLE - step.units()) as u128;
    // At most `total`, since a step is above 0 %.
    (allowed * total as u128 / Percent::WHOLE as u128) as u64
}

/// The baseline of a window with `good` of `total` events good.
pub fn baseline(good: u64, total: u64, ladder: &ObjectiveLadder) -> Baseline {
    if total == 0 {
        return Baseline::default();
    }
    let steps = ladder.steps();
    // Steps ascend, so the ones met are a prefix.
    let met = steps.partition_point(|&s| meets(s, good, total));
    let next = steps.get(met).copied();
    let bad = total - good;
    // Not meeting `next` means more than `allowed_bad` bad events, so at least one.
    let to_remove = next.map(|n| bad - allowed_bad(n, total));
    Baseline {
        achieved: Some(good as f64 / total as f64),
        holds: met.checked_sub(1).map(|i| steps[i]),
        next,
        bad_events_to_remove: to_remove,
        bad_share_to_remove: to_remove.map(|k| k as f64 / bad as f64),
    }
}

impl Serialize for Baseline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("achieved", &self.achieved)?;
        m.serialize_entry("holds", &self.holds.map(Percent::fraction))?;
        m.serialize_entry("next", &self.next.map(Percent::fraction))?;
        m.serialize_entry("bad_events_to_remove", &self.bad_events_to_remove)?;
        m.serialize_entry("bad_share_to_remove", &self.bad_share_to_remove)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::ladder;

    fn percent(p: f64) -> Percent {
        Percent::parse(p).unwrap()
    }

    #[test]
    fn the_example_of_the_issue() {
        // 99.72 %: 99.5 % holds, 99.9 % is next; 28 bad of 10,000 must go down to 10.
        let b = baseline(9972, 10_000, &ObjectiveLadder::default());
        assert_eq!(b.achieved, Some(0.9972));
        assert_eq!(b.holds, Some(percent(99.5)));
        assert_eq!(b.next, Some(percent(99.9)));
        assert_eq!(b.bad_events_to_remove, Some(18));
        assert_eq!(b.bad_share_to_remove, Some(18.0 / 28.0));
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(
            json,
            r#"{"achieved":0.9972,"holds":0.995,"next":0.999,"bad_events_to_remove":18,"bad_share_to_remove":0.6428571428571429}"#
        );
    }

    #[test]
    fn a_step_met_exactly_holds() {
        // 999 of 1000 is exactly 99.9 %: it holds 99.9 %, and 99.95 % needs one bad less
        // (floor(0.05 % of 1000) = 0 bad allowed).
        let b = baseline(999, 1000, &ObjectiveLadder::default());
        assert_eq!(b.holds, Some(percent(99.9)));
        assert_eq!(b.next, Some(percent(99.95)));
        assert_eq!(b.bad_events_to_remove, Some(1));
        assert_eq!(b.bad_share_to_remove, Some(1.0));
    }

    #[test]
    fn below_the_first_step_and_above_the_last() {
        let ladder = ObjectiveLadder::default();
        let low = baseline(80, 100, &ladder);
        assert_eq!((low.holds, low.next), (None, Some(percent(90.0))));
        assert_eq!(low.bad_events_to_remove, Some(10));
        let perfect = baseline(500, 500, &ladder);
        assert_eq!(perfect.holds, Some(percent(99.999)));
        assert_eq!(perfect.next, None);
        assert_eq!(perfect.bad_events_to_remove, None);
        assert_eq!(perfect.bad_share_to_remove, None);
        assert_eq!(baseline(0, 0, &ladder), Baseline::default());
        let json = serde_json::to_string(&Baseline::default()).unwrap();
        assert_eq!(
            json,
            r#"{"achieved":null,"holds":null,"next":null,"bad_events_to_remove":null,"bad_share_to_remove":null}"#
        );
    }

    #[test]
    fn large_windows_do_not_overflow() {
        let ladder = ObjectiveLadder::default();
        let total = u64::MAX;
        // One bad event more than 99.9 % allows.
        let b = baseline(total - total / 1000 - 1, total, &ladder);
        assert_eq!(b.holds, Some(percent(99.5)));
        assert_eq!(b.next, Some(percent(99.9)));
        assert_eq!(b.bad_events_to_remove, Some(1));
        assert_eq!(allowed_bad(percent(99.9), total), total / 1000);
    }

    fn ladders() -> impl Strategy<Value = ObjectiveLadder> {
        // Steps with up to 4 decimals, so that small windows sit on and between them.
        proptest::collection::btree_set(1u32..1_000_000, 1..8).prop_map(|set| {
            let steps: Vec<f64> = set.into_iter().map(|s| s as f64 / 10_000.0).collect();
            ladder::build(Some(&steps)).expect("ascending steps in (0, 100)")
        })
    }

    proptest! {
        /// Against a brute force: the step met is the highest one the SLI is at or above
        /// (compared as exact rationals), and the bad events to remove is the smallest
        /// count that, turned good, meets the next step, found by trying every count.
        #[test]
        fn matches_a_brute_force_search(
            ladder in ladders(),
            total in 1u64..3000,
            good_share in 0.0f64..=1.0,
        ) {
            let good = ((total as f64 * good_share) as u64).min(total);
            let bad = total - good;
            let b = baseline(good, total, &ladder);
            // Step s (units of 1e-11) is met iff good / total >= s / 1e11.
            let at_least = |g: u64, s: &Percent| {
                g as u128 * 100_000_000_000 >= s.units() as u128 * total as u128
            };
            let holds = ladder.steps().iter().rev().find(|s| at_least(good, s)).copied();
            let next = ladder.steps().iter().find(|s| !at_least(good, s)).copied();
            prop_assert_eq!(b.holds, holds);
            prop_assert_eq!(b.next, next);
            let to_remove = next.map(|n| {
                (0..=bad).find(|&k| at_least(good + k, &n)).expect("all good meets any step")
            });
            prop_assert_eq!(b.bad_events_to_remove, to_remove);
            prop_assert_eq!(b.bad_share_to_remove, to_remove.map(|k| k as f64 / bad as f64));
            prop_assert_eq!(b.achieved, Some(good as f64 / total as f64));
        }
    }
}

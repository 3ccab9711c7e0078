//! The action of a series' error-budget policy: which rule applies to the budget it has
//! left over its SLO window (docs/budgets.md).
//!
//! A rule applies when the budget left, in percent, is at or below its threshold; of
//! those, the lowest threshold wins; none → `normal`. The budget left is
//! `1 - bad / ((1 - objective) × total)`, the report's `error_budget_remaining`, but the
//! comparison is done on the counts in integers: a budget spent to exactly 0 % is at a
//! 0 % threshold, which the float (`8.9e-16` for 10 bad of 1000 at 99 %) would miss.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::budget::{BudgetPolicy, BudgetRule, NORMAL};
use crate::config::percent::Percent;

#[derive(Clone, Debug, PartialEq)]
pub enum BudgetAction {
    /// No rule applies. `no_traffic`: the SLO window had no event, so no budget is known.
    Normal {
        no_traffic: bool,
    },
    Rule(BudgetRule),
}

impl BudgetAction {
    pub fn action(&self) -> &str {
        match self {
            BudgetAction::Normal { .. } => NORMAL,
            BudgetAction::Rule(r) => &r.action,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            BudgetAction::Normal { no_traffic: true } => {
                "no traffic in the SLO window: no budget spent"
            }
            BudgetAction::Normal { no_traffic: false } => "no budget-policy rule applies",
            BudgetAction::Rule(r) => &r.description,
        }
    }

    pub fn blocks_deploys(&self) -> bool {
        matches!(self, BudgetAction::Rule(r) if r.blocks_deploys)
    }

    /// Orders actions from the mildest to the worst: blocking above not blocking, then a
    /// lower threshold above a higher one, `normal` lowest.
    pub fn severity(&self) -> (bool, i64) {
        match self {
            BudgetAction::Normal { .. } => (false, i64::MIN),
            BudgetAction::Rule(r) => (r.blocks_deploys, -r.at_or_below.units()),
        }
    }
}

/// The action of `policy` for a window with `good` of `total` events good against
/// `objective` (a fraction, as in [`crate::config::Slo`]).
pub fn budget_action(policy: &BudgetPolicy, good: u64, total: u64, objective: f64) -> BudgetAction {
    if total == 0 {
        return BudgetAction::Normal { no_traffic: true };
    }
    let whole = Percent::WHOLE as u128;
    // The allowed error ratio, in units of 1e-11; at least one unit, so that an
    // objective that rounds to 100 % still has a (tiny) budget rather than none.
    let allowed = (Percent::WHOLE - Percent::from_fraction(objective).units()).max(1) as u128;
    let bad_side = mul_wide(u128::from(total - good), whole * whole);
    // remaining <= t  ⟺  1 - bad / (allowed × total) <= t  ⟺  (1 - t) × allowed × total
    // <= bad, each factor scaled by 1e11 (so bad by 1e22). Up to 2^139: 256-bit products.
    let applies = |rule: &&BudgetRule| {
        let spent = (Percent::WHOLE - rule.at_or_below.units()) as u128;
        mul_wide(spent * allowed, u128::from(total)) <= bad_side
    };
    match policy.rules().iter().find(applies) {
        Some(rule) => BudgetAction::Rule(rule.clone()),
        None => BudgetAction::Normal { no_traffic: false },
    }
}

/// `a × b` as (high, low) 128-bit halves, which compare as the 256-bit product.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const LOW: u128 = u64::MAX as u128;
    let (a1, a0, b1, b0) = (a >> 64, a & LOW, b >> 64, b & LOW);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let middle = (p00 >> 64) + (p01 & LOW) + (p10 & LOW);
    let low = (p00 & LOW) | (middle << 64);
    let high = p11 + (p01 >> 64) + (p10 >> 64) + (middle >> 64);
    (high, low)
}

impl Serialize for BudgetAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("action", self.action())?;
        m.serialize_entry("description", self.description())?;
        m.serialize_entry("blocks_deploys", &self.blocks_deploys())?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::config::budget::{RawBudgetRule, build};

    fn policy(rules: &[(f64, &str)]) -> BudgetPolicy {
        let raw: Vec<RawBudgetRule> = rules
            .iter()
            .map(|&(at, action)| RawBudgetRule {
                at_or_below_percent: at,
                action: action.into(),
                description: String::new(),
                blocks_deploys: action == "freeze",
            })
            .collect();
        build("budget_policy", &raw).unwrap()
    }

    fn action(p: &BudgetPolicy, good: u64, total: u64, objective: f64) -> String {
        budget_action(p, good, total, objective).action().to_owned()
    }

    #[test]
    fn the_default_policy_at_its_edges() {
        let p = BudgetPolicy::default();
        // 99 % of 1000: 10 bad is the whole budget. 7 bad leave 30 %, 8 leave 20 %.
        assert_eq!(action(&p, 1000, 1000, 0.99), "normal");
        assert_eq!(action(&p, 993, 1000, 0.99), "normal");
        assert_eq!(action(&p, 992, 1000, 0.99), "slow-down");
        // 7.5 bad would leave exactly 25 %: 2.5 of 10 at 99 % of 4 × 1000.
        assert_eq!(action(&p, 3970, 4000, 0.99), "slow-down");
        assert_eq!(action(&p, 3971, 4000, 0.99), "normal");
        // Spent exactly: the float says 8.9e-16 left, the policy says freeze.
        let left = crate::report::error_budget_remaining(990, 1000, 0.99).unwrap();
        assert!(left > 0.0, "{left}");
        let freeze = budget_action(&p, 990, 1000, 0.99);
        assert_eq!(freeze.action(), "freeze");
        assert!(freeze.blocks_deploys());
        assert_eq!(action(&p, 0, 1000, 0.99), "freeze");
        let none = budget_action(&p, 0, 0, 0.99);
        assert_eq!(none, BudgetAction::Normal { no_traffic: true });
        assert!(!none.blocks_deploys());
    }

    #[test]
    fn negative_thresholds_mean_overspent_by() {
        let p = policy(&[(-100.0, "escalate"), (0.0, "freeze")]);
        // 99.9 % of 1000: 1 bad is the budget; 2 bad is overspent by 100 %.
        assert_eq!(action(&p, 999, 1000, 0.999), "freeze");
        assert_eq!(action(&p, 998, 1000, 0.999), "escalate");
        assert_eq!(action(&p, 0, 1000, 0.999), "escalate");
    }

    #[test]
    fn json_and_severity() {
        let p = BudgetPolicy::default();
        let freeze = budget_action(&p, 0, 10, 0.9);
        assert_eq!(
            serde_json::to_string(&freeze).unwrap(),
            r#"{"action":"freeze","description":"freeze releases except reliability fixes","blocks_deploys":true}"#
        );
        let slow = budget_action(&p, 992, 1000, 0.99);
        let normal = budget_action(&p, 10, 10, 0.9);
        assert!(freeze.severity() > slow.severity());
        assert!(slow.severity() > normal.severity());
        assert_eq!(
            serde_json::to_string(&normal).unwrap(),
            r#"{"action":"normal","description":"no budget-policy rule applies","blocks_deploys":false}"#
        );
    }

    #[test]
    fn wide_products() {
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        assert_eq!(mul_wide(1 << 100, 1 << 100), (1 << 72, 0));
        assert_eq!(mul_wide(12345, 678910), (0, 12345 * 678910));
        // No overflow at the extremes of the counts.
        let p = BudgetPolicy::default();
        assert_eq!(action(&p, 0, u64::MAX, 0.99999), "freeze");
        assert_eq!(action(&p, u64::MAX, u64::MAX, 0.00001), "normal");
    }

    /// A distinct action name per threshold.
    fn name(t: i64) -> String {
        format!("{}{}", if t < 0 { "m" } else { "p" }, t.unsigned_abs())
    }

    proptest! {
        /// Against exact rationals in a brute-force form: the rule that wins is the
        /// lowest threshold t (percent, as a/10 000) with
        /// 100 × (1 - bad / (allowed × total)) <= t, written over common denominators.
        #[test]
        fn matches_exact_rationals(
            thresholds in proptest::collection::btree_set(-1_000_000i64..=1_000_000, 0..5),
            objective_bp in 1u64..10_000,
            total in 1u64..5000,
            good_share in 0.0f64..=1.0,
        ) {
            let good = ((total as f64 * good_share) as u64).min(total);
            let bad = total - good;
            let rules: Vec<(f64, String)> = thresholds
                .iter()
                .map(|&t| (t as f64 / 10_000.0, name(t)))
                .collect();
            let raw: Vec<(f64, &str)> = rules.iter().map(|(t, a)| (*t, a.as_str())).collect();
            let p = policy(&raw);
            // objective = objective_bp / 10 000; allowed = (10 000 - objective_bp) / 10 000.
            let objective = objective_bp as f64 / 10_000.0;
            let allowed = 10_000 - objective_bp as i128;
            // remaining % = 100 × (allowed × total - 10 000 × bad) / (allowed × total);
            // with t = tn / 10 000: applies ⟺ 1 000 000 × (allowed × total - 10 000 × bad)
            // <= tn × allowed × total.
            let (total_i, bad_i) = (total as i128, bad as i128);
            let want = thresholds.iter().find(|&&tn| {
                1_000_000 * (allowed * total_i - 10_000 * bad_i) <= tn as i128 * allowed * total_i
            });
            let want = want.map_or("normal".to_owned(), |&t| name(t));
            prop_assert_eq!(action(&p, good, total, objective), want);
        }
    }
}

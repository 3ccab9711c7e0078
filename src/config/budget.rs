//! Error-budget policies (`budget_policy`): what a team does as an SLO's budget runs out,
//! e.g. at or below 25 % left slow down risky releases, at 0 % freeze releases but
//! reliability fixes. The raw rule, its checks and the checked [`BudgetPolicy`], for any
//! place of the config a policy is written (the top level and each SLO today).
//!
//! Which rule applies to a series is decided on its counts by
//! [`crate::report::budget::budget_action`].

use std::sync::Arc;

use serde::Deserialize;

use super::percent::Percent;

/// The action when no rule applies; no rule may take its name.
pub const NORMAL: &str = "normal";

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rule: { at_or_below_percent, action, description, blocks_deploys }"
)]
pub struct RawBudgetRule {
    /// Applies when the error budget left is at or below this percent of the SLO
    /// window's budget; negative for "overspent by".
    pub at_or_below_percent: f64,
    /// A short name such as `freeze`: lowercase letters, digits and `-`.
    pub action: String,
    /// What the team does, for people and pipelines.
    #[serde(default)]
    pub description: String,
    /// Whether `GET /api/v1/slos/{name}/budget` answers 409 while this rule applies.
    #[serde(default)]
    pub blocks_deploys: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BudgetRule {
    pub at_or_below: Percent,
    /// Shared, so that every report of every series carries it without a copy.
    pub action: Arc<str>,
    pub description: Arc<str>,
    pub blocks_deploys: bool,
}

/// Rules ascending by threshold, thresholds unique: the first rule that applies is the
/// one with the lowest threshold, which wins.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetPolicy {
    rules: Vec<BudgetRule>,
}

impl BudgetPolicy {
    pub fn rules(&self) -> &[BudgetRule] {
        &self.rules
    }
}

impl Default for BudgetPolicy {
    /// Slow down at 25 % left, freeze when spent: the policy of an SLO that names none.
    fn default() -> Self {
        let rule = |percent: i64, action: &str, description: &str, blocks_deploys| BudgetRule {
            at_or_below: Percent::parse(percent as f64).expect("a whole percent"),
            action: action.into(),
            description: description.into(),
            blocks_deploys,
        };
        BudgetPolicy {
            rules: vec![
                rule(
                    0,
                    "freeze",
                    "freeze releases except reliability fixes",
                    true,
                ),
                rule(25, "slow-down", "slow down risky releases", false),
            ],
        }
    }
}

/// Checks a list of rules written at `key` (`budget_policy`): `(field path, message)` on
/// error, the path relative to where the list is, e.g. `budget_policy[1].action`.
pub fn build(key: &str, raw: &[RawBudgetRule]) -> Result<BudgetPolicy, (String, String)> {
    let mut rules: Vec<BudgetRule> = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let at = |field: &str| format!("{key}[{i}].{field}");
        let threshold =
            Percent::parse(r.at_or_below_percent).map_err(|m| (at("at_or_below_percent"), m))?;
        if threshold < Percent::MINUS_HUNDRED || threshold > Percent::HUNDRED {
            return Err((
                at("at_or_below_percent"),
                format!(
                    "{} is outside -100..100: the percent of the budget left, negative when \
                     overspent",
                    r.at_or_below_percent
                ),
            ));
        }
        if let Some(j) = rules.iter().position(|o| o.at_or_below == threshold) {
            return Err((
                at("at_or_below_percent"),
                format!(
                    "{threshold} is also the threshold of {key}[{j}]; thresholds must be unique"
                ),
            ));
        }
        let action = r.action.trim();
        if action.is_empty()
            || !action
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err((
                at("action"),
                format!(
                    "`{action}` is not an action name: use lowercase letters, digits and `-`, \
                     e.g. `freeze`"
                ),
            ));
        }
        if action == NORMAL {
            return Err((
                at("action"),
                "`normal` is the action when no rule applies; name this one differently".into(),
            ));
        }
        rules.push(BudgetRule {
            at_or_below: threshold,
            action: action.into(),
            description: r.description.trim().into(),
            blocks_deploys: r.blocks_deploys,
        });
    }
    rules.sort_by_key(|r| r.at_or_below);
    Ok(BudgetPolicy { rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(at: f64, action: &str) -> RawBudgetRule {
        RawBudgetRule {
            at_or_below_percent: at,
            action: action.into(),
            description: String::new(),
            blocks_deploys: false,
        }
    }

    #[test]
    fn default_is_slow_down_then_freeze() {
        let p = BudgetPolicy::default();
        let rules: Vec<(String, &str, bool)> = p
            .rules()
            .iter()
            .map(|r| (r.at_or_below.to_string(), &*r.action, r.blocks_deploys))
            .collect();
        assert_eq!(
            rules,
            [
                ("0".to_owned(), "freeze", true),
                ("25".to_owned(), "slow-down", false)
            ]
        );
    }

    #[test]
    fn rules_are_sorted_by_threshold() {
        let p = build(
            "budget_policy",
            &[rule(50.0, "a"), rule(-10.0, "b"), rule(5.5, "c")],
        )
        .unwrap();
        let order: Vec<&str> = p.rules().iter().map(|r| &*r.action).collect();
        assert_eq!(order, ["b", "c", "a"]);
        assert!(build("budget_policy", &[]).unwrap().rules().is_empty());
    }

    #[test]
    fn refuses_bad_rules_naming_the_field() {
        for (rules, field, words) in [
            (
                vec![rule(10.0, "a"), rule(10.0, "b")],
                "budget_policy[1].at_or_below_percent",
                "budget_policy[0]; thresholds must be unique",
            ),
            (
                vec![rule(100.5, "a")],
                "budget_policy[0].at_or_below_percent",
                "outside -100..100",
            ),
            (
                vec![rule(-101.0, "a")],
                "budget_policy[0].at_or_below_percent",
                "outside -100..100",
            ),
            (
                vec![rule(f64::NAN, "a")],
                "budget_policy[0].at_or_below_percent",
                "not a percentage",
            ),
            (
                vec![rule(1.0, "")],
                "budget_policy[0].action",
                "not an action name",
            ),
            (
                vec![rule(1.0, "Freeze")],
                "budget_policy[0].action",
                "lowercase letters",
            ),
            (
                vec![rule(1.0, "no deploys")],
                "budget_policy[0].action",
                "lowercase letters",
            ),
            (
                vec![rule(1.0, "normal")],
                "budget_policy[0].action",
                "no rule applies",
            ),
        ] {
            let (f, m) = build("budget_policy", &rules).unwrap_err();
            assert_eq!(f, field);
            assert!(m.contains(words), "{m}");
        }
        let edges = build("budget_policy", &[rule(-100.0, "x"), rule(100.0, "y-2")]);
        assert_eq!(edges.unwrap().rules().len(), 2);
    }

    #[test]
    fn an_slo_policy_replaces_the_top_level_one_and_errors_name_the_slo() {
        let parse = |text: &str| crate::config::parse(text, std::path::Path::new("b.yaml"));
        let slo = |name: &str, extra: &str| {
            format!(
                "  - {{ name: {name}, service: s, indicator: {{ type: availability }}, \
                 objective: 99, window: 1d{extra} }}\n"
            )
        };
        let top =
            "budget_policy:\n  - { at_or_below_percent: 10, action: halt, blocks_deploys: true }\n";
        let text = format!(
            "{top}slos:\n{}{}",
            slo("inherits", ""),
            slo("own", ", budget_policy: []")
        );
        let config = parse(&text).unwrap();
        let actions: Vec<&str> = config.slos[0]
            .budget_policy
            .rules()
            .iter()
            .map(|r| &*r.action)
            .collect();
        assert_eq!(actions, ["halt"]);
        assert!(config.slos[1].budget_policy.rules().is_empty());
        let default = parse(&format!("slos:\n{}", slo("d", ""))).unwrap();
        assert_eq!(default.slos[0].budget_policy, BudgetPolicy::default());

        let bad = format!(
            "slos:\n{}",
            slo(
                "pay",
                ", budget_policy: [{ at_or_below_percent: 5, action: normal }]"
            )
        );
        let message = parse(&bad).unwrap_err().to_string();
        assert!(
            message.starts_with("b.yaml: slo `pay`: slos[0].budget_policy[0].action: `normal`"),
            "{message}"
        );
        let typo = format!(
            "slos:\n{}",
            slo("pay", ", budget_policy: [{ at_or_below: 5, action: x }]")
        );
        let message = parse(&typo).unwrap_err().to_string();
        assert!(message.contains("slos[0].budget_policy[0]"), "{message}");
        assert!(message.contains("at_or_below"), "{message}");
        let ladder = format!("objective_ladder: [99, 98]\nslos:\n{}", slo("x", ""));
        let message = parse(&ladder).unwrap_err().to_string();
        assert!(
            message.starts_with("b.yaml: objective_ladder[1]: 98 does not follow 99"),
            "{message}"
        );
    }

    #[test]
    fn slos_generated_by_services_rules_get_the_top_level_policy() {
        let text = "budget_policy: [{ at_or_below_percent: 5, action: halt }]\n\
                    tiers: { P3: { availability: 90, window: 30d } }\n\
                    services: [{ match: { service: \"web-*\" }, tier: P3, name: web }]\n\
                    slos: []\n";
        let config = crate::config::parse(text, std::path::Path::new("b.yaml")).unwrap();
        assert_eq!(config.slos.len(), 1, "{:?}", config.slos);
        let rules = config.slos[0].budget_policy.rules();
        assert_eq!(rules.len(), 1);
        assert_eq!(&*rules[0].action, "halt");
    }
}

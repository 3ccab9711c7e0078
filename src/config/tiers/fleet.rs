//! The SLOs that `services` rules generate: ordinary SLOs, one per indicator of the
//! rule's tier, selecting by glob, minus the services that have SLOs of their own.

use std::collections::BTreeSet;

use super::{Policies, SloPolicy, TierFrom};
use crate::config::glob::Glob;
use crate::config::{Indicator, ServiceMatch, Slo, Span};

impl Policies {
    /// The SLOs of every services rule, after the explicit ones: `(rule, SLO)`.
    pub(in crate::config) fn generate(
        &mut self,
        explicit: &[Slo],
        windows: &[Span],
        alerting: Option<&crate::config::alerting::RawAlerting>,
        budget_policy: &crate::config::budget::BudgetPolicy,
    ) -> Result<Vec<(usize, Slo)>, (String, String)> {
        let own: BTreeSet<&str> = explicit
            .iter()
            .filter_map(|s| match &s.service {
                ServiceMatch::Exact(name) => Some(name.as_str()),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for (r, rule) in self.rules.iter_mut().enumerate() {
            let tier = self
                .tiers
                .iter()
                .find(|t| t.name == rule.tier)
                .expect("rule tiers exist");
            rule.excluded = own
                .iter()
                .filter(|s| rule.service.as_ref().is_none_or(|g| g.matches(s)))
                .map(|s| s.to_string())
                .collect();
            let service = match &rule.service {
                None if rule.excluded.is_empty() => ServiceMatch::Any,
                Some(g) if g.matches_all() && rule.excluded.is_empty() => ServiceMatch::Any,
                glob => ServiceMatch::Glob {
                    glob: glob
                        .clone()
                        .unwrap_or_else(|| Glob::new("*").expect("valid")),
                    except: rule.excluded.clone(),
                },
            };
            let alerts = crate::config::alerting::build_policy(None, alerting, tier.window)
                .map_err(|(f, m)| (format!("alerting.{}", f.trim_start_matches("alerts.")), m))?;
            let mut all_windows = windows.to_vec();
            all_windows.push(tier.window);
            all_windows.sort();
            all_windows.dedup();
            let kinds = [
                (
                    "availability",
                    tier.availability.map(|o| (Indicator::Availability, o)),
                ),
                (
                    "latency",
                    tier.latency.map(|l| {
                        let threshold_ms = l.threshold_ms;
                        (Indicator::Latency { threshold_ms }, l.objective)
                    }),
                ),
            ];
            for (suffix, kind) in kinds {
                let Some((indicator, objective)) = kind else {
                    continue;
                };
                let slo = Slo {
                    name: format!("{}-{suffix}", rule.name),
                    service: service.clone(),
                    selector: Vec::new(),
                    selector_globs: rule.fields.clone(),
                    group_by: rule.group_by.clone(),
                    indicator,
                    objective,
                    window: tier.window,
                    windows: all_windows.clone(),
                    alerts: alerts.clone(),
                    composite_windows: Vec::new(),
                    budget_policy: tier.budget_policy(budget_policy).clone(),
                    tier: Some(tier.name.clone()),
                    decision: None,
                    approval_required: false,
                };
                rule.slos.push(slo.name.clone());
                let mut inherited = vec!["objective", "window"];
                if suffix == "latency" {
                    inherited.push("indicator.threshold_ms");
                }
                self.slos.push(SloPolicy {
                    slo: slo.name.clone(),
                    tier_from: Some(TierFrom::Rule { rule: r }),
                    inherited,
                });
                out.push((r, slo));
            }
        }
        Ok(out)
    }
}

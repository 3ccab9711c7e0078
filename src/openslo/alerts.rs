//! Alert policies → an SLO's `alerts`. An OpenSLO burn-rate condition is one window and a
//! threshold; a slipstream rule is the SRE Workbook's pair of windows: the condition's
//! `lookbackWindow` is the long window, and the short one comes from the annotation
//! `slipstream.dev/short-window`, or is a twelfth of the long one (the Workbook's
//! guideline, reported as derived). Severities map onto slipstream's two tiers.
//!
//! Several conditions per policy are accepted (the spec allows one), so that the
//! Workbook's fast and slow burns fit one policy.

use super::output::{Alerts, Rule};
use super::{
    ANNOTATION_PREFIX, AlertConditionSpec, AlertPolicySpec, Documents, Metadata, PolicyItem,
    Warning, push, shorthand,
};
use crate::config::{Severity, Span};

/// The most `for` allows.
const MAX_ALERT_AFTER: Span = Span::DAY;

/// The `alerts` of the SLO (or composite) `slo` with window `window`: none without
/// policies (slipstream's default rules then apply); tiers without a mapped rule `off`.
pub fn map_policies(
    slo: &str,
    policies: &[PolicyItem],
    window: Span,
    docs: &Documents,
    warnings: &mut Vec<Warning>,
) -> Option<Alerts> {
    if policies.is_empty() {
        return None;
    }
    let mut alerts = Alerts::default();
    let mut waits: Vec<Span> = Vec::new();
    let mut no_wait = false;
    for (i, item) in policies.iter().enumerate() {
        let at = format!("spec.alertPolicies[{i}]");
        let (name, spec) =
            match (&item.alert_policy_ref, &item.spec) {
                (Some(r), None) => match docs.policies.get(r) {
                    Some(p) => (p.metadata.name.clone(), &p.spec),
                    None => {
                        push(
                            warnings,
                            "SLO",
                            slo,
                            format!("{at}.alertPolicyRef"),
                            format!("AlertPolicy `{r}` is not in the input; not mapped"),
                        );
                        continue;
                    }
                },
                (None, Some(spec)) if item.kind.as_deref().is_none_or(|k| k == "AlertPolicy") => {
                    (inline_name(item.metadata.as_ref(), slo, &at), spec)
                }
                _ => {
                    push(warnings, "SLO", slo, at,
                    "an alert policy is `alertPolicyRef: NAME` or an inline `kind: AlertPolicy` \
                     with metadata and spec; not mapped".to_owned());
                    continue;
                }
            };
        policy_caveats(&name, spec, warnings);
        for (j, item) in spec.conditions.iter().enumerate() {
            let at = format!("spec.conditions[{j}]");
            let (cname, meta, cond) =
                match (&item.condition_ref, &item.spec) {
                    (Some(r), None) => match docs.conditions.get(r) {
                        Some(c) => (c.metadata.name.clone(), Some(&c.metadata), &c.spec),
                        None => {
                            push(
                                warnings,
                                "AlertPolicy",
                                &name,
                                format!("{at}.conditionRef"),
                                format!("AlertCondition `{r}` is not in the input; not mapped"),
                            );
                            continue;
                        }
                    },
                    (None, Some(spec))
                        if item.kind.as_deref().is_none_or(|k| k == "AlertCondition") =>
                    {
                        (
                            inline_name(item.metadata.as_ref(), &name, &at),
                            item.metadata.as_ref(),
                            spec,
                        )
                    }
                    _ => {
                        push(warnings, "AlertPolicy", &name, at,
                        "a condition is `conditionRef: NAME` or an inline `kind: AlertCondition` \
                         with metadata and spec; not mapped".to_owned());
                        continue;
                    }
                };
            let mapped = map_condition(&cname, meta, cond, warnings).and_then(|m| {
                if m.rule_long > window {
                    push(
                        warnings,
                        "SLO",
                        slo,
                        format!("{at} (AlertCondition/{cname})"),
                        format!(
                            "lookbackWindow {} is longer than the SLO window {window}: a \
                                 slipstream rule reads windows within the SLO window; not mapped",
                            m.rule_long
                        ),
                    );
                    return None;
                }
                Some(m)
            });
            let Some(m) = mapped else { continue };
            let rule = Rule {
                long: m.rule_long.to_string(),
                short: m.rule_short.to_string(),
                burn_rate: m.burn_rate,
            };
            match m.severity {
                Severity::Page => alerts.page.push(rule),
                Severity::Ticket => alerts.ticket.push(rule),
            }
            match m.alert_after {
                Some(wait) => waits.push(wait),
                None => no_wait = true,
            }
        }
    }
    if alerts.page.is_empty() && alerts.ticket.is_empty() {
        push(
            warnings,
            "SLO",
            slo,
            "spec.alertPolicies",
            "no alert condition could be mapped: the SLO gets no burn-rate alerts (page and \
             ticket off)"
                .to_owned(),
        );
    }
    waits.sort();
    waits.dedup();
    let shortest = if no_wait {
        None
    } else {
        waits.first().copied()
    };
    if waits.len() + usize::from(no_wait) > 1 {
        let all: Vec<String> = no_wait
            .then(|| "0m".to_owned())
            .into_iter()
            .chain(waits.iter().map(|w| w.to_string()))
            .collect();
        push(
            warnings,
            "SLO",
            slo,
            "spec.alertPolicies",
            format!(
                "conditions wait different times before alerting (alertAfter {}): \
                     slipstream has one `for` per SLO; the shortest, {}, is used",
                all.join(", "),
                shortest.map_or("0m".to_owned(), |s| s.to_string())
            ),
        );
    }
    alerts.for_ = shortest.map(for_text);
    Some(alerts)
}

/// The name an inline object is reported under.
fn inline_name(meta: Option<&Metadata>, parent: &str, at: &str) -> String {
    meta.map_or_else(|| format!("({parent} {at})"), |m| m.name.clone())
}

/// `for` takes ms, s, m or h.
fn for_text(span: Span) -> String {
    let secs = span.secs();
    if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// What a policy says that slipstream's rules do not carry.
fn policy_caveats(name: &str, spec: &AlertPolicySpec, warnings: &mut Vec<Warning>) {
    if spec.alert_when_no_data == Some(true) {
        push(
            warnings,
            "AlertPolicy",
            name,
            "spec.alertWhenNoData",
            "no-data alerts are not mapped: slipstream's rules fire on burn rates, and a series \
             without traffic has none"
                .to_owned(),
        );
    }
    if spec.alert_when_breaching == Some(false) {
        push(
            warnings,
            "AlertPolicy",
            name,
            "spec.alertWhenBreaching",
            "`false` is not mapped: slipstream alerts when a rule breaches; the conditions are \
             mapped as breach alerts"
                .to_owned(),
        );
    }
    if spec.alert_when_resolved == Some(false) {
        push(
            warnings,
            "AlertPolicy",
            name,
            "spec.alertWhenResolved",
            "`false` is not mapped: slipstream always sends resolutions to Alertmanager".to_owned(),
        );
    }
    if !spec.notification_targets.is_empty() {
        let names: Vec<String> = spec
            .notification_targets
            .iter()
            .map(|t| {
                t.target_ref
                    .clone()
                    .or_else(|| t.metadata.as_ref().map(|m| m.name.clone()))
                    .unwrap_or_else(|| "(inline)".to_owned())
            })
            .collect();
        push(
            warnings,
            "AlertPolicy",
            name,
            "spec.notificationTargets",
            format!(
                "{} not mapped: slipstream sends every alert to the sinks of its `alerting` \
                     section (Alertmanager, Kafka); route there on the `slo` and `severity` \
                     labels (docs/alerts.md)",
                names.join(", ")
            ),
        );
    }
    if spec.conditions.is_empty() {
        push(
            warnings,
            "AlertPolicy",
            name,
            "spec.conditions",
            "no condition: nothing to map".to_owned(),
        );
    }
}

struct MappedCondition {
    severity: Severity,
    rule_long: Span,
    rule_short: Span,
    burn_rate: f64,
    /// `alertAfter`; none for zero.
    alert_after: Option<Span>,
}

/// One burn-rate condition, or none (with a warning under the condition) if it cannot map.
fn map_condition(
    name: &str,
    meta: Option<&Metadata>,
    spec: &AlertConditionSpec,
    warnings: &mut Vec<Warning>,
) -> Option<MappedCondition> {
    let refuse = |warnings: &mut Vec<Warning>, field: &str, message: String| {
        push(
            warnings,
            "AlertCondition",
            name,
            field,
            format!("{message}; not mapped"),
        );
        None
    };
    let severity = match spec.severity.to_ascii_lowercase().as_str() {
        "page" | "critical" | "high" => Severity::Page,
        "ticket" | "warning" | "low" | "medium" => Severity::Ticket,
        other => {
            return refuse(
                warnings,
                "spec.severity",
                format!(
                    "`{other}` has no slipstream tier: use page, critical or high (page) or ticket, \
                 warning, medium or low (ticket)"
                ),
            );
        }
    };
    let c = &spec.condition;
    if let Some(kind) = c.kind.as_deref().filter(|k| *k != "burnrate") {
        return refuse(
            warnings,
            "spec.condition.kind",
            format!("`{kind}` is not `burnrate`"),
        );
    }
    let Some(burn_rate) = c.threshold.filter(|t| t.is_finite() && *t > 0.0) else {
        return refuse(
            warnings,
            "spec.condition.threshold",
            "missing or not a positive burn rate".into(),
        );
    };
    let Some(lookback) = c.lookback_window.as_deref() else {
        return refuse(warnings, "spec.condition.lookbackWindow", "missing".into());
    };
    let long = match shorthand(lookback) {
        Ok(span) => span,
        Err(m) => return refuse(warnings, "spec.condition.lookbackWindow", m),
    };
    let alert_after = match c.alert_after.as_deref().map(shorthand).transpose() {
        Ok(wait) if wait.is_some_and(|w| w > MAX_ALERT_AFTER) => {
            return refuse(
                warnings,
                "spec.condition.alertAfter",
                format!(
                    "`{}` is longer than a day, the longest `for`",
                    c.alert_after.as_deref().unwrap_or("")
                ),
            );
        }
        Ok(wait) => wait,
        // `0m` is the spec's default and valid: no wait.
        Err(_) if c.alert_after.as_deref().is_some_and(is_zero) => None,
        Err(m) => return refuse(warnings, "spec.condition.alertAfter", m),
    };
    let key = format!("{ANNOTATION_PREFIX}short-window");
    let short = match meta.and_then(|m| m.annotations.get(&key)) {
        Some(text) => match Span::parse(text) {
            Ok(s) if s < long => s,
            Ok(s) => {
                return refuse(
                    warnings,
                    &format!("metadata.annotations.{key}"),
                    format!("{s} is not shorter than the lookbackWindow {long}"),
                );
            }
            Err(m) => return refuse(warnings, &format!("metadata.annotations.{key}"), m),
        },
        None => {
            // A lookback of whole minutes is a whole number of 5-second steps: exact.
            let short = Span::from_secs(long.secs() / 12);
            push(
                warnings,
                "AlertCondition",
                name,
                "spec.condition.lookbackWindow",
                format!(
                    "short window {short} derived as lookbackWindow / 12 (the SRE \
                         Workbook's guideline); set the annotation `{key}` to choose it"
                ),
            );
            short
        }
    };
    match c.op.as_deref() {
        Some("gt") => {}
        Some("gte") => push(
            warnings,
            "AlertCondition",
            name,
            "spec.condition.op",
            "`gte` mapped as `gt`: slipstream fires when the burn rate exceeds the threshold, \
             so a burn rate of exactly the threshold does not fire"
                .to_owned(),
        ),
        None => push(
            warnings,
            "AlertCondition",
            name,
            "spec.condition.op",
            "missing: taken as `gt` (fire when the burn rate exceeds the threshold)".to_owned(),
        ),
        Some(op @ ("lt" | "lte")) => {
            return refuse(
                warnings,
                "spec.condition.op",
                format!(
                    "`{op}` alerts on a burn rate below the threshold, which is not a burn alert"
                ),
            );
        }
        Some(other) => {
            return refuse(
                warnings,
                "spec.condition.op",
                format!("`{other}` is not an operator"),
            );
        }
    }
    Some(MappedCondition {
        severity,
        rule_long: long,
        rule_short: short,
        burn_rate,
        alert_after,
    })
}

fn is_zero(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

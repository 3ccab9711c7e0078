//! `slipstream check`: what a validated config means, for a person ([`text`]) or a CI
//! pipeline ([`json`], the contract in docs/policies.md). Every tier, every services rule
//! with the SLOs it generates and the services it leaves out, and every SLO with its
//! effective tier, where that tier comes from, what it inherited, and its alert rules.
//!
//! Pure: it renders a [`Config`]; reading the file is `config::load`'s job.

use std::fmt::Write;

use serde_json::{Map, Value, json};

use crate::config::budget::BudgetPolicy;
use crate::config::tiers::{ServiceRule, Tier, TierFrom, fraction_to_percent};
use crate::config::{
    AlertPolicy, Composite, Config, Field, Glob, Indicator, Rollup, ServiceMatch, Slo,
};

/// The JSON document of a valid config.
pub fn json(config: &Config) -> Value {
    let p = &config.policies;
    json!({
        "valid": true,
        "tiers": p.tiers.iter().map(tier_json).collect::<Vec<_>>(),
        "policy": { "tier_floor": p.tier_floor.as_str() },
        "services": p.rules.iter().map(|r| rule_json(config, r)).collect::<Vec<_>>(),
        "slos": config.slos.iter().map(|s| slo_json(config, s)).collect::<Vec<_>>(),
        "composites": config.composites.iter().map(composite_json).collect::<Vec<_>>(),
        "rollups": config.rollups.iter().map(rollup_json).collect::<Vec<_>>(),
        "warnings": config.warnings,
    })
}

/// The JSON document of a config that does not validate.
pub fn error_json(error: &str) -> Value {
    json!({ "valid": false, "error": error })
}

fn tier_json(t: &Tier) -> Value {
    json!({
        "name": t.name,
        "availability": t.availability.map(fraction_to_percent),
        "latency": t.latency.map(|l| json!({
            "threshold_ms": l.threshold_ms,
            "objective": fraction_to_percent(l.objective),
        })),
        "window": t.window.to_string(),
        "budget_policy": t.budget_policy.as_ref().map(budget_json),
    })
}

fn budget_json(p: &BudgetPolicy) -> Value {
    let rules: Vec<Value> = p
        .rules()
        .iter()
        .map(|r| {
            json!({
                "at_or_below_percent": r.at_or_below.as_percent(),
                "action": &*r.action,
                "description": &*r.description,
                "blocks_deploys": r.blocks_deploys,
            })
        })
        .collect();
    Value::Array(rules)
}

fn rule_json(config: &Config, r: &ServiceRule) -> Value {
    json!({
        "match": rule_match(config, r).into_iter().collect::<Map<_, _>>(),
        "tier": r.tier,
        "name": r.name,
        "group_by": fields(config, &r.group_by),
        "excluded_services": r.excluded,
        "slos": r.slos,
    })
}

/// A rule's `match` as written: `service` first, then the other fields.
fn rule_match(config: &Config, r: &ServiceRule) -> Vec<(String, Value)> {
    let service = r
        .service
        .as_ref()
        .map(|g| ("service".into(), g.as_str().into()));
    service
        .into_iter()
        .chain(globs(config, &r.fields))
        .collect()
}

fn globs(config: &Config, list: &[(Field, Glob)]) -> Vec<(String, Value)> {
    let glob =
        |(f, g): &(Field, Glob)| (config.events.field_name(*f).to_owned(), g.as_str().into());
    list.iter().map(glob).collect()
}

fn fields(config: &Config, list: &[Field]) -> Vec<String> {
    let name = |f: &Field| config.events.field_name(*f).to_owned();
    list.iter().map(name).collect()
}

/// The service selection: an exact name, `*`, or a rule's glob, and the services left out.
fn service(s: &Slo) -> (&str, &[String]) {
    match &s.service {
        ServiceMatch::Exact(name) => (name, &[]),
        ServiceMatch::Any => ("*", &[]),
        ServiceMatch::Glob { glob, except } => (glob.as_str(), except),
    }
}

fn slo_json(config: &Config, s: &Slo) -> Value {
    let policy = config.policies.slo(&s.name);
    let from = policy.and_then(|p| p.tier_from);
    let (service, except) = service(s);
    let selector: Map<String, Value> = s
        .selector
        .iter()
        .map(|(f, v)| (config.events.field_name(*f).to_owned(), v.as_str().into()))
        .collect();
    json!({
        "name": s.name,
        "service": service,
        "except_services": except,
        "selector": selector,
        "match": globs(config, &s.selector_globs).into_iter().collect::<Map<_, _>>(),
        "group_by": fields(config, &s.group_by),
        "indicator": match s.indicator {
            Indicator::Availability => json!({ "type": "availability" }),
            Indicator::Latency { threshold_ms } => {
                json!({ "type": "latency", "threshold_ms": threshold_ms })
            }
        },
        "objective": fraction_to_percent(s.objective),
        "window": s.window.to_string(),
        "tier": s.tier,
        "tier_from": from.map(|f| f.as_str()),
        "rule": from.and_then(|f| f.rule()),
        "inherited": policy.map_or(&[][..], |p| &p.inherited[..]),
        "alerts": alerts_json(&s.alerts),
        "budget_policy": budget_json(&s.budget_policy),
    })
}

fn composite_json(c: &Composite) -> Value {
    json!({
        "name": c.name,
        "objective": fraction_to_percent(c.objective),
        "window": c.window.to_string(),
        "components": c.components.iter().map(|p| json!({ "slo": p.slo, "weight": p.weight })).collect::<Vec<_>>(),
        "alerts": alerts_json(&c.alerts),
        "budget_policy": budget_json(&c.budget_policy),
    })
}

fn rollup_json(r: &Rollup) -> Value {
    json!({
        "name": r.name,
        "slo": r.slo,
        "by": r.by,
        "top_k": r.top_k,
        "rank_window": r.rank_window.to_string(),
    })
}

fn alerts_json(a: &AlertPolicy) -> Value {
    let rules: Vec<Value> = a
        .rules
        .iter()
        .map(|r| {
            json!({
                "severity": r.severity.as_str(),
                "long": r.long.to_string(),
                "short": r.short.to_string(),
                "burn_rate": r.burn_rate,
            })
        })
        .collect();
    json!({ "rules": rules, "min_events": a.min_events, "for_ms": a.for_ms })
}

/// The same for a person: one block per section, one line or two per item.
pub fn text(config: &Config, file: &str) -> String {
    let mut out = String::new();
    let p = &config.policies;
    let _ = writeln!(out, "{file}: valid");
    let _ = writeln!(out, "\ntiers ({}):", p.tiers.len());
    for t in &p.tiers {
        let mut line = format!("  {}", t.name);
        if let Some(a) = t.availability {
            let _ = write!(line, "  availability {}%", fraction_to_percent(a));
        }
        if let Some(l) = t.latency {
            let _ = write!(
                line,
                "  latency {}% <= {} ms",
                fraction_to_percent(l.objective),
                l.threshold_ms
            );
        }
        let _ = writeln!(out, "{line}  window {}", t.window);
    }
    let _ = writeln!(out, "policy: tier_floor {}", p.tier_floor.as_str());
    let _ = writeln!(out, "\nservices rules ({}):", p.rules.len());
    for (i, r) in p.rules.iter().enumerate() {
        let matched: Vec<String> = rule_match(config, r)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = write!(
            out,
            "  [{i}] {}  match {}  tier {}",
            r.name,
            matched.join(" "),
            r.tier
        );
        if !r.group_by.is_empty() {
            let _ = write!(out, "  group_by {}", fields(config, &r.group_by).join(", "));
        }
        let _ = writeln!(out, "\n      generates {}", r.slos.join(", "));
        if !r.excluded.is_empty() {
            let _ = writeln!(
                out,
                "      except {} (SLOs of their own)",
                r.excluded.join(", ")
            );
        }
    }
    let _ = writeln!(out, "\nslos ({}):", config.slos.len());
    for s in &config.slos {
        slo_text(&mut out, config, s);
    }
    let _ = writeln!(out, "\ncomposites ({}):", config.composites.len());
    for c in &config.composites {
        let parts: Vec<String> = c
            .components
            .iter()
            .map(|p| format!("{} x{}", p.slo, p.weight))
            .collect();
        let _ = writeln!(
            out,
            "  {}\n    of {}\n    objective {}%  window {}\n    alerts: {}\n    budget policy: {}",
            c.name,
            parts.join(", "),
            fraction_to_percent(c.objective),
            c.window,
            alerts_text(&c.alerts),
            budget_text(&c.budget_policy)
        );
    }
    let _ = writeln!(out, "\nrollups ({}):", config.rollups.len());
    for r in &config.rollups {
        let _ = writeln!(
            out,
            "  {}  slo {} by {}  top {} over {}",
            r.name, r.slo, r.by, r.top_k, r.rank_window
        );
    }
    let _ = writeln!(out, "\nwarnings ({}):", config.warnings.len());
    for w in &config.warnings {
        let _ = writeln!(out, "  {w}");
    }
    out
}

fn slo_text(out: &mut String, config: &Config, s: &Slo) {
    let policy = config.policies.slo(&s.name);
    let (service, except) = service(s);
    let _ = write!(out, "  {}\n    service {service}", s.name);
    if !except.is_empty() {
        let _ = write!(out, " except {}", except.join(", "));
    }
    for (k, v) in globs(config, &s.selector_globs) {
        let _ = write!(out, "  {k}={v}");
    }
    for (f, v) in &s.selector {
        let _ = write!(out, "  {}={v:?}", config.events.field_name(*f));
    }
    if !s.group_by.is_empty() {
        let _ = write!(out, "  group_by {}", fields(config, &s.group_by).join(", "));
    }
    let indicator = match s.indicator {
        Indicator::Availability => "availability".to_owned(),
        Indicator::Latency { threshold_ms } => format!("latency <= {threshold_ms} ms"),
    };
    let _ = write!(
        out,
        "\n    {indicator}  objective {}%  window {}",
        fraction_to_percent(s.objective),
        s.window
    );
    match (&s.tier, policy.and_then(|p| p.tier_from)) {
        (Some(tier), Some(from)) => {
            let _ = write!(out, "  tier {tier} ");
            let _ = match from {
                TierFrom::Explicit => write!(out, "(explicit)"),
                TierFrom::Inherited { rule } => write!(out, "(inherited from services[{rule}])"),
                TierFrom::Rule { rule } => write!(out, "(generated by services[{rule}])"),
            };
            let inherited = policy.map_or(&[][..], |p| &p.inherited[..]);
            if !inherited.is_empty() {
                let _ = write!(out, ", inherits {}", inherited.join(", "));
            }
        }
        _ => out.push_str("  no tier"),
    }
    let _ = writeln!(out, "\n    alerts: {}", alerts_text(&s.alerts));
    let _ = writeln!(out, "    budget policy: {}", budget_text(&s.budget_policy));
}

fn alerts_text(a: &AlertPolicy) -> String {
    let rules: Vec<String> = a
        .rules
        .iter()
        .map(|r| {
            format!(
                "{} {}/{} x{}",
                r.severity.as_str(),
                r.long,
                r.short,
                r.burn_rate
            )
        })
        .collect();
    let rules = if rules.is_empty() {
        "none".to_owned()
    } else {
        rules.join(", ")
    };
    format!("{rules}; min_events {}, for {} ms", a.min_events, a.for_ms)
}

fn budget_text(p: &BudgetPolicy) -> String {
    if p.rules().is_empty() {
        return "none (never blocks deploys)".to_owned();
    }
    let rules: Vec<String> = p
        .rules()
        .iter()
        .map(|r| {
            let blocks = if r.blocks_deploys {
                " (blocks deploys)"
            } else {
                ""
            };
            format!("{} at <= {}%{blocks}", r.action, r.at_or_below)
        })
        .collect();
    rules.join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CONFIG: &str = r#"
events: { labels: [team] }
tiers:
  P0: { availability: 99.99, latency: { threshold_ms: 300, objective: 99.9 }, window: 30d }
  P3: { availability: 90, window: 7d }
policy: { tier_floor: warn }
services:
  - { match: { service: "pay-*", route: "POST *" }, tier: P0, name: payments, group_by: [route] }
slos:
  - { name: own, service: pay-api, tier: P0, indicator: { type: availability }, objective: 99.9 }
"#;

    #[test]
    fn json_lists_tiers_rules_slos_and_warnings() {
        let config = crate::config::parse(CONFIG, Path::new("c.yaml")).unwrap();
        let v = json(&config);
        assert_eq!(v["valid"], true);
        assert_eq!(v["tiers"][0]["availability"], 99.99);
        assert_eq!(v["tiers"][0]["latency"]["objective"], 99.9);
        assert_eq!(v["tiers"][1]["latency"], Value::Null);
        assert_eq!(v["policy"]["tier_floor"], "warn");
        let rule = &v["services"][0];
        assert_eq!(
            rule["match"],
            json!({ "service": "pay-*", "route": "POST *" })
        );
        assert_eq!(rule["excluded_services"], json!(["pay-api"]));
        assert_eq!(
            rule["slos"],
            json!(["payments-availability", "payments-latency"])
        );
        let own = &v["slos"][0];
        assert_eq!(own["tier_from"], "explicit");
        assert_eq!(own["objective"], 99.9);
        assert_eq!(own["inherited"], json!(["window"]));
        assert_eq!(own["alerts"]["rules"].as_array().unwrap().len(), 4);
        let latency = &v["slos"][2];
        assert_eq!(latency["service"], "pay-*");
        assert_eq!(latency["except_services"], json!(["pay-api"]));
        assert_eq!(latency["match"], json!({ "route": "POST *" }));
        assert_eq!(latency["group_by"], json!(["route"]));
        assert_eq!(v["warnings"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn text_names_each_slo_with_its_tier() {
        let config = crate::config::parse(CONFIG, Path::new("c.yaml")).unwrap();
        let t = text(&config, "c.yaml");
        for part in [
            "c.yaml: valid",
            "  P0  availability 99.99%  latency 99.9% <= 300 ms  window 30d",
            "  [0] payments  match service=\"pay-*\" route=\"POST *\"  tier P0  group_by route",
            "      except pay-api (SLOs of their own)",
            "    availability  objective 99.9%  window 30d  tier P0 (explicit), inherits window",
            "    service pay-* except pay-api  route=\"POST *\"  group_by route",
            "tier P0 (generated by services[0]), inherits objective, window, indicator.threshold_ms",
            "alerts: page 1h/5m x14.4, page 6h/30m x6",
            "warnings (1):\n  c.yaml: slo `own`: slos[0].objective",
        ] {
            assert!(t.contains(part), "`{part}` missing in:\n{t}");
        }
    }
}

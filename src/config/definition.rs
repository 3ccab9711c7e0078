//! An SLO's definition as data: what the decision log records as an SLO's old and new
//! values, what `/api/v1/config` shows, and what governance pins an SLO to.
//!
//! It is written from the validated [`Slo`], normalised (durations in their largest
//! exact unit, the objective in percent, every alert rule written out, defaults
//! resolved), so that two spellings of one SLO have one definition and only a real
//! change is a change. It is also an SLO as the config file writes it: put back into a
//! file's `slos` with its name, it validates to the same SLO (its own alert rules and
//! `min_events` no longer depend on the `alerting` defaults).

use serde_json::{Map, Value, json};

use super::{
    AlertPolicy, AlertRule, Composite, EventSchema, Field, Indicator, ServiceMatch, Severity, Slo,
};

/// The definition of `slo`, whose label fields are named by `events`.
pub fn definition(slo: &Slo, events: &EventSchema) -> Value {
    let field = |f: &Field| match f {
        Field::Route => "route".to_owned(),
        Field::Label(i) => events.labels[*i].name.clone(),
    };
    let selector: Map<String, Value> = slo
        .selector
        .iter()
        .map(|(f, v)| (field(f), Value::from(v.clone())))
        .collect();
    let indicator = match slo.indicator {
        Indicator::Availability => json!({ "type": "availability" }),
        Indicator::Latency { threshold_ms } => {
            json!({ "type": "latency", "threshold_ms": threshold_ms })
        }
    };
    let mut definition = json!({
        "service": match &slo.service {
            ServiceMatch::Exact(name) => name.clone(),
            ServiceMatch::Any => "*".to_owned(),
            ServiceMatch::Glob { glob, .. } => glob.as_str().to_owned(),
        },
        "selector": selector,
        "group_by": slo.group_by.iter().map(field).collect::<Vec<_>>(),
        "indicator": indicator,
        "objective": percent(slo.objective),
        "window": slo.window.to_string(),
        "alerts": alerts(&slo.alerts),
        "tier": slo.tier,
        "approval_required": slo.approval_required,
    });
    // Only SLOs with globs (those services rules generate) have these keys, so that the
    // definitions of the others are as before them.
    if let ServiceMatch::Glob { except, .. } = &slo.service
        && !except.is_empty()
    {
        definition["except_services"] = json!(except);
    }
    if !slo.selector_globs.is_empty() {
        let globs: Map<String, Value> = slo
            .selector_globs
            .iter()
            .map(|(f, g)| (field(f), Value::from(g.as_str())))
            .collect();
        definition["match"] = Value::Object(globs);
    }
    definition
}

/// Which parts of two definitions differ (sorted), by the names the decision log uses:
/// `selection` (service, selector, group_by), `indicator`, `objective`, `window`,
/// `alerts`, `tier`, and any other key by its own name.
pub fn changed_fields(old: &Value, new: &Value) -> Vec<String> {
    let empty = Map::new();
    let (a, b) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut fields: Vec<String> = Vec::new();
    for key in a.keys().chain(b.keys()) {
        if a.get(key) == b.get(key) {
            continue;
        }
        let name = match key.as_str() {
            "service" | "selector" | "group_by" => "selection",
            other => other,
        };
        if !fields.iter().any(|f| f == name) {
            fields.push(name.to_owned());
        }
    }
    fields.sort();
    fields
}

/// The definition of a composite, for the decision log: its components, objective,
/// window and alert rules. Composites have no tier and no governance.
pub fn composite_definition(composite: &Composite) -> Value {
    let components: Vec<Value> = composite
        .components
        .iter()
        .map(|c| json!({ "slo": c.slo, "weight": c.weight }))
        .collect();
    json!({
        "components": components,
        "objective": percent(composite.objective),
        "window": composite.window.to_string(),
        "alerts": alerts(&composite.alerts),
    })
}

/// Alert rules written out, as an SLO's `alerts` is written.
fn alerts(policy: &AlertPolicy) -> Value {
    let rules = |severity: Severity| -> Vec<Value> {
        let of = policy.rules.iter().filter(|r| r.severity == severity);
        of.map(|r: &AlertRule| {
            json!({ "long": r.long.to_string(), "short": r.short.to_string(), "burn_rate": r.burn_rate })
        })
        .collect()
    };
    json!({
        "page": rules(Severity::Page),
        "ticket": rules(Severity::Ticket),
        "min_events": policy.min_events,
        "for": millis_text(policy.for_ms),
    })
}

/// `0.999` → `99.9`, the shortest decimal of the percent (no `99.89999999999999`).
fn percent(fraction: f64) -> f64 {
    format!("{fraction}e2").parse().unwrap_or(fraction * 100.0)
}

/// Milliseconds in the largest unit that divides them, as `alerts.for` is written.
fn millis_text(ms: i64) -> String {
    for (unit, scale) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms % scale == 0 {
            return format!("{}{unit}", ms / scale);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const CONFIG: &str = r#"
events: { labels: [region] }
alerting: { min_events: 50 }
slos:
  - { name: a, service: shop, selector: { route: "/pay" }, group_by: [region], indicator: { type: latency, threshold_ms: 250 }, objective: 99.9, window: 7d, alerts: { ticket: off, for: 2m } }
  - { name: b, service: "*", indicator: { type: availability }, objective: 99.95, window: 720h }
"#;

    #[test]
    fn definitions_are_normalised_and_validate_back_to_the_same_slo() {
        let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
        let a = definition(&config.slos[0], &config.events);
        assert_eq!(a["selector"], json!({ "route": "/pay" }));
        assert_eq!(a["group_by"], json!(["region"]));
        assert_eq!(a["objective"], json!(99.9));
        assert_eq!(a["alerts"]["ticket"], json!([]));
        assert_eq!(a["alerts"]["for"], json!("2m"));
        assert_eq!(a["alerts"]["min_events"], json!(50));
        let b = definition(&config.slos[1], &config.events);
        assert_eq!(b["window"], json!("30d"));
        assert_eq!(b["objective"], json!(99.95));
        assert_eq!(
            b["alerts"]["page"][0],
            json!({ "long": "1h", "short": "5m", "burn_rate": 14.4 })
        );

        // Written back into a file without the `alerting` defaults, each is the same SLO.
        let slos: Vec<Value> = [("a", &a), ("b", &b)]
            .iter()
            .map(|(name, d)| {
                let mut d = (*d).clone();
                let map = d.as_object_mut().unwrap();
                map.remove("tier");
                map.insert("name".into(), (*name).into());
                d
            })
            .collect();
        let text = json!({ "events": { "labels": ["region"] }, "slos": slos }).to_string();
        let again = crate::config::parse(&text, Path::new("t.json")).unwrap();
        for (x, y) in config.slos.iter().zip(&again.slos) {
            assert_eq!(definition(x, &config.events), definition(y, &again.events));
            assert_eq!(x.alerts, y.alerts);
        }
    }

    #[test]
    fn a_generated_slo_written_back_and_pinned_replaces_the_rule_s() {
        let rules = r#"
events: { labels: [region] }
tiers:
  P0: { availability: 99.9, window: 30d }
services:
  - { match: { service: "pay-*", route: "POST *" }, tier: P0, name: pay, group_by: [region] }
slos:
  - { name: own, service: pay-ledger, indicator: { type: availability }, objective: 99.95, window: 30d }
"#;
        let config = crate::config::parse(rules, Path::new("t.yaml")).unwrap();
        let generated = &config.slos[1];
        let d = definition(generated, &config.events);
        assert_eq!(d["service"], json!("pay-*"));
        assert_eq!(d["except_services"], json!(["pay-ledger"]));
        assert_eq!(d["match"], json!({ "route": "POST *" }));
        assert_eq!(d["tier"], json!("P0"));

        // The tier's floor rose meanwhile: only a pinned SLO may stay below it.
        let mut pinned: Value =
            serde_saphyr::from_str(&rules.replace("availability: 99.9,", "availability: 99.99,"))
                .unwrap();
        let mut held = d.clone();
        held["name"] = json!("pay-availability");
        pinned["slos"].as_array_mut().unwrap().push(held);
        let path = Path::new("t.yaml");
        let refused = crate::config::from_value(&pinned, path).unwrap_err();
        assert!(
            refused.to_string().contains("slos[1].objective"),
            "{refused}"
        );
        let names = ["pay-availability".to_owned()];
        let again = crate::config::from_value_pinned(&pinned, path, &names).unwrap();
        let named: Vec<&str> = again.slos.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(named, ["own", "pay-availability"]);
        assert_eq!(definition(&again.slos[1], &again.events), d);
        assert_eq!(
            again.slos[1].label_names(&again.events),
            ["service", "region"]
        );
        assert_eq!(again.warnings.len(), 1, "{:?}", again.warnings);
    }

    #[test]
    fn changed_fields_name_the_parts() {
        let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
        let a = definition(&config.slos[0], &config.events);
        let mut b = a.clone();
        b["objective"] = json!(99.5);
        b["service"] = json!("cart");
        b["group_by"] = json!([]);
        b["alerts"]["min_events"] = json!(1);
        assert_eq!(changed_fields(&a, &b), ["alerts", "objective", "selection"]);
        assert!(changed_fields(&a, &a).is_empty());
    }
}

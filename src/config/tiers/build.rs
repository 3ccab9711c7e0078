//! `tiers`, `services` and `policy` as written → [`Policies`]: every check, pure.

use super::{Policies, RawServiceRule, RawTier, ServiceRule, Tier, TierLatency};
use crate::config::EventSchema;
use crate::config::glob::Glob;
use crate::config::raw::RawConfig;
use crate::config::validate::{field_of, objective, threshold, window};

/// Checks `tiers`, `services` and `policy`. Rules get their names here; their exclusions
/// and SLOs come with [`Policies::generate`], once the explicit SLOs are known.
pub(in crate::config) fn build(
    raw: &RawConfig,
    events: &EventSchema,
) -> Result<Policies, (String, String)> {
    let mut tiers = Vec::with_capacity(raw.tiers.len());
    for (name, t) in &raw.tiers {
        tiers.push(build_tier(name, t)?);
    }
    let mut policies = Policies {
        tiers,
        rules: Vec::with_capacity(raw.services.len()),
        tier_floor: raw.policy.tier_floor.unwrap_or_default(),
        slos: Vec::new(),
    };
    for (i, r) in raw.services.iter().enumerate() {
        let rule = build_rule(i, r, events, &policies)?;
        policies.rules.push(rule);
    }
    // Default names, now that each tier's number of rules is known.
    for (i, r) in raw.services.iter().enumerate() {
        let tier = &policies.rules[i].tier;
        let of_tier: Vec<usize> = (0..policies.rules.len())
            .filter(|&j| policies.rules[j].tier == *tier)
            .collect();
        if r.name.is_none() && of_tier.len() > 1 {
            let n = of_tier.iter().position(|&j| j == i).expect("own tier") + 1;
            policies.rules[i].name = format!("{}-{n}", policies.rules[i].name);
        }
    }
    for (i, rule) in policies.rules.iter().enumerate() {
        if let Some(j) = policies.rules[..i].iter().position(|o| o.name == rule.name) {
            return Err((
                format!("services[{i}].name"),
                format!(
                    "services[{j}] is named `{}` too; names must be unique (a tier's rules \
                     are named `<tier>-fleet-<n>` unless they set `name`)",
                    rule.name
                ),
            ));
        }
    }
    Ok(policies)
}

fn build_tier(name: &str, raw: &RawTier) -> Result<Tier, (String, String)> {
    let at = |field: &str| format!("tiers.{name}.{field}");
    if name.trim().is_empty() || name.trim() != name {
        return Err((
            format!("tiers.{name}"),
            "a tier needs a name without leading or trailing spaces".into(),
        ));
    }
    let availability = raw
        .availability
        .map(|p| objective(p).map_err(|m| (at("availability"), m)))
        .transpose()?;
    let latency = match &raw.latency {
        None => None,
        Some(l) => Some(TierLatency {
            threshold_ms: threshold(l.threshold_ms).map_err(|m| (at("latency.threshold_ms"), m))?,
            objective: objective(l.objective).map_err(|m| (at("latency.objective"), m))?,
        }),
    };
    if availability.is_none() && latency.is_none() {
        return Err((
            format!("tiers.{name}"),
            "a tier promises `availability`, `latency` or both; it has neither".into(),
        ));
    }
    Ok(Tier {
        name: name.to_owned(),
        availability,
        latency,
        window: window(&raw.window).map_err(|m| (at("window"), m))?,
        budget_policy: raw
            .budget_policy
            .as_ref()
            .map(|rules| {
                crate::config::budget::build("budget_policy", rules)
                    .map_err(|(field, m)| (at(&field), m))
            })
            .transpose()?,
    })
}

fn build_rule(
    i: usize,
    raw: &RawServiceRule,
    events: &EventSchema,
    policies: &Policies,
) -> Result<ServiceRule, (String, String)> {
    let at = |field: &str| format!("services[{i}].{field}");
    let tier = raw.tier.trim();
    if policies.tier(tier).is_none() {
        return Err((at("tier"), policies.unknown_tier(tier)));
    }
    if raw.match_.is_empty() {
        return Err((
            at("match"),
            "a rule matches on at least one field; `{ service: \"*\" }` matches every service"
                .into(),
        ));
    }
    let mut service = None;
    let mut fields = Vec::new();
    for (key, pattern) in &raw.match_ {
        let glob = Glob::new(pattern).map_err(|m| (at(&format!("match.{key}")), m))?;
        if key == "service" {
            service = Some(glob);
        } else {
            let field = field_of(events, key).map_err(|m| (at(&format!("match.{key}")), m))?;
            fields.push((field, glob));
        }
    }
    let mut group_by = Vec::with_capacity(raw.group_by.len());
    for (j, key) in raw.group_by.iter().enumerate() {
        let field = match field_of(events, key) {
            Ok(f) => f,
            Err(_) if key == "service" => {
                return Err((
                    at(&format!("group_by[{j}]")),
                    "`service` is always the first label of a rule's series; remove it".into(),
                ));
            }
            Err(m) => return Err((at(&format!("group_by[{j}]")), m)),
        };
        if group_by.contains(&field) {
            return Err((
                at(&format!("group_by[{j}]")),
                format!("`{key}` is listed twice"),
            ));
        }
        group_by.push(field);
    }
    let name = match &raw.name {
        Some(n) if n.trim().is_empty() => {
            return Err((at("name"), "the name may not be empty".into()));
        }
        Some(n) => n.trim().to_owned(),
        None => format!("{}-fleet", tier.to_lowercase()),
    };
    Ok(ServiceRule {
        name,
        tier: tier.to_owned(),
        service,
        fields,
        group_by,
        excluded: Vec::new(),
        slos: Vec::new(),
    })
}

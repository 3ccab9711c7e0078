//! [`RawConfig`] → [`Config`]: every semantic check, pure (no file, network or clock), so
//! that a config is accepted or refused the same way everywhere it is loaded.

use std::collections::HashSet;

use super::raw::{RawConfig, RawIndicator, RawSlo};
use super::tiers::{Policies, TierFrom};
use super::{
    Config, DEFAULT_WINDOWS, EventSchema, Field, Indicator, MAX_WINDOW, ServiceMatch, Slo, Span,
    events,
};

/// What is wrong, and where. `field` is a path such as `slos[1].objective`.
#[derive(Debug, PartialEq)]
pub struct ValidationError {
    pub slo: Option<String>,
    pub field: String,
    pub message: String,
}

fn err(slo: Option<&str>, field: String, message: String) -> ValidationError {
    ValidationError {
        slo: slo.map(str::to_owned),
        field,
        message,
    }
}

pub fn validate(raw: &RawConfig) -> Result<Config, ValidationError> {
    let events =
        events::build(&raw.events).map_err(|(key, m)| err(None, format!("events.{key}"), m))?;
    let windows = match &raw.windows {
        None => DEFAULT_WINDOWS.to_vec(),
        Some(list) => {
            let mut spans = Vec::with_capacity(list.len());
            for (i, text) in list.iter().enumerate() {
                spans.push(window(text).map_err(|m| err(None, format!("windows[{i}]"), m))?);
            }
            spans
        }
    };
    if raw.slos.is_empty() && raw.services.is_empty() {
        return Err(err(
            None,
            "slos".into(),
            "no SLO is defined; add at least one, or a `services` rule".into(),
        ));
    }
    let budget_policy = match &raw.budget_policy {
        None => super::budget::BudgetPolicy::default(),
        Some(rules) => super::budget::build("budget_policy", rules)
            .map_err(|(field, m)| err(None, field, m))?,
    };
    let mut policies =
        super::tiers::build(raw, &events).map_err(|(field, m)| err(None, field, m))?;
    let (kafka_topic, governance) = super::decisions::build_settings(
        raw.decision_log.as_ref(),
        raw.governance.as_ref(),
        raw.state.is_some(),
    )
    .map_err(|(field, m)| err(None, field, m))?;
    if let Some(g) = &governance
        && let Some((i, t)) = g
            .tiers
            .iter()
            .enumerate()
            .find(|(_, t)| policies.tier(t).is_none())
    {
        let known = policies.tiers.iter().map(|t| t.name.as_str());
        return Err(err(
            None,
            format!("governance.tiers[{i}]"),
            format!(
                "no tier is named `{t}`; tiers are {}",
                listing(known, "none defined (add a `tiers` section)")
            ),
        ));
    }
    let decision = super::decisions::build_decision(raw.decision.as_ref(), "decision", None, false)
        .map_err(|(field, m)| err(None, field, m))?;
    let mut warnings = Vec::new();
    let mut names = HashSet::new();
    let mut slos = Vec::with_capacity(raw.slos.len());
    for (i, raw_slo) in raw.slos.iter().enumerate() {
        let (mut slo, from) = validate_slo(
            i,
            raw_slo,
            &events,
            &windows,
            raw.alerting.as_ref(),
            &policies,
            &budget_policy,
        )?;
        let name = Some(slo.name.as_str());
        let at = format!("slos[{i}].decision");
        slo.decision = super::decisions::build_decision(
            raw_slo.decision.as_ref(),
            &at,
            governance.as_ref(),
            true,
        )
        .map_err(|(field, m)| err(name, field, m))?;
        if raw_slo.approval_required && governance.is_none() {
            return Err(err(
                name,
                format!("slos[{i}].approval_required"),
                "approvals need a `governance` section with the approvers and the quorum".into(),
            ));
        }
        slo.approval_required = raw_slo.approval_required;
        if !names.insert(slo.name.clone()) {
            return Err(err(
                Some(&slo.name),
                format!("slos[{i}].name"),
                "another SLO has the same name; names must be unique".into(),
            ));
        }
        let pinned = raw.pinned.contains(&slo.name);
        policies
            .admit(i, raw_slo, &slo, from, pinned, &mut warnings)
            .map_err(|(field, m)| err(Some(&slo.name), field, m))?;
        slos.push(slo);
    }
    let generated = policies
        .generate(&slos, &windows, raw.alerting.as_ref(), &budget_policy)
        .map_err(|(field, m)| err(None, field, m))?;
    for (rule, slo) in generated {
        if raw.pinned.contains(&slo.name) && slos.iter().any(|s| s.name == slo.name) {
            // Held at its approved definition, written as an explicit SLO.
            continue;
        }
        if !names.insert(slo.name.clone()) {
            return Err(err(
                None,
                format!("services[{rule}].name"),
                format!(
                    "the rule generates the SLO `{}`, and another SLO has that name; \
                     give the rule a different `name`",
                    slo.name
                ),
            ));
        }
        slos.push(slo);
    }
    let composites = super::composites::build_composites(
        &raw.composites,
        &mut slos,
        &windows,
        raw.alerting.as_ref(),
        &budget_policy,
    )?;
    let rollups = super::composites::build_rollups(&raw.rollups, &slos, &composites, &events)?;
    let run = super::run::build(&raw.kafka, &raw.http, &raw.evaluation)
        .map_err(|(field, m)| err(None, field, m))?;
    let alerting = super::alerting::build_settings(raw.alerting.as_ref())
        .map_err(|(field, m)| err(None, field, m))?;
    let outputs =
        super::outputs::build(raw.outputs.as_ref()).map_err(|(field, m)| err(None, field, m))?;
    let state = super::durability::build_state(raw.state.as_ref())
        .map_err(|(field, m)| err(None, field, m))?;
    let dead_letter =
        super::durability::build_dead_letter(raw.dead_letter.as_ref(), &run.kafka.topics)
            .map_err(|(field, m)| err(None, field, m))?;
    let scale_out =
        super::scale_out::build(raw.scale_out.as_ref(), &run.kafka.group, &run.kafka.topics)
            .map_err(|(field, m)| err(None, field, m))?;
    if scale_out.is_some() {
        scale_out_fits(raw).map_err(|(field, m)| err(None, field.into(), m.into()))?;
    }
    let limits = super::limits::build(&raw.limits).map_err(|(field, m)| err(None, field, m))?;
    let objective_ladder = super::ladder::build(raw.objective_ladder.as_deref())
        .map_err(|(field, m)| err(None, field, m))?;
    Ok(Config {
        events,
        slos,
        run,
        alerting,
        outputs,
        state,
        dead_letter,
        scale_out,
        limits,
        composites,
        rollups,
        objective_ladder,
        policies,
        warnings,
        decisions: super::decisions::DecisionSettings {
            decision,
            kafka_topic,
            governance,
        },
    })
}

/// What `scale_out` cannot do yet, refused by name rather than computed wrong:
/// composites and roll-ups (they combine series that different instances own).
fn scale_out_fits(raw: &super::raw::RawConfig) -> Result<(), (&'static str, &'static str)> {
    if !raw.composites.is_empty() || !raw.rollups.is_empty() {
        return Err((
            "scale_out",
            "composites and rollups combine series that different instances own, which \
             scale_out does not support yet; run one instance, or remove them",
        ));
    }
    Ok(())
}

pub(super) fn window(text: &str) -> Result<Span, String> {
    let span = Span::parse(text)?;
    if span > MAX_WINDOW {
        return Err(format!(
            "`{text}` is longer than the longest window supported, {MAX_WINDOW}"
        ));
    }
    Ok(span)
}

fn validate_slo(
    i: usize,
    raw: &RawSlo,
    events: &EventSchema,
    windows: &[Span],
    alerting: Option<&super::alerting::RawAlerting>,
    policies: &Policies,
    budget_policy: &super::budget::BudgetPolicy,
) -> Result<(Slo, Option<TierFrom>), ValidationError> {
    let name = raw.name.trim();
    let at = |field: &str| format!("slos[{i}].{field}");
    let fail = |field: &str, message: String| {
        Err(err((!name.is_empty()).then_some(name), at(field), message))
    };
    if name.is_empty() {
        return fail("name", "an SLO needs a non-empty name".into());
    }
    let service = match raw.service.trim() {
        "" => return fail("service", "name a service, or `*` for every service".into()),
        "*" => ServiceMatch::Any,
        glob if super::Glob::is_pattern(glob) => match super::Glob::new(glob) {
            Ok(glob) => ServiceMatch::Glob {
                glob,
                except: raw.except_services.clone(),
            },
            Err(m) => return fail("service", m),
        },
        exact => ServiceMatch::Exact(exact.to_owned()),
    };
    if !raw.except_services.is_empty() && !matches!(service, ServiceMatch::Glob { .. }) {
        return fail(
            "except_services",
            "only a glob `service` (such as `payments-*`) leaves services out".into(),
        );
    }
    let mut selector_globs = Vec::with_capacity(raw.match_.len());
    for (key, pattern) in &raw.match_ {
        let field = match field_of(events, key) {
            Ok(f) => f,
            Err(m) => return fail(&format!("match.{key}"), m),
        };
        match super::Glob::new(pattern) {
            Ok(glob) => selector_globs.push((field, glob)),
            Err(m) => return fail(&format!("match.{key}"), m),
        }
    }
    let tier = match policies.tier_of(raw) {
        Ok(tier) => tier,
        Err(m) => return fail("tier", m),
    };
    let mut selector = Vec::with_capacity(raw.selector.len());
    for (key, value) in &raw.selector {
        match field_of(events, key) {
            Ok(field) => selector.push((field, value.clone())),
            Err(m) => return fail(&format!("selector.{key}"), m),
        }
    }
    let mut group_by = Vec::with_capacity(raw.group_by.len());
    for (j, key) in raw.group_by.iter().enumerate() {
        let field = match field_of(events, key) {
            Ok(f) => f,
            Err(_) if key == "service" => {
                return fail(
                    &format!("group_by[{j}]"),
                    "use `service: \"*\"` to get one series per service".into(),
                );
            }
            Err(m) => return fail(&format!("group_by[{j}]"), m),
        };
        if group_by.contains(&field) {
            return fail(
                &format!("group_by[{j}]"),
                format!("`{key}` is listed twice"),
            );
        }
        group_by.push(field);
    }
    let latency = matches!(raw.indicator, RawIndicator::Latency { .. });
    let tier_objective = tier.and_then(|(t, _)| t.objective_for(latency));
    let tier_threshold = tier.and_then(|(t, _)| t.threshold_ms());
    // What a missing value could have come from, for the error that it is missing.
    let from_tier = match tier {
        Some((t, _)) => format!("; its tier `{}` has none for this indicator", t.name),
        None => ", or a `tier` that has one".to_owned(),
    };
    let indicator = match raw.indicator {
        RawIndicator::Availability {} => Indicator::Availability,
        RawIndicator::Latency { threshold_ms } => match threshold_ms.or(tier_threshold) {
            None => {
                return fail(
                    "indicator.threshold_ms",
                    format!("a latency indicator needs `threshold_ms`{from_tier}"),
                );
            }
            Some(ms) => match threshold(ms) {
                Ok(threshold_ms) => Indicator::Latency { threshold_ms },
                Err(m) => return fail("indicator.threshold_ms", m),
            },
        },
    };
    let objective = match (raw.objective, tier_objective) {
        (Some(percent), _) => match objective(percent) {
            Ok(o) => o,
            Err(m) => return fail("objective", m),
        },
        (None, Some(inherited)) => inherited,
        (None, None) => {
            return fail(
                "objective",
                format!("set `objective`, a percent such as 99.9{from_tier}"),
            );
        }
    };
    let window = match (&raw.window, tier) {
        (Some(text), _) => match window(text) {
            Ok(w) => w,
            Err(m) => return fail("window", m),
        },
        (None, Some((t, _))) => t.window,
        (None, None) => {
            return fail(
                "window",
                "set `window`, e.g. `30d`, or a `tier` that has one".into(),
            );
        }
    };
    let alerts = match super::alerting::build_policy(raw.alerts.as_ref(), alerting, window) {
        Ok(a) => a,
        Err((field, m)) => return fail(&field, m),
    };
    let budget_policy = match &raw.budget_policy {
        None => tier
            .map_or(budget_policy, |(t, _)| t.budget_policy(budget_policy))
            .clone(),
        Some(rules) => match super::budget::build("budget_policy", rules) {
            Ok(p) => p,
            Err((field, m)) => return fail(&field, m),
        },
    };
    let mut all_windows: Vec<Span> = windows.to_vec();
    all_windows.push(window);
    all_windows.sort();
    all_windows.dedup();
    let slo = Slo {
        name: name.to_owned(),
        service,
        selector,
        selector_globs,
        group_by,
        indicator,
        objective,
        window,
        windows: all_windows,
        alerts,
        composite_windows: Vec::new(),
        budget_policy,
        tier: tier.map(|(t, _)| t.name.clone()),
        decision: None,
        approval_required: false,
    };
    Ok((slo, tier.map(|(_, from)| from)))
}

/// An event field an SLO or rule can select on or group by: `route` or a label.
pub(super) fn field_of(events: &EventSchema, key: &str) -> Result<Field, String> {
    if key == "route" {
        return Ok(Field::Route);
    }
    let position = events.labels.iter().position(|l| l.name == key);
    position.map(Field::Label).ok_or_else(|| {
        let known = events.labels.iter().map(|l| l.name.as_str());
        format!(
            "`{key}` is neither `route` nor a label; labels come from `events.labels` ({})",
            listing(known, "none configured")
        )
    })
}

/// Names for an error message: `a, b`, or `none` when there are none.
pub(super) fn listing<'a>(names: impl Iterator<Item = &'a str>, none: &str) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        none.to_owned()
    } else {
        names.join(", ")
    }
}

/// A percent objective → the fraction.
pub(super) fn objective(percent: f64) -> Result<f64, String> {
    if !(percent.is_finite() && percent > 0.0 && percent < 100.0) {
        return Err(format!(
            "must be a percentage above 0 and below 100 (e.g. 99.9), got {percent}; \
             100 % leaves no error budget"
        ));
    }
    Ok(percent_to_fraction(percent))
}

pub(super) fn threshold(ms: f64) -> Result<f64, String> {
    if !(ms.is_finite() && ms >= 0.0) {
        return Err(format!("must be a number of milliseconds >= 0, got {ms}"));
    }
    Ok(ms)
}

/// `99.9` → `0.999` exactly as written: shifting the shortest decimal form of the percent
/// avoids the rounding of a division (`99.9 / 100.0` is `0.9990000000000001`).
fn percent_to_fraction(percent: f64) -> f64 {
    format!("{percent}e-2").parse().unwrap_or(percent / 100.0)
}

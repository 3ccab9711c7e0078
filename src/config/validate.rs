//! [`RawConfig`] → [`Config`]: every semantic check, pure (no file, network or clock), so
//! that a config is accepted or refused the same way everywhere it is loaded.

use std::collections::HashSet;

use super::raw::{RawConfig, RawIndicator, RawSlo};
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
    if raw.slos.is_empty() {
        return Err(err(
            None,
            "slos".into(),
            "no SLO is defined; add at least one".into(),
        ));
    }
    let (kafka_topic, governance) = super::decisions::build_settings(
        raw.decision_log.as_ref(),
        raw.governance.as_ref(),
        raw.state.is_some(),
    )
    .map_err(|(field, m)| err(None, field, m))?;
    let decision = super::decisions::build_decision(raw.decision.as_ref(), "decision", None, false)
        .map_err(|(field, m)| err(None, field, m))?;
    let mut names = HashSet::new();
    let mut slos = Vec::with_capacity(raw.slos.len());
    for (i, raw_slo) in raw.slos.iter().enumerate() {
        let mut slo = validate_slo(i, raw_slo, &events, &windows, raw.alerting.as_ref())?;
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
        slos.push(slo);
    }
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
    let limits = super::limits::build(&raw.limits).map_err(|(field, m)| err(None, field, m))?;
    Ok(Config {
        events,
        slos,
        run,
        alerting,
        outputs,
        state,
        dead_letter,
        limits,
        decisions: super::decisions::DecisionSettings {
            decision,
            kafka_topic,
            governance,
        },
    })
}

fn window(text: &str) -> Result<Span, String> {
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
) -> Result<Slo, ValidationError> {
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
        exact => ServiceMatch::Exact(exact.to_owned()),
    };
    let field_of =
        |key: &str| -> Result<Field, String> {
            if key == "route" {
                return Ok(Field::Route);
            }
            events.labels.iter().position(|l| l.name == key).map(Field::Label).ok_or_else(|| {
            let known: Vec<&str> = events.labels.iter().map(|l| l.name.as_str()).collect();
            format!(
                "`{key}` is neither `route` nor a label; labels come from `events.labels` ({})",
                if known.is_empty() { "none configured".to_owned() } else { known.join(", ") }
            )
        })
        };
    let mut selector = Vec::with_capacity(raw.selector.len());
    for (key, value) in &raw.selector {
        match field_of(key) {
            Ok(field) => selector.push((field, value.clone())),
            Err(m) => return fail(&format!("selector.{key}"), m),
        }
    }
    let mut group_by = Vec::with_capacity(raw.group_by.len());
    for (j, key) in raw.group_by.iter().enumerate() {
        let field = match field_of(key) {
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
    let indicator = match raw.indicator {
        RawIndicator::Availability {} => Indicator::Availability,
        RawIndicator::Latency { threshold_ms } => {
            if !(threshold_ms.is_finite() && threshold_ms >= 0.0) {
                return fail(
                    "indicator.threshold_ms",
                    format!("must be a number of milliseconds >= 0, got {threshold_ms}"),
                );
            }
            Indicator::Latency { threshold_ms }
        }
    };
    let objective = raw.objective;
    if !(objective.is_finite() && objective > 0.0 && objective < 100.0) {
        return fail(
            "objective",
            format!(
                "must be a percentage above 0 and below 100 (e.g. 99.9), got {objective}; \
                 100 % leaves no error budget"
            ),
        );
    }
    let window = match window(&raw.window) {
        Ok(w) => w,
        Err(m) => return fail("window", m),
    };
    let alerts = match super::alerting::build_policy(raw.alerts.as_ref(), alerting, window) {
        Ok(a) => a,
        Err((field, m)) => return fail(&field, m),
    };
    let mut all_windows: Vec<Span> = windows.to_vec();
    all_windows.push(window);
    all_windows.sort();
    all_windows.dedup();
    Ok(Slo {
        name: name.to_owned(),
        service,
        selector,
        group_by,
        indicator,
        objective: percent_to_fraction(objective),
        window,
        windows: all_windows,
        alerts,
        tier: None,
        decision: None,
        approval_required: false,
    })
}

/// `99.9` → `0.999` exactly as written: shifting the shortest decimal form of the percent
/// avoids the rounding of a division (`99.9 / 100.0` is `0.9990000000000001`).
fn percent_to_fraction(percent: f64) -> f64 {
    format!("{percent}e-2").parse().unwrap_or(percent / 100.0)
}

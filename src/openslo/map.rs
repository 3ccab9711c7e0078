//! OpenSLO SLOs → slipstream SLOs and composites. Each objective becomes one slipstream
//! SLO (named after the OpenSLO SLO, plus `-<displayName or index>` when there are
//! several); a composite SLO (indicators on its objectives) becomes a `composites` entry
//! over one generated SLO per objective. Every generated SLO is checked with slipstream's
//! own loader before it is kept, so a refusal is a warning naming the object, never a
//! config that does not load.

use std::collections::{BTreeMap, BTreeSet};

use super::alerts::map_policies;
use super::output::{SlipstreamConfig, Slo, check_slo};
use super::source::{MappedSli, Note, map_sli};
use super::{
    ANNOTATION_PREFIX, Documents, InlineSli, Object, Objective, SliSpec, SloSpec, TimeWindow,
    Warning, push, shorthand,
};
use crate::config::{MAX_WINDOW, Span};

/// The translation, and how many OpenSLO SLOs it took.
#[derive(Debug, Default)]
pub struct Mapped {
    pub config: SlipstreamConfig,
    pub slos_mapped: usize,
}

pub fn translate(docs: &Documents, warnings: &mut Vec<Warning>) -> Mapped {
    let mut mapped = Mapped::default();
    for slo in &docs.slos {
        let name = &slo.metadata.name;
        match map_slo(slo, docs, &mut mapped.config, warnings) {
            Ok(true) => mapped.slos_mapped += 1,
            Ok(false) => {}
            Err((field, message)) => {
                push(
                    warnings,
                    "SLO",
                    name,
                    field,
                    format!("{message}; SLO not mapped"),
                );
            }
        }
    }
    unreferenced(docs, warnings);
    mapped
}

/// Maps one SLO into `out`: whether anything of it was kept.
fn map_slo(
    slo: &Object<SloSpec>,
    docs: &Documents,
    out: &mut SlipstreamConfig,
    warnings: &mut Vec<Warning>,
) -> Result<bool, Note> {
    let name = &slo.metadata.name;
    let spec = &slo.spec;
    dropped_metadata(slo, warnings);
    match spec.budgeting_method.as_str() {
        "Occurrences" => {}
        method @ ("Timeslices" | "RatioTimeslices") => {
            return Err((
                "spec.budgetingMethod".into(),
                format!(
                    "`{method}` is not supported: slipstream counts every event against the \
                     budget (Occurrences), with no time slices"
                ),
            ));
        }
        other => {
            return Err((
                "spec.budgetingMethod".into(),
                format!("`{other}` is not Occurrences, Timeslices or RatioTimeslices"),
            ));
        }
    }
    let window = map_window(&spec.time_window, name, warnings)?;
    if spec.objectives.is_empty() {
        return Err(("spec.objectives".into(), "no objective".into()));
    }
    for (i, o) in spec.objectives.iter().enumerate() {
        if o.time_slice_target.is_some() || o.time_slice_window.is_some() {
            push(
                warnings,
                "SLO",
                name,
                format!("spec.objectives[{i}].timeSliceTarget"),
                "time slices apply to Timeslices budgeting; ignored for Occurrences",
            );
        }
    }
    let composite = spec
        .objectives
        .iter()
        .any(|o| o.indicator.is_some() || o.indicator_ref.is_some());
    if composite {
        return super::composite::map_composite(slo, window, docs, out, warnings).map(|()| true);
    }
    let (sli, sli_at) = resolve_sli(&spec.indicator, &spec.indicator_ref, "spec", docs)?;
    let alerts = map_policies(name, &spec.alert_policies, window, docs, warnings);
    let several = spec.objectives.len() > 1;
    let mut kept = false;
    for (i, o) in spec.objectives.iter().enumerate() {
        let at = format!("spec.objectives[{i}]");
        let slo_name = if several {
            suffixed(name, o, i)
        } else {
            name.clone()
        };
        let part = Part {
            sli,
            sli_at: &sli_at,
            objective: o,
            at: &at,
            name: slo_name,
        };
        let result = build(slo, part, window, docs, warnings).and_then(|(mut built, labels)| {
            built.alerts.clone_from(&alerts);
            admit(out, vec![(built, labels)]).map_err(|m| (at.clone(), m))
        });
        match result {
            Ok(()) => kept = true,
            Err((field, message)) => {
                let what = if several { "objective" } else { "SLO" };
                push(
                    warnings,
                    "SLO",
                    name,
                    field,
                    format!("{message}; {what} not mapped"),
                );
            }
        }
    }
    Ok(kept)
}

/// One objective to map: the SLI it reads, where both are in the input, and the name of
/// the slipstream SLO it becomes.
pub(super) struct Part<'a> {
    pub sli: &'a SliSpec,
    pub sli_at: &'a str,
    pub objective: &'a Objective,
    pub at: &'a str,
    pub name: String,
}

/// The slipstream SLO of `part`, and the label paths it selects on.
pub(super) fn build(
    slo: &Object<SloSpec>,
    part: Part<'_>,
    window: Span,
    docs: &Documents,
    warnings: &mut Vec<Warning>,
) -> Result<(Slo, Vec<String>), Note> {
    let Part {
        sli,
        sli_at,
        objective: o,
        at,
        name,
    } = part;
    let objective = objective_percent(o, at)?;
    let mut notes = Vec::new();
    let mapped = map_sli(sli, o, docs, sli_at, at, &mut notes);
    for (field, message) in notes {
        push(warnings, "SLO", &slo.metadata.name, field, message);
    }
    let MappedSli {
        selection,
        indicator,
    } = mapped?;
    let service = match selection.service {
        Some(own) if own != slo.spec.service => {
            push(
                warnings,
                "SLO",
                &slo.metadata.name,
                "spec.service",
                format!(
                    "`{}` differs from the service `{own}` of the SLI of {at}, which is used",
                    slo.spec.service
                ),
            );
            own
        }
        Some(own) => own,
        None => slo.spec.service.clone(),
    };
    let mut selector = BTreeMap::new();
    let mut labels = Vec::new();
    if let Some(route) = selection.route {
        selector.insert("route".to_owned(), route);
    }
    for (path, value) in selection.selector {
        let key = match path.as_str() {
            "service" => {
                return Err((
                    format!("{sli_at} selector.service"),
                    "select the service with `service:`, not in `selector`".into(),
                ));
            }
            "route" => "route".to_owned(),
            // A label's name is its path with dots as underscores (docs/config.md#labels).
            _ => {
                labels.push(path.clone());
                path.replace('.', "_")
            }
        };
        if selector.get(&key).is_some_and(|v| *v != value) {
            return Err((
                format!("{sli_at} selector.{path}"),
                format!("selects `{key}` twice with different values"),
            ));
        }
        selector.insert(key, value);
    }
    Ok((
        Slo {
            name,
            service,
            selector,
            indicator,
            objective,
            window: window.to_string(),
            alerts: None,
        },
        labels,
    ))
}

/// Keeps `candidates` if every one of them loads with the labels so far plus theirs and
/// no name is taken; otherwise keeps none and says why.
pub(super) fn admit(
    out: &mut SlipstreamConfig,
    candidates: Vec<(Slo, Vec<String>)>,
) -> Result<(), String> {
    let mut labels = out.events.labels.clone();
    let mut names = BTreeSet::new();
    for (slo, paths) in &candidates {
        if taken(out, &slo.name) || !names.insert(slo.name.as_str()) {
            return Err(format!("the name `{}` is taken by another SLO", slo.name));
        }
        for path in paths {
            if !labels.contains(path) {
                labels.push(path.clone());
            }
        }
    }
    for (slo, _) in &candidates {
        check_slo(&labels, slo).map_err(|m| format!("slipstream refuses `{}`: {m}", slo.name))?;
    }
    out.events.labels = labels;
    out.slos.extend(candidates.into_iter().map(|(slo, _)| slo));
    Ok(())
}

pub(super) fn taken(out: &SlipstreamConfig, name: &str) -> bool {
    out.slos.iter().any(|s| s.name == name) || out.composites.iter().any(|c| c.name == name)
}

/// `<slo>-<displayName as a slug>`, or `<slo>-<index>` without a usable display name.
pub(super) fn suffixed(name: &str, o: &Objective, index: usize) -> String {
    let mut slug = String::new();
    for c in o.display_name.as_deref().unwrap_or("").chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        format!("{name}-{index}")
    } else {
        format!("{name}-{slug}")
    }
}

pub(super) fn resolve_sli<'a>(
    inline: &'a Option<InlineSli>,
    reference: &Option<String>,
    at: &str,
    docs: &'a Documents,
) -> Result<(&'a SliSpec, String), Note> {
    match (inline, reference) {
        (Some(sli), None) => Ok((&sli.spec, format!("{at}.indicator.spec"))),
        (None, Some(name)) => match docs.slis.get(name) {
            Some(sli) => Ok((&sli.spec, format!("SLI/{name} spec"))),
            None => Err((
                format!("{at}.indicatorRef"),
                format!("SLI `{name}` is not in the input"),
            )),
        },
        _ => Err((
            format!("{at}.indicator"),
            "exactly one of `indicator` or `indicatorRef` is needed".into(),
        )),
    }
}

/// `target` (fraction) or `targetPercent` → percent, as written: `0.999` → `99.9`.
fn objective_percent(o: &Objective, at: &str) -> Result<f64, Note> {
    let percent = match (o.target, o.target_percent) {
        // Shifting the decimal form avoids the rounding of `0.999 * 100.0`.
        (Some(t), None) => format!("{t}e2").parse().unwrap_or(t * 100.0),
        (None, Some(p)) => p,
        _ => {
            return Err((
                at.to_owned(),
                "exactly one of `target` or `targetPercent` is needed".into(),
            ));
        }
    };
    if !(percent.is_finite() && percent > 0.0 && percent < 100.0) {
        return Err((
            format!("{at}.target"),
            format!("{percent} %: slipstream needs an objective above 0 and below 100 %"),
        ));
    }
    Ok(percent)
}

fn map_window(
    windows: &[TimeWindow],
    slo: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Span, Note> {
    let w = match windows {
        [w] => w,
        [] => {
            return Err((
                "spec.timeWindow".into(),
                "missing: slipstream needs the SLO window, e.g. `timeWindow: [{ duration: 28d, \
                 isRolling: true }]`"
                    .into(),
            ));
        }
        _ => {
            return Err((
                "spec.timeWindow".into(),
                "more than one window; the spec allows one".into(),
            ));
        }
    };
    let at = "spec.timeWindow[0]";
    match (w.is_rolling, &w.calendar) {
        (Some(true), None) => {}
        (None, None) => push(
            warnings,
            "SLO",
            slo,
            format!("{at}.isRolling"),
            "missing, and no calendar: taken as a rolling window",
        ),
        _ => {
            return Err((
                at.into(),
                "a calendar-aligned window is not supported: slipstream windows are rolling; \
                 use `isRolling: true`"
                    .into(),
            ));
        }
    }
    let span = shorthand(&w.duration).map_err(|m| (format!("{at}.duration"), m))?;
    if span > MAX_WINDOW {
        return Err((
            format!("{at}.duration"),
            format!(
                "`{}` is longer than {MAX_WINDOW}, the longest window slipstream keeps",
                w.duration
            ),
        ));
    }
    Ok(span)
}

/// One warning per SLO for what has no slipstream field.
fn dropped_metadata(slo: &Object<SloSpec>, warnings: &mut Vec<Warning>) {
    let m = &slo.metadata;
    let ours = |k: &String| k.starts_with(ANNOTATION_PREFIX);
    let fields: Vec<&str> = [
        (m.display_name.is_some(), "metadata.displayName"),
        (!m.labels.is_empty(), "metadata.labels"),
        (!m.annotations.keys().all(ours), "metadata.annotations"),
        (slo.spec.description.is_some(), "spec.description"),
    ]
    .into_iter()
    .filter_map(|(present, field)| present.then_some(field))
    .collect();
    if !fields.is_empty() {
        push(
            warnings,
            "SLO",
            &m.name,
            fields.join(", "),
            "no slipstream field; not carried over",
        );
    }
}

/// Objects that no SLO uses map to nothing, and connection details have no place in an
/// SLO: say so.
fn unreferenced(docs: &Documents, warnings: &mut Vec<Warning>) {
    let mut slis = BTreeSet::new();
    let mut policies = BTreeSet::new();
    for slo in &docs.slos {
        slis.extend(slo.spec.indicator_ref.as_deref());
        slis.extend(
            slo.spec
                .objectives
                .iter()
                .filter_map(|o| o.indicator_ref.as_deref()),
        );
        policies.extend(
            slo.spec
                .alert_policies
                .iter()
                .filter_map(|p| p.alert_policy_ref.as_deref()),
        );
    }
    let mut conditions = BTreeSet::new();
    let inline = docs
        .slos
        .iter()
        .flat_map(|s| &s.spec.alert_policies)
        .filter_map(|p| p.spec.as_ref());
    let used = docs
        .policies
        .values()
        .filter(|p| policies.contains(p.metadata.name.as_str()))
        .map(|p| &p.spec);
    for spec in inline.chain(used) {
        conditions.extend(
            spec.conditions
                .iter()
                .filter_map(|c| c.condition_ref.as_deref()),
        );
    }
    for (kind, names, used) in [
        ("SLI", docs.slis.keys().collect::<Vec<_>>(), &slis),
        ("AlertPolicy", docs.policies.keys().collect(), &policies),
        (
            "AlertCondition",
            docs.conditions.keys().collect(),
            &conditions,
        ),
    ] {
        for name in names.into_iter().filter(|n| !used.contains(n.as_str())) {
            push(
                warnings,
                kind,
                name,
                "metadata.name",
                "not referenced by any SLO: nothing to map",
            );
        }
    }
    let connected =
        |v: &serde_json::Value| !(v.is_null() || v.as_object().is_some_and(|m| m.is_empty()));
    for ds in docs
        .data_sources
        .values()
        .filter(|d| connected(&d.spec.connection_details))
    {
        push(
            warnings,
            "DataSource",
            &ds.metadata.name,
            "spec.connectionDetails",
            "not mapped: slipstream reads Kafka as its `kafka` section says (docs/run.md)",
        );
    }
}

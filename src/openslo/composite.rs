//! A composite OpenSLO SLO (indicators on its objectives) → one generated slipstream SLO
//! per objective and a `composites` entry over them. Weights become the smallest whole
//! numbers in the same proportions, when that is exact; the composite's objective is the
//! objectives' common target, or the annotation `slipstream.dev/objective`.

use super::alerts::map_policies;
use super::map::{Part, admit, build, resolve_sli, suffixed, taken};
use super::output::{Component, Composite, SlipstreamConfig};
use super::source::Note;
use super::{ANNOTATION_PREFIX, Documents, Object, SloSpec, Warning, push};
use crate::config::Span;

/// The largest whole composite weight written.
const MAX_WEIGHT: u128 = 1_000_000;

/// A composite: one SLO per objective, the composite over them.
pub fn map_composite(
    slo: &Object<SloSpec>,
    window: Span,
    docs: &Documents,
    out: &mut SlipstreamConfig,
    warnings: &mut Vec<Warning>,
) -> Result<(), Note> {
    let name = &slo.metadata.name;
    let spec = &slo.spec;
    if spec.indicator.is_some() || spec.indicator_ref.is_some() {
        return Err((
            "spec.indicator".into(),
            "a composite SLO has its indicators on its objectives, not also on spec".into(),
        ));
    }
    let mut built = Vec::new();
    let (mut weights, mut percents) = (Vec::new(), Vec::new());
    for (i, o) in spec.objectives.iter().enumerate() {
        let at = format!("spec.objectives[{i}]");
        let (sli, sli_at) = resolve_sli(&o.indicator, &o.indicator_ref, &at, docs)?;
        let weight = o.composite_weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            return Err((
                format!("{at}.compositeWeight"),
                format!("must be above 0, got {weight}"),
            ));
        }
        let part = Part {
            sli,
            sli_at: &sli_at,
            objective: o,
            at: &at,
            name: suffixed(name, o, i),
        };
        let (component, labels) = build(slo, part, window, docs, warnings)?;
        weights.push(weight);
        percents.push(component.objective);
        built.push((component, labels));
    }
    let Some(whole) = whole_weights(&weights) else {
        return Err((
            "spec.objectives[*].compositeWeight".into(),
            format!(
                "the weights {weights:?} cannot be scaled to whole numbers of at most \
                 {MAX_WEIGHT} exactly, as slipstream's composite weights are"
            ),
        ));
    };
    let objective = composite_objective(slo, &percents, warnings)?;
    let alerts = map_policies(name, &spec.alert_policies, window, docs, warnings);
    let components = built
        .iter()
        .zip(&whole)
        .map(|((s, _), &weight)| Component {
            slo: s.name.clone(),
            weight,
        })
        .collect();
    let composite = Composite {
        name: name.clone(),
        objective,
        window: window.to_string(),
        components,
        alerts,
    };
    if taken(out, name) {
        return Err((
            "metadata.name".into(),
            format!("`{name}` is already an SLO's name"),
        ));
    }
    admit(out, built).map_err(|m| ("spec.objectives".to_owned(), m))?;
    out.composites.push(composite);
    Ok(())
}

/// The composite's own objective: the annotation `slipstream.dev/objective` (percent), or
/// the objectives' common target; with different targets, the lowest, reported.
fn composite_objective(
    slo: &Object<SloSpec>,
    percents: &[f64],
    warnings: &mut Vec<Warning>,
) -> Result<f64, Note> {
    let key = format!("{ANNOTATION_PREFIX}objective");
    if let Some(text) = slo.metadata.annotations.get(&key) {
        return match text.trim().parse::<f64>() {
            Ok(p) if p.is_finite() && p > 0.0 && p < 100.0 => Ok(p),
            _ => Err((
                format!("metadata.annotations.{key}"),
                format!("`{text}` is not a percentage above 0 and below 100"),
            )),
        };
    }
    let lowest = percents.iter().copied().fold(f64::INFINITY, f64::min);
    if percents.iter().any(|p| *p != lowest) {
        push(
            warnings,
            "SLO",
            &slo.metadata.name,
            "spec.objectives[*].target",
            format!(
                "the objectives have different targets ({}): the composite's objective is \
                     the lowest, {lowest}; set the annotation `{key}` to choose it",
                percents
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Ok(lowest)
}

/// Positive weights → the smallest whole numbers in the same proportions, if their decimal
/// forms allow it exactly (0.5 and 1.5 → 1 and 3) and none exceeds [`MAX_WEIGHT`].
pub fn whole_weights(weights: &[f64]) -> Option<Vec<u64>> {
    // Each weight as digits / 10^decimals, from its shortest decimal form.
    let parts: Vec<(u128, u32)> = weights
        .iter()
        .map(|w| {
            let text = w.to_string();
            let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
            let digits: u128 = format!("{int}{frac}").parse().ok()?;
            Some((digits, u32::try_from(frac.len()).ok()?))
        })
        .collect::<Option<_>>()?;
    let scale = parts.iter().map(|p| p.1).max()?;
    let scaled: Vec<u128> = parts
        .iter()
        .map(|&(d, e)| d.checked_mul(10u128.checked_pow(scale - e)?))
        .collect::<Option<_>>()?;
    let divisor = scaled.iter().copied().fold(0, gcd);
    scaled
        .iter()
        .map(|s| {
            let w = s / divisor;
            (1..=MAX_WEIGHT).contains(&w).then_some(w as u64)
        })
        .collect()
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

//! SLIs → which events an SLO counts and what makes one good. Our events are not queries,
//! so only a `metricSource` of `type: slipstream` maps: its `spec` names the events
//! (`service`, `route`, `selector`) and, for a ratio, a predicate over their fields
//! (`query`), or for a threshold, the field compared per event (`field: latency_ms`).
//!
//! The predicates are exactly the two indicators slipstream has, each written from the
//! good or the bad side: `status < 500` / `status >= 500` (availability) and
//! `latency_ms <= N` / `latency_ms > N` (latency). Anything else is refused, never
//! approximated.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::output::Indicator;
use super::{Documents, MetricSpec, Objective, RatioMetric, SliSpec};

/// The `spec` of a `type: slipstream` metric source.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a slipstream source: service, route, selector, query (ratio) or field (threshold)"
)]
pub struct SlipstreamSpec {
    pub service: Option<String>,
    pub route: Option<String>,
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// Ratio leaves: the predicate.
    pub query: Option<String>,
    /// Threshold metrics: the event field compared with the objective's `value`.
    pub field: Option<String>,
}

/// Which events an SLO counts: the source's choice; `service: None` keeps the SLO's.
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    pub service: Option<String>,
    pub route: Option<String>,
    /// Keyed by event field path, as written.
    pub selector: BTreeMap<String, String>,
}

/// An SLI mapped for one objective.
#[derive(Debug, PartialEq)]
pub struct MappedSli {
    pub selection: Selection,
    pub indicator: Indicator,
}

/// `(field, message)`: where in the input, and why.
pub type Note = (String, String);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Predicate {
    All,
    StatusBelow500,
    StatusAtLeast500,
    LatencyAtMost(f64),
    LatencyAbove(f64),
}

const PREDICATES: &str =
    "`status < 500`, `status >= 500`, `latency_ms <= N`, `latency_ms > N` or `all`";

fn parse_predicate(query: Option<&str>) -> Result<Predicate, String> {
    let text = query.unwrap_or("").trim();
    if text.is_empty() || text == "all" {
        return Ok(Predicate::All);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let (field, rest) = (&text[..split], text[split..].trim_start());
    let op = ["<=", ">=", "<", ">"]
        .into_iter()
        .find(|op| rest.starts_with(op));
    let number = op.and_then(|op| rest[op.len()..].trim().parse::<f64>().ok());
    let unsupported = || format!("`{text}` is not a slipstream predicate: use one of {PREDICATES}");
    let (Some(op), Some(n)) = (op, number) else {
        return Err(unsupported());
    };
    match (field, op) {
        ("status", "<") if n == 500.0 => Ok(Predicate::StatusBelow500),
        ("status", ">=") if n == 500.0 => Ok(Predicate::StatusAtLeast500),
        ("status", _) => Err(format!(
            "`{text}`: slipstream's availability counts `status < 500` as good; other status \
             splits are not supported"
        )),
        ("latency_ms", "<=" | ">") if !(n.is_finite() && n >= 0.0) => Err(format!(
            "`{text}`: the threshold must be a number of milliseconds >= 0"
        )),
        ("latency_ms", "<=") => Ok(Predicate::LatencyAtMost(n)),
        ("latency_ms", ">") => Ok(Predicate::LatencyAbove(n)),
        ("latency_ms", _) => Err(format!(
            "`{text}`: a latency predicate is `latency_ms <= N` (good) or `latency_ms > N` (bad)"
        )),
        _ => Err(unsupported()),
    }
}

/// Maps an SLI for one objective. `at` prefixes the SLI's fields (`spec.indicator.spec`),
/// `objective_at` the objective's (`spec.objectives[0]`); `notes` collects caveats.
pub fn map_sli(
    sli: &SliSpec,
    objective: &Objective,
    docs: &Documents,
    at: &str,
    objective_at: &str,
    notes: &mut Vec<Note>,
) -> Result<MappedSli, Note> {
    match (&sli.ratio_metric, &sli.threshold_metric) {
        (Some(ratio), None) => {
            if objective.op.is_some() || objective.value.is_some() {
                notes.push((
                    format!("{objective_at}.op"),
                    "`op` and `value` belong to a thresholdMetric; ignored for a ratioMetric"
                        .into(),
                ));
            }
            map_ratio(ratio, docs, &format!("{at}.ratioMetric"))
        }
        (None, Some(threshold)) => map_threshold(
            threshold,
            objective,
            docs,
            &format!("{at}.thresholdMetric"),
            objective_at,
        ),
        _ => Err((
            at.to_owned(),
            "an SLI has exactly one of `ratioMetric` or `thresholdMetric`".into(),
        )),
    }
}

fn map_ratio(ratio: &RatioMetric, docs: &Documents, at: &str) -> Result<MappedSli, Note> {
    if ratio.raw.is_some() || ratio.raw_type.is_some() {
        return Err((
            format!("{at}.raw"),
            "a precomputed ratio cannot be mapped: slipstream counts events, which are not \
             pre-aggregated; write `good` (or `bad`) and `total` with `type: slipstream` sources"
                .into(),
        ));
    }
    let Some(total) = &ratio.total else {
        return Err((
            format!("{at}.total"),
            "missing: a ratio needs `total` and one of `good` or `bad`".into(),
        ));
    };
    let (numerator, good_side, side) = match (&ratio.good, &ratio.bad) {
        (Some(good), None) => (good, true, "good"),
        (None, Some(bad)) => (bad, false, "bad"),
        _ => {
            return Err((
                at.to_owned(),
                "a ratio has exactly one of `good` or `bad`, with `total`".into(),
            ));
        }
    };
    // The numerator first: its rewrite is the one that needs a predicate.
    let side_at = format!("{at}.{side}.metricSource");
    let example = if good_side {
        "query: \"status < 500\""
    } else {
        "query: \"status >= 500\""
    };
    let numerator = leaf(numerator, docs, &side_at, example)?;
    let total_at = format!("{at}.total.metricSource");
    let total = leaf(total, docs, &total_at, "service: NAME, query: all")?;
    for (source, source_at) in [(&total, &total_at), (&numerator, &side_at)] {
        if source.field.is_some() {
            return Err((
                format!("{source_at}.spec.field"),
                "`field` belongs to a thresholdMetric source; a ratio source has `query`".into(),
            ));
        }
    }
    let all = parse_predicate(total.query.as_deref())
        .map_err(|m| (format!("{total_at}.spec.query"), m))?;
    if all != Predicate::All {
        return Err((
            format!("{total_at}.spec.query"),
            "`total` must count every selected event: write `query: all` (or leave it out) and \
             select the events with service, route and selector"
                .into(),
        ));
    }
    // The numerator may repeat the selection of `total` or leave it out, nothing else:
    // slipstream's good events are always a subset of the SLO's events.
    let (selection, own) = (selection(&total), selection(&numerator));
    let same = own
        .service
        .is_none_or(|s| Some(&s) == selection.service.as_ref())
        && own
            .route
            .is_none_or(|r| Some(&r) == selection.route.as_ref())
        && (own.selector.is_empty() || own.selector == selection.selector);
    if !same {
        return Err((
            format!("{side_at}.spec"),
            format!(
                "`{side}` and `total` select different events: slipstream counts the {side} \
                 events among those of `total`; give `{side}` the same service, route and \
                 selector, or none"
            ),
        ));
    }
    let predicate = parse_predicate(numerator.query.as_deref())
        .map_err(|m| (format!("{side_at}.spec.query"), m))?;
    let query = numerator.query.as_deref().unwrap_or("all");
    let indicator = match (good_side, predicate) {
        (true, Predicate::StatusBelow500) | (false, Predicate::StatusAtLeast500) => {
            Indicator::Availability {}
        }
        (true, Predicate::LatencyAtMost(n)) | (false, Predicate::LatencyAbove(n)) => {
            Indicator::Latency { threshold_ms: n }
        }
        (_, Predicate::All) => {
            return Err((
                format!("{side_at}.spec.query"),
                format!("`{side}` needs a predicate: one of {PREDICATES}"),
            ));
        }
        (true, _) => {
            return Err((
                format!("{side_at}.spec.query"),
                format!(
                    "`{query}` selects bad events: put it under `bad:`, or its complement under \
                     `good:`"
                ),
            ));
        }
        (false, _) => {
            return Err((
                format!("{side_at}.spec.query"),
                format!(
                    "`{query}` selects good events: put it under `good:`, or its complement \
                     under `bad:`"
                ),
            ));
        }
    };
    Ok(MappedSli {
        selection,
        indicator,
    })
}

fn map_threshold(
    threshold: &MetricSpec,
    objective: &Objective,
    docs: &Documents,
    at: &str,
    objective_at: &str,
) -> Result<MappedSli, Note> {
    let at = format!("{at}.metricSource");
    let source = leaf(threshold, docs, &at, "field: latency_ms")?;
    if source.query.is_some() {
        return Err((
            format!("{at}.spec.query"),
            "`query` belongs to a ratio source; a thresholdMetric source names \
             `field: latency_ms`"
                .into(),
        ));
    }
    match source.field.as_deref() {
        Some("latency_ms") => {}
        Some(other) => {
            return Err((
                format!("{at}.spec.field"),
                format!(
                    "`{other}` cannot be compared with a threshold: only `latency_ms` can \
                     (a latency SLO)"
                ),
            ));
        }
        None => {
            return Err((
                format!("{at}.spec.field"),
                "missing: a thresholdMetric source names `field: latency_ms`".into(),
            ));
        }
    }
    let (Some(op), Some(value)) = (objective.op.as_deref(), objective.value) else {
        return Err((
            objective_at.to_owned(),
            "a thresholdMetric objective needs `op` and `value`".into(),
        ));
    };
    if !(value.is_finite() && value >= 0.0) {
        return Err((
            format!("{objective_at}.value"),
            format!("must be a number of milliseconds >= 0, got {value}"),
        ));
    }
    let threshold_ms = match op {
        "lte" => value,
        // `latency_ms < N` is `latency_ms <= N'` for N' the largest double below N, exactly,
        // since latencies are doubles too.
        "lt" if value > 0.0 => value.next_down(),
        "lt" => {
            return Err((
                format!("{objective_at}.value"),
                "`lt 0`: no latency is below 0 ms".into(),
            ));
        }
        "gte" | "gt" => {
            return Err((
                format!("{objective_at}.op"),
                format!(
                    "`{op}` counts slow requests as good; a slipstream latency SLO counts a \
                     request good when latency_ms <= threshold: use `lte` (or `lt`)"
                ),
            ));
        }
        other => {
            return Err((
                format!("{objective_at}.op"),
                format!("`{other}` is not an operator: use `lte` or `lt`"),
            ));
        }
    };
    Ok(MappedSli {
        selection: selection(&source),
        indicator: Indicator::Latency { threshold_ms },
    })
}

fn selection(source: &SlipstreamSpec) -> Selection {
    Selection {
        service: source.service.clone(),
        route: source.route.clone(),
        selector: source.selector.clone(),
    }
}

/// The `spec` of a leaf's source, if the source is of `type: slipstream` (directly or
/// through a DataSource); `example` is the spec the refusal suggests.
fn leaf(
    metric: &MetricSpec,
    docs: &Documents,
    at: &str,
    example: &str,
) -> Result<SlipstreamSpec, Note> {
    let source = &metric.metric_source;
    let via_ref = match &source.metric_source_ref {
        None => None,
        Some(name) => match docs.data_sources.get(name) {
            Some(ds) => Some(ds.spec.source_type.as_str()),
            None => {
                return Err((
                    format!("{at}.metricSourceRef"),
                    format!("DataSource `{name}` is not in the input"),
                ));
            }
        },
    };
    let source_type = match (source.source_type.as_deref(), via_ref) {
        (Some(own), Some(referenced)) if !own.eq_ignore_ascii_case(referenced) => {
            return Err((
                format!("{at}.type"),
                format!("`{own}` differs from the type `{referenced}` of its DataSource"),
            ));
        }
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => {
            return Err((
                format!("{at}.type"),
                "missing, and no `metricSourceRef`: name `type: slipstream`".into(),
            ));
        }
    };
    if !source_type.eq_ignore_ascii_case("slipstream") {
        return Err((
            format!("{at}.type"),
            format!(
                "a `{source_type}` source cannot be mapped: slipstream reads gateway events, not \
                 queries; rewrite it as `metricSource: {{ type: slipstream, spec: {{ {example} }} }}` \
                 (docs/openslo.md)"
            ),
        ));
    }
    if source.spec.is_null() {
        return Ok(SlipstreamSpec::default());
    }
    serde_path_to_error::deserialize(&source.spec).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            format!("{at}.spec")
        } else {
            format!("{at}.spec.{path}")
        };
        (field, e.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_parse_exactly_the_two_indicators() {
        use Predicate::*;
        for (text, want) in [
            ("status < 500", StatusBelow500),
            ("status<500", StatusBelow500),
            (" status >= 500 ", StatusAtLeast500),
            ("latency_ms <= 300", LatencyAtMost(300.0)),
            ("latency_ms > 250.5", LatencyAbove(250.5)),
            ("all", All),
            ("", All),
        ] {
            assert_eq!(parse_predicate(Some(text)), Ok(want), "{text}");
        }
        assert_eq!(parse_predicate(None), Ok(All));
        for bad in [
            "status < 400",
            "status >= 400",
            "latency_ms < 300",
            "latency_ms >= 300",
            "latency_ms <= -1",
            "route = /pay",
            "sum(rate(x[5m]))",
            "status <",
        ] {
            assert!(parse_predicate(Some(bad)).is_err(), "{bad}");
        }
    }
}

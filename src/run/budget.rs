//! `GET /api/v1/slos/{name}/budget`: a deploy pipeline's "may I ship?", answered from a
//! report (docs/budgets.md). Pure: [`select`] checks the request against the config,
//! [`answer`] reads the report; the HTTP handler in `api` only evaluates and wraps.
//!
//! The rule: 200 when no selected series' budget-policy action blocks deploys, 409 when
//! one does. Every way the question can be wrong (an unknown SLO, an unknown label, a
//! selection that matches no series) is an error status, never a 200: a typo in a
//! pipeline must not let a deploy through.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::config::{Composite, Slo, Span};
use crate::decode::timestamp::format_rfc3339;
use crate::report::{Pairs, Report, SeriesReport};

/// Why a question has no answer, each with its HTTP status in [`Refusal::status`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no SLO is named `{name}`; the SLOs are: {known}")]
    UnknownSlo { name: String, known: String },
    #[error(
        "`{label}` is not a label of the series of SLO `{slo}` ({known}); query parameters \
         other than `at` select series by label value"
    )]
    UnknownLabel {
        slo: String,
        label: String,
        known: String,
    },
    #[error(
        "no series of SLO `{slo}` matches {selection} ({series} series at {at}): a label \
         value that does not exist, or no traffic yet; refusing rather than letting a \
         deploy through unchecked"
    )]
    NoSeries {
        slo: String,
        selection: String,
        series: usize,
        at: String,
    },
}

impl Refusal {
    /// 404 for what does not exist, 400 for a question that cannot be asked.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::UnknownSlo { .. } | Refusal::NoSeries { .. } => 404,
            Refusal::UnknownLabel { .. } => 400,
        }
    }
}

/// A checked question: the SLO (or composite), and per filtered label its position in
/// the series' labels and the values accepted (a label given twice accepts either value).
#[derive(Debug)]
pub struct Selection<'a> {
    slo: Target<'a>,
    filters: Vec<(usize, Vec<&'a str>)>,
    /// `label=value` as asked, for messages.
    asked: String,
}

/// What the answer says of the SLO or composite asked about.
#[derive(Debug)]
struct Target<'a> {
    name: &'a str,
    objective: f64,
    window: Span,
}

/// Checks `name` and the label filters against the config, before anything is
/// evaluated. `label_names[i]` are the labels of the series of `slos[i]`; a composite
/// has one series, without labels.
pub fn select<'a>(
    slos: &'a [Slo],
    label_names: &'a [Vec<String>],
    composites: &'a [Composite],
    name: &str,
    filters: &'a [(String, String)],
) -> Result<Selection<'a>, Refusal> {
    let target = |name, objective, window| Target {
        name,
        objective,
        window,
    };
    let found = match slos.iter().position(|s| s.name == name) {
        Some(i) => {
            let s = &slos[i];
            Some((target(&s.name, s.objective, s.window), &label_names[i][..]))
        }
        None => composites
            .iter()
            .find(|c| c.name == name)
            .map(|c| (target(&c.name, c.objective, c.window), &[][..])),
    };
    let Some((slo, names)) = found else {
        let slo_names = slos.iter().map(|s| s.name.as_str());
        let known: Vec<&str> = slo_names
            .chain(composites.iter().map(|c| c.name.as_str()))
            .collect();
        return Err(Refusal::UnknownSlo {
            name: name.to_owned(),
            known: known.join(", "),
        });
    };
    let mut by_label: Vec<(usize, Vec<&str>)> = Vec::new();
    for (label, value) in filters {
        let Some(position) = names.iter().position(|n| n == label) else {
            let known = if names.is_empty() {
                "it has no labels: ask without label filters".to_owned()
            } else {
                format!("its labels: {}", names.join(", "))
            };
            return Err(Refusal::UnknownLabel {
                slo: slo.name.to_owned(),
                label: label.clone(),
                known,
            });
        };
        match by_label.iter_mut().find(|(p, _)| *p == position) {
            Some((_, values)) => values.push(value),
            None => by_label.push((position, vec![value.as_str()])),
        }
    }
    let asked: Vec<String> = filters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(Selection {
        slo,
        filters: by_label,
        asked: if asked.is_empty() {
            "(every series)".to_owned()
        } else {
            asked.join(" ")
        },
    })
}

/// The answer to a checked question: `Ok((may_ship, body))`.
pub fn answer<'a>(
    selection: &Selection<'a>,
    report: &'a Report,
) -> Result<(bool, Answer<'a>), Refusal> {
    let slo = &selection.slo;
    let of_slo = report.slos.iter().filter(|s| s.name == slo.name);
    let series: Vec<&SeriesReport> = of_slo
        .clone()
        .filter(|s| {
            selection
                .filters
                .iter()
                .all(|(i, values)| values.contains(&s.labels[*i].1.as_str()))
        })
        .collect();
    // Series are reported in order: the first of the worst wins a tie.
    let Some(worst) = series
        .iter()
        .rev()
        .max_by_key(|s| s.budget_policy.severity())
    else {
        return Err(Refusal::NoSeries {
            slo: slo.name.to_owned(),
            selection: selection.asked.clone(),
            series: of_slo.count(),
            at: format_rfc3339(report.at_ms),
        });
    };
    let blocking: Vec<&SeriesReport> = series
        .iter()
        .copied()
        .filter(|s| s.budget_policy.blocks_deploys())
        .collect();
    let may_ship = blocking.is_empty();
    Ok((
        may_ship,
        Answer {
            slo: slo.name,
            at: format_rfc3339(report.at_ms),
            objective: slo.objective,
            window: slo.window.to_string(),
            may_ship,
            action: worst.budget_policy.action(),
            blocking_series: blocking.iter().map(|s| Pairs(&s.labels)).collect(),
            series: series.into_iter().map(SeriesAnswer).collect(),
        },
    ))
}

/// The body of a 200 or a 409 (docs/budgets.md).
#[derive(Serialize)]
pub struct Answer<'a> {
    slo: &'a str,
    at: String,
    objective: f64,
    window: String,
    may_ship: bool,
    /// The action of the worst selected series.
    action: &'a str,
    blocking_series: Vec<Pairs<'a>>,
    series: Vec<SeriesAnswer<'a>>,
}

pub struct SeriesAnswer<'a>(&'a SeriesReport);

impl Serialize for SeriesAnswer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let series = self.0;
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("labels", &Pairs(&series.labels))?;
        m.serialize_entry("error_budget_remaining", &series.error_budget_remaining)?;
        m.serialize_entry("burn_rates", &BurnRates(series))?;
        m.serialize_entry("action", series.budget_policy.action())?;
        m.serialize_entry("description", series.budget_policy.description())?;
        m.serialize_entry("blocks_deploys", &series.budget_policy.blocks_deploys())?;
        m.end()
    }
}

/// Every reported window's burn rate, keyed by the window: `{"5m": 105.3, ...}`.
struct BurnRates<'a>(&'a SeriesReport);

impl Serialize for BurnRates<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.windows.len()))?;
        for w in &self.0.windows {
            m.serialize_entry(&w.window.to_string(), &w.burn_rate)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::Engine;

    const CONFIG: &str = r#"
events: { labels: [operator] }
slos:
  - name: pay
    service: checkout
    group_by: [operator]
    indicator: { type: availability }
    objective: 99
    window: 1d
  - name: all
    service: checkout
    indicator: { type: availability }
    objective: 90
    window: 1d
    budget_policy: []
composites:
  - { name: journey, objective: 99.9, window: 1d, components: [{ slo: pay, weight: 2 }, { slo: all }] }
"#;
    const AT: i64 = 1_795_262_400_000;

    /// eu-1: 1 bad of 100 against 99 %, the budget spent exactly (freeze); us-2: 100
    /// good.
    fn setup() -> (crate::config::Config, Vec<Vec<String>>, Report) {
        let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
        let mut engine = Engine::new(&config);
        let mut lines = Vec::new();
        for (operator, bad) in [("eu-1", 1), ("us-2", 0)] {
            for i in 0..100 {
                let status = if i < bad { 503 } else { 200 };
                lines.push(format!(
                    r#"{{"timestamp":{},"service":"checkout","status":{status},"latency_ms":5,"operator":"{operator}"}}"#,
                    AT - 60_000 + i
                ));
            }
        }
        engine.ingest_all(lines.iter().map(|l| l.as_bytes()));
        let report = engine.evaluate(AT).unwrap();
        let names = vec![vec!["operator".to_owned()], Vec::new()];
        (config, names, report)
    }

    fn ask(filters: &[(&str, &str)]) -> Result<(bool, serde_json::Value), Refusal> {
        let (config, names, report) = setup();
        let filters: Vec<(String, String)> = filters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let selection = select(&config.slos, &names, &config.composites, "pay", &filters)?;
        let (may_ship, body) = answer(&selection, &report)?;
        Ok((may_ship, serde_json::to_value(&body).unwrap()))
    }

    #[test]
    fn a_spent_budget_blocks_and_names_the_series() {
        let (may_ship, body) = ask(&[]).unwrap();
        assert!(!may_ship);
        assert_eq!(body["may_ship"], false);
        assert_eq!(body["action"], "freeze");
        assert_eq!(body["objective"], 0.99);
        assert_eq!(body["window"], "1d");
        assert_eq!(body["at"], "2026-11-21T12:00:00Z");
        assert_eq!(
            body["blocking_series"],
            serde_json::json!([{ "operator": "eu-1" }])
        );
        let series = body["series"].as_array().unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0]["labels"]["operator"], "eu-1");
        let left = series[0]["error_budget_remaining"].as_f64().unwrap();
        assert!(left.abs() < 1e-12, "{left}");
        assert_eq!(series[0]["burn_rates"]["1d"].as_f64().unwrap().round(), 1.0);
        assert_eq!(series[0]["blocks_deploys"], true);
        assert_eq!(series[1]["action"], "normal");
        assert_eq!(series[1]["burn_rates"]["5m"], 0.0);
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 8);

        // The healthy operator alone may ship.
        let (may_ship, body) = ask(&[("operator", "us-2")]).unwrap();
        assert!(may_ship);
        assert_eq!(body["action"], "normal");
        assert_eq!(body["blocking_series"], serde_json::json!([]));
        // A label given twice accepts either value.
        let (may_ship, body) = ask(&[("operator", "us-2"), ("operator", "eu-1")]).unwrap();
        assert!(!may_ship);
        assert_eq!(body["series"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_composite_is_asked_like_an_slo() {
        let (config, names, report) = setup();
        // 2 × 1 + 1 bad of 2 × 200 + 200 against 99.9 %: spent five times over.
        let journey = select(&config.slos, &names, &config.composites, "journey", &[]).unwrap();
        let (may_ship, body) = answer(&journey, &report).unwrap();
        assert!(!may_ship);
        assert_eq!(
            (body.slo, body.action, body.objective),
            ("journey", "freeze", 0.999)
        );
        assert_eq!(body.series.len(), 1);
        let filters = [("operator".to_owned(), "eu-1".to_owned())];
        let refused = select(
            &config.slos,
            &names,
            &config.composites,
            "journey",
            &filters,
        );
        assert_eq!(refused.unwrap_err().status(), 400);
    }

    #[test]
    fn every_wrong_question_is_refused() {
        let unknown_label = ask(&[("region", "eu")]).unwrap_err();
        assert_eq!(unknown_label.status(), 400);
        assert!(
            unknown_label.to_string().contains("`region`"),
            "{unknown_label}"
        );
        let typo = ask(&[("operator", "eu-9")]).unwrap_err();
        assert_eq!(typo.status(), 404);
        let message = typo.to_string();
        assert!(
            message.contains("operator=eu-9 (2 series at 2026-11-21T12:00:00Z)"),
            "{message}"
        );

        let (config, names, report) = setup();
        let none = select(&config.slos, &names, &config.composites, "nope", &[]).unwrap_err();
        assert_eq!(none.status(), 404);
        assert_eq!(
            none.to_string(),
            "no SLO is named `nope`; the SLOs are: pay, all, journey"
        );
        let filters = [("operator".to_owned(), "eu-1".to_owned())];
        let no_labels =
            select(&config.slos, &names, &config.composites, "all", &filters).unwrap_err();
        assert!(
            no_labels.to_string().contains("it has no labels"),
            "{no_labels}"
        );
        // An empty policy never blocks: 1 bad of 200 against 90 % is normal.
        let selection = select(&config.slos, &names, &config.composites, "all", &[]).unwrap();
        let (may_ship, body) = answer(&selection, &report).unwrap();
        assert!(may_ship);
        assert_eq!(body.action, "normal");
        // Before any traffic, no series: refused, not allowed.
        let empty = Engine::new(&config).evaluate(AT).unwrap();
        let refused = answer(&selection, &empty).map(|(may_ship, _)| may_ship);
        assert_eq!(refused.map_err(|e| e.status()), Err(404));
    }
}

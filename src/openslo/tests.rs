//! Unit tests of the OpenSLO import: one per mapping and per refusal. Inputs are short
//! flow-style OpenSLO documents; outputs are checked by loading them with slipstream's
//! own config loader.

use std::path::Path;

use super::*;
use crate::config::{self, Indicator};

mod alerting;
mod composites;
mod reading;

pub(super) const AVAILABILITY: &str = "{metadata: {name: sli}, spec: {ratioMetric: {good: \
    {metricSource: {type: slipstream, spec: {query: 'status < 500'}}}, total: {metricSource: \
    {type: slipstream, spec: {service: api}}}}}}";

pub(super) const LATENCY: &str = "{metadata: {name: sli}, spec: {thresholdMetric: \
    {metricSource: {type: slipstream, spec: {field: latency_ms}}}}}";

/// A ratio SLI with `side` (good or bad) `query`, over every event of service `api`.
fn ratio(side: &str, query: &str) -> String {
    format!(
        "{{metadata: {{name: sli}}, spec: {{ratioMetric: {{{side}: {{metricSource: {{type: \
         slipstream, spec: {{query: '{query}'}}}}}}, total: {{metricSource: {{type: slipstream, \
         spec: {{service: api}}}}}}}}}}}}"
    )
}

/// An SLO document: defaults (service api, availability, 28d rolling, Occurrences,
/// 99.9 %) with some `spec` fields replaced; an empty value removes the field.
pub(super) fn slo(name: &str, overrides: &[(&str, &str)]) -> String {
    let mut fields = vec![
        ("service", "api"),
        ("indicator", AVAILABILITY),
        ("timeWindow", "[{duration: 28d, isRolling: true}]"),
        ("budgetingMethod", "Occurrences"),
        ("objectives", "[{target: 0.999}]"),
    ];
    for &(key, value) in overrides {
        match fields.iter_mut().find(|f| f.0 == key) {
            Some(field) => field.1 = value,
            None => fields.push((key, value)),
        }
    }
    let spec: String = fields
        .iter()
        .filter(|f| !f.1.is_empty())
        .map(|(k, v)| format!("  {k}: {v}\n"))
        .collect();
    format!("---\napiVersion: openslo/v1\nkind: SLO\nmetadata: {{name: {name}}}\nspec:\n{spec}")
}

pub(super) fn run(yaml: &str) -> Import {
    import(yaml, Path::new("test.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// The output, loaded by slipstream (inputs without composites).
pub(super) fn loaded(import: &Import) -> config::Config {
    let yaml = import.yaml.as_deref().unwrap_or_else(|| {
        panic!("nothing mapped: {:#?}", import.warnings);
    });
    config::parse(yaml, Path::new("out.yaml")).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

pub(super) fn output(import: &Import) -> serde_json::Value {
    serde_saphyr::from_str(import.yaml.as_deref().expect("a config")).expect("YAML")
}

/// The warning about object `name` whose field contains `field`.
pub(super) fn warning<'a>(import: &'a Import, name: &str, field: &str) -> &'a Warning {
    import
        .warnings
        .iter()
        .find(|w| w.name == name && w.field.contains(field))
        .unwrap_or_else(|| panic!("no warning on {name} {field}: {:#?}", import.warnings))
}

/// `yaml` maps to nothing, with a warning on `name` at `field` containing `words`.
pub(super) fn refused(yaml: &str, name: &str, field: &str, words: &str) {
    let import = run(yaml);
    assert!(
        import.yaml.is_none(),
        "{name} should not map: {:?}",
        import.yaml
    );
    let w = warning(&import, name, field);
    assert!(w.message.contains(words), "{w}");
    assert!(w.message.contains("not mapped"), "{w}");
}

#[test]
fn ratio_good_and_bad_map_onto_both_indicators() {
    for (side, query, want) in [
        ("good", "status < 500", Indicator::Availability),
        ("bad", "status >= 500", Indicator::Availability),
        (
            "good",
            "latency_ms <= 300",
            Indicator::Latency {
                threshold_ms: 300.0,
            },
        ),
        (
            "bad",
            "latency_ms > 250.5",
            Indicator::Latency {
                threshold_ms: 250.5,
            },
        ),
    ] {
        let import = run(&slo("s", &[("indicator", &ratio(side, query))]));
        let config = loaded(&import);
        let s = &config.slos[0];
        assert_eq!(
            (s.name.as_str(), s.indicator),
            ("s", want),
            "{side} {query}"
        );
        assert_eq!(s.service, config::ServiceMatch::Exact("api".into()));
        assert_eq!(s.objective, 0.999);
        assert_eq!(s.window.to_string(), "28d");
        assert!(import.warnings.is_empty(), "{:#?}", import.warnings);
    }
}

#[test]
fn ratio_refusals_say_why() {
    let cases = [
        (
            ratio("good", "status >= 500"),
            "good.metricSource.spec.query",
            "put it under `bad:`",
        ),
        (
            ratio("bad", "status < 500"),
            "bad.metricSource.spec.query",
            "put it under `good:`",
        ),
        (
            ratio("good", "status < 400"),
            "good.metricSource.spec.query",
            "status splits",
        ),
        (
            ratio("good", "all"),
            "good.metricSource.spec.query",
            "needs a predicate",
        ),
        (
            ratio("good", "sum(rate(x[5m]))"),
            "spec.query",
            "not a slipstream predicate",
        ),
    ];
    for (indicator, field, words) in cases {
        refused(&slo("s", &[("indicator", &indicator)]), "s", field, words);
    }
    let total_filtered =
        AVAILABILITY.replace("service: api", "service: api, query: 'status < 500'");
    refused(
        &slo("s", &[("indicator", &total_filtered)]),
        "s",
        "total",
        "every selected event",
    );
    let other_service = AVAILABILITY.replace(
        "{query: 'status < 500'}",
        "{service: web, query: 'status < 500'}",
    );
    refused(
        &slo("s", &[("indicator", &other_service)]),
        "s",
        "good.metricSource.spec",
        "different events",
    );
    let raw = "{metadata: {name: sli}, spec: {ratioMetric: {rawType: success, raw: {metricSource: \
               {type: slipstream, spec: {query: all}}}}}}";
    refused(
        &slo("s", &[("indicator", raw)]),
        "s",
        "ratioMetric.raw",
        "not pre-aggregated",
    );
}

#[test]
fn the_numerator_may_repeat_the_selection_of_total() {
    let same = AVAILABILITY.replace(
        "{query: 'status < 500'}",
        "{service: api, query: 'status < 500'}",
    );
    let config = loaded(&run(&slo("s", &[("indicator", &same)])));
    assert_eq!(config.slos[0].indicator, Indicator::Availability);
}

#[test]
fn threshold_lte_and_lt_map_exactly() {
    let config = loaded(&run(&slo(
        "s",
        &[
            ("indicator", LATENCY),
            ("objectives", "[{op: lte, value: 300, target: 0.99}]"),
        ],
    )));
    assert_eq!(
        config.slos[0].indicator,
        Indicator::Latency {
            threshold_ms: 300.0
        }
    );
    // `lt 300`: the largest double below 300, and it survives the YAML round trip.
    let config = loaded(&run(&slo(
        "s",
        &[
            ("indicator", LATENCY),
            ("objectives", "[{op: lt, value: 300, target: 0.99}]"),
        ],
    )));
    let indicator = config.slos[0].indicator;
    assert_eq!(
        indicator,
        Indicator::Latency {
            threshold_ms: 300f64.next_down()
        }
    );
    assert!(!indicator.is_good(200, 300.0));
    assert!(indicator.is_good(200, 299.9999999));
}

#[test]
fn threshold_refusals_say_why() {
    let objective = |o: &'static str| slo("s", &[("indicator", LATENCY), ("objectives", o)]);
    refused(
        &objective("[{op: gte, value: 300, target: 0.99}]"),
        "s",
        "objectives[0].op",
        "use `lte`",
    );
    refused(
        &objective("[{op: lt, value: 0, target: 0.99}]"),
        "s",
        "objectives[0].value",
        "below 0",
    );
    refused(
        &objective("[{target: 0.99}]"),
        "s",
        "objectives[0]",
        "needs `op` and `value`",
    );
    let status = LATENCY.replace("latency_ms", "status");
    refused(
        &slo(
            "s",
            &[
                ("indicator", &status),
                ("objectives", "[{op: lte, value: 499, target: 0.99}]"),
            ],
        ),
        "s",
        "spec.field",
        "only `latency_ms`",
    );
}

#[test]
fn other_sources_must_be_rewritten_as_slipstream() {
    let prometheus = AVAILABILITY.replace("type: slipstream", "type: Prometheus");
    refused(
        &slo("s", &[("indicator", &prometheus)]),
        "s",
        "good.metricSource.type",
        "rewrite it as `metricSource: { type: slipstream, spec: { query: \"status < 500\" } }`",
    );
    // Through a DataSource of type slipstream.
    let via_ref = AVAILABILITY.replace("type: slipstream", "metricSourceRef: events");
    let data_source = "---\napiVersion: openslo/v1\nkind: DataSource\nmetadata: {name: events}\nspec: {type: slipstream}\n";
    let config = loaded(&run(&format!(
        "{data_source}{}",
        slo("s", &[("indicator", &via_ref)])
    )));
    assert_eq!(config.slos[0].indicator, Indicator::Availability);
    refused(
        &slo("s", &[("indicator", &via_ref)]),
        "s",
        "metricSourceRef",
        "DataSource `events`",
    );
    let typo = AVAILABILITY.replace("service: api", "serivce: api");
    refused(
        &slo("s", &[("indicator", &typo)]),
        "s",
        "total.metricSource.spec",
        "unknown field `serivce`",
    );
}

#[test]
fn windows_map_when_rolling_and_exact() {
    let window = |w: &'static str| slo("s", &[("timeWindow", w)]);
    let config = loaded(&run(&window("[{duration: 4w, isRolling: true}]")));
    assert_eq!(config.slos[0].window.to_string(), "28d");
    let config = loaded(&run(&window("[{duration: 90m, isRolling: true}]")));
    assert_eq!(config.slos[0].window.secs(), 5400);
    refused(
        &window("[{duration: 1M, isRolling: true}]"),
        "s",
        "duration",
        "no fixed length",
    );
    refused(
        &window("[{duration: 1Q, isRolling: true}]"),
        "s",
        "duration",
        "no fixed length",
    );
    refused(
        &window("[{duration: 14w, isRolling: true}]"),
        "s",
        "duration",
        "longest window",
    );
    refused(
        &window(
            "[{duration: 1w, isRolling: false, calendar: {startTime: '2026-01-01 00:00:00', timeZone: UTC}}]",
        ),
        "s",
        "timeWindow[0]",
        "slipstream windows are rolling",
    );
    refused(
        &slo("s", &[("timeWindow", "")]),
        "s",
        "timeWindow",
        "needs the SLO window",
    );
    let import = run(&window("[{duration: 7d}]"));
    assert_eq!(loaded(&import).slos[0].window.to_string(), "7d");
    assert!(
        warning(&import, "s", "isRolling")
            .message
            .contains("taken as a rolling window")
    );
}

#[test]
fn only_occurrences_budgeting_maps() {
    for method in ["Timeslices", "RatioTimeslices"] {
        refused(
            &slo("s", &[("budgetingMethod", method)]),
            "s",
            "budgetingMethod",
            "Occurrences",
        );
    }
    refused(
        &slo("s", &[("budgetingMethod", "Sometimes")]),
        "s",
        "budgetingMethod",
        "is not",
    );
}

#[test]
fn objectives_become_one_slo_each() {
    let import = run(&slo(
        "s",
        &[(
            "objectives",
            "[{displayName: Fast & Stable!, target: 0.99}, {targetPercent: 99.95}, {target: 0}]",
        )],
    ));
    let config = loaded(&import);
    let got: Vec<(&str, f64)> = config
        .slos
        .iter()
        .map(|s| (s.name.as_str(), s.objective))
        .collect();
    assert_eq!(got, [("s-fast-stable", 0.99), ("s-1", 0.9995)]);
    let w = warning(&import, "s", "objectives[2].target");
    assert!(
        w.message.contains("above 0 and below 100") && w.message.ends_with("objective not mapped"),
        "{w}"
    );
    refused(
        &slo("s", &[("objectives", "[{target: 0.9, targetPercent: 90}]")]),
        "s",
        "objectives[0]",
        "exactly one",
    );
}

#[test]
fn names_stay_unique() {
    let yaml = format!(
        "{}{}",
        slo("a-b", &[]),
        slo(
            "a",
            &[(
                "objectives",
                "[{displayName: b, target: 0.99}, {target: 0.9}]"
            )]
        )
    );
    let import = run(&yaml);
    let names: Vec<String> = loaded(&import).slos.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a-b", "a-1"]);
    assert!(
        warning(&import, "a", "objectives[0]")
            .message
            .contains("name `a-b` is taken")
    );
}

#[test]
fn metadata_without_a_slipstream_field_is_reported_once_per_slo() {
    let yaml = slo(
        "s",
        &[
            ("objectives", "[{target: 0.99}, {target: 0.9}]"),
            ("description", "d"),
        ],
    )
    .replace(
        "metadata: {name: s}",
        "metadata: {name: s, displayName: S, labels: {team: [a, b]}, annotations: {x.io/y: z}}",
    );
    let import = run(&yaml);
    assert_eq!(import.warnings.len(), 1, "{:#?}", import.warnings);
    let w = &import.warnings[0];
    assert_eq!(
        w.field,
        "metadata.displayName, metadata.labels, metadata.annotations, spec.description"
    );
    assert_eq!(loaded(&import).slos.len(), 2);
}

#[test]
fn the_sources_service_route_and_labels_select_the_events() {
    let indicator = AVAILABILITY.replace(
        "service: api",
        "service: payments, route: /pay, selector: {region: eu, consumer.tier: gold}",
    );
    let import = run(&slo("s", &[("indicator", &indicator)]));
    let out = output(&import);
    assert_eq!(
        out["events"]["labels"],
        serde_json::json!(["consumer.tier", "region"])
    );
    assert_eq!(
        out["slos"][0]["selector"],
        serde_json::json!({"consumer_tier": "gold", "region": "eu", "route": "/pay"})
    );
    let config = loaded(&import);
    assert_eq!(
        config.slos[0].service,
        config::ServiceMatch::Exact("payments".into())
    );
    assert_eq!(config.slos[0].selector.len(), 3);
    assert!(
        warning(&import, "s", "spec.service")
            .message
            .contains("`payments`")
    );
    let service_in_selector = AVAILABILITY.replace("service: api", "selector: {service: x}");
    refused(
        &slo("s", &[("indicator", &service_in_selector)]),
        "s",
        "selector.service",
        "`service:`",
    );
}

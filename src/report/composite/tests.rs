//! Composite sums on hand-made series: weights, every series of a component, the
//! windows only alert rules read, and the JSON entry.

use std::path::Path;

use crate::config::{self, Config, Span};
use crate::report::SeriesReport;
use crate::report::fixtures::series;

const H: Span = Span::HOUR;
const D: Span = Span::DAY;

/// A config whose only composite is `journey`, with these alert rules.
fn config(alerts: &str) -> Config {
    let text = format!(
        r#"
windows: [1h]
slos:
  - {{ name: pay, service: pay, group_by: [route], indicator: {{ type: availability }}, objective: 99.9, window: 1d }}
  - {{ name: cart, service: cart, indicator: {{ type: availability }}, objective: 99.9, window: 1d }}
  - {{ name: other, service: other, indicator: {{ type: availability }}, objective: 99.9, window: 1d }}
composites:
  - {{ name: journey, objective: 99, window: 1d, components: [{{ slo: pay, weight: 2 }}, {{ slo: cart }}], alerts: {alerts} }}
"#
    );
    config::parse(&text, Path::new("c.yaml")).unwrap()
}

fn evaluate(config: &Config, slos: &[SeriesReport]) -> Option<SeriesReport> {
    super::evaluate(&config.composites[0], slos, &config.objective_ladder)
}

#[test]
fn sums_every_series_of_every_component_with_its_weight() {
    let journey = config("{ page: off, ticket: off }");
    let slos = [
        series("pay", &[("route", "a")], &[(H, 90, 100), (D, 900, 1000)]),
        series("pay", &[("route", "b")], &[(H, 10, 10), (D, 95, 100)]),
        series("cart", &[], &[(H, 48, 50), (D, 480, 500)]),
        series("other", &[], &[(H, 0, 1000), (D, 0, 1000)]),
    ];
    let c = evaluate(&journey, &slos).expect("components have series");
    assert_eq!((c.name.as_str(), c.labels.len()), ("journey", 0));
    let counts: Vec<(Span, u64, u64)> = c
        .windows
        .iter()
        .map(|w| (w.window, w.good, w.total))
        .collect();
    assert_eq!(
        counts,
        [
            (H, 2 * (90 + 10) + 48, 2 * (100 + 10) + 50),
            (D, 2 * (900 + 95) + 480, 2 * (1000 + 100) + 500),
        ]
    );
    // A bad event of `pay` costs two: 2 × 105 + 20 = 230 bad of 2700 in the day.
    let day = &c.windows[1];
    assert_eq!(day.total - day.good, 230);
    assert_eq!(day.sli, Some(2470.0 / 2700.0));
    let budget = c.error_budget_remaining.unwrap();
    assert!(
        (budget - (1.0 - 230.0 / (0.01 * 2700.0))).abs() < 1e-12,
        "{budget}"
    );
    assert_eq!((c.lifetime.total, c.lifetime.good), (2700, 2470));
    // Baseline and budget policy from the composite's own window and objective: the
    // top-level policy's `freeze` once its budget is spent.
    assert_eq!(c.baseline.achieved, Some(2470.0 / 2700.0));
    assert_eq!(c.budget_policy.action(), "freeze");
    // Percentiles: null where an SLO would have them (up to 1h), absent beyond.
    assert_eq!(c.windows[0].latency_ms, Some(None));
    assert_eq!(c.windows[1].latency_ms, None);
    assert!(c.alert_windows.is_empty());

    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["composite"],
        serde_json::json!({ "components": [{ "slo": "pay", "weight": 2 }, { "slo": "cart", "weight": 1 }] })
    );
    assert_eq!(json["windows"]["1d"]["total"], 2700);
    assert_eq!(
        json["windows"]["1h"]["latency_ms"]["p99"],
        serde_json::Value::Null
    );
}

#[test]
fn reads_the_windows_of_its_own_alert_rules() {
    let journey = config("{ page: [{ long: 2h, short: 10m, burn_rate: 10 }], ticket: off }");
    let (m10, h2) = (Span::from_secs(600), Span::from_secs(7200));
    let window = |g, t| [(m10, g, t), (H, g, t), (h2, g, t), (D, g, t)];
    let slos = [series("cart", &[], &window(5, 10))];
    let c = evaluate(&journey, &slos).unwrap();
    let reported: Vec<Span> = c.windows.iter().map(|w| w.window).collect();
    assert_eq!(reported, [H, D]);
    let read: Vec<(Span, u64)> = c
        .alert_windows
        .iter()
        .map(|w| (w.window, w.total))
        .collect();
    assert_eq!(read, [(m10, 10), (h2, 10)]);
    let burn = c.window(h2).unwrap().burn_rate.unwrap();
    assert!((burn - 50.0).abs() < 1e-9, "{burn}");
}

#[test]
fn no_component_series_no_composite_series() {
    let journey = config("{ page: off, ticket: off }");
    let slos = [series("other", &[], &[(H, 1, 1), (D, 1, 1)])];
    assert_eq!(evaluate(&journey, &slos), None);
}

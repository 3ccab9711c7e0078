//! The `composites` and `rollups` sections: what is accepted, the windows components
//! keep, and one test per kind of error, each naming the field.

use std::path::Path;

use crate::config::{Config, Span, parse};

const BASE: &str = r#"
events: { labels: [operator] }
slos:
  - { name: pay, service: pay, indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: cart, service: cart, indicator: { type: availability }, objective: 99.9, window: 7d }
  - { name: auth, service: auth, group_by: [operator], indicator: { type: latency, threshold_ms: 300 }, objective: 99, window: 30d }
  - { name: fleet, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.5, window: 7d }
"#;

fn load(extra: &str) -> Result<Config, String> {
    parse(&format!("{BASE}{extra}"), Path::new("c.yaml")).map_err(|e| e.to_string())
}

fn error(extra: &str) -> String {
    load(extra).expect_err("the config should be refused")
}

#[test]
fn a_journey_and_a_rollup_are_accepted_with_their_defaults() {
    let config = load(
        r#"
composites:
  - name: journey
    objective: 99.5
    window: 30d
    components: [{ slo: pay, weight: 2 }, { slo: cart }, { slo: auth }]
rollups:
  - { name: by-operator, slo: auth, by: operator }
  - { name: by-service, slo: fleet, by: service, top_k: 3, rank_window: 1d }
"#,
    )
    .unwrap();
    let journey = &config.composites[0];
    assert_eq!(journey.objective, 0.995);
    let weights: Vec<(&str, u64)> = journey
        .components
        .iter()
        .map(|c| (c.slo.as_str(), c.weight))
        .collect();
    assert_eq!(weights, [("pay", 2), ("cart", 1), ("auth", 1)]);
    assert_eq!(journey.windows.last(), Some(&Span::from_secs(30 * 86_400)));
    // The default alert rules, scaled to the composite's 30d window.
    assert_eq!(journey.alerts.rules.len(), 4);

    let r = &config.rollups[0];
    assert_eq!((r.top_k, r.rank_window, r.objective), (10, r.window, 0.99));
    assert_eq!(config.rollups[1].top_k, 3);
    assert_eq!(config.rollups[1].rank_window, Span::DAY);
}

#[test]
fn components_keep_the_composite_window_without_reporting_it() {
    let config = load(
        r#"
composites:
  - { name: journey, objective: 99, window: 30d, components: [{ slo: cart }] }
"#,
    )
    .unwrap();
    let cart = &config.slos[1];
    let month = Span::from_secs(30 * 86_400);
    assert!(
        !cart.windows.contains(&month),
        "reported: {:?}",
        cart.windows
    );
    assert_eq!(cart.composite_windows, [month]);
    assert!(cart.engine_windows().contains(&month));
    // `pay` keeps its 30d anyway, and is no component: nothing added.
    assert!(config.slos[0].composite_windows.is_empty());
}

#[test]
fn a_composite_with_a_short_window_adds_its_scaled_alert_windows() {
    let config = load(
        r#"
composites:
  - { name: quick, objective: 99, window: 1d, components: [{ slo: pay }] }
"#,
    )
    .unwrap();
    let pay = &config.slos[0];
    // The workbook's 1h/5m page rule scaled to 1d: 2m and... at least a minute.
    for w in config.composites[0].alerts.windows() {
        assert!(pay.engine_windows().contains(&w), "{w} not kept");
    }
    assert!(pay.composite_windows.contains(&Span::from_secs(120)));
}

#[test]
fn composite_errors_name_the_field() {
    for (extra, field, words) in [
        (
            "composites: [{ name: pay, objective: 99, window: 30d, components: [{ slo: cart }] }]",
            "composites[0].name",
            "same name",
        ),
        (
            "composites: [{ name: j, objective: 100, window: 30d, components: [{ slo: cart }] }]",
            "composites[0].objective",
            "below 100",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 1w, components: [{ slo: cart }] }]",
            "composites[0].window",
            "unit `w`",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [] }]",
            "composites[0].components",
            "at least one",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: nope }] }]",
            "composites[0].components[0].slo",
            "no SLO is named `nope`",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: j }] }]",
            "composites[0].components[0].slo",
            "cannot contain itself",
        ),
        (
            "composites: [{ name: a, objective: 99, window: 30d, components: [{ slo: b }] }, \
             { name: b, objective: 99, window: 30d, components: [{ slo: pay }] }]",
            "composites[0].components[0].slo",
            "composites of composites are not supported",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: pay, weight: 0 }] }]",
            "composites[0].components[0].weight",
            "from 1 to 1000000",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: pay }, { slo: pay }] }]",
            "composites[0].components[1].slo",
            "listed twice",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: pay }], \
             alerts: { page: [{ long: 40d, short: 1h, burn_rate: 2 }] } }]",
            "composites[0].alerts.page[0].long",
            "longer than the SLO window",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: pay, wieght: 2 }] }]",
            "composites[0].components[0].wieght",
            "unknown field",
        ),
    ] {
        let message = error(extra);
        assert!(
            message.contains(field) && message.contains(words),
            "`{field}` and `{words}` not in: {message}"
        );
    }
    assert!(
        error("composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: nope }] }]")
            .contains("slo `j`")
    );
}

#[test]
fn rollup_errors_name_the_field() {
    for (extra, field, words) in [
        (
            "rollups: [{ name: r, slo: nope, by: operator }]",
            "rollups[0].slo",
            "no SLO is named `nope`",
        ),
        (
            "composites: [{ name: j, objective: 99, window: 30d, components: [{ slo: pay }] }]\n\
             rollups: [{ name: r, slo: j, by: operator }]",
            "rollups[0].slo",
            "is a composite",
        ),
        (
            "rollups: [{ name: r, slo: pay, by: operator }]",
            "rollups[0].by",
            "has one series",
        ),
        (
            "rollups: [{ name: r, slo: auth, by: region }]",
            "rollups[0].by",
            "its labels are operator",
        ),
        (
            "rollups: [{ name: r, slo: fleet, by: route, top_k: 0 }]",
            "rollups[0].top_k",
            "from 1 to 1000",
        ),
        (
            "rollups: [{ name: r, slo: fleet, by: route, top_k: 1001 }]",
            "rollups[0].top_k",
            "from 1 to 1000",
        ),
        (
            "rollups: [{ name: r, slo: fleet, by: route, rank_window: 4h }]",
            "rollups[0].rank_window",
            "use one of 5m, 30m, 1h, 2h, 6h, 1d, 3d, 7d",
        ),
        (
            "rollups: [{ name: r, slo: auth, by: operator, rank_window: 30d }, \
             { name: r, slo: auth, by: operator }]",
            "rollups[1].name",
            "another roll-up is named `r`",
        ),
    ] {
        let message = error(extra);
        assert!(
            message.contains(field) && message.contains(words),
            "`{field}` and `{words}` not in: {message}"
        );
    }
}

#[test]
fn a_series_label_named_like_a_rollup_metric_label_is_refused() {
    let text = r#"
events: { labels: [rank] }
slos:
  - { name: s, service: x, group_by: [rank], indicator: { type: availability }, objective: 99, window: 1d }
rollups: [{ name: r, slo: s, by: rank }]
"#;
    let message = parse(text, Path::new("c.yaml")).unwrap_err().to_string();
    assert!(
        message.contains("rollups[0].slo") && message.contains("label `rank`"),
        "{message}"
    );
}

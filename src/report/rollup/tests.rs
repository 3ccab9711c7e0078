//! Roll-ups on hand-made series: groups, the ecosystem, the `""` and `__overflow__`
//! groups, the ranking and its ties, and the JSON shape.

use super::evaluate;
use crate::config::{Rollup, Span};
use crate::report::fixtures::series;

const H: Span = Span::HOUR;
const D: Span = Span::DAY;

fn rollup(top_k: usize, rank_window: Span) -> Rollup {
    Rollup {
        name: "by-operator".into(),
        slo: "pay".into(),
        by: "operator".into(),
        top_k,
        rank_window,
        objective: 0.99,
        window: D,
        windows: vec![H, D],
    }
}

fn pay(
    service: &str,
    operator: &str,
    hour: (u64, u64),
    day: (u64, u64),
) -> crate::report::SeriesReport {
    let labels = [("service", service), ("operator", operator)];
    series("pay", &labels, &[(H, hour.0, hour.1), (D, day.0, day.1)])
}

#[test]
fn groups_sum_their_series_and_the_ecosystem_sums_all() {
    let slos = [
        pay("a", "op-1", (90, 100), (990, 1000)),
        pay("b", "op-1", (10, 10), (100, 100)),
        pay("a", "op-2", (50, 50), (400, 500)),
        pay("a", "", (1, 2), (1, 2)),
        pay("__overflow__", "__overflow__", (3, 3), (3, 3)),
        series("other", &[("operator", "op-1")], &[(H, 0, 9), (D, 0, 9)]),
    ];
    let r = evaluate(&rollup(10, D), &slos);
    let groups: Vec<(&str, Vec<(u64, u64)>)> = r
        .groups
        .iter()
        .map(|g| {
            let counts = g
                .aggregate
                .windows
                .iter()
                .map(|w| (w.good, w.total))
                .collect();
            (g.value.as_str(), counts)
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("", vec![(1, 2), (1, 2)]),
            ("__overflow__", vec![(3, 3), (3, 3)]),
            ("op-1", vec![(100, 110), (1090, 1100)]),
            ("op-2", vec![(50, 50), (400, 500)]),
        ]
    );
    let eco: Vec<(u64, u64)> = r
        .ecosystem
        .windows
        .iter()
        .map(|w| (w.good, w.total))
        .collect();
    assert_eq!(eco, [(154, 165), (1494, 1605)]);
    let op2 = &r.groups[3].aggregate;
    assert_eq!(
        op2.error_budget_remaining,
        crate::report::error_budget_remaining(400, 500, 0.99)
    );
    assert!((op2.windows[1].burn_rate.unwrap() - 20.0).abs() < 1e-9);
}

#[test]
fn ranks_by_share_of_own_budget_then_bad_then_labels() {
    // Budget over the day: 1 % of its total. Burned in the last hour:
    // x: 10 bad of an allowance of 10 → 1.0; y: 20 of 20 → 1.0 (more bad: before x);
    // z: 5 of 1 → 5.0 (first); w and v: 1 of 10 → 0.1 (tie: by labels); u: no bad.
    let slos = [
        pay("x", "o", (0, 10), (0, 1000)),
        pay("y", "o", (0, 20), (0, 2000)),
        pay("z", "o", (0, 5), (0, 100)),
        pay("w", "o", (0, 1), (0, 1000)),
        pay("v", "o", (0, 1), (0, 1000)),
        pay("u", "o", (7, 7), (0, 1000)),
    ];
    let ranked = |k| {
        let r = evaluate(&rollup(k, H), &slos);
        assert_eq!(r.top.window, H);
        r.top
            .entries
            .iter()
            .map(|e| (e.labels[0].1.clone(), e.bad, e.budget_burned))
            .collect::<Vec<_>>()
    };
    let all = ranked(10);
    let names: Vec<&str> = all.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["z", "y", "x", "v", "w"]);
    assert_eq!(all[0].1, 5);
    assert!((all[0].2 - 5.0).abs() < 1e-9, "{}", all[0].2);
    assert_eq!(ranked(2), all[..2]);
    assert_eq!(ranked(1), all[..1]);
}

#[test]
fn json_has_the_contract_shape() {
    use crate::report::{burn_rate, error_budget_remaining};
    let slos = [pay("a", "op-1", (9, 10), (99, 100))];
    let report = evaluate(&rollup(10, H), &slos);
    let json = serde_json::to_value(&report).unwrap();
    let windows = serde_json::json!([
        { "window": "1h", "good": 9, "total": 10, "sli": 0.9, "burn_rate": burn_rate(9, 10, 0.99) },
        { "window": "1d", "good": 99, "total": 100, "sli": 0.99, "burn_rate": burn_rate(99, 100, 0.99) },
    ]);
    let budget = error_budget_remaining(99, 100, 0.99);
    let expected = serde_json::json!({
        "name": "by-operator",
        "slo": "pay",
        "by": "operator",
        "groups": [{ "value": "op-1", "error_budget_remaining": budget, "windows": windows }],
        "ecosystem": { "error_budget_remaining": budget, "windows": windows },
        "top": {
            "window": "1h",
            "entries": [{
                "labels": { "service": "a", "operator": "op-1" },
                "bad": 1,
                "total": 10,
                "budget_burned": 1.0 / ((1.0 - 0.99) * 100.0),
            }],
        },
    });
    assert_eq!(json, expected);
    // Keys in the documented order.
    let text = serde_json::to_string(&report).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap();
    let order = [
        "name",
        "slo",
        "by",
        "groups",
        "value",
        "error_budget_remaining",
        "windows",
    ];
    assert!(order.windows(2).all(|p| at(p[0]) < at(p[1])), "{text}");
    assert!(at("ecosystem") < at("top") && at("good") < at("total") && at("labels") < at("bad"));
}

#[test]
fn an_slo_without_series_rolls_up_to_nothing() {
    let r = evaluate(&rollup(10, D), &[]);
    assert!(r.groups.is_empty() && r.top.entries.is_empty());
    assert_eq!(r.ecosystem.error_budget_remaining, None);
    assert_eq!(r.ecosystem.windows[0].total, 0);
}

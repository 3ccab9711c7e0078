//! The roll-up metrics of a report evaluated by the engine, as `/metrics` renders them.

use std::path::Path;
use std::time::Duration;

use crate::config;
use crate::engine::Engine;
use crate::sink::prometheus::PrometheusSink;
use crate::source::SourceStatus;

const CONFIG: &str = r#"
windows: [1h]
events: { labels: [operator] }
slos:
  - { name: pay, service: pay, group_by: [operator], indicator: { type: availability }, objective: 99, window: 1d }
rollups:
  - { name: by-operator, slo: pay, by: operator, top_k: 2 }
"#;

/// 2026-11-21T12:00:00Z.
const AT_MS: i64 = 1_795_262_400_000;

fn events(engine: &mut Engine, operator: &str, good: u32, bad: u32) {
    for i in 0..good + bad {
        let status = if i < bad { 503 } else { 200 };
        let event = format!(
            r#"{{"timestamp":{},"service":"pay","route":"/","status":{status},"latency_ms":5,"operator":"{operator}"}}"#,
            AT_MS - 60_000 - i64::from(i) * 1000
        );
        engine.ingest(event.as_bytes());
    }
}

fn value(text: &str, series: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(series))?;
    line[series.len()..].trim().parse().ok()
}

#[test]
fn exports_groups_the_ecosystem_and_the_ranking() {
    let config = config::parse(CONFIG, Path::new("r.yaml")).unwrap();
    let mut engine = Engine::new(&config);
    events(&mut engine, "op-a", 10, 0);
    events(&mut engine, "op-b", 8, 2);
    events(&mut engine, "op-c", 5, 5);
    let mut sink = PrometheusSink::new(Duration::from_secs(1), None);
    let status = SourceStatus::default();
    sink.publish(&engine.evaluate(AT_MS).unwrap(), 3, &status);
    let text = sink.handle().render();
    let base = r#"rollup="by-operator",slo="pay""#;
    let sli = |op: &str| {
        value(
            &text,
            &format!(r#"slipstream_rollup_sli{{{base},window="1h",operator="{op}"}}"#),
        )
    };
    assert_eq!(
        (sli("op-a"), sli("op-b"), sli("op-c")),
        (Some(1.0), Some(0.8), Some(0.5))
    );
    let budget = value(
        &text,
        &format!(r#"slipstream_rollup_error_budget_remaining{{{base},operator="op-c"}}"#),
    );
    assert!((budget.unwrap() - (1.0 - 5.0 / (0.01 * 10.0))).abs() < 1e-9);
    assert_eq!(
        value(
            &text,
            &format!(r#"slipstream_ecosystem_sli{{{base},window="1d"}}"#)
        ),
        Some(23.0 / 30.0)
    );
    assert!(text.contains(&format!(
        "slipstream_ecosystem_error_budget_remaining{{{base}}}"
    )));
    // op-c burned 5 of its allowance of 0.1 (500 %), op-b 2 of 0.1; op-a nothing.
    let rank = |r: &str, op: &str| {
        value(
            &text,
            &format!(r#"slipstream_rollup_top_budget_burned{{{base},rank="{r}",operator="{op}"}}"#),
        )
    };
    assert!((rank("1", "op-c").unwrap() - 50.0).abs() < 1e-9, "{text}");
    assert!((rank("2", "op-b").unwrap() - 20.0).abs() < 1e-9);
    assert!(!text.contains(r#"rank="3""#));
    assert!(text.contains("# HELP slipstream_rollup_top_budget_burned"));

    // op-a now burns most: it takes rank 1, op-c moves to rank 2.
    events(&mut engine, "op-a", 0, 20);
    sink.publish(&engine.evaluate(AT_MS).unwrap(), 3, &status);
    let text = sink.handle().render();
    let rank = |r: &str, op: &str| {
        value(
            &text,
            &format!(r#"slipstream_rollup_top_budget_burned{{{base},rank="{r}",operator="{op}"}}"#),
        )
    };
    assert!(
        (rank("1", "op-a").unwrap() - 20.0 / (0.01 * 30.0)).abs() < 1e-9,
        "{text}"
    );
    assert!(rank("2", "op-c").is_some());
}

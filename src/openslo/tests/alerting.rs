//! Alert policies and conditions → `alerts`.

use super::{loaded, run, slo, warning};
use crate::config::{Severity, Span};

/// An AlertCondition document.
fn condition(name: &str, annotations: &str, severity: &str, condition: &str) -> String {
    format!(
        "---\napiVersion: openslo/v1\nkind: AlertCondition\nmetadata: {{name: {name}, \
         annotations: {{{annotations}}}}}\nspec: {{severity: {severity}, condition: {condition}}}\n"
    )
}

/// An AlertPolicy document over the conditions `refs`, with more `spec` fields `extra`.
fn policy(name: &str, refs: &[&str], extra: &str) -> String {
    let conditions: Vec<String> = refs
        .iter()
        .map(|r| format!("{{conditionRef: {r}}}"))
        .collect();
    format!(
        "---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {{name: {name}}}\nspec: \
         {{conditions: [{}]{extra}}}\n",
        conditions.join(", ")
    )
}

fn with_policy(window: &str) -> String {
    slo(
        "s",
        &[
            ("timeWindow", window),
            ("alertPolicies", "[{alertPolicyRef: burn}]"),
        ],
    )
}

fn rules(yaml: &str) -> Vec<(Severity, String, String, f64)> {
    let config = loaded(&run(yaml));
    config.slos[0]
        .alerts
        .rules
        .iter()
        .map(|r| {
            (
                r.severity,
                r.long.to_string(),
                r.short.to_string(),
                r.burn_rate,
            )
        })
        .collect()
}

const FAST: &str = "{kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h, alertAfter: 2m}";
const SLOW: &str = "{kind: burnrate, op: gt, threshold: 3, lookbackWindow: 1d, alertAfter: 2m}";
const WINDOW: &str = "[{duration: 28d, isRolling: true}]";

#[test]
fn two_burnrate_conditions_become_a_page_and_a_ticket_rule() {
    let yaml = [
        with_policy(WINDOW),
        policy("burn", &["fast", "slow"], ""),
        condition("fast", "slipstream.dev/short-window: 5m", "page", FAST),
        condition("slow", "", "ticket", SLOW),
    ]
    .concat();
    let import = run(&yaml);
    let config = loaded(&import);
    let alerts = &config.slos[0].alerts;
    assert_eq!(alerts.for_ms, 120_000);
    assert_eq!(
        rules(&yaml),
        [
            (Severity::Page, "1h".into(), "5m".into(), 14.4),
            (Severity::Ticket, "1d".into(), "2h".into(), 3.0),
        ]
    );
    let derived = warning(&import, "slow", "lookbackWindow");
    assert_eq!(derived.kind, "AlertCondition");
    assert!(
        derived.message.contains("short window 2h derived"),
        "{derived}"
    );
    assert_eq!(import.warnings.len(), 1, "{:#?}", import.warnings);
}

#[test]
fn severities_map_onto_the_two_tiers() {
    for (severity, tier) in [
        ("critical", Severity::Page),
        ("High", Severity::Page),
        ("warning", Severity::Ticket),
        ("medium", Severity::Ticket),
        ("low", Severity::Ticket),
    ] {
        let yaml = [
            with_policy(WINDOW),
            policy("burn", &["c"], ""),
            condition("c", "", severity, FAST),
        ]
        .concat();
        assert_eq!(rules(&yaml)[0].0, tier, "{severity}");
    }
    let yaml = [
        with_policy(WINDOW),
        policy("burn", &["c"], ""),
        condition("c", "", "sev1", FAST),
    ]
    .concat();
    let import = run(&yaml);
    assert!(loaded(&import).slos[0].alerts.rules.is_empty());
    assert!(
        warning(&import, "c", "severity")
            .message
            .contains("no slipstream tier")
    );
    assert!(
        warning(&import, "s", "alertPolicies")
            .message
            .contains("page and ticket off")
    );
}

#[test]
fn conditions_that_cannot_map_are_refused() {
    let cases = [
        (
            "{op: lt, threshold: 2, lookbackWindow: 1h}",
            "c",
            "op",
            "not a burn alert",
        ),
        (
            "{op: gt, lookbackWindow: 1h}",
            "c",
            "threshold",
            "positive burn rate",
        ),
        (
            "{op: gt, threshold: 2, lookbackWindow: 1M}",
            "c",
            "lookbackWindow",
            "no fixed length",
        ),
        (
            "{op: gt, threshold: 2, lookbackWindow: 1h, alertAfter: 2d}",
            "c",
            "alertAfter",
            "longer than a day",
        ),
        (
            "{kind: other, op: gt, threshold: 2, lookbackWindow: 1h}",
            "c",
            "kind",
            "not `burnrate`",
        ),
        (
            "{op: gt, threshold: 2, lookbackWindow: 2d}",
            "s",
            "AlertCondition/c",
            "longer than the SLO window 1d",
        ),
    ];
    for (spec, name, field, words) in cases {
        let yaml = [
            with_policy("[{duration: 1d, isRolling: true}]"),
            policy("burn", &["c"], ""),
            condition("c", "", "page", spec),
        ]
        .concat();
        let import = run(&yaml);
        assert!(loaded(&import).slos[0].alerts.rules.is_empty(), "{spec}");
        let w = warning(&import, name, field);
        assert!(
            w.message.contains(words) && w.message.contains("not mapped"),
            "{w}"
        );
    }
    let yaml = [
        with_policy(WINDOW),
        policy("burn", &["c"], ""),
        condition("c", "slipstream.dev/short-window: 1h", "page", FAST),
    ]
    .concat();
    assert!(
        warning(&run(&yaml), "c", "short-window")
            .message
            .contains("not shorter")
    );
}

#[test]
fn gte_and_a_missing_op_map_with_a_caveat() {
    for (spec, words) in [
        (
            "{op: gte, threshold: 6, lookbackWindow: 6h}",
            "a burn rate of exactly the threshold",
        ),
        (
            "{threshold: 6, lookbackWindow: 6h, alertAfter: 0m}",
            "taken as `gt`",
        ),
    ] {
        let yaml = [
            with_policy(WINDOW),
            policy("burn", &["c"], ""),
            condition("c", "", "page", spec),
        ]
        .concat();
        let import = run(&yaml);
        assert_eq!(
            rules(&yaml),
            [(Severity::Page, "6h".into(), "30m".into(), 6.0)]
        );
        assert_eq!(loaded(&import).slos[0].alerts.for_ms, 0);
        assert!(warning(&import, "c", "op").message.contains(words));
    }
}

#[test]
fn different_waits_use_the_shortest() {
    let yaml = [
        with_policy(WINDOW),
        policy("burn", &["fast", "slow"], ""),
        condition("fast", "", "page", &FAST.replace("2m", "5m")),
        condition("slow", "", "ticket", &SLOW.replace("2m", "1h")),
    ]
    .concat();
    let import = run(&yaml);
    assert_eq!(loaded(&import).slos[0].alerts.for_ms, 300_000);
    let w = warning(&import, "s", "alertPolicies");
    assert!(
        w.message.contains("(alertAfter 5m, 1h)") && w.message.contains("5m, is used"),
        "{w}"
    );
}

#[test]
fn policy_fields_without_an_equivalent_are_reported() {
    let extra = ", alertWhenNoData: true, alertWhenResolved: false, alertWhenBreaching: false, \
                 notificationTargets: [{targetRef: pager}]";
    let yaml = [
        with_policy(WINDOW),
        policy("burn", &["fast", "gone"], extra),
        condition("fast", "slipstream.dev/short-window: 5m", "page", FAST),
    ]
    .concat();
    let import = run(&yaml);
    assert_eq!(rules(&yaml).len(), 1);
    for (field, words) in [
        ("alertWhenNoData", "no-data alerts"),
        ("alertWhenResolved", "always sends resolutions"),
        ("alertWhenBreaching", "breach alerts"),
        ("notificationTargets", "pager not mapped"),
        ("conditions[1].conditionRef", "`gone` is not in the input"),
    ] {
        let w = warning(&import, "burn", field);
        assert_eq!(w.kind, "AlertPolicy");
        assert!(w.message.contains(words), "{w}");
    }
    let import = run(&with_policy(WINDOW));
    assert!(
        warning(&import, "s", "alertPolicyRef")
            .message
            .contains("`burn` is not in the input")
    );
}

#[test]
fn inline_policies_and_conditions_map_and_no_policy_keeps_the_defaults() {
    let inline = "[{kind: AlertPolicy, metadata: {name: p}, spec: {conditions: [{kind: \
                  AlertCondition, metadata: {name: c, annotations: {slipstream.dev/short-window: \
                  90s}}, spec: {severity: page, condition: {op: gt, threshold: 10, lookbackWindow: \
                  30m}}}]}}]";
    let config = loaded(&run(&slo("s", &[("alertPolicies", inline)])));
    let rule = config.slos[0].alerts.rules[0];
    assert_eq!(
        (rule.long, rule.short),
        (Span::from_secs(1800), Span::from_secs(90))
    );
    // No policy: slipstream's defaults, the Workbook's four rules scaled to the window.
    let config = loaded(&run(&slo("s", &[])));
    assert_eq!(config.slos[0].alerts.rules.len(), 4);
}

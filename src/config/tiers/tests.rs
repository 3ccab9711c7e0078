//! Tiers, inheritance, floors in both modes, services rules and their generated SLOs.

use std::path::Path;

use crate::config::{Config, Field, Glob, Indicator, ServiceMatch, Span, parse};

use super::{FloorMode, TierFrom};

const TIERS: &str = r#"
events: { labels: [team] }
tiers:
  P0: { availability: 99.99, latency: { threshold_ms: 300, objective: 99.9 }, window: 30d }
  P3: { availability: 90, window: 7d }
"#;

fn config(rest: &str) -> Result<Config, String> {
    parse(&format!("{TIERS}{rest}"), Path::new("p.yaml")).map_err(|e| e.to_string())
}

fn ok(rest: &str) -> Config {
    config(rest).unwrap_or_else(|e| panic!("{e}"))
}

fn rejected(rest: &str, parts: &[&str]) {
    let message = config(rest).expect_err("should be rejected");
    assert!(message.starts_with("p.yaml: "), "{message}");
    for part in parts {
        assert!(message.contains(part), "`{part}` missing in: {message}");
    }
}

#[test]
fn an_slo_inherits_what_it_does_not_set_from_its_tier() {
    let c = ok(r#"
slos:
  - { name: a, service: pay, tier: P0, indicator: { type: availability } }
  - { name: l, service: pay, tier: P0, indicator: { type: latency } }
  - { name: own, service: pay, tier: P0, indicator: { type: latency, threshold_ms: 250 }, objective: 99.95, window: 28d }
"#);
    let (a, l, own) = (&c.slos[0], &c.slos[1], &c.slos[2]);
    assert_eq!(
        (a.objective, a.window),
        (0.9999, Span::from_secs(30 * 86_400))
    );
    assert_eq!(a.tier.as_deref(), Some("P0"));
    assert_eq!(
        l.indicator,
        Indicator::Latency {
            threshold_ms: 300.0
        }
    );
    assert_eq!(l.objective, 0.999);
    assert_eq!(
        own.indicator,
        Indicator::Latency {
            threshold_ms: 250.0
        }
    );
    assert_eq!(
        (own.objective, own.window),
        (0.9995, Span::from_secs(28 * 86_400))
    );
    let p = &c.policies;
    assert_eq!(p.slo("a").unwrap().inherited, ["objective", "window"]);
    assert_eq!(
        p.slo("l").unwrap().inherited,
        ["objective", "window", "indicator.threshold_ms"]
    );
    assert!(p.slo("own").unwrap().inherited.is_empty());
    assert_eq!(p.slo("own").unwrap().tier_from, Some(TierFrom::Explicit));
    assert!(c.warnings.is_empty());
}

#[test]
fn an_slo_without_a_tier_takes_that_of_the_first_rule_matching_its_service() {
    let c = ok(r#"
services:
  - { match: { service: "pay-*", team: core }, tier: P3 }
  - { match: { service: "pay-*" }, tier: P0 }
  - { match: { service: "*" }, tier: P3 }
slos:
  - { name: a, service: pay-api, indicator: { type: availability } }
  - { name: b, service: search, indicator: { type: availability }, objective: 95, window: 1d }
  - { name: c, service: "*", indicator: { type: availability }, objective: 95, window: 1d }
"#);
    // Rule 0 matches on a label too, which only events can tell: it never applies here.
    assert_eq!(c.slos[0].tier.as_deref(), Some("P0"));
    assert_eq!(c.slos[0].objective, 0.9999);
    let from = |name: &str| c.policies.slo(name).unwrap().tier_from;
    assert_eq!(from("a"), Some(TierFrom::Inherited { rule: 1 }));
    assert_eq!(from("b"), Some(TierFrom::Inherited { rule: 2 }));
    assert_eq!(c.slos[1].tier.as_deref(), Some("P3"));
    // Its own window beats the tier's; no static tier for `*`.
    assert_eq!(c.slos[1].window, Span::DAY);
    assert_eq!((c.slos[2].tier.as_deref(), from("c")), (None, None));
}

#[test]
fn below_the_floor_is_an_error_naming_file_slo_field_tier_and_floor() {
    rejected(
        "slos:\n  - { name: a, service: pay, tier: P0, indicator: { type: availability }, objective: 99.9 }\n",
        &[
            "slo `a`",
            "slos[0].objective",
            "tier `P0`",
            "99.99 %",
            "99.9 %",
            "policy.tier_floor: warn",
        ],
    );
    rejected(
        "slos:\n  - { name: l, service: pay, tier: P0, indicator: { type: latency, threshold_ms: 500 } }\n",
        &[
            "slo `l`",
            "slos[0].indicator.threshold_ms",
            "500 ms",
            "300 ms",
        ],
    );
    // The tier of a rule is a floor too, and the error says which rule.
    rejected(
        "services: [{ match: { service: \"pay-*\" }, tier: P0 }]\n\
         slos:\n  - { name: a, service: pay-api, indicator: { type: availability }, objective: 99 }\n",
        &[
            "slos[0].objective",
            "tier `P0` (from services[0]",
            "pay-*",
            "pay-api",
        ],
    );
    // At or above the floor is fine, and a latency SLO on a tier without latency has none.
    ok(
        "slos:\n  - { name: a, service: pay, tier: P0, indicator: { type: availability }, objective: 99.995 }\n",
    );
    ok(
        "slos:\n  - { name: l, service: pay, tier: P3, indicator: { type: latency, threshold_ms: 9000 }, objective: 50 }\n",
    );
}

#[test]
fn in_warn_mode_below_the_floor_is_a_warning() {
    let c = ok(r#"
policy: { tier_floor: warn }
slos:
  - { name: a, service: pay, tier: P0, indicator: { type: availability }, objective: 99.9 }
  - { name: b, service: pay, tier: P0, indicator: { type: availability } }
"#);
    assert_eq!(c.policies.tier_floor, FloorMode::Warn);
    assert_eq!(c.slos[0].objective, 0.999);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    for part in [
        "p.yaml: ",
        "slo `a`",
        "slos[0].objective",
        "tier `P0`",
        "99.99 %",
    ] {
        assert!(w.contains(part), "`{part}` missing in: {w}");
    }
    rejected(
        "policy: { tier_floor: ignore }\nslos: []\n",
        &["policy.tier_floor", "`error` or `warn`"],
    );
}

#[test]
fn a_tier_without_the_indicator_gives_it_nothing() {
    rejected(
        "slos:\n  - { name: l, service: pay, tier: P3, indicator: { type: latency }, objective: 99 }\n",
        &[
            "slo `l`",
            "slos[0].indicator.threshold_ms",
            "tier `P3` has none",
        ],
    );
    rejected(
        "slos:\n  - { name: l, service: pay, tier: P3, indicator: { type: latency, threshold_ms: 100 } }\n",
        &["slos[0].objective", "tier `P3` has none"],
    );
    rejected(
        "slos:\n  - { name: a, service: pay, indicator: { type: availability }, objective: 99 }\n",
        &["slos[0].window", "set `window`"],
    );
}

#[test]
fn unknown_tiers_are_errors() {
    rejected(
        "slos:\n  - { name: a, service: pay, tier: P9, indicator: { type: availability } }\n",
        &["slo `a`", "slos[0].tier", "unknown tier `P9`", "P0, P3"],
    );
    rejected(
        "services: [{ match: { service: \"*\" }, tier: P1 }]\n",
        &["services[0].tier", "unknown tier `P1`"],
    );
}

#[test]
fn tiers_and_rules_are_checked() {
    let bad = |tiers: &str, parts: &[&str]| {
        let text = format!(
            "tiers:\n{tiers}\nslos:\n  - {{ name: a, service: x, indicator: {{ type: availability }}, objective: 99, window: 1d }}\n"
        );
        let message = parse(&text, Path::new("p.yaml")).unwrap_err().to_string();
        for part in parts {
            assert!(message.contains(part), "`{part}` missing in: {message}");
        }
    };
    bad("  P0: { window: 30d }", &["tiers.P0", "neither"]);
    bad(
        "  P0: { availability: 100, window: 30d }",
        &["tiers.P0.availability", "below 100"],
    );
    bad(
        "  P0: { availability: 99, window: 1w }",
        &["tiers.P0.window"],
    );
    bad("  P0: { availability: 99 }", &["tiers.P0", "window"]);
    bad(
        "  P0: { latency: { threshold_ms: -1, objective: 99 }, window: 1d }",
        &["tiers.P0.latency.threshold_ms"],
    );
    rejected(
        "services: [{ match: {}, tier: P0 }]\n",
        &["services[0].match", "service: \"*\""],
    );
    rejected(
        "services: [{ match: { region: \"eu-*\" }, tier: P0 }]\n",
        &["services[0].match.region", "neither `route` nor a label"],
    );
    rejected(
        "services: [{ match: { service: \"\" }, tier: P0 }]\n",
        &["services[0].match.service"],
    );
    rejected(
        "services: [{ match: { service: \"*\" }, tier: P0, group_by: [service] }]\n",
        &["services[0].group_by[0]", "first label"],
    );
}

#[test]
fn rules_generate_named_slos_from_their_tier() {
    let c = ok(r#"
services:
  - { match: { service: "pay-*" }, tier: P0, group_by: [route] }
  - { match: { service: "search*", route: "GET /*" }, tier: P0 }
  - { match: { team: "*" }, tier: P3, name: teams }
"#);
    let names: Vec<&str> = c.slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "p0-fleet-1-availability",
            "p0-fleet-1-latency",
            "p0-fleet-2-availability",
            "p0-fleet-2-latency",
            "teams-availability"
        ]
    );
    let (avail, latency) = (&c.slos[0], &c.slos[1]);
    let glob = |p: &str| Glob::new(p).unwrap();
    assert_eq!(
        avail.service,
        ServiceMatch::Glob {
            glob: glob("pay-*"),
            except: vec![]
        }
    );
    assert_eq!(avail.group_by, [Field::Route]);
    assert_eq!(
        (avail.objective, avail.window),
        (0.9999, Span::from_secs(30 * 86_400))
    );
    assert_eq!(
        latency.indicator,
        Indicator::Latency {
            threshold_ms: 300.0
        }
    );
    assert_eq!(latency.objective, 0.999);
    assert_eq!(c.slos[2].selector_globs, [(Field::Route, glob("GET /*"))]);
    assert_eq!(c.slos[4].service, ServiceMatch::Any);
    assert_eq!(c.slos[4].selector_globs, [(Field::Label(0), glob("*"))]);
    assert_eq!(c.slos[4].window, Span::from_secs(7 * 86_400));
    assert!(c.slos.iter().all(|s| s.alerts.rules.len() == 4));
    let rules = &c.policies.rules;
    assert_eq!(rules[2].slos, ["teams-availability"]);
    assert_eq!(
        c.policies.slo("teams-availability").unwrap().tier_from,
        Some(TierFrom::Rule { rule: 2 })
    );
}

#[test]
fn generated_names_must_be_unique() {
    rejected(
        "services:\n  - { match: { service: \"a*\" }, tier: P0, name: x }\n  - { match: { service: \"b*\" }, tier: P3, name: x }\n",
        &["services[1].name", "services[0]", "unique"],
    );
    rejected(
        "services: [{ match: { service: \"a*\" }, tier: P3 }]\n\
         slos: [{ name: p3-fleet-availability, service: z, indicator: { type: availability }, objective: 99, window: 1d }]\n",
        &["services[0].name", "p3-fleet-availability"],
    );
}

#[test]
fn services_with_slos_of_their_own_are_excluded_from_every_rule() {
    let c = ok(r#"
services:
  - { match: { service: "pay-*" }, tier: P0 }
  - { match: { service: "*" }, tier: P3 }
slos:
  - { name: own, service: pay-api, indicator: { type: availability } }
  - { name: other, service: search, indicator: { type: availability }, objective: 95 }
"#);
    let except = |name: &str| match &c.slos.iter().find(|s| s.name == name).unwrap().service {
        ServiceMatch::Glob { except, .. } => except.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(except("p0-fleet-availability"), ["pay-api"]);
    assert_eq!(except("p3-fleet-availability"), ["pay-api", "search"]);
    assert_eq!(c.policies.rules[1].excluded, ["pay-api", "search"]);
    let fleet = &c.slos[2].service;
    assert!(fleet.matches("pay-ledger") && !fleet.matches("pay-api") && fleet.per_service());
}

#[test]
fn slos_are_optional_with_rules_but_something_must_be_defined() {
    let c = ok("services: [{ match: { service: \"*\" }, tier: P3 }]\n");
    assert_eq!(c.slos.len(), 1);
    rejected("slos: []\n", &["slos: no SLO is defined", "services"]);
}

#[test]
fn checkpoints_of_other_matching_do_not_restore() {
    let key = |rest: &str| {
        let c = ok(rest);
        let classifier = crate::classify::Classifier::new(&c);
        classifier.populations()[0].state_key(&c)
    };
    let rule = "services: [{ match: { service: \"pay-*\", route: \"GET *\" }, tier: P3 }]\n";
    let excluded = format!(
        "{rule}slos: [{{ name: x, service: pay-api, indicator: {{ type: availability }}, objective: 9, window: 1d }}]\n"
    );
    let other_glob = rule.replace("GET *", "POST *");
    let plain = key(rule);
    assert!(plain.contains(r#"globs=[("route", "GET *")]"#), "{plain}");
    assert_ne!(plain, key(&other_glob));
    // The explicit SLO comes first in `slos`, so it has the first population there.
    let c = ok(&excluded);
    let classifier = crate::classify::Classifier::new(&c);
    let fleet = classifier.populations()[1].state_key(&c);
    assert!(fleet.contains(r#"except: ["pay-api"]"#), "{fleet}");
    assert_ne!(plain, fleet);
}

#[test]
fn a_tier_budget_policy_sits_between_the_slo_and_the_top_level() {
    let c = parse(
        r#"
budget_policy: [{ at_or_below_percent: 10, action: top }]
tiers:
  P0: { availability: 99.99, window: 30d, budget_policy: [{ at_or_below_percent: 50, action: p0-careful, blocks_deploys: true }] }
  P3: { availability: 90, window: 7d }
services:
  - { match: { service: "payments-*" }, tier: P0 }
slos:
  - { name: tiered, service: pay, tier: P0, indicator: { type: availability } }
  - { name: own, service: pay, tier: P0, indicator: { type: availability }, budget_policy: [] }
  - { name: p3, service: pay, tier: P3, indicator: { type: availability } }
"#,
        Path::new("p.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let actions = |name: &str| -> Vec<String> {
        let slo = c.slos.iter().find(|s| s.name == name).expect(name);
        slo.budget_policy
            .rules()
            .iter()
            .map(|r| r.action.to_string())
            .collect()
    };
    assert_eq!(actions("tiered"), ["p0-careful"]);
    assert_eq!(actions("p0-fleet-availability"), ["p0-careful"]);
    assert!(actions("own").is_empty());
    assert_eq!(actions("p3"), ["top"]);
    let message = parse(
        "tiers:\n  P1: { availability: 99, window: 1d, budget_policy: [{ at_or_below_percent: 5, action: normal }] }\nservices: [{ match: { service: a }, tier: P1 }]\n",
        Path::new("p.yaml"),
    )
    .expect_err("`normal` is reserved")
    .to_string();
    assert!(
        message.contains("tiers.P1.budget_policy[0].action"),
        "{message}"
    );
}

#[test]
fn an_explicit_slo_may_match_services_by_glob() {
    let c = ok(r#"
slos:
  - { name: g, service: "pay-*", except_services: [pay-legacy], match: { route: "POST *" }, indicator: { type: availability }, objective: 99, window: 1d }
"#);
    let g = &c.slos[0];
    let ServiceMatch::Glob { glob, except } = &g.service else {
        panic!("{:?}", g.service)
    };
    assert!(glob.matches("pay-api") && !glob.matches("cart"));
    assert_eq!(except, &["pay-legacy".to_owned()]);
    assert_eq!(g.selector_globs.len(), 1);
    assert_eq!(g.label_names(&c.events), ["service"]);
    // A rule matching the pattern's text does not give it a tier: rules apply by name.
    let ruled = ok(r#"
services:
  - { match: { service: "pay-*" }, tier: P0, name: pay }
slos:
  - { name: g, service: "pay-*", indicator: { type: availability }, objective: 99, window: 1d }
"#);
    assert_eq!(ruled.slos[0].tier, None);
    rejected(
        "slos:\n  - { name: x, service: pay, except_services: [a], indicator: { type: availability }, objective: 99, window: 1d }\n",
        &["slos[0].except_services", "only a glob `service`"],
    );
    rejected(
        "slos:\n  - { name: x, service: pay, match: { zone: \"a*\" }, indicator: { type: availability }, objective: 99, window: 1d }\n",
        &["slos[0].match.zone"],
    );
}

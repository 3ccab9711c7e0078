//! The alert state machine on hand-made reports: which rule fires, the traffic guard,
//! tier suppression, `for`, and resolution.

use std::path::Path;

use super::*;
use crate::config::{self, Span};
use crate::report::{EventCounts, Lifetime, WindowReport};

const CONFIG: &str = r#"
slos:
  - { name: checkout, service: checkout, indicator: { type: availability }, objective: 99.9, window: 30d }
  - name: slow
    service: checkout
    indicator: { type: availability }
    objective: 99.9
    window: 30d
    alerts: { for: 2m, ticket: off, min_events: 100 }
"#;

fn slos() -> Vec<Slo> {
    config::parse(CONFIG, Path::new("alerts.yaml"))
        .unwrap()
        .slos
}

/// A report of SLO `name` whose every window has `total` events and error ratio
/// `short_errors` up to 1h and `long_errors` beyond.
fn report(at_min: i64, name: &str, total: u64, short_errors: f64, long_errors: f64) -> Report {
    let windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
        .iter()
        .map(|w| {
            let window = Span::parse(w).unwrap();
            let errors = if window <= Span::HOUR {
                short_errors
            } else {
                long_errors
            };
            let good = total - (total as f64 * errors).round() as u64;
            WindowReport {
                window,
                total,
                good,
                sli: crate::report::sli(good, total),
                burn_rate: crate::report::burn_rate(good, total, 0.999),
                latency_ms: None,
            }
        })
        .collect();
    Report {
        at_ms: at_min * 60_000,
        events: EventCounts::default(),
        overflow: Vec::new(),
        rollups: None,
        slos: vec![SeriesReport {
            name: name.into(),
            labels: vec![],
            objective: 0.999,
            window: Span::from_secs(30 * 86_400),
            tier: None,
            error_budget_remaining: Some(0.5),
            windows,
            alert_windows: vec![],
            composite: None,
            baseline: Default::default(),
            budget_policy: crate::report::budget::BudgetAction::Normal { no_traffic: true },
            lifetime: Lifetime::default(),
        }],
    }
}

fn states(book: &AlertBook) -> Vec<(Severity, State)> {
    let mut out: Vec<_> = book.all().map(|a| (a.severity, a.state)).collect();
    out.sort_by_key(|(s, _)| *s);
    out
}

#[test]
fn a_fast_burn_pages_suppresses_the_ticket_and_resolves() {
    let slos = slos();
    let mut book = AlertBook::default();
    assert!(
        book.update(&report(0, "checkout", 1000, 0.0, 0.0), &slos, &[])
            .is_empty()
    );
    assert_eq!(
        states(&book),
        [
            (Severity::Page, State::Inactive),
            (Severity::Ticket, State::Inactive)
        ]
    );
    // 2 % errors everywhere: burn rate 20 over every window. The page fires (1h/5m);
    // the ticket's condition holds too, but the page suppresses it.
    let fired = book.update(&report(1, "checkout", 1000, 0.02, 0.02), &slos, &[]);
    assert_eq!(fired.len(), 1);
    let page = &fired[0].alert;
    assert_eq!((page.severity, page.state), (Severity::Page, State::Firing));
    let hit = page.hit.unwrap();
    assert_eq!(
        (hit.rule.long, hit.rule.short),
        (Span::HOUR, Span::from_secs(300))
    );
    assert!((hit.long_burn_rate - 20.0).abs() < 1e-9);
    assert_eq!(states(&book)[1], (Severity::Ticket, State::Inactive));
    // Still burning: no new transition.
    assert!(
        book.update(&report(2, "checkout", 1000, 0.02, 0.02), &slos, &[])
            .is_empty()
    );
    // The short windows recover, the long ones still burn at 5 (> 3): the page resolves
    // and the ticket, no longer suppressed, fires.
    let moved = book.update(&report(3, "checkout", 1000, 0.0, 0.005), &slos, &[]);
    let got: Vec<_> = moved
        .iter()
        .map(|t| (t.alert.severity, t.alert.state))
        .collect();
    assert_eq!(
        got,
        [
            (Severity::Page, State::Resolved),
            (Severity::Ticket, State::Firing)
        ]
    );
    assert_eq!(book.active().len(), 2);
    assert_eq!(book.active()[0].resolved_ms, Some(3 * 60_000));
}

#[test]
fn too_little_traffic_never_pages() {
    let slos = slos();
    let mut book = AlertBook::default();
    // Every request failed, but there were only 9 (the default minimum is 10).
    assert!(
        book.update(&report(0, "checkout", 9, 1.0, 1.0), &slos, &[])
            .is_empty()
    );
    assert!(book.active().is_empty());
    assert_eq!(
        book.update(&report(1, "checkout", 10, 1.0, 1.0), &slos, &[])
            .len(),
        1
    );
}

#[test]
fn for_holds_an_alert_pending_and_a_tier_can_be_off() {
    let slos = slos();
    let mut book = AlertBook::default();
    let burning = |m| report(m, "slow", 1000, 0.05, 0.05);
    assert!(book.update(&burning(0), &slos, &[]).is_empty());
    assert_eq!(states(&book), [(Severity::Page, State::Pending)]);
    assert!(book.update(&burning(1), &slos, &[]).is_empty());
    let fired = book.update(&burning(2), &slos, &[]);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].alert.since_ms, 2 * 60_000);
    // A condition that stops before `for` has run goes back to inactive, silently.
    let mut book = AlertBook::default();
    book.update(&burning(0), &slos, &[]);
    assert!(
        book.update(&report(1, "slow", 1000, 0.0, 0.0), &slos, &[])
            .is_empty()
    );
    assert_eq!(states(&book), [(Severity::Page, State::Inactive)]);
}

#[test]
fn a_composite_follows_its_own_rules() {
    let text = format!(
        "{CONFIG}composites:\n  - {{ name: journey, objective: 99.9, window: 30d, \
         components: [{{ slo: checkout }}], alerts: {{ ticket: off, min_events: 500 }} }}\n"
    );
    let config = config::parse(&text, Path::new("alerts.yaml")).unwrap();
    let mut book = AlertBook::default();
    // Not an SLO's name: without the composites, the book has no rules for it.
    assert!(
        book.update(&report(0, "journey", 1000, 0.02, 0.02), &config.slos, &[])
            .is_empty()
    );
    assert!(book.all().next().is_none());
    // Its own `min_events`: 400 events are too few, 1000 page.
    let composites = &config.composites;
    assert!(
        book.update(
            &report(1, "journey", 400, 0.02, 0.02),
            &config.slos,
            composites
        )
        .is_empty()
    );
    let fired = book.update(
        &report(2, "journey", 1000, 0.02, 0.02),
        &config.slos,
        composites,
    );
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].alert.slo, "journey");
    // `ticket: off`: only the page exists.
    assert_eq!(states(&book), [(Severity::Page, State::Firing)]);
}

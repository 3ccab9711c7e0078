//! Hand-made series reports for the unit tests of the report's functions.

use super::{Lifetime, SeriesReport, WindowReport};
use crate::config::Span;

/// A series of SLO `name` with these labels and `(window, good, total)` per window; its
/// lifetime counts are those of its longest window, its objective 99 %.
pub fn series(name: &str, labels: &[(&str, &str)], windows: &[(Span, u64, u64)]) -> SeriesReport {
    let last = windows.last().expect("at least one window");
    SeriesReport {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        objective: 0.99,
        window: last.0,
        tier: None,
        error_budget_remaining: super::error_budget_remaining(last.1, last.2, 0.99),
        windows: windows
            .iter()
            .map(|&(window, good, total)| WindowReport {
                window,
                total,
                good,
                sli: super::sli(good, total),
                burn_rate: super::burn_rate(good, total, 0.99),
                latency_ms: None,
            })
            .collect(),
        alert_windows: Vec::new(),
        lifetime: Lifetime {
            total: last.2,
            good: last.1,
        },
        composite: None,
        baseline: super::baseline::Baseline::default(),
        budget_policy: super::budget::BudgetAction::Normal { no_traffic: false },
    }
}

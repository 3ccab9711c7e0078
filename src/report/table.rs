//! The report for a person: one block per SLO series, one row per window.

use std::fmt::Write;

use super::rollup::RollupReport;
use super::{Report, SeriesReport};
use crate::decode::Invalid;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    header(&mut out, report);
    for series in &report.slos {
        series_block(&mut out, series);
    }
    for rollup in report.rollups.iter().flatten() {
        rollup_block(&mut out, rollup);
    }
    out
}

/// `at`, the event counts, and what the series limits refused: the head of every table
/// made from a report.
pub fn header(out: &mut String, report: &Report) {
    let e = &report.events;
    let _ = write!(
        out,
        "at {}\nevents: {} read, {} valid, {} invalid, {} too old",
        super::format_rfc3339(report.at_ms),
        e.read,
        e.valid,
        e.invalid(),
        e.too_old
    );
    let reasons: Vec<String> = Invalid::ALL
        .iter()
        .zip(&e.invalid_by_reason)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{} {n}", r.as_str()))
        .collect();
    if !reasons.is_empty() {
        let _ = write!(out, " ({})", reasons.join(", "));
    }
    out.push('\n');
    for o in report.overflow.iter().filter(|o| o.events > 0) {
        let _ = writeln!(
            out,
            "series limit: {} counted {} events of {} label combinations without a series \
             of their own in its `{}` series (limits.max_series_per_slo)",
            o.slo,
            o.events,
            o.combinations,
            crate::classify::OVERFLOW
        );
    }
}

fn series_block(out: &mut String, s: &SeriesReport) {
    let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    let budget = s
        .error_budget_remaining
        .map_or_else(|| "-".to_owned(), |b| format!("{:.1}%", b * 100.0));
    let _ = writeln!(
        out,
        "\n{} {{{}}}  objective {}%  window {}  budget left {budget}",
        s.name,
        labels.join(", "),
        percent(s.objective),
        s.window
    );
    if let Some(components) = &s.composite {
        let parts: Vec<String> = components
            .iter()
            .map(|c| format!("{} x{}", c.slo, c.weight))
            .collect();
        let _ = writeln!(out, "  composite of {}", parts.join(", "));
    }
    let _ = writeln!(
        out,
        "  {:<6} {:>10} {:>10} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "window", "total", "good", "SLI %", "burn", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"
    );
    for w in &s.windows {
        let sli = w
            .sli
            .map_or_else(|| "-".into(), |v| format!("{:.4}", v * 100.0));
        let burn = w
            .burn_rate
            .map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        let q: [String; 4] = match w.latency_ms {
            Some(Some(q)) => q.map(|v| format!("{v:.1}")),
            _ => ["-", "-", "-", "-"].map(String::from),
        };
        let _ = writeln!(
            out,
            "  {:<6} {:>10} {:>10} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9}",
            w.window.to_string(),
            w.total,
            w.good,
            sli,
            burn,
            q[0],
            q[1],
            q[2],
            q[3]
        );
    }
}

/// A roll-up: one row per group and one for the ecosystem (budget left, SLI % per
/// window), then its ranking.
fn rollup_block(out: &mut String, r: &RollupReport) {
    let _ = writeln!(out, "\nrollup {}: {} by {}", r.name, r.slo, r.by);
    let mut header = format!("  {:<24} {:>12}", r.by, "budget left");
    for w in &r.ecosystem.windows {
        let _ = write!(header, " {:>9}", format!("SLI% {}", w.window));
    }
    let _ = writeln!(out, "{header}");
    let groups = r
        .groups
        .iter()
        .map(|g| (format!("{:?}", g.value), &g.aggregate));
    for (name, a) in groups.chain([("(ecosystem)".to_owned(), &r.ecosystem)]) {
        let budget = a
            .error_budget_remaining
            .map_or_else(|| "-".to_owned(), |b| format!("{:.1}%", b * 100.0));
        let _ = write!(out, "  {name:<24} {budget:>12}");
        for w in &a.windows {
            let sli = w
                .sli
                .map_or_else(|| "-".into(), |v| format!("{:.4}", v * 100.0));
            let _ = write!(out, " {sli:>9}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "  top {} by budget burned in {} (share of the series' own error budget):",
        r.top.entries.len(),
        r.top.window
    );
    for (i, e) in r.top.entries.iter().enumerate() {
        let labels: Vec<String> = e.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = writeln!(
            out,
            "  {:>4}. {{{}}}  {:.1}%  ({} bad of {})",
            i + 1,
            labels.join(", "),
            e.budget_burned * 100.0,
            e.bad,
            e.total
        );
    }
}

/// `0.99999` → `99.999`: the percent without the noise of multiplying a binary fraction.
pub(crate) fn percent(fraction: f64) -> String {
    let text = format!("{:.6}", fraction * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_has_no_float_noise() {
        assert_eq!(super::percent(0.99999), "99.999");
        assert_eq!(super::percent(0.9993), "99.93");
        assert_eq!(super::percent(0.99), "99");
    }
}

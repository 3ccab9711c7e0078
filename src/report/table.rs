//! The report for a person: one block per SLO series, one row per window.

use std::fmt::Write;

use super::{Report, SeriesReport};
use crate::decode::Invalid;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    header(&mut out, report);
    for series in &report.slos {
        series_block(&mut out, series);
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

//! What `slipstream baseline` prints: per SLO series, the SLI achieved over its SLO
//! window, the objective it holds and the next step, the bad events to remove to get
//! there, and its budget-policy action. [`Document`] is the JSON (docs/budgets.md), and
//! [`table`] the same numbers for a person.

use std::fmt::Write;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{EventCounts, Pairs, Report, SeriesReport, format_rfc3339};

/// The JSON document: `{ at, events, slos: [...] }`.
pub struct Document<'a>(pub &'a Report);

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("at", &format_rfc3339(self.0.at_ms))?;
        m.serialize_entry::<_, EventCounts>("events", &self.0.events)?;
        let slos: Vec<Entry<'_>> = self.0.slos.iter().map(Entry).collect();
        m.serialize_entry("slos", &slos)?;
        m.end()
    }
}

struct Entry<'a>(&'a SeriesReport);

/// `(total, good)` of the series' own SLO window.
fn own_window(s: &SeriesReport) -> (u64, u64) {
    s.windows
        .iter()
        .find(|w| w.window == s.window)
        .map_or((0, 0), |w| (w.total, w.good))
}

impl Serialize for Entry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let series = self.0;
        let (total, good) = own_window(series);
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("name", &series.name)?;
        m.serialize_entry("labels", &Pairs(&series.labels))?;
        m.serialize_entry("objective", &series.objective)?;
        m.serialize_entry("window", &series.window.to_string())?;
        m.serialize_entry("events", &Counts { total, good })?;
        m.serialize_entry("baseline", &series.baseline)?;
        m.serialize_entry("budget_policy", &series.budget_policy)?;
        m.end()
    }
}

struct Counts {
    total: u64,
    good: u64,
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("total", &self.total)?;
        m.serialize_entry("good", &self.good)?;
        m.serialize_entry("bad", &(self.total - self.good))?;
        m.end()
    }
}

const COLUMNS: [&str; 12] = [
    "slo",
    "labels",
    "objective",
    "window",
    "events",
    "bad",
    "achieved %",
    "holds %",
    "next %",
    "to remove",
    "share",
    "action",
];

/// The header of `replay --format table`, then one row per series, columns aligned.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    super::table::header(&mut out, report);
    out.push('\n');
    let dash = || "-".to_owned();
    let rows: Vec<[String; 12]> = report
        .slos
        .iter()
        .map(|s| {
            let (total, good) = own_window(s);
            let b = &s.baseline;
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            [
                s.name.clone(),
                format!("{{{}}}", labels.join(", ")),
                format!("{}%", super::table::percent(s.objective)),
                s.window.to_string(),
                total.to_string(),
                (total - good).to_string(),
                b.achieved
                    .map_or_else(dash, |a| format!("{:.4}", a * 100.0)),
                b.holds.map_or_else(dash, |p| p.to_string()),
                b.next.map_or_else(dash, |p| p.to_string()),
                b.bad_events_to_remove.map_or_else(dash, |n| n.to_string()),
                b.bad_share_to_remove
                    .map_or_else(dash, |f| format!("{:.1}%", f * 100.0)),
                s.budget_policy.action().to_owned(),
            ]
        })
        .collect();
    let mut widths = COLUMNS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            // Names and labels to the left, numbers to the right, the action last.
            let _ = match i {
                0 | 1 | 11 => write!(text, "{cell:<w$}  "),
                _ => write!(text, "{cell:>w$}  "),
            };
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&COLUMNS);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::Engine;

    #[test]
    fn json_and_table_of_one_series() {
        let config = crate::config::parse(
            "slos:\n  - { name: pay, service: checkout, indicator: { type: availability }, \
             objective: 99.9, window: 1d }\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        let at = 1_795_262_400_000;
        let mut engine = Engine::new(&config);
        // 9972 good of 10,000: the issue's 99.72 %.
        let lines: Vec<String> = (0..10_000)
            .map(|i| {
                let status = if i < 28 { 500 } else { 200 };
                format!(
                    r#"{{"timestamp":{},"service":"checkout","status":{status},"latency_ms":1}}"#,
                    at - 3_600_000 + i
                )
            })
            .collect();
        engine.ingest_all(lines.iter().map(|l| l.as_bytes()));
        let report = engine.evaluate(at).unwrap();
        let json = serde_json::to_value(Document(&report)).unwrap();
        let s = &json["slos"][0];
        assert_eq!(json["at"], "2026-11-21T12:00:00Z");
        assert_eq!(json["events"]["read"], 10_000);
        assert_eq!(s["name"], "pay");
        assert_eq!(s["objective"], 0.999);
        assert_eq!(
            s["events"],
            serde_json::json!({ "total": 10_000, "good": 9972, "bad": 28 })
        );
        assert_eq!(s["baseline"]["holds"], 0.995);
        assert_eq!(s["baseline"]["next"], 0.999);
        assert_eq!(s["baseline"]["bad_events_to_remove"], 18);
        assert_eq!(s["budget_policy"]["action"], "freeze");

        let text = table(&report);
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], "at 2026-11-21T12:00:00Z");
        assert_eq!(
            rows[3],
            "slo  labels  objective  window  events  bad  achieved %  holds %  next %  to remove  share  action"
        );
        assert_eq!(
            rows[4],
            "pay  {}          99.9%      1d   10000   28     99.7200     99.5    99.9         18  64.3%  freeze"
        );
    }
}

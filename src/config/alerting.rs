//! Burn-rate alerting: the `alerting` section (where alerts go) and each SLO's `alerts`
//! (which rules fire). Raw mirrors first, then [`build_policy`] and [`build_settings`],
//! pure.
//!
//! The default rules are the Google SRE Workbook's multiwindow, multi-burn-rate alerts for
//! a 30-day SLO window. For another SLO window W, every window of the defaults is scaled
//! by W / 30d (rounded to whole minutes, at least a minute) and the burn rates are kept:
//! each rule then still fires when the same share of the budget (2 %, 5 %, 10 %, 10 %)
//! is spent within the same share of the SLO window. Rules written out in the config are
//! taken as they are.

use serde::Deserialize;

use super::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// Fires when the burn rate exceeds `burn_rate` over both windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertRule {
    pub severity: Severity,
    pub long: Span,
    pub short: Span,
    pub burn_rate: f64,
}

/// The alert rules of one SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertPolicy {
    pub rules: Vec<AlertRule>,
    /// No alert fires with fewer events than this in the rule's long window.
    pub min_events: u64,
    /// How long a rule's condition must hold before its alert fires.
    pub for_ms: i64,
}

impl AlertPolicy {
    /// Every window a rule reads.
    pub fn windows(&self) -> impl Iterator<Item = Span> + '_ {
        self.rules.iter().flat_map(|r| [r.long, r.short])
    }
}

/// Where alerts go (`run`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertingSettings {
    pub alertmanager: Option<AlertmanagerSettings>,
    /// Alert transitions, as JSON records, to this topic (on the brokers of `kafka`).
    pub kafka_topic: Option<String>,
    /// `{slo}` is replaced by the SLO's name.
    pub runbook_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertmanagerSettings {
    /// Base URL, e.g. `http://127.0.0.1:9093`; alerts go to `{url}/api/v2/alerts`.
    pub url: String,
    pub resend_interval_ms: i64,
}

const MINUTE: u64 = 60;
/// (severity, long, short, burn rate) for a 30-day SLO window.
const WORKBOOK: [(Severity, u64, u64, f64); 4] = [
    (Severity::Page, 60 * MINUTE, 5 * MINUTE, 14.4),
    (Severity::Page, 6 * 60 * MINUTE, 30 * MINUTE, 6.0),
    (Severity::Ticket, 24 * 60 * MINUTE, 2 * 60 * MINUTE, 3.0),
    (Severity::Ticket, 72 * 60 * MINUTE, 6 * 60 * MINUTE, 1.0),
];
const WORKBOOK_WINDOW: u64 = 30 * 24 * 60 * MINUTE;
pub const DEFAULT_MIN_EVENTS: u64 = 10;
const DEFAULT_RESEND_MS: i64 = 60_000;

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping: alertmanager, kafka_topic, runbook_url, min_events, for"
)]
pub struct RawAlerting {
    pub alertmanager: Option<RawAlertmanager>,
    pub kafka_topic: Option<String>,
    pub runbook_url: Option<String>,
    /// Default of every SLO's `alerts.min_events`.
    pub min_events: Option<u64>,
    /// Default of every SLO's `alerts.for`.
    #[serde(rename = "for")]
    pub for_: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: url, resend_interval")]
pub struct RawAlertmanager {
    pub url: String,
    pub resend_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping: page, ticket, min_events, for"
)]
pub struct RawSloAlerts {
    pub page: Option<RawTier>,
    pub ticket: Option<RawTier>,
    pub min_events: Option<u64>,
    #[serde(rename = "for")]
    pub for_: Option<String>,
}

/// `off` (or `false`), or the tier's own list of rules.
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "`off`, or a list of rules such as `[{ long: 1h, short: 5m, burn_rate: 14.4 }]`"
)]
pub enum RawTier {
    Switch(bool),
    Word(String),
    Rules(Vec<RawRule>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a rule: long, short, burn_rate")]
pub struct RawRule {
    pub long: String,
    pub short: String,
    pub burn_rate: f64,
}

/// The rules of an SLO with window `window`: `(field, message)` on error, the field
/// relative to the SLO.
pub fn build_policy(
    raw: Option<&RawSloAlerts>,
    defaults: Option<&RawAlerting>,
    window: Span,
) -> Result<AlertPolicy, (String, String)> {
    let empty = RawSloAlerts::default();
    let raw = raw.unwrap_or(&empty);
    let mut rules = Vec::new();
    for (severity, tier, key) in [
        (Severity::Page, &raw.page, "alerts.page"),
        (Severity::Ticket, &raw.ticket, "alerts.ticket"),
    ] {
        match tier {
            None | Some(RawTier::Switch(true)) => rules.extend(scaled(severity, window)),
            Some(RawTier::Switch(false)) => {}
            Some(RawTier::Word(w)) if w == "off" => {}
            Some(RawTier::Word(w)) => {
                return Err((
                    key.into(),
                    format!("`{w}` is not a tier setting; write `off` or a list of rules"),
                ));
            }
            Some(RawTier::Rules(list)) => {
                for (i, r) in list.iter().enumerate() {
                    let at = |f: &str| format!("{key}[{i}].{f}");
                    let long = Span::parse(&r.long).map_err(|m| (at("long"), m))?;
                    let short = Span::parse(&r.short).map_err(|m| (at("short"), m))?;
                    if short >= long {
                        return Err((
                            at("short"),
                            format!("{short} is not shorter than the long window {long}"),
                        ));
                    }
                    if long > window {
                        return Err((
                            at("long"),
                            format!("{long} is longer than the SLO window {window}"),
                        ));
                    }
                    if !(r.burn_rate.is_finite() && r.burn_rate > 0.0) {
                        return Err((
                            at("burn_rate"),
                            format!("must be a positive number, got {}", r.burn_rate),
                        ));
                    }
                    rules.push(AlertRule {
                        severity,
                        long,
                        short,
                        burn_rate: r.burn_rate,
                    });
                }
            }
        }
    }
    let min_events = raw
        .min_events
        .or(defaults.and_then(|d| d.min_events))
        .unwrap_or(DEFAULT_MIN_EVENTS);
    let for_text = raw
        .for_
        .as_deref()
        .or(defaults.and_then(|d| d.for_.as_deref()));
    let for_ms = match for_text {
        None => 0,
        Some(t) => super::run::millis(t, true).map_err(|m| ("alerts.for".to_owned(), m))?,
    };
    Ok(AlertPolicy {
        rules,
        min_events,
        for_ms,
    })
}

/// The workbook's rules of `severity`, their windows scaled to an SLO window `window`.
fn scaled(severity: Severity, window: Span) -> impl Iterator<Item = AlertRule> {
    let scale = move |secs: u64| {
        let minutes = (secs as f64 * window.secs() as f64 / WORKBOOK_WINDOW as f64 / 60.0).round();
        Span::from_secs((minutes as u64).max(1) * MINUTE)
    };
    WORKBOOK
        .into_iter()
        .filter(move |r| r.0 == severity)
        .map(move |(severity, long, short, burn_rate)| AlertRule {
            severity,
            long: scale(long),
            short: scale(short),
            burn_rate,
        })
        .filter(|r| r.short < r.long)
}

/// The `alerting` section.
pub fn build_settings(raw: Option<&RawAlerting>) -> Result<AlertingSettings, (String, String)> {
    let Some(raw) = raw else {
        return Ok(AlertingSettings::default());
    };
    let alertmanager = match &raw.alertmanager {
        None => None,
        Some(am) => {
            let url = am.url.trim().trim_end_matches('/').to_owned();
            if !url.starts_with("http://") {
                return Err((
                    "alerting.alertmanager.url".into(),
                    format!("`{url}` must start with http:// (TLS is not supported yet)"),
                ));
            }
            let resend_interval_ms = match &am.resend_interval {
                None => DEFAULT_RESEND_MS,
                Some(t) => super::run::millis(t, false)
                    .map_err(|m| ("alerting.alertmanager.resend_interval".to_owned(), m))?,
            };
            Some(AlertmanagerSettings {
                url,
                resend_interval_ms,
            })
        }
    };
    if raw
        .kafka_topic
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        return Err(("alerting.kafka_topic".into(), "name a topic".into()));
    }
    Ok(AlertingSettings {
        alertmanager,
        kafka_topic: raw.kafka_topic.as_deref().map(|t| t.trim().to_owned()),
        runbook_url: raw.runbook_url.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(p: &AlertPolicy) -> Vec<(String, String, f64)> {
        p.rules
            .iter()
            .map(|r| (r.long.to_string(), r.short.to_string(), r.burn_rate))
            .collect()
    }

    #[test]
    fn defaults_are_the_workbook_for_30d_and_scale_with_the_window() {
        let p = build_policy(None, None, Span::from_secs(WORKBOOK_WINDOW)).unwrap();
        assert_eq!(
            windows(&p),
            [
                ("1h".into(), "5m".into(), 14.4),
                ("6h".into(), "30m".into(), 6.0),
                ("1d".into(), "2h".into(), 3.0),
                ("3d".into(), "6h".into(), 1.0),
            ]
        );
        assert_eq!((p.min_events, p.for_ms), (DEFAULT_MIN_EVENTS, 0));
        let week = build_policy(None, None, Span::from_secs(7 * 86_400)).unwrap();
        assert_eq!(week.rules[0].long, Span::from_secs(14 * 60));
        assert_eq!(week.rules[0].short, Span::from_secs(60));
        assert_eq!(week.rules[0].burn_rate, 14.4);
    }

    #[test]
    fn tiers_can_be_switched_off_or_written_out() {
        let raw = RawSloAlerts {
            page: Some(RawTier::Rules(vec![RawRule {
                long: "2h".into(),
                short: "10m".into(),
                burn_rate: 10.0,
            }])),
            ticket: Some(RawTier::Word("off".into())),
            min_events: Some(50),
            for_: Some("2m".into()),
        };
        let p = build_policy(Some(&raw), None, Span::from_secs(WORKBOOK_WINDOW)).unwrap();
        assert_eq!(windows(&p), [("2h".into(), "10m".into(), 10.0)]);
        assert_eq!((p.min_events, p.for_ms), (50, 120_000));
    }

    #[test]
    fn bad_rules_name_their_field() {
        let raw = RawSloAlerts {
            page: Some(RawTier::Rules(vec![RawRule {
                long: "5m".into(),
                short: "1h".into(),
                burn_rate: 10.0,
            }])),
            ..Default::default()
        };
        let (field, message) =
            build_policy(Some(&raw), None, Span::from_secs(WORKBOOK_WINDOW)).unwrap_err();
        assert_eq!(field, "alerts.page[0].short");
        assert!(message.contains("not shorter"), "{message}");
        let raw = RawSloAlerts {
            ticket: Some(RawTier::Word("sometimes".into())),
            ..Default::default()
        };
        let (field, _) = build_policy(Some(&raw), None, Span::DAY).unwrap_err();
        assert_eq!(field, "alerts.ticket");
    }
}

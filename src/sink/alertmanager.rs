//! Alerts → Alertmanager (`POST /api/v2/alerts`), the way Prometheus feeds it: every
//! firing alert is re-sent each `resend_interval` with an `endsAt` a few intervals ahead
//! (so alerts expire if slipstream dies), and a resolved alert is sent with `endsAt` at
//! its resolution, for a few intervals.
//!
//! Never in the way of ingestion: the evaluator only replaces the latest batch of
//! alerts to send (one slot, so the queue is bounded by construction; a batch replaced
//! before it was sent is counted as dropped, and the newer one carries the same alerts).
//! A sender task posts it, with retries and backoff, on its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::alert::{Alert, AlertBook, State, describe};
use crate::config::{AlertmanagerSettings, ServiceMatch, Slo};
use crate::decode::timestamp::format_rfc3339;

/// The `alertname` label of every alert slipstream sends.
pub const ALERT_NAME: &str = "SLOErrorBudgetBurn";
/// Firing alerts say they end this many resend intervals ahead; resolved ones are sent
/// for this many intervals after they resolve.
const AHEAD: i64 = 4;
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const TIMEOUT: Duration = Duration::from_secs(5);

/// What the evaluator hands over, and the sender's counters.
#[derive(Default)]
pub struct Outbox {
    pending: Mutex<Option<Vec<u8>>>,
    wake: Notify,
    pub sent: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
    pub dropped: std::sync::atomic::AtomicU64,
}

impl Outbox {
    /// Replaces the batch waiting to be sent.
    fn put(&self, body: Vec<u8>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.replace(body).is_some() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        drop(pending);
        self.wake.notify_one();
    }
}

/// Builds the Alertmanager payloads from the alert book, and decides when to send.
pub struct AlertmanagerSink {
    settings: AlertmanagerSettings,
    runbook_url: Option<String>,
    /// Where `generatorURL` points: slipstream's own API.
    api_base: String,
    outbox: Arc<Outbox>,
    last_sent_ms: Option<i64>,
}

impl AlertmanagerSink {
    /// Starts the sender task on the current runtime.
    pub fn start(
        settings: AlertmanagerSettings,
        runbook_url: Option<String>,
        api_base: String,
    ) -> AlertmanagerSink {
        let outbox = Arc::new(Outbox::default());
        tokio::spawn(send_forever(
            format!("{}/api/v2/alerts", settings.url),
            outbox.clone(),
        ));
        AlertmanagerSink {
            settings,
            runbook_url,
            api_base,
            outbox,
            last_sent_ms: None,
        }
    }

    /// After a config reload: the new `alerting.runbook_url`.
    pub fn set_runbook_url(&mut self, runbook_url: Option<String>) {
        self.runbook_url = runbook_url;
    }

    pub fn outbox(&self) -> Arc<Outbox> {
        self.outbox.clone()
    }

    /// After an evaluation at `at_ms`: sends at once when an alert fired or resolved,
    /// otherwise every resend interval while anything is firing or recently resolved.
    pub fn after_evaluation(&mut self, book: &AlertBook, slos: &[Slo], changed: bool, at_ms: i64) {
        let resend = self.settings.resend_interval_ms;
        let due = self.last_sent_ms.is_none_or(|last| at_ms - last >= resend);
        if !(changed || due) {
            return;
        }
        let alerts: Vec<serde_json::Value> = book
            .active()
            .into_iter()
            .filter(|a| match a.state {
                State::Firing => true,
                State::Resolved => a.resolved_ms.is_some_and(|r| at_ms - r <= AHEAD * resend),
                State::Pending | State::Inactive => false,
            })
            .map(|a| self.payload(a, slos, at_ms))
            .collect();
        if alerts.is_empty() && !changed {
            return;
        }
        self.last_sent_ms = Some(at_ms);
        let body = serde_json::to_vec(&alerts).expect("alerts serialize");
        self.outbox.put(body);
    }

    fn payload(&self, a: &Alert, slos: &[Slo], at_ms: i64) -> serde_json::Value {
        let mut labels = serde_json::Map::new();
        labels.insert("alertname".into(), ALERT_NAME.into());
        labels.insert("slo".into(), a.slo.clone().into());
        labels.insert("severity".into(), a.severity.as_str().into());
        let slo = slos.iter().find(|s| s.name == a.slo);
        if let Some(ServiceMatch::Exact(service)) = slo.map(|s| &s.service) {
            labels.insert("service".into(), service.clone().into());
        }
        for (k, v) in &a.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        let budget = a
            .error_budget_remaining
            .map_or("unknown (no traffic)".to_owned(), |b| {
                format!("{:.1} %", b * 100.0)
            });
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            "summary".into(),
            format!(
                "SLO {} ({:.3} %) is burning its error budget: {}",
                a.slo,
                a.objective * 100.0,
                a.severity.as_str()
            )
            .into(),
        );
        let why = a.hit.as_ref().map_or(String::new(), describe);
        annotations.insert(
            "description".into(),
            format!("{why}; error budget left {budget}").into(),
        );
        if let Some(url) = &self.runbook_url {
            annotations.insert("runbook_url".into(), url.replace("{slo}", &a.slo).into());
        }
        let ends = match a.resolved_ms {
            Some(r) if a.state == State::Resolved => r,
            _ => at_ms + AHEAD * self.settings.resend_interval_ms,
        };
        serde_json::json!({
            "labels": labels,
            "annotations": annotations,
            "startsAt": format_rfc3339(a.since_ms),
            "endsAt": format_rfc3339(ends),
            "generatorURL": format!("{}/api/v1/alerts", self.api_base),
        })
    }
}

async fn send_forever(url: String, outbox: Arc<Outbox>) {
    loop {
        outbox.wake.notified().await;
        let Some(body) = outbox
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            continue;
        };
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            match tokio::time::timeout(
                TIMEOUT,
                super::http_post::post(&url, "application/json", &body),
            )
            .await
            {
                Ok(Ok(_)) => {
                    outbox
                        .sent
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                Ok(Err(e)) => tracing::warn!("alertmanager {url}, attempt {attempt}: {e}"),
                Err(_) => tracing::warn!("alertmanager {url}, attempt {attempt}: timed out"),
            }
            if attempt == ATTEMPTS {
                outbox
                    .failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            } else {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::config::{self, Span};
    use crate::report::{EventCounts, Lifetime, Report, SeriesReport, WindowReport};

    /// A report in which every window of `checkout` burns at rate 500.
    fn burning(at_ms: i64) -> Report {
        let windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
            .iter()
            .map(|w| WindowReport {
                window: Span::parse(w).unwrap(),
                total: 1000,
                good: 500,
                sli: Some(0.5),
                burn_rate: Some(500.0),
                latency_ms: None,
            })
            .collect();
        Report {
            at_ms,
            events: EventCounts::default(),
            overflow: Vec::new(),
            rollups: None,
            slos: vec![SeriesReport {
                name: "checkout".into(),
                labels: vec![],
                objective: 0.999,
                window: Span::from_secs(30 * 86_400),
                tier: None,
                error_budget_remaining: Some(-10.0),
                windows,
                alert_windows: vec![],
                baseline: Default::default(),
                budget_policy: crate::report::budget::BudgetAction::Normal { no_traffic: true },
                lifetime: Lifetime::default(),
                composite: None,
            }],
        }
    }

    #[test]
    fn a_down_alertmanager_is_retried_counted_and_never_waited_for() {
        let config = config::parse(
            "slos: [{ name: checkout, service: checkout, indicator: { type: availability }, \
             objective: 99.9, window: 30d }]",
            Path::new("am.yaml"),
        )
        .unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _guard = rt.enter();
        // Nothing listens on port 9 (discard) of loopback here: every post is refused.
        let settings = AlertmanagerSettings {
            url: "http://127.0.0.1:9".into(),
            resend_interval_ms: 1,
        };
        let mut sink = AlertmanagerSink::start(settings, None, "http://slipstream".into());
        let mut book = AlertBook::default();
        let outbox = sink.outbox();
        let started = std::time::Instant::now();
        for i in 0..50 {
            let report = burning(i);
            let changed = !book
                .update(&report, &config.slos, &config.composites)
                .is_empty();
            sink.after_evaluation(&book, &config.slos, changed, report.at_ms);
        }
        // Fifty evaluations handed over without waiting on the network.
        assert!(started.elapsed() < Duration::from_millis(500));
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while outbox.failed.load(Ordering::Relaxed) == 0 {
            assert!(std::time::Instant::now() < deadline, "no failure counted");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            outbox.dropped.load(Ordering::Relaxed) > 0,
            "batches replaced while retrying"
        );
        assert_eq!(outbox.sent.load(Ordering::Relaxed), 0);
    }
}

//! The self-metrics of config reloads (docs/metrics.md), copied from
//! [`ReloadStats`] at each evaluation.

use std::sync::atomic::Ordering;

use metrics::{Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::prometheus::PrometheusSink;
use crate::run::reload::ReloadStats;

impl PrometheusSink {
    pub fn publish_config(&self, stats: &ReloadStats) {
        for (result, n) in [("applied", &stats.applied), ("rejected", &stats.rejected)] {
            let labels = vec![Label::new("result", result)];
            self.counter("slipstream_config_reloads_total", labels)
                .absolute(n.load(Ordering::Relaxed));
        }
        let last = stats.last_success_unix_ms.load(Ordering::Relaxed);
        if last > 0 {
            self.gauge(
                "slipstream_config_last_reload_success_timestamp_seconds",
                Vec::new(),
            )
            .set(last as f64 / 1e3);
        }
        let file = stats.file.read().unwrap_or_else(|e| e.into_inner());
        if let Some((path, sha256)) = file.as_ref() {
            // In the registry a reload replaces: the series of the previous file goes.
            let labels = vec![
                Label::new("file", path.display().to_string()),
                Label::new("sha256", sha256.clone()),
            ];
            self.slo_gauge("slipstream_config_info", labels).set(1.0);
        }
    }
}

pub(super) fn describe(recorder: &PrometheusRecorder) {
    recorder.describe_counter(
        "slipstream_config_reloads_total".into(),
        None,
        "Config reloads (SIGHUP or a change of the file), by result: applied or rejected.".into(),
    );
    recorder.describe_gauge(
        "slipstream_config_last_reload_success_timestamp_seconds".into(),
        None,
        "When (Unix seconds) the running config was loaded: at start or by the last reload applied."
            .into(),
    );
    recorder.describe_gauge(
        "slipstream_config_info".into(),
        None,
        "1, labelled with the loaded config file and the SHA-256 of its content.".into(),
    );
}

//! The self-metrics of scale-out (docs/metrics.md), copied from [`ScaleStatus`] into the
//! Prometheus registry at each evaluation.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::prometheus::PrometheusSink;
use crate::scale::ScaleStatus;

impl PrometheusSink {
    pub fn publish_scale(&self, s: &ScaleStatus) {
        let owned = s.owned().len() as f64;
        self.gauge("slipstream_scale_out_owned_partitions", Vec::new())
            .set(owned);
        let results: [(&str, &AtomicU64); 4] = [
            ("applied", &s.applied),
            ("duplicate", &s.duplicate),
            ("rejected", &s.rejected),
            ("overlap", &s.overlap),
        ];
        for (result, n) in results {
            let labels = vec![Label::new("result", result)];
            self.counter("slipstream_repartition_records_total", labels)
                .absolute(n.load(Ordering::Relaxed));
        }
        self.copy(
            "slipstream_repartition_produced_records_total",
            &s.produced_records,
        );
        self.copy(
            "slipstream_repartition_produced_bytes_total",
            &s.produced_bytes,
        );
        for (kind, n) in [
            ("written", &s.changelog_written),
            ("restored", &s.changelog_restored),
        ] {
            let labels = vec![Label::new("kind", kind)];
            self.counter("slipstream_changelog_records_total", labels)
                .absolute(n.load(Ordering::Relaxed));
        }
    }
}

pub(super) fn describe(recorder: &PrometheusRecorder) {
    recorder.describe_gauge(
        "slipstream_scale_out_owned_partitions".into(),
        None,
        "Repartition partitions this instance owns (stage 2): its series are the ones on /metrics."
            .into(),
    );
    let counters = [
        (
            "slipstream_repartition_records_total",
            "Repartition records read by stage 2, by result: applied, duplicate (dropped: its source range was counted), rejected (undecodable, or another config), overlap (applied, partly counted before).",
        ),
        (
            "slipstream_repartition_produced_records_total",
            "Partial-bucket records stage 1 produced and the broker acknowledged.",
        ),
        (
            "slipstream_repartition_produced_bytes_total",
            "Key and value bytes of those records.",
        ),
        (
            "slipstream_changelog_records_total",
            "Series records written to the changelog topic, or restored from it on assignment.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
}

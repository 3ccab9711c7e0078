//! The self-metrics of scale-out (docs/metrics.md), copied from [`ScaleStatus`] into the
//! Prometheus registry at each evaluation.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::prometheus::PrometheusSink;
use crate::scale::ScaleStatus;

impl PrometheusSink {
    /// `cache`: a local cache of the changelog is configured (`state.dir`).
    pub fn publish_scale(&self, s: &ScaleStatus, cache: bool) {
        let owned = s.owned().len() as f64;
        self.gauge("slipstream_scale_out_owned_partitions", Vec::new())
            .set(owned);
        let results: [(&str, &AtomicU64); 5] = [
            ("applied", &s.applied),
            ("duplicate", &s.duplicate),
            ("rejected", &s.rejected),
            ("overlap", &s.overlap),
            ("unkeyed", &s.unkeyed),
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
            ("read", &s.changelog_read),
        ] {
            let labels = vec![Label::new("kind", kind)];
            self.counter("slipstream_changelog_records_total", labels)
                .absolute(n.load(Ordering::Relaxed));
        }
        if cache {
            for (result, n) in [
                ("hit", &s.cache_hits),
                ("miss", &s.cache_misses),
                ("invalid", &s.cache_invalid),
            ] {
                let labels = vec![Label::new("result", result)];
                self.counter("slipstream_changelog_cache_total", labels)
                    .absolute(n.load(Ordering::Relaxed));
            }
        }
    }
}

pub(super) fn describe(recorder: &PrometheusRecorder) {
    recorder.describe_gauge(
        "slipstream_scale_out_owned_partitions".into(),
        None,
        "Partitions this instance owns (of the repartition topic, or of the input with input_keyed): its series are the ones on /metrics."
            .into(),
    );
    let counters = [
        (
            "slipstream_repartition_records_total",
            "Partial-bucket records applied to owned series (from the repartition topic, or in process with input_keyed), by result: applied, duplicate (dropped: its source range was counted), rejected (undecodable, or another config), overlap (applied, partly counted before), unkeyed (applied, for a series already met in another partition: the input is not keyed as input_keyed says).",
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
            "Series records by kind: written to the changelog topic, restored on assignment (from the local cache or the topic), read from the topic by restores.",
        ),
        (
            "slipstream_changelog_cache_total",
            "Partitions assigned, by what the local changelog cache (state.dir) gave: hit (used; only the changelog's tail read), miss (no file), invalid (not usable: damaged, or not of this changelog; read whole).",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
}

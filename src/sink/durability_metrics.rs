//! The self-metrics of checkpoints and of the dead-letter topic (docs/metrics.md), copied
//! from the stats their threads keep into the Prometheus registry at each evaluation.

use std::sync::atomic::Ordering;

use metrics::{Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::kafka::KafkaSinkStats;
use super::prometheus::PrometheusSink;
use crate::state::{CheckpointStats, LoadReason};

impl PrometheusSink {
    pub fn publish_durability(
        &self,
        checkpoints: Option<&CheckpointStats>,
        dead_letters: Option<&KafkaSinkStats>,
    ) {
        if let Some(c) = checkpoints {
            self.copy("slipstream_checkpoints_total", &c.written);
            self.copy("slipstream_checkpoint_failures_total", &c.failed);
            for reason in LoadReason::ALL {
                let n = c.load_failures[reason as usize].load(Ordering::Relaxed);
                let labels = vec![Label::new("reason", reason.as_str())];
                self.counter("slipstream_checkpoint_load_failures_total", labels)
                    .absolute(n);
            }
            let gauge = |name, value: f64| self.gauge(name, Vec::new()).set(value);
            let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed) as f64;
            gauge(
                "slipstream_checkpoint_restored_series",
                load(&c.restored_series),
            );
            if c.written.load(Ordering::Relaxed) > 0 {
                gauge("slipstream_checkpoint_seconds", c.last_seconds());
                gauge("slipstream_checkpoint_bytes", load(&c.last_bytes));
                gauge("slipstream_checkpoint_series", load(&c.last_series));
                gauge(
                    "slipstream_checkpoint_last_success_timestamp_seconds",
                    load(&c.last_unix_ms) / 1e3,
                );
                gauge(
                    "slipstream_checkpoint_max_pause_seconds",
                    load(&c.max_hold_us) / 1e6,
                );
            }
        }
        if let Some(d) = dead_letters {
            self.copy("slipstream_dead_letters_delivered_total", &d.delivered);
            self.copy("slipstream_dead_letters_failed_total", &d.failed);
            self.copy("slipstream_dead_letters_dropped_total", &d.dropped);
        }
    }
}

pub(super) fn describe(recorder: &PrometheusRecorder) {
    let counters = [
        ("slipstream_checkpoints_total", "Checkpoints made durable."),
        (
            "slipstream_checkpoint_failures_total",
            "Checkpoints that could not be written; offsets stay uncommitted until one is.",
        ),
        (
            "slipstream_checkpoint_load_failures_total",
            "Checkpoint files that could not be used at start, by reason; an older one was used.",
        ),
        (
            "slipstream_dead_letters_delivered_total",
            "Invalid messages the broker acknowledged on the dead-letter topic.",
        ),
        (
            "slipstream_dead_letters_failed_total",
            "Invalid messages that could not be delivered to the dead-letter topic.",
        ),
        (
            "slipstream_dead_letters_dropped_total",
            "Invalid messages not sent to the dead-letter topic because its queue was full.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
    let gauges = [
        (
            "slipstream_checkpoint_seconds",
            "Time to take and write the last checkpoint.",
        ),
        (
            "slipstream_checkpoint_bytes",
            "Size of the last checkpoint file.",
        ),
        (
            "slipstream_checkpoint_series",
            "Series in the last checkpoint.",
        ),
        (
            "slipstream_checkpoint_last_success_timestamp_seconds",
            "When (Unix seconds) the last checkpoint became durable.",
        ),
        (
            "slipstream_checkpoint_max_pause_seconds",
            "Longest that one step of a checkpoint held ingestion, since start.",
        ),
        (
            "slipstream_checkpoint_restored_series",
            "Series restored from a checkpoint at start.",
        ),
    ];
    for (name, help) in gauges {
        recorder.describe_gauge(name.into(), None, help.into());
    }
}

//! Reports → OpenTelemetry: the SLI, burn-rate and error-budget gauges, exported over OTLP
//! (gRPC or HTTP/protobuf) by the opentelemetry SDK's periodic reader, every
//! `outputs.otlp.interval`.
//!
//! The gauges are observable: at each export the SDK calls back, and the callbacks read
//! the newest report the evaluator made. Nothing is recorded per event or per
//! evaluation, and a slow collector delays only the SDK's own export thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{MeterProvider, ObservableGauge};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{Instrument, PeriodicReader, SdkMeterProvider, Stream};

use crate::config::outputs::{OtlpOutput, OtlpProtocol};
use crate::report::{Report, SeriesReport};

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter to {endpoint}: {message}")]
pub struct OtlpError {
    endpoint: String,
    message: String,
}

/// Data points per instrument at most: SLO series × windows.
const CARDINALITY: usize = 1 << 20;

/// The newest report, shared with the evaluator.
pub type Latest = Arc<Mutex<Option<Arc<Report>>>>;

pub struct OtlpSink {
    provider: SdkMeterProvider,
    _gauges: Vec<ObservableGauge<f64>>,
}

impl OtlpSink {
    /// Must run inside the Tokio runtime: the gRPC client lives on it.
    pub fn start(
        settings: &OtlpOutput,
        latest: Latest,
        instance: String,
    ) -> Result<Self, OtlpError> {
        let error = |e: &dyn std::fmt::Display| OtlpError {
            endpoint: settings.endpoint.clone(),
            message: e.to_string(),
        };
        let exporter = match settings.protocol {
            OtlpProtocol::Grpc => opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(&settings.endpoint)
                .with_timeout(Duration::from_secs(5))
                .build(),
            OtlpProtocol::HttpProtobuf => opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(&settings.endpoint)
                .with_timeout(Duration::from_secs(5))
                .build(),
        }
        .map_err(|e| error(&e))?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(Duration::from_millis(settings.interval_ms as u64))
            .build();
        let resource = Resource::builder()
            .with_service_name("slipstream")
            .with_attribute(KeyValue::new("service.instance.id", instance))
            .build();
        // The SDK folds attribute sets beyond its default limit (2,000 per instrument) into
        // one overflow point; every series must get through.
        let limit = |_: &Instrument| {
            Stream::builder()
                .with_cardinality_limit(CARDINALITY)
                .build()
                .ok()
        };
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(reader)
            .with_view(limit)
            .build();
        let meter = provider.meter("slipstream");
        let gauge = |name: &'static str, description: &'static str, value: Value| {
            let latest = latest.clone();
            meter
                .f64_observable_gauge(name)
                .with_description(description)
                .with_callback(move |observer| {
                    let report = latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    for series in report.iter().flat_map(|r| &r.slos) {
                        value(series, &mut |v, attributes| observer.observe(v, attributes));
                    }
                })
                .build()
        };
        let gauges = vec![
            gauge(
                "slipstream.sli",
                "Good over total events in the window",
                per_window(|w| w.sli),
            ),
            gauge(
                "slipstream.burn_rate",
                "Error ratio in the window over the allowed one",
                per_window(|w| w.burn_rate),
            ),
            gauge(
                "slipstream.error_budget_remaining",
                "Share of the SLO window's error budget left",
                Box::new(|series, observe| {
                    if let Some(b) = series.error_budget_remaining {
                        observe(b, &attributes(series, None));
                    }
                }),
            ),
        ];
        Ok(OtlpSink {
            provider,
            _gauges: gauges,
        })
    }

    /// Collects and exports now, waiting for the export.
    pub fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            tracing::debug!("OTLP export: {e}");
        }
    }

    /// Exports once more and stops the reader.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!("OTLP exporter: {e}");
        }
    }
}

type Observe<'a> = &'a mut dyn FnMut(f64, &[KeyValue]);
type Value = Box<dyn Fn(&SeriesReport, Observe<'_>) + Send + Sync>;

/// A value of every window of a series; windows without one (no traffic) are left out.
fn per_window(value: fn(&crate::report::WindowReport) -> Option<f64>) -> Value {
    Box::new(move |series, observe| {
        for w in &series.windows {
            if let Some(v) = value(w) {
                observe(v, &attributes(series, Some(&w.window.to_string())));
            }
        }
    })
}

fn attributes(series: &SeriesReport, window: Option<&str>) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(series.labels.len() + 2);
    out.push(KeyValue::new("slo", series.name.clone()));
    if let Some(w) = window {
        out.push(KeyValue::new("window", w.to_owned()));
    }
    out.extend(
        series
            .labels
            .iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
    );
    out
}

//! Report → OTLP protobuf: `ExportMetricsServiceRequest`s of the SLI, burn-rate and
//! error-budget gauges, each at most [`REQUEST_BYTES`] long.
//!
//! Written straight into byte buffers, field by field, rather than through the SDK's
//! instruments or prost's message structs: every data point of a series shares that
//! series' attributes, which are encoded once per series and copied, so an export of
//! 10,000 series (170,000 data points) allocates a few buffers, not a million strings.
//! The field numbers are those of opentelemetry-proto's `metrics.proto`,
//! `common.proto` and `resource.proto`; the tests decode the output with the
//! opentelemetry-proto crate's own types.
//!
//! Requests are cut between series, so that no receiver's limit on a message is met: an
//! OpenTelemetry Collector accepts gRPC messages up to 4 MiB by default, and one export
//! of 10,000 series is about 25 MB.

use crate::config::Span;
use crate::report::{Report, SeriesReport};

/// The largest request this encoder makes (unless one series alone is larger): well under
/// the 4 MiB a gRPC server accepts by default, and the 2 MB of common HTTP body limits.
pub const REQUEST_BYTES: usize = 1 << 20;

/// The three gauges: name, description, and which value of a series they carry.
const GAUGES: [(&str, &str); 3] = [
    ("slipstream.sli", "Good over total events in the window"),
    (
        "slipstream.burn_rate",
        "Error ratio in the window over the allowed one",
    ),
    (
        "slipstream.error_budget_remaining",
        "Share of the SLO window's error budget left",
    ),
];
const SLI: usize = 0;
const BURN_RATE: usize = 1;
const BUDGET: usize = 2;

/// Protobuf wire types.
const LEN: u8 = 2;
const FIXED64: u8 = 1;

/// Reusable buffers of one exporter; [`Encoder::encode`] is all there is.
pub struct Encoder {
    /// The `resource` field of a `ResourceMetrics`, and the `scope` field of a
    /// `ScopeMetrics`, encoded once.
    resource: Vec<u8>,
    scope: Vec<u8>,
    /// Per gauge, its data points so far in the request being filled (each a
    /// `data_points` field of a `Gauge`).
    points: [Vec<u8>; 3],
    /// The attributes of the series being encoded (`attributes` fields of a
    /// `NumberDataPoint`).
    series: Vec<u8>,
    /// The `window` attribute of each window met so far.
    windows: Vec<(Span, Vec<u8>)>,
}

/// One request [`Encoder::encode`] made.
#[derive(Debug, PartialEq)]
pub struct Request {
    /// An encoded `ExportMetricsServiceRequest`.
    pub body: Vec<u8>,
    pub data_points: u64,
}

impl Encoder {
    /// `resource`: the resource's string attributes (`service.name`, ...).
    pub fn new(resource: &[(&str, &str)], scope_name: &str, scope_version: &str) -> Encoder {
        // A `Resource` is its `attributes` (1); an `InstrumentationScope`, name (1) and
        // version (2).
        let mut attributes = Vec::new();
        for (k, v) in resource {
            key_value(&mut attributes, 1, k, v);
        }
        let mut s = Vec::new();
        field_str(&mut s, 1, scope_name);
        field_str(&mut s, 2, scope_version);
        let (mut resource_field, mut scope_field) = (Vec::new(), Vec::new());
        field_bytes(&mut resource_field, 1, &attributes);
        field_bytes(&mut scope_field, 1, &s);
        Encoder {
            resource: resource_field,
            scope: scope_field,
            points: Default::default(),
            series: Vec::new(),
            windows: Vec::new(),
        }
    }

    /// The gauges of every series of `report`, observed at `time_unix_nano`. A window
    /// without traffic has no data point, rather than NaN.
    pub fn encode(&mut self, report: &Report, time_unix_nano: u64) -> Vec<Request> {
        let mut out = Vec::new();
        for p in &mut self.points {
            p.clear();
        }
        let mut data_points = 0;
        for series in &report.slos {
            data_points += self.add(series, time_unix_nano);
            if self.points.iter().map(Vec::len).sum::<usize>() >= REQUEST_BYTES {
                out.push(self.request(std::mem::take(&mut data_points)));
            }
        }
        if data_points > 0 {
            out.push(self.request(data_points));
        }
        out
    }

    /// Appends the data points of one series; returns how many.
    fn add(&mut self, series: &SeriesReport, time_unix_nano: u64) -> u64 {
        self.series.clear();
        key_value(&mut self.series, 7, "slo", &series.name);
        for (k, v) in &series.labels {
            key_value(&mut self.series, 7, k, v);
        }
        let mut n = 0;
        for w in &series.windows {
            let i = match self.windows.iter().position(|(s, _)| *s == w.window) {
                Some(i) => i,
                None => {
                    let mut attribute = Vec::new();
                    key_value(&mut attribute, 7, "window", &w.window.to_string());
                    self.windows.push((w.window, attribute));
                    self.windows.len() - 1
                }
            };
            let window = &self.windows[i].1;
            for (gauge, value) in [(SLI, w.sli), (BURN_RATE, w.burn_rate)] {
                if let Some(v) = value {
                    point(
                        &mut self.points[gauge],
                        &self.series,
                        window,
                        time_unix_nano,
                        v,
                    );
                    n += 1;
                }
            }
        }
        if let Some(v) = series.error_budget_remaining {
            point(
                &mut self.points[BUDGET],
                &self.series,
                &[],
                time_unix_nano,
                v,
            );
            n += 1;
        }
        n
    }

    /// One request of the `data_points` gathered so far, which it takes.
    fn request(&mut self, data_points: u64) -> Request {
        // Sizes first, from the inside out, so that the request is written in one pass.
        let metric_len = |i: usize, points: &[u8]| {
            let (name, description) = GAUGES[i];
            str_field_len(name)
                + str_field_len(description)
                + str_field_len("1")
                + field_len(points.len())
        };
        let present = || (0..3).filter(|&i| !self.points[i].is_empty());
        let scope_metrics_len = self.scope.len()
            + present()
                .map(|i| field_len(metric_len(i, &self.points[i])))
                .sum::<usize>();
        let resource_metrics_len = self.resource.len() + field_len(scope_metrics_len);
        let mut out = Vec::with_capacity(field_len(resource_metrics_len));
        tag(&mut out, 1, LEN);
        varint(&mut out, resource_metrics_len as u64);
        out.extend_from_slice(&self.resource);
        tag(&mut out, 2, LEN);
        varint(&mut out, scope_metrics_len as u64);
        out.extend_from_slice(&self.scope);
        for i in present() {
            let (name, description) = GAUGES[i];
            tag(&mut out, 2, LEN);
            varint(&mut out, metric_len(i, &self.points[i]) as u64);
            field_str(&mut out, 1, name);
            field_str(&mut out, 2, description);
            field_str(&mut out, 3, "1");
            // `gauge`, field 5 of the `data` oneof; its body is the data points.
            field_bytes(&mut out, 5, &self.points[i]);
        }
        debug_assert_eq!(out.len(), field_len(resource_metrics_len));
        for p in &mut self.points {
            p.clear();
        }
        Request {
            body: out,
            data_points,
        }
    }
}

/// A `data_points` field: a `NumberDataPoint` with the series' attributes, `window`
/// (encoded attribute, or empty), `time_unix_nano` (3) and `as_double` (4).
fn point(out: &mut Vec<u8>, series: &[u8], window: &[u8], time_unix_nano: u64, value: f64) {
    tag(out, 1, LEN);
    varint(out, (series.len() + window.len() + 18) as u64);
    out.extend_from_slice(series);
    out.extend_from_slice(window);
    tag(out, 3, FIXED64);
    out.extend_from_slice(&time_unix_nano.to_le_bytes());
    tag(out, 4, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

/// A `KeyValue` with a string value, as field `field` of the enclosing message.
fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    let any_value_len = str_field_len(value);
    tag(out, field, LEN);
    varint(out, (str_field_len(key) + field_len(any_value_len)) as u64);
    field_str(out, 1, key);
    tag(out, 2, LEN);
    varint(out, any_value_len as u64);
    field_str(out, 1, value);
}

fn field_str(out: &mut Vec<u8>, field: u32, value: &str) {
    field_bytes(out, field, value.as_bytes());
}

fn field_bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    tag(out, field, LEN);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

/// The length of a length-delimited field whose tag is one byte (fields 1 to 15).
fn field_len(body: usize) -> usize {
    1 + varint_len(body as u64) + body
}

fn str_field_len(value: &str) -> usize {
    field_len(value.len())
}

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire_type)));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests;

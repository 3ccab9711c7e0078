//! The encoder's output, decoded with opentelemetry-proto's own message types.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use prost::Message;

use super::{Encoder, REQUEST_BYTES, Request};
use crate::config::Span;
use crate::report::fixtures::series;
use crate::report::{EventCounts, Report, SeriesReport};

const TIME: u64 = 1_790_000_000_123_456_789;

fn report(slos: Vec<SeriesReport>) -> Report {
    Report {
        at_ms: 0,
        events: EventCounts::default(),
        slos,
        overflow: Vec::new(),
        rollups: None,
    }
}

fn encoder() -> Encoder {
    Encoder::new(
        &[
            ("service.name", "slipstream"),
            ("service.instance.id", "7:9898"),
        ],
        "slipstream",
        "0.1.0",
    )
}

fn strings(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|a| match a.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Any::StringValue(s)) => (a.key.clone(), s.clone()),
            other => panic!("attribute {} is not a string: {other:?}", a.key),
        })
        .collect()
}

/// Every data point of `bodies`: (gauge, attributes) → (value, time).
type Points = BTreeMap<(String, Vec<(String, String)>), (f64, u64)>;

fn decode(requests: &[Request]) -> Points {
    let mut points = Points::new();
    for r in requests {
        let before = points.len();
        let request = ExportMetricsServiceRequest::decode(r.body.as_slice()).expect("protobuf");
        assert_eq!(request.resource_metrics.len(), 1);
        let rm = &request.resource_metrics[0];
        let resource = strings(&rm.resource.as_ref().expect("a resource").attributes);
        assert_eq!(
            resource,
            [
                ("service.name".to_owned(), "slipstream".to_owned()),
                ("service.instance.id".to_owned(), "7:9898".to_owned())
            ]
        );
        assert_eq!(rm.scope_metrics.len(), 1);
        let scope = rm.scope_metrics[0].scope.as_ref().expect("a scope");
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("slipstream", "0.1.0")
        );
        for metric in &rm.scope_metrics[0].metrics {
            assert_eq!(metric.unit, "1");
            assert!(!metric.description.is_empty());
            let Some(Data::Gauge(gauge)) = &metric.data else {
                panic!("{} is not a gauge", metric.name)
            };
            for p in &gauge.data_points {
                let Some(Number::AsDouble(v)) = p.value else {
                    panic!("not a double")
                };
                // Attributes are a set: compared sorted.
                let mut attributes = strings(&p.attributes);
                attributes.sort();
                let key = (metric.name.clone(), attributes);
                let old = points.insert(key.clone(), (v, p.time_unix_nano));
                assert!(old.is_none(), "{key:?} twice");
            }
        }
        assert_eq!(points.len() - before, r.data_points as usize);
    }
    points
}

/// Sorted, as [`decode`] keys them.
fn attributes(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out
}

#[test]
fn every_value_of_every_series_decodes_with_its_attributes() {
    let (m5, h1) = (Span::from_secs(300), Span::from_secs(3600));
    let mut empty = series("idle", &[], &[(m5, 0, 0), (h1, 0, 0)]);
    empty.error_budget_remaining = None;
    let report = report(vec![
        series(
            "checkout",
            &[("route", "POST /pay"), ("region", "eu-west-1")],
            &[(m5, 90, 100), (h1, 990, 1000)],
        ),
        empty,
    ]);
    let out = encoder().encode(&report, TIME);
    assert_eq!(out.len(), 1);
    let points = decode(&out);
    let labels = [("route", "POST /pay"), ("region", "eu-west-1")];
    let at = |gauge: &str, window: Option<&str>| {
        let mut a = vec![("slo", "checkout")];
        a.extend(window.map(|w| ("window", w)));
        a.extend(labels);
        points[&(gauge.to_owned(), attributes(&a))]
    };
    assert_eq!(at("slipstream.sli", Some("5m")), (0.9, TIME));
    assert_eq!(at("slipstream.sli", Some("1h")), (0.99, TIME));
    let burn = at("slipstream.burn_rate", Some("5m")).0;
    assert!((burn - 10.0).abs() < 1e-9, "{burn}");
    assert_eq!(
        at("slipstream.error_budget_remaining", None).0,
        report.slos[0].error_budget_remaining.unwrap()
    );
    // 2 windows × 2 gauges + the budget; the idle series has no value at all.
    assert_eq!(points.len(), 5);
}

#[test]
fn an_empty_report_makes_no_request() {
    assert!(encoder().encode(&report(vec![]), TIME).is_empty());
}

#[test]
fn a_large_report_is_cut_into_requests_under_the_limit_and_nothing_is_lost() {
    let windows: Vec<(Span, u64, u64)> = [300, 1800, 3600, 7200, 21_600, 86_400, 259_200]
        .iter()
        .map(|&s| (Span::from_secs(s), 9_990, 10_000))
        .chain(std::iter::once((
            Span::from_secs(2_592_000),
            999_000,
            1_000_000,
        )))
        .collect();
    let slos: Vec<SeriesReport> = (0..10_100)
        .map(|i| {
            let route = format!("GET /api/v1/resource-{i}");
            series(
                "api-availability",
                &[("service", "gateway"), ("route", &route)],
                &windows,
            )
        })
        .collect();
    let report = report(slos);
    let mut encoder = encoder();
    let out = encoder.encode(&report, TIME);
    assert!(out.len() > 10, "{} requests", out.len());
    for r in &out {
        // A request closes at the first series that takes it to the limit.
        assert!(
            r.body.len() < REQUEST_BYTES + 4_096,
            "{} bytes",
            r.body.len()
        );
    }
    let points = decode(&out);
    assert_eq!(points.len(), 10_100 * 17);
    let key = (
        "slipstream.sli".to_owned(),
        attributes(&[
            ("slo", "api-availability"),
            ("window", "30d"),
            ("service", "gateway"),
            ("route", "GET /api/v1/resource-10099"),
        ]),
    );
    assert_eq!(points[&key], (0.999, TIME));
    // The buffers are reused: a second export is the same.
    assert_eq!(encoder.encode(&report, TIME), out);
}

#[test]
fn varint_lengths_match_the_encoding() {
    for v in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX,
    ] {
        let mut out = Vec::new();
        super::varint(&mut out, v);
        assert_eq!(out.len(), super::varint_len(v), "{v}");
    }
}

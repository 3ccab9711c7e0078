//! The OTLP output against in-process OTLP receivers: a gRPC one (tonic, with the
//! opentelemetry-proto service definitions) and an HTTP/protobuf one (axum). Each must
//! receive the SLI, burn-rate and budget gauges of every series, with the values the API
//! reports and the resource attributes of slipstream; and an export of 10,100 series must
//! get through each receiver's default size limit whole.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::broker::{free_port, produce};
use common::in_process::InProcess;
use common::report::fixture;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use rdkafka::mocking::MockCluster;
use serde_json::Value;
use slipstream::config::outputs::{OtlpOutput, OtlpProtocol};
use slipstream::engine::Engine;
use slipstream::report::Report;
use slipstream::sink::otlp::{Latest, OtlpSink};
use std::sync::atomic::Ordering;

type Received = Arc<Mutex<Vec<ExportMetricsServiceRequest>>>;

struct Receiver(Received);

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

fn text(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<&str> {
    match value.as_ref()?.value.as_ref()? {
        Any::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The value of gauge `name` with exactly these attributes, in the newest request that
/// has it; and the request's `service.name`.
fn gauge(received: &Received, name: &str, attributes: &[(&str, &str)]) -> Option<(f64, String)> {
    let requests = received.lock().unwrap();
    for request in requests.iter().rev() {
        for rm in &request.resource_metrics {
            let resource = rm.resource.as_ref()?;
            let service = resource
                .attributes
                .iter()
                .find(|a| a.key == "service.name")
                .and_then(|a| text(&a.value))?
                .to_owned();
            let metrics = rm.scope_metrics.iter().flat_map(|s| &s.metrics);
            for metric in metrics.filter(|m| m.name == name) {
                let Some(Data::Gauge(g)) = &metric.data else {
                    continue;
                };
                for point in &g.data_points {
                    let mut got: Vec<(&str, &str)> = point
                        .attributes
                        .iter()
                        .filter_map(|a| Some((a.key.as_str(), text(&a.value)?)))
                        .collect();
                    got.sort();
                    let mut want = attributes.to_vec();
                    want.sort();
                    if got == want {
                        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as N;
                        if let Some(N::AsDouble(v)) = point.value {
                            return Some((v, service));
                        }
                    }
                }
            }
        }
    }
    None
}

fn check(protocol: &str, endpoint: String, received: Received) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("otlp", 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let lines = std::fs::read(fixture("events.ndjson")).unwrap();
    let records: Vec<(i32, Vec<u8>)> = lines
        .split(|&b| b == b'\n')
        .filter(|l| l.iter().any(|b| !b" \t\r".contains(b)))
        .enumerate()
        .map(|(i, l)| (i as i32 % 2, l.to_vec()))
        .collect();
    produce(&brokers, "otlp", &records);
    let slos = std::fs::read_to_string(fixture("config.yaml")).unwrap();
    let text = format!(
        "{slos}\nkafka: {{ brokers: \"{brokers}\", topics: [otlp], group: otlp, \
         properties: {{ session.timeout.ms: \"6000\" }} }}\n\
         http: {{ listen: \"127.0.0.1:0\" }}\nevaluation: {{ clock: event }}\n\
         outputs: {{ otlp: {{ endpoint: \"{endpoint}\", protocol: {protocol}, interval: 1s }} }}\n"
    );
    let run = InProcess::start(&text);
    let addr = run.addr();
    let deadline = Instant::now() + Duration::from_secs(60);
    let report: Value = loop {
        let (_, body) = common::http::get(&addr, "/api/v1/slos").unwrap();
        let report: Value = serde_json::from_str(&body).unwrap();
        if report["events"]["read"] == records.len() {
            break report;
        }
        assert!(Instant::now() < deadline, "events not read");
        std::thread::sleep(Duration::from_millis(100));
    };
    let cart = report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cart-availability")
        .unwrap()
        .clone();
    let want = |w: &str, f: &str| cart["windows"][w][f].as_f64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let at = |w| [("slo", "cart-availability"), ("window", w)];
    loop {
        let sli = gauge(&received, "slipstream.sli", &at("1d"));
        if sli
            .as_ref()
            .is_some_and(|(v, _)| (v - want("1d", "sli")).abs() < 1e-12)
        {
            assert_eq!(sli.unwrap().1, "slipstream");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{protocol}: no matching slipstream.sli: {sli:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let burn = gauge(&received, "slipstream.burn_rate", &at("30d"))
        .unwrap()
        .0;
    assert!((burn - want("30d", "burn_rate")).abs() < 1e-12);
    let budget = gauge(
        &received,
        "slipstream.error_budget_remaining",
        &[("slo", "cart-availability")],
    )
    .unwrap()
    .0;
    assert!((budget - cart["error_budget_remaining"].as_f64().unwrap()).abs() < 1e-12);
    run.stop();
}

/// An OTLP gRPC receiver (tonic, the opentelemetry-proto service, tonic's default limit
/// of 4 MiB a message, as an OpenTelemetry Collector's): its endpoint and what it got.
fn grpc_receiver(server: &tokio::runtime::Runtime) -> (String, Received) {
    let received = Received::default();
    let port = free_port();
    let service = MetricsServiceServer::new(Receiver(received.clone()));
    server.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve(([127, 0, 0, 1], port).into()),
    );
    (format!("http://127.0.0.1:{port}"), received)
}

/// An OTLP HTTP/protobuf receiver (axum, its default body limit of 2 MB).
fn http_receiver(server: &tokio::runtime::Runtime) -> (String, Received) {
    let received = Received::default();
    let port = free_port();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/metrics",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let request = ExportMetricsServiceRequest::decode(body).expect("OTLP protobuf");
                store.lock().unwrap().push(request);
                ExportMetricsServiceResponse::default().encode_to_vec()
            }
        }),
    );
    server.spawn(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://127.0.0.1:{port}/v1/metrics"), received)
}

#[test]
fn gauges_reach_an_otlp_grpc_receiver() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, received) = grpc_receiver(&server);
    check("grpc", endpoint, received);
}

#[test]
fn gauges_reach_an_otlp_http_receiver() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, received) = http_receiver(&server);
    check("http/protobuf", endpoint, received);
}

/// A report of 10,100 series, one per route, every window with traffic.
fn large_report() -> Report {
    let config = slipstream::config::parse(
        "limits: { max_series_per_slo: 20000 }\nslos:\n  - { name: routes, service: \"*\", \
         group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }\n",
        std::path::Path::new("large.yaml"),
    )
    .unwrap();
    let mut engine = Engine::new(&config);
    let base_ms: i64 = 1_795_262_400_000;
    for i in 0..10_100 {
        let status = if i % 7 == 0 { 503 } else { 200 };
        let line = format!(
            r#"{{"timestamp":{},"service":"api","route":"/items/{i}","status":{status},"latency_ms":5}}"#,
            base_ms + i * 10
        );
        engine.ingest(line.as_bytes());
    }
    let report = engine.evaluate(base_ms + 120_000).expect("retained");
    assert_eq!(report.slos.len(), 10_100);
    report
}

/// The data points of `report`: two per window with traffic, and the budget.
fn data_points(report: &Report) -> usize {
    report
        .slos
        .iter()
        .map(|s| {
            s.windows.iter().filter(|w| w.sli.is_some()).count()
                + s.windows.iter().filter(|w| w.burn_rate.is_some()).count()
                + usize::from(s.error_budget_remaining.is_some())
        })
        .sum()
}

/// Exports the large report once to `endpoint` and asserts that every data point got
/// through the receiver's default size limit, in several requests.
fn large_export(protocol: OtlpProtocol, endpoint: String, received: Received) {
    let report = large_report();
    let want = data_points(&report);
    assert!(want > 150_000, "{want}");
    let latest = Latest::default();
    *latest.lock().unwrap() = Some(Arc::new(report));
    let settings = OtlpOutput {
        endpoint,
        protocol,
        interval_ms: 3_600_000,
    };
    let sink = OtlpSink::start(&settings, latest, "test".into()).unwrap();
    sink.flush();
    let stats = sink.stats();
    assert_eq!(
        stats.failed.load(Ordering::Relaxed),
        0,
        "{protocol:?}: failed exports"
    );
    let requests = received.lock().unwrap();
    assert!(
        requests.len() > 10,
        "{protocol:?}: {} requests",
        requests.len()
    );
    let got: usize = requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(got, want, "{protocol:?}: data points received");
    assert_eq!(stats.data_points.load(Ordering::Relaxed), want as u64);
    drop(requests);
    sink.shutdown();
}

#[test]
fn a_large_export_gets_through_default_receive_limits_over_grpc() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, received) = grpc_receiver(&server);
    large_export(OtlpProtocol::Grpc, endpoint, received);
}

#[test]
fn a_large_export_gets_through_default_receive_limits_over_http() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let (endpoint, received) = http_receiver(&server);
    large_export(OtlpProtocol::HttpProtobuf, endpoint, received);
}

#[test]
fn an_absent_collector_fails_the_export_at_its_first_request_and_is_counted() {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let latest = Latest::default();
        *latest.lock().unwrap() = Some(Arc::new(large_report()));
        let settings = OtlpOutput {
            // Nothing listens there: every connection is refused.
            endpoint: format!("http://127.0.0.1:{}/v1/metrics", free_port()),
            protocol,
            interval_ms: 3_600_000,
        };
        let sink = OtlpSink::start(&settings, latest, "test".into()).unwrap();
        sink.flush();
        sink.flush();
        let stats = sink.stats();
        assert_eq!(stats.failed.load(Ordering::Relaxed), 2, "{protocol:?}");
        assert_eq!(stats.data_points.load(Ordering::Relaxed), 0, "{protocol:?}");
        sink.shutdown();
    }
}

//! The OTLP output against in-process OTLP receivers: a gRPC one (tonic, with the
//! opentelemetry-proto service definitions) and an HTTP/protobuf one (axum). Each must
//! receive the SLI, burn-rate and budget gauges of every series, with the values the API
//! reports and the resource attributes of slipstream.

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

#[test]
fn gauges_reach_an_otlp_grpc_receiver() {
    let received = Received::default();
    let port = free_port();
    let server = tokio::runtime::Runtime::new().unwrap();
    let service = MetricsServiceServer::new(Receiver(received.clone()));
    server.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve(([127, 0, 0, 1], port).into()),
    );
    check("grpc", format!("http://127.0.0.1:{port}"), received);
}

#[test]
fn gauges_reach_an_otlp_http_receiver() {
    let received = Received::default();
    let port = free_port();
    let server = tokio::runtime::Runtime::new().unwrap();
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
    check(
        "http/protobuf",
        format!("http://127.0.0.1:{port}/v1/metrics"),
        received,
    );
}

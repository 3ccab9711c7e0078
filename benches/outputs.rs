//! What alerting and the outputs cost per evaluation at 10,100 SLO series (the `routes`
//! config of `ingest`): the alert state machine, the Prometheus update, and the Kafka
//! SLI snapshots (serialised and queued in librdkafka; the broker is unreachable, so
//! this measures slipstream's side only), and one OTLP export of every gauge to an
//! in-process receiver (which decodes it, on the same two cores), and its encoding alone. With a 1 s evaluation interval, the time per
//! evaluation is the share of one core these take from ingestion (docs/performance.md).
//!
//! Run: `cargo bench --bench outputs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use slipstream::alert::AlertBook;
use slipstream::config::KafkaSettings;
use slipstream::engine::Engine;
use slipstream::replay;
use slipstream::sink::kafka::KafkaSink;
use slipstream::sink::prometheus::PrometheusSink;
use slipstream::source::SourceStatus;
use support::{ROUTES, config, events};

mod support;

fn outputs(c: &mut Criterion) {
    let config = config(ROUTES);
    let mut engine = Engine::new(&config);
    events(200_000, 600_000)
        .iter()
        .for_each(|l| engine.ingest(l));
    let at = replay::next_minute(engine.newest_event_ms().expect("events"));
    let mut report = engine.evaluate(at).expect("retained");
    eprintln!("{} SLO series", report.slos.len());
    let mut group = c.benchmark_group("outputs");
    group.sample_size(20);

    let mut book = AlertBook::default();
    group.bench_function("alerts", |b| {
        b.iter(|| black_box(book.update(&report, &config.slos, &config.composites).len()))
    });

    let mut prometheus = PrometheusSink::new(Duration::from_secs(1), None);
    let status = SourceStatus::default();
    prometheus.publish(&report, report.slos.len(), &status);
    group.bench_function("prometheus_publish", |b| {
        b.iter(|| {
            prometheus.publish(&report, report.slos.len(), &status);
            prometheus.publish_alerts(&book, None);
        })
    });

    let unreachable = KafkaSettings {
        brokers: "127.0.0.1:9".into(),
        topics: vec![],
        group: String::new(),
        properties: vec![("message.timeout.ms".into(), "1000".into())],
        properties_env: vec![],
    };
    let mut kafka = KafkaSink::new(&unreachable, Some(("sli".into(), 1)), None).expect("producer");
    group.bench_function("kafka_snapshots", |b| {
        b.iter(|| {
            report.at_ms += 1;
            kafka.after_evaluation(&report, &[]);
        })
    });
    // OTLP: one collection and export of every gauge to an in-process gRPC receiver that
    // discards them: what the SDK's thread spends per export interval.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = rt.enter();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    rt.spawn(
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(Discard))
            .serve(([127, 0, 0, 1], port).into()),
    );
    let latest = slipstream::sink::otlp::Latest::default();
    *latest.lock().unwrap() = Some(std::sync::Arc::new(report.clone()));
    let settings = slipstream::config::outputs::OtlpOutput {
        endpoint: format!("http://127.0.0.1:{port}"),
        protocol: slipstream::config::outputs::OtlpProtocol::Grpc,
        interval_ms: 3_600_000,
    };
    let otlp =
        slipstream::sink::otlp::OtlpSink::start(&settings, latest, "bench".into()).expect("otlp");
    group.bench_function("otlp_export", |b| b.iter(|| otlp.flush()));
    // The exporter's own work in that export: encoding every request.
    let mut encoder = slipstream::sink::otlp::encode::Encoder::new(
        &[
            ("service.name", "slipstream"),
            ("service.instance.id", "bench"),
        ],
        "slipstream",
        "0",
    );
    group.bench_function("otlp_encode", |b| {
        b.iter(|| black_box(encoder.encode(&report, 1).len()))
    });
    group.finish();
}

struct Discard;

#[tonic::async_trait]
impl MetricsService for Discard {
    async fn export(
        &self,
        _: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

criterion_group!(benches, outputs);
criterion_main!(benches);

//! Reports → OpenTelemetry: the SLI, burn-rate and error-budget gauges, exported over OTLP
//! (gRPC or HTTP/protobuf) every `outputs.otlp.interval`.
//!
//! The newest report the evaluator made is read at each export, encoded by [`encode`]
//! into requests under receivers' size limits, and sent one after the other from the
//! exporter's own thread: nothing is recorded per event or per evaluation, and a slow or
//! absent collector delays only that thread. An export that fails stops at its first
//! failed request (the next one comes an interval later, with the newer report), and is
//! counted.
//!
//! Why not the opentelemetry SDK's instruments and exporter, which this used before: the
//! SDK spends about 10 µs per data point (an attribute set hashed per observation, then
//! each point converted to prost structs, string by string), 1.7 s for the 170,000 data
//! points of 10,000 series; and it sends an export as one request, about 25 MB at that
//! size, which a collector with the default 4 MiB gRPC limit refuses whole.

pub mod encode;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use tonic::transport::{Channel, Endpoint};

use crate::config::outputs::{OtlpOutput, OtlpProtocol};
use crate::report::Report;

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP exporter to {endpoint} (outputs.otlp.endpoint): {message}")]
pub struct OtlpError {
    endpoint: String,
    message: String,
}

/// The newest report, shared with the evaluator.
pub type Latest = Arc<Mutex<Option<Arc<Report>>>>;

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long the last export, at shutdown, may take in all: its part of the shutdown
/// deadline.
const LAST_EXPORT: Duration = Duration::from_secs(5);
/// The gRPC method of the OTLP metrics service.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// The exporter's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct OtlpStats {
    /// Data points in requests the receiver accepted (rejected ones excluded).
    pub data_points: AtomicU64,
    /// Data points the receiver accepted the request of but rejected (partial success).
    pub rejected: AtomicU64,
    /// Exports that failed: a request refused, timed out or not answered.
    pub failed: AtomicU64,
}

enum Command {
    /// Export now; the answer is sent once done.
    Flush(mpsc::Sender<()>),
    /// Export once more and stop.
    Shutdown(mpsc::Sender<()>),
}

pub struct OtlpSink {
    commands: mpsc::Sender<Command>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    stats: Arc<OtlpStats>,
}

impl OtlpSink {
    /// Starts the exporter's thread. The endpoint is checked here; a collector that does
    /// not answer is not an error (each export fails and is counted until it does).
    pub fn start(
        settings: &OtlpOutput,
        latest: Latest,
        instance: String,
    ) -> Result<Self, OtlpError> {
        let error = |message: String| OtlpError {
            endpoint: settings.endpoint.clone(),
            message,
        };
        if !settings.endpoint.starts_with("http://") {
            return Err(error(
                "only http:// endpoints: this build has no TLS for OTLP; put a collector \
                 on the same host or network in between"
                    .into(),
            ));
        }
        let transport = match settings.protocol {
            OtlpProtocol::Grpc => {
                let endpoint = Endpoint::from_shared(settings.endpoint.clone())
                    .map_err(|e| error(e.to_string()))?
                    .connect_timeout(TIMEOUT)
                    .timeout(TIMEOUT);
                Transport::Grpc(Box::new(endpoint))
            }
            OtlpProtocol::HttpProtobuf => Transport::Http(settings.endpoint.clone()),
        };
        let encoder = encode::Encoder::new(
            &[
                ("service.name", "slipstream"),
                ("service.instance.id", &instance),
            ],
            "slipstream",
            env!("CARGO_PKG_VERSION"),
        );
        let stats = Arc::new(OtlpStats::default());
        let (commands, inbox) = mpsc::channel();
        let mut exporter = Exporter {
            endpoint: settings.endpoint.clone(),
            latest,
            encoder,
            transport,
            channel: None,
            stats: stats.clone(),
        };
        let interval = Duration::from_millis(settings.interval_ms as u64);
        let thread = std::thread::Builder::new()
            .name("slipstream-otlp".into())
            .spawn(move || exporter.run(&inbox, interval))
            .map_err(|e| error(e.to_string()))?;
        Ok(OtlpSink {
            commands,
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    pub fn stats(&self) -> &Arc<OtlpStats> {
        &self.stats
    }

    /// Exports now, and waits for the export.
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.commands.send(Command::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Exports once more and stops the exporter's thread.
    pub fn shutdown(&self) {
        let (done, wait) = mpsc::channel();
        if self.commands.send(Command::Shutdown(done)).is_ok() {
            let _ = wait.recv();
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

enum Transport {
    Grpc(Box<Endpoint>),
    /// The full URL (`.../v1/metrics`).
    Http(String),
}

/// What the exporter's thread owns.
struct Exporter {
    endpoint: String,
    latest: Latest,
    encoder: encode::Encoder,
    transport: Transport,
    /// The gRPC channel (HTTP/2, reconnecting on its own), made on the first export.
    channel: Option<tonic::client::Grpc<Channel>>,
    stats: Arc<OtlpStats>,
}

impl Exporter {
    fn run(&mut self, inbox: &mpsc::Receiver<Command>, interval: Duration) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!("OTLP exporter: cannot start its runtime: {e}; no export");
                return;
            }
        };
        let mut due = Instant::now() + interval;
        loop {
            match inbox.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(Command::Flush(done)) => {
                    runtime.block_on(self.export(interval));
                    let _ = done.send(());
                }
                Ok(Command::Shutdown(done)) => {
                    runtime.block_on(self.export(interval.min(LAST_EXPORT)));
                    let _ = done.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    runtime.block_on(self.export(interval));
                    due = Instant::now() + interval;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Encodes the newest report and sends its requests in order, `within` in all (an
    /// export never runs into the next); stops at the first request that fails.
    async fn export(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let report = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some(report) = report else { return };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let requests = self.encoder.encode(&report, now);
        let total = requests.len();
        for (i, request) in requests.into_iter().enumerate() {
            let points = request.data_points;
            let limit = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(TIMEOUT);
            match tokio::time::timeout(limit, self.send(request.body)).await {
                Ok(Ok(rejected)) => {
                    self.stats
                        .data_points
                        .fetch_add(points.saturating_sub(rejected), Ordering::Relaxed);
                    if rejected > 0 {
                        self.stats.rejected.fetch_add(rejected, Ordering::Relaxed);
                        tracing::warn!(
                            "OTLP export to {}: the receiver rejected {rejected} data points",
                            self.endpoint
                        );
                    }
                }
                outcome => {
                    let why = match outcome {
                        Ok(Err(e)) => e,
                        _ => format!("no answer within {limit:?}"),
                    };
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "OTLP export to {} failed at request {} of {total}: {why}; the next \
                         export sends the newer report",
                        self.endpoint,
                        i + 1
                    );
                    return;
                }
            }
        }
    }

    /// Sends one encoded request; returns the data points the receiver rejected.
    async fn send(&mut self, body: Vec<u8>) -> Result<u64, String> {
        let answer = match &self.transport {
            Transport::Grpc(endpoint) => {
                let client = self
                    .channel
                    .get_or_insert_with(|| tonic::client::Grpc::new(endpoint.connect_lazy()));
                client.ready().await.map_err(|e| e.to_string())?;
                let path = tonic::codegen::http::uri::PathAndQuery::from_static(EXPORT_PATH);
                client
                    .unary(tonic::Request::new(body), path, raw::Codec)
                    .await
                    .map_err(|status| format!("{}: {}", status.code(), status.message()))?
                    .into_inner()
            }
            Transport::Http(url) => {
                crate::sink::http_post::post(url, "application/x-protobuf", &body)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        // An answer that does not decode (an HTTP body sent chunked) is a success with
        // nothing known rejected.
        let response = ExportMetricsServiceResponse::decode(answer.as_slice()).unwrap_or_default();
        Ok(response
            .partial_success
            .map_or(0, |p| p.rejected_data_points.max(0) as u64))
    }
}

/// A gRPC codec that passes bytes through: requests are encoded by [`encode`], answers
/// decoded with prost afterwards.
mod raw {
    use bytes::{Buf, BufMut};
    use tonic::Status;
    use tonic::codec::{DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Clone, Copy, Default)]
    pub struct Codec;

    impl tonic::codec::Codec for Codec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Codec;
        type Decoder = Codec;

        fn encoder(&mut self) -> Codec {
            Codec
        }

        fn decoder(&mut self) -> Codec {
            Codec
        }
    }

    impl Encoder for Codec {
        type Item = Vec<u8>;
        type Error = Status;

        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for Codec {
        type Item = Vec<u8>;
        type Error = Status;

        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
            let mut out = vec![0; src.remaining()];
            src.copy_to_slice(&mut out);
            Ok(Some(out))
        }
    }
}

//! `slipstream demo`: the whole pipeline on one machine with nothing installed. An
//! in-process Kafka cluster (librdkafka's mock cluster speaks the real protocol), `gen`
//! producing a scripted incident into it, and `run` consuming it, exactly as against a
//! real broker. It prints where to look and a short live summary until stopped.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;

use crate::config::{self, ConfigError};
use crate::loadgen::{self, DEFAULT_SERVICES, GenError, GenOptions, Scenario};
use crate::report::Report;
use crate::run::{self, RunError};

/// The demo's config, embedded so that `demo` needs no file.
pub const CONFIG: &str = include_str!("../config/demo.yaml");
const PARTITIONS: i32 = 4;
const SUMMARY_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the in-process Kafka cluster: {0}")]
    Cluster(#[source] KafkaError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("the traffic generator failed: {0}")]
    Gen(#[from] GenError),
}

pub struct DemoOptions {
    /// Where the HTTP server listens instead of the config's `http.listen`.
    pub listen: Option<SocketAddr>,
    /// Events per second produced.
    pub rate: u64,
}

/// Runs until `shutdown` resolves, then stops the generator and drains the pipeline.
pub async fn demo(
    options: DemoOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DemoError> {
    let cluster = MockCluster::new(1).map_err(DemoError::Cluster)?;
    let mut config = config::parse(CONFIG, Path::new("config/demo.yaml"))?;
    let topic = config.run.kafka.topics[0].clone();
    cluster
        .create_topic(&topic, PARTITIONS, 1)
        .map_err(DemoError::Cluster)?;
    config.run.kafka.brokers = cluster.bootstrap_servers();
    if let Some(listen) = options.listen {
        config.run.listen = listen;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let generator = {
        let stop = stop.clone();
        let options = GenOptions {
            brokers: config.run.kafka.brokers.clone(),
            topic: topic.clone(),
            rate: options.rate,
            duration: None,
            scenario: Scenario::Incident,
            services: DEFAULT_SERVICES.map(str::to_owned).to_vec(),
            seed: 1,
            key_by_service: false,
        };
        std::thread::spawn(move || loadgen::generate(&options, &stop))
    };
    let (stop_run, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = run::start(&config, async move {
        let _ = stopped.await;
    })
    .await?;
    let addr = running.addr;
    println!(
        "slipstream demo: {} events/s into an in-process Kafka cluster, topic `{topic}`",
        options.rate
    );
    println!("  checkout's errors climb after 1 minute, hold, and recover after 5");
    println!("  metrics  http://{addr}/metrics");
    println!("  SLOs     http://{addr}/api/v1/slos");
    println!("  ready    http://{addr}/readyz");
    println!("  Ctrl-C stops it.");
    let shared = running.shared.clone();
    let mut ticks = tokio::time::interval(SUMMARY_EVERY);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticks.tick() => {
                let latest = shared.latest.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(report) = latest {
                    say(&summary(&report));
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = stop_run.send(());
    running.wait().await?;
    let sent = generator.join().unwrap_or(Ok(0))?;
    say(&format!("stopped cleanly; {sent} events produced\n"));
    Ok(())
}

/// Prints to stdout; a closed stdout (`slipstream demo | head`) does not stop the demo.
fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// A few lines a person can follow: per SLO series, the 5-minute SLI, the short and long
/// burn rates, and the budget left.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let e = &report.events;
    let _ = writeln!(
        out,
        "\n{}  events read {}  valid {}  invalid {}",
        crate::decode::timestamp::format_rfc3339(report.at_ms),
        e.read,
        e.valid,
        e.invalid()
    );
    for s in report.slos.iter().filter(|s| s.labels.len() <= 1).take(12) {
        let labels: Vec<&str> = s.labels.iter().map(|(_, v)| v.as_str()).collect();
        let name = format!("{} {}", s.name, labels.join(","));
        let short = s.windows.first();
        let hour = s.windows.iter().find(|w| w.window.secs() == 3600);
        let pct = |v: Option<f64>| v.map_or("   -   ".into(), |v| format!("{:7.3}%", v * 100.0));
        let rate = |v: Option<f64>| v.map_or("  -  ".into(), |v| format!("{v:5.1}"));
        let _ = writeln!(
            out,
            "  {name:<40} {} sli {}  burn {}  1h burn {}  budget {}",
            short.map_or("".into(), |w| w.window.to_string()),
            pct(short.and_then(|w| w.sli)),
            rate(short.and_then(|w| w.burn_rate)),
            rate(hour.and_then(|w| w.burn_rate)),
            pct(s.error_budget_remaining),
        );
    }
    out
}

//! `slipstream run`: the long-running processor. The thin async shell around the engine:
//!
//! ```text
//!  Kafka ──consumer thread──▶ Mutex<Engine> ◀──evaluator task (every interval)──▶ Prometheus sink
//!          (source::kafka)         ▲                                              │
//!                                  └──────── HTTP: /api/v1/slos, /readyz    /metrics
//! ```
//!
//! The consumer thread locks the engine once per batch; the evaluator and the API lock it
//! to evaluate. One shutdown signal stops everything: the consumer finishes its batch,
//! commits and leaves the group, the server stops, all within [`SHUTDOWN_DEADLINE`].

mod api;
pub mod budget;
pub mod reload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::alert::AlertBook;
use crate::config::document::Document;
use crate::config::{Clock, Config, Evaluation, Slo};
use crate::engine::{Engine, EvalError};
use crate::replay::next_minute;
use crate::report::Report;
use crate::scale::keyed::Keyed;
use crate::scale::peers::Peers;
use crate::scale::stage1::Stage1;
use crate::scale::stage2::Stage2;
use crate::scale::{ScaleStatus, topics};
use crate::sink::alertmanager::AlertmanagerSink;
use crate::sink::dead_letter::DeadLetterSink;
use crate::sink::kafka::{KafkaSink, KafkaSinkStats};
use crate::sink::otlp::{Latest, OtlpSink};
use crate::sink::prometheus::PrometheusSink;
use crate::source::SourceStatus;
use crate::source::kafka::{Durability, KafkaSource, SourceError};
use crate::state::{CheckpointStats, Checkpointer, StateError};

/// From the shutdown signal to exit: finish the batch, commit, leave the group.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot listen on {addr} (http.listen): {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("cannot create the Kafka producer of the outputs (brokers {brokers}): {source}")]
    KafkaOutput {
        brokers: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error(transparent)]
    Otlp(#[from] crate::sink::otlp::OtlpError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot create the dead-letter producer (brokers {brokers}): {source}")]
    DeadLetter {
        brokers: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error(
        "shutdown took longer than {}s: the consumer did not finish its batch and commit",
        SHUTDOWN_DEADLINE.as_secs()
    )]
    ShutdownDeadline,
    #[error("the consumer thread panicked; offsets of its last batch were not committed")]
    ConsumerPanicked,
    #[error(
        "{field}: the environment variable `{var}` was never read: load the config with \
         config::load_for_run, or call RunSettings::read_env"
    )]
    EnvNotRead { field: String, var: String },
    #[error(transparent)]
    DecisionLog(#[from] crate::decisions::LogError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("scale_out: cannot set up the internal topics or clients: {0}")]
    ScaleOut(#[from] crate::scale::ScaleError),
    #[error(
        "`governance` needs the config file it approves changes of: run with \
         `slipstream run --config FILE`"
    )]
    GovernanceWithoutFile,
}

/// What the consumer thread, the evaluator and the API share.
pub struct Shared {
    pub engine: Arc<parking_lot::Mutex<Engine>>,
    pub status: Arc<SourceStatus>,
    pub evaluation: Evaluation,
    /// The newest report the evaluator made, for `demo`'s summary and the OTLP gauges.
    pub latest: Latest,
    /// Alert states, moved on by each evaluation.
    pub alerts: Mutex<AlertBook>,
    /// The config running now; a reload replaces it under the engine's lock, so that a
    /// reader holding that lock sees the config the engine was built for.
    pub config: RwLock<Arc<Config>>,
    /// Bumped by every reload applied.
    pub generation: AtomicU64,
    pub reloads: reload::ReloadStats,
    /// With `state`: what the checkpointer has done.
    pub checkpoints: Option<Arc<CheckpointStats>>,
    /// With `dead_letter`: what the dead-letter producer has done.
    pub dead_letters: Option<Arc<KafkaSinkStats>>,
    /// With `scale_out`: the live instances, and what the two stages have done.
    pub scale: Option<(Arc<Peers>, Arc<ScaleStatus>)>,
}

impl Shared {
    /// The config running now.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The time windows end at when evaluated "now": wall clock minus the delay, or the
    /// newest event time rounded up to the next minute (as `replay`).
    pub fn now_ms(&self, engine: &Engine) -> i64 {
        let wall = wall_ms();
        match self.evaluation.clock {
            Clock::Wall => wall - self.evaluation.delay_ms,
            Clock::Event => next_minute(engine.newest_event_ms().unwrap_or(wall - 1)),
        }
    }

    /// Evaluates at `at_ms`, or now; under the engine's lock, off the async threads.
    pub fn evaluate(&self, at_ms: Option<i64>) -> Result<Report, EvalError> {
        let engine = self.engine.lock();
        let at = at_ms.unwrap_or_else(|| self.now_ms(&engine));
        engine.evaluate(at)
    }
}

pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A started pipeline: its HTTP address and shared state, until `shutdown` resolves.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    done: tokio::task::JoinHandle<Result<(), RunError>>,
}

impl Running {
    /// Waits until the pipeline has stopped (after the shutdown signal), with its result.
    pub async fn wait(self) -> Result<(), RunError> {
        self.done.await.unwrap_or(Err(RunError::ConsumerPanicked))
    }
}

/// Starts consuming, evaluating and serving; stops when `shutdown` resolves.
pub async fn start(
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, RunError> {
    start_inner(config, None, shutdown).await
}

/// [`start`], and reloads the config from `document`'s file on SIGHUP and when it
/// changes ([`reload`]).
pub async fn start_with_reload(
    config: &Config,
    document: Document,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, RunError> {
    start_inner(config, Some(document), shutdown).await
}

async fn start_inner(
    config: &Config,
    document: Option<Document>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running, RunError> {
    // The decision log first: it decides which definition of a governed SLO runs.
    let decided = match document {
        Some(document) => Some(reload::decide_at_start(config, document)?),
        None if config.decisions.governance.is_some() => {
            return Err(RunError::GovernanceWithoutFile);
        }
        None => None,
    };
    let config = decided.as_ref().map_or(config, |d| &d.config);
    let settings = &config.run;
    if let Some((field, var)) = settings.unread_env() {
        return Err(RunError::EnvNotRead { field, var });
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| RunError::Listen {
            addr: settings.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(RunError::Serve)?;
    let status = Arc::new(SourceStatus::default());
    // The state first: a checkpoint that cannot be read stops the start here.
    let checkpoint_stats = config
        .state
        .as_ref()
        .filter(|_| config.scale_out.is_none())
        .map(|_| Arc::new(CheckpointStats::default()));
    // With scale_out, `state.dir` is the changelog's local cache (crate::scale::cache),
    // not the engine's checkpoints.
    let scaled = config.scale_out.is_some();
    let (store, engine) = match (&config.state, &checkpoint_stats) {
        (Some(state), Some(stats)) if !scaled => {
            let (store, engine) = crate::state::open_and_restore(&state.dir, config, stats)?;
            (Some(store), engine)
        }
        _ => {
            if !scaled {
                tracing::warn!(
                    "no `state` section: windows start empty at every restart, and a crash \
                 re-reads events since the last commit"
                );
            }
            (None, Engine::new(config))
        }
    };
    let engine = Arc::new(parking_lot::Mutex::new(engine));
    let checkpointer = match (store, &config.state, &checkpoint_stats) {
        (Some(store), Some(state), Some(stats)) => Some(Arc::new(Checkpointer::new(
            store,
            engine.clone(),
            stats.clone(),
            Duration::from_millis(state.checkpoint_interval_ms as u64),
        ))),
        _ => None,
    };
    let dead_letter = match &config.dead_letter {
        None => None,
        Some(d) => Some(
            DeadLetterSink::new(&settings.kafka, d.topic.clone()).map_err(|source| {
                RunError::DeadLetter {
                    brokers: settings.kafka.brokers.clone(),
                    source,
                }
            })?,
        ),
    };
    let dead_letters = dead_letter.as_ref().map(DeadLetterSink::stats);
    let stop = Arc::new(AtomicBool::new(false));
    let (source, scale) = match &config.scale_out {
        None => {
            let source = KafkaSource::connect(
                &settings.kafka,
                status.clone(),
                engine.clone(),
                Durability {
                    checkpointer: checkpointer.clone(),
                    dead_letter,
                },
            )?;
            (Source::Single(source), None)
        }
        Some(scale) => {
            topics::create(&settings.kafka, scale).await?;
            let scale_status = Arc::new(ScaleStatus::default());
            let stages = if scale.input_keyed {
                let keyed = Keyed::connect(
                    config,
                    engine.clone(),
                    status.clone(),
                    scale_status.clone(),
                    stop.clone(),
                    dead_letter,
                )?;
                Stages::Keyed(Box::new(keyed))
            } else {
                let stage1 = Stage1::connect(
                    config,
                    engine.clone(),
                    status.clone(),
                    scale_status.clone(),
                    stop.clone(),
                    dead_letter,
                )
                .map_err(crate::scale::ScaleError::from)?;
                let stage2 =
                    Stage2::connect(config, engine.clone(), scale_status.clone(), stop.clone())?;
                Stages::Two(Box::new(stage1), Box::new(stage2))
            };
            let url = scale
                .advertised_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}"));
            let token = settings.token.as_ref().and_then(|t| t.value.clone());
            let peers = Arc::new(Peers::new(url, token));
            let source = Source::Scaled {
                stages,
                peers: peers.clone(),
                status: scale_status.clone(),
                kafka: settings.kafka.clone(),
                topic: scale.instances_topic.clone(),
            };
            (source, Some((peers, scale_status)))
        }
    };
    let interval = Duration::from_millis(settings.evaluation.interval_ms as u64);
    let sink = PrometheusSink::new(interval, sloth_services(config));
    let shared = Arc::new(Shared {
        engine,
        status,
        evaluation: settings.evaluation.clone(),
        latest: Latest::default(),
        alerts: Mutex::new(AlertBook::default()),
        config: RwLock::new(Arc::new(config.clone())),
        generation: AtomicU64::new(0),
        reloads: reload::ReloadStats::default(),
        checkpoints: checkpoint_stats,
        dead_letters,
        scale,
    });
    // Every output is set up before consuming starts: a failure leaves nothing running.
    let alertmanager = config.alerting.alertmanager.clone().map(|am| {
        AlertmanagerSink::start(
            am,
            config.alerting.runbook_url.clone(),
            format!("http://{addr}"),
        )
    });
    let sli = config
        .outputs
        .kafka
        .as_ref()
        .map(|k| (k.sli_topic.clone(), k.interval_ms));
    let kafka = if sli.is_some() || config.alerting.kafka_topic.is_some() {
        let sink = KafkaSink::new(&settings.kafka, sli, config.alerting.kafka_topic.clone())
            .map_err(|source| RunError::KafkaOutput {
                brokers: settings.kafka.brokers.clone(),
                source,
            })?;
        Some(sink)
    } else {
        None
    };
    let otlp = match &config.outputs.otlp {
        None => None,
        Some(o) => {
            let instance = format!("{}:{}", std::process::id(), addr.port());
            Some(OtlpSink::start(o, shared.latest.clone(), instance)?)
        }
    };
    let consumer = {
        let stop = stop.clone();
        let metrics = sink.source_metrics();
        let skew = settings.evaluation.max_clock_skew_ms;
        std::thread::Builder::new()
            .name("slipstream-consumer".into())
            .spawn(move || source.run(&stop, skew, &metrics))
            .map_err(RunError::Serve)?
    };
    let (stopped_tx, stopped_rx) = tokio::sync::watch::channel(false);
    let metrics = sink.handle();
    // Registered with or without a token, so that the counter reads 0 rather than absent.
    let unauthorized = sink.unauthorized_counter();
    let auth = settings
        .token
        .as_ref()
        .and_then(|t| t.value.clone())
        .map(|token| api::Auth {
            token,
            unauthorized,
        });
    let outputs = Outputs {
        prometheus: sink,
        alertmanager,
        kafka,
        otlp,
        generation: 0,
        releases: 0,
    };
    let scaled = config.scale_out.is_some();
    if scaled && decided.is_some() {
        tracing::warn!(
            "config reload is off with scale_out: every instance must count with the same \
             SLOs; change the file, then restart the instances one at a time"
        );
    }
    let decided = decided.filter(|_| !scaled);
    let reloader = decided.map(|decided| {
        let reloader = Arc::new(reload::Reloader::new(shared.clone(), checkpointer, decided));
        tokio::spawn(reload::watch(reloader.clone(), stopped_rx.clone()));
        reloader
    });
    let evaluator = tokio::spawn(evaluate_every(
        interval,
        shared.clone(),
        outputs,
        stopped_rx.clone(),
    ));
    let guarded = if auth.is_some() {
        " (all but the probes with the bearer token of http.token_env)"
    } else {
        ""
    };
    let server = api::serve(
        listener,
        shared.clone(),
        reloader,
        metrics,
        auth,
        stopped_rx,
    );
    tracing::info!(
        "serving /metrics, /api/v1/slos, /healthz and /readyz on http://{addr}{guarded}"
    );
    let done = tokio::spawn(async move {
        tokio::pin!(server);
        let served = tokio::select! {
            () = shutdown => None,
            result = &mut server => Some(result),
        };
        tracing::info!("stopping: draining the consumer and committing offsets");
        stop.store(true, Ordering::Relaxed);
        let _ = stopped_tx.send(true);
        let drained = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
            let joined = tokio::task::spawn_blocking(move || consumer.join()).await;
            let _ = evaluator.await;
            let served = match served {
                Some(result) => result,
                None => server.await,
            };
            (joined, served)
        })
        .await;
        match drained {
            Err(_) => Err(RunError::ShutdownDeadline),
            Ok((Ok(Ok(())), served)) => served.map_err(RunError::Serve),
            Ok(_) => Err(RunError::ConsumerPanicked),
        }
    });
    Ok(Running { addr, shared, done })
}

/// Where events come from: one consumer, or scale-out's stages and its peers.
enum Source {
    Single(KafkaSource),
    Scaled {
        stages: Stages,
        peers: Arc<Peers>,
        status: Arc<ScaleStatus>,
        kafka: crate::config::KafkaSettings,
        topic: String,
    },
}

/// Scale-out's consumers: stage 1 and stage 2, or one on keyed input.
enum Stages {
    Two(Box<Stage1>, Box<Stage2>),
    Keyed(Box<Keyed>),
}

impl Source {
    /// Consumes until `stop`; with scale-out, each stage and the heartbeat on a thread
    /// of its own.
    fn run(
        self,
        stop: &AtomicBool,
        max_clock_skew_ms: i64,
        metrics: &crate::source::kafka::SourceMetrics,
    ) {
        match self {
            Source::Single(source) => source.run(stop, max_clock_skew_ms, metrics),
            Source::Scaled {
                stages,
                peers,
                status,
                kafka,
                topic,
            } => std::thread::scope(|scope| {
                let refused = "the OS refused to start a scale-out thread";
                std::thread::Builder::new()
                    .name("slipstream-peers".into())
                    .spawn_scoped(scope, || peers.run(&kafka, &topic, &status, stop))
                    .expect(refused);
                match stages {
                    Stages::Two(stage1, stage2) => {
                        std::thread::Builder::new()
                            .name("slipstream-stage2".into())
                            .spawn_scoped(scope, move || stage2.run(stop))
                            .expect(refused);
                        stage1.run(stop, max_clock_skew_ms);
                    }
                    Stages::Keyed(keyed) => keyed.run(stop, max_clock_skew_ms),
                }
            }),
        }
    }
}

/// Where each evaluation goes.
struct Outputs {
    prometheus: PrometheusSink,
    alertmanager: Option<AlertmanagerSink>,
    kafka: Option<KafkaSink>,
    otlp: Option<OtlpSink>,
    /// The config generation the outputs follow.
    generation: u64,
    /// With scale_out: the partition releases they follow ([`ScaleStatus::releases`]).
    releases: u64,
}

/// With `outputs.prometheus.sloth_compatible`: each SLO's name and exact service.
fn sloth_services(config: &Config) -> Option<std::collections::HashMap<String, Option<String>>> {
    config.outputs.sloth_compatible.then(|| {
        let service = |s: &Slo| match &s.service {
            crate::config::ServiceMatch::Exact(name) => Some(name.clone()),
            crate::config::ServiceMatch::Any | crate::config::ServiceMatch::Glob { .. } => None,
        };
        let slos = config.slos.iter();
        slos.map(|s| (s.name.clone(), service(s))).collect()
    })
}

/// Every `interval`: evaluate now, move the alerts on, publish to the sinks, keep the
/// report for `demo`.
async fn evaluate_every(
    interval: Duration,
    shared: Arc<Shared>,
    outputs: Outputs,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let sink = Arc::new(Mutex::new(outputs));
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => {
                // What the Kafka outputs still hold is delivered within the deadline.
                let _ = tokio::task::spawn_blocking(move || {
                    let outputs = sink.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(kafka) = &outputs.kafka {
                        kafka.flush(SHUTDOWN_DEADLINE / 3);
                    }
                    if let Some(otlp) = &outputs.otlp {
                        otlp.shutdown();
                    }
                })
                .await;
                return;
            }
        }
        let (shared, sink) = (shared.clone(), sink.clone());
        let published = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let (report, live_series, config, generation) = {
                let engine = shared.engine.lock();
                let at = shared.now_ms(&engine);
                let generation = shared.generation.load(Ordering::Relaxed);
                (
                    engine.evaluate(at),
                    engine.series_count(),
                    shared.config(),
                    generation,
                )
            };
            let report = match report {
                Ok(report) => Arc::new(report),
                Err(e) => {
                    tracing::warn!("evaluation skipped: {e}");
                    return;
                }
            };
            let mut outputs = sink.lock().unwrap_or_else(|e| e.into_inner());
            let Outputs {
                prometheus,
                alertmanager,
                kafka,
                otlp,
                generation: followed,
                releases: followed_releases,
                ..
            } = &mut *outputs;
            let mut alerts = shared.alerts.lock().unwrap_or_else(|e| e.into_inner());
            if *followed != generation {
                // A reload was applied: what captured the config follows it.
                *followed = generation;
                prometheus.reconfigure(sloth_services(&config));
                if let Some(am) = alertmanager.as_mut() {
                    am.set_runbook_url(config.alerting.runbook_url.clone());
                }
                alerts.forget_stale(&report, &config.slos, &config.composites);
            }
            let releases = shared
                .scale
                .as_ref()
                .map_or(0, |(_, s)| s.releases.load(Ordering::Relaxed));
            if *followed_releases != releases {
                // Partitions were given up: their series are served by their new owner
                // now, so they leave this instance's /metrics and alerts (as after a
                // reload that removes them).
                *followed_releases = releases;
                prometheus.reconfigure(sloth_services(&config));
                alerts.forget_stale(&report, &config.slos, &config.composites);
            }
            let transitions = alerts.update(&report, &config.slos, &config.composites);
            for t in &transitions {
                let a = &t.alert;
                tracing::info!(
                    "alert {} {} {:?}: {}",
                    a.slo,
                    a.severity.as_str(),
                    a.labels,
                    a.state.as_str()
                );
            }
            if let Some(am) = alertmanager {
                am.after_evaluation(&alerts, &config.slos, !transitions.is_empty(), report.at_ms);
            }
            if let Some(kafka) = kafka {
                kafka.after_evaluation(&report, &transitions);
                prometheus.publish_kafka_output(&kafka.stats());
            }
            if let Some(otlp) = otlp {
                prometheus.publish_otlp(otlp.stats());
            }
            prometheus.publish(&report, live_series, &shared.status);
            prometheus.publish_config(&shared.reloads);
            prometheus.publish_durability(
                shared.checkpoints.as_deref(),
                shared.dead_letters.as_deref(),
            );
            prometheus.publish_alerts(&alerts, alertmanager.as_ref().map(|a| a.outbox()));
            if let Some((_, scale)) = &shared.scale {
                prometheus.publish_scale(scale, config.state.is_some());
            }
            drop(alerts);
            prometheus.evaluation_took(started.elapsed());
            *shared.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
        })
        .await;
        if let Err(e) = published {
            tracing::error!("evaluation failed: {e}");
        }
    }
}

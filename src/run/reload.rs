//! Config reload without a restart: on SIGHUP, and when the file's content changes; and
//! the decision log that records each change of an SLO ([`crate::decisions`]).
//!
//! ```text
//!  SIGHUP / file poll ──▶ read, parse, validate ──▶ restart-only sections unchanged?
//!                          (no effect on failure)          │ yes
//!                                                          ▼
//!  an approval (API) ──▶ reconcile with the decision log: entries appended (fsync),
//!                        governed changes without a quorum held at their applied value
//!                                                          ▼
//!   checkpoints held off ─▶ engine lock: Engine::reconfigure + the shared config swapped
//!                                                          │
//!                       evaluator: sinks and alerts follow the new config at its next tick
//! ```
//!
//! Why the file is polled (every [`POLL`]) rather than watched with inotify: editors save
//! by writing a new file and renaming it over the old one, and Kubernetes updates a
//! mounted ConfigMap by swapping a symlink to a new directory. A watch on the file's
//! inode sees neither (the inode it watches is unlinked, not written), and a watch on the
//! directory needs the events of both schemes sorted out. Reading a file of a few
//! kilobytes and hashing it every two seconds costs nothing, follows every symlink and
//! rename, and compares what matters, the content (a modification time can stay the
//! same across two writes in the same second). A content change is applied once the
//! same content is seen on two polls in a row, so that a file caught half-written by an
//! editor that writes in place is not tried.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use crate::config::document::{self, Document};
use crate::config::{Config, ConfigError};
use crate::decisions::{self, ApproveError, DecisionLog, Entry, LogError, Status};
use crate::decode::timestamp::format_rfc3339;
use crate::sink::decision_topic::DecisionTopic;
use crate::state::Checkpointer;

use super::Shared;

/// How often the config file is read and hashed.
pub const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "{}: `{field}` changed, and only a restart applies it: restart to change {field} \
         (nothing of this version of the file was applied)",
        path.display()
    )]
    RestartOnly {
        path: std::path::PathBuf,
        field: String,
    },
    #[error("{0}; the change is not applied")]
    Log(#[from] LogError),
}

/// Why an approval sent to the API is not taken.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalRefused {
    #[error("this config has no `governance` section: nothing needs approvals")]
    NoGovernance,
    #[error(transparent)]
    Refused(#[from] ApproveError),
    #[error(transparent)]
    Reload(#[from] ReloadError),
}

/// What reloads have done, for the self-metrics and `/api/v1/config`.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub applied: AtomicU64,
    pub rejected: AtomicU64,
    /// Unix milliseconds of the last successful load (the first one at start).
    pub last_success_unix_ms: AtomicU64,
    /// The loaded file, and the hex SHA-256 of its content.
    pub file: RwLock<Option<(std::path::PathBuf, String)>>,
}

impl ReloadStats {
    fn loaded(&self, document: &Document) {
        let now = super::wall_ms() as u64;
        self.last_success_unix_ms.store(now, Ordering::Relaxed);
        *self.file.write().unwrap_or_else(|e| e.into_inner()) =
            Some((document.path.clone(), document.sha256.clone()));
    }
}

/// The decision log and config as `run` starts with them: the file reconciled with the
/// log ([`decide_at_start`]).
pub struct Decided {
    pub config: Config,
    document: Document,
    log: DecisionLog,
    topic: Option<DecisionTopic>,
}

/// Opens the decision log (in `state.dir`, else in memory), logs what changed since the
/// last applied values, and returns the config to run: the file's, with governed SLOs
/// whose change has no quorum at their applied definition. `config` is the file's, with
/// the command line's overrides and the environment's secrets.
pub fn decide_at_start(config: &Config, document: Document) -> Result<Decided, super::RunError> {
    let log = match &config.state {
        Some(state) => DecisionLog::open(&state.dir)?,
        None => {
            tracing::warn!(
                "no `state` section: the decision log is kept in memory only, and starts \
                 over at every restart"
            );
            DecisionLog::in_memory()
        }
    };
    let topic = match &config.decisions.kafka_topic {
        None => None,
        Some(topic) => Some(
            DecisionTopic::new(&config.run.kafka, topic.clone()).map_err(|source| {
                super::RunError::KafkaOutput {
                    brokers: config.run.kafka.brokers.clone(),
                    source,
                }
            })?,
        ),
    };
    let mut log = log;
    let outcome = decisions::reconcile(&log, config, &document.value, &now());
    let mut effective = held(&document, config, &outcome)?;
    document::keep_restart_only(config, &mut effective);
    record(&mut log, topic.as_ref(), outcome)?;
    Ok(Decided {
        config: effective,
        document,
        log,
        topic,
    })
}

/// The config to run for `file` (validated from `document`): the file's, or with the SLOs
/// `outcome` pins at their applied definitions.
fn held(
    document: &Document,
    file: &Config,
    outcome: &decisions::Outcome,
) -> Result<Config, ConfigError> {
    if outcome.pins.is_empty() {
        return Ok(file.clone());
    }
    let value = decisions::pinned(&document.value, &outcome.pins);
    let names: Vec<String> = outcome.pins.iter().map(|p| p.slo.clone()).collect();
    crate::config::from_value_pinned(&value, &document.path, &names)
}

/// Logs `outcome`'s warnings, appends its entries durably and produces them.
fn record(
    log: &mut DecisionLog,
    topic: Option<&DecisionTopic>,
    outcome: decisions::Outcome,
) -> Result<(), LogError> {
    for warning in &outcome.warnings {
        tracing::warn!("decision log: {warning}");
    }
    for e in &outcome.entries {
        let status = match e.status {
            Status::Applied => "applied",
            Status::Pending => "pending: waits for approvals, the SLO keeps its definition",
            Status::Approved => "approved",
            Status::Rejected => "withdrawn",
        };
        tracing::info!(
            "decision {}: SLO `{}` {:?} {:?}: {status}",
            &e.id[..12],
            e.slo,
            e.change,
            e.fields
        );
    }
    let entries = outcome.entries;
    log.append(entries.clone())?;
    if let Some(topic) = topic {
        topic.send(&entries);
    }
    Ok(())
}

fn now() -> String {
    format_rfc3339(super::wall_ms())
}

/// Applies new versions of the config file to a running pipeline, and keeps its
/// decision log.
pub struct Reloader {
    shared: Arc<Shared>,
    checkpointer: Option<Arc<Checkpointer>>,
    files: Mutex<Files>,
    topic: Option<DecisionTopic>,
}

/// The document running now; the content last tried (applied or not) and the one the
/// previous poll saw; the decision log.
struct Files {
    running: Document,
    tried: String,
    seen: Option<String>,
    log: DecisionLog,
}

impl Reloader {
    pub(super) fn new(
        shared: Arc<Shared>,
        checkpointer: Option<Arc<Checkpointer>>,
        decided: Decided,
    ) -> Reloader {
        shared.reloads.loaded(&decided.document);
        Reloader {
            shared,
            checkpointer,
            files: Mutex::new(Files {
                tried: decided.document.sha256.clone(),
                running: decided.document,
                seen: None,
                log: decided.log,
            }),
            topic: decided.topic,
        }
    }

    /// The decision log's entries, oldest first, of `slo` or of every SLO; at most
    /// `limit`, the newest ones.
    pub fn decisions(&self, slo: Option<&str>, limit: usize) -> Vec<Entry> {
        let files = self.files();
        let all = files.log.entries().iter();
        let mut out: Vec<Entry> = all
            .rev()
            .filter(|e| slo.is_none_or(|s| e.slo == s))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        out
    }

    /// The changes waiting for approvals.
    pub fn pending(&self) -> Vec<Entry> {
        self.files().log.pending().into_iter().cloned().collect()
    }

    /// Where the log is kept; `None` in memory.
    pub fn log_path(&self) -> Option<std::path::PathBuf> {
        self.files().log.path().map(|p| p.to_owned())
    }

    /// Counts `approver`'s approval of pending change `id` once its signature verifies;
    /// with the quorum reached, applies the change at once (as a reload of the running
    /// file). The change's newest entry.
    pub fn approve(
        &self,
        id: &str,
        approver: &str,
        signature: &str,
    ) -> Result<Entry, ApprovalRefused> {
        let config = self.shared.config();
        let governance = config
            .decisions
            .governance
            .as_ref()
            .ok_or(ApprovalRefused::NoGovernance)?;
        let mut files = self.files();
        let entry = decisions::approve(&files.log, governance, id, approver, signature, &now())?;
        let quorum = entry.approvals.len() >= governance.quorum;
        files
            .log
            .append(vec![entry.clone()])
            .map_err(ReloadError::from)?;
        if let Some(topic) = &self.topic {
            topic.send(std::slice::from_ref(&entry));
        }
        tracing::info!(
            "decision {}: `{approver}` approved (API), {} of {} approvals",
            &id[..id.len().min(12)],
            entry.approvals.len(),
            governance.quorum
        );
        if quorum {
            let document = files.running.clone();
            let file = crate::config::from_value(&document.value, &document.path)
                .map_err(ReloadError::from)?;
            let summary = self.settle(&mut files, document, file)?;
            tracing::info!("approved change applied: {summary}");
        }
        Ok(files.log.latest(id).cloned().unwrap_or(entry))
    }

    /// Reads the file and applies it, or leaves everything as it is and says why. Blocks
    /// (file, validation, the engine's lock): call it off the async threads.
    pub fn reload(&self, why: &str) -> Result<(), ReloadError> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let path = files.running.path.clone();
        let result = self.try_reload(&mut files);
        let stats = &self.shared.reloads;
        match &result {
            Ok(summary) => {
                stats.applied.fetch_add(1, Ordering::Relaxed);
                stats.loaded(&files.running);
                tracing::info!("config reloaded ({why}) from {}: {summary}", path.display());
            }
            Err(e) => {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::error!("config reload ({why}) rejected, the running config stays: {e}");
            }
        }
        result.map(|_| ())
    }

    fn try_reload(&self, files: &mut Files) -> Result<String, ReloadError> {
        let path = files.running.path.clone();
        let read = document::read(&path);
        if let Ok((document, _)) = &read {
            files.tried = document.sha256.clone();
        }
        let (document, next) = read?;
        if let Some(field) = document::restart_only_change(&files.running.value, &document.value) {
            return Err(ReloadError::RestartOnly { path, field });
        }
        self.settle(files, document, next)
    }

    /// Reconciles `file` (validated from `document`) with the decision log, records the
    /// decisions, and applies what they let through.
    fn settle(
        &self,
        files: &mut Files,
        document: Document,
        file: Config,
    ) -> Result<String, ReloadError> {
        let outcome = decisions::reconcile(&files.log, &file, &document.value, &now());
        let mut next = held(&document, &file, &outcome)?;
        let running = self.shared.config();
        document::keep_restart_only(&running, &mut next);
        let pending = outcome.pins.len();
        let logged = outcome.entries.len();
        record(&mut files.log, self.topic.as_ref(), outcome)?;
        let mut summary = self.apply(next);
        summary.push_str(&format!("; {logged} decisions logged"));
        if pending > 0 {
            summary.push_str(&format!(", {pending} SLO changes wait for approvals"));
        }
        files.running = document;
        Ok(summary)
    }

    /// Swaps the engine and the shared config for `next`, at once for every reader: the
    /// evaluator and the API read the config under the engine's lock.
    fn apply(&self, next: Config) -> String {
        let _no_checkpoint = self.checkpointer.as_ref().map(|c| c.hold());
        let mut engine = self.shared.engine.lock();
        let carried = engine.reconfigure(&next);
        let slos = next.slos.len();
        *self
            .shared
            .config
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        self.shared.generation.fetch_add(1, Ordering::Relaxed);
        drop(engine);
        let mut summary = format!("{slos} SLOs, {} series kept", carried.series);
        if !carried.restarted_slos.is_empty() {
            summary.push_str(&format!(
                "; started empty (new indicator, selection or a longer SLO window): {}",
                carried.restarted_slos.join(", ")
            ));
        }
        summary
    }

    /// One poll: applies the file when its content changed and has settled.
    fn poll(&self) {
        let Ok(bytes) = std::fs::read(&self.files().running.path) else {
            // Missing for a moment (a rename in progress); a reload would say why.
            return;
        };
        let hash = document::sha256_hex(&bytes);
        let due = {
            let mut files = self.files();
            let settled = files.seen.as_deref() == Some(hash.as_str());
            files.seen = Some(hash.clone());
            settled && hash != files.tried && hash != files.running.sha256
        };
        if due {
            let _ = self.reload("the file changed");
        }
    }

    fn files(&self) -> std::sync::MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reloads on SIGHUP and polls the file, until `stopped`.
pub(super) async fn watch(
    reloader: Arc<Reloader>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot listen for SIGHUP ({e}); the config file is still polled");
            None
        }
    };
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let hup = async {
            match &mut hangup {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        let reloader = reloader.clone();
        tokio::select! {
            _ = stopped.changed() => return,
            _ = hup => {
                let _ = tokio::task::spawn_blocking(move || reloader.reload("SIGHUP")).await;
            }
            _ = ticks.tick() => {
                let _ = tokio::task::spawn_blocking(move || reloader.poll()).await;
            }
        }
    }
}

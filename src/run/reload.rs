//! Config reload without a restart: on SIGHUP, and when the file's content changes.
//!
//! ```text
//!  SIGHUP / file poll ──▶ read, parse, validate ──▶ restart-only sections unchanged?
//!                          (no effect on failure)          │ yes
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

/// Applies new versions of the config file to a running pipeline.
pub struct Reloader {
    shared: Arc<Shared>,
    checkpointer: Option<Arc<Checkpointer>>,
    files: Mutex<Files>,
}

/// The document running now; the content last tried (applied or not) and the one the
/// previous poll saw.
struct Files {
    running: Document,
    tried: String,
    seen: Option<String>,
}

impl Reloader {
    pub(super) fn new(
        shared: Arc<Shared>,
        checkpointer: Option<Arc<Checkpointer>>,
        document: Document,
    ) -> Reloader {
        shared.reloads.loaded(&document);
        Reloader {
            shared,
            checkpointer,
            files: Mutex::new(Files {
                tried: document.sha256.clone(),
                running: document,
                seen: None,
            }),
        }
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
        let (document, mut next) = read?;
        if let Some(field) = document::restart_only_change(&files.running.value, &document.value)
        {
            return Err(ReloadError::RestartOnly { path, field });
        }
        let running = self.shared.config();
        document::keep_restart_only(&running, &mut next);
        let summary = self.apply(next);
        files.running = document;
        Ok(summary)
    }

    /// Swaps the engine and the shared config for `next`, at once for every reader: the
    /// evaluator and the API read the config under the engine's lock.
    fn apply(&self, next: Config) -> String {
        let _no_checkpoint = self.checkpointer.as_ref().map(|c| c.hold());
        let mut engine = self.shared.engine.lock().unwrap_or_else(|e| e.into_inner());
        let carried = engine.reconfigure(&next);
        let slos = next.slos.len();
        *self.shared.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
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

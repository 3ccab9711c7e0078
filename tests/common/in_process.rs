//! `run` in the test's own process, on a runtime of its own, with a stop that drains it
//! as a signal would: for tests and benchmarks that need its shared state or an
//! in-process broker.

use std::path::Path;

use slipstream::run::{self, Running};

pub struct InProcess {
    rt: tokio::runtime::Runtime,
    running: Running,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl InProcess {
    /// Parses `config` (YAML) and starts `run` on it.
    pub fn start(config: &str) -> InProcess {
        InProcess::start_with_env(config, &[])
    }

    /// [`InProcess::start`], with `env` as the environment its secrets are read from.
    pub fn start_with_env(config: &str, env: &[(&str, &str)]) -> InProcess {
        let mut config = slipstream::config::parse(config, Path::new("in-process.yaml"))
            .expect("a valid config");
        config
            .run
            .read_env(|var| {
                env.iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            })
            .expect("every secret in env");
        let rt = tokio::runtime::Runtime::new().expect("a runtime");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = rt
            .block_on(run::start(&config, async move {
                let _ = stopped.await;
            }))
            .expect("run starts");
        InProcess { rt, running, stop }
    }

    pub fn running(&self) -> &Running {
        &self.running
    }

    pub fn addr(&self) -> String {
        self.running.addr.to_string()
    }

    /// Stops it as a signal would, and asserts that it drained cleanly.
    pub fn stop(self) {
        let _ = self.stop.send(());
        self.rt
            .block_on(self.running.wait())
            .expect("run stops cleanly");
    }
}

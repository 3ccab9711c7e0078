//! A real Alertmanager (Debian's `prometheus-alertmanager`) for tests of the alert sink:
//! installed with apt-get on first use when missing; under `CI=true` a missing server
//! fails the test instead of skipping it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::broker::free_port;
use super::http;

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

static INSTALLED: OnceLock<bool> = OnceLock::new();

pub struct Alertmanager {
    child: Child,
    dir: PathBuf,
    pub addr: String,
}

impl Alertmanager {
    /// Starts a single, non-clustered Alertmanager; `None` (the test should return) when
    /// it cannot be installed and this is not CI.
    pub fn start() -> Option<Alertmanager> {
        if !*INSTALLED.get_or_init(|| super::apt::ensure("prometheus-alertmanager", BINARY)) {
            super::apt::missing("prometheus-alertmanager");
            return None;
        }
        let addr = format!("127.0.0.1:{}", free_port());
        let dir = std::env::temp_dir().join(format!("slipstream-am-{}", free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            "route: { receiver: blackhole, group_wait: 1s, group_interval: 1s }\n\
             receivers: [ { name: blackhole } ]\n",
        )
        .unwrap();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start alertmanager");
        let am = Alertmanager { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(http::get(&am.addr, "/-/ready"), Some((200, _))) {
            assert!(
                Instant::now() < deadline,
                "alertmanager not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(am)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The alerts Alertmanager holds as active (its own `GET /api/v2/alerts`).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let (status, body) = http::get(&self.addr, "/api/v2/alerts").expect("alertmanager answers");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Vec<serde_json::Value>>(&body).unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

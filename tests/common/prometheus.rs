//! A real Prometheus server (Debian's `prometheus` package) scraping slipstream, for tests
//! that check what a user's Prometheus sees. Installed with apt-get on first use when it
//! is missing; under `CI=true` a missing server fails the test instead of skipping it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::broker::free_port;
use super::http;

const BINARY: &str = "/usr/bin/prometheus";

static INSTALLED: OnceLock<bool> = OnceLock::new();

pub struct Prometheus {
    child: Child,
    /// Its config and data; removed when dropped.
    pub dir: PathBuf,
    pub addr: String,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (host:port) every second; `None` (the test
    /// should return) when it cannot be installed and this is not CI.
    pub fn scraping(target: &str) -> Option<Prometheus> {
        Prometheus::with_jobs(&format!(
            "  - job_name: slipstream\n    static_configs: [{{ targets: [\"{target}\"] }}]\n"
        ))
    }

    /// Starts Prometheus with `jobs`, the YAML list items of `scrape_configs:` (indented
    /// by two spaces), scraping every second; `None` as for [`Prometheus::scraping`].
    pub fn with_jobs(jobs: &str) -> Option<Prometheus> {
        if !*INSTALLED.get_or_init(|| super::apt::ensure("prometheus", BINARY)) {
            super::apt::missing("prometheus");
            return None;
        }
        let addr = format!("127.0.0.1:{}", free_port());
        let dir = std::env::temp_dir().join(format!("slipstream-prom-{}", free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
                 scrape_configs:\n{jobs}"
            ),
        )
        .unwrap();
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus { child, dir, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(http::get(&prometheus.addr, "/-/ready"), Some((200, _))) {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(prometheus)
    }

    /// Runs an instant PromQL query; the `data.result` array.
    pub fn query(&self, promql: &str) -> serde_json::Value {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = http::get(&self.addr, &format!("/api/v1/query?query={encoded}"))
            .expect("prometheus answers");
        assert_eq!(status, 200, "{promql}: {body}");
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        value["data"]["result"].clone()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! `slipstream run` as a separate process, as an operator runs it: a config file, a
//! port, signals to stop it.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::broker::free_port;
use super::http;

pub struct Running {
    child: Child,
    pub addr: String,
    /// The bearer token `get` sends, with [`Options::token`].
    token: Option<String>,
    /// The `http:` line the config file ends with.
    http: String,
    config: TempFile,
}

/// How [`Running::start_with`] runs it, beyond the config.
#[derive(Default)]
pub struct Options<'a> {
    /// A bearer token: the config gets `http.token_env` naming a variable that holds it.
    pub token: Option<&'a str>,
    /// More environment variables (the secrets of `kafka.properties_env`).
    pub env: &'a [(&'a str, &'a str)],
    /// `RUST_LOG` instead of `warn`.
    pub log_filter: Option<&'a str>,
    /// Where standard error goes, instead of the test's own.
    pub stderr: Option<&'a std::path::Path>,
}

/// The variable [`Options::token`] is passed in.
const TOKEN_VAR: &str = "SLIPSTREAM_TEST_TOKEN";

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Running {
    /// Starts `slipstream run` on `config` (YAML without `http:`, which this adds with a
    /// free port) and waits until its HTTP server answers.
    pub fn start(config: &str) -> Running {
        Running::start_with(config, Options::default())
    }

    /// [`Running::start`], with a token, secrets in the environment, or a log file.
    pub fn start_with(config: &str, options: Options<'_>) -> Running {
        let addr = format!("127.0.0.1:{}", free_port());
        let path = std::env::temp_dir().join(format!(
            "slipstream-test-{}-{}.yaml",
            std::process::id(),
            addr.replace([':', '.'], "-")
        ));
        let token_env = match options.token {
            Some(_) => format!(", token_env: {TOKEN_VAR}"),
            None => String::new(),
        };
        let http = format!("\nhttp: {{ listen: \"{addr}\"{token_env} }}\n");
        std::fs::write(&path, format!("{config}{http}")).expect("write config");
        let stderr = match options.stderr {
            Some(file) => Stdio::from(std::fs::File::create(file).expect("create the log file")),
            None => Stdio::inherit(),
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_slipstream"));
        command
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", options.log_filter.unwrap_or("warn"))
            .envs(options.env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(token) = options.token {
            command.env(TOKEN_VAR, token);
        }
        let child = command.spawn().expect("spawn slipstream run");
        let mut running = Running {
            child,
            addr,
            token: options.token.map(str::to_owned),
            http,
            config: TempFile(path),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http::get(&running.addr, "/healthz").is_none() {
            if let Ok(Some(status)) = running.child.try_wait() {
                panic!("slipstream run exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "slipstream run did not serve within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        running
    }

    /// Replaces the config file's content by `config` (and the `http:` line it had), as
    /// an editor saving it does: a new file renamed over the old one.
    pub fn rewrite_config(&self, config: &str) {
        let tmp = self.config.0.with_extension("yaml.new");
        std::fs::write(&tmp, format!("{config}{}", self.http)).expect("write config");
        std::fs::rename(&tmp, &self.config.0).expect("rename config");
    }

    /// Sends `signal` (`HUP`, …) without waiting for anything.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// POST `body` (JSON) to `path`, with the bearer token if it has one.
    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("Authorization", b.as_str()))
            .collect();
        let response = http::post_with(&self.addr, path, &headers, body)
            .unwrap_or_else(|| panic!("POST {path}: no answer"));
        (response.status, response.body)
    }

    /// The peak resident set of the process so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/<pid>/status")
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("Authorization", b.as_str()))
            .collect();
        let response = http::get_with(&self.addr, path, &headers)
            .unwrap_or_else(|| panic!("GET {path}: no answer"));
        (response.status, response.body)
    }

    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "/metrics: {body}");
        http::sample(&http::samples(&body), name, labels)
    }

    /// Waits until `slipstream_events_read_total` reaches `n` and an evaluation has
    /// published it; panics after `within`.
    pub fn wait_for_read(&self, n: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let read = self
                .metric("slipstream_events_read_total", &[])
                .unwrap_or(0.0);
            if read as u64 >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "read {read} of {n} events within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for the exit, at most `within`.
    pub fn stop(mut self, signal: &str, within: Duration) -> ExitStatus {
        self.signal(signal);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for slipstream") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit within {within:?} of SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

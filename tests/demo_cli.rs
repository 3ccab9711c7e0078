//! `slipstream demo`, the README's run command, as a user runs it: it serves SLIs of the
//! traffic it generates within seconds, a real Prometheus scrapes and queries them, and
//! Ctrl-C stops it cleanly.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_live_slis_and_stops_on_ctrl_c() {
    let addr = format!("127.0.0.1:{}", common::broker::free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(["demo", "--listen", &addr, "--rate", "500"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn slipstream demo");
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        assert!(Instant::now() < deadline, "no SLIs served within 60 s");
        std::thread::sleep(Duration::from_millis(250));
        let Some((200, body)) = common::http::get(&addr, "/api/v1/slos") else {
            continue;
        };
        let report: serde_json::Value = serde_json::from_str(&body).unwrap();
        let total = report["slos"][0]["windows"]["5m"]["total"]
            .as_u64()
            .unwrap_or(0);
        if report["slos"][0]["name"] == "checkout-availability" && total > 0 {
            break report;
        }
    };
    assert!(report["events"]["valid"].as_u64().unwrap() > 0);
    // /metrics is published at each evaluation, once a second.
    let sli = loop {
        assert!(Instant::now() < deadline, "no SLI exported within 60 s");
        let (_, metrics) = common::http::get(&addr, "/metrics").unwrap();
        let sli = common::http::sample(
            &common::http::samples(&metrics),
            "slipstream_sli",
            &[("slo", "checkout-availability"), ("window", "5m")],
        );
        if let Some(sli) = sli {
            break sli;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!((0.0..=1.0).contains(&sli), "{sli}");

    // What a user's Prometheus sees: the exposition parses, and PromQL works on it.
    if let Some(prometheus) = common::prometheus::Prometheus::scraping(&addr) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let query = r#"sum by (slo) (slipstream_window_events{window="5m"})"#;
        loop {
            let result = prometheus.query(query);
            let slos: Vec<&str> = result
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|r| r["metric"]["slo"].as_str())
                .collect();
            if slos.contains(&"checkout-availability") && slos.contains(&"service-availability") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus has no {query}: {result}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let burn = prometheus
            .query(r#"slipstream_burn_rate{slo="checkout-availability",window="5m"} >= 0"#);
        assert_eq!(burn.as_array().unwrap().len(), 1, "{burn}");
    }

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "demo did not stop within 20 s of Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "demo exited with {status}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        out.contains(&format!("metrics  http://{addr}/metrics")),
        "{out}"
    );
    assert!(out.contains("stopped cleanly"), "{out}");
}

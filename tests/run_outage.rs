//! Broker outages, with checkpoints on: slipstream keeps serving the last state, says it
//! is not ready, reconnects when the broker is back, and counts exactly.
//! 1. librdkafka's mock cluster, its broker taken down and brought up (in-process);
//! 2. a real broker process (Tansu) stopped (SIGSTOP) and continued (SIGCONT): its
//!    clients' requests time out, as with a broker that hangs or a network partition.

mod common;

use common::wait::wait_until;
use std::path::Path;
use std::time::{Duration, Instant};

use common::broker::{Tansu, produce};
use common::in_process::InProcess;
use common::report::fixture;
use common::slipstream::Running;
use common::traffic::state_dir;
use rdkafka::mocking::MockCluster;
use serde_json::Value;

fn config(brokers: &str, topic: &str, state: &Path, listen: bool) -> String {
    let slos = std::fs::read_to_string(fixture("config.yaml")).expect("fixture config");
    let http = if listen {
        "http: { listen: \"127.0.0.1:0\" }\n"
    } else {
        ""
    };
    format!(
        "{slos}\nkafka:\n  brokers: \"{brokers}\"\n  topics: [{topic}]\n  group: outage\n  \
         properties: {{ session.timeout.ms: \"6000\", reconnect.backoff.max.ms: \"500\" }}\n\
         evaluation: {{ interval: 200ms }}\n\
         state: {{ dir: \"{}\", checkpoint_interval: 500ms }}\n{http}",
        state.display()
    )
}

/// `n` events of the hour before now, over two partitions.
fn traffic(n: usize, seed: u64) -> Vec<(i32, Vec<u8>)> {
    common::traffic::traffic(n, seed, 10, 3_600_000, 100, 2)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    common::http::get(addr, path).unwrap_or_else(|| panic!("GET {path}: no answer"))
}

fn read(addr: &str) -> u64 {
    let (status, body) = get(addr, "/api/v1/slos");
    assert_eq!(status, 200, "the API keeps serving: {body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    report["events"]["read"].as_u64().unwrap()
}

fn ready(addr: &str) -> bool {
    get(addr, "/readyz").0 == 200
}

/// Takes the broker away with `down`: the last state is still served, and the instance
/// says it is not ready.
fn through_an_outage(addr: &str, counted: u64, down: impl FnOnce()) {
    down();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(addr, "/readyz");
        if status != 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still ready 30 s after the broker went down: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(read(addr), counted, "the last state is still served");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(read(addr), counted);
}

fn the_broker_process_stopped_and_continued() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("events", 2);
    produce(&brokers, "events", &traffic(3_000, 3));
    let dir = state_dir("tansu-outage");
    let conf = config(&brokers, "events", &dir, false).replace(
        "reconnect.backoff.max.ms",
        "socket.timeout.ms: \"3000\", reconnect.backoff.max.ms",
    );
    let run = Running::start(&conf);
    run.wait_for_read(3_000, Duration::from_secs(60));
    wait_until("ready", Duration::from_secs(30), || ready(&run.addr));
    through_an_outage(&run.addr, 3_000, || tansu.pause());
    tansu.resume();
    produce(&brokers, "events", &traffic(2_000, 4));
    run.wait_for_read(5_000, Duration::from_secs(120));
    wait_until("ready again", Duration::from_secs(60), || ready(&run.addr));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(read(&run.addr), 5_000, "nothing lost, nothing read twice");
    let _ = std::fs::remove_dir_all(&dir);
}

fn the_mock_brokers_outage_and_return() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = state_dir("mock-outage");
    let run = InProcess::start(&config(&brokers, "events", &dir, true));
    let addr = run.addr();
    produce(&brokers, "events", &traffic(5_000, 1));
    wait_until("the first events", Duration::from_secs(60), || {
        read(&addr) == 5_000
    });
    wait_until("ready", Duration::from_secs(30), || ready(&addr));
    through_an_outage(&addr, 5_000, || cluster.broker_down(1).unwrap());
    cluster.broker_up(1).unwrap();
    produce(&brokers, "events", &traffic(5_000, 2));
    wait_until(
        "the events after the outage",
        Duration::from_secs(60),
        || read(&addr) >= 10_000,
    );
    wait_until("ready again", Duration::from_secs(30), || ready(&addr));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(read(&addr), 10_000, "nothing lost, nothing read twice");
    run.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One after the other: run side by side, the mock cluster's broker did not always look
/// down to its consumer within 30 s (it always did alone).
#[test]
fn broker_outages() {
    the_mock_brokers_outage_and_return();
    the_broker_process_stopped_and_continued();
}

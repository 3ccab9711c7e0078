//! A deployment under test: a broker, three `slipstream run` instances with `scale_out`
//! owning the partitions between them, and a plain instance reading the same topic as
//! the reference; keyed traffic for `input_keyed`; and the exact comparison of what the
//! deployment counts against the reference.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::broker::{Tansu, produce};
use super::cluster::{
    INPUT, Instance, PARTITIONS, SERVICES, assert_none, base_ms, config, counted, differences,
    logs, read, settle, wait_for_owners,
};

/// A broker with the input topic, instances of a deployment owning the partitions
/// between them, and the single instance.
pub struct Deployment {
    /// The deployment's config, for one more instance.
    pub config: String,
    pub single_conf: String,
    pub instances: Vec<Instance>,
    pub single: Instance,
    pub started: Instant,
    /// After the instances (fields drop in order), so that they stop before it does.
    pub tansu: Tansu,
    /// Last, so that it is released after every process has stopped.
    _turn: MutexGuard<'static, ()>,
}

impl Deployment {
    /// Three instances a, b and c with `scale_out` in group `group`, and the single
    /// instance, once the three own every partition. Tests of one file take turns on
    /// `turn`: each runs a broker and several processes on a two-core machine. `None`
    /// without a broker (outside CI).
    pub fn three_and_one(
        turn: &'static Mutex<()>,
        group: &str,
        scale_out: &str,
    ) -> Option<Deployment> {
        let turn = turn.lock().unwrap_or_else(|e| e.into_inner());
        let tansu = Tansu::start()?;
        let started = Instant::now();
        tansu.create_topic(INPUT, PARTITIONS);
        let brokers = tansu.brokers();
        tansu.create_topic(&dead_letters(group), 1);
        let deployment = format!(
            "{}dead_letter: {{ topic: {} }}\n",
            config(&brokers, group, Some(scale_out)),
            dead_letters(group)
        );
        let single_conf = config(&brokers, "single", None);
        let instances: Vec<Instance> = ["a", "b", "c"]
            .iter()
            .map(|name| Instance::start(name, &deployment))
            .collect();
        let single = Instance::start("single", &single_conf);
        wait_for_owners(
            &instances.iter().collect::<Vec<_>>(),
            Duration::from_secs(60),
        );
        eprintln!("3 instances own the partitions: {:?}", started.elapsed());
        Some(Deployment {
            config: deployment,
            single_conf,
            instances,
            single,
            started,
            tansu,
            _turn: turn,
        })
    }

    pub fn produce(&self, records: &[(i32, Vec<u8>)]) {
        produce(&self.tansu.brokers(), INPUT, records);
    }

    /// Asserts that the deployment's dead-letter topic holds exactly the `n` invalid
    /// records [`mix_invalid`] added, each once and unchanged.
    pub fn assert_dead_letters(&self, group: &str, n: usize) {
        let topic = dead_letters(group);
        let brokers = self.tansu.brokers();
        let mut records = super::broker::read_records(&brokers, &topic, CONVERGE, |r| r.len() >= n);
        // A few more seconds, for a dead letter sent twice.
        std::thread::sleep(Duration::from_secs(2));
        let late =
            super::broker::read_records(&brokers, &topic, Duration::from_secs(5), |r| r.len() > n);
        if late.len() > records.len() {
            records = late;
        }
        let mut values: Vec<String> = records.into_iter().map(|(_, v)| v).collect();
        values.sort();
        let mut want: Vec<String> = (0..n).map(invalid_payload).collect();
        want.sort();
        assert_eq!(values, want, "the dead letters of {topic}");
    }

    /// Produces the first half of `records`; kills instance b with SIGKILL once it
    /// counts and `ready` holds for it; produces the rest; and asserts that the two left
    /// own every partition and count exactly what the single instance counts at `at`.
    /// Not the read counts: the survivors read again what b had read but not committed.
    pub fn kill_one_mid_stream(
        &mut self,
        records: &[(i32, Vec<u8>)],
        at: &str,
        ready: impl Fn(&Instance) -> bool,
    ) {
        let (first, rest) = records.split_at(records.len() / 2);
        self.produce(first);
        let victim = self.instances.remove(1);
        wait_until_counting(&victim, at);
        super::wait::wait_until(
            &format!("{} is ready to be killed", victim.name),
            Duration::from_secs(20),
            || ready(&victim),
        );
        let status = victim.run.stop("KILL", Duration::from_secs(10));
        assert!(!status.success(), "SIGKILL: {status}");
        eprintln!("{} killed: {:?}", victim.name, self.started.elapsed());

        self.produce(rest);
        let survivors: Vec<&Instance> = self.instances.iter().collect();
        wait_for_owners(&survivors, Duration::from_secs(60));
        eprintln!(
            "2 instances own the partitions: {:?}",
            self.started.elapsed()
        );
        assert_counts_match(&survivors, &self.single, records.len() as u64, at, false);
        eprintln!("counts equal: {:?}", self.started.elapsed());
    }
}

/// The dead-letter topic of a deployment's group.
fn dead_letters(group: &str) -> String {
    format!("{group}-dead-letters")
}

fn invalid_payload(i: usize) -> String {
    format!("not json {i}")
}

/// Inserts an invalid record after every `every`-th of `records`, in the partition of
/// the one before it; returns how many.
pub fn mix_invalid(records: &mut Vec<(i32, Vec<u8>)>, every: usize) -> usize {
    let mut mixed = Vec::with_capacity(records.len() + records.len() / every);
    let mut n = 0;
    for (i, (p, r)) in records.drain(..).enumerate() {
        mixed.push((p, r));
        if i % every == every - 1 {
            mixed.push((p, invalid_payload(n).into_bytes()));
            n += 1;
        }
    }
    *records = mixed;
    n
}

/// `scale_out` for input keyed by service: no stage 1, no repartition topic; each
/// instance owns input partitions, and the changelog has as many.
pub const SCALE_OUT_KEYED: &str =
    "{ input_keyed: true, flush_interval: 500ms, checkpoint_interval: 2s }";

/// `config` with a local checkpoint in `dir` (with `scale_out`: a cache of the changelog),
/// written every second.
pub fn with_state(config: &str, dir: &Path) -> String {
    format!(
        "{config}state: {{ dir: \"{}\", checkpoint_interval: 1s }}\n",
        dir.display()
    )
}

/// Services of the keyed traffic: the six of [`events`] (`checkout` first, with its own
/// SLO and its failures) and 24 more, so that every input partition has some.
fn keyed_services() -> Vec<String> {
    let more = (0..24).map(|i| format!("svc-{i:02}"));
    SERVICES.iter().map(|s| s.to_string()).chain(more).collect()
}

/// The input partition of `service`'s events, as a producer keyed by service chooses it:
/// a stable hash (64-bit FNV-1a) of the name, modulo [`PARTITIONS`].
pub fn service_partition(service: &str) -> i32 {
    let hash = service.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % PARTITIONS as u64) as i32
}

/// `n` events as [`events`] makes them (same disorder), over 30 services, each event on
/// its service's partition: the input is keyed by service. Panics unless every
/// partition gets events, so that every keyed owner has work.
pub fn keyed_events(n: usize, seed: u64, step_ms: i64) -> Vec<(i32, Vec<u8>)> {
    let names = keyed_services();
    let mut generator = slipstream::traffic::Generator::new(seed, &names, 5);
    generator.set_error_rate(0, 0.05);
    generator.set_error_rate(1, 0.01);
    let mut jitter = slipstream::traffic::Rng::new(seed ^ 0x5ca1e);
    let records: Vec<(i32, Vec<u8>)> = (0..n)
        .map(|i| {
            let ts = base_ms() + i as i64 * step_ms - jitter.below(20_000) as i64;
            let mut line = Vec::new();
            generator.write_event(ts, &mut line);
            let v: Value = serde_json::from_slice(&line).expect("an event is JSON");
            let service = v["service"].as_str().expect("a service");
            (service_partition(service), line)
        })
        .collect();
    let mut per_partition = vec![0usize; PARTITIONS as usize];
    for (p, _) in &records {
        per_partition[*p as usize] += 1;
    }
    assert!(
        per_partition.iter().all(|&k| k > 0),
        "a partition without events: {per_partition:?}"
    );
    records
}

/// How long a deployment may take to count what the single instance counted.
pub const CONVERGE: Duration = Duration::from_secs(60);

/// A `slipstream_repartition_records_total{result}` of `instance` (0 when absent).
pub fn repartition_records(instance: &Instance, result: &str) -> f64 {
    instance
        .run
        .metric(
            "slipstream_repartition_records_total",
            &[("result", result)],
        )
        .unwrap_or(0.0)
}

/// Waits until the single instance has read all `n` events, then waits until
/// `instances` report exactly what it reports at `at` (events too, with `events`), and
/// asserts they still do a few flushes later, when a late duplicate would show; that no
/// instance rejected a record; and that each says it is ready.
pub fn assert_counts_match(
    instances: &[&Instance],
    single: &Instance,
    n: u64,
    at: &str,
    events: bool,
) {
    single.run.wait_for_read(n, Duration::from_secs(60));
    let want = single.whole(at);
    let lifetimes = single.lifetimes();
    assert_eq!(read(&want), n, "the single instance's report");
    let diffs = settle(CONVERGE, || {
        differences(instances, at, &want, &lifetimes, events)
    });
    assert_none("the deployment against one instance", &diffs, instances);
    std::thread::sleep(Duration::from_secs(3));
    let diffs = differences(instances, at, &want, &lifetimes, events);
    assert_none("3 s later", &diffs, instances);
    for i in instances {
        let read = i.metric("slipstream_events_read_total").unwrap_or(0.0);
        let applied = repartition_records(i, "applied");
        let duplicate = repartition_records(i, "duplicate");
        eprintln!(
            "{}: read {read}, repartition records applied {applied}, duplicate {duplicate}",
            i.name
        );
        assert_eq!(
            repartition_records(i, "rejected"),
            0.0,
            "{}: repartition records rejected\n{}",
            i.name,
            logs(&[i])
        );
        // Caught up on its input partitions, from its input consumer's statistics.
        super::wait::wait_until(
            &format!("{} ready", i.name),
            Duration::from_secs(30),
            || i.run.get("/readyz").0 == 200,
        );
    }
}

/// Waits until `instance`'s own series have counted something.
pub fn wait_until_counting(instance: &Instance, at: &str) {
    super::wait::wait_until(
        &format!("{} counts its first events", instance.name),
        Duration::from_secs(60),
        || counted(&instance.local(at)) > 0,
    );
}

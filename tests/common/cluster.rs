//! A scale-out deployment for the end-to-end tests: `slipstream run` instances with
//! `scale_out` on one input topic, next to a plain instance in a group of its own, and the
//! comparison of what they report, series by series and window by window.
//!
//! Every comparison is exact: a scaled-out deployment must count each event once, as one
//! process does, so there is no tolerance to hide a lost or doubled pane behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http;
use super::report::first_difference;
use super::slipstream::{Options, Running};

/// Partitions of the input topic, and of the repartition and changelog topics.
pub const PARTITIONS: i32 = 12;
pub const INPUT: &str = "events";

/// Services of the generated traffic; `checkout` fails more than the others, so that
/// every SLO has bad events in every window.
pub const SERVICES: [&str; 6] = ["checkout", "search", "cart", "users", "stock", "prices"];

/// Three SLOs over the traffic: availability per service and route, latency per service
/// and operator, and one service's availability with no labels.
const SLOS: &str = r#"windows: [5m, 30m, 1h, 6h, 1d]
events:
  labels: [operator]
slos:
  - name: route-availability
    service: "*"
    group_by: [route]
    indicator: { type: availability }
    objective: 99.5
    window: 1d
  - name: operator-latency
    service: "*"
    group_by: [operator]
    indicator: { type: latency, threshold_ms: 60 }
    objective: 95
    window: 1d
  - name: checkout-availability
    service: checkout
    indicator: { type: availability }
    objective: 99.9
    window: 1d
"#;

/// The config of a deployment's instances (`scale_out`), or of the plain instance
/// (`None`): same SLOs, same input topic, each its own group.
pub fn config(brokers: &str, group: &str, scale_out: Option<&str>) -> String {
    let scale_out = scale_out.map_or(String::new(), |s| format!("scale_out: {s}\n"));
    format!(
        "{SLOS}kafka:\n  brokers: \"{brokers}\"\n  topics: [{INPUT}]\n  group: {group}\n  \
         properties: {{ session.timeout.ms: \"6000\" }}\n\
         evaluation: {{ clock: event, interval: 500ms }}\n{scale_out}"
    )
}

/// `scale_out` with short intervals, so that a test waits seconds, not minutes.
pub const SCALE_OUT: &str = "{ partitions: 12, flush_interval: 500ms, checkpoint_interval: 2s }";

/// 2026-11-20T10:00:00Z: the first event's time, in the past wherever the tests run.
pub fn base_ms() -> i64 {
    slipstream::decode::timestamp::parse_rfc3339(b"2026-11-20T10:00:00Z").expect("a time")
}

/// `n` events from [`base_ms`] on, one every `step_ms` with up to 20 s of disorder, in
/// turn over the input partitions: every service, route, operator and status class in
/// every partition.
pub fn events(n: usize, seed: u64, step_ms: i64) -> Vec<(i32, Vec<u8>)> {
    let names: Vec<String> = SERVICES.iter().map(|s| s.to_string()).collect();
    let mut generator = slipstream::traffic::Generator::new(seed, &names, 5);
    generator.set_error_rate(0, 0.05);
    generator.set_error_rate(1, 0.01);
    let mut jitter = slipstream::traffic::Rng::new(seed ^ 0x5ca1e);
    (0..n)
        .map(|i| {
            let ts = base_ms() + i as i64 * step_ms - jitter.below(20_000) as i64;
            let mut line = Vec::new();
            generator.write_event(ts, &mut line);
            (i as i32 % PARTITIONS, line)
        })
        .collect()
}

/// The minute after the newest of `records`, as RFC 3339: where every test evaluates.
pub fn minute_after(records: &[(i32, Vec<u8>)]) -> String {
    let newest = records
        .iter()
        .map(|(_, r)| {
            let v: Value = serde_json::from_slice(r).expect("an event is JSON");
            let ts = v["timestamp"].as_str().expect("a timestamp");
            slipstream::decode::timestamp::parse_rfc3339(ts.as_bytes()).expect("RFC 3339")
        })
        .max()
        .expect("some events");
    slipstream::decode::timestamp::format_rfc3339((newest / 60_000 + 1) * 60_000)
}

/// One `slipstream run` process, its standard error in a log file for the evidence.
pub struct Instance {
    pub name: String,
    pub run: Running,
    log: Log,
}

/// A log file of its own for instance `name`: tests of one process may run at once.
fn log_file(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    std::env::temp_dir().join(format!("slipstream-scale-{pid}-{n}-{name}.log"))
}

impl Instance {
    pub fn start(name: &str, config: &str) -> Instance {
        let log = log_file(name);
        let started = std::panic::catch_unwind(|| {
            Running::start_with(
                config,
                Options {
                    log_filter: Some("warn,slipstream::scale=info"),
                    stderr: Some(&log),
                    ..Options::default()
                },
            )
        });
        let run = started.unwrap_or_else(|panic| {
            eprintln!("--- {name} did not start; its log ---\n{}", tail(&log, 30));
            std::panic::resume_unwind(panic)
        });
        Instance {
            name: name.to_owned(),
            run,
            log: Log(log),
        }
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.run.get(path);
        assert_eq!(status, 200, "{} GET {path}: {body}", self.name);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{} {path}: {e}: {body}", self.name))
    }

    /// The whole picture at `at`: every live instance's series.
    pub fn whole(&self, at: &str) -> Value {
        self.json(&format!("/api/v1/slos?at={at}"))
    }

    /// The series this instance owns, and what its stage 1 read.
    pub fn local(&self, at: &str) -> Value {
        self.json(&format!("/api/v1/slos?scope=local&at={at}"))
    }

    /// `{"instance": ID, "instances": [{"instance", "url", "partitions"}]}`.
    pub fn cluster(&self) -> Value {
        self.json("/api/v1/cluster")
    }

    /// Lifetime counters (`slipstream_slo_events_total`) by series: `[good, bad]`.
    pub fn lifetimes(&self) -> BTreeMap<String, [u64; 2]> {
        let (status, text) = self.run.get("/metrics");
        assert_eq!(status, 200, "{} /metrics: {text}", self.name);
        let mut out: BTreeMap<String, [u64; 2]> = BTreeMap::new();
        for (key, value) in http::samples(&text) {
            let Some(inner) = key
                .strip_prefix("slipstream_slo_events_total{")
                .and_then(|k| k.strip_suffix('}'))
            else {
                continue;
            };
            let mut labels = http::split_labels(inner);
            let outcome = labels
                .iter()
                .position(|l| l.starts_with("outcome="))
                .map(|i| labels.remove(i))
                .expect("an outcome label");
            labels.sort();
            let cell = usize::from(outcome != "outcome=\"good\"");
            out.entry(labels.join(",")).or_default()[cell] = value as u64;
        }
        out
    }

    pub fn metric(&self, name: &str) -> Option<f64> {
        self.run.metric(name, &[])
    }

    /// Its `slipstream_scale_out_*`, `_repartition_*` and `_changelog_*` samples, one line.
    pub fn scale_metrics(&self) -> String {
        let Some((_, text)) = http::get(&self.run.addr, "/metrics") else {
            return "(no /metrics)".to_owned();
        };
        let prefixes = [
            "slipstream_scale_out",
            "slipstream_repartition",
            "slipstream_changelog",
        ];
        http::samples(&text)
            .iter()
            .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends `signal` (`TERM`, `KILL`) and waits for the exit, at most `within`; the exit
    /// status and the last 30 lines of the log, for a failure message.
    pub fn stop(self, signal: &str, within: Duration) -> (std::process::ExitStatus, String) {
        let status = self.run.stop(signal, within);
        (status, tail(&self.log.0, 30))
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log.0, lines)
    }
}

/// A log file, removed when dropped unless the test failed (its message names it).
struct Log(PathBuf);

impl Drop for Log {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The tails of the instances' logs, for a failure message.
pub fn logs(instances: &[&Instance]) -> String {
    instances
        .iter()
        .map(|i| {
            let (name, addr) = (&i.name, &i.run.addr);
            let scale = i.scale_metrics();
            let log = i.log.0.display();
            format!(
                "--- {name} ({addr}, {log}) ---\n{scale}\n{}",
                i.log_tail(30)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Series of a report by name and labels; a series listed twice is a difference.
pub fn series_of(report: &Value, diffs: &mut Vec<String>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for s in report["slos"].as_array().expect("`slos` is an array") {
        let key = format!("{} {}", s["name"], s["labels"]);
        if out.insert(key.clone(), s.clone()).is_some() {
            diffs.push(format!("series {key} listed twice"));
        }
    }
    out
}

/// The first window whose total or good count differs: a count that differs explains
/// every other field that does.
fn count_difference(got: &Value, want: &Value) -> Option<String> {
    let windows = want["windows"].as_object()?;
    windows.keys().find_map(|name| {
        ["total", "good"].iter().find_map(|field| {
            let (g, w) = (&got["windows"][name][field], &want["windows"][name][field]);
            (g != w).then(|| format!(".windows.{name}.{field}: got {g}, want {w}"))
        })
    })
}

/// Every series missing, extra, or different (its first differing field), prefixed by
/// `what`.
pub fn compare_series(
    what: &str,
    got: &BTreeMap<String, Value>,
    want: &BTreeMap<String, Value>,
    diffs: &mut Vec<String>,
) {
    for (key, w) in want {
        match got.get(key) {
            None => diffs.push(format!("{what}: missing series {key}")),
            Some(g) => diffs.extend(
                count_difference(g, w)
                    .or_else(|| first_difference("", g, w))
                    .map(|d| format!("{what}: series {key} at {d}")),
            ),
        }
    }
    diffs.extend(
        got.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("{what}: extra series {k}")),
    );
}

/// Adds the counts of `b` to `a`, field by field (`events` of two reports).
fn add_counts(a: &mut Value, b: &Value) {
    match (a, b) {
        (a @ Value::Null, b) => *a = b.clone(),
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                add_counts(a.entry(k.clone()).or_insert(Value::from(0)), v);
            }
        }
        (a, b) => *a = Value::from(a.as_u64().unwrap_or(0) + b.as_u64().unwrap_or(0)),
    }
}

/// What differs between the deployment `instances` and the plain instance's report
/// `want` at `at`: (a) the union of their local reports, each series on exactly one
/// instance; (b) the whole picture of each, complete; (c) the lifetime counters of
/// their /metrics, each series on exactly one, against `lifetimes`. With `events`, the
/// stage-1 read counts (summed) must match too.
pub fn differences(
    instances: &[&Instance],
    at: &str,
    want: &Value,
    lifetimes: &BTreeMap<String, [u64; 2]>,
    events: bool,
) -> Vec<String> {
    let mut diffs = Vec::new();
    let want_series = series_of(want, &mut diffs);
    let (mut union, mut owner, mut read) = (BTreeMap::new(), BTreeMap::new(), Value::Null);
    let (mut union_life, mut life_owner) = (BTreeMap::new(), BTreeMap::new());
    for i in instances {
        let local = i.local(at);
        for (key, s) in series_of(&local, &mut diffs) {
            if let Some(other) = owner.insert(key.clone(), i.name.clone()) {
                diffs.push(format!(
                    "local: series {key} on both {other} and {}",
                    i.name
                ));
            }
            union.insert(key, s);
        }
        add_counts(&mut read, &local["events"]);
        for (key, counts) in i.lifetimes() {
            if let Some(other) = life_owner.insert(key.clone(), i.name.clone()) {
                diffs.push(format!(
                    "/metrics: series {key} on both {other} and {}",
                    i.name
                ));
            }
            union_life.insert(key, counts);
        }

        let whole = i.whole(at);
        let what = format!("whole picture of {}", i.name);
        if whole["at"] != want["at"] {
            diffs.push(format!("{what}: at {}, want {}", whole["at"], want["at"]));
        }
        let cluster = &whole["cluster"];
        let answered = cluster["instances"]
            .as_array()
            .map_or(0, |l| l.iter().filter(|m| m["answered"] == true).count());
        if cluster["complete"] != true || answered != instances.len() {
            diffs.push(format!(
                "{what}: not complete with {} instances answering: {cluster}",
                instances.len()
            ));
        }
        if events && whole["events"] != want["events"] {
            let (g, w) = (&whole["events"], &want["events"]);
            diffs.push(format!("{what}: events {g}, want {w}"));
        }
        compare_series(
            &what,
            &series_of(&whole, &mut diffs),
            &want_series,
            &mut diffs,
        );
    }
    if events && read != want["events"] {
        let w = &want["events"];
        diffs.push(format!("local: events summed {read}, want {w}"));
    }
    compare_series("local (union)", &union, &want_series, &mut diffs);
    let (got_total, want_total) = (totals(union.values()), totals(want_series.values()));
    if got_total != want_total {
        diffs.insert(
            0,
            format!(
                "local (union): [total, good] per SLO over 1d {got_total:?}, want {want_total:?}"
            ),
        );
    }
    for (key, w) in lifetimes {
        match union_life.get(key) {
            Some(g) if g == w => {}
            g => diffs.push(format!(
                "/metrics: lifetime [good, bad] of {key}: got {g:?}, want {w:?}"
            )),
        }
    }
    diffs.extend(
        union_life
            .keys()
            .filter(|k| !lifetimes.contains_key(*k))
            .map(|k| format!("/metrics: extra series {k}")),
    );
    diffs
}

/// `[total, good]` per SLO over the 1d window, summed over `series`.
fn totals<'a>(series: impl Iterator<Item = &'a Value>) -> BTreeMap<String, [u64; 2]> {
    let mut out: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    for s in series {
        let (w, sum) = (
            &s["windows"]["1d"],
            out.entry(s["name"].to_string()).or_default(),
        );
        sum[0] += w["total"].as_u64().unwrap_or(0);
        sum[1] += w["good"].as_u64().unwrap_or(0);
    }
    out
}

/// Polls `check` until it finds no difference, or `within` passes; the last differences.
pub fn settle(within: Duration, mut check: impl FnMut() -> Vec<String>) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let diffs = check();
        if diffs.is_empty() || Instant::now() >= deadline {
            return diffs;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Panics with the differences (the first 20) and the instances' logs, unless none.
pub fn assert_none(what: &str, diffs: &[String], instances: &[&Instance]) {
    if diffs.is_empty() {
        return;
    }
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for d in diffs {
        *by_source
            .entry(d.split(": ").next().unwrap_or(d))
            .or_default() += 1;
    }
    let shown = diffs
        .iter()
        .take(20)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    panic!(
        "{what}: {} difference(s) ({by_source:?}), the first:\n{shown}\n{}",
        diffs.len(),
        logs(instances)
    );
}

/// Waits until `instances` own every stage-2 partition between them, each at least one,
/// and each lists exactly them as the live members; panics after `within`.
pub fn wait_for_owners(instances: &[&Instance], within: Duration) {
    let ids: Vec<Value> = instances
        .iter()
        .map(|i| i.cluster()["instance"].clone())
        .collect();
    let mut want_ids = ids.clone();
    want_ids.sort_by_key(|v| v.to_string());
    let diffs = settle(within, || {
        let mut diffs = Vec::new();
        for i in instances {
            let cluster = i.cluster();
            let members = cluster["instances"].as_array().cloned().unwrap_or_default();
            let mut listed: Vec<Value> = members.iter().map(|m| m["instance"].clone()).collect();
            listed.sort_by_key(|v| v.to_string());
            if listed != want_ids {
                diffs.push(format!("{} lists {listed:?}, want {want_ids:?}", i.name));
            }
            let mut owned: Vec<i64> = members
                .iter()
                .flat_map(|m| m["partitions"].as_array().cloned().unwrap_or_default())
                .filter_map(|p| p.as_i64())
                .collect();
            owned.sort_unstable();
            if owned != (0..i64::from(PARTITIONS)).collect::<Vec<_>>() {
                diffs.push(format!("{}: partitions owned {owned:?}", i.name));
            }
            if let Some(idle) = members
                .iter()
                .find(|m| m["partitions"].as_array().is_none_or(|p| p.is_empty()))
            {
                diffs.push(format!("{}: {idle} owns no partition", i.name));
            }
        }
        diffs
    });
    assert_none("the owners of the partitions", &diffs, instances);
}

/// The events `report`'s series have counted over their 1d window (every SLO's own):
/// what "some are counted" means before a test disturbs the deployment.
pub fn counted(report: &Value) -> u64 {
    report["slos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["windows"]["1d"]["total"].as_u64())
        .sum()
}

/// The events a report says were read.
pub fn read(report: &Value) -> u64 {
    report["events"]["read"]
        .as_u64()
        .expect("`events.read` is a count")
}

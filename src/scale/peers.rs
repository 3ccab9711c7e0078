//! Which instances are alive and where their API is, so that `GET /api/v1/slos` on any
//! of them gives the whole picture: every instance heartbeats to the compacted
//! instances topic (key: its URL) and tails it; the whole picture is the local reports
//! of the live ones (`?scope=local`), merged.
//!
//! No membership protocol of slipstream's own: an instance is live while its heartbeat
//! is recent; which series it owns is decided by Kafka's group, not here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ScaleStatus;
use super::topics::BatchProducer;
use crate::config::{KafkaSettings, Secret};
use crate::kafka_client::client_config;

const HEARTBEAT: Duration = Duration::from_secs(1);
/// An instance whose last heartbeat is older than this is gone.
const LIVE_MS: i64 = 6_000;
/// How long a peer's local report may take.
const PEER_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Instance {
    pub instance: String,
    pub url: String,
    /// Repartition partitions it owns.
    pub partitions: Vec<i32>,
    /// When it said so (Unix ms).
    pub at_ms: i64,
}

pub struct Peers {
    pub me: String,
    url: String,
    seen: Mutex<HashMap<String, Instance>>,
    /// The bearer token peers require, when this instance requires one (the same).
    token: Option<Secret>,
}

impl Peers {
    pub fn new(url: String, token: Option<Secret>) -> Peers {
        Peers {
            me: url.clone(),
            url,
            seen: Mutex::new(HashMap::new()),
            token,
        }
    }

    /// The instances heard from within [`LIVE_MS`] of `now_ms`, by URL.
    pub fn live(&self, now_ms: i64) -> Vec<Instance> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut live: Vec<Instance> = seen
            .values()
            .filter(|i| now_ms - i.at_ms <= LIVE_MS)
            .cloned()
            .collect();
        live.sort_by(|a, b| a.url.cmp(&b.url));
        live
    }

    /// Heartbeats and tails the instances topic until `stop`; then a tombstone, so that
    /// peers stop asking at once.
    pub fn run(&self, kafka: &KafkaSettings, topic: &str, status: &ScaleStatus, stop: &AtomicBool) {
        let producer = match BatchProducer::new(kafka, "slipstream-peers") {
            Ok(p) => p,
            Err(e) => return tracing::error!("peers: cannot create a producer: {e}"),
        };
        // librdkafka wants a group for any consumer; this one never joins or commits.
        let tail: Result<BaseConsumer, _> =
            client_config(kafka, &[("client.id", "slipstream-peers")])
                .set("group.id", format!("{}-peers", kafka.group))
                .set("enable.auto.commit", "false")
                .create();
        let tail = match tail {
            Ok(t) => t,
            Err(e) => return tracing::error!("peers: cannot create a consumer: {e}"),
        };
        let mut list = TopicPartitionList::new();
        let _ = list.add_partition_offset(topic, 0, Offset::Beginning);
        if let Err(e) = tail.assign(&list) {
            return tracing::error!("peers: cannot read {topic}: {e}");
        }
        while !stop.load(Ordering::Relaxed) {
            let me = Instance {
                instance: self.me.clone(),
                url: self.url.clone(),
                partitions: status.owned(),
                at_ms: crate::run::wall_ms(),
            };
            let value = serde_json::to_vec(&me).expect("an instance serialises");
            producer.send_one(topic, self.me.as_bytes(), Some(&value));
            let until = std::time::Instant::now() + HEARTBEAT;
            while std::time::Instant::now() < until && !stop.load(Ordering::Relaxed) {
                let Some(Ok(m)) = tail.poll(Duration::from_millis(100)) else {
                    continue;
                };
                let Some(key) = m.key() else { continue };
                let key = String::from_utf8_lossy(key).into_owned();
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                match m.payload().map(serde_json::from_slice::<Instance>) {
                    Some(Ok(i)) => {
                        seen.insert(key, i);
                    }
                    None => {
                        seen.remove(&key);
                    }
                    Some(Err(e)) => tracing::debug!("peers: a record that is not an instance: {e}"),
                }
            }
        }
        producer.send_one(topic, self.me.as_bytes(), None);
        producer.flush(Duration::from_secs(2));
    }

    /// The local report of every live instance at `at` (RFC 3339), merged: series
    /// concatenated (each is owned by one instance) and ordered as one instance orders
    /// them, event counts summed, and a `cluster` field saying who answered.
    pub async fn whole_picture(&self, at: &str, slo_order: &[String], now_ms: i64) -> Value {
        let live = self.live(now_ms);
        let fetches =
            live.iter().map(|i| {
                let path = format!("/api/v1/slos?scope=local&at={at}");
                let token = self.token.as_ref().map(|t| t.expose().to_owned());
                let url = i.url.clone();
                async move {
                    tokio::time::timeout(PEER_WAIT, get_json(&url, &path, token.as_deref())).await
                }
            });
        let answers = futures_join(fetches).await;
        let mut instances = Vec::new();
        let mut reports = Vec::new();
        for (i, answer) in live.iter().zip(answers) {
            let answered = match answer {
                Ok(Ok(report)) => {
                    reports.push(report);
                    true
                }
                Ok(Err(e)) => {
                    tracing::warn!("whole picture: {} did not answer: {e}", i.url);
                    false
                }
                Err(_) => {
                    tracing::warn!(
                        "whole picture: {} did not answer within {PEER_WAIT:?}",
                        i.url
                    );
                    false
                }
            };
            instances.push(serde_json::json!({
                "instance": i.instance, "url": i.url, "partitions": i.partitions, "answered": answered,
            }));
        }
        let complete = !live.is_empty() && instances.iter().all(|i| i["answered"] == true);
        let mut merged = merge(reports, slo_order);
        merged["cluster"] = serde_json::json!({ "instances": instances, "complete": complete });
        merged
    }
}

/// Awaits every future, in order (a handful of peers: no need for a join crate).
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await);
    }
    out
}

/// Local reports merged into one.
pub fn merge(reports: Vec<Value>, slo_order: &[String]) -> Value {
    let mut reports = reports.into_iter();
    let Some(mut merged) = reports.next() else {
        return serde_json::json!({ "slos": [] });
    };
    for r in reports {
        if let (Some(a), Some(b)) = (merged.get_mut("events"), r.get("events")) {
            add_numbers(a, b);
        }
        if let (Some(Value::Array(a)), Some(Value::Array(b))) =
            (merged.get_mut("slos"), r.get("slos"))
        {
            a.extend(b.iter().cloned());
        }
    }
    if let Some(Value::Array(slos)) = merged.get_mut("slos") {
        let rank = |s: &Value| {
            let name = s["name"].as_str().unwrap_or("");
            let at = slo_order
                .iter()
                .position(|n| n == name)
                .unwrap_or(usize::MAX);
            let labels: Vec<String> = s["labels"]
                .as_object()
                .map(|l| {
                    l.values()
                        .map(|v| v.as_str().unwrap_or("").to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (at, labels)
        };
        slos.sort_by_key(rank);
    }
    merged
}

/// `a += b`, number by number, through objects.
fn add_numbers(a: &mut Value, b: &Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(x) => add_numbers(x, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x1), Some(y1)) = (x.as_u64(), y.as_u64()) {
                *x = (x1 + y1).into();
            }
        }
        _ => {}
    }
}

/// GET `path` from `base` (`http://host:port`) as JSON: a minimal HTTP/1.1 client for
/// peers on the same network.
async fn get_json(base: &str, path: &str, token: Option<&str>) -> Result<Value, String> {
    let host = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: only http:// peers are supported"))?
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| format!("connect {host}: {e}"))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header")?;
    let status = head.split(' ').nth(1).unwrap_or("");
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    if status != "200" {
        return Err(format!("HTTP {status}: {}", body.trim()));
    }
    serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_concatenates_series_in_config_order_and_sums_counts() {
        let a = serde_json::json!({"at": "t", "events": {"read": 2, "invalid": {"json": 1}},
            "slos": [{"name": "b", "labels": {"route": "/x"}}]});
        let b = serde_json::json!({"at": "t", "events": {"read": 3, "invalid": {"json": 2}},
            "slos": [{"name": "a", "labels": {"route": "/y"}}, {"name": "b", "labels": {"route": "/a"}}]});
        let m = merge(vec![a, b], &["a".into(), "b".into()]);
        assert_eq!(m["events"]["read"], 5);
        assert_eq!(m["events"]["invalid"]["json"], 3);
        let order: Vec<(&str, &str)> = m["slos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap(),
                    s["labels"]["route"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(order, [("a", "/y"), ("b", "/a"), ("b", "/x")]);
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), "abcde");
    }
}

//! The event mappings the decoder target runs every input through: the four presets and
//! one custom mapping with nested paths, labels, keys of every length class the decoder
//! matches differently (up to 8, 9 to 16 and over 16 bytes) and a non-ASCII key.
//!
//! Each comes with a few SLOs that use its fields (any service grouped by route, one
//! service, a selector), so that the engine sees whatever decodes. Windows stay at most
//! 1 h for percentiles, so their panes are whole minutes (the oracle assumes so).

use std::path::Path;

use slipstream::config::Config;

/// `(name, events section, a service name the seeds use, a label to select and group on)`.
const MAPPINGS: [(&str, &str, &str, Option<&str>); 5] = [
    (
        "default",
        "{ labels: [operator] }",
        "checkout",
        Some("operator"),
    ),
    ("envoy", "{ preset: envoy }", "orders", None),
    (
        "kong",
        "{ preset: kong, labels: [consumer.username] }",
        "orders",
        Some("consumer_username"),
    ),
    ("nginx", "{ preset: nginx }", "shop.example.com", None),
    (
        "nested",
        "{ timestamp: meta.time, service: svc.name, route: req.route, status: resp.code, \
         latency_ms: timing.total_us, latency_unit: us, \
         labels: [region, meta.tenant.id, x_request_identifier_long, \"zoné\"] }",
        "checkout",
        Some("region"),
    ),
];

/// A mapping's name and its validated config.
pub struct Mapping {
    pub name: &'static str,
    pub config: Config,
}

/// Every mapping, parsed with slipstream's own config loader.
pub fn all() -> Vec<Mapping> {
    MAPPINGS
        .iter()
        .map(|&(name, events, service, label)| {
            let text = config_text(events, service, label);
            let config = slipstream::config::parse(&text, Path::new(name))
                .unwrap_or_else(|e| panic!("mapping {name}: {e}\n{text}"));
            Mapping { name, config }
        })
        .collect()
}

fn config_text(events: &str, service: &str, label: Option<&str>) -> String {
    let (select, group) = match label {
        Some(l) => (format!("{{ {l}: eu-1 }}"), format!("[route, {l}]")),
        None => (
            "{ route: \"GET /search\" }".to_owned(),
            "[route]".to_owned(),
        ),
    };
    format!(
        r#"windows: [5m, 1h, 1d]
events: {events}
slos:
  - name: every-availability
    service: "*"
    group_by: {group}
    indicator: {{ type: availability }}
    objective: 99.9
    window: 1d
  - name: every-latency
    service: "*"
    group_by: {group}
    indicator: {{ type: latency, threshold_ms: 250 }}
    objective: 99
    window: 1d
  - name: one-latency
    service: {service:?}
    indicator: {{ type: latency, threshold_ms: 0.5 }}
    objective: 95
    window: 1h
  - name: selected-availability
    service: {service:?}
    selector: {select}
    indicator: {{ type: availability }}
    objective: 99.5
    window: 7d
"#
    )
}

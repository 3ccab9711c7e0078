//! Where the fields of an event live in a gateway's JSON, and the presets for the access
//! log formats of common gateways. The decoder reads only these paths.

use super::raw::RawEvents;

/// Most label fields an event schema may name. The decoder keeps label values in a fixed
/// array so that decoding never allocates.
pub const MAX_LABELS: usize = 8;

/// A dotted JSON path such as `response.status`, split into its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(pub Vec<String>);

impl FieldPath {
    fn parse(text: &str) -> Result<FieldPath, String> {
        let keys: Vec<String> = text.split('.').map(str::to_owned).collect();
        if keys.iter().any(String::is_empty) {
            return Err(format!(
                "`{text}` is not a field path: use `name` or `outer.inner`"
            ));
        }
        Ok(FieldPath(keys))
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A label: the name it has in series and reports, and the path it is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelField {
    pub name: String,
    pub path: FieldPath,
}

/// The validated field mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSchema {
    pub timestamp: FieldPath,
    pub service: FieldPath,
    pub route: FieldPath,
    pub status: FieldPath,
    pub latency: FieldPath,
    /// Multiplier that turns the latency field into milliseconds.
    pub latency_to_ms: f64,
    pub labels: Vec<LabelField>,
}

impl EventSchema {
    /// The name a field has in the config and in reports: `route` or the label's name.
    pub fn field_name(&self, field: super::Field) -> &str {
        match field {
            super::Field::Route => "route",
            super::Field::Label(i) => &self.labels[i].name,
        }
    }
}

struct Preset {
    timestamp: &'static str,
    service: &'static str,
    route: &'static str,
    status: &'static str,
    latency: &'static str,
    latency_unit: &'static str,
}

/// slipstream's own schema: `timestamp`, `service`, `route`, `status`, `latency_ms`.
const DEFAULT: Preset = Preset {
    timestamp: "timestamp",
    service: "service",
    route: "route",
    status: "status",
    latency: "latency_ms",
    latency_unit: "ms",
};

/// Envoy's JSON access log with the usual command-operator keys (as in Istio's JSON
/// encoding): `%START_TIME%`, `%UPSTREAM_CLUSTER%`, `%ROUTE_NAME%`, `%RESPONSE_CODE%`,
/// `%DURATION%` (milliseconds).
const ENVOY: Preset = Preset {
    timestamp: "start_time",
    service: "upstream_cluster",
    route: "route_name",
    status: "response_code",
    latency: "duration",
    latency_unit: "ms",
};

/// Kong's log plugins (http-log, file-log, kafka-log): nested objects, epoch-ms start.
const KONG: Preset = Preset {
    timestamp: "started_at",
    service: "service.name",
    route: "route.name",
    status: "response.status",
    latency: "latencies.request",
    latency_unit: "ms",
};

/// An NGINX `log_format ... escape=json` with keys named after the variables:
/// `$time_iso8601`, `$host`, `$uri`, `$status` (unquoted), `$request_time` (seconds).
const NGINX: Preset = Preset {
    timestamp: "time_iso8601",
    service: "host",
    route: "uri",
    status: "status",
    latency: "request_time",
    latency_unit: "s",
};

/// The names accepted by `events.preset`.
/// Label names of the exported metrics themselves (docs/metrics.md): an event label of the
/// same name would make two labels of one sample collide.
const RESERVED_LABELS: [&str; 5] = ["slo", "window", "outcome", "quantile", "action"];

pub const PRESETS: [&str; 4] = ["default", "envoy", "kong", "nginx"];

/// Builds the schema: the preset first, then each field the config overrides. Errors name
/// the `events` key at fault.
pub fn build(raw: &RawEvents) -> Result<EventSchema, (String, String)> {
    let preset = match raw.preset.as_deref().unwrap_or("default") {
        "default" => &DEFAULT,
        "envoy" => &ENVOY,
        "kong" => &KONG,
        "nginx" => &NGINX,
        other => {
            return Err((
                "preset".into(),
                format!(
                    "unknown preset `{other}`; use one of {}",
                    PRESETS.join(", ")
                ),
            ));
        }
    };
    let path = |key: &str, over: &Option<String>, default: &str| {
        FieldPath::parse(over.as_deref().unwrap_or(default)).map_err(|e| (key.to_owned(), e))
    };
    let unit = raw.latency_unit.as_deref().unwrap_or(preset.latency_unit);
    let latency_to_ms = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "us" => 0.001,
        other => {
            return Err((
                "latency_unit".into(),
                format!("unknown unit `{other}`; use ms, s or us"),
            ));
        }
    };
    let mut labels: Vec<LabelField> = Vec::with_capacity(raw.labels.len());
    for text in &raw.labels {
        let path = FieldPath::parse(text).map_err(|e| ("labels".to_owned(), e))?;
        let name = path.0.join("_");
        if name == "service" || name == "route" {
            return Err((
                "labels".into(),
                format!("`{name}` is already a field of every event; it cannot be a label"),
            ));
        }
        if labels.iter().any(|l| l.name == name) {
            return Err(("labels".into(), format!("label `{name}` is listed twice")));
        }
        if RESERVED_LABELS.contains(&name.as_str()) {
            return Err((
                "labels".into(),
                format!(
                    "`{name}` is a label slipstream puts on its own metrics ({}); \
                     name the field by a longer path or rename it upstream",
                    RESERVED_LABELS.join(", ")
                ),
            ));
        }
        labels.push(LabelField { name, path });
    }
    if labels.len() > MAX_LABELS {
        return Err((
            "labels".into(),
            format!(
                "{} labels named; at most {MAX_LABELS} are supported",
                labels.len()
            ),
        ));
    }
    let schema = EventSchema {
        timestamp: path("timestamp", &raw.timestamp, preset.timestamp)?,
        service: path("service", &raw.service, preset.service)?,
        route: path("route", &raw.route, preset.route)?,
        status: path("status", &raw.status, preset.status)?,
        latency: path("latency_ms", &raw.latency_ms, preset.latency)?,
        latency_to_ms,
        labels,
    };
    check_paths_disjoint(&schema)?;
    Ok(schema)
}

/// Each path must name a different value, and none may sit inside another: the decoder
/// reads a value either as a field or as an object to descend into, never both.
fn check_paths_disjoint(schema: &EventSchema) -> Result<(), (String, String)> {
    let mut all: Vec<(&str, &FieldPath)> = vec![
        ("timestamp", &schema.timestamp),
        ("service", &schema.service),
        ("route", &schema.route),
        ("status", &schema.status),
        ("latency_ms", &schema.latency),
    ];
    all.extend(schema.labels.iter().map(|l| ("labels", &l.path)));
    for (i, (key_a, a)) in all.iter().enumerate() {
        for (key_b, b) in &all[i + 1..] {
            let n = a.0.len().min(b.0.len());
            if a.0[..n] == b.0[..n] {
                return Err((
                    (*key_b).to_owned(),
                    format!("path `{b}` overlaps the path `{a}` of `{key_a}`"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(preset: Option<&str>) -> RawEvents {
        RawEvents {
            preset: preset.map(str::to_owned),
            ..RawEvents::default()
        }
    }

    #[test]
    fn kong_preset_uses_nested_paths() {
        let s = build(&raw(Some("kong"))).unwrap();
        assert_eq!(s.status.0, ["response", "status"]);
        assert_eq!(s.latency.0, ["latencies", "request"]);
    }

    #[test]
    fn overrides_apply_on_top_of_a_preset() {
        let mut r = raw(Some("nginx"));
        r.latency_unit = Some("ms".into());
        r.labels = vec!["upstream.zone".into()];
        let s = build(&r).unwrap();
        assert_eq!(s.latency_to_ms, 1.0);
        assert_eq!(s.labels[0].name, "upstream_zone");
    }

    #[test]
    fn rejects_labels_named_like_metric_labels() {
        let mut raw = raw(None);
        raw.labels = vec!["window".into()];
        let (key, message) = build(&raw).unwrap_err();
        assert_eq!(key, "labels");
        assert!(message.contains("its own metrics"), "{message}");
    }

    #[test]
    fn rejects_unknown_presets_units_and_overlaps() {
        assert_eq!(build(&raw(Some("haproxy"))).unwrap_err().0, "preset");
        let mut r = raw(None);
        r.latency_unit = Some("min".into());
        assert_eq!(build(&r).unwrap_err().0, "latency_unit");
        let mut r = raw(None);
        r.labels = vec!["status.class".into()];
        assert_eq!(build(&r).unwrap_err().0, "labels");
        let mut r = raw(None);
        r.labels = vec!["route".into()];
        assert_eq!(build(&r).unwrap_err().0, "labels");
    }
}

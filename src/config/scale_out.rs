//! The `scale_out` section: several `run` instances in one consumer group, with Kafka as
//! the distributed engine (docs/scale-out.md). Off unless present; restart-only.
//!
//! Topic and group names default from `kafka.group`, so that two deployments sharing a
//! cluster never share internal topics unless told to.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping: repartition_topic, changelog_topic, instances_topic, partitions, \
                 group, input_keyed, flush_interval, checkpoint_interval, advertised_url"
)]
pub struct RawScaleOut {
    /// Stage 1 → stage 2: partial buckets keyed by series.
    pub repartition_topic: Option<String>,
    /// Stage 2's window state per partition, compacted.
    pub changelog_topic: Option<String>,
    /// Which instances are alive and where their API is, compacted.
    pub instances_topic: Option<String>,
    /// Partitions of the repartition and changelog topics: the most stage-2 owners.
    pub partitions: Option<i32>,
    /// The consumer group of stage 2.
    pub group: Option<String>,
    /// The input is keyed by service: each input partition is owned as it is.
    pub input_keyed: Option<bool>,
    /// How long stage 1 pre-aggregates before it produces.
    pub flush_interval: Option<String>,
    /// How often stage 2 writes changed series to the changelog.
    pub checkpoint_interval: Option<String>,
    /// The URL peers reach this instance's API at.
    pub advertised_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScaleOutSettings {
    pub repartition_topic: String,
    pub changelog_topic: String,
    pub instances_topic: String,
    pub partitions: i32,
    pub group: String,
    /// The input is keyed by service: no stage 1 and no repartition topic; each input
    /// partition's series are owned with it, and its changelog partition has its number.
    pub input_keyed: bool,
    pub flush_interval_ms: i64,
    pub checkpoint_interval_ms: i64,
    /// `None`: `http://` and `http.listen`.
    pub advertised_url: Option<String>,
}

/// The defaults of the section, in one place.
const DEFAULT_PARTITIONS: i32 = 12;
const DEFAULT_FLUSH_INTERVAL_MS: i64 = 1_000;
const DEFAULT_CHECKPOINT_INTERVAL_MS: i64 = 10_000;
/// Most partitions: each owned one costs a restore on assignment and a changelog write
/// per checkpoint; beyond this the instances are better served by a coarser split.
const MAX_PARTITIONS: i32 = 1_024;

/// Checks the section: `(field path, message)` on error. `group` is `kafka.group`,
/// which the names default from.
pub fn build(
    raw: Option<&RawScaleOut>,
    group: &str,
    input_topics: &[String],
) -> Result<Option<ScaleOutSettings>, (String, String)> {
    let Some(raw) = raw else { return Ok(None) };
    let name = |field: &str, value: &Option<String>, suffix: &str| {
        let name = value
            .as_deref()
            .map_or_else(|| format!("{group}-{suffix}"), |v| v.trim().to_owned());
        let path = format!("scale_out.{field}");
        if name.is_empty() {
            return Err((path, "name a topic or group".to_owned()));
        }
        if input_topics.contains(&name) {
            return Err((
                path,
                format!("`{name}` is also an input topic (kafka.topics); name another"),
            ));
        }
        Ok(name)
    };
    let repartition_topic = name("repartition_topic", &raw.repartition_topic, "repartition")?;
    let changelog_topic = name("changelog_topic", &raw.changelog_topic, "changelog")?;
    let instances_topic = name("instances_topic", &raw.instances_topic, "instances")?;
    let owners = name("group", &raw.group, "owners")?;
    let topics = [&repartition_topic, &changelog_topic, &instances_topic];
    if topics[0] == topics[1] || topics[0] == topics[2] || topics[1] == topics[2] {
        return Err((
            "scale_out".into(),
            "the repartition, changelog and instances topics must be three different topics".into(),
        ));
    }
    if owners == group {
        return Err((
            "scale_out.group".into(),
            format!("`{owners}` is kafka.group, the group of stage 1; name another"),
        ));
    }
    let input_keyed = raw.input_keyed.unwrap_or(false);
    if input_keyed && input_topics.len() != 1 {
        return Err((
            "scale_out.input_keyed".into(),
            format!(
                "keyed input is one topic, whose partition numbers are the changelog's; \
                 kafka.topics lists {}: read one topic, or drop input_keyed",
                input_topics.len()
            ),
        ));
    }
    let partitions = raw.partitions.unwrap_or(DEFAULT_PARTITIONS);
    if !(1..=MAX_PARTITIONS).contains(&partitions) {
        return Err((
            "scale_out.partitions".into(),
            format!("{partitions} is not between 1 and {MAX_PARTITIONS}"),
        ));
    }
    let interval = |field: &str, text: &Option<String>, default: i64| match text {
        None => Ok(default),
        Some(t) => super::run::millis(t, false).map_err(|m| (format!("scale_out.{field}"), m)),
    };
    let advertised_url = match raw.advertised_url.as_deref().map(str::trim) {
        None => None,
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(url.trim_end_matches('/').to_owned())
        }
        Some(url) => {
            return Err((
                "scale_out.advertised_url".into(),
                format!("`{url}` is not an http:// or https:// URL"),
            ));
        }
    };
    Ok(Some(ScaleOutSettings {
        repartition_topic,
        changelog_topic,
        instances_topic,
        partitions,
        group: owners,
        input_keyed,
        flush_interval_ms: interval(
            "flush_interval",
            &raw.flush_interval,
            DEFAULT_FLUSH_INTERVAL_MS,
        )?,
        checkpoint_interval_ms: interval(
            "checkpoint_interval",
            &raw.checkpoint_interval,
            DEFAULT_CHECKPOINT_INTERVAL_MS,
        )?,
        advertised_url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawScaleOut {
        serde_saphyr::from_str("{}").unwrap()
    }

    #[test]
    fn names_default_from_the_group() {
        let s = build(Some(&raw()), "sli", &["events".into()])
            .unwrap()
            .unwrap();
        assert_eq!(s.repartition_topic, "sli-repartition");
        assert_eq!(s.changelog_topic, "sli-changelog");
        assert_eq!(s.instances_topic, "sli-instances");
        assert_eq!(s.group, "sli-owners");
        assert_eq!((s.partitions, s.flush_interval_ms), (12, 1_000));
        assert_eq!(build(None, "sli", &[]), Ok(None));
    }

    #[test]
    fn refuses_clashing_names_and_bad_values() {
        let mut r = raw();
        r.repartition_topic = Some("events".into());
        let e = build(Some(&r), "sli", &["events".into()]).unwrap_err();
        assert_eq!(e.0, "scale_out.repartition_topic");
        let mut r = raw();
        r.group = Some("sli".into());
        assert_eq!(
            build(Some(&r), "sli", &[]).unwrap_err().0,
            "scale_out.group"
        );
        let mut r = raw();
        r.partitions = Some(0);
        assert_eq!(
            build(Some(&r), "sli", &[]).unwrap_err().0,
            "scale_out.partitions"
        );
        let mut r = raw();
        r.changelog_topic = Some("sli-repartition".into());
        assert_eq!(build(Some(&r), "sli", &[]).unwrap_err().0, "scale_out");
        let mut r = raw();
        r.input_keyed = Some(true);
        let two = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            build(Some(&r), "sli", &two).unwrap_err().0,
            "scale_out.input_keyed"
        );
        let keyed = build(Some(&r), "sli", &two[..1]).unwrap().unwrap();
        assert!(keyed.input_keyed);
        let mut r = raw();
        r.advertised_url = Some("10.0.0.1:9898".into());
        assert_eq!(
            build(Some(&r), "sli", &[]).unwrap_err().0,
            "scale_out.advertised_url"
        );
    }
}

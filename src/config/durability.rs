//! The sections of the config that make `run` durable: where checkpoints go (`state`) and
//! where invalid messages go (`dead_letter`). Both are off unless their section is
//! present; `replay` accepts and ignores them.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: dir, checkpoint_interval")]
pub struct RawState {
    /// Directory of the checkpoint files (created if missing).
    pub dir: Option<String>,
    /// How often the window state is checkpointed.
    pub checkpoint_interval: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: topic")]
pub struct RawDeadLetter {
    /// The topic invalid messages are produced to, unchanged.
    pub topic: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StateSettings {
    pub dir: PathBuf,
    pub checkpoint_interval_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetterSettings {
    pub topic: String,
}

/// The defaults of both sections, in one place.
const DEFAULT_STATE_DIR: &str = "./state";
const DEFAULT_CHECKPOINT_INTERVAL_MS: i64 = 10_000;
const DEFAULT_DEAD_LETTER_TOPIC: &str = "slipstream-dlq";

/// Checks the sections: `(field path, message)` on error.
pub fn build_state(raw: Option<&RawState>) -> Result<Option<StateSettings>, (String, String)> {
    let Some(raw) = raw else { return Ok(None) };
    let dir = raw.dir.as_deref().unwrap_or(DEFAULT_STATE_DIR).trim();
    if dir.is_empty() {
        return Err(("state.dir".into(), "name a directory, e.g. ./state".into()));
    }
    let checkpoint_interval_ms = match &raw.checkpoint_interval {
        None => DEFAULT_CHECKPOINT_INTERVAL_MS,
        Some(t) => {
            super::run::millis(t, false).map_err(|m| ("state.checkpoint_interval".to_owned(), m))?
        }
    };
    Ok(Some(StateSettings {
        dir: PathBuf::from(dir),
        checkpoint_interval_ms,
    }))
}

pub fn build_dead_letter(
    raw: Option<&RawDeadLetter>,
    source_topics: &[String],
) -> Result<Option<DeadLetterSettings>, (String, String)> {
    let Some(raw) = raw else { return Ok(None) };
    let topic = raw
        .topic
        .as_deref()
        .unwrap_or(DEFAULT_DEAD_LETTER_TOPIC)
        .trim();
    if topic.is_empty() {
        return Err(("dead_letter.topic".into(), "name a topic".into()));
    }
    if source_topics.iter().any(|t| t == topic) {
        return Err((
            "dead_letter.topic".into(),
            format!(
                "`{topic}` is also a source topic (kafka.topics): invalid messages would be read again"
            ),
        ));
    }
    Ok(Some(DeadLetterSettings {
        topic: topic.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_off_unless_present_and_take_their_defaults() {
        assert_eq!(build_state(None), Ok(None));
        let state = build_state(Some(&RawState {
            dir: None,
            checkpoint_interval: None,
        }));
        assert_eq!(
            state,
            Ok(Some(StateSettings {
                dir: PathBuf::from("./state"),
                checkpoint_interval_ms: 10_000
            }))
        );
        let zero = build_state(Some(&RawState {
            dir: None,
            checkpoint_interval: Some("0s".into()),
        }));
        assert_eq!(zero.unwrap_err().0, "state.checkpoint_interval");
        let dlq = build_dead_letter(Some(&RawDeadLetter { topic: None }), &[]);
        assert_eq!(dlq.unwrap().unwrap().topic, "slipstream-dlq");
        let loop_back = build_dead_letter(
            Some(&RawDeadLetter {
                topic: Some("events".into()),
            }),
            &["events".into()],
        );
        assert!(loop_back.unwrap_err().1.contains("source topic"));
    }
}

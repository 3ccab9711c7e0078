//! The run sections: durations, owned and secret properties, secrets from the
//! environment.

use super::*;

#[test]
fn durations_take_ms_to_hours() {
    assert_eq!(millis("250ms", false), Ok(250));
    assert_eq!(millis("5s", false), Ok(5_000));
    assert_eq!(millis("0s", true), Ok(0));
    assert!(millis("0s", false).unwrap_err().contains("zero"));
    assert!(millis("5", false).unwrap_err().contains("no unit"));
    assert!(millis("2d", false).unwrap_err().contains("unit `d`"));
    assert!(
        millis("25h", false)
            .unwrap_err()
            .contains("longer than a day")
    );
}

#[test]
fn owned_properties_are_refused() {
    let mut kafka = RawKafka::default();
    kafka
        .properties
        .insert("enable.auto.offset.store".into(), RawProperty::Bool(true));
    let (field, message) =
        build(&kafka, &RawHttp::default(), &RawEvaluation::default()).unwrap_err();
    assert_eq!(field, "kafka.properties.enable.auto.offset.store");
    assert!(message.contains("after its event is counted"), "{message}");
}

fn build_kafka(kafka: &RawKafka) -> Result<RunSettings, (String, String)> {
    build(kafka, &RawHttp::default(), &RawEvaluation::default())
}

fn text(s: &str) -> RawProperty {
    RawProperty::Text(s.into())
}

/// A `SASL_SSL` + SCRAM consumer with its password from the environment.
fn sasl_kafka() -> RawKafka {
    let mut kafka = RawKafka::default();
    for (k, v) in [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "SCRAM-SHA-512"),
        ("sasl.username", "slipstream"),
    ] {
        kafka.properties.insert(k.into(), text(v));
    }
    kafka
        .properties_env
        .insert("sasl.password".into(), "KAFKA_SASL_PASSWORD".into());
    kafka
}

#[test]
fn properties_env_are_read_and_never_shown() {
    let mut settings = build_kafka(&sasl_kafka()).unwrap();
    assert_eq!(
        settings.unread_env(),
        Some((
            "kafka.properties_env.sasl.password".into(),
            "KAFKA_SASL_PASSWORD".into()
        ))
    );
    settings
        .read_env(|var| (var == "KAFKA_SASL_PASSWORD").then(|| "hunter2".into()))
        .unwrap();
    assert_eq!(settings.unread_env(), None);
    let (key, from) = &settings.kafka.properties_env[0];
    assert_eq!(key, "sasl.password");
    assert_eq!(from.value.as_ref().map(Secret::expose), Some("hunter2"));
    let shown = format!("{settings:?}\n{settings:#?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("KAFKA_SASL_PASSWORD"), "{shown}");
}

#[test]
fn a_missing_or_empty_variable_names_the_key_and_the_variable() {
    for value in [None, Some(String::new())] {
        let mut settings = build_kafka(&sasl_kafka()).unwrap();
        let (field, message) = settings.read_env(|_| value.clone()).unwrap_err();
        assert_eq!(field, "kafka.properties_env.sasl.password");
        assert!(message.contains("`KAFKA_SASL_PASSWORD`"), "{message}");
    }
}

#[test]
fn secrets_are_refused_inline() {
    for key in [
        "sasl.password",
        "ssl.key.password",
        "sasl.oauthbearer.client.secret",
    ] {
        let mut kafka = RawKafka::default();
        kafka.properties.insert(key.into(), text("hunter2"));
        let (field, message) = build_kafka(&kafka).unwrap_err();
        assert_eq!(field, format!("kafka.properties.{key}"));
        assert!(message.contains("kafka.properties_env"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

#[test]
fn properties_env_refuses_owned_duplicate_and_bad_names() {
    let mut kafka = sasl_kafka();
    kafka
        .properties_env
        .insert("group.id".into(), "GROUP".into());
    let (field, message) = build_kafka(&kafka).unwrap_err();
    assert_eq!(field, "kafka.properties_env.group.id");
    assert!(message.contains("kafka.group"), "{message}");

    let mut kafka = sasl_kafka();
    kafka
        .properties_env
        .insert("sasl.username".into(), "KAFKA_USER".into());
    let (field, message) = build_kafka(&kafka).unwrap_err();
    assert_eq!(field, "kafka.properties.sasl.username");
    assert!(message.contains("keep one"), "{message}");

    let mut kafka = sasl_kafka();
    kafka
        .properties_env
        .insert("ssl.key.password".into(), "KEY-PASSWORD".into());
    let (field, message) = build_kafka(&kafka).unwrap_err();
    assert_eq!(field, "kafka.properties_env.ssl.key.password");
    assert!(message.contains("not a value"), "{message}");
}

#[test]
fn token_env_is_read_trimmed_and_never_shown() {
    let http = RawHttp {
        listen: None,
        token_env: Some("SLIPSTREAM_TOKEN".into()),
    };
    let build_http = || build(&RawKafka::default(), &http, &RawEvaluation::default());
    let mut settings = build_http().unwrap();
    assert_eq!(
        settings.unread_env(),
        Some(("http.token_env".into(), "SLIPSTREAM_TOKEN".into()))
    );
    settings
        .read_env(|var| (var == "SLIPSTREAM_TOKEN").then(|| "t0ken\n".into()))
        .unwrap();
    let token = settings.token.as_ref().and_then(|t| t.value.as_ref());
    assert!(token.is_some_and(|t| t.matches(b"t0ken")));
    assert!(!format!("{settings:?}").contains("t0ken"));

    for value in [None, Some("  \n".to_owned())] {
        let (field, message) = build_http()
            .unwrap()
            .read_env(|_| value.clone())
            .unwrap_err();
        assert_eq!(field, "http.token_env");
        assert!(message.contains("`SLIPSTREAM_TOKEN`"), "{message}");
    }
    let bad = RawHttp {
        listen: None,
        token_env: Some("my token".into()),
    };
    let (field, _) = build(&RawKafka::default(), &bad, &RawEvaluation::default()).unwrap_err();
    assert_eq!(field, "http.token_env");
}

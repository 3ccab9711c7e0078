//! Secrets of the config: the HTTP bearer token and Kafka credentials. The config file
//! names the environment variable that holds each one, never the value; the value lives
//! in a [`Secret`], whose `Debug` and `Display` print a redaction, so that no log line and
//! no `{:?}` of the config can show it.
//!
//! Reading the variables is a step of its own ([`super::run::RunSettings::read_env`]),
//! after validation: validation stays free of I/O, and `replay`, which needs no secret,
//! loads a `run` config without them.

use std::fmt;

/// A secret value. Only [`Secret::expose`] hands it out, for the one place that needs it
/// (librdkafka's config, the token check).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` equals the secret, in time independent of where they differ (a
    /// bearer token compared byte by byte with an early exit can be guessed a byte at a
    /// time from response times). Only the length can be learnt, which a token of enough
    /// random bytes does not mind.
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = self.0.as_bytes();
        if want.len() != given.len() {
            return false;
        }
        let diff = want
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        // Keeps the optimiser from turning the fold back into an early-exit comparison.
        std::hint::black_box(diff) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A value the config takes from an environment variable.
#[derive(Clone, Debug, PartialEq)]
pub struct FromEnv {
    /// The variable's name, as the config gives it.
    pub var: String,
    /// Its value once [`super::run::RunSettings::read_env`] has read it; `None` before.
    pub value: Option<Secret>,
}

impl FromEnv {
    pub fn named(var: &str) -> FromEnv {
        FromEnv {
            var: var.to_owned(),
            value: None,
        }
    }
}

/// Whether a librdkafka property holds a secret, which the config refuses inline (it
/// belongs in `kafka.properties_env`): every password, passphrase and secret, and the
/// properties whose value is a private key or may carry credentials.
pub fn is_secret_property(key: &str) -> bool {
    const WHOLE_VALUE_SECRETS: [&str; 3] = [
        "ssl.key.pem",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.assertion.private.key.pem",
    ];
    WHOLE_VALUE_SECRETS.contains(&key)
        || ["password", "secret", "passphrase"]
            .iter()
            .any(|word| key.contains(word))
}

/// Checks the name of an environment variable: upper-case letters, digits and `_`, not
/// starting with a digit. Stricter than POSIX on purpose: a secret written here by
/// mistake, instead of its variable's name, is almost never of that form, so it is caught
/// here, and the message does not repeat it.
pub fn check_var_name(var: &str) -> Result<(), String> {
    let starts_well = var
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    let rest_ok = var
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if starts_well && rest_ok {
        Ok(())
    } else {
        Err(
            "must be the name of an environment variable, not a value: upper-case \
             letters, digits and _, not starting with a digit (e.g. KAFKA_SASL_PASSWORD)"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        let from_env = FromEnv {
            var: "PW".into(),
            value: Some(s.clone()),
        };
        let shown = format!("{from_env:?} {from_env:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("PW"), "{shown}");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn matches_only_the_same_bytes() {
        let s = Secret::new("abc123".into());
        assert!(s.matches(b"abc123"));
        assert!(!s.matches(b"abc124"));
        assert!(!s.matches(b"bbc123"));
        assert!(!s.matches(b"abc12"));
        assert!(!s.matches(b"abc1234"));
        assert!(!s.matches(b""));
    }

    #[test]
    fn secret_properties() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "ssl.truststore.password",
            "sasl.oauthbearer.client.secret",
            "ssl.key.pem",
            "sasl.oauthbearer.config",
            "sasl.oauthbearer.assertion.private.key.passphrase",
        ] {
            assert!(is_secret_property(key), "{key}");
        }
        for key in [
            "sasl.username",
            "sasl.mechanisms",
            "security.protocol",
            "ssl.ca.location",
            "ssl.key.location",
            "session.timeout.ms",
        ] {
            assert!(!is_secret_property(key), "{key}");
        }
    }

    #[test]
    fn variable_names() {
        for ok in ["SLIPSTREAM_TOKEN", "_X", "A1"] {
            assert_eq!(check_var_name(ok), Ok(()));
        }
        for bad in ["", "1X", "A-B", "A B", "A=B", "$X", "hunter2", "Passw0rd"] {
            let message = check_var_name(bad).unwrap_err();
            assert!(bad.is_empty() || !message.contains(bad), "{message}");
        }
    }
}

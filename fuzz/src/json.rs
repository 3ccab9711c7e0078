//! What the decoder must make of one line, per docs/events.md, read with serde_json.
//!
//! serde_json decides whether the line is JSON; the fields are then read from the text
//! of their values as written (`RawValue`), so that the rules about how a value is
//! written (`200` but not `200.0`, no escape in a timestamp) can be applied as the
//! page states them. The decoder accepts a little more JSON than serde_json, as
//! documented: a lone surrogate escape or an out-of-range number in a field it does not
//! read. For such lines [`expect`] answers [`Expectation::Lenient`].

use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;
use slipstream::config::{EventSchema, FieldPath};
use slipstream::decode::{Event, Invalid, MAX_EVENT_BYTES};

/// Nesting the decoder accepts (docs/events.md: at most 64 deep).
const MAX_DEPTH: usize = 64;

/// First and last epoch milliseconds the decoder accepts: years 0000 to 9999.
const MIN_MS: i64 = -62_167_219_200_000;
const MAX_MS: i64 = 253_402_300_799_999;

/// A valid event, owned.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    pub timestamp_ms: i64,
    pub service: String,
    pub route: Option<String>,
    pub status: u16,
    pub latency_ms: f64,
    pub labels: Vec<Option<String>>,
}

impl Expected {
    /// The decoder's event, owned, to compare with.
    pub fn of(event: &Event, n_labels: usize) -> Expected {
        Expected {
            timestamp_ms: event.timestamp_ms,
            service: event.service.to_owned(),
            route: event.route.map(str::to_owned),
            status: event.status,
            latency_ms: event.latency_ms,
            labels: event.labels[..n_labels]
                .iter()
                .map(|l| l.map(str::to_owned))
                .collect(),
        }
    }
}

pub enum Expectation {
    /// Exactly this result.
    Exact(Result<Expected, Invalid>),
    /// serde_json refuses the line for a reason the decoder may overlook: any result.
    Lenient,
}

pub fn expect(schema: &EventSchema, input: &[u8]) -> Expectation {
    if input.len() > MAX_EVENT_BYTES {
        return Expectation::Exact(Err(Invalid::TooLarge));
    }
    let Ok(text) = std::str::from_utf8(input) else {
        return Expectation::Exact(Err(Invalid::Json));
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let m = e.to_string();
            let lenient = ["surrogate", "end of hex escape", "number out of range"];
            return if lenient.iter().any(|l| m.contains(l)) {
                Expectation::Lenient
            } else {
                Expectation::Exact(Err(Invalid::Json))
            };
        }
    };
    if depth(&value) > MAX_DEPTH {
        return Expectation::Exact(Err(Invalid::Json));
    }
    if !value.is_object() {
        return Expectation::Exact(Err(Invalid::NotObject));
    }
    Expectation::Exact(fields(schema, text))
}

/// Containers nested in each other, the outermost included.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// How a field's value is written.
enum Written<'a> {
    Absent,
    Null,
    /// The text between the quotes, and whether it has an escape.
    Str(String, bool),
    /// The number as written.
    Num(&'a str),
    Other,
}

/// The value at `path`: each key but the last must name an object. Of duplicate keys the
/// last counts, as in a serde_json map.
fn at<'a>(root: &'a str, path: &FieldPath) -> Written<'a> {
    let mut text = root.trim_matches([' ', '\t', '\n', '\r']);
    for key in &path.0 {
        if !text.starts_with('{') {
            return Written::Absent;
        }
        let map: HashMap<String, &'a RawValue> =
            serde_json::from_str(text).expect("checked as JSON");
        match map.get(key) {
            Some(raw) => text = raw.get(),
            None => return Written::Absent,
        }
    }
    match text.as_bytes()[0] {
        b'n' => Written::Null,
        b'"' => {
            let s = serde_json::from_str(text).expect("checked as JSON");
            Written::Str(s, text.contains('\\'))
        }
        b'-' | b'0'..=b'9' => Written::Num(text),
        _ => Written::Other,
    }
}

fn is_integer(number: &str) -> bool {
    !number.contains(['.', 'e', 'E'])
}

/// A string field: absent and `null` are `None`.
fn string(w: Written, reason: Invalid) -> Result<Option<String>, Invalid> {
    match w {
        Written::Absent | Written::Null => Ok(None),
        Written::Str(s, _) => Ok(Some(s)),
        _ => Err(reason),
    }
}

/// The fields of a JSON object, checked in the documented order.
fn fields(schema: &EventSchema, text: &str) -> Result<Expected, Invalid> {
    let timestamp_ms = match at(text, &schema.timestamp) {
        Written::Str(s, false) => crate::rfc3339::parse(&s),
        Written::Num(n) if is_integer(n) => n.parse().ok(),
        _ => None,
    }
    .filter(|ms| (MIN_MS..=MAX_MS).contains(ms))
    .ok_or(Invalid::Timestamp)?;
    let service = string(at(text, &schema.service), Invalid::Service)?
        .filter(|s| !s.is_empty())
        .ok_or(Invalid::Service)?;
    let route = string(at(text, &schema.route), Invalid::Route)?;
    let status = match at(text, &schema.status) {
        Written::Num(n) if is_integer(n) => n.parse::<u16>().ok(),
        _ => None,
    }
    .filter(|s| (100..=599).contains(s))
    .ok_or(Invalid::Status)?;
    let latency = match at(text, &schema.latency) {
        Written::Num(n) => latency(n),
        _ => None,
    }
    .map(|v| v * schema.latency_to_ms)
    .filter(|v| v.is_finite())
    .ok_or(Invalid::LatencyMs)?;
    let mut labels = Vec::with_capacity(schema.labels.len());
    for label in &schema.labels {
        labels.push(string(at(text, &label.path), Invalid::Label)?);
    }
    Ok(Expected {
        timestamp_ms,
        service,
        route,
        status,
        latency_ms: latency,
        labels,
    })
}

/// A latency as written: any number >= 0 (`-0` is zero, any other negative number is
/// refused, however small), finite as a double.
fn latency(n: &str) -> Option<f64> {
    if let Some(magnitude) = n.strip_prefix('-') {
        let mantissa = magnitude.split(['e', 'E']).next().unwrap_or_default();
        return mantissa
            .bytes()
            .all(|b| b == b'0' || b == b'.')
            .then_some(0.0);
    }
    n.parse::<f64>().ok().filter(|v| v.is_finite())
}

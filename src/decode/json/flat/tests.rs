//! The fast path against the general scanner: same verdict, same captures, on every
//! input; and it does take the events it is for.

use proptest::prelude::*;

use super::super::{Document, PathTree, Raw, SyntaxError, scan_general};
use super::*;

const PATHS: [&str; 8] = [
    "timestamp",
    "service",
    "route",
    "status",
    "latency_ms",
    "operator",
    "a_key_of_twenty_byte",
    "response.code",
];

fn tree() -> PathTree {
    let mut t = PathTree::default();
    for (slot, p) in PATHS.iter().enumerate() {
        let keys: Vec<String> = p.split('.').map(str::to_owned).collect();
        t.insert(&keys, slot);
    }
    t
}

type Outcome = (Option<bool>, Result<Document, SyntaxError>, Vec<Raw>);

/// What the fast path said (`None`: declined, else whether its captures equal the
/// general scanner's), and what the general scanner found.
fn both(input: &[u8]) -> Outcome {
    let tree = tree();
    let mut stops = StopMap::default();
    stops.build(input);
    let mut general = vec![Raw::Absent; PATHS.len()];
    let verdict = scan_general(input, &tree, &mut general, &stops, &mut Vec::new());
    let mut fast = vec![Raw::Absent; PATHS.len()];
    let took = scan(input, &tree, &mut fast, &stops).map(|()| fast == general);
    (took, verdict, general)
}

/// The fast path took `input` only if the general scanner accepts it as an object, and
/// then captured what it captures.
fn assert_agrees(input: &[u8]) -> Outcome {
    let outcome = both(input);
    if let Some(same) = outcome.0 {
        assert_eq!(
            outcome.1,
            Ok(Document::Object),
            "fast path accepted {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            same,
            "captures differ on {:?}",
            String::from_utf8_lossy(input)
        );
    }
    outcome
}

const EVENT: &str = r#"{"timestamp":"2026-11-21T11:59:59.123Z","service":"svc-12","route":"GET /api/v1/items/42","status":200,"latency_ms":41.270,"operator":"eu-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#;

#[test]
fn takes_flat_events_and_captures_what_the_general_scanner_does() {
    for input in [
        EVENT,
        " {\"status\" : 503 ,\n\"service\":\"a\", \"x\":null,\"y\":true,\"z\":false } ",
        r#"{"a_key_of_twenty_byte":"v","latency_ms":-0.0e+5,"status":1E3}"#,
        r#"{"status":200,"status":"late wins"}"#,
        r#"{"response":1,"route":"r"}"#,
        "{}",
        r#"{"":""}"#,
    ] {
        let (took, verdict, _) = assert_agrees(input.as_bytes());
        assert_eq!(took, Some(true), "{input}");
        assert_eq!(verdict, Ok(Document::Object));
    }
}

#[test]
fn declines_what_the_general_scanner_must_decide() {
    for input in [
        r#"{"response":{"code":200},"status":200}"#,
        r#"{"service":"a\"b"}"#,
        r#"{"serv\u0069ce":"a"}"#,
        "{\"service\":\"tab\there\"}",
        r#"{"x":[1,2]}"#,
        r#"{"status":01}"#,
        r#"{"status":200,}"#,
        r#"{"status":200} x"#,
        r#"{"status":tru}"#,
        r#"[1]"#,
        r#"{"status":200"#,
        r#"{"service":"unterminated}"#,
        "",
    ] {
        let (took, ..) = assert_agrees(input.as_bytes());
        assert_eq!(took, None, "{input}");
    }
}

#[test]
fn every_configured_schema_gets_an_index() {
    assert!(tree().index.is_some());
}

/// JSON-ish text: fragments of events, with random cuts, duplications and bytes.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        " ",
        "\n",
        "\"",
        "\\",
        "\\\"",
        "\\u0041",
        "\t",
        "\"status\"",
        "\"service\"",
        "\"route\"",
        "\"timestamp\"",
        "\"latency_ms\"",
        "\"operator\"",
        "\"response\"",
        "\"code\"",
        "\"a_key_of_twenty_byte\"",
        "\"a_key_of_twenty_bytf\"",
        "\"statu\"",
        "\"x\"",
        "200",
        "-0",
        "1.5e3",
        "01",
        "1.",
        "true",
        "fals",
        "null",
        "\"svc\"",
        "\"é\"",
        "\u{1}",
    ]);
    let field = (
        prop::sample::select(PATHS.to_vec()),
        prop::sample::select(vec!["1", "\"v\"", "null", "{\"code\":2}", "[]", "-1.5"]),
    )
        .prop_map(|(k, v)| format!("\"{k}\":{v}"));
    let object = prop::collection::vec(field, 0..8).prop_map(|f| format!("{{{}}}", f.join(",")));
    (
        object,
        prop::collection::vec(fragment, 0..6),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(object, noise, at, mutate)| {
            let mut text = object.into_bytes();
            if mutate {
                let at = at.index(text.len() + 1);
                let noise: String = noise.concat();
                text.splice(at..at, noise.bytes());
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn agrees_with_the_general_scanner(input in jsonish()) {
        let _ = assert_agrees(&input);
    }

    #[test]
    fn agrees_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = assert_agrees(&input);
    }
}

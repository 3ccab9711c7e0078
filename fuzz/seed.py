#!/usr/bin/env python3
"""Seeds the fuzz corpora from the repository's own sample inputs (docs/fuzzing.md).

decode_event: lines of the replay fixtures and of the example events, every JSON line of
docs/events.md, and a few hand-written lines for the edges of the contract (nested and
escaped keys, duplicates, number forms, timestamps at the ends of the range).
config_load: config/*.yaml, the fixtures' configs and every YAML block of docs/.

Run from the repository root; then `cargo fuzz cmin <target>` keeps what adds coverage.
"""

import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"

HAND_WRITTEN = [
    # The `nested` mapping of fuzz/src/mappings.rs.
    '{"meta":{"time":"2026-11-21T11:59:58.120Z","tenant":{"id":"acme"}},"svc":{"name":"checkout"},'
    '"req":{"route":"POST /pay"},"resp":{"code":503},"timing":{"total_us":141000},'
    '"region":"eu-1","x_request_identifier_long":"r-1","zon\\u00e9":"b"}',
    '{"meta":{"time":1795262398120},"svc":{"name":"checkout"},"resp":{"code":200},'
    '"timing":{"total_us":1.5e3},"region":null,"meta":{"time":1795262398121}}',
    # Escaped keys and values, duplicates (the last counts), nesting.
    '{"timestamp":"2026-11-21T11:59:58Z","\\u0073ervice":"a\\"b\\\\c\\/d\\ud83d\\ude00",'
    '"status":200,"latency_ms":-0,"route":"x","route":null,"operator":"\\u00e9"}',
    '{"timestamp":"2026-11-21T11:59:58Z","service":"s","status":599,"latency_ms":1e-400,'
    '"x":[[[{"y":[1,2,{"z":null}]}]]],"status":100}',
    '{"response":{"status":200},"response":{"size":1},"latencies":{"request":3},'
    '"service":{"name":"orders"},"started_at":1795262322517}',
    # Edges of the number forms and of the timestamp range.
    '{"timestamp":"0000-01-01T00:00:00Z","service":"s","status":200,"latency_ms":0.000976}',
    '{"timestamp":"9999-12-31T23:59:59.999-23:59","service":"s","status":200,"latency_ms":4294967296}',
    '{"timestamp":"2100-01-01T00:00:00.001Z","service":"future","status":200,"latency_ms":1}',
    '{"timestamp":253402300799999,"service":"s","status":200.0,"latency_ms":12345678901234567890}',
    '{"timestamp":"2024-02-29 23:59:59.5+01:00","service":"s","status":2e2,"latency_ms":1.7976931348623157e308}',
    '{"time_iso8601":"2026-11-21T12:58:42+01:00","host":"shop.example.com","uri":"/api/search",'
    '"status":200,"request_time":1e306}',
    '{"timestamp":"2026-11-21T11:59:58Z","service":"s","status":-10,"latency_ms":-1e-5}',
    # Not UTF-8, not JSON, not an object.
    '{"service":"\udcff"}',
    '[' * 70 + ']' * 70,
    '{"a":"\\ud800"}',
    '"string"',
]


def write(target, data):
    out = CORPUS / target
    out.mkdir(parents=True, exist_ok=True)
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def chunks(path, size, count):
    lines = path.read_bytes().splitlines()
    step = max(1, len(lines) // count)
    for start in range(0, len(lines), step):
        yield b"\n".join(lines[start:start + size])


def main():
    fixtures = ROOT / "tests" / "fixtures" / "replay"
    for chunk in chunks(fixtures / "events.ndjson", 6, 30):
        write("decode_event", chunk)
    for chunk in chunks(fixtures / "kong.ndjson", 1, 10):
        write("decode_event", chunk)
    for chunk in chunks(ROOT / "config" / "example-events.ndjson", 4, 20):
        write("decode_event", chunk)
    events_md = (ROOT / "docs" / "events.md").read_text()
    for line in re.findall(r"^`?(\{.*\})`?", events_md, re.M):
        write("decode_event", line.encode())
    for line in re.findall(r"\| `(\{.*\})` \|", events_md):
        write("decode_event", line.encode())
    for line in HAND_WRITTEN:
        write("decode_event", line.encode("utf-8", "surrogateescape"))
    write("decode_event", "\n".join(HAND_WRITTEN[:6]).encode())

    for path in sorted((ROOT / "config").glob("*.yaml")) + sorted(fixtures.glob("*.yaml")):
        write("config_load", path.read_bytes())
    for md in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", md.read_text(), re.S):
            write("config_load", block.encode())


if __name__ == "__main__":
    main()

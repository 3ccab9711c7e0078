#!/usr/bin/env python3
"""Writes example-events.ndjson next to this file: the input of config/example.yaml.

Three hours of gateway request events for a small web shop (checkout, cart, search,
auth), in slipstream's default event schema (docs/events.md), ending at END. The output
is deterministic (fixed seed): rerunning the script rewrites the same bytes.

What is in it:
- 20,000 lines, about 110 a minute, a little busier towards the end.
- Latencies log-normal per route, with a slow tail (about 1 % of requests 4x slower).
- Background 5xx rate of 0.05 to 0.1 % per service; some 4xx, which are good events.
- A past blip: search in `ap-3` fails (5xx) 5 % of requests from 10:20 to 10:35.
- The incident: from 11:40 checkout's 5xx rate climbs from 0.05 % to 8 % in 8 minutes
  and stays there; about 40 % of those are 504s after a 3 s upstream timeout, and
  good requests get 30 % slower. The 5m and 1h burn rates of checkout-availability are
  far above the page threshold of 14.4.
- About 0.5 % invalid lines, so the invalid counters show: truncated lines and a stray
  error-log line (`json`), status 600 or 0 (`status`), no service (`service`).

usage: python3 make_example_events.py   (prints the counts that tests/config_examples.rs
asserts; update the test when they change)
"""

import json
import math
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "example-events.ndjson"
SEED = 20261121
LINES = 20_000

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MIN, HOUR = 60_000, 3_600_000


def ms(text):
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(milliseconds=1)


END = ms("2026-11-21T12:00:00+00:00")  # all events are before this; the default --at
START = END - 3 * HOUR
INCIDENT = END - 20 * MIN  # 11:40: checkout 5xx starts to climb
RAMP = 8 * MIN  # ... and reaches its plateau at 11:48
BLIP = (ms("2026-11-21T10:20:00+00:00"), ms("2026-11-21T10:35:00+00:00"))

# service -> (traffic weight, base 5xx rate, {route: (weight, median latency ms)})
SERVICES = {
    "checkout": (18, 0.0005, {
        "POST /pay": (5, 180), "POST /orders": (2, 120), "GET /orders/{id}": (3, 40)}),
    "cart": (22, 0.0008, {
        "GET /cart": (5, 20), "POST /cart/items": (3, 35), "DELETE /cart/items/{sku}": (1, 30)}),
    "search": (38, 0.001, {"GET /search": (6, 85), "GET /suggest": (4, 15)}),
    "auth": (22, 0.0005, {
        "POST /login": (2, 110), "POST /token/refresh": (5, 12),
        "GET /.well-known/jwks.json": (1, 3)}),
}
OPERATORS = [("eu-1", 45), ("us-2", 40), ("ap-3", 15)]
SIGMA = 0.5  # spread of the log-normal latency
GATEWAY_TIMEOUT_MS = 3000


def iso(t):
    """RFC 3339 UTC with milliseconds, as most gateways write it."""
    wall = EPOCH + timedelta(milliseconds=t)
    return wall.strftime("%Y-%m-%dT%H:%M:%S") + f".{t % 1000:03d}Z"


def pick(rng, weights):
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def event_time(rng):
    """Uniform over the three hours with a rate rising 40 % from start to end."""
    while True:
        u = rng.random()
        if rng.random() * 1.4 < 1 + 0.4 * u:
            return START + int(u * (END - START))


def p5xx(service, operator, t):
    base = SERVICES[service][1]
    if service == "checkout" and t >= INCIDENT:
        return base + (0.08 - base) * min(1.0, (t - INCIDENT) / RAMP)
    if service == "search" and operator == "ap-3" and BLIP[0] <= t < BLIP[1]:
        return 0.05
    return base


def request(rng, t):
    service = pick(rng, {s: v[0] for s, v in SERVICES.items()})
    routes = SERVICES[service][2]
    route = pick(rng, {r: w for r, (w, _) in routes.items()})
    operator = pick(rng, dict(OPERATORS))
    latency = rng.lognormvariate(math.log(routes[route][1]), SIGMA)
    if rng.random() < 0.01:
        latency *= 4  # the slow tail: cold caches, GC pauses, retries
    u = rng.random()
    bad = p5xx(service, operator, t)
    if u < bad:
        status = rng.choice([500, 502, 503, 503, 504])
        if service == "checkout" and t >= INCIDENT:
            status = rng.choice([500, 502, 503, 504, 504])
        if status == 504:
            latency = GATEWAY_TIMEOUT_MS + rng.uniform(0, 15)
        elif status == 503:
            latency = rng.uniform(0.4, 3)  # refused fast: circuit open, no healthy host
    elif u < bad + (0.04 if service == "auth" else 0.015):
        status = rng.choice([400, 401, 403, 404, 409, 429]) if service != "auth" else 401
    else:
        status = 201 if route in ("POST /orders", "POST /cart/items") else 200
        if route.startswith("DELETE"):
            status = 204
        if service == "checkout" and t >= INCIDENT:
            latency *= 1.3
    return {
        "timestamp": iso(t),
        "service": service,
        "route": route,
        "status": status,
        "latency_ms": round(latency, 1),
        "operator": operator,
        "request_id": f"{rng.getrandbits(64):016x}",
    }, latency


def dumps(ev):
    return json.dumps(ev, separators=(",", ":"))


def invalid(rng, t):
    """An invalid line at time t, and the reason slipstream counts it under."""
    ev, _ = request(rng, t)
    u = rng.random()
    if u < 0.40:  # cut short: a log shipper lost the end of the line
        text = dumps(ev)
        return text[: rng.randrange(20, len(text) - 1)], "json"
    if u < 0.45:  # another process wrote to the same stream
        return (f"{iso(t)[:19].replace('-', '/').replace('T', ' ')} [warn] 31#31: *"
                f"{rng.randrange(10**6)} upstream response is buffered to a temporary "
                "file"), "json"
    if u < 0.72:  # a status no HTTP server sends
        ev["status"] = 600
        return dumps(ev), "status"
    if u < 0.80:  # client went away before the response: some gateways log 0
        ev["status"] = 0
        return dumps(ev), "status"
    del ev["service"]  # the gateway's own health check: no upstream service
    ev["route"] = "GET /healthz"
    ev["status"], ev["latency_ms"] = 200, 0.3
    return dumps(ev), "service"


def main():
    rng = random.Random(SEED)
    n_invalid = sum(rng.random() < 0.005 for _ in range(LINES))
    rows = []  # (time the gateway wrote the line, line)
    reasons = Counter()
    for i in range(LINES):
        t = event_time(rng)
        if i < n_invalid:
            text, reason = invalid(rng, t)
            reasons[reason] += 1
            rows.append((t, text))
        else:
            ev, latency = request(rng, t)
            rows.append((t + int(latency), dumps(ev)))  # logged when the response ends
    rows.sort()
    with OUT.open("w", encoding="utf-8", newline="\n") as f:
        for _, text in rows:
            f.write(text + "\n")
    valid = LINES - n_invalid
    print(f"wrote {OUT.name}: {LINES} lines, {OUT.stat().st_size} bytes")
    print(f"read {LINES}, valid {valid}, invalid {n_invalid}, by reason "
          + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))


if __name__ == "__main__":
    main()

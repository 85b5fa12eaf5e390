#!/usr/bin/env bash
# Load benchmark of /v1/chat on loopback (issue: chat service). Starts the gateway with
# instant simulated models (bench/load.toml), then drives it with wrk (2 threads,
# 32 connections) for the static tier, the cache tier and the primary model tier.
# Prints requests/s and latency percentiles. The load generator shares the 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/mangaassist
PORT=18090
DURATION=${DURATION:-10s}
ADMIN="Authorization: Bearer bench-admin"

$BIN serve --config bench/load.toml > /tmp/mangaassist-bench.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "localhost:$PORT/healthz" >/dev/null && break; sleep 0.1; done
if ! curl -sf "localhost:$PORT/healthz" >/dev/null; then
  echo "bench/load.sh: the gateway did not start:" >&2
  cat /tmp/mangaassist-bench.log >&2
  exit 1
fi

flags() { curl -sf -X PATCH "localhost:$PORT/admin/flags" -H "$ADMIN" -d "$1" >/dev/null; }
run() {
  echo "== $1"
  MESSAGE="$2" wrk -t2 -c32 -d"$DURATION" --latency -s bench/chat.lua "http://127.0.0.1:$PORT/v1/chat" \
    | grep -E "Requests/sec|^ +(50|75|90|99)%|Latency +[0-9]|Non-2xx"
}

flags '{"FM_MODE":"static_only"}'
run "static tier (pricing from live catalog data)" "How much is One Piece volume 105?"

flags '{"FM_MODE":"normal"}'
curl -sf "localhost:$PORT/v1/chat" -d '{"message":"Recommend something like Frieren"}' >/dev/null
flags '{"FM_MODE":"cache_only"}'
run "cache tier (a cached recommendation)" "Recommend something like Frieren"

flags '{"FM_MODE":"normal"}'
run "primary tier (simulated model, zero latency)" "Recommend something like Naruto"

echo "== gateway overhead at 1,000 requests/s (hey, 10 workers x 100/s; zero-latency models)"
hey -z "$DURATION" -c 10 -q 100 -m POST -T application/json \
  -d '{"message":"Recommend something like Naruto"}' \
  "http://127.0.0.1:$PORT/v1/chat" | grep -E "Requests/sec|(50|90|99)% in|Status code|\[200\]"

echo "== gateway latency at 1,000 requests/s, open loop, microseconds (bench/loadgen.cpp, 8 connections)"
build/bench/ma_loadgen "$PORT" 1000 5 8 "Recommend something like Naruto"

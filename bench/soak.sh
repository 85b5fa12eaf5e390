#!/usr/bin/env bash
# Soak under attack (issue: security, item 8; `make soak`). Starts the gateway with
# bench/soak.toml, then runs bench/soak.cpp for SOAK_SECONDS (60): ordinary users at
# SOAK_RATE (350 messages/s, twice the seed's peak share of one server) over HTTP and
# WebSocket, with slow readers, a WebSocket flood, oversized messages and a flood of idle
# connections beside them. Prints what the ordinary users got (accepted, answered, lost,
# duplicated, p50/p99), the server's RSS, then the server's connection and WebSocket-close
# counters. Fails when an ordinary message is lost or answered twice (SOAK_STRICT=1: also
# when RSS grows more than 10% after the warm-up or p99 reaches 3 s).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/mangaassist
SOAK=build/bench/ma_soak
PORT=18190
ADMIN="Authorization: Bearer soak-admin"
LOG=/tmp/mangaassist-soak.log
SECONDS_=${SOAK_SECONDS:-60}
RATE=${SOAK_RATE:-350}

# The soak holds ~1,000 sockets (ordinary users and the idle-connection flood).
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

rm -f /tmp/mangaassist-soak-requests.log /tmp/mangaassist-soak-traces.jsonl
$BIN serve --config bench/soak.toml > "$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
if ! curl -sf "127.0.0.1:$PORT/healthz" >/dev/null; then
  echo "bench/soak.sh: the gateway did not start:" >&2
  cat "$LOG" >&2
  exit 1
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
rc=0
$SOAK --port "$PORT" --seconds "$SECONDS_" --rate "$RATE" --pid "$PID" \
  --request-log /tmp/mangaassist-soak-requests.log --strict "${SOAK_STRICT:-0}" || rc=$?

echo "== server counters (/metrics)"
curl -sf -H "$ADMIN" "127.0.0.1:$PORT/metrics" \
  | grep -E '^mangaassist_(ws_closed_total|connection_events_total|connections_open)' || true
if ! kill -0 "$PID" 2>/dev/null; then
  echo "FAIL: the gateway exited during the soak:" >&2
  tail -20 "$LOG" >&2
  rc=1
fi
exit $rc

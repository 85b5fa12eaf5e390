#!/usr/bin/env bash
# One gateway thread beside a bare Beast server (bench/bare_server.cpp), each driven by
# `wrk -t1 -c32` on loopback, the server pinned to one core and wrk to another, the runs
# interleaved ROUNDS times (issue 19: the gateway serves >= 60% of the bare server's
# requests/s). The gateway answers a price question from its static tier (bench/load.toml:
# instant models, limits lifted, logs and traces on).
#   DURATION (5s) ROUNDS (3) SERVER_CPU (1) WRK_CPU (0) BUILD (build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
SERVER_CPU=${SERVER_CPU:-1}
WRK_CPU=${WRK_CPU:-0}
PORT=18090
BARE_PORT=18091
ADMIN="Authorization: Bearer bench-admin"
MESSAGE="How much is One Piece volume 105?"

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null || true' EXIT
wait_port() {
  for _ in $(seq 200); do curl -s -o /dev/null "localhost:$1/" && return 0; sleep 0.05; done
  echo "bench/side_by_side.sh: nothing answers on port $1" >&2
  exit 1
}
taskset -c "$SERVER_CPU" "$BUILD/mangaassist" serve --config bench/load.toml --threads 1 \
  >/tmp/mangaassist-sbs.log 2>&1 &
pids+=($!)
taskset -c "$SERVER_CPU" "$BUILD/bench/ma_bare_server" "$BARE_PORT" 1 >/dev/null 2>&1 &
pids+=($!)
wait_port "$PORT"
wait_port "$BARE_PORT"
curl -sf -X PATCH "localhost:$PORT/admin/flags" -H "$ADMIN" -d '{"FM_MODE":"static_only"}' >/dev/null

rps() {  # URL -> requests/s
  MESSAGE="$MESSAGE" taskset -c "$WRK_CPU" wrk -t1 -c32 -d"$DURATION" -s bench/chat.lua "$1" |
    awk '/Requests\/sec/ {print int($2)}'
}
echo "round gateway_rps bare_rps ratio"
for r in $(seq "$ROUNDS"); do
  g=$(rps "http://127.0.0.1:$PORT/v1/chat")
  b=$(rps "http://127.0.0.1:$BARE_PORT/v1/chat")
  echo "$r $g $b $(awk -v g="$g" -v b="$b" 'BEGIN {printf "%.2f", g / b}')"
done

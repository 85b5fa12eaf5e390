#!/usr/bin/env bash
# Fleet-state decisions through the Redis pool: starts a throwaway redis-server on a free
# loopback port, runs the Redis benchmarks against it, stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --loglevel warning &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do :; done
MA_REDIS_URL="redis://127.0.0.1:$port" "$BUILD_DIR/bench/ma_bench" \
  --benchmark_filter='Redis' --benchmark_min_time=1

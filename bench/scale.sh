#!/usr/bin/env bash
# Scaling across cores (issue 19), for a machine with 16 cores: the gateway pinned to cores
# 0..N-1 with N worker threads (N = THREADS, default "1 2 4 8"), driven by wrk (WRK_THREADS=8
# threads, CONNS=256 connections, keep-alive) pinned to cores 8-15, answering the price
# question from its static tier (bench/load.toml: instant models, limits lifted, logs and
# traces on); then the bare Beast server (bench/bare_server.cpp) the same way, as the
# ceiling. Target: 8 threads >= 6x one thread.
#
#   bench/scale.sh              binaries from build/ and the system's wrk, perf and taskset
#   BUNDLE=.scale bench/scale.sh   binaries from bench/bundle.sh's folder (a bare machine)
#
# With BUNDLE/mangaassist-before present, that build is measured too (before/after on one
# machine). With perf available, the 8-thread runs also count futex calls, sendmsg calls
# and context switches over 4 s (threads waiting on each other). DURATION (8s), ROUNDS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-"1 2 4 8"}
DURATION=${DURATION:-8s}
ROUNDS=${ROUNDS:-1}
WRK_THREADS=${WRK_THREADS:-8}
CONNS=${CONNS:-256}
WRK_CPUS=${WRK_CPUS:-8-15}
PORT=18090
MESSAGE="How much is One Piece volume 105?"

# run PROGRAM ARGS...: a bundled program goes through the bundle's loader and libraries.
# pinned CPUS PROGRAM ARGS...: the same, on those cores, exec'd: call it in a subshell,
# ( pinned ... ) or ( pinned ... ) &, so that $! is the program itself.
if [[ -n "${BUNDLE:-}" ]]; then
  B=$(cd "$BUNDLE" && pwd)
  LD=("$B/ld-linux-x86-64.so.2" --library-path "$B/lib")
  path_of() { echo "$B/$1"; }
  run() { local p=$1; shift; "${LD[@]}" "$(path_of "$p")" "$@"; }
  pinned() { local c=$1 p=$2; shift 2; exec "${LD[@]}" "$B/taskset" -c "$c" "${LD[@]}" "$(path_of "$p")" "$@"; }
  HAVE_PERF=$([[ -f "$B/perf" ]] && echo 1 || echo 0)
  GATEWAYS="mangaassist"
  [[ -f "$B/mangaassist-before" ]] && GATEWAYS="mangaassist-before mangaassist"
else
  path_of() {
    case "$1" in
      mangaassist*) echo "build/$1" ;;
      ma_*) echo "build/bench/$1" ;;
      *) command -v "$1" ;;
    esac
  }
  run() { local p=$1; shift; "$(path_of "$p")" "$@"; }
  pinned() { local c=$1 p=$2; shift 2; exec taskset -c "$c" "$(path_of "$p")" "$@"; }
  HAVE_PERF=$(command -v perf >/dev/null && echo 1 || echo 0)
  GATEWAYS="mangaassist"
fi
BARE=ma_bare_server

# Plain HTTP over bash's /dev/tcp (no curl on a bare machine): METHOD PATH [BODY] -> status.
http() {
  local body=${3:-}
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  printf '%s %s HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer bench-admin\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$1" "$2" "${#body}" "$body" >&3
  local status
  read -r _ status _ <&3 || true
  exec 3<&- 3>&-
  echo "${status:-0}"
}
wait_up() {
  for _ in $(seq 400); do
    kill -0 "$PID" 2>/dev/null || { echo "bench/scale.sh: the server exited" >&2; return 1; }
    [[ "$(http GET /healthz 2>/dev/null)" == 200 ]] && return 0
    sleep 0.05
  done
  echo "bench/scale.sh: nothing answers on port $PORT" >&2
  return 1
}

PID=""
stop_server() {
  if [[ -n "$PID" ]]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  PID=""
  # The next server binds the same port: never measure the previous one by mistake.
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || return 0
    sleep 0.05
  done
  echo "bench/scale.sh: port $PORT still answers after the server was stopped" >&2
  exit 1
}
trap stop_server EXIT

# measure SERVER THREADS -> requests/s
measure() {
  local name=$1 n=$2 cpus="0-$(($2 - 1))"
  if [[ "$name" == "$BARE" ]]; then
    (pinned "$cpus" "$BARE" "$PORT" "$n" >/dev/null 2>&1) &
  else
    # server.threads in the file, not --threads: an older build (mangaassist-before) reads it too.
    sed "s/^\[server\]$/[server]\nthreads = $n/" bench/load.toml >"/tmp/scale-$n.toml"
    (pinned "$cpus" "$name" serve --config "/tmp/scale-$n.toml" >"/tmp/scale-$name-$n.log" 2>&1) &
  fi
  PID=$!
  wait_up
  [[ "$name" != "$BARE" ]] && http PATCH /admin/flags '{"FM_MODE":"static_only"}' >/dev/null
  local pstat=""
  if [[ "$n" == 8 && "$HAVE_PERF" == 1 ]]; then
    (sleep 2; run perf stat -e 'syscalls:sys_enter_futex,syscalls:sys_enter_sendmsg,context-switches' \
        -p "$PID" -- sleep 4 2>"/tmp/scale-perf-$name.txt" >/dev/null || true) &
    pstat=$!
  fi
  (MESSAGE="$MESSAGE" pinned "$WRK_CPUS" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$DURATION" \
    -s bench/chat.lua "http://127.0.0.1:$PORT/v1/chat") >"/tmp/scale-wrk.txt"
  [[ -n "$pstat" ]] && wait "$pstat"
  stop_server
  grep -q "Non-2xx" /tmp/scale-wrk.txt && echo "bench/scale.sh: $name answered errors" >&2
  awk '/Requests\/sec/ {print int($2)}' /tmp/scale-wrk.txt
}

rm -f /tmp/scale-perf-*.txt
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "wrk -t$WRK_THREADS -c$CONNS -d$DURATION on cores $WRK_CPUS; server on cores 0..N-1"
printf '%-20s' "server"; for n in $THREADS; do printf '%10s' "$n thr"; done; printf '%10s\n' "max/1"
for r in $(seq "$ROUNDS"); do
  for g in $GATEWAYS $BARE; do
    printf '%-20s' "$g"
    first=0; last=0
    for n in $THREADS; do
      rps=$(measure "$g" "$n")
      [[ $first == 0 ]] && first=$rps
      last=$rps
      printf '%10s' "$rps"
    done
    awk -v a="$last" -v b="$first" 'BEGIN {printf "%9.2fx\n", (b > 0 ? a / b : 0)}'
  done
done

for f in /tmp/scale-perf-*.txt; do
  [[ -f "$f" ]] || continue
  echo "== $(basename "$f" .txt | sed 's/scale-perf-//'), 8 threads, 4 s:"
  grep -E "futex|sendmsg|context" "$f" | awk '{print "   " $1, $2}'
done

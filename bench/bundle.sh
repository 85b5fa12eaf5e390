#!/usr/bin/env bash
# Collects what bench/scale.sh needs on a bare machine (the 16-core device, which has no
# Boost, no compiler packages, perhaps no wrk): the stripped gateway, the bare server, wrk,
# perf and taskset, every shared library they load, and the dynamic loader, into BUNDLE
# (.scale by default; git-ignored through .git/info/exclude). Programs are then started as
# BUNDLE/ld-linux-x86-64.so.2 --library-path BUNDLE/lib BUNDLE/<program>.
#   bench/bundle.sh [BUNDLE] [EXTRA_GATEWAY=path name]  e.g. an older build to compare with
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.scale}
BUILD=${BUILD:-build}
rm -rf "$OUT" && mkdir -p "$OUT/lib"
grep -qx "/$OUT/" .git/info/exclude 2>/dev/null || echo "/$OUT/" >> .git/info/exclude
add() {  # program-path name
  cp "$1" "$OUT/$2"
  strip "$OUT/$2" 2>/dev/null || true
  ldd "$1" | awk '/=> \// {print $3}' | while read -r lib; do cp -n "$lib" "$OUT/lib/"; done
}
add "$BUILD/mangaassist" mangaassist
add "$BUILD/bench/ma_bare_server" ma_bare_server
add "$BUILD/bench/ma_request_path" ma_request_path
add "$(command -v wrk)" wrk
add "$(command -v taskset)" taskset
if command -v perf >/dev/null; then add "$(command -v perf)" perf; fi
if [[ -n "${EXTRA_GATEWAY:-}" ]]; then add "$EXTRA_GATEWAY" mangaassist-before; fi
cp /lib64/ld-linux-x86-64.so.2 "$OUT/"
du -sh "$OUT"

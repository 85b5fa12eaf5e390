#!/usr/bin/env bash
# make bench-check: runs the decision benchmarks listed in bench/decision-targets.txt briefly
# (REPETITIONS runs of MIN_TIME seconds each) and fails when a median CPU time is over MARGIN
# times its target. Usage: scripts/bench-check.sh [path/to/ma_bench]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${1:-$ROOT/build/bench/ma_bench}
TARGETS=${BENCH_TARGETS:-$ROOT/bench/decision-targets.txt}
REPETITIONS=${REPETITIONS:-5}
MIN_TIME=${MIN_TIME:-0.05}
MARGIN=${MARGIN:-2}

[ -x "$BENCH" ] || { echo "bench-check: no $BENCH (make bench-check builds it)" >&2; exit 2; }
names=$(sed -e 's/#.*//' "$TARGETS" | awk 'NF { print $1 }')
filter="^($(paste -sd'|' <<<"$names"))\$"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BENCH" --benchmark_filter="$filter" --benchmark_repetitions="$REPETITIONS" \
  --benchmark_min_time="$MIN_TIME" --benchmark_report_aggregates_only=true \
  --benchmark_format=json >"$out"

python3 - "$out" "$TARGETS" "$MARGIN" <<'PY'
import json, sys

out, targets_file, margin = sys.argv[1], sys.argv[2], float(sys.argv[3])
targets = {}
for line in open(targets_file):
    fields = line.split("#", 1)[0].split()
    if fields:
        targets[fields[0]] = float(fields[1])
scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
medians = {}
for b in json.load(open(out))["benchmarks"]:
    if b.get("aggregate_name") == "median" and "error_occurred" not in b:
        medians[b["run_name"]] = b["cpu_time"] * scale[b.get("time_unit", "ns")]
failed = 0
print(f"{'benchmark':40} {'median':>10} {'target':>8} {'ratio':>6}")
for name, target in targets.items():
    if name not in medians:
        print(f"{name:40} {'missing':>10} {target:>6.0f}ns  FAIL (not run, or it reported an error)")
        failed += 1
        continue
    ns = medians[name]
    ratio = ns / target
    verdict = "ok"
    if ratio > margin:
        verdict, failed = f"FAIL (over {margin:g}x the target)", failed + 1
    elif ratio > 1:
        verdict = "warn (over the target, within the margin)"
    print(f"{name:40} {ns:>8.1f}ns {target:>6.0f}ns {ratio:>6.2f}  {verdict}")
print(f"bench-check: {len(targets) - failed} of {len(targets)} decisions within {margin:g}x their "
      "target (median CPU time)")
sys.exit(1 if failed else 0)
PY

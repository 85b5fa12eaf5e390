#!/usr/bin/env bash
# Regenerates tests/data/sim_golden.txt, the simulator's golden runs (src/sim/golden_test.cpp):
# builds ma_sim_test in BUILD_DIR (default: build) and runs the golden test in update mode.
# Only for a change that is meant to change what the simulator computes; the commit message
# says so (docs/simulator.md, "Golden runs"). Usage: scripts/update-sim-golden.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
JOBS=${JOBS:-2}

[ -f "$BUILD/CMakeCache.txt" ] || { echo "update-sim-golden: $BUILD is not a configured build dir" >&2; exit 2; }
cmake --build "$BUILD" -j"$JOBS" --target ma_sim_test
MA_UPDATE_GOLDEN=1 "$BUILD/src/ma_sim_test" --gtest_filter='SimGoldenTest.*'
git -C "$ROOT" --no-pager diff --stat -- tests/data/sim_golden.txt

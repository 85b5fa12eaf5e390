#!/usr/bin/env bash
# make mutants [MUTANTS="name ..."]: every headline claim has a named mutant in tests/mutants/
# (a small source edit that breaks the claim); each one must be killed by the tests it names.
#
#   1. The working tree (git ls-files -co --exclude-standard: tracked and new files, not
#      build/ or node_modules), or the commit MUTANTS_REV (HEAD, say: without the edits in
#      progress in a shared tree), is copied to $MUTANTS_DIR/src (build-mutants/src),
#      rewriting only the files whose content changed, so the scratch build in
#      build-mutants/build is incremental from one run, and one mutant, to the next.
#      The mutants themselves are always read from this tree's tests/mutants/.
#   2. Every mutant's snippet must match exactly once ("stale mutant": fix the .mutant file).
#   3. Baseline: the union of the mutants' build targets is built and their tests run on the
#      unmutated copy; a mutant whose tests fail there, whose regex (or one of its top-level
#      alternatives) names no test, or whose tests run a program it does not build, fails.
#   4. One mutant at a time: apply, build its targets, run its tests (ctest -R, stopping at the
#      first failure unless MUTANTS_ALL_KILLERS=1), restore. Killed = a named test failed.
#      Surviving, stale, not compiling, a failing baseline: all make this script exit non-zero.
# The kill table is printed and written to build-mutants/kill-table.md (docs/testing.md).
# Not part of `make test`: it takes minutes. JOBS (2) bounds the build and the tests.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${MUTANTS_DIR:-$ROOT/build-mutants}
SRC=$SCRATCH/src
BLD=$SCRATCH/build
LOGS=$SCRATCH/logs
BACKUP=$SCRATCH/originals
JOBS=${JOBS:-2}
TEST_TIMEOUT=${MUTANT_TEST_TIMEOUT:-300}  # per test without its own TIMEOUT property
# MUTANTS_ALL_KILLERS=1: run every test of a mutant, to list all that kill it (slower).
stop_on_failure=1
[ -z "${MUTANTS_ALL_KILLERS:-}" ] || stop_on_failure=
MUTDIR=$ROOT/tests/mutants
HELPER=(python3 "$MUTDIR/mutant.py")

mkdir -p "$SCRATCH" "$LOGS"
exec 9>"$SCRATCH/lock"
if ! flock -n 9; then
  echo "mutants: another run holds $SCRATCH/lock" >&2
  exit 2
fi

# Which mutants: the arguments (names or files), else every tests/mutants/*.mutant.
mutants=()
if [ $# -gt 0 ]; then
  for a in $*; do
    n=$(basename "$a" .mutant)
    [ -f "$MUTDIR/$n.mutant" ] || { echo "mutants: no tests/mutants/$n.mutant" >&2; exit 2; }
    mutants+=("$n")
  done
else
  for f in "$MUTDIR"/*.mutant; do mutants+=("$(basename "$f" .mutant)"); done
fi

# A run that was interrupted left a mutated file: put the original back first.
"${HELPER[@]}" restore "$SRC" "$BACKUP"
trap '"${HELPER[@]}" restore "$SRC" "$BACKUP"' EXIT
trap 'exit 130' INT TERM
"${HELPER[@]}" sync "$ROOT" "$SRC" ${MUTANTS_REV:+"$MUTANTS_REV"} || exit 2

# The default preset's build type (RelWithDebInfo: -O2, NDEBUG) without the debug info, which
# only slows the compiles and links down here.
if [ ! -f "$BLD/build.ninja" ]; then
  cmake -S "$SRC" -B "$BLD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -DNDEBUG" >"$LOGS/configure.log" 2>&1 ||
    { cat "$LOGS/configure.log"; exit 2; }
fi

declare -A status killer secs claim
list_tests() { # regex -> the names ctest knows that match it
  ctest --test-dir "$BLD" -N -R "$1" 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: //p'
}

# ---- 2. stale mutants ----
live=()
for m in "${mutants[@]}"; do
  claim[$m]=$("${HELPER[@]}" get "$MUTDIR/$m.mutant" claim) || exit 2
  if why=$("${HELPER[@]}" check "$MUTDIR/$m.mutant" "$SRC"); then
    live+=("$m")
  else
    status[$m]=STALE
    killer[$m]="stale mutant: update tests/mutants/$m.mutant ($why)"
    echo "mutants: ${killer[$m]}" >&2
  fi
done

# ---- 3. baseline ----
targets=()
for m in "${live[@]}"; do
  targets+=($("${HELPER[@]}" get "$MUTDIR/$m.mutant" build))
done
if [ ${#live[@]} -gt 0 ]; then
  targets=($(printf '%s\n' "${targets[@]}" | sort -u))
  echo "mutants: baseline build (${targets[*]})"
  if ! cmake --build "$BLD" -j "$JOBS" --target "${targets[@]}" >"$LOGS/baseline-build.log" 2>&1; then
    tail -40 "$LOGS/baseline-build.log"
    echo "mutants: the unmutated tree does not build (build-mutants/logs/baseline-build.log)" >&2
    exit 2
  fi
  list_tests . >"$LOGS/all.names"
  : >"$LOGS/baseline.names"
  for m in "${live[@]}"; do
    list_tests "$("${HELPER[@]}" get "$MUTDIR/$m.mutant" tests)" >"$LOGS/$m.names"
    cat "$LOGS/$m.names" >>"$LOGS/baseline.names"
  done
  echo "mutants: baseline: $(sort -u "$LOGS/baseline.names" | wc -l) tests on the unmutated tree"
  t0=$SECONDS
  rm -f "$LOGS"/baseline-*.xml
  "${HELPER[@]}" baseline "$BLD" "$LOGS/baseline.names" "$JOBS" "$TEST_TIMEOUT" \
    "$LOGS/baseline-" >"$LOGS/baseline.failed" || exit 2
  echo "mutants: baseline took $((SECONDS - t0)) s, $(wc -l <"$LOGS/baseline.failed") failed"
  ready=()
  for m in "${live[@]}"; do
    re=$("${HELPER[@]}" get "$MUTDIR/$m.mutant" tests)
    tg=" $("${HELPER[@]}" get "$MUTDIR/$m.mutant" build) "
    # Every program the tests run must be rebuilt with the mutant: one left out would run an
    # older build (the previous mutant's, even) and prove nothing.
    missing=$("${HELPER[@]}" programs "$BLD" "$re" | while read -r p; do
      [[ "$tg" == *" $p "* ]] || echo "$p"; done | paste -sd' ')
    bad=$(grep -Fxf "$LOGS/$m.names" "$LOGS/baseline.failed" | head -3 | paste -sd' ')
    unmatched=$("${HELPER[@]}" unmatched "$re" "$LOGS/all.names" | paste -sd' ')
    if [ ! -s "$LOGS/$m.names" ]; then
      status[$m]=NO-TESTS
      killer[$m]="no test matches $re"
    elif [ -n "$unmatched" ]; then
      status[$m]=NO-TESTS
      killer[$m]="no test matches $unmatched (renamed?)"
    elif [ -n "$missing" ]; then
      status[$m]=BAD-TARGETS
      killer[$m]="its tests run $missing: add to build:"
    elif [ -n "$bad" ]; then
      status[$m]=BASELINE-FAILS
      killer[$m]="fails (or did not run) unmutated: $bad"
    else
      ready+=("$m")
    fi
  done
  live=("${ready[@]}")
fi

# ---- 4. one mutant at a time ----
for m in "${live[@]}"; do
  file=$MUTDIR/$m.mutant
  re=$("${HELPER[@]}" get "$file" tests)
  tg=($("${HELPER[@]}" get "$file" build))
  to=$("${HELPER[@]}" get "$file" timeout)
  t0=$SECONDS
  printf 'mutants: %-36s ' "$m"
  if ! "${HELPER[@]}" apply "$file" "$SRC" "$BACKUP" >"$LOGS/$m.apply.log"; then
    status[$m]=STALE
    killer[$m]="stale mutant: update tests/mutants/$m.mutant ($(cat "$LOGS/$m.apply.log"))"
  elif ! cmake --build "$BLD" -j "$JOBS" --target "${tg[@]}" >"$LOGS/$m.build.log" 2>&1; then
    status[$m]=NO-BUILD
    killer[$m]="the mutant does not compile (build-mutants/logs/$m.build.log)"
  else
    rm -f "$LOGS/$m.xml"
    ctest --test-dir "$BLD" -R "$re" -j "$JOBS" --timeout "${to:-$TEST_TIMEOUT}" \
      ${stop_on_failure:+--stop-on-failure} --output-junit "$LOGS/$m.xml" \
      >"$LOGS/$m.tests.log" 2>&1
    rc=$?
    results=$("${HELPER[@]}" junit "$LOGS/$m.xml")
    killers=$(sed -n 's/^fail\t//p' <<<"$results" | sed 's/  # GetParam.*//')
    passed=$(grep -c '^pass' <<<"$results")
    if [ $rc -eq 0 ] && [ "$passed" -eq "$(wc -l <"$LOGS/$m.names")" ]; then
      status[$m]=SURVIVED
      killer[$m]="all $passed tests passed"
    elif [ -n "$killers" ]; then
      status[$m]=KILLED
      killer[$m]=$(paste -sd',' <<<"$killers" | sed 's/,/, /g')
    else
      status[$m]=ERROR
      killer[$m]="no test failed, yet not all ran (build-mutants/logs/$m.tests.log)"
    fi
  fi
  "${HELPER[@]}" restore "$SRC" "$BACKUP"
  secs[$m]=$((SECONDS - t0))
  echo "${status[$m]} (${secs[$m]} s) ${killer[$m]}"
done

# ---- the kill table ----
table=$SCRATCH/kill-table.md
cell() { sed 's/|/\\|/g' <<<"$1"; }
{
  echo "| mutant | claim | result | killed by | time |"
  echo "|---|---|---|---|---|"
  for m in "${mutants[@]}"; do
    echo "| \`$m\` | $(cell "${claim[$m]}") | ${status[$m]:-?} | $(cell "${killer[$m]:-}") |" \
      "${secs[$m]:--} s |"
  done
} >"$table"
echo
cat "$table"
echo
killed=0
for m in "${mutants[@]}"; do [ "${status[$m]:-}" = KILLED ] && killed=$((killed + 1)); done
echo "mutants: $killed of ${#mutants[@]} killed (table: ${table#"$ROOT"/})"
[ "$killed" -eq ${#mutants[@]} ]

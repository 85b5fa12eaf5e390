#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer targets of tests/fuzz (clang, ASan + UBSan, libFuzzer) in
# build-fuzz/, runs each for FUZZ_SECONDS, and merges the inputs that reach new code into
# tests/fuzz/corpus/<target>/ (which `make test` replays, tests/fuzz/README.md). Exits 1 when
# any target crashed (a sanitizer report, a failed property, a timeout, running out of
# memory); the reproducers are left in build-fuzz/crashes/<target>/.
#
#   FUZZ_SECONDS=60        seconds per target
#   FUZZ_TARGETS="a b"     only these targets (default: all)
#   FUZZ_JOBS=2            build parallelism
#   FUZZ_CORPUS_MAX=40     generated inputs kept per target (hand-written seeds always stay)
#   FUZZ_MERGE=1           0: leave tests/fuzz/corpus alone (new inputs stay in build-fuzz/)
#   FUZZ_SKIP_KNOWN=0      1: start without the corpus's crash-* files (crashes not fixed yet),
#                          to fuzz on past them
#   FUZZ_CXX=clang++-14    the compiler (needs libclang-rt-14-dev for libFuzzer)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-2}"
cap="${FUZZ_CORPUS_MAX:-40}"
merge="${FUZZ_MERGE:-1}"
skip_known="${FUZZ_SKIP_KNOWN:-0}"
cxx="${FUZZ_CXX:-clang++-14}"
build="build-fuzz"
corpus_root="tests/fuzz/corpus"

# Every target and the longest input it is given: the HTTP request has 8 KiB of header and
# 16 KiB of body; the rest are messages, replies, error bodies and files of a few KiB.
declare -A max_len=(
  [http_request]=24576 [websocket_message]=8192 [chat_request]=8192 [understanding]=2048
  [price_extractor]=4096 [model_error_parser]=4096 [eventstream]=4096 [sse]=4096
  [openai_response]=4096 [xray_rules]=4096 [config]=8192 [events]=4096
)
all_targets=(http_request websocket_message chat_request understanding price_extractor
             model_error_parser eventstream sse openai_response xray_rules config events)
read -r -a targets <<< "${FUZZ_TARGETS:-${all_targets[*]}}"
for t in "${targets[@]}"; do
  [[ -n "${max_len[$t]:-}" ]] || { echo "fuzz: unknown target '$t' (${all_targets[*]})" >&2; exit 2; }
done

command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found: run scripts/install-deps.sh" >&2; exit 2; }

# The libraries are built with the sanitizers and coverage (fuzzer-no-link) too, without
# NDEBUG (the project's assert()s are invariants worth tripping). UBSan stops at the first
# report, so that libFuzzer counts it as a crash and saves the input.
# NOTE: clang 14 cannot assemble coroutines (Boost.Asio awaitables, all over src/) with
# UBSan's -fsanitize=function ("Cannot represent a difference across sections",
# llvm/llvm-project#49689): that one check is left out.
# NOTE: toml++ 3.3.0's own assert()s fail on malformed TOML (fixed upstream, not in Debian;
# tests/fuzz/config_fuzz.cpp): TOML_ASSERT is defined away, as in a release build.
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize=function -fno-sanitize-recover=all"
flags+=" -fno-omit-frame-pointer -g -O1 '-DTOML_ASSERT(expr)=static_assert(true)'"
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_CXX_FLAGS="$flags" -DMA_BUILD_FUZZ=ON -DMA_BUILD_BENCH=OFF -DMA_JEMALLOC=OFF \
  >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j "$jobs" --target "${targets[@]/%/_fuzz}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

is_generated() { [[ "$(basename "$1")" =~ ^[0-9a-f]{40}$ ]]; }  # libFuzzer names inputs by SHA-1

# Keeps at most $cap generated inputs in a corpus directory: re-minimises them against the
# hand-written seeds, then keeps the smallest if there are still too many.
cap_corpus() {
  local bin="$1" dir="$2" tmp n
  n=$(find "$dir" -maxdepth 1 -type f -regextype egrep -regex '.*/[0-9a-f]{40}' | wc -l)
  ((n > cap)) || return 0
  tmp="$(mktemp -d)"
  mkdir "$tmp/keep" "$tmp/gen"
  for f in "$dir"/*; do
    if is_generated "$f"; then mv "$f" "$tmp/gen/"; else cp "$f" "$tmp/keep/"; fi
  done
  "$bin" -merge=1 -artifact_prefix="$tmp/" "$tmp/keep" "$tmp/gen" >/dev/null 2>&1 || true
  find "$tmp/keep" -maxdepth 1 -type f -regextype egrep -regex '.*/[0-9a-f]{40}' -printf '%s %p\n' |
    sort -n | awk -v n="$cap" 'NR <= n' | cut -d' ' -f2- | xargs -r mv -t "$dir"
  rm -rf "$tmp"
}

# figure LOG LINES NAME: the number after NAME on the last of the LINES (a regex) of a log:
# the status lines ("#N DONE cov: C ft: F ...") and the final stats ("stat::...: N").
figure() {
  { grep -E "$2" "$1" | grep -o "$3 *[0-9]*" | tail -1 | grep -o '[0-9]*$'; } || true
}

summary=()
failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/${t}_fuzz"
  corpus="$corpus_root/$t"
  work="$build/fuzz-work/$t"
  crashes="$build/crashes/$t"
  log="$build/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$work" "$crashes" "$(dirname "$log")"
  rm -f "$crashes"/*  # this run's reproducers only
  dict=()
  [[ -f "tests/fuzz/$t.dict" ]] && dict=(-dict="tests/fuzz/$t.dict")
  seeds="$corpus"
  if [[ "$skip_known" == 1 ]]; then
    seeds="$build/fuzz-seeds/$t"
    rm -rf "$seeds" && mkdir -p "$seeds"
    find "$corpus" -maxdepth 1 -type f ! -name 'crash-*' -exec cp -t "$seeds" {} +
  fi
  echo "fuzz: $t for ${seconds}s (max_len ${max_len[$t]}; log $log)"
  rc=0
  # New inputs go to $work (the first directory); the kept corpus is read, not written.
  "$bin" "${dict[@]}" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" \
    "$work" "$seeds" >"$log" 2>&1 || rc=$?
  cov="$(figure "$log" '^#[0-9]+' 'cov:')"
  ft="$(figure "$log" '^#[0-9]+' 'ft:')"
  execs="$(figure "$log" '^stat::' 'number_of_executed_units:')"
  eps="$(figure "$log" '^stat::' 'average_exec_per_sec:')"
  before=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  if [[ "$merge" == 1 ]]; then
    # A crashing input is left out of the merge (libFuzzer writes it to the artifact prefix).
    "$bin" -merge=1 -max_len="${max_len[$t]}" -artifact_prefix="$crashes/merge-" \
      "$corpus" "$work" >>"$log" 2>&1 || true
    cap_corpus "$bin" "$corpus"
  fi
  after=$(find "$corpus" -maxdepth 1 -type f | wc -l)
  line="$(printf '%-20s %8s execs %7s exec/s  cov %5s  ft %6s  corpus %3s -> %3s' "$t" \
    "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$before" "$after")"
  if ((rc != 0)); then
    line+="  CRASHED (exit $rc)"
    failed+=("$t")
  fi
  summary+=("$line")
  echo "  $line"
done

echo
echo "fuzz: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]} > 0)); then
  echo
  for t in "${failed[@]}"; do
    echo "fuzz: $t crashed: reproducers in $build/crashes/$t/, report in $build/fuzz-logs/$t.log:"
    grep -m1 -E 'ERROR: |runtime error|fuzz property failed|deadly signal|timeout after' \
      "$build/fuzz-logs/$t.log" | sed 's/^/    /' || true
    ls "$build/crashes/$t"/ 2>/dev/null | sed "s|^|    $build/crashes/$t/|"
  done
  echo "fuzz: once fixed, copy each reproducer into tests/fuzz/corpus/<target>/ under a name"
  echo "      that says what it was (e.g. crash-header-overflow), so that make test replays it."
  echo "      Rerun one: $build/fuzz/<target>_fuzz -artifact_prefix=/tmp/ <file>"
  exit 1
fi

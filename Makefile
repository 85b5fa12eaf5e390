# MangaAssist: `make run` serves, `make test` tests. Both install what they need first.
PRESET ?= default
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
PORT ?= 8080
PREFIX ?= /usr/local

.PHONY: deps configure build app test run bench bench-redis bench-load soak format format-check clean fuzz
.PHONY: mutants bench-check install package

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Only the service, for `make run` (the tests and benchmarks take most of the build time).
app: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target mangaassist

test: build
	@ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The service and its shared files under $(PREFIX): bin/mangaassist, share/mangaassist/{data,
# web,scenarios,config}. The binary finds them from where it is (docs/operations.md).
install: app
	@cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The Debian package (cmake/Packaging.cmake, docs/operations.md): the service under /usr, its
# systemd unit and /etc/mangaassist/mangaassist.toml, its libraries declared by dpkg-shlibdeps.
# Debug symbols in mangaassist-dbgsym_*.ddeb beside it. cpack alone, not the `package` build
# target, which would build the tests first.
package: app
	@out=$$(cd $(BUILD_DIR) && cpack -G DEB -B "$(abspath $(BUILD_DIR))/packages" 2>&1) || \
	  { echo "$$out" >&2; exit 1; }; echo "$$out" | sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$$/\1/p'

run: app
	@$(BUILD_DIR)/mangaassist serve --port $(PORT)

bench: build
	@$(BUILD_DIR)/bench/ma_bench --benchmark_min_time=0.2

# The decision benchmarks against their targets (bench/decision-targets.txt: 50 ns a policy
# decision, 200 ns an admission decision); fails at twice a target (median of 5 short runs).
bench-check: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target ma_bench
	@./scripts/bench-check.sh $(BUILD_DIR)/bench/ma_bench

bench-redis: build
	@./bench/redis_bench.sh

bench-load: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target mangaassist ma_loadgen
	@./bench/load.sh

# Ordinary users (350 messages/s, HTTP and WebSocket) beside slow readers, a WebSocket flood,
# oversized messages and idle connections, for SOAK_SECONDS (60): bench/soak.sh.
soak: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target mangaassist ma_soak
	@./bench/soak.sh

FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp')

format:
	@clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: clean"

# libFuzzer targets (tests/fuzz/README.md): clang + sanitizers in build-fuzz/, FUZZ_SECONDS each;
# new inputs are merged into tests/fuzz/corpus/, which `make test` replays.
FUZZ_SECONDS ?= 60
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

# Every headline claim has a mutant (tests/mutants/*.mutant) that its tests must kill, built in
# a scratch copy under build-mutants/ (docs/testing.md). Minutes; not part of `make test`.
# MUTANTS="name ..." runs some; MUTANTS_REV=HEAD tests the last commit, not the working tree.
mutants: deps
	@JOBS=$(JOBS) MUTANTS_REV=$(MUTANTS_REV) ./scripts/mutants.sh $(MUTANTS)

clean:
	@rm -rf $(BUILD_DIR)

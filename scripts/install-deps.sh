#!/usr/bin/env bash
# Installs every Debian package MangaAssist needs to build, test and run.
# Idempotent: packages already present are skipped, and `apt-get update` only runs when
# something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libutf8proc-dev libtomlplusplus-dev libcli11-dev
  libhiredis-dev redis-server libssl-dev openssl libjemalloc-dev
  clang-format wrk hey curl prometheus
  clang-14 libclang-rt-14-dev
  chromium nodejs fonts-noto-cjk
  python3-botocore dpkg-dev systemd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# From the npm registry, pinned by the lock files: the browser test's driver (playwright-core)
# and the dashboard's chart library (uPlot). Debian's nodejs may come without npm; the machine
# image has one. uPlot is served at /ops/vendor/ from web/node_modules and installed with the
# binary by `make install`; neither node_modules is ever committed.
npm_ci() {  # DIR MARKER: `npm ci` in DIR unless DIR/node_modules/MARKER is there
  if [ ! -d "$1/node_modules/$2" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      $SUDO apt-get install -y -qq --no-install-recommends npm
    fi
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
root="$(dirname "$0")/.."
npm_ci "$root/tests/browser" playwright-core
npm_ci "$root/web" uplot

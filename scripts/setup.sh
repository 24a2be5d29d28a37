#!/usr/bin/env bash
# Everything `npm start` and `npm test` need, installed and built; quick when all is in place.
#  1. Debian packages (apt) when missing: BPF toolchain, libbpf, demangler, Go (go tool pprof in tests),
#     perf and libbpf-tools (peers in tests and benches), chromium (browser tests, driven by playwright-core),
#     prometheus (its promtool parses and lints /metrics in tests), strace (what the addon closes, in tests)
#  2. npm packages when node_modules is missing or older than package-lock.json
#  3. bpf/ objects and skeletons (make), native/ addon (node-gyp) when their sources changed, TypeScript (tsc)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libiberty-dev make gcc binutils pkg-config
  golang-go linux-perf iproute2 util-linux chromium libbpf-tools prometheus bind9-dnsutils strace)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "kiln setup: missing Debian packages: ${missing[*]} — install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "kiln setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -z "${KILN_IN_NPM_INSTALL:-}" ]; then
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "kiln setup: installing npm packages" >&2
    # npm install, not npm ci: npm records no lock entries for other platforms' optional packages
    # (chdb ships one per platform), and npm ci refuses such a lock. --no-save keeps the lock as committed.
    KILN_IN_NPM_INSTALL=1 npm install --no-save --no-audit --no-fund --loglevel=error
  fi
fi

make -s -C bpf
addon=native/build/Release/kiln_native.node
if [ ! -f "$addon" ] || [ -n "$(find native/src native/binding.gyp bpf/build -newer "$addon" -type f 2>/dev/null | head -1)" ]; then
  echo "kiln setup: building the native addon" >&2
  npx --no-install node-gyp rebuild -C native --loglevel=error >/dev/null
fi
npx --no-install tsc -p .
# compiled files whose source is gone (a module moved or was removed) must not linger and run as tests
find dist -name '*.js' | while read -r js; do
  src="${js#dist/}"
  [ -f "${src%.js}.ts" ] || rm -f "$js" "$js.map"
done

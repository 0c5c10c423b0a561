#!/usr/bin/env bash
# The CPU table (bench/cpu-table.ts) on the 16-core device machine, from the bundles that
#   ../shared/tools/device-kit dist/bin/aft.js dist/bench/cpu-table.js dist/bench/http-floor.js
# packs into .device/: each server pinned to a core of its own, the bench's clients to
# another. Run there as `bash bench/device/cpu-table.sh [folder]` (carry .device), where the
# folder holds a bundle/ of those three (default .device: another build's can sit beside it);
# the table goes to stdout, and to $OUT/cpu-table.md where $OUT is set.
set -euo pipefail
source .device/env.sh
build=${1:-.device}
# The bench spawns ../bin/aft.js and ./http-floor.js beside its own file, as in dist/.
mkdir -p "$build/bin"
# aft.js reads the package.json two folders up, as dist/bin/aft.js does.
[ -f "$build/../package.json" ] || cp package.json "$build/../package.json"
cp "$build/bundle/aft.mjs" "$build/bin/aft.js"
cp "$build/bundle/http-floor.mjs" "$build/bundle/http-floor.js"
echo '{"type":"module"}' >"$build/bin/package.json"
echo '{"type":"module"}' >"$build/bundle/package.json"
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket)' || true
node_cpu=${NODE_CPU:-5} client_cpu=${CLIENT_CPU:-2,3}
echo "build $build: servers on core $node_cpu, clients on cores $client_cpu"
BENCH_NODE_CPUS=$node_cpu BENCH_CPU_RUNS=${BENCH_CPU_RUNS:-3} taskset -c "$client_cpu" \
  node "$build/bundle/cpu-table.mjs" | tee -a "${OUT:-/tmp}/cpu-table.md"

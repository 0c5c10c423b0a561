#!/usr/bin/env bash
# The CPU table (bench/cpu-table.ts) on the 16-core device machine, from the bundles that
#   ../shared/tools/device-kit dist/bin/aft.js dist/bench/cpu-table.js dist/bench/http-floor.js
# packs into .device/: each server pinned to a core of its own, the bench's clients to
# another. Run there as `bash bench/device/cpu-table.sh` (carry .device); the table goes to
# stdout, and to $OUT/cpu-table.md where $OUT is set.
set -euo pipefail
source .device/env.sh
# The bench spawns ../bin/aft.js and ./http-floor.js beside its own file, as in dist/.
mkdir -p .device/bin
cp .device/bundle/aft.mjs .device/bin/aft.js
cp .device/bundle/http-floor.mjs .device/bundle/http-floor.js
echo '{"type":"module"}' >.device/bin/package.json
echo '{"type":"module"}' >.device/bundle/package.json
lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket)' || true
lscpu -e=CPU,CORE 2>/dev/null | head -20 || true
node_cpu=${NODE_CPU:-5} client_cpu=${CLIENT_CPU:-2,3}
echo "servers on core $node_cpu, clients on core $client_cpu"
BENCH_NODE_CPUS=$node_cpu BENCH_CPU_RUNS=${BENCH_CPU_RUNS:-3} taskset -c "$client_cpu" \
  node .device/bundle/cpu-table.mjs | tee "${OUT:-/tmp}/cpu-table.md"

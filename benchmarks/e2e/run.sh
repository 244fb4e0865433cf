#!/usr/bin/env bash
# The end-to-end benchmark (benchmarks/README.md, "End to end"): builds steppewatch and
# steppewatchd in build/e2e, then runs benchmarks/e2e/e2e.py, which starts one broker process,
# loads the input topic, and measures pass-through, offline match, the daemon with the default
# and synthetic packs, live latency and scale-out. Prints a markdown table; results.json and
# every process log stay in the work directory.
#   benchmarks/e2e/run.sh [--quick] [--only passthrough,offline,packs,live,scale]
#                         [--packs default,1k,10k,100k] [--workers N] [--perf record|faults|stat]
#                         [--rounds N] [--alt-build DIR] [--offline-repeat N]
#                         [--glibc-tunables VALUE]
# --rounds/--alt-build: the offline match and each pack's daemon N times, alternating with the
# binaries of another build (an A/B under the same load); --perf: perf record -g (or perf stat
# per thread) of each single-daemon run. Each daemon run reports its CPU per item by thread.
# Environment: BUILD (default build/e2e), WORKDIR (default a new /tmp/steppewatch-e2e.XXXX),
# NO_BUILD=1 to skip the build.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/e2e}
if [[ -z "${NO_BUILD:-}" ]]; then
  [[ -f "$BUILD/build.ninja" ]] || cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" --target steppewatchd steppewatch -j2
fi
WORKDIR=${WORKDIR:-$(mktemp -d /tmp/steppewatch-e2e.XXXX)}
# confluent-kafka is Debian's python3-confluent-kafka: only /usr/bin/python3 sees it. tests/ on
# PYTHONPATH: e2e.py starts the broker and daemons with the test suites' support package.
PYTHONPATH="$PWD/tests${PYTHONPATH:+:$PYTHONPATH}" exec /usr/bin/python3 benchmarks/e2e/e2e.py --build "$(realpath "$BUILD")" --source "$PWD" \
  --workdir "$WORKDIR" "$@"

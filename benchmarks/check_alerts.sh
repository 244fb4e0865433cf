#!/bin/sh
# Prints the SHA-256 of every alert `steppewatch match` writes for the whole bench corpus with
# the default pack, in input order and with a fixed processed_at, so two builds can be compared
# byte for byte: a speed change must not change a single alert.
#   benchmarks/check_alerts.sh [STEPPEWATCH [PACK [CORPUS]]]
# Compare the hash (and the count) of a build before and after the change; the alert file is
# kept in ${TMPDIR:-/tmp}/steppewatch-check-alerts.ndjson for a diff.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/release/steppewatch}
pack=${2:-$here/config/rules/central-asia}
corpus=${3:-$here/../shared/corpus/news-bench.jsonl}
out=${TMPDIR:-/tmp}/steppewatch-check-alerts.ndjson
if [ ! -r "$corpus" ]; then
  echo "check_alerts: no corpus at $corpus" >&2
  exit 2
fi
for threads in 1 2; do
  "$bin" match --rules "$pack" --ordered --no-progress --threads "$threads" \
    --processed-at 2026-01-01T00:00:00.000Z --instance check --output "$out" "$corpus" 2>/dev/null
  printf '%s threads=%s alerts=%s\n' "$(sha256sum < "$out" | cut -c1-64)" "$threads" \
    "$(wc -l < "$out")"
done

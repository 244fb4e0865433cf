#!/bin/sh
# Alternates `steppewatch match` builds over the same input and pack, so that builds compared on
# a shared machine see the same load: per round and build, the CPU (user+sys) of a run over
# INPUT, of a run over no input (the pack load), their difference (the items' CPU), the
# processing seconds of the run's summary line (wall, pack load excluded) and the 1-minute load.
#   benchmarks/alternate_cpu.sh ROUNDS INPUT PACK BIN [BIN...]
# With CACHE_DIR set, every run passes `--cache-dir $CACHE_DIR` (the compiled pack from the
# cache, as the daemon's rules.cache_dir: the pack load no longer compiles, and the run over no
# input that is subtracted is short and steady). Builds with the same cache keys share it.
# Example (the watch-list rows of benchmarks/README.md):
#   benchmarks/alternate_cpu.sh 5 /tmp/s3x10.jsonl /tmp/wl100k /tmp/base/steppewatch \
#       build/release/steppewatch
# PACK may list several packs separated by ':' (`/tmp/wl1k:/tmp/wl100k`): each round then runs
# every pack with every build, one after the other, so that a ratio of two packs (target 16.2)
# compares runs seconds apart rather than two scripts' runs a minute apart; a pack column is
# added after the build's.
set -eu
if [ $# -lt 4 ]; then
  echo "usage: $0 ROUNDS INPUT PACK BIN [BIN...]" >&2
  exit 2
fi
rounds=$1
input=$2
pack=$3
shift 3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Prints "user+sys processing_seconds" of one run over $1.
run() {
  /usr/bin/time -f 'cpu %U %S' -o "$out.time" "$bin" match --rules "$pack" --no-progress \
    ${CACHE_DIR:+--cache-dir "$CACHE_DIR"} --output /dev/null "$1" 2>"$out" >/dev/null
  cpu=$(awk '/^cpu/ {print $2 + $3}' "$out.time")
  proc=$(sed -n 's/^items [0-9]* in \([0-9.]*\) s.*/\1/p' "$out")
  rm -f "$out.time"
  echo "$cpu ${proc:-0}"
}
packs=$pack
case $packs in
*:*) printf 'round bin pack items_cpu_s run_cpu_s load_cpu_s processing_s load\n' ;;
*) printf 'round bin items_cpu_s run_cpu_s load_cpu_s processing_s load\n' ;;
esac
r=1
while [ "$r" -le "$rounds" ]; do
  for bin in "$@"; do
    rest=$packs
    while [ -n "$rest" ]; do
      pack=${rest%%:*}
      case $rest in
      *:*) rest=${rest#*:} ;;
      *) rest= ;;
      esac
      name=$bin
      case $packs in *:*) name="$bin $pack" ;; esac
      full_run=$(run "$input")
      empty_run=$(run /dev/null)
      echo "$r $name $full_run $empty_run $(cut -d' ' -f1 /proc/loadavg)" |
        awk '{n = NF - 5; line = $1; for (i = 2; i <= n; ++i) line = line " " $i;
              printf "%s %.2f %.2f %.2f %s %s\n", line, $(n+1) - $(n+3), $(n+1), $(n+3), $(n+2), $(n+5)}'
    done
  done
  r=$((r + 1))
done

#!/bin/bash
# What a second thread costs: alternates `steppewatch match --threads 1` and `--threads 2` of one
# or more builds over the same input and pack (the order reversed every other round, so builds
# and thread counts see the same load), and prints per round and build the CPU (user+sys) and
# wall seconds of each, the CPU of two threads over one (1.00 = a second thread costs nothing)
# and the wall speed-up (meaningful only when two cores are free), with the 1-minute load.
# Each build keeps its compiled pack in a cache directory of its own (--cache-dir), filled by a
# warm-up run first, so the pack load is the same short cache read in every run.
#   benchmarks/threads_cpu.sh ROUNDS INPUT PACK BIN [BIN...]
# Example (benchmarks/README.md, "Two threads"):
#   benchmarks/threads_cpu.sh 10 /tmp/corpus5.jsonl config/rules/central-asia \
#       /work/main/build/release/steppewatch build/release/steppewatch
set -eu
if [ $# -lt 4 ]; then
  echo "usage: $0 ROUNDS INPUT PACK BIN [BIN...]" >&2
  exit 2
fi
rounds=$1
input=$2
pack=$3
shift 3
bins=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Sets cpu and wall of one run of bin $1 (index $2) with $3 threads.
run() {
  /usr/bin/time -f '%U %S %e' -o "$work/time" "$1" match --rules "$pack" \
    --cache-dir "$work/cache$2" --no-progress --threads "$3" --output /dev/null "$input" \
    2>"$work/err" >/dev/null
  read -r u s e <"$work/time"
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
  wall=$e
}
for i in "${!bins[@]}"; do run "${bins[$i]}" "$i" 1; done  # fills each build's cache
printf 'round bin t1_cpu_s t1_wall_s t2_cpu_s t2_wall_s cpu_t2/t1 wall_t1/t2 load\n'
for r in $(seq "$rounds"); do
  order=("${!bins[@]}")
  if [ $((r % 2)) = 0 ]; then order=($(printf '%s\n' "${order[@]}" | tac)); fi
  declare -A c1 w1 c2 w2
  for t in 1 2; do
    if [ $((r % 2)) = 0 ]; then t=$((3 - t)); fi
    for i in "${order[@]}"; do
      run "${bins[$i]}" "$i" "$t"
      if [ "$t" = 1 ]; then c1[$i]=$cpu w1[$i]=$wall; else c2[$i]=$cpu w2[$i]=$wall; fi
    done
  done
  for i in "${!bins[@]}"; do
    printf '%s %s %s %s %s %s %.3f %.3f %s\n' "$r" "$i" "${c1[$i]}" "${w1[$i]}" "${c2[$i]}" \
      "${w2[$i]}" "$(echo "${c2[$i]} / ${c1[$i]}" | bc -l)" "$(echo "${w1[$i]} / ${w2[$i]}" | bc -l)" \
      "$(cut -d' ' -f1 /proc/loadavg)"
  done
done

#!/usr/bin/env bash
# Golden-file tests of the `steppewatch` CLI as a user runs it: for each case, the exact stdout,
# stderr and exit code are compared with tests/cli/golden/CASE.{stdout,stderr,exit}. Timing
# numbers (compile/load seconds, items/s, MB/s) and database sizes are replaced by X first, so
# the files hold only what must not change.
#
# usage: golden_test.sh STEPPEWATCH CASE [--update]
#   Runs from the source directory, so paths in the output are relative and stable.
set -u
bin="$1"
case_name="$2"
update="${3:-}"
cd "$(dirname "$0")/../.."
golden=tests/cli/golden
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

good=tests/data/rules/good
items=tests/cli/data/items.jsonl
fixed=(--processed-at 2026-01-01T00:00:00.000Z --instance golden)

run() { "$bin" "$@" >"$out/stdout" 2>"$out/stderr"; echo $? >"$out/exit"; }

case "$case_name" in
  help) run --help ;;
  no-command) run ;;
  unknown-command) run frobnicate ;;
  rules-help) run rules --help ;;
  rules-no-subcommand) run rules ;;
  rules-bad-option) run rules check --frobnicate "$good" ;;
  rules-check-good) run rules check "$good" ;;
  rules-check-bad-syntax) run rules check tests/data/rules/bad-syntax ;;
  rules-check-missing-dir) run rules check tests/data/rules/does-not-exist ;;
  rules-test-good) run rules test "$good" --verbose ;;
  rules-test-failing) run rules test tests/data/rules/failing-tests ;;
  rules-test-one-rule) run rules test tests/data/rules/failing-tests --rule kz.quiet --verbose ;;
  rules-test-two-rules) run rules test tests/data/rules/failing-tests --rule kz.russian --rule kz.quiet --verbose ;;
  rules-test-unknown-rule) run rules test tests/data/rules/failing-tests --rule kz.qiet ;;
  rules-check-warnings) run rules check tests/data/rules/lint ;;
  rules-check-strict) run rules check --strict tests/data/rules/lint ;;
  rules-check-strict-clean) run rules check --strict "$good" ;;
  rules-check-undefined-set) run rules check tests/data/rules/bad-typo ;;
  rules-check-bad-regex) run rules check tests/data/rules/bad-regex ;;
  typo-command) run mach ;;
  match-typo-option) run match --rule "$good" "$items" ;;
  match-repeated-option) run match --rules "$good" --threads 2 --threads 3 "$items" ;;
  feed-repeated-property) run feed --property a=b --property c=d --help ;;
  match-help) run match --help ;;
  match-no-rules) run match "$items" ;;
  match-bad-threads) run match --rules "$good" --threads 0 "$items" ;;
  match-ordered) run match --rules "$good" --threads 3 --ordered "${fixed[@]}" "$items" ;;
  match-stdin) "$bin" match --rules "$good" "${fixed[@]}" - <"$items" >"$out/stdout" 2>"$out/stderr"; echo $? >"$out/exit" ;;
  # The default pack over the demo items, one worker (read, process and write on one thread)
  # and three: the same alerts, byte for byte (speed work must not change one).
  match-demo) run match --rules config/rules/central-asia "${fixed[@]}" config/demo/sample-items.jsonl ;;
  match-demo-threads) run match --rules config/rules/central-asia --threads 3 --ordered "${fixed[@]}" config/demo/sample-items.jsonl ;;
  match-invalid-pack) run match --rules tests/data/rules/bad-regex "$items" ;;
  match-summary) run match --rules "$good" --summary --summary-json - --output /dev/null "${fixed[@]}" "$items" ;;
  match-compact) run match --rules "$good" --hits compact --ordered "${fixed[@]}" "$items" ;;
  explain) run explain --rules "$good" --rule kz.china-near "$items" ;;
  explain-unknown-rule) run explain --rules "$good" --rule no.such.rule "$items" ;;
  match-cache)
    # Twice with --cache-dir: the first run compiles and stores, the second loads the pack from
    # the cache; both write the same alerts.
    "$bin" match --rules "$good" --cache-dir "$out/cache" --ordered "${fixed[@]}" "$items" >"$out/first" 2>"$out/first.err"
    run match --rules "$good" --cache-dir "$out/cache" --ordered "${fixed[@]}" "$items"
    cat "$out/first.err" "$out/stderr" >"$out/both.err" && mv "$out/both.err" "$out/stderr"
    cmp -s "$out/first" "$out/stdout" || echo "the two runs' alerts differ" >>"$out/stdout" ;;
  stories-help) run stories --help ;;
  stories-backtest) run stories --warmup-days 1 --now 2026-01-01T00:00:00Z tests/cli/data/stories-alerts.jsonl ;;
  # Two of the four keys tracked: the other two are counted in the summary and never spike.
  stories-max-keys) run stories --warmup-days 1 --max-keys 2 --now 2026-01-01T00:00:00Z tests/cli/data/stories-alerts.jsonl ;;
  stories-bad-input) "$bin" stories --now 2026-01-01T00:00:00Z --rejected "$out/rejected" - <tests/cli/data/stories-bad.jsonl >"$out/stdout" 2>"$out/stderr"; echo $? >"$out/exit"; cat "$out/rejected" >>"$out/stdout" ;;
  stories-bad-flag) run stories --bucket 7x tests/cli/data/stories-alerts.jsonl ;;
  # A hole of 20 days in the stream: counted in the summary, and the burst after it spikes (no new
  # warmup; before 2026-12-06 it raised nothing).
  stories-hole) run stories --now 2026-01-01T00:00:00Z --output /dev/null tests/cli/data/stories-hole.jsonl ;;
  match-threads-agree)
    # Input larger than several of the workers' batches (256 KiB), with blank and bad lines and
    # no final newline: three threads write what one does, and the same line numbers.
    for i in $(seq 30); do cat config/demo/sample-items.jsonl; printf '\n   \n{"id": "bad-%s"\n' "$i"; done |
      head -c -1 >"$out/in"
    for t in 1 3; do
      "$bin" match --rules config/rules/central-asia --threads "$t" --ordered "${fixed[@]}" \
        --dead-letters "$out/dead$t" "$out/in" >"$out/alerts$t" 2>"$out/stderr$t"
      echo $? >"$out/exit"
    done
    {
      cmp -s "$out/alerts1" "$out/alerts3" && echo "alerts identical: $(wc -l <"$out/alerts1") lines"
      cmp -s "$out/dead1" "$out/dead3" && echo "dead letters identical: $(wc -l <"$out/dead3") lines"
      tail -n 1 "$out/dead3"
    } >"$out/stdout"
    cp "$out/stderr3" "$out/stderr" ;;
  *) echo "unknown case $case_name"; exit 2 ;;
esac

# Numbers that vary from run to run or machine to machine.
sed -i -E \
  -e 's/database [0-9.]+ (B|KiB|MiB)/database X/' \
  -e 's/compile [0-9.]+ s, load [0-9.]+ s/compile X s, load X s/' \
  -e 's/^pack (loaded from the cache|compiled \(now cached\)) in [0-9.]+ s$/pack \1 in X s/' \
  -e 's/in [0-9.]+ s: [0-9]+ items\/s, [0-9.]+ MB\/s/in X s: X items\/s, X MB\/s/' \
  -e 's/and memory [0-9.]+ (B|KiB|MiB) at the end/and memory X at the end/' \
  "$out/stdout" "$out/stderr"

if [ "$update" = "--update" ]; then
  for s in stdout stderr exit; do cp "$out/$s" "$golden/$case_name.$s"; done
  exit 0
fi
status=0
for s in stdout stderr exit; do
  if ! diff -u "$golden/$case_name.$s" "$out/$s"; then
    echo "golden mismatch: $case_name.$s (rerun with --update to accept, then review the diff)"
    status=1
  fi
done
exit $status

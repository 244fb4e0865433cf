#!/bin/bash
# Blind spike evaluation (BLIND-SPIKES.md): the same items through the daemon's embedded demo.
# usage: blind_spikes_daemon.sh ITEMS.jsonl OUTPREFIX N_ALERTS [--set K=V ...]
# Runs steppewatchd --embedded --demo ITEMS with the stories role (warm-up 7 days, window 72 h),
# waits for N_ALERTS alerts, reads the spikes and stories topics with `steppewatch tail`, then
# stops the daemon it started (SIGTERM to its own PID).
items=$1; out=$2; want=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
sw=${STEPPEWATCH:-/work/blindbin/steppewatch}; swd=${STEPPEWATCHD:-/work/blindbin/steppewatchd}
"$swd" --embedded --rules "$here/blind_spikes_pack" --demo "$items" --set stories.warmup_days=7 \
  --set stories.window_hours=72 --set metrics.listen=127.0.0.1:0 "$@" > "$out.daemon.out" 2> "$out.daemon.err" &
pid=$!
for i in $(seq 1 120); do grep -q "ready" "$out.daemon.out" 2>/dev/null && break; sleep 0.5; done
port=$(sed -n 's/.*embedded Kafka broker at \(.*\)$/\1/p' "$out.daemon.out")
for i in $(seq 1 240); do [ "$(grep -c '^ALERT' "$out.daemon.out")" -ge "$want" ] && break; sleep 0.5; done
sleep 5
"$sw" tail --brokers "$port" --topic steppewatch.spikes --from-beginning --raw --idle 5 --timeout 60 > "$out.spikes.jsonl" 2> "$out.tail.err"
"$sw" tail --brokers "$port" --topic steppewatch.stories --from-beginning --raw --idle 5 --timeout 60 > "$out.stories.jsonl" 2> "$out.tail2.err"
kill -TERM $pid; wait $pid; echo "daemon exit $?; spikes: $(wc -l < "$out.spikes.jsonl"); stories: $(wc -l < "$out.stories.jsonl")"

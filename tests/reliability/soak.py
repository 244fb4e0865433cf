#!/usr/bin/python3
"""The soak run (tests/RELIABILITY.md): steady load plus periodic faults for --minutes.

On demand, not in CI. `steppewatch feed --rate` sends the seeded items (benchmarks/e2e/gen.py,
repeated with "~rK" id suffixes) into a `steppewatch broker` process for the whole run while one
steppewatchd with the default pack processes them. Every --fault-every seconds one fault goes
through the broker's control FIFO (broker down/up, request errors on Produce/Fetch/OffsetCommit,
300 ms round-trip time), and every --kill-every seconds the daemon is SIGKILLed and restarted.
The daemon's VmRSS, VmHWM and CPU time are sampled every --sample-every seconds into a CSV.

Alerts are checked while they arrive, because the mock broker keeps only ~5 MiB per partition
(older messages are dropped, so they cannot all be read at the end): a confluent-kafka consumer
reads every alert partition from offset 0 and counts, per expected (item, alert message), how many
times it came. At the end, after the group has committed the whole input and the reader has
reached every high watermark, the same check as fault_test.py:
  - nothing lost: every alert message that `steppewatch match` gives offline arrived;
  - nothing invented: no alert for another item or with other rules;
  - duplicates (copies beyond the first) counted;
  - gaps: alert offsets the reader never saw (dropped by the broker before it read them) and
    input the broker dropped before the group committed it are reported, since they would make a
    loss the broker's doing, not the daemon's.
A RESULT {...} line has the figures; the exit code is 1 when anything was lost or invented.

  PYTHONPATH=tests STEPPEWATCH_BUILD_DIR=build/e2e /usr/bin/python3 tests/reliability/soak.py --minutes 30 \\
      --rate 2000 --seed 1 --csv /tmp/soak.csv
"""
import argparse
import csv
import json
import math
import random
import signal
import subprocess
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition, OFFSET_BEGINNING

import support as sw


# Distinct items in the generated file; the feed repeats it. 10k items is 5 s of input at the
# default rate, so a repeat boundary passes every few seconds and ids stay unique across repeats.
BASE_ITEMS = 10000
GROUP = "soak"
# Input partitions: at ~1 KB per item and 2,000 items/s, 48 partitions x ~5 MiB (what the mock
# broker keeps of each) hold about two minutes of input, far more than a daemon restart takes.
INPUT_PARTITIONS = 48
# The mock broker answers a Fetch with one record batch per partition, so a consumer catching up
# reads one producer batch per partition per round trip. At 2,000 items/s over 48 partitions the
# feed's default 5 ms linger makes one-item batches and caps catching up after a fault at about
# the feed rate; 500 ms batches ~20 items (a real broker returns many batches per fetch).
FEED_LINGER_MS = 500


def log(msg):
  print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def offline_messages(path):
  """{item id: [frozenset of rule ids, one per alert message]} from `steppewatch match`."""
  out = subprocess.run([sw.SW, "match", "--rules", sw.DEFAULT_PACK, path], check=True,
                       capture_output=True, timeout=600).stdout
  by_item = {}
  for line in out.splitlines():
    if line.strip().startswith(b"{"):
      a = json.loads(line)
      by_item.setdefault(a["item"]["id"], []).append(frozenset(m["rule"] for m in a["matches"]))
  return by_item


class AlertChecker(threading.Thread):
  """Reads every alert partition from the start while the soak runs and counts arrivals per
  expected (item, message) slot. One byte per slot and repeat (saturating at 255) keeps 3.6 M
  items in a few MB."""

  def __init__(self, kafka, expected, repeats):
    super().__init__(daemon=True)
    self.kafka = kafka
    self.repeats = repeats
    # slot = index of one expected alert message of one base item.
    self.slots = {}  # (base index, rule set) -> slot
    for item_id, sets in expected.items():
      base = int(item_id.split("-")[1])
      for rules in sets:
        self.slots[(base, rules)] = len(self.slots)
    self.counts = bytearray(len(self.slots) * repeats)
    self.messages = 0
    self.invented = 0
    self.invented_examples = []
    self.gaps = 0
    self.next_offset = {}
    self.lock = threading.Lock()
    self.stop_flag = threading.Event()

  def run(self):
    c = Consumer({"bootstrap.servers": self.kafka.bootstrap, "group.id": "soak-checker",
                  "enable.auto.commit": False, "log_level": 3})
    parts = [TopicPartition(t, p, OFFSET_BEGINNING) for t in sw.ALERT_TOPICS
             for p in self.kafka.partitions(t)]
    c.assign(parts)
    while not self.stop_flag.is_set():
      for m in c.consume(1000, 0.2):
        if m.error():
          continue
        self.count(m)
    c.close()

  def count(self, m):
    tp = (m.topic(), m.partition())
    with self.lock:
      want = self.next_offset.get(tp, 0)
      if m.offset() > want:
        self.gaps += m.offset() - want  # the broker dropped them before we read them
      self.next_offset[tp] = m.offset() + 1
      self.messages += 1
      key = (m.key() or b"").decode("utf-8", "replace")
      rules = None
      for k, v in m.headers() or []:
        if k == "steppewatch.rules":
          rules = frozenset(x for x in v.decode().replace(" ", "").split(",") if x)
      if rules is None:
        rules = frozenset(x["rule"] for x in json.loads(m.value())["matches"])
      base_id, _, rep = key.partition("~r")
      try:
        base = int(base_id.split("-")[1])
        r = int(rep) if rep else 0
      except (IndexError, ValueError):
        base, r = -1, -1
      slot = self.slots.get((base, rules))
      if slot is None or not 0 <= r < self.repeats:
        self.invented += 1
        if len(self.invented_examples) < 5:
          self.invented_examples.append((m.topic(), key, sorted(rules)))
        return
      i = slot * self.repeats + r
      if self.counts[i] < 255:
        self.counts[i] += 1

  def position(self):
    with self.lock:
      return dict(self.next_offset)

  def summary(self):
    """Expected, missing and duplicate alert messages over every slot and repeat."""
    with self.lock:
      missing = self.counts.count(0)
      dup = sum(c - 1 for c in self.counts if c > 1)
      return {"expected_alert_messages": len(self.counts), "alert_messages": self.messages,
              "missing": missing, "duplicates": dup, "invented": self.invented,
              "invented_examples": self.invented_examples, "alert_gaps": self.gaps}


class DaemonRun:
  """The current steppewatchd plus the CPU time of the ones that were killed."""

  def __init__(self, tmp, bootstrap):
    self.tmp = tmp
    self.bootstrap = bootstrap
    self.generation = 0
    self.cpu_done = 0.0  # CPU seconds of the previous generations
    self.hwm_max_mb = 0.0
    self.d = None
    self.start()

  def start(self):
    self.generation += 1
    name = f"d{self.generation}"
    cfg = sw.write_daemon_config(self.tmp, name, self.bootstrap, GROUP)
    self.d = sw.Daemon(self.tmp, name, cfg, bootstrap=self.bootstrap)
    try:
      self.d.wait_ready(timeout=120)
    except AssertionError:
      self.d.stop(signal.SIGKILL, timeout=5)
      raise

  def proc(self):
    """(VmRSS MB, VmHWM MB, CPU seconds) of the running daemon, or None."""
    pid = self.d.pid
    rss, hwm, cpu = sw.vm_mb(pid, "VmRSS"), sw.vm_mb(pid, "VmHWM"), sw.cpu_seconds(pid)
    if rss is None or hwm is None or cpu is None:
      return None
    self.hwm_max_mb = max(self.hwm_max_mb, hwm)
    return rss, hwm, cpu

  def cpu_total(self):
    s = self.proc()
    return self.cpu_done + (s[2] if s else 0.0)

  def kill_and_restart(self):
    s = self.proc()
    if s:
      self.cpu_done += s[2]  # the last reading before the kill (at most one sample period old)
    self.d.stop(signal.SIGKILL)
    self.start()


def input_state(kafka):
  """(items in the input topic, committed by the group, input the broker dropped before the group
  committed it), or Nones while the broker is down (metadata requests time out then)."""
  try:
    committed = kafka.committed(GROUP, sw.INPUT)
    in_topic = 0
    dropped = 0
    for p in kafka.partitions(sw.INPUT):
      lo, hi = kafka.meta.get_watermark_offsets(TopicPartition(sw.INPUT, p), timeout=10)
      in_topic += hi
      dropped += max(0, lo - max(committed.get(p, 0), 0))
    return in_topic, sum(max(o, 0) for o in committed.values()), dropped
  except KafkaException:
    return None, None, None


class InputSampler(threading.Thread):
  """Keeps the latest input_state() fresh in the background with its own clients: a metadata
  round trip per partition takes a while under a 300 ms RTT fault, and the fault scheduler and
  the RSS/CPU samples must not wait for it."""

  def __init__(self, bootstrap, period):
    super().__init__(daemon=True)
    self.kafka = sw.Kafka(bootstrap)
    self.period = period
    self.latest = (None, None, None)
    self.max_dropped = 0
    self.paused = threading.Event()  # set while the broker is down: every request would time out
    self.stop_flag = threading.Event()

  def run(self):
    while not self.stop_flag.wait(self.period):
      if self.paused.is_set():
        continue
      state = input_state(self.kafka)
      if state[0] is not None:
        self.latest = state
        self.max_dropped = max(self.max_dropped, state[2])

  def close(self):
    self.stop_flag.set()
    self.join(60)
    self.kafka.close()


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--minutes", type=float, default=30)
  ap.add_argument("--rate", type=int, default=2000, help="items per second")
  ap.add_argument("--seed", type=int, default=1, help="fault order and timing")
  ap.add_argument("--fault-every", type=float, default=60, help="seconds between broker faults")
  ap.add_argument("--kill-every", type=float, default=240,
                  help="seconds between daemon SIGKILL+restarts")
  ap.add_argument("--sample-every", type=float, default=10)
  ap.add_argument("--csv", default=None, help="samples (default: soak.csv in the temp dir)")
  ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
  args = ap.parse_args()

  rng = random.Random(args.seed)
  repeats = max(1, math.ceil(args.minutes * 60 * args.rate / BASE_ITEMS))
  tmp = sw.TempDir("sw-soak-")
  csv_path = args.csv or tmp.file("soak.csv")
  items = tmp.file("items.jsonl")
  sw.gen_items(items, BASE_ITEMS, seed=11)
  expected = offline_messages(items)
  log(f"{BASE_ITEMS} items x {repeats} repeats at {args.rate}/s; {len(expected)} items match "
      f"offline ({sum(len(v) for v in expected.values())} alert messages per repeat); "
      f"temp dir {tmp.path}")

  broker = kafka = checker = daemon = sampler = feed = out = None
  try:
    broker = sw.Broker(tmp, sw.standard_topics(INPUT_PARTITIONS))
    kafka = sw.Kafka(broker.bootstrap)
    checker = AlertChecker(kafka, expected, repeats)
    checker.start()
    daemon = DaemonRun(tmp, broker.bootstrap)
    sampler = InputSampler(broker.bootstrap, args.sample_every / 2)
    sampler.start()
    feed_out = open(tmp.file("feed.out"), "w+")
    # message.timeout.ms=0: the feed never gives up on an item during a broker outage, so every
    # item of every repeat is in the input topic and expected.
    feed = subprocess.Popen([sw.SW, "feed", "--brokers", broker.bootstrap, "--topic", sw.INPUT,
                             "--rate", str(args.rate), "--repeat", str(repeats), "--quiet",
                             "--linger-ms", str(FEED_LINGER_MS),
                             "--property", "message.timeout.ms=0", items],
                            stdout=feed_out, stderr=subprocess.STDOUT)
    start = time.monotonic()
    faults = []  # (seconds since start, what)
    fault_kinds = ["down", "errors", "rtt"]
    next_fault = start + args.fault_every * rng.uniform(0.5, 1.0)
    next_kill = start + args.kill_every * rng.uniform(0.75, 1.0)
    next_sample = start
    undo = None  # (when, commands) ending the current fault
    out = open(csv_path, "w", newline="")
    w = csv.writer(out)
    w.writerow(["t_s", "generation", "pid", "rss_mb", "hwm_mb", "cpu_s_total", "items_in_topic",
                "committed", "alert_messages_read", "fault"])
    current_fault = ""
    while feed.poll() is None or undo:
      now = time.monotonic()
      if not daemon.d.running():
        raise AssertionError(f"daemon exited with {daemon.d.p.returncode}:\n"
                             f"{daemon.d.text()[-3000:]}")
      if undo and now >= undo[0]:
        for cmd in undo[1]:
          broker.control(cmd)
        sampler.paused.clear()
        undo = None
        current_fault = ""
      if feed.poll() is None and undo is None and now >= next_fault:
        kind = fault_kinds[len([f for f in faults if not f[1].startswith("SIGKILL")]) % 3]
        if kind == "down":
          sampler.paused.set()
          broker.control("down 1")
          undo = (now + 5, ["up 1"])  # 5 s: sessions and requests must fail, as in fault_test
          current_fault = "broker down 5 s"
        elif kind == "errors":
          for api, err in (("Produce", "NOT_LEADER_FOR_PARTITION"),
                           ("Fetch", "NOT_LEADER_FOR_PARTITION"),
                           ("OffsetCommit", "COORDINATOR_NOT_AVAILABLE")):
            broker.control(f"errors {api} 5 {err}")
          undo = (now + 1, [])
          current_fault = "request errors x5 on Produce, Fetch, OffsetCommit"
        else:
          broker.control("rtt 1 300")
          undo = (now + 20, ["rtt 1 0"])
          current_fault = "rtt 300 ms for 20 s"
        faults.append((round(now - start), current_fault))
        log(f"fault: {current_fault}")
        next_fault = now + args.fault_every * rng.uniform(0.75, 1.25)
      if feed.poll() is None and undo is None and now >= next_kill:
        faults.append((round(now - start), f"SIGKILL daemon generation {daemon.generation}"))
        log(f"fault: SIGKILL of daemon generation {daemon.generation}, restart")
        daemon.kill_and_restart()
        next_kill = time.monotonic() + args.kill_every * rng.uniform(0.75, 1.25)
      if now >= next_sample:
        s = daemon.proc()
        in_topic, committed, _ = sampler.latest
        row = [round(now - start), daemon.generation, daemon.d.p.pid,
               round(s[0], 1) if s else "", round(s[1], 1) if s else "",
               round(daemon.cpu_total(), 2), "" if in_topic is None else in_topic,
               "" if committed is None else committed, checker.messages, current_fault]
        w.writerow(row)
        out.flush()
        log("sample " + " ".join(str(x) for x in row))
        next_sample += args.sample_every
      time.sleep(0.2)  # the scheduler's tick; work is not waited for here

    feed_out.seek(0)
    feed_text = feed_out.read()
    if feed.returncode != 0:
      raise AssertionError(f"feed failed ({feed.returncode}): {feed_text}")
    feed_stats = json.loads([l for l in feed_text.splitlines() if l.startswith("{")][-1])
    log(f"feed done: {feed_stats}")
    kafka.wait_consumed(GROUP, sw.INPUT, 600, [daemon.d])
    target = {(t, p): h for t in sw.ALERT_TOPICS for p, h in kafka.high(t).items()}
    sw.wait_until(lambda: all(checker.position().get(k, 0) >= h for k, h in target.items() if h),
                  300, "the alert reader to reach every high watermark")
    s = daemon.proc()
    cpu = daemon.cpu_total()
    elapsed = time.monotonic() - start
    rc = daemon.d.stop(signal.SIGTERM)
    checker.stop_flag.set()
    checker.join(30)
    _, _, dropped = input_state(kafka)
    input_dropped_unconsumed = max(sampler.max_dropped, dropped or 0)
    processed = feed_stats["delivered"]
    result = {"minutes": round(elapsed / 60, 1), "rate": args.rate, "seed": args.seed,
              "items": processed, "repeats": repeats, **checker.summary(),
              "faults": len(faults),
              "sigkills": len([f for f in faults if f[1].startswith("SIGKILL")]),
              "input_dropped_before_commit": input_dropped_unconsumed,
              "daemon_cpu_s": round(cpu, 1), "cpu_us_per_item": round(cpu / processed * 1e6, 1),
              "rss_end_mb": round(s[0], 1) if s else None, "hwm_max_mb": round(daemon.hwm_max_mb, 1),
              "final_sigterm_exit": rc}
    print("RESULT", json.dumps(result), flush=True)
    print("FAULTS", json.dumps(faults), flush=True)
    print("CSV", csv_path, flush=True)
    ok = result["missing"] == 0 and result["invented"] == 0 and rc == 0
    return 0 if ok else 1
  finally:
    if out:
      out.close()
    if feed and feed.poll() is None:
      feed.kill()
      feed.wait()
    if checker:
      checker.stop_flag.set()
    if daemon and daemon.d.running():
      daemon.d.stop(signal.SIGKILL, timeout=5)
    if sampler:
      sampler.close()
    if kafka:
      kafka.close()
    if broker:
      broker.stop()
    if args.keep or args.csv is None:
      log(f"kept {tmp.path}")
    else:
      tmp.cleanup()

if __name__ == "__main__":
  sys.exit(main())

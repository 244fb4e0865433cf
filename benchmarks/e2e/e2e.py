#!/usr/bin/python3
"""End-to-end benchmark of steppewatchd. Run it through benchmarks/e2e/run.sh.

One broker process (`steppewatch broker`), one input topic filled once, then in the same run:
  1. pass-through: `steppewatch tail --quiet` in a fresh consumer group reads the whole topic and
     does nothing: the rate the broker and librdkafka can deliver, the baseline of every ratio;
  2. offline: `steppewatch match` over the same file, for the CPU cost per item without Kafka;
  3. throughput: steppewatchd with the default pack and with 1k/10k/100k-term synthetic packs,
     each in a new group reading the topic from the start;
  4. live: steppewatchd on a second topic fed at 10/50/90% of the measured maximum rate; latency
     from each item's Kafka timestamp to the moment a subscriber (`steppewatch tail`) receives
     its alert, p50/p99/p999;
  5. scale-out: 1, 2 and 3 daemons in one group on the prefilled topic.

How "done" is detected: the daemon stores an offset only after all of an item's alerts are
acknowledged, and commits stored offsets every `auto.commit.interval.ms` (set to 100 ms here).
This script polls the group's committed offsets with confluent-kafka (without joining the group)
every 100 ms; the run is done when they reach the topic's high watermarks. The rate is measured
from the first poll that sees progress to the last, so start-up (pack compile, the mock
cluster's 3 s group join) is excluded and reported separately.

CPU: utime+stime from /proc/<pid>/stat over the same interval (CPU seconds per million items).
Peak RSS: VmHWM from /proc/<pid>/status just before the daemon is stopped.
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time

import support as sw

POLL_S = 0.1  # progress poll period; bounds the timing error of one run to ~0.2 s


def log(*a):
  print("[e2e %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class Proc(sw.LoggedProcess):
  """A daemon or the broker, its output in the work directory, with CPU and memory read from
  /proc (tests/support, as the test suites use it)."""

  def stop(self, sig=signal.SIGTERM, timeout=30):
    return super().stop(sig, timeout)


def thread_cpu(pid):
  """Per thread name: CPU seconds (user + system) and context switches (voluntary,
  involuntary) of the threads of `pid`, summed (librdkafka's threads are rdk:main,
  rdk:broker<N>...; the pipeline names its own), from /proc."""
  out = {}
  try:
    tids = os.listdir(f"/proc/{pid}/task")
  except FileNotFoundError:
    return out
  for tid in tids:
    try:
      with open(f"/proc/{pid}/task/{tid}/stat") as f:
        text = f.read()
      with open(f"/proc/{pid}/task/{tid}/status") as f:
        status = dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)
    except (FileNotFoundError, ProcessLookupError):
      continue
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    # Per-instance numbers (rdk:broker12, sw-worker-1) are folded so runs compare.
    key = name.rstrip("0123456789").rstrip("-") or name
    cpu, vol, invol = out.get(key, (0, 0, 0))
    out[key] = (cpu + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"),
                vol + int(status.get("voluntary_ctxt_switches", 0)),
                invol + int(status.get("nonvoluntary_ctxt_switches", 0)))
  return out


def minor_faults(pid):
  """Minor page faults of `pid` so far (/proc/PID/stat): each is a page the kernel maps, most
  often zeroed, for memory the process touches for the first time (or again after a free gave
  it back)."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      return int(f.read().rsplit(")", 1)[1].split()[7])
  except (FileNotFoundError, ProcessLookupError):
    return None


def by_thread(before, after, items):
  """Per thread name between two thread_cpu() samples: [us of CPU per item, voluntary and
  involuntary context switches per 1000 items]."""
  res = {}
  for k in sorted(after):
    b = before.get(k, (0, 0, 0))
    d = [after[k][i] - b[i] for i in range(3)]
    if items and (d[0] > 0 or d[1] or d[2]):
      res[k] = [round(d[0] / items * 1e6, 2), round(d[1] / items * 1e3, 1),
                round(d[2] / items * 1e3, 1)]
  return res


def histogram_buckets(metrics_text, name):
  buckets = []
  for line in (metrics_text or "").splitlines():
    if line.startswith(name + "_bucket{"):
      le = line.split('le="', 1)[1].split('"', 1)[0]
      buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
  return buckets


def histogram_quantiles(after, before, name, qs=(0.5, 0.99)):
  """Quantiles (ms, bucket upper bounds: an upper estimate) of a Prometheus histogram between
  two scrapes."""
  b0 = dict(histogram_buckets(before, name))
  buckets = [(le, c - b0.get(le, 0)) for le, c in histogram_buckets(after, name)]
  if not buckets or buckets[-1][1] == 0:
    return None
  total = buckets[-1][1]
  out = {"n": int(total)}
  for q in qs:
    for le, c in buckets:
      if c >= q * total:
        out[f"p{int(q * 100)}"] = le * 1000 if le != float("inf") else None
        break
  return out


def scrape(d):
  """The daemon's /metrics page (its port is in its log), or None."""
  url = d.metrics_url()
  status, body = sw.http_get(url) if url else (0, "")
  return body if status == 200 else None


def stage_quantiles(after, before):
  """The daemon's own stage histograms between two scrapes: where the time went."""
  if after is None:
    return None
  return {short: histogram_quantiles(after, before, name) for short, name in (
      ("consume_age_ms", "steppewatch_item_consume_age_seconds"),
      ("queue_wait_ms", "steppewatch_item_queue_wait_seconds"),
      ("processing_ms", "steppewatch_item_processing_seconds"),
      ("end_to_end_ms", "steppewatch_end_to_end_latency_seconds"))}


def start_broker(binary, topics, workdir):
  b = sw.Broker(sw.TempDir(path=workdir), [f"{t}:{n}" for t, n in topics.items()],
                control=False, binary=binary)
  return b, b.bootstrap


# librdkafka properties for the live mode's feeder and subscriber (--live-client-prop).
LIVE_CLIENT_PROPS = []


def feed(sw, bootstrap, topic, path, repeat=1, rate=None, linger_ms=None, props=()):
  args = [sw, "feed", "--brokers", bootstrap, "--topic", topic, "--repeat", str(repeat), "--quiet"]
  for kv in props:
    args += ["--property", kv]
  if rate:
    args += ["--rate", str(rate)]
  if linger_ms is not None:
    args += ["--linger-ms", str(linger_ms)]
  out = subprocess.run(args + [path], check=True, capture_output=True, text=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


class Watcher(sw.Kafka):
  """Reads high watermarks and groups' committed offsets without joining any group (one idle
  consumer per group, reused: committed() asks the group coordinator directly)."""

  def __init__(self, bootstrap):
    super().__init__(bootstrap, group="e2e-watcher")

  def high_sum(self, topic):
    return sum(self.high(topic).values())

  def low_sum(self, topic):
    return self.low(topic)

  def committed_sum(self, group, topic, parts):
    return sum(max(o, 0) for o in self.committed(group, topic, parts).values())


# --perf record|faults|stat: `perf record -g` (faults: `perf record -e page-faults -g`, where the
# daemon's minor faults come from; or `perf stat --per-thread` of instructions, cycles and context
# switches) of each single-instance daemon run over its measured interval, into
# WORKDIR/<run>.perf.record (.perf.faults, .perf.stat).
PERF = None

# librdkafka properties added to every daemon config (--daemon-prop consumer.KEY=VALUE or
# producer.KEY=VALUE); empty = the daemon's defaults.
DAEMON_PROPS = {"consumer": {}, "producer": {}}


# --workers: pipeline.workers of every daemon (0: one per core, the daemon's default).
WORKERS = 0


def write_config(name, bootstrap, topic, group, rules, workdir, workers=None, props=None):
  """Writes the daemon's YAML config for one run (tests/support's, with the benchmark's
  librdkafka properties, auto workers and warning-level logs) and returns its path."""
  props = props or DAEMON_PROPS
  workers = WORKERS if workers is None else workers
  return sw.write_daemon_config(
      sw.TempDir(path=workdir), name, bootstrap, group, rules=rules, workers=workers, topic=topic,
      consumer=props["consumer"], producer=props["producer"],
      cache_dir=os.path.join(workdir, "hs-cache"), extra="log:\n  level: warning\n")


def daemon_args(ctx, config, rules, bootstrap, swd=None):
  return [swd or ctx.swd, "--config", config, "--rules", rules, "--brokers", bootstrap]


def run_daemons(ctx, name, rules, topic, total, instances=1, timeout=600, swd=None):
  """Runs `instances` daemons in one new group until the group has committed `total` items."""
  group = f"e2e-{name}-{int(time.time() * 1000)}"
  cfg = write_config(name, ctx.bootstrap, topic, group, rules, ctx.workdir)
  alerts_before = {t: ctx.w.high_sum(t) for t in ctx.alert_topics}
  dlq_before = ctx.w.high_sum(ctx.dlq_topic)
  parts = ctx.w.partitions(topic)
  start = time.time()
  broker_cpu0 = ctx.broker.cpu_seconds()
  procs = [Proc(daemon_args(ctx, cfg, rules, ctx.bootstrap, swd),
                os.path.join(ctx.workdir, f"{name}.{i}.log")) for i in range(instances)]
  t0 = c0 = cpu0 = None
  threads0 = faults0 = perf = None
  done_at = None
  last = 0
  deadline = start + timeout
  while time.time() < deadline:
    time.sleep(POLL_S)
    if any(p.p.poll() is not None for p in procs):
      log(f"{name}: a daemon exited early (rc={[p.p.poll() for p in procs]}); see "
          f"{procs[0].log_path}")
      break
    c = ctx.w.committed_sum(group, topic, parts)
    now = time.time()
    if t0 is None and c > 0:
      t0, c0 = now, c
      cpu0 = sum(p.cpu_seconds() or 0 for p in procs)
      threads0 = thread_cpu(procs[0].pid)
      faults0 = minor_faults(procs[0].pid)
      if PERF and instances == 1:
        what = {"record": ["record", "-g", "-q"],
                "faults": ["record", "-e", "page-faults", "-g", "-q"],
                "stat": ["stat", "--per-thread", "-e", "instructions,cycles,context-switches"]}[PERF]
        perf = subprocess.Popen(
            ["perf"] + what + ["-p", str(procs[0].pid), "-o",
                               os.path.join(ctx.workdir, f"{name}.perf.{PERF}")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = c
    if c >= total:
      done_at = now
      break
  cpu1 = sum(p.cpu_seconds() or 0 for p in procs)
  threads1 = thread_cpu(procs[0].pid)
  faults1 = minor_faults(procs[0].pid)
  if perf is not None:
    perf.send_signal(signal.SIGINT)
    perf.wait()
  hwm = max((p.hwm_mb() or 0) for p in procs)
  rcs = [p.stop() for p in procs]
  res = {"name": name, "instances": instances, "items": total, "committed": last,
         "exit_codes": rcs, "startup_to_progress_s": (t0 - start) if t0 else None,
         "peak_rss_mb": round(hwm, 1)}
  if done_at and t0 and done_at > t0:
    n = total - c0
    secs = done_at - t0
    res.update({"seconds": round(secs, 2), "items_per_s": round(n / secs),
                "mb_per_s": round(ctx.bytes_per_item * n / secs / 1e6, 1),
                "cpu_s_per_m_items": round((cpu1 - cpu0) / n * 1e6, 2) if n else None})
    if instances == 1 and threads0 is not None:
      # Where the daemon's CPU went, per thread name: the consumer thread, the workers, the
      # producer's poll thread and librdkafka's own threads; [us of CPU per item, voluntary and
      # involuntary context switches per 1000 items].
      res["by_thread"] = by_thread(threads0, threads1, n)
      if faults0 is not None and faults1 is not None:
        res["minor_faults_per_k_items"] = round((faults1 - faults0) / n * 1e3, 1)
  else:
    res["error"] = f"not done: committed {last} of {total}"
  res["broker_cpu_s"] = round(ctx.broker.cpu_seconds() - broker_cpu0, 1)
  res["alerts"] = sum(ctx.w.high_sum(t) - alerts_before[t] for t in ctx.alert_topics)
  res["dead_letters"] = ctx.w.high_sum(ctx.dlq_topic) - dlq_before
  log(name, json.dumps(res))
  return res


def pass_through(ctx, topic, total):
  group = f"e2e-passthrough-{int(time.time() * 1000)}"
  broker_cpu0 = ctx.broker.cpu_seconds()
  p = subprocess.Popen([ctx.sw, "tail", "--brokers", ctx.bootstrap, "--topic", topic, "--group", group,
            "--from-beginning", "--quiet", "--count", str(total), "--timeout", "600",
            # Fetches may wait for more data: this reader wants throughput, not latency.
            "--property", "fetch.wait.max.ms=100",
            "--summary-json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  _, status, ru = os.wait4(p.pid, 0)
  p.returncode = os.waitstatus_to_exitcode(status)
  summary = json.loads(p.stdout.read().strip().splitlines()[-1])
  secs = summary["first_to_last_seconds"]
  n = summary["messages"]
  res = {"name": "pass-through", "items": n, "seconds": round(secs, 2),
         "items_per_s": round(n / secs) if secs else None,
         "mb_per_s": round(summary["bytes"] / secs / 1e6, 1) if secs else None,
         "cpu_s_per_m_items": round((ru.ru_utime + ru.ru_stime) / n * 1e6, 2) if n else None,
         "peak_rss_mb": round(ru.ru_maxrss / 1024, 1), "exit_code": p.returncode,
         "broker_cpu_s": round(ctx.broker.cpu_seconds() - broker_cpu0, 1)}
  log("pass-through", json.dumps(res))
  return res


def offline_match(ctx, rules, path, items, sw=None, repeat=1):
  def run(input_path):
    p = subprocess.Popen([sw or ctx.sw, "match", "--rules", rules, input_path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    return ru.ru_utime + ru.ru_stime, ru, status
  # The same command over no input: the pack load, which the daemon's figure leaves out (its
  # CPU is counted from the first progress), so it is subtracted here too.
  empty = os.path.join(ctx.workdir, "empty.jsonl")
  open(empty, "w").close()
  load_cpu = min(run(empty)[0] for _ in range(2))
  # --offline-repeat: the median of several runs (one run of ~0.2 s of CPU moved by 30-50%
  # between the two builds' turns on a loaded machine, the same code).
  start = time.time()
  runs = sorted((run(path) for _ in range(repeat)), key=lambda r: r[0])
  cpu, ru, status = runs[len(runs) // 2]
  res = {"name": "offline match (default pack)", "items": items,
         "seconds": round((time.time() - start) / repeat, 2),
         "cpu_runs_s": [round(r[0], 3) for r in runs],
         "cpu_s_per_m_items": round(max(cpu - load_cpu, 0) / items * 1e6, 2),
         "pack_load_cpu_s": round(load_cpu, 2),
         "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
         "exit_code": os.waitstatus_to_exitcode(status)}
  log("offline", json.dumps(res))
  return res


def live(ctx, rules, rate, seconds, sample_path, sample_items):
  """Feeds the live topic at `rate` items/s and measures item -> alert latency."""
  topic = ctx.live_topic
  name = f"live-{rate}"
  group = f"e2e-{name}-{int(time.time() * 1000)}"
  cfg = write_config(name, ctx.bootstrap, topic, group, rules, ctx.workdir)
  d = Proc(daemon_args(ctx, cfg, rules, ctx.bootstrap), os.path.join(ctx.workdir, f"{name}.log"))
  parts = ctx.w.partitions(topic)
  # Warm-up: wait until the daemon has joined its group and committed one small batch, so
  # that the measurement does not include the first join or the first metadata round trips.
  base = ctx.w.high_sum(topic)
  feed(ctx.sw, ctx.bootstrap, topic, ctx.warmup_path)
  warm_total = ctx.w.high_sum(topic)
  deadline = time.time() + 60
  while ctx.w.committed_sum(group, topic, parts) < warm_total and time.time() < deadline:
    time.sleep(POLL_S)
  tail = subprocess.Popen([ctx.sw, "tail", "--brokers", ctx.bootstrap, "--topic",
                           ",".join(ctx.alert_topics), "--quiet", "--latency", "--summary-json",
                           "--timeout", str(seconds + 180)]
                          + [a for kv in LIVE_CLIENT_PROPS for a in ("--property", kv)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  time.sleep(1.0)  # the tail assigns partitions at their end: give it its first fetch round
  repeat = max(1, int(rate * seconds / sample_items + 0.999))
  metrics0 = scrape(d)
  cpu0 = d.cpu_seconds()
  f = feed(ctx.sw, ctx.bootstrap, topic, sample_path, repeat=repeat, rate=rate, linger_ms=1,
           props=LIVE_CLIENT_PROPS)
  target = ctx.w.high_sum(topic)
  deadline = time.time() + 60
  while ctx.w.committed_sum(group, topic, parts) < target and time.time() < deadline:
    time.sleep(POLL_S)
  cpu1 = d.cpu_seconds()
  hwm = d.hwm_mb()
  stages = stage_quantiles(scrape(d), metrics0)
  # Every alert is acknowledged by now (offsets are stored only after that); the subscriber
  # reads with a 10 ms fetch wait, so 2 s is ample for the last ones to reach it.
  time.sleep(2)
  tail.send_signal(signal.SIGINT)
  out, _ = tail.communicate()
  rc = d.stop()
  s = json.loads(out.strip().splitlines()[-1])
  res = {"name": name, "rate": rate, "items": f["produced"],
         "achieved_rate": round(f["produced"] / f["produce_seconds"]),
         "alerts": s["messages"], "latency_ms": s["receive_latency_ms"],
         "produce_ts_latency_ms": s["kafka_timestamp_latency_ms"],
         "cpu_s_per_m_items": round((cpu1 - cpu0) / f["produced"] * 1e6, 2),
         "peak_rss_mb": round(hwm or 0, 1), "exit_code": rc,
         # The daemon's histograms over the measured feed (bucket upper bounds).
         "daemon_stages": stages}
  log(name, json.dumps(res))
  return res


def fmt(v, nd=0):
  if v is None:
    return "-"
  if isinstance(v, float):
    return f"{v:.{nd}f}"
  return str(v)


def table(results, baseline):
  rows = ["| run | items | items/s | MB/s | ratio | CPU s/M items | peak RSS MB | alerts | "
          "latency p50/p99/p999 ms | load |", "|---|---|---|---|---|---|---|---|---|---|"]
  for r in results:
    ratio = (r.get("items_per_s") / baseline) if r.get("items_per_s") and baseline else None
    lat = r.get("latency_ms")
    lat_s = f"{lat['p50']}/{lat['p99']}/{lat['p999']} (n={lat['n']})" if lat and lat.get("n") else "-"
    ips = r.get("items_per_s") or (f"{r['achieved_rate']} (fed)" if "achieved_rate" in r else None)
    rows.append(f"| {r['name']} | {fmt(r.get('items'))} | {fmt(ips)} | {fmt(r.get('mb_per_s'))} | "
                f"{fmt(ratio, 2)} | {fmt(r.get('cpu_s_per_m_items'), 2)} | {fmt(r.get('peak_rss_mb'))} | "
                f"{fmt(r.get('alerts'))} | {lat_s} | {fmt(r.get('load1'), 1)} |")
  return "\n".join(rows)


class Ctx:
  pass


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--build", required=True)
  ap.add_argument("--source", required=True)
  ap.add_argument("--quick", action="store_true")
  ap.add_argument("--workdir", required=True)
  ap.add_argument("--only", default="passthrough,offline,packs,live,scale",
                  help="comma list of stages to run")
  ap.add_argument("--packs", default="default,1k,10k,100k")
  ap.add_argument("--daemon-prop", action="append", default=[],
                  help="consumer.KEY=VALUE or producer.KEY=VALUE for every daemon config")
  ap.add_argument("--perf", choices=("record", "faults", "stat"),
                  help="perf record -g (faults: of the page-fault event, -g) or perf stat per "
                       "thread of each single-daemon run (WORKDIR/<run>.perf.record, "
                       ".perf.faults or .perf.stat)")
  ap.add_argument("--rounds", type=int, default=1,
                  help="run the offline match and the pack daemons this many times")
  ap.add_argument("--alt-build", default=None,
                  help="another build directory whose daemon (and offline match) runs after "
                       "this build's in every round: an A/B comparison under the same load")
  ap.add_argument("--offline-repeat", type=int, default=1,
                  help="with --rounds: each offline figure is the median of this many runs")
  ap.add_argument("--workers", type=int, default=0,
                  help="worker threads of every daemon (default 0: one per core)")
  ap.add_argument("--live-seconds", type=float, default=None)
  ap.add_argument("--live-client-prop", action="append", default=[],
                  help="K=V librdkafka property for the live feeder and subscriber")
  ap.add_argument("--live-fractions", default="0.1,0.5,0.9",
                  help="live mode rates as fractions of the measured (or --max-rate) maximum")
  ap.add_argument("--max-rate", type=int, default=20000,
                  help="live mode rate base when the packs stage does not run")
  ap.add_argument("--glibc-tunables", default="glibc.malloc.hugetlb=1",
                  help="GLIBC_TUNABLES of every process the run starts (default: what the "
                       "daemon's systemd unit and container image set; '' for none)")
  args = ap.parse_args()
  # Every process of the run (broker, feeder, pass-through reader, offline match, daemons) gets
  # the daemon's deployed malloc setting. Without it the pass-through reader measured this VM's
  # page faults, not the broker: glibc maps each of librdkafka's multi-MiB fetch buffers afresh,
  # and a first touch costs ~5 us per 4 KiB page here (2026-12-04: 107k faults, 1.7 s of system
  # time, 138k items/s; with the setting 8k faults, 0.4 s, 227k items/s).
  if args.glibc_tunables:
    os.environ["GLIBC_TUNABLES"] = args.glibc_tunables
  else:
    os.environ.pop("GLIBC_TUNABLES", None)
  only = set(args.only.split(","))
  LIVE_CLIENT_PROPS.extend(args.live_client_prop)
  global PERF, WORKERS
  PERF = args.perf
  WORKERS = args.workers
  for kv in args.daemon_prop:
    client, rest = kv.split(".", 1)
    k, v = rest.split("=", 1)
    DAEMON_PROPS[client][k] = v

  ctx = Ctx()
  ctx.sw = os.path.join(args.build, "steppewatch")
  ctx.swd = os.path.join(args.build, "steppewatchd")
  ctx.workdir = args.workdir
  os.makedirs(ctx.workdir, exist_ok=True)
  gen = os.path.join(args.source, "benchmarks/e2e/gen.py")
  corpus = os.path.normpath(os.path.join(args.source, "../shared/corpus/news-bench.jsonl"))
  default_pack = os.path.join(args.source, "config/rules/central-asia")

  if os.path.exists(corpus):
    sample, sample_items, source = corpus, sum(1 for _ in open(corpus, "rb")), "news-bench.jsonl"
  else:
    sample = os.path.join(ctx.workdir, "synthetic-items.jsonl")
    sample_items = 50000
    with open(sample, "w") as f:
      subprocess.run([gen, "items", "--count", str(sample_items)], stdout=f, check=True)
    source = "synthetic (gen.py items)"
  repeat = 1 if args.quick else max(1, -(-500000 // sample_items))
  ctx.warmup_path = os.path.join(ctx.workdir, "warmup.jsonl")
  with open(sample, "rb") as src, open(ctx.warmup_path, "wb") as dst:
    for i, line in enumerate(src):
      if i >= 200:
        break
      dst.write(line.replace(b'"id": "', b'"id": "warmup-', 1))

  in_topic, ctx.live_topic, ctx.dlq_topic = "news.items", "news.live", "steppewatch.dead-letter"
  ctx.alert_topics = ["alerts.central-asia", "alerts.central-asia.urgent", "alerts.synthetic",
                      "steppewatch.alerts"]
  # 128 input partitions: the mock cluster keeps ~5 MiB per partition, and 10 repeats of the
  # corpus are ~440 MB.
  topics = {in_topic: 128, ctx.live_topic: 64, ctx.dlq_topic: 8, "alerts.central-asia": 32,
            "alerts.central-asia.urgent": 8, "alerts.synthetic": 64, "steppewatch.alerts": 8}
  broker, ctx.bootstrap = start_broker(ctx.sw, topics, ctx.workdir)
  ctx.broker = broker
  log("broker at", ctx.bootstrap)
  ctx.w = Watcher(ctx.bootstrap)
  results = []

  def add(r):
    # The 1-minute load average when the run ended: this machine is shared, so a high value
    # (> 2 on 2 cores) marks a run whose rates are depressed by other work.
    r["load1"] = round(os.getloadavg()[0], 1)
    results.append(r)
    return r
  cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), platform.machine())
  meta = {"source": source, "repeat": repeat, "quick": args.quick,
          "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
          "machine": f"{os.cpu_count()} cores, {cpu_model}, load average at start "
                     f"{os.getloadavg()[0]:.1f}",
          "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
  try:
    f = feed(ctx.sw, ctx.bootstrap, in_topic, sample, repeat=repeat)
    total = ctx.w.high_sum(in_topic)
    low = ctx.w.low_sum(in_topic)
    ctx.bytes_per_item = f["bytes"] / f["produced"]
    meta.update({"items": total, "bytes": f["bytes"], "load_items_per_s": round(f["produced"] / f["seconds"])})
    log(f"loaded {total} items ({f['bytes'] / 1e6:.0f} MB) in {f['seconds']:.1f} s; low watermark sum {low}")
    if low != 0 or total != f["produced"]:
      raise SystemExit(f"broker dropped items (low watermarks {low}, high {total}, produced "
                       f"{f['produced']}): use more partitions")
    baseline = None
    if "passthrough" in only:
      pt = pass_through(ctx, in_topic, total)
      baseline = pt.get("items_per_s")
      add(pt)
    if "offline" in only and args.rounds == 1:
      add(offline_match(ctx, default_pack, sample, sample_items))
    packs = {"default": default_pack}
    for label, n in (("1k", 1000), ("10k", 10000), ("100k", 100000)):
      if label in args.packs.split(","):
        d = os.path.join(ctx.workdir, f"pack-{label}")
        if not os.path.exists(os.path.join(d, "pack.yaml")):
          subprocess.run([gen, "pack", "--terms", str(n), "--out", d], check=True)
        packs[label] = d
    max_rate = None
    if "packs" in only:
      # --rounds N (and --alt-build): the offline run and each pack's daemon N times, each
      # followed by the other build's, so that both meet the same load.
      builds = [("", args.build)] + ([("alt ", args.alt_build)] if args.alt_build else [])
      for rnd in range(args.rounds):
        suffix = f"-r{rnd + 1}" if args.rounds > 1 else ""
        for tag, build in builds:
          if "offline" in only and args.rounds > 1:
            r = add(offline_match(ctx, default_pack, sample, sample_items,
                                  sw=os.path.join(build, "steppewatch"),
                                  repeat=args.offline_repeat))
            r["name"] = f"{tag}offline{suffix}"
          for label in args.packs.split(","):
            r = add(run_daemons(ctx, f"{tag.strip()}{'-' if tag else ''}daemon-{label}{suffix}",
                                packs[label], in_topic, total,
                                swd=os.path.join(build, "steppewatchd")))
            if label == "default" and not tag:
              max_rate = max_rate or r.get("items_per_s")
    if "live" in only:
      max_rate = max_rate or args.max_rate
      secs = args.live_seconds or (5 if args.quick else 20)
      for frac in (float(f) for f in args.live_fractions.split(",")):
        add(live(ctx, default_pack, int(max_rate * frac), secs, sample, sample_items))
    if "scale" in only:
      for n in (1, 2, 3):
        add(run_daemons(ctx, f"scale-{n}x", default_pack, in_topic, total, instances=n))
    if "passthrough" in only:
      # Again at the end: the machine is shared, so the baseline is the better of two samples.
      pt2 = pass_through(ctx, in_topic, total)
      pt2["name"] = "pass-through (again, at the end)"
      add(pt2)
      baseline = max(baseline or 0, pt2.get("items_per_s") or 0) or None
  finally:
    ctx.w.close()
    broker.stop()
  print(f"\nEnd-to-end, {meta['date']}, {meta['machine']}; input {meta['items']} items from "
        f"{meta['source']} (x{meta['repeat']}); GLIBC_TUNABLES={meta['glibc_tunables'] or '(none)'}\n")
  print(table(results, baseline))
  with open(os.path.join(ctx.workdir, "results.json"), "w") as f:
    json.dump({"meta": meta, "results": results}, f, indent=1)
  print(f"\nresults: {os.path.join(ctx.workdir, 'results.json')}")


if __name__ == "__main__":
  main()

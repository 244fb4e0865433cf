"""Support for the script integration tests: a broker process, daemons, external clients.

Every test starts its own `steppewatch broker` process (a real Kafka-protocol broker, librdkafka's
mock cluster) and runs steppewatchd as a separate process against it; items go in and alerts come
out through real external clients (kcat, Python confluent-kafka). Nothing here sleeps to wait for
work: every wait polls a condition (committed offsets, high watermarks, a line of output) against
a deadline and fails with what it saw.

Paths come from the environment that tests.cmake sets: STEPPEWATCH_BUILD_DIR, STEPPEWATCH_SOURCE_DIR.
Run by hand: STEPPEWATCH_BUILD_DIR=build/e2e STEPPEWATCH_SOURCE_DIR=. /usr/bin/python3 FILE.py
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from confluent_kafka import Consumer, TopicPartition

SOURCE = os.path.abspath(os.environ.get("STEPPEWATCH_SOURCE_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..")))
BUILD = os.path.abspath(os.environ.get("STEPPEWATCH_BUILD_DIR", os.path.join(SOURCE, "build/e2e")))
SW = os.path.join(BUILD, "steppewatch")
SWD = os.path.join(BUILD, "steppewatchd")
DEFAULT_PACK = os.path.join(SOURCE, "config/rules/central-asia")
GEN = os.path.join(SOURCE, "benchmarks/e2e/gen.py")
SHARED_CORPUS = os.path.normpath(os.path.join(SOURCE, "../shared/corpus"))

INPUT = "news.items"
DLQ = "steppewatch.dead-letter"
# The default pack's alert topics, plus the daemon's default for rules that name none.
ALERT_TOPICS = ["alerts.central-asia", "alerts.central-asia.urgent", "steppewatch.alerts"]


def wait_until(predicate, timeout, what, period=0.05):
  """Polls `predicate` until it returns a true value; fails after `timeout` seconds."""
  deadline = time.monotonic() + timeout
  last = None
  while time.monotonic() < deadline:
    last = predicate()
    if last:
      return last
    time.sleep(period)
  raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class TempDir:
  def __init__(self, prefix="sw-it-"):
    self.path = tempfile.mkdtemp(prefix=prefix)

  def file(self, name):
    return os.path.join(self.path, name)

  def cleanup(self):
    shutil.rmtree(self.path, ignore_errors=True)

  def release(self):
    """Removes the directory at the end of a test, or keeps it (logs, configs) and says where
    when KEEP_TMP=1 is set."""
    if os.environ.get("KEEP_TMP"):
      print("kept", self.path)
    else:
      self.cleanup()


class Broker:
  """`steppewatch broker` in its own process, with its control FIFO."""

  def __init__(self, tmp, topics, partitions=8):
    self.fifo = tmp.file("broker.ctl")
    self.out_path = tmp.file("broker.out")
    self.out = open(self.out_path, "w+")
    spec = ",".join(t if ":" in t else f"{t}:{partitions}" for t in topics)
    self.p = subprocess.Popen([SW, "broker", "--topics", spec, "--control-fifo", self.fifo],
                              stdout=self.out, stderr=subprocess.STDOUT)
    self.bootstrap = wait_until(self._bootstrap, 10, "the broker's bootstrap line")
    self.replies = 0

  def _bootstrap(self):
    if self.p.poll() is not None:
      raise AssertionError(f"broker exited: {self.text()}")
    for line in self.text().splitlines():
      if line.startswith("bootstrap: "):
        return line.split(": ", 1)[1].strip()
    return None

  def text(self):
    self.out.seek(0)
    return self.out.read()

  def control(self, command):
    """Sends one control command and waits for its "ok" line."""
    with open(self.fifo, "w") as f:
      f.write(command + "\n")
    self.replies += 1
    want = self.replies

    def answered():
      lines = [l for l in self.text().splitlines() if l.startswith(("ok ", "error "))]
      return lines[want - 1] if len(lines) >= want else None
    reply = wait_until(answered, 5, f"broker reply to {command!r}")
    if not reply.startswith("ok "):
      raise AssertionError(reply)

  def stop(self):
    if self.p.poll() is None:
      self.p.terminate()
      self.p.wait(10)
    self.out.close()


def write_daemon_config(tmp, name, bootstrap, group, rules=DEFAULT_PACK, workers=1,
                        topic=INPUT, extra="", kafka_common=None):
  """A steppewatchd config (keys: include/steppewatch/config/daemon_config.h). `kafka_common`:
  librdkafka properties for both clients (kafka.common), e.g. security.protocol."""
  path = tmp.file(f"{name}.yaml")
  cache = tmp.file("hs-cache")
  os.makedirs(cache, exist_ok=True)
  common = "".join(f"\n    {k}: {json.dumps(str(v))}" for k, v in (kafka_common or {}).items())
  common = common or " {}"
  with open(path, "w") as f:
    f.write(f"""kafka:
  brokers: "{bootstrap}"
  group_id: "{group}"
  input_topics: ["{topic}"]
  dead_letter_topic: "{DLQ}"
  common:{common}
  consumer:
    # Commit stored offsets often: the tests wait for the committed offsets.
    auto.commit.interval.ms: "100"
    session.timeout.ms: "6000"
rules:
  dir: "{rules}"
  reload_on_change: false
  cache_dir: "{cache}"
pipeline:
  workers: {workers}
  shutdown_budget_seconds: 20
metrics:
  listen: "127.0.0.1:0"
{extra}""")
  return path


class Daemon:
  """steppewatchd as a separate process."""

  def __init__(self, tmp, name, config, rules=DEFAULT_PACK, bootstrap=None):
    self.log_path = tmp.file(f"{name}.log")
    self.log = open(self.log_path, "w+")
    args = [SWD, "--config", config, "--rules", rules]
    if bootstrap:
      args += ["--brokers", bootstrap]
    self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)

  def text(self):
    if not self.log.closed:
      self.log.flush()
    with open(self.log_path, errors="replace") as f:
      return f.read()

  def running(self):
    return self.p.poll() is None

  def wait_ready(self, timeout=60):
    """Waits for the "steppewatchd: ready" line (signals are handled from then on)."""
    def ready():
      if not self.running():
        raise AssertionError(f"daemon exited with {self.p.returncode}:\n{self.text()[-3000:]}")
      return "steppewatchd: ready" in self.text()
    wait_until(ready, timeout, "steppewatchd: ready")

  def stop(self, sig=signal.SIGTERM, timeout=40):
    """Sends `sig` and returns the exit code (None if it had to be killed)."""
    if self.p.poll() is None:
      self.p.send_signal(sig)
      try:
        self.p.wait(timeout)
      except subprocess.TimeoutExpired:
        self.p.kill()
        self.p.wait()
        self.log.close()
        return None
    self.log.close()
    return self.p.returncode


class Kafka:
  """Reads watermarks, committed offsets and whole topics with confluent-kafka."""

  def __init__(self, bootstrap):
    self.bootstrap = bootstrap
    self.meta = Consumer({"bootstrap.servers": bootstrap, "group.id": "sw-it-meta",
                          "enable.auto.commit": False, "log_level": 3})
    self.groups = {}

  def partitions(self, topic):
    md = self.meta.list_topics(topic, timeout=10)
    return sorted(md.topics[topic].partitions.keys())

  def high(self, topic):
    return {p: self.meta.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in self.partitions(topic)}

  def low(self, topic):
    """Sum of low watermarks: > 0 when the mock cluster dropped old messages (~5 MiB kept per
    partition), which would make a test's "lost item" the broker's doing."""
    return sum(self.meta.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0]
               for p in self.partitions(topic))

  def committed(self, group, topic):
    c = self.groups.get(group)
    if c is None:
      c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                    "enable.auto.commit": False, "log_level": 3})
      self.groups[group] = c
    offs = c.committed([TopicPartition(topic, p) for p in self.partitions(topic)], timeout=10)
    return {tp.partition: tp.offset for tp in offs}

  def wait_consumed(self, group, topic, timeout, daemons=()):
    """Waits until `group` has committed the whole of `topic` (as of now)."""
    target = self.high(topic)

    def done():
      for d in daemons:
        if not d.running():
          raise AssertionError(f"daemon exited with {d.p.returncode}:\n{d.text()[-3000:]}")
      c = self.committed(group, topic)
      behind = sum(max(0, h - max(c.get(p, 0), 0)) for p, h in target.items())
      return behind == 0 or None
    wait_until(done, timeout, f"group {group} to commit {sum(target.values())} items of {topic}")

  def read_all(self, topics, timeout=30):
    """Returns every message of `topics` up to their current high watermarks."""
    c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "sw-it-reader",
                  "enable.auto.commit": False, "log_level": 3})
    want = {}
    assign = []
    for t in topics:
      for p in self.partitions(t):
        lo, h = self.meta.get_watermark_offsets(TopicPartition(t, p), timeout=10)
        if lo > 0:
          # The mock cluster keeps ~5 MiB per partition and drops older messages silently.
          raise AssertionError(f"the broker dropped {lo} messages of {t}/{p} (~5 MiB kept per "
                               "partition): give the topic more partitions")
        if h > 0:
          want[(t, p)] = h
          assign.append(TopicPartition(t, p, 0))
    out = []
    if not assign:
      return out
    c.assign(assign)
    pos = {k: 0 for k in want}
    deadline = time.monotonic() + timeout
    while any(pos[k] < want[k] for k in want):
      if time.monotonic() > deadline:
        raise AssertionError(f"reading {topics}: got {pos}, want {want}")
      for m in c.consume(1000, 0.2):
        if m.error():
          continue
        pos[(m.topic(), m.partition())] = m.offset() + 1
        out.append({"topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
                    "key": m.key(), "value": m.value(),
                    "headers": {k: v for k, v in (m.headers() or [])}})
    c.close()
    return out

  def close(self):
    for c in self.groups.values():
      c.close()
    self.meta.close()


def kcat_produce(bootstrap, topic, records, null_empty=False, extra=()):
  """Produces (key, value) byte pairs with kcat -K (keys spread them over partitions)."""
  data = b"".join(k + b"\t" + v + b"\n" for k, v in records)
  args = ["kcat", "-b", bootstrap, "-P", "-t", topic, "-K", "\t",
          "-X", "message.max.bytes=8000000"] + (["-Z"] if null_empty else []) + list(extra)
  subprocess.run(args, input=data, check=True, timeout=60)


def gen_items(path, count, seed=7, region_rate=0.3):
  with open(path, "w") as f:
    subprocess.run(["/usr/bin/python3", GEN, "items", "--count", str(count), "--seed", str(seed),
                    "--region-rate", str(region_rate)], stdout=f, check=True, timeout=60)


def offline_alerts(rules, path):
  """Runs `steppewatch match` and returns {item id: set of rule ids} for items with alerts."""
  out = subprocess.run([SW, "match", "--rules", rules, path], check=True, capture_output=True,
                       timeout=300).stdout
  return alerts_by_item([json.loads(l) for l in out.splitlines() if l.strip().startswith(b"{")])


def alerts_by_item(alerts):
  """{item id: set of rule ids} over alert JSON objects (steppewatch.alert.v1)."""
  by_item = {}
  for a in alerts:
    by_item.setdefault(a["item"]["id"], set()).update(m["rule"] for m in a["matches"])
  return by_item


def standard_topics(input_partitions):
  """The input, dead-letter and default pack's alert topics, as `Broker` topic specs. Alert topics
  get at least 16 partitions, as many as the input: the mock cluster keeps only ~5 MiB per
  partition (see Kafka.read_all)."""
  alert_partitions = max(16, input_partitions)  # alerts outweigh their items' bytes
  return ([f"{INPUT}:{input_partitions}", f"{DLQ}:4"] +
          [f"{t}:{alert_partitions}" for t in ALERT_TOPICS])


class BrokerTestCase(unittest.TestCase):
  """A test with its own temporary directory, `steppewatch broker` process and Kafka reader.

  Daemons started with `start_daemon` are SIGKILLed when the test ends (a test that wants a
  graceful stop does it itself and checks the exit code). Clean-up is registered with addCleanup,
  so it also runs when a subclass's setUp fails after this one. KEEP_TMP=1 keeps the directory
  (logs, configs) and prints its path.
  """
  TMP_PREFIX = "sw-it-"
  INPUT_PARTITIONS = 8

  def setUp(self):
    self.daemons = []
    self.broker = None
    self.kafka = None
    self.tmp = TempDir(self.TMP_PREFIX)
    self.addCleanup(self._clean_up)
    self.broker = Broker(self.tmp, standard_topics(self.INPUT_PARTITIONS))
    self.kafka = Kafka(self.broker.bootstrap)

  def _clean_up(self):
    for d in self.daemons:
      d.stop(signal.SIGKILL, timeout=5)
    if self.kafka:
      self.kafka.close()
    if self.broker:
      self.broker.stop()
    self.tmp.release()

  def start_daemon(self, name, group, rules=DEFAULT_PACK, workers=1):
    """Starts steppewatchd against this test's broker and waits until it is ready."""
    cfg = write_daemon_config(self.tmp, name, self.broker.bootstrap, group, rules=rules,
                              workers=workers)
    d = Daemon(self.tmp, name, cfg, rules=rules, bootstrap=self.broker.bootstrap)
    self.daemons.append(d)
    d.wait_ready()
    return d

"""The harness of the hostile-input rows (hostile_test.py): a broker and daemons per row, items
produced with confluent-kafka, each nasty item followed by a canary, and the check of what a user
sees on the dead-letter and alert topics (see hostile_test.py for the rules every row follows).
"""
import json
import os
import signal
import time
import unittest

from confluent_kafka import Producer, TopicPartition

import support as sw

RESULTS = os.environ.get("SW_RESULTS")
# Compiled Hyperscan databases shared by the rows (written atomically by the daemon): the default
# pack compiles once per build tree instead of once per row.
HS_CACHE = os.path.join(sw.BUILD, "hostile-test-hs-cache")
# Small items go to partition 0; each large one gets partition 1 to itself, because the mock
# cluster drops a partition's oldest messages once it holds more than ~5 MiB and two messages.
SMALL, LARGE = 0, 1
MiB = 1 << 20
# The daemon's defaults (config/steppewatch.example.yaml).
DEFAULT_MAX_ITEM_BYTES = 1048576
DEFAULT_MAX_HITS = 10000
# The daemon forwards at most its producer's message.max.bytes (librdkafka default) of a
# dead-lettered value, minus its framing allowance.
PRODUCER_MESSAGE_MAX = 1000000
# From include/steppewatch/rules/evaluator.h: hits listed per fired rule in an alert.
MAX_HITS_PER_FIRED_RULE = 32


def item(item_id, title="Kazakhstan and China sign a deal",
         body="Tokayev met Xi Jinping in Astana to discuss the Belt and Road.", **extra):
  d = {"id": item_id, "title": title, "body": body, "lang": "en"}
  d.update(extra)
  return json.dumps(d, ensure_ascii=False).encode()


class Expect:
  """What a user must see for one produced item."""

  def __init__(self, kind, reason=None, message=None, rules=(), check=None):
    self.kind = kind          # "alert" or "dead"
    self.reason = reason      # dead: steppewatch.error.reason
    self.message = message    # dead: a substring of steppewatch.error.message
    self.rules = set(rules)   # alert: rule ids that must be among the fired ones
    self.check = check        # optional callable(test, message) for more assertions


def DEAD(reason, message=None, check=None):
  return Expect("dead", reason=reason, message=message, check=check)


def ALERT(*rules, check=None):
  return Expect("alert", rules=rules, check=check)


class HostileCase(unittest.TestCase):
  """Per-row set-up, the producers, the checks and the RESULT lines; the rows subclass it."""

  def setUp(self):
    self.tmp = sw.TempDir("sw-hostile-")
    self.broker = sw.Broker(self.tmp, [f"{sw.INPUT}:2", f"{sw.DLQ}:4"] +
                            [f"{t}:2" for t in sw.ALERT_TOPICS])
    self.kafka = sw.Kafka(self.broker.bootstrap)
    self.group = f"hostile-{self._testMethodName}"
    self.daemons = []
    self.producers = {}
    self.sent = []  # (key, partition, offset, Expect)
    self.canaries = 0
    self.result = {"row": self._testMethodName}
    os.makedirs(HS_CACHE, exist_ok=True)

  def tearDown(self):
    for d in self.daemons:
      d.stop(signal.SIGKILL, timeout=5)
    self.kafka.close()
    self.broker.stop()
    self.tmp.release()

  # -- helpers

  def start(self, rules=sw.DEFAULT_PACK, max_item_bytes=None, max_hits=None, consumer=None,
            reload_on_change=False, name=None):
    """Starts steppewatchd with the defaults except what is given here."""
    name = name or f"d{len(self.daemons)}"
    consumer = dict(consumer or {})
    if os.environ.get("SW_DEBUG"):
      consumer["debug"] = os.environ["SW_DEBUG"]  # librdkafka debug contexts, e.g. "fetch,msg"
    decoder = f"decoder:\n  max_item_bytes: {max_item_bytes}\n" if max_item_bytes else ""
    log_level = "debug" if os.environ.get("SW_DEBUG") else "info"
    path = sw.write_daemon_config(
        self.tmp, name, self.broker.bootstrap, self.group, rules=rules, consumer=consumer,
        cache_dir=HS_CACHE, reload_on_change=reload_on_change, shutdown_budget=10,
        pipeline_extra=f"  max_hits_per_item: {max_hits}\n" if max_hits else "",
        extra=f'{decoder}log:\n  level: "{log_level}"\n')
    d = sw.Daemon(self.tmp, name, path, rules=rules)
    self.daemons.append(d)
    d.wait_ready()
    return d

  def producer(self, compression="none"):
    p = self.producers.get(compression)
    if p is None:
      conf = {"bootstrap.servers": self.broker.bootstrap, "linger.ms": 0, "log_level": 3,
              # The largest the client allows: the rows produce items up to 200 MB (the mock
              # broker takes requests up to its receive.message.max.bytes, 100,000,000 bytes).
              "message.max.bytes": 1000000000, "compression.type": compression}
      if compression != "none":
        conf["compression.level"] = 1  # fastest: a bomb of one repeated byte shrinks anyway
      p = Producer(conf)
      self.producers[compression] = p
    return p

  def send(self, key, value, expect, partition=SMALL, compression="none", timeout=120):
    """Produces one record, waits for its delivery and remembers what must come of it."""
    got = []
    p = self.producer(compression)
    p.produce(sw.INPUT, key=key, value=value, partition=partition,
              on_delivery=lambda err, msg: got.append((err, msg.offset())))
    p.flush(timeout)
    self.assertEqual(len(got), 1, f"{key!r}: no delivery report within {timeout}s")
    self.assertIsNone(got[0][0], f"{key!r}: produce failed")
    self.sent.append((key, partition, got[0][1], expect))
    return got[0][1]

  def send_canary(self, partition=SMALL):
    self.canaries += 1
    key = f"canary-{self.canaries}".encode()
    self.send(key, item(key.decode()), ALERT("ca.geo.kazakhstan"), partition)
    return key

  def send_rows(self, cases, partition=SMALL):
    """Each nasty item, then a canary right behind it on the same partition."""
    for key, value, expect in cases:
      self.send(key, value, expect, partition)
      self.send_canary(partition)

  def wait_all_committed(self, d, timeout=120):
    started = time.monotonic()
    try:
      self.kafka.wait_consumed(self.group, sw.INPUT, timeout, [d])
    except AssertionError:
      print("input low/high watermarks:",
            {p: self.kafka.meta.get_watermark_offsets(TopicPartition(sw.INPUT, p), timeout=10)
             for p in (SMALL, LARGE)}, "committed:", self.kafka.committed(self.group, sw.INPUT))
      raise
    self.assertTrue(d.running(), "the daemon stays up")
    return time.monotonic() - started

  def metric(self, d, name):
    """Sums the samples of one metric family from the daemon's /metrics."""
    url = d.metrics_url()
    self.assertIsNotNone(url, "the daemon logs its metrics URL")
    status, text = sw.http_get(url, timeout=10)
    self.assertEqual(status, 200, url)
    return sw.metrics_sum(text, name) or 0.0

  def verify(self):
    """Checks every remembered record against the dead-letter and alert topics."""
    dead = {}
    for m in self.kafka.read_all([sw.DLQ]):
      dead.setdefault(m["key"], []).append(m)
    # An undecodable offset's dead letter has no key (librdkafka never gave us the record):
    # file it under the key sent to that partition and offset.
    by_position = {(p, o): k for k, p, o, _ in self.sent}
    for m in dead.pop(None, []):
      h = m["headers"]
      pos = (int(h.get("steppewatch.error.partition", b"-1")),
             int(h.get("steppewatch.error.offset", b"-1")))
      dead.setdefault(by_position.get(pos), []).append(m)
    alerts = {}
    for m in self.kafka.read_all(sw.ALERT_TOPICS):
      alerts.setdefault(m["key"], []).append(m)
    for key, partition, offset, expect in self.sent:
      with self.subTest(item=key):
        if expect.kind == "dead":
          self.assertNotIn(key, alerts, f"{key!r} was dead-lettered, so it must not alert")
          self.assertIn(key, dead, f"{key!r} must be on {sw.DLQ}")
          self.assertEqual(len(dead[key]), 1, "one dead letter per item")
          m = dead[key][0]
          h = m["headers"]
          self.assertEqual(h.get("steppewatch.error.reason"), expect.reason.encode(),
                           h.get("steppewatch.error.message"))
          message = h.get("steppewatch.error.message", b"").decode()
          self.assertTrue(message, "a message for people")
          if expect.message:
            self.assertIn(expect.message, message)
          self.assertEqual(h.get("steppewatch.error.topic"), sw.INPUT.encode())
          self.assertEqual(h.get("steppewatch.error.partition"), str(partition).encode())
          self.assertEqual(h.get("steppewatch.error.offset"), str(offset).encode())
          self.assertIn("steppewatch.error.rule_pack", h)
          if expect.check:
            expect.check(self, m)
        else:
          self.assertNotIn(key, dead, f"{key!r} must not be dead-lettered")
          self.assertIn(key, alerts, f"{key!r} must alert")
          for m in alerts[key]:
            alert = json.loads(m["value"])
            self.assertEqual(alert["item"]["id"], key.decode())
            self.assertEqual(alert["origin"]["partition"], partition)
            self.assertEqual(alert["origin"]["offset"], offset)
          fired = {x["rule"] for m in alerts[key] for x in json.loads(m["value"])["matches"]}
          self.assertTrue(expect.rules <= fired, f"{key!r}: fired {sorted(fired)}")
          if expect.check:
            expect.check(self, alerts[key])
    return dead, alerts

  def report(self, **fields):
    self.result.update(fields)
    print("RESULT", json.dumps(self.result))
    if RESULTS:
      with open(RESULTS, "a") as f:
        f.write(json.dumps(self.result) + "\n")

  def run_table(self, cases, **start_args):
    """The common shape of the small rows: start, send, wait, verify, report."""
    d = self.start(**start_args)
    self.send_rows(cases)
    waited = self.wait_all_committed(d)
    self.verify()
    self.report(items=len(self.sent), nasty=len(cases), canaries=self.canaries,
                seconds_to_commit_all=round(waited, 2), max_rss_mb=round((d.hwm_mb() or 0.0), 1))
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

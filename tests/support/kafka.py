"""Kafka as the suites see it from outside: confluent-kafka reads, kcat writes.

Debian's confluent-kafka (python3-confluent-kafka) is visible only to /usr/bin/python3; it is
imported when the first reader is made, so modules that never read Kafka import this package
under any interpreter.
"""
import subprocess
import time

from .paths import ALERT_TOPICS, DLQ, INPUT
from .wait import wait_until


def standard_topics(input_partitions):
  """The input, dead-letter and default pack's alert topics, as `Broker` topic specs. Alert topics
  get at least 16 partitions, as many as the input: the mock cluster keeps only ~5 MiB per
  partition (see Kafka.read_all)."""
  alert_partitions = max(16, input_partitions)  # alerts outweigh their items' bytes
  return ([f"{INPUT}:{input_partitions}", f"{DLQ}:4"] +
          [f"{t}:{alert_partitions}" for t in ALERT_TOPICS])


class Kafka:
  """Reads watermarks, committed offsets and whole topics with confluent-kafka, without joining
  any group."""

  def __init__(self, bootstrap, group="sw-it-meta"):
    from confluent_kafka import Consumer
    self._consumer = Consumer
    self.bootstrap = bootstrap
    self.meta = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                          "enable.auto.commit": False, "log_level": 3})
    self.groups = {}

  @staticmethod
  def tp(topic, partition, offset=None):
    from confluent_kafka import TopicPartition
    return TopicPartition(topic, partition) if offset is None else TopicPartition(topic, partition,
                                                                                    offset)

  def partitions(self, topic):
    md = self.meta.list_topics(topic, timeout=10)
    return sorted(md.topics[topic].partitions.keys())

  def watermarks(self, topic, partition):
    return self.meta.get_watermark_offsets(self.tp(topic, partition), timeout=10)

  def high(self, topic):
    return {p: self.watermarks(topic, p)[1] for p in self.partitions(topic)}

  def low(self, topic):
    """Sum of low watermarks: > 0 when the mock cluster dropped old messages (~5 MiB kept per
    partition), which would make a test's "lost item" the broker's doing."""
    return sum(self.watermarks(topic, p)[0] for p in self.partitions(topic))

  def committed(self, group, topic, partitions=None):
    """{partition: committed offset} of `group` (negative when nothing is committed)."""
    c = self.groups.get(group)
    if c is None:
      c = self._consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                          "enable.auto.commit": False, "log_level": 3})
      self.groups[group] = c
    parts = self.partitions(topic) if partitions is None else partitions
    offs = c.committed([self.tp(topic, p) for p in parts], timeout=10)
    return {tp.partition: tp.offset for tp in offs}

  def wait_consumed(self, group, topic, timeout, daemons=()):
    """Waits until `group` has committed the whole of `topic` (as of now)."""
    target = self.high(topic)

    def done():
      for d in daemons:
        d.check_running("daemon")
      c = self.committed(group, topic)
      behind = sum(max(0, h - max(c.get(p, 0), 0)) for p, h in target.items())
      return behind == 0 or None
    wait_until(done, timeout, f"group {group} to commit {sum(target.values())} items of {topic}")

  def read_all(self, topics, timeout=30):
    """Returns every message of `topics` up to their current high watermarks."""
    c = self._consumer({"bootstrap.servers": self.bootstrap, "group.id": "sw-it-reader",
                        "enable.auto.commit": False, "log_level": 3})
    want = {}
    assign = []
    for t in topics:
      for p in self.partitions(t):
        lo, h = self.watermarks(t, p)
        if lo > 0:
          # The mock cluster keeps ~5 MiB per partition and drops older messages silently.
          raise AssertionError(f"the broker dropped {lo} messages of {t}/{p} (~5 MiB kept per "
                               "partition): give the topic more partitions")
        if h > 0:
          want[(t, p)] = h
          assign.append(self.tp(t, p, 0))
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
    self.groups = {}
    self.meta.close()


def kcat_produce(bootstrap, topic, records, null_empty=False, extra=()):
  """Produces (key, value) byte pairs with kcat -K (keys spread them over partitions)."""
  data = b"".join(k + b"\t" + v + b"\n" for k, v in records)
  args = ["kcat", "-b", bootstrap, "-P", "-t", topic, "-K", "\t",
          "-X", "message.max.bytes=8000000"] + (["-Z"] if null_empty else []) + list(extra)
  subprocess.run(args, input=data, check=True, timeout=60)

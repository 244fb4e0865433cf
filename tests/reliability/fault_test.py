#!/usr/bin/python3
"""Fault-injection scenarios (tests/RELIABILITY.md): broker faults, crashes, rebalances and reloads under load.

Every scenario feeds the same known items (benchmarks/e2e/gen.py, seeded) through
`steppewatch broker` + steppewatchd (separate processes), injects its fault, lets the daemon(s)
finish, and then checks with an independent consumer (confluent-kafka) against the offline
`steppewatch match` of the same file:
  - nothing lost: every item that matches offline has an alert with the same rule ids;
  - nothing invented: no alert for an item that does not match offline;
  - duplicates (the same item and topic more than once) are counted and printed as a RESULT line,
    and asserted to be 0 where the design promises it (graceful SIGTERM).
Faults are injected through the broker's control FIFO (rd_kafka_mock_broker_set_down/up,
rd_kafka_mock_push_request_errors, rd_kafka_mock_broker_push_request_error_rtts,
rd_kafka_mock_broker_set_rtt). Every scenario first proves that its fault took effect (the
committed offsets stalled, the broker served the injected errors, a /metrics counter moved, the
signal landed mid-stream), and only then checks "nothing lost, nothing invented": a fault that the
broker ignores would otherwise pass as a fault survived.
Fault windows are fixed durations (a fault must last a while to be a fault); every wait for work
polls a condition with a deadline. Random kill points come from SW_SEED (default 1).
"""
import json
import os
import random
import re
import signal
import subprocess
import time
import unittest
import urllib.request

import support as sw

ITEMS = int(os.environ.get("SW_ITEMS", "10000"))
SEED = int(os.environ.get("SW_SEED", "1"))
RESULTS = os.environ.get("SW_RESULTS")  # optional: append one JSON line per scenario here
# Scenarios that must catch the daemon mid-stream feed the file several times (ids of repeat r
# get the suffix "~rR", see `steppewatch feed --repeat`): 10k items take well under a second,
# and after the item-path work 50k were all finished before a SIGTERM sent at 30% landed, so
# the SIGTERM scenario feeds 150k (about 1.5 s of work on one worker).
# The SIGKILL scenario feeds 3 (30k), so that a kill point at 90% still lands mid-stream; the
# request-error scenarios too, so that the daemon still produces, fetches and commits when the
# errors arrive. (Not a live feed for them: the feed's producer would share the broker's
# errors, and after Produce errors the mock was seen holding one input message fewer than the
# feed had delivered.)
REPEATS = {"test_sigterm_under_load_drains_and_restart_has_no_duplicates": 15,
           "test_sigkill_at_seeded_random_points_then_restart": 3,
           "test_produce_errors_stall_commits_then_recover": 3,
           "test_request_errors_on_produce_fetch_and_commit": 3,
           # Both reloads must land mid-stream, and a reload of a changed pack compiles it: with
           # 10k items a clean-clone CI run had finished every item before the first reload
           # was done (committed 10000 of 10000 at the second SIGHUP).
           "test_rule_reload_during_load_good_then_broken_pack": 15,
           # The outage must start mid-stream: after the item path lost another 13% of its
           # instructions (2026-12-04), a clean-clone CI run had committed all 10k items by the
           # time the test saw 20% and took the broker down. Not 15: with 150k items an alert
           # partition passed the mock's ~5 MiB and the broker dropped alerts the check reads.
           "test_broker_down_then_up": 8}
# Scenarios that measure under a steady feed: they feed the input themselves (`live_feed`), at
# a steady rate, with this many repeats of the file (setUp feeds nothing for them).
# The feed must outlast the test's bound on a stop (140 s after the kill, which comes 10-20 s
# into the feed): with 3 (75 s) a clean-clone CI run (ci26, 2026-12-05) saw the feed end while a
# partition had still not resumed, a stop the bound allows. 7 is 175 s at 400 items/s.
LIVE_FEED = {"test_group_of_three_one_killed_recovery_time": 7}


class Scenario(sw.BrokerTestCase):
  TMP_PREFIX = "sw-rel-"
  # 64: the mock broker keeps ~5 MiB per partition, and the largest scenario feeds ~100 MB.
  INPUT_PARTITIONS = 64
  items_path = None
  expected = None
  shared = None

  @classmethod
  def setUpClass(cls):
    cls.shared = sw.TempDir("sw-rel-")
    cls.items_path = cls.shared.file("items.jsonl")
    sw.gen_items(cls.items_path, ITEMS, seed=11)
    cls.expected = sw.offline_alerts(sw.DEFAULT_PACK, cls.items_path)
    assert cls.expected, "the generated items should match the default pack"

  @classmethod
  def tearDownClass(cls):
    cls.shared.cleanup()

  def setUp(self):
    super().setUp()
    self.group = f"rel-{self._testMethodName}"
    self.max_rss_mb = 0.0
    self.repeat = REPEATS.get(self._testMethodName, 1)
    if self._testMethodName in LIVE_FEED:
      self.repeat = LIVE_FEED[self._testMethodName]
      self.total = ITEMS * self.repeat
    else:
      subprocess.run([sw.SW, "feed", "--brokers", self.broker.bootstrap, "--topic", sw.INPUT,
                      "--quiet", "--repeat", str(self.repeat), self.items_path], check=True,
                     timeout=120, stdout=subprocess.DEVNULL)
      self.total = sum(self.kafka.high(sw.INPUT).values())
      self.assertEqual(self.total, ITEMS * self.repeat)
      self.assertEqual(self.kafka.low(sw.INPUT), 0, "the broker dropped input: more partitions")
    self.expected_all = {}
    for k, v in self.expected.items():
      for r in range(self.repeat):
        self.expected_all[k if r == 0 else f"{k}~r{r}"] = v

  # -- helpers

  def start(self, name=None, rules=sw.DEFAULT_PACK, workers=1, producer=None,
            shipped_session_timeout=False):
    """Starts a daemon in this scenario's group. `producer`: librdkafka producer properties;
    `shipped_session_timeout`: keep the daemon's own session.timeout.ms (10 s) instead of the
    tests' 6 s."""
    name = name or f"d{len(self.daemons)}"
    if not producer and not shipped_session_timeout:
      return self.start_daemon(name, self.group, rules=rules, workers=workers)
    cfg = sw.write_daemon_config(self.tmp, name, self.broker.bootstrap, self.group, rules=rules,
                                 workers=workers)
    with open(cfg) as f:
      text = f.read()
    if shipped_session_timeout:
      # SW_SESSION_TIMEOUT_MS measures another value for comparison (e.g. librdkafka's 45000).
      other = os.environ.get("SW_SESSION_TIMEOUT_MS")
      text = text.replace('    session.timeout.ms: "6000"\n',
                          f'    session.timeout.ms: "{int(other)}"\n' if other else "")
    if producer:
      props = "".join(f"\n    {k}: {json.dumps(str(v))}" for k, v in producer.items())
      text = text.replace("\nrules:\n", f"\n  producer:{props}\nrules:\n", 1)
    with open(cfg, "w") as f:
      f.write(text)
    d = sw.Daemon(self.tmp, name, cfg, rules=rules, bootstrap=self.broker.bootstrap)
    self.daemons.append(d)
    d.wait_ready()
    return d

  def samples(self, d, name):
    """[(labels, value)] of metric `name` on the daemon's /metrics."""
    m = re.search(r"metrics on (http://\S+/metrics)", d.text())
    self.assertIsNotNone(m, "the daemon logs its metrics URL")
    text = urllib.request.urlopen(m.group(1), timeout=10).read().decode()
    # A family the daemon does not export is an error, not 0: a renamed or removed metric must
    # fail the checks that compare it with 0 (its TYPE line is there even with no sample yet).
    self.assertIsNotNone(re.search(r"(?m)^# TYPE " + re.escape(name) + r" ", text),
                         f"the daemon exports no metric {name}")
    out = []
    for line in text.splitlines():
      sample = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$", line)
      if sample and sample.group(1) == name:
        out.append((dict(re.findall(r'(\w+)="([^"]*)"', sample.group(2) or "")),
                    float(sample.group(3))))
    return out

  def metric(self, d, name, **labels):
    """Sums the samples of `name` whose labels include `labels` (0 when none has them; a
    failure when the daemon exports no family `name`)."""
    return sum(v for have, v in self.samples(d, name)
               if all(have.get(k) == str(want) for k, want in labels.items()))

  def partitions_of(self, d):
    """The input partitions assigned to `d`, from its per-partition lag metric (librdkafka's
    statistics: up to 5 s behind an assignment)."""
    return {int(labels["partition"])
            for labels, _ in self.samples(d, "steppewatch_consumer_lag_messages")
            if labels.get("topic") == sw.INPUT}

  def live_feed(self, rate):
    """Starts `steppewatch feed` of this scenario's items at `rate` items/s; returns it."""
    feed = subprocess.Popen([sw.SW, "feed", "--brokers", self.broker.bootstrap, "--topic",
                             sw.INPUT, "--quiet", "--rate", str(rate), "--repeat",
                             str(self.repeat), self.items_path], stdout=subprocess.DEVNULL)
    self.addCleanup(lambda: feed.poll() is None and feed.kill())
    return feed

  def end_live_feed(self, feed):
    self.assertEqual(feed.wait(240), 0)  # a live feed runs up to 175 s (LIVE_FEED)
    self.assertEqual(sum(self.kafka.high(sw.INPUT).values()), self.total)
    self.assertEqual(self.kafka.low(sw.INPUT), 0, "the broker dropped input: more partitions")

  def alert_messages(self):
    return sum(sum(self.kafka.high(t).values()) for t in sw.ALERT_TOPICS)

  def control_count(self, command):
    """Sends a control command that answers with a number (`error-count`) and returns it."""
    self.broker.control(command)
    replies = [l for l in self.broker.text().splitlines() if l.startswith("ok " + command + " ")]
    return int(replies[-1].rsplit(" ", 1)[1])

  def assert_stalled(self, daemons, seconds, settle=1.0, settle_limit=15.0):
    """Proves a fault stopped the daemons' output: once neither the group's committed offsets
    nor the alert topics have moved for `settle` seconds (the commits and deliveries already
    under way when the fault began, at most `settle_limit` seconds), neither moves for `seconds`
    more, while the daemons run and input remains. Returns (committed, alert messages).

    The settle used to be a fixed second: on a loaded machine (CI beside a build and a fuzzer)
    the items finished before the fault were still being committed after it, 4,154 -> 4,179."""
    committed, alerts = self.committed(), self.alert_messages()
    quiet_since = start = time.monotonic()
    while time.monotonic() - quiet_since < settle:
      self.assertLess(time.monotonic() - start, settle_limit,
                      f"output still moving {settle_limit:.0f} s into the fault: "
                      f"committed {committed}, alert messages {alerts}")
      time.sleep(0.2)
      now = (self.committed(), self.alert_messages())
      if now != (committed, alerts):
        committed, alerts = now
        quiet_since = time.monotonic()
    settled = time.monotonic() - start
    self.assertLess(committed, self.total, "the fault must hit the daemon mid-stream")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
      for d in daemons:
        self.assertTrue(d.running(), d.text()[-2000:])
        self.sample_rss(d)
      self.assertEqual(self.committed(), committed, "offsets committed during the fault")
      self.assertEqual(self.alert_messages(), alerts, "alerts published during the fault")
      time.sleep(0.2)
    print(f"stalled for {seconds:.1f} s after {settled:.1f} s of settling at {committed} of "
          f"{self.total} committed, {alerts} alert messages")
    return committed, alerts

  def committed(self):
    return sum(max(o, 0) for o in self.kafka.committed(self.group, sw.INPUT).values())

  def wait_progress(self, fraction, daemons, timeout=60):
    def ok():
      for d in daemons:
        if not d.running():
          raise AssertionError(f"daemon exited with {d.p.returncode}:\n{d.text()[-3000:]}")
        self.sample_rss(d)
      return self.committed() >= int(self.total * fraction)
    sw.wait_until(ok, timeout, f"{fraction:.0%} of the input committed",
                  describe=lambda: f"committed {self.committed()} of {self.total}")

  def sample_rss(self, d):
    try:
      with open(f"/proc/{d.p.pid}/status") as f:
        for line in f:
          if line.startswith("VmHWM:"):
            self.max_rss_mb = max(self.max_rss_mb, int(line.split()[1]) / 1024)
    except FileNotFoundError:
      pass

  def finish(self, daemons, timeout=180):
    alive = [d for d in daemons if d.running()]
    self.kafka.wait_consumed(self.group, sw.INPUT, timeout, alive)
    for d in alive:
      self.sample_rss(d)

  def verify(self, scenario, expect_no_duplicates=False):
    alerts = self.kafka.read_all(sw.ALERT_TOPICS)
    got = sw.alerts_by_item(json.loads(m["value"]) for m in alerts)
    expected = self.expected_all
    missing = sorted(k for k, v in expected.items() if not v <= got.get(k, set()))
    invented = sorted(set(got) - set(expected))
    wrong = sorted(k for k in expected if k in got and got[k] != expected[k])
    pairs = [(m["topic"], m["key"]) for m in alerts]
    duplicates = len(pairs) - len(set(pairs))
    result = {"scenario": scenario, "seed": SEED, "items": self.total,
              "expected_alert_items": len(expected), "alert_messages": len(pairs),
              "distinct_alerts": len(set(pairs)), "duplicates": duplicates,
              "missing": len(missing), "invented": len(invented), "wrong_rules": len(wrong),
              "max_rss_mb": round(self.max_rss_mb, 1)}
    print("RESULT", json.dumps(result))
    if RESULTS:
      with open(RESULTS, "a") as f:
        f.write(json.dumps(result) + "\n")
    self.assertEqual(missing[:20], [], "matching items without their alerts (lost)")
    self.assertEqual(invented[:20], [], "alerts for items that do not match")
    self.assertEqual(wrong[:20], [], "alerts with other rule ids than offline")
    if expect_no_duplicates:
      self.assertEqual(duplicates, 0)
    return result

  def stop_all(self, sig=signal.SIGTERM):
    for d in self.daemons:
      if d.running():
        self.assertEqual(d.stop(sig), 0, d.text()[-2000:])


class FaultTest(Scenario):

  def test_broker_down_then_up(self):
    d = self.start()
    self.wait_progress(0.2, [d])
    at_fault = self.committed()
    self.assertLess(at_fault, self.total, "the outage must start mid-stream")
    self.assertEqual(self.metric(d, "steppewatch_brokers_down"), 0)
    self.broker.control("down 1")
    # Proof: the daemon's own clients saw every broker go down (librdkafka's ALL_BROKERS_DOWN).
    sw.wait_until(lambda: self.metric(d, "steppewatch_brokers_down") == 1, 20,
                  "steppewatch_brokers_down 1 on /metrics",
                  describe=lambda: f"brokers_down {self.metric(d, 'steppewatch_brokers_down')}")
    time.sleep(3)  # the outage itself: long enough for sessions and requests to fail
    self.assertTrue(d.running(), "the daemon survives a broker outage")
    events = self.metric(d, "steppewatch_brokers_down_events_total")
    self.assertGreaterEqual(events, 1)
    self.broker.control("up 1")
    sw.wait_until(lambda: self.metric(d, "steppewatch_brokers_down") == 0, 60,
                  "steppewatch_brokers_down 0 after the broker is back",
                  describe=lambda: f"brokers_down {self.metric(d, 'steppewatch_brokers_down')}")
    self.finish([d])
    self.stop_all()
    self.verify("broker down 3 s, then up")
    print("RESULT", json.dumps({"scenario": "broker down", "committed_at_fault": at_fault,
                                "brokers_down_events": events}))

  def test_request_errors_on_produce_fetch_and_commit(self):
    d = self.start()
    self.wait_progress(0.1, [d])
    self.assertLess(self.committed(), self.total, "the errors must meet the daemon mid-stream")
    # Per-broker error stacks, so the broker can say how many of them it has served.
    injected = (("Produce", "NOT_LEADER_FOR_PARTITION"), ("Fetch", "NOT_LEADER_FOR_PARTITION"),
                ("OffsetCommit", "COORDINATOR_NOT_AVAILABLE"), ("Produce", "REQUEST_TIMED_OUT"))
    for api, err in injected:
      self.broker.control(f"broker-errors 1 {api} 5 {err}")
    # Proof: the broker answered the daemon's requests with every injected error (nothing else
    # produces, fetches or commits now).
    left = {api: self.control_count(f"error-count 1 {api}")
            for api in ("Produce", "Fetch", "OffsetCommit")}
    # The injected errors are there (a Fetch error costs the consumer a backoff, so five of them
    # outlast these few control round trips).
    self.assertGreater(sum(left.values()), 0, "the broker holds no injected error")
    def drained():
      self.assertTrue(d.running(), d.text()[-2000:])
      left.update({api: self.control_count(f"error-count 1 {api}")
                   for api in ("Produce", "Fetch", "OffsetCommit")})
      return not any(left.values())
    try:
      sw.wait_until(drained, 30, "the broker to serve every injected error", period=0.2)
    except AssertionError as e:
      raise AssertionError(f"{e}; errors left per API: {left}") from None
    self.finish([d])
    self.stop_all()
    self.verify("request errors: Produce x10, Fetch x5, OffsetCommit x5, all served")

  def test_high_broker_latency(self):
    self.broker.control("rtt 1 300")
    d = self.start()
    # Proof: the daemon's producer measured the added round trip (librdkafka's statistics,
    # every 5 s) while the input was still being processed. Not the consumer's: its Fetch
    # requests wait on the broker for data (fetch.wait.max.ms, 500 ms), which reads as a long
    # round trip without any fault.
    sw.wait_until(lambda: max([v for labels, v in self.samples(
        d, "steppewatch_kafka_broker_rtt_avg_seconds") if labels.get("client") == "producer"] or
        [0]) >= 0.29, 60, "the producer's broker rtt >= 0.29 s on /metrics")
    self.assertLess(self.committed(), self.total, "the latency must slow a run in progress")
    self.finish([d], timeout=240)
    self.stop_all()
    self.verify("broker rtt 300 ms for the whole run")

  def test_sigkill_at_seeded_random_points_then_restart(self):
    rng = random.Random(SEED)
    points = sorted(rng.uniform(0.05, 0.9) for _ in range(3))
    for i, point in enumerate(points):
      d = self.start(f"k{i}")
      self.wait_progress(point, [d])
      # Proof: killed by the signal (not exited) with input left to do.
      self.assertEqual(d.stop(signal.SIGKILL), -signal.SIGKILL)
      self.assertLess(self.committed(), self.total, "the SIGKILL must land mid-stream")
    d = self.start("final")
    self.finish([d])
    self.stop_all()
    r = self.verify(f"SIGKILL at {', '.join(f'{p:.0%}' for p in points)} of the input, restart")
    print(f"duplicates after {len(points)} SIGKILLs: {r['duplicates']}")

  def test_sigterm_under_load_drains_and_restart_has_no_duplicates(self):
    d = self.start(workers=2)
    self.wait_progress(0.3, [d])
    started = time.monotonic()
    self.assertEqual(d.stop(signal.SIGTERM, timeout=40), 0, d.text()[-2000:])
    at_stop = self.committed()
    print(f"committed at SIGTERM: {at_stop} of {self.total}")
    self.assertLess(at_stop, self.total, "the SIGTERM must land mid-stream for this scenario")
    drain = time.monotonic() - started
    print(f"drain after SIGTERM took {drain:.2f} s (budget 20 s)")
    self.assertLess(drain, 25, "exits within the shutdown budget plus the flush")
    d2 = self.start("after")
    self.finish([d2])
    self.stop_all()
    self.verify("SIGTERM at 30% under load, restart", expect_no_duplicates=True)

  def test_group_of_three_one_killed_one_added(self):
    ds = [self.start(f"g{i}") for i in range(3)]
    self.wait_progress(0.25, ds, timeout=90)
    before = [self.metric(d, "steppewatch_rebalances_total") for d in ds[1:]]
    self.assertEqual(ds[0].stop(signal.SIGKILL), -signal.SIGKILL)
    self.assertLess(self.committed(), self.total, "the SIGKILL must land mid-stream")
    # Proof: the survivors went through the rebalance that the lost member caused (before the
    # fourth member joins, which would cause one too), and own every partition afterwards.
    sw.wait_until(lambda: all(self.metric(d, "steppewatch_rebalances_total") > b
                              for d, b in zip(ds[1:], before)), 90,
                  "the survivors' rebalance after the SIGKILL",
                  describe=lambda: "rebalances per survivor " + str(
                      [(self.metric(d, "steppewatch_rebalances_total"), b)
                       for d, b in zip(ds[1:], before)]) + " (now, before)")
    sw.wait_until(lambda: sum(self.metric(d, "steppewatch_assigned_partitions")
                              for d in ds[1:]) == self.INPUT_PARTITIONS, 90,
                  "the survivors to own every input partition",
                  describe=lambda: "assigned per survivor " + str(
                      [self.metric(d, "steppewatch_assigned_partitions") for d in ds[1:]]))
    self.wait_progress(0.5, ds[1:], timeout=90)
    added = self.start("g3")
    self.finish(ds[1:] + [added], timeout=240)
    self.stop_all()
    self.verify("group of 3: one SIGKILLed at 25%, one added at 50%")

  def test_group_of_three_one_killed_recovery_time(self):
    """How long partitions go without progress when one of three members is SIGKILLed under a
    steady feed, with the shipped session.timeout.ms (10 s). The 2.0.2 mock ignores
    group.instance.id, so this is the session-timeout path, not static membership's."""
    rate = 400
    feed = self.live_feed(rate)
    ds = [self.start(f"r{i}", shipped_session_timeout=True) for i in range(3)]
    all_parts = set(self.kafka.partitions(sw.INPUT))
    owners = {}
    def settled():
      for d in ds:
        self.assertTrue(d.running(), d.text()[-2000:])
      owners.update({i: self.partitions_of(d) for i, d in enumerate(ds)})
      parts = [owners[i] for i in range(3)]
      return (all(parts) and sum(map(len, parts)) == len(all_parts) and
              set().union(*parts) == all_parts)
    sw.wait_until(settled, 60, "three members owning all input partitions", period=0.5)
    killed_parts = owners[0]
    # Steady progress on every partition before the kill.
    time.sleep(2)
    self.assertIsNone(feed.poll(), "the feed must outlast the measurement: lower the rate")
    last = self.kafka.committed(self.group, sw.INPUT)
    killed_at = time.monotonic()
    now = time.time()
    killed_wall = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
    self.assertEqual(ds[0].stop(signal.SIGKILL), -signal.SIGKILL)
    # Sample every partition's committed offset every 0.2 s: the gap of a partition is the
    # longest time its committed offset stood still after the kill (items keep arriving on
    # every partition at ~rate/partitions per second, so a still offset is a stall).
    last_move = {p: killed_at for p in all_parts}
    gap = {p: (0.0, 0.0) for p in all_parts}  # (length, start after the kill)
    resumed = {}
    while time.monotonic() - killed_at < 150:
      now_offsets = self.kafka.committed(self.group, sw.INPUT)
      now = time.monotonic()
      for p in all_parts:
        if now_offsets.get(p, -1) > last.get(p, -1):
          if now - last_move[p] > gap[p][0]:
            gap[p] = (now - last_move[p], last_move[p] - killed_at)
          last_move[p] = now
          resumed.setdefault(p, now - killed_at)
      last = now_offsets
      if len(resumed) == len(all_parts) and now - killed_at > max(resumed.values()) + 5:
        break
      if feed.poll() is not None:
        self.fail(f"the feed ended {now - killed_at:.1f} s after the kill, before every "
                  f"partition resumed; not resumed: {sorted(all_parts - set(resumed))}; "
                  "survivors' rebalances:\n" + "\n".join(
                      f"  r{i} {line}" for i, d in enumerate(ds[1:], 1)
                      for line in d.text().splitlines()
                      if re.search(r"kafka: (assigned|revoked|partition)", line)))
      for d in ds[1:]:
        self.assertTrue(d.running(), d.text()[-2000:])
      time.sleep(0.2)
    self.assertEqual(set(resumed), all_parts, f"partitions that never resumed: {resumed}")
    killed_gap = max(resumed[p] for p in killed_parts)
    survivor_gap, survivor_gap_start = max(gap[p] for p in all_parts - killed_parts)
    session = os.environ.get("SW_SESSION_TIMEOUT_MS", "10000 (shipped)")
    result = {"scenario": f"group of 3, one SIGKILLed, session.timeout.ms {session}",
              "feed_rate": rate, "partitions": len(all_parts),
              "killed_member_partitions": len(killed_parts),
              # From the SIGKILL to the first commit on each of the killed member's partitions.
              "killed_partitions_no_progress_s": round(killed_gap, 1),
              "killed_partitions_first_resumed_s": round(min(resumed[p] for p in killed_parts), 1),
              # The longest time a survivor's partition committed nothing, and when it began.
              "survivor_partitions_max_gap_s": round(survivor_gap, 1),
              "survivor_gap_began_after_kill_s": round(survivor_gap_start, 1)}
    print("RESULT", json.dumps(result))
    if RESULTS:
      with open(RESULTS, "a") as f:
        f.write(json.dumps(result) + "\n")
    # Where the time went: the survivors' rebalance events after the kill.
    print(f"SIGKILL at {killed_wall} UTC; survivors' rebalances:")
    for i, d in enumerate(ds[1:], 1):
      for line in d.text().splitlines():
        if re.search(r"kafka: (assigned|revoked)", line) and line[11:23] >= killed_wall:
          print(f"  r{i} {line}")
    # Sanity bounds only (no timing promise on a shared machine): the killed member's
    # partitions waited for its session to expire, and nothing waited for minutes.
    self.assertGreater(killed_gap, 5, "the killed member's partitions resumed before its "
                       "session could expire: was it really killed?")
    self.assertLess(max(killed_gap, survivor_gap), 140)
    self.end_live_feed(feed)
    self.finish(ds[1:], timeout=240)
    self.stop_all()
    self.verify("group of 3 under a steady feed: one SIGKILLed")

  def test_produce_errors_stall_commits_then_recover(self):
    # Deliveries time out after 2 s instead of librdkafka's 5 minutes, so within the fault
    # window the daemon's own re-produce path runs too (counted on /metrics).
    d = self.start(producer={"message.timeout.ms": 2000})
    self.wait_progress(0.1, [d])
    self.assertEqual(self.metric(d, "steppewatch_alerts_failed_total"), 0)
    # Cluster-level errors (enough for the whole window; `clear` ends it). Not broker-level
    # ones, which could be counted: in librdkafka 2.0.2's mock a broker's error stack for an API,
    # once pushed, shadows the cluster's for good, even when empty.
    self.broker.control("errors Produce 100000 NOT_LEADER_FOR_PARTITION")
    # Proof 1: nothing committed and no alert published for the window (1 + 5 s) while the
    # daemon runs with input left.
    committed, alerts = self.assert_stalled([d], 5)
    # Proof 2: the daemon counted failed deliveries and re-produced them.
    failed = self.metric(d, "steppewatch_alerts_failed_total")
    retries = self.metric(d, "steppewatch_produce_retries_total")
    in_flight = self.metric(d, "steppewatch_in_flight_items")
    self.assertGreater(failed, 0)
    self.assertGreater(retries, 0)
    self.assertGreater(in_flight, 0)
    self.broker.control("clear Produce")
    self.finish([d])
    self.stop_all()
    r = self.verify("Produce NOT_LEADER_FOR_PARTITION for 6 s, then cleared")
    self.assertLess(r["max_rss_mb"], 512, "memory stays bounded under backpressure")
    print("RESULT", json.dumps({"scenario": "produce errors", "committed_at_fault": committed,
                                "alert_messages_at_fault": alerts, "alerts_failed": failed,
                                "produce_retries": retries, "in_flight_items": in_flight}))

  def test_rule_reload_during_load_good_then_broken_pack(self):
    import shutil
    pack = self.tmp.file("pack")
    shutil.copytree(sw.DEFAULT_PACK, pack)
    d = self.start(rules=pack)
    self.wait_progress(0.2, [d])
    # A good reload: the same rules, a touched file.
    with open(os.path.join(pack, "pack.yaml"), "a") as f:
      f.write("\n# reloaded\n")
    self.assertLess(self.committed(), self.total, "the reload must be sent mid-stream")
    d.p.send_signal(signal.SIGHUP)
    # Proof: the daemon attempted the reload and kept (or installed) a good pack.
    sw.wait_until(lambda: self.metric(d, "steppewatch_rule_reloads_total", result="success") +
                  self.metric(d, "steppewatch_rule_reloads_total", result="unchanged") >= 1, 60,
                  "a successful reload on /metrics")
    # A broken pack, as soon as the good one is in: the daemon must keep the running one.
    with open(os.path.join(pack, "zz-broken.yaml"), "w") as f:
      f.write("rules:\n  - id: broken\n    query: '(((\n")
    self.assertLess(self.committed(), self.total, "the reload must be sent mid-stream")
    d.p.send_signal(signal.SIGHUP)
    sw.wait_until(lambda: self.metric(d, "steppewatch_rule_reloads_total", result="failure") >= 1,
                  60, "a refused reload on /metrics")
    self.assertEqual(self.metric(d, "steppewatch_rules_last_reload_success"), 0)
    self.finish([d])
    self.assertTrue(d.running(), "a broken pack does not stop the daemon")
    self.stop_all()
    self.verify("reload good pack at 20%, broken pack right after it is installed")


if __name__ == "__main__":
  unittest.main(verbosity=2)

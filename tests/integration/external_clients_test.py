#!/usr/bin/python3
"""steppewatchd as users see it: a separate daemon process, a separate broker process, and real
external clients (kcat, Python confluent-kafka) on both sides.

Each test starts its own broker, so tests are independent; waits poll committed offsets and high
watermarks with deadlines (support.wait_until), never sleep for work.
"""
import json
import os
import re
import signal
import subprocess
import unittest

import support as sw

ALERT_HEADERS = ("steppewatch.rules", "steppewatch.tags", "steppewatch.severity",
                 "steppewatch.schema")


def header_list(value):
  return {x for x in value.replace(" ", "").split(",") if x}


class ExternalClientsTest(sw.BrokerTestCase):

  def items_file(self, count, name="items.jsonl"):
    path = self.tmp.file(name)
    sw.gen_items(path, count)
    return path

  def test_kcat_in_kcat_and_python_out(self):
    path = self.items_file(300)
    lines = [l.rstrip(b"\n") for l in open(path, "rb") if l.strip()]
    ids = [json.loads(l)["id"].encode() for l in lines]
    sw.kcat_produce(self.broker.bootstrap, sw.INPUT, list(zip(ids, lines)))
    expected = sw.offline_alerts(sw.DEFAULT_PACK, path)
    self.assertTrue(expected, "the generated items should match the default pack")

    d = self.start_daemon("d", "it-kcat")
    self.kafka.wait_consumed("it-kcat", sw.INPUT, 60, [d])

    # kcat reads every alert topic; -J gives key, headers and payload.
    kcat_alerts = []
    for topic in sw.ALERT_TOPICS:
      out = subprocess.run(["kcat", "-b", self.broker.bootstrap, "-C", "-t", topic, "-o",
                            "beginning", "-e", "-q", "-J"], check=True, capture_output=True,
                           timeout=60).stdout
      kcat_alerts += [json.loads(l) for l in out.splitlines() if l.strip()]
    self.assertTrue(kcat_alerts)
    for m in kcat_alerts:
      alert = json.loads(m["payload"])  # valid JSON
      self.assertEqual(alert["schema"], "steppewatch.alert.v1")
      self.assertEqual(m["key"], alert["item"]["id"], "key = item id")
      h = m.get("headers") or []
      headers = dict(zip(h[0::2], h[1::2]))
      for name in ALERT_HEADERS:
        self.assertIn(name, headers, f"header {name} on {m['key']}")
      self.assertEqual(headers["steppewatch.schema"], "steppewatch.alert.v1")
      self.assertEqual(header_list(headers["steppewatch.rules"]),
                       {x["rule"] for x in alert["matches"]})
      self.assertEqual(alert["origin"]["topic"], sw.INPUT)
    self.assertEqual(sw.alerts_by_item(json.loads(m["payload"]) for m in kcat_alerts), expected)

    # Python confluent-kafka sees the same messages, with the same keys and headers.
    py = self.kafka.read_all(sw.ALERT_TOPICS)
    self.assertEqual(sorted((m["topic"], m["key"].decode(), m["value"].decode()) for m in py),
                     sorted((m["topic"], m["key"], m["payload"]) for m in kcat_alerts))
    for m in py:
      self.assertEqual(m["headers"]["steppewatch.schema"], b"steppewatch.alert.v1")

    # `steppewatch tail` prints every alert for people: the item's title and each rule id.
    out = subprocess.run([sw.SW, "tail", "--brokers", self.broker.bootstrap, "--topic",
                          ",".join(sw.ALERT_TOPICS), "--from-beginning", "--count",
                          str(len(kcat_alerts)), "--timeout", "60"], check=True,
                         capture_output=True, text=True, timeout=90).stdout
    for m in kcat_alerts:
      alert = json.loads(m["payload"])
      self.assertIn(f"key={m['key']} ", out)
      self.assertIn(f"title: {alert['item']['title']}", out)
      for match in alert["matches"]:
        self.assertIn(f"  - {match['rule']} ", out)
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

  def test_malformed_items_dead_lettered_and_later_items_processed(self):
    good = b'{"id": "good-after", "title": "Kazakhstan and China sign a deal", ' \
           b'"body": "Tokayev met Xi Jinping in Astana to discuss the Belt and Road.", "lang": "en"}'
    big = b'{"id": "oversize", "title": "t", "body": "' + b"word " * 300000 + b'"}'
    cases = [  # key, payload, expected reason
        (b"bad-json", b'{"id": "bad-json", "title": "Kazakhstan", ', "invalid_json"),
        (b"bad-utf8", b'{"id": "bad-utf8", "title": "Kazakhstan \xff\xfe", "body": "x"}',
         "invalid_utf8"),
        (b"oversize", big, "too_large"),
        (b"missing-id", b'{"title": "Kazakhstan and China", "body": "Tokayev met Xi"}',
         "missing_id"),
        (b"no-text", b'{"id": "no-text", "lang": "en"}', "no_text"),
        (b"not-object", b'[1, 2, 3]', "not_an_object"),
        (b"empty", b"", "empty_payload"),
    ]
    # One partition, in order: the good item comes after every bad one.
    sw.kcat_produce(self.broker.bootstrap, sw.INPUT, [(k, v) for k, v, _ in cases],
                    extra=["-p", "0"])
    sw.kcat_produce(self.broker.bootstrap, sw.INPUT, [(b"tombstone", b"")], null_empty=True,
                    extra=["-p", "0"])
    sw.kcat_produce(self.broker.bootstrap, sw.INPUT, [(b"good-after", good)], extra=["-p", "0"])
    expected = {k.decode(): (i, r, v) for i, (k, v, r) in enumerate(cases)}
    expected["tombstone"] = (len(cases), "tombstone", None)

    d = self.start_daemon("d", "it-dlq")
    self.kafka.wait_consumed("it-dlq", sw.INPUT, 60, [d])

    dead = self.kafka.read_all([sw.DLQ])
    got = {m["key"].decode(): m for m in dead}
    self.assertEqual(sorted(got), sorted(expected), "one dead letter per bad item")
    for key, (offset, reason, value) in expected.items():
      m = got[key]
      h = m["headers"]
      self.assertEqual(h.get("steppewatch.error.reason"), reason.encode(), key)
      self.assertTrue(h.get("steppewatch.error.message"), key)
      self.assertEqual(h.get("steppewatch.error.topic"), sw.INPUT.encode(), key)
      self.assertEqual(h.get("steppewatch.error.partition"), b"0", key)
      self.assertEqual(h.get("steppewatch.error.offset"), str(offset).encode(), key)
      self.assertIn("steppewatch.error.rule_pack", h, key)
      if reason == "too_large" and m["value"] is not None and len(m["value"]) < len(value):
        # A value above the producer's message.max.bytes cannot be forwarded whole: a prefix,
        # marked as truncated, is the most a dead-letter topic can keep.
        self.assertTrue(value.startswith(m["value"]), f"{key}: a prefix of the original")
      else:
        self.assertEqual(m["value"], value, f"{key}: original value kept")

    alerts = self.kafka.read_all(sw.ALERT_TOPICS)
    self.assertIn(b"good-after", {m["key"] for m in alerts}, "the item after the bad ones")
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

  def test_alerts_are_exactly_the_offline_matches(self):
    path = self.items_file(2000)
    corpus = os.path.join(sw.SHARED_CORPUS, "news-bench.jsonl")
    seed = os.path.join(sw.SHARED_CORPUS, "seed-article.json")
    with open(path, "ab") as out:
      # Real news too when the shared corpus is here (its first 3000 lines, mostly no match).
      if os.path.exists(corpus):
        with open(corpus, "rb") as f:
          for i, line in enumerate(f):
            if i >= 3000:
              break
            out.write(line)
      if os.path.exists(seed):
        out.write(open(seed, "rb").read().strip() + b"\n")
    subprocess.run([sw.SW, "feed", "--brokers", self.broker.bootstrap, "--topic", sw.INPUT,
                    "--quiet", path], check=True, timeout=120, stdout=subprocess.DEVNULL)
    expected = sw.offline_alerts(sw.DEFAULT_PACK, path)

    d = self.start_daemon("d", "it-exact", workers=2)
    self.kafka.wait_consumed("it-exact", sw.INPUT, 120, [d])
    alerts = self.kafka.read_all(sw.ALERT_TOPICS)
    parsed = [json.loads(m["value"]) for m in alerts]
    got = sw.alerts_by_item(parsed)
    self.assertTrue(expected)
    missing = {k: v for k, v in expected.items() if got.get(k) != v}
    extra = {k: v for k, v in got.items() if k not in expected}
    self.assertEqual(missing, {}, "items whose alerts differ from `steppewatch match`")
    self.assertEqual(extra, {}, "alerts for items `steppewatch match` does not alert on")
    pairs = [(m["topic"], m["key"]) for m in alerts]
    self.assertEqual(len(pairs), len(set(pairs)), "one alert per item and topic in a clean run")
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

  def test_sigterm_mid_stream_then_restart_loses_nothing(self):
    path = self.items_file(20000)
    subprocess.run([sw.SW, "feed", "--brokers", self.broker.bootstrap, "--topic", sw.INPUT,
                    "--quiet", path], check=True, timeout=120, stdout=subprocess.DEVNULL)
    total = sum(self.kafka.high(sw.INPUT).values())
    self.assertEqual(total, 20000)
    self.assertEqual(self.kafka.low(sw.INPUT), 0, "the broker dropped input: more partitions")
    expected = sw.offline_alerts(sw.DEFAULT_PACK, path)

    d1 = self.start_daemon("d1", "it-restart")
    progress = lambda: sum(max(o, 0) for o in self.kafka.committed("it-restart", sw.INPUT).values())
    sw.wait_until(lambda: progress() >= total // 10 or not d1.running(), 60,
                  "the first daemon to commit 10% of the input")
    self.assertEqual(d1.stop(signal.SIGTERM), 0, "SIGTERM drains and exits 0: " + d1.text()[-2000:])
    at_stop = progress()
    print(f"committed at SIGTERM: {at_stop} of {total}")

    d2 = self.start_daemon("d2", "it-restart")
    self.kafka.wait_consumed("it-restart", sw.INPUT, 120, [d2])
    self.assertEqual(d2.stop(), 0, d2.text()[-2000:])

    alerts = self.kafka.read_all(sw.ALERT_TOPICS)
    got = sw.alerts_by_item(json.loads(m["value"]) for m in alerts)
    missing = sorted(k for k, v in expected.items() if got.get(k) != v)
    self.assertEqual(missing, [], "every matching item has its alerts after the restart")
    self.assertEqual(sorted(set(got) - set(expected)), [])
    pairs = [(m["topic"], m["key"]) for m in alerts]
    duplicates = len(pairs) - len(set(pairs))
    print(f"RESULT sigterm-restart: items={total} committed_at_sigterm={at_stop} "
          f"alerts={len(pairs)} distinct={len(set(pairs))} duplicates={duplicates}")

  def run_demo(self, extra_args=()):
    sample = os.path.join(sw.SOURCE, "config/demo/sample-items.jsonl")
    if not os.path.exists(sample):
      self.skipTest("config/demo/sample-items.jsonl not written yet")
    out = self.tmp.file("demo.out")
    with open(out, "w") as f:
      p = subprocess.Popen([sw.SWD, *extra_args, "--embedded", "--rules", sw.DEFAULT_PACK,
                            "--demo", sample, "--demo-exit"], stdout=f, stderr=subprocess.STDOUT,
                           cwd=self.tmp.path)
      try:
        rc = p.wait(120)
      except subprocess.TimeoutExpired:
        p.kill()
        self.fail("the demo did not exit within 120 s")
    with open(out, errors="replace") as f:
      text = f.read()
    self.assertEqual(rc, 0, text[-3000:])
    self.assertRegex(text, r"127\.0\.0\.1:\d+", "prints the embedded broker's bootstrap address")
    self.assertIn("ca.", text, "prints alerts of the default pack")
    # The demo runs the stories role too: the syndicated copies of demo-044 join its story, and
    # the burst of distinct stories about Kazakh oil exports is a spike.
    # Which copy the stage sees first (and names the story after) depends on the partitions.
    self.assertRegex(text, r"STORY demo-04[456] is copy [23] of story demo-04[456]",
                     "prints the story grouping of the syndicated copies")
    # In the order the stage counted them: the embedded broker gives the stories topic one
    # partition (over several, keyed by item id, copy 3 was at times printed before copy 2).
    copies = {}
    for n, story in re.findall(r"STORY \S+ is copy (\d+) of story (\S+)", text):
      copies.setdefault(story, []).append(int(n))
    for story, numbers in copies.items():
      self.assertEqual(numbers, list(range(2, 2 + len(numbers))),
                       f"story {story}'s copies are printed in the order they joined it")
    self.assertRegex(text, r"SPIKE start tag theme:energy: \d+ new stories",
                     "prints the spike of the burst")
    return text

  def test_readme_main_command(self):
    self.run_demo()

  def test_demo_waits_for_the_stories_role_before_it_ends(self):
    # The role's producer holds its enriched alerts 1.5 s (linger.ms) after it consumed their
    # alerts. The demo used to end there (every alert printed, the role's delivered count 0):
    # no STORY line at all, as seen once in a loaded CI run; now it waits for the role's
    # outputs to be delivered and read, so the grouping is printed before the summary line.
    config = self.tmp.file("slow-producer.yaml")
    with open(config, "w") as f:
      # Its own metrics port: the README command's test may run beside it on the default one.
      f.write("kafka:\n  producer:\n    linger.ms: 1500\n"
              f"metrics:\n  listen: \"127.0.0.1:{sw.free_port()}\"\n")
    text = self.run_demo(["--config", config])
    summary = text.index("steppewatchd: demo: 53 items processed")
    self.assertRegex(text[:summary], r"STORY demo-04[456] is copy [23] of story demo-04[456]",
                     "the grouping is printed before the demo's summary line")


if __name__ == "__main__":
  unittest.main(verbosity=2)

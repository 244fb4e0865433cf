#!/usr/bin/python3
"""Hostile and malformed input replayed through the real daemon (tests/RELIABILITY.md).

Every row starts its own `steppewatch broker` and steppewatchd (separate processes), produces the
nasty items with confluent-kafka, each followed by a canary item that must alert, and checks with
an independent consumer what a user sees:
  - each nasty item either alerts as it should, or is on the dead-letter topic with the expected
    `steppewatch.error.reason` and the other `steppewatch.error.*` headers (its topic, partition
    and offset);
  - every canary alerted: the daemon kept processing the next normal item;
  - the group committed the whole input (nothing stuck behind the nasty item) and the daemon is
    still running.
Rows that need it measure the daemon's peak RSS (VmHWM) and the time the item took; every result
is printed as a `RESULT {...}` line (and appended to $SW_RESULTS when set). Waits poll conditions
with deadlines; nothing sleeps for work.

Run: PYTHONPATH=tests STEPPEWATCH_BUILD_DIR=build/hostile STEPPEWATCH_SOURCE_DIR=. \\
       /usr/bin/python3 tests/reliability/hostile_test.py [HostileTest.test_...]
KEEP_TMP=1 keeps the logs; SW_DEBUG=fetch,msg turns on librdkafka debug contexts in the daemon
(and its log level debug).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import support as sw
from hostile_harness import (ALERT, DEAD, DEFAULT_MAX_HITS, DEFAULT_MAX_ITEM_BYTES, LARGE,
                             MAX_HITS_PER_FIRED_RULE, MiB, PRODUCER_MESSAGE_MAX, Expect,
                             HostileCase, item)


class HostileTest(HostileCase):

  # The rows, in the order of tests/RELIABILITY.md "Hostile input".

  # -- row 1

  def test_01_deeply_nested_json(self):
    n = 100000
    k = b'{"id": "deep-in-unread-field", "title": "Kazakhstan and China sign a deal", "extra": '
    self.run_table([
        # The root is an array 100k levels deep: not a news item.
        (b"deep-root", b"[" * n + b"]" * n,
         DEAD("not_an_object", "the root is not a JSON object but array")),
        # 100k unclosed objects inside an item.
        (b"deep-unclosed", b'{"id": "deep-unclosed", "title": "Kazakhstan", "extra": ' + b"{" * n,
         DEAD("invalid_json")),
        # The title itself is 100k levels of arrays.
        (b"deep-title", b'{"id": "deep-title", "title": ' + b"[" * n + b"]" * n + b"}",
         DEAD("wrong_type", "field 'title': expected a string, got array")),
        # Nesting in a field the daemon does not read is skipped without recursion (the decoder's
        # documented choice): the item is fine and alerts.
        (b"deep-in-unread-field", k + b"[" * n + b"]" * n + b"}", ALERT("ca.geo.kazakhstan")),
        (b"deep-objects-in-unread-field",
         b'{"id": "deep-objects-in-unread-field", "title": "Kazakhstan", "extra": ' +
         b'{"a": ' * n + b"1" + b"}" * n + b"}", ALERT("ca.geo.kazakhstan")),
    ])

  # -- row 2

  def test_02_100_mb_payload_is_dead_lettered_as_too_large(self):
    # 99,000,000 bytes: the mock broker refuses requests above its receive.message.max.bytes
    # (librdkafka's default, 100,000,000 bytes), so this is the largest "100 MB" it accepts.
    size = 99000000
    head = b'{"id": "huge", "title": "Kazakhstan", "body": "'
    value = head + b"a" * (size - len(head) - 2) + b'"}'
    self.assertEqual(len(value), size)

    def truncated_prefix(test, m):
      h = m["headers"]
      test.assertEqual(h.get("steppewatch.error.truncated"), str(size).encode(),
                       "the original size is kept in a header")
      test.assertLessEqual(len(m["value"]), PRODUCER_MESSAGE_MAX)
      test.assertGreater(len(m["value"]), 0)
      test.assertTrue(value.startswith(m["value"]), "the dead letter is a prefix of the item")

    d = self.start()
    started = time.monotonic()
    self.send(b"huge", value,
              DEAD("too_large", f"{size} bytes > max_item_bytes {DEFAULT_MAX_ITEM_BYTES}",
                   check=truncated_prefix), partition=LARGE, timeout=240)
    produced = time.monotonic() - started
    self.send_canary()
    waited = self.wait_all_committed(d, timeout=240)
    self.verify()
    self.report(item_bytes=size, seconds_to_produce=round(produced, 1),
                seconds_to_commit_all=round(waited, 1), max_rss_mb=round((d.hwm_mb() or 0.0), 1))
    self.assertLess((d.hwm_mb() or 0.0), 1024, "one 99 MB item costs a bounded amount of memory")
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

  # -- rows 3-6: bytes that are not what they seem

  def test_03_nul_bytes(self):
    def title_has_nul(test, msgs):
      for m in msgs:
        test.assertEqual(json.loads(m["value"])["item"]["title"], "Kazakhstan\x00 and China")
    self.run_table([
        # RFC 8259: control characters inside strings must be escaped.
        (b"nul-raw-in-title", b'{"id": "nul-raw-in-title", "title": "Kazakhstan\x00 and China"}',
         DEAD("invalid_json", "some characters must be escaped")),
        (b"nul-between-tokens", b'{"id": "nul-between-tokens",\x00 "title": "Kazakhstan"}',
         DEAD("invalid_json")),
        (b"nul-before-json", b'\x00{"id": "nul-before-json", "title": "Kazakhstan"}',
         DEAD("invalid_json")),
        (b"nul-after-json", b'{"id": "nul-after-json", "title": "Kazakhstan"}\x00',
         DEAD("invalid_json")),
        # An escaped NUL is a character like any other: kept in the text, escaped in the alert.
        (b"nul-escaped", b'{"id": "nul-escaped", "title": "Kazakhstan\\u0000 and China"}',
         ALERT("ca.geo.kazakhstan", check=title_has_nul)),
    ])

  def test_04_overlong_utf8(self):
    def t(key, bad):
      return (key, b'{"id": "' + key + b'", "title": "Kazakhstan ' + bad + b'"}',
              DEAD("invalid_utf8", "payload is not valid UTF-8"))
    self.run_table([
        t(b"overlong-2-byte-slash", b"\xc0\xaf"),
        t(b"overlong-2-byte-nul", b"\xc0\x80"),  # "modified UTF-8" NUL
        t(b"overlong-3-byte-slash", b"\xe0\x80\xaf"),
        t(b"overlong-4-byte-slash", b"\xf0\x80\x80\xaf"),
        # The whole payload is validated, not only the fields that are read.
        (b"overlong-in-unread-field",
         b'{"id": "overlong-in-unread-field", "title": "Kazakhstan", "x": "\xc0\xaf"}',
         DEAD("invalid_utf8")),
    ])

  def test_05_lone_surrogates(self):
    def raw(key, bad):
      return (key, b'{"id": "' + key + b'", "title": "Kazakhstan ' + bad + b'"}',
              DEAD("invalid_utf8", "payload is not valid UTF-8"))

    def esc(key, bad):
      return (key, b'{"id": "' + key + b'", "title": "Kazakhstan ' + bad + b' and China"}',
              DEAD("invalid_json", "lone UTF-16 surrogate"))

    def emoji(test, msgs):
      for m in msgs:
        test.assertEqual(json.loads(m["value"])["item"]["title"], "Kazakhstan \U0001F600 and China")
    self.run_table([
        raw(b"surrogate-raw-high", b"\xed\xa0\x80"),
        raw(b"surrogate-raw-low", b"\xed\xb0\x80"),
        raw(b"surrogate-raw-cesu-pair", b"\xed\xa0\xbd\xed\xb8\x80"),  # CESU-8, not UTF-8
        esc(b"surrogate-escaped-high", b"\\ud800"),
        esc(b"surrogate-escaped-low", b"\\udc00"),
        esc(b"surrogate-escaped-high-then-letter", b"\\ud800\\u0041"),
        # A proper pair is one character.
        (b"surrogate-escaped-pair",
         b'{"id": "surrogate-escaped-pair", "title": "Kazakhstan \\ud83d\\ude00 and China"}',
         ALERT("ca.geo.kazakhstan", check=emoji)),
        # Escapes in fields the daemon does not read are not unescaped, so not checked (the
        # decoder's documented choice: skipped values are not validated).
        (b"surrogate-escaped-in-unread-field",
         b'{"id": "surrogate-escaped-in-unread-field", "title": "Kazakhstan", "x": "\\ud800"}',
         ALERT("ca.geo.kazakhstan")),
    ])

  def test_06_utf8_bom(self):
    bom = b"\xef\xbb\xbf"

    def title_is(expected):
      def check(test, msgs):
        for m in msgs:
          test.assertEqual(json.loads(m["value"])["item"]["title"], expected)
      return check
    self.run_table([
        # RFC 8259 8.1: a parser may ignore a leading BOM; the decoder skips exactly one.
        (b"bom-leading", bom + item("bom-leading"),
         ALERT("ca.geo.kazakhstan", check=title_is("Kazakhstan and China sign a deal"))),
        (b"bom-twice", bom + bom + item("bom-twice"), DEAD("invalid_json")),
        (b"bom-after-whitespace", b" " + bom + item("bom-after-whitespace"), DEAD("invalid_json")),
        # Inside a string it is an ordinary character (U+FEFF) and stays in the text.
        (b"bom-inside-title", item("bom-inside-title", title="\ufeffKazakhstan and China"),
         ALERT("ca.geo.kazakhstan", check=title_is("\ufeffKazakhstan and China"))),
    ])

  # -- row 7

  def test_07_one_million_matching_words(self):
    words = 1000000
    body = "Kazakhstan " * words
    value = item("match-explosion", title="Explosion", body=body)
    # 11 MB: above the default decoder.max_item_bytes (1 MiB), where it would simply be
    # dead-lettered as too_large; this row raises the limit so the matcher meets the words.
    d = self.start(max_item_bytes=16 * MiB)
    hits_before = self.metric(d, "steppewatch_term_hits_total")
    busy_before = self.metric(d, "steppewatch_item_processing_seconds_sum")

    def truncated(test, msgs):
      for m in msgs:
        alert = json.loads(m["value"])
        test.assertIs(alert.get("hits_truncated"), True, "the alert says its hits were cut")
        for match in alert["matches"]:
          test.assertLessEqual(len(match["hits"]), MAX_HITS_PER_FIRED_RULE)
        test.assertLess(len(m["value"]), PRODUCER_MESSAGE_MAX)
    started = time.monotonic()
    self.send(b"match-explosion", value, ALERT("ca.geo.kazakhstan", check=truncated),
              partition=LARGE)
    waited = self.wait_all_committed(d)
    elapsed = time.monotonic() - started
    hits = self.metric(d, "steppewatch_term_hits_total") - hits_before
    # The worker's time on this one item: decode, scan, rules, render (reported, not asserted).
    busy = self.metric(d, "steppewatch_item_processing_seconds_sum") - busy_before
    self.send_canary()
    self.wait_all_committed(d)
    self.verify()
    self.report(item_bytes=len(value), matching_words=words, hits_kept=hits,
                seconds_processing_the_item=round(busy, 3),
                seconds_produce_to_committed=round(elapsed, 2),
                seconds_to_commit=round(waited, 2), max_rss_mb=round((d.hwm_mb() or 0.0), 1))
    self.assertGreater(hits, 0)
    self.assertLessEqual(hits, DEFAULT_MAX_HITS, "hits per item are bounded")
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

  def test_07b_pipeline_max_hits_per_item_is_honoured(self):
    """pipeline.max_hits_per_item reaches the matcher: an item with 20,000 matching words keeps
    exactly the configured cap of hits (the daemon once ignored the setting and kept 10,000)."""
    cap = 500
    value = item("match-explosion-capped", title="Explosion", body="Kazakhstan " * 20000)
    d = self.start(max_hits=cap)
    before = self.metric(d, "steppewatch_term_hits_total")
    self.send(b"match-explosion-capped", value, ALERT("ca.geo.kazakhstan"))
    self.wait_all_committed(d)
    hits = self.metric(d, "steppewatch_term_hits_total") - before
    print(f"hits kept with pipeline.max_hits_per_item={cap}: {hits:.0f}")
    self.assertEqual(hits, cap)

  # -- row 8

  def test_08_pathological_rules_are_refused_on_reload_and_the_running_pack_stays(self):
    pack = self.tmp.file("pack")
    shutil.copytree(sw.DEFAULT_PACK, pack)
    hostile = os.path.join(pack, "rules", "zz-hostile.yaml")
    d = self.start(rules=pack, reload_on_change=True)
    timings = {}

    def put(text):
      """Replaces the hostile file in one rename, so no reload ever reads half of it."""
      staged = self.tmp.file("staged.yaml")
      with open(staged, "w") as f:
        f.write(text)
      os.replace(staged, hostile)

    def reload(action, patterns, name):
      """Runs `action`, then waits for log lines matching all `patterns` written after it."""
      mark = len(d.text())
      started = time.monotonic()
      action()
      sw.wait_until(lambda: all(re.search(p, d.text()[mark:]) for p in patterns) or None, 120,
                    f"{name}: {patterns}")
      timings[name] = round(time.monotonic() - started, 1)
      self.assertTrue(d.running(), "a bad pack does not stop the daemon")
      return d.text()[mark:]

    def line_of(text, needle):
      return text[:text.index(needle)].count("\n") + 1

    def canary_alerts():
      self.send_canary()
      self.wait_all_committed(d)

    # 1. Limits checked while loading, picked up from the file change (inotify): a 1 MB regex in
    #    a query, a 1 MB term in a set, and a rule over 50,001 terms (max_terms_per_rule).
    text = ("sets:\n"
            "  huge-term:\n"
            "    terms:\n"
            f"      - /{'ab' * (MiB // 2)}/\n"
            "  many:\n"
            "    terms:\n" +
            "".join(f"      - w{i}x\n" for i in range(50001)) +
            "rules:\n"
            "  - id: hostile.mb-pattern\n"
            f"    query: '/{'a' * MiB}/'\n"
            "  - id: hostile.huge-term\n"
            "    query: '@huge-term'\n"
            "  - id: hostile.many\n"
            "    query: '@many'\n")
    expected_errors = [
        rf"zz-hostile\.yaml:{line_of(text, '/abab')}:\d+: term is 1048576 bytes, over the "
        r"limit of 1024",
        rf"zz-hostile\.yaml:{line_of(text, 'query: ' + chr(39) + '/aaa')}:\d+: rule "
        r"'hostile\.mb-pattern': query: the query is \d+ bytes, over the limit of 65536",
        rf"zz-hostile\.yaml:{line_of(text, 'query: ' + chr(39) + '@many')}:\d+: rule "
        r"'hostile\.many' expands to more than 50000 terms"]
    failed = r"rule reload {} from \S+ FAILED after [\d.]+ s; keeping pack central-asia"
    reload(lambda: put(text), [failed.format("on file change")] + expected_errors,
           "parse_limits_on_change")
    canary_alerts()
    # The same pack again by SIGHUP: refused again, the running pack stays.
    reload(lambda: d.p.send_signal(signal.SIGHUP), [failed.format("on request")] + expected_errors,
           "parse_limits_on_sighup")
    canary_alerts()

    # 2. A repeat Hyperscan refuses at compile time, named with its file and line.
    reload(lambda: put("rules:\n  - id: hostile.nested-repeat\n    query: '/a{1000}{1000}/'\n"),
           [failed.format("on file change"),
            r"zz-hostile\.yaml:3:\d+: term '/a\{1000\}\{1000\}/' of rule "
            r"'hostile\.nested-repeat' cannot be compiled: .*invalid repeat"],
           "nested_repeat_on_change")
    canary_alerts()

    # 3. (a|aa)*b and a bounded repeat of 20000 are accepted: Hyperscan compiles them to automata
    #    whose scan is linear in the text (no backtracking), so they cost compile time only.
    reload(lambda: put("rules:\n"
                       "  - id: hostile.alternation-star\n"
                       "    query: '/(a|aa)*b/'\n"
                       "  - id: hostile.big-bounded-repeat\n"
                       "    query: '/(ab|cd){1,20000}x/'\n"),
           [r"rule reload on file change: installed pack central-asia"],
           "accepted_regex_on_change")
    # Their worst inputs: a run of a's that never ends in b, and the repeat 20000 times over.
    self.send(b"regex-worst-a-run", item("regex-worst-a-run", title="x", body="a" * 1000000),
              Expect("none"))
    self.send(b"regex-alternation", item("regex-alternation", title="x", body="aaaaaaab"),
              ALERT("hostile.alternation-star"))
    self.send(b"regex-worst-repeat",
              item("regex-worst-repeat", title="x", body="ab" * 20000 + "x"),
              ALERT("hostile.big-bounded-repeat"))
    canary_alerts()

    dead, alerts = self.verify_with_none()
    canaries = [k for k, *_ in self.sent if k.startswith(b"canary")]
    for key in canaries[:3]:  # the ones processed while a hostile file was refused
      fired = {x["rule"] for m in alerts[key] for x in json.loads(m["value"])["matches"]}
      self.assertFalse({r for r in fired if r.startswith("hostile.")}, fired)
    self.report(max_rss_mb=round((d.hwm_mb() or 0.0), 1), **timings)
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

  def test_08b_pack_over_200k_distinct_terms_is_refused(self):
    """max_terms (rules::PackOptions, 200,000): checked by the loader the daemon also uses."""
    pack = self.tmp.file("pack")
    shutil.copytree(sw.DEFAULT_PACK, pack)
    sets = 5  # five rules of 40,001 terms each: under max_terms_per_rule, over max_terms together
    with open(os.path.join(pack, "rules", "zz-many.yaml"), "w") as f:
      f.write("sets:\n")
      for s in range(sets):
        f.write(f"  many{s}:\n    terms:\n")
        f.write("".join(f"      - w{s}x{i}\n" for i in range(40001)))
      f.write("rules:\n")
      for s in range(sets):
        f.write(f"  - id: hostile.many{s}\n    query: '@many{s}'\n")
    started = time.monotonic()
    out = subprocess.run([sw.SW, "rules", "check", pack], capture_output=True, text=True,
                         timeout=300)
    seconds = time.monotonic() - started
    self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
    self.assertRegex(out.stdout + out.stderr,
                     r"the pack has 20\d{4} distinct terms, over the limit of 200000")
    self.report(terms=sets * 40001, seconds_to_refuse=round(seconds, 1))

  def verify_with_none(self):
    """verify() for rows that also send items expected to produce nothing."""
    none = [s for s in self.sent if s[3].kind == "none"]
    self.sent = [s for s in self.sent if s[3].kind != "none"]
    dead, alerts = self.verify()
    for key, *_ in none:
      self.assertNotIn(key, alerts)
      self.assertNotIn(key, dead)
    return dead, alerts

  # -- beyond the table: an item that is fine but whose alert is not

  def test_10_matching_item_with_a_1_mb_title_does_not_stall(self):
    """An item just under decoder.max_item_bytes whose title matches: the alert repeats the whole
    title, so it is larger than the producer's message.max.bytes (1,000,000) and could never be
    produced (the daemon used to retry it forever and hold the partition). It goes to the
    dead-letter topic as render_error, and the canary behind it alerts."""
    title = "Kazakhstan " + "x" * 1030000
    value = item("huge-title", title=title, body="")
    self.assertLess(len(value), DEFAULT_MAX_ITEM_BYTES)
    d = self.start()
    self.send(b"huge-title", value, DEAD("render_error", "message.max.bytes"), partition=LARGE)
    self.send_canary()
    waited = self.wait_all_committed(d, timeout=20)
    self.verify()
    self.report(item_bytes=len(value), seconds_to_commit_all=round(waited, 1))

  # -- row 9

  def zip_bomb(self, compression, size):
    head = f'{{"id": "zip-bomb-{compression}", "title": "Kazakhstan", "body": "'.encode()
    value = head + b"a" * (size - len(head) - 2) + b'"}'
    key = f"zip-bomb-{compression}".encode()
    d = self.start()

    def truncated_prefix(test, m):
      test.assertEqual(m["headers"].get("steppewatch.error.truncated"), str(size).encode())
      test.assertLessEqual(len(m["value"]), PRODUCER_MESSAGE_MAX)
      test.assertTrue(value.startswith(m["value"]))
    started = time.monotonic()
    self.send(key, value, DEAD("too_large", f"{size} bytes > max_item_bytes",
                               check=truncated_prefix),
              partition=LARGE, compression=compression, timeout=300)
    produced = time.monotonic() - started
    self.send_canary()
    waited = self.wait_all_committed(d, timeout=240)
    self.verify()
    rss = (d.hwm_mb() or 0.0)
    self.report(compression=compression, uncompressed_bytes=size,
                seconds_to_produce=round(produced, 1), seconds_to_commit_all=round(waited, 1),
                max_rss_mb=round(rss, 1))
    # The decompressed batch (size) and the item's bookkeeping, with room for the rest: a bound
    # that a second copy of the batch or an unbounded decompression would break.
    self.assertLess(rss, size / MiB * 2 + 200, "peak RSS stays near one decompressed copy")
    self.assertEqual(d.stop(), 0, d.text()[-2000:])

  def test_09_zip_bomb_gzip(self):
    self.zip_bomb("gzip", 200 * 1000 * 1000)

  def test_09_zip_bomb_zstd(self):
    self.zip_bomb("zstd", 200 * 1000 * 1000)

  def test_09b_zstd_bomb_above_receive_message_max_bytes_is_dead_lettered(self):
    """librdkafka 2.0.2 refuses to decompress a zstd batch beyond receive.message.max.bytes
    (__BAD_COMPRESSION) and fetches it again forever. The daemon turns a consume error that
    repeats at one offset into a dead letter (reason undecodable, empty value: the bytes never
    reached it) and seeks past it, so the canary behind it is processed. Shown at small scale
    (40 MB bomb, 20 MB limit); with the default 512 MiB limit it takes a bomb of > 512 MiB.
    Before that fix the partition stalled here forever."""
    size = 40 * 1000 * 1000
    value = b'{"id": "zstd-over", "title": "K", "body": "' + b"a" * size + b'"}'
    d = self.start(consumer={"receive.message.max.bytes": 20000000, "fetch.max.bytes": 10000000})
    self.send(b"zstd-over", value, DEAD("undecodable"), partition=LARGE, compression="zstd")
    self.send_canary(LARGE)
    sw.wait_until(lambda: "consume error" in d.text() or None, 60, "the consume error")
    print("daemon log:", [l for l in d.text().splitlines() if "consume error" in l][:1])
    self.wait_all_committed(d, timeout=15)
    self.verify()


if __name__ == "__main__":
  unittest.main(verbosity=2)

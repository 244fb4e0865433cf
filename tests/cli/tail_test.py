#!/usr/bin/python3
"""`steppewatch tail` as a subscriber runs it, against `steppewatch broker` in its own process:
an alert rendered by `steppewatch match` (the daemon's ItemProcessor) and produced with kcat is
shown with its item's url and language and its matched words marked; a topic name that does not
exist is warned about, with the closest existing name, instead of being waited on in silence.
"""
import os
import subprocess
import unittest

import support as sw

ITEM = (b'{"id":"tail-1","title":"Kazakhstan and China sign a deal",'
        b'"body":"Tokayev met Xi Jinping in Astana.","lang":"en","url":"https://example.org/1"}')


class TailTest(unittest.TestCase):

  def setUp(self):
    self.tmp = sw.TempDir("sw-tail-")
    self.addCleanup(self.tmp.release)
    self.broker = sw.Broker(self.tmp, ["alerts.test:2"])
    self.addCleanup(self.broker.stop)

  def tail(self, *args):
    return subprocess.run([sw.SW, "tail", "--brokers", self.broker.bootstrap] + list(args),
                          capture_output=True, text=True, timeout=60)

  def test_shows_url_language_and_marks_the_matched_words(self):
    pack = os.path.join(sw.SOURCE, "tests/data/rules/good")
    alerts = subprocess.run([sw.SW, "match", "--rules", pack, "-"], input=ITEM, check=True,
                            capture_output=True, timeout=60).stdout.splitlines()
    self.assertTrue(alerts)
    sw.kcat_produce(self.broker.bootstrap, "alerts.test", [(b"tail-1", alerts[0])])
    out = self.tail("--topic", "alerts.test", "--from-beginning", "--count", "1",
                    "--timeout", "30")
    self.assertEqual(out.returncode, 0, out.stderr)
    self.assertIn("url: https://example.org/1  lang: en", out.stdout)
    self.assertIn("**Kazakhstan**", out.stdout)

  def test_warns_about_a_topic_that_does_not_exist(self):
    out = self.tail("--topic", "alerts.tset", "--timeout", "2")
    self.assertNotEqual(out.returncode, 0)
    self.assertIn("topic 'alerts.tset' does not exist (did you mean 'alerts.test'?)", out.stderr)
    # With a group it still subscribes (the topic may be created later), after the warning.
    out = self.tail("--topic", "alerts.tset", "--group", "g", "--timeout", "2")
    self.assertIn("topic 'alerts.tset' does not exist", out.stderr)


if __name__ == "__main__":
  unittest.main()

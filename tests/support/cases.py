"""A unittest base class that owns a temporary directory, a broker process and a Kafka reader."""
import signal
import unittest

from .kafka import Kafka, standard_topics
from .paths import DEFAULT_PACK
from .processes import Broker, Daemon, TempDir, write_daemon_config


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

"""steppewatchd in embedded mode (its own in-process Kafka broker) fed with the bundled demo
items, with its metrics endpoint on a free loopback port; for the observability suites.

The daemon is started with its documented command line (`--embedded --rules DIR --demo FILE
--set metrics.listen=127.0.0.1:0`), and the port is read from its documented stdout line
"steppewatchd: metrics on http://HOST:PORT/metrics", as an operator's script would.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from .http import http_get, metrics_sum
from .paths import SKIP
from .processes import LoggedProcess
from .wait import wait_until


class EmbeddedDaemon:
  """A running `steppewatchd --embedded --demo`; use as a context manager (SIGTERM and wait on
  exit; the log's tail is printed when the block raised). Exits the test with SKIP when the
  binary has no --embedded mode."""

  def __init__(self, binary, source_dir, extra_env=None, demo=True, extra_args=()):
    self.binary = binary
    self.source_dir = source_dir
    self.port = None
    self.url = None
    self.workdir = tempfile.mkdtemp(prefix="steppewatch-obs-")
    self.log_path = os.path.join(self.workdir, "steppewatchd.log")
    self.demo = os.path.join(source_dir, "config", "demo", "sample-items.jsonl")
    self.env = dict(os.environ)
    # A developer's STEPPEWATCH_* variables must not leak into the test's daemon.
    for k in [k for k in self.env if k.startswith("STEPPEWATCH_")]:
      del self.env[k]
    self.env.update(extra_env or {})
    self.proc = None
    self.with_demo = demo  # False: no --demo (no items; the roles are the config's)
    self.extra_args = list(extra_args)  # more flags, e.g. ["--set", "stories.max_keys=2"]

  def demo_items(self):
    with open(self.demo, encoding="utf-8") as f:
      return sum(1 for line in f if line.strip())

  def __enter__(self):
    help_text = subprocess.run([self.binary, "--help"], capture_output=True, text=True,
                               timeout=30)
    if "--embedded" not in help_text.stdout + help_text.stderr:
      print(f"SKIP: {self.binary} has no --embedded mode yet (the daemon is not built)")
      sys.exit(SKIP)
    cmd = [self.binary, "--embedded",
           "--rules", os.path.join(self.source_dir, "config", "rules", "central-asia"),
           *(["--demo", self.demo] if self.with_demo else []),
           "--set", "metrics.listen=127.0.0.1:0", *self.extra_args]
    self.proc = LoggedProcess(cmd, self.log_path, env=self.env, cwd=self.workdir)
    try:
      self.port = wait_until(self._announced_port, 120, "the daemon's 'metrics on' line",
                             period=0.2)
    except BaseException:
      self.__exit__(*sys.exc_info())
      raise
    self.url = f"http://127.0.0.1:{self.port}"
    return self

  def _announced_port(self):
    self.check_running()
    m = re.search(r"^steppewatchd: metrics on http://[^\s]*:(\d+)/metrics$", self.proc.text(),
                  re.MULTILINE)
    return int(m.group(1)) if m else None

  def __exit__(self, *exc):
    if self.proc:
      self.proc.stop(signal.SIGTERM, timeout=30)
    if exc[0] is not None:
      self.dump_log()
    return False

  def dump_log(self, lines=60):
    with open(self.log_path, encoding="utf-8", errors="replace") as f:
      tail = f.readlines()[-lines:]
    print(f"--- last {len(tail)} lines of {self.log_path} ---")
    sys.stdout.write("".join(tail))

  def check_running(self):
    self.proc.check_running("steppewatchd")

  def metrics(self):
    status, body = http_get(self.url + "/metrics")
    return body if status == 200 else ""

  def wait_ready(self, deadline_s=120):
    """Waits until /readyz answers 200 (the pack compile and the group join take seconds)."""
    def ready():
      self.check_running()
      return http_get(self.url + "/readyz")[0] == 200
    wait_until(ready, deadline_s, "/readyz to answer 200", period=0.2)

  def wait_processed(self, count, stall_s=60, deadline_s=200):
    """Waits until steppewatch_items_processed_total reaches `count` (every demo item: an item
    is counted whatever its outcome, alert, no match or dead letter).

    A loaded machine makes the daemon slow, not stuck: the wait goes on while the count or the
    consumed count moves, and fails when neither moved for `stall_s` seconds, or after
    `deadline_s` in all. The error says where the daemon stood at the last answer of /metrics:
    items consumed, processed and in flight, partitions assigned and paused, and the input
    partitions still behind, so an assigned partition that is never fetched shows up."""
    start = time.monotonic()
    moved_at = start
    seen = None
    state = "/metrics never answered"
    while True:
      self.check_running()
      text = self.metrics()
      if text:
        state = describe_progress(text)
        processed = metrics_sum(text, "steppewatch_items_processed_total")
        if processed is not None and processed >= count:
          return processed
        now_seen = (processed, metrics_sum(text, "steppewatch_items_consumed_total"))
        if now_seen != seen:
          seen = now_seen
          moved_at = time.monotonic()
      now = time.monotonic()
      if now - moved_at >= stall_s or now - start >= deadline_s:
        raise AssertionError(
            f"{count} items processed: not reached after {now - start:.0f}s, "
            f"{now - moved_at:.0f}s without progress; last /metrics: {state}")
      time.sleep(0.2)


def describe_progress(text):
  """Summarises a daemon's progress from its /metrics exposition, for failure messages. The lag
  of a partition is exported once librdkafka knows it (after a fetch): an assigned partition
  that was never fetched has no lag sample."""
  def total(name):
    value = metrics_sum(text, name)
    return "absent" if value is None else f"{value:g}"
  lags = [line for line in text.splitlines()
          if line.startswith("steppewatch_consumer_lag_messages{")]
  behind = [line for line in lags if float(line.rsplit(" ", 1)[1]) > 0]
  return (f"{total('steppewatch_items_consumed_total')} consumed, "
          f"{total('steppewatch_items_processed_total')} processed, "
          f"{total('steppewatch_in_flight_items')} in flight, "
          f"{total('steppewatch_assigned_partitions')} partition(s) assigned, "
          f"{total('steppewatch_paused_partitions')} paused, lag known for {len(lags)}; behind: "
          + (", ".join(behind) if behind else "none"))

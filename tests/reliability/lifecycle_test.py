#!/usr/bin/python3
"""The daemon's lifecycle under faults (tests/RELIABILITY.md, "Lifecycle"): signals before ready,
a log pipe that closes, readiness that tells the truth, the stop budget during a broker outage,
`--reload-and-wait` (systemd's ExecReload) on a refused pack.

Like fault_test.py: `steppewatch broker` and steppewatchd as separate processes, every wait polls
a condition with a deadline, each fault test first proves that its fault took effect, and every
scenario that moves items ends with the "nothing lost" check against `steppewatch match`.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

import support as sw
import fault_test

# Delays after the daemon's program starts running (see SignalsBeforeReadyTest) and starts per
# delay: 4 x 2 starts per signal keep each test under a minute on a loaded 2-core machine.
DELAYS_MS = (0, 1, 5, 20)
STARTS_PER_DELAY = int(os.environ.get("SW_STARTS", "2"))


def http_get(port, path):
  """Returns (status, body) of GET http://127.0.0.1:port/path (status 0: nothing answers)."""
  return sw.http_get(f"http://127.0.0.1:{port}{path}")


def metric(port, name, labels=""):
  """Returns the value of one sample of /metrics (None when absent)."""
  return sw.metric_sample(http_get(port, "/metrics")[1], name, labels)


def sigmask_has(mask_hex, sig):
  return bool(int(mask_hex, 16) & (1 << (sig - 1)))


class Proc(sw.LoggedProcess):
  """steppewatchd started with arbitrary arguments, stdout+stderr to a log file."""

  def __init__(self, tmp, name, args, env=None):
    super().__init__([sw.SWD] + args, tmp.file(f"{name}.log"), env=env)

  def stop(self, sig=signal.SIGTERM, timeout=60):
    return super().stop(sig, timeout)


class LifecycleCase(sw.BrokerTestCase):
  TMP_PREFIX = "sw-life-"

  def setUp(self):
    super().setUp()
    self.procs = []
    self.addCleanup(lambda: [p.kill() for p in self.procs])

  def config(self, name, group, extra="", brokers=None):
    return sw.write_daemon_config(self.tmp, name, brokers or self.broker.bootstrap, group,
                                  extra=extra)

  def spawn(self, name, args, env=None):
    p = Proc(self.tmp, name, args, env)
    self.procs.append(p)
    return p


class SignalsBeforeReadyTest(LifecycleCase):
  """Each signal at 0, 1, 5 and 20 ms after the daemon's program starts running, against the
  broker, a few starts per delay.

  "Starts running" is when /proc/PID/status first shows the daemon's blocked signals: the
  executable's .preinit_array blocks them before any shared library's constructor and before
  main(). The time before it (exec, then the dynamic loader mapping and relocating 50
  libraries: ~1 ms on an idle machine, tens of ms at a load of 5 on 2 cores) runs no code of
  the program; a signal there still takes the kernel's default action (see RELIABILITY.md).
  test_no_thread_before_main checks that no static initialiser starts a thread.
  """

  def test_no_thread_before_main(self):
    if not shutil.which("strace"):
      self.skipTest("strace not installed")
    # `--version` returns right after the flags are parsed: a thread started by a static
    # initialiser of steppewatch or of a library would show as a clone.
    # Under ASan, LeakSanitizer's exit-time check runs on a thread of its own: not ours.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    out = subprocess.run(["strace", "-f", "-e", "trace=clone,clone3,rt_sigprocmask",
                          sw.SWD, "--version"], capture_output=True, text=True, timeout=60,
                         env=env)
    self.assertEqual(out.returncode, 0, out.stderr)
    calls = [l for l in out.stderr.splitlines() if l.startswith(("clone", "rt_sigprocmask"))]
    self.assertTrue(calls and calls[0].startswith("rt_sigprocmask(SIG_BLOCK, [HUP INT TERM]"),
                    calls)
    self.assertFalse([c for c in calls if c.startswith("clone")], out.stderr)

  def run_starts(self, sig, check):
    before_ready = 0
    for delay in DELAYS_MS:
      for n in range(STARTS_PER_DELAY):
        name = f"{signal.Signals(sig).name.lower()}-{delay}ms-{n}"
        cfg = self.config(name, f"life-{name}")
        p = self.spawn(name, ["--config", cfg, "--rules", sw.DEFAULT_PACK])
        deadline = time.monotonic() + 30
        status = {}
        while time.monotonic() < deadline:
          status = sw.proc_status(p.p.pid)
          if status and sigmask_has(status.get("SigBlk", "0"), signal.SIGHUP):
            break
          if not status or not p.running():
            break
        self.assertTrue(status and sigmask_has(status["SigBlk"], signal.SIGTERM),
                        f"{name}: the daemon never blocked SIGTERM: {status}\n{p.text()}")
        self.assertTrue(sigmask_has(status["SigIgn"], signal.SIGPIPE),
                        f"{name}: SIGPIPE is not ignored: {status}")
        time.sleep(delay / 1000)
        ready_before = "steppewatchd: ready" in p.text()
        os.kill(p.p.pid, sig)
        if not ready_before:
          before_ready += 1
        check(name, p, ready_before)
        p.kill()
    # The signals must have landed before ready often enough to prove something.
    self.assertGreater(before_ready, len(DELAYS_MS) * STARTS_PER_DELAY // 2,
                       "most signals arrived after ready: the test did not test start-up")
    print("RESULT", json.dumps({"scenario": f"{signal.Signals(sig).name} before ready",
                                "starts": len(DELAYS_MS) * STARTS_PER_DELAY,
                                "sent_before_ready": before_ready}))

  def check_stop(self, name, p, ready_before):
    try:
      p.p.wait(60)
    except subprocess.TimeoutExpired:
      self.fail(f"{name}: did not exit after a stop signal:\n{p.text()[-3000:]}")
    self.assertEqual(p.p.returncode, 0, f"{name}:\n{p.text()[-3000:]}")
    text = p.text()
    self.assertTrue("before ready" in text or "stopped" in text or ready_before,
                    f"{name}: no stop logged:\n{text[-2000:]}")

  def test_sigterm(self):
    self.run_starts(signal.SIGTERM, self.check_stop)

  def test_sigint(self):
    self.run_starts(signal.SIGINT, self.check_stop)

  def test_sighup(self):
    def check(name, p, ready_before):
      p.wait_line("steppewatchd: ready")
      # Exactly one reload, on request (a SIGHUP before ready is applied once after start-up).
      p.wait_line("rule reload on request")
      time.sleep(0.2)  # a second reload would follow within milliseconds
      self.assertEqual(p.text().count("rule reload on request"), 1, p.text()[-3000:])
      self.assertTrue(p.running())
      self.assertEqual(p.stop(), 0, p.text()[-3000:])
    self.run_starts(signal.SIGHUP, check)

  def test_sigpipe(self):
    def check(name, p, ready_before):
      p.wait_line("steppewatchd: ready")
      self.assertTrue(p.running(), p.text()[-3000:])
      self.assertEqual(p.stop(), 0, p.text()[-3000:])
    self.run_starts(signal.SIGPIPE, check)


class LogPipeTest(LifecycleCase):
  """`steppewatchd ... 2>&1 | head -c 200`: the reader of the log pipe goes away."""

  def test_log_pipe_closed_daemon_survives_and_counts_write_errors(self):
    port = sw.free_port()
    cfg = self.config("pipe", "life-pipe")
    p = subprocess.Popen([sw.SWD, "--config", cfg, "--rules", sw.DEFAULT_PACK,
                          "--set", f"metrics.listen=127.0.0.1:{port}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait()))
    head = b""
    while b"steppewatchd: ready" not in head:
      chunk = p.stdout.read1(4096)
      self.assertTrue(chunk, f"daemon exited: {head.decode(errors='replace')}")
      head += chunk
    p.stdout.close()  # what `head -c 200` does once it has its bytes
    before = metric(port, "steppewatch_log_write_errors_total")
    self.assertIsNotNone(before)
    # Make it log: a reload writes several lines, each to the closed pipe.
    os.kill(p.pid, signal.SIGHUP)
    sw.wait_until(lambda: metric(port, "steppewatch_log_write_errors_total") > before, 30,
                  "more counted log write errors (the fault took effect)",
                  describe=lambda: "log_write_errors_total %s (before: %s)" % (
                      metric(port, "steppewatch_log_write_errors_total"), before))
    self.assertIsNone(p.poll(), "the daemon died when its log pipe closed")
    self.assertEqual(http_get(port, "/healthz")[0], 200)
    os.kill(p.pid, signal.SIGTERM)
    self.assertEqual(p.wait(60), 0)


class ReadinessTest(LifecycleCase):
  """/readyz says whether the daemon can consume; the metrics say why not."""

  def check_not_ready(self, name, brokers):
    cfg = self.config(name, f"life-{name}", brokers=brokers)
    p = self.spawn(name, ["--config", cfg, "--rules", sw.DEFAULT_PACK])
    p.wait_line("steppewatchd: ready")  # start-up finished: the process runs, it cannot work
    port = p.metrics_port()
    # librdkafka reports all brokers down after its first connection attempts fail.
    sw.wait_until(lambda: metric(port, "steppewatch_ready_condition",
                                 'condition="brokers_reachable"') == 0, 30,
                  "brokers_reachable 0 (the fault took effect)",
                  describe=lambda: "brokers_reachable %s" % metric(
                      port, "steppewatch_ready_condition", 'condition="brokers_reachable"'))
    status, body = http_get(port, "/readyz")
    self.assertEqual(status, 503, body)
    self.assertIn("brokers down", body)
    self.assertEqual(metric(port, "steppewatch_ready"), 0)
    self.assertEqual(metric(port, "steppewatch_ready_condition", 'condition="group_joined"'), 0)
    self.assertEqual(metric(port, "steppewatch_ready_condition", 'condition="rule_pack_loaded"'),
                     1)
    self.assertEqual(http_get(port, "/healthz")[0], 200, "liveness never depends on the broker")
    self.assertEqual(p.stop(), 0, p.text()[-2000:])

  def test_unresolvable_broker_is_not_ready(self):
    self.check_not_ready("unresolvable", "broker.invalid:9092")

  def test_closed_broker_port_is_not_ready(self):
    self.check_not_ready("closed", f"127.0.0.1:{sw.free_port()}")

  def test_ready_once_the_group_assigned_partitions_and_not_during_an_outage(self):
    cfg = self.config("good", "life-good")
    p = self.spawn("good", ["--config", cfg, "--rules", sw.DEFAULT_PACK])
    p.wait_line("steppewatchd: ready")
    # The daemon set malloc before any thread (kafka/allocator.h) and logged what it set (under a
    # sanitizer's malloc the same settings are listed as refused).
    self.assertRegex(p.text(), r"malloc: .*glibc\.malloc\.top_pad=67108864.*"
                     r"glibc\.malloc\.trim_threshold=268435456.*"
                     r"glibc\.malloc\.mmap_threshold=33554432")
    port = p.metrics_port()
    sw.wait_until(lambda: http_get(port, "/readyz")[0] == 200, 60, "/readyz 200",
                  describe=lambda: "/readyz answers %s %r" % http_get(port, "/readyz"))
    self.assertEqual(metric(port, "steppewatch_ready_condition", 'condition="group_joined"'), 1)
    self.broker.control("down 1")
    sw.wait_until(lambda: http_get(port, "/readyz")[0] == 503, 60, "/readyz 503 in the outage",
                  describe=lambda: "/readyz answers %s %r" % http_get(port, "/readyz"))
    self.assertEqual(http_get(port, "/healthz")[0], 200)
    self.broker.control("up 1")
    sw.wait_until(lambda: http_get(port, "/readyz")[0] == 200, 90, "/readyz 200 after it",
                  period=0.5,
                  describe=lambda: "/readyz answers %s %r" % http_get(port, "/readyz"))
    self.assertEqual(p.stop(), 0, p.text()[-2000:])


class ReloadAndWaitTest(LifecycleCase):
  """`steppewatchd --reload-and-wait PID` (the unit's ExecReload) reports the daemon's verdict."""

  def test_refused_pack_fails_the_reload_and_the_gauge_says_so(self):
    rules = self.tmp.file("rules")
    shutil.copytree(sw.DEFAULT_PACK, rules)
    status_file = self.tmp.file("reload-status")
    cfg = self.config("reload", "life-reload")
    p = self.spawn("reload", ["--config", cfg, "--rules", rules,
                              "--reload-status", status_file])
    p.wait_line("steppewatchd: ready")
    port = p.metrics_port()
    self.assertEqual(metric(port, "steppewatch_rules_last_reload_success"), 1)

    def reload():
      return subprocess.run([sw.SWD, "--reload-and-wait", str(p.p.pid), "--reload-status",
                             status_file, "--reload-timeout", "60"],
                            capture_output=True, text=True, timeout=90)
    r = reload()
    self.assertEqual(r.returncode, 0, r.stderr)
    self.assertIn("unchanged", r.stdout)

    with open(os.path.join(rules, "zz-broken.yaml"), "w") as f:
      f.write("rules:\n  - id: t.broken\n    title: Broken\n    query: 'Astana AND'\n")
    r = reload()
    self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
    self.assertIn("REFUSED", r.stderr)
    self.assertIn("zz-broken.yaml:4:", r.stderr)
    self.assertEqual(metric(port, "steppewatch_rules_last_reload_success"), 0)
    self.assertGreater(metric(port, "steppewatch_rules_last_reload_timestamp_seconds"), 0)

    # A fixed pack that brings a new alert topic: installed, the gauge recovers, the topic is
    # logged.
    with open(os.path.join(rules, "zz-broken.yaml"), "w") as f:
      f.write("rules:\n  - id: t.newtopic\n    title: New topic\n    query: 'Astana'\n"
              "    topics: [alerts.brand-new]\n")
    r = reload()
    self.assertEqual(r.returncode, 0, r.stderr)
    self.assertIn("installed", r.stdout)
    self.assertEqual(metric(port, "steppewatch_rules_last_reload_success"), 1)
    self.assertIn("new topic alerts.brand-new", p.text())

    # A daemon that is gone: the reload fails (1), it does not wait for ever.
    self.assertEqual(p.stop(), 0)
    r = reload()
    self.assertEqual(r.returncode, 1, r.stderr)


class StopBudgetTest(fault_test.Scenario):
  """SIGTERM during a broker outage, with a session timeout longer than the stop budget: the
  consumer close would wait for the session; the daemon exits at the budget instead."""
  TMP_PREFIX = "sw-life-"
  BUDGET = 6
  # Longer than the budget, so a close that waits for the session would overrun it. The
  # rebalance timeout (max.poll.interval.ms, 300 s by default) is lowered to the same value:
  # the mock coordinator waits that long for a vanished member before the restarted daemon
  # gets partitions.
  SESSION_MS = 20000

  def test_sigterm_during_broker_outage_exits_within_the_budget_and_loses_nothing(self):
    cfg = sw.write_daemon_config(
        self.tmp, "d0", self.broker.bootstrap, self.group, shutdown_budget=self.BUDGET,
        consumer={"session.timeout.ms": self.SESSION_MS, "max.poll.interval.ms": self.SESSION_MS})
    d = sw.Daemon(self.tmp, "d0", cfg, bootstrap=self.broker.bootstrap)
    self.daemons.append(d)
    d.wait_ready()
    self.wait_progress(0.1, [d])
    port = d.metrics_port()
    self.broker.control("down 1")
    # The fault took effect: librdkafka says so and the committed offsets stop moving.
    sw.wait_until(lambda: metric(port, "steppewatch_brokers_down") == 1, 60, "brokers_down 1",
                  describe=lambda: f"brokers_down {metric(port, 'steppewatch_brokers_down')}")
    start = time.monotonic()
    d.p.send_signal(signal.SIGTERM)
    rc = d.p.wait(self.BUDGET + 30)
    took = time.monotonic() - start
    print("RESULT", json.dumps({"scenario": "SIGTERM in a broker outage", "budget_s": self.BUDGET,
                                "session_ms": self.SESSION_MS, "exit": rc,
                                "stop_s": round(took, 1)}))
    self.assertIn(rc, (0, 4), d.text()[-3000:])
    # The budget is the whole stop; 2 s cover the main loop's wake-up and process exit on a
    # loaded machine.
    self.assertLess(took, self.BUDGET + 2, d.text()[-3000:])
    if rc == 4:
      self.assertIn("stop budget", d.text())
    self.broker.control("up 1")
    # Nothing lost: every item below the group's committed offsets (what a restart will not
    # read again) has its alerts. Items above them are consumed again by the next member.
    # (A restart in the same group is not part of this check: after this outage the 2.0.2 mock
    # coordinator kept the vanished member and assigned the new one nothing for minutes.)
    committed = self.kafka.committed(self.group, sw.INPUT)
    inputs = self.kafka.read_all([sw.INPUT])
    stored = {m["key"].decode() for m in inputs
              if m["offset"] < max(committed.get(m["partition"], 0), 0)}
    self.assertGreater(len(stored), 0, "nothing was committed before the outage")
    alerts = self.kafka.read_all(sw.ALERT_TOPICS)
    got = sw.alerts_by_item(json.loads(m["value"]) for m in alerts)
    lost = sorted(k for k in stored
                  if k in self.expected_all and not self.expected_all[k] <= got.get(k, set()))
    print("RESULT", json.dumps({"scenario": "SIGTERM in a broker outage: stored items",
                                "committed_items": len(stored), "lost": len(lost)}))
    self.assertEqual(lost[:20], [], "committed items without their alerts (lost)")


if __name__ == "__main__":
  unittest.main()

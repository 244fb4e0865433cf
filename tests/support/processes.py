"""Child processes with their logs: `steppewatch broker`, steppewatchd, anything else.

Every process writes stdout and stderr to one file in the test's directory, so a failure can
print the tail of its log and KEEP_TMP=1 keeps it for reading.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

from .paths import DEFAULT_PACK, DLQ, INPUT, SW, SWD
from .wait import wait_until

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_status(pid):
  """Returns /proc/PID/status as a dict of its fields (empty when the process is gone)."""
  try:
    with open(f"/proc/{pid}/status") as f:
      return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
  except (FileNotFoundError, ProcessLookupError):
    return {}


def vm_mb(pid, field="VmHWM"):
  """Returns a memory field of /proc/PID/status (VmHWM: peak RSS, VmRSS: RSS) in MiB, or None
  when the process is gone."""
  value = proc_status(pid).get(field)
  return int(value.split()[0]) / 1024 if value else None


def cpu_seconds(pid):
  """Returns the user + system CPU seconds of a process from /proc/PID/stat, or None."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
  except (FileNotFoundError, ProcessLookupError):
    return None


class TempDir:
  """A test's working directory: a new temporary one, or `path` when given (kept)."""

  def __init__(self, prefix="sw-it-", path=None):
    self.owned = path is None
    self.path = tempfile.mkdtemp(prefix=prefix) if path is None else path
    os.makedirs(self.path, exist_ok=True)

  def file(self, name):
    return os.path.join(self.path, name)

  def cleanup(self):
    if self.owned:
      shutil.rmtree(self.path, ignore_errors=True)

  def release(self):
    """Removes the directory at the end of a test, or keeps it (logs, configs) and says where
    when KEEP_TMP=1 is set."""
    if os.environ.get("KEEP_TMP"):
      print("kept", self.path)
    else:
      self.cleanup()


class LoggedProcess:
  """A child process whose stdout and stderr go to `log_path`."""

  def __init__(self, args, log_path, env=None, cwd=None):
    self.args = args
    self.log_path = log_path
    self.log = open(log_path, "w+")
    self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    self.pid = self.p.pid

  def text(self):
    """Everything the process wrote so far."""
    with open(self.log_path, errors="replace") as f:
      return f.read()

  def running(self):
    return self.p.poll() is None

  def check_running(self, what="the process"):
    """Raises AssertionError with the log's tail when the process has exited."""
    if not self.running():
      raise AssertionError(f"{what} exited with {self.p.returncode}:\n{self.text()[-3000:]}")

  def wait_line(self, needle, timeout=60):
    """Waits until `needle` appears in the log; fails at once if the process exits first."""
    def seen():
      if needle in self.text():
        return True
      if not self.running():
        raise AssertionError(f"exited with {self.p.returncode} before {needle!r}:\n"
                             f"{self.text()[-3000:]}")
      return False
    wait_until(seen, timeout, repr(needle))

  def metrics_url(self):
    """The http://HOST:PORT/metrics URL from steppewatchd's documented "metrics on" line, or
    None before that line."""
    m = re.search(r"metrics on (http://\S+/metrics)", self.text())
    return m.group(1) if m else None

  def metrics_port(self):
    url = self.metrics_url()
    return int(url.rsplit(":", 1)[1].split("/", 1)[0]) if url else None

  def cpu_seconds(self):
    return cpu_seconds(self.pid)

  def hwm_mb(self):
    return vm_mb(self.pid, "VmHWM")

  def stop(self, sig=signal.SIGTERM, timeout=40):
    """Sends `sig`, waits, closes the log and returns the exit code (None when the process had
    to be killed after `timeout` seconds)."""
    code = self.p.poll()
    if code is None:
      self.p.send_signal(sig)
      try:
        code = self.p.wait(timeout)
      except subprocess.TimeoutExpired:
        self.p.kill()
        self.p.wait()
    self.log.close()
    return code

  def kill(self):
    """SIGKILLs the process if it still runs and closes the log (a test's clean-up)."""
    if self.p.poll() is None:
      self.p.kill()
      self.p.wait()
    self.log.close()


class Broker(LoggedProcess):
  """`steppewatch broker` (librdkafka's mock cluster, a real Kafka-protocol broker) in its own
  process. `topics` are NAME or NAME:PARTITIONS; with `control` it reads fault commands from a
  FIFO (`control()`)."""

  def __init__(self, tmp, topics, partitions=8, control=True, binary=None):
    spec = ",".join(t if ":" in t else f"{t}:{partitions}" for t in topics)
    args = [binary or SW, "broker", "--topics", spec]
    self.fifo = tmp.file("broker.ctl") if control else None
    if control:
      args += ["--control-fifo", self.fifo]
    super().__init__(args, tmp.file("broker.out"))
    self.bootstrap = wait_until(self._bootstrap, 10, "the broker's bootstrap line")
    self.replies = 0

  def _bootstrap(self):
    if not self.running():
      raise AssertionError(f"broker exited: {self.text()}")
    for line in self.text().splitlines():
      if line.startswith("bootstrap: "):
        return line.split(": ", 1)[1].strip()
    return None

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

  def stop(self, sig=signal.SIGTERM, timeout=10):
    return super().stop(sig, timeout)


# The consumer properties of every test daemon: commit stored offsets often (the tests wait for
# the committed offsets) and a short session, so a group's first join and a dead member's
# expulsion take seconds (the mock cluster's join waits 3 s).
TEST_CONSUMER = {"auto.commit.interval.ms": "100", "session.timeout.ms": "6000"}


def write_daemon_config(tmp, name, bootstrap, group, rules=DEFAULT_PACK, workers=1,
                        topic=INPUT, extra="", kafka_common=None, consumer=None,
                        producer=None, kafka_keys=None, cache_dir=None,
                        reload_on_change=False, shutdown_budget=20, pipeline_extra=""):
  """Writes `tmp`/`name`.yaml, a steppewatchd config (keys: config/steppewatch.example.yaml),
  and returns its path.

  `kafka_common`: librdkafka properties for both clients (kafka.common), e.g. security.protocol.
  `consumer`: consumer properties over TEST_CONSUMER (a value None drops the key, leaving the
  daemon's default); `producer`: producer properties. `kafka_keys`: more kafka.* keys (e.g. instance_id). `pipeline_extra`: more
  pipeline.* lines; `extra`: whole sections appended at the end (decoder:, log:).
  """
  path = tmp.file(f"{name}.yaml")
  cache = cache_dir or tmp.file("hs-cache")
  os.makedirs(cache, exist_ok=True)
  common = "".join(f"\n    {k}: {json.dumps(str(v))}" for k, v in (kafka_common or {}).items())
  common = common or " {}"
  props = dict(TEST_CONSUMER)
  props.update(consumer or {})
  consumer_lines = "".join(f"    {k}: {json.dumps(str(v))}\n" for k, v in props.items()
                           if v is not None)
  producer_lines = "".join(f"    {k}: {json.dumps(str(v))}\n" for k, v in (producer or {}).items())
  if producer_lines:
    producer_lines = "  producer:\n" + producer_lines
  keys = "".join(f"  {k}: {json.dumps(str(v))}\n" for k, v in (kafka_keys or {}).items())
  with open(path, "w") as f:
    f.write(f"""kafka:
{keys}  brokers: "{bootstrap}"
  group_id: "{group}"
  input_topics: ["{topic}"]
  dead_letter_topic: "{DLQ}"
  common:{common}
  consumer:
{consumer_lines}{producer_lines}rules:
  dir: "{rules}"
  reload_on_change: {"true" if reload_on_change else "false"}
  cache_dir: "{cache}"
pipeline:
  workers: {workers}
  shutdown_budget_seconds: {shutdown_budget}
{pipeline_extra}metrics:
  listen: "127.0.0.1:0"
{extra}""")
  return path


class Daemon(LoggedProcess):
  """steppewatchd as a separate process with a config file (`write_daemon_config`)."""

  def __init__(self, tmp, name, config, rules=DEFAULT_PACK, bootstrap=None, binary=None,
               env=None):
    args = [binary or SWD, "--config", config, "--rules", rules]
    if bootstrap:
      args += ["--brokers", bootstrap]
    super().__init__(args, tmp.file(f"{name}.log"), env=env)

  def wait_ready(self, timeout=60):
    """Waits for the "steppewatchd: ready" line (signals are handled from then on)."""
    def ready():
      self.check_running("daemon")
      return "steppewatchd: ready" in self.text()
    wait_until(ready, timeout, "steppewatchd: ready")

"""Starts a real steppewatchd in embedded mode (its own in-process Kafka broker), fed with the
bundled demo items, with its metrics endpoint on a free loopback port; for the observability
script tests.

The daemon is started with its documented command line (`--embedded --rules DIR --demo FILE
--set metrics.listen=127.0.0.1:0`), and the test reads the port from its documented stdout line
"steppewatchd: metrics on http://HOST:PORT/metrics", as a script of an operator would.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77  # ctest SKIP_RETURN_CODE of these tests


def free_port():
    """Returns a loopback port that was free a moment ago (bind 0, read, close).

    A daemon given port 0 picks its own port, but then the test must parse it from the log; a
    port chosen here can race with another process only in the instant between close and bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """Returns (status, body) of GET url; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError):
        return 0, ""


def wait_for(what, predicate, deadline_s, poll_s=0.2):
    """Calls predicate() until it returns a true value or deadline_s passes; returns the value
    or raises TimeoutError naming `what`."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(poll_s)


def scrape_value(text, name):
    """Returns the sum of the samples of metric `name` in exposition `text` (None if absent)."""
    total = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == name or series.startswith(name + "{"):
            total = (total or 0.0) + float(value)
    return total


class Daemon:
    """A running steppewatchd; use as a context manager (SIGTERM and wait on exit)."""

    def __init__(self, binary, source_dir, extra_env=None):
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
               "--demo", self.demo, "--set", "metrics.listen=127.0.0.1:0"]
        self.log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=self.workdir, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            self.port = wait_for("the daemon's 'metrics on' line", self._announced_port, 120)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def _announced_port(self):
        self.check_running()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            m = re.search(r"^steppewatchd: metrics on http://[^\s]*:(\d+)/metrics$", f.read(),
                          re.MULTILINE)
        return int(m.group(1)) if m else None

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if exc[0] is not None:
            self.dump_log()
        return False

    def dump_log(self, lines=60):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            tail = f.readlines()[-lines:]
        print(f"--- last {len(tail)} lines of {self.log_path} ---")
        sys.stdout.write("".join(tail))

    def check_running(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"steppewatchd exited with {self.proc.returncode}")

    def metrics(self):
        status, body = http_get(self.url + "/metrics")
        return body if status == 200 else ""

    def wait_ready(self, deadline_s=120):
        """Waits until /readyz answers 200 (the pack compile and the group join take seconds)."""
        def ready():
            self.check_running()
            return http_get(self.url + "/readyz")[0] == 200
        wait_for("/readyz to answer 200", ready, deadline_s)

    def wait_processed(self, count, deadline_s=120):
        """Waits until steppewatch_items_processed_total reaches `count`."""
        def processed():
            self.check_running()
            value = scrape_value(self.metrics(), "steppewatch_items_processed_total")
            return value is not None and value >= count
        wait_for(f"{count} items processed", processed, deadline_s)

#!/usr/bin/python3
"""Start-up to ready of steppewatchd against a broker (target: <= 1 s with a cached 100k-term
database). benchmarks/README.md, "End to end" -> "Start-up".

  startup.py --build build/DIR --pack PACK_DIR --cache-dir CACHE_DIR [--runs N]

Starts `steppewatch broker` (one input topic), then N times: spawns steppewatchd with PACK_DIR
and CACHE_DIR (rules.cache_dir), polls its /readyz every 5 ms and prints the wall time from the
spawn to the first 200, the daemon's CPU time (utime+stime) at that moment, the pack load time
the daemon logs and the load average. The first run fills the caches when they are empty (a
cold start); the runs after it are the cached start. Every process it starts is stopped.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

POLL_S = 0.005  # /readyz poll period: small against the 1 s target


def wait_for(pattern, f, timeout):
  deadline = time.time() + timeout
  while time.time() < deadline:
    f.seek(0)
    m = re.search(pattern, f.read(), re.M)
    if m:
      return m
    time.sleep(POLL_S)
  return None


def cpu_seconds(pid):
  with open(f"/proc/{pid}/stat") as f:
    fields = f.read().rsplit(")", 1)[1].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--build", required=True, help="build directory with steppewatch(d)")
  ap.add_argument("--pack", required=True)
  ap.add_argument("--cache-dir", required=True)
  ap.add_argument("--runs", type=int, default=5)
  ap.add_argument("--timeout", type=float, default=120, help="seconds per run to become ready")
  args = ap.parse_args()
  work = tempfile.mkdtemp(prefix="sw-startup-")
  broker_out = open(os.path.join(work, "broker.out"), "w+")
  broker = subprocess.Popen([os.path.join(args.build, "steppewatch"), "broker", "--topics",
                             "news.items:8"], stdout=broker_out, stderr=subprocess.STDOUT)
  try:
    m = wait_for(r"^bootstrap: (\S+)", broker_out, 10)
    if not m:
      sys.exit("the broker did not print its bootstrap address")
    bootstrap = m.group(1)
    for i in range(args.runs):
      cfg = os.path.join(work, f"daemon-{i}.yaml")
      with open(cfg, "w") as f:
        f.write(f"""kafka:
  brokers: "{bootstrap}"
  group_id: "startup-{i}-{int(time.time() * 1000)}"
  input_topics: ["news.items"]
rules:
  dir: "{os.path.abspath(args.pack)}"
  reload_on_change: false
  cache_dir: "{os.path.abspath(args.cache_dir)}"
metrics:
  listen: "127.0.0.1:0"
log:
  level: info
""")
      out = open(os.path.join(work, f"daemon-{i}.out"), "w+")
      start = time.time()
      daemon = subprocess.Popen([os.path.join(args.build, "steppewatchd"), "--config", cfg],
                                stdout=out, stderr=subprocess.STDOUT)
      ready = cpu = None
      try:
        m = wait_for(r"metrics on http://[\d.]+:(\d+)/", out, args.timeout)
        while m and time.time() - start < args.timeout and daemon.poll() is None:
          try:
            url = f"http://127.0.0.1:{m.group(1)}/readyz"
            if urllib.request.urlopen(url, timeout=1).status == 200:
              ready = time.time() - start
              cpu = cpu_seconds(daemon.pid)
              break
          except OSError:
            pass
          time.sleep(POLL_S)
      finally:
        daemon.terminate()
        daemon.wait(30)
      out.seek(0)
      logged = re.search(r"embedded tests passed in (\S+)", out.read())
      if ready is None:
        print(f"run {i}: not ready within {args.timeout} s; see {out.name}", flush=True)
        continue
      print(f"run {i}: ready {ready:.3f} s wall, daemon CPU {cpu:.2f} s, pack load logged "
            f"{logged.group(1) if logged else '?'}, load average {os.getloadavg()[0]:.1f}",
            flush=True)
  finally:
    broker.terminate()
    broker.wait(10)


if __name__ == "__main__":
  main()

#!/usr/bin/python3
"""Start-up to ready of steppewatchd against a broker (target: <= 1 s with a cached 100k-term
database). benchmarks/README.md, "End to end" -> "Start-up".

  PYTHONPATH=tests startup.py --build build/DIR --pack PACK_DIR --cache-dir CACHE_DIR [--runs N]

Starts `steppewatch broker` (one input topic), then N times: spawns steppewatchd with PACK_DIR
and CACHE_DIR (rules.cache_dir), polls its /readyz every 5 ms and prints the wall time from the
spawn to the first 200, the daemon's CPU time (utime+stime) at that moment, the pack load time
the daemon logs and the load average. The first run fills the caches when they are empty (a
cold start); the runs after it are the cached start. Every process it starts is stopped.
"""
import argparse
import os
import re
import signal
import time

import support as sw

POLL_S = 0.005  # /readyz poll period: small against the 1 s target


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--build", required=True, help="build directory with steppewatch(d)")
  ap.add_argument("--pack", required=True)
  ap.add_argument("--cache-dir", required=True)
  ap.add_argument("--runs", type=int, default=5)
  ap.add_argument("--timeout", type=float, default=120, help="seconds per run to become ready")
  args = ap.parse_args()
  work = sw.TempDir("sw-startup-")
  broker = sw.Broker(work, ["news.items:8"], control=False,
                     binary=os.path.join(args.build, "steppewatch"))
  try:
    bootstrap = broker.bootstrap
    for i in range(args.runs):
      cfg = work.file(f"daemon-{i}.yaml")
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
      start = time.time()
      daemon = sw.LoggedProcess([os.path.join(args.build, "steppewatchd"), "--config", cfg],
                                work.file(f"daemon-{i}.out"))
      ready = cpu = None
      try:
        try:
          url = sw.wait_until(daemon.metrics_url, args.timeout, "the metrics line", POLL_S)
        except AssertionError:
          url = None
        while url and time.time() - start < args.timeout and daemon.running():
          if sw.http_get(url.rsplit("/", 1)[0] + "/readyz", timeout=1)[0] == 200:
            ready = time.time() - start
            cpu = daemon.cpu_seconds()
            break
          time.sleep(POLL_S)
      finally:
        daemon.stop(signal.SIGTERM, timeout=30)
      logged = re.search(r"embedded tests passed in (\S+)", daemon.text())
      if ready is None:
        print(f"run {i}: not ready within {args.timeout} s; see {daemon.log_path}", flush=True)
        continue
      print(f"run {i}: ready {ready:.3f} s wall, daemon CPU {cpu:.2f} s, pack load logged "
            f"{logged.group(1) if logged else '?'}, load average {os.getloadavg()[0]:.1f}",
            flush=True)
  finally:
    broker.stop()


if __name__ == "__main__":
  main()

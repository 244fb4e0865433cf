#!/usr/bin/python3
"""The supervisors give the daemon more time to stop than its stop budget, and the lifecycle
wiring of the shipped files is what the daemon expects.

steppewatchd's pipeline.shutdown_budget_seconds is the whole stop (it exits 4 by itself at the
budget); systemd's TimeoutStopSec, every pod's terminationGracePeriodSeconds and compose's
stop_grace_period must exceed the largest budget the shipped configurations set, or the
supervisor's SIGKILL comes first. Also: the Kubernetes startup probe means "ready to work"
(/readyz), liveness stays /healthz, and the unit's ExecReload waits for the daemon's verdict
through the same --reload-status file ExecStart names.

Usage: stop_budget_test.py SOURCE_DIR
"""
import glob
import os
import re
import sys

import yaml


def seconds(value):
  """'45s', '45', 45, '1min 30s' -> seconds."""
  if isinstance(value, (int, float)):
    return float(value)
  total = 0.0
  for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(min|ms|s|m|h)?", str(value)):
    total += float(number) * {"ms": 0.001, "s": 1, "": 1, "m": 60, "min": 60, "h": 3600}[unit or ""]
  return total


def main(src):
  fail = []
  budgets = {}
  header = open(os.path.join(src, "include/steppewatch/config/daemon_config.h")).read()
  m = re.search(r"double shutdown_budget_seconds = ([\d.]+);", header)
  budgets["built-in default"] = float(m.group(1))
  for path in [os.path.join(src, "config/steppewatch.example.yaml"),
               *glob.glob(os.path.join(src, "deploy/kubernetes/**/steppewatch*.yaml"),
                          recursive=True)]:
    with open(path) as f:
      doc = yaml.safe_load(f) or {}
    value = (doc.get("pipeline") or {}).get("shutdown_budget_seconds")
    if value is not None:
      budgets[os.path.relpath(path, src)] = float(value)
  budget = max(budgets.values())
  print(f"largest stop budget: {budget:g} s ({budgets})")

  unit = open(os.path.join(src, "deploy/systemd/steppewatchd.service")).read()
  unit_joined = unit.replace("\\\n", " ")
  m = re.search(r"^TimeoutStopSec=(.+)$", unit, re.M)
  if not m or seconds(m.group(1)) <= budget:
    fail.append(f"systemd TimeoutStopSec={m and m.group(1)} is not above the budget {budget:g} s")
  reload = re.search(r"^ExecReload=(.+)$", unit_joined, re.M)
  start = re.search(r"^ExecStart=(.+)$", unit_joined, re.M)
  status_start = re.search(r"--reload-status\s+(\S+)", start.group(1) if start else "")
  status_reload = re.search(r"--reload-status\s+(\S+)", reload.group(1) if reload else "")
  if not reload or "--reload-and-wait $MAINPID" not in reload.group(1):
    fail.append("ExecReload does not wait for the daemon's verdict (--reload-and-wait $MAINPID)")
  if not status_start or not status_reload or status_start.group(1) != status_reload.group(1):
    fail.append("ExecStart and ExecReload do not name the same --reload-status file")
  m = re.search(r"--reload-timeout\s+(\d+)", reload.group(1) if reload else "")
  t = re.search(r"^TimeoutStartSec=(.+)$", unit, re.M)
  if not m or not t or int(m.group(1)) >= seconds(t.group(1)):
    fail.append("ExecReload's --reload-timeout must be below TimeoutStartSec (its systemd limit)")

  pods = 0
  for path in glob.glob(os.path.join(src, "deploy/kubernetes/**/*.yaml"), recursive=True):
    with open(path) as f:
      try:
        docs = list(yaml.safe_load_all(f))
      except yaml.YAMLError:
        continue
    for doc in docs:
      if not isinstance(doc, dict) or doc.get("kind") not in ("Deployment", "StatefulSet"):
        continue
      spec = doc["spec"]["template"]["spec"]
      if "containers" not in spec:
        continue  # a patch that does not touch the pod
      pods += 1
      where = f"{os.path.relpath(path, src)} {doc['kind']}"
      # Overlay patches inherit the base's value; the base must set one (the default is 30 s).
      is_patch = "/overlays/" in path
      grace = spec.get("terminationGracePeriodSeconds", None if is_patch else 30)
      if grace is not None and grace <= budget:
        fail.append(f"{where}: terminationGracePeriodSeconds {grace} is not above {budget:g} s")
      for c in spec["containers"]:
        probe = lambda name: ((c.get(name) or {}).get("httpGet") or {}).get("path")
        if c.get("startupProbe") and probe("startupProbe") != "/readyz":
          fail.append(f"{where}: startupProbe is {probe('startupProbe')}, not /readyz")
        if c.get("livenessProbe") and probe("livenessProbe") != "/healthz":
          fail.append(f"{where}: livenessProbe is {probe('livenessProbe')}: it must not depend "
                      "on the broker (/healthz)")
  if pods == 0:
    fail.append("no Deployment or StatefulSet with containers under deploy/kubernetes")

  with open(os.path.join(src, "deploy/compose/compose.yaml")) as f:
    compose = yaml.safe_load(f)
  grace = compose["services"]["steppewatchd"].get("stop_grace_period", "10s")
  if seconds(grace) <= budget:
    fail.append(f"compose stop_grace_period {grace} is not above {budget:g} s")

  for f in fail:
    print("FAIL:", f)
  if not fail:
    print(f"ok: {pods} pod template(s), the unit and compose stop after the budget; "
          "startup probe /readyz; ExecReload waits for the verdict")
  return 1 if fail else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1]))

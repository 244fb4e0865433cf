"""Input items and the alerts they must give: generated items, `steppewatch match` offline."""
import json
import subprocess

from .paths import GEN, SW


def gen_items(path, count, seed=7, region_rate=0.3):
  """Writes `count` synthetic items (benchmarks/e2e/gen.py) to `path`."""
  with open(path, "w") as f:
    subprocess.run(["/usr/bin/python3", GEN, "items", "--count", str(count), "--seed", str(seed),
                    "--region-rate", str(region_rate)], stdout=f, check=True, timeout=60)


def alerts_by_item(alerts):
  """{item id: set of rule ids} over alert JSON objects (steppewatch.alert.v1)."""
  by_item = {}
  for a in alerts:
    by_item.setdefault(a["item"]["id"], set()).update(m["rule"] for m in a["matches"])
  return by_item


def offline_alerts(rules, path):
  """Runs `steppewatch match` and returns {item id: set of rule ids} for items with alerts."""
  out = subprocess.run([SW, "match", "--rules", rules, path], check=True, capture_output=True,
                       timeout=300).stdout
  return alerts_by_item([json.loads(l) for l in out.splitlines() if l.strip().startswith(b"{")])

#!/usr/bin/python3
"""Acceptance test of the default pack: the seed article, the column this product
was conceived from, gets exactly the expected tags through the real CLI (`steppewatch match`,
the same matcher and evaluator as the daemon).

The article lives in ../shared/corpus (research licence: never copied into the repository).
Without it the test prints why and exits 77, which ctest reports as skipped.
"""
import argparse
import json
import os
import subprocess
import sys

SKIP = 77

# The acceptance criterion: exactly these, and none of the pack's other tags.
EXPECTED = {
    "geo:kazakhstan", "geo:uzbekistan", "geo:central-asia",
    "actor:china", "actor:russia", "actor:eu", "actor:usa",
    "org:csto", "org:bri", "org:global-gateway",
    "theme:multi-vector", "theme:critical-minerals", "theme:transport-corridors",
    "theme:unrest", "theme:elections-governance", "theme:security",
    "ca.geopolitics",
}


def corpus_dir(source_dir):
  env = os.environ.get("STEPPEWATCH_CORPUS_DIR")
  if env:
    return env
  return os.path.normpath(os.path.join(source_dir, "..", "shared", "corpus"))


def tags_by_item(stdout):
  """Union of the tags of every alert (one per destination topic) per item id."""
  tags = {}
  for line in stdout.splitlines():
    line = line.strip()
    if not line.startswith("{"):
      continue
    alert = json.loads(line)
    item_tags = tags.setdefault(alert["item"]["id"], set())
    for match in alert["matches"]:
      item_tags.update(match.get("tags", []))
  return tags


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--steppewatch", required=True)
  parser.add_argument("--pack", required=True)
  parser.add_argument("--source-dir", required=True)
  args = parser.parse_args()

  seed = os.path.join(corpus_dir(args.source_dir), "seed-article.json")
  if not os.path.exists(seed):
    print(f"SKIP: {seed} is absent (the shared corpus sits beside the checkout, "
          "../shared/corpus, or in $STEPPEWATCH_CORPUS_DIR)")
    return SKIP
  with open(seed, encoding="utf-8") as f:
    seed_id = json.loads(f.readline())["id"]

  run = subprocess.run([args.steppewatch, "match", "--rules", args.pack, seed],
                       capture_output=True, text=True, timeout=100)
  if run.returncode != 0:
    print(f"steppewatch match exited {run.returncode}\n{run.stderr}")
    return 1
  got = tags_by_item(run.stdout).get(seed_id, set())
  missing = sorted(EXPECTED - got)
  extra = sorted(got - EXPECTED)
  print("tags: " + " ".join(sorted(got)))
  if missing or extra:
    print(f"FAIL: missing {missing}, unexpected {extra}")
    return 1
  print(f"OK: exactly the {len(EXPECTED)} expected tags")
  return 0


if __name__ == "__main__":
  sys.exit(main())

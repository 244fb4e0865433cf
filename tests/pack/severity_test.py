#!/usr/bin/python3
"""Severity that means something, end to end through the real CLI (`steppewatch match`, the
daemon's matcher, evaluator and alert builder): an event in Central Asia reported as news gives
a high-severity match and a second alert (the one the daemon publishes on the urgent topic,
alerts.central-asia.urgent); a mention of the same kind of event in an opinion column, an
anniversary or a local accident gives no high or critical match and a single alert. With the
shared corpus present, the seed article (an opinion column that recalls the January 2022
unrest) is checked the same way.

One alert line is written per item and destination topic, so "pages" means: some match has
severity high or critical and the item has one more alert line than its desk alert.
"""
import argparse
import json
import os
import subprocess
import sys

EVENTS = [
    {"id": "event-riots", "title": "Riots in Almaty as fuel protests spread", "lang": "en",
     "body": "Protesters stormed the city administration in Almaty on Wednesday. The president "
             "declared a state of emergency and imposed a curfew."},
    {"id": "event-clash", "lang": "ru",
     "body": "В перестрелке на киргизско-таджикской границе погибли военные, сообщили в Бишкеке."},
    {"id": "event-arrest", "lang": "en",
     "body": "Police in Bishkek detained an opposition leader on Tuesday, his party said."},
    {"id": "event-border", "lang": "kk",
     "body": "Қазақстан-Қырғызстан шекарасындағы өткізу бекеттері жабылды."},
]
MENTIONS = [
    {"id": "mention-column", "title": "Multipolarity in the steppe", "lang": "en",
     "body": "Kazakhstan's foreign policy has long balanced Moscow, Beijing and the West. Back in "
             "January, faced with nation-wide protests over a fuel price hike that turned into "
             "anti-government mobilisations, Tokayev asked the Kremlin for a CSTO contingent, and "
             "the riots were over within a week. Since then he has courted Brussels, signed "
             "rare-earth deals and promised a new constitution; the snap presidential election "
             "of November will test that balancing act, analysts in Astana say, and the "
             "government lists China, Russia, the EU and the US as partners of equal weight in "
             "its new foreign policy concept, which diplomats read as a hedge against both of "
             "its great neighbours."},
    {"id": "mention-anniversary", "lang": "ru",
     "body": "Годовщину январских событий в Алма-Ате отметили минутой молчания; год назад там было "
             "объявлено чрезвычайное положение."},
    {"id": "mention-accident", "lang": "kk",
     "body": "Қазақстанда жол апатынан үш адам қаза тапты."},
]


def run(steppewatch, pack, lines):
  run = subprocess.run([steppewatch, "match", "--rules", pack, "--ordered", "-"],
                       input="".join(lines), capture_output=True, text=True, timeout=100)
  if run.returncode != 0:
    raise SystemExit(f"steppewatch match exited {run.returncode}\n{run.stderr}")
  by_item = {}
  for line in run.stdout.splitlines():
    if line.startswith("{"):
      alert = json.loads(line)
      by_item.setdefault(alert["item"]["id"], []).append(alert)
  return by_item


def pages(alerts):
  severities = {m["severity"] for a in alerts for m in a["matches"]}
  return bool(severities & {"high", "critical"}), len(alerts)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--steppewatch", required=True)
  parser.add_argument("--pack", required=True)
  parser.add_argument("--source-dir", required=True)
  args = parser.parse_args()

  lines = [json.dumps(i, ensure_ascii=False) + "\n" for i in EVENTS + MENTIONS]
  seed = os.path.join(os.environ.get("STEPPEWATCH_CORPUS_DIR") or os.path.normpath(
      os.path.join(args.source_dir, "..", "shared", "corpus")), "seed-article.json")
  seed_id = None
  if os.path.exists(seed):
    with open(seed, encoding="utf-8") as f:
      seed_line = f.readline()
    seed_id = json.loads(seed_line)["id"]
    lines.append(seed_line if seed_line.endswith("\n") else seed_line + "\n")
  else:
    print(f"note: {seed} is absent; the seed article is not checked")

  by_item = run(args.steppewatch, args.pack, lines)
  failures = []
  for item in EVENTS:
    high, n = pages(by_item.get(item["id"], []))
    print(f"{item['id']}: high={high} alerts={n}")
    if not high or n != 2:
      failures.append(f"{item['id']} should page (a high match and a desk + an urgent alert)")
  for item_id in [i["id"] for i in MENTIONS] + ([seed_id] if seed_id else []):
    high, n = pages(by_item.get(item_id, []))
    print(f"{item_id}: high={high} alerts={n}")
    if high or n > 1:
      failures.append(f"{item_id} is a mention and must not page")
  if failures:
    print("FAIL: " + "; ".join(failures))
    return 1
  print("OK: events page, mentions do not")
  return 0


if __name__ == "__main__":
  sys.exit(main())

#!/usr/bin/python3
"""Validates every line of an NDJSON file of alerts against config/schema/alert.v1.schema.json
with the real jsonschema validator (Debian python3-jsonschema), and checks what a schema cannot:
that each hit's [start, end) is inside its field and that the snippet contains the hit's text.

usage: validate_alerts.py SCHEMA ALERTS.ndjson ITEMS.ndjson MIN_ALERTS
Exit 0 when every alert is valid and there are at least MIN_ALERTS; 1 otherwise.
"""
import json
import sys

import jsonschema


def main():
  schema_path, alerts_path, items_path, min_alerts = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
  with open(schema_path, encoding="utf-8") as f:
    schema = json.load(f)
  jsonschema.Draft202012Validator.check_schema(schema)
  validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
  items = {}
  with open(items_path, encoding="utf-8") as f:
    for line in f:
      try:
        item = json.loads(line)
      except ValueError:
        continue
      if isinstance(item, dict) and "id" in item:
        items[str(item["id"])] = item
  count = 0
  failures = 0
  with open(alerts_path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      alert = json.loads(line)
      count += 1
      errors = sorted(validator.iter_errors(alert), key=lambda e: list(e.path))
      for e in errors:
        print(f"{alerts_path}:{n}: {'/'.join(map(str, e.path))}: {e.message}")
        failures += 1
      item = items.get(alert["item"]["id"])
      if item is None:
        continue
      for m in alert["matches"]:
        for h in m["hits"]:
          text = (item.get(h["field"]) or "").encode("utf-8")
          if not (0 <= h["start"] <= h["end"] <= len(text)):
            print(f"{alerts_path}:{n}: hit {h} outside its field ({len(text)} bytes)")
            failures += 1
            continue
          hit = text[h["start"]:h["end"]].decode("utf-8")
          if "snippet" in h and " ".join(hit.split()) not in h["snippet"]:
            print(f"{alerts_path}:{n}: snippet {h['snippet']!r} lacks the hit {hit!r}")
            failures += 1
  if count < min_alerts:
    print(f"{alerts_path}: {count} alerts, expected at least {min_alerts}")
    failures += 1
  print(f"{count} alerts checked, {failures} problems")
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())

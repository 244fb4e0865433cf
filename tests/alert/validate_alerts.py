#!/usr/bin/python3
"""Validates every line of an NDJSON file of alerts against config/schema/alert.v1.schema.json
with the real jsonschema validator (Debian python3-jsonschema), and checks what a schema cannot:
that each hit's [start, end) is inside its field and ends at a word's end for prefix and regex
terms, that the snippet holds the hit's text exactly at snippet_start..snippet_end (UTF-8
bytes), that every alert carries the properties this version always writes (alert_id, topic,
severity, tags), that severity is the highest of the rules' and tags their union, and that
alert_id is SHA-256(item id NUL pack hash NUL topic)[:32 hex digits].

usage: validate_alerts.py SCHEMA ALERTS.ndjson ITEMS.ndjson MIN_ALERTS
Exit 0 when every alert is valid and there are at least MIN_ALERTS; 1 otherwise.
"""
import hashlib
import json
import sys
import unicodedata

import jsonschema


def is_word(c):
  return unicodedata.category(c)[0] in "LNM"


def is_cjk(c):
  return unicodedata.name(c, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


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
      for key in ("alert_id", "topic", "severity", "tags"):
        if key not in alert:
          print(f"{alerts_path}:{n}: no {key}")
          failures += 1
      order = ["info", "low", "medium", "high", "critical"]
      top = max((m["severity"] for m in alert["matches"]), key=order.index)
      if alert.get("severity") != top:
        print(f"{alerts_path}:{n}: severity {alert.get('severity')!r}, highest rule's {top!r}")
        failures += 1
      union = []
      for m in alert["matches"]:
        union += [t for t in m["tags"] if t not in union]
      if alert.get("tags") != union:
        print(f"{alerts_path}:{n}: tags {alert.get('tags')!r}, union of the rules' {union!r}")
        failures += 1
      want_id = hashlib.sha256(b"\0".join(x.encode() for x in (
          alert["item"]["id"], alert["rule_pack"]["hash"], alert.get("topic", "")))).hexdigest()
      if alert.get("alert_id") != want_id[:32]:
        print(f"{alerts_path}:{n}: alert_id {alert.get('alert_id')!r}, expected {want_id[:32]!r}")
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
          after = text[h["end"]:].decode("utf-8")[:1]
          if (h["term"].endswith("*") or h["term"].startswith("/")) and hit and after and \
              is_word(hit[-1]) and is_word(after) and not is_cjk(hit[-1]):
            print(f"{alerts_path}:{n}: hit {hit!r} of {h['term']} stops inside a word")
            failures += 1
          # A regex hit without a start offset (no SOM) that ends after punctuation is empty:
          # the matcher knows only its end, and the snippet shows where that is.
          if "snippet" in h and hit:
            snippet = h["snippet"].encode("utf-8")
            shown = snippet[h["snippet_start"]:h["snippet_end"]].decode("utf-8")
            if not " ".join(hit.split()).startswith(shown) or not shown:
              print(f"{alerts_path}:{n}: snippet {h['snippet']!r} at "
                    f"{h['snippet_start']}..{h['snippet_end']} is {shown!r}, not the hit {hit!r}")
              failures += 1
  if count < min_alerts:
    print(f"{alerts_path}: {count} alerts, expected at least {min_alerts}")
    failures += 1
  print(f"{count} alerts checked, {failures} problems")
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())

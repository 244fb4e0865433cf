#!/usr/bin/python3
"""Writes tests/cli/data/stories-alerts.jsonl and stories-bad.jsonl, the inputs of the
`steppewatch stories` golden tests: small steppewatch.alert.v1 alerts with fingerprints.

stories-alerts.jsonl (time order, 2022-11-21 .. 2022-11-22):
  - a day of background: one new story every two hours on rule other.rule / tag theme:other,
    and one every six hours on the quiet rule kz.unrest / tag geo:kazakhstan;
  - 30 syndicated copies of one story on kz.unrest in one hour (fingerprints 1-2 bits apart,
    30 sources): one story, no spike;
  - 25 distinct stories on kz.unrest in two hours, one of them in Kazakh: a confirmed spike;
  - the same item on a second alert topic (not a copy).
stories-bad.jsonl: one line per rejection reason, undated alerts before and after dated ones,
  and a new story more than the spike window behind the clock.
stories-hole.jsonl: eight days of background (other.rule every 30 minutes, kz.unrest every
  six hours), a hole of 20 days with no alert at all, a day of the same background, then 25
  distinct stories on kz.unrest in two hours: one hole in the data, and a spike with no new
  warmup after it.

usage: stories_alerts.py  (from the source directory)
"""
import json

T0 = 1668988800  # 2022-11-21T00:00:00Z, a Monday


def iso(secs):
  import datetime
  return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert(item_id, fp, secs, rule="kz.unrest", tags=("geo:kazakhstan",), source="example.org",
          lang="en", published=None):
  return {
      "schema": "steppewatch.alert.v1",
      "item": {"id": item_id, "title": "t", "source": source, "lang": lang,
               "published_at": published if published is not None else iso(secs),
               "fingerprint": "%016x" % fp},
      "matches": [{"rule": rule, "title": rule, "severity": "low", "tags": list(tags), "score": 1,
                   "hits": []}],
      "rule_pack": {"name": "golden", "version": "1", "hash": "sha256:" + "0" * 64},
      "origin": {"topic": "", "partition": -1, "offset": 1, "timestamp_ms": -1},
      "processed_at": "2026-01-01T00:00:00.000Z",
      "instance": "golden",
  }


def distinct(i):
  return ((i + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF


def main():
  rows = []
  for h in range(0, 24, 2):
    rows.append(alert("bg-other-%d" % h, distinct(1000 + h), T0 + h * 3600, rule="other.rule",
                      tags=("theme:other",)))
    if h % 6 == 0:
      rows.append(alert("bg-kz-%d" % h, distinct(2000 + h), T0 + h * 3600 + 60))
  t = T0 + 86400 + 8 * 3600  # Tuesday 08:00
  wire = 0x5555AAAA5555AAAA
  for i in range(30):
    rows.append(alert("wire-%d" % i, wire ^ (1 << (i % 64)) ^ (1 << ((i * 7) % 64)), t + i * 120,
                      source="outlet%d.example" % i))
  t += 2 * 3600
  for i in range(25):
    rows.append(alert("burst-%d" % i, distinct(i), t + i * 288, lang="kk" if i == 12 else "en"))
    if i == 3:
      dup = alert("burst-3", distinct(3), t + i * 288 + 1)
      dup["origin"]["topic"] = "alerts.second"
      rows.append(dup)
  rows.append(alert("late-evening", distinct(99), t + 10 * 3600, rule="other.rule",
                    tags=("theme:other",)))
  with open("tests/cli/data/stories-alerts.jsonl", "w") as f:
    for r in rows:
      f.write(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n")

  bad = []
  # An undated alert before any dated one: no time to take (no_time).
  first = alert("undated-first", distinct(5), T0)
  del first["item"]["published_at"]
  bad.append(json.dumps(first, separators=(",", ":")))
  good = alert("ok", distinct(5), T0)
  bad.append(json.dumps(good, separators=(",", ":")))
  bad.append("{not json")
  x = alert("v9", distinct(6), T0 + 60)
  x["schema"] = "steppewatch.alert.v9"
  bad.append(json.dumps(x, separators=(",", ":")))
  x = alert("nofp", distinct(7), T0 + 60)
  del x["item"]["fingerprint"]
  bad.append(json.dumps(x, separators=(",", ":")))
  bad.append(json.dumps(alert("epoch", distinct(8), 0, published="1970-01-01T00:00:00Z"),
                        separators=(",", ":")))
  bad.append(json.dumps(alert("future", distinct(9), 0, published="2999-01-01T00:00:00Z"),
                        separators=(",", ":")))
  bad.append(json.dumps(alert("nodate", distinct(10), 0, published="2004/2005"),
                        separators=(",", ":")))
  bad.append(json.dumps(alert("reuters", distinct(11), 0, published="26-FEB-1987 15:01:01.79"),
                        separators=(",", ":")))
  bad.append(json.dumps(alert("after", distinct(12), T0 + 60), separators=(",", ":")))
  # Five hours on, then a new story 3.5 h behind that (inside the story window, outside the
  # spike window): grouped, counted for its rule's and tag's baselines only, and said so.
  bad.append(json.dumps(alert("later", distinct(13), T0 + 5 * 3600), separators=(",", ":")))
  bad.append(json.dumps(alert("behind-spike-window", distinct(14), T0 + 90 * 60),
                        separators=(",", ":")))
  with open("tests/cli/data/stories-bad.jsonl", "w") as f:
    for r in bad:
      f.write(r + "\n")

  hole = []
  for start, days in ((T0, 8), (T0 + 28 * 86400, 1)):
    for k in range(days * 48):
      secs = start + k * 1800
      hole.append(alert("bg-%d" % secs, distinct(3000 + len(hole)), secs, rule="other.rule",
                        tags=("theme:other",)))
      if k % 12 == 0:
        hole.append(alert("kz-%d" % secs, distinct(3000 + len(hole)), secs + 60))
  t = T0 + 29 * 86400 + 9 * 3600
  for i in range(25):
    hole.append(alert("hole-burst-%d" % i, distinct(5000 + i), t + i * 288))
  with open("tests/cli/data/stories-hole.jsonl", "w") as f:
    for r in hole:
      f.write(json.dumps(r, separators=(",", ":")) + "\n")


if __name__ == "__main__":
  main()

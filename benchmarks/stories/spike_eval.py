#!/usr/bin/python3
"""Evaluation of the stories stage's spike detection on a real news timeline.

The timeline is the Reuters-21578 part of ../shared/corpus/news-bench.jsonl (1987, ~470 items a
day, real timestamps in Reuters' own format). The tool runs the real binaries end to end:

  1. `steppewatch match` with a pack over the Reuters items in time order -> alerts;
     by default a synthetic pack of topical rules (commodities, countries, themes, written here
     from general knowledge of wire news, not from the corpus), so that keys have realistic
     volumes from quiet to busy; --pack DIR uses another pack (config/rules/central-asia finds
     little in 1987 Reuters);
  2. item.fingerprint: kept when the alerts carry it (the item processor computes it); when they
     do not (a tree without the fingerprint), a stand-in 64-bit SimHash of word 3-shingles of the
     item's lower-cased title and body is added here, by item id;
  3. `steppewatch stories` over the alerts (the stage's defaults unless given) -> spikes on the
     real timeline: every spike start is counted as a false spike (an upper bound: some are real
     bursts of 1987 news), per key per week of evaluated time (after the warmup, only days that
     have items, history restarts after gaps longer than two weeks excluded);
  4. injections, one per run, on quiet keys (at most --quiet-rate new stories a day on average)
     at several times of the week (weekday morning, weekday night, Saturday noon):
     (a) 25 distinct stories at random times within two hours -> detection delay (first spike
         start of the key at or after the first injected story, by event time) and whether it
         is detected within its two hours;
     (b) 30 syndicated copies of one story (the first is the original, the others 0-3 bits
         from it, 30 sources)
         within one hour -> spike starts of the key in the following three hours beyond those of
         the run without injection (must be 0);
     (c) with --together N: N runs per time slot in which every injected key gets its 25
         stories in the same two hours, as when one event raises several keys at once; the
         stage scales each key's expectation by how dense the rest of the stream is, and the
         other keys' bursts are part of that rest, so this measures what that costs;
  5. seasonality: the weekday/weekend volume of the timeline, false spikes by day of week and
     on Monday mornings (after the quiet weekend), and detection of (a) on Saturday vs weekdays.

usage: spike_eval.py --steppewatch build/release/steppewatch [--corpus PATH] [--pack DIR]
                     [--work DIR] [--stories-args "..."] [--keys N] [--seed N] [--json OUT]
                     [--together N]
Prints a report (markdown) to stdout.
"""
import argparse
import collections
import datetime
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time

UTC = datetime.timezone.utc

# The synthetic pack: topical rules of a wire-news monitor. Each: id, tags, terms (any of).
TOPICS = [
    ("commodity.cocoa", ["theme:softs"], ["cocoa"]),
    ("commodity.coffee", ["theme:softs"], ["coffee"]),
    ("commodity.sugar", ["theme:softs"], ["sugar"]),
    ("commodity.grain", ["theme:grain"], ["wheat", "grain", "maize", "barley"]),
    ("commodity.corn", ["theme:grain"], ["corn"]),
    ("commodity.soybean", ["theme:grain"], ["soybean", "soybeans", "soymeal"]),
    ("commodity.crude", ["theme:energy"], ["crude oil", "opec", "barrels"]),
    ("commodity.natgas", ["theme:energy"], ["natural gas"]),
    ("commodity.gold", ["theme:metals"], ["gold"]),
    ("commodity.copper", ["theme:metals"], ["copper"]),
    ("commodity.tin", ["theme:metals"], ["tin"]),
    ("commodity.rubber", ["theme:softs"], ["rubber"]),
    ("commodity.cotton", ["theme:softs"], ["cotton"]),
    ("geo.japan", ["geo:japan"], ["japan", "japanese", "tokyo"]),
    ("geo.brazil", ["geo:brazil"], ["brazil", "brazilian"]),
    ("geo.iran", ["geo:iran"], ["iran", "iranian", "tehran"]),
    ("geo.ussr", ["geo:ussr"], ["soviet", "moscow", "ussr"]),
    ("geo.china", ["geo:china"], ["china", "chinese", "peking"]),
    ("geo.uk", ["geo:uk"], ["britain", "british", "london"]),
    ("geo.germany", ["geo:germany"], ["west germany", "bonn", "bundesbank"]),
    ("geo.argentina", ["geo:argentina"], ["argentina", "argentine"]),
    ("geo.mexico", ["geo:mexico"], ["mexico", "mexican"]),
    ("geo.india", ["geo:india"], ["india", "indian"]),
    ("geo.indonesia", ["geo:indonesia"], ["indonesia", "indonesian"]),
    ("geo.saudi", ["geo:saudi-arabia"], ["saudi"]),
    ("geo.kuwait", ["geo:kuwait"], ["kuwait"]),
    ("geo.ecuador", ["geo:ecuador"], ["ecuador"]),
    ("econ.rates", ["theme:rates"], ["interest rate", "interest rates", "discount rate"]),
    ("econ.fx", ["theme:fx"], ["dollar", "yen", "currency"]),
    ("econ.trade", ["theme:trade"], ["trade deficit", "trade surplus", "tariffs", "tariff"]),
    ("econ.debt", ["theme:debt"], ["debt", "creditor banks", "moratorium"]),
    ("corp.merger", ["theme:corporate"], ["merger", "acquisition", "takeover"]),
    ("corp.earnings", ["theme:corporate"], ["net profit", "net loss", "qtr"]),
    ("corp.dividend", ["theme:corporate"], ["dividend"]),
    ("labour.strike", ["theme:labour"], ["strike", "strikers", "walkout"]),
    ("shipping", ["theme:shipping"], ["shipping", "tanker", "port"]),
    ("security.gulf", ["theme:security"], ["gulf war", "missile", "attack"]),
]

WORD = re.compile(r"\w+", re.UNICODE)


def parse_time(s):
  """Event time in ms from the forms the stage reads (RFC 3339, Reuters); None otherwise."""
  if not s:
    return None
  s = s.strip()
  for fmt in ("%d-%b-%Y %H:%M:%S",):
    try:
      base, _, frac = s.partition(".")
      t = datetime.datetime.strptime(base, fmt).replace(tzinfo=UTC)
      return int(t.timestamp() * 1000) + (int((frac + "000")[:3]) if frac.isdigit() else 0)
    except ValueError:
      pass
  try:
    t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
      t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)
  except ValueError:
    return None


def iso(ms):
  return datetime.datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def simhash(text):
  """Stand-in fingerprint: 64-bit SimHash of word 3-shingles (words for short texts)."""
  words = WORD.findall(text.lower())
  grams = [" ".join(words[i:i + 3]) for i in range(len(words) - 2)] or words or [text]
  v = [0] * 64
  for g in grams:
    h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "little")
    for b in range(64):
      v[b] += 1 if (h >> b) & 1 else -1
  fp = 0
  for b in range(64):
    if v[b] > 0:
      fp |= 1 << b
  return fp


def write_pack(path):
  os.makedirs(os.path.join(path, "rules"), exist_ok=True)
  with open(os.path.join(path, "pack.yaml"), "w") as f:
    f.write("pack:\n  name: eval-topics\n  version: \"1\"\n  description: synthetic topical rules "
            "for the spike evaluation\ndefaults:\n  topic: alerts.eval\n  severity: low\n")
  with open(os.path.join(path, "rules", "topics.yaml"), "w") as f:
    f.write("rules:\n")
    for rid, tags, terms in TOPICS:
      query = " OR ".join('"%s"' % t for t in terms)
      f.write("  - id: %s\n    title: %s\n    tags: [%s]\n    query: '%s'\n" %
              (rid, rid, ", ".join(tags), query))


def run(cmd, stdin=None, stdout=None):
  p = subprocess.run(cmd, stdin=stdin, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE)
  if p.returncode != 0:
    sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr.decode()[-2000:]))
  return p


def keys_of(alert):
  out = set()
  for m in alert.get("matches", []):
    out.add(("rule", m["rule"]))
    for t in m.get("tags", []):
      out.add(("tag", t))
  return out


def stories_run(args, alerts_path, extra=()):
  cmd = [args.steppewatch, "stories", "--now", "1990-01-01T00:00:00Z"] + args.stories_args.split()
  cmd += list(extra) + [alerts_path]
  t0 = time.time()
  p = run(cmd)
  elapsed = time.time() - t0
  spikes, new_per_key = [], collections.Counter()
  for line in p.stdout.decode().splitlines():
    d = json.loads(line)
    if d["schema"] == "steppewatch.spike.v1":
      spikes.append(d)
    elif d["story"]["new"] and d["story"]["id"] == d["item"]["id"]:
      for k in keys_of(d):
        new_per_key[k] += 1
  return spikes, new_per_key, p.stderr.decode().strip(), elapsed


def merged(base_lines, extra):
  """Base alerts (time-ordered) with extra (time, line) inserted in time order."""
  out, extra = [], sorted(extra)
  j = 0
  for t, line in base_lines:
    while j < len(extra) and extra[j][0] <= t:
      out.append(extra[j][1])
      j += 1
    out.append(line)
  out += [l for _, l in extra[j:]]
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--steppewatch", required=True)
  ap.add_argument("--corpus", default="../shared/corpus/news-bench.jsonl")
  ap.add_argument("--pack", default="", help="a rule pack dir (default: the synthetic topics)")
  ap.add_argument("--work", default="/tmp/steppewatch-spike-eval")
  ap.add_argument("--stories-args", default="", help="extra `steppewatch stories` flags")
  ap.add_argument("--keys", type=int, default=8, help="quiet keys to inject on")
  ap.add_argument("--quiet-rate", type=float, default=3.0, help="new stories/day of a quiet key")
  ap.add_argument("--seed", type=int, default=1987)
  ap.add_argument("--json", default="")
  ap.add_argument("--together", type=int, default=0,
                  help="also N runs per time slot in which every injected key bursts in the same "
                       "two hours (25 distinct stories each): does one key's burst raise the "
                       "others' bar? (default 0: not run)")
  args = ap.parse_args()
  if not os.path.exists(args.corpus):
    print("corpus %s not found: nothing to evaluate" % args.corpus)
    return 0
  rng = random.Random(args.seed)
  os.makedirs(args.work, exist_ok=True)

  # 1. Reuters items in time order (stable), with usable times.
  items, texts = [], {}
  with open(args.corpus, encoding="utf-8") as f:
    for line in f:
      d = json.loads(line)
      if not d["id"].startswith("reuters21578-"):
        continue
      t = parse_time(d.get("published_at"))
      if t is None:
        continue
      items.append((t, line))
      texts[d["id"]] = (d.get("title") or "") + "\n" + (d.get("body") or "")
  items.sort(key=lambda x: x[0])
  items_path = os.path.join(args.work, "reuters.jsonl")
  with open(items_path, "w", encoding="utf-8") as f:
    for _, line in items:
      f.write(line if line.endswith("\n") else line + "\n")
  pack = args.pack
  if not pack:
    pack = os.path.join(args.work, "pack")
    write_pack(pack)
  t0 = time.time()
  p = run([args.steppewatch, "match", "--rules", pack, "--ordered", "--no-progress",
           "--processed-at", "2026-01-01T00:00:00.000Z", "--instance", "eval", items_path])
  match_s = time.time() - t0
  base, stand_in = [], 0
  for line in p.stdout.decode().splitlines():
    a = json.loads(line)
    if "fingerprint" not in a["item"]:
      a["item"]["fingerprint"] = "%016x" % simhash(texts[a["item"]["id"]])
      stand_in += 1
    base.append((parse_time(a["item"]["published_at"]), json.dumps(a, ensure_ascii=False, separators=(",", ":"))))
  alerts_path = os.path.join(args.work, "alerts.jsonl")
  with open(alerts_path, "w", encoding="utf-8") as f:
    f.write("\n".join(l for _, l in base) + "\n")

  # 2. The real timeline.
  spikes, new_per_key, summary, stories_s = stories_run(args, alerts_path)
  days = sorted({datetime.datetime.fromtimestamp(t / 1000, UTC).date() for t, _ in items})
  day_volume = collections.Counter(datetime.datetime.fromtimestamp(t / 1000, UTC).date() for t, _ in items)
  # Evaluated days: after the warmup from the first day, within the first stretch without a gap
  # longer than two weeks (a longer gap restarts history and its warmup).
  warmup = 7
  m = re.search(r"--warmup-days[ =](\d+)", args.stories_args)
  if m:
    warmup = int(m.group(1))
  segments, seg = [], [days[0]]
  for d in days[1:]:
    if (d - seg[-1]).days > 14:
      segments.append(seg)
      seg = [d]
    else:
      seg.append(d)
  segments.append(seg)
  eval_days = set()
  for s in segments:
    start = s[0] + datetime.timedelta(days=warmup)
    eval_days |= {d for d in s if d >= start}
  eval_weeks = len(eval_days) / 7.0
  starts = [s for s in spikes if s["state"] == "start"]
  span_days = max(1, len(days))
  rate = {k: n / span_days for k, n in new_per_key.items()}
  quiet = sorted(k for k, r in rate.items() if r <= args.quiet_rate and new_per_key[k] >= 3)
  starts_by_key = collections.Counter((s["scope"], s["name"]) for s in starts)
  all_keys = sorted(new_per_key)
  n_keys = len(all_keys)
  false_per_key_week = len(starts) / max(1, n_keys) / max(eval_weeks, 1e-9)
  quiet_false = sum(starts_by_key[k] for k in quiet)
  busy = [k for k in all_keys if k not in quiet]

  # 5a. Seasonality of the timeline and of the spikes.
  wd = collections.Counter()
  for d in days:
    wd[d.weekday()] += day_volume[d]
  weekday_days = sum(1 for d in days if d.weekday() < 5)
  weekend_days = sum(1 for d in days if d.weekday() >= 5)
  weekday_avg = sum(wd[i] for i in range(5)) / max(1, weekday_days)
  weekend_avg = sum(wd[i] for i in (5, 6)) / max(1, weekend_days)
  start_dow = collections.Counter()
  monday_morning = 0
  for s in starts:
    t = datetime.datetime.fromisoformat(s["window_end"].replace("Z", "+00:00"))
    start_dow[t.weekday()] += 1
    monday_morning += t.weekday() == 0 and t.hour < 12

  # 4. Injections on quiet keys.
  rule_tags = collections.defaultdict(set)
  tag_rule = {}
  for _, line in base:
    a = json.loads(line)
    for mm in a["matches"]:
      rule_tags[mm["rule"]].update(mm.get("tags", []))
      for t in mm.get("tags", []):
        tag_rule.setdefault(t, mm["rule"])

  def alert_for(key, item_id, fp, t_ms, source, lang="en"):
    scope, name = key
    rule = name if scope == "rule" else tag_rule[name]
    tags = sorted(rule_tags[rule]) if scope == "rule" else [name]
    return json.dumps({
        "schema": "steppewatch.alert.v1",
        "item": {"id": item_id, "title": "injected", "source": source, "lang": lang,
                 "published_at": iso(t_ms), "fingerprint": "%016x" % fp},
        "matches": [{"rule": rule, "title": rule, "severity": "low", "tags": tags, "score": 1,
                     "hits": []}],
        "rule_pack": {"name": "eval", "version": "1", "hash": "sha256:" + "0" * 64},
        "origin": {"topic": "", "partition": -1, "offset": 0, "timestamp_ms": -1},
        "processed_at": "2026-01-01T00:00:00.000Z", "instance": "eval"}, separators=(",", ":"))

  eval_sorted = sorted(eval_days)
  weekdays = [d for d in eval_sorted if d.weekday() < 5]
  saturdays = [d for d in eval_sorted if d.weekday() == 5]
  # Saturdays inside evaluated stretches even when the corpus has no item that day.
  if not saturdays:
    saturdays = [d + datetime.timedelta(days=(5 - d.weekday()) % 7) for d in weekdays]
    saturdays = [d for d in saturdays if d in eval_days or (d - datetime.timedelta(days=1)) in eval_days]
  slots = [("weekday 10:00", weekdays, 10), ("weekday 03:00", weekdays, 3),
           ("saturday 12:00", saturdays, 12)]
  inject_keys = rng.sample(quiet, min(args.keys, len(quiet))) if quiet else []
  bursts, copies = [], []
  tmp = os.path.join(args.work, "injected.jsonl")

  def run_with(extra):
    """The spike events of `steppewatch stories` over the timeline with `extra` alerts merged in."""
    with open(tmp, "w", encoding="utf-8") as f:
      f.write("\n".join(merged(base, extra)) + "\n")
    sp, _, _, _ = stories_run(args, tmp)
    return sp

  def burst_result(sp, key, t0_ms, label, day):
    """The first spike start of `key` at or after t0_ms that the timeline alone does not have."""
    base_starts = [s for s in starts if (s["scope"], s["name"]) == key]
    hit = [s for s in sp if s["state"] == "start" and (s["scope"], s["name"]) == key and
           parse_time(s["window_end"]) >= t0_ms and
           not any(b["spike_id"] == s["spike_id"] for b in base_starts)]
    delay = (parse_time(hit[0]["window_end"]) - t0_ms) / 60000 if hit else None
    return {"key": "%s:%s" % key, "slot": label, "day": str(day), "delay_min": delay,
            "within_window": delay is not None and delay <= 120}
  for ki, key in enumerate(inject_keys):
    for label, pool, hour in slots:
      if not pool:
        continue
      day = pool[rng.randrange(len(pool))]
      t0_ms = int(datetime.datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)
      # (a) 25 distinct stories in two hours.
      times = sorted(t0_ms + rng.randrange(2 * 3600 * 1000) for _ in range(25))
      times[0] = t0_ms
      extra = [(t, alert_for(key, "inject-%d-%d" % (ki, i), rng.getrandbits(64) | 1, t,
                             "wire%d.example" % i)) for i, t in enumerate(times)]
      bursts.append(burst_result(run_with(extra), key, t0_ms, label, day))
      # (b) 30 copies of one story in one hour.
      orig = rng.getrandbits(64) | 1
      extra = []
      for i in range(30):
        # The first copy is the original; the others are 0-3 bits from it, as the fingerprints
        # of edited wire copies are from the story's first item.
        fp = orig
        if i > 0:
          for b in rng.sample(range(64), rng.randint(0, 3)):
            fp ^= 1 << b
        t = t0_ms if i == 0 else t0_ms + rng.randrange(3600 * 1000)
        extra.append((t, alert_for(key, "copy-%d-%d" % (ki, i), fp, t, "outlet%d.example" % i)))
      sp = run_with(extra)
      def in_span(s):
        t = parse_time(s["window_end"])
        return s["state"] == "start" and (s["scope"], s["name"]) == key and t0_ms <= t <= t0_ms + 3 * 3600 * 1000
      extra_starts = sum(1 for s in sp if in_span(s)) - sum(1 for s in spikes if in_span(s))
      copies.append({"key": "%s:%s" % key, "slot": label, "day": str(day),
                     "extra_spikes": extra_starts})

  # (c) Every injected key bursts in the same two hours (--together): the stream factor counts
  # the other keys' bursts as the rest of the stream, so this shows what it costs when several
  # quiet keys (or one event's keys) rise at once.
  together = []
  for run_i in range(args.together):
    for label, pool, hour in slots:
      if not pool or not inject_keys:
        continue
      day = pool[rng.randrange(len(pool))]
      t0_ms = int(datetime.datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() * 1000)
      extra = []
      for ki, key in enumerate(inject_keys):
        times = sorted(t0_ms + rng.randrange(2 * 3600 * 1000) for _ in range(25))
        times[0] = t0_ms
        extra += [(t, alert_for(key, "together-%d-%d-%d" % (run_i, ki, i), rng.getrandbits(64) | 1, t,
                                "wire%d.example" % i)) for i, t in enumerate(times)]
      sp = run_with(extra)
      together += [burst_result(sp, key, t0_ms, label, day) for key in inject_keys]

  # Report.
  res = {
      "items": len(items), "days": len(days), "alerts": len(base), "stand_in_fingerprints": stand_in,
      "match_seconds": round(match_s, 2), "stories_seconds": round(stories_s, 2),
      "stories_summary": summary, "keys": n_keys, "quiet_keys": len(quiet),
      "eval_weeks": round(eval_weeks, 2), "spike_starts": len(starts),
      "false_spikes_per_key_week": round(false_per_key_week, 4),
      "quiet_key_false_spikes": quiet_false,
      "quiet_keys_with_false_spikes": sum(1 for k in quiet if starts_by_key[k]),
      "busy_key_false_spikes_per_key_week": round(
          sum(starts_by_key[k] for k in busy) / max(1, len(busy)) / max(eval_weeks, 1e-9), 4),
      "starts_by_key": {"%s:%s" % k: n for k, n in starts_by_key.most_common()},
      "weekday_items_per_day": round(weekday_avg, 1), "weekend_items_per_day": round(weekend_avg, 1),
      "spike_starts_by_weekday": {d: start_dow[i] for i, d in enumerate("Mon Tue Wed Thu Fri Sat Sun".split())},
      "spike_starts_monday_morning": monday_morning,
      "bursts": bursts, "copies": copies, "together": together,
  }
  print("## Spike evaluation: Reuters-21578 timeline, pack %s\n" % (args.pack or "synthetic topics (%d rules)" % len(TOPICS)))
  print("- %d items over %d days, %d alerts (%d stand-in fingerprints); match %.1f s, stories %.2f s"
        % (len(items), len(days), len(base), stand_in, match_s, stories_s))
  print("- stories: %s" % summary)
  print("- keys: %d (%d quiet: <= %.1f new stories/day); evaluated %.1f weeks (after %d days of warmup)"
        % (n_keys, len(quiet), args.quiet_rate, eval_weeks, warmup))
  print("- spike starts on the real timeline: %d = %.4f per key per week (all counted as false); "
        "quiet keys: %d starts on %d of %d keys; busy keys: %.4f per key per week"
        % (len(starts), false_per_key_week, quiet_false, res["quiet_keys_with_false_spikes"],
           len(quiet), res["busy_key_false_spikes_per_key_week"]))
  print("- top spiking keys: %s" % ", ".join("%s %d" % kv for kv in list(res["starts_by_key"].items())[:8]))
  def report_bursts(heading, runs):
    """Prints detection and delays of a list of burst runs, overall and per time slot."""
    d = sorted(b["delay_min"] for b in runs if b["delay_min"] is not None)
    print("- %s: detected within the window %d of %d; delay min/median/max %s min" % (
        heading, sum(b["within_window"] for b in runs), len(runs),
        "/".join("%.0f" % x for x in ([d[0], d[len(d) // 2], d[-1]] if d else []))))
    for label, _, _ in slots:
      sub = [b for b in runs if b["slot"] == label]
      sd = sorted(b["delay_min"] for b in sub if b["delay_min"] is not None)
      if sub:
        print("  - %s: %d/%d, median delay %s min" % (label, sum(b["within_window"] for b in sub), len(sub),
                                                       "%.0f" % sd[len(sd) // 2] if sd else "-"))

  report_bursts("(a) 25 distinct stories in 2 h on a quiet key", bursts)
  print("- (b) 30 copies of one story in 1 h: extra spike starts %d over %d injections"
        % (sum(max(0, c["extra_spikes"]) for c in copies), len(copies)))
  if together:
    report_bursts("(c) all %d keys burst in the same 2 h (%d runs per slot)" % (len(inject_keys), args.together),
                  together)
  print("- seasonality: %.0f items/weekday, %.0f items/weekend day; spike starts by day %s; "
        "Monday before noon: %d" % (weekday_avg, weekend_avg, res["spike_starts_by_weekday"], monday_morning))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(res, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())

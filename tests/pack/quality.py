#!/usr/bin/python3
"""Backtests the default pack over the shared news corpus and draws the samples to read.

Runs `steppewatch match` (the daemon's matcher and evaluator) over news-bench.jsonl, prints
how many items got each tag (total and per corpus source), and writes, per tag, a seeded random
sample of items that got it (to estimate precision) and of plausible candidates that did not
(to find misses) into --out, one file per tag, for a person to read and judge. The judgements
and the resulting estimates are recorded in config/rules/central-asia/QUALITY.md.

Candidates for a miss: for ca.geopolitics, actor:, org:, theme: tags, the items that got a
geo: tag but not this one; for a geo: tag, the items that a naive keyword regex for the
country finds but the pack did not tag.

With --labels (tests/pack/geopolitics-labels.tsv: item ids, a label and a one-line reason each,
never the text), it also estimates the precision and recall of ca.geopolitics from that
stratified labelled sample: each labelled item stands for stratum_size / (labelled items of its
language and stratum in the group) items of the corpus, so a sample that over-represents the
items the pack fires on still gives unbiased corpus-level figures. Printed per language and per
part of the dev/test split (a seeded hash of the item, below: split_key, part_of) and, with --by-split, per
labelling round, with the sample size. A sample drawn after the split (--fresh) is scored
whole; --draw prints a new blind sample of the Kazakh near-misses that no labelled or read
sentence shares.

Not a ctest test (it needs the 43 MB corpus); run it by hand:
  /usr/bin/python3 tests/pack/quality.py --steppewatch build/release/steppewatch \
      --labels tests/pack/geopolitics-labels.tsv
"""
import argparse
import collections
import hashlib
import json
import os
import random
import re
import subprocess
import sys

# The naive baselines a geo rule should beat: one case-insensitive regex per country.
NAIVE = {
    "geo:kazakhstan": r"kazakh|казах|қазақ|哈萨克|astana|астана|almaty|алматы|алма-ат|tokayev|токаев|тоқаев|nazarbayev|назарбаев",
    "geo:uzbekistan": r"uzbek|узбек|өзбек|乌兹别克|tashkent|ташкент|samarkand|самарканд|mirziyoyev|мирзиёев",
    "geo:kyrgyzstan": r"kyrgyz|kirghiz|киргиз|кыргыз|қырғыз|吉尔吉斯|bishkek|бишкек|бішкек",
    "geo:tajikistan": r"tajik|tadzhik|таджик|тәжік|塔吉克|dushanbe|душанбе|rahmon|рахмон",
    "geo:turkmenistan": r"turkmen|туркмен|түрікмен|土库曼|ashgabat|ашхабад",
    "geo:central-asia": r"central asia|средн\w+ ази|центральн\w+ ази|орталық азия|中亚",
    "geo:caspian": r"caspian|каспи|里海",
}


def parse_args():
  here = os.path.dirname(os.path.abspath(__file__))
  root = os.path.normpath(os.path.join(here, "..", ".."))
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--steppewatch", default=os.path.join(root, "build", "release", "steppewatch"))
  p.add_argument("--pack", default=os.path.join(root, "config", "rules", "central-asia"))
  p.add_argument("--corpus", default=os.path.normpath(
      os.path.join(root, "..", "shared", "corpus", "news-bench.jsonl")))
  p.add_argument("--samples", type=int, default=25, help="items per tag and kind")
  p.add_argument("--seed", type=int, default=20261127)
  p.add_argument("--out", default="/tmp/steppewatch-quality")
  p.add_argument("--alerts", help="reuse a saved `steppewatch match` output instead of running it")
  p.add_argument("--labels", help="labelled sample of ca.geopolitics (TSV) to estimate P/R from")
  p.add_argument("--errors", action="store_true",
                 help="with --labels: list the development items the pack gets wrong (never the "
                 "test part's)")
  p.add_argument("--second",
                 help="with --labels: a second reading of some labelled items (TSV id, label, flag;"
                 " tests/pack/geopolitics-labels-kk-test-reader2.tsv): prints the agreement of the two"
                 " readings and the figures of those items under the first labels, the second labels"
                 " and the items both readings agree on")
  p.add_argument("--fresh", action="append", default=[],
                 help="a labelled sample drawn after the dev/test split (same TSV as --labels; "
                 "tests/pack/geopolitics-labels-fresh2.tsv): scored whole, per language, never "
                 "listed item by item")
  p.add_argument("--draw", type=int, metavar="N",
                 help="with --labels and --original: print N Kazakh sentences of the N stratum that "
                 "no item of --labels or --fresh shares (id and text, in random order, without the "
                 "pack's output) for a fresh blind sample, drawn with --seed")
  p.add_argument("--exclude", action="append", default=[],
                 help="with --draw: a file of sentences (split keys, one a line) read while tuning, "
                 "never to be drawn (tests/pack/geopolitics-read-unlabelled.txt)")
  p.add_argument("--strata", metavar="PROBE-OUTPUT",
                 help="with --draw: saved `steppewatch match` output of a probe rule (fresh4: "
                 "tests/pack/fresh4-probe.yaml) that splits the pool in two: every sentence the "
                 "probe fires on is drawn (stratum Nc, a census of it) plus N of the rest (No); "
                 "printed together in random order, so the reader cannot tell them apart")
  p.add_argument("--strata-out", metavar="FILE",
                 help="with --strata: write id, stratum and stratum size (sentences) here, to be "
                 "read only when the labels are written down")
  p.add_argument("--original",
                 help="saved `steppewatch match` output of the original pack (commit 294d026), "
                 "which defines the strata")
  p.add_argument("--census", action="store_true",
                 help="with --labels, --fresh and --original: corpus-level figures that take every "
                 "labelled item (and its copies) as known and estimate the rest of the Kazakh N "
                 "stratum from the fresh samples")
  p.add_argument("--by-split", action="store_true",
                 help="with --labels: also score each labelling round (tune, hold, ..., new)")
  return p.parse_args()


# The development / test split of the labelled sample, fixed before the rules were changed for
# it: an item is in the test part when the first 32 bits of SHA-256(SPLIT_SALT + split_key(id))
# are odd.
# Errors are listed (--errors) for the development part only; the test part is only scored.
SPLIT_SALT = "steppewatch-geopolitics-split-2026-12-03\t"
# Labelling rounds that no rule had been changed for when the dev/test split was made: their
# test items are scored apart ("test-untuned"), the figure to trust; the other rounds were read
# while tuning before the split existed.
UNSEEN_SPLITS = ("fresh", "new")


def split_key(item_id):
  """KazNERD gives one sentence several ids (kaznerd-test-AID248027, -BID248027: numbers as words
  and as digits), so the split hashes the sentence, not the id: copies never straddle it."""
  m = re.match(r"(kaznerd-(?:test|valid))-[A-Z]ID(\d+)$", item_id)
  return f"{m.group(1)}-{m.group(2)}" if m else item_id


def part_of(item_id):
  h = hashlib.sha256((SPLIT_SALT + split_key(item_id)).encode("utf-8")).hexdigest()
  return "test" if int(h[:8], 16) % 2 else "dev"


def read_labels(path):
  """Rows of the labelled sample: id, lang, stratum, stratum_size, split, label, reason."""
  rows = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      if line.startswith("#") or not line.strip():
        continue
      c = line.rstrip("\n").split("\t")
      rows.append({"id": c[0], "lang": c[1], "stratum": c[2], "size": int(c[3]),
                   "split": c[4], "label": int(c[5]), "reason": c[8] if len(c) > 8 else "",
                   "part": part_of(c[0])})
  return rows


def weighted(rows, fired):
  """Horvitz-Thompson totals of true/false positives and misses over one group of rows."""
  sampled = collections.Counter((r["lang"], r["stratum"]) for r in rows)
  tp = fp = fn = 0.0
  for r in rows:
    w = r["size"] / sampled[(r["lang"], r["stratum"])]
    f = r["id"] in fired
    tp += w * (r["label"] and f)
    fp += w * (not r["label"] and f)
    fn += w * (r["label"] and not f)
  return tp, fp, fn


def bootstrap(rows, fired, reps=1000, seed=1):
  """90% intervals of precision and recall: resample each (language, stratum) group with
  replacement, as the sample was drawn, and recompute the weighted figures."""
  groups = collections.defaultdict(list)
  for r in rows:
    groups[(r["lang"], r["stratum"])].append(r)
  rng = random.Random(seed)
  ps, rs = [], []
  for _ in range(reps):
    resampled = [rng.choice(g) for g in groups.values() for _ in g]
    tp, fp, fn = weighted(resampled, fired)
    if tp + fp:
      ps.append(tp / (tp + fp))
    if tp + fn:
      rs.append(tp / (tp + fn))

  def interval(v):
    if not v:
      return "  -  "
    v.sort()
    return f"{v[int(0.05 * len(v))]:.2f}-{v[int(0.95 * len(v)) - 1]:.2f}"
  return interval(ps), interval(rs)


def report_group(name, rows, fired):
  for lang in ("en", "ru", "kk", "zh", "all"):
    g = [r for r in rows if lang == "all" or r["lang"] == lang]
    if not g:
      continue
    tp, fp, fn = weighted(g, fired)
    p = f"{tp / (tp + fp):.3f}" if tp + fp else "  -  "
    rc = f"{tp / (tp + fn):.3f}" if tp + fn else "  -  "
    pi, ri = bootstrap(g, fired)
    # Raw counts of labelled items too: weighted figures hide how few items carry them.
    ctp = sum(1 for r in g if r["label"] and r["id"] in fired)
    cfp = sum(1 for r in g if not r["label"] and r["id"] in fired)
    cfn = sum(1 for r in g if r["label"] and r["id"] not in fired)
    print(f"{name:12} {lang:4} {len(g):4}  {p:>9}  {rc:>6}   ({tp:.0f} / {fp:.0f} / {fn:.0f})"
          f"   [{ctp} / {cfp} / {cfn}]   {pi}, {ri}")


def report_labels(path, fired, show_errors, by_split):
  rows = read_labels(path)
  print(f"\nca.geopolitics against {path} ({len(rows)} labelled items):")
  print("group        lang    n  precision  recall   (weighted tp / fp / fn)   "
        "[labelled tp / fp / fn]   90% interval P, R")
  for part in ("dev", "test"):
    in_part = [r for r in rows if r["part"] == part]
    report_group(part, in_part, fired)
    if part == "test":
      # A sentence is untuned only if no copy of it was in a round read while tuning.
      tuned = {split_key(r["id"]) for r in rows if r["split"] not in UNSEEN_SPLITS}
      report_group("test-untuned", [r for r in in_part if r["split"] in UNSEEN_SPLITS
                                    and split_key(r["id"]) not in tuned], fired)
  if by_split:
    for split in ("tune", "hold", "tune2", "tune3", "tune4", "tune5", "tune6", "fresh", "new",
                  "all"):
      in_split = [r for r in rows if split == "all" or r["split"] == split]
      if in_split:
        report_group(split, in_split, fired)
  if show_errors:
    for r in rows:
      f = r["id"] in fired
      if r["part"] == "dev" and f != bool(r["label"]):
        print(f"{'FP' if f else 'FN'} {r['split']:5} {r['lang']} {r['stratum']} {r['id']}: "
              f"{r['reason']}")


def read_second(path):
  """The second reading: item id -> (label, uncertain)."""
  second = {}
  with open(path, encoding="utf-8") as f:
    for line in f:
      if line.startswith("#") or not line.strip():
        continue
      c = line.rstrip("\n").split("\t")
      second[c[0]] = (int(c[1]), len(c) > 2 and c[2] == "u")
  return second


def report_second(labels_path, second_path, fired):
  """Agreement of two readings, counted per sentence (KazNERD copies share one reading), and the
  precision and recall of ca.geopolitics on the re-read items under each set of labels."""
  second = read_second(second_path)
  rows = [r for r in read_labels(labels_path) if r["id"] in second]
  first_by, second_by = {}, {}
  for r in rows:
    first_by[split_key(r["id"])] = r["label"]
    second_by[split_key(r["id"])] = second[r["id"]][0]
  n = len(first_by)
  both = collections.Counter((first_by[k], second_by[k]) for k in first_by)
  agree = (both[(1, 1)] + both[(0, 0)]) / n
  p1, p2 = (both[(1, 1)] + both[(1, 0)]) / n, (both[(1, 1)] + both[(0, 1)]) / n
  expected = p1 * p2 + (1 - p1) * (1 - p2)
  print(f"\nsecond reading {second_path}: {len(rows)} items, {n} sentences; both positive "
        f"{both[(1, 1)]}, first only {both[(1, 0)]}, second only {both[(0, 1)]}, both negative "
        f"{both[(0, 0)]}; agreement {agree:.3f}, Cohen's kappa {(agree - expected) / (1 - expected):.2f}")
  relabelled = [dict(r, label=second[r["id"]][0]) for r in rows]
  agreed = [r for r in rows if r["label"] == second[r["id"]][0]]
  for name, group in (("first", rows), ("second", relabelled), ("agreed", agreed)):
    for part in ("dev", "test"):
      in_part = [r for r in group if r["part"] == part]
      if in_part:
        report_group(f"{part}:{name}", in_part, fired)


def rules_by_item(alerts_path):
  """The rules each item fired, from an alerts file (NDJSON; other lines skipped)."""
  rules = collections.defaultdict(set)
  with open(alerts_path) as f:
    for line in f:
      if line.startswith("{"):
        alert = json.loads(line)
        rules[alert["item"]["id"]].update(m["rule"] for m in alert["matches"])
  return rules


def draw_fresh(labels_paths, original_alerts, items, n, seed, exclude_paths, strata=None,
               strata_out=None):
  """A fresh sample of the Kazakh N stratum: items the original pack did not tag ca.geopolitics
  but tagged otherwise or that a loose name regex finds, whose sentence no labelled item shares
  (copies count as one sentence; the first id in sorted order stands for it) and that was not
  read while tuning (exclude_paths)."""
  orig_rules = rules_by_item(original_alerts)
  names = re.compile("|".join(NAIVE.values()), re.I)
  labelled = {split_key(r["id"]) for path in labels_paths for r in read_labels(path)}
  for path in exclude_paths:
    with open(path, encoding="utf-8") as f:
      labelled.update(line.strip() for line in f if line.strip() and not line.startswith("#"))
  pool = {}
  for i in sorted(items):
    d = items[i]
    if d.get("lang") != "kk" or "ca.geopolitics" in orig_rules.get(i, ()):
      continue
    text = (d.get("title") or "") + " " + (d.get("body") or "")
    if (i in orig_rules or names.search(text)) and split_key(i) not in labelled:
      pool.setdefault(split_key(i), i)
  rng = random.Random(seed)
  if strata:
    # Sentences the probe fires on are few and hold most of what a recall rule would add: all
    # of them are drawn, so the sample measures precision there and recall in the rest.
    probe = rules_by_item(strata)
    copies = collections.defaultdict(list)
    for i in items:
      copies[split_key(i)].append(i)
    census_part = sorted(k for k in pool if any(i in probe for i in copies[k]))
    rest = sorted(k for k in pool if k not in set(census_part))
    drawn = [(k, "Nc", len(census_part)) for k in census_part] + \
        [(k, "No", len(rest)) for k in rng.sample(rest, n)]
    rng.shuffle(drawn)
    print(f"fresh draw: {len(pool)} unlabelled Kazakh N sentences; all {len(census_part)} the "
          f"probe fires on and {n} of the other {len(rest)}, drawn with seed {seed}")
    if strata_out:
      with open(strata_out, "w", encoding="utf-8") as out:
        for k, stratum, size in drawn:
          out.write(f"{pool[k]}\t{stratum}\t{size}\n")
    keys = [k for k, _, _ in drawn]
  else:
    print(f"fresh draw: {len(pool)} unlabelled Kazakh N sentences, {n} drawn with seed {seed}")
    keys = rng.sample(sorted(pool), n)
  for k in keys:
    d = items[pool[k]]
    print(f"{pool[k]}\t{((d.get('title') or '') + ' ' + (d.get('body') or '')).strip()}")


def census(labels_path, fresh_paths, original_alerts, items, fired, reps=1000, seed=1):
  """Corpus-level precision and recall of ca.geopolitics for this corpus. Every labelled item,
  and every unlabelled copy of a labelled sentence, counts with its label; the unlabelled Kazakh
  N-stratum items are estimated from the fresh samples, pooled as one random sample of their
  sentences; unlabelled R items count as negative (no R item of any labelled round was
  positive), so an R item the pack fires on counts as a false positive. 90% intervals: the fresh
  rows resampled with replacement; the known part does not vary."""
  orig = rules_by_item(original_alerts)
  names = re.compile("|".join(NAIVE.values()), re.I)
  known = {}
  for r in read_labels(labels_path):
    known.setdefault(split_key(r["id"]), r["label"])
  # Only simple random samples of the N stratum (stratum "N") can stand for it as one pool; a
  # stratified sample (fresh4: Nc and No) would over-weight its census stratum.
  fresh = [r for path in fresh_paths for r in read_labels(path) if r["stratum"] == "N"]
  rows = {"en": [0, 0, 0], "ru": [0, 0, 0], "kk": [0, 0, 0], "zh": [0, 0, 0]}
  pool = 0  # unlabelled Kazakh N items the fresh samples stand for
  for i, d in items.items():
    lang = d.get("lang")
    if lang not in rows:
      continue
    k = split_key(i)
    if k in known:
      y, f = known[k], i in fired
      rows[lang][0] += y and f
      rows[lang][1] += (not y) and f
      rows[lang][2] += y and not f
      continue
    text = (d.get("title") or "") + " " + (d.get("body") or "")
    is_n = "ca.geopolitics" not in orig.get(i, ()) and (i in orig or names.search(text))
    if lang == "kk" and is_n:
      pool += 1
    elif i in fired:
      rows[lang][1] += 1
  print(f"\ncensus: labelled items and their copies as labelled; {pool} other Kazakh N items "
        f"estimated from {len(fresh)} fresh sentences; unlabelled R items negative")
  rng = random.Random(seed)

  def estimate(sample):
    w = pool / len(sample)
    tp = sum(w for r in sample if r["label"] and r["id"] in fired)
    fp = sum(w for r in sample if not r["label"] and r["id"] in fired)
    fn = sum(w for r in sample if r["label"] and r["id"] not in fired)
    return tp, fp, fn
  for lang, (tp, fp, fn) in list(rows.items()) + [("all", [sum(v[j] for v in rows.values())
                                                           for j in range(3)])]:
    ps, rs = [], []
    for rep in range(reps + 1):
      sample = fresh if rep == 0 else [rng.choice(fresh) for _ in fresh]
      etp, efp, efn = estimate(sample) if lang in ("kk", "all") and fresh else (0, 0, 0)
      p = (tp + etp) / (tp + etp + fp + efp) if tp + etp + fp + efp else 0
      r = (tp + etp) / (tp + etp + fn + efn) if tp + etp + fn + efn else 0
      if rep == 0:
        point = (p, r, tp + etp, fp + efp, fn + efn)
      else:
        ps.append(p)
        rs.append(r)
    ps.sort()
    rs.sort()
    lo, hi = int(0.05 * reps), int(0.95 * reps) - 1
    print(f"census       {lang:4}       {point[0]:.3f}   {point[1]:.3f}   ({point[2]:.0f} / "
          f"{point[3]:.0f} / {point[4]:.0f})   {ps[lo]:.2f}-{ps[hi]:.2f}, {rs[lo]:.2f}-{rs[hi]:.2f}")


def source_of(item_id):
  return item_id.split("-", 1)[0]


def main():
  a = parse_args()
  if not os.path.exists(a.corpus):
    print(f"SKIP: {a.corpus} is absent")
    return 77
  os.makedirs(a.out, exist_ok=True)
  alerts_path = a.alerts or os.path.join(a.out, "alerts.jsonl")
  if not a.alerts:
    with open(alerts_path, "w") as out:
      subprocess.run([a.steppewatch, "match", "--rules", a.pack, a.corpus], stdout=out,
                     check=True)
  tags = collections.defaultdict(set)
  rules = collections.defaultdict(set)
  with open(alerts_path) as f:
    for line in f:
      if not line.startswith("{"):
        continue
      alert = json.loads(line)
      for m in alert["matches"]:
        tags[alert["item"]["id"]].update(m.get("tags", []))
        rules[alert["item"]["id"]].add(m["rule"])

  items = {}
  per_source = collections.Counter()
  with open(a.corpus, encoding="utf-8") as f:
    for line in f:
      d = json.loads(line)
      items[d["id"]] = d
      per_source[source_of(d["id"])] += 1

  all_tags = sorted({t for ts in tags.values() for t in ts})
  sources = sorted(per_source)
  print(f"items {len(items)}, with any tag {len(tags)}")
  print("tag".ljust(28) + "total  " + "  ".join(s[:9].rjust(9) for s in sources))
  for t in all_tags:
    by = collections.Counter(source_of(i) for i, ts in tags.items() if t in ts)
    print(t.ljust(28) + str(sum(by.values())).rjust(5) + "  " +
          "  ".join(str(by[s]).rjust(9) for s in sources))

  rng = random.Random(a.seed)
  for t in all_tags:
    fired = sorted(i for i, ts in tags.items() if t in ts)
    if t in NAIVE:
      rx = re.compile(NAIVE[t], re.I)
      cand = sorted(i for i, d in items.items() if t not in tags.get(i, ())
                    and rx.search((d.get("title") or "") + " " + (d.get("body") or "")))
    else:
      cand = sorted(i for i, ts in tags.items() if t not in ts
                    and any(x.startswith("geo:") for x in ts))
    with open(os.path.join(a.out, t.replace(":", "_") + ".txt"), "w") as out:
      for kind, pool in (("FIRED", fired), ("NOT FIRED (candidates)", cand)):
        sample = rng.sample(pool, min(a.samples, len(pool)))
        out.write(f"##### {t} {kind}: {len(sample)} of {len(pool)}\n")
        for i in sample:
          d = items[i]
          body = (d.get("body") or "").replace("\n", " ")
          out.write(f"-- {i} | {d.get('title') or ''}\n   {body[:600]}\n"
                    f"   rules: {' '.join(sorted(rules.get(i, ())))}\n")
  print(f"samples in {a.out}/<tag>.txt (seed {a.seed}, {a.samples} per kind)")
  if a.labels:
    fired = {i for i, rs in rules.items() if "ca.geopolitics" in rs}
    report_labels(a.labels, fired, a.errors, a.by_split)
    if a.second:
      report_second(a.labels, a.second, fired)
    for path in a.fresh:
      print(f"\nfresh sample {path}:")
      report_group("fresh", read_labels(path), fired)
    if a.census:
      census(a.labels, a.fresh, a.original, items, fired)
    if a.draw:
      draw_fresh([a.labels] + a.fresh, a.original, items, a.draw, a.seed, a.exclude, a.strata,
                 a.strata_out)
  return 0


if __name__ == "__main__":
  sys.exit(main())

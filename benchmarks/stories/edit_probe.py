#!/usr/bin/env python3
"""A probe of one edit at a time: for 150 English corpus items (600-3,000 bytes of body, seed 5),
each edit below makes one copy of each item; `steppewatch match | steppewatch stories` runs over
the originals and the copies, and the probe prints, per edit, how many copies joined their
original's story and the fingerprint distances. Edits that real feeds apply and the evaluation
generators may not: HTML entities left in, soft hyphens and zero-width characters inside
words, decomposed Unicode, a teaser of the lead, inserted captions and "Related:" lines,
reordered paragraphs, tags, numbers re-spaced; and copies cut to their first 70, 50, 35 or 25% of
sentences, alone, under a rewritten headline, or between an outlet's byline and footer: how
recall falls as a cut deepens (the lead path's containment check stops at 40% of the length).

usage: edit_probe.py --steppewatch BIN [--corpus PATH] [--work DIR]
(benchmarks/README.md, "Invisible characters"). Needs ../shared/corpus (skips without it).
"""
import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import unicodedata

PACK = """pack: {name: probe-all, version: "1", description: Every item alerts.}
defaults: {topic: alerts.all, severity: info}
sets:
  anything:
    terms: [{term: '/\\S/', whole_word: false}]
rules:
  - id: all
    query: '@anything'
    tests: {match: ["x"]}
"""


def sentences(body):
    return re.split(r"(?<=[.!?])\s+", body.strip())


def paragraphs(body):
    return re.split(r"\n\s*\n|\n    ", body)


EDITS = {
    "entities": lambda t, b: (t.replace("'", "&#39;"),
                              b.replace("&", "&amp;").replace('"', "&quot;")
                              .replace("'", "&#39;").replace(" ", "&nbsp;", 3)),
    "soft_hyphens": lambda t, b: (t, re.sub(r"([a-z]{4})([a-z]{4,})",
                                            lambda m: m.group(1) + "\u00ad" + m.group(2), b,
                                            count=12)),
    "zero_width_in_words": lambda t, b: (t, re.sub(r"([a-z]{3})([a-z]{3,})",
                                                   lambda m: m.group(1) + "\u200b" + m.group(2),
                                                   b, count=8)),
    "nfd": lambda t, b: (unicodedata.normalize("NFD", t), unicodedata.normalize("NFD", b)),
    "headline_in_body": lambda t, b: ("", t + "\n\n" + b),
    "numbers_spaced": lambda t, b: (t, re.sub(r"(\d),(\d\d\d)", r"\1 \2", b)),
    "teaser": lambda t, b: (t, " ".join(sentences(b)[:2]) + " Read more ..."),
    "paragraph_moved": lambda t, b: (t, "\n\n".join(
        (lambda p: [p[0]] + p[2:] + [p[1]] if len(p) > 2 else p)(paragraphs(b)))),
    "html_tags": lambda t, b: (t, "<p>" + b.replace("\n\n", "</p><p>") + "</p>"),
    "caption_inserted": lambda t, b: (t, " ".join(
        (lambda s: s[:2] + ["Photo: A worker at the site. (AFP)"] + s[2:])(sentences(b)))),
    "related_inserted": lambda t, b: (t, " ".join(
        (lambda s: s[:3] + ["\nRelated: Oil prices rise on supply fears\n"] + s[3:])(
            sentences(b)))),
    "title_upper": lambda t, b: (t.upper(), b),
    "smart_quotes": lambda t, b: (t, b.replace('"', "\u201c").replace("'", "\u2019")),
    "cut_70": lambda t, b: (t, cut(b, 0.7)),
    "cut_50": lambda t, b: (t, cut(b, 0.5)),
    "cut_35": lambda t, b: (t, cut(b, 0.35)),
    "cut_25": lambda t, b: (t, cut(b, 0.25)),
    "cut_50_new_title": lambda t, b: (new_title(t, b), cut(b, 0.5)),
    "cut_35_new_title": lambda t, b: (new_title(t, b), cut(b, 0.35)),
    "cut_50_byline": lambda t, b: (t, "By Staff Writer, Almaty Times\n\n" + cut(b, 0.5) + "\n\n(c) 2026 Almaty Times. All rights reserved. Subscribe for more."),
}


def cut(b, frac):
    """The first `frac` of the body's sentences (at least one)."""
    s = sentences(b)
    return " ".join(s[:max(1, round(len(s) * frac))])


def new_title(t, b):
    """A rewritten headline: the first sentence's first nine words."""
    w = sentences(b)[0].split()[:9]
    return " ".join(w).rstrip(".,;") + " - report"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--steppewatch", required=True)
    ap.add_argument("--corpus",
                    default=os.path.join(here, "../../../shared/corpus/news-bench.jsonl"))
    ap.add_argument("--work", default="/tmp/steppewatch-edit-probe")
    a = ap.parse_args()
    if not os.path.exists(a.corpus):
        print(f"edit_probe: no corpus at {a.corpus}: skipped")
        return 0
    os.makedirs(os.path.join(a.work, "pack"), exist_ok=True)
    with open(os.path.join(a.work, "pack", "pack.yaml"), "w") as f:
        f.write(PACK)
    corpus = [json.loads(line) for line in open(a.corpus, encoding="utf-8")]
    random.seed(5)
    pool = [d for d in corpus if d["lang"] == "en" and 600 < len(d["body"]) < 3000 and d["title"]]
    pool = random.sample(pool, 150)
    items = []
    for i, d in enumerate(pool):
        items.append({"id": f"o{i}", "title": d["title"], "body": d["body"], "lang": "en",
                      "source": "orig", "published_at": "2026-01-01T00:00:00Z"})
        for name, edit in EDITS.items():
            t, b = edit(d["title"], d["body"])
            items.append({"id": f"o{i}~{name}", "title": t, "body": b, "lang": "en",
                          "source": name, "published_at": "2026-01-01T00:10:00Z"})
    items_path = os.path.join(a.work, "items.jsonl")
    with open(items_path, "w", encoding="utf-8") as f:
        for x in items:
            f.write(json.dumps(x, ensure_ascii=False) + "\n")
    alerts = subprocess.run([a.steppewatch, "match", "--rules", os.path.join(a.work, "pack"),
                             "--ordered", "--hits", "compact", "--no-progress",
                             "--processed-at", "2026-01-01T00:00:00Z", items_path],
                            check=True, capture_output=True).stdout
    stories = subprocess.run([a.steppewatch, "stories", "--now", "2026-01-01T01:00:00Z"],
                             input=alerts, check=True, capture_output=True).stdout
    by_id = {}
    for line in stories.decode().splitlines():
        x = json.loads(line)
        if x.get("schema") == "steppewatch.alert.v1":
            by_id[x["item"]["id"]] = x
    result = collections.defaultdict(lambda: [0, 0, []])
    for iid, x in by_id.items():
        if "~" not in iid:
            continue
        original = by_id[iid.split("~")[0]]
        d = bin(int(x["item"]["fingerprint"], 16) ^
                int(original["item"]["fingerprint"], 16)).count("1")
        r = result[iid.split("~")[1]]
        r[0] += 1
        r[1] += x["story"]["id"] == original["story"]["id"]
        r[2].append(d)
    print("| edit | copies in their original's story | distance median | p90 |")
    print("|---|---|---|---|")
    for name in EDITS:
        n, joined, ds = result[name]
        ds.sort()
        print(f"| {name} | {joined} of {n} | {ds[len(ds) // 2]} | {ds[int(len(ds) * 0.9)]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

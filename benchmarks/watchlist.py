#!/usr/bin/env python3
"""Writes a multi-tenant watch list of boolean rules, as a rule pack, for the rules benchmarks.

    benchmarks/watchlist.py --rules 100000 --out /tmp/wl100k [--corpus FILE] [--seed 16]

What it models: many tenants (one per 100 rules), each watching its own few entities (people,
organisations, places) together with topics, as a media-monitoring service's customers do. The
vocabulary is the bench corpus's own (../shared/corpus/news-bench.jsonl): proper names are words
that the corpus writes capitalised, phrases are runs of two capitalised words ("Xi Jinping",
"Asian Development"; not with an article or a month), topics are lower-case words of five letters or more past the 300 most
frequent ones. Entities are drawn with a Zipf-like preference for frequent names (many tenants
watch "Kazakhstan"; each also watches rarer ones), so the candidate rules per item grow with the
list as they would in a real service. Rules use five shapes in rotation:

    A AND (B OR C)                      entity and one of two topics
    A AND B AND NOT C                   two entities, minus a homonym context
    "P Q" NEAR/5 C                      a phrase near an entity or topic
    title:(A OR B)                      a headline watch
    AT_LEAST_DISTINCT(2, A OR B OR C)   two of three entities

Deterministic for a given corpus, seed and size; no third-party modules.
"""
import argparse
import collections
import json
import os
import random
import re
import sys

WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)
# Characters that would need escaping in a query term or YAML; such words are skipped.
UNSAFE = set("\"'*/@()\\:`’")


CALENDAR = set("January February March April May June July August September October November "
               "December Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split())
ARTICLES = set("The A An This That In On At For And But Of".split())


def vocabulary(corpus_path, limit_items):
    caps = collections.Counter()
    lower = collections.Counter()
    phrases = collections.Counter()
    with open(corpus_path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n >= limit_items:
                break
            try:
                item = json.loads(line)
            except ValueError:
                continue
            text = (item.get("title") or "") + " . " + (item.get("body") or "")
            prev = None
            for m in WORD.finditer(text):
                w = m.group(0)
                if any(c in UNSAFE for c in w):
                    prev = None
                    continue
                if w[0].isupper() and not w.isupper():
                    caps[w] += 1
                    # Two capitalised words in a row, separated by one space only.
                    if prev is not None and text[prev[1]:m.start()] == " ":
                        phrases[prev[0] + " " + w] += 1
                    prev = (w, m.end())
                else:
                    lower[w.lower()] += 1
                    prev = None
    # A name is a capitalised word the corpus rarely writes in lower case (not "The", "But"),
    # not a month or weekday, and not among the 50 most frequent ones (the wire services'
    # own names, "Reuters", "U.S.": every item of a source has them; no one watches them).
    names = [w for w, c in caps.most_common()
             if c >= 3 and lower[w.lower()] * 4 < c and len(w) >= 3 and w not in CALENDAR][50:]
    common = {w for w, _ in lower.most_common(300)}
    topics = [w for w, c in lower.most_common() if c >= 3 and len(w) >= 5 and w not in common]
    phrase_list = [p for p, c in phrases.most_common()
                   if c >= 2 and not (set(p.split()) & (CALENDAR | ARTICLES))]
    return names, phrase_list, topics


def zipf_pick(rng, pool, skew):
    # Index ~ pool size ** U**skew: frequent entries are picked more, the tail still often.
    i = int(len(pool) ** (rng.random() ** skew)) - 1
    return pool[min(max(i, 0), len(pool) - 1)]


def q(term):
    return '"' + term + '"'


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--out", required=True, help="directory to write pack.yaml into")
    ap.add_argument("--corpus", default=os.path.join(here, "..", "..", "shared", "corpus",
                                                     "news-bench.jsonl"))
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--corpus-items", type=int, default=60000,
                    help="items of the corpus to take the vocabulary from")
    args = ap.parse_args()
    if not os.path.exists(args.corpus):
        sys.exit("watchlist.py: no corpus at %s" % args.corpus)
    names, phrases, topics = vocabulary(args.corpus, args.corpus_items)
    rng = random.Random(args.seed)
    tenants = max(1, args.rules // 100)
    out = ["pack: {name: watchlist-%d, version: '1', description: 'benchmarks/watchlist.py "
           "--rules %d --seed %d'}" % (args.rules, args.rules, args.seed),
           "defaults: {topic: alerts.watchlist, severity: low}",
           "rules:"]
    for t in range(tenants):
        trng = random.Random(args.seed * 1000003 + t)
        # A tenant's own entities and topics; rules mix them with the shared vocabulary.
        own = [zipf_pick(trng, names, 0.35) for _ in range(12)]
        own_phrases = [zipf_pick(trng, phrases, 0.5) for _ in range(4)]
        own_topics = [zipf_pick(trng, topics, 0.5) for _ in range(8)]
        per = args.rules // tenants + (1 if t < args.rules % tenants else 0)
        for k in range(per):
            used = set()

            def fresh(draw):
                # Distinct terms within a rule (AT_LEAST_DISTINCT(2, A OR A) could never fire).
                for _ in range(100):
                    term = draw()
                    if term.lower() not in used:
                        break
                used.add(term.lower())
                return term

            e = lambda: fresh(lambda: rng.choice(own) if rng.random() < 0.7
                              else zipf_pick(rng, names, 0.35))
            topic = lambda: fresh(lambda: rng.choice(own_topics) if rng.random() < 0.6
                                  else zipf_pick(rng, topics, 0.6))
            shape = k % 5
            if shape == 0:
                query = "%s AND (%s OR %s)" % (q(e()), q(topic()), q(topic()))
            elif shape == 1:
                query = "%s AND %s AND NOT %s" % (q(e()), q(e()), q(topic()))
            elif shape == 2:
                phrase = fresh(lambda: rng.choice(own_phrases))
                query = "%s NEAR/5 %s" % (q(phrase), q(e() if rng.random() < 0.5 else topic()))
            elif shape == 3:
                query = "title:(%s OR %s)" % (q(e()), q(e()))
            else:
                query = "AT_LEAST_DISTINCT(2, %s OR %s OR %s)" % (q(e()), q(e()), q(e()))
            out.append("  - {id: t%d.r%d, query: '%s'}" % (t, k, query.replace("'", "''")))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pack.yaml"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print("wrote %s/pack.yaml: %d rules, %d tenants (vocabulary: %d names, %d phrases, %d topics)"
          % (args.out, args.rules, tenants, len(names), len(phrases), len(topics)))


if __name__ == "__main__":
    main()

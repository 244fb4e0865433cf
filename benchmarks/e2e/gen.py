#!/usr/bin/python3
"""Synthetic inputs for the end-to-end benchmark and the integration tests.

  gen.py items --count N [--seed S] [--region-rate R] > items.jsonl
      NDJSON news items (id, title, body, source, lang, published_at, url) in English, Russian and
      Kazakh. A fraction R (default 0.1) of them mention Central Asian names the default rule pack
      knows, so a run with the default pack has a realistic, known-to-be-small alert rate. Used when
      ../shared/corpus is absent.

  gen.py pack --terms N --out DIR [--seed S] [--real-words K]
      A rule pack with N terms: N/100 rules, each `@set` over a set of 100 terms. Nearly all terms
      are pronounceable pseudo-words (Latin and Cyrillic) that no real text contains, so the
      Hyperscan database has the size of a big watchlist; K (default 60) real English words of
      moderate frequency are spread over the first rules so that the pack fires on some real news
      (a few percent of the bench corpus) and the alert path is exercised.

Deterministic for a given seed: the benchmark compares runs, so its inputs must not change.
"""
import argparse
import json
import os
import random
import sys

LATIN_C = "bdfgklmnprstvzh"
LATIN_V = "aeiou"
CYR_C = "бвгдклмнпрстфхз"
CYR_V = "аеиоуы"

# Real words seen in a few percent of general news (not stop words): they make a synthetic pack
# fire on real text at a believable rate.
REAL_WORDS = """cocoa uranium tungsten pipeline sanctions tariff wheat copper refinery drought
earthquake parliament coalition ceasefire embargo subsidy inflation devaluation bauxite lithium
railway corridor caspian steppe barley cotton pistachio reservoir hydropower glacier migrant
remittance cobalt smelter nickel zinc sugar coffee rubber soybean maize fertilizer ammonia
turbine satellite telescope vaccine epidemic famine monsoon typhoon hurricane tsunami volcano
insurgency referendum impeachment abdication succession dynasty""".split()

FILLER_EN = """the a of and to in for on with by at from said will would has have was were
government minister company market shares prices year week report officials talks agreement
trade economy growth bank oil gas energy plan policy state country region people new first
last percent million billion data quarter sales profit loss deal meeting president leader
support project investment export import production demand supply industry sector""".split()
FILLER_RU = """и в на с по для что как это было будет министр правительство компания рынок
цены год неделя отчет переговоры соглашение торговля экономика рост банк нефть газ энергия
план политика страна регион люди новый первый процент миллион миллиард данные""".split()
FILLER_KK = """және мен үшін бойынша жылы үкімет министр компания нарық баға жыл апта есеп
келісім сауда экономика өсу банк мұнай газ энергия жоспар саясат ел аймақ адамдар жаңа""".split()

REGION = {
    "en": ["Kazakhstan", "Tokayev", "Astana", "Uzbekistan", "Tashkent", "Kyrgyzstan", "Bishkek",
           "Tajikistan", "Turkmenistan", "Central Asia", "Caspian", "CSTO", "Belt and Road",
           "multi-vector", "China", "Russia", "European Union", "rare earths"],
    "ru": ["Казахстан", "Токаев", "Астана", "Узбекистан", "Ташкент", "Киргизия", "Бишкек",
           "Таджикистан", "Центральная Азия", "ОДКБ", "Китай", "Россия", "многовекторная"],
    "kk": ["Қазақстан", "Тоқаев", "Астана", "Өзбекстан", "Қырғызстан", "Орталық Азия", "Қытай",
           "Ресей"],
}
FILLER = {"en": FILLER_EN, "ru": FILLER_RU, "kk": FILLER_KK}


def pseudo_word(rng, cyrillic):
  c, v = (CYR_C, CYR_V) if cyrillic else (LATIN_C, LATIN_V)
  return "".join(rng.choice(c) + rng.choice(v) for _ in range(rng.randint(3, 4))) + rng.choice(c)


def sentence(rng, lang, words):
  return " ".join(rng.choice(FILLER[lang]) for _ in range(words))


def gen_items(args):
  rng = random.Random(args.seed)
  out = sys.stdout
  for i in range(args.count):
    lang = rng.choices(["en", "ru", "kk"], weights=[6, 2, 2])[0]
    title = sentence(rng, lang, rng.randint(5, 10)).capitalize()
    sentences = [sentence(rng, lang, rng.randint(8, 20)).capitalize() + "."
                 for _ in range(rng.randint(2, 12))]
    if rng.random() < args.region_rate:
      for _ in range(rng.randint(1, 4)):
        k = rng.randrange(len(sentences))
        sentences[k] = sentences[k][:-1] + " " + rng.choice(REGION[lang]) + "."
      if rng.random() < 0.5:
        title += " " + rng.choice(REGION[lang])
    item = {"id": f"synth-{i}", "title": title, "body": " ".join(sentences),
            "source": rng.choice(["synthwire", "synthpost", "synthnews"]), "lang": lang,
            "published_at": f"2022-11-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
            "url": f"https://example.invalid/synth/{i}"}
    out.write(json.dumps(item, ensure_ascii=False) + "\n")


def gen_pack(args):
  rng = random.Random(args.seed)
  per_set = 100
  n_sets = max(1, args.terms // per_set)
  seen = set(REAL_WORDS)
  real = REAL_WORDS[: args.real_words]
  os.makedirs(args.out, exist_ok=True)
  lines = [
      f"# Synthetic benchmark pack: {args.terms} terms in {n_sets} sets/rules (benchmarks/e2e/gen.py",
      f"# pack --terms {args.terms} --seed {args.seed}). Generated: do not edit.",
      "pack:", f"  name: synthetic-{args.terms}", '  version: "1"',
      "  description: pseudo-word watchlist for throughput benchmarks",
      "defaults:", "  topic: alerts.synthetic", "  severity: low", "sets:"]
  total = 0
  for s in range(n_sets):
    lines.append(f"  s{s}:")
    lines.append("    terms:")
    count = per_set if s < n_sets - 1 else args.terms - per_set * (n_sets - 1)
    for t in range(count):
      if s < len(real) and t == 0:
        term = real[s]
      else:
        while True:
          term = pseudo_word(rng, cyrillic=rng.random() < 0.15)
          if rng.random() < 0.1:
            term += " " + pseudo_word(rng, cyrillic=False)
          if term not in seen:
            break
        seen.add(term)
        if rng.random() < 0.05:
          term += "*"
      lines.append(f"      - {json.dumps(term, ensure_ascii=False)}")
      total += 1
  lines.append("rules:")
  for s in range(n_sets):
    lines += [f"  - id: synth.r{s}", f"    title: synthetic rule {s}",
              f"    tags: [bench:synthetic]", f"    query: '@s{s}'"]
  with open(os.path.join(args.out, "pack.yaml"), "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  print(f"wrote {args.out}/pack.yaml: {total} terms, {n_sets} rules", file=sys.stderr)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="cmd", required=True)
  pi = sub.add_parser("items")
  pi.add_argument("--count", type=int, required=True)
  pi.add_argument("--seed", type=int, default=1)
  pi.add_argument("--region-rate", type=float, default=0.1)
  pp = sub.add_parser("pack")
  pp.add_argument("--terms", type=int, required=True)
  pp.add_argument("--out", required=True)
  pp.add_argument("--seed", type=int, default=1)
  pp.add_argument("--real-words", type=int, default=60)
  args = p.parse_args()
  if args.cmd == "items":
    gen_items(args)
  else:
    gen_pack(args)


if __name__ == "__main__":
  main()

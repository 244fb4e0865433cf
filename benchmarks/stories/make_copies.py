#!/usr/bin/env python3
"""Makes an evaluation set for the near-duplicate fingerprint: every item of the bench corpus
(news-bench.jsonl) as an original, plus syndicated copies of a sample of them, edited the way wire
copies are edited when other outlets republish them.

Output: one JSON object per line, {"story", "group" (pairs of one group that are different
stories count as neither positive nor negative: KazNERD's transcriptions of one sentence, and
originals one of which is contained in the other, see corpus_stories), "id", "lang", "source", "kind" (original or copy),
"edits" (of a copy), "original_bytes" (of the original: the short-item class), "title", "body"}. "story" is the ground truth: a copy has its original's story; originals that are near-identical
by an exact text measure (corpus_stories: word 3-shingle resemblance >= 0.9) share one story:
the corpus has its own reissues and duplicates (Reuters items repeated with a ticker added, BBC
articles present twice, AG News items with and without their dateline, repeated KazNERD credits
lines). Every other pair of items is a distinct pair, including the hard ones the corpus is full
of: Reuters reports of one template ("Fed sets 1.5 billion dlr customer repurchase" / "... two
billion ..."), dividend notices, KazNERD one-line sentences of one broadcast.

Edits of a copy (each drawn independently, at least one besides typography; probabilities in
EDIT_PROBABILITY):
  dateline     a wire dateline before the body ("ALMATY, Nov 20 (Reuters) - ", "АСТАНА, 20 ноября.
               /ТАСС/. ", "新华社阿斯塔纳11月20日电 "), in the styles of the language's agencies
  byline       an author line before the body ("By Olzhas Auyezov", "Автор: ...", "（记者 张伟）")
  footer       boilerplate after the body ("(Reporting by ...; Editing by ...)", copyright and
               "subscribe" lines, "（责任编辑：...）")
  truncate     only the first 40-90% of the sentences (items of >= 3 sentences; editors cut news
               from the bottom)
  drop         one sentence other than the first removed (>= 3 sentences)
  move         one sentence other than the first moved elsewhere (>= 3 sentences)
  headline     the title upper-cased, shortened, prefixed ("UPDATE 1-", "СРОЧНО:") or suffixed
               with the outlet's name, or replaced by the start of the first sentence
  substitute   1-3 body words (at most one per ten words; CJK: one character per twenty)
               replaced by other words of the same language, or number formats
               changed ("5.5%" -> "5.5 pct", "1,000" -> "1000")
  typography   straight/curly/angle quotes swapped, hyphens to dashes, spaces to no-break
               spaces, paragraphs re-wrapped

Deterministic for a given corpus and seed (Python's random with a fixed seed).

With --single-edit each copy gets exactly one edit, drawn uniformly, for the recall of each
edit alone (an edit that cannot apply, such as truncating a one-sentence item, leaves the copy
identical to its original).

With --without substitute (or any comma-separated edits) those edits are never drawn: the
issue that defines this evaluation lists the edits wire copies get (datelines, bylines and
boilerplate, truncation, dropped or moved sentences, typography, headlines) and not word
substitutions, which this set adds as a harder case; both sets are reported.

usage: make_copies.py [--corpus PATH] [--seed N] [--out FILE] [--single-edit] [--without EDITS]
"""

import argparse
import collections
import json
import os
import random
import re
import sys

# Originals that get copies, per source prefix of the corpus ids (the rest are originals only:
# distinct items that any copy may be wrongly merged with).
COPIED_PER_SOURCE = {
    "reuters21578": 1500,
    "bbc": 500,
    "agnews": 1000,
    "nerel": 933,
    "factru": 254,
    "rusentrel": 71,
    "bri": 185,
    "kaznerd": 3000,
}
COPIES_PER_ORIGINAL = 3
# Originals shorter than this (title + body, bytes) get no copies: "Иә.", "Рахмет." are not
# stories anyone syndicates.
MIN_COPIED_BYTES = 30

EDIT_PROBABILITY = {
    "dateline": 0.45,
    "byline": 0.2,
    "footer": 0.35,
    "truncate": 0.25,
    "drop": 0.2,
    "move": 0.15,
    "headline": 0.35,
    "substitute": 0.25,
    "typography": 0.6,
}

EN_CITIES = ["ALMATY", "ASTANA", "TASHKENT", "BISHKEK", "DUSHANBE", "ASHGABAT", "MOSCOW",
             "BEIJING", "LONDON", "WASHINGTON", "NEW YORK", "BRUSSELS", "TOKYO", "FRANKFURT"]
EN_COUNTRIES = ["Kazakhstan", "Uzbekistan", "Russia", "China", "Britain", "Belgium", "Japan"]
EN_MONTHS = ["Jan", "Feb", "March", "April", "May", "June", "July", "Aug", "Sept", "Oct", "Nov",
             "Dec"]
EN_FIRST = ["Olzhas", "Mariya", "Tom", "Jonathan", "Gleb", "Dmitry", "Lidia", "Sarah", "David",
            "Chen", "Aidar", "Nailia", "Michael", "Anna"]
EN_LAST = ["Auyezov", "Gordeyeva", "Balmforth", "Saul", "Stolyarov", "Kelly", "Baker", "Lawder",
           "Aizhu", "Bagaudinova", "Smith", "Holton", "Kumar", "Nguyen"]
RU_CITIES = ["АСТАНА", "АЛМАТЫ", "ТАШКЕНТ", "БИШКЕК", "МОСКВА", "САНКТ-ПЕТЕРБУРГ", "ПЕКИН",
             "ДУШАНБЕ", "МИНСК", "ЛОНДОН"]
RU_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
             "сентября", "октября", "ноября", "декабря"]
RU_MONTHS_SHORT = ["янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя",
                   "дек"]
RU_FIRST = ["Алексей", "Мария", "Дмитрий", "Ольга", "Сергей", "Айгуль", "Ерлан", "Наталья",
            "Игорь", "Светлана"]
RU_LAST = ["Иванов", "Петрова", "Смирнов", "Кузнецова", "Нурланов", "Ахметова", "Волков",
           "Соколова", "Попов", "Лебедева"]
KK_CITIES = ["АСТАНА", "АЛМАТЫ", "ШЫМКЕНТ", "АҚТӨБЕ", "ҚАРАҒАНДЫ", "ТАРАЗ", "ПАВЛОДАР",
             "ӨСКЕМЕН", "АТЫРАУ", "ҚЫЗЫЛОРДА"]
KK_MONTHS = ["қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз",
             "қыркүйек", "қазан", "қараша", "желтоқсан"]
KK_FIRST = ["Айгерім", "Ерлан", "Нұрлан", "Гүлнар", "Бауыржан", "Динара", "Асқар", "Жанар",
            "Мұрат", "Сәуле"]
KK_LAST = ["Сейітқали", "Жұмабаева", "Омаров", "Қасымова", "Төлеуов", "Әбдірахманова",
           "Серікбаев", "Нұрғалиева"]
ZH_CITIES = ["阿斯塔纳", "阿拉木图", "塔什干", "比什凯克", "北京", "莫斯科", "乌鲁木齐", "伊斯兰堡",
             "利雅得", "上海"]
ZH_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴霞"]
ZH_OUTLETS = ["新华社", "中新网", "人民网", "央视新闻", "中国一带一路网"]


def pick(rng, seq):
    return seq[rng.randrange(len(seq))]


def en_name(rng):
    return f"{pick(rng, EN_FIRST)} {pick(rng, EN_LAST)}"


def ru_name(rng):
    return f"{pick(rng, RU_FIRST)} {pick(rng, RU_LAST)}"


def kk_name(rng):
    return f"{pick(rng, KK_FIRST)} {pick(rng, KK_LAST)}"


def dateline(lang, rng):
    d = rng.randint(1, 28)
    m = rng.randrange(12)
    if lang == "en":
        city = pick(rng, EN_CITIES)
        return pick(rng, [
            f"{city}, {EN_MONTHS[m]} {d} (Reuters) - ",
            f"{city} (AP) — ",
            f"{city.title()}, {pick(rng, EN_COUNTRIES)} (AFP) - ",
            f"{city}, {EN_MONTHS[m]}. {d} (Xinhua) -- ",
            f"{city} — ",
            f"{city.title()}, {EN_MONTHS[m]} {d} /Trend/: ",
        ])
    if lang == "ru":
        city = pick(rng, RU_CITIES)
        return pick(rng, [
            f"{city}, {d} {RU_MONTHS[m]}. /ТАСС/. ",
            f"{city}, {d} {RU_MONTHS_SHORT[m]} – РИА Новости. ",
            f"{city.title()}. {d} {RU_MONTHS[m]}. INTERFAX-KAZAKHSTAN - ",
            f"{city}, {d} {RU_MONTHS[m]} — Sputnik. ",
            f"{city}, {d} {RU_MONTHS[m]} (Reuters) - ",
            f"{city}. KAZINFORM — ",
        ])
    if lang == "kk":
        city = pick(rng, KK_CITIES)
        return pick(rng, [
            f"{city}. KAZINFORM – ",
            f"{city.title()}. {d} {KK_MONTHS[m]}. ҚазАқпарат – ",
            f"{city}, {d} {KK_MONTHS[m]} – Kazinform. ",
            f"{city.title()}, {d} {KK_MONTHS[m]}. Хабар 24 — ",
            f"{city} — ",
        ])
    city = pick(rng, ZH_CITIES)
    return pick(rng, [
        f"新华社{city}{m + 1}月{d}日电 ",
        f"新华社{city}{m + 1}月{d}日电（记者 {pick(rng, ZH_NAMES)}）",
        f"中新网{city}{m + 1}月{d}日电 ",
        f"人民网{city}{m + 1}月{d}日电 ",
        f"（{pick(rng, ZH_OUTLETS)}）",
    ])


def byline(lang, rng):
    if lang == "en":
        return pick(rng, [f"By {en_name(rng)}\n", f"By {en_name(rng)} and {en_name(rng)}\n",
                          f"{en_name(rng)}, Reuters\n"])
    if lang == "ru":
        return pick(rng, [f"Автор: {ru_name(rng)}\n", f"{ru_name(rng)}, корреспондент\n"])
    if lang == "kk":
        return pick(rng, [f"Автор: {kk_name(rng)}\n", f"Тілші: {kk_name(rng)}\n"])
    return pick(rng, [f"（记者 {pick(rng, ZH_NAMES)}）", f"记者 {pick(rng, ZH_NAMES)} 报道\n"])


def footer(lang, rng):
    if lang == "en":
        return pick(rng, [
            f"\n(Reporting by {en_name(rng)}; Editing by {en_name(rng)})",
            f"\n(Reporting by {en_name(rng)} in {pick(rng, EN_CITIES).title()}; Writing by "
            f"{en_name(rng)}; Editing by {en_name(rng)})",
            "\nOur Standards: The Thomson Reuters Trust Principles.",
            "\n© 2022 The Associated Press. All rights reserved. This material may not be "
            "published, broadcast, rewritten or redistributed.",
            "\nFollow us on Twitter and subscribe to our newsletter.",
        ])
    if lang == "ru":
        return pick(rng, [
            "\nПодписывайтесь на наш канал в Telegram.",
            "\nПри использовании материалов ссылка на источник обязательна.",
            f"\n(Редактор: {ru_name(rng)})",
            "\nВсе новости по теме читайте в нашем разделе «Политика».",
        ])
    if lang == "kk":
        return pick(rng, [
            "\nЖаңалықтарды Telegram арнамыздан оқыңыз.",
            "\nТолығырақ: kaz.inform.kz",
            f"\nРедактор: {kk_name(rng)}",
        ])
    return pick(rng, [f"\n（责任编辑：{pick(rng, ZH_NAMES)}）", "\n（来源：新华网）",
                      "\n本文来源：人民日报", f"\n【编辑：{pick(rng, ZH_NAMES)}】"])


def split_sentences(body, lang):
    if lang == "zh":
        parts = re.split(r"(?<=[。！？；])", body)
    else:
        parts = re.split(r"(?<=[.!?…])\s+", body)
    return [p for p in parts if p.strip()]


def join_sentences(sentences, lang):
    return ("" if lang == "zh" else " ").join(sentences)


def headline(title, body, lang, rng):
    choice = rng.randrange(5)
    if choice == 0 or not title:
        return title.upper()
    if choice == 1:
        words = title.split()
        if len(words) > 3:
            del words[rng.randrange(len(words))]
        return " ".join(words)
    if choice == 2:
        prefix = {"en": ["UPDATE 1-", "BREAKING: ", "WRAPUP 2-"], "ru": ["СРОЧНО: ", "Обновлено: "],
                  "kk": ["ЖЕДЕЛ: ", "Жаңалық: "], "zh": ["快讯：", "独家："]}[lang]
        return pick(rng, prefix) + title
    if choice == 3:
        suffix = {"en": [" - Reuters", " | AP News", " - The Astana Times"],
                  "ru": [" - ТАСС", " | Интерфакс-Казахстан"], "kk": [" | Kazinform", " - Хабар 24"],
                  "zh": ["_新华网", " - 人民网"]}[lang]
        return title + pick(rng, suffix)
    first = split_sentences(body, lang)
    if not first:
        return title.upper()
    if lang == "zh":
        return first[0][:20]
    return " ".join(first[0].split()[:8])


NUMBER_FORMATS = [
    (re.compile(r"(\d),(\d\d\d)"), r"\1\2"),
    (re.compile(r"(\d)%"), r"\1 pct"),
    (re.compile(r"(\d) pct"), r"\1%"),
    (re.compile(r"(\d)\.(\d)"), r"\1,\2"),
]


def substitute(body, lang, vocab, rng):
    if rng.random() < 0.3:
        for pattern, repl in NUMBER_FORMATS:
            if pattern.search(body):
                return pattern.sub(repl, body, count=1 + rng.randrange(3))
    # 1-3 words, but at most one per ten: one word of a one-line item is already a tenth of it.
    if lang == "zh":
        chars = list(body)
        positions = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
        for _ in range(1 + rng.randrange(max(1, min(3, len(positions) // 20)))):
            if positions:
                chars[pick(rng, positions)] = pick(rng, vocab)
        return "".join(chars)
    words = list(re.finditer(r"\w{3,}", body))
    if not words:
        return body
    out = body
    count = 1 + rng.randrange(max(1, min(3, len(words) // 10)))
    for m in sorted(rng.sample(words, min(len(words), count)),
                    key=lambda m: -m.start()):
        out = out[:m.start()] + pick(rng, vocab) + out[m.end():]
    return out


def typography(text, rng):
    if rng.random() < 0.5:
        text = re.sub(r'"([^"\n]*)"', lambda m: pick(rng, ["“%s”", "«%s»", "„%s“"]) % m.group(1),
                      text)
    if rng.random() < 0.5:
        text = text.replace("'", "’")
    if rng.random() < 0.5:
        text = text.replace(" - ", " — ").replace("--", "–")
    if rng.random() < 0.5:
        text = re.sub(r" (?=\d)", "\u00a0", text)
    if rng.random() < 0.5:
        text = re.sub(r"\s+", " ", text)  # paragraphs re-wrapped into one
    return text


def make_copy(item, lang, vocab, rng, single_edit):
    title = item["title"] or ""
    body = item["body"] or ""
    if single_edit:
        edits = [pick(rng, [e for e, p in EDIT_PROBABILITY.items() if p > 0])]
    else:
        edits = [e for e, p in EDIT_PROBABILITY.items() if rng.random() < p]
        structural = [e for e in edits if e != "typography"]
        if not structural:
            edits.append(pick(rng, ["dateline", "footer", "headline", "byline"]))
    sentences = split_sentences(body, lang)
    applied = []
    for edit in sorted(set(edits), key=list(EDIT_PROBABILITY).index):
        if edit in ("truncate", "drop", "move") and len(sentences) < 3:
            continue
        if edit == "headline" and not title:
            continue
        if edit == "truncate":
            keep = max(1, round(len(sentences) * rng.uniform(0.4, 0.9)))
            sentences = sentences[:keep]
        elif edit == "drop":
            del sentences[rng.randrange(1, len(sentences))]
        elif edit == "move":
            s = sentences.pop(rng.randrange(1, len(sentences)))
            sentences.insert(rng.randrange(1, len(sentences) + 1), s)
        elif edit == "substitute":
            sentences = split_sentences(substitute(join_sentences(sentences, lang), lang, vocab,
                                                   rng), lang)
        elif edit == "headline":
            title = headline(title, body, lang, rng)
        applied.append(edit)
    body = join_sentences(sentences, lang)
    if "byline" in applied:
        body = byline(lang, rng) + body
    if "dateline" in applied:
        body = dateline(lang, rng) + body
    if "footer" in applied:
        body = body + footer(lang, rng)
    if "typography" in applied:
        title = typography(title, rng)
        body = typography(body, rng)
    return title, body, applied


def words(item):
    text = (item.get("title") or "") + " " + (item.get("body") or "")
    if item.get("lang") == "zh":  # no spaces: characters and runs of Latin letters and digits
        return re.findall(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+",
                          text.casefold())
    return re.findall(r"\w+", text.casefold())


# A containment group needs the shorter item to have this many word 3-shingles (about a
# sentence): below that, "contained" says little (a title's words are in many articles).
CONTAINED_MIN_SHINGLES = 12


def corpus_stories(items):
    """Returns the story id of each original (the first id of its group of near-identical items)
    and its containment group (the first id of its group of contained items, below).

    Two originals are one story when the resemblance (Jaccard) of their sets of word 3-shingles
    (title and body, case-folded, punctuation dropped; CJK: character 3-shingles) is >= 0.9, or
    when both have fewer than three words and the same words; groups are closed transitively.
    This is an exact measure computed here, independent of the fingerprint under test. It merges
    the corpus' own reissues (Reuters items repeated with a ticker added, BBC articles present
    twice, AG News items with and without their dateline) and keeps apart reports of one template
    that differ in a figure ("... two billion dlrs ..." / "... 1.5 billion dlrs ...": ~0.75).

    Containment groups: two originals are in one group when >= 90% of the shorter one's
    shingles (at least CONTAINED_MIN_SHINGLES of them) are in the longer one: the corpus' own
    copies cut short (an AG News item that is a BBC article's first paragraph, a Reuters item
    reissued without its last paragraphs). Whether such a pair is one story is a labelling
    choice the resemblance above does not make, so pairs of one group that are different
    stories count neither as positive nor as negative pairs (the evaluation reports them apart).
    """
    parent = list(range(len(items)))
    group = list(range(len(items)))

    def find(x, parent=parent):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    shingles = []
    index = collections.defaultdict(list)
    for n, it in enumerate(items):
        w = words(it)
        sh = {" ".join(w[i:i + 3]) for i in range(len(w) - 2)} if len(w) >= 3 else {" ".join(w)}
        shingles.append(sh)
        for x in sh:
            index[x].append(n)
    for n, sh in enumerate(shingles):
        # Candidates: the items that share one of this item's rarest shingles that another item
        # has too (a pair with resemblance >= 0.9 shares at least 90% of its shingles, and the
        # ones it does not share are the rarest of all).
        rare = sorted((x for x in sh if len(index[x]) > 1), key=lambda x: len(index[x]))[:4]
        for m in {m for x in rare for m in index[x] if m != n}:
            other = shingles[m]
            inter = len(sh & other)
            if m > n and inter and inter / (len(sh) + len(other) - inter) >= 0.9:
                parent[find(m)] = find(n)
            # This item contained in the other (the other way round is found from the other's
            # side: the shorter item's rarest shingles are in the longer one).
            if len(sh) <= len(other) and len(sh) >= CONTAINED_MIN_SHINGLES and inter >= 0.9 * len(sh):
                group[find(m, group)] = find(n, group)
    first = {}
    stories = [first.setdefault(find(n), items[n]["id"]) for n in range(len(items))]
    for n in range(len(items)):  # a story's items are in one group
        group[find(n, group)] = find(find(n), group)
    first = {}
    groups = [first.setdefault(find(n, group), items[n]["id"]) for n in range(len(items))]
    return stories, groups


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_corpus = os.path.join(here, "..", "..", "..", "shared", "corpus", "news-bench.jsonl")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=os.environ.get("STEPPEWATCH_CORPUS_DIR") and
                        os.path.join(os.environ["STEPPEWATCH_CORPUS_DIR"], "news-bench.jsonl")
                        or default_corpus)
    parser.add_argument("--seed", type=int, default=20221120)
    parser.add_argument("--out", default="-")
    parser.add_argument("--without", default="",
                        help="comma-separated edits never drawn (e.g. substitute: the edit "
                             "list of the issue that defines the evaluation has no word "
                             "substitutions); the other draws stay as they are")
    parser.add_argument("--single-edit", action="store_true",
                        help="one edit per copy, drawn uniformly (recall per edit, alone)")
    args = parser.parse_args()
    for edit in filter(None, args.without.split(",")):
        if edit not in EDIT_PROBABILITY:
            sys.exit(f"--without: unknown edit {edit!r} (one of {', '.join(EDIT_PROBABILITY)})")
        EDIT_PROBABILITY[edit] = 0.0
    if not os.path.exists(args.corpus):
        sys.exit(f"{args.corpus} not found (set STEPPEWATCH_CORPUS_DIR or --corpus)")
    with open(args.corpus, encoding="utf-8") as f:
        items = [json.loads(line) for line in f]
    rng = random.Random(args.seed)

    # Vocabulary per language for substitutions: frequent words (>= 4 letters), or CJK characters.
    counts = collections.defaultdict(collections.Counter)
    for it in items:
        text = (it.get("title") or "") + " " + (it.get("body") or "")
        if it["lang"] == "zh":
            counts["zh"].update(c for c in text if "\u4e00" <= c <= "\u9fff")
        else:
            counts[it["lang"]].update(w for w in re.findall(r"\w{4,}", text) if not w.isdigit())
    vocab = {lang: [w for w, _ in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:3000]]
             for lang, c in counts.items()}

    stories, groups = corpus_stories(items)
    by_source = collections.defaultdict(list)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    for it, story, contained in zip(items, stories, groups):
        source = it["id"].split("-")[0]
        title = it.get("title") or ""
        body = it.get("body") or ""
        # KazNERD holds up to three transcriptions of one TV sentence (ids AID<n>, BID<n>,
        # CID<n>: numbers in words, in digits, ...): the same story in different words, which no
        # text fingerprint is expected to match or to keep apart. Pairs of one such group that
        # are not the same story are left out of precision and recall (reported apart).
        m = re.match(r"kaznerd-\w+-[A-Z]ID(\d+)$", it["id"])
        group = f"kaznerd-{m.group(1)}" if m else f"contained-{contained}"
        rec = {"story": story, "group": group, "id": it["id"], "lang": it["lang"], "source": source,
               "kind": "original", "edits": [],
               "original_bytes": len(title.encode()) + len(body.encode()),
               "title": title, "body": body}
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        if rec["original_bytes"] >= MIN_COPIED_BYTES:
            by_source[source].append(rec)
    copies = 0
    for source in sorted(by_source):
        pool = by_source[source]
        chosen = rng.sample(pool, min(len(pool), COPIED_PER_SOURCE.get(source, 0)))
        for rec in chosen:
            for n in range(COPIES_PER_ORIGINAL):
                title, body, edits = make_copy(rec, rec["lang"], vocab[rec["lang"]], rng,
                                               args.single_edit)
                copy = dict(rec, id=f"{rec['id']}~copy{n + 1}", kind="copy", edits=edits,
                            title=title, body=body)
                out.write(json.dumps(copy, ensure_ascii=False) + "\n")
                copies += 1
    if out is not sys.stdout:
        out.close()
    print(f"{len(items)} originals, {copies} copies", file=sys.stderr)


if __name__ == "__main__":
    main()

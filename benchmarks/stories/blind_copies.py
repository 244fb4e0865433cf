#!/usr/bin/python3
"""Blind near-duplicate evaluation of the stories stage (issue 13), written without reading
the project's own generators (make_copies.py, fingerprint_eval.cc) or src/stories/.

  blind_copies.py gen  --corpus news-bench.jsonl --seed N [--hard] --out DIR
  blind_copies.py eval --dir DIR            (after match + stories, see BLIND-COPIES.md)

gen writes DIR/items.jsonl (originals + syndicated copies, time-ordered, RFC 3339 times) and
DIR/truth.jsonl (per item: story, role, lang, edits, bytes). eval reads DIR/stories.jsonl
(the output of `steppewatch stories`) and prints pairwise precision/recall tables, and writes
DIR/misses.jsonl and DIR/false_pairs.jsonl with samples to classify.

Standard library only. Deterministic for a given seed.
"""
import argparse
import collections
import datetime as dt
import json
import os
import random
import re
import sys

UTC = dt.timezone.utc

# ---------------------------------------------------------------- originals and timeline
# Reuters-21578 items keep their real 1987 time: a contiguous stretch of the real wire
# (every Reuters item in it, so the real reissues, corrections and template stories such as
# earnings tables are all there, at their real density). Items of the other corpora carry
# no usable date: they are spread uniformly over the same stretch, as if other feeds ran in
# parallel.
SPAN_START = dt.datetime(1987, 3, 2, tzinfo=UTC)
SPAN_END = dt.datetime(1987, 3, 14, tzinfo=UTC)  # 12 days: four 72 h windows and more
# how many originals of each non-Reuters source (all Reuters items of the span are taken)
SAMPLE = {"agnews": 1500, "bbc": 400, "nerel": 500, "factru": 150, "rusentrel": 40,
          "bri": 185, "kaznerd": 3000}
# share of originals that are syndicated (get copies), per language
COPY_SHARE = {"en": 0.30, "ru": 0.45, "kk": 0.35, "zh": 0.60}


def parse_reuters_time(s):
    m = re.match(r"(\d+)-([A-Z]{3})-(\d{4}) (\d+):(\d+):(\d+)", s or "")
    if not m:
        return None
    d, mon, y, hh, mm, ss = m.groups()
    if int(hh) > 23:
        return None
    months = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
    return dt.datetime(int(y), months.index(mon) + 1, int(d), int(hh), int(mm), int(ss),
                       tzinfo=UTC)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- text structure
SENT_EN = re.compile(r"(?<=[.!?])[\"'”»)]?\s+(?=[\"'“«(]?[A-ZА-ЯЁӘҒҚҢӨҰҮҺІ0-9])")
SENT_ZH = re.compile(r"(?<=[。！？])")


def paragraphs(body, lang, fixed_width=False):
    """Split a body into paragraphs (list of raw strings)."""
    if lang == "zh":
        parts = re.split(r"\s{1,}", body.strip())
    elif "\n\n" in body:
        parts = re.split(r"\n\s*\n", body.strip())
    elif fixed_width:  # Reuters fixed-width wire: a paragraph starts with 4 spaces
        parts = re.split(r"\n {3,}", body.strip())
    else:
        parts = body.strip().split("\n")
    return [p for p in (x.strip() for x in parts) if p]


def sentences(par, lang):
    flat = re.sub(r"\s*\n\s*", " ", par)
    if lang == "zh":
        return [s for s in SENT_ZH.split(flat) if s.strip()]
    return [s for s in SENT_EN.split(flat) if s.strip()]


def join_sents(ss, lang):
    return ("" if lang == "zh" else " ").join(s.strip() for s in ss)


# ---------------------------------------------------------------- outlets (house styles)
# Each copy is published by an outlet; an outlet applies its own house style to every wire
# copy it runs (dateline form, byline, credit, footer, typography, headline case). That is
# how real syndication looks: the boilerplate edits are the outlet's, the cuts are the
# sub-editor's of the day.
EN_CITIES = ["NEW YORK", "LONDON", "WASHINGTON", "TOKYO", "CHICAGO", "FRANKFURT", "PARIS",
             "SYDNEY", "TORONTO", "HONG KONG"]
RU_CITIES = ["МОСКВА", "САНКТ-ПЕТЕРБУРГ", "АСТАНА", "АЛМАТЫ", "НОВОСИБИРСК", "КИЕВ"]
KK_CITIES = ["АСТАНА", "АЛМАТЫ", "ШЫМКЕНТ", "ПАВЛОДАР", "АҚТӨБЕ", "ҚАРАҒАНДЫ"]
ZH_CITIES = ["北京", "上海", "乌鲁木齐", "广州", "阿斯塔纳", "莫斯科"]
EN_NAMES = ["John Smith", "Mary Jones", "Peter Lewis", "Anna Kowalski", "David Chen",
            "Olzhas Auyezov", "Sarah Miller", "Tom Brown"]
RU_NAMES = ["Иван Петров", "Анна Смирнова", "Дмитрий Козлов", "Ольга Иванова"]
KK_NAMES = ["Айгүл Серікова", "Нұрлан Әбенов", "Дана Қасымова", "Ерлан Омаров"]
ZH_NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静"]
MONTHS_EN = "Jan Feb March April May June July Aug Sept Oct Nov Dec".split()
MONTHS_RU = ("января февраля марта апреля мая июня июля августа сентября октября ноября "
             "декабря").split()

OUTLETS = {
    "en": [
        dict(name="Reuters (copy desk)", dateline="reuters", byline=None, credit=None,
             footer="(Reporting by {n}; Editing by {m})", quotes="curly", rewrap=True,
             headline="title"),
        dict(name="Associated Press member", dateline="ap", byline="By {n}", credit=None,
             footer=None, quotes="straight", rewrap=True, headline="title"),
        dict(name="The Daily Courier", dateline="plain", byline="By {n}, Staff Writer",
             credit=None, footer="© 1987 The Daily Courier. All rights reserved.",
             quotes="curly", rewrap=True, headline="title"),
        dict(name="MarketWire Digest", dateline=None, byline=None, credit=" - Reuters",
             footer="Our Standards: The Thomson Reuters Trust Principles.", quotes="straight",
             rewrap=False, headline="upper"),
        dict(name="Business Ticker", dateline="plain", byline=None, credit=None,
             footer="Click here to subscribe to our daily newsletter.", quotes="curly",
             rewrap=True, headline="keep"),
        dict(name="Financial Times copy", dateline=None, byline="{n} in {c}", credit=None,
             footer="Copyright 1987 Financial Times. Related: markets, companies.",
             quotes="curly", rewrap=True, headline="title"),
    ],
    "ru": [
        dict(name="ТАСС", dateline="tass", byline=None, credit=None, footer=None,
             quotes="ru", rewrap=True, headline="keep", yo=False),
        dict(name="Интерфакс", dateline="interfax", byline=None, credit=None, footer=None,
             quotes="straight", rewrap=True, headline="keep", yo=True),
        dict(name="РИА Новости", dateline="ria", byline=None, credit=None,
             footer="© РИА Новости. Подписывайтесь на наш канал в Telegram.", quotes="ru",
             rewrap=True, headline="keep", yo=True),
        dict(name="Газета.ру", dateline=None, byline="Автор: {n}", credit=None,
             footer="Подписывайтесь на «Газету.Ru» в Дзен и Telegram.", quotes="ru",
             rewrap=True, headline="keep", yo=True),
        dict(name="Regional portal", dateline=None, byline=None, credit=" /ТАСС/.",
             footer="Читайте также: главные новости дня.", quotes="straight", rewrap=False,
             headline="upper", yo=True),
    ],
    "kk": [
        dict(name="Kazinform", dateline="kazinform", byline=None, credit=" – Kazinform.",
             footer=None, quotes="kk", rewrap=True, headline="keep"),
        dict(name="Хабар 24", dateline=None, byline=None, credit=None,
             footer="Толығырақ: 24.kz", quotes="kk", rewrap=True, headline="keep"),
        dict(name="Egemen Qazaqstan", dateline="plain_kk", byline="Автор: {n}", credit=None,
             footer=None, quotes="straight", rewrap=True, headline="keep"),
        dict(name="Aikyn", dateline=None, byline=None, credit=None,
             footer="Жаңалықтарды Telegram арнамыздан оқыңыз.", quotes="straight",
             rewrap=True, headline="upper"),
    ],
    "zh": [
        dict(name="人民网", dateline="zh", byline="（记者 {n}）", credit=None,
             footer="（责任编辑：{m}）", quotes="zh", rewrap=True, headline="keep"),
        dict(name="中国新闻网", dateline="zh_cns", byline=None, credit=None,
             footer="【编辑：{m}】", quotes="zh", rewrap=True, headline="keep"),
        dict(name="新浪财经", dateline=None, byline=None, credit=None,
             footer="来源：新华网 责任编辑：{m}", quotes="halfwidth", rewrap=True,
             headline="bracket"),
        dict(name="环球网", dateline="zh", byline=None, credit=None,
             footer="（原标题：{t}）", quotes="zh", rewrap=True, headline="keep"),
    ],
}

# ---------------------------------------------------------------- edits
# Boilerplate edits come from the outlet; structural edits are drawn per copy:
#   light  (35 %): boilerplate only
#   medium (40 %): + one of truncate(60-90 %), drop a sentence, move a sentence, headline
#   heavy  (25 %): + two or three of them, truncation 35-70 %
# --hard: every copy heavy, truncation to 25-60 %, plus word-level edits a sub-editor makes
# (number and unit forms, a word replaced, the lead sentence re-phrased at its start).
STRUCT = ["truncate", "drop_sentence", "move_sentence", "headline_rewrite", "headline_upper"]


def strip_existing_dateline(text, lang):
    if lang == "zh":
        return re.sub(r"^(新华社|新华网|人民网|中新网)[^电]{1,20}电(（[^）]*）)?\s*", "", text)
    return text


def make_dateline(style, lang, t, rnd):
    mon = t.month - 1
    if style == "reuters":
        return f"{rnd.choice(EN_CITIES)}, {MONTHS_EN[mon]} {t.day} (Reuters) - "
    if style == "ap":
        return f"{rnd.choice(EN_CITIES)} (AP) — "
    if style == "plain":
        return f"{rnd.choice(EN_CITIES).title()} - "
    if style == "tass":
        return f"{rnd.choice(RU_CITIES)}, {t.day} {MONTHS_RU[mon]}. /ТАСС/. "
    if style == "interfax":
        return f"{rnd.choice(RU_CITIES).title()}. {t.day} {MONTHS_RU[mon]}. INTERFAX.RU - "
    if style == "ria":
        return f"{rnd.choice(RU_CITIES)}, {t.day} {MONTHS_RU[mon]} – РИА Новости. "
    if style == "kazinform":
        return f"{rnd.choice(KK_CITIES)}. KAZINFORM – "
    if style == "plain_kk":
        return f"{rnd.choice(KK_CITIES).title()} – "
    if style == "zh":
        return f"人民网{rnd.choice(ZH_CITIES)}{t.month}月{t.day}日电 "
    if style == "zh_cns":
        return f"中新网{rnd.choice(ZH_CITIES)}{t.month}月{t.day}日电 "
    return ""


def title_case(t):
    return " ".join(w[:1].upper() + w[1:].lower() for w in t.split(" "))


def typography(text, style, lang, yo):
    if style == "curly":
        text = re.sub(r'"(\S[^"]*?)"', r"“\1”", text)
        text = re.sub(r"(\w)'(\w)", r"\1’\2", text)
        text = text.replace(" - ", " – ").replace("--", "—")
    elif style == "straight":
        text = re.sub(r"[«»“”„]", '"', text).replace("’", "'").replace(" — ", " - ")
        text = text.replace(" – ", " - ")
    elif style == "ru" or style == "kk":
        text = re.sub(r'"(\S[^"]*?)"', r"«\1»", text).replace(" - ", " — ")
    elif style == "zh":
        text = text.replace(",", "，").replace(":", "：").replace("(", "（").replace(")", "）")
    elif style == "halfwidth":
        text = (text.replace("，", ", ").replace("：", ": ").replace("（", "(")
                .replace("）", ")").replace("“", '"').replace("”", '"'))
    if yo is True and lang == "ru":
        text = text.replace("ё", "е").replace("Ё", "Е")
    return text


NUM_EDITS_EN = [(r"\bpct\b", "per cent"), (r"\bmln\b", "million"), (r"\bbillion\b", "bln"),
                (r"\bdlrs\b", "dollars"), (r"\bsaid\b", "stated"), (r"\bvs\b", "versus"),
                (r"\bcompany\b", "firm"), (r"\bpercent\b", "%")]
NUM_EDITS_RU = [(r"\bмлн\b", "миллионов"), (r"\bмлрд\b", "миллиардов"), (r"\bзаявил\b",
                "сообщил"), (r"\bпроцентов\b", "%"), (r"\bгода\b", "г.")]
NUM_EDITS_KK = [(r"\bмиллион\b", "млн"), (r"\bмиллиард\b", "млрд"), (r"\bпайыз\b", "%"),
                (r"\bжылы\b", "ж.")]
NUM_EDITS_ZH = [("亿元", "亿元人民币"), ("日前", "近日"), ("表示", "称"), ("进行", "开展")]


def word_edits(text, lang, rnd):
    table = {"en": NUM_EDITS_EN, "ru": NUM_EDITS_RU, "kk": NUM_EDITS_KK,
             "zh": NUM_EDITS_ZH}[lang]
    for pat, rep in table:
        if rnd.random() < 0.7:
            text = re.sub(pat, rep, text) if lang != "zh" else text.replace(pat, rep)
    return text


def rewrite_headline(title, lang, rnd, lead):
    """A sub-editor's headline: reorder, shorten, prefix/suffix, or a new one from the lead."""
    if not title.strip():
        # a wire sentence with no headline gets one from its first words
        w = lead.split()
        return " ".join(w[:rnd.randint(4, 7)]) if lang != "zh" else lead[:rnd.randint(8, 14)]
    if lang == "zh":
        k = rnd.random()
        if k < 0.4:
            return title[: max(6, int(len(title) * 0.6))]
        if k < 0.7:
            return "快讯：" + title
        return lead[: rnd.randint(10, 18)]
    words = title.split()
    k = rnd.random()
    if k < 0.3 and len(words) > 4:
        return " ".join(words[: max(3, int(len(words) * 0.6))])
    if k < 0.5:
        pref = {"en": ["UPDATE 1-", "WRAPUP-", "FOCUS-"], "ru": ["Срочно: ", "Молния: "],
                "kk": ["Жаңалық: ", "Маңызды: "]}[lang]
        return rnd.choice(pref) + title
    if k < 0.7 and len(words) > 3:
        i = rnd.randrange(1, len(words))
        return " ".join(words[i:] + words[:i])
    # a new headline from the lead's first words
    w = lead.split()
    return " ".join(w[: rnd.randint(5, 9)])


def make_copy(orig, lang, outlet, t, rnd, hard, copy_no):
    """Return (title, body, edits) for one syndicated copy."""
    edits = []
    title = orig["title"]
    reuters = orig["id"].startswith("reuters21578-")
    # the wire's sign-off, which no outlet reprints
    obody = re.sub(r"\s*\bREUTERS?\s*$", "", orig["body"]) if reuters else orig["body"]
    if obody != orig["body"]:
        edits.append("drop_signoff")
    pars = paragraphs(obody, lang, fixed_width=reuters)
    pars_s = [sentences(p, lang) for p in pars]
    raw = list(pars)
    touched = [False] * len(pars)
    n_sent = sum(len(s) for s in pars_s)
    short = len((orig["title"] + orig["body"]).encode()) < 200
    lead_text = pars_s[0][0] if pars_s and pars_s[0] else title


    # ---- structural edits (the sub-editor)
    r = rnd.random()
    level = "heavy" if hard else ("light" if r < 0.35 else "medium" if r < 0.75 else "heavy")
    n_struct = {"light": 0, "medium": 1, "heavy": rnd.randint(2, 3)}[level]
    choices = list(STRUCT)
    if not obody.strip():
        # a headline-only flash: its headline is the whole item, so only its case changes
        choices = ["headline_upper"]
    elif short or n_sent < 3:
        # a one-sentence TV item cannot be cut or reordered: only its headline changes
        choices = ["headline_rewrite", "headline_upper"]
    chosen = rnd.sample(choices, min(n_struct, len(choices)))
    if "headline_rewrite" in chosen and "headline_upper" in chosen:
        chosen.remove("headline_upper")
    flat = [(i, j) for i, ss in enumerate(pars_s) for j in range(len(ss))]
    if "drop_sentence" in chosen and len(flat) >= 3:
        k = rnd.randint(1, 2 if level == "heavy" else 1)
        for i, j in sorted(rnd.sample(flat[1:], min(k, len(flat) - 1)), reverse=True):
            del pars_s[i][j]; touched[i] = True
        edits.append("drop_sentence")
    flat = [(i, j) for i, ss in enumerate(pars_s) for j in range(len(ss))]
    if "move_sentence" in chosen and len(flat) >= 3:
        (i, j) = rnd.choice(flat[1:])
        s = pars_s[i].pop(j); touched[i] = True
        flat2 = [(a, b) for a, ss in enumerate(pars_s) for b in range(len(ss) + 1)]
        (a, b) = rnd.choice(flat2[1:])
        pars_s[a].insert(b, s); touched[a] = True
        edits.append("move_sentence")
    if "truncate" in chosen:
        total = sum(len(" ".join(s)) for s in pars_s)
        lo, hi = (0.25, 0.6) if hard else ((0.35, 0.7) if level == "heavy" else (0.6, 0.9))
        keep = rnd.uniform(lo, hi) * total
        acc, out, rawk, tk = 0, [], [], []
        for i, ss in enumerate(pars_s):
            if acc >= keep and out:
                break
            kept = []
            for s in ss:
                if acc >= keep and (out or kept):
                    break
                kept.append(s); acc += len(s) + 1
            out.append(kept); rawk.append(raw[i]); tk.append(touched[i] or kept != ss)
        if sum(len(x) for x in out) < sum(len(x) for x in pars_s):
            pars_s, raw, touched = out, rawk, tk
            edits.append("truncate")
    if "headline_rewrite" in chosen:
        edits.append("headline_rewrite" if title.strip() else "headline_added")
        title = rewrite_headline(title, lang, rnd, lead_text)
    if "headline_upper" in chosen and title.strip():
        title = title.upper() if title != title.upper() else title_case(title)
        edits.append("headline_upper" if title.isupper() else "headline_case")

    # ---- outlet house style (boilerplate)
    rewrap = outlet["rewrap"]
    body_pars = []
    for i, ss in enumerate(pars_s):
        if not ss:
            continue
        if rewrap or touched[i]:
            body_pars.append(join_sents(ss, lang))
        else:
            body_pars.append(raw[i])
    if rewrap and "\n" in orig["body"] and lang != "zh":
        edits.append("rewrap")
    body = ("" if lang == "zh" else "\n\n").join(body_pars) if lang != "zh" else \
        " ".join(body_pars)
    if hard:
        nb = word_edits(body, lang, rnd)
        if nb != body:
            edits.append("word_edits")
        body = nb
        # the lead re-phrased at its start: its first words replaced
        if lang != "zh":
            w = body.split(" ")
            if len(w) > 12:
                k = rnd.randint(2, 4)
                body = " ".join(rnd.sample(w[:8], k) + w[k:])
                edits.append("lead_rephrase")
    nb = typography(body, outlet["quotes"], lang, outlet.get("yo"))
    nt = typography(title, outlet["quotes"], lang, outlet.get("yo"))
    if nb != body or nt != title:
        edits.append("typography")
    body, title = nb, nt
    if outlet["headline"] == "upper" and title.strip() and title != title.upper():
        title = title.upper(); edits.append("headline_upper")
    elif outlet["headline"] == "title" and title.isupper() and lang == "en":
        title = title_case(title); edits.append("headline_case")
    elif outlet["headline"] == "bracket" and title.strip():
        title = "【" + title + "】"; edits.append("headline_rewrite")
    if not obody.strip():
        return title, body, sorted(set(edits)), level
    if outlet["dateline"] and rnd.random() < 0.85:
        body = strip_existing_dateline(body, lang)
        body = make_dateline(outlet["dateline"], lang, t, rnd) + body
        edits.append("dateline")
    names = {"en": EN_NAMES, "ru": RU_NAMES, "kk": KK_NAMES, "zh": ZH_NAMES}[lang]
    if outlet["byline"] and rnd.random() < 0.7:
        by = outlet["byline"].format(n=rnd.choice(names), c=rnd.choice(EN_CITIES).title())
        if lang == "zh":  # 人民网北京3月9日电（记者 张伟）: the byline follows the dateline
            m = re.match(r"^\S*?\d+月\d+日电 ?", body)
            body = (body[:m.end()].rstrip() + by + body[m.end():]) if m else by + body
        else:
            body = by + "\n\n" + body
        edits.append("byline")
    if outlet["credit"]:
        body = body.rstrip() + outlet["credit"]
        edits.append("credit")
    if outlet["footer"] and rnd.random() < 0.8:
        f = outlet["footer"].format(n=rnd.choice(names), m=rnd.choice(names),
                                    t=orig["title"])
        body = body.rstrip() + ("" if lang == "zh" else "\n\n") + f
        edits.append("footer")
    return title, body, sorted(set(edits)), level


def lang_of(src):
    return {"reuters21578": "en", "bbc": "en", "agnews": "en", "nerel": "ru", "factru": "ru",
            "rusentrel": "ru", "bri": "zh", "kaznerd": "kk"}[src]


def gen(args):
    rnd = random.Random(args.seed)
    by_src = collections.defaultdict(list)
    with open(args.corpus, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            by_src[d["id"].split("-")[0]].append(d)
    originals = []
    for d in by_src["reuters21578"]:
        t = parse_reuters_time(d.get("published_at"))
        if t and SPAN_START <= t < SPAN_END and (d["title"] + d["body"]).strip():
            originals.append((t, d, "en"))
    span = (SPAN_END - SPAN_START).total_seconds()
    for src, n in SAMPLE.items():
        pool = [d for d in by_src[src] if (d["title"] + d["body"]).strip()]
        for d in rnd.sample(pool, min(n, len(pool))):
            t = SPAN_START + dt.timedelta(seconds=rnd.uniform(0, span))
            originals.append((t, d, lang_of(src)))
    out = []  # (time, item, truth)
    n_copies = 0
    for t, d, lang in originals:
        story = d["id"]
        src_name = d.get("source") or d["id"].split("-")[0]
        out.append((t, dict(id=d["id"], title=d["title"], body=d["body"], source=src_name,
                            lang=lang, published_at=rfc3339(t)),
                    dict(id=d["id"], story=story, role="original", lang=lang, edits=[],
                         level="", bytes=len((d["title"] + d["body"]).encode()),
                         orig_bytes=len((d["title"] + d["body"]).encode()))))
        if rnd.random() >= COPY_SHARE[lang]:
            continue
        # copies per syndicated original: 1 + geometric, mean ~2.2, at most 8
        k = 1
        while k < 8 and rnd.random() < 0.55:
            k += 1
        outlets = rnd.sample(OUTLETS[lang], min(k, len(OUTLETS[lang])))
        while len(outlets) < k:
            outlets.append(rnd.choice(OUTLETS[lang]))
        for c, outlet in enumerate(outlets):
            # copies follow within hours: log-normal delay, median ~1.5 h, capped at 30 h
            delay = min(30 * 3600, max(60, rnd.lognormvariate(8.6, 1.1)))
            tc = t + dt.timedelta(seconds=delay)
            title, body, edits, level = make_copy(d, lang, outlet, tc, rnd, args.hard, c)
            cid = f"{d['id']}~c{c + 1}"
            out.append((tc, dict(id=cid, title=title, body=body, source=outlet["name"],
                                 lang=lang, published_at=rfc3339(tc)),
                        dict(id=cid, story=story, role="copy", lang=lang, edits=edits,
                             level=level, bytes=len((title + body).encode()),
                             orig_bytes=len((d["title"] + d["body"]).encode()))))
            n_copies += 1
    out.sort(key=lambda x: (x[0], x[1]["id"]))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "items.jsonl"), "w", encoding="utf-8") as fi, \
            open(os.path.join(args.out, "truth.jsonl"), "w", encoding="utf-8") as ft:
        for _, item, truth in out:
            fi.write(json.dumps(item, ensure_ascii=False) + "\n")
            ft.write(json.dumps(truth, ensure_ascii=False) + "\n")
    langs = collections.Counter(tr["lang"] for _, _, tr in out)
    stories_with_copies = len({tr["story"] for _, _, tr in out if tr["role"] == "copy"})
    print(f"seed {args.seed}{' hard' if args.hard else ''}: {len(out)} items, "
          f"{len(originals)} originals, {stories_with_copies} syndicated, {n_copies} copies; "
          f"by language {dict(langs)}", file=sys.stderr)


# ---------------------------------------------------------------- evaluation
def norm_tokens(text):
    return re.findall(r"\w", text.casefold()) if re.search(r"[\u4e00-\u9fff]", text) else \
        re.findall(r"\w+", text.casefold())


def shingles(toks, k=3):
    return {tuple(toks[i:i + k]) for i in range(max(1, len(toks) - k + 1))}


def near_identical(a, b):
    """The exact text measure for originals that are themselves near-identical: word
    (CJK character) 3-shingle Jaccard >= 0.9 of the casefolded title + body."""
    sa, sb = shingles(norm_tokens(a)), shingles(norm_tokens(b))
    if not sa or not sb:
        return False
    return len(sa & sb) / len(sa | sb) >= 0.9


def pairs_of(groups):
    for g in groups.values():
        g = sorted(g)
        for i in range(len(g)):
            for j in range(i + 1, len(g)):
                yield g[i], g[j]


def evaluate(args):
    d = args.dir
    truth = {}
    order = []
    with open(os.path.join(d, "truth.jsonl"), encoding="utf-8") as f:
        for line in f:
            tr = json.loads(line)
            truth[tr["id"]] = tr
            order.append(tr["id"])
    items = {}
    with open(os.path.join(d, "items.jsonl"), encoding="utf-8") as f:
        for line in f:
            it = json.loads(line)
            items[it["id"]] = it
    pred = {}
    fpinfo = {}
    alerts_per_item = collections.Counter()
    conflict = 0
    with open(os.path.join(d, "stories.jsonl"), encoding="utf-8") as f:
        for line in f:
            a = json.loads(line)
            if a.get("schema") != "steppewatch.alert.v1":
                continue
            iid = a["item"]["id"]
            alerts_per_item[iid] += 1
            sid = a["story"]["id"]
            if iid in pred and pred[iid] != sid:
                conflict += 1
            pred.setdefault(iid, sid)
            fpinfo[iid] = a["item"]
    missing = [i for i in order if i not in pred]
    print(f"items {len(order)}, with a story {len(pred)}, without {len(missing)}, "
          f"items with >1 alert {sum(1 for v in alerts_per_item.values() if v > 1)}, "
          f"items whose alerts disagree on the story {conflict}")
    ids = [i for i in order if i in pred]
    true_groups = collections.defaultdict(list)
    pred_groups = collections.defaultdict(list)
    for i in ids:
        true_groups[truth[i]["story"]].append(i)
        pred_groups[pred[i]].append(i)
    true_pairs = set(pairs_of(true_groups))
    pred_pairs = set(pairs_of(pred_groups))
    tp = true_pairs & pred_pairs
    fp = pred_pairs - true_pairs
    fn = true_pairs - pred_pairs

    def orig_text(i):
        o = items[truth[i]["story"]]
        return o["title"] + "\n" + o["body"]

    # false pairs whose two originals are near-identical by the exact measure
    ni_cache = {}

    def fp_near_ident(p):
        key = tuple(sorted((truth[p[0]]["story"], truth[p[1]]["story"])))
        if key not in ni_cache:
            ni_cache[key] = near_identical(orig_text(p[0]), orig_text(p[1]))
        return ni_cache[key]
    fp_ni = {p for p in fp if fp_near_ident(p)}
    jac_cache = {}

    def fp_jac(p):
        key = tuple(sorted((truth[p[0]]["story"], truth[p[1]]["story"])))
        if key not in jac_cache:
            sa = shingles(norm_tokens(orig_text(p[0])))
            sb = shingles(norm_tokens(orig_text(p[1])))
            jac_cache[key] = len(sa & sb) / len(sa | sb) if sa and sb else 0.0
        return jac_cache[key]
    fp_half = {p for p in fp if fp_jac(p) >= 0.5}
    fp_degen = {p for p in fp if fpinfo[p[0]].get("fingerprint_tokens", 99) <= 2
                and fpinfo[p[1]].get("fingerprint_tokens", 99) <= 2}

    def short(i):
        return truth[i]["orig_bytes"] < 200

    slices = [("all", lambda p: True)]
    for lang in ("en", "ru", "kk", "zh"):
        slices.append((f"lang {lang}", lambda p, lang=lang: truth[p[0]]["lang"] == lang
                       and truth[p[1]]["lang"] == lang))
    slices.append(("short (<200 B)", lambda p: short(p[0]) and short(p[1])))
    slices.append(("not short", lambda p: not short(p[0]) and not short(p[1])))
    print()
    print("| slice | true pairs | predicted pairs | TP | FP (strict) | FP near-identical "
          "originals | precision strict | precision excl. | recall |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, f in slices:
        T = sum(1 for p in true_pairs if f(p))
        P = sum(1 for p in pred_pairs if f(p))
        TP = sum(1 for p in tp if f(p))
        FP = P - TP
        FPni = sum(1 for p in fp_ni if f(p))
        ps = TP / P if P else float("nan")
        pe = TP / (P - FPni) if P - FPni else float("nan")
        rc = TP / T if T else float("nan")
        print(f"| {name} | {T} | {P} | {TP} | {FP} | {FPni} | {ps:.4f} | {pe:.4f} | "
              f"{rc:.4f} |")

    # per edit: recall of (copy, original) pairs for copies that carry the edit
    print()
    print("| copies with edit | copies | same story as original | recall |")
    print("|---|---:|---:|---:|")
    per_edit = collections.defaultdict(lambda: [0, 0])
    per_level = collections.defaultdict(lambda: [0, 0])
    per_lang = collections.defaultdict(lambda: [0, 0])
    for i in ids:
        tr = truth[i]
        if tr["role"] != "copy":
            continue
        o = tr["story"]
        ok = pred.get(o) == pred[i]
        for e in tr["edits"] + ["(any)"]:
            per_edit[e][0] += 1; per_edit[e][1] += ok
        per_level[tr["level"]][0] += 1; per_level[tr["level"]][1] += ok
        key = tr["lang"] + (" short" if short(i) else "")
        per_lang[key][0] += 1; per_lang[key][1] += ok
    for e in sorted(per_edit, key=lambda e: per_edit[e][1] / per_edit[e][0]):
        n, k = per_edit[e]
        print(f"| {e} | {n} | {k} | {k / n:.4f} |")
    print()
    print("| copies by level / language | copies | with original | recall |")
    print("|---|---:|---:|---:|")
    for name, tab in (("level ", per_level), ("", per_lang)):
        for e in sorted(tab):
            n, k = tab[e]
            print(f"| {name}{e} | {n} | {k} | {k / n:.4f} |")
    # samples to classify
    rnd = random.Random(0)
    miss = sorted(p for p in fn if truth[p[0]]["story"] in (p[0],) or
                  truth[p[1]]["story"] in (p[1],))  # pairs with the original
    fps = sorted(fp - fp_ni)
    with open(os.path.join(d, "misses.jsonl"), "w", encoding="utf-8") as f:
        for p in rnd.sample(miss, min(40, len(miss))):
            a, b = sorted(p, key=lambda x: truth[x]["role"] != "original")
            f.write(json.dumps(dict(original=items[a], copy=items[b], edits=truth[b]["edits"],
                                    level=truth[b]["level"], pred=[pred[a], pred[b]]),
                               ensure_ascii=False) + "\n")
    with open(os.path.join(d, "false_pairs.jsonl"), "w", encoding="utf-8") as f:
        for p in rnd.sample(fps, min(40, len(fps))):
            f.write(json.dumps(dict(a=items[p[0]], b=items[p[1]],
                                    a_truth=truth[p[0]], b_truth=truth[p[1]],
                                    story=pred[p[0]]), ensure_ascii=False) + "\n")
    print(f"\nfalse pairs {len(fp)}: {len(fp_ni)} between near-identical originals "
          f"(3-shingle Jaccard >= 0.9), {len(fp_half)} with Jaccard >= 0.5 (reissues, "
          f"corrections, updates), {len(fp_degen)} where both items have "
          f"fingerprint_tokens <= 2; precision excluding Jaccard >= 0.5: "
          f"{len(tp) / (len(pred_pairs) - len(fp_half)):.4f}")
    print(f"missed pairs {len(fn)} ({len(miss)} copy-original)")

    def hd(a, b):
        return bin(int(a, 16) ^ int(b, 16)).count("1")
    dist = collections.Counter()
    for p in miss:
        a, b = p
        dd = hd(fpinfo[a]["fingerprint"], fpinfo[b]["fingerprint"])
        dist["0-3" if dd <= 3 else "4-8" if dd <= 8 else "9-16" if dd <= 16 else ">16"] += 1
    print("copy-original misses by fingerprint distance:", dict(sorted(dist.items())))
    # near-identical pairs of originals (the same exact measure) within 72 h of each other
    # in the data, and how many of them the product put in one story
    origs = [i for i in ids if truth[i]["role"] == "original"]
    when = {i: dt.datetime.strptime(items[i]["published_at"], "%Y-%m-%dT%H:%M:%SZ")
            for i in origs}
    sh = {i: shingles(norm_tokens(items[i]["title"] + "\n" + items[i]["body"])) for i in origs}
    index = collections.defaultdict(list)
    for i in origs:
        for g in sh[i]:
            index[g].append(i)
    ni_pairs = set()
    for i in origs:
        cand = collections.Counter()
        for g in sh[i]:
            post = index[g]
            if len(post) <= 200:
                cand.update(post)
        for j, c in cand.items():
            if j <= i or c < 0.8 * min(len(sh[i]), len(sh[j])):
                continue
            if abs((when[i] - when[j]).total_seconds()) > 72 * 3600:
                continue
            if len(sh[i] & sh[j]) / len(sh[i] | sh[j]) >= 0.9:
                ni_pairs.add((i, j))
    together = sum(1 for i, j in ni_pairs if pred[i] == pred[j])
    print(f"near-identical original pairs (Jaccard >= 0.9) within 72 h: {len(ni_pairs)}, "
          f"in one predicted story: {together}")
    degen_items = [i for i in ids if fpinfo[i].get("fingerprint_tokens", 99) <= 1]
    print(f"items with fingerprint_tokens <= 1: {len(degen_items)}; most common fingerprints "
          f"among them: {collections.Counter(fpinfo[i]['fingerprint'] for i in degen_items).most_common(3)}")
    big = sorted(pred_groups.values(), key=len, reverse=True)[:5]
    print("largest predicted stories:", [(g[0], len(g), len({truth[i]['story'] for i in g}))
                                         for g in big])


def probes(args):
    """Small items that show what BLIND-COPIES.md reports as suspected bugs (pipe them
    through match and stories and print item.fingerprint*, story.id)."""
    dow = ("Dow Chemical Co has launched a 200 mln\nSwiss franc, 12-year bond with a 4-3/4 pct "
           "coupon priced at\n100-1/4 pct, lead manager Union Bank of Switzerland said.\n    "
           "The issue carries a call option from 1993 at 102 pct,\ndeclining thereafter by 1/2 "
           "percentage point per year.\n    Subscriptions close March 18 and payment date is "
           "April 2.")
    dow_t = "DOW CHEMICAL LAUNCHES 200 MLN SWISS FRANC BOND"
    s3 = ["Profits rose sharply in the first quarter of the year, the company said on Monday.",
          "The board will meet next week to discuss the dividend and other matters."]
    rows = [
        # 1. a short sentence followed by the README's own credit "– Kazinform."
        ("kz-credit-1", "", "Шығын өндіріледі. – Kazinform.", "kk"),
        ("kz-credit-2", "", "АСТАНА. KAZINFORM – Шынын айтсам. – Kazinform.", "kk"),
        ("en-credit-3", "", "The company said profits rose. – Kazinform.", "en"),
        ("kz-plain-1", "", "Шығын өндіріледі.", "kk"),
        # 2. a dash late in a title-less body: everything before it is taken as a dateline
        ("en-dash-1", "", "The company said profits rose 10 pct in 1986 and sales rose - Reuters",
         "en"),
        ("en-dash-2", "", "Profits rose in 1986 – the company said.", "en"),
        # 3. the last sentence of a body is not fingerprinted
        ("en-last-1", "ACME PROFITS RISE", " ".join(s3) + " Shares closed higher in New York "
         "trading.", "en"),
        ("en-last-2", "ACME PROFITS RISE", " ".join(s3) + " The chairman resigned on Friday "
         "after a dispute with the board over pay.", "en"),
        # 4. a story is joined through its first item only: c is 0 bits from b, b is in a's
        # story, c starts a new one
        ("tr-a", dow_t, dow + "\n REUTER", "en"),
        ("tr-b", dow_t, dow, "en"),
        ("tr-c", dow_t, "Sarah Miller in Paris\n\n" + dow, "en"),
    ]
    for k, (i, t, b, lang) in enumerate(rows):
        print(json.dumps(dict(id=i, title=t, body=b, source="probe", lang=lang,
                              published_at=f"1987-03-02T10:{k:02d}:00Z"), ensure_ascii=False))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--corpus", default="/work/shared/corpus/news-bench.jsonl")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--hard", action="store_true")
    g.add_argument("--out", required=True)
    e = sub.add_parser("eval")
    e.add_argument("--dir", required=True)
    sub.add_parser("probes")
    args = ap.parse_args()
    {"gen": gen, "eval": evaluate, "probes": probes}[args.cmd](args)


if __name__ == "__main__":
    main()

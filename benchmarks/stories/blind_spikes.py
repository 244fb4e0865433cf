#!/usr/bin/python3
"""Blind evaluation of the stories stage's spike detection (issue 13), written without reading
the project's own generators or the stage's sources.

  blind_spikes.py build  --out DIR            timeline, injections, manifest (seeded)
  blind_spikes.py run    --out DIR --label L [-- STORIES OPTIONS]
                                              match | stories over the clean and injected
                                              timelines, then score the spike events
  blind_spikes.py badinput --out DIR          archive faults (order, 1970, future, a gap)

What is modelled, and why (see BLIND-SPIKES.md):
- The timeline is the corpus as an archive: Reuters-21578 items at their own 1987 dates (the
  original "26-FEB-1987 15:01:01.79" strings are kept, as the CLI says it parses them); every
  other item (BBC, AG News, Russian, Kazakh, Chinese) gets the time of a random Reuters item
  plus up to +-3 h, so it follows the real 1987 daily and weekly rhythm and its gaps.
- Keys are the rules and tags of a small topical pack (blind_spikes_pack/) over the corpus'
  own words; which keys are quiet is measured on the clean timeline, not assumed.
- A distinct burst is 25 real corpus items that match the key, re-dated into a two-hour
  window (new ids: a second publication of the same report more than 4 days from its own
  date, which the 72 h story window treats as new). They are chosen pairwise far apart in
  fingerprint, lead key and sentence key, so they are 25 stories by construction. A
  two-language burst takes 5-10 of them from a second language.
- A copy burst is one real report republished 30 times in two hours by other outlets, each
  copy edited the way outlets edit wire copy: dateline added or changed, byline, credit or
  footer, typography (curly quotes, dashes, no-break spaces, re-wrapped or unwrapped lines),
  a rewritten headline, and cuts (to the lead, to 50-80%, or mid-sentence by a feed limit).
- Shapes: evenly spread over 2 h, front-loaded (exponential, mean 15 min), by day (13-15 UTC)
  or by night (01-03 UTC).
Python 3 standard library only; fixed seeds.
"""
import argparse
import collections
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys

CORPUS = "/work/shared/corpus/news-bench.jsonl"
HERE = os.path.dirname(os.path.abspath(__file__))
PACK = os.path.join(HERE, "blind_spikes_pack")
SW = os.environ.get("STEPPEWATCH", "/work/blindbin/steppewatch")
NOW = "1988-01-01T00:00:00Z"
UTC = dt.timezone.utc
SEED = 13

# Quiet keys that get injections, chosen after measuring the clean timeline (build prints the
# weekly counts of every rule, weekly_counts.tsv; these have a median of 1-8 a week).
# 24 distinct bursts (12 in one language, 12 in two: on the keys whose pool has items in a
# second language) and 24 copy bursts (3 on each of 8 quiet keys).
PLAN = ([("distinct", 1, k) for k in ["soft.cocoa", "metal.tin", "metal.zinc", "wood.lumber",
                                      "disaster.quake", "disaster.drought"] * 2]
        + [("distinct", 2, k) for k in ["geo.afghanistan", "agri.potato", "disaster.flood",
                                        "geo.afghanistan", "agri.potato", "disaster.flood",
                                        "geo.afghanistan", "metal.uranium", "disaster.flood",
                                        "geo.afghanistan", "agri.potato", "metal.uranium"]]
        + [("copies", 1, k) for k in ["soft.cocoa", "metal.tin", "metal.zinc", "wood.lumber",
                                      "metal.uranium", "agri.potato", "disaster.quake",
                                      "geo.afghanistan"] * 3])

# --extended: distinct bursts on medium keys (a median of 8-26 items a week) and copy bursts of
# short items (AG News: a title and one or two sentences, as wire briefs are republished).
EXTENDED = ([("distinct-medium", 1, k) for k in ["soft.sugar", "soft.coffee", "energy.opec",
                                                 "sport.olympics"] * 2]
            + [("copies-short", 1, k) for k in ["soft.cocoa", "disaster.quake", "geo.afghanistan",
                                               "metal.uranium"] * 2]
            + [("copies-ru", 1, "geo.afghanistan")] * 4)


def parse_reuters(s):
    m = re.match(r"(\d+)-([A-Z]{3})-(\d{4}) (\d+):(\d+):(\d+)", s or "")
    if not m:
        return None
    try:
        d = dt.datetime.strptime("%s-%s-%s" % m.group(1, 2, 3), "%d-%b-%Y")
        return d.replace(tzinfo=UTC) + dt.timedelta(hours=int(m.group(4)), minutes=int(m.group(5)),
                                                   seconds=int(m.group(6)))
    except ValueError:
        return None


def rfc(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def parse_rfc(s):
    return dt.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def popcount(x):
    return bin(x).count("1")


# ---------------------------------------------------------------------------------- timeline
def load_corpus():
    items = []
    with open(CORPUS, encoding="utf-8") as f:
        for line in f:
            items.append(json.loads(line))
    return items


def build_timeline(items, rnd):
    """Returns [(time, item)] sorted by time; Reuters at their dates, others spread."""
    reuters_times = []
    out = []
    for it in items:
        if it["id"].startswith("reuters21578-"):
            t = parse_reuters(it.get("published_at"))
            if t is None:
                # 31-MAR-1987 605:12:19.12: a broken archive date, kept as is; placed at its day
                m = re.match(r"(\d+-[A-Z]{3}-\d{4})", it.get("published_at") or "")
                t = dt.datetime.strptime(m.group(1), "%d-%b-%Y").replace(tzinfo=UTC) + dt.timedelta(hours=12)
            else:
                reuters_times.append(t)
            out.append((t, dict(it)))
    reuters_times.sort()
    for it in items:
        if it["id"].startswith("reuters21578-"):
            continue
        t = rnd.choice(reuters_times) + dt.timedelta(seconds=rnd.randint(-3 * 3600, 3 * 3600))
        it = dict(it)
        it["original_published_at"] = it.get("published_at")
        it["published_at"] = rfc(t)
        out.append((t, it))
    out.sort(key=lambda p: (p[0], p[1]["id"]))
    return out


def write_items(path, timeline):
    with open(path, "w", encoding="utf-8") as f:
        for _, it in timeline:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")


def run_match(items_path, alerts_path):
    with open(alerts_path, "w") as out:
        r = subprocess.run([SW, "match", "--rules", PACK, "--ordered", "--no-progress",
                            "--processed-at", NOW, "--instance", "blind", items_path],
                           stdout=out, stderr=subprocess.PIPE, text=True)
    if not os.environ.get("QUIET_MATCH"):
        sys.stderr.write(r.stderr)
    if r.returncode != 0:
        sys.exit("match failed: %d" % r.returncode)


def read_alerts(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


# ---------------------------------------------------------------------------------- copies
OUTLETS = ["The Times", "Financial Post", "Globe and Mail", "Straits Times", "Business Recorder",
           "Hong Kong Standard", "The Age", "Irish Times", "Gulf News", "Lloyd's List",
           "Journal of Commerce", "Bangkok Post", "New Straits Times", "Daily Telegraph",
           "Sydney Morning Herald", "Toronto Star", "Jakarta Post", "Khaleej Times",
           "Dominion Post", "Agra Europe", "Public Ledger", "Metal Bulletin", "Dawn",
           "Business Day", "The Nation", "Nikkei English", "Economic Times", "Daily Star",
           "Manila Bulletin", "Herald Sun", "Scotsman", "Western Mail"]
CITIES = ["LONDON", "NEW YORK", "TOKYO", "SINGAPORE", "KUALA LUMPUR", "SYDNEY", "CHICAGO",
          "WASHINGTON", "HONG KONG", "JAKARTA", "ACCRA", "SAO PAULO", "GENEVA", "OTTAWA"]
NAMES = ["David Brough", "Jane Light", "Peter Elstob", "Marcus Kabel", "Lisa Vaughan",
         "Tom Miles", "Jonathan Leff", "Kate Holton", "Ruth Pitchford", "Chris Johnson"]
RU_CITIES = ["МОСКВА", "Кабул", "ИСЛАМАБАД", "Ташкент", "ДУШАНБЕ", "Алматы", "ВАШИНГТОН"]
RU_NAMES = ["Иван Петров", "Анна Смирнова", "Олег Кузнецов", "Мария Иванова", "Дмитрий Орлов"]
RU_FOOTERS = ["Подписывайтесь на наш канал в Telegram", "\u00a9 РИА Новости", "Читайте также: главные новости дня",
              "При перепечатке ссылка на источник обязательна.", "Источник: ТАСС", "Фото: Reuters"]
RU_MONTHS = ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
             "октября", "ноября", "декабря"]
FOOTERS = ["Copyright 1987 Reuters Limited. All rights reserved.",
           "\u00a9 1987 The Times. All rights reserved.",
           "Our Standards: The Thomson Reuters Trust Principles.",
           "(Reporting by {n}; Editing by {m})",
           "For more business news, subscribe to our daily newsletter.",
           "This story has not been edited by our staff and is published from a syndicated feed.",
           "Related: Commodities page B4"]


def paragraphs(body):
    # Reuters-21578 bodies are fixed-width: paragraphs start with 4 spaces
    ps = re.split(r"\n(?= {3,})|\n\s*\n", body)
    return [p for p in (x.strip() for x in ps) if p]


def unwrap(p):
    return re.sub(r"\s*\n\s*", " ", p)


def typography(s, rnd):
    s = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", s)
    s = s.replace("'", "\u2019").replace(" - ", " \u2013 ").replace("--", "\u2014")
    if rnd.random() < 0.5:
        s = re.sub(r"(\d) (pct|mln|dlrs|tonnes)", "\\1\u00a0\\2", s)
    return s


def make_copy(orig, burst, k, t, city, rnd, date_word):
    """One outlet's republication of orig; returns (item, edits)."""
    title, body = orig["title"], orig["body"]
    ps = [unwrap(p) for p in paragraphs(body)] if rnd.random() < 0.6 else paragraphs(body)
    if orig.get("lang") == "ru":   # Russian Wikinews / inosmi bodies: one paragraph a line
        ps = [p for p in (x.strip() for x in body.split("\n")) if p]
    edits = []
    if rnd.random() < 0.5 or not ps:
        pass
    # cuts
    r = rnd.random()
    if r < 0.12 and len(ps) > 2:
        ps = ps[:rnd.choice([1, 2])]
        edits.append("cut-to-lead")
    elif r < 0.25 and len(ps) > 3:
        n = max(2, int(len(ps) * rnd.uniform(0.5, 0.8)))
        ps = ps[:n]
        edits.append("cut-%d%%" % (100 * n // max(1, len(paragraphs(body)))))
    elif r < 0.32 and len(" ".join(ps)) > 600:
        text = "\n".join(ps)
        cut = rnd.randint(len(text) // 2, len(text) * 4 // 5)
        ps = text[:cut].rstrip().split("\n")
        edits.append("feed-cut-mid-sentence")
    ru = orig.get("lang") == "ru"
    # dateline
    if rnd.random() < 0.55 and ps:
        if ru:
            c = rnd.choice(RU_CITIES)
            d = "%d %s" % (t.day, RU_MONTHS[t.month - 1])
            dl = rnd.choice(["%s, %s. /ТАСС/. " % (c, d), "%s. %s. INTERFAX.RU - " % (c, d),
                             "%s, %s - РИА Новости. " % (c, d), "%s — " % c.upper()])
        else:
            form = rnd.choice(["%s, %s (Reuters) - ", "%s (Reuters) - ", "%s, %s - ", "%s: "])
            dl = form % ((city, date_word) if form.count("%s") == 2 else (city,))
        ps[0] = dl + ps[0]
        edits.append("dateline")
    # byline
    if rnd.random() < 0.3:
        if ru:
            ps.insert(0, rnd.choice(["Автор: %s", "%s, корреспондент"]) % rnd.choice(RU_NAMES))
        else:
            ps.insert(0, rnd.choice(["By %s", "By %s, Reuters", "%s, Reuters correspondent"]) % rnd.choice(NAMES))
        edits.append("byline")
    # footer
    if rnd.random() < 0.4:
        ft = rnd.choice(RU_FOOTERS if ru else FOOTERS).format(n=rnd.choice(NAMES), m=rnd.choice(NAMES))
        ps.append(ft)
        edits.append("footer")
    # ё written as е (most Russian outlets), and «» quotes as straight ones, or the reverse
    if ru and rnd.random() < 0.5:
        ps = [p.replace("ё", "е").replace("Ё", "Е") for p in ps]
        ps = [re.sub(r"«([^»]*)»", '"\\1"', p) if rnd.random() < 0.5 else re.sub(r'"([^"]*)"', "«\\1»", p) for p in ps]
        edits.append("yo-quotes")
    # typography
    if rnd.random() < 0.5:
        ps = [typography(p, rnd) for p in ps]
        edits.append("typography")
    sep = "\n\n" if rnd.random() < 0.5 else "\n"
    new_body = sep.join(ps)
    # headline
    r = rnd.random()
    if r < 0.35:
        title = title.title() if title.isupper() else title
        edits.append("headline-case")
    elif r < 0.55:
        words = re.sub(r"\s+", " ", unwrap(paragraphs(body)[0] if paragraphs(body) else title)).split(" ")
        title = " ".join(words[: rnd.randint(6, 10)]).rstrip(",;")
        edits.append("headline-rewritten")
    elif r < 0.65:
        title = rnd.choice(["UPDATE 1-", "WRAPUP-", "FOCUS-"]) + title
        edits.append("headline-prefix")
    item = {"id": "copy%02d-%s-%02d" % (burst, orig["id"], k), "title": title, "body": new_body,
            "source": rnd.choice(OUTLETS), "lang": orig.get("lang", "en"), "published_at": rfc(t),
            "url": None}
    return item, edits or ["verbatim"]


# ---------------------------------------------------------------------------------- build
def burst_times(t0, n, shape, rnd):
    if shape == "even":
        offs = sorted(rnd.uniform(0, 7200) for _ in range(n - 1))
    else:  # front-loaded
        offs = sorted(min(7199, rnd.expovariate(1 / 900.0)) for _ in range(n - 1))
    return [t0] + [t0 + dt.timedelta(seconds=o) for o in offs]


def cmd_build(a):
    os.makedirs(a.out, exist_ok=True)
    rnd = random.Random(a.seed)
    items = load_corpus()
    byid = {it["id"]: it for it in items}
    timeline = build_timeline(items, rnd)
    tl_time = {it["id"]: t for t, it in timeline}
    clean = os.path.join(a.out, "items_clean.jsonl")
    write_items(clean, timeline)
    alerts = os.path.join(a.out, "alerts_clean.jsonl")
    run_match(clean, alerts)

    # key membership and the items' keys (fingerprints) from the matcher itself
    pool = collections.defaultdict(list)
    fp = {}
    weekly = collections.defaultdict(collections.Counter)
    for al in read_alerts(alerts):
        it = al["item"]
        fp[it["id"]] = (int(it.get("fingerprint", "0"), 16), it.get("lead_fingerprint"),
                        it.get("fingerprint_sentence"), it.get("fingerprint_tokens"))
        t = tl_time[it["id"]]
        for m in al["matches"]:
            pool[m["rule"]].append(it["id"])
            weekly[m["rule"]][t.strftime("%G-W%V")] += 1
    weeks = sorted({t.strftime("%G-W%V") for t, it in timeline if it["id"].startswith("reuters")})
    with open(os.path.join(a.out, "weekly_counts.tsv"), "w") as f:
        f.write("rule\t" + "\t".join(weeks) + "\tmedian\n")
        for r in sorted(weekly):
            c = [weekly[r][w] for w in weeks]
            f.write("%s\t%s\t%d\n" % (r, "\t".join(map(str, c)), sorted(c)[len(c) // 2]))
    print(open(os.path.join(a.out, "weekly_counts.tsv")).read())

    # injection slots: active Reuters days (>= 100 Reuters items) after 9 days of history, a
    # day slot (13-15 UTC) and a night slot (01-03 UTC) each; every injection has a slot of its
    # own, so two injections never share a 4-hour scoring window (tags are shared by rules)
    start = timeline[0][0]
    per_day = collections.Counter(t.date() for t, it in timeline if it["id"].startswith("reuters"))
    days = sorted(d for d, n in per_day.items() if n >= 100
                  and d >= (start + dt.timedelta(days=9)).date())
    slots = {"day": list(days), "night": list(days)}
    rnd.shuffle(slots["day"])
    rnd.shuffle(slots["night"])
    # --extended needs more slots than there are busy days: quieter days (30-99 Reuters items)
    # come first in the list, used only once the busy ones are taken (pop takes from the end)
    spare = sorted(d for d, n in per_day.items() if 30 <= n < 100
                   and d >= (start + dt.timedelta(days=9)).date())
    for w in ("day", "night"):
        slots[w] = spare[:] + slots[w]
    plan = []
    used = collections.defaultdict(list)   # item id -> times it was re-dated to
    injected = []
    shapes = [("even", "day"), ("front", "night"), ("front", "day"), ("even", "night")]
    plan_list = PLAN + (EXTENDED if a.extended else [])
    for n, (kind, langs, key) in enumerate(plan_list):
        shape, when = shapes[n % 4]
        day = slots[when].pop()
        hour = rnd.uniform(13, 15) if when == "day" else rnd.uniform(1, 3)
        t0 = dt.datetime.combine(day, dt.time(0), tzinfo=UTC) + dt.timedelta(hours=hour)

        def far(iid):
            t = tl_time[iid]
            if abs((t - t0).total_seconds()) < 5 * 86400:
                return False
            return all(abs((u - t0).total_seconds()) >= 5 * 86400 for u in used[iid])

        cands = [i for i in pool[key] if far(i) and i in fp]
        rnd.shuffle(cands)
        inj = {"n": n, "kind": kind, "key": key, "langs": langs, "shape": shape, "when": when,
               "t0": rfc(t0), "items": []}
        if kind.startswith("distinct"):
            second = [i for i in cands if byid[i].get("lang") != "en"]
            first = [i for i in cands if byid[i].get("lang") == "en"]
            want2 = rnd.randint(5, 10) if langs == 2 else 0
            chosen = []

            def ok(i):
                f, lead, sent, _ = fp[i]
                for j in chosen:
                    g, lead2, sent2, _ = fp[j]
                    if popcount(f ^ g) <= 12 or (lead and lead == lead2) or (sent and sent == sent2):
                        return False
                    if byid[i]["title"] and byid[i]["title"] == byid[j]["title"]:
                        return False
                return True
            for i in second:
                if len(chosen) >= want2:
                    break
                if ok(i):
                    chosen.append(i)
            if len(chosen) < want2:
                inj["note"] = "only %d second-language items for %s" % (len(chosen), key)
            for i in first:
                if len(chosen) >= 25:
                    break
                if ok(i):
                    chosen.append(i)
            rnd.shuffle(chosen)
            times = burst_times(t0, len(chosen), shape, rnd)
            for i, t in zip(chosen, times):
                used[i].append(t0)
                it = dict(byid[i])
                it["id"] = "burst%02d-%s" % (n, i)
                it["published_at"] = rfc(t)
                it.pop("original_published_at", None)
                injected.append((t, it))
                inj["items"].append({"id": it["id"], "orig": i, "t": rfc(t), "lang": it.get("lang")})
        else:
            if kind == "copies-short":
                base = [i for i in cands if i.startswith("agnews")]
            elif kind == "copies-ru":
                base = [i for i in cands if byid[i].get("lang") == "ru" and len(byid[i]["body"].split()) >= 120]
            else:
                base = [i for i in cands if i.startswith("reuters") and len(byid[i]["body"].split()) >= 120]
            base = base or [i for i in cands if byid[i].get("lang") == "en"]
            orig = byid[base[0]]
            used[base[0]].append(t0)
            times = burst_times(t0, 30, shape, rnd)
            city = rnd.choice(CITIES)
            date_word = t0.strftime("%B ") + str(t0.day)
            for k, t in enumerate(times):
                if k == 0:
                    it = dict(orig)
                    it["id"] = "copy%02d-%s-00" % (n, orig["id"])
                    it["published_at"] = rfc(t)
                    it["source"] = "ТАСС" if orig.get("lang") == "ru" else "Reuters"
                    it.pop("original_published_at", None)
                    edits = ["original"]
                else:
                    it, edits = make_copy(orig, n, k, t, city, rnd, date_word)
                injected.append((t, it))
                inj["items"].append({"id": it["id"], "orig": orig["id"], "t": rfc(t), "edits": edits})
        plan.append(inj)
    full = sorted(timeline + injected, key=lambda p: (p[0], p[1]["id"]))
    write_items(os.path.join(a.out, "items_inject.jsonl"), full)
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump({"seed": a.seed, "now": NOW, "start": rfc(timeline[0][0]),
                   "end": rfc(timeline[-1][0]), "items_clean": len(timeline),
                   "items_injected": len(injected), "injections": plan}, f, indent=1)
    run_match(os.path.join(a.out, "items_inject.jsonl"), os.path.join(a.out, "alerts_inject.jsonl"))
    print("timeline %d items, %d injected, %d injections" % (len(timeline), len(injected), len(plan)))


# ---------------------------------------------------------------------------------- run
def run_stories(alerts, out, extra):
    cmd = [SW, "stories", "--now", NOW] + extra + ["--output", out, alerts]
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run(cmd, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 or not os.path.exists(out):
        open(out, "w").close()
    return r.returncode, r.stderr, cmd


def spikes(path):
    ev, alerts = [], {}
    for line in open(path, encoding="utf-8"):
        d = json.loads(line)
        if d.get("schema") == "steppewatch.spike.v1":
            ev.append(d)
        else:
            alerts[d["item"]["id"]] = d["story"]
    return ev, alerts


def arrival_order(src, dst, mean_min, seed):
    """Rewrites the alerts of src in the order a live stage would see them: each item arrives
    at its published time plus an exponential delay of mean_min minutes (feeds are polled,
    agencies re-send, outlets post late), so the stream is in arrival order, not event order."""
    rnd = random.Random(seed)
    rows, last = [], None
    for line in open(src, encoding="utf-8"):
        pa = json.loads(line)["item"].get("published_at") or ""
        t = parse_reuters(pa) or (parse_rfc(pa) if re.match(r"\d{4}-", pa) else None) or last
        last = t
        rows.append((t + dt.timedelta(minutes=rnd.expovariate(1.0 / mean_min)), len(rows), line))
    rows.sort()
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(r[2] for r in rows)
    moved = sum(1 for i, r in enumerate(rows) if r[1] != i)
    return moved


def cmd_run(a):
    man = json.load(open(os.path.join(a.out, "manifest.json")))
    res = {"label": a.label, "options": a.extra}
    # clean timeline: false spikes per key per week
    alerts_clean = os.path.join(a.out, "alerts_clean.jsonl")
    alerts_inject = os.path.join(a.out, "alerts_inject.jsonl")
    if a.arrival_delay:
        res["arrival_delay_min"] = a.arrival_delay
        ac = os.path.join(a.out, "alerts_clean_arrival%s.jsonl" % a.arrival_delay)
        ai = os.path.join(a.out, "alerts_inject_arrival%s.jsonl" % a.arrival_delay)
        res["moved_clean"] = arrival_order(alerts_clean, ac, a.arrival_delay, SEED + 2)
        res["moved_inject"] = arrival_order(alerts_inject, ai, a.arrival_delay, SEED + 2)
        alerts_clean, alerts_inject = ac, ai
        res["options"] = ["(arrival order, delay mean %s min)" % a.arrival_delay] + res["options"]
    out_c = os.path.join(a.out, "stories_clean_%s.jsonl" % a.label)
    rc, err, cmd = run_stories(alerts_clean, out_c, a.extra)
    res["clean_cmd"] = " ".join(cmd)
    res["clean_rc"], res["clean_summary"] = rc, err.strip()
    ev, _ = spikes(out_c)
    start = parse_rfc(man["start"])
    end = parse_rfc(man["end"])
    warm = 7
    for i, x in enumerate(a.extra):
        if x == "--warmup-days":
            warm = int(a.extra[i + 1])
    span_weeks = ((end - start).total_seconds() / 86400 - warm) / 7
    # active weeks: ISO weeks after warm-up with Reuters items (the archive has gaps)
    active = set()
    all_times = []
    for line in open(os.path.join(a.out, "items_clean.jsonl"), encoding="utf-8"):
        it = json.loads(line)
        pa = it.get("published_at") or ""
        t = parse_reuters(pa) or (parse_rfc(pa) if re.match(r"\d{4}-", pa) else None)
        if t:
            all_times.append(t)
        if it["id"].startswith("reuters") and t and t >= start + dt.timedelta(days=warm):
            active.add(t.strftime("%G-W%V"))
    all_times.sort()
    # ends of the stream's silences of two weeks or more (the documented warm-up restart)
    resumes = [b for x, b in zip(all_times, all_times[1:]) if b - x >= dt.timedelta(days=14)]
    starts = collections.Counter((e["scope"], e["name"]) for e in ev if e["state"] == "start")
    res["clean"] = {"span_weeks": round(span_weeks, 2), "active_weeks": len(active),
                    "starts": {"%s:%s" % k: v for k, v in sorted(starts.items())},
                    "events": collections.Counter(e["state"] for e in ev),
                    "start_events": [{k: e[k] for k in ("name", "scope", "window_start", "window_end", "stories", "expected", "languages", "story_ids")} for e in ev if e["state"] == "start"]}
    # injected timeline
    out_i = os.path.join(a.out, "stories_inject_%s.jsonl" % a.label)
    rc, err, cmd = run_stories(alerts_inject, out_i, a.extra)
    res["inject_cmd"] = " ".join(cmd)
    res["inject_rc"], res["inject_summary"] = rc, err.strip()
    ev, stories = spikes(out_i)
    rows = []
    for inj in man["injections"]:
        t0 = parse_rfc(inj["t0"])
        tl = [parse_rfc(x["t"]) for x in inj["items"]]
        row = {k: inj[k] for k in ("n", "kind", "key", "langs", "shape", "when", "t0")}
        row["rewarm"] = any(dt.timedelta(0) <= t0 - r0 < dt.timedelta(days=warm) for r0 in resumes)
        row["langs_actual"] = sorted({x.get("lang") for x in inj["items"]}) if inj["kind"].startswith("distinct") else ["en"]
        sids = [stories.get(x["id"], {}).get("id") for x in inj["items"]]
        row["story_ids"] = len(set(s for s in sids if s))
        row["alerted"] = sum(1 for x in inj["items"] if x["id"] in stories)
        row["items"] = len(inj["items"])
        # spike events on the rule, and on its tags, in [t0 - 10 min, t0 + 4 h]
        lo, hi = t0 - dt.timedelta(minutes=10), t0 + dt.timedelta(hours=4)
        for scope in ("rule", "tag"):
            evs = [e for e in ev if e["scope"] == scope and lo <= parse_rfc(e["window_end"]) <= hi
                   and (e["name"] == inj["key"] if scope == "rule" else e["name"] in TAGS.get(inj["key"], ()))]
            st = [e for e in evs if e["state"] == "start"]
            # the spikes' whole lives (updates and ends may come after hi)
            ids = {e["spike_id"] for e in st}
            life = [e for e in ev if e["spike_id"] in ids]
            row[scope + "_starts"] = len(st)
            row[scope + "_events"] = dict(collections.Counter(e["state"] for e in life))
            if st:
                s0 = min(st, key=lambda e: e["window_end"])
                we = parse_rfc(s0["window_end"])
                row[scope + "_delay_min"] = round((we - t0).total_seconds() / 60, 1)
                row[scope + "_items_by_detection"] = sum(1 for t in tl if t <= we)
                row[scope + "_confirmed"] = any(e["confirmed"] for e in life)
                row[scope + "_max_stories"] = max(e["stories"] for e in life)
                row[scope + "_expected"] = s0["expected"]
                row[scope + "_start_stories"] = s0["stories"]
        if inj["kind"].startswith("copies"):
            split = collections.defaultdict(list)
            for x, s in zip(inj["items"], sids):
                split[s].append("+".join(x["edits"]))
            row["copy_groups"] = {str(k): v for k, v in split.items()}
        rows.append(row)
    res["injections"] = rows
    # starts on the injected run outside every injection window (per key)
    wins = [(parse_rfc(i["t0"]) - dt.timedelta(minutes=10), parse_rfc(i["t0"]) + dt.timedelta(hours=4)) for i in man["injections"]]
    other = collections.Counter()
    for e in ev:
        if e["state"] != "start":
            continue
        t = parse_rfc(e["window_end"])
        if not any(lo <= t <= hi for lo, hi in wins):
            other["%s:%s" % (e["scope"], e["name"])] += 1
    res["inject_starts_outside_windows"] = dict(sorted(other.items()))
    with open(os.path.join(a.out, "result_%s.json" % a.label), "w") as f:
        json.dump(res, f, indent=1, default=str)
    report(res)


def report(res):
    print("== %s %s" % (res["label"], " ".join(res["options"])))
    print("clean: rc %s; %s" % (res["clean_rc"], res["clean_summary"].replace("\n", " | ")))
    print("inject: rc %s; %s" % (res["inject_rc"], res["inject_summary"].replace("\n", " | ")))
    c = res["clean"]
    print("clean timeline: %.1f weeks after warm-up (%d active ISO weeks); start events by key:" % (c["span_weeks"], c["active_weeks"]))
    for k, v in c["starts"].items():
        print("  %-28s %3d  %.2f/wk (span)  %.2f/wk (active)" % (k, v, v / c["span_weeks"], v / max(1, c["active_weeks"])))
    for kind in ("distinct", "copies", "distinct-medium", "copies-short", "copies-ru"):
        rows = [r for r in res["injections"] if r["kind"] == kind]
        if not rows:
            continue
        print("-- %s bursts: %d" % (kind, len(rows)))
        print("  n  key                langs shape when  items alerted stories | rule: starts delay items@det confirmed events | tag: starts delay")
        for r in rows:
            print("  %2d %-18s %-5s %-5s %-5s %5d %7d %7d | %d %6s %4s %5s %s | %d %6s" % (
                r["n"], r["key"], ",".join(r["langs_actual"]), r["shape"], r["when"], r["items"], r["alerted"],
                r["story_ids"], r["rule_starts"], r.get("rule_delay_min", "-"), r.get("rule_items_by_detection", "-"),
                r.get("rule_confirmed", "-"), r["rule_events"], r["tag_starts"], r.get("tag_delay_min", "-")))
        det = [r for r in rows if r["rule_starts"]]
        print("  rule spikes started: %d of %d" % (len(det), len(rows)))
        if det and kind.startswith("distinct"):
            d = sorted(r["rule_delay_min"] for r in det)
            print("  delay minutes: min %s median %s max %s" % (d[0], d[len(d) // 2], d[-1]))
    print("starts outside injection windows (injected run):", res["inject_starts_outside_windows"])


TAGS = {}


def load_tags():
    txt = open(os.path.join(PACK, "pack.yaml"), encoding="utf-8").read()
    for m in re.finditer(r"id: ([a-z.]+), tags: \[([^\]]*)\]", txt):
        TAGS[m.group(1)] = [t.strip().strip('"') for t in m.group(2).split(",")]


# ---------------------------------------------------------------------------------- bad input
def cmd_badinput(a):
    """Archive faults on the clean alerts: a stretch out of time order, 1970 and future
    published_at, a week's gap; run stories on each and report what it says and does."""
    src = [l for l in open(os.path.join(a.out, "alerts_clean.jsonl"), encoding="utf-8")]
    rnd = random.Random(SEED + 1)
    cases = {}
    # 1. out of order: 2% of alerts moved 1-48 h earlier in the stream (late arrivals)
    al = list(src)
    moved = 0
    for _ in range(len(al) // 50):
        i = rnd.randrange(200, len(al))
        j = max(0, i - rnd.randint(20, 600))
        al.insert(j, al.pop(i))
        moved += 1
    cases["out_of_order"] = al
    # 2. 1970 and future timestamps on 1% each
    al = []
    for l in src:
        d = json.loads(l)
        r = rnd.random()
        if r < 0.01:
            d["item"]["published_at"] = "1970-01-01T00:00:00Z"
        elif r < 0.02:
            d["item"]["published_at"] = "2031-06-01T12:00:00Z"
        elif r < 0.025:
            d["item"]["published_at"] = "0001-01-01T00:00:00Z"
        al.append(json.dumps(d, ensure_ascii=False) + "\n")
    cases["1970_future"] = al
    def when(line):
        pa = json.loads(line)["item"].get("published_at") or ""
        return parse_reuters(pa) or (parse_rfc(pa) if re.match(r"\d{4}-", pa) else None)
    times = [when(l) for l in src]
    # 3. a week's gap: every alert from 1987-03-16 to 1987-03-22 lost
    lo, hi = dt.datetime(1987, 3, 16, tzinfo=UTC), dt.datetime(1987, 3, 23, tzinfo=UTC)
    cases["week_gap"] = [l for l, t in zip(src, times) if not (t and lo <= t < hi)]
    # 4. a whole day shuffled (an archive dumped by item id, not by time): 1987-04-07
    al = list(src)
    idx = [i for i, t in enumerate(times) if t and t.date() == dt.date(1987, 4, 7)]
    block = [al[i] for i in idx]
    rnd.shuffle(block)
    for i, l in zip(idx, block):
        al[i] = l
    cases["day_shuffled"] = al
    # 4b. one alert dated N hours ahead of its neighbours (a wrong time zone, a typo)
    for ahead in (1, 3, 12, 48):
        al = list(src)
        i = 3000
        d = json.loads(al[i])
        d["item"]["published_at"] = rfc(times[i] + dt.timedelta(hours=ahead))
        al[i] = json.dumps(d, ensure_ascii=False) + "\n"
        cases["one_alert_%dh_ahead" % ahead] = al
    # 4c. one late arrival: an alert of N hours ago arriving now (a feed that re-sent it)
    for late in (1, 3, 12, 48):
        al = list(src)
        j = next(k for k in range(3000, len(src)) if times[k] and times[k] - times[3000] >= dt.timedelta(hours=late))
        al.insert(j, al.pop(3000))
        cases["one_alert_%dh_late" % late] = al
    # 5. garbage lines and an alert without fingerprint
    al = list(src[:5000])
    al.insert(100, "not json\n")
    d = json.loads(src[200]); d["item"].pop("fingerprint", None); al.insert(200, json.dumps(d) + "\n")
    d = json.loads(src[300]); d["item"]["published_at"] = None; d["origin"]["timestamp_ms"] = -1; al.insert(0, json.dumps(d) + "\n")
    cases["garbage"] = al
    base_out = os.path.join(a.out, "bad_base.jsonl")
    rc, err, _ = run_stories(os.path.join(a.out, "alerts_clean.jsonl"), base_out, [])
    print("== base: rc %d\n%s" % (rc, err))
    base_starts = sorted((e["scope"], e["name"], e["window_start"]) for e in spikes(base_out)[0] if e["state"] == "start")
    for name, lines in cases.items():
        p = os.path.join(a.out, "bad_%s.alerts.jsonl" % name)
        with open(p, "w", encoding="utf-8") as f:
            f.writelines(lines)
        o = os.path.join(a.out, "bad_%s.out.jsonl" % name)
        rej = os.path.join(a.out, "bad_%s.rejected.jsonl" % name)
        t = dt.datetime.now()
        rc, err, cmd = run_stories(p, o, ["--rejected", rej])
        secs = (dt.datetime.now() - t).total_seconds()
        ev, st = spikes(o)
        starts = sorted((e["scope"], e["name"], e["window_start"]) for e in ev if e["state"] == "start")
        reasons = collections.Counter(json.loads(l)["reason"] for l in open(rej)) if os.path.exists(rej) else {}
        print("== %s: rc %d, %.1f s, %d alerts out, %d spike events (%d starts; %d starts as in base)\n   cmd: %s\n   stderr: %s\n   rejected: %s" % (
            name, rc, secs, len(st), len(ev), len(starts), len(set(starts) & set(base_starts)), " ".join(cmd), err.strip().replace("\n", " | "), dict(reasons)))
        odd = [e for e in ev if e["window_start"] < "1987" or e["window_end"] > "1988"]
        if odd:
            print("   events outside 1987:", [(e["name"], e["state"], e["window_start"], e["window_end"], e["stories"]) for e in odd[:5]])


# ---------------------------------------------------------------------------------- gaps
WORDS = ("harvest port shipment grade arrivals growers exporters council buffer stock quota "
         "price tonnes season crop weather rain traders market auction delivery contract "
         "estimate forecast board premium discount warehouse deficit surplus ministry").split()


def synth_item(rnd, iid, t, term):
    words = [rnd.choice(WORDS) for _ in range(60)]
    words.insert(rnd.randrange(10, 50), term)
    return {"id": iid, "title": " ".join(rnd.choice(WORDS) for _ in range(6)).capitalize(),
            "body": " ".join(words) + ".", "source": "synthetic", "lang": "en",
            "published_at": rfc(t), "url": None}


def cmd_gap(a):
    """Controlled test: a quiet key (cocoa, one story every 8 h) and a busy one (oil, one every
    15 min) for 14 days, then no items at all for G days (stream) or none on the quiet key only
    (key), then a burst of 25 distinct cocoa
    stories in 2 h, on the first day after the stream resumes (at 14:00, the stream having
    resumed at 00:00) or on day 3 or day 8 after it."""
    os.makedirs(a.out, exist_ok=True)
    print("what_stops gap_days resume_day burst_detected delay_min start_stories expected")
    for what, g, day in [(w, g, d) for w in ("stream", "key") for g in [0, 2, 5, 8, 10, 13, 14, 15, 20, 30, 40]
                         for d in [0, 2, 7]]:
        if True:
            rnd = random.Random(SEED + g)
            t = dt.datetime(1987, 3, 1, tzinfo=UTC)
            items = []
            end1 = t + dt.timedelta(days=14)
            resume = end1 + dt.timedelta(days=g)
            stop = resume + dt.timedelta(days=day + 1)
            k = 0
            while t < stop:
                if what == "stream" and end1 <= t < resume:
                    t = resume
                    continue
                items.append(synth_item(rnd, "bg-oil-%d" % k, t, "oil"))
                if k % 32 == 0 and not (end1 <= t < resume):
                    items.append(synth_item(rnd, "bg-cocoa-%d" % k, t + dt.timedelta(minutes=3), "cocoa"))
                k += 1
                t += dt.timedelta(minutes=15)
            t0 = resume + dt.timedelta(days=day, hours=14, minutes=5)
            for i in range(25):
                items.append(synth_item(rnd, "burst-%d" % i, t0 + dt.timedelta(minutes=4.8 * i), "cocoa"))
            items.sort(key=lambda it: it["published_at"])
            ip = os.path.join(a.out, "gap_items.jsonl")
            with open(ip, "w") as f:
                for it in items:
                    f.write(json.dumps(it) + "\n")
            ap = os.path.join(a.out, "gap_alerts.jsonl")
            run_match(ip, ap)
            op = os.path.join(a.out, "gap_out.jsonl")
            rc, err, cmd = run_stories(ap, op, a.extra)
            ev, _ = spikes(op)
            st = [e for e in ev if e["state"] == "start" and e["name"] == "soft.cocoa"
                  and parse_rfc(e["window_end"]) >= t0]
            if st:
                print("%-6s %3d %d  yes  %5.1f  %d  %s" % (what, g, day, (parse_rfc(st[0]["window_end"]) - t0).total_seconds() / 60,
                                                       st[0]["stories"], st[0]["expected"]))
            else:
                print("%-6s %3d %d  no" % (what, g, day))

def cmd_order(a):
    """Controlled test: 14 days of background (oil every 15 min, cocoa every 8 h), then a burst
    of 25 distinct cocoa stories over 2 h, delivered in time order, shuffled within the burst,
    or in reverse; all within the 72 h story window, so none is "late"."""
    os.makedirs(a.out, exist_ok=True)
    print("delivery  rejected  spike  delay_min  max_stories  summary")
    for mode in ("in-order", "shuffled", "reversed", "burst-1h-late-block",
                 "one-item-1h-ahead-before", "one-item-2h-ahead-before", "one-item-3h-ahead-before",
                 "one-item-4h-ahead-before", "one-item-6h-ahead-before", "one-item-23h-ahead-before",
                 "one-item-dated-december"):
        rnd = random.Random(SEED)
        t = dt.datetime(1987, 3, 1, tzinfo=UTC)
        items, k = [], 0
        while t < dt.datetime(1987, 3, 16, tzinfo=UTC):
            items.append(synth_item(rnd, "bg-oil-%d" % k, t, "oil"))
            if k % 32 == 0:
                items.append(synth_item(rnd, "bg-cocoa-%d" % k, t + dt.timedelta(minutes=3), "cocoa"))
            k += 1
            t += dt.timedelta(minutes=15)
        items.sort(key=lambda it: it["published_at"])
        t0 = dt.datetime(1987, 3, 15, 14, 5, tzinfo=UTC)
        burst = [synth_item(rnd, "burst-%02d" % i, t0 + dt.timedelta(minutes=4.8 * i), "cocoa") for i in range(25)]
        if mode == "shuffled":
            rnd.shuffle(burst)
        elif mode == "reversed":
            burst.reverse()
        if mode.startswith("one-item"):
            # a background item just before the burst carries a wrong time: local time written
            # as UTC (Almaty is UTC+5/+6), or a date months ahead (still before --now)
            j = next(i for i, it in enumerate(items) if it["published_at"] > rfc(t0 - dt.timedelta(minutes=10)))
            if mode == "one-item-dated-december":
                wrong = dt.datetime(1987, 12, 30, tzinfo=UTC)
            else:
                wrong = t0 + dt.timedelta(hours=int(mode.split("-")[2][:-1]))
            items[j] = dict(items[j], published_at=rfc(wrong))
            items[j + 1:j + 1] = burst    # the burst arrives after the mis-dated item
        elif mode == "burst-1h-late-block":
            # the burst arrives as one block an hour after its last item (a feed that caught up)
            cut = next(i for i, it in enumerate(items) if it["published_at"] > rfc(t0 + dt.timedelta(hours=3)))
            items[cut:cut] = burst
        else:
            cut = next(i for i, it in enumerate(items) if it["published_at"] > rfc(t0))
            items[cut:cut] = burst
        ip = os.path.join(a.out, "order_items_%s.jsonl" % mode)
        with open(ip, "w") as f:
            for it in items:
                f.write(json.dumps(it) + "\n")
        ap = os.path.join(a.out, "order_alerts.jsonl")
        run_match(ip, ap)
        op = os.path.join(a.out, "order_out_%s.jsonl" % mode)
        rc, err, cmd = run_stories(ap, op, a.extra)
        ev, _ = spikes(op)
        ev = [e for e in ev if e["name"] == "soft.cocoa" and parse_rfc(e["window_end"]) >= t0]
        st = [e for e in ev if e["state"] == "start"]
        print("%-26s rc %d  %s  %s  %s  %s" % (mode, rc, "yes" if st else "no",
              round((parse_rfc(st[0]["window_end"]) - t0).total_seconds() / 60, 1) if st else "-",
              max((e["stories"] for e in ev), default=0), err.strip().split("; window")[0]))


def cmd_sustained(a):
    """Controlled test of "a spike that stays high is not repeated every bucket": 14 days of
    background (oil every 15 min, cocoa every 8 h), then cocoa stories at R an hour for H hours
    (evenly, distinct synthetic texts), or two such episodes with a lull between them."""
    os.makedirs(a.out, exist_ok=True)
    print("episode  starts updates ends  first_start_min  stories_per_event")
    for name, episodes in [("6/h for 12 h", [(0, 12, 6)]), ("3/h for 24 h", [(0, 24, 3)]),
                           ("12/h for 48 h", [(0, 48, 12)]),
                           ("6/h 4 h, lull 3 h, 6/h 4 h", [(0, 4, 6), (7, 4, 6)]),
                           ("6/h 4 h, lull 1 h, 6/h 4 h", [(0, 4, 6), (5, 4, 6)])]:
        rnd = random.Random(SEED)
        t = dt.datetime(1987, 3, 1, tzinfo=UTC)
        items, k = [], 0
        while t < dt.datetime(1987, 3, 19, tzinfo=UTC):
            items.append(synth_item(rnd, "bg-oil-%d" % k, t, "oil"))
            if k % 32 == 0:
                items.append(synth_item(rnd, "bg-cocoa-%d" % k, t + dt.timedelta(minutes=3), "cocoa"))
            k += 1
            t += dt.timedelta(minutes=15)
        t0 = dt.datetime(1987, 3, 15, 9, 2, tzinfo=UTC)
        i = 0
        for start_h, hours, rate in episodes:
            n = hours * rate
            for j in range(n):
                items.append(synth_item(rnd, "burst-%03d" % i, t0 + dt.timedelta(hours=start_h + j / rate), "cocoa"))
                i += 1
        items.sort(key=lambda it: it["published_at"])
        ip = os.path.join(a.out, "sus_items.jsonl")
        with open(ip, "w") as f:
            for it in items:
                f.write(json.dumps(it) + "\n")
        ap = os.path.join(a.out, "sus_alerts.jsonl")
        run_match(ip, ap)
        op = os.path.join(a.out, "sus_out.jsonl")
        rc, err, cmd = run_stories(ap, op, a.extra)
        ev, _ = spikes(op)
        ev = [e for e in ev if e["scope"] == "rule" and e["name"] == "soft.cocoa" and parse_rfc(e["window_end"]) >= t0]
        c = collections.Counter(e["state"] for e in ev)
        st = [e for e in ev if e["state"] == "start"]
        print("%-28s %d %d %d  %s  %s" % (name, c["start"], c["update"], c["end"],
              round((parse_rfc(st[0]["window_end"]) - t0).total_seconds() / 60, 1) if st else "-",
              " ".join("%s:%d@%s" % (e["state"][0], e["stories"], e["window_end"][5:16]) for e in ev)))


def background(rnd, until, prefix="bg"):
    t, items, k = dt.datetime(1987, 3, 1, tzinfo=UTC), [], 0
    while t < until:
        items.append(synth_item(rnd, "%s-oil-%d" % (prefix, k), t, "oil"))
        if k % 32 == 0:
            items.append(synth_item(rnd, "%s-cocoa-%d" % (prefix, k), t + dt.timedelta(minutes=3), "cocoa"))
        k += 1
        t += dt.timedelta(minutes=15)
    return items


def cmd_kafkats(a):
    """What the stage does with origin.timestamp_ms (the Kafka timestamp) next to published_at.
    (1) 14.5 days of synthetic history with a 25-story burst, every alert given one Kafka
    timestamp (an archive produced at once, as `steppewatchd --demo` does): which published_at
    are believed (story.first_seen equals it) and are there spikes. (2) A backfill: after 14.5
    days of live alerts (Kafka timestamp = published_at), 12 cocoa and 60 oil items published
    4-6 days earlier arrive now (a poller catching up, a feed re-sent), with the Kafka timestamp
    of now, against the same items carrying their own time as Kafka timestamp."""
    os.makedirs(a.out, exist_ok=True)
    rnd = random.Random(SEED)
    items = background(rnd, dt.datetime(1987, 3, 16, tzinfo=UTC))
    t0 = dt.datetime(1987, 3, 15, 14, 5, tzinfo=UTC)
    items += [synth_item(rnd, "burst-%02d" % i, t0 + dt.timedelta(minutes=4.8 * i), "cocoa") for i in range(25)]
    items.sort(key=lambda it: it["published_at"])
    T = parse_rfc(items[-1]["published_at"]) + dt.timedelta(minutes=1)
    back = [synth_item(rnd, "backfill-cocoa-%d" % i, T - dt.timedelta(days=4 + 2 * rnd.random()), "cocoa") for i in range(12)]
    back += [synth_item(rnd, "backfill-oil-%d" % i, T - dt.timedelta(days=4 + 2 * rnd.random()), "oil") for i in range(60)]
    ip, ap = os.path.join(a.out, "kts_items.jsonl"), os.path.join(a.out, "kts_alerts.jsonl")
    with open(ip, "w") as f:
        for it in items + back:
            f.write(json.dumps(it) + "\n")
    run_match(ip, ap)
    rows = [json.loads(l) for l in open(ap)]
    cases = {
        "published_at only (timestamp_ms -1)": lambda d: -1,
        "Kafka ts = published_at + 20 days for each": lambda d: parse_rfc(d["item"]["published_at"]) + dt.timedelta(days=20),
        "one Kafka ts for all (archive produced at once)": lambda d: T,
        "live, then the backfill with Kafka ts = its own published_at": lambda d: parse_rfc(d["item"]["published_at"]),
        "live, then the backfill with Kafka ts = now": lambda d: T if d["item"]["id"].startswith("backfill") else parse_rfc(d["item"]["published_at"]),
    }
    for name, ts in cases.items():
        sel = rows if "backfill" in name else [d for d in rows if not d["item"]["id"].startswith("backfill")]
        inp = os.path.join(a.out, "kts_in.jsonl")
        with open(inp, "w") as f:
            for d in sel:
                d = json.loads(json.dumps(d))
                v = ts(d)
                d["origin"]["timestamp_ms"] = v if v == -1 else int(v.timestamp() * 1000)
                f.write(json.dumps(d) + "\n")
        op = os.path.join(a.out, "kts_out.jsonl")
        rc, err, cmd = run_stories(inp, op, a.extra)
        ev, _ = spikes(op)
        out = [json.loads(l) for l in open(op) if '"story"' in l]
        believed = [d for d in out if d["story"]["new"] and d["story"]["first_seen"][:19] == d["item"]["published_at"][:19]]
        new = [d for d in out if d["story"]["new"]]
        print("== %s: %s" % (name, err.strip().split("; window")[0]))
        print("   new stories whose first_seen is their published_at: %d of %d" % (len(believed), len(new)))
        for e in ev:
            if e["state"] == "start":
                print("   start %s %s window %s..%s stories %d expected %.2f" % (
                    e["scope"], e["name"], e["window_start"][5:16], e["window_end"][5:16], e["stories"], e["expected"]))


def cmd_summary(a):
    """One line per run (result_*.json in --out): the figures the brief asks for."""
    import glob
    keys = sorted({r for _, _, r in PLAN})
    print("| run | options | distinct bursts detected (rule) | outside a re-warm-up | 1-lang / 2-lang | delay min (median, max) | burst items at detection (median) | 2-lang confirmed | repeated starts | copy bursts with a rule start | copy bursts with a tag start | clean: starts on the 10 injected quiet rules | clean: starts per key-week, quiet rules | clean: all keys (rules+tags) starts per key-week |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(glob.glob(os.path.join(a.out, "result_*.json")), key=os.path.getmtime):
        r = json.load(open(path))
        # a burst whose key's pool ran out (fewer than 20 distinct items) is not a burst of 25
        short = [x for x in r["injections"] if x["kind"] == "distinct" and x["items"] < 20]
        d = [x for x in r["injections"] if x["kind"] == "distinct" and x["items"] >= 20]
        c = [x for x in r["injections"] if x["kind"] == "copies"]
        det = [x for x in d if x["rule_starts"]]
        ok = [x for x in d if not x.get("rewarm")]
        one = sum(1 for x in det if len(x["langs_actual"]) == 1)
        two = sum(1 for x in det if len(x["langs_actual"]) > 1)
        n1 = sum(1 for x in d if len(x["langs_actual"]) == 1)
        delays = sorted(x["rule_delay_min"] for x in det)
        items_at = sorted(x["rule_items_by_detection"] for x in det)
        conf = sum(1 for x in det if len(x["langs_actual"]) > 1 and x["rule_confirmed"])
        rep = sum(1 for x in r["injections"] if x["rule_starts"] > 1)
        cl = r["clean"]
        quiet = sum(v for k, v in cl["starts"].items() if k.split(":", 1)[1] in keys and k.startswith("rule:"))
        nkeys = 22 + 10  # rules and tags of the pack
        allstarts = sum(cl["starts"].values())
        print("| %s | %s | %d/%d | %d/%d | %d/%d, %d/%d | %s, %s | %s | %d/%d | %d | %d/%d | %d/%d | %d | %.3f | %.3f |" % (
            r["label"], " ".join(r["options"]) or "defaults", len(det), len(d),
            sum(1 for x in ok if x["rule_starts"]), len(ok), one, n1, two, len(d) - n1,
            delays[len(delays) // 2] if delays else "-", delays[-1] if delays else "-",
            items_at[len(items_at) // 2] if items_at else "-", conf, two, rep,
            sum(1 for x in c if x["rule_starts"]), len(c), sum(1 for x in c if x["tag_starts"]), len(c),
            quiet, quiet / (len(keys) * cl["span_weeks"]), allstarts / (nkeys * cl["span_weeks"])))
        for x in short:
            print("|  | left out: burst %d on %s has only %d items (%s) |" % (
                x["n"], x["key"], x["items"], "started a spike" if x["rule_starts"] else "no spike"))
        for kind in ("distinct-medium", "copies-short", "copies-ru"):
            e = [x for x in r["injections"] if x["kind"] == kind]
            if e:
                det = [x for x in e if x["rule_starts"]]
                dl = sorted(x["rule_delay_min"] for x in det)
                print("|  | %s: %d/%d with a rule start (%d outside a re-warm-up: %d/%d)%s; stories per burst %s |" % (
                    kind, len(det), len(e), len([x for x in e if not x.get("rewarm")]),
                    sum(1 for x in e if x["rule_starts"] and not x.get("rewarm")), len([x for x in e if not x.get("rewarm")]),
                    ", delay median %s max %s" % (dl[len(dl) // 2], dl[-1]) if dl else "",
                    sorted(x["story_ids"] for x in e)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["build", "run", "badinput", "gap", "summary", "order", "sustained", "kafkats"])
    p.add_argument("--out", default="/tmp/blinds")
    p.add_argument("--label", default="defaults")
    p.add_argument("--seed", type=int, default=SEED, help="build: the seed of the timeline and injections")
    p.add_argument("--arrival-delay", type=float, default=0,
                   help="run: feed the alerts in arrival order, each delayed by an exponential "
                        "of this mean (minutes), as a live stage would see them")
    p.add_argument("--extended", action="store_true",
                   help="build: also 8 distinct bursts on medium keys and 8 copy bursts of short items")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    a = p.parse_args(argv)
    a.extra = extra  # steppewatch stories options, after --
    load_tags()
    {"build": cmd_build, "run": cmd_run, "badinput": cmd_badinput, "gap": cmd_gap, "summary": cmd_summary, "order": cmd_order, "sustained": cmd_sustained, "kafkats": cmd_kafkats}[a.cmd](a)


if __name__ == "__main__":
    main()

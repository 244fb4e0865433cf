#!/usr/bin/python3
"""Second independent blind generator of syndicated copies for steppewatch's stories stage.

gen  --seed N --out DIR [--hard]   write DIR/items.jsonl and DIR/truth.jsonl
eval --dir DIR                     read DIR/truth.jsonl + DIR/stories.jsonl, write DIR/eval.md,
                                   DIR/misses.jsonl, DIR/false_pairs.jsonl

Standard library only.  Built from a model of real-world syndication (wire -> outlets -> outlets
copying outlets), not from the product's implementation.
"""
import argparse
import collections
import copy as copymod
import datetime as dt
import hashlib
import json
import math
import os
import random
import re
import sys
import unicodedata

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      '../../../shared/corpus/news-bench.jsonl')
UTC = dt.timezone.utc

# --------------------------------------------------------------------------------------------
# corpus
# --------------------------------------------------------------------------------------------

def kind_of(cid):
    p = cid.split('-')[0]
    return {'reuters21578': 'reuters', 'bbc': 'bbc', 'agnews': 'agnews', 'nerel': 'ru',
            'factru': 'ru', 'rusentrel': 'ru', 'bri': 'zh', 'kaznerd': 'kk'}[p]


def parse_reuters_time(s):
    try:
        return dt.datetime.strptime(s.strip().split('.')[0], '%d-%b-%Y %H:%M:%S').replace(tzinfo=UTC)
    except Exception:
        return None


def ws(s):
    return re.sub(r'[ \t\r\n]+', ' ', s).strip()


def paras_of(d):
    k = kind_of(d['id'])
    b = d['body'] or ''
    if k == 'reuters':
        ps = [ws(p) for p in re.split(r'\n {3,}', b)]
    elif k == 'zh':
        ps = [p.strip() for p in re.split(r'\s+', b)]
    elif k in ('kk', 'agnews'):
        ps = [ws(b)]
    else:
        ps = [ws(p) for p in (re.split(r'\n\s*\n', b) if '\n\n' in b else b.split('\n'))]
    return [p for p in ps if p]


# --------------------------------------------------------------------------------------------
# sentence tools
# --------------------------------------------------------------------------------------------
EN_ABBR = re.compile(r'\b(Co|Inc|Corp|Ltd|Mr|Mrs|Dr|St|No|Jan|Feb|Mar|Apr|Aug|Sept|Oct|Nov|Dec|U\.S|[A-Z])\.$')


def split_sents(p, lang):
    if lang == 'zh':
        parts = re.split(r'(?<=[。！？；])(?![”’」』）])|(?<=[。！？][”’」』])', p)
    elif lang == 'en':
        raw = re.split(r'(?:(?<=[.!?])|(?<=[.!?]["\'”’)]))\s+(?=["“(]?[A-Z0-9])', p)
        parts = []
        for x in raw:
            if parts and EN_ABBR.search(parts[-1]):
                parts[-1] += ' ' + x
            else:
                parts.append(x)
    else:
        parts = re.split(r'(?<=[.!?…])\s+(?=[«"“„(—–-]?\s?[А-ЯЁӘҒҚҢӨҰҮҺІA-Z0-9])', p)
    return [s for s in (x.strip() for x in parts if x) if s]


def join_sents(ss, lang):
    return ('' if lang == 'zh' else ' ').join(ss)


def words_of(s):
    return re.findall(r'\w+', s.lower())


def shingles(text, lang):
    if lang == 'zh':
        cs = [c for c in text if not c.isspace()]
        return set(''.join(cs[i:i + 3]) for i in range(max(1, len(cs) - 2)))
    w = words_of(text)
    return set(' '.join(w[i:i + 3]) for i in range(max(1, len(w) - 2)))


def jaccard(a, b):
    if not a and not b:
        return 1.0
    return len(a & b) / max(1, len(a | b))


# --------------------------------------------------------------------------------------------
# outlets: house styles, per language
# --------------------------------------------------------------------------------------------
# kind: newspaper | portal | aggregator | teaser | tv | telegram | terminal
# tz: UTC offset in hours used in published_at
EN_OUTLETS = [
    ('The Boston Globe', 'newspaper', -5), ('Chicago Tribune', 'newspaper', -6),
    ('Houston Chronicle', 'newspaper', -6), ('The Globe and Mail', 'newspaper', -5),
    ('The Guardian', 'newspaper', 0), ('Financial Post', 'newspaper', -5),
    ('The Straits Times', 'newspaper', 8), ('Gulf News', 'newspaper', 4),
    ('Yahoo News', 'portal', -8), ('MSN Money', 'portal', -8), ('Nasdaq.com', 'portal', -5),
    ('Investing.com', 'portal', 0), ('The Economic Times', 'portal', 5.5),
    ('NewsNow', 'aggregator', 0), ('Inoreader feed', 'aggregator', 0), ('Ground News', 'aggregator', -5),
    ('MarketScreener', 'teaser', 1), ('Morningstar', 'teaser', -6), ('Business Insider', 'teaser', -5),
    ('CNBC', 'tv', -5), ('Sky News', 'tv', 0), ('WTOP', 'tv', -5),
    ('Markets Now (Telegram)', 'telegram', 0),
    ('Dow Jones Newswires', 'terminal', -5), ('Kyodo Business Wire', 'terminal', 9),
]
RU_OUTLETS = [
    ('Коммерсантъ', 'newspaper', 3), ('Российская газета', 'newspaper', 3),
    ('Вечерняя Казань', 'newspaper', 3), ('Новосибирские новости', 'newspaper', 7),
    ('Lenta.ru', 'portal', 3), ('Газета.Ru', 'portal', 3), ('NGS.ru', 'portal', 7),
    ('Фонтанка.ру', 'portal', 3), ('E1.ru', 'portal', 5),
    ('Яндекс Дзен', 'aggregator', 3), ('Рамблер/новости', 'aggregator', 3), ('Mail.ru Новости', 'aggregator', 3),
    ('ТАСС Телеграм', 'telegram', 3), ('Mash', 'telegram', 3), ('Readovka', 'telegram', 3),
    ('РБК', 'teaser', 3), ('Вести.Ru', 'tv', 3), ('НТВ', 'tv', 3),
    ('Интерфакс-Лента', 'terminal', 3), ('Прайм', 'terminal', 3),
]
KK_OUTLETS = [
    ('Kazinform', 'portal', 6), ('Egemen Qazaqstan', 'newspaper', 6), ('Ana tili', 'newspaper', 6),
    ('Aikyn', 'newspaper', 6), ('Baq.kz', 'portal', 6), ('Tengrinews KZ', 'portal', 6),
    ('Qamshy', 'aggregator', 6), ('Abai.kz', 'aggregator', 6), ('Khabar 24', 'tv', 6),
    ('31 arna', 'tv', 6), ('Kazinform Telegram', 'telegram', 6), ('Orda.kz Telegram', 'telegram', 5),
    ('Atyrau aqshamy', 'newspaper', 5), ('Ult.kz', 'portal', 6),
]
ZH_OUTLETS = [
    ('人民网', 'portal', 8), ('新浪新闻', 'portal', 8), ('搜狐', 'portal', 8), ('网易新闻', 'portal', 8),
    ('凤凰网', 'portal', 8), ('中国日报网', 'portal', 8), ('光明网', 'newspaper', 8),
    ('经济日报', 'newspaper', 8), ('新疆日报', 'newspaper', 8), ('央视新闻', 'tv', 8),
    ('今日头条', 'aggregator', 8), ('微信公众号·丝路观察', 'teaser', 8), ('澎湃新闻', 'newspaper', 8),
    ('中国一带一路网', 'portal', 8),
]
OUTLETS = {'en': EN_OUTLETS, 'ru': RU_OUTLETS, 'kk': KK_OUTLETS, 'zh': ZH_OUTLETS}

# one house style per outlet, derived deterministically from its name (stable across seeds)

def house(name, lang, kind):
    h = random.Random('house:' + name)
    st = {'name': name, 'lang': lang, 'kind': kind}
    st['join'] = h.choice(['\n\n', '\n\n', '\n', '\r\n\r\n']) if lang != 'zh' else h.choice(['\n', '\n\n', ' ', '\n　　'])
    if kind == 'terminal':
        st['join'] = 'wrap'
    st['dateline_fmt'] = h.randrange(6)
    st['byline_fmt'] = h.randrange(5)
    st['footer_fmt'] = h.randrange(8)
    st['quotes'] = h.choice(['straight', 'curly', 'keep', 'keep']) if lang == 'en' else h.choice(['guillemets', 'straight', 'lowhigh', 'keep']) if lang in ('ru', 'kk') else h.choice(['keep', 'corner', 'straight'])
    st['dash'] = h.choice(['keep', 'em', 'hyphen', 'en'])
    st['entities'] = h.random() < (0.6 if kind in ('aggregator', 'portal') else 0.15)
    st['nbsp'] = h.random() < (0.5 if lang == 'ru' else 0.2)
    st['nfd'] = h.random() < 0.12
    st['softhyphen'] = h.random() < 0.08
    st['zwsp'] = h.random() < 0.06
    st['yo'] = h.random() < 0.5  # ru: ё -> е
    st['kk_latin_i'] = h.random() < 0.25
    st['fullwidth'] = h.choice(['none', 'to_full', 'to_half', 'none'])
    st['numbers'] = h.choice(['keep', 'space', 'nosep', 'thin'])
    st['style'] = h.random() < (0.7 if kind in ('newspaper', 'tv') else 0.3)  # house style for units/abbrev
    st['hl_case'] = h.choice(['title', 'sentence', 'upper', 'keep']) if lang == 'en' else h.choice(['keep', 'keep', 'upper'])
    st['hl_suffix'] = h.random() < 0.35
    st['emoji'] = h.choice(['⚡️', '❗️', '🔴', '📌', '⚡', '🇰🇿', '🌍'])
    st['channel'] = '@' + re.sub(r'\W+', '', name.lower().encode('ascii', 'ignore').decode() or 'news') + h.choice(['', '_news', 'news', '24'])
    st['domain'] = re.sub(r'[^a-z0-9]+', '', name.lower().encode('ascii', 'ignore').decode()) or 'news' + str(h.randrange(99))
    return st


# --------------------------------------------------------------------------------------------
# language data: datelines, bylines, footers, inserted paragraphs
# --------------------------------------------------------------------------------------------
EN_MONTH = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December']
AP_MONTH = ['Jan.', 'Feb.', 'March', 'April', 'May', 'June', 'July', 'Aug.', 'Sept.', 'Oct.', 'Nov.', 'Dec.']
RU_MONTH = ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября', 'ноября', 'декабря']
RU_MON3 = ['янв', 'фев', 'мар', 'апр', 'мая', 'июн', 'июл', 'авг', 'сен', 'окт', 'ноя', 'дек']
KK_MONTH = ['қаңтар', 'ақпан', 'наурыз', 'сәуір', 'мамыр', 'маусым', 'шілде', 'тамыз', 'қыркүйек', 'қазан', 'қараша', 'желтоқсан']
PLACE_CITY = {'usa': ['NEW YORK', 'WASHINGTON', 'CHICAGO', 'HOUSTON', 'SAN FRANCISCO'], 'uk': ['LONDON'],
              'japan': ['TOKYO'], 'west-germany': ['FRANKFURT', 'BONN'], 'france': ['PARIS'],
              'canada': ['TORONTO', 'OTTAWA'], 'brazil': ['RIO DE JANEIRO', 'BRASILIA'], 'australia': ['SYDNEY'],
              'hong-kong': ['HONG KONG'], 'switzerland': ['ZURICH', 'GENEVA'], 'netherlands': ['AMSTERDAM'],
              'belgium': ['BRUSSELS'], 'italy': ['ROME', 'MILAN'], 'china': ['PEKING'], 'ussr': ['MOSCOW'],
              'argentina': ['BUENOS AIRES'], 'mexico': ['MEXICO CITY'], 'singapore': ['SINGAPORE'],
              'south-africa': ['JOHANNESBURG'], 'india': ['NEW DELHI'], 'saudi-arabia': ['RIYADH']}
RU_CITY = ['МОСКВА', 'САНКТ-ПЕТЕРБУРГ', 'МОСКВА', 'МОСКВА', 'ЕКАТЕРИНБУРГ', 'НОВОСИБИРСК', 'КАЗАНЬ']
KK_CITY = ['АСТАНА', 'АЛМАТЫ', 'АСТАНА', 'ШЫМКЕНТ', 'АТЫРАУ', 'ҚАРАҒАНДЫ', 'АҚТӨБЕ']
ZH_CITY = ['北京', '北京', '上海', '乌鲁木齐', '阿斯塔纳', '莫斯科', '伊斯兰堡']
EN_NAMES = ['Jane Morris', 'David Chen', 'Lisa Hartmann', 'Tom Okafor', 'Anna Petrova', 'Michael Reyes', 'Sarah Whitfield', 'Raj Mehta']
RU_NAMES = ['Иван Петров', 'Анна Смирнова', 'Ольга Кузнецова', 'Дмитрий Соколов', 'Алексей Ёлкин', 'Мария Фёдорова']
KK_NAMES = ['Айгүл Сейітқызы', 'Ерлан Жұмабаев', 'Динара Әбілқасымова', 'Нұрлан Омаров', 'Гүлнар Төлеуова']
ZH_NAMES = ['王明', '李华', '张伟', '刘洋', '陈静', '杨帆', '赵磊']


def en_dateline(st, city, t, h):
    f = st['dateline_fmt']
    m, d = EN_MONTH[t.month - 1], t.day
    return [f'{city}, {m} {d} (Reuters) - ', f'{city} (Reuters) - ', f'{city}, {AP_MONTH[t.month-1]} {d} — ',
            f'{city.title()} — ', '(Reuters) - ', f'{city}, {m} {d} - '][f]


def ru_dateline(st, city, t, agency):
    f = st['dateline_fmt']
    return [f'{city}, {t.day} {RU_MONTH[t.month-1]}. /{agency}/. ', f'{city}, {t.day} {RU_MON3[t.month-1]} — РИА Новости. ',
            f'{city.title()}. {t.day} {RU_MONTH[t.month-1]}. INTERFAX.RU — ', f'{t.day} {RU_MONTH[t.month-1]} {t.year}, {t.hour:02d}:{t.minute:02d} — ',
            f'{city.title()}, {t.day} {RU_MONTH[t.month-1]} — ', f'{city}, {t.day}.{t.month:02d}.{t.year}. '][f]


def kk_dateline(st, city, t):
    f = st['dateline_fmt']
    return [f'{city}. ҚазАқпарат - ', f'{city.title()}. {t.day} {KK_MONTH[t.month-1]}. ҚазАқпарат – ', f'{city}. KAZINFORM – ',
            f'{city.title()}, {t.day} {KK_MONTH[t.month-1]}. Хабар 24. ', f'{city}. Kazinform — ', f'{city.title()}. '][f]


def zh_dateline(st, city, t):
    f = st['dateline_fmt']
    n = random.Random(st['name']).choice(ZH_NAMES)
    return [f'新华社{city}{t.month}月{t.day}日电（记者{n}）', f'人民网{city}{t.month}月{t.day}日电 （记者 {n}）',
            f'中新网{t.month}月{t.day}日电 ', '央视网消息：', f'本报{city}{t.month}月{t.day}日电 ', f'【{st["name"]}{t.month}月{t.day}日讯】'][f]


def byline(st, lang, h):
    f = st['byline_fmt']
    if lang == 'en':
        n = h.choice(EN_NAMES)
        return [f'By {n}', f'By {n}, Reuters', 'By Reuters Staff', f'{n} | Reuters', f'From Reuters | {n}'][f]
    if lang == 'ru':
        n = h.choice(RU_NAMES)
        return [f'Автор: {n}', f'Текст: {n}', f'{n}, корреспондент', f'Фото: ТАСС/{n}', f'Материал подготовила {n}'][f]
    if lang == 'kk':
        n = h.choice(KK_NAMES)
        return [f'Автор: {n}', f'Фото: ашық дереккөздерден', f'{n}, тілші', f'Суретті түсірген: {n}', f'Авторы: {n}'][f]
    n = h.choice(ZH_NAMES)
    return [f'记者 {n}', f'（记者 {n}）', f'文/{n}', f'作者：{n}', f'本报记者 {n}'][f]


def footer(st, lang, h, other_title):
    f = st['footer_fmt']
    dom = st['domain']
    if lang == 'en':
        n1, n2 = h.sample(EN_NAMES, 2)
        return [[f'(Reporting by {n1}; Editing by {n2})'], ['Copyright 1987 Reuters Limited. All rights reserved.'],
                ['Reuter'], [f'-- {n1}, Reuters'], ['Our Standards: The Thomson Reuters Trust Principles.'],
                [f'Related: {other_title}', 'Sign up for our daily newsletter.'],
                ['Distributed by Tribune Media Services.'], [f'Contributing: {n1}', '© 1987 Reuters']][f]
    if lang == 'ru':
        return [['Источник: ТАСС'], ['При полном или частичном использовании материалов ссылка на ' + st['name'] + ' обязательна.'],
                [f'Читайте также: {other_title}'], ['Подписывайтесь на наш канал в Telegram'],
                ['Если вы нашли ошибку, пожалуйста, выделите фрагмент текста и нажмите Ctrl+Enter.'],
                ['Новости партнёров', f'Читайте также: {other_title}'], ['Источник: РИА Новости'], ['©  ' + st['name']]][f]
    if lang == 'kk':
        return [['Ақпарат көзі: Kazinform'], [f'Толығырақ: https://{dom}.kz/kz/news'], ['Бізді Telegram-да оқыңыз!'],
                [f'Сондай-ақ оқыңыз: {other_title}'], ['Материалды көшіріп басқанда сілтеме міндетті.'],
                ['Жаңалықтарды Instagram парақшамыздан оқыңыз'], ['Дереккөз: Хабар 24'], ['Фото: ашық дереккөздерден']][f]
    n = h.choice(ZH_NAMES)
    return [['（完）'], [f'责任编辑：{n}'], ['来源：新华网'], [f'【纠错】 【责任编辑：{n}】'],
            ['声明：转载此文是出于传递更多信息之目的。若有来源标注错误或侵犯了您的合法权益，请作者持权属证明与本网联系，我们将及时更正、删除，谢谢。'],
            ['本文来源：人民日报', f'编辑：{n}'], ['扫一扫在手机打开当前页'], [f'相关阅读：{other_title}']][f]


def insert_line(lang, h, other_title, other_sent):
    """A line an outlet adds inside the text."""
    if lang == 'en':
        return h.choice([('related', f'Related: {other_title}'), ('related', f'READ MORE: {other_title}'),
                         ('ad', 'Advertisement'), ('ad', 'Story continues below advertisement'),
                         ('caption', 'FILE PHOTO: A general view of the company headquarters. REUTERS/' + h.choice(EN_NAMES)),
                         ('note', '[Editor\'s note: This story has been updated with additional details.]'),
                         ('background', 'Separately, ' + other_sent[:1].lower() + other_sent[1:] if other_sent else 'Advertisement'),
                         ('background', 'The company did not immediately respond to a request for comment.'),
                         ('social', 'Follow us on Twitter for the latest business news.')])
    if lang == 'ru':
        return h.choice([('related', f'Читайте также: {other_title}'), ('related', f'По теме: {other_title}'),
                         ('ad', 'Реклама'), ('caption', 'Фото: © РИА Новости / ' + h.choice(RU_NAMES)),
                         ('note', '[Материал дополнен в 14:35]'),
                         ('background', 'Напомним, ранее ' + (other_sent[:1].lower() + other_sent[1:] if other_sent else 'об этом сообщали СМИ.')),
                         ('background', 'Ранее об этом сообщали федеральные СМИ.'),
                         ('social', 'Больше новостей — в нашем Telegram-канале.')])
    if lang == 'kk':
        return h.choice([('related', f'Сондай-ақ оқыңыз: {other_title}'), ('ad', 'Жарнама'),
                         ('caption', 'Фото: Kazinform / ' + h.choice(KK_NAMES)),
                         ('background', 'Еске сала кетейік, бұған дейін ' + (other_sent[:1].lower() + other_sent[1:] if other_sent else 'бұл туралы хабарланған еді.')),
                         ('social', 'Жаңалықтарды Telegram арнамыздан оқыңыз.')])
    return h.choice([('related', f'相关阅读：{other_title}'), ('ad', '广告'), ('caption', '（图片来源：新华社）'),
                     ('caption', f'图为项目现场。新华社记者{h.choice(ZH_NAMES)}摄'), ('note', '（本文为编者按）'),
                     ('background', '据了解，' + (other_sent or '该项目进展顺利。')), ('social', '点击关注，获取更多资讯')])


def read_more(lang, st, h):
    dom = st['domain']
    slug = '%08x' % h.getrandbits(32)
    if lang == 'en':
        return h.choice([f'Read more at {st["name"]}.', f'Read more: https://www.{dom}.com/news/{slug}', 'Continue reading...',
                         'Subscribe to continue reading.', f'Full story: https://{dom}.com/a/{slug}'])
    if lang == 'ru':
        return h.choice([f'Подробнее: https://{dom}.ru/news/{slug}', 'Читать далее →', f'Подробнее на сайте {st["name"]}',
                         'Полный текст — по ссылке в профиле.'])
    if lang == 'kk':
        return h.choice([f'Толығырақ: https://{dom}.kz/kz/{slug}', 'Толық оқу →', f'Толығырақ {st["name"]} сайтында.'])
    return h.choice(['阅读原文', f'点击阅读全文：https://www.{dom}.cn/{slug}.html', '（未完待续）', '更多详情请点击'])


# --------------------------------------------------------------------------------------------
# house style (units, abbreviations, numbers) and typography
# --------------------------------------------------------------------------------------------
EN_STYLE = [(r'\bpct\b', ['percent', 'per cent', '%']), (r'\bmln\b', ['million', 'mln']), (r'\bbln\b', ['billion']),
            (r'\bdlrs\b', ['dollars', 'dlrs']), (r'\bcts\b', ['cents']), (r'\bU\.S\.', ['US', 'U.S.']),
            (r'\bshr\b', ['share']), (r'\bqtr\b', ['quarter']), (r'\bvs\b', ['versus', 'compared with']),
            (r'\bkms?\b', ['kilometres', 'kilometers']), (r'\bJan\b', ['January']), (r'\bFeb\b', ['February']),
            (r'\bMarch\b', ['March']), (r'\bpct\.', ['percent.'])]
RU_STYLE = [(r'\bмлн\b', ['миллионов', 'млн.']), (r'\bмлрд\b', ['миллиардов', 'млрд.']), (r'%', [' процентов', ' %']),
            (r'\bтыс\.', ['тысяч']), (r'\bкм\b', ['километров']), (r'\bдолларов\b', ['долл.', '$']),
            (r'\bг\.', ['года']), (r'\bРФ\b', ['России'])]
KK_STYLE = [(r'\bмлн\b', ['миллион']), (r'\bмлрд\b', ['миллиард']), (r'%', [' пайыз', ' %']), (r'\bтеңге\b', ['тг', 'теңге']),
            (r'\bкм\b', ['шақырым']), (r'\bжылы\b', ['ж.']), (r'\bҚР\b', ['Қазақстан Республикасы'])]
ZH_STYLE = [(r'(\d+(?:\.\d+)?)%', [r'百分之\1', r'\1％']), (r'公里', ['千米']), (r'千瓦时', ['度']), (r'美元', ['美金'])]


def apply_style(s, lang, h):
    table = {'en': EN_STYLE, 'ru': RU_STYLE, 'kk': KK_STYLE, 'zh': ZH_STYLE}[lang]
    for pat, reps in table:
        rep = h.choice(reps)
        s = re.sub(pat, lambda m: m.expand(rep) if '\\' in rep else rep, s)
    return re.sub(r'  +', ' ', s)


def fmt_numbers(s, how, lang):
    if how == 'keep':
        return s
    if lang == 'en' or lang == 'zh':
        pat = r'(?<![\d.,])(\d{1,3})((?:,\d{3})+)(?![\d,])'
        sep = {'space': ' ', 'nosep': '', 'thin': '\u2009'}[how]
        return re.sub(pat, lambda m: m.group(1) + m.group(2).replace(',', sep), s)
    # ru/kk: "1 000" / "1\xa0000" / "1000" and decimal comma
    pat = r'(?<![\d])(\d{1,3})((?:[ \xa0]\d{3})+)(?!\d)'
    sep = {'space': '\xa0', 'nosep': '', 'thin': '\u202f'}[how]
    s = re.sub(pat, lambda m: m.group(1) + re.sub(r'[ \xa0]', sep, m.group(2)), s)
    if how == 'nosep':
        s = re.sub(r'(?<=\d),(?=\d)', '.', s)
    return s


ENT = {'&': '&amp;', '\xa0': '&nbsp;', '"': '&quot;', "'": '&#39;', '—': '&mdash;', '«': '&laquo;', '»': '&raquo;', '–': '&#8211;'}

FW = {c: chr(ord(c) + 0xFEE0) for c in '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'}
ZH_PUNCT_HALF = {'，': ', ', '：': ': ', '（': '(', '）': ')', '；': '; ', '！': '! ', '？': '? '}
ZH_PUNCT_FULL = {',': '，', ':': '：', '(': '（', ')': '）', ';': '；'}


def typography(s, st, lang, h, rec):
    """Apply the outlet's typography to one string; rec collects what was applied."""
    q = st['quotes']
    if q == 'straight':
        s2 = re.sub(r'[«»“”„]', '"', s).replace('’', "'")
    elif q == 'curly' and lang == 'en':
        s2 = re.sub(r'"(\S[^"]*?)"', r'“\1”', s).replace("'", '’')
    elif q == 'guillemets':
        s2 = re.sub(r'[“„]([^”“]*?)[”“]', r'«\1»', re.sub(r'"([^"]*?)"', r'«\1»', s))
    elif q == 'lowhigh':
        s2 = re.sub(r'«([^»]*?)»', r'„\1“', s)
    elif q == 'corner':
        s2 = re.sub(r'“([^”]*?)”', r'「\1」', s)
    else:
        s2 = s
    if s2 != s:
        rec.add('quotes')
    s = s2
    d = st['dash']
    s2 = s
    if d == 'em':
        s2 = re.sub(r' (--|–|-) ', ' — ', s)
    elif d == 'hyphen':
        s2 = re.sub(r' (—|–|--) ', ' - ', s).replace('\xa0— ', ' - ')
    elif d == 'en':
        s2 = re.sub(r' (—|--|-) ', ' – ', s).replace('\xa0— ', '\xa0– ')
    if s2 != s:
        rec.add('dashes')
    s = s2
    if lang == 'ru' and st['yo'] and 'ё' in s.lower():
        s = s.replace('ё', 'е').replace('Ё', 'Е')
        rec.add('yo_e')
    if lang == 'kk' and st['kk_latin_i'] and ('і' in s or 'І' in s):
        s = s.replace('і', 'i').replace('І', 'I')
        rec.add('kk_latin_i')
    if st['numbers'] != 'keep':
        s2 = fmt_numbers(s, st['numbers'], lang)
        if s2 != s:
            rec.add('numbers')
        s = s2
    if lang == 'zh':
        if st['fullwidth'] == 'to_full':
            s2 = re.sub(r'&#?\w+;|[0-9]', lambda m: m.group(0) if len(m.group(0)) > 1 else FW[m.group(0)], s)
            s2 = re.sub(r'(?<=[\u4e00-\u9fff])[,:;()](?=.)', lambda m: ZH_PUNCT_FULL[m.group(0)], s2)
        elif st['fullwidth'] == 'to_half':
            s2 = ''.join(ZH_PUNCT_HALF.get(c, c) for c in s)
            s2 = ''.join(chr(ord(c) - 0xFEE0) if 0xFF10 <= ord(c) <= 0xFF5A else c for c in s2)
        else:
            s2 = s
        if s2 != s:
            rec.add('fullwidth')
        s = s2
    if st['nbsp'] and lang != 'zh':
        if lang == 'en':  # English CMSs: between a number and its unit, before a dash
            s2 = re.sub(r'(\d) (pct|mln|dlrs|billion|million|percent|cts)\b', '\\1\xa0\\2', s)
        else:  # Russian/Kazakh typographers: after short words
            s2 = re.sub(r'(?<=\s)(\w{1,2}) ', lambda m: m.group(1) + '\xa0', s)
        s2 = re.sub(r' (—|–)', '\xa0\\1', s2)
        if s2 != s:
            rec.add('nbsp')
        s = s2
    if st['softhyphen'] and lang != 'zh':
        s2 = re.sub(r'(\w{5})(\w{5,})', lambda m: m.group(1) + '\u00ad' + m.group(2) if h.random() < 0.15 else m.group(0), s)
        if s2 != s:
            rec.add('soft_hyphen')
        s = s2
    if st['zwsp']:
        s2 = re.sub(r'([/,.:])(?=\S)', lambda m: m.group(1) + ('\u200b' if h.random() < 0.5 else ''), s)
        if s2 != s:
            rec.add('zwsp')
        s = s2
    if st['nfd']:
        s2 = unicodedata.normalize('NFD', s)
        if s2 != s:
            rec.add('nfd')
        s = s2
    if st['entities']:
        s2 = ''.join(ENT.get(c, c) if (c in ENT and h.random() < 0.8) else c for c in s)
        if s2 != s:
            rec.add('html_entities')
        s = s2
    return s


def rewrap(text, width):
    out = []
    for para in text.split('\n'):
        line = ''
        for w in para.split(' '):
            if line and len(line) + 1 + len(w) > width:
                out.append(line)
                line = w
            else:
                line = (line + ' ' + w) if line else w
        out.append(line)
    return '\n'.join(out)


# --------------------------------------------------------------------------------------------
# headline tools
# --------------------------------------------------------------------------------------------
SMALL = set('a an and as at but by for from in into of on or the to vs via with'.split())


def title_case(s):
    ws_ = s.lower().split(' ')
    return ' '.join(w if (i and w in SMALL) else (w[:1].upper() + w[1:]) for i, w in enumerate(ws_))


def sentence_case(s):
    s = s.lower()
    s = re.sub(r'\b(u\.s\.|uk|ec|opec|gatt|imf|ibm|gm|at&t|bp)\b', lambda m: m.group(0).upper(), s)
    return s[:1].upper() + s[1:]


EN_HL_SYN = [(r'\bPCT\b', 'percent'), (r'\bMLN\b', 'million'), (r'\bDLRS\b', 'dollars'), (r'\bBILLION DLR\b', 'billion dollar'),
             (r'\bSAYS\b', 'says'), (r'\bTO BUY\b', 'agrees to buy'), (r'\bUP\b', 'rises'), (r'\bDOWN\b', 'falls'),
             (r'\bSEES\b', 'forecasts'), (r'\bSETS\b', 'announces'), (r'\bCUTS\b', 'lowers'), (r'\bRAISES\b', 'lifts'),
             (r'\bCORP\b', 'Corp.'), (r'\bINC\b', 'Inc.'), (r'\s*<[A-Z.]+>', ''), (r'\bQTR\b', 'quarter'),
             (r'\bSHR\b', 'share'), (r'\bNET\b', 'profit'), (r'\bLOSS\b', 'loss'), (r'\bU\.S\.', 'US')]


def strip_attr_en(sent):
    m = re.match(r'^(?P<subj>[^,]{3,80}?) (?:said|says|announced|reported) (?:that |it |they |he |she )?(?P<rest>.+?)\.?$', sent)
    if m:
        return m.group('subj') + ' ' + m.group('rest')
    return sent.rstrip('.')


def first_words(s, n, lang):
    if lang == 'zh':
        cut = re.split(r'[，。；：]', s)[0]
        return cut[:max(8, n * 2)]
    w = s.split()
    return ' '.join(w[:n]).rstrip(',;:—-')


def hl_rewrite(title, paras, lang, h, hard):
    """A rewritten headline; returns (new, how)."""
    lead = split_sents(paras[0], lang)[0] if paras else title
    lead = re.sub(r'^[^\w«"“]*', '', lead)
    opts = ['from_lead', 'synonyms', 'quote', 'trunc', 'attrib']
    how = h.choice(opts if not hard else opts + ['from_lead', 'from_lead'])
    if lang == 'en':
        if how == 'synonyms' and title.isupper():
            t = title
            for p, r in EN_HL_SYN:
                t = re.sub(p, r, t)
            return sentence_case(t) if h.random() < 0.5 else title_case(t), how
        if how == 'quote':
            qm = re.search(r'["“]([^"”]{15,90})["”]', ' '.join(paras))
            if qm:
                return f'"{qm.group(1).rstrip(",. ")}," says ' + (title.split()[0].title() if title else 'official'), how
        if how == 'trunc' and len(title.split()) > 4:
            return ' '.join(title.split()[:max(3, len(title.split()) * 2 // 3)]), how
        if how == 'attrib' and title:
            return (title_case(title) if title.isupper() else title) + h.choice([' - sources', ': report', ', analysts say', ' - statement']), how
        t = first_words(strip_attr_en(lead), h.randint(7, 12), lang)
        return t[:1].upper() + t[1:], 'from_lead'
    if lang == 'ru':
        if how == 'quote':
            qm = re.search(r'«([^»]{15,90})»', ' '.join(paras))
            if qm:
                return f'«{qm.group(1)}»: ' + ' '.join(title.split()[:4]), how
        if how == 'trunc' and len(title.split()) > 4:
            return ' '.join(title.split()[:max(3, len(title.split()) * 2 // 3)]), how
        if how == 'attrib' and title:
            return title.rstrip('.') + h.choice([' — СМИ', ' — источник', ': подробности', ' — эксперт']), how
        if how == 'synonyms' and title:
            return h.choice(['СМИ: ', 'Источник: ', 'Эксперт: ', 'Стало известно: ']) + title[:1].lower() + title[1:], how
        t = first_words(lead, h.randint(6, 11), lang)
        return t[:1].upper() + t[1:], 'from_lead'
    if lang == 'kk':
        if how == 'attrib' and title:
            return title + h.choice([' – ведомство', ': толығырақ', ' – ресми']), how
        t = first_words(lead, h.randint(4, 8), lang)
        return t[:1].upper() + t[1:], 'from_lead'
    # zh
    if how == 'quote':
        qm = re.search(r'“([^”]{6,30})”', ''.join(paras))
        if qm:
            return f'“{qm.group(1)}”', how
    if how == 'attrib' and title:
        return h.choice(['独家｜', '快讯：', '关注｜', '权威发布｜']) + re.sub(r'^[^丨｜|]{1,6}[丨｜|]', '', title), how
    if how in ('trunc', 'synonyms') and title:
        t = re.sub(r'^[^丨｜|]{1,6}[丨｜|]', '', title)
        return (t.split(' ')[0] if ' ' in t else t[:max(6, len(t) * 2 // 3)]), 'trunc'
    return first_words(lead, 10, lang), 'from_lead'


# --------------------------------------------------------------------------------------------
# hard-mode rewriting: synonyms, Kazakh keyboard/Latin, partial traditional Chinese
# --------------------------------------------------------------------------------------------
EN_SYN = {'said': 'stated', 'rose': 'increased', 'fell': 'declined', 'company': 'firm', 'plans': 'intends',
          'shares': 'stock', 'expected': 'forecast', 'agreed': 'consented', 'bought': 'acquired', 'sold': 'divested',
          'government': 'administration', 'officials': 'authorities', 'about': 'around', 'also': 'additionally',
          'increase': 'rise', 'decline': 'drop', 'between': 'among', 'told': 'informed', 'year': 'twelve months',
          'but': 'however', 'big': 'large', 'new': 'fresh', 'help': 'assist', 'because': 'since', 'begin': 'start'}
RU_SYN = {'заявил': 'сообщил', 'сказал': 'отметил', 'также': 'кроме того', 'однако': 'но', 'компания': 'фирма',
          'году': 'г.', 'около': 'порядка', 'более': 'свыше', 'является': 'выступает', 'сообщил': 'рассказал',
          'время': 'период', 'страны': 'государства', 'президент': 'глава государства', 'ранее': 'прежде'}
KK_SYN = {'айтты': 'мәлімдеді', 'хабарлады': 'мәлім етті', 'және': 'әрі', 'бойынша': 'жөнінде', 'қазір': 'қазіргі таңда',
          'үшін': 'мақсатында', 'мен': 'және', 'бұл': 'осы', 'жылы': 'ж.', 'көп': 'көптеген'}
ZH_SYN = {'表示': '称', '进行': '开展', '目前': '当前', '已经': '已', '继续': '持续', '合作': '协作', '发展': '发展',
          '重要': '重大', '积极': '主动', '今年': '本年度', '地区': '区域', '项目': '工程', '国家': '国度'}
KK_KEYB = str.maketrans('әғқңөұүһіӘҒҚҢӨҰҮҺІ', 'агкноууhiАГКНОУУHI')
KK_LAT = {'а': 'a', 'ә': 'ä', 'б': 'b', 'в': 'v', 'г': 'g', 'ғ': 'ğ', 'д': 'd', 'е': 'e', 'ж': 'j', 'з': 'z', 'и': 'i', 'й': 'i',
          'к': 'k', 'қ': 'q', 'л': 'l', 'м': 'm', 'н': 'n', 'ң': 'ñ', 'о': 'o', 'ө': 'ö', 'п': 'p', 'р': 'r', 'с': 's', 'т': 't',
          'у': 'u', 'ұ': 'ū', 'ү': 'ü', 'ф': 'f', 'х': 'h', 'һ': 'h', 'ц': 's', 'ч': 'ch', 'ш': 'ş', 'щ': 'ş', 'ъ': '', 'ы': 'y',
          'і': 'ı', 'ь': '', 'э': 'e', 'ю': 'iu', 'я': 'ia', 'ё': 'io'}
ZH_TRAD = dict(zip('国经济发展对这为与会们时来说中华东关进过问还开长业产实现区义务电动报体门见头员车', '國經濟發展對這為與會們時來說中華東關進過問還開長業產實現區義務電動報體門見頭員車'))


def synonymise(s, lang, h, rate):
    if lang == 'zh':
        for a, b in ZH_SYN.items():
            if h.random() < rate * 3:
                s = s.replace(a, b)
        return s
    table = {'en': EN_SYN, 'ru': RU_SYN, 'kk': KK_SYN}[lang]
    return re.sub(r'\w+', lambda m: table.get(m.group(0), m.group(0)) if h.random() < rate * 4 else m.group(0), s)


def kk_to_latin(s):
    out = []
    for c in s:
        lc = c.lower()
        if lc in KK_LAT:
            t = KK_LAT[lc]
            out.append(t.capitalize() if c != lc else t)
        else:
            out.append(c)
    return ''.join(out)


# --------------------------------------------------------------------------------------------
# copy production
# --------------------------------------------------------------------------------------------
KIND_P = {
    # probabilities of structural edits per outlet kind (normal mode)
    'newspaper': dict(hl_rewrite=.45, hl_into_body=.03, dateline=.75, byline=.5, footer=.55, style=.7, teaser=0, trunc_para=.3,
                      trunc_sent=.1, trunc_mid=0, para_drop=.25, sent_drop=.2, sent_move=.08, para_reorder=.15, insert=.3,
                      lead_attr=.15, para_split=.25, para_merge=.1, strip_parent=.5),
    'portal': dict(hl_rewrite=.25, hl_into_body=.05, dateline=.6, byline=.25, footer=.75, style=.2, teaser=0, trunc_para=.1,
                   trunc_sent=.05, trunc_mid=0, para_drop=.08, sent_drop=.05, sent_move=.03, para_reorder=.05, insert=.55,
                   lead_attr=.2, para_split=.2, para_merge=.05, strip_parent=.3),
    'aggregator': dict(hl_rewrite=.1, hl_into_body=.25, dateline=.2, byline=0, footer=.3, style=0, teaser=.1, trunc_para=0,
                       trunc_sent=.1, trunc_mid=.6, para_drop=0, sent_drop=0, sent_move=0, para_reorder=0, insert=.2,
                       lead_attr=0, para_split=0, para_merge=.3, strip_parent=.1),
    'teaser': dict(hl_rewrite=.3, hl_into_body=.05, dateline=.4, byline=.2, footer=.2, style=.1, teaser=1, trunc_para=0,
                   trunc_sent=0, trunc_mid=0, para_drop=0, sent_drop=0, sent_move=0, para_reorder=0, insert=0,
                   lead_attr=.1, para_split=0, para_merge=0, strip_parent=.6),
    'tv': dict(hl_rewrite=.6, hl_into_body=.05, dateline=.3, byline=.3, footer=.4, style=.5, teaser=0, trunc_para=0,
               trunc_sent=.55, trunc_mid=0, para_drop=.1, sent_drop=.3, sent_move=.15, para_reorder=.1, insert=.15,
               lead_attr=.3, para_split=.3, para_merge=.1, strip_parent=.6),
    'telegram': dict(hl_rewrite=.3, hl_into_body=.8, dateline=0, byline=0, footer=.9, style=.1, teaser=.7, trunc_para=0,
                     trunc_sent=.2, trunc_mid=0, para_drop=0, sent_drop=.15, sent_move=0, para_reorder=0, insert=0,
                     lead_attr=.3, para_split=0, para_merge=0, strip_parent=.8),
    'terminal': dict(hl_rewrite=.05, hl_into_body=0, dateline=.9, byline=0, footer=.6, style=0, teaser=0, trunc_para=.05,
                     trunc_sent=0, trunc_mid=0, para_drop=0, sent_drop=0, sent_move=0, para_reorder=0, insert=0,
                     lead_attr=0, para_split=0, para_merge=0, strip_parent=.4),
}


class Doc:
    def __init__(self, title, paras, lang):
        self.title, self.paras, self.lang = title, paras, lang
        self.head = []   # lines before the text (byline, headline moved into body)
        self.tail = []   # lines after (footers)
        self.dateline = ''  # the dateline the last outlet put before the first paragraph
        self.byline = None  # (text, at_head): an outlet replaces the previous outlet's byline
        self.flags = set()


def lead_attribution(p0, lang, st, h):
    """Attribution woven into the lead sentence, as regional outlets do."""
    ss = split_sents(p0, lang)
    if not ss:
        return p0
    s0 = ss[0]
    if lang == 'en':
        s1 = strip_attr_en(s0)
        s0 = s1 + h.choice([', the company said.', ', according to a statement.', ', Reuters reported.', ', officials said.'])
    elif lang == 'ru':
        s0 = re.sub(r'[.!]?$', '', s0) + h.choice([', сообщает ТАСС.', ', передает РИА Новости.', ', сообщает Интерфакс.', ', пишет «Коммерсантъ».'])
    elif lang == 'kk':
        s0 = re.sub(r'[.!]?$', '', s0) + h.choice([', - деп хабарлайды ҚазАқпарат тілшісі.', ' – деп хабарлайды Kazinform.', '. Бұл туралы ведомствоның баспасөз қызметі хабарлады.'])
    else:
        s0 = h.choice(['据新华社报道，', '记者从有关部门获悉，', '据央视新闻消息，']) + s0
    ss[0] = s0
    return join_sents(ss, lang)


def make_copy(parent, st, ctx, h, hard, depth):
    """parent: Doc of what this outlet copies.  Returns (Doc, edits list)."""
    d = Doc(parent.title, list(parent.paras), parent.lang)
    d.head, d.tail = list(parent.head), list(parent.tail)
    d.dateline, d.flags, d.byline = parent.dateline, set(parent.flags), parent.byline
    lang = d.lang
    P = dict(KIND_P[st['kind']])
    if lang == 'kk':   # one-sentence TV items: nothing to cut by paragraph
        P.update(trunc_para=0, para_drop=0, para_reorder=0, insert=P['insert'] * .5, para_split=0)
    if hard:
        for k in ('hl_rewrite', 'trunc_para', 'trunc_sent', 'para_drop', 'sent_drop', 'lead_attr', 'para_reorder', 'sent_move'):
            P[k] = min(1.0, P[k] * 2 + .1)
    E = []

    def ev(t, **kw):
        kw['type'] = t
        E.append(kw)

    # a copy of a copy: the outlet often strips the previous outlet's footer and byline
    if depth > 1 and (d.tail or d.head) and h.random() < P['strip_parent']:
        d.tail = d.tail[:h.randrange(len(d.tail) + 1)] if d.tail else []
        d.head = [x for x in d.head if h.random() < 0.5]
        if h.random() < .5:
            d.byline = None
        ev('strip_parent_boilerplate')
    # wire sign-off
    if d.paras and re.search(r'\s(Reuter|REUTER)\s*$', d.paras[-1]) and h.random() < 0.8:
        d.paras[-1] = re.sub(r'\s(Reuter|REUTER)\s*$', '', d.paras[-1])
        if not d.paras[-1]:
            d.paras.pop()
        ev('signoff_removed')
    if not d.paras:
        d.paras = [d.title or '...']
    # ---- structure of the body
    if lang == 'zh' and d.paras and re.match(r'^(新华社|人民网|中新网)\S{0,20}电', d.paras[0]) and h.random() < 0.4:
        d.paras[0] = re.sub(r'^(新华社|人民网|中新网)\S{0,20}电\s*(（[^）]{0,20}）)?', '', d.paras[0]) or d.paras[0]
        ev('dateline_stripped')
    trunc_ok = 'truncated' not in d.flags or h.random() < .2
    if not trunc_ok:
        pass
    elif h.random() < P['teaser']:
        k = 1 if (hard or h.random() < .5 or len(d.paras) < 3) else 2
        if len(d.paras) <= k:
            ss = split_sents(' '.join(d.paras) if lang != 'zh' else ''.join(d.paras), lang)
            ks = max(1, min(len(ss) - 1, 1 if hard else 2)) if len(ss) > 1 else 1
            d.paras = [join_sents(ss[:ks], lang)]
        else:
            d.paras = d.paras[:k]
        d.tail = [read_more(lang, st, h)]
        ev('teaser_lead_only', paras=k); d.flags.add('truncated')
    elif h.random() < P['trunc_para'] and len(d.paras) > 2:
        f = h.uniform(.2, .45) if hard else h.uniform(.4, .85)
        k = max(1, round(len(d.paras) * f))
        d.paras = d.paras[:k]
        ev('trunc_para', keep=round(f, 2)); d.flags.add('truncated')
    elif h.random() < P['trunc_sent']:
        ss = [(i, s) for i, p in enumerate(d.paras) for s in split_sents(p, lang)]
        if len(ss) > 2:
            f = h.uniform(.15, .4) if hard else h.uniform(.35, .8)
            k = max(1, round(len(ss) * f))
            keep = ss[:k]
            out = collections.OrderedDict()
            for i, s in keep:
                out.setdefault(i, []).append(s)
            d.paras = [join_sents(v, lang) for v in out.values()]
            ev('trunc_sent', keep=round(f, 2)); d.flags.add('truncated')
    elif h.random() < P['trunc_mid']:
        text = '\n'.join(d.paras)
        n = h.choice([160, 200, 250, 300, 500]) if h.random() < .6 else int(len(text) * h.uniform(.3, .8))
        if lang == 'zh':
            n = n // 2
        if len(text) > n + 20:
            cut = text[:n]
            if lang != 'zh':
                cut = cut.rsplit(' ', 1)[0]
            d.paras = [p for p in cut.split('\n') if p]
            d.paras[-1] = d.paras[-1].rstrip(' ,;:') + h.choice(['…', '...', ' ...', ' [...]', '…»'])
            ev('trunc_mid', chars=n); d.flags.add('truncated')
    if len(d.paras) > 2 and h.random() < P['para_drop']:
        n = 2 if hard and len(d.paras) > 4 else 1
        for _ in range(n):
            i = h.randrange(1, len(d.paras))
            del d.paras[i]
        ev('para_drop', n=n)
    if len(d.paras) > 2 and h.random() < P['para_reorder']:
        i = h.randrange(1, len(d.paras))
        j = h.randrange(1, len(d.paras))
        if i != j:
            d.paras.insert(j, d.paras.pop(i))
            ev('para_reorder')
    if h.random() < P['sent_drop']:
        cand = [i for i, p in enumerate(d.paras) if len(split_sents(p, lang)) > 1]
        if cand and sum(len(split_sents(p, lang)) for p in d.paras) >= 4:
            i = h.choice(cand)
            ss = split_sents(d.paras[i], lang)
            j = h.randrange(len(ss))
            del ss[j]
            d.paras[i] = join_sents(ss, lang)
            ev('sent_drop', para=i, lead=(i == 0 and j == 0))
    if h.random() < P['sent_move']:
        cand = [i for i, p in enumerate(d.paras) if len(split_sents(p, lang)) > 1]
        if cand:
            i = h.choice(cand)
            ss = split_sents(d.paras[i], lang)
            ss.append(ss.pop(h.randrange(len(ss) - 1)))
            d.paras[i] = join_sents(ss, lang)
            ev('sent_move', para=i)
    if d.paras and 'lead_attr' not in d.flags and h.random() < P['lead_attr']:
        d.paras[0] = lead_attribution(d.paras[0], lang, st, h)
        d.flags.add('lead_attr')
        ev('lead_attribution')
    if hard and lang != 'zh' and h.random() < .5:
        d.paras = [synonymise(p, lang, h, .05) for p in d.paras]
        ev('synonyms')
    if hard and lang == 'zh' and h.random() < .5:
        d.paras = [synonymise(p, lang, h, .1) for p in d.paras]
        ev('synonyms')
    if h.random() < P['insert']:
        n = 1 + (h.random() < .3) + (hard and h.random() < .5)
        kinds = []
        for _ in range(n):
            o = ctx['other'](lang)
            kind, line = insert_line(lang, h, o[0], o[1])
            pos = h.randint(1, max(1, min(len(d.paras), 4)))
            d.paras.insert(pos, line)
            kinds.append(kind)
        ev('insert_para', kinds=kinds)
    if h.random() < P['para_split'] and lang != 'zh':
        out = []
        for p in d.paras:
            ss = split_sents(p, lang)
            out.extend(ss if len(ss) > 1 else [p])
        if len(out) != len(d.paras):
            d.paras = out
            ev('para_split_sentences')
    if h.random() < P['para_merge'] and len(d.paras) > 1:
        d.paras = [(' ' if lang != 'zh' else '').join(d.paras)]
        ev('para_merge')
    if h.random() < P['style']:
        new = [apply_style(p, lang, h) for p in d.paras]
        if new != d.paras:
            d.paras = new
            ev('house_style_units')
    # ---- headline
    orig_title = d.title
    if lang == 'kk' and not d.title and st['kind'] in ('portal', 'newspaper', 'tv') and h.random() < .7:
        d.title = first_words(d.paras[0], h.randint(4, 8), lang).rstrip('.')
        ev('hl_from_body')
    elif h.random() < P['hl_rewrite'] and d.paras:
        d.title, how = hl_rewrite(d.title, d.paras, lang, h, hard)
        ev('hl_rewrite', how=how)
        if lang == 'zh' and orig_title and h.random() < .5:
            d.tail.append(f'（原标题：{orig_title}）')
            ev('orig_title_footer')
    if lang == 'en' and d.title:
        c = st['hl_case']
        t2 = {'title': title_case, 'sentence': sentence_case, 'upper': str.upper, 'keep': lambda x: x}[c](d.title) if (d.title.isupper() or c == 'upper') else d.title
        if t2 != d.title:
            d.title = t2
            ev('hl_case', to=c)
    elif lang in ('ru', 'kk') and st['hl_case'] == 'upper' and st['kind'] in ('telegram', 'tv') and d.title:
        d.title = d.title.upper()
        ev('hl_case', to='upper')
    if st['kind'] == 'telegram' and h.random() < .6:
        pre = {'en': 'BREAKING: ', 'ru': h.choice(['СРОЧНО: ', 'Молния: ', '']), 'kk': h.choice(['Шұғыл: ', '']), 'zh': '快讯：'}[lang]
        d.title = st['emoji'] + ' ' + pre + d.title if d.title else d.title
        ev('hl_prefix')
    if st['hl_suffix'] and d.title and st['kind'] in ('portal', 'aggregator'):
        d.title += {'en': ' | ' + st['name'], 'ru': ' — ' + st['name'], 'kk': ' – ' + st['name'], 'zh': '_' + st['name']}[lang]
        ev('hl_suffix')
    if h.random() < P['hl_into_body'] and d.title:
        d.head = [d.title] + d.head
        d.title = '' if h.random() < .6 else d.title
        ev('hl_into_body', title_kept=bool(d.title))
    # ---- dateline, byline, footer
    if h.random() < P['dateline'] and d.paras:
        t = ctx['root_time']
        if lang == 'en':
            dl = en_dateline(st, ctx['city'], t, h)
        elif lang == 'ru':
            dl = ru_dateline(st, h.choice(RU_CITY) if ctx['city'] == 'X' else ctx['city_ru'], t, h.choice(['ТАСС', 'ТАСС', 'ИТАР-ТАСС']))
        elif lang == 'kk':
            dl = kk_dateline(st, ctx['city_kk'], t)
        else:
            dl = zh_dateline(st, ctx['city_zh'], t)
        ev('dateline', fmt=st['dateline_fmt'], replaced=bool(d.dateline))
        d.dateline = typography(dl, st, lang, h, set())
    if h.random() < P['byline']:
        ev('byline', replaced=bool(d.byline))
        d.byline = (byline(st, lang, h), h.random() < .7)
    if h.random() < P['footer']:
        o = ctx['other'](lang)
        if d.tail and h.random() < .7:
            d.tail = []  # the outlet's template replaces the previous outlet's footer
        d.tail.extend(footer(st, lang, h, o[0]))
        ev('footer', fmt=st['footer_fmt'])
    if st['kind'] == 'telegram':
        d.tail = d.tail[-1:] + [st['channel']]
        if h.random() < .5:
            d.tail.insert(0, read_more(lang, st, h))
        ev('telegram_channel')
    # ---- hard-only script changes
    if hard and lang == 'kk' and h.random() < .25:
        if h.random() < .5:
            d.paras = [p.translate(KK_KEYB) for p in d.paras]
            d.title = d.title.translate(KK_KEYB)
            ev('kk_keyboard_letters')
        else:
            d.paras = [kk_to_latin(p) for p in d.paras]
            d.title = kk_to_latin(d.title)
            ev('kk_latin_script')
    if hard and lang == 'zh' and h.random() < .15:
        d.paras = [''.join(ZH_TRAD.get(c, c) for c in p) for p in d.paras]
        d.title = ''.join(ZH_TRAD.get(c, c) for c in d.title)
        ev('zh_traditional_partial')
    # ---- typography (the outlet's CMS): persists into copies of this copy
    rec = set()
    d.title = typography(d.title, st, lang, h, rec)
    d.paras = [typography(p, st, lang, h, rec) for p in d.paras]
    d.head = [typography(p, st, lang, h, rec) for p in d.head]
    for r in sorted(rec):
        ev('typo_' + r)
    return d, E


def render(d, st, h):
    lang = d.lang
    paras = list(d.paras)
    if d.dateline and paras:
        paras[0] = d.dateline + paras[0]
    head, tail = list(d.head), list(d.tail)
    if d.byline:
        (head if d.byline[1] else tail).append(d.byline[0])
    parts = head + paras + tail
    j = st['join']
    if j == 'wrap':
        body = '\n    '.join(rewrap(p, h.choice([64, 68, 72])) for p in parts)
    else:
        body = j.join(parts)
    if lang != 'zh' and h.random() < .1:
        body = re.sub(r'(?<=[.,]) ', '  ', body)  # double spaces after punctuation
    if h.random() < .15:
        body = ('\n' if h.random() < .5 else '  ') + body + (' \n' if h.random() < .5 else '')
    return body


# --------------------------------------------------------------------------------------------
# gen
# --------------------------------------------------------------------------------------------
SAMPLE = {'bbc': 520, 'agnews': 1300, 'ru': 620, 'zh': 170, 'kk': 2800}
P_SYN = {'reuters': .42, 'bbc': .55, 'agnews': .4, 'ru': .6, 'zh': .75, 'kk': .35}
WINDOWS = ['1987-03-02', '1987-03-16', '1987-03-30']


def fmt_time(t, tz, h, style):
    """published_at as an outlet writes it."""
    if style == 'none':
        return None
    lt = t.astimezone(dt.timezone(dt.timedelta(hours=tz)))
    if style == 'rfc2822':
        return lt.strftime('%a, %d %b %Y %H:%M:%S ') + ('%+03d%02d' % (int(tz), abs(tz * 60) % 60))
    s = lt.isoformat(timespec='seconds' if h.random() < .8 else 'milliseconds')
    return s.replace('+00:00', 'Z') if h.random() < .5 else s


def gen(args):
    seed, hard = args.seed, args.hard
    R = random.Random(seed * 1000 + (7 if hard else 0))
    start = dt.datetime.fromisoformat(WINDOWS[seed % 3]).replace(tzinfo=UTC)
    end = start + dt.timedelta(days=14)
    corpus = [json.loads(l) for l in open(CORPUS, encoding='utf-8')]
    by = collections.defaultdict(list)
    for d in corpus:
        by[kind_of(d['id'])].append(d)
    originals = []
    for d in by['reuters']:
        t = parse_reuters_time(d['published_at'] or '')
        if t and start <= t < end:
            originals.append((t, d, d['published_at']))
    span = (end - start).total_seconds()

    def rhythm_time(tz):
        while True:
            t = start + dt.timedelta(seconds=R.random() * span)
            lh = (t.hour + tz) % 24
            wd = (t + dt.timedelta(hours=tz)).weekday()
            w = (1.0 if 6 <= lh <= 21 else .15) * (1.0 if wd < 5 else .35)
            if R.random() < w:
                return t
    TZ = {'bbc': 0, 'agnews': -5, 'ru': 3, 'zh': 8, 'kk': 6}
    for k, n in SAMPLE.items():
        pool = by[k]
        for d in R.sample(pool, min(n, len(pool))):
            t = rhythm_time(TZ[k])
            originals.append((t, d, fmt_time(t, TZ[k], R, 'rfc3339')))
    originals.sort(key=lambda x: (x[0], x[1]['id']))
    # "other stories" for related links and background lines: real titles/sentences of the same language
    pools = collections.defaultdict(list)
    for t, d, _ in originals:
        lang = d['lang']
        ps = paras_of(d)
        s = split_sents(ps[0], lang)[0] if ps else ''
        ttl = d['title'] if d['title'] else (s[:60])
        if lang == 'en' and ttl.isupper():
            ttl = title_case(re.sub(r'\s*<[^>]*>', '', ttl))
        pools[lang].append((ttl, s if len(s) < 300 else ''))

    def other(lang):
        return R.choice(pools[lang])
    houses = {lang: [house(n, lang, k) for n, k, tz in L] for lang, L in OUTLETS.items()}
    tzs = {n: tz for L in OUTLETS.values() for n, k, tz in L}
    items, truth = [], []
    ncopy = 0
    for t, d, pa in originals:
        lang = d['lang']
        k = kind_of(d['id'])
        items.append({'id': d['id'], 'title': d['title'], 'body': d['body'], 'lang': lang, 'source': d['source'],
                      'published_at': pa, '_t': t})
        truth.append({'id': d['id'], 'story': d['id'], 'parent': None, 'depth': 0, 'lang': lang, 'corpus': k,
                      'outlet': d['source'], 'edits': [], 'edits_all': [], 'hard': hard,
                      'bytes': len((d['title'] + d['body']).encode())})
        if R.random() >= P_SYN[k]:
            continue
        places = d.get('places') or []
        cities = [c for p in places for c in PLACE_CITY.get(p, [])]
        ctx = {'root_time': t, 'city': R.choice(cities) if cities else R.choice(['NEW YORK', 'LONDON', 'WASHINGTON']),
               'city_ru': R.choice(RU_CITY), 'city_kk': R.choice(KK_CITY), 'city_zh': R.choice(ZH_CITY), 'other': other}
        root = Doc(d['title'], paras_of(d), lang)
        # generation of copies: (parent doc, parent id, parent time, depth, edits so far)
        n_direct = 1
        while n_direct < 8 and R.random() < .5:
            n_direct += 1
        queue = [(root, d['id'], t, 1, []) for _ in range(n_direct)]
        used = set()
        maxd = 4 if hard else 3
        while queue:
            pdoc, pid, pt, depth, pedits = queue.pop(0)
            cands = [s for s in houses[lang] if s['name'] not in used] or houses[lang]
            st = R.choice(cands)
            used.add(st['name'])
            h = random.Random(R.getrandbits(64))
            cdoc, E = make_copy(pdoc, st, ctx, h, hard, depth)
            delay = min(36 * 60, max(2, math.exp(R.gauss(math.log(80 if depth == 1 else 150), 1.0))))
            ct = pt + dt.timedelta(minutes=delay)
            ncopy += 1
            cid = 'b2c%d-%06d' % (seed, ncopy) if not hard else 'b2h%d-%06d' % (seed, ncopy)
            style = R.choices(['rfc3339', 'rfc2822', 'none'], [.95, .03, .02])[0]
            body = render(cdoc, st, h)
            items.append({'id': cid, 'title': cdoc.title, 'body': body, 'lang': lang, 'source': st['name'],
                          'published_at': fmt_time(ct, tzs[st['name']], h, style), '_t': ct})
            eall = pedits + [dict(e, depth=depth) for e in E]
            truth.append({'id': cid, 'story': d['id'], 'parent': pid, 'depth': depth, 'lang': lang, 'corpus': k,
                          'outlet': st['name'], 'outlet_kind': st['kind'], 'edits': E, 'edits_all': eall, 'hard': hard,
                          'bytes': len((cdoc.title + body).encode()), 'delay_min': round((ct - t).total_seconds() / 60)})
            pchild = {1: .3, 2: .2, 3: .15}.get(depth, 0) if depth < maxd else 0
            if hard:
                pchild *= 1.4
            nk = 0
            while R.random() < pchild and nk < 3:
                queue.append((cdoc, cid, ct, depth + 1, eall))
                nk += 1
    order = sorted(range(len(items)), key=lambda i: (items[i]['_t'], items[i]['id']))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'items.jsonl'), 'w', encoding='utf-8') as f:
        for i in order:
            it = dict(items[i])
            del it['_t']
            f.write(json.dumps(it, ensure_ascii=False) + '\n')
    with open(os.path.join(args.out, 'truth.jsonl'), 'w', encoding='utf-8') as f:
        for i in order:
            truth[i]['time'] = items[i]['_t'].isoformat()
            f.write(json.dumps(truth[i], ensure_ascii=False) + '\n')
    c = collections.Counter(x['lang'] for x in truth)
    cc = collections.Counter(x['lang'] for x in truth if x['depth'] > 0)
    print(f'seed {seed}{" hard" if hard else ""}: window {start.date()}..{end.date()}, {len(items)} items '
          f'({len(originals)} originals, {ncopy} copies); per language items {dict(c)}, copies {dict(cc)}', file=sys.stderr)


# --------------------------------------------------------------------------------------------
# eval
# --------------------------------------------------------------------------------------------

def c2(n):
    return n * (n - 1) // 2


def popcount(x):
    return bin(x).count('1')


def evaluate(args):
    D = args.dir
    truth = [json.loads(l) for l in open(os.path.join(D, 'truth.jsonl'), encoding='utf-8')]
    items = {}
    for l in open(os.path.join(D, 'items.jsonl'), encoding='utf-8'):
        it = json.loads(l)
        items[it['id']] = it
    T = {x['id']: x for x in truth}
    pred, fields = {}, {}
    for l in open(os.path.join(D, 'stories.jsonl'), encoding='utf-8'):
        a = json.loads(l)
        if 'item' not in a or 'story' not in a:
            continue
        iid = a['item']['id']
        if iid in T and iid not in pred:
            pred[iid] = a['story']['id']
            fields[iid] = {k: a['item'].get(k) for k in ('fingerprint', 'lead_fingerprint', 'fingerprint_sentence', 'fingerprint_tokens')}
    missing = [i for i in T if i not in pred]
    for i in missing:
        pred[i] = '__alone__' + i
    # original texts for the near-identical measure
    sh_cache = {}

    def root_sh(rid):
        if rid not in sh_cache:
            it = items[rid]
            sh_cache[rid] = shingles(it['title'] + ' ' + it['body'], it['lang'])
        return sh_cache[rid]
    jac_cache = {}

    def rj(a, b):
        key = (a, b) if a < b else (b, a)
        if key not in jac_cache:
            jac_cache[key] = jaccard(root_sh(a), root_sh(b))
        return jac_cache[key]

    def short(i):
        return T[i]['bytes'] < 200
    # clusters
    pcl = collections.defaultdict(list)
    for i in T:
        pcl[pred[i]].append(i)
    tcl = collections.defaultdict(list)
    for i, x in T.items():
        tcl[x['story']].append(i)
    # pairwise counts by class; classes: all, lang:X, short/long (by the smaller item)
    TP, PP, PPx, TT = collections.Counter(), collections.Counter(), collections.Counter(), collections.Counter()

    def classes(a, b):
        la, lb = T[a]['lang'], T[b]['lang']
        cs = ['all', 'lang:' + (la if la == lb else 'mixed')]
        cs.append('short(<200B)' if (short(a) or short(b)) else 'long(>=200B)')
        return cs
    false_examples = []
    for sid, mem in tcl.items():
        # true pairs, by class: computed per pair (stories are small)
        for x in range(len(mem)):
            for y in range(x + 1, len(mem)):
                a, b = mem[x], mem[y]
                for c in classes(a, b):
                    TT[c] += 1
                    if pred[a] == pred[b]:
                        TP[c] += 1
    n_false = 0
    for pid, mem in pcl.items():
        if len(mem) < 2:
            continue
        groups = collections.defaultdict(list)
        for i in mem:
            groups[T[i]['story']].append(i)
        gl = list(groups.items())
        for x in range(len(mem)):
            for y in range(x + 1, len(mem)):
                a, b = mem[x], mem[y]
                cs = classes(a, b)
                same = T[a]['story'] == T[b]['story']
                near = (not same) and rj(T[a]['story'], T[b]['story']) >= 0.9
                for c in cs:
                    PP[c] += 1
                    if not near:
                        PPx[c] += 1
                if not same:
                    n_false += 1
        for x in range(len(gl)):
            for y in range(x + 1, len(gl)):
                (sa, ma), (sb, mb) = gl[x], gl[y]
                a, b = ma[0], mb[0]
                false_examples.append({'pred_story': pid, 'pairs': len(ma) * len(mb), 'root_jaccard3': round(rj(sa, sb), 3),
                                       'a': a, 'b': b, 'a_story': sa, 'b_story': sb,
                                       'a_depth': T[a]['depth'], 'b_depth': T[b]['depth'], 'lang': T[a]['lang'] + '/' + T[b]['lang'],
                                       'a_fields': fields.get(a), 'b_fields': fields.get(b),
                                       'a_text': (items[a]['title'] + ' || ' + items[a]['body'])[:1500],
                                       'b_text': (items[b]['title'] + ' || ' + items[b]['body'])[:1500]})
    # copy-to-original recall
    cr = collections.defaultdict(lambda: [0, 0])
    misses = []
    for i, x in T.items():
        if x['depth'] == 0:
            continue
        ok = pred[i] == pred[x['story']]
        okp = pred[i] == pred[x['parent']]
        keys = ['all', 'lang:' + x['lang'], 'depth:%d' % min(x['depth'], 4), 'outlet_kind:' + x.get('outlet_kind', '?'),
                'corpus:' + x['corpus'], 'size:' + ('short(<200B)' if x['bytes'] < 200 else 'long')]
        types = set(e['type'] for e in x['edits_all'])
        keys += ['edit:' + t for t in sorted(types)]
        sub = types - {'signoff_removed', 'strip_parent_boilerplate'}
        keys.append('n_edit_types:%s' % (len(sub) if len(sub) < 8 else '8+'))
        if len(sub) == 1:
            keys.append('alone:' + next(iter(sub)))
        for e in x['edits_all']:
            if e['type'] == 'hl_rewrite':
                keys.append('edit:hl_rewrite/' + e.get('how', '?'))
            if e['type'] == 'insert_para':
                keys += ['edit:insert_para/' + k for k in e.get('kinds', [])]
        for kk in set(keys):
            cr[kk][0] += ok
            cr[kk][1] += 1
        cr['to_parent'][0] += okp
        cr['to_parent'][1] += 1
        if not ok:
            fa, fb = fields.get(i) or {}, fields.get(x['story']) or {}

            def hd(k):
                try:
                    return popcount(int(fa[k], 16) ^ int(fb[k], 16))
                except Exception:
                    return None
            misses.append({'copy': i, 'original': x['story'], 'parent': x['parent'], 'lang': x['lang'], 'depth': x['depth'],
                           'outlet': x['outlet'], 'outlet_kind': x.get('outlet_kind'),
                           'edits_all': [e['type'] + ('/' + e['how'] if 'how' in e else '') for e in x['edits_all']],
                           'copy_story': pred[i], 'original_story': pred[x['story']], 'joined_parent': okp,
                           'hamming': {'fingerprint': hd('fingerprint'), 'lead_fingerprint': hd('lead_fingerprint'),
                                       'fingerprint_sentence': hd('fingerprint_sentence')},
                           'copy_fields': fa, 'original_fields': fb,
                           'copy_text': items[i]['title'] + ' || ' + items[i]['body'],
                           'original_text': items[x['story']]['title'] + ' || ' + items[x['story']]['body']})
    with open(os.path.join(D, 'misses.jsonl'), 'w', encoding='utf-8') as f:
        for m in misses:
            f.write(json.dumps(m, ensure_ascii=False) + '\n')
    false_examples.sort(key=lambda e: (-e['pairs'], e['pred_story']))
    with open(os.path.join(D, 'false_pairs.jsonl'), 'w', encoding='utf-8') as f:
        for e in false_examples[:5000]:
            f.write(json.dumps(e, ensure_ascii=False) + '\n')

    def pct(a, b):
        return '%.4f' % (a / b) if b else 'n/a'
    L = []
    hard = any(x.get('hard') for x in truth)
    L.append(f'# blind2 evaluation: {D}{" (HARD: heavier edits, not a target)" if hard else ""}\n')
    L.append(f'items {len(T)}, originals {sum(1 for x in truth if x["depth"] == 0)}, copies {sum(1 for x in truth if x["depth"] > 0)}; '
             f'items without an alert in stories.jsonl (counted as alone): {len(missing)}\n')
    L.append('## Pairwise\n')
    L.append('| class | true pairs | found | recall | predicted pairs | precision strict | predicted pairs excl. near-identical originals | precision excl. |')
    L.append('|---|---|---|---|---|---|---|---|')
    order = ['all'] + sorted(k for k in TT if k.startswith('lang:')) + sorted(k for k in set(TT) | set(PP) if k.startswith(('short', 'long')))
    for c in order + sorted(k for k in PP if k not in order):
        L.append(f'| {c} | {TT[c]} | {TP[c]} | {pct(TP[c], TT[c])} | {PP[c]} | {pct(TP[c], PP[c])} | {PPx[c]} | {pct(TP[c], PPx[c])} |')
    L.append(f'\nfalse pairs: {n_false} (in {len(false_examples)} distinct pairs of stories; false_pairs.jsonl lists one example per pair of stories, biggest first)\n')
    L.append('## Copy-to-original recall (a copy is in its original\'s predicted story)\n')
    L.append('| key | copies | joined | recall |')
    L.append('|---|---|---|---|')
    for k in sorted(cr, key=lambda k: (k.split(':')[0] != 'all', k.split(':')[0], k)):
        L.append(f'| {k} | {cr[k][1]} | {cr[k][0]} | {pct(cr[k][0], cr[k][1])} |')
    L.append(f'\nmisses: {len(misses)} (misses.jsonl)\n')
    open(os.path.join(D, 'eval.md'), 'w', encoding='utf-8').write('\n'.join(L) + '\n')
    print('\n'.join(L[:4 + len(order) + 4]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = ap.add_subparsers(dest='cmd', required=True)
    g = sp.add_parser('gen')
    g.add_argument('--seed', type=int, required=True)
    g.add_argument('--out', required=True)
    g.add_argument('--hard', action='store_true')
    e = sp.add_parser('eval')
    e.add_argument('--dir', required=True)
    a = ap.parse_args()
    gen(a) if a.cmd == 'gen' else evaluate(a)


if __name__ == '__main__':
    main()

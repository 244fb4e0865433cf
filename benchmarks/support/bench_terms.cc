// The term sets of the benchmarks (see bench_corpus.h): names of the kind the default pack
// watches, synthetic person names, and terms mined from the corpus by frequency.
#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/normalise/utf8.h"
#include "support/bench_corpus.h"

namespace steppewatch::bench {
namespace {

// Names of the kind the default pack watches, per script; '*' marks a prefix.
const std::vector<std::string>& PackNames(Language lang) {
  static const std::vector<std::string> kEnglish = {"Kazakhstan",
                                                    "Uzbekistan",
                                                    "Kyrgyzstan",
                                                    "Tajikistan",
                                                    "Turkmenistan",
                                                    "Kazakh*",
                                                    "Uzbek*",
                                                    "Kyrgyz*",
                                                    "Tajik*",
                                                    "Turkmen*",
                                                    "Central Asia",
                                                    "Caspian",
                                                    "Astana",
                                                    "Almaty",
                                                    "Tashkent",
                                                    "Bishkek",
                                                    "Dushanbe",
                                                    "Ashgabat",
                                                    "Nur-Sultan",
                                                    "Tokayev",
                                                    "Nazarbayev",
                                                    "Mirziyoyev",
                                                    "Japarov",
                                                    "Rahmon",
                                                    "Berdimuhamedov",
                                                    "Xi Jinping",
                                                    "Putin",
                                                    "Erdogan",
                                                    "Borrell",
                                                    "CSTO",
                                                    "Shanghai Cooperation Organisation",
                                                    "Eurasian Economic Union",
                                                    "Belt and Road",
                                                    "Silk Road",
                                                    "Khorgos",
                                                    "Baikonur",
                                                    "Tengiz",
                                                    "Kashagan",
                                                    "KazMunayGas",
                                                    "Gazprom",
                                                    "Rosneft",
                                                    "uranium",
                                                    "rare earths",
                                                    "critical minerals",
                                                    "pipeline*",
                                                    "sanction*",
                                                    "Moscow",
                                                    "Beijing",
                                                    "Brussels",
                                                    "Washington",
                                                    "European Union",
                                                    "NATO",
                                                    "OPEC",
                                                    "Iran",
                                                    "Turkey",
                                                    "Afghanistan",
                                                    "Taliban",
                                                    "Soviet Union",
                                                    "Kremlin",
                                                    "Middle Corridor",
                                                    "Trans-Caspian",
                                                    "Aral Sea",
                                                    "migrant workers",
                                                    "election*",
                                                    "protest*",
                                                    "oil",
                                                    "gas",
                                                    "grain",
                                                    "wheat",
                                                    "cotton"};
  static const std::vector<std::string> kRussian = {"Казахстан*",
                                                    "Узбекистан*",
                                                    "Киргиз*",
                                                    "Кыргызстан*",
                                                    "Таджикистан*",
                                                    "Туркмен*",
                                                    "Центральной Азии",
                                                    "Средней Азии",
                                                    "Каспий*",
                                                    "Астана",
                                                    "Астаны",
                                                    "Алматы",
                                                    "Ташкент*",
                                                    "Бишкек*",
                                                    "Душанбе",
                                                    "Ашхабад*",
                                                    "Нур-Султан*",
                                                    "Токаев*",
                                                    "Назарбаев*",
                                                    "Мирзиёев*",
                                                    "Жапаров*",
                                                    "Рахмон*",
                                                    "Си Цзиньпин*",
                                                    "Путин*",
                                                    "Эрдоган*",
                                                    "Лукашенко",
                                                    "ОДКБ",
                                                    "ШОС",
                                                    "ЕАЭС",
                                                    "СНГ",
                                                    "Евразийск*",
                                                    "Шелков* путь",
                                                    "Байконур*",
                                                    "Газпром*",
                                                    "Роснефт*",
                                                    "нефт*",
                                                    "газопровод*",
                                                    "трубопровод*",
                                                    "санкци*",
                                                    "уран*",
                                                    "Москв*",
                                                    "Кремл*",
                                                    "Пекин*",
                                                    "Китай",
                                                    "Китая",
                                                    "Брюссел*",
                                                    "Вашингтон*",
                                                    "Евросоюз*",
                                                    "Европейск* союз*",
                                                    "НАТО",
                                                    "ОПЕК",
                                                    "Иран*",
                                                    "Турци*",
                                                    "Афганистан*",
                                                    "талиб*",
                                                    "СССР",
                                                    "Советск* Союз*",
                                                    "выбор*",
                                                    "протест*",
                                                    "мигрант*",
                                                    "зерн*",
                                                    "пшениц*",
                                                    "хлоп*",
                                                    "Украин*",
                                                    "Росси*",
                                                    "Белорусси*",
                                                    "Грузи*",
                                                    "Армени*",
                                                    "Азербайджан*"};
  static const std::vector<std::string> kChinese = {
      "哈萨克斯坦", "乌兹别克斯坦", "吉尔吉斯斯坦", "塔吉克斯坦",   "土库曼斯坦", "中亚",
      "里海",       "阿斯塔纳",     "阿拉木图",     "塔什干",       "比什凯克",   "杜尚别",
      "阿什哈巴德", "托卡耶夫",     "纳扎尔巴耶夫", "米尔济约耶夫", "习近平",     "普京",
      "埃尔多安",   "上海合作组织", "上合组织",     "一带一路",     "丝绸之路",   "霍尔果斯",
      "中欧班列",   "天然气",       "石油",         "管道",         "铀",         "稀土",
      "关键矿产",   "制裁",         "莫斯科",       "北京",         "布鲁塞尔",   "华盛顿",
      "欧盟",       "北约",         "欧佩克",       "伊朗",         "土耳其",     "阿富汗",
      "塔利班",     "俄罗斯",       "中国",         "美国",         "能源",       "电力",
      "光伏",       "风电",         "新能源",       "中石油",       "中石化",     "国家电网",
      "亚投行",     "丝路基金",     "互联互通",     "基础设施",     "绿色发展",   "碳中和",
      "煤炭",       "氢能",         "核电",         "水电",         "油气",       "炼油",
      "沙特",       "阿联酋",       "卡塔尔",       "埃及"};
  static const std::vector<std::string> kKazakh = {
      "Қазақстан*", "Өзбекстан*", "Қырғыз*",    "Тәжікстан*", "Түрікмен*", "Орталық Азия*",
      "Каспий*",    "Астана*",    "Алматы*",    "Ташкент*",   "Бішкек*",   "Тоқаев*",
      "Назарбаев*", "Президент*", "Парламент*", "Мәжіліс*",   "Сенат*",    "Үкімет*",
      "Ресей*",     "Қытай*",     "Мәскеу*",    "Бейжің*",    "АҚШ",       "Еуроодақ*",
      "ТМД",        "ШЫҰ",        "ЕАЭО",       "мұнай*",     "газ*",      "уран*",
      "сайлау*",    "Ақорда*"};
  switch (lang) {
    case Language::kEnglish:
      return kEnglish;
    case Language::kRussian:
      return kRussian;
    case Language::kChinese:
      return kChinese;
    case Language::kKazakh:
      return kKazakh;
  }
  return kEnglish;
}

// Splits folded text into words (runs of non-CJK word characters) and calls `fn(word, gap)`,
// where gap is true when the previous word was not separated by exactly one space.
template <typename Fn>
void ForEachWord(std::string_view text, Fn fn) {
  size_t i = 0;
  size_t prev_end = std::string_view::npos;
  while (i < text.size()) {
    const normalise::CodePoint c = normalise::DecodeAt(text, i);
    if (!normalise::IsWordChar(c.cp) || normalise::IsCjk(c.cp)) {
      i += c.length;
      continue;
    }
    const size_t start = i;
    while (i < text.size()) {
      const normalise::CodePoint d = normalise::DecodeAt(text, i);
      if (!normalise::IsWordChar(d.cp) || normalise::IsCjk(d.cp)) break;
      i += d.length;
    }
    const bool adjacent =
        prev_end != std::string_view::npos && start == prev_end + 1 && text[prev_end] == ' ';
    fn(text.substr(start, i - start), !adjacent);
    prev_end = i;
  }
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<std::pair<std::string, uint32_t>> ByFrequency(
    absl::flat_hash_map<std::string, uint32_t>&& counts) {
  std::vector<std::pair<std::string, uint32_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return v;
}

// splitmix64: a fixed, platform-independent generator, so the names set is the same everywhere.
struct NameRng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Next() % v.size()];
  }
};

// Word parts per script. Syllables are chained into family names, company names and place names
// that look like the region's names without being taken from the corpus.
struct NameParts {
  std::vector<std::string> given;        // real given names
  std::vector<std::string> syllables;    // word starts and middles (first one capitalised)
  std::vector<std::string> family_ends;  // -ov, -bayev, -uly, ...
  std::vector<std::string> place_ends;   // -abad, -kent, -sk, ...
  std::vector<std::string> org_words;    // Holding, Bank, ...
  std::vector<std::string> titles;       // a few multi-word entities get one: "Minister ..."
};

const NameParts& PartsFor(Language lang) {
  static const NameParts kLatin = {
      {"Aibek",  "Nursultan", "Dinara", "Askar",   "Gulnara", "Timur",   "Aliya",  "Rustam",
       "Madina", "Yerlan",    "Saule",  "Bakyt",   "Farrukh", "Dilnoza", "Sardor", "Zarina",
       "Otabek", "Kamila",    "Azamat", "Aigerim", "John",    "Maria",   "Ahmed",  "Elena",
       "Sergei", "Olga",      "Wei",    "Li",      "James",   "Anna",    "Mehmet", "Fatima",
       "Dmitry", "Irina",     "Ivan",   "Natalia", "Peter",   "Sarah",   "Hassan", "Leyla"},
      {"Kar",  "Bek", "Nur", "Tas", "Zhan", "Ser",  "Tal", "Mur", "Dau", "Kur",  "Yer", "Bol",
       "Sul",  "Ait", "Ord", "Tur", "Khal", "Ibr",  "Sab", "Rah", "Mir", "Kam",  "Orz", "Ulug",
       "Shav", "Tem", "Bat", "Gal", "Zhum", "Khod", "Uzb", "Sat", "Erk", "Dost", "Yus", "Abd"},
      {"ov", "ev", "bayev", "bekov", "uly", "kyzy", "ova", "eva", "imov", "alov", "ullaev", "zoda",
       "murodov", "sky", "enko", "berg", "son", "ani"},
      {"abad", "kent", "tau", "bulak", "sai", "kul", "obod", "grad", "sk", "ovka", "stan", "dara"},
      {"Holding", "Group", "Bank", "Energy", "Mining", "Logistics", "Invest", "Foundation",
       "Resources", "Telecom", "Agro", "Airlines", "Capital", "Petroleum", "Metallurgical Plant"},
      {"Minister", "Governor", "Ambassador", "General", "Akim"}};
  static const NameParts kCyrillic = {
      {"Айбек",  "Нурсултан", "Динара", "Аскар",   "Гульнара", "Тимур",   "Алия",    "Рустам",
       "Мадина", "Ерлан",     "Сауле",  "Бакыт",   "Фаррух",   "Дилноза", "Сардор",  "Зарина",
       "Отабек", "Камила",    "Азамат", "Айгерим", "Сергей",   "Ольга",   "Дмитрий", "Ирина",
       "Иван",   "Наталья",   "Пётр",   "Елена",   "Андрей",   "Марина",  "Алексей", "Татьяна"},
      {"Кар", "Бек", "Нур", "Тас", "Жан", "Сер", "Тал", "Мур", "Дау",  "Кур", "Ер",  "Бол",
       "Сул", "Аит", "Орд", "Тур", "Хал", "Ибр", "Саб", "Рах", "Мир",  "Кам", "Орз", "Улуг",
       "Шав", "Тем", "Бат", "Гал", "Жум", "Ход", "Сат", "Ерк", "Дост", "Юс",  "Абд", "Қаз"},
      {"ов", "ев", "баев", "беков", "улы", "кызы", "ова", "ева", "имов", "алов", "уллаев", "зода",
       "муродов", "ский", "енко", "ин", "ёв"},
      {"абад", "кент", "тау", "булак", "сай", "куль", "обод", "град", "ск", "овка", "стан"},
      {"Холдинг", "Групп", "Банк", "Энерго", "Майнинг", "Логистик", "Инвест", "Фонд", "Ресурс",
       "Телеком", "Агро", "Авиа", "Капитал", "Нефтегаз", "Металлургический завод"},
      {"министр", "аким", "посол", "генерал", "губернатор"}};
  static const NameParts kChinese = {
      {"李", "王", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱",
       "高", "林", "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于"},
      {"建", "国", "明", "华", "志", "伟", "军", "平", "文", "海", "东", "晓", "春", "永",
       "德", "玉", "丽", "红", "光", "新", "金", "强", "荣", "辉", "俊", "峰", "杰", "宏",
       "鹏", "斌", "涛", "磊", "霞", "燕", "芳", "敏", "静", "秀", "英", "娟"},
      {},
      {"市", "县", "镇", "港", "湾", "山", "河", "口"},
      {"集团", "公司", "银行", "能源", "矿业", "物流", "投资", "基金会", "电信", "航空"},
      {"部长", "大使", "省长"}};
  switch (lang) {
    case Language::kRussian:
    case Language::kKazakh:
      return kCyrillic;
    case Language::kChinese:
      return kChinese;
    default:
      return kLatin;
  }
}

// One generated word: 1-3 syllables, the later ones lowercased (ASCII or Cyrillic), plus `end`.
std::string NameWord(NameRng& rng, const NameParts& parts, const std::string& end) {
  std::string word = rng.Pick(parts.syllables);
  const int more = static_cast<int>(rng.Next() % 3);
  for (int i = 0; i < more; ++i) {
    // Lowercase by folding: the syllables are capitalised at their first letter only.
    word += normalise::FoldToString(rng.Pick(parts.syllables));
  }
  return word + end;
}

std::string NameTerm(NameRng& rng, const NameParts& parts, Language lang) {
  const uint64_t kind = rng.Next() % 100;
  if (lang == Language::kChinese) {
    // Person (surname + 1-2 given characters: ~46k of them), organisation and place (a 2-3
    // character name + a suffix: the 3-character names give room for 100k distinct terms).
    std::string given = rng.Pick(parts.syllables);
    if (rng.Next() % 2) given += rng.Pick(parts.syllables);
    if (kind < 40) return rng.Pick(parts.given) + given;
    std::string name = rng.Pick(parts.syllables) + rng.Pick(parts.syllables);
    if (rng.Next() % 2) name += rng.Pick(parts.syllables);
    return name + (kind < 75 ? rng.Pick(parts.org_words) : rng.Pick(parts.place_ends));
  }
  if (kind < 45)
    return rng.Pick(parts.given) + " " + NameWord(rng, parts, rng.Pick(parts.family_ends));
  if (kind < 60) return NameWord(rng, parts, rng.Pick(parts.family_ends));  // a family name alone
  if (kind < 65) {
    return rng.Pick(parts.titles) + " " + NameWord(rng, parts, rng.Pick(parts.family_ends));
  }
  if (kind < 85) return NameWord(rng, parts, "") + " " + rng.Pick(parts.org_words);
  return NameWord(rng, parts, rng.Pick(parts.place_ends));
}

}  // namespace

std::vector<BenchTerm> BuildNameTerms(Language lang, size_t count) {
  std::vector<BenchTerm> terms;
  absl::flat_hash_set<std::string> seen;
  auto add = [&](std::string text, bool prefix) {
    if (terms.size() < count &&
        seen.insert(normalise::FoldToString(text) + (prefix ? "*" : "")).second) {
      terms.push_back({std::move(text), prefix});
    }
  };
  // The real names of the default pack's kind first (proper names only: they start with a
  // capital, or are CJK), then generated ones.
  for (const std::string& name : PackNames(lang)) {
    if (name.empty()) continue;
    const std::string head = name.substr(0, normalise::DecodeAt(name, 0).length);
    if (lang != Language::kChinese && normalise::FoldToString(head) == head) continue;
    if (name.back() == '*') {
      add(name.substr(0, name.size() - 1), true);
    } else {
      add(name, false);
    }
  }
  NameRng rng{0x5157E99E000000ULL + static_cast<uint64_t>(lang)};
  const NameParts& parts = PartsFor(lang);
  // The generator has millions of combinations per script; the bound only guards against a loop.
  for (size_t attempts = 0; terms.size() < count && attempts < count * 20; ++attempts) {
    add(NameTerm(rng, parts, lang), false);
  }
  return terms;
}

std::vector<BenchTerm> BuildTerms(const std::vector<const BenchItem*>& items, Language lang,
                                  size_t count, TermProfile profile) {
  if (profile == TermProfile::kNames) return BuildNameTerms(lang, count);
  std::vector<BenchTerm> terms;
  absl::flat_hash_set<std::string> seen;
  auto add = [&](std::string text, bool prefix) {
    if (terms.size() >= count) return;
    if (seen.insert(normalise::FoldToString(text) + (prefix ? "*" : "")).second) {
      terms.push_back({std::move(text), prefix});
    }
  };
  for (const std::string& name : PackNames(lang)) {
    if (!name.empty() && name.back() == '*') {
      add(name.substr(0, name.size() - 1), true);
    } else {
      add(name, false);
    }
  }
  // Skips the most frequent words: function words ("the", "и", "的") are not watch-list terms.
  constexpr size_t kSkipMostFrequent = 300;
  if (lang == Language::kChinese) {
    absl::flat_hash_map<std::string, uint32_t> grams;
    for (const BenchItem* item : items) {
      for (const std::string* s : {&item->title, &item->body}) {
        std::vector<size_t> starts;  // offsets of the CJK run's characters
        size_t i = 0;
        auto flush = [&]() {
          for (size_t a = 0; a < starts.size(); ++a) {
            for (size_t len = 2; len <= 4 && a + len <= starts.size(); ++len) {
              const size_t end = a + len < starts.size() ? starts[a + len] : i;
              grams[s->substr(starts[a], end - starts[a])]++;
            }
          }
          starts.clear();
        };
        while (i < s->size()) {
          const normalise::CodePoint c = normalise::DecodeAt(*s, i);
          if (normalise::IsCjk(c.cp)) {
            starts.push_back(i);
          } else {
            flush();
          }
          i += c.length;
        }
        flush();
      }
    }
    const auto ranked = ByFrequency(std::move(grams));
    const size_t first = kSkipMostFrequent / 3;
    const size_t wanted = count > terms.size() ? count - terms.size() : 0;
    const size_t stride = profile == TermProfile::kDense || ranked.size() <= first
                              ? 1
                              : std::max<size_t>(1, (ranked.size() - first) / (wanted + 1));
    for (size_t pass_stride : {stride, size_t{1}}) {
      for (size_t r = first; r < ranked.size() && terms.size() < count; r += pass_stride) {
        add(ranked[r].first, false);
      }
    }
    return terms;
  }
  absl::flat_hash_map<std::string, uint32_t> words;
  absl::flat_hash_map<std::string, uint32_t> bigrams;
  normalise::FoldedText folded;
  for (const BenchItem* item : items) {
    for (const std::string* s : {&item->title, &item->body}) {
      normalise::Fold(*s, &folded);
      std::string_view previous;
      ForEachWord(folded.text(), [&](std::string_view word, bool gap) {
        if (CodePoints(word) >= 4) words[std::string(word)]++;
        if (!gap && !previous.empty() && CodePoints(previous) >= 3 && CodePoints(word) >= 3) {
          std::string phrase(previous);
          phrase.push_back(' ');
          phrase.append(word);
          bigrams[phrase]++;
        }
        previous = word;
      });
    }
  }
  const auto ranked_words = ByFrequency(std::move(words));
  const auto ranked_bigrams = ByFrequency(std::move(bigrams));
  // Dense: the next most frequent candidates (many hits per item). Spread: every stride-th
  // candidate across the whole frequency range, so the set has a few common words and mostly
  // rare ones, like a real watch list.
  const size_t wanted = count > terms.size() ? count - terms.size() : 0;
  const size_t word_candidates =
      ranked_words.size() > kSkipMostFrequent ? ranked_words.size() - kSkipMostFrequent : 0;
  const size_t word_stride =
      profile == TermProfile::kDense ? 1 : std::max<size_t>(1, word_candidates / (wanted / 2 + 1));
  const size_t bigram_share = profile == TermProfile::kPhrases ? wanted : wanted / 2;
  const size_t bigram_stride =
      profile == TermProfile::kDense
          ? 1
          : std::max<size_t>(1, ranked_bigrams.size() / (bigram_share + 1));
  size_t word_terms = 0;
  for (int pass = 0; pass < 2 && terms.size() < count; ++pass) {
    // The second pass fills what striding left out, densely.
    const size_t ws = pass == 0 ? word_stride : 1;
    const size_t bs = pass == 0 ? bigram_stride : 1;
    size_t w = kSkipMostFrequent;
    size_t b = 0;
    while (terms.size() < count && (w < ranked_words.size() || b < ranked_bigrams.size())) {
      if (profile == TermProfile::kPhrases) w = ranked_words.size();
      if (w < ranked_words.size()) {
        const std::string& word = ranked_words[w].first;
        w += ws;
        // Every tenth word term is a prefix of its first 6 characters (a stem, like "Kazakh*").
        if (++word_terms % 10 == 0 && CodePoints(word) > 6) {
          size_t cut = 0;
          for (int k = 0; k < 6; ++k) cut += normalise::DecodeAt(word, cut).length;
          add(word.substr(0, cut), true);
        } else {
          add(word, false);
        }
      }
      if (b < ranked_bigrams.size()) {
        add(ranked_bigrams[b].first, false);
        b += bs;
      }
    }
  }
  return terms;
}

}  // namespace steppewatch::bench

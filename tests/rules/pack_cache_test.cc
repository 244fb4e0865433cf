// The compiled-pack cache (src/rules/pack_cache.h): a second load of an unchanged pack comes
// from the cache and is the same pack, field by field and in what it fires on; any change of
// content or options, a corrupt file or a failed load is a miss, never a wrong pack.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::rules {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> PackFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("pack-", 0) == 0 && e.path().extension() == ".bin") out.push_back(e.path());
  }
  return out;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
}

void ExpectSameRule(const Rule& a, const Rule& b) {
  SCOPED_TRACE(a.id);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.title, b.title);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.severity, b.severity);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.topics, b.topics);
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.query, b.query);
  EXPECT_EQ(a.has_threshold, b.has_threshold);
  EXPECT_EQ(a.threshold, b.threshold);
  ASSERT_EQ(a.tests.size(), b.tests.size());
  for (size_t i = 0; i < a.tests.size(); ++i) {
    const RuleTest& x = a.tests[i];
    const RuleTest& y = b.tests[i];
    EXPECT_EQ(x.expect_match, y.expect_match);
    EXPECT_EQ(x.title, y.title);
    EXPECT_EQ(x.body, y.body);
    EXPECT_EQ(x.lang, y.lang);
    EXPECT_EQ(x.source, y.source);
    EXPECT_EQ(x.line, y.line);
    EXPECT_EQ(x.column, y.column);
  }
  EXPECT_EQ(a.file, b.file);
  EXPECT_EQ(a.line, b.line);
  ASSERT_EQ(a.program.size(), b.program.size());
  for (size_t i = 0; i < a.program.size(); ++i) {
    const ProgramNode& x = a.program[i];
    const ProgramNode& y = b.program[i];
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.fields, y.fields);
    EXPECT_EQ(x.ordered, y.ordered);
    EXPECT_EQ(x.distance, y.distance);
    EXPECT_EQ(x.count, y.count);
    EXPECT_EQ(x.children_begin, y.children_begin);
    EXPECT_EQ(x.children_end, y.children_end);
    EXPECT_EQ(x.terms_begin, y.terms_begin);
    EXPECT_EQ(x.terms_end, y.terms_end);
    EXPECT_EQ(x.values_begin, y.values_begin);
    EXPECT_EQ(x.values_end, y.values_end);
    EXPECT_EQ(x.label, y.label);
  }
  EXPECT_EQ(a.child_index, b.child_index);
  EXPECT_EQ(a.terms, b.terms);
  EXPECT_EQ(a.values, b.values);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.topic_ids, b.topic_ids);
}

void ExpectSamePack(const CompiledPack& a, const CompiledPack& b) {
  EXPECT_EQ(a.info().name, b.info().name);
  EXPECT_EQ(a.info().version, b.info().version);
  EXPECT_EQ(a.info().description, b.info().description);
  EXPECT_EQ(a.info().hash, b.info().hash);
  EXPECT_EQ(a.stats().files, b.stats().files);
  EXPECT_EQ(a.stats().sets, b.stats().sets);
  EXPECT_EQ(a.stats().terms, b.stats().terms);
  EXPECT_EQ(a.stats().rules, b.stats().rules);
  EXPECT_EQ(a.stats().enabled_rules, b.stats().enabled_rules);
  EXPECT_EQ(a.stats().tests, b.stats().tests);
  EXPECT_EQ(a.stats().matcher.literal_terms, b.stats().matcher.literal_terms);
  EXPECT_EQ(a.stats().matcher.regex_terms, b.stats().matcher.regex_terms);
  EXPECT_EQ(a.topics(), b.topics());
  ASSERT_EQ(a.term_count(), b.term_count());
  for (match::TermId t = 0; t < a.term_count(); ++t) {
    EXPECT_EQ(a.term(t).text, b.term(t).text);
    EXPECT_EQ(a.term(t).kind, b.term(t).kind);
    EXPECT_EQ(a.term(t).case_sensitive, b.term(t).case_sensitive);
    EXPECT_EQ(a.term(t).whole_word, b.term(t).whole_word);
    EXPECT_EQ(a.term_display(t), b.term_display(t));
    EXPECT_THAT(b.RulesOfTerm(t), ::testing::ElementsAreArray(a.RulesOfTerm(t)));
  }
  ASSERT_EQ(a.rules().size(), b.rules().size());
  for (size_t r = 0; r < a.rules().size(); ++r) {
    ExpectSameRule(a.rules()[r], b.rules()[r]);
    EXPECT_EQ(b.FindRule(a.rules()[r].id), static_cast<int>(r));
  }
}

// Returns, per embedded test of every rule, the rules the item fires: what the pack does.
std::vector<std::vector<uint32_t>> FiredOnEveryTest(std::shared_ptr<const CompiledPack> pack) {
  auto context = match::MatchContext::Create(pack->matcher());
  EXPECT_TRUE(context.ok()) << context.status();
  Evaluator evaluator(pack);
  std::vector<match::Hit> hits;
  std::vector<std::vector<uint32_t>> out;
  for (const Rule& rule : pack->rules()) {
    for (const RuleTest& test : rule.tests) {
      const std::string_view fields[2] = {test.title, test.body};
      EXPECT_TRUE((*context)->Scan(fields, &hits).ok());
      std::vector<uint32_t> fired;
      for (const FiredRule& f :
           evaluator.Evaluate({{fields[0], fields[1]}, test.lang, test.source}, hits)) {
        fired.push_back(f.rule);
      }
      out.push_back(std::move(fired));
    }
  }
  return out;
}

class PackCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.matcher.cache_dir = steppewatch::testing::MakeTempDir("sw-packcache").string();
  }
  void TearDown() override { fs::remove_all(options_.matcher.cache_dir); }

  std::shared_ptr<const CompiledPack> Load(const fs::path& dir) {
    auto pack = CompiledPack::Load(dir, options_);
    EXPECT_TRUE(pack.ok()) << pack.status();
    return pack.ok() ? *pack : nullptr;
  }
  std::shared_ptr<const CompiledPack> LoadFiles(std::vector<PackFile> files) {
    auto pack = CompiledPack::LoadFromFiles(std::move(files), options_);
    EXPECT_TRUE(pack.ok()) << pack.status();
    return pack.ok() ? *pack : nullptr;
  }

  PackOptions options_;
};

const std::vector<PackFile> kSmallPack = {
    {"pack.yaml", "pack: {name: small, version: '1'}\ndefaults: {topic: alerts.small}\n"},
    {"rules.yaml",
     "sets:\n  kz: [Kazakhstan, Astana, Kazakh*]\n"
     "rules:\n  - id: kz\n    title: Kazakhstan\n    query: '@kz AND NOT title:(sport)'\n"
     "    tests: {match: [Astana hosts talks], no_match: [Paris]}\n"}};

TEST_F(PackCacheTest, SecondLoadOfTheDefaultPackComesFromTheCacheAndIsTheSamePack) {
  const fs::path dir = steppewatch::testing::SourceDir() / "config/rules/central-asia";
  auto fresh = Load(dir);
  ASSERT_NE(fresh, nullptr);
  EXPECT_FALSE(fresh->stats().from_cache);
  ASSERT_EQ(PackFiles(options_.matcher.cache_dir).size(), 1u);

  auto cached = Load(dir);
  ASSERT_NE(cached, nullptr);
  EXPECT_TRUE(cached->stats().from_cache);
  EXPECT_TRUE(cached->stats().matcher.from_cache) << "the matcher's own database cache";
  ASSERT_NE(cached->matcher(), nullptr);
  ExpectSamePack(*fresh, *cached);
  // The default pack has NEAR, AT_LEAST, scores, regexes, field scopes and metadata filters:
  // both packs must fire the same rules on every embedded test.
  const auto fired = FiredOnEveryTest(fresh);
  EXPECT_GT(fired.size(), 100u);
  EXPECT_EQ(FiredOnEveryTest(cached), fired);
}

TEST_F(PackCacheTest, TheGoodTestPackRoundTrips) {
  const fs::path dir = steppewatch::testing::SourceDir() / "tests/data/rules/good";
  auto fresh = Load(dir);
  auto cached = Load(dir);
  ASSERT_NE(cached, nullptr);
  EXPECT_TRUE(cached->stats().from_cache);
  ExpectSamePack(*fresh, *cached);
  EXPECT_EQ(FiredOnEveryTest(cached), FiredOnEveryTest(fresh));
}

TEST_F(PackCacheTest, ChangedContentOrOptionsMiss) {
  EXPECT_FALSE(LoadFiles(kSmallPack)->stats().from_cache);
  EXPECT_TRUE(LoadFiles(kSmallPack)->stats().from_cache);

  std::vector<PackFile> edited = kSmallPack;
  edited[1].content.replace(edited[1].content.find("title: Kazakhstan"), 17, "title: Qazaqstan");
  auto changed = LoadFiles(edited);
  EXPECT_FALSE(changed->stats().from_cache);
  EXPECT_EQ(changed->rules()[0].title, "Qazaqstan");
  EXPECT_EQ(LoadFiles(kSmallPack)->rules()[0].title, "Kazakhstan");

  std::vector<PackFile> renamed = kSmallPack;
  renamed[1].path = "rules/rules.yaml";  // same content, another path: another hash
  auto moved = LoadFiles(renamed);
  EXPECT_FALSE(moved->stats().from_cache);
  EXPECT_EQ(moved->rules()[0].file, "rules/rules.yaml");

  options_.default_topic = "alerts.other";
  EXPECT_FALSE(LoadFiles(kSmallPack)->stats().from_cache);
  options_.limits.max_term_bytes = 100;
  EXPECT_FALSE(LoadFiles(kSmallPack)->stats().from_cache);
  EXPECT_TRUE(LoadFiles(kSmallPack)->stats().from_cache);
  EXPECT_EQ(PackFiles(options_.matcher.cache_dir).size(), 5u);
}

TEST_F(PackCacheTest, CorruptOrForeignFilesAreMissesAndRewritten) {
  auto fresh = LoadFiles(kSmallPack);
  const auto files = PackFiles(options_.matcher.cache_dir);
  ASSERT_EQ(files.size(), 1u);
  const std::string good = ReadAll(files[0]);
  ASSERT_GT(good.size(), 200u);

  std::string flipped = good;
  flipped[flipped.size() - 20] ^= 0x01;  // inside the payload
  WriteAll(files[0], flipped);
  auto reloaded = LoadFiles(kSmallPack);
  EXPECT_FALSE(reloaded->stats().from_cache);
  ExpectSamePack(*fresh, *reloaded);
  EXPECT_EQ(ReadAll(files[0]), good) << "the full load rewrote the file";
  EXPECT_TRUE(LoadFiles(kSmallPack)->stats().from_cache);

  for (const std::string& bad : {good.substr(0, good.size() / 2), good.substr(0, 5), std::string(),
                                 "SWPACK99" + good.substr(8), good + "trailing"}) {
    WriteAll(files[0], bad);
    auto loaded = LoadFiles(kSmallPack);
    EXPECT_FALSE(loaded->stats().from_cache) << bad.size() << " bytes";
    ExpectSamePack(*fresh, *loaded);
  }
  EXPECT_TRUE(LoadFiles(kSmallPack)->stats().from_cache);
}

TEST_F(PackCacheTest, APackThatFailsIsNotCachedAndNoCacheDirWritesNothing) {
  std::vector<PackFile> broken = kSmallPack;
  broken[1].content += "  - id: bad\n    query: '@nosuchset'\n";
  EXPECT_FALSE(CompiledPack::LoadFromFiles(broken, options_).ok());
  EXPECT_TRUE(PackFiles(options_.matcher.cache_dir).empty());

  PackOptions no_cache;
  auto pack = CompiledPack::LoadFromFiles(kSmallPack, no_cache);
  ASSERT_TRUE(pack.ok()) << pack.status();
  EXPECT_FALSE((*pack)->stats().from_cache);
  EXPECT_TRUE(PackFiles(options_.matcher.cache_dir).empty());
}

TEST_F(PackCacheTest, NoTempFilesAreLeftBehind) {
  LoadFiles(kSmallPack);
  LoadFiles(kSmallPack);
  for (const auto& e : fs::directory_iterator(options_.matcher.cache_dir)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
}

}  // namespace
}  // namespace steppewatch::rules

// Pack loading: the good test pack, every bad pack under tests/data/rules/bad-*/ against its
// expected diagnostics (file:line:column: message), the content hash and SHA-256 itself.
#include "steppewatch/rules/pack.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/rules/sha256.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

namespace steppewatch::rules {
namespace {

namespace fs = std::filesystem;
using ::steppewatch::testing::StatusIs;
using ::testing::HasSubstr;

fs::path DataDir() { return steppewatch::testing::SourceDir() / "tests/data/rules"; }

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Sha256, MatchesKnownVectors) {
  EXPECT_EQ(Sha256::Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256::Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256::Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256::Hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The digest must not depend on how the input is split across Update() calls: whole blocks go
// straight to the compression (the SHA extensions where the CPU has them), the rest through the
// 64-byte buffer.
TEST(Sha256, SameDigestWhateverTheUpdateSplits) {
  std::string data;
  uint32_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 1103515245u + 12345u;
    data.push_back(static_cast<char>(x >> 24));
  }
  const std::string whole = Sha256::Hex(data);
  for (size_t chunk : {1u, 7u, 63u, 64u, 65u, 128u, 1000u, 4999u}) {
    Sha256 sha;
    for (size_t at = 0; at < data.size(); at += chunk) {
      sha.Update(std::string_view(data).substr(at, chunk));
    }
    std::string hex;
    for (uint8_t b : sha.Final()) {
      static constexpr char kHex[] = "0123456789abcdef";
      hex.push_back(kHex[b >> 4]);
      hex.push_back(kHex[b & 15]);
    }
    EXPECT_EQ(hex, whole) << "chunks of " << chunk;
  }
  // FIPS 180-4 example of two blocks: crosses the 56-byte padding boundary.
  EXPECT_EQ(Sha256::Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnop"
                        "jklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(CompiledPack, LoadsTheGoodPack) {
  std::vector<Diagnostic> diags;
  auto pack = CompiledPack::Load(DataDir() / "good", PackOptions(), &diags);
  ASSERT_TRUE(pack.ok()) << pack.status();
  EXPECT_TRUE(diags.empty());
  const CompiledPack& p = **pack;
  EXPECT_EQ(p.info().name, "test-pack");
  EXPECT_EQ(p.info().version, "1.0");
  EXPECT_THAT(p.info().hash, ::testing::MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(p.stats().files, 3u);
  EXPECT_EQ(p.stats().sets, 5u);
  EXPECT_EQ(p.stats().rules, 6u);
  EXPECT_EQ(p.stats().enabled_rules, 5u);
  EXPECT_EQ(p.stats().tests, 12u);
  EXPECT_THAT(p.topics(), ::testing::ElementsAre("alerts.china", "alerts.test"));
  ASSERT_GE(p.FindRule("kz.china-near"), 0);
  const Rule& near = p.rules()[p.FindRule("kz.china-near")];
  EXPECT_EQ(near.severity, Severity::kHigh);
  EXPECT_THAT(near.topics, ::testing::ElementsAre("alerts.test", "alerts.china"));
  EXPECT_EQ(near.file, "rules.yaml");
  const Rule& mv = p.rules()[p.FindRule("kz.multi-vector")];
  EXPECT_THAT(mv.topics, ::testing::ElementsAre("alerts.test"));  // from defaults.topic
  EXPECT_EQ(p.FindRule("nope"), -1);
  EXPECT_FALSE(p.rules()[p.FindRule("disabled.rule")].enabled);
  // Identical terms across sets and queries share one matcher term.
  EXPECT_EQ(p.term_count(), p.matcher()->term_count());
  // The index lists only enabled rules.
  for (match::TermId t = 0; t < p.term_count(); ++t) {
    for (uint32_t r : p.RulesOfTerm(t)) EXPECT_TRUE(p.rules()[r].enabled);
  }
}

TEST(CompiledPack, HashCoversPathsAndContents) {
  std::vector<PackFile> files = {
      {"a.yaml", "pack: {name: x, version: '1'}\nrules: [{id: r, query: a}]\n"},
      {"b.yaml", "sets: {s: [b]}\n"}};
  std::string h = PackHash(files);
  std::vector<PackFile> reordered = {files[1], files[0]};
  EXPECT_EQ(PackHash(reordered), h);  // order of discovery does not matter
  std::vector<PackFile> renamed = files;
  renamed[1].path = "c.yaml";
  EXPECT_NE(PackHash(renamed), h);
  std::vector<PackFile> edited = files;
  edited[1].content += " ";
  EXPECT_NE(PackHash(edited), h);
  auto pack = CompiledPack::LoadFromFiles(files);
  ASSERT_TRUE(pack.ok()) << pack.status();
  EXPECT_EQ((*pack)->info().hash, h);
}

TEST(CompiledPack, ReportsEveryErrorOfEachBadPack) {
  int packs = 0;
  for (const auto& entry : fs::directory_iterator(DataDir())) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with("bad-")) continue;
    ++packs;
    std::vector<Diagnostic> diags;
    auto pack = CompiledPack::Load(entry.path(), PackOptions(), &diags);
    ASSERT_FALSE(pack.ok()) << name;
    EXPECT_EQ(pack.status().code(), absl::StatusCode::kInvalidArgument) << name;
    std::string got;
    for (const Diagnostic& d : diags) got += d.ToString() + "\n";
    EXPECT_EQ(got, ReadFile(entry.path() / "expected.txt")) << name;
    // The status message lists the same diagnostics.
    for (const Diagnostic& d : diags) {
      EXPECT_THAT(std::string(pack.status().message()), HasSubstr(d.ToString())) << name;
    }
  }
  EXPECT_GE(packs, 6);
}

TEST(CompiledPack, SkipsHiddenEntriesLikeConfigMapData) {
  fs::path dir = steppewatch::testing::MakeTempDir();
  fs::create_directories(dir / "..data");
  std::ofstream(dir / "..data/pack.yaml") << "pack: {name: hidden, version: '1'}\n";
  std::ofstream(dir / ".swap.yaml") << "not: [valid\n";
  std::ofstream(dir / "pack.yaml")
      << "pack: {name: shown, version: '1'}\nrules: [{id: r, query: a}]\n";
  std::ofstream(dir / "notes.txt") << "ignored";
  auto pack = CompiledPack::Load(dir);
  ASSERT_TRUE(pack.ok()) << pack.status();
  EXPECT_EQ((*pack)->info().name, "shown");
  EXPECT_EQ((*pack)->stats().files, 1u);
}

TEST(CompiledPack, FailsClearlyOnAMissingDirectory) {
  EXPECT_THAT(CompiledPack::Load("/nonexistent/steppewatch-pack"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not a directory")));
}

TEST(CompiledPack, EnforcesTheTermLimit) {
  PackOptions options;
  options.max_terms = 3;
  std::vector<Diagnostic> diags;
  auto pack = CompiledPack::LoadFromFiles(
      {{"p.yaml",
        "pack: {name: x, version: '1'}\nsets: {s: [a, b, c, d]}\nrules: [{id: r, query: '@s'}]\n"}},
      options, &diags);
  ASSERT_FALSE(pack.ok());
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_THAT(diags[0].message, HasSubstr("4 distinct terms, over the limit of 3"));
}

TEST(CompiledPack, LoadsWithoutAMatcherForSyntaxChecks) {
  PackOptions options;
  options.compile_matcher = false;
  auto pack = CompiledPack::LoadFromFiles(
      {{"p.yaml", "pack: {name: x, version: '1'}\nrules: [{id: r, query: 'a AND /b/'}]\n"}},
      options);
  ASSERT_TRUE(pack.ok()) << pack.status();
  EXPECT_EQ((*pack)->matcher(), nullptr);
  EXPECT_EQ((*pack)->term_count(), 2u);
}

}  // namespace
}  // namespace steppewatch::rules

namespace steppewatch::rules {
namespace {

// What loads but is almost surely wrong is a warning with its place, not an error: the pack
// still loads (and `rules check --strict` fails on it).
TEST(CompiledPack, WarnsAboutWhatLoadsButIsAlmostSurelyWrong) {
  auto pack = CompiledPack::Load(DataDir() / "lint");
  ASSERT_TRUE(pack.ok()) << pack.status();
  std::vector<std::string> got;
  for (const Diagnostic& d : (*pack)->warnings()) got.push_back(d.ToString());
  ASSERT_EQ(got.size(), 5u) << ::testing::PrintToString(got);
  EXPECT_THAT(got[0], ::testing::StartsWith("pack.yaml:6:3: set 'unused-words' is not used"));
  EXPECT_THAT(got[1], ::testing::HasSubstr("term 'k*' of set 'letters' is a one-letter prefix"));
  EXPECT_THAT(got[2], ::testing::HasSubstr("'titel:Rogun' is searched as one term"));
  EXPECT_THAT(got[2], ::testing::HasSubstr("did you mean 'title:'?"));
  EXPECT_THAT(got[3], ::testing::HasSubstr("rule 'dam.unknown-lang' has no tests"));
  EXPECT_THAT(got[4], ::testing::HasSubstr("lang:rus is not an ISO 639-1 language code"));
  auto good = CompiledPack::Load(DataDir() / "good");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_THAT((*good)->warnings(), ::testing::IsEmpty());
}

TEST(CompiledPack, CountsASetAsUsedThroughIncludesAndScoreWeights) {
  auto pack = CompiledPack::LoadFromFiles(
      {{"p.yaml",
        "pack: {name: t, version: '1'}\n"
        "sets:\n  a: {terms: [alpha], include: [b]}\n  b: [beta]\n  c: [gamma]\n"
        "rules:\n"
        "  - {id: q, query: '@a', tests: {match: [alpha]}}\n"
        "  - {id: s, score: {threshold: 1, weights: {c: 1}}, tests: {match: [gamma]}}\n"
        "  - {id: off, enabled: false, query: 'alpha AND lang:xx'}\n"}});
  ASSERT_TRUE(pack.ok()) << pack.status();
  // Only the disabled rule's unknown language; a disabled rule needs no tests.
  ASSERT_EQ((*pack)->warnings().size(), 1u);
  EXPECT_THAT((*pack)->warnings()[0].message, ::testing::HasSubstr("lang:xx"));
}

}  // namespace
}  // namespace steppewatch::rules

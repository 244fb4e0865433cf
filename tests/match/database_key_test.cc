// The Hyperscan database cache's key (DatabaseCacheKey, the one HyperscanMatcher::Build uses)
// names exactly what is compiled: each database's patterns, their order (the ids), their flags
// and the id layout, not only the terms and options the patterns come from. A cache file written by
// code that grouped the same terms differently then misses instead of being scanned with the wrong
// pattern list (a stale file once crashed a build that moved patterns between databases without
// bumping the key's version).
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "match/hyperscan_matcher.h"

namespace steppewatch::match::internal {
namespace {

using Patterns = std::array<std::vector<Pattern>, kDatabaseCount>;

Pattern Literal(std::string text) {
  Pattern p;
  p.length = static_cast<uint32_t>(text.size());
  p.expression = std::move(text);
  p.targets.push_back(Target{});
  return p;
}

const std::vector<TermSpec> kTerms = {{"Astana", TermSpec::Kind::kLiteral},
                                      {"Almaty", TermSpec::Kind::kLiteral}};

std::string KeyOf(const Patterns& p, const std::array<unsigned, kDatabaseCount>& shift,
                  const MatcherOptions& options) {
  return DatabaseCacheKey(kTerms, options, /*word_lookup=*/false, p, shift);
}

TEST(DatabaseCacheKey, ChangesWithEveryCompileInput) {
  Patterns p;
  p[kFoldedLiterals] = {Literal("astana"), Literal("almaty")};
  p[kFoldedRegexes] = {Literal("tokay[a-z]+")};
  const std::array<unsigned, kDatabaseCount> shift{};
  const MatcherOptions options;
  const std::string base = KeyOf(p, shift, options);
  EXPECT_EQ(base, KeyOf(p, shift, options)) << "deterministic";

  Patterns q = p;
  q[kFoldedLiterals][1].expression = "almatx";
  EXPECT_NE(KeyOf(q, shift, options), base) << "an expression";

  q = p;
  q[kOriginalLiterals].push_back(q[kFoldedLiterals].back());
  q[kFoldedLiterals].pop_back();
  EXPECT_NE(KeyOf(q, shift, options), base) << "a pattern in another database";

  q = p;
  std::swap(q[kFoldedLiterals][0], q[kFoldedLiterals][1]);
  EXPECT_NE(KeyOf(q, shift, options), base) << "the order, so the ids";

  q = p;
  q[kFoldedLiterals].push_back(Literal(""));
  EXPECT_NE(KeyOf(q, shift, options), base) << "one more, empty, pattern";

  std::array<unsigned, kDatabaseCount> hinted = shift;
  hinted[kFoldedLiterals] = kIdHintBits;
  EXPECT_NE(KeyOf(p, hinted, options), base) << "the id layout";

  MatcherOptions som = options;
  som.regex_start_offsets = true;
  EXPECT_NE(KeyOf(p, shift, som), base) << "the regexes' flags";

  // And with what the patterns come from, as before the digest.
  EXPECT_NE(DatabaseCacheKey({kTerms[0]}, options, false, p, shift), base) << "the terms";
  EXPECT_NE(DatabaseCacheKey(kTerms, options, true, p, shift), base) << "the word lookup";
}

}  // namespace
}  // namespace steppewatch::match::internal

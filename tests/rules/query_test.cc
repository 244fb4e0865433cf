// The query parser: a table of good queries with their canonical form, and of bad queries with
// the expected message and the column of the offending token.
#include "steppewatch/rules/query.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace steppewatch::rules {
namespace {

using ::testing::HasSubstr;

struct Good {
  const char* query;
  const char* canonical;
};

TEST(ParseQuery, ParsesGoodQueriesWithPrecedence) {
  const Good kGood[] = {
      {"Kazakhstan", "\"Kazakhstan\""},
      {"\"Xi   Jinping\"", "\"Xi Jinping\""},
      {"Kazakh*", "\"Kazakh*\""},
      {"/qazaq(stan)?/", "/qazaq(stan)?/"},
      {"@kazakhstan", "@kazakhstan"},
      {"a OR b AND c", "\"a\" OR \"b\" AND \"c\""},
      {"a AND b OR c AND d", "\"a\" AND \"b\" OR \"c\" AND \"d\""},
      {"(a OR b) AND c", "(\"a\" OR \"b\") AND \"c\""},
      {"(a OR b) OR c", "(\"a\" OR \"b\") OR \"c\""},
      {"a AND (b AND c)", "\"a\" AND (\"b\" AND \"c\")"},
      {"NOT a AND b", "NOT \"a\" AND \"b\""},
      {"a NEAR/5 b AND c", "\"a\" NEAR/5 \"b\" AND \"c\""},
      {"a AND b NEAR/2 c", "\"a\" AND \"b\" NEAR/2 \"c\""},
      {"a NEAR/3 b NEAR/4 c", "\"a\" NEAR/3 \"b\" NEAR/4 \"c\""},
      {"a NEAR/3 (b NEAR/4 c)", "\"a\" NEAR/3 (\"b\" NEAR/4 \"c\")"},
      {"a ONEAR/0 b", "\"a\" ONEAR/0 \"b\""},
      {"(a OR b) NEAR/5 (c OR d)", "(\"a\" OR \"b\") NEAR/5 (\"c\" OR \"d\")"},
      {"title:(a OR b) AND body:c", "title:(\"a\" OR \"b\") AND body:\"c\""},
      {"title:\"a b\"", "title:\"a b\""},
      {"title:(NOT a)", "title:(NOT \"a\")"},
      {"@x AND lang:ru", "@x AND lang:(ru)"},
      {"@x AND lang:(RU OR kk)", "@x AND lang:(ru OR kk)"},
      {"@x AND source:reuters*", "@x AND source:(reuters*)"},
      {"AT_LEAST(2, @kazakhstan)", "AT_LEAST(2, @kazakhstan)"},
      {"AT_LEAST_DISTINCT(3, a OR b OR c)", "AT_LEAST_DISTINCT(3, \"a\" OR \"b\" OR \"c\")"},
      {"a AND NOT (b OR c)", "\"a\" AND NOT (\"b\" OR \"c\")"},
      {"NOT NOT a", "NOT NOT \"a\""},
      {"\"внешн* политик*\"", "\"внешн* политик*\""},
      {"Казахстан* AND 哈萨克斯坦", "\"Казахстан*\" AND \"哈萨克斯坦\""},
      {"U.S. AND a", "\"U.S.\" AND \"a\""},
  };
  for (const Good& g : kGood) {
    ParsedQuery p = ParseQuery(g.query);
    ASSERT_TRUE(p.ok()) << g.query << ": " << p.error.message;
    EXPECT_EQ(QueryToString(*p.root), g.canonical) << g.query;
    ParsedQuery again = ParseQuery(g.canonical);
    ASSERT_TRUE(again.ok()) << g.canonical << ": " << again.error.message;
    EXPECT_EQ(QueryToString(*again.root), g.canonical) << g.query;
  }
}

// The canonical form prints parentheses only where the grammar needs them, so it nests no
// deeper than the query it came from: a query at the depth limit prints to one that parses
// again. (A form with a pair around every operator turned a chain of 70 NEARs, nesting 0
// levels, into one nesting 69 and failing to parse: found by the query fuzzer.)
TEST(ParseQuery, CanonicalFormOfAQueryAtTheDepthLimitParsesAgain) {
  std::string chain = "a";
  for (int i = 0; i < 70; ++i) chain += " NEAR/4 title:(b OR c)";
  std::string deep;
  for (int i = 0; i < 62; ++i) deep += "(";
  deep += "x AND NOT (y OR z)";
  for (int i = 0; i < 62; ++i) deep += ")";
  std::string fields = "AT_LEAST(2, title:(a OR b) AND body:(NOT (c AND d)))";
  for (const std::string& q : {chain, deep, fields}) {
    ParsedQuery p = ParseQuery(q);
    ASSERT_TRUE(p.ok()) << q << ": " << p.error.message;
    std::string canonical = QueryToString(*p.root);
    ParsedQuery again = ParseQuery(canonical);
    ASSERT_TRUE(again.ok()) << canonical << ": " << again.error.message;
    EXPECT_EQ(QueryToString(*again.root), canonical);
  }
}

struct Bad {
  const char* query;
  int column;  // 1-based, in code points
  const char* message;
};

TEST(ParseQuery, RejectsBadQueriesPointingAtTheToken) {
  const Bad kBad[] = {
      {"", 1, "the query ends where a term was expected"},
      {"a AND", 6, "the query ends where a term was expected"},
      {"AND a", 1, "AND needs a term on its left"},
      {"a b", 3, "missing operator before 'b'"},
      {"Kazakhstan and Russia", 12, "missing operator before 'and'"},
      {"(a OR b", 1, "unbalanced '(': add the closing ')'"},
      {"a OR b)", 7, "unbalanced ')'"},
      {"a NEAR b", 3, "write NEAR/n"},
      {"a NEAR/x b", 3, "write NEAR/n"},
      {"a NEAR/5", 9, "the query ends where a term was expected"},
      {"NOT a NEAR/5 b", 7, "NEAR/5 needs terms on both sides"},
      {"a NEAR/5 lang:ru", 3, "needs terms on both sides"},
      {"a NEAR/5000 b", 3, "exceeds the limit of 1000"},
      {"\"unterminated", 1, "unterminated phrase"},
      {"a AND /re", 7, "unterminated regex"},
      {"a AND //", 7, "empty regex"},
      {"@", 1, "invalid set reference"},
      {"@Bad", 1, "invalid set reference '@Bad'"},
      {"Kaz*stan", 1, "'*' is allowed only at the end of a word"},
      {"a AND *", 7, "a lone '*' is not a term"},
      {"title:", 7, "expected '(' or a term after 'title:'"},
      {"lang:", 6, "expected a language code"},
      {"@x AND lang:(ru AND kk)", 17, "expected OR or ')'"},
      {"AT_LEAST 2", 10, "expected '(' after AT_LEAST"},
      {"AT_LEAST(x, a)", 10, "expected a count >= 1"},
      {"AT_LEAST(0, a)", 10, "expected a count >= 1"},
      {"AT_LEAST(2 a)", 12, "expected ',' after the count"},
      {"AT_LEAST(2, NOT a)", 1, "AT_LEAST needs terms to count"},
      {"Казахстан Россия", 11, "missing operator before 'Россия'"},
      {"a OR )", 6, "expected a term before ')'"},
  };
  for (const Bad& b : kBad) {
    ParsedQuery p = ParseQuery(b.query);
    ASSERT_FALSE(p.ok()) << b.query;
    EXPECT_THAT(p.error.message, HasSubstr(b.message)) << b.query;
    EXPECT_EQ(ColumnOf(b.query, p.error.offset), b.column) << b.query << ": " << p.error.message;
  }
}

TEST(ParseQuery, EnforcesDepthAndLengthLimits) {
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += "(";
  deep += "a";
  for (int i = 0; i < 70; ++i) deep += ")";
  ParsedQuery p = ParseQuery(deep);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.error.message, HasSubstr("deeper than 64"));

  std::string nots;
  for (int i = 0; i < 70; ++i) nots += "NOT ";
  EXPECT_FALSE(ParseQuery(nots + "a").ok());

  QueryLimits limits;
  limits.max_query_bytes = 10;
  p = ParseQuery("aaaaa OR bbbbbb", limits);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.error.message, HasSubstr("over the limit of 10"));
}

TEST(ParseTermString, ClassifiesTerms) {
  std::string text, error, display;
  match::TermSpec::Kind kind;
  ASSERT_TRUE(ParseTermString("  Kazakh* ", &text, &kind, &error));
  EXPECT_EQ(text, "Kazakh");
  EXPECT_EQ(kind, match::TermSpec::Kind::kPrefix);
  ASSERT_TRUE(ParseTermString("/a|b/", &text, &kind, &error));
  EXPECT_EQ(kind, match::TermSpec::Kind::kRegex);
  EXPECT_EQ(text, "a|b");
  ASSERT_TRUE(ParseTermString("\"Nur-Sultan\"", &text, &kind, &error));
  EXPECT_EQ(text, "Nur-Sultan");
  EXPECT_EQ(kind, match::TermSpec::Kind::kLiteral);
  ASSERT_TRUE(ParseTermString("внешн* политик*", &text, &kind, &error, &display));
  EXPECT_EQ(kind, match::TermSpec::Kind::kRegex);
  EXPECT_EQ(display, "внешн* политик*");
  EXPECT_THAT(text, HasSubstr("внешн["));
  EXPECT_FALSE(ParseTermString("   ", &text, &kind, &error));
  EXPECT_EQ(error, "empty term");
  EXPECT_FALSE(ParseTermString("*", &text, &kind, &error));
  EXPECT_FALSE(ParseTermString("a *", &text, &kind, &error));
}

}  // namespace
}  // namespace steppewatch::rules

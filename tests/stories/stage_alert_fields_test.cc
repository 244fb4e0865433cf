// The stage's alert parser: the fast path (simdjson's stage 1 and a grammar walk) against the
// DOM parser it replaced, on real alerts and on hundreds of thousands of mutations of them. For
// every input both must give the same verdict (the same simdjson error when rejected) and the
// same fields; the fast path must also take the alerts it was made for (else it is only slower).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "steppewatch/stories/fingerprint.h"
#include "stories/alert_fields.h"
#include "stories/event_time.h"
#include "stories/stage_test_util.h"
#include "testing/paths.h"

namespace steppewatch::stories {
namespace {

// Parses `json` both ways (the DOM reference first, so the fast path's views cannot lean on it)
// and compares. Returns whether the fast path decided.
bool Compare(AlertFieldParser& parser, std::string_view json) {
  AlertFields dom, fast;
  parser.ParseWithDom(json, &dom);
  const std::string expected = Describe(dom);
  // A copy the fast path's views point into, overwritten after the parse: the views must be
  // into the input (still valid) or into the fields' own arena, never into the parser. Exactly
  // the alert's bytes on the heap (no terminating NUL, no slack): the parse reads the input in
  // place when it ends with '}' and has no escapes, and ASan and valgrind then see any read
  // past its end.
  std::unique_ptr<char[]> bytes(new char[json.size()]);
  if (!json.empty()) std::memcpy(bytes.get(), json.data(), json.size());
  const std::string_view input(bytes.get(), json.size());
  parser.Parse(input, &fast);
  AlertFields other;
  parser.Parse("{\"schema\":\"x\",\"item\":{\"id\":\"overwrite\"}}", &other);
  EXPECT_EQ(Describe(fast), expected) << "input: " << json;
  if (fast.error == simdjson::SUCCESS && fast.has_fingerprint) {
    Fingerprint fp = 0;
    const bool ok = ParseFingerprint(fast.fingerprint, &fp);
    EXPECT_EQ(fast.fp_ok, ok) << json;
    if (ok) {
      EXPECT_EQ(fast.fp, fp) << json;
    }
  }
  return fast.fast;
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  AlertSpec spec{"item-1", Distinct(1), kT0};
  spec.tags = {"geo:kazakhstan", "theme:unrest", "geo:kazakhstan"};
  seeds.push_back(Alert(spec));
  spec.lead = Distinct(2);
  seeds.push_back(Alert(spec));
  spec.tokens = 312;
  seeds.push_back(Alert(spec));
  spec.sentence = Distinct(3);
  seeds.push_back(Alert(spec));
  // Escapes everywhere the stage reads, and in values it only checks.
  seeds.push_back(
      "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\","
      "\"title\":\"say \\\"hi\\\"\\n\\t\",\"source\":\"ex\\/ample\",\"lang\":\"en\","
      "\"published_at\":null,\"fingerprint\":\"00000000000000ff\"},\"matches\":[{\"rule\":"
      "\"r\\u0031\",\"tags\":[\"t\\\\1\",\"\"],\"score\":2.5e-3,\"x\":[true,false,null,-0,"
      "1E+2,{}]},{\"tags\":[]}],\"origin\":{\"timestamp_ms\":1668988800000},"
      "\"i\\u0074em\":{\"id\":\"escaped key\"}}");
  // A repeated key, a null fingerprint after a value, whitespace between every token.
  seeds.push_back(
      " {\n \"schema\" : \"steppewatch.alert.v1\" , \"item\" : { \"id\" : \"x\" , "
      "\"fingerprint\" : \"0123456789abcdef\" , \"fingerprint\" : null } , \"item\" : { "
      "\"lang\" : \"kk\" } , \"matches\" : [ ] , \"schema\" : \"other\" }\r\n");
  // The alerts of the CLI's test data (real `steppewatch match` output shapes).
  for (const char* name : {"stories-alerts.jsonl", "stories-bad.jsonl"}) {
    std::ifstream in(steppewatch::testing::SourceDir() / "tests/cli/data" / name);
    for (std::string line; std::getline(in, line);) seeds.push_back(line);
  }
  return seeds;
}

TEST(AlertFieldParser, FastPathTakesWellFormedAlerts) {
  AlertFieldParser parser;
  const std::vector<std::string> seeds = Seeds();
  ASSERT_GT(seeds.size(), 10u) << "the CLI test data was not found";
  size_t fast = 0;
  for (const std::string& s : seeds) fast += Compare(parser, s);
  // Every seed but the two deliberately broken lines of stories-bad.jsonl.
  EXPECT_GE(fast, seeds.size() - 2);
  EXPECT_TRUE(Compare(parser, seeds[0]));
  EXPECT_TRUE(Compare(parser, seeds[1]));
  EXPECT_TRUE(Compare(parser, seeds[2]));
}

TEST(AlertFieldParser, HandMadeEdgesAgreeWithDom) {
  AlertFieldParser parser;
  const char* cases[] = {
      "",
      " ",
      "{",
      "}",
      "[]",
      "{}",
      "null",
      "\"s\"",
      "1",
      "{} {}",
      "{}x",
      "{\"a\"}",
      "{\"a\":}",
      "{\"a\":1,}",
      "{,\"a\":1}",
      "{\"a\":1 \"b\":2}",
      "{\"a\":[1,]}",
      "{\"a\":[,1]}",
      "{\"a\":01}",
      "{\"a\":-}",
      "{\"a\":1.}",
      "{\"a\":.5}",
      "{\"a\":1e}",
      "{\"a\":1e400}",
      "{\"a\":1e280}",
      "{\"a\":1e281}",
      "{\"a\":123456789012345678}",
      "{\"a\":1234567890123456789}",
      "{\"a\":12345678901234567890123}",
      "{\"a\":-9223372036854775808}",
      "{\"a\":1.2345678901234567890}",
      "{\"a\":tru}",
      "{\"a\":truex}",
      "{\"a\":true\"x\"}",
      "{\"a\":nul}",
      "{\"a\":\"x\"y}",
      "{\"a\":\"\\x\"}",
      "{\"a\":\"\\u12\"}",
      "{\"a\":\"\\ud800\"}",
      "{\"a\":\"\\udc00\"}",
      "{\"a\":\"\\ud800\\u0041\"}",
      "{\"a\":\"\x01\"}",
      "{\"a\":\"\xff\"}",
      "{\"a\":\"\xc3\"}",
      "\xef\xbb\xbf{}",
      "{\"schema\":1}",
      "{\"item\":[]}",
      "{\"item\":{\"id\":1}}",
      "{\"item\":{\"id\":null}}",
      "{\"matches\":{}}",
      "{\"matches\":[1]}",
      "{\"matches\":[{\"rule\":1}]}",
      "{\"matches\":[{\"tags\":\"t\"}]}",
      "{\"matches\":[{\"tags\":[1]}]}",
      "{\"origin\":{\"timestamp_ms\":1.5}}",
      "{\"origin\":{\"timestamp_ms\":\"1\"}}",
      "{\"origin\":{\"timestamp_ms\":99999999999999999999}}",
      "{\"origin\":{\"timestamp_ms\":9223372036854775807}}",
      "{\"origin\":[]}",
      "{\"item\":{\"fingerprint\":\"0123456789ABCDEF\"}}",
      "{\"item\":{\"fingerprint\":\"0123456789abcdeg\"}}",
      "{\"item\":{\"fingerprint\":\"0123456789abcde\"}}",
      "{\"item\":{\"lead_fingerprint\":\"0123456789abcdef\",\"lead_fingerprint\":null}}",
      "{\"item\":{\"lead_fingerprint\":\"0123456789abcdeF\"}}",
      "{\"item\":{\"lead_fingerprint\":7}}",
      "{\"item\":{\"fingerprint_sentence\":\"0123456789abcdef\",\"fingerprint_sentence\":null}}",
      "{\"item\":{\"fingerprint_sentence\":\"0123456789abcdeF\"}}",
      "{\"item\":{\"fingerprint_sentence\":\"\\u0030123456789abcdef\"}}",
      "{\"item\":{\"fingerprint_sentence\":7}}",
      "{\"item\":{\"fingerprint_sentence2\":\"0123456789abcdef\",\"fingerprint_sentence2\":null}}",
      "{\"item\":{\"fingerprint_sentence2\":\"0123456789abcdeF\"}}",
      "{\"item\":{\"fingerprint_sentence2\":7}}",
      "{\"item\":{\"fingerprint_tokens\":312}}",
      "{\"item\":{\"fingerprint_tokens\":0}}",
      "{\"item\":{\"fingerprint_tokens\":-5}}",
      "{\"item\":{\"fingerprint_tokens\":70000}}",
      "{\"item\":{\"fingerprint_tokens\":12.5}}",
      "{\"item\":{\"fingerprint_tokens\":1e3}}",
      "{\"item\":{\"fingerprint_tokens\":\"312\"}}",
      "{\"item\":{\"fingerprint_tokens\":null}}",
      "{\"item\":{\"fingerprint_tokens\":[1]}}",
      "{\"item\":{\"fingerprint_tokens\":99999999999999999999}}",
      "{\"item\":{\"fingerprint_tokens\":-}}",
      "{\"item\":{\"fingerprint_tokens\":5,\"fingerprint_tokens\":true}}",
      "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
      "{\"a\":\"\\\"\"}",
      "{\"a\":\"\\\\\"}",
      "{\"a\":\"\\\\\\\"\"}",
      "{\"a\" : \"b\"\t}",
  };
  for (const char* c : cases) Compare(parser, c);
}

// item.fingerprint_tokens is a hint: an integer is read (clamped), anything else is ignored, by
// both paths alike, and never rejects the alert.
TEST(AlertFieldParser, ReadsTheTokenCountAsAHint) {
  AlertFieldParser parser;
  auto tokens = [&](std::string_view value) {
    const std::string json =
        "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"a\",\"fingerprint\":"
        "\"0123456789abcdef\",\"fingerprint_tokens\":" +
        std::string(value) + "}}";
    Compare(parser, json);
    AlertFields f;
    parser.Parse(json, &f);
    EXPECT_EQ(f.error, simdjson::SUCCESS) << value;
    EXPECT_TRUE(f.fp_ok) << value;
    return f.fingerprint_tokens;
  };
  EXPECT_EQ(tokens("312"), 312u);
  EXPECT_EQ(tokens("70000"), kMaxFingerprintTokens);
  EXPECT_EQ(tokens("-5"), 0u);
  EXPECT_EQ(tokens("12.5"), 0u);
  EXPECT_EQ(tokens("\"312\""), 0u);
  EXPECT_EQ(tokens("null"), 0u);
  EXPECT_EQ(tokens("[1]"), 0u);
}

// item.fingerprint_sentence: absent (an alert of an older version) or null is 0 and accepted, 16
// hex digits are read, anything else marks the alert bad (the stage rejects it, as a bad
// lead_fingerprint), by both paths alike.
TEST(AlertFieldParser, ReadsTheSentenceKey) {
  AlertFieldParser parser;
  struct Got {
    bool ok;
    Fingerprint sentence;
  };
  auto sentence = [&](std::string_view member) {
    const std::string json =
        "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"a\",\"fingerprint\":"
        "\"0123456789abcdef\"" +
        std::string(member) + "}}";
    Compare(parser, json);
    AlertFields f;
    parser.Parse(json, &f);
    EXPECT_EQ(f.error, simdjson::SUCCESS) << member;
    EXPECT_TRUE(f.fp_ok) << member;
    return Got{f.sentence_ok, f.sentence};
  };
  const Got absent = sentence("");
  EXPECT_TRUE(absent.ok);
  EXPECT_EQ(absent.sentence, 0u);
  const Got null = sentence(",\"fingerprint_sentence\":null");
  EXPECT_TRUE(null.ok);
  EXPECT_EQ(null.sentence, 0u);
  const Got key = sentence(",\"fingerprint_sentence\":\"00000000000000ff\"");
  EXPECT_TRUE(key.ok);
  EXPECT_EQ(key.sentence, 0xffu);
  EXPECT_FALSE(sentence(",\"fingerprint_sentence\":\"00000000000000FF\"").ok);
  EXPECT_FALSE(sentence(",\"fingerprint_sentence\":\"ff\"").ok);
}

// item.fingerprint_sentence2 as item.fingerprint_sentence: absent or null is 0 and accepted, 16
// hex digits are read, anything else marks the alert bad, by both paths alike; the two keys
// are read apart (neither name is taken for the other).
TEST(AlertFieldParser, ReadsTheSecondSentenceKey) {
  AlertFieldParser parser;
  auto parse = [&](std::string_view members, AlertFields* f) {
    const std::string json =
        "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"a\",\"fingerprint\":"
        "\"0123456789abcdef\"" +
        std::string(members) + "}}";
    Compare(parser, json);
    parser.Parse(json, f);
    EXPECT_EQ(f->error, simdjson::SUCCESS) << members;
  };
  AlertFields f;
  parse("", &f);
  EXPECT_TRUE(f.sentence2_ok);
  EXPECT_EQ(f.sentence2, 0u);
  parse(",\"fingerprint_sentence2\":null", &f);
  EXPECT_TRUE(f.sentence2_ok);
  EXPECT_EQ(f.sentence2, 0u);
  parse(
      ",\"fingerprint_sentence\":\"00000000000000ff\",\"fingerprint_sentence2\":"
      "\"0000000000000aff\"",
      &f);
  EXPECT_TRUE(f.sentence_ok && f.sentence2_ok);
  EXPECT_EQ(f.sentence, 0xffu);
  EXPECT_EQ(f.sentence2, 0xaffu);
  parse(",\"fingerprint_sentence2\":\"0000000000000aff\"", &f);
  EXPECT_EQ(f.sentence, 0u);
  EXPECT_EQ(f.sentence2, 0xaffu);
  parse(",\"fingerprint_sentence2\":\"0000000000000AFF\"", &f);
  EXPECT_FALSE(f.sentence2_ok);
  EXPECT_TRUE(f.sentence_ok);
  parse(",\"fingerprint_sentence2\":\"aff\"", &f);
  EXPECT_FALSE(f.sentence2_ok);
}

// The three fingerprints' hex digits (read 16 at a time by the parser) against
// ParseFingerprint's digit-by-digit reading: random strings of 15-17 bytes drawn mostly from the
// bytes at the edges of the accepted ranges ('/', '0', '9', ':', '`', 'a', 'f', 'g', upper case,
// DEL, UTF-8), and random valid keys.
TEST(AlertFieldParser, FingerprintDigitsAgreeWithParseFingerprint) {
  AlertFieldParser parser;
  std::mt19937_64 rng(13);
  const std::vector<std::string> pieces = {"/", "0", "1",    "5", "9", ":",        "@",
                                           "A", "F", "G",    "`", "a", "c",        "f",
                                           "g", "z", "\x7f", " ", "~", "\xc3\xa9", "\xe2\x80\xa8"};
  auto key = [&] {
    std::string k;
    const size_t want = 15 + rng() % 3;
    if (rng() % 3 == 0) {  // a valid key (or one digit off)
      AppendFingerprint(rng(), &k);
      const std::string_view ascii = "/09:@AFG`afgz~ \x7f";
      if (rng() % 2 == 0) k[rng() % 16] = ascii[rng() % ascii.size()];
      return k;
    }
    while (k.size() < want) k += pieces[rng() % pieces.size()];
    return k;
  };
  size_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string fp = key(), lead = key(), sentence = key();
    const std::string json =
        "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"a\",\"fingerprint\":\"" + fp +
        "\",\"lead_fingerprint\":\"" + lead + "\",\"fingerprint_sentence\":\"" + sentence + "\"}}";
    AlertFields f;
    parser.Parse(json, &f);
    ASSERT_EQ(f.error, simdjson::SUCCESS) << json;
    Fingerprint want = 0;
    const bool fp_ok = ParseFingerprint(fp, &want);
    EXPECT_EQ(f.fp_ok, fp_ok) << fp;
    if (fp_ok) {
      EXPECT_EQ(f.fp, want) << fp;
    }
    want = 0;
    const bool lead_ok = ParseFingerprint(lead, &want);
    EXPECT_EQ(f.lead_ok, lead_ok) << lead;
    EXPECT_EQ(f.lead, lead_ok ? want : 0) << lead;
    want = 0;
    const bool sentence_ok = ParseFingerprint(sentence, &want);
    EXPECT_EQ(f.sentence_ok, sentence_ok) << sentence;
    EXPECT_EQ(f.sentence, sentence_ok ? want : 0) << sentence;
    accepted += fp_ok + lead_ok + sentence_ok;
  }
  // Both verdicts seen many times.
  EXPECT_GT(accepted, 10000u);
  EXPECT_LT(accepted, 50000u);
}

// Event times of the common form ("YYYY-MM-DDTHH:MM:SSZ", read with fixed offsets) against the
// general parse of the same time written in a form only it reads (lower-case 't' and 'z', or a
// ".000" fraction): random digits around the edges (month 00-13, day 00-32, hour 24, minute
// 60, second 61, Feb 29 of leap and common years, years 0000-9999), and a byte off anywhere.
TEST(EventTime, TheCommonFormAgreesWithTheGeneralParse) {
  std::mt19937_64 rng(3);
  auto two = [&](int hi) {
    const int v = static_cast<int>(rng() % (hi + 1));
    return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
  };
  size_t accepted = 0;
  for (int i = 0; i < 200000; ++i) {
    char year[8];
    std::snprintf(
        year, sizeof year, "%04d",
        rng() % 4 == 0 ? static_cast<int>(rng() % 10000) : 1996 + static_cast<int>(rng() % 40));
    std::string t = std::string(year) + "-" + two(13) + "-" + two(32) + "T" + two(24) + ":" +
                    two(60) + ":" + two(61) + "Z";
    if (rng() % 8 == 0) t[rng() % t.size()] = "0:-TZ/ a9"[rng() % 9];
    int64_t ms = 0, want_ms = 0;
    bool has_time = false, want_time = false;
    const bool ok = ParseEventTime(t, &ms, &has_time);
    std::string general = t;
    if (rng() % 2 == 0) {
      for (char& c : general) c = c == 'T' ? 't' : c == 'Z' ? 'z' : c;
    } else if (general.size() == 20 && general[19] == 'Z') {
      general.insert(19, ".000");
    }
    const bool want = ParseEventTime(general, &want_ms, &want_time);
    ASSERT_EQ(ok, want) << t << " / " << general;
    if (ok) {
      EXPECT_EQ(ms, want_ms) << t;
      EXPECT_EQ(has_time, want_time) << t;
    }
    accepted += ok;
  }
  EXPECT_GT(accepted, 20000u);
  EXPECT_LT(accepted, 180000u);
}

// Every prefix of every seed, and each prefix closed by a '}': cut inside numbers (the walk's
// digit scans stop at the final '}' of an alert read in place, and nothing else stops them), in
// literals, strings and escapes. Compare hands each in an exactly sized buffer, so ASan (and
// valgrind, for simdjson's stage 1) sees a read past the end.
TEST(AlertFieldParser, PrefixesAgreeWithDom) {
  AlertFieldParser parser;
  size_t fast = 0;
  for (const std::string& seed : Seeds()) {
    for (size_t n = 0; n <= seed.size(); ++n) {
      const std::string prefix = seed.substr(0, n);
      Compare(parser, prefix);
      fast += Compare(parser, prefix + "}");
      if (::testing::Test::HasFailure()) return;
    }
  }
  // Some closed prefixes are whole alerts again (cut after a member of the root).
  EXPECT_GT(fast, 0u);
}

// Random edits of the seeds: bytes replaced (by JSON's own punctuation half of the time),
// inserted, deleted, and spans duplicated. Most mutants are invalid; many stay valid with other
// values. Deterministic (fixed seed) so a failure reproduces.
TEST(AlertFieldParser, MutantsAgreeWithDom) {
  AlertFieldParser parser;
  const std::vector<std::string> seeds = Seeds();
  std::mt19937_64 rng(13);
  const std::string_view punct = "{}[]:,\"\\ \t\n0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9\xe2\x80";
  size_t fast = 0, total = 0;
  for (int round = 0; round < 60000; ++round) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = rng() % s.size();
      const char c = rng() % 2 ? punct[rng() % punct.size()] : static_cast<char>(rng() % 256);
      switch (rng() % 4) {
        case 0:
          s[at] = c;
          break;
        case 1:
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        case 2:
          s.erase(at, 1 + rng() % 3);
          break;
        default: {
          const size_t len = std::min<size_t>(1 + rng() % 16, s.size() - at);
          s.insert(rng() % s.size(), s.substr(at, len));
        }
      }
    }
    fast += Compare(parser, s);
    ++total;
    if (::testing::Test::HasFailure()) break;
  }
  // The mutants exercise both paths.
  EXPECT_GT(fast, total / 20);
  EXPECT_LT(fast, total);
}

}  // namespace
}  // namespace steppewatch::stories

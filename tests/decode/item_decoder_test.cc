// Tests of the decode stage: every reason code, field paths, escapes, ids as numbers, nulls,
// duplicate keys, BOM, huge and deep items, stable views, and no allocation per item.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "steppewatch/decode/news_item.h"
#include "testing/counting_new.h"
#include "testing/paths.h"
#include "testing/status_matchers.h"

// This test binary counts operator new (testing/counting_new.h): the happy path of Decode() does
// not allocate once the decoder has seen its largest item.

namespace steppewatch::decode {
namespace {

using ::steppewatch::testing::IsOk;
using ::steppewatch::testing::StatusIs;
using ::testing::HasSubstr;

std::unique_ptr<ItemDecoder> MakeDecoder(const DecoderOptions& options = {}) {
  auto decoder = ItemDecoder::Create(options);
  EXPECT_THAT(decoder, IsOk());
  return decoder.ok() ? std::move(decoder).value() : nullptr;
}

struct Result {
  DecodeError error;
  NewsItem item;
  std::string detail;
};

Result DecodeOne(ItemDecoder& decoder, std::string_view payload) {
  Result r;
  r.error = decoder.Decode(payload, &r.item, &r.detail);
  return r;
}

TEST(DecodeErrorName, NamesAreUniqueAndStable) {
  std::set<std::string_view> names;
  for (int i = 0; i < kDecodeErrorCount; ++i) {
    names.insert(DecodeErrorName(static_cast<DecodeError>(i)));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kDecodeErrorCount));
  EXPECT_EQ(DecodeErrorName(DecodeError::kTooLarge), "too_large");
  EXPECT_EQ(DecodeErrorName(DecodeError::kInvalidUtf8), "invalid_utf8");
  EXPECT_EQ(DecodeErrorName(DecodeError::kWrongType), "wrong_type");
  EXPECT_EQ(FieldName(Field::kTitle), "title");
  EXPECT_EQ(FieldName(Field::kBody), "body");
}

TEST(ItemDecoder, DecodesAllFields) {
  auto d = MakeDecoder();
  Result r = DecodeOne(*d, R"({"id":"a1","title":"T","body":"B","url":"https://x/1",
      "source":"S","lang":"en","published_at":"2022-11-20T08:00:00Z","extra":[1,{"k":null}]})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.id, "a1");
  EXPECT_EQ(r.item.title, "T");
  EXPECT_EQ(r.item.body, "B");
  EXPECT_EQ(r.item.url, "https://x/1");
  EXPECT_EQ(r.item.source, "S");
  EXPECT_EQ(r.item.lang, "en");
  EXPECT_EQ(r.item.published_at, "2022-11-20T08:00:00Z");
  EXPECT_EQ(r.item.text(Field::kTitle), "T");
  EXPECT_EQ(r.item.text(Field::kBody), "B");
}

// One row per reason code (and several per code where the cause differs).
struct BadCase {
  const char* name;
  std::string payload;
  DecodeError error;
  const char* detail_has;
};

class ReasonTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ReasonTest, ReturnsReasonAndDetail) {
  DecoderOptions options;
  options.max_item_bytes = 200;
  auto d = MakeDecoder(options);
  const BadCase& c = GetParam();
  Result r = DecodeOne(*d, c.payload);
  EXPECT_EQ(r.error, c.error) << DecodeErrorName(r.error) << ": " << r.detail;
  EXPECT_THAT(r.detail, HasSubstr(c.detail_has));
  EXPECT_TRUE(r.item.id.empty() && r.item.title.empty() && r.item.body.empty());
}

INSTANTIATE_TEST_SUITE_P(
    AllReasons, ReasonTest,
    ::testing::Values(
        BadCase{"empty", std::string(""), DecodeError::kEmptyPayload, "zero bytes"},
        BadCase{"too_large", R"({"id":"1","title":")" + std::string(200, 'x') + R"("})",
                DecodeError::kTooLarge, "> max_item_bytes 200"},
        BadCase{"bad_utf8", "{\"id\":\"1\",\"title\":\"\xC3\x28\"}", DecodeError::kInvalidUtf8,
                "UTF-8"},
        BadCase{"overlong_utf8", "{\"id\":\"1\",\"title\":\"\xC0\xAF\"}", DecodeError::kInvalidUtf8,
                "UTF-8"},
        BadCase{"raw_surrogate", "{\"id\":\"1\",\"title\":\"\xED\xA0\x80\"}",
                DecodeError::kInvalidUtf8, "UTF-8"},
        // Invalid UTF-8 is the reason whatever else is wrong, wherever it is (simdjson's first
        // stage validates the whole payload; its other errors come first, so the decoder checks
        // UTF-8 again before reporting one of them).
        BadCase{"bad_utf8_in_unclosed_string", "{\"id\":\"1\",\"title\":\"\xC3\x28",
                DecodeError::kInvalidUtf8, "payload is not valid UTF-8"},
        BadCase{"bad_utf8_and_raw_control", "{\"id\":\"1\",\"title\":\"\xC3\x28\n\"}",
                DecodeError::kInvalidUtf8, "payload is not valid UTF-8"},
        BadCase{"bad_utf8_in_skipped_value", "{\"id\":\"1\",\"x\":\"\xF5\x80\",\"title\":\"t\"}",
                DecodeError::kInvalidUtf8, "payload is not valid UTF-8"},
        BadCase{"bad_utf8_in_key", "{\"id\":\"1\",\"\xFF\":1,\"title\":\"t\"}",
                DecodeError::kInvalidUtf8, "payload is not valid UTF-8"},
        BadCase{"bad_utf8_after_root", "{\"id\":\"1\",\"title\":\"t\"} \xC3",
                DecodeError::kInvalidUtf8, "payload is not valid UTF-8"},
        BadCase{"bad_utf8_in_prose", "not json \xE2\x82", DecodeError::kInvalidUtf8,
                "payload is not valid UTF-8"},
        BadCase{"bad_utf8_after_bom", "\xEF\xBB\xBF{\"id\":\"1\",\"title\":\"\xC3\"}",
                DecodeError::kInvalidUtf8, "payload is not valid UTF-8"},
        BadCase{"bad_utf8_in_array_root", "[\"\xC3\x28\"]", DecodeError::kInvalidUtf8,
                "payload is not valid UTF-8"},
        BadCase{"truncated", R"({"id":"1","title":"x")", DecodeError::kInvalidJson, "document"},
        BadCase{"not_json", "hello", DecodeError::kInvalidJson, ""},
        BadCase{"whitespace_only", "  \n", DecodeError::kInvalidJson, "document"},
        BadCase{"trailing", R"({"id":"1","title":"x"} {"id":"2"})", DecodeError::kInvalidJson,
                "trailing"},
        BadCase{"bad_escape", R"({"id":"1","title":"a\qb"})", DecodeError::kInvalidJson,
                "field 'title'"},
        BadCase{"lone_surrogate_escape", R"({"id":"1","title":"\uD800x"})",
                DecodeError::kInvalidJson, "field 'title'"},
        BadCase{"raw_control_char", std::string("{\"id\":\"1\",\"title\":\"a\nb\"}"),
                DecodeError::kInvalidJson, ""},
        BadCase{"raw_nul", std::string(R"({"id":"1","title":"a)") + '\0' + "b\"}",
                DecodeError::kInvalidJson, ""},
        BadCase{"bad_literal", R"({"id":"1","title":nul})", DecodeError::kInvalidJson,
                "field 'title'"},
        BadCase{"malformed_number_id", R"({"id":01,"title":"x"})", DecodeError::kInvalidJson,
                "field 'id': malformed number"},
        BadCase{"array_root", "[1,2]", DecodeError::kNotAnObject, "not a JSON object"},
        BadCase{"string_root", R"("x")", DecodeError::kNotAnObject, "not a JSON object"},
        BadCase{"number_root", "42", DecodeError::kNotAnObject, "not a JSON object"},
        BadCase{"null_root", " null ", DecodeError::kNotAnObject, "not a JSON object but null"},
        BadCase{"true_root", "true", DecodeError::kNotAnObject, "not a JSON object but boolean"},
        // Text that only starts like a JSON value is not JSON (simdjson's type() reads one
        // byte): these were "not_an_object" once.
        BadCase{"prose_like_null", "not json at all", DecodeError::kInvalidJson, "not JSON"},
        BadCase{"prose_like_bool", "true story", DecodeError::kInvalidJson, "not JSON"},
        BadCase{"prose_like_number", "404 not found", DecodeError::kInvalidJson, "not JSON"},
        BadCase{"number_then_bracket", "42 ]", DecodeError::kInvalidJson, "not JSON"},
        BadCase{"prose_like_string", "\"quoted\" and more", DecodeError::kInvalidJson, "not JSON"},
        BadCase{"unclosed_array", "[1,2", DecodeError::kInvalidJson, ""},
        BadCase{"array_then_text", "[1,2] and more", DecodeError::kInvalidJson, "not JSON"},
        BadCase{"null_then_text", "null x", DecodeError::kInvalidJson, "not JSON"},
        BadCase{"no_id", R"({"title":"x"})", DecodeError::kMissingId, "field 'id'"},
        BadCase{"null_id", R"({"id":null,"title":"x"})", DecodeError::kMissingId, "field 'id'"},
        BadCase{"empty_id", R"({"id":"","title":"x"})", DecodeError::kMissingId, "field 'id'"},
        BadCase{"no_text", R"({"id":"1","url":"u"})", DecodeError::kNoText, "'title' and 'body'"},
        BadCase{"empty_text", R"({"id":"1","title":"","body":null})", DecodeError::kNoText,
                "'title' and 'body'"},
        BadCase{"title_number", R"({"id":"1","title":5})", DecodeError::kWrongType,
                "field 'title': expected a string, got number"},
        BadCase{"body_object", R"({"id":"1","body":{"a":1}})", DecodeError::kWrongType,
                "field 'body': expected a string, got object"},
        BadCase{"lang_bool", R"({"id":"1","title":"t","lang":false})", DecodeError::kWrongType,
                "field 'lang': expected a string, got boolean"},
        BadCase{"id_array", R"({"id":[1],"title":"t"})", DecodeError::kWrongType,
                "field 'id': expected a string or a number, got array"},
        BadCase{"id_bool", R"({"id":true,"title":"t"})", DecodeError::kWrongType, "got boolean"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

TEST(ItemDecoder, NullDataIsTombstone) {
  auto d = MakeDecoder();
  Result r = DecodeOne(*d, std::string_view());
  EXPECT_EQ(r.error, DecodeError::kTombstone);
}

TEST(ItemDecoder, DetailIsOptional) {
  auto d = MakeDecoder();
  NewsItem item;
  EXPECT_EQ(d->Decode("[]", &item), DecodeError::kNotAnObject);
  EXPECT_EQ(d->Decode(R"({"id":"1","title":"t"})", &item, nullptr), DecodeError::kOk);
}

TEST(ItemDecoder, NestedPaths) {
  DecoderOptions options;
  options.fields.id = "meta.ids.guid";
  options.fields.title = "content.headline";
  options.fields.body = "content.text";
  options.fields.lang = "meta.lang";
  auto d = MakeDecoder(options);
  Result r = DecodeOne(*d, R"({"meta":{"skip":{"lang":"no"},"lang":"kk","ids":{"guid":"g-7"}},
      "content":{"headline":"Қазақстан","text":"body"},"lang":"ignored","title":"ignored"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.id, "g-7");
  EXPECT_EQ(r.item.title, "Қазақстан");
  EXPECT_EQ(r.item.body, "body");
  EXPECT_EQ(r.item.lang, "kk");

  r = DecodeOne(*d, R"({"meta":{"ids":{"guid":"g"}},"content":"flat"})");
  EXPECT_EQ(r.error, DecodeError::kWrongType);
  EXPECT_THAT(r.detail, HasSubstr("field 'content': expected an object, got string"));

  r = DecodeOne(*d, R"({"meta":{"ids":{"guid":"g"},"lang":7},"content":{"text":"x"}})");
  EXPECT_EQ(r.error, DecodeError::kWrongType);
  EXPECT_THAT(r.detail, HasSubstr("field 'meta.lang'"));

  // A null object on the path means its fields are absent.
  r = DecodeOne(*d, R"({"meta":{"ids":{"guid":"g"}},"content":null})");
  EXPECT_EQ(r.error, DecodeError::kNoText);
}

TEST(ItemDecoder, CreateRejectsBadPaths) {
  DecoderOptions options;
  options.fields.lang = "";
  EXPECT_THAT(ItemDecoder::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("field 'lang'")));
  options = {};
  options.fields.lang = "meta..lang";
  EXPECT_THAT(ItemDecoder::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty component")));
  options = {};
  options.fields.lang = "title.lang";  // goes through the title's path
  EXPECT_THAT(ItemDecoder::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'title'")));
  options = {};
  options.fields.url = "source";  // two fields may share one path
  EXPECT_THAT(ItemDecoder::Create(options), IsOk());
  options = {};
  options.max_item_bytes = 0;
  EXPECT_THAT(ItemDecoder::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_item_bytes")));
}

TEST(ItemDecoder, SharedPathFillsBothFields) {
  DecoderOptions options;
  options.fields.url = "link";
  options.fields.source = "link";
  auto d = MakeDecoder(options);
  Result r = DecodeOne(*d, R"({"id":"1","title":"t","link":"https://a"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.url, "https://a");
  EXPECT_EQ(r.item.source, "https://a");
}

TEST(ItemDecoder, UnescapesStrings) {
  auto d = MakeDecoder();
  Result r =
      DecodeOne(*d, R"({"id":"\u0031","title":"\u0417\u0430\u043a\u043e\u043d \"q\"\n\t\\\/",)"
                    R"("body":"smile \uD83D\uDE00 end","url":"a\u0000b"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.id, "1");
  EXPECT_EQ(r.item.title, "Закон \"q\"\n\t\\/");
  EXPECT_EQ(r.item.body, "smile \xF0\x9F\x98\x80 end");
  EXPECT_EQ(r.item.url, std::string_view("a\0b", 3));
}

TEST(ItemDecoder, EscapedKeysMatch) {
  auto d = MakeDecoder();
  Result r = DecodeOne(*d, R"({"\u0069d":"k","t\u0069tle":"x"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.id, "k");
  EXPECT_EQ(r.item.title, "x");
}

// Keys are compared raw when they hold no backslash, and unescaped otherwise: over random
// objects whose keys are the configured names, escaped spellings of them, near misses (a
// prefix, an extension, an escaped quote or NUL after the name, other case) and bad escapes,
// each configured field must hold the value of its last exactly-named key (or the error of a
// bad key), as when every key was unescaped.
TEST(ItemDecoder, RawAndEscapedKeySpellingsMatchAsUnescaped) {
  auto d = MakeDecoder();
  struct Spelling {
    std::string_view json;  // the key as written between the quotes
    int slot;               // the configured field it names after unescaping, or -1
    bool bad = false;       // an escape that encodes nothing: the item is invalid JSON
  };
  // Slots: 0 id, 1 title, 2 body, 3 lang.
  const std::vector<Spelling> spellings = {{"id", 0},
                                           {"\\u0069d", 0},
                                           {"i\\u0064", 0},
                                           {"\\u0069\\u0064", 0},
                                           {"title", 1},
                                           {"t\\u0069tle", 1},
                                           {"titl\\u0065", 1},
                                           {"body", 2},
                                           {"b\\u006fdy", 2},
                                           {"lang", 3},
                                           {"lan\\u0067", 3},
                                           {"i", -1},
                                           {"idx", -1},
                                           {"id\\u0000", -1},
                                           {"id\\\"", -1},
                                           {"\\\"id", -1},
                                           {"Id", -1},
                                           {"titles", -1},
                                           {"tit", -1},
                                           {"bod\\\\y", -1},
                                           {"body\\/", -1},
                                           {"\\u0062ody2", -1},
                                           {"", -1},
                                           {"\\u0442itle", -1},
                                           {"lang\\t", -1},
                                           {"i\\qd", -1, true},
                                           {"ti\\u12tle", -1, true},
                                           {"a key longer than sixteen bytes", -1},
                                           {"id and then sixteen more", -1},
                                           {"\\u0069d and then sixteen more", -1}};
  std::mt19937 rng(16);
  for (int round = 0; round < 3000; ++round) {
    std::string json = "{";
    std::string_view expected[4];
    bool bad = false;
    const int fields = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < fields; ++f) {
      const Spelling& k = spellings[rng() % spellings.size()];
      // Values: a plain string, an escaped one, null, or (off the paths only) an object.
      const int kind = static_cast<int>(rng() % 4);
      std::string value;
      std::string_view decoded;
      static const std::string_view kValues[] = {"v0", "v1", "v2", "v3", "v4", "v5"};
      const size_t v = rng() % 6;
      if (kind == 0 || (kind == 3 && k.slot >= 0)) {
        value = "\"" + std::string(kValues[v]) + "\"";
        decoded = kValues[v];
      } else if (kind == 1) {
        value = "\"\\u0076" + std::string(kValues[v].substr(1)) + "\"";
        decoded = kValues[v];
      } else if (kind == 2) {
        value = "null";
      } else {
        value = R"({"id":"nested","title":"nested"})";
      }
      if (f > 0) json += ",";
      json += "\"" + std::string(k.json) + "\":" + value;
      bad |= k.bad;
      if (k.slot >= 0) expected[k.slot] = decoded;
    }
    json += "}";
    Result r = DecodeOne(*d, json);
    SCOPED_TRACE(json);
    if (bad) {
      EXPECT_EQ(r.error, DecodeError::kInvalidJson);
      EXPECT_THAT(r.detail, HasSubstr("bad key"));
      continue;
    }
    if (expected[0].empty()) {
      EXPECT_EQ(r.error, DecodeError::kMissingId);
      continue;
    }
    if (expected[1].empty() && expected[2].empty()) {
      EXPECT_EQ(r.error, DecodeError::kNoText);
      continue;
    }
    EXPECT_EQ(r.error, DecodeError::kOk) << r.detail;
    if (r.error != DecodeError::kOk) continue;
    EXPECT_EQ(r.item.id, expected[0]);
    EXPECT_EQ(r.item.title, expected[1]);
    EXPECT_EQ(r.item.body, expected[2]);
    EXPECT_EQ(r.item.lang, expected[3]);
  }
}

TEST(ItemDecoder, ViewsOfOneItemStayIntact) {
  // Every field has escapes, so every one is unescaped into the shared string buffer.
  auto d = MakeDecoder();
  Result r = DecodeOne(*d, R"({"title":"\u0410-title","body":"\u0411-body","url":"\u0412-url",)"
                           R"("source":"\u0413-src","lang":"\u0414","id":"\u0415-id"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.title, "А-title");
  EXPECT_EQ(r.item.body, "Б-body");
  EXPECT_EQ(r.item.url, "В-url");
  EXPECT_EQ(r.item.source, "Г-src");
  EXPECT_EQ(r.item.lang, "Д");
  EXPECT_EQ(r.item.id, "Е-id");
}

TEST(ItemDecoder, NumericIdsKeepTheirRawText) {
  auto d = MakeDecoder();
  for (std::string id :
       {"12345", "-7", "0", "1.5e3", "-0.25E-2", "123456789012345678901234567890"}) {
    Result r = DecodeOne(*d, R"({"id":)" + id + R"( ,"title":"t"})");
    ASSERT_EQ(r.error, DecodeError::kOk) << id << ": " << r.detail;
    EXPECT_EQ(r.item.id, id);
  }
  Result r = DecodeOne(*d, R"({"id":1x,"title":"t"})");
  EXPECT_EQ(r.error, DecodeError::kInvalidJson);
  r = DecodeOne(*d, R"({"id":"1","title":"t","lang":5})");
  EXPECT_EQ(r.error, DecodeError::kWrongType) << "only the id may be a number";
}

TEST(ItemDecoder, NullMeansAbsent) {
  auto d = MakeDecoder();
  Result r = DecodeOne(*d, R"({"id":"1","title":null,"body":"b","url":null,"lang":null})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_TRUE(r.item.title.empty());
  EXPECT_TRUE(r.item.url.empty());
  EXPECT_EQ(r.item.body, "b");
}

TEST(ItemDecoder, LastDuplicateKeyWins) {
  auto d = MakeDecoder();
  Result r = DecodeOne(*d, R"({"id":"1","title":"first","title":"second","body":"b"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.title, "second");
  r = DecodeOne(*d, R"({"id":"1","title":"first","title":null,"body":"b"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_TRUE(r.item.title.empty());
  // Every occurrence is checked: an earlier bad value fails even if a later one is good.
  r = DecodeOne(*d, R"({"id":"1","title":5,"title":"ok"})");
  EXPECT_EQ(r.error, DecodeError::kWrongType);
}

TEST(ItemDecoder, LeadingBomIsSkipped) {
  auto d = MakeDecoder();
  Result r = DecodeOne(*d, "\xEF\xBB\xBF{\"id\":\"1\",\"title\":\"t\"}");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.title, "t");
  r = DecodeOne(*d, "\xEF\xBB\xBF");
  EXPECT_EQ(r.error, DecodeError::kInvalidJson);
  r = DecodeOne(*d, "\xEF\xBB\xBF\xEF\xBB\xBF{\"id\":\"1\",\"title\":\"t\"}");
  EXPECT_EQ(r.error, DecodeError::kInvalidJson) << "only one BOM is skipped";
}

TEST(ItemDecoder, SizeLimitIsInclusive) {
  DecoderOptions options;
  options.max_item_bytes = 64;
  auto d = MakeDecoder(options);
  std::string item = R"({"id":"1","title":")";
  item += std::string(64 - item.size() - 2, 'x') + "\"}";
  ASSERT_EQ(item.size(), 64u);
  EXPECT_EQ(DecodeOne(*d, item).error, DecodeError::kOk);
  item.insert(20, "x");
  EXPECT_EQ(DecodeOne(*d, item).error, DecodeError::kTooLarge);
}

TEST(ItemDecoder, HugeItemsGrowTheBufferAndSmallOnesStillWork) {
  DecoderOptions options;
  options.max_item_bytes = 8 << 20;
  auto d = MakeDecoder(options);
  std::string body(5 << 20, 'a');
  for (size_t i = 0; i < body.size(); i += 1000) body[i] = ' ';
  Result r = DecodeOne(*d, R"({"id":"big","title":"\u00e9","body":")" + body + "\"}");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.body.size(), body.size());
  EXPECT_EQ(r.item.body, body);
  EXPECT_EQ(r.item.title, "é");
  r = DecodeOne(*d, R"({"id":"small","body":"b"})");
  ASSERT_EQ(r.error, DecodeError::kOk) << r.detail;
  EXPECT_EQ(r.item.id, "small");
  // A 100 MB payload is refused before it is copied or scanned.
  std::string hostile(100 << 20, '[');
  EXPECT_EQ(DecodeOne(*d, hostile).error, DecodeError::kTooLarge);
}

TEST(ItemDecoder, DeepNesting) {
  auto d = MakeDecoder();
  const int depth = 100000;
  // In a value that is not read: skipped iteratively (no recursion), so it is harmless.
  std::string skipped =
      R"({"id":"1","title":"t","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  EXPECT_EQ(DecodeOne(*d, skipped).error, DecodeError::kOk);
  // Unbalanced nesting is found by simdjson's structural pass.
  std::string unbalanced = R"({"id":"1","title":"t","x":)" + std::string(depth, '[') + "}";
  EXPECT_EQ(DecodeOne(*d, unbalanced).error, DecodeError::kInvalidJson);
  // On a configured path: a deep object where a string is expected is a wrong type.
  std::string on_path =
      R"({"id":"1","title":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  EXPECT_EQ(DecodeOne(*d, on_path).error, DecodeError::kWrongType);
  // As the root: not an object.
  EXPECT_EQ(DecodeOne(*d, std::string(depth, '[') + std::string(depth, ']')).error,
            DecodeError::kNotAnObject);
}

TEST(ItemDecoder, PayloadNeedNotOutliveDecode) {
  auto d = MakeDecoder();
  NewsItem item;
  {
    std::string payload = R"({"id":7,"title":"plain","body":"\u0411"})";
    ASSERT_EQ(d->Decode(payload, &item), DecodeError::kOk);
    payload.assign(payload.size(), '#');
  }
  EXPECT_EQ(item.id, "7");
  EXPECT_EQ(item.title, "plain");
  EXPECT_EQ(item.body, "Б");
}

// Regression (found by the fuzzer): a truncated item decoded after a longer one used to see the
// longer item's bytes in the padding and get another result than on a fresh decoder.
TEST(ItemDecoder, ResultDependsOnlyOnThePayload) {
  const std::string truncated = R"({"id":{"id":98766543210,"body":ti43210,"body":})";
  const std::string longer = R"({"id":"x","title":")" + std::string(300, 'y') + R"("}  }]}]]})";
  auto fresh = MakeDecoder();
  Result expected = DecodeOne(*fresh, truncated);
  auto used = MakeDecoder();
  for (const std::string& before : {longer, std::string(R"({"id":"1","body":"b"})")}) {
    DecodeOne(*used, before);
    Result r = DecodeOne(*used, truncated);
    EXPECT_EQ(r.error, expected.error) << r.detail << " vs " << expected.detail;
    EXPECT_EQ(r.detail, expected.detail);
  }
}

TEST(ItemDecoder, HappyPathDoesNotAllocate) {
  auto d = MakeDecoder();
  std::vector<std::string> items;
  for (int i = 0; i < 100; ++i) {
    items.push_back(R"({"id":)" + std::to_string(i) + R"(,"title":"Заголовок \u2014 )" +
                    std::to_string(i) + R"(","body":")" + std::string(100 + 30 * i, 'b') +
                    R"(","url":"u","source":"s","lang":"ru","meta":{"k":[1,2,3]}})");
  }
  NewsItem item;
  std::string detail;
  detail.reserve(256);
  ASSERT_EQ(d->Decode(items.back(), &item, &detail), DecodeError::kOk) << detail;
  // The counter sees allocations (else this test could not fail).
  const long probe = steppewatch::testing::Allocations();
  delete new std::string(100, 'x');
  ASSERT_GT(steppewatch::testing::Allocations(), probe);

  size_t total = 0;
  const long before = steppewatch::testing::Allocations();
  for (int round = 0; round < 10; ++round) {
    for (const std::string& payload : items) {
      if (d->Decode(payload, &item, &detail) == DecodeError::kOk) total += item.body.size();
    }
  }
  const long after = steppewatch::testing::Allocations();
  EXPECT_EQ(after - before, 0);
  EXPECT_GT(total, 0u);
}

// tests/data/items/<reason>.<case>.json: a table of bad items as files (raw bytes that do not fit
// in a source string literal: invalid UTF-8, NUL bytes, BOMs). The reason is the name's prefix.
TEST(ItemDecoder, BadItemsTable) {
  const std::filesystem::path dir = steppewatch::testing::SourceDir() / "tests/data/items";
  auto d = MakeDecoder();
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".json") continue;
    const std::string reason = name.substr(0, name.find('.'));
    std::ifstream in(entry.path(), std::ios::binary);
    std::string payload((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result r = DecodeOne(*d, payload);
    EXPECT_EQ(DecodeErrorName(r.error), reason) << name << ": " << r.detail;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

}  // namespace
}  // namespace steppewatch::decode

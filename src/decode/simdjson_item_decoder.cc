// SimdjsonItemDecoder: the ItemDecoder of news_item.h, built on simdjson On-Demand.
//
// Per item: check size, copy into the padded buffer, parse (simdjson validates UTF-8 in its first
// stage), walk the root object once.
// The configured field paths form a small trie; each object on a path is iterated once, and every
// key not on a path is skipped by simdjson without being materialised. String values are
// unescaped into `strings_`, a buffer that is at least as large as the payload: an unescaped
// JSON string is never longer than its quoted source text, so the strings of one item always fit
// and no view is invalidated by a later unescape in the same item.
//
// Decisions (documented in news_item.h as well):
//   - Duplicate keys: every occurrence of a configured key is read and checked; the LAST one wins
//     (as in JavaScript's JSON.parse and Python's json), so a later null clears an earlier value.
//   - A UTF-8 byte-order mark at the start is skipped (RFC 8259 section 8.1 lets parsers ignore
//     it; producers on Windows write it). Anywhere else it is ordinary text.
//   - Values of keys that are not on a configured path are skipped structurally: simdjson does not
//     validate their scalars or their nesting depth (skipping is iterative, so depth cannot
//     exhaust the stack). Everything that is read is fully validated, and trailing content after
//     the root object is an error.
#include <emmintrin.h>  // SSE2: part of the x86-64 baseline

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "simdjson.h"
#include "steppewatch/common/strings.h"
#include "steppewatch/decode/news_item.h"

namespace steppewatch::decode {
namespace {

namespace ondemand = simdjson::ondemand;
using strings::kJsonWhitespace;
using strings::Trim;

// The fields of NewsItem in the order of FieldPaths; bit i of a leaf mask is slot i.
enum Slot : uint8_t { kId, kTitle, kBody, kUrl, kSource, kLang, kPublishedAt, kSlotCount };

// The first buffer size: covers the typical 3 KB news item and most long ones (the bench corpus
// tops out around 60 KB), so a worker rarely grows its buffers after start.
constexpr size_t kInitialCapacity = 64 * 1024;

// Concatenates error-detail text (failure path only). Debian's abseil has its own string_view
// type (ABSL_OPTION_USE_STD_STRING_VIEW is 0), so absl::StrCat does not take std::string_view.
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  return Cat({std::string_view(parts)...});
}

// A UTF-8 byte-order mark.
constexpr std::string_view kBom = "\xEF\xBB\xBF";

struct PathNode {
  std::string key;        // this component ("lang" in "meta.lang"); empty for the root
  std::string path;       // the full dotted path, for error details
  uint8_t leaf_mask = 0;  // slots whose path ends here
  std::vector<uint16_t> children;
};

// Returns true when `text` is a JSON number (RFC 8259 section 6): -?(0|[1-9][0-9]*)(.[0-9]+)?
// ([eE][+-]?[0-9]+)?. simdjson's On-Demand classifies a value as a number by its first byte only;
// ids are kept as raw text (so 20-digit ids survive), hence this check instead of get_number().
bool IsJsonNumber(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  auto digit = [&](size_t at) { return at < n && text[at] >= '0' && text[at] <= '9'; };
  if (i < n && text[i] == '-') ++i;
  if (!digit(i)) return false;
  if (text[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == n;
}

std::string_view TypeName(ondemand::json_type type) {
  switch (type) {
    case ondemand::json_type::array:
      return "array";
    case ondemand::json_type::object:
      return "object";
    case ondemand::json_type::number:
      return "number";
    case ondemand::json_type::string:
      return "string";
    case ondemand::json_type::boolean:
      return "boolean";
    case ondemand::json_type::null:
      return "null";
  }
  return "unknown";
}

// Returns true when the root of `doc`, of type `type` (not an object), is that JSON value and
// nothing follows it. A scalar must be the whole payload (its raw token ends at the next
// structural character, which prose has plenty of) and read as its type; an array is skipped
// structurally (balanced brackets, its scalars unchecked), as values off the configured paths
// are.
bool RootValueIsWellFormed(ondemand::document& doc, ondemand::json_type type,
                           std::string_view payload) {
  if (type == ondemand::json_type::array) {
    ondemand::array array;
    std::string_view raw;
    // current_location() fails with OUT_OF_BOUNDS exactly when the whole input was consumed.
    return !doc.get_array().get(array) && !array.raw_json().get(raw) &&
           doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
  }
  std::string_view token;
  if (doc.raw_json_token().get(token)) return false;
  token = Trim(token, kJsonWhitespace);
  payload = Trim(payload, kJsonWhitespace);
  if (token != payload) return false;
  switch (type) {
    case ondemand::json_type::null:
      return token == "null";
    case ondemand::json_type::boolean:
      return token == "true" || token == "false";
    case ondemand::json_type::number:
      return IsJsonNumber(token);
    case ondemand::json_type::string: {
      std::string_view s;
      return !doc.get_string().get(s);
    }
    default:
      return true;
  }
}

class SimdjsonItemDecoder final : public ItemDecoder {
 public:
  SimdjsonItemDecoder(const DecoderOptions& options, std::vector<PathNode> nodes)
      : max_item_bytes_(options.max_item_bytes), nodes_(std::move(nodes)) {}

  absl::Status Init() {
    if (!Grow(std::min(kInitialCapacity, max_item_bytes_))) {
      return absl::ResourceExhaustedError("cannot allocate the simdjson parser");
    }
    return absl::OkStatus();
  }

  DecodeError Decode(std::string_view payload, NewsItem* item, std::string* detail) override {
    *item = NewsItem{};
    if (payload.data() == nullptr) return Fail(DecodeError::kTombstone, detail, "null value");
    if (payload.empty()) return Fail(DecodeError::kEmptyPayload, detail, "zero bytes");
    // Checked before anything touches the bytes: a hostile 100 MB message costs nothing.
    if (payload.size() > max_item_bytes_) {
      return Fail(DecodeError::kTooLarge, detail,
                  Cat(std::to_string(payload.size()), " bytes > max_item_bytes ",
                      std::to_string(max_item_bytes_)));
    }
    // UTF-8 is validated by simdjson's first stage, over the whole payload, inside iterate()
    // below (a separate pass cost ~1.3% of the item path). Every failure that a separate check
    // before everything else would have pre-empted checks it first, so the reasons stay as they
    // were: invalid UTF-8 is kInvalidUtf8 whatever else is wrong.
    const std::string_view whole = payload;
    if (payload.substr(0, kBom.size()) == kBom) payload.remove_prefix(kBom.size());
    if (payload.size() > capacity_ && !Grow(payload.size())) {
      if (!simdjson::validate_utf8(whole.data(), whole.size())) return InvalidUtf8(detail);
      return Fail(DecodeError::kTooLarge, detail, "cannot allocate a buffer for the item");
    }
    std::memcpy(buffer_.get(), payload.data(), payload.size());
    // simdjson may look at the padding when a document ends early; stale bytes of an earlier,
    // longer item there made the result of a truncated item depend on history (found by the
    // fuzzer). Zeroing 64 bytes per item makes decoding a function of the payload alone.
    std::memset(buffer_.get() + payload.size(), 0, simdjson::SIMDJSON_PADDING);
    string_cursor_ = strings_.get();
    values_.fill(std::string_view());

    ondemand::document doc;
    if (auto error =
            parser_.iterate(buffer_.get(), payload.size(), capacity_ + simdjson::SIMDJSON_PADDING)
                .get(doc)) {
      if (error == simdjson::UTF8_ERROR || !simdjson::validate_utf8(whole.data(), whole.size())) {
        return InvalidUtf8(detail);
      }
      return Fail(DecodeError::kInvalidJson, detail,
                  Cat("document: ", simdjson::error_message(error)));
    }
    // type() looks at the first byte only: a root that starts like no JSON value is an error
    // here, while a well-formed array, string, number or literal is "not an object".
    ondemand::json_type root_type;
    if (auto error = doc.type().get(root_type)) {
      return Fail(DecodeError::kInvalidJson, detail,
                  Cat("document: ", simdjson::error_message(error)));
    }
    if (root_type != ondemand::json_type::object) {
      // type() saw only the first byte: "not json" starts like null, "true story" like a
      // boolean. Only a root that reads as that JSON value, with nothing after it, is
      // "not_an_object"; anything else is not JSON at all.
      if (!RootValueIsWellFormed(doc, root_type, payload)) {
        return Fail(DecodeError::kInvalidJson, detail,
                    Cat("document: not JSON (it starts like a JSON ", TypeName(root_type),
                        " but is not one)"));
      }
      return Fail(DecodeError::kNotAnObject, detail,
                  Cat("the root is not a JSON object but ", TypeName(root_type)));
    }
    ondemand::object root;
    if (auto error = doc.get_object().get(root)) {
      return Fail(DecodeError::kInvalidJson, detail,
                  Cat("document: ", simdjson::error_message(error)));
    }
    if (DecodeError e = Walk(root, 0, detail); e != DecodeError::kOk) return e;
    // current_location() fails with OUT_OF_BOUNDS exactly when the whole input was consumed.
    if (!doc.current_location().error()) {
      return Fail(DecodeError::kInvalidJson, detail, "trailing content after the root object");
    }

    item->id = values_[kId];
    item->title = values_[kTitle];
    item->body = values_[kBody];
    item->url = values_[kUrl];
    item->source = values_[kSource];
    item->lang = values_[kLang];
    item->published_at = values_[kPublishedAt];
    if (item->id.empty()) {
      *item = NewsItem{};
      return Fail(DecodeError::kMissingId, detail,
                  Cat("field '", PathOf(kId), "' is absent, null or empty"));
    }
    if (item->title.empty() && item->body.empty()) {
      *item = NewsItem{};
      return Fail(DecodeError::kNoText, detail,
                  Cat("fields '", PathOf(kTitle), "' and '", PathOf(kBody),
                      "' are both absent, null or empty"));
    }
    return DecodeError::kOk;
  }

 private:
  static DecodeError InvalidUtf8(std::string* detail) {
    return Fail(DecodeError::kInvalidUtf8, detail, "payload is not valid UTF-8");
  }

  static DecodeError Fail(DecodeError error, std::string* detail, std::string_view message) {
    if (detail != nullptr) detail->assign(message);
    return error;
  }

  std::string_view PathOf(int slot) const {
    for (const PathNode& node : nodes_) {
      if (node.leaf_mask & (1u << slot)) return node.path;
    }
    return "";
  }

  // Grows the item buffer, the string buffer and the parser to hold `size` bytes (rounded up so
  // that a slowly growing series of items does not reallocate every time).
  bool Grow(size_t size) {
    size_t capacity = std::max(size, std::min(capacity_ * 2, max_item_bytes_));
    if (parser_.allocate(capacity) != simdjson::SUCCESS) return false;
    buffer_ = std::make_unique_for_overwrite<char[]>(capacity + simdjson::SIMDJSON_PADDING);
    strings_ = std::make_unique_for_overwrite<uint8_t[]>(capacity + simdjson::SIMDJSON_PADDING);
    capacity_ = capacity;
    return true;
  }

  // Sets *key to the key whose text starts at `raw` (just after its opening quote) and returns
  // true when it has no escape and ends within 16 bytes: the key's unescaped text is then the
  // raw bytes, compared in place. Unescaping every key instead (a call into simdjson's string
  // parser and a copy) was ~0.2k instructions per item of the bench corpus. Any other key
  // (false) is unescaped, and checked, by simdjson. The 16-byte load stays inside the padded
  // buffer: a key lies within the payload, which SIMDJSON_PADDING bytes follow.
  static bool RawKey(const char* raw, std::string_view* key) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(raw));
    const unsigned quote =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"'))));
    const unsigned backslash =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    if (quote == 0) return false;
    const unsigned size = static_cast<unsigned>(__builtin_ctz(quote));
    if ((backslash & ((1u << size) - 1)) != 0) return false;
    *key = std::string_view(raw, size);
    return true;
  }

  // Iterates `object`, the JSON object at trie node `node_index`, reading configured leaves and
  // descending into objects on a configured path.
  DecodeError Walk(ondemand::object& object, uint16_t node_index, std::string* detail) {
    const PathNode& node = nodes_[node_index];
    for (auto field_result : object) {
      ondemand::field field;
      if (auto error = std::move(field_result).get(field)) {
        return Fail(DecodeError::kInvalidJson, detail,
                    Cat(node.path.empty() ? "root object" : node.path, ": ",
                        simdjson::error_message(error)));
      }
      std::string_view key;
      if (!RawKey(field.key().raw(), &key)) {
        if (auto error = field.unescaped_key().get(key)) {
          return Fail(DecodeError::kInvalidJson, detail,
                      Cat(node.path.empty() ? "root object" : node.path,
                          ": bad key: ", simdjson::error_message(error)));
        }
      }
      const PathNode* child = nullptr;
      uint16_t child_index = 0;
      for (uint16_t c : node.children) {
        if (nodes_[c].key == key) {
          child = &nodes_[c];
          child_index = c;
          break;
        }
      }
      if (child == nullptr) continue;  // the iterator skips the unread value
      ondemand::value value = field.value();
      ondemand::json_type type;
      if (auto error = value.type().get(type)) {
        return Fail(DecodeError::kInvalidJson, detail,
                    Cat("field '", child->path, "': ", simdjson::error_message(error)));
      }
      if (type == ondemand::json_type::null) {
        bool is_null = false;
        if (auto error = value.is_null().get(is_null); error || !is_null) {
          return Fail(DecodeError::kInvalidJson, detail,
                      Cat("field '", child->path, "': invalid literal"));
        }
        for (int s = 0; s < kSlotCount; ++s) {
          if (child->leaf_mask & (1u << s)) values_[s] = std::string_view();
        }
        continue;
      }
      if (child->leaf_mask != 0) {
        if (DecodeError e = ReadLeaf(value, type, *child, detail); e != DecodeError::kOk) return e;
        continue;
      }
      if (type != ondemand::json_type::object) {
        return Fail(DecodeError::kWrongType, detail,
                    Cat("field '", child->path, "': expected an object, got ", TypeName(type)));
      }
      ondemand::object sub;
      if (auto error = value.get_object().get(sub)) {
        return Fail(DecodeError::kInvalidJson, detail,
                    Cat("field '", child->path, "': ", simdjson::error_message(error)));
      }
      if (DecodeError e = Walk(sub, child_index, detail); e != DecodeError::kOk) return e;
    }
    return DecodeError::kOk;
  }

  DecodeError ReadLeaf(ondemand::value& value, ondemand::json_type type, const PathNode& node,
                       std::string* detail) {
    std::string_view text;
    if (type == ondemand::json_type::string) {
      ondemand::raw_json_string raw;
      if (auto error = value.get_raw_json_string().get(raw)) {
        return Fail(DecodeError::kInvalidJson, detail,
                    Cat("field '", node.path, "': ", simdjson::error_message(error)));
      }
      // Advances string_cursor_ past this string: earlier views stay intact.
      if (auto error = parser_.unescape(raw, string_cursor_).get(text)) {
        // simdjson says only "Problem while parsing a string"; the usual culprit in hostile or
        // broken input is an escape that encodes no character (tests/reliability/hostile_test.py).
        return Fail(DecodeError::kInvalidJson, detail,
                    Cat("field '", node.path, "': ", simdjson::error_message(error),
                        error == simdjson::STRING_ERROR
                            ? " (a bad \\u escape, e.g. a lone UTF-16 surrogate \\uD800-\\uDFFF)"
                            : ""));
      }
    } else if (type == ondemand::json_type::number && node.leaf_mask == (1u << kId)) {
      text = Trim(value.raw_json_token(), kJsonWhitespace);
      if (!IsJsonNumber(text)) {
        return Fail(DecodeError::kInvalidJson, detail,
                    Cat("field '", node.path, "': malformed number"));
      }
    } else {
      return Fail(DecodeError::kWrongType, detail,
                  Cat("field '", node.path, "': expected ",
                      node.leaf_mask & (1u << kId) ? "a string or a number" : "a string", ", got ",
                      TypeName(type)));
    }
    for (int s = 0; s < kSlotCount; ++s) {
      if (node.leaf_mask & (1u << s)) values_[s] = text;
    }
    return DecodeError::kOk;
  }

  const size_t max_item_bytes_;
  const std::vector<PathNode> nodes_;  // [0] is the root
  ondemand::parser parser_;
  size_t capacity_ = 0;
  std::unique_ptr<char[]> buffer_;      // the item, plus SIMDJSON_PADDING
  std::unique_ptr<uint8_t[]> strings_;  // unescaped strings, plus SIMDJSON_PADDING
  uint8_t* string_cursor_ = nullptr;    // next free byte of strings_
  std::array<std::string_view, kSlotCount> values_;
};

// Adds `path` for `slot` to the trie, rejecting malformed paths and paths where one field's path
// is a strict prefix of another's (the value would have to be a string and an object at once).
absl::Status AddPath(std::vector<PathNode>& nodes, std::string_view path, int slot,
                     std::string_view field_name) {
  if (path.empty()) {
    return absl::InvalidArgumentError(Cat("decoder: path of field '", field_name, "' is empty"));
  }
  uint16_t at = 0;
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) {
      return absl::InvalidArgumentError(
          Cat("decoder: path '", path, "' of field '", field_name, "' has an empty component"));
    }
    if (nodes[at].leaf_mask != 0) {
      return absl::InvalidArgumentError(Cat("decoder: path '", path, "' of field '", field_name,
                                            "' goes through '", nodes[at].path,
                                            "', the path of another field"));
    }
    uint16_t next = 0;
    for (uint16_t c : nodes[at].children) {
      if (nodes[c].key == parts[i]) next = c;
    }
    if (next == 0) {
      PathNode node;
      node.key = std::string(parts[i]);
      node.path = std::string(path.substr(0, parts[i].data() + parts[i].size() - path.data()));
      nodes.push_back(std::move(node));
      next = static_cast<uint16_t>(nodes.size() - 1);
      nodes[at].children.push_back(next);
    }
    at = next;
  }
  if (!nodes[at].children.empty()) {
    return absl::InvalidArgumentError(Cat("decoder: path '", path, "' of field '", field_name,
                                          "' is a prefix of another field's path"));
  }
  nodes[at].leaf_mask |= static_cast<uint8_t>(1u << slot);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ItemDecoder>> ItemDecoder::Create(const DecoderOptions& options) {
  if (options.max_item_bytes == 0 || options.max_item_bytes > simdjson::SIMDJSON_MAXSIZE_BYTES) {
    return absl::InvalidArgumentError(Cat(
        "decoder: max_item_bytes must be in [1, ", std::to_string(simdjson::SIMDJSON_MAXSIZE_BYTES),
        "] (simdjson's limit), got ", std::to_string(options.max_item_bytes)));
  }
  std::vector<PathNode> nodes(1);
  const FieldPaths& f = options.fields;
  const std::pair<const std::string*, std::string_view> paths[kSlotCount] = {
      {&f.id, "id"},
      {&f.title, "title"},
      {&f.body, "body"},
      {&f.url, "url"},
      {&f.source, "source"},
      {&f.lang, "lang"},
      {&f.published_at, "published_at"}};
  for (int slot = 0; slot < kSlotCount; ++slot) {
    absl::Status s = AddPath(nodes, *paths[slot].first, slot, paths[slot].second);
    if (!s.ok()) return s;
  }
  auto decoder = std::make_unique<SimdjsonItemDecoder>(options, std::move(nodes));
  if (absl::Status s = decoder->Init(); !s.ok()) return s;
  return decoder;
}

}  // namespace steppewatch::decode

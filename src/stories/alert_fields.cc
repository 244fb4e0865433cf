#include "stories/alert_fields.h"

#include <emmintrin.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace steppewatch::stories {
namespace {

constexpr char kAlertSchemaText[] = "steppewatch.alert.v1";
constexpr std::string_view kAlertSchema = kAlertSchemaText;

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Whether `key` is the literal `word`: a compare of a known size, which the compiler inlines
// (std::string_view's operator== called memcmp for each key of the walk, ~20 instructions).
template <size_t N>
bool Is(std::string_view key, const char (&word)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), word, N - 1) == 0;
}

// The 16 lower-case hex digits of a fingerprint (what ParseFingerprint accepts: exactly 16 of
// [0-9a-f]) into its value, in one SSE2 pass: a table lookup per digit was ~160 instructions
// per alert's three fingerprints.
bool ParseHexFingerprint(std::string_view text, Fingerprint* fp) {
  if (text.size() != 16) return false;
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data()));
  // Signed byte compares: bytes of 0x80 and more are negative, below every range.
  const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                      _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
  const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                                       _mm_cmplt_epi8(v, _mm_set1_epi8('f' + 1)));
  if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff) return false;
  // '0'-'9' are 0x30-0x39 and 'a'-'f' 0x61-0x66: the low nibble, plus 9 for a letter.
  const __m128i nibbles =
      _mm_add_epi8(_mm_and_si128(v, _mm_set1_epi8(0x0f)), _mm_and_si128(letter, _mm_set1_epi8(9)));
  // Each 16-bit lane holds two digits, the first in its low byte: first * 16 + second.
  const __m128i pairs =
      _mm_or_si128(_mm_slli_epi16(_mm_and_si128(nibbles, _mm_set1_epi16(0x00ff)), 4),
                   _mm_srli_epi16(nibbles, 8));
  const uint64_t bytes =
      static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_packus_epi16(pairs, _mm_setzero_si128())));
  // The first digit is the most significant.
  *fp = __builtin_bswap64(bytes);
  return true;
}

// Copies `s` into f's arena (sized for the whole alert, so it never overflows) and returns the
// copy.
std::string_view Keep(AlertFields* f, std::string_view s) {
  char* at = f->arena.get() + f->arena_used;
  if (!s.empty()) std::memcpy(at, s.data(), s.size());
  f->arena_used += s.size();
  return std::string_view(at, s.size());
}

// item.fingerprint_tokens, clamped (a negative count: unknown).
uint32_t ClampTokens(int64_t v) {
  if (v <= 0) return 0;
  return v > int64_t{kMaxFingerprintTokens} ? kMaxFingerprintTokens : static_cast<uint32_t>(v);
}

// ---- The fast path: a grammar walk over simdjson's structural index. ----
//
// Stage 1 indexes every structural character outside strings ({ } [ ] : ,) and the first byte of
// every scalar (a string's opening quote, a number's or a literal's first character), and has
// checked UTF-8, control characters inside strings and unclosed strings. A byte that is neither
// whitespace nor indexed can only follow a scalar inside the same token, so checking that each
// scalar is followed by whitespace up to the next index leaves no byte unchecked; in particular
// a string runs from its indexed opening quote to the last quote before the next index, with
// only whitespace after it. Any doubt returns false: the DOM parser then decides, and gives its
// own error.
class Walker {
 public:
  // `backslash`: the first backslash in `json` (json.size() when none).
  Walker(std::string_view json, const char* buf, const uint32_t* index, uint32_t n,
         const simdjson::internal::dom_parser_implementation& impl, AlertFields* f,
         size_t backslash)
      : json_(json), buf_(buf), index_(index), n_(n), backslash_(backslash), impl_(impl), f_(f) {}

  bool Run() {
    if (n_ == 0 || Peek() != '{') return false;
    if (!Root()) return false;
    return i_ == n_;  // nothing after the root object
  }

 private:
  char Peek() const { return buf_[index_[i_]]; }
  bool More() const { return i_ < n_; }
  // Consumes the structural `c` if it is next.
  bool Take(char c) {
    if (i_ < n_ && buf_[index_[i_]] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  // Where the token at index i_ - 1 must end: the next indexed byte (or the end).
  size_t Limit() const { return i_ < n_ ? index_[i_] : json_.size(); }
  bool SpaceUntilLimit(size_t at) const {
    for (const size_t limit = Limit(); at < limit; ++at) {
      if (!IsSpace(buf_[at])) return false;
    }
    return true;
  }
  // The first backslash at or after `from`: strings are met in order, so one pass of memchr
  // over the alert finds every escaped string (most alerts have none, or a few).
  void FindBackslash(size_t from) {
    const void* b =
        from < json_.size() ? std::memchr(buf_ + from, '\\', json_.size() - from) : nullptr;
    backslash_ =
        b == nullptr ? json_.size() : static_cast<size_t>(static_cast<const char*>(b) - buf_);
  }

  // The string whose opening quote is next; `out` (may be null) gets its value. `keep`: the
  // unescaped value must outlive this call (it stays in the arena); else the arena is only
  // scratch for checking the escapes.
  [[gnu::always_inline]] bool String(std::string_view* out, bool keep) {
    const size_t start = index_[i_] + 1;
    ++i_;
    const size_t close = Limit() - 1;
    if (buf_[close] == '"' && close >= start && backslash_ > close) {
      // No escape and nothing after it: the value is the alert's own bytes.
      if (out != nullptr) *out = std::string_view(json_.data() + start, close - start);
      return true;
    }
    return StringSlow(start, out, keep);
  }

  // String() with whitespace after the closing quote, or escapes.
  [[gnu::noinline]] bool StringSlow(size_t start, std::string_view* out, bool keep) {
    size_t close = Limit();
    do {
      if (close <= start) return false;
      --close;
    } while (IsSpace(buf_[close]));
    if (buf_[close] != '"') return false;
    // Backslashes before `start` were all inside earlier strings (else a token check failed
    // first); this keeps that honest.
    if (backslash_ < start) return false;
    if (backslash_ > close) {
      if (out != nullptr) *out = std::string_view(json_.data() + start, close - start);
      return true;
    }
    // The closing quote must be the first one not escaped; simdjson's string parser (the DOM
    // parser's own) checks the escapes and unescapes.
    size_t q = backslash_;
    while (q < close && buf_[q] != '"') q += buf_[q] == '\\' ? 2 : 1;
    if (q != close) return false;
    char* dst = f_->arena.get() + f_->arena_used;
    const uint8_t* written = impl_.parse_string(reinterpret_cast<const uint8_t*>(buf_ + start),
                                                reinterpret_cast<uint8_t*>(dst));
    if (written == nullptr) return false;
    const size_t size = static_cast<size_t>(reinterpret_cast<const char*>(written) - dst);
    if (out != nullptr) *out = std::string_view(dst, size);
    if (keep) f_->arena_used += size;
    FindBackslash(close + 1);
    return true;
  }

  // The number that starts next, in the forms the DOM parser always accepts: at most 18 integer
  // digits without fraction or exponent (fits int64), or at most 19 digits in all with an
  // exponent of at most 280 (a finite double). `*integer` and `*value` for the first form.
  bool Number(bool* integer, int64_t* value) {
    const char* p = buf_ + index_[i_];
    ++i_;
    const bool negative = *p == '-';
    if (negative) ++p;
    const char* digits = p;
    if (*p == '0') {
      ++p;
    } else {
      while (IsDigit(*p)) ++p;
    }
    const size_t int_digits = static_cast<size_t>(p - digits);
    if (int_digits == 0) return false;
    size_t all_digits = int_digits;
    *integer = true;
    if (*p == '.') {
      const char* s = ++p;
      while (IsDigit(*p)) ++p;
      if (p == s) return false;
      all_digits += static_cast<size_t>(p - s);
      *integer = false;
    }
    if (*p == 'e' || *p == 'E') {
      ++p;
      if (*p == '+' || *p == '-') ++p;
      const char* s = p;
      int exponent = 0;
      while (IsDigit(*p)) {
        if (p - s >= 3) return false;
        exponent = exponent * 10 + (*p - '0');
        ++p;
      }
      if (p == s || exponent > 280) return false;
      *integer = false;
    }
    if (*integer) {
      if (int_digits > 18) return false;
      int64_t v = 0;
      for (const char* d = digits; d < digits + int_digits; ++d) v = v * 10 + (*d - '0');
      *value = negative ? -v : v;
    } else if (all_digits > 19) {
      return false;
    }
    return SpaceUntilLimit(static_cast<size_t>(p - buf_));
  }

  bool Literal(std::string_view word) {
    const size_t at = index_[i_];
    ++i_;
    if (Limit() < at + word.size() || std::memcmp(buf_ + at, word.data(), word.size()) != 0) {
      return false;
    }
    return SpaceUntilLimit(at + word.size());
  }

  // A scalar (string, number or literal), checked and skipped.
  bool Scalar() {
    switch (Peek()) {
      case '"':
        return String(nullptr, /*keep=*/false);
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default: {
        const char c = Peek();
        if (c != '-' && !IsDigit(c)) return false;
        // The common number: 1-18 digits up to the next index, no leading zero.
        const char* p = buf_ + index_[i_] + (c == '-');
        const char* end = buf_ + (i_ + 1 < n_ ? index_[i_ + 1] : json_.size());
        const char* d = p;
        while (p < end && IsDigit(*p)) ++p;
        if (p == end && p > d && p - d <= 18 && (*d != '0' || p - d == 1)) {
          ++i_;
          return true;
        }
        bool integer;
        int64_t v;
        return Number(&integer, &v);
      }
    }
  }

  // The string at index i (its opening quote), checked; i moves past it. Inline: the walk over
  // the values the stage skips spends most of its time here.
  [[gnu::always_inline]] bool SkipString(uint32_t& i) {
    const size_t start = index_[i] + 1;
    ++i;
    const size_t close = (i < n_ ? index_[i] : json_.size()) - 1;
    if (buf_[close] == '"' && close >= start && backslash_ > close) return true;
    i_ = i;  // whitespace after it, or escapes: the general case
    const bool ok = StringSlow(start, nullptr, /*keep=*/false);
    i = i_;
    return ok;
  }

  // Any value at nesting `depth` (of its container), checked and skipped: a loop over the
  // structurals with a bit per open container (set: an object), as simdjson's stage 2 walks
  // them, without writing anything.
  bool Value(int depth) {
    const char* const buf = buf_;
    const uint32_t* const index = index_;
    const uint32_t n = n_;
    uint32_t i = i_;
    uint64_t objects = 0;  // bit d: the container at relative depth d is an object
    int open = 0;
    while (true) {
      // The start of a value: containers are opened, scalars checked.
      if (i >= n) return false;
      const char c = buf[index[i]];
      if (c == '{' || c == '[') {
        if (depth + open + 1 > AlertFieldParser::kMaxFastDepth) return false;
        ++i;
        const bool object = c == '{';
        objects = object ? objects | (uint64_t{1} << open) : objects & ~(uint64_t{1} << open);
        ++open;
        if (i < n && buf[index[i]] == (object ? '}' : ']')) {
          ++i;
          --open;
        } else {
          if (object) {  // the first key and its colon
            if (i >= n || buf[index[i]] != '"' || !SkipString(i)) return false;
            if (i >= n || buf[index[i]] != ':') return false;
            ++i;
          }
          continue;
        }
      } else if (c == '"') {
        if (!SkipString(i)) return false;
      } else {
        i_ = i;
        if (!Scalar()) return false;
        i = i_;
      }
      // After a value: a comma (then a key in an object) or closing brackets.
      while (true) {
        if (open == 0) {
          i_ = i;
          return true;
        }
        if (i >= n) return false;
        const bool object = (objects >> (open - 1)) & 1;
        const char d = buf[index[i]];
        ++i;
        if (d == ',') {
          if (object) {
            if (i >= n || buf[index[i]] != '"' || !SkipString(i)) return false;
            if (i >= n || buf[index[i]] != ':') return false;
            ++i;
          }
          break;
        }
        if (d != (object ? '}' : ']')) return false;
        --open;
      }
    }
  }

  // The object that starts next; `member(key)` reads each member's value.
  template <typename Member>
  bool Object(int depth, const Member& member) {
    if (depth > AlertFieldParser::kMaxFastDepth || !Take('{')) return false;
    if (Take('}')) return true;
    while (true) {
      if (!More() || Peek() != '"') return false;
      std::string_view key;
      if (!String(&key, /*keep=*/false) || !Take(':') || !member(key)) return false;
      if (Take(',')) continue;
      return Take('}');
    }
  }

  template <typename Element>
  bool Array(int depth, const Element& element) {
    if (depth > AlertFieldParser::kMaxFastDepth || !Take('[')) return false;
    if (Take(']')) return true;
    while (true) {
      if (!element()) return false;
      if (Take(',')) continue;
      return Take(']');
    }
  }

  // A string the stage keeps (a value of another type: the DOM parser's error).
  bool KeptString(std::string_view* out) {
    return More() && Peek() == '"' && String(out, /*keep=*/true);
  }

  // A string or null (null: `*present` false, `*out` unchanged, as the DOM path skips it).
  bool NullableString(std::string_view* out, bool* present) {
    if (More() && Peek() == 'n') {
      *present = false;
      return Literal("null");
    }
    *present = true;
    return KeptString(out);
  }

  // The members' values are at depth + 1 (the object's own depth is `depth`).
  bool Item(int depth) {
    if (!More() || Peek() != '{') return false;
    return Object(depth, [&](std::string_view key) {
      bool present;
      if (Is(key, "id")) return NullableString(&f_->id, &present);
      if (Is(key, "source")) return NullableString(&f_->source, &present);
      if (Is(key, "lang")) return NullableString(&f_->lang, &present);
      if (Is(key, "published_at")) return NullableString(&f_->published_at, &present);
      if (Is(key, "fingerprint")) {
        if (!NullableString(&f_->fingerprint, &present)) return false;
        f_->has_fingerprint = present;
        return true;
      }
      if (Is(key, "lead_fingerprint")) {
        if (!NullableString(&f_->lead_fingerprint, &present)) return false;
        f_->has_lead = present;
        return true;
      }
      if (Is(key, "fingerprint_sentence")) {
        if (!NullableString(&f_->sentence_fingerprint, &present)) return false;
        f_->has_sentence = present;
        return true;
      }
      if (Is(key, "fingerprint_sentence2")) {
        if (!NullableString(&f_->sentence_fingerprint2, &present)) return false;
        f_->has_sentence2 = present;
        return true;
      }
      if (Is(key, "fingerprint_tokens")) {
        // A number: an integer is read; any other number goes to the DOM parser (which reads
        // only what fits an int64). A value of another type is checked and counts as unknown
        // (a repeated key: the last one counts), as there.
        if (!More() || !(Peek() == '-' || IsDigit(Peek()))) {
          f_->fingerprint_tokens = 0;
          return Value(depth);
        }
        bool integer;
        int64_t v;
        if (!Number(&integer, &v) || !integer) return false;
        f_->fingerprint_tokens = ClampTokens(v);
        return true;
      }
      return Value(depth);
    });
  }

  bool Matches(int depth) {
    if (!More() || Peek() != '[') return false;
    return Array(depth, [&] {
      if (!More() || Peek() != '{') return false;
      return Object(depth + 1, [&](std::string_view key) {
        if (Is(key, "rule")) {
          std::string_view rule;
          if (!KeptString(&rule)) return false;
          f_->rules.push_back(rule);
          return true;
        }
        if (Is(key, "tags")) {
          if (!More() || Peek() != '[') return false;
          return Array(depth + 2, [&] {
            std::string_view tag;
            if (!KeptString(&tag)) return false;
            f_->tags.push_back(tag);
            return true;
          });
        }
        return Value(depth + 1);
      });
    });
  }

  bool Origin(int depth) {
    if (!More() || Peek() != '{') return false;
    return Object(depth, [&](std::string_view key) {
      if (!Is(key, "timestamp_ms")) return Value(depth);
      if (!More() || !(Peek() == '-' || IsDigit(Peek()))) return false;
      bool integer;
      int64_t v;
      if (!Number(&integer, &v) || !integer) return false;
      f_->origin_timestamp_ms = v;
      return true;
    });
  }

  bool Root() {
    return Object(1, [&](std::string_view key) {
      if (Is(key, "schema")) {
        if (!More() || Peek() != '"') return false;
        std::string_view s;
        if (!String(&s, /*keep=*/false)) return false;
        f_->has_schema = true;
        f_->schema_ok = Is(s, kAlertSchemaText);
        return true;
      }
      if (Is(key, "item")) return Item(2);
      if (Is(key, "matches")) return Matches(2);
      if (Is(key, "origin")) return Origin(2);
      return Value(1);
    });
  }

  std::string_view json_;  // the caller's bytes (views of values without escapes)
  const char* buf_;        // the padded copy (what stage 1 indexed)
  const uint32_t* index_;
  uint32_t n_;
  uint32_t i_ = 0;
  size_t backslash_ = 0;  // the next backslash at or after the strings read so far
  const simdjson::internal::dom_parser_implementation& impl_;
  AlertFields* f_;
};

// Whether the last byte of `json` that is not whitespace is '}'.
bool EndsWithBrace(std::string_view json) {
  size_t end = json.size();
  while (end > 0 && IsSpace(json[end - 1])) --end;
  return end > 0 && json[end - 1] == '}';
}

// ---- The DOM path: simdjson's DOM parser, the fields copied into the arena. ----

simdjson::error_code DomItem(simdjson::dom::element item, AlertFields* f) {
  simdjson::dom::object obj;
  if (auto e = item.get_object().get(obj)) return e;
  // Every member in order (a repeated key: the last one counts).
  for (simdjson::dom::key_value_pair field : obj) {
    std::string_view* dest = nullptr;
    if (field.key == "id") {
      dest = &f->id;
    } else if (field.key == "source") {
      dest = &f->source;
    } else if (field.key == "lang") {
      dest = &f->lang;
    } else if (field.key == "published_at") {
      dest = &f->published_at;
    } else if (field.key == "fingerprint") {
      dest = &f->fingerprint;
      f->has_fingerprint = true;
    } else if (field.key == "lead_fingerprint") {
      dest = &f->lead_fingerprint;
      f->has_lead = true;
    } else if (field.key == "fingerprint_sentence") {
      dest = &f->sentence_fingerprint;
      f->has_sentence = true;
    } else if (field.key == "fingerprint_sentence2") {
      dest = &f->sentence_fingerprint2;
      f->has_sentence2 = true;
    } else if (field.key == "fingerprint_tokens") {
      int64_t v;
      f->fingerprint_tokens = field.value.get_int64().get(v) ? 0 : ClampTokens(v);
      continue;
    } else {
      continue;
    }
    if (field.value.is_null()) {
      if (dest == &f->fingerprint) f->has_fingerprint = false;
      if (dest == &f->lead_fingerprint) f->has_lead = false;
      if (dest == &f->sentence_fingerprint) f->has_sentence = false;
      if (dest == &f->sentence_fingerprint2) f->has_sentence2 = false;
      continue;
    }
    std::string_view s;
    if (auto e = field.value.get_string().get(s)) return e;
    *dest = Keep(f, s);
  }
  return simdjson::SUCCESS;
}

simdjson::error_code DomAppend(simdjson::dom::element value, AlertFields* f,
                               std::vector<std::string_view>* list) {
  std::string_view s;
  if (auto e = value.get_string().get(s)) return e;
  list->push_back(Keep(f, s));
  return simdjson::SUCCESS;
}

simdjson::error_code DomMatches(simdjson::dom::element matches, AlertFields* f) {
  simdjson::dom::array arr;
  if (auto e = matches.get_array().get(arr)) return e;
  for (simdjson::dom::element match_element : arr) {
    simdjson::dom::object match;
    if (auto e = match_element.get_object().get(match)) return e;
    for (simdjson::dom::key_value_pair field : match) {
      if (field.key == "rule") {
        if (auto e = DomAppend(field.value, f, &f->rules)) return e;
      } else if (field.key == "tags") {
        simdjson::dom::array tags;
        if (auto e = field.value.get_array().get(tags)) return e;
        for (simdjson::dom::element tag : tags) {
          if (auto e = DomAppend(tag, f, &f->tags)) return e;
        }
      }
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code DomFields(simdjson::dom::element root, AlertFields* f) {
  simdjson::dom::object obj;
  if (auto e = root.get_object().get(obj)) return e;
  for (simdjson::dom::key_value_pair field : obj) {
    if (field.key == "schema") {
      std::string_view s;
      if (auto e = field.value.get_string().get(s)) return e;
      f->has_schema = true;
      f->schema_ok = s == kAlertSchema;
    } else if (field.key == "item") {
      if (auto e = DomItem(field.value, f)) return e;
    } else if (field.key == "matches") {
      if (auto e = DomMatches(field.value, f)) return e;
    } else if (field.key == "origin") {
      simdjson::dom::object origin;
      if (auto e = field.value.get_object().get(origin)) return e;
      for (simdjson::dom::key_value_pair of : origin) {
        if (of.key != "timestamp_ms") continue;
        int64_t ts;
        if (auto e = of.value.get_int64().get(ts)) return e;
        f->origin_timestamp_ms = ts;
      }
    }
  }
  return simdjson::SUCCESS;
}

// The fingerprints' hex digits into numbers.
void ParseFingerprints(AlertFields* f) {
  f->fp_ok = f->has_fingerprint && ParseHexFingerprint(f->fingerprint, &f->fp);
  f->lead_ok = !f->has_lead || ParseHexFingerprint(f->lead_fingerprint, &f->lead);
  if (!f->lead_ok) f->lead = 0;
  f->sentence_ok = !f->has_sentence || ParseHexFingerprint(f->sentence_fingerprint, &f->sentence);
  if (!f->sentence_ok) f->sentence = 0;
  f->sentence2_ok =
      !f->has_sentence2 || ParseHexFingerprint(f->sentence_fingerprint2, &f->sentence2);
  if (!f->sentence2_ok) f->sentence2 = 0;
}

}  // namespace

void AlertFieldParser::Reset(AlertFields* f) {
  f->error = simdjson::SUCCESS;
  f->schema_ok = f->has_schema = f->has_fingerprint = f->has_lead = f->has_sentence =
      f->has_sentence2 = f->fp_ok = f->fast = false;
  f->lead_ok = f->sentence_ok = f->sentence2_ok = true;
  f->fp = f->lead = f->sentence = f->sentence2 = 0;
  f->fingerprint_tokens = 0;
  f->id = f->source = f->lang = f->published_at = f->fingerprint = f->lead_fingerprint =
      f->sentence_fingerprint = f->sentence_fingerprint2 = {};
  f->origin_timestamp_ms = -1;
  f->rules.clear();
  f->tags.clear();
  f->arena_used = 0;
}

void AlertFieldParser::Pad(std::string_view json) {
  // One padded buffer, reused: Kafka payloads have no readable bytes past their end.
  if (buffer_.capacity() < json.size() + simdjson::SIMDJSON_PADDING) {
    buffer_.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  }
  buffer_.assign(json);
}

void AlertFieldParser::Prepare(std::string_view json, AlertFields* f) {
  Pad(json);
  SizeArena(json, f);
}

void AlertFieldParser::SizeArena(std::string_view json, AlertFields* f) {
  // The unescaped values are never longer than the alert; simdjson's string parser may write up
  // to its padding past a value's end.
  const size_t need = json.size() + simdjson::SIMDJSON_PADDING;
  if (f->arena_capacity < need) {
    const size_t capacity = std::max(need, 2 * f->arena_capacity);
    f->arena = std::make_unique<char[]>(capacity);
    f->arena_capacity = capacity;
  }
}

bool AlertFieldParser::FastParse(std::string_view json, const char* buf, size_t backslash,
                                 AlertFields* f) {
  if (json.size() > stage1_capacity_ || stage1_ == nullptr) {
    const size_t capacity = std::max(json.size(), 2 * stage1_capacity_);
    stage1_.reset();
    stage1_capacity_ = 0;
    if (simdjson::get_active_implementation()->create_dom_parser_implementation(
            capacity, simdjson::DEFAULT_MAX_DEPTH, stage1_) != simdjson::SUCCESS) {
      stage1_.reset();
      return false;
    }
    stage1_capacity_ = capacity;
  }
  if (stage1_->stage1(reinterpret_cast<const uint8_t*>(buf), json.size(),
                      simdjson::stage1_mode::regular) != simdjson::SUCCESS) {
    return false;
  }
  Walker walker(json, buf, stage1_->structural_indexes.get(), stage1_->n_structural_indexes,
                *stage1_, f, backslash);
  return walker.Run();
}

void AlertFieldParser::DomParse(std::string_view json, AlertFields* f) {
  simdjson::dom::element root;
  f->error = parser_
                 .parse(reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size(),
                        /*realloc_if_needed=*/false)
                 .get(root);
  if (f->error) return;
  f->error = DomFields(root, f);
}

void AlertFieldParser::Parse(std::string_view json, AlertFields* f) {
  Reset(f);
  SizeArena(json, f);
  const void* b = std::memchr(json.data(), '\\', json.size());
  const size_t backslash =
      b == nullptr ? json.size() : static_cast<size_t>(static_cast<const char*>(b) - json.data());
  // In place, without the padded copy, when nothing can read past the alert's end: stage 1
  // reads no byte past it (its last block is copied into a padded block of its own), no
  // escape needs simdjson's string parser (which reads whole vectors), and every scan of the
  // walk that is not bounded by the next structural (a number's digits) stops at the final '}'.
  const bool in_place = backslash == json.size() && EndsWithBrace(json);
  if (!in_place) Pad(json);
  if (FastParse(json, in_place ? json.data() : buffer_.data(), backslash, f)) {
    f->fast = true;
  } else {
    // What the fast path read so far is dropped; the DOM parser decides.
    Reset(f);
    if (in_place) Pad(json);
    DomParse(json, f);
    if (f->error) return;
  }
  ParseFingerprints(f);
}

void AlertFieldParser::ParseWithDom(std::string_view json, AlertFields* f) {
  Reset(f);
  Prepare(json, f);
  DomParse(json, f);
  if (f->error) return;
  ParseFingerprints(f);
}

std::string Describe(const AlertFields& f) {
  std::string s =
      "error=" + std::to_string(f.error) + " schema=" + std::to_string(f.has_schema) +
      std::to_string(f.schema_ok) + " id=[" + std::string(f.id) + "] source=[" +
      std::string(f.source) + "] lang=[" + std::string(f.lang) + "] published_at=[" +
      std::string(f.published_at) + "] fingerprint=" + std::to_string(f.has_fingerprint) + "[" +
      std::string(f.fingerprint) + "] fp=" + std::to_string(f.fp_ok) + ":" + std::to_string(f.fp) +
      " lead=" + std::to_string(f.has_lead) + "[" + std::string(f.lead_fingerprint) +
      "] lead_fp=" + std::to_string(f.lead_ok) + ":" + std::to_string(f.lead) +
      " sentence=" + std::to_string(f.has_sentence) + "[" + std::string(f.sentence_fingerprint) +
      "] sentence_fp=" + std::to_string(f.sentence_ok) + ":" + std::to_string(f.sentence) +
      " sentence2=" + std::to_string(f.has_sentence2) + "[" + std::string(f.sentence_fingerprint2) +
      "] sentence2_fp=" + std::to_string(f.sentence2_ok) + ":" + std::to_string(f.sentence2) +
      " tokens=" + std::to_string(f.fingerprint_tokens) +
      " origin=" + std::to_string(f.origin_timestamp_ms) + " rules=";
  for (std::string_view r : f.rules) s += "[" + std::string(r) + "]";
  s += " tags=";
  for (std::string_view t : f.tags) s += "[" + std::string(t) + "]";
  return s;
}

}  // namespace steppewatch::stories

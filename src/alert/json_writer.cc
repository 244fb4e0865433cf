#include "steppewatch/alert/json_writer.h"

#include <emmintrin.h>  // SSE2: part of the x86-64 baseline

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "steppewatch/common/check.h"
#include "steppewatch/normalise/utf8.h"

namespace steppewatch::alert {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
size_t Utf8Length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  if (n == 3 && ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) >= 0xA0))) return 0;
  if (n == 4 && ((c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) >= 0x90))) return 0;
  return n;
}

// Bytes to step over at byte `c` of text known to be valid UTF-8. The 16-byte skip can stop
// inside a sequence, so a continuation byte steps one byte.
size_t Utf8LengthOfValid(unsigned char c) { return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

// True when no byte of `v` needs escaping: printable ASCII other than '"' and '\\'. Eight bytes
// at a time: each test below is exact about whether any byte of the word matches (the classic
// has-less-than / has-zero-byte tricks); the last word overlaps, a short string is padded.
inline bool PlainAscii(std::string_view v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  auto special = [](uint64_t x) {
    const uint64_t below_space = (x - kOnes * 0x20) & ~x;
    const uint64_t q = x ^ (kOnes * '"');
    const uint64_t b = x ^ (kOnes * '\\');
    return (below_space | ((q - kOnes) & ~q) | ((b - kOnes) & ~b) | x) & kHigh;
  };
  const char* p = v.data();
  const size_t n = v.size();
  if (n < 8) {
    uint64_t x = kOnes * 'a';
    if (n != 0) std::memcpy(&x, p, n);  // an empty view may have no data pointer
    return special(x) == 0;
  }
  uint64_t x;
  for (size_t i = 0; i + 8 < n; i += 8) {
    std::memcpy(&x, p + i, 8);
    if (special(x) != 0) return false;
  }
  std::memcpy(&x, p + n - 8, 8);
  return special(x) == 0;
}

// Keys, tags, terms, ids and numbers-as-text in an alert are mostly short and plain: they are
// written quoted with one append (an alert of a large watch list has hundreds of them, and the
// general path cost ~200 instructions each).
constexpr size_t kShortPlain = 48;

// Appends '"', `v`, then `suffix` (at most 2 bytes) in one append when `v` is short and plain;
// returns false (and appends nothing) otherwise.
inline bool AppendQuotedPlain(std::string_view v, std::string_view suffix, std::string* out) {
  if (v.size() > kShortPlain || !PlainAscii(v)) return false;
  char buf[kShortPlain + 3];
  buf[0] = '"';
  if (!v.empty()) std::memcpy(buf + 1, v.data(), v.size());
  std::memcpy(buf + 1 + v.size(), suffix.data(), suffix.size());
  out->append(buf, 1 + v.size() + suffix.size());
  return true;
}

}  // namespace

void JsonWriter::Escape(std::string_view v, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  size_t i = 0;
  auto flush = [&](size_t end) { out->append(v.data() + run, end - run); };
  // Escaping byte by byte (and checking every multi-byte sequence) was 3.8% of all instructions
  // of the item path (callgrind): alerts carry titles, terms and snippets, much of it Cyrillic.
  // Text that is valid UTF-8 as a whole (simdjson's validator, ~0.2 instructions per byte) needs
  // no per-sequence check, so only ASCII specials and the lead byte E2 of U+2028/U+2029 stop
  // the 16-byte skip; other text takes the checking path.
  const bool valid = v.size() >= 16 && normalise::ValidateUtf8(v);
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i e2 = _mm_set1_epi8(static_cast<char>(0xE2));
  // As int8, bytes >= 0x80 are negative: "< 0x20" alone also finds every non-ASCII byte.
  const __m128i stop_non_ascii = valid ? _mm_setzero_si128() : _mm_set1_epi8(-1);
  while (i < v.size()) {
    while (i + 16 <= v.size()) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v.data() + i));
      const __m128i control =
          _mm_and_si128(_mm_cmplt_epi8(b, space),
                        _mm_or_si128(_mm_cmpgt_epi8(b, _mm_set1_epi8(-1)), stop_non_ascii));
      const unsigned special = static_cast<unsigned>(_mm_movemask_epi8(
          _mm_or_si128(_mm_or_si128(control, _mm_cmpeq_epi8(b, e2)),
                       _mm_or_si128(_mm_cmpeq_epi8(b, quote), _mm_cmpeq_epi8(b, backslash)))));
      if (special != 0) {
        i += static_cast<size_t>(__builtin_ctz(special));
        break;
      }
      i += 16;
    }
    if (i >= v.size()) break;
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t n = !valid ? Utf8Length(v, i) : Utf8LengthOfValid(c);
      if (n == 0) {
        flush(i);
        out->append("\\ufffd");
        run = ++i;
        continue;
      }
      // U+2028 and U+2029 are valid JSON but end lines in JavaScript: escape them.
      if (n == 3 && c == 0xE2 && static_cast<unsigned char>(v[i + 1]) == 0x80 &&
          (static_cast<unsigned char>(v[i + 2]) & 0xFE) == 0xA8) {
        flush(i);
        out->append(v[i + 2] == '\xA8' ? "\\u2028" : "\\u2029");
        run = i += 3;
        continue;
      }
      i += n;
      continue;
    }
    flush(i);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
    run = ++i;
  }
  flush(v.size());
}

void JsonWriter::Separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_[depth_]) out_->push_back(',');
  first_[depth_] = false;
}

void JsonWriter::BeginObject() {
  Separate();
  out_->push_back('{');
  ++depth_;
  SW_CHECK(depth_ <= kMaxDepth);
  first_[depth_] = true;
}

void JsonWriter::EndObject() {
  out_->push_back('}');
  --depth_;
}

void JsonWriter::BeginArray() {
  Separate();
  out_->push_back('[');
  ++depth_;
  SW_CHECK(depth_ <= kMaxDepth);
  first_[depth_] = true;
}

void JsonWriter::EndArray() {
  out_->push_back(']');
  --depth_;
}

void JsonWriter::Key(std::string_view key) {
  Separate();
  after_key_ = true;
  if (AppendQuotedPlain(key, "\":", out_)) return;
  out_->push_back('"');
  Escape(key, out_);
  out_->append("\":");
}

void JsonWriter::String(std::string_view value) {
  Separate();
  AppendString(value, out_);
}

void JsonWriter::AppendString(std::string_view value, std::string* out) {
  if (AppendQuotedPlain(value, "\"", out)) return;
  out->push_back('"');
  Escape(value, out);
  out->push_back('"');
}

void JsonWriter::Int(int64_t value) {
  Separate();
  AppendInt(value, out_);
}

void JsonWriter::AppendInt(int64_t value, std::string* out) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, p);
}

void JsonWriter::Double(double value) {
  Separate();
  AppendDouble(value, out_);
}

void JsonWriter::AppendDouble(double value, std::string* out) {
  if (!std::isfinite(value)) {
    out->append("null");
    return;
  }
  // Scores are mostly small whole numbers (weights of 1 and 2 summed); the shortest form of a
  // whole number below 1e5 in magnitude is its digits (from 1e5 on, "1e+05" can be shorter), and
  // integer formatting costs a fraction of the general double algorithm. One digit, the most
  // common score of a watch list's rules, is one byte.
  if (value >= 0 && value < 10 && !std::signbit(value)) {
    const int digit = static_cast<int>(value);
    if (value == digit) {
      out->push_back(static_cast<char>('0' + digit));
      return;
    }
  }
  char buf[32];
  if (value > -1e5 && value < 1e5 && value == static_cast<double>(static_cast<int32_t>(value)) &&
      !(value == 0 && std::signbit(value))) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int32_t>(value));
    out->append(buf, p);
    return;
  }
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, p);
}

void JsonWriter::Bool(bool value) {
  Separate();
  out_->append(value ? "true" : "false");
}

void JsonWriter::Null() {
  Separate();
  out_->append("null");
}

}  // namespace steppewatch::alert

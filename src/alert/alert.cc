#include "steppewatch/alert/alert.h"

#include <emmintrin.h>  // SSE2: part of the x86-64 baseline

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "steppewatch/alert/json_writer.h"
#include "steppewatch/normalise/utf8.h"
#include "steppewatch/rules/sha256.h"

namespace steppewatch::alert {
namespace {

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
bool IsSpaceByte(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

std::string_view HitsModeName(HitsMode mode) {
  return mode == HitsMode::kCompact ? "compact" : "full";
}

bool ParseHitsMode(std::string_view text, HitsMode* mode) {
  if (text == "full") {
    *mode = HitsMode::kFull;
  } else if (text == "compact") {
    *mode = HitsMode::kCompact;
  } else {
    return false;
  }
  return true;
}

void AppendAlertId(std::string_view item_id, std::string_view pack_hash, std::string_view topic,
                   std::string* out) {
  rules::Sha256 sha;
  sha.Update(item_id);
  sha.Update(std::string_view("\0", 1));
  sha.Update(pack_hash);
  sha.Update(std::string_view("\0", 1));
  sha.Update(topic);
  static constexpr char kHex[] = "0123456789abcdef";
  const std::array<uint8_t, 32> digest = sha.Final();
  for (size_t i = 0; i < 16; ++i) {
    out->push_back(kHex[digest[i] >> 4]);
    out->push_back(kHex[digest[i] & 15]);
  }
}

uint32_t ExtendToWordEnd(std::string_view text, uint32_t end) {
  const size_t limit = std::min<size_t>(text.size(), size_t{end} + kMaxWordExtensionBytes);
  size_t e = std::min<size_t>(end, text.size());
  if (e == 0) return static_cast<uint32_t>(e);
  while (e < limit && !normalise::IsBoundaryAfter(text, e) &&
         !normalise::IsCjk(normalise::DecodeBefore(text, e).cp)) {
    const normalise::CodePoint next = normalise::DecodeAt(text, e);
    if (e + next.length > limit) break;
    e += next.length;
  }
  return static_cast<uint32_t>(e);
}

SnippetSpan AppendSnippet(std::string_view text, uint32_t start, uint32_t end, uint32_t context,
                          std::string* out) {
  const size_t base = out->size();
  size_t n = text.size();
  size_t s = std::min<size_t>(start, n);
  size_t e = std::min<size_t>(std::max(start, end), n);
  bool hit_cut = false;
  if (e - s > kMaxSnippetHitBytes) {
    e = s + kMaxSnippetHitBytes;
    while (e > s && IsContinuation(text[e])) --e;
    hit_cut = true;
  }
  size_t from = s > context ? s - context : 0;
  size_t to = hit_cut ? e : std::min(n, e + context);
  while (from > 0 && from < n && IsContinuation(text[from])) ++from;  // never start mid-sequence
  while (to < n && IsContinuation(text[to])) --to;                    // never end mid-sequence
  // Prefer to cut at a space, when one is near enough (keeps whole words).
  if (from > 0 && !IsSpaceByte(text[from - 1])) {
    size_t sp = from;
    while (sp < s && !IsSpaceByte(text[sp])) ++sp;
    if (sp < s && sp - from < context / 2) from = sp + 1;
  }
  if (to < n && !IsSpaceByte(text[to])) {
    size_t sp = to;
    while (sp > e && !IsSpaceByte(text[sp - 1])) --sp;
    if (sp > e && to - sp < context / 2) to = sp - 1;
  }
  if (from > 0) out->append("\xE2\x80\xA6");  // "…"
  // Copies text[from, to) with each run of white space written as one ' ', straight into the
  // output (sized for the worst case, trimmed after), and notes where the hit's first and end
  // bytes land. A hit edge inside a run of white space lands after its one ' ', at its first
  // byte before it.
  const size_t head = out->size();
  out->resize(head + (to > from ? to - from : 0));
  char* const first = out->data() + head;
  char* p = first;
  bool prev_space = false;
  auto copy = [&](size_t a, size_t b) {
    // Sixteen bytes at a time where they change nothing: no tab or line break, and no space
    // after another (or after a space the copy ended with); a block that does is copied byte by
    // byte. Prose has a single space every few bytes, which the byte loop alone tested one by
    // one (most of a snippet's cost). The output is never longer than the bytes copied so far,
    // so the 16-byte store stays inside what was sized.
    const __m128i space = _mm_set1_epi8(' ');
    const __m128i newline = _mm_set1_epi8('\n');
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i tab = _mm_set1_epi8('\t');
    size_t i = a;
    while (i < b) {
      if (i + 16 <= b) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + i));
        const unsigned spaces = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, space)));
        const unsigned breaks = static_cast<unsigned>(_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, newline), _mm_cmpeq_epi8(v, cr)),
                         _mm_cmpeq_epi8(v, tab))));
        if (breaks == 0 && (spaces & (spaces << 1 | (prev_space ? 1u : 0u))) == 0) {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
          p += 16;
          i += 16;
          prev_space = (spaces >> 15) != 0;
          continue;
        }
      }
      for (const size_t stop = std::min(b, i + 16); i < stop; ++i) {
        const char c = text[i];
        if (IsSpaceByte(c)) {
          if (!prev_space) *p++ = ' ';
          prev_space = true;
        } else {
          *p++ = c;
          prev_space = false;
        }
      }
    }
  };
  const size_t hit_from = std::clamp(s, from, std::max(from, to));
  const size_t hit_to = std::clamp(e, hit_from, std::max(hit_from, to));
  SnippetSpan span;
  copy(from, hit_from);
  span.start = static_cast<uint32_t>(head - base + (p - first));
  copy(hit_from, hit_to);
  span.end = static_cast<uint32_t>(head - base + (p - first));
  copy(hit_to, to);
  out->resize(head + (p - first));
  if (to < n) out->append("\xE2\x80\xA6");
  return span;
}

void AppendRfc3339Now(std::string* out) {
  auto now = std::chrono::system_clock::now();
  int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  int len = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                          tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                          static_cast<int>(ms % 1000));
  out->append(buf, static_cast<size_t>(len));
}

AlertRenderer::AlertRenderer(const rules::CompiledPack& pack, const RenderOptions& options)
    : pack_(pack), options_(options), rule_opening_(pack.rules().size()) {
  rule_pack_member_ = ",\"rule_pack\":{\"name\":";
  JsonWriter::AppendString(pack.info().name, &rule_pack_member_);
  rule_pack_member_.append(",\"version\":");
  JsonWriter::AppendString(pack.info().version, &rule_pack_member_);
  rule_pack_member_.append(",\"hash\":");
  JsonWriter::AppendString(pack.info().hash, &rule_pack_member_);
  rule_pack_member_.push_back('}');
}

std::string_view AlertRenderer::RuleOpening(uint32_t r) const {
  Span32& span = rule_opening_[r];
  if (span.size == 0) {
    const rules::Rule& rule = pack_.rules()[r];
    const size_t begin = rule_openings_.size();
    // As JsonWriter writes these members, with literal keys: with a large watch list most
    // fired rules of a short run fire for the first time.
    std::string* out = &rule_openings_;
    out->append("{\"rule\":");
    JsonWriter::AppendString(rule.id, out);
    out->append(",\"title\":");
    JsonWriter::AppendString(rule.title, out);
    out->append(",\"severity\":");
    JsonWriter::AppendString(rules::SeverityName(rule.severity), out);
    out->append(",\"tags\":[");
    for (size_t i = 0; i < rule.tags.size(); ++i) {
      if (i > 0) out->push_back(',');
      JsonWriter::AppendString(rule.tags[i], out);
    }
    out->push_back(']');
    span.begin = static_cast<uint32_t>(begin);
    span.size = static_cast<uint32_t>(rule_openings_.size() - begin);
  }
  return std::string_view(rule_openings_).substr(span.begin, span.size);
}

void AlertRenderer::AppendRuleEntry(const AlertContext& c, const rules::FiredRule& f,
                                    uint32_t context_bytes, std::string* out) const {
  // What JsonWriter writes for these members, key by key: the opening's members, then "score"
  // and "hits" (the opening is never empty, so each is preceded by a comma).
  out->append(RuleOpening(f.rule));
  out->append(",\"score\":");
  JsonWriter::AppendDouble(f.score, out);
  out->append(",\"hits\":[");
  const bool compact = options_.hits == HitsMode::kCompact;
  const decode::NewsItem& item = *c.item;
  shown_terms_.clear();
  bool first = true;
  for (uint32_t k = f.hits_begin; k < f.hits_end; ++k) {
    const uint32_t hit = (*c.fired_hits)[k];
    const match::Hit& h = c.hits[hit];
    if (compact) {
      if (shown_terms_.size() >= kCompactHitsPerRule ||
          std::find(shown_terms_.begin(), shown_terms_.end(), h.term) != shown_terms_.end()) {
        continue;
      }
      shown_terms_.push_back(h.term);
    }
    if (!first) out->push_back(',');
    first = false;
    HitObject& memo = hit_object_[hit];
    if (memo.stamp == render_stamp_) {
      // Reserved first, so the append below copies from storage that does not move.
      out->reserve(out->size() + memo.size);
      out->append(out->data() + memo.pos, memo.size);
      continue;
    }
    std::string_view text = h.field == 0 ? item.title : item.body;
    uint32_t end = h.end;
    if (pack_.term(h.term).kind != match::TermSpec::Kind::kLiteral) {
      end = ExtendToWordEnd(text, end);
    }
    memo.pos = out->size();
    out->append("{\"term\":");
    JsonWriter::AppendString(pack_.term_display(h.term), out);
    out->append(h.field == 0 ? std::string_view(",\"field\":\"title\",\"start\":")
                             : std::string_view(",\"field\":\"body\",\"start\":"));
    JsonWriter::AppendInt(h.start, out);
    out->append(",\"end\":");
    JsonWriter::AppendInt(end, out);
    if (options_.include_snippets) {
      snippet_.clear();
      const SnippetSpan span = AppendSnippet(text, h.start, end, context_bytes, &snippet_);
      out->append(",\"snippet\":");
      JsonWriter::AppendString(snippet_, out);
      out->append(",\"snippet_start\":");
      JsonWriter::AppendInt(span.start, out);
      out->append(",\"snippet_end\":");
      JsonWriter::AppendInt(span.end, out);
    }
    out->push_back('}');
    memo.size = static_cast<uint32_t>(out->size() - memo.pos);
    memo.stamp = render_stamp_;
  }
  out->append("]}");
}

void AlertRenderer::Render(const AlertContext& c, absl::Span<const rules::FiredRule* const> fired,
                           std::string* json, std::string* rules_header, std::string* tags_header,
                           std::string* severity_header, std::string* alert_id) const {
  const decode::NewsItem& item = *c.item;
  rules_header->clear();
  tags_header->clear();
  severity_header->clear();
  alert_id->clear();
  // The fired rules' tags and kept openings, read below rule after rule: cold with a large
  // pack, asked for together (their Rule and span lines came with Prefetch, or come now).
  for (const rules::FiredRule* f : fired) {
    const rules::Rule& rule = pack_.rules()[f->rule];
    __builtin_prefetch(rule.tags.data());
    const Span32& span = rule_opening_[f->rule];
    if (span.size != 0) __builtin_prefetch(rule_openings_.data() + span.begin);
  }
  // The headers first: the body repeats the top severity and the tags at its top level.
  int top = -1;
  for (const rules::FiredRule* f : fired) {
    const rules::Rule& rule = pack_.rules()[f->rule];
    if (!rules_header->empty()) rules_header->push_back(',');
    rules_header->append(rule.id);
    top = std::max(top, static_cast<int>(rule.severity));
    for (const std::string& tag : rule.tags) {
      // Distinct tags, in first-seen order; the header is short, a linear search is fine.
      bool seen = false;
      for (size_t p = 0; p <= tags_header->size() && !seen;) {
        size_t q = tags_header->find(',', p);
        if (q == std::string::npos) q = tags_header->size();
        seen = q > p && std::string_view(*tags_header).substr(p, q - p) == tag;
        p = q + 1;
      }
      if (seen) continue;
      if (!tags_header->empty()) tags_header->push_back(',');
      tags_header->append(tag);
    }
  }
  if (top >= 0) severity_header->append(rules::SeverityName(static_cast<rules::Severity>(top)));
  AppendAlertId(item.id, pack_.info().hash, c.topic, alert_id);

  if (hit_object_.size() < c.hits.size()) hit_object_.resize(c.hits.size());
  if (++render_stamp_ == 0) {  // wrapped: old stamps could alias
    for (HitObject& o : hit_object_) o.stamp = 0;
    render_stamp_ = 1;
  }
  const bool compact = options_.hits == HitsMode::kCompact;
  const uint32_t context_bytes =
      compact ? options_.compact_snippet_context_bytes : options_.snippet_context_bytes;
  // The members as JsonWriter writes them, with literal keys: one append per constant run.
  // `key_literal` holds the separator, the quoted key and the colon.
  std::string* out = json;
  auto string_member = [out](std::string_view key_literal, std::string_view value) {
    out->append(key_literal);
    JsonWriter::AppendString(value, out);
  };
  auto int_member = [out](std::string_view key_literal, int64_t value) {
    out->append(key_literal);
    JsonWriter::AppendInt(value, out);
  };
  out->append("{\"schema\":\"");
  out->append(kAlertSchema);
  out->push_back('"');
  string_member(",\"alert_id\":", *alert_id);
  string_member(",\"topic\":", c.topic);
  string_member(",\"severity\":", *severity_header);
  out->append(",\"tags\":[");
  bool first_tag = true;
  for (const rules::FiredRule* f : fired) {
    const std::vector<std::string>& tags = pack_.rules()[f->rule].tags;
    for (size_t i = 0; i < tags.size(); ++i) {
      // Each tag once, where it first appears (as in the header).
      bool seen = std::find(tags.begin(), tags.begin() + i, tags[i]) != tags.begin() + i;
      for (const rules::FiredRule* g : fired) {
        if (seen || g == f) break;
        const std::vector<std::string>& earlier = pack_.rules()[g->rule].tags;
        seen = std::find(earlier.begin(), earlier.end(), tags[i]) != earlier.end();
      }
      if (seen) continue;
      if (!first_tag) out->push_back(',');
      first_tag = false;
      JsonWriter::AppendString(tags[i], out);
    }
  }
  out->push_back(']');
  string_member(",\"item\":{\"id\":", item.id);
  string_member(",\"title\":", item.title);
  if (!item.url.empty()) string_member(",\"url\":", item.url);
  if (!item.source.empty()) string_member(",\"source\":", item.source);
  if (!item.lang.empty()) string_member(",\"lang\":", item.lang);
  if (!item.published_at.empty()) string_member(",\"published_at\":", item.published_at);
  if (c.has_fingerprint) {
    auto hex = [out](std::string_view key_literal, uint64_t fp) {
      out->append(key_literal);
      char quoted[18];
      quoted[0] = '"';
      for (int i = 0; i < 16; ++i) quoted[i + 1] = "0123456789abcdef"[(fp >> (60 - 4 * i)) & 0xF];
      quoted[17] = '"';
      out->append(quoted, sizeof quoted);
    };
    hex(",\"fingerprint\":", c.fingerprint);
    if (c.lead_fingerprint != 0) hex(",\"lead_fingerprint\":", c.lead_fingerprint);
    if (c.fingerprint_tokens != 0) int_member(",\"fingerprint_tokens\":", c.fingerprint_tokens);
    if (c.sentence_fingerprint != 0) hex(",\"fingerprint_sentence\":", c.sentence_fingerprint);
    if (c.sentence_fingerprint2 != 0) hex(",\"fingerprint_sentence2\":", c.sentence_fingerprint2);
  }
  out->append("},\"matches\":[");
  for (size_t i = 0; i < fired.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendRuleEntry(c, *fired[i], context_bytes, out);
  }
  out->push_back(']');
  if (c.hits_truncated) out->append(",\"hits_truncated\":true");
  out->append(rule_pack_member_);
  string_member(",\"origin\":{\"topic\":", c.origin_topic);
  int_member(",\"partition\":", c.origin_partition);
  int_member(",\"offset\":", c.origin_offset);
  int_member(",\"timestamp_ms\":", c.origin_timestamp_ms);
  string_member("},\"processed_at\":", c.processed_at);
  string_member(",\"instance\":", c.instance);
  out->push_back('}');
}

}  // namespace steppewatch::alert

// The fields of an alert (steppewatch.alert.v1) that the stories stage reads, and their parser.
// The whole alert is validated (the stage republishes its bytes, so a value it does not read must
// be valid JSON too) and the fields are read in the same pass.
//
// Two paths, one verdict:
//   - the fast path: simdjson's stage 1 (the structural index; it also checks UTF-8, unescaped
//     control characters and unclosed strings) and a grammar walk over the index that checks
//     every value (strings with escapes through simdjson's own string parser, numbers and
//     literals by the JSON grammar) and reads the fields on the way, without building a DOM;
//   - simdjson's DOM parser, whenever the fast path meets anything it does not decide itself: an
//     error of any kind, a number outside its plain forms (more than 18 integer digits, an
//     exponent over 280, more than 19 digits in all), nesting deeper than kMaxFastDepth, a root
//     that is not an object, a field of the wrong type. So an alert the DOM parser rejects is
//     rejected with the DOM parser's own error, and an accepted alert's fields are those the DOM
//     parser reads (a differential test and the fuzzer check both).
//
// The fast path reads the alert in place when nothing can read past its end (no backslash, so
// no escape for simdjson's string parser, which reads whole vectors; the last byte that is not
// whitespace a '}', at which every scan of the walk stops; stage 1 copies its last block into a
// padded block of its own), else a padded copy of it; the DOM parser always reads the copy.
//
// Not thread-safe: one parser per stage. The parser owns its padded copy of the alert and the
// structural index; AlertFields owns the unescaped values that are not plain slices of the alert.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "simdjson.h"
#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::stories {

// The fields of one alert the stage reads. The views point into the alert's own bytes (a value
// without escapes) or into `arena` (an unescaped value): valid while the alert's bytes are and
// until the next parse into this AlertFields (a batch parses ahead of the alert it handles, so
// each alert of a batch has its own).
struct AlertFields {
  simdjson::error_code error = simdjson::SUCCESS;  // the parse's
  bool schema_ok = false;
  bool has_schema = false;
  std::string_view id, source, lang, published_at, fingerprint, lead_fingerprint,
      sentence_fingerprint, sentence_fingerprint2;
  bool has_fingerprint = false;
  bool has_lead = false;
  bool has_sentence = false;
  bool has_sentence2 = false;
  Fingerprint fp = 0;
  bool fp_ok = false;    // fingerprint parsed into fp
  Fingerprint lead = 0;  // lead_fingerprint parsed; 0 when absent (or null)
  bool lead_ok = true;   // false: lead_fingerprint present and not 16 hex digits
  // item.fingerprint_sentence parsed; 0 when absent (or null: an alert of an older version).
  Fingerprint sentence = 0;
  bool sentence_ok = true;  // false: fingerprint_sentence present and not 16 hex digits
  // item.fingerprint_sentence2 (the second sentence key), the same way.
  Fingerprint sentence2 = 0;
  bool sentence2_ok = true;
  // item.fingerprint_tokens when it is an integer (clamped to 0..kMaxFingerprintTokens); 0 when
  // absent or of another type (unknown: the stage's fixed lead gate). A hint, never an error.
  uint32_t fingerprint_tokens = 0;
  int64_t origin_timestamp_ms = -1;
  std::vector<std::string_view> rules, tags;  // kept across parses: no allocation per alert
  bool fast = false;                          // read by the fast path (else the DOM parser)

  // Unescaped values: at most the alert's size plus simdjson's padding (its string parser
  // writes whole vectors), allocated once for the largest alert.
  std::unique_ptr<char[]> arena;
  size_t arena_capacity = 0;
  size_t arena_used = 0;
};

// Every field of `f` in one line ("error=... id=[...] ... tags=[...]"): two parses of one alert
// agree when these are equal (the differential test and the stories fuzzer compare the fast
// path with the DOM parser by it).
std::string Describe(const AlertFields& f);

class AlertFieldParser {
 public:
  // Containers nested deeper than this go to the DOM parser (alerts nest 4 deep).
  static constexpr int kMaxFastDepth = 32;

  // Parses `json` into `*f` (the parse's error in f->error; f is reset first). The views of `*f`
  // may point into `json`.
  void Parse(std::string_view json, AlertFields* f);
  // The same through simdjson's DOM parser only: the reference the fast path is tested against.
  void ParseWithDom(std::string_view json, AlertFields* f);

 private:
  // Copies `json` into the padded buffer and sizes `f`'s arena for it.
  void Prepare(std::string_view json, AlertFields* f);
  void Pad(std::string_view json);
  void SizeArena(std::string_view json, AlertFields* f);
  void Reset(AlertFields* f);
  // The fast path over `buf` (json's bytes: the padded copy, or json itself when nothing reads
  // past its end); `backslash`: the first backslash in json (json.size() when none).
  bool FastParse(std::string_view json, const char* buf, size_t backslash, AlertFields* f);
  void DomParse(std::string_view json, AlertFields* f);

  simdjson::dom::parser parser_;
  // simdjson's stage 1 on its own (public interface of simdjson's implementations): the
  // structural index the fast path walks.
  std::unique_ptr<simdjson::internal::dom_parser_implementation> stage1_;
  size_t stage1_capacity_ = 0;
  std::string buffer_;  // the alert, padded for simdjson
};

}  // namespace steppewatch::stories

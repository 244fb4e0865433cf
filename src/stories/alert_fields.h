// The fields of an alert (steppewatch.alert.v1) that the stories stage reads, and their parser:
// simdjson's DOM parser validates the whole alert (the stage republishes its bytes, so a value it
// does not read must be valid too) and yields the fields in the same pass.
//
// Not thread-safe: one parser per stage. The parser owns its padded copy of the alert; the
// fields are copies, valid after the next parse.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "simdjson.h"
#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::stories {

// The fields of one alert the stage reads (copies: the parser's views die at the next parse, and
// a batch parses ahead of the alert it handles).
struct AlertFields {
  simdjson::error_code error = simdjson::SUCCESS;  // the parse's
  bool schema_ok = false;
  bool has_schema = false;
  std::string id, source, lang, published_at, fingerprint;
  bool has_fingerprint = false;
  Fingerprint fp = 0;
  bool fp_ok = false;  // fingerprint parsed into fp
  int64_t origin_timestamp_ms = -1;
  std::vector<std::string> rules, tags;
  size_t n_rules = 0, n_tags = 0;
};

class AlertFieldParser {
 public:
  // Parses `json` into `*f` (the parse's error in f->error; f is reset first).
  void Parse(std::string_view json, AlertFields* f);

 private:
  simdjson::dom::parser parser_;
  std::string buffer_;  // the alert, padded for simdjson
};

}  // namespace steppewatch::stories

// JsonWriter: a minimal streaming JSON writer that appends to a caller-owned std::string, for the
// alert messages (steppewatch.alert.v1) and the CLI's NDJSON output. Hand-written because the
// hot path renders one alert per matching item into a reused buffer: no DOM, no allocation once
// the buffer has grown.
//
// Strings must be UTF-8; invalid bytes are written as U+FFFD so the output is always valid JSON.
// Not thread-safe; one per buffer. Nesting deeper than kMaxDepth is a programming error (abort).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace steppewatch::alert {

class JsonWriter {
 public:
  // Alerts nest 4 levels (alert > matches > match > hits > hit); 16 leaves room for callers.
  static constexpr int kMaxDepth = 16;

  // Appends to `*out` (not cleared).
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  // Writes an object key; the next call writes its value.
  void Key(std::string_view key);
  void String(std::string_view value);
  void Int(int64_t value);
  // Shortest round-trip form; non-finite values are written as null (JSON has no NaN).
  void Double(double value);
  void Bool(bool value);
  void Null();

  // Convenience: Key(key) then the value.
  void Field(std::string_view key, std::string_view value) {
    Key(key);
    String(value);
  }
  void Field(std::string_view key, const char* value) {
    Key(key);
    String(value);
  }
  void FieldInt(std::string_view key, int64_t value) {
    Key(key);
    Int(value);
  }

  // Appends `value` to `*out` as the body of a JSON string (escaped, without quotes).
  static void Escape(std::string_view value, std::string* out);
  // Appends `value` to `*out` as a JSON string (quoted and escaped): what String() writes.
  static void AppendString(std::string_view value, std::string* out);
  // Appends `value` as Int() and Double() write it.
  static void AppendInt(int64_t value, std::string* out);
  static void AppendDouble(double value, std::string* out);

 private:
  void Separate();

  std::string* out_;
  int depth_ = 0;
  bool first_[kMaxDepth + 1] = {true};
  bool after_key_ = false;
};

}  // namespace steppewatch::alert

// The configuration schema: one table of every key of DaemonConfig (dotted path, type,
// environment variable, secret flag, help, where the value lives, and its check). Parsing the
// YAML file, environment and command-line overrides, validation and the redacted rendering all
// walk this table, so a key cannot exist in one of them only. The default of a key is the
// initialiser of its member in daemon_config.h (the table reads it from DaemonConfig{}).
//
// Threading: the table is built once (function-local static) and read-only afterwards.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "steppewatch/config/daemon_config.h"

namespace steppewatch::config {

enum class FieldType {
  kString,      // std::string; also accepted as `<key>_file: /path`
  kBool,        // bool
  kInt,         // int
  kInt64,       // int64_t
  kSize,        // size_t (non-negative)
  kDouble,      // double
  kList,        // std::vector<std::string>; comma-separated in the environment and overrides
  kProperties,  // PropertyMap: librdkafka property names (with dots) to values
};

// One problem found by a check: the dotted key it is about (a field, or a property inside a
// property map) and a message for people.
struct Problem {
  std::string path;
  std::string message;
};

// Collects the problems of one check; Fail() without a path blames the field being checked.
class Problems {
 public:
  explicit Problems(std::vector<Problem>* out) : out_(out) {}
  void Fail(std::string message) { out_->push_back({std::string(current_), std::move(message)}); }
  void Fail(std::string path, std::string message) {
    out_->push_back({std::move(path), std::move(message)});
  }
  void set_current(std::string_view path) { current_ = path; }

 private:
  std::vector<Problem>* out_;
  std::string_view current_;
};

struct Field {
  std::string_view path;  // "kafka.brokers"
  FieldType type;
  std::string_view env;  // "STEPPEWATCH_KAFKA_BROKERS", or empty when none
  bool secret;           // never rendered or logged
  std::string_view help;
  // The value inside a config; cast to the type's C++ type (see FieldType).
  void* (*ref)(DaemonConfig&);
  // Checks the value, with the whole config at hand for rules that relate keys; may be null.
  void (*check)(const DaemonConfig&, Problems&);

  template <typename T>
  T& Get(DaemonConfig& c) const {
    return *static_cast<T*>(ref(c));
  }
  template <typename T>
  const T& Get(const DaemonConfig& c) const {
    return *static_cast<const T*>(ref(const_cast<DaemonConfig&>(c)));
  }
};

// Every key, grouped by section in the order of config/steppewatch.example.yaml.
const std::vector<Field>& ConfigFields();

// The field with this dotted path, or null.
const Field* FindField(std::string_view path);

// An environment variable that sets one librdkafka property of a property map (e.g.
// STEPPEWATCH_KAFKA_SASL_PASSWORD sets kafka.common's sasl.password).
struct PropertyEnv {
  std::string_view env;
  std::string_view map;       // "kafka.common"
  std::string_view property;  // "sasl.password"
};
const std::vector<PropertyEnv>& PropertyEnvs();

// Runs every field's check; problems in table order.
std::vector<Problem> CheckFields(const DaemonConfig& config);

// The value of `field` in `config` as one line of text (lists comma-separated, property maps as
// k=v pairs), secrets as "<redacted>". For messages and documentation.
std::string FieldValueText(const Field& field, const DaemonConfig& config);

// The Levenshtein-nearest of `candidates` to `name` when it is close (a likely typo), else empty.
std::string_view NearestName(std::string_view name,
                             const std::vector<std::string_view>& candidates);

}  // namespace steppewatch::config

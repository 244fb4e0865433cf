// A small command-line flag parser for the cli stage's commands: `--name value`, `--name=value`,
// boolean `--name`, `--help`/`-h`, positional arguments, and `--` to end flags. Unknown flags
// are usage errors with the flag named.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace steppewatch::cli {

class Flags {
 public:
  // `with_value`: flags that take a value; `boolean`: flags that do not. Names without "--".
  Flags(std::set<std::string> with_value, std::set<std::string> boolean)
      : with_value_(std::move(with_value)), boolean_(std::move(boolean)) {}

  // Parses argv[1..argc). Returns false with error() set on a usage error.
  bool Parse(int argc, char** argv);

  bool help() const { return help_; }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  // Returns the flag as an integer in [min, max]; false with error() set when malformed.
  bool GetInt(const std::string& name, int64_t min, int64_t max, int64_t* out);
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string> with_value_, boolean_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
  std::string error_;
};

// Prints "steppewatch COMMAND: message" and the usage to stderr; returns kExitUsage.
int UsageError(std::string_view command, std::string_view message, std::string_view usage);

}  // namespace steppewatch::cli

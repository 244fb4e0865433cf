// A small command-line flag parser for the cli stage's commands: `--name value`, `--name=value`,
// boolean `--name`, `--help`/`-h`, positional arguments, and `--` to end flags. Unknown flags
// are usage errors with the flag named (and the closest known one suggested). A flag given twice
// is a usage error unless it is declared repeatable, so that `--rule a --rule b` never silently
// keeps only b.
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
  // `repeatable`: flags with a value that may be given more than once (GetAll()).
  Flags(std::set<std::string> with_value, std::set<std::string> boolean,
        std::set<std::string> repeatable = {})
      : with_value_(std::move(with_value)),
        boolean_(std::move(boolean)),
        repeatable_(std::move(repeatable)) {}

  // Parses argv[1..argc). Returns false with error() set on a usage error.
  bool Parse(int argc, char** argv);

  bool help() const { return help_; }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // Returns the value of the flag (the last one for a repeatable flag).
  std::optional<std::string> Get(const std::string& name) const;
  // Returns every value of a repeatable flag, in the order given.
  std::vector<std::string> GetAll(const std::string& name) const;
  // Returns the flag as an integer in [min, max]; false with error() set when malformed.
  bool GetInt(const std::string& name, int64_t min, int64_t max, int64_t* out);
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string> with_value_, boolean_, repeatable_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_values_;
  std::vector<std::string> positional_;
  bool help_ = false;
  std::string error_;
};

// Prints "steppewatch COMMAND: message" and the usage to stderr; returns kExitUsage.
int UsageError(std::string_view command, std::string_view message, std::string_view usage);

}  // namespace steppewatch::cli

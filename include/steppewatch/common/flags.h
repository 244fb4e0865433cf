// The command-line flag parser of both programs (steppewatch's commands and steppewatchd):
// `--name value`, `--name=value`, boolean `--name`, `--help`/`-h`, positional arguments, and
// `--` to end flags. Every argument is read before the caller acts on --help, so an unknown flag
// is an error (with the flag named) even next to --help. A flag given twice is a usage error
// unless it is declared repeatable (then GetAll keeps every value in order), so that
// `--rule a --rule b` never silently keeps only b.
//
// Threading: one parser per command line; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace steppewatch::cmdline {

class Flags {
 public:
  // `with_value`: flags that take a value; `boolean`: flags that do not. Names without "--".
  // `repeatable`: flags with a value that may be given more than once.
  Flags(std::set<std::string> with_value, std::set<std::string> boolean,
        std::set<std::string> repeatable = {})
      : with_value_(std::move(with_value)),
        boolean_(std::move(boolean)),
        repeatable_(std::move(repeatable)) {}

  // Parses argv[1..argc). Returns false with error() set on a usage error.
  bool Parse(int argc, char** argv);
  // The same, for arguments without the program name.
  bool Parse(const std::vector<std::string>& args);

  bool help() const { return help_; }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The last value of the flag.
  std::optional<std::string> Get(const std::string& name) const;
  // Every value of a repeatable flag, in order.
  std::vector<std::string> GetAll(const std::string& name) const;
  // Returns the flag as an integer in [min, max]; false with error() set when malformed.
  bool GetInt(const std::string& name, int64_t min, int64_t max, int64_t* out);
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string> with_value_, boolean_, repeatable_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
  std::string error_;
};

}  // namespace steppewatch::cmdline

#include "cli/flags.h"

#include <charconv>
#include <cstdio>

#include "steppewatch/cli/command.h"
#include "steppewatch/common/did_you_mean.h"

namespace steppewatch::cli {

bool Flags::Parse(int argc, char** argv) {
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (flags_done || a == "-" || !a.starts_with("-")) {
      positional_.emplace_back(a);
      continue;
    }
    if (a == "--") {
      flags_done = true;
      continue;
    }
    if (a == "-h" || a == "--help") {
      help_ = true;
      continue;
    }
    if (!a.starts_with("--")) {
      error_ = "unknown option '" + std::string(a) + "'";
      return false;
    }
    std::string name(a.substr(2));
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if ((boolean_.count(name) || with_value_.count(name)) && values_.count(name) &&
        !repeatable_.count(name)) {
      error_ = "option --" + name + " given twice: give it once";
      return false;
    }
    if (boolean_.count(name)) {
      if (value) {
        error_ = "option --" + name + " takes no value";
        return false;
      }
      values_[name] = "true";
    } else if (with_value_.count(name)) {
      if (!value) {
        if (i + 1 >= argc) {
          error_ = "option --" + name + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      values_[name] = *value;
      all_values_[name].push_back(*value);
    } else {
      std::vector<std::string> known;
      for (const std::string& f : with_value_) known.push_back("--" + f);
      for (const std::string& f : boolean_) known.push_back("--" + f);
      error_ = "unknown option '--" + name + "'" + DidYouMean("--" + name, known);
      return false;
    }
  }
  return true;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  auto it = all_values_.find(name);
  return it == all_values_.end() ? std::vector<std::string>() : it->second;
}

bool Flags::GetInt(const std::string& name, int64_t min, int64_t max, int64_t* out) {
  auto v = Get(name);
  if (!v) return true;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < min || n > max) {
    error_ = "--" + name + " must be an integer from " + std::to_string(min) + " to " +
             std::to_string(max) + ", not '" + *v + "'";
    return false;
  }
  *out = n;
  return true;
}

int UsageError(std::string_view command, std::string_view message, std::string_view usage) {
  std::fprintf(stderr, "steppewatch %.*s: %.*s\n\n%.*s", static_cast<int>(command.size()),
               command.data(), static_cast<int>(message.size()), message.data(),
               static_cast<int>(usage.size()), usage.data());
  return kExitUsage;
}

}  // namespace steppewatch::cli

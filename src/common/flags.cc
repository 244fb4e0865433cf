#include "steppewatch/common/flags.h"

#include <algorithm>
#include <charconv>

#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/common/strings.h"

namespace steppewatch::cmdline {

bool Flags::Parse(int argc, char** argv) {
  return Parse(std::vector<std::string>(argv + std::min(argc, 1), argv + argc));
}

bool Flags::Parse(const std::vector<std::string>& args) {
  bool flags_done = false;
  const size_t argc = args.size();
  for (size_t i = 0; i < argc; ++i) {
    std::string_view a = args[i];
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
      values_[name].push_back("true");
    } else if (with_value_.count(name)) {
      if (!value) {
        if (i + 1 >= argc) {
          error_ = "option --" + name + " needs a value";
          return false;
        }
        value = args[++i];
      }
      values_[name].push_back(*value);
    } else {
      error_ = "unknown option '--" + name + "'";
      std::vector<std::string_view> known(with_value_.begin(), with_value_.end());
      known.insert(known.end(), boolean_.begin(), boolean_.end());
      known.push_back("help");
      // Two edits: flags are short, and a wider net suggests unrelated names.
      if (std::string_view near = Nearest(name, known, 2); !near.empty()) {
        error_ += " (did you mean --" + std::string(near) + "?)";
      }
      return false;
    }
  }
  return true;
}

std::optional<std::string> Flags::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>() : it->second;
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

}  // namespace steppewatch::cmdline

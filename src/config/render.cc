// Rendering a DaemonConfig as redacted YAML by walking the schema table, and the small text
// helpers of the config stage.
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include "config/internal.h"
#include "steppewatch/config/daemon_config.h"
#include "steppewatch/config/schema.h"
#include "yaml-cpp/yaml.h"

namespace steppewatch::config {
namespace {

void EmitString(YAML::Emitter& out, std::string_view key, const std::string& value, bool secret) {
  out << YAML::Key << std::string(key) << YAML::Value;
  if (secret && !value.empty()) {
    out << std::string(kRedacted);
  } else {
    out << YAML::DoubleQuoted << value;
  }
}

// "# <origin>" after a value that did not come from the defaults.
void EmitOrigin(YAML::Emitter& out, const Origins* origins, const std::string& path) {
  if (origins == nullptr) return;
  if (auto it = origins->find(path); it != origins->end()) out << YAML::Comment(it->second);
}

void EmitField(YAML::Emitter& out, std::string_view key, const Field& f, const DaemonConfig& c,
               const Origins* origins) {
  switch (f.type) {
    case FieldType::kString:
      EmitString(out, key, f.Get<std::string>(c), f.secret || IsSecretKey(key));
      break;
    case FieldType::kBool:
      out << YAML::Key << std::string(key) << YAML::Value << f.Get<bool>(c);
      break;
    case FieldType::kInt:
      out << YAML::Key << std::string(key) << YAML::Value << f.Get<int>(c);
      break;
    case FieldType::kInt64:
      out << YAML::Key << std::string(key) << YAML::Value << f.Get<int64_t>(c);
      break;
    case FieldType::kSize:
      out << YAML::Key << std::string(key) << YAML::Value << f.Get<size_t>(c);
      break;
    case FieldType::kDouble:
      out << YAML::Key << std::string(key) << YAML::Value << f.Get<double>(c);
      break;
    case FieldType::kList:
      out << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const std::string& v : f.Get<std::vector<std::string>>(c))
        out << YAML::DoubleQuoted << v;
      out << YAML::EndSeq;
      break;
    case FieldType::kProperties: {
      const PropertyMap& map = f.Get<PropertyMap>(c);
      out << YAML::Key << std::string(key) << YAML::Value;
      if (map.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& [k, v] : map) {
        EmitString(out, k, v, IsSecretKey(k));
        EmitOrigin(out, origins, Cat(f.path, ".", k));
      }
      out << YAML::EndMap;
      return;
    }
  }
  EmitOrigin(out, origins, std::string(f.path));
}

}  // namespace

bool IsSecretKey(std::string_view key) {
  std::string lower(key);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (std::string_view word : {"password", "secret", "key", "token", "sasl.oauthbearer"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string RenderRedacted(const DaemonConfig& c, const Origins* origins) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::vector<std::string_view> open;  // sections currently open, outermost first
  for (const Field& f : ConfigFields()) {
    std::vector<std::string_view> parts = Split(f.path, '.');
    const std::string_view leaf = parts.back();
    parts.pop_back();
    size_t common = 0;
    while (common < open.size() && common < parts.size() && open[common] == parts[common]) {
      ++common;
    }
    for (; open.size() > common; open.pop_back()) out << YAML::EndMap;
    for (size_t i = common; i < parts.size(); ++i) {
      out << YAML::Key << std::string(parts[i]) << YAML::Value << YAML::BeginMap;
      open.push_back(parts[i]);
    }
    EmitField(out, leaf, f, c, origins);
  }
  for (; !open.empty(); open.pop_back()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

size_t FindControl(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7F) return i;
  }
  return std::string_view::npos;
}

bool ParseListen(std::string_view s, std::string* host, int* port) {
  size_t colon;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
      return false;
    }
    *host = std::string(s.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = s.rfind(':');
    if (colon == std::string_view::npos) return false;
    *host = std::string(s.substr(0, colon));
    if (host->find(':') != std::string::npos) return false;  // bare IPv6 needs brackets
  }
  std::string_view digits = s.substr(colon + 1);
  if (host->empty() || digits.empty() || digits.size() > 5) return false;
  if (host->find_first_of(" \t/") != std::string::npos) return false;
  int value = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return false;
    value = value * 10 + (ch - '0');
  }
  if (value > 65535) return false;
  *port = value;
  return true;
}

}  // namespace steppewatch::config

// Loading DaemonConfig: the YAML file, then environment variables, then command-line overrides,
// walked against the schema table (schema.h); then every check of the table.
//
// How it works: the YAML text is parsed by yaml-cpp into a node tree; environment variables and
// command-line overrides are injected into that tree (their origin is remembered by dotted key,
// and it wins over the mark of a node they replace); then one strict pass walks the tree against
// the table, converting values without exceptions and recording where every value came from, so
// that validation messages name the file and line or the variable.
// yaml-cpp reports syntax errors by exception: they are caught at this boundary (configuration
// is loaded at start and on reload, never on the data path).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "config/internal.h"
#include "simdjson.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/config/daemon_config.h"
#include "steppewatch/config/schema.h"
#include "yaml-cpp/yaml.h"

extern char** environ;

namespace steppewatch::config {
namespace {

// STEPPEWATCH_* variables that the project's tools read and that are not configuration.
constexpr std::string_view kToolVariables[] = {"STEPPEWATCH_SOURCE_DIR", "STEPPEWATCH_BUILD_DIR",
                                               "STEPPEWATCH_BINARY_DIR", "STEPPEWATCH_CORPUS_DIR",
                                               "STEPPEWATCH_SOAK"};
// True when `name` (a variable's name after STEPPEWATCH_) starts with a section of the schema
// ("KAFKA_", "STORIES_", ...): a misspelt variable under one is an error. Taken from the schema,
// so a new section is covered (a fixed list once left STORIES_ and ALERTS_ out: a misspelt
// STEPPEWATCH_STORIES_TOPICS was a warning, and the role published to the default topic).
bool InEnvSection(std::string_view name) {
  for (const Field& f : ConfigFields()) {
    const size_t dot = f.path.find('.');
    if (dot == std::string_view::npos || name.size() <= dot || name[dot] != '_') continue;
    bool same = true;
    for (size_t i = 0; i < dot && same; ++i) {
      same = name[i] == absl::ascii_toupper(static_cast<unsigned char>(f.path[i]));
    }
    if (same) return true;
  }
  return false;
}

const Field* PropertyMapField(std::string_view path) {
  const Field* f = FindField(path);
  return f != nullptr && f->type == FieldType::kProperties ? f : nullptr;
}

// True when some field lies below `path` (a section such as "kafka" or "decoder.fields").
bool IsSection(std::string_view path) {
  for (const Field& f : ConfigFields()) {
    if (f.path.size() > path.size() && f.path.substr(0, path.size()) == path &&
        f.path[path.size()] == '.') {
      return true;
    }
  }
  return false;
}

// The keys directly under `path`, in table order: "kafka" for "", "brokers" for "kafka", ...
// with `<key>_file` after each string key.
std::vector<std::string> KnownChildren(std::string_view path) {
  std::vector<std::string> out;
  const std::string prefix = path.empty() ? std::string() : Cat(path, ".");
  for (const Field& f : ConfigFields()) {
    if (f.path.substr(0, prefix.size()) != prefix) continue;
    std::string_view rest = f.path.substr(prefix.size());
    const bool leaf = rest.find('.') == std::string_view::npos;
    std::string name(rest.substr(0, rest.find('.')));
    if (std::find(out.begin(), out.end(), name) != out.end()) continue;
    out.push_back(name);
    if (leaf && f.type == FieldType::kString) out.push_back(Cat(name, kFileSuffix));
  }
  return out;
}

std::string TypeWord(FieldType type) {
  switch (type) {
    case FieldType::kString:
      return "a string";
    case FieldType::kBool:
      return "true or false";
    case FieldType::kInt:
    case FieldType::kInt64:
      return "an integer";
    case FieldType::kSize:
      return "a non-negative integer";
    case FieldType::kDouble:
      return "a number";
    case FieldType::kList:
      return "a list of strings";
    case FieldType::kProperties:
      return "a mapping of librdkafka properties";
  }
  return "a value";
}

class Loader {
 public:
  Loader(std::string_view source, DaemonConfig* config) : source_(source), config_(config) {}

  const Origins& origins() const { return origins_; }

  // Sets `key` (dotted) to `value` in the tree; `origin` names the variable or flag.
  absl::Status Inject(YAML::Node& root, std::string_view key, std::string_view value,
                      const std::string& origin) {
    std::vector<std::string> parts;
    std::string path;
    std::string_view rest = key;
    while (!rest.empty()) {
      if (PropertyMapField(path) != nullptr) {  // the rest is one property name, dots and all
        parts.emplace_back(rest);
        break;
      }
      size_t dot = rest.find('.');
      parts.emplace_back(rest.substr(0, dot));
      path += (path.empty() ? "" : ".") + parts.back();
      rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    }
    if (parts.empty() ||
        std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
      return Invalid(Cat(origin, ": malformed key '", key, "'"));
    }
    if (!simdjson::validate_utf8(value.data(), value.size()) ||
        FindControl(value) != std::string_view::npos) {
      return Invalid(Cat(origin, ": the value is not valid UTF-8 text without control characters"));
    }
    std::string full(key);
    injected_[full] = origin;
    try {
      YAML::Node node = root;
      std::string at;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        at += (at.empty() ? "" : ".") + parts[i];
        if (!node[parts[i]] || node[parts[i]].IsNull()) {
          node[parts[i]] = YAML::Node(YAML::NodeType::Map);
          injected_[at] = origin;
        } else if (!node[parts[i]].IsMap()) {
          return Invalid(Cat(origin, ": cannot set '", key, "': '", at, "' is not a section"));
        }
        node.reset(node[parts[i]]);
      }
      const std::string& leaf = parts.back();
      // The injected value replaces a `<key>_file` from the file.
      if (node[leaf + std::string(kFileSuffix)]) node.remove(leaf + std::string(kFileSuffix));
      if (const Field* f = FindField(full); f != nullptr && f->type == FieldType::kList) {
        YAML::Node list(YAML::NodeType::Sequence);
        for (const std::string& item : SplitList(value)) list.push_back(item);
        node[leaf] = list;
      } else {
        node[leaf] = std::string(value);
      }
    } catch (const YAML::Exception& e) {
      return Invalid(Cat(origin, ": cannot set '", key, "': ", e.what()));
    }
    return absl::OkStatus();
  }

  // Walks a mapping against the table; unknown and duplicate keys are errors.
  absl::Status Walk(const YAML::Node& node, const std::string& path) {
    if (node.IsNull()) return absl::OkStatus();  // `section:` with nothing under it
    if (!node.IsMap()) return Error(node, path, "expected a mapping of keys");
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: yaml-cpp's iterator hands out a temporary pair, so references into it dangle.
      const YAML::Node key_node = it->first;
      const YAML::Node value_node = it->second;
      if (!key_node.IsScalar()) return Error(key_node, path, "keys must be plain strings");
      const std::string key = key_node.Scalar();
      const std::string key_path = Child(path, key);
      if (!seen.insert(key).second) return Error(key_node, key_path, "duplicate key");
      if (const Field* f = FindField(key_path); f != nullptr) {
        SW_RETURN_IF_ERROR(ParseValue(*f, value_node, key_path));
        continue;
      }
      if (key.size() > kFileSuffix.size() && key.ends_with(kFileSuffix)) {
        const std::string base = key.substr(0, key.size() - kFileSuffix.size());
        const Field* f = FindField(Child(path, base));
        if (f != nullptr && f->type == FieldType::kString) {
          if (node[base]) {
            return Error(key_node, key_path,
                         Cat("both '", base, "' and '", key, "' are given; keep one"));
          }
          SW_ASSIGN_OR_RETURN(YAML::Node value, FileValue(value_node, key_path));
          SW_RETURN_IF_ERROR(ParseValue(*f, value, std::string(f->path)));
          origins_[std::string(f->path)] = Cat(Where(value_node, key_path), " (", key, ")");
          continue;
        }
      }
      if (IsSection(key_path)) {
        SW_RETURN_IF_ERROR(Walk(value_node, key_path));
        continue;
      }
      const std::vector<std::string> known = KnownChildren(path);
      std::string message = Cat("unknown key (known here: ", Join(known, ", "), ")");
      const std::vector<std::string_view> names(known.begin(), known.end());
      if (std::string_view near = NearestName(key, names); !near.empty()) {
        message += Cat("; did you mean '", near, "'");
        if (const Field* f = FindField(Child(path, near)); f != nullptr) {
          message += Cat(" (", f->help, ")");
        }
        message += "?";
      }
      return Error(key_node, key_path, message);
    }
    return absl::OkStatus();
  }

 private:
  // "file:line:col" of a node from the file, or the origin of an injected one.
  std::string Where(const YAML::Node& node, const std::string& path) const {
    // An injected value may have replaced a scalar of the file in place (keeping its mark):
    // the variable or flag is where it came from.
    if (auto it = injected_.find(path); it != injected_.end()) return it->second;
    const YAML::Mark mark = node.Mark();
    if (!mark.is_null()) {
      return Cat(source_, ":", std::to_string(mark.line + 1), ":", std::to_string(mark.column + 1));
    }
    for (std::string p = path;;) {
      if (auto it = injected_.find(p); it != injected_.end()) return it->second;
      size_t dot = p.rfind('.');
      if (dot == std::string::npos) break;
      p.resize(dot);
    }
    return std::string(source_);
  }

  absl::Status Error(const YAML::Node& node, const std::string& path, std::string_view message) {
    return Invalid(
        Cat(Where(node, path), ": ", path.empty() ? "(top level)" : path, ": ", message));
  }

  void Record(const YAML::Node& node, const std::string& path) {
    origins_[path] = Where(node, path);
  }

  static std::string Child(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : Cat(path, ".", key);
  }

  // The value of a `<key>_file` entry: the trimmed content of the file it names.
  absl::StatusOr<YAML::Node> FileValue(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) return Error(node, path, "expected a file path");
    absl::StatusOr<std::string> content = ReadSecretFile(node.Scalar());
    if (!content.ok()) return Error(node, path, Msg(content.status()));
    return YAML::Node(*content);
  }

  absl::Status RequireScalar(const YAML::Node& node, const std::string& path,
                             std::string_view what) {
    if (node.IsScalar()) return absl::OkStatus();
    if (node.IsNull()) return Error(node, path, Cat("needs a value (", what, ")"));
    return Error(node, path, Cat("expected ", what, ", got a ", node.IsMap() ? "mapping" : "list"));
  }

  template <typename T>
  absl::Status Number(const Field& f, const YAML::Node& n, const std::string& p) {
    const std::string what = TypeWord(f.type);
    SW_RETURN_IF_ERROR(RequireScalar(n, p, what));
    T value{};
    if (!YAML::convert<T>::decode(n, value)) {
      return Error(n, p, Cat("expected ", what, ", got '", n.Scalar(), "'"));
    }
    f.Get<T>(*config_) = value;
    Record(n, p);
    return absl::OkStatus();
  }

  absl::Status ParseValue(const Field& f, const YAML::Node& n, const std::string& p) {
    switch (f.type) {
      case FieldType::kString:
        SW_RETURN_IF_ERROR(RequireScalar(n, p, "a string"));
        f.Get<std::string>(*config_) = n.Scalar();
        Record(n, p);
        return absl::OkStatus();
      case FieldType::kBool:
        return Number<bool>(f, n, p);
      case FieldType::kInt:
        return Number<int>(f, n, p);
      case FieldType::kInt64:
        return Number<int64_t>(f, n, p);
      case FieldType::kSize:
        return Number<size_t>(f, n, p);
      case FieldType::kDouble:
        return Number<double>(f, n, p);
      case FieldType::kList:
        return ParseList(f.Get<std::vector<std::string>>(*config_), n, p);
      case FieldType::kProperties:
        return ParseProperties(f.Get<PropertyMap>(*config_), n, p);
    }
    return absl::OkStatus();
  }

  absl::Status ParseList(std::vector<std::string>& out, const YAML::Node& n, const std::string& p) {
    out.clear();
    Record(n, p);
    if (n.IsNull()) return absl::OkStatus();
    if (!n.IsSequence()) return Error(n, p, "expected a list of strings");
    for (const YAML::Node& item : n) {
      if (!item.IsScalar()) return Error(item, p, "list items must be strings");
      out.push_back(item.Scalar());
    }
    return absl::OkStatus();
  }

  absl::Status ParseProperties(PropertyMap& out, const YAML::Node& n, const std::string& p) {
    out.clear();
    if (n.IsNull()) return absl::OkStatus();
    if (!n.IsMap()) return Error(n, p, "expected a mapping of librdkafka properties");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node key_node = it->first;  // copies: see Walk()
      const YAML::Node value_node = it->second;
      if (!key_node.IsScalar()) return Error(key_node, p, "keys must be strings");
      std::string key = key_node.Scalar();
      std::string key_path = Cat(p, ".", key);
      std::string value;
      std::string origin_note;
      if (key.size() > kFileSuffix.size() && key.ends_with(kFileSuffix)) {
        // (Never assign to a YAML::Node that refers into the tree: that rewrites it.)
        SW_ASSIGN_OR_RETURN(YAML::Node from_file, FileValue(value_node, key_path));
        value = from_file.Scalar();
        origin_note = Cat(" (", key, ")");
        key.resize(key.size() - kFileSuffix.size());
      } else if (value_node.IsScalar()) {
        value = value_node.Scalar();
      } else {
        return Error(value_node, key_path, "property values must be scalars");
      }
      if (!out.emplace(key, value).second) {
        return Error(key_node, key_path, "given twice (directly, or also as a _file key)");
      }
      origins_[Cat(p, ".", key)] = Where(value_node, key_path) + origin_note;
    }
    return absl::OkStatus();
  }

  const std::string_view source_;
  DaemonConfig* const config_;
  std::map<std::string, std::string> injected_;  // dotted key -> "environment variable X"
  Origins origins_;
};

std::string HostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "steppewatch";
  return name;
}

std::vector<std::string_view> KnownVariables() {
  std::vector<std::string_view> out;
  for (const EnvOverride& e : EnvOverrides()) out.push_back(e.name);
  return out;
}

// Applies the environment's variables to the tree; unknown STEPPEWATCH_* names are an error
// under a known section and a warning otherwise (each with the nearest known name).
absl::Status ApplyEnvironment(Loader& loader, YAML::Node& root, const LoadOptions& options) {
  for (const EnvOverride& e : EnvOverrides()) {
    const std::string name(e.name);
    const std::string file_name = name + "_FILE";
    auto direct = options.env.find(name);
    auto file = options.env.find(file_name);
    if (direct != options.env.end() && file != options.env.end()) {
      return Invalid(Cat("environment: both ", name, " and ", file_name, " are set; keep one"));
    }
    if (direct != options.env.end()) {
      SW_RETURN_IF_ERROR(
          loader.Inject(root, e.key, direct->second, Cat("environment variable ", name)));
    } else if (file != options.env.end()) {
      absl::StatusOr<std::string> content = ReadSecretFile(file->second);
      if (!content.ok()) {
        return Invalid(Cat("environment variable ", file_name, ": ", Msg(content.status())));
      }
      SW_RETURN_IF_ERROR(
          loader.Inject(root, e.key, *content, Cat("environment variable ", file_name)));
    }
  }
  const std::vector<std::string_view> known = KnownVariables();
  for (const auto& [name, value] : options.env) {
    std::string_view n = name;
    if (n.substr(0, kEnvPrefix.size()) != kEnvPrefix) continue;
    if (std::find(std::begin(kToolVariables), std::end(kToolVariables), n) !=
        std::end(kToolVariables)) {
      continue;
    }
    std::string_view base = n.ends_with("_FILE") ? n.substr(0, n.size() - 5) : n;
    if (std::find(known.begin(), known.end(), base) != known.end()) continue;
    std::string message = Cat("environment variable ", name, " is not a known override");
    if (std::string_view near = NearestName(base, known); !near.empty()) {
      message += Cat(" (did you mean ", near, base == n ? "" : "_FILE", "?)");
    }
    message += "; the variables are listed in config/steppewatch.example.yaml";
    const std::string_view after = n.substr(kEnvPrefix.size());
    const bool in_section = InEnvSection(after);
    // A misspelt variable of a known section must not be silently ignored; others may belong to
    // tools, so they are reported without failing.
    if (in_section) return Invalid(message);
    if (options.warnings != nullptr) options.warnings->push_back(message);
  }
  return absl::OkStatus();
}

// The file is UTF-8 without control characters (checked below), but yaml-cpp 0.7 decodes the
// escapes \N and \_ of a double-quoted scalar to the single bytes 0x85 and 0xA0 (not UTF-8) and
// \0, \a, \x01 ... to control characters: such a scalar is not text, and the rendered config
// could not say it back (the config fuzzer's find). Every key and value is checked once.
absl::Status CheckScalarText(const YAML::Node& node, std::string_view source) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (simdjson::validate_utf8(s.data(), s.size()) && FindControl(s) == std::string_view::npos) {
        return absl::OkStatus();
      }
      const YAML::Mark mark = node.Mark();
      return Invalid(Cat(source, ":", std::to_string(mark.line + 1), ":",
                         std::to_string(mark.column + 1),
                         ": an escape in this scalar decodes to bytes that are not UTF-8 text "
                         "(yaml-cpp reads \\N and \\_ as single bytes, \\0 and \\x01 as "
                         "control characters): write the character itself"));
    }
    case YAML::NodeType::Sequence:
      for (const YAML::Node& item : node) SW_RETURN_IF_ERROR(CheckScalarText(item, source));
      return absl::OkStatus();
    case YAML::NodeType::Map:
      for (const auto& kv : node) {
        SW_RETURN_IF_ERROR(CheckScalarText(kv.first, source));
        SW_RETURN_IF_ERROR(CheckScalarText(kv.second, source));
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

absl::StatusOr<DaemonConfig> Load(std::string_view yaml, std::string_view source,
                                  const LoadOptions& options) {
  DaemonConfig config;
  Loader loader(source, &config);
  // YAML is Unicode text; yaml-cpp would pass invalid bytes through, and its emitter would turn
  // them into U+FFFD, so the rendered config would differ from the effective one (fuzzer find).
  if (!simdjson::validate_utf8(yaml.data(), yaml.size())) {
    return Invalid(Cat(source, ": the file is not valid UTF-8"));
  }
  // YAML's character set excludes C0 controls but tab, LF and CR; yaml-cpp accepts a NUL in a
  // plain scalar and its emitter then writes U+FFFD (fuzzer find).
  if (size_t at = FindControl(yaml); at != std::string_view::npos) {
    const size_t line = 1 + static_cast<size_t>(std::count(yaml.begin(), yaml.begin() + at, '\n'));
    return Invalid(Cat(source, ":", std::to_string(line), ": control character (byte ",
                       std::to_string(static_cast<unsigned char>(yaml[at])),
                       ") is not allowed in YAML"));
  }
  try {
    YAML::Node root = yaml.empty() ? YAML::Node() : YAML::Load(std::string(yaml));
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) {
      return Invalid(Cat(source, ": the top level must be a mapping of sections"));
    }
    SW_RETURN_IF_ERROR(CheckScalarText(root, source));
    SW_RETURN_IF_ERROR(ApplyEnvironment(loader, root, options));
    for (const std::string& o : options.overrides) {
      size_t eq = o.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Invalid(Cat("override '", o, "': expected key=value"));
      }
      SW_RETURN_IF_ERROR(loader.Inject(root, std::string_view(o).substr(0, eq),
                                       std::string_view(o).substr(eq + 1),
                                       Cat("override '", o.substr(0, eq), "'")));
    }
    SW_RETURN_IF_ERROR(loader.Walk(root, ""));
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; e.msg is the message without position.
    return Invalid(Cat(source, ":", std::to_string(e.mark.line + 1), ":",
                       std::to_string(e.mark.column + 1), ": invalid YAML: ", e.msg));
  }
  if (config.instance.empty()) config.instance = HostName();
  if (options.origins != nullptr) *options.origins = loader.origins();
  SW_RETURN_IF_ERROR(ValidateWithOrigins(config, loader.origins()));
  return config;
}

}  // namespace

// At most 64 KiB are read: secrets are short, and a path like /dev/zero must not hang the loader.
constexpr size_t kMaxSecretFileBytes = 64 * 1024;

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid(Cat("cannot read file '", path, "'"));
  std::string content(kMaxSecretFileBytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  if (in.bad()) return Invalid(Cat("cannot read file '", path, "'"));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > kMaxSecretFileBytes) {
    return Invalid(Cat("file '", path, "' is larger than ", std::to_string(kMaxSecretFileBytes),
                       " bytes; not a secret"));
  }
  return std::string(Trim(content));
}

absl::Status ValidateWithOrigins(const DaemonConfig& c, const Origins& origins) {
  const std::vector<Problem> problems = CheckFields(c);
  if (problems.empty()) return absl::OkStatus();
  std::string text;
  for (const Problem& p : problems) {
    if (!text.empty()) text.push_back('\n');
    auto it = origins.find(p.path);
    if (it != origins.end()) text += Cat(it->second, ": ");
    text += Cat(p.path, ": ", p.message);
  }
  return Invalid(text);
}

const std::vector<EnvOverride>& EnvOverrides() {
  static const std::vector<EnvOverride> kList = [] {
    std::vector<EnvOverride> list;
    for (const Field& f : ConfigFields()) {
      if (!f.env.empty()) list.push_back({f.env, f.path});
    }
    // Property-map variables: the key is "kafka.common.<property>"; kept alive by the static.
    static std::vector<std::string> keys;
    keys.reserve(PropertyEnvs().size());
    for (const PropertyEnv& e : PropertyEnvs()) keys.push_back(Cat(e.map, ".", e.property));
    for (size_t i = 0; i < PropertyEnvs().size(); ++i) {
      list.push_back({PropertyEnvs()[i].env, keys[i]});
    }
    return list;
  }();
  return kList;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry = *e;
    if (entry.substr(0, kEnvPrefix.size()) != kEnvPrefix) continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

absl::StatusOr<DaemonConfig> ParseConfig(std::string_view yaml, std::string_view source_name,
                                         const LoadOptions& options) {
  return Load(yaml, source_name, options);
}

absl::StatusOr<DaemonConfig> LoadConfig(const LoadOptions& options) {
  struct stat st;
  if (stat(options.path.c_str(), &st) != 0) {
    if (options.allow_missing_file && errno == ENOENT) return Load("", options.path, options);
    return absl::NotFoundError(
        Cat("cannot read config file '", options.path, "': ", std::strerror(errno)));
  }
  // An ifstream opens a directory and reads it as an empty file: the defaults would be used.
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        Cat("config file '", options.path, "' is ",
            S_ISDIR(st.st_mode) ? "a directory" : "not a regular file", "; name the YAML file"));
  }
  std::ifstream in(options.path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        Cat("cannot read config file '", options.path, "': ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return Load(text.str(), options.path, options);
}

absl::Status ValidateConfig(const DaemonConfig& config) { return ValidateWithOrigins(config, {}); }

}  // namespace steppewatch::config

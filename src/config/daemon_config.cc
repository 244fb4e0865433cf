// Loading, validating and rendering DaemonConfig (see daemon_config.h for the rules).
//
// How it works: the YAML text is parsed by yaml-cpp into a node tree; environment variables and
// command-line overrides are injected into that tree (their nodes carry no source mark, so their
// origin is remembered by dotted key); then one strict pass walks the tree against the schema,
// converting values without exceptions and recording where every value came from, so that
// ValidateConfig's messages can name the file and line or the variable.
// yaml-cpp reports syntax errors by exception: they are caught at this boundary (configuration
// is loaded at start and on reload, never on the data path).
#include "steppewatch/config/daemon_config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "simdjson.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/kafka/client.h"
#include "yaml-cpp/yaml.h"

extern char** environ;

namespace steppewatch::config {
namespace {

// Concatenates message text. Debian's abseil has its own string_view type
// (ABSL_OPTION_USE_STD_STRING_VIEW is 0), so absl::StrCat does not take std::string_view.
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  return Cat({std::string_view(parts)...});
}

// An absl::Status message as std::string_view.
std::string_view Msg(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

constexpr std::string_view kEnvPrefix = "STEPPEWATCH_";
constexpr std::string_view kFileSuffix = "_file";
constexpr std::string_view kRedacted = "<redacted>";

// Sections whose keys are librdkafka property names (which contain dots).
constexpr std::string_view kPropertyMaps[] = {"kafka.common", "kafka.consumer", "kafka.producer"};
// Keys whose value is a list; given as one string (env, override) they are split at commas.
constexpr std::string_view kListKeys[] = {"kafka.input_topics", "kafka.embedded.topics"};

bool IsPropertyMap(std::string_view path) {
  return std::find(std::begin(kPropertyMaps), std::end(kPropertyMaps), path) !=
         std::end(kPropertyMaps);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Returns the offset of the first C0 control character other than tab, LF and CR (or DEL).
size_t FindControl(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(s[i]);
    if ((ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7F) return i;
  }
  return std::string_view::npos;
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    size_t comma = s.find(',');
    std::string_view part = Trim(s.substr(0, comma));
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// Reads a secret file and returns its content trimmed of surrounding whitespace (files written
// with `echo` end in a newline). The error names the path, never the content.
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

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out.append(sep);
    out.append(parts[i]);
  }
  return out;
}

// Where values came from, by dotted key, for messages.
using Origins = std::map<std::string, std::string>;

std::string OriginOf(const Origins& origins, const std::string& path) {
  auto it = origins.find(path);
  return it == origins.end() ? std::string() : it->second + ": ";
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
      if (IsPropertyMap(path)) {  // the rest is one property name, dots and all
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
      if (std::find(std::begin(kListKeys), std::end(kListKeys), full) != std::end(kListKeys)) {
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

  absl::Status Parse(const YAML::Node& root) {
    DaemonConfig& c = *config_;
    return Section(
        root, "",
        {
            String("instance", &c.instance),
            Sub("kafka",
                [&](const YAML::Node& n, const std::string& p) { return ParseKafka(n, p); }),
            Sub("decoder",
                [&](const YAML::Node& n, const std::string& p) { return ParseDecoder(n, p); }),
            Sub("rules",
                [&](const YAML::Node& n, const std::string& p) {
                  RulesConfig& r = c.rules;
                  return Section(
                      n, p,
                      {String("dir", &r.dir), Bool("reload_on_change", &r.reload_on_change),
                       String("reload_gate_sample", &r.reload_gate_sample),
                       String("cache_dir", &r.cache_dir)});
                }),
            Sub("pipeline",
                [&](const YAML::Node& n, const std::string& p) {
                  PipelineConfig& q = c.pipeline;
                  return Section(n, p,
                                 {Int("workers", &q.workers),
                                  Int64("max_in_flight_items", &q.max_in_flight_items),
                                  Int64("max_in_flight_bytes", &q.max_in_flight_bytes),
                                  Double("resume_fraction", &q.resume_fraction),
                                  Double("shutdown_budget_seconds", &q.shutdown_budget_seconds),
                                  Int("max_hits_per_item", &q.max_hits_per_item)});
                }),
            Sub("metrics",
                [&](const YAML::Node& n, const std::string& p) {
                  MetricsConfig& m = c.metrics;
                  return Section(
                      n, p,
                      {String("listen", &m.listen), Bool("per_rule_label", &m.per_rule_label),
                       Sub("basic_auth", [&](const YAML::Node& n2, const std::string& p2) {
                         return Section(n2, p2,
                                        {String("user", &m.basic_auth.user),
                                         String("password", &m.basic_auth.password)});
                       })});
                }),
            Sub("log",
                [&](const YAML::Node& n, const std::string& p) {
                  return Section(n, p,
                                 {String("level", &c.log.level), String("format", &c.log.format)});
                }),
        });
  }

 private:
  using Handler = std::function<absl::Status(const YAML::Node&, const std::string&)>;
  struct Entry {
    std::string_view name;
    Handler handler;
    bool takes_file;  // a string key: `<name>_file` is accepted too
  };

  absl::Status ParseKafka(const YAML::Node& node, const std::string& path) {
    KafkaConfig& k = config_->kafka;
    return Section(
        node, path,
        {String("brokers", &k.brokers), String("group_id", &k.group_id),
         String("client_id", &k.client_id), String("instance_id", &k.instance_id),
         List("input_topics", &k.input_topics),
         String("dead_letter_topic", &k.dead_letter_topic),
         String("default_alert_topic", &k.default_alert_topic), Properties("common", &k.common),
         Properties("consumer", &k.consumer), Properties("producer", &k.producer),
         Sub("embedded", [&](const YAML::Node& n, const std::string& p) {
           return Section(
               n, p,
               {Int("partitions", &k.embedded.partitions), List("topics", &k.embedded.topics)});
         })});
  }

  absl::Status ParseDecoder(const YAML::Node& node, const std::string& path) {
    decode::DecoderOptions& d = config_->decoder.options;
    return Section(node, path,
                   {Sub("fields",
                        [&](const YAML::Node& n, const std::string& p) {
                          decode::FieldPaths& f = d.fields;
                          return Section(n, p,
                                         {String("id", &f.id), String("title", &f.title),
                                          String("body", &f.body), String("url", &f.url),
                                          String("source", &f.source), String("lang", &f.lang),
                                          String("published_at", &f.published_at)});
                        }),
                    Size("max_item_bytes", &d.max_item_bytes)});
  }

  // "file:line:col" of a node from the file, or the origin of an injected one.
  std::string Where(const YAML::Node& node, const std::string& path) const {
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

  // Walks a mapping, dispatching each key to its entry; unknown and duplicate keys are errors.
  absl::Status Section(const YAML::Node& node, const std::string& path,
                       const std::vector<Entry>& entries) {
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
      const Entry* entry = nullptr;
      bool from_file = false;
      for (const Entry& e : entries) {
        if (e.name == key) entry = &e;
      }
      if (entry == nullptr && key.size() > kFileSuffix.size() &&
          std::string_view(key).substr(key.size() - kFileSuffix.size()) == kFileSuffix) {
        std::string_view base = std::string_view(key).substr(0, key.size() - kFileSuffix.size());
        for (const Entry& e : entries) {
          if (e.name == base && e.takes_file) entry = &e;
        }
        from_file = entry != nullptr;
      }
      if (entry == nullptr) {
        std::vector<std::string> known;
        for (const Entry& e : entries) {
          known.emplace_back(e.name);
          if (e.takes_file) known.push_back(Cat(e.name, kFileSuffix));
        }
        return Error(key_node, key_path, Cat("unknown key (known here: ", Join(known, ", "), ")"));
      }
      const std::string target_path = Child(path, entry->name);
      if (!from_file) {
        SW_RETURN_IF_ERROR(entry->handler(value_node, target_path));
        continue;
      }
      if (node[std::string(entry->name)]) {
        return Error(key_node, key_path,
                     Cat("both '", entry->name, "' and '", key, "' are given; keep one"));
      }
      SW_ASSIGN_OR_RETURN(YAML::Node value, FileValue(value_node, key_path));
      SW_RETURN_IF_ERROR(entry->handler(value, target_path));
      origins_[target_path] = Cat(Where(value_node, key_path), " (", key, ")");
    }
    return absl::OkStatus();
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

  Entry String(std::string_view name, std::string* out) {
    return {name,
            [this, out](const YAML::Node& n, const std::string& p) {
              SW_RETURN_IF_ERROR(RequireScalar(n, p, "a string"));
              *out = n.Scalar();
              Record(n, p);
              return absl::OkStatus();
            },
            true};
  }

  template <typename T>
  Entry Number(std::string_view name, T* out, std::string_view what) {
    return {name,
            [this, out, what](const YAML::Node& n, const std::string& p) {
              SW_RETURN_IF_ERROR(RequireScalar(n, p, what));
              T value{};
              if (!YAML::convert<T>::decode(n, value)) {
                return Error(n, p, Cat("expected ", what, ", got '", n.Scalar(), "'"));
              }
              *out = value;
              Record(n, p);
              return absl::OkStatus();
            },
            false};
  }
  Entry Int(std::string_view name, int* out) { return Number(name, out, "an integer"); }
  Entry Int64(std::string_view name, int64_t* out) { return Number(name, out, "an integer"); }
  Entry Size(std::string_view name, size_t* out) {
    return Number(name, out, "a non-negative integer");
  }
  Entry Double(std::string_view name, double* out) { return Number(name, out, "a number"); }
  Entry Bool(std::string_view name, bool* out) { return Number(name, out, "true or false"); }

  Entry List(std::string_view name, std::vector<std::string>* out) {
    return {name,
            [this, out](const YAML::Node& n, const std::string& p) {
              out->clear();
              Record(n, p);
              if (n.IsNull()) return absl::OkStatus();
              if (!n.IsSequence()) return Error(n, p, "expected a list of strings");
              for (const YAML::Node& item : n) {
                if (!item.IsScalar()) return Error(item, p, "list items must be strings");
                out->push_back(item.Scalar());
              }
              return absl::OkStatus();
            },
            false};
  }

  Entry Properties(std::string_view name, PropertyMap* out) {
    return {name,
            [this, out](const YAML::Node& n, const std::string& p) {
              out->clear();
              if (n.IsNull()) return absl::OkStatus();
              if (!n.IsMap()) return Error(n, p, "expected a mapping of librdkafka properties");
              for (auto it = n.begin(); it != n.end(); ++it) {
                const YAML::Node key_node = it->first;  // copies: see Section()
                const YAML::Node value_node = it->second;
                if (!key_node.IsScalar()) return Error(key_node, p, "keys must be strings");
                std::string key = key_node.Scalar();
                std::string key_path = Cat(p, ".", key);
                std::string value;
                std::string origin_note;
                if (key.size() > kFileSuffix.size() &&
                    std::string_view(key).substr(key.size() - kFileSuffix.size()) == kFileSuffix) {
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
                if (!out->emplace(key, value).second) {
                  return Error(key_node, key_path,
                               "given twice (directly, or also as a _file key)");
                }
                origins_[Cat(p, ".", key)] = Where(value_node, key_path) + origin_note;
              }
              return absl::OkStatus();
            },
            false};
  }

  Entry Sub(std::string_view name, Handler handler) { return {name, std::move(handler), false}; }

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

// Applies environment variables and overrides, parses, fills defaults, validates.
absl::Status ValidateWithOrigins(const DaemonConfig& c, const Origins& origins);

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
    // A misspelt variable of a known section must not be silently ignored; other STEPPEWATCH_*
    // names (e.g. STEPPEWATCH_CORPUS_DIR of the test tools) are not configuration.
    for (const auto& [name, value] : options.env) {
      std::string_view n = name;
      if (n.substr(0, kEnvPrefix.size()) != kEnvPrefix) continue;
      std::string_view base =
          n.size() > 5 && n.substr(n.size() - 5) == "_FILE" ? n.substr(0, n.size() - 5) : n;
      bool known = false;
      for (const EnvOverride& e : EnvOverrides()) known = known || e.name == base;
      if (known) continue;
      for (std::string_view section :
           {"KAFKA_", "DECODER_", "RULES_", "PIPELINE_", "METRICS_", "LOG_"}) {
        if (n.substr(kEnvPrefix.size(), section.size()) == section) {
          return Invalid(Cat("environment variable ", name,
                             " is not a known override (see EnvOverrides() / the example config)"));
        }
      }
    }
    for (const std::string& o : options.overrides) {
      size_t eq = o.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Invalid(Cat("override '", o, "': expected key=value"));
      }
      SW_RETURN_IF_ERROR(loader.Inject(root, std::string_view(o).substr(0, eq),
                                       std::string_view(o).substr(eq + 1),
                                       Cat("override '", o.substr(0, eq), "'")));
    }
    SW_RETURN_IF_ERROR(loader.Parse(root));
  } catch (const YAML::Exception& e) {
    // e.mark is 0-based; e.msg is the message without position.
    return Invalid(Cat(source, ":", std::to_string(e.mark.line + 1), ":",
                       std::to_string(e.mark.column + 1), ": invalid YAML: ", e.msg));
  }
  if (config.instance.empty()) config.instance = HostName();
  SW_RETURN_IF_ERROR(ValidateWithOrigins(config, loader.origins()));
  return config;
}

// host:port or [v6]:port; the port may be 0 (pick a free one).
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

absl::Status ValidateWithOrigins(const DaemonConfig& c, const Origins& origins) {
  auto fail = [&](const std::string& path, std::string_view message) {
    return Invalid(Cat(OriginOf(origins, path), path, ": ", message));
  };
  const KafkaConfig& k = c.kafka;
  if (Trim(k.brokers).empty()) return fail("kafka.brokers", "must not be empty");
  if (k.group_id.empty()) return fail("kafka.group_id", "must not be empty");
  if (k.client_id.empty()) return fail("kafka.client_id", "must not be empty");
  // The broker compares ids byte for byte: a stray space would make two "same" ids differ.
  if (k.instance_id != Trim(k.instance_id)) {
    return fail("kafka.instance_id", "must not start or end with white space");
  }
  if (k.input_topics.empty()) return fail("kafka.input_topics", "needs at least one topic");
  std::set<std::string> inputs;
  for (const std::string& t : k.input_topics) {
    if (t.empty()) return fail("kafka.input_topics", "a topic name is empty");
    if (!inputs.insert(t).second)
      return fail("kafka.input_topics", Cat("'", t, "' is listed twice"));
  }
  if (k.dead_letter_topic.empty()) return fail("kafka.dead_letter_topic", "must not be empty");
  if (k.default_alert_topic.empty()) return fail("kafka.default_alert_topic", "must not be empty");
  // Writing outputs into an input topic would feed them back as items, forever.
  if (inputs.count(k.dead_letter_topic)) {
    return fail("kafka.dead_letter_topic", "must not be one of kafka.input_topics");
  }
  if (inputs.count(k.default_alert_topic)) {
    return fail("kafka.default_alert_topic", "must not be one of kafka.input_topics");
  }
  // The mock cluster's limit is far higher; 10000 only catches typos that would exhaust memory.
  if (k.embedded.partitions < 1 || k.embedded.partitions > 10000) {
    return fail("kafka.embedded.partitions", "must be in [1, 10000]");
  }
  for (const std::string& t : k.embedded.topics) {
    if (t.empty()) return fail("kafka.embedded.topics", "a topic name is empty");
  }
  for (const auto& [section, map] :
       {std::pair<std::string, const PropertyMap*>{"kafka.common", &k.common},
        {"kafka.consumer", &k.consumer},
        {"kafka.producer", &k.producer}}) {
    for (const auto& [key, value] : *map) {
      const std::string path = Cat(section, ".", key);
      const auto& refused = RefusedKafkaProperties();
      if (std::find(refused.begin(), refused.end(), key) != refused.end()) {
        return fail(path,
                    key == "bootstrap.servers" || key == "group.id" || key == "client.id" ||
                            key == "group.instance.id"
                        ? "set by kafka.brokers, kafka.group_id, kafka.client_id or "
                          "kafka.instance_id; use those"
                        : "cannot be overridden: steppewatch's at-least-once delivery depends on "
                          "it (see BuildKafkaProperties)");
      }
    }
  }

  if (absl::StatusOr<std::unique_ptr<decode::ItemDecoder>> d =
          decode::ItemDecoder::Create(c.decoder.options);
      !d.ok()) {
    return fail("decoder", Msg(d.status()));
  }
  // 1 GiB: far above any news item and what a worker's buffers should ever hold.
  if (c.decoder.options.max_item_bytes > (size_t{1} << 30)) {
    return fail("decoder.max_item_bytes", "must be at most 1073741824 (1 GiB)");
  }

  if (c.rules.dir.empty()) return fail("rules.dir", "must not be empty");
  if (c.rules.cache_dir.empty()) return fail("rules.cache_dir", "must not be empty");

  const PipelineConfig& p = c.pipeline;
  // 1024 threads is far beyond any machine this runs on; more is a typo.
  if (p.workers < 0 || p.workers > 1024) {
    return fail("pipeline.workers", "must be in [0, 1024] (0 = one per core)");
  }
  if (p.max_in_flight_items < 1) return fail("pipeline.max_in_flight_items", "must be >= 1");
  if (p.max_in_flight_bytes < static_cast<int64_t>(c.decoder.options.max_item_bytes)) {
    return fail("pipeline.max_in_flight_bytes",
                "must be >= decoder.max_item_bytes, or a maximal item could never be admitted");
  }
  if (!(p.resume_fraction > 0 && p.resume_fraction < 1)) {
    return fail("pipeline.resume_fraction", "must be in (0, 1): the low watermark");
  }
  // One hour: beyond it a supervisor's stop timeout has long killed the process.
  if (!(p.shutdown_budget_seconds > 0 && p.shutdown_budget_seconds <= 3600)) {
    return fail("pipeline.shutdown_budget_seconds", "must be in (0, 3600]");
  }
  if (p.max_hits_per_item < 1) return fail("pipeline.max_hits_per_item", "must be >= 1");

  std::string host;
  int port = 0;
  if (!ParseListen(c.metrics.listen, &host, &port)) {
    return fail("metrics.listen",
                Cat("'", c.metrics.listen, "' is not host:port (e.g. 127.0.0.1:9464, [::1]:9464)"));
  }
  if (c.metrics.basic_auth.user.empty() != c.metrics.basic_auth.password.empty()) {
    return fail("metrics.basic_auth", "give both user and password (or password_file), or neither");
  }
  if (c.log.level != "debug" && c.log.level != "info" && c.log.level != "warning" &&
      c.log.level != "error") {
    return fail("log.level", Cat("'", c.log.level, "' is not debug, info, warning or error"));
  }
  if (c.log.format != "text" && c.log.format != "json") {
    return fail("log.format", Cat("'", c.log.format, "' is not text or json"));
  }
  if (c.instance.empty()) return fail("instance", "must not be empty");
  return absl::OkStatus();
}

void EmitString(YAML::Emitter& out, std::string_view key, const std::string& value) {
  out << YAML::Key << std::string(key) << YAML::Value;
  if (IsSecretKey(key) && !value.empty()) {
    out << std::string(kRedacted);
  } else {
    out << YAML::DoubleQuoted << value;
  }
}

void EmitList(YAML::Emitter& out, std::string_view key, const std::vector<std::string>& values) {
  out << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& v : values) out << YAML::DoubleQuoted << v;
  out << YAML::EndSeq;
}

void EmitProperties(YAML::Emitter& out, std::string_view key, const PropertyMap& map) {
  out << YAML::Key << std::string(key) << YAML::Value;
  if (map.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  out << YAML::BeginMap;
  for (const auto& [k, v] : map) EmitString(out, k, v);
  out << YAML::EndMap;
}

}  // namespace

bool DecoderConfig::operator==(const DecoderConfig& other) const {
  const decode::FieldPaths& a = options.fields;
  const decode::FieldPaths& b = other.options.fields;
  return options.max_item_bytes == other.options.max_item_bytes && a.id == b.id &&
         a.title == b.title && a.body == b.body && a.url == b.url && a.source == b.source &&
         a.lang == b.lang && a.published_at == b.published_at;
}

const std::vector<EnvOverride>& EnvOverrides() {
  static const std::vector<EnvOverride> kList = {
      {"STEPPEWATCH_INSTANCE", "instance"},
      {"STEPPEWATCH_KAFKA_BROKERS", "kafka.brokers"},
      {"STEPPEWATCH_KAFKA_GROUP_ID", "kafka.group_id"},
      {"STEPPEWATCH_KAFKA_CLIENT_ID", "kafka.client_id"},
      {"STEPPEWATCH_KAFKA_INSTANCE_ID", "kafka.instance_id"},
      {"STEPPEWATCH_KAFKA_INPUT_TOPICS", "kafka.input_topics"},
      {"STEPPEWATCH_KAFKA_DEAD_LETTER_TOPIC", "kafka.dead_letter_topic"},
      {"STEPPEWATCH_KAFKA_DEFAULT_ALERT_TOPIC", "kafka.default_alert_topic"},
      {"STEPPEWATCH_KAFKA_SECURITY_PROTOCOL", "kafka.common.security.protocol"},
      {"STEPPEWATCH_KAFKA_SASL_MECHANISM", "kafka.common.sasl.mechanism"},
      {"STEPPEWATCH_KAFKA_SASL_USERNAME", "kafka.common.sasl.username"},
      {"STEPPEWATCH_KAFKA_SASL_PASSWORD", "kafka.common.sasl.password"},
      {"STEPPEWATCH_KAFKA_SSL_CA_LOCATION", "kafka.common.ssl.ca.location"},
      {"STEPPEWATCH_DECODER_MAX_ITEM_BYTES", "decoder.max_item_bytes"},
      {"STEPPEWATCH_RULES_DIR", "rules.dir"},
      {"STEPPEWATCH_RULES_RELOAD_ON_CHANGE", "rules.reload_on_change"},
      {"STEPPEWATCH_RULES_CACHE_DIR", "rules.cache_dir"},
      {"STEPPEWATCH_PIPELINE_WORKERS", "pipeline.workers"},
      {"STEPPEWATCH_METRICS_LISTEN", "metrics.listen"},
      {"STEPPEWATCH_METRICS_BASIC_AUTH_USER", "metrics.basic_auth.user"},
      {"STEPPEWATCH_METRICS_BASIC_AUTH_PASSWORD", "metrics.basic_auth.password"},
      {"STEPPEWATCH_LOG_LEVEL", "log.level"},
      {"STEPPEWATCH_LOG_FORMAT", "log.format"},
  };
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
  std::ifstream in(options.path, std::ios::binary);
  if (!in) {
    if (options.allow_missing_file && access(options.path.c_str(), F_OK) != 0) {
      return Load("", options.path, options);
    }
    return absl::NotFoundError(Cat("cannot read config file '", options.path, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return Load(text.str(), options.path, options);
}

absl::Status ValidateConfig(const DaemonConfig& config) { return ValidateWithOrigins(config, {}); }

bool IsSecretKey(std::string_view key) {
  std::string lower(key);
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (std::string_view word : {"password", "secret", "key", "token", "sasl.oauthbearer"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string RenderRedacted(const DaemonConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  EmitString(out, "instance", c.instance);

  out << YAML::Key << "kafka" << YAML::Value << YAML::BeginMap;
  EmitString(out, "brokers", c.kafka.brokers);
  EmitString(out, "group_id", c.kafka.group_id);
  EmitString(out, "client_id", c.kafka.client_id);
  EmitString(out, "instance_id", c.kafka.instance_id);
  EmitList(out, "input_topics", c.kafka.input_topics);
  EmitString(out, "dead_letter_topic", c.kafka.dead_letter_topic);
  EmitString(out, "default_alert_topic", c.kafka.default_alert_topic);
  EmitProperties(out, "common", c.kafka.common);
  EmitProperties(out, "consumer", c.kafka.consumer);
  EmitProperties(out, "producer", c.kafka.producer);
  out << YAML::Key << "embedded" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "partitions" << YAML::Value << c.kafka.embedded.partitions;
  EmitList(out, "topics", c.kafka.embedded.topics);
  out << YAML::EndMap << YAML::EndMap;

  const decode::DecoderOptions& d = c.decoder.options;
  out << YAML::Key << "decoder" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "fields" << YAML::Value << YAML::BeginMap;
  EmitString(out, "id", d.fields.id);
  EmitString(out, "title", d.fields.title);
  EmitString(out, "body", d.fields.body);
  EmitString(out, "url", d.fields.url);
  EmitString(out, "source", d.fields.source);
  EmitString(out, "lang", d.fields.lang);
  EmitString(out, "published_at", d.fields.published_at);
  out << YAML::EndMap;
  out << YAML::Key << "max_item_bytes" << YAML::Value << d.max_item_bytes;
  out << YAML::EndMap;

  out << YAML::Key << "rules" << YAML::Value << YAML::BeginMap;
  EmitString(out, "dir", c.rules.dir);
  out << YAML::Key << "reload_on_change" << YAML::Value << c.rules.reload_on_change;
  EmitString(out, "reload_gate_sample", c.rules.reload_gate_sample);
  EmitString(out, "cache_dir", c.rules.cache_dir);
  out << YAML::EndMap;

  const PipelineConfig& p = c.pipeline;
  out << YAML::Key << "pipeline" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "workers" << YAML::Value << p.workers;
  out << YAML::Key << "max_in_flight_items" << YAML::Value << p.max_in_flight_items;
  out << YAML::Key << "max_in_flight_bytes" << YAML::Value << p.max_in_flight_bytes;
  out << YAML::Key << "resume_fraction" << YAML::Value << p.resume_fraction;
  out << YAML::Key << "shutdown_budget_seconds" << YAML::Value << p.shutdown_budget_seconds;
  out << YAML::Key << "max_hits_per_item" << YAML::Value << p.max_hits_per_item;
  out << YAML::EndMap;

  out << YAML::Key << "metrics" << YAML::Value << YAML::BeginMap;
  EmitString(out, "listen", c.metrics.listen);
  out << YAML::Key << "per_rule_label" << YAML::Value << c.metrics.per_rule_label;
  out << YAML::Key << "basic_auth" << YAML::Value << YAML::BeginMap;
  EmitString(out, "user", c.metrics.basic_auth.user);
  EmitString(out, "password", c.metrics.basic_auth.password);
  out << YAML::EndMap << YAML::EndMap;

  out << YAML::Key << "log" << YAML::Value << YAML::BeginMap;
  EmitString(out, "level", c.log.level);
  EmitString(out, "format", c.log.format);
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

const std::vector<std::string_view>& RefusedKafkaProperties() {
  static const std::vector<std::string_view> kRefused = {
      "enable.auto.offset.store", "enable.auto.commit", "enable.idempotence",
      "bootstrap.servers",        "group.id",           "client.id",
      "group.instance.id"};
  return kRefused;
}

KafkaClientProperties BuildKafkaProperties(const DaemonConfig& config,
                                           std::string_view bootstrap_servers) {
  const KafkaConfig& k = config.kafka;
  KafkaClientProperties props;
  // steppewatch's defaults live in the Kafka client layer (one place for every client).
  const std::string bootstrap =
      bootstrap_servers.empty() ? k.brokers : std::string(bootstrap_servers);
  props.consumer = kafka::DefaultProperties(kafka::ClientRole::kConsumer);
  props.consumer["bootstrap.servers"] = bootstrap;
  props.consumer["client.id"] = k.client_id;
  props.consumer["group.id"] = k.group_id;
  // At-least-once: the daemon stores an offset only after every output of the items up to it
  // was acked; librdkafka's auto-commit then commits what was stored.
  props.consumer["enable.auto.offset.store"] = "false";
  props.consumer["enable.auto.commit"] = "true";
  props.producer = kafka::DefaultProperties(kafka::ClientRole::kProducer);
  props.producer["bootstrap.servers"] = bootstrap;
  props.producer["client.id"] = k.client_id;
  for (const auto& [key, value] : k.common) {
    props.consumer[key] = value;
    props.producer[key] = value;
  }
  for (const auto& [key, value] : k.consumer) props.consumer[key] = value;
  for (const auto& [key, value] : k.producer) props.producer[key] = value;
  // ValidateConfig refuses these in the user maps; re-assert them in case a caller skipped it.
  props.consumer["enable.auto.offset.store"] = "false";
  props.consumer["enable.auto.commit"] = "true";
  props.consumer["group.id"] = k.group_id;
  if (!k.instance_id.empty()) props.consumer["group.instance.id"] = k.instance_id;
  props.producer["enable.idempotence"] = "true";
  return props;
}

}  // namespace steppewatch::config

// Rule pack loading: YAML -> validated sets and rules -> one Matcher + a program per rule.
// yaml-cpp reports errors by exception; they are caught here, at load time, and turned into
// diagnostics (exceptions never reach the data path).
#include "steppewatch/rules/pack.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/pack_cache.h"
#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/common/log.h"
#include "steppewatch/normalise/utf8.h"
#include "steppewatch/rules/sha256.h"
#include "yaml-cpp/yaml.h"

namespace steppewatch::rules {

using log::Cat;

using match::TermId;
using match::TermSpec;

std::string_view SeverityName(Severity severity) {
  static constexpr std::string_view kNames[] = {"info", "low", "medium", "high", "critical"};
  return kNames[static_cast<int>(severity)];
}

std::string Diagnostic::ToString() const {
  if (line <= 0) return Cat(file, ": ", message);
  return Cat(file, ":", line, ":", column, ": ", message);
}

std::string PackHash(std::vector<PackFile> files) {
  std::sort(files.begin(), files.end(),
            [](const PackFile& a, const PackFile& b) { return a.path < b.path; });
  Sha256 sha;
  for (const PackFile& f : files) {
    sha.Update(f.path);
    sha.Update(std::string_view("\0", 1));
    sha.Update(Cat(f.content.size()));
    sha.Update(std::string_view("\0", 1));
    sha.Update(f.content);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (uint8_t b : sha.Final()) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

int CompiledPack::FindRule(std::string_view id) const {
  auto it = rule_by_id_.find(std::string(id));
  return it == rule_by_id_.end() ? -1 : it->second;
}

namespace {

bool ValidName(std::string_view s) {
  if (s.empty()) return false;
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return false;
  return std::all_of(s.begin(), s.end(), ok);
}

// ISO 639-1 language codes: what news feeds put in an item's "lang" (with a region subtag at
// most, which lang: ignores).
constexpr std::string_view kIso639_1 =
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv "
    "cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr "
    "ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw "
    "ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv "
    "ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr "
    "ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi "
    "yo za zh zu";

bool KnownLanguage(std::string_view code) {
  std::string_view primary = code.substr(0, code.find_first_of("-_"));
  if (primary.size() != 2) return false;
  for (size_t i = 0; i + 2 <= kIso639_1.size(); i += 3) {
    if (kIso639_1.substr(i, 2) == primary) return true;
  }
  return false;
}

// The field scopes of the query language, for "did you mean" on `titel:x`.
const std::vector<std::string>& FieldScopes() {
  static const auto* scopes = new std::vector<std::string>{"title", "body", "lang", "source"};
  return *scopes;
}

// Returns Hyperscan's compile error for one term in an analyst's words: without the
// `term 0 "..."` prefix (the caller names the term) and without Hyperscan's flag names.
std::string ExplainHyperscanError(std::string_view message) {
  if (size_t q = message.find("\": "); message.starts_with("term ") && q != std::string::npos) {
    message.remove_prefix(q + 3);
  }
  struct Known {
    std::string_view hyperscan;
    std::string_view analyst;
  };
  static constexpr Known kKnown[] = {
      {"Pattern matches empty buffer",
       "the regex can match an empty text (as a* or x{0,3} can): make at least one character "
       "required, e.g. a+ instead of a*"},
      {"Zero-width assertions are not supported",
       "look-ahead and look-behind ((?=...), (?<=...)) are not supported: whole words are "
       "checked for you, so drop the assertion or write the words out"},
      {"Bounded repeat is too large",
       "a repeat count such as {100000} is too large for the matcher: use a smaller bound"},
      {"Embedded start anchors not supported", "^ may stand only at the start of the regex"},
      {"Embedded end anchors not supported", "$ may stand only at the end of the regex"},
      {"Invalid back reference", "back references (\\1) are not supported"},
      {"Pattern is too large", "the regex is too large for the matcher: split it into terms"},
  };
  for (const Known& k : kKnown) {
    if (message.starts_with(k.hyperscan)) return std::string(k.analyst);
  }
  std::string out(message);
  // "at index 3" counts bytes from 0; analysts count characters from 1 (ASCII regexes).
  if (size_t at = out.find(" at index "); at != std::string::npos) {
    size_t digits = at + 10;
    size_t end = digits;
    while (end < out.size() && out[end] >= '0' && out[end] <= '9') ++end;
    if (end > digits) {
      out = Cat(out.substr(0, at), " at character ",
                std::stoul(out.substr(digits, end - digits)) + 1, out.substr(end));
    }
  }
  if (!out.empty() && out.back() == '.') out.pop_back();
  if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z')
    out[0] = static_cast<char>(out[0] - 'A' + 'a');
  return out;
}

// A position in a pack file: index into the builder's files, 1-based line and column.
struct Pos {
  int file = -1;
  int line = 0;
  int column = 0;
};

struct TermEntry {
  std::string text;
  std::string display;  // as written, when `text` is a regex made from a starred phrase
  TermSpec::Kind kind = TermSpec::Kind::kLiteral;
  bool case_sensitive = false;
  bool whole_word = true;
  std::optional<float> weight;
  Pos pos;
};

struct Expanded {
  TermId id;
  float weight;  // the entry's own weight or its set's
  bool explicit_weight;
  int owner;  // index of the set whose `terms:` holds the entry
};

struct SetDef {
  std::string name;
  Pos pos;
  float weight = 1;
  std::vector<TermEntry> entries;
  std::vector<std::pair<std::string, Pos>> includes;
  int state = 0;  // 0 not expanded, 1 expanding (cycle detection), 2 done
  std::vector<Expanded> expanded;
};

struct RuleDef {
  Rule rule;
  Pos pos;
  Pos query_pos;
  YAML::Node query_node;
  int file = -1;
  std::vector<std::pair<std::string, std::pair<float, Pos>>> weights;  // score.weights
  bool has_score = false;
  Pos score_pos;
};

struct SourceFile {
  std::string path;
  std::string content;
};

}  // namespace

class PackBuilder {
 public:
  PackBuilder(const PackOptions& options, std::vector<Diagnostic>* diags)
      : options_(options), diags_(diags) {}

  absl::StatusOr<std::shared_ptr<const CompiledPack>> Build(std::vector<PackFile> files);

 private:
  void Error(Pos pos, std::string message) {
    Diagnostic d;
    d.file = pos.file >= 0 ? files_[pos.file].path : std::string("(pack)");
    d.line = pos.line;
    d.column = pos.column;
    d.message = std::move(message);
    diags_->push_back(std::move(d));
  }
  void Warn(Pos pos, std::string message) {
    Diagnostic d;
    d.file = pos.file >= 0 ? files_[pos.file].path : std::string("(pack)");
    d.line = pos.line;
    d.column = pos.column;
    d.message = std::move(message);
    pack_->warnings_.push_back(std::move(d));
  }
  void WarnUnusedSets();
  std::vector<std::string> SetNames() const {
    std::vector<std::string> names;
    for (const SetDef& set : sets_) names.push_back(set.name);
    return names;
  }
  Pos At(int file, const YAML::Node& node) const { return At(file, node.Mark()); }
  Pos At(int file, const YAML::Mark& mark) const;
  Pos QueryPos(const RuleDef& def, uint32_t offset) const;

  void ReadFile(int file);
  void ReadPack(int file, const YAML::Node& node);
  void ReadDefaults(int file, const YAML::Node& node);
  void ReadSets(int file, const YAML::Node& node);
  void ReadRules(int file, const YAML::Node& node);
  bool ReadTerm(int file, const YAML::Node& node, TermEntry* entry);
  bool ReadTest(int file, const YAML::Node& node, bool expect, RuleTest* test);

  template <typename T>
  bool Scalar(int file, const YAML::Node& node, std::string_view what, T* out) {
    if (!node.IsScalar()) {
      Error(At(file, node), Cat(what, " must be a single value"));
      return false;
    }
    try {
      *out = node.as<T>();
      return true;
    } catch (const YAML::Exception&) {
      Error(At(file, node), Cat(what, ": '", node.Scalar(), "' is not a valid ",
                                std::is_same_v<T, bool>     ? "boolean (true or false)"
                                : std::is_same_v<T, double> ? "number"
                                                            : "value"));
      return false;
    }
  }
  bool StringList(int file, const YAML::Node& node, std::string_view what,
                  std::vector<std::string>* out);
  bool ParseSeverity(int file, const YAML::Node& node, Severity* out);

  void ExpandSet(int index);
  TermId Intern(const TermEntry& entry, std::string_view owner);
  void CompileRule(RuleDef& def);
  uint32_t CompileNode(RuleDef& def, const QueryNode& q, FieldMask mask, bool negated,
                       absl::flat_hash_map<TermId, float>* weights, bool* ok);
  std::string Unreachable(const Rule& rule, const QueryNode& root) const;
  void CompileMatcher();

  const PackOptions& options_;
  std::vector<Diagnostic>* diags_;
  std::vector<SourceFile> files_;
  std::shared_ptr<CompiledPack> pack_;

  int pack_file_ = -1;
  int defaults_file_ = -1;
  std::string default_topic_;
  Severity default_severity_ = Severity::kMedium;
  bool default_case_sensitive_ = false;
  bool default_whole_word_ = true;

  std::vector<SetDef> sets_;
  absl::flat_hash_map<std::string, int> set_index_;
  std::vector<RuleDef> rules_;
  absl::flat_hash_map<std::string, Pos> rule_pos_;

  std::vector<bool> set_used_;  // per set: a query, score.weights or a used set names it
  absl::flat_hash_map<std::string, TermId> term_ids_;
  std::vector<std::pair<Pos, std::string>> term_origin_;  // first use: position and owner
};

Pos PackBuilder::At(int file, const YAML::Mark& mark) const {
  Pos p;
  p.file = file;
  if (mark.line < 0) return p;
  p.line = mark.line + 1;
  const std::string& c = files_[file].content;
  size_t pos = std::min<size_t>(mark.pos, c.size());
  size_t line_start = c.rfind('\n', pos == 0 ? 0 : pos - 1);
  line_start = (line_start == std::string::npos || pos == 0) ? 0 : line_start + 1;
  if (pos > 0 && c[pos - 1] == '\n') line_start = pos;
  p.column =
      ColumnOf(std::string_view(c).substr(line_start), static_cast<uint32_t>(pos - line_start));
  return p;
}

// Maps byte `offset` of a rule's query value to the file position, by walking the raw YAML
// scalar: quotes, '' and backslash escapes, and line folding (a raw newline plus indentation is
// one byte of the value). Exact for plain and quoted one-line queries; close for block scalars.
Pos PackBuilder::QueryPos(const RuleDef& def, uint32_t offset) const {
  Pos start = def.query_pos;
  const YAML::Mark mark = def.query_node.Mark();
  if (mark.pos < 0) return start;
  const std::string& c = files_[def.file].content;
  size_t i = static_cast<size_t>(mark.pos);
  if (i >= c.size()) return start;
  char style = c[i];
  int line = mark.line;
  if (style == '\'' || style == '"') {
    ++i;
  } else if (style == '|' || style == '>') {
    size_t nl = c.find('\n', i);
    if (nl == std::string::npos) return start;
    i = nl + 1;
    ++line;
    while (i < c.size() && c[i] == ' ') ++i;
  }
  uint32_t v = 0;
  while (v < offset && i < c.size()) {
    char ch = c[i];
    if (ch == '\n') {
      ++i;
      ++line;
      while (i < c.size() && (c[i] == ' ' || c[i] == '\t')) ++i;
      ++v;
    } else if (style == '\'' && ch == '\'' && i + 1 < c.size() && c[i + 1] == '\'') {
      i += 2;
      ++v;
    } else if (style == '"' && ch == '\\' && i + 1 < c.size()) {
      char e = c[i + 1];
      i += e == 'x' ? 4 : e == 'u' ? 6 : e == 'U' ? 10 : 2;
      v += (e == 'u' || e == 'U') ? 2 : 1;  // most escaped code points in queries are 2 bytes
    } else {
      ++i;
      ++v;
    }
  }
  i = std::min(i, c.size());
  size_t line_start = i == 0 ? std::string::npos : c.rfind('\n', i - 1);
  line_start = line_start == std::string::npos ? 0 : line_start + 1;
  Pos p;
  p.file = def.file;
  p.line = line + 1;
  p.column =
      ColumnOf(std::string_view(c).substr(line_start), static_cast<uint32_t>(i - line_start));
  return p;
}

bool PackBuilder::StringList(int file, const YAML::Node& node, std::string_view what,
                             std::vector<std::string>* out) {
  out->clear();
  if (node.IsScalar()) {
    out->push_back(node.Scalar());
    return true;
  }
  if (!node.IsSequence()) {
    Error(At(file, node), Cat(what, " must be a list of strings, as [a, b]"));
    return false;
  }
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) {
      Error(At(file, item), Cat(what, " must be a list of strings"));
      return false;
    }
    out->push_back(item.Scalar());
  }
  return true;
}

bool PackBuilder::ParseSeverity(int file, const YAML::Node& node, Severity* out) {
  std::string s;
  if (!Scalar(file, node, "severity", &s)) return false;
  for (int i = 0; i < kSeverityCount; ++i) {
    if (s == SeverityName(static_cast<Severity>(i))) {
      *out = static_cast<Severity>(i);
      return true;
    }
  }
  Error(At(file, node), Cat("unknown severity '", s, "': use info, low, medium, high or critical"));
  return false;
}

void PackBuilder::ReadFile(int file) {
  YAML::Node root;
  try {
    root = YAML::Load(files_[file].content);
  } catch (const YAML::Exception& e) {
    Error(At(file, e.mark), Cat("YAML syntax error: ", e.msg));
    return;
  }
  if (root.IsNull()) return;
  if (!root.IsMap()) {
    Error(At(file, root), "a pack file must be a map with keys pack, defaults, sets, rules");
    return;
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string key = it->first.Scalar();
    if (key == "pack") {
      ReadPack(file, it->second);
    } else if (key == "defaults") {
      ReadDefaults(file, it->second);
    } else if (key == "sets") {
      ReadSets(file, it->second);
    } else if (key == "rules") {
      ReadRules(file, it->second);
    } else {
      Error(At(file, it->first),
            Cat("unknown top-level key '", key, "': expected pack, defaults, sets or rules"));
    }
  }
}

void PackBuilder::ReadPack(int file, const YAML::Node& node) {
  if (pack_file_ >= 0) {
    Error(At(file, node), Cat("a second 'pack:' (the first is in ", files_[pack_file_].path,
                              "): a pack has exactly one"));
    return;
  }
  pack_file_ = file;
  if (!node.IsMap()) {
    Error(At(file, node), "'pack' must be a map with name, version, description");
    return;
  }
  PackInfo& info = pack_->info_;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.Scalar();
    if (key == "name") {
      Scalar(file, it->second, "pack name", &info.name);
    } else if (key == "version") {
      Scalar(file, it->second, "pack version", &info.version);
    } else if (key == "description") {
      Scalar(file, it->second, "pack description", &info.description);
    } else {
      Error(At(file, it->first),
            Cat("unknown key '", key, "' in pack: expected name, version, description"));
    }
  }
  if (info.name.empty()) Error(At(file, node), "the pack has no name: add 'name:' under 'pack:'");
}

void PackBuilder::ReadDefaults(int file, const YAML::Node& node) {
  if (defaults_file_ >= 0) {
    Error(At(file, node),
          Cat("a second 'defaults:' (the first is in ", files_[defaults_file_].path, ")"));
    return;
  }
  defaults_file_ = file;
  if (!node.IsMap()) {
    Error(At(file, node), "'defaults' must be a map");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.Scalar();
    if (key == "topic") {
      Scalar(file, it->second, "defaults.topic", &default_topic_);
    } else if (key == "severity") {
      ParseSeverity(file, it->second, &default_severity_);
    } else if (key == "case_sensitive") {
      Scalar(file, it->second, "defaults.case_sensitive", &default_case_sensitive_);
    } else if (key == "whole_word") {
      Scalar(file, it->second, "defaults.whole_word", &default_whole_word_);
    } else {
      Error(At(file, it->first), Cat("unknown key '", key,
                                     "' in defaults: expected topic, severity, "
                                     "case_sensitive, whole_word"));
    }
  }
}

bool PackBuilder::ReadTerm(int file, const YAML::Node& node, TermEntry* entry) {
  entry->pos = At(file, node);
  entry->case_sensitive = default_case_sensitive_;
  entry->whole_word = default_whole_word_;
  // yaml-cpp's Node::operator= writes through to the referenced node: rebind with reset().
  YAML::Node text_node;
  text_node.reset(node);
  if (node.IsMap()) {
    text_node.reset(YAML::Node(YAML::NodeType::Undefined));
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      if (key == "term") {
        text_node.reset(it->second);
      } else if (key == "case_sensitive") {
        Scalar(file, it->second, "case_sensitive", &entry->case_sensitive);
      } else if (key == "whole_word") {
        Scalar(file, it->second, "whole_word", &entry->whole_word);
      } else if (key == "weight") {
        double w = 1;
        if (Scalar(file, it->second, "weight", &w)) entry->weight = static_cast<float>(w);
      } else {
        Error(At(file, it->first), Cat("unknown key '", key,
                                       "' in a term: expected term, "
                                       "case_sensitive, whole_word, weight"));
      }
    }
    if (!text_node.IsDefined()) {
      Error(entry->pos, "a term map needs 'term:', as {term: KZ, case_sensitive: true}");
      return false;
    }
  }
  if (!text_node.IsScalar()) {
    Error(At(file, text_node), "a term must be a string or a map {term: ..., ...}");
    return false;
  }
  std::string err;
  if (!ParseTermString(text_node.Scalar(), &entry->text, &entry->kind, &err, &entry->display)) {
    Error(At(file, text_node), err);
    return false;
  }
  if (entry->text.size() > options_.limits.max_term_bytes) {
    Error(At(file, text_node), Cat("term is ", entry->text.size(), " bytes, over the limit of ",
                                   options_.limits.max_term_bytes));
    return false;
  }
  return true;
}

void PackBuilder::ReadSets(int file, const YAML::Node& node) {
  if (!node.IsMap()) {
    Error(At(file, node), "'sets' must be a map: set name -> set");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    SetDef set;
    set.name = it->first.Scalar();
    set.pos = At(file, it->first);
    if (!ValidName(set.name)) {
      Error(set.pos,
            Cat("invalid set name '", set.name, "': use lower case letters, digits and . _ -"));
      continue;
    }
    if (auto prev = set_index_.find(set.name); prev != set_index_.end()) {
      Pos p = sets_[prev->second].pos;
      Error(set.pos, Cat("duplicate set '", set.name, "' (first defined at ", files_[p.file].path,
                         ":", p.line, ")"));
      continue;
    }
    YAML::Node body = it->second;
    YAML::Node terms;
    if (body.IsSequence()) {
      terms.reset(body);
    } else if (body.IsMap()) {
      for (auto kv = body.begin(); kv != body.end(); ++kv) {
        std::string key = kv->first.Scalar();
        if (key == "terms") {
          terms.reset(kv->second);
        } else if (key == "description") {
          // Documentation only.
        } else if (key == "weight") {
          double w = 1;
          if (Scalar(file, kv->second, "weight", &w)) set.weight = static_cast<float>(w);
        } else if (key == "include") {
          std::vector<std::string> names;
          if (StringList(file, kv->second, "include", &names)) {
            for (size_t i = 0; i < names.size(); ++i) {
              YAML::Node n = kv->second.IsSequence() ? kv->second[i] : kv->second;
              set.includes.emplace_back(names[i], At(file, n));
            }
          }
        } else {
          Error(At(file, kv->first), Cat("unknown key '", key, "' in set '", set.name,
                                         "': expected description, weight, terms, include"));
        }
      }
    } else {
      Error(At(file, body), Cat("set '", set.name,
                                "' must be a list of terms or a map "
                                "with terms/include"));
      continue;
    }
    if (terms.IsDefined() && !terms.IsNull()) {
      if (!terms.IsSequence()) {
        Error(At(file, terms), Cat("terms of set '", set.name, "' must be a list"));
      } else {
        for (const YAML::Node& t : terms) {
          TermEntry entry;
          if (ReadTerm(file, t, &entry)) set.entries.push_back(std::move(entry));
        }
      }
    }
    set_index_[set.name] = static_cast<int>(sets_.size());
    sets_.push_back(std::move(set));
  }
}

bool PackBuilder::ReadTest(int file, const YAML::Node& node, bool expect, RuleTest* test) {
  test->expect_match = expect;
  Pos p = At(file, node);
  test->line = p.line;
  test->column = p.column;
  if (node.IsScalar()) {
    test->body = node.Scalar();
    return true;
  }
  if (!node.IsMap()) {
    Error(p, "a test is a text or a map {title, body, lang, source}");
    return false;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.Scalar();
    std::string* field = key == "title"    ? &test->title
                         : key == "body"   ? &test->body
                         : key == "text"   ? &test->body
                         : key == "lang"   ? &test->lang
                         : key == "source" ? &test->source
                                           : nullptr;
    if (!field) {
      Error(At(file, it->first),
            Cat("unknown key '", key, "' in a test: expected title, body, lang, source"));
      return false;
    }
    if (!Scalar(file, it->second, key, field)) return false;
  }
  if (test->title.empty() && test->body.empty()) {
    Error(p, "a test needs a title or a body");
    return false;
  }
  return true;
}

void PackBuilder::ReadRules(int file, const YAML::Node& node) {
  if (!node.IsSequence()) {
    Error(At(file, node), "'rules' must be a list of rules (each starting with '- id:')");
    return;
  }
  for (const YAML::Node& r : node) {
    RuleDef def;
    def.file = file;
    def.pos = At(file, r);
    Rule& rule = def.rule;
    rule.file = files_[file].path;
    rule.line = def.pos.line;
    rule.severity = default_severity_;
    if (!r.IsMap()) {
      Error(def.pos, "a rule must be a map with id, title, query, ...");
      continue;
    }
    bool ok = true;
    bool has_topics = false;
    for (auto it = r.begin(); it != r.end(); ++it) {
      std::string key = it->first.Scalar();
      YAML::Node v = it->second;
      if (key == "id") {
        ok &= Scalar(file, v, "id", &rule.id);
      } else if (key == "title") {
        ok &= Scalar(file, v, "title", &rule.title);
      } else if (key == "description") {
        ok &= Scalar(file, v, "description", &rule.description);
      } else if (key == "severity") {
        ok &= ParseSeverity(file, v, &rule.severity);
      } else if (key == "tags") {
        ok &= StringList(file, v, "tags", &rule.tags);
      } else if (key == "topics") {
        ok &= StringList(file, v, "topics", &rule.topics);
        has_topics = true;
      } else if (key == "enabled") {
        ok &= Scalar(file, v, "enabled", &rule.enabled);
      } else if (key == "query") {
        ok &= Scalar(file, v, "query", &rule.query);
        def.query_node.reset(v);
        def.query_pos = At(file, v);
      } else if (key == "score") {
        def.has_score = true;
        def.score_pos = At(file, v);
        if (!v.IsMap()) {
          Error(def.score_pos, "score must be a map with threshold and/or weights");
          ok = false;
          continue;
        }
        for (auto s = v.begin(); s != v.end(); ++s) {
          std::string sk = s->first.Scalar();
          if (sk == "threshold") {
            rule.has_threshold = Scalar(file, s->second, "score.threshold", &rule.threshold);
            ok &= rule.has_threshold;
          } else if (sk == "weights") {
            if (!s->second.IsMap()) {
              Error(At(file, s->second), "score.weights must be a map: set name -> weight");
              ok = false;
              continue;
            }
            for (auto w = s->second.begin(); w != s->second.end(); ++w) {
              double weight = 1;
              if (Scalar(file, w->second, "weight", &weight)) {
                def.weights.push_back(
                    {w->first.Scalar(), {static_cast<float>(weight), At(file, w->first)}});
              } else {
                ok = false;
              }
            }
          } else {
            Error(At(file, s->first),
                  Cat("unknown key '", sk, "' in score: expected threshold, weights"));
            ok = false;
          }
        }
      } else if (key == "tests") {
        if (!v.IsMap()) {
          Error(At(file, v), "tests must be a map with match and/or no_match lists");
          ok = false;
          continue;
        }
        for (auto t = v.begin(); t != v.end(); ++t) {
          std::string tk = t->first.Scalar();
          if (tk != "match" && tk != "no_match") {
            Error(At(file, t->first),
                  Cat("unknown key '", tk, "' in tests: expected match, no_match"));
            ok = false;
            continue;
          }
          if (!t->second.IsSequence()) {
            Error(At(file, t->second), Cat("tests.", tk, " must be a list of texts"));
            ok = false;
            continue;
          }
          // Copy: yaml-cpp's iterator-> returns a proxy that dies with the full expression.
          YAML::Node list = t->second;
          for (const YAML::Node& item : list) {
            RuleTest test;
            if (ReadTest(file, item, tk == "match", &test)) {
              rule.tests.push_back(std::move(test));
            } else {
              ok = false;
            }
          }
        }
      } else {
        Error(At(file, it->first),
              Cat("unknown key '", key, "' in rule", rule.id.empty() ? "" : Cat(" '", rule.id, "'"),
                  ": expected id, title, description, severity, tags, topics, query, "
                  "score, tests, enabled"));
        ok = false;
      }
    }
    if (rule.id.empty()) {
      Error(def.pos, "a rule without 'id:'");
      continue;
    }
    if (!ValidName(rule.id)) {
      Error(def.pos,
            Cat("invalid rule id '", rule.id, "': use lower case letters, digits and . _ -"));
      continue;
    }
    if (auto prev = rule_pos_.find(rule.id); prev != rule_pos_.end()) {
      Error(def.pos, Cat("duplicate rule id '", rule.id, "' (first defined at ",
                         files_[prev->second.file].path, ":", prev->second.line, ")"));
      continue;
    }
    rule_pos_[rule.id] = def.pos;
    if (rule.title.empty()) rule.title = rule.id;
    if (!has_topics) rule.topics.clear();
    if (rule.query.empty() && !def.has_score) {
      Error(def.pos, Cat("rule '", rule.id, "' has neither query nor score"));
      continue;
    }
    if (!ok) continue;
    rules_.push_back(std::move(def));
  }
}

TermId PackBuilder::Intern(const TermEntry& e, std::string_view owner) {
  // Identical specs share one matcher term; case-insensitive ones compare ASCII-folded so that
  // "Astana" in one set and "astana" in a query are one pattern.
  std::string key =
      Cat(static_cast<int>(e.kind), e.case_sensitive ? "C" : "c", e.whole_word ? "W" : "w", ":");
  if (e.case_sensitive || e.kind == TermSpec::Kind::kRegex) {
    key.append(Cat(e.text));
  } else {
    key.append(Cat(absl::AsciiStrToLower(e.text)));
  }
  auto [it, inserted] = term_ids_.try_emplace(key, static_cast<TermId>(pack_->term_specs_.size()));
  if (inserted) {
    TermSpec spec;
    spec.text = e.text;
    spec.kind = e.kind;
    spec.case_sensitive = e.case_sensitive;
    spec.whole_word = e.whole_word;
    pack_->term_specs_.push_back(std::move(spec));
    pack_->term_display_.push_back(!e.display.empty()                  ? e.display
                                   : e.kind == TermSpec::Kind::kRegex  ? Cat("/", e.text, "/")
                                   : e.kind == TermSpec::Kind::kPrefix ? Cat(e.text, "*")
                                                                       : e.text);
    term_origin_.emplace_back(e.pos, std::string(owner));
    if (e.kind == TermSpec::Kind::kPrefix &&
        normalise::DecodeAt(e.text, 0).length == e.text.size()) {
      Warn(e.pos,
           Cat("term '", e.text, "*' of ", owner,
               " is a one-letter prefix: it matches every word that starts with '", e.text, "'"));
    }
  }
  return it->second;
}

void PackBuilder::ExpandSet(int index) {
  SetDef& set = sets_[index];
  if (set.state == 2) return;
  set.state = 1;
  std::vector<Expanded> out;
  for (const TermEntry& e : set.entries) {
    out.push_back({Intern(e, Cat("set '", set.name, "'")), e.weight.value_or(set.weight),
                   e.weight.has_value(), index});
  }
  for (const auto& [name, pos] : set.includes) {
    auto it = set_index_.find(name);
    if (it == set_index_.end()) {
      Error(pos, Cat("set '", set.name, "' includes undefined set '", name, "'",
                     DidYouMean(name, SetNames())));
      continue;
    }
    SetDef& inc = sets_[it->second];
    if (inc.state == 1) {
      Error(pos, Cat("include cycle: set '", set.name, "' includes '", name, "', which includes '",
                     set.name,
                     "' again (directly or through "
                     "other sets)"));
      continue;
    }
    ExpandSet(it->second);
    // `set` may have moved? No: sets_ is not resized during expansion.
    out.insert(out.end(), inc.expanded.begin(), inc.expanded.end());
  }
  set.expanded = std::move(out);
  if (set.expanded.empty()) {
    Error(set.pos, Cat("set '", set.name, "' has no terms"));
  }
  set.state = 2;
}

uint32_t PackBuilder::CompileNode(RuleDef& def, const QueryNode& q, FieldMask mask, bool negated,
                                  absl::flat_hash_map<TermId, float>* weights, bool* ok) {
  Rule& rule = def.rule;
  using QK = QueryNode::Kind;
  using PK = ProgramNode::Kind;
  if (q.kind == QK::kField) {
    FieldMask inner = mask & q.fields;
    if (inner == 0) {
      Error(QueryPos(def, q.offset),
            Cat("rule '", rule.id,
                "': a field scope inside a different field scope can never "
                "match (title: within body:)"));
      *ok = false;
      inner = q.fields;
    }
    return CompileNode(def, *q.children[0], inner, negated, weights, ok);
  }
  uint32_t index = static_cast<uint32_t>(rule.program.size());
  rule.program.emplace_back();
  ProgramNode node;
  node.fields = mask;
  std::string label = QueryToString(q);
  if (label.size() > 80) label = Cat(label.substr(0, 77), "...");
  node.label = std::move(label);
  auto add_weight = [&](TermId id, float w) {
    if (negated) return;
    auto [it, inserted] = weights->try_emplace(id, w);
    if (!inserted) it->second = std::max(it->second, w);
  };
  std::vector<uint32_t> children;
  switch (q.kind) {
    case QK::kTerm: {
      node.kind = PK::kTerms;
      TermEntry e;
      e.text = q.text;
      e.kind = q.term_kind;
      e.display = q.display;
      e.case_sensitive = default_case_sensitive_;
      e.whole_word = default_whole_word_;
      e.pos = QueryPos(def, q.offset);
      if (q.term_kind == TermSpec::Kind::kLiteral) {
        // `titel:Rogun` lexes as one word: a misspelt field scope becomes a term that never hits.
        const std::string_view word = q.text;
        const size_t colon = word.find(':');
        if (colon != std::string_view::npos && colon > 0 && colon + 1 < word.size() &&
            std::all_of(word.begin(), word.begin() + colon,
                        [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })) {
          const std::string scope(word.substr(0, colon));
          std::optional<std::string> close = ClosestName(scope, FieldScopes());
          Warn(e.pos, Cat("rule '", rule.id, "': '", word, "' is searched as one term: '", scope,
                          "' is not a field scope (title, body, lang, source)",
                          close ? Cat("; did you mean '", *close, ":'?") : std::string()));
        }
      }
      TermId id = Intern(e, Cat("rule '", rule.id, "'"));
      node.terms_begin = static_cast<uint32_t>(rule.terms.size());
      rule.terms.push_back(id);
      node.terms_end = static_cast<uint32_t>(rule.terms.size());
      add_weight(id, 1);
      break;
    }
    case QK::kSet: {
      node.kind = PK::kTerms;
      node.terms_begin = node.terms_end = static_cast<uint32_t>(rule.terms.size());
      auto it = set_index_.find(q.text);
      if (it == set_index_.end()) {
        Error(QueryPos(def, q.offset), Cat("undefined set '@", q.text, "' in rule '", rule.id, "'",
                                           DidYouMean(q.text, SetNames())));
        *ok = false;
        break;
      }
      set_used_[it->second] = true;
      const SetDef& set = sets_[it->second];
      std::vector<TermId> ids;
      for (const Expanded& x : set.expanded) {
        ids.push_back(x.id);
        float w = x.weight;
        if (!x.explicit_weight) {
          for (const auto& [name, wp] : def.weights) {
            if (name == sets_[x.owner].name) {
              w = wp.first;
              break;
            }
            if (name == set.name) w = wp.first;
          }
        }
        add_weight(x.id, w);
      }
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      rule.terms.insert(rule.terms.end(), ids.begin(), ids.end());
      node.terms_end = static_cast<uint32_t>(rule.terms.size());
      if (rule.terms.size() > options_.max_terms_per_rule) {
        Error(QueryPos(def, q.offset), Cat("rule '", rule.id, "' expands to more than ",
                                           options_.max_terms_per_rule, " terms"));
        *ok = false;
      }
      break;
    }
    case QK::kLang:
    case QK::kSource:
      node.kind = q.kind == QK::kLang ? PK::kLang : PK::kSource;
      if (q.kind == QK::kLang) {
        for (const std::string& code : q.values) {
          if (!KnownLanguage(code)) {
            Warn(QueryPos(def, q.offset),
                 Cat("rule '", rule.id, "': lang:", code,
                     " is not an ISO 639-1 language code (two letters, as en, ru, kk, zh; a "
                     "region such as ru-RU may follow): no item will match it"));
          }
        }
      }
      node.values_begin = static_cast<uint32_t>(rule.values.size());
      rule.values.insert(rule.values.end(), q.values.begin(), q.values.end());
      node.values_end = static_cast<uint32_t>(rule.values.size());
      break;
    default:
      node.kind = q.kind == QK::kAnd       ? PK::kAnd
                  : q.kind == QK::kOr      ? PK::kOr
                  : q.kind == QK::kNot     ? PK::kNot
                  : q.kind == QK::kNear    ? PK::kNear
                  : q.kind == QK::kAtLeast ? PK::kAtLeast
                                           : PK::kAtLeastDistinct;
      node.distance = q.distance;
      node.ordered = q.ordered;
      node.count = q.count;
      if (q.kind == QK::kAnd) node.label = "AND";
      if (q.kind == QK::kOr) node.label = "OR";
      if (q.kind == QK::kNot) node.label = "NOT";
      if (q.kind == QK::kNear) node.label = Cat(q.ordered ? "ONEAR/" : "NEAR/", q.distance);
      if (q.kind == QK::kAtLeast) node.label = Cat("AT_LEAST(", q.count, ")");
      if (q.kind == QK::kAtLeastDistinct) {
        node.label = Cat("AT_LEAST_DISTINCT(", q.count, ")");
      }
      for (const auto& c : q.children) {
        children.push_back(
            CompileNode(def, *c, mask, negated != (q.kind == QK::kNot), weights, ok));
      }
  }
  node.children_begin = static_cast<uint32_t>(rule.child_index.size());
  rule.child_index.insert(rule.child_index.end(), children.begin(), children.end());
  node.children_end = static_cast<uint32_t>(rule.child_index.size());
  rule.program[index] = std::move(node);
  return index;
}

// Returns why the rule can never fire, or "" when it might. Checks the contradictions people
// write by mistake: `x AND NOT x` (also through sets: `@a AND NOT @b` when every term of a is in
// b), a field scope that excludes itself, AT_LEAST_DISTINCT over fewer terms than it asks.
std::string PackBuilder::Unreachable(const Rule& rule, const QueryNode& root) const {
  std::vector<std::string> never(rule.program.size());
  using PK = ProgramNode::Kind;
  // Programs are built in preorder: children have larger indexes, so walk backwards.
  for (size_t k = rule.program.size(); k-- > 0;) {
    const ProgramNode& n = rule.program[k];
    auto child = [&](uint32_t i) { return rule.child_index[i]; };
    switch (n.kind) {
      case PK::kTerms:
        if (n.terms_begin == n.terms_end) never[k] = "an empty set";
        break;
      case PK::kAnd:
      case PK::kNear:
        for (uint32_t i = n.children_begin; i < n.children_end && never[k].empty(); ++i) {
          never[k] = never[child(i)];
        }
        if (!never[k].empty() || n.kind != PK::kAnd) break;
        for (uint32_t i = n.children_begin; i < n.children_end && never[k].empty(); ++i) {
          const ProgramNode& p = rule.program[child(i)];
          if (p.kind != PK::kTerms || p.terms_begin == p.terms_end) continue;
          for (uint32_t j = n.children_begin; j < n.children_end; ++j) {
            const ProgramNode& neg = rule.program[child(j)];
            if (neg.kind != PK::kNot) continue;
            const ProgramNode& x = rule.program[rule.child_index[neg.children_begin]];
            if (x.kind != PK::kTerms || (p.fields & ~x.fields) != 0) continue;
            if (std::includes(rule.terms.begin() + x.terms_begin, rule.terms.begin() + x.terms_end,
                              rule.terms.begin() + p.terms_begin,
                              rule.terms.begin() + p.terms_end)) {
              never[k] = Cat(p.label, " AND NOT ", x.label,
                             " is a contradiction: every term of the first is in the second");
              break;
            }
          }
        }
        break;
      case PK::kOr: {
        std::string all;
        for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
          if (never[child(i)].empty()) {
            all.clear();
            break;
          }
          all = never[child(i)];
        }
        never[k] = all;
        break;
      }
      case PK::kAtLeast:
        never[k] = never[child(n.children_begin)];
        break;
      case PK::kAtLeastDistinct: {
        never[k] = never[child(n.children_begin)];
        if (!never[k].empty()) break;
        std::vector<uint32_t> stack = {child(n.children_begin)};
        absl::flat_hash_set<TermId> distinct;
        while (!stack.empty()) {
          const ProgramNode& x = rule.program[stack.back()];
          stack.pop_back();
          if (x.kind == PK::kNot) continue;
          for (uint32_t t = x.terms_begin; t < x.terms_end; ++t) distinct.insert(rule.terms[t]);
          for (uint32_t i = x.children_begin; i < x.children_end; ++i) stack.push_back(child(i));
        }
        if (distinct.size() < n.count) {
          never[k] = Cat(n.label, " asks for ", n.count,
                         " distinct terms of an "
                         "expression that has only ",
                         distinct.size());
        }
        break;
      }
      default:
        break;
    }
  }
  (void)root;
  return never[0];
}

// Whether an expression can be true / false when no term hit (metadata filters free).
struct ZeroHit {
  bool can_true;
  bool can_false;
};
static ZeroHit ZeroHits(const Rule& rule, uint32_t k) {
  const ProgramNode& n = rule.program[k];
  using PK = ProgramNode::Kind;
  switch (n.kind) {
    case PK::kLang:
    case PK::kSource:
      return {true, true};
    case PK::kNot: {
      ZeroHit c = ZeroHits(rule, rule.child_index[n.children_begin]);
      return {c.can_false, c.can_true};
    }
    case PK::kAnd:
    case PK::kOr: {
      bool is_and = n.kind == PK::kAnd;
      ZeroHit r = is_and ? ZeroHit{true, false} : ZeroHit{false, true};
      for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
        ZeroHit c = ZeroHits(rule, rule.child_index[i]);
        if (is_and) {
          r.can_true &= c.can_true;
          r.can_false |= c.can_false;
        } else {
          r.can_true |= c.can_true;
          r.can_false &= c.can_false;
        }
      }
      return r;
    }
    default:  // terms, NEAR, AT_LEAST need hits
      return {false, true};
  }
}

void PackBuilder::CompileRule(RuleDef& def) {
  Rule& rule = def.rule;
  for (const auto& [name, wp] : def.weights) {
    if (auto it = set_index_.find(name); it != set_index_.end()) set_used_[it->second] = true;
    if (!set_index_.contains(name)) {
      Error(wp.second,
            Cat("score.weights names undefined set '", name, "'", DidYouMean(name, SetNames())));
    }
  }
  absl::flat_hash_map<TermId, float> weights;
  if (rule.query.empty()) {
    // Score-only rule: it scores the sets named in score.weights.
    if (!rule.has_threshold || rule.threshold <= 0) {
      Error(def.score_pos, Cat("rule '", rule.id,
                               "' has no query, so it needs "
                               "score.threshold > 0 to decide when it fires"));
    }
    if (def.weights.empty()) {
      Error(def.score_pos, Cat("rule '", rule.id,
                               "' has no query: name the sets to "
                               "score in score.weights"));
    }
    for (const auto& [name, wp] : def.weights) {
      auto it = set_index_.find(name);
      if (it == set_index_.end()) continue;
      for (const Expanded& x : sets_[it->second].expanded) {
        float w = x.explicit_weight ? x.weight : wp.first;
        auto [w_it, inserted] = weights.try_emplace(x.id, w);
        if (!inserted) w_it->second = std::max(w_it->second, w);
      }
    }
  } else {
    ParsedQuery parsed = ParseQuery(rule.query, options_.limits);
    if (!parsed.ok()) {
      Error(QueryPos(def, parsed.error.offset),
            Cat("rule '", rule.id, "': query: ", parsed.error.message, " (query column ",
                ColumnOf(rule.query, parsed.error.offset), ")"));
      return;
    }
    for (const auto& [name, wp] : def.weights) {
      if (set_index_.contains(name) && rule.query.find(Cat("@", name)) == std::string::npos) {
        Error(wp.second, Cat("score.weights names set '", name, "', which the query of rule '",
                             rule.id, "' does not use"));
      }
    }
    bool ok = true;
    CompileNode(def, *parsed.root, kAllFields, false, &weights, &ok);
    if (!ok) return;
    if (ZeroHits(rule, 0).can_true) {
      Error(def.query_pos, Cat("rule '", rule.id,
                               "' could fire on items where no term hit (its query "
                               "is decided by NOT or lang:/source: alone): add a term that must be "
                               "present, e.g. '@topic AND NOT x'"));
      return;
    }
    std::string never = Unreachable(rule, *parsed.root);
    if (!never.empty()) {
      Error(def.query_pos, Cat("rule '", rule.id, "' can never fire: ", never));
      return;
    }
  }
  rule.weights.assign(weights.begin(), weights.end());
  std::sort(rule.weights.begin(), rule.weights.end());
}

void PackBuilder::WarnUnusedSets() {
  // A used set's includes are used too, transitively.
  std::vector<int> stack;
  for (int i = 0; i < static_cast<int>(sets_.size()); ++i) {
    if (set_used_[i]) stack.push_back(i);
  }
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    for (const auto& [name, pos] : sets_[i].includes) {
      auto it = set_index_.find(name);
      if (it == set_index_.end() || set_used_[it->second]) continue;
      set_used_[it->second] = true;
      stack.push_back(it->second);
    }
  }
  for (size_t i = 0; i < sets_.size(); ++i) {
    if (!set_used_[i]) {
      Warn(sets_[i].pos, Cat("set '", sets_[i].name,
                             "' is not used by any rule (no query, score.weights or used set "
                             "names it)"));
    }
  }
}

void PackBuilder::CompileMatcher() {
  auto start = std::chrono::steady_clock::now();
  auto matcher = match::Matcher::Create(pack_->term_specs_, options_.matcher);
  if (matcher.ok()) {
    pack_->matcher_ = *std::move(matcher);
    pack_->stats_.matcher = pack_->matcher_->stats();
    if (pack_->stats_.matcher.compile_seconds == 0) {
      pack_->stats_.matcher.compile_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    return;
  }
  // Find the terms Hyperscan rejects by compiling them alone (only on this error path), so the
  // message points at the set or rule that introduced each one.
  size_t found = 0;
  for (TermId id = 0; id < pack_->term_specs_.size(); ++id) {
    const TermSpec& spec = pack_->term_specs_[id];
    // Literals compile alone only on small packs: a literal is rarely the culprit, and each
    // Create() costs a database build.
    if (spec.kind != TermSpec::Kind::kRegex && pack_->term_specs_.size() > 2000) continue;
    auto one = match::Matcher::Create({spec}, match::MatcherOptions());
    if (one.ok()) continue;
    ++found;
    const auto& [pos, owner] = term_origin_[id];
    Error(pos, Cat("term '", pack_->term_display_[id], "' of ", owner, " cannot be compiled: ",
                   ExplainHyperscanError(std::string(one.status().message()))));
  }
  if (found == 0) {
    Error(Pos{},
          Cat("compiling the pack's terms failed: ", std::string(matcher.status().message())));
  }
}

absl::StatusOr<std::shared_ptr<const CompiledPack>> PackBuilder::Build(std::vector<PackFile> in) {
  auto start = std::chrono::steady_clock::now();
  pack_ = std::shared_ptr<CompiledPack>(new CompiledPack());
  pack_->info_.hash = PackHash(in);
  // A pack that loaded before, unchanged, under the same options and binary: skip the YAML and
  // the programs (most of a restart's work; src/rules/pack_cache.h). Any failure here is a miss.
  const std::string cache_key = PackCache::Key(pack_->info_.hash, options_);
  if (!cache_key.empty()) {
    auto cached = PackCache::Load(options_.matcher.cache_dir, cache_key);
    if (cached.ok()) {
      CompiledPack& p = **cached;
      auto matcher = match::Matcher::Create(p.term_specs_, options_.matcher);
      if (matcher.ok()) {
        p.matcher_ = *std::move(matcher);
        p.stats_.matcher = p.matcher_->stats();
        p.BuildEvalPlan();
        p.stats_.load_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() -
            p.stats_.matcher.compile_seconds;
        return std::shared_ptr<const CompiledPack>(*std::move(cached));
      }
    }
  }
  std::sort(in.begin(), in.end(),
            [](const PackFile& a, const PackFile& b) { return a.path < b.path; });
  for (PackFile& f : in) files_.push_back({std::move(f.path), std::move(f.content)});
  size_t errors_before = diags_->size();
  for (int i = 0; i < static_cast<int>(files_.size()); ++i) ReadFile(i);
  if (pack_file_ < 0) {
    Error(Pos{}, "no file of the pack has a 'pack:' key with the pack's name and version");
  }
  if (default_topic_.empty()) default_topic_ = options_.default_topic;
  for (int i = 0; i < static_cast<int>(sets_.size()); ++i) ExpandSet(i);
  set_used_.assign(sets_.size(), false);
  for (RuleDef& def : rules_) {
    if (def.rule.topics.empty()) def.rule.topics.push_back(default_topic_);
    CompileRule(def);
    if (def.rule.enabled && def.rule.tests.empty()) {
      Warn(def.pos, Cat("rule '", def.rule.id,
                        "' has no tests: add tests.match (and tests.no_match) so that a change "
                        "that breaks it fails `steppewatch rules test`"));
    }
  }
  WarnUnusedSets();
  if (pack_->term_specs_.size() > options_.max_terms) {
    Error(Pos{}, Cat("the pack has ", pack_->term_specs_.size(),
                     " distinct terms, over the limit of ", options_.max_terms));
  }
  if (diags_->size() == errors_before && options_.compile_matcher) {
    if (pack_->term_specs_.empty()) {
      Error(Pos{}, "the pack has no terms (no rules?)");
    } else {
      CompileMatcher();
    }
  }
  if (diags_->size() != errors_before) {
    std::vector<std::string> lines;
    for (size_t i = errors_before; i < diags_->size(); ++i)
      lines.push_back((*diags_)[i].ToString());
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }

  // Assemble: rules, topics, the term -> rules index.
  CompiledPack& p = *pack_;
  std::set<std::string> topics;
  for (RuleDef& def : rules_) {
    if (def.rule.enabled) topics.insert(def.rule.topics.begin(), def.rule.topics.end());
  }
  p.topics_.assign(topics.begin(), topics.end());
  std::vector<uint32_t> counts(p.term_specs_.size() + 1, 0);
  for (RuleDef& def : rules_) {
    Rule& rule = def.rule;
    for (const std::string& t : rule.topics) {
      rule.topic_ids.push_back(static_cast<uint16_t>(
          std::lower_bound(p.topics_.begin(), p.topics_.end(), t) - p.topics_.begin()));
    }
    p.rule_by_id_[rule.id] = static_cast<int>(p.rules_.size());
    p.stats_.tests += rule.tests.size();
    if (rule.enabled) {
      ++p.stats_.enabled_rules;
      for (const auto& [t, w] : rule.weights) ++counts[t + 1];
    }
    p.rules_.push_back(std::move(rule));
  }
  for (size_t i = 1; i < counts.size(); ++i) counts[i] += counts[i - 1];
  p.index_begin_ = counts;
  p.index_rules_.resize(counts.back());
  for (uint32_t r = 0; r < p.rules_.size(); ++r) {
    if (!p.rules_[r].enabled) continue;
    for (const auto& [t, w] : p.rules_[r].weights) p.index_rules_[counts[t]++] = r;
  }
  p.BuildEvalPlan();
  std::stable_sort(p.warnings_.begin(), p.warnings_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
                   });
  p.stats_.files = files_.size();
  p.stats_.sets = sets_.size();
  p.stats_.terms = p.term_specs_.size();
  p.stats_.rules = p.rules_.size();
  p.stats_.load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() -
      p.stats_.matcher.compile_seconds;
  if (!cache_key.empty()) {
    // A cache that cannot be written costs the next start the full load; it must not fail this
    // one.
    (void)PackCache::Store(options_.matcher.cache_dir, cache_key, p);
  }
  return std::shared_ptr<const CompiledPack>(pack_);
}

namespace {

// A group of terms of which `min` distinct ones must hit.
struct TermGroup {
  std::vector<RequiredTerm> terms;
  uint32_t min = 1;
};
using Groups = std::vector<TermGroup>;

// Sorts a group by term and merges the fields of repeated terms.
void Canonical(std::vector<RequiredTerm>* g) {
  std::sort(g->begin(), g->end(),
            [](const RequiredTerm& a, const RequiredTerm& b) { return a.term < b.term; });
  size_t kept = 0;
  for (const RequiredTerm& t : *g) {
    if (kept > 0 && (*g)[kept - 1].term == t.term) {
      (*g)[kept - 1].fields |= t.fields;
    } else {
      (*g)[kept++] = t;
    }
  }
  g->resize(kept);
}

// The cost of triggering on a group: how many rules mention its terms (a term many rules share
// is likely a common one, and each of its hits wakes all of them).
uint64_t GroupCost(const TermGroup& g, const std::vector<uint32_t>& rules_of) {
  uint64_t cost = 0;
  for (const RequiredTerm& t : g.terms) cost += rules_of[t.term] + 1;
  return cost;
}

// Appends the terms of every leaf under node `k` outside NOT (what Evaluator::Gather collects).
void LeafTerms(const Rule& rule, uint32_t k, std::vector<RequiredTerm>* out) {
  using K = ProgramNode::Kind;
  const ProgramNode& n = rule.program[k];
  if (n.kind == K::kNot || n.kind == K::kLang || n.kind == K::kSource) return;
  if (n.kind == K::kTerms) {
    for (uint32_t i = n.terms_begin; i < n.terms_end; ++i)
      out->push_back({rule.terms[i], n.fields});
    return;
  }
  for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
    LeafTerms(rule, rule.child_index[i], out);
  }
}

// Appends to `out` groups of terms node `k` needs to be true (a conjunction of disjunctions);
// appends nothing when the node can be true without hits (NOT, lang:, source:).
void RequiredGroups(const Rule& rule, uint32_t k, const std::vector<uint32_t>& rules_of,
                    Groups* out) {
  using K = ProgramNode::Kind;
  const ProgramNode& n = rule.program[k];
  switch (n.kind) {
    case K::kTerms: {
      TermGroup g;
      for (uint32_t i = n.terms_begin; i < n.terms_end; ++i) {
        g.terms.push_back({rule.terms[i], n.fields});
      }
      Canonical(&g.terms);
      out->push_back(std::move(g));
      return;
    }
    case K::kAtLeastDistinct:
      // The evaluator counts the distinct terms of every hit under the child (Gather): at least
      // `count` of the leaves' terms must hit.
      if (n.count > 1) {
        TermGroup g;
        LeafTerms(rule, rule.child_index[n.children_begin], &g.terms);
        Canonical(&g.terms);
        g.min = n.count;
        out->push_back(std::move(g));
      }
      [[fallthrough]];
    case K::kAnd:
    case K::kNear:  // true only when both sides are
    case K::kAtLeast:
      for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
        RequiredGroups(rule, rule.child_index[i], rules_of, out);
      }
      return;
    case K::kOr: {
      // Some child is true, so the union of one group of each child has a hit.
      // (A group's `min` does not carry over: one hit of the union is what is certain.)
      TermGroup g;
      for (uint32_t i = n.children_begin; i < n.children_end; ++i) {
        Groups child;
        RequiredGroups(rule, rule.child_index[i], rules_of, &child);
        if (child.empty()) return;  // a child that needs no hit: the OR needs none either
        const TermGroup* best = &child[0];
        for (const auto& c : child) {
          if (GroupCost(c, rules_of) < GroupCost(*best, rules_of)) best = &c;
        }
        g.terms.insert(g.terms.end(), best->terms.begin(), best->terms.end());
      }
      Canonical(&g.terms);
      out->push_back(std::move(g));
      return;
    }
    case K::kNot:
    case K::kLang:
    case K::kSource:
      return;
  }
}

}  // namespace

void CompiledPack::BuildEvalPlan() {
  EvalPlan& plan = plan_;
  plan = EvalPlan();
  const size_t terms = term_specs_.size();
  std::vector<uint32_t> rules_of(terms);
  for (size_t t = 0; t < terms; ++t) rules_of[t] = index_begin_[t + 1] - index_begin_[t];
  plan.rules.resize(rules_.size());
  std::vector<std::pair<match::TermId, EvalPlan::Trigger>> triggers;
  Groups groups;
  for (uint32_t r = 0; r < rules_.size(); ++r) {
    const Rule& rule = rules_[r];
    EvalRule& er = plan.rules[r];
    er.nodes_begin = static_cast<uint32_t>(plan.nodes.size());
    er.node_count = static_cast<uint32_t>(rule.program.size());
    for (const ProgramNode& n : rule.program) {
      EvalNode e;
      e.kind = n.kind;
      e.fields = n.fields;
      e.ordered = n.ordered;
      e.param = n.kind == ProgramNode::Kind::kNear ? n.distance : n.count;
      switch (n.kind) {
        case ProgramNode::Kind::kTerms:
          e.begin = static_cast<uint32_t>(plan.terms.size());
          plan.terms.insert(plan.terms.end(), rule.terms.begin() + n.terms_begin,
                            rule.terms.begin() + n.terms_end);
          e.end = static_cast<uint32_t>(plan.terms.size());
          break;
        case ProgramNode::Kind::kLang:
        case ProgramNode::Kind::kSource:
          e.begin = n.values_begin;
          e.end = n.values_end;
          break;
        default:
          e.begin = static_cast<uint32_t>(plan.children.size());
          plan.children.insert(plan.children.end(), rule.child_index.begin() + n.children_begin,
                               rule.child_index.begin() + n.children_end);
          e.end = static_cast<uint32_t>(plan.children.size());
      }
      plan.nodes.push_back(e);
    }
    groups.clear();
    if (!rule.program.empty()) RequiredGroups(rule, 0, rules_of, &groups);
    if (groups.empty()) {
      // A score-only rule (or a query that needs no particular term): any scored term.
      TermGroup g;
      for (const auto& [t, w] : rule.weights) g.terms.push_back({t, kAllFields});
      groups.push_back(std::move(g));
    }
    size_t best = 0;
    for (size_t i = 1; i < groups.size(); ++i) {
      if (GroupCost(groups[i], rules_of) < GroupCost(groups[best], rules_of)) best = i;
    }
    std::swap(groups[0], groups[best]);
    er.groups_begin = static_cast<uint32_t>(plan.groups.size());
    for (const auto& g : groups) {
      const uint32_t begin = static_cast<uint32_t>(plan.required.size());
      plan.required.insert(plan.required.end(), g.terms.begin(), g.terms.end());
      plan.groups.push_back({begin, static_cast<uint32_t>(plan.required.size()), g.min});
    }
    er.groups_end = static_cast<uint32_t>(plan.groups.size());
    if (!rule.enabled) continue;
    // A group that needs `min` distinct terms has one of any (size - min + 1) of them hit: index
    // the rule under the least shared ones only.
    std::vector<RequiredTerm> trigger_terms = groups[0].terms;
    if (groups[0].min > 1 && groups[0].min <= trigger_terms.size()) {
      std::sort(trigger_terms.begin(), trigger_terms.end(),
                [&](const RequiredTerm& a, const RequiredTerm& b) {
                  return rules_of[a.term] != rules_of[b.term] ? rules_of[a.term] < rules_of[b.term]
                                                              : a.term < b.term;
                });
      trigger_terms.resize(trigger_terms.size() - groups[0].min + 1);
    }
    // A one-term group besides the trigger (the least shared one) is checked with the trigger:
    // `A AND B` is then a candidate only when both hit, without a look at its plan.
    const TermGroup* single = nullptr;
    for (size_t g = 1; g < groups.size(); ++g) {
      if (groups[g].terms.size() != 1 || groups[g].min > 1) continue;
      if (single == nullptr ||
          rules_of[groups[g].terms[0].term] < rules_of[single->terms[0].term]) {
        single = &groups[g];
      }
    }
    EvalPlan::Trigger trigger{r, 0};
    if (single != nullptr) {
      trigger.also = single->terms[0].term;
      trigger.also_fields = single->terms[0].fields;
    }
    for (const RequiredTerm& t : trigger_terms) {
      trigger.fields = t.fields;
      triggers.push_back({t.term, trigger});
    }
  }
  plan.trigger_begin.assign(terms + 1, 0);
  for (const auto& [t, trigger] : triggers) ++plan.trigger_begin[t + 1];
  for (size_t i = 1; i <= terms; ++i) plan.trigger_begin[i] += plan.trigger_begin[i - 1];
  plan.triggers.resize(triggers.size());
  std::vector<uint32_t> fill(plan.trigger_begin.begin(), plan.trigger_begin.end() - 1);
  // `triggers` is in rule order, so each term's triggers are too.
  for (const auto& [t, trigger] : triggers) plan.triggers[fill[t]++] = trigger;
}

absl::StatusOr<std::shared_ptr<const CompiledPack>> CompiledPack::LoadFromFiles(
    std::vector<PackFile> files, const PackOptions& options, std::vector<Diagnostic>* diagnostics) {
  std::vector<Diagnostic> local;
  PackBuilder builder(options, diagnostics ? diagnostics : &local);
  return builder.Build(std::move(files));
}

absl::StatusOr<std::shared_ptr<const CompiledPack>> CompiledPack::Load(
    const std::filesystem::path& dir, const PackOptions& options,
    std::vector<Diagnostic>* diagnostics) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(Cat(dir.string(), ": not a directory"));
  }
  std::vector<PackFile> files;
  // Names starting with '.' are skipped: editors' swap files and Kubernetes ConfigMap mounts,
  // whose `..data/` holds a second copy of every file that the top-level symlinks point to.
  auto it =
      fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec) || it->path().extension() != ".yaml") continue;
    std::ifstream in(it->path(), std::ios::binary | std::ios::ate);
    if (!in) return absl::PermissionDeniedError(Cat(it->path().string(), ": cannot read"));
    PackFile f;
    f.path = fs::relative(it->path(), dir).generic_string();
    // One read of the file's size (an istreambuf_iterator copy of a 2 MB pack file was ~1% of
    // a cached start); a file that shrinks meanwhile gives what it still holds.
    const std::streamoff size = in.tellg();
    in.seekg(0);
    f.content.resize(size > 0 ? static_cast<size_t>(size) : 0);
    in.read(f.content.data(), static_cast<std::streamsize>(f.content.size()));
    f.content.resize(static_cast<size_t>(in.gcount()));
    files.push_back(std::move(f));
  }
  if (ec) return absl::UnavailableError(Cat(dir.string(), ": ", ec.message()));
  return LoadFromFiles(std::move(files), options, diagnostics);
}

}  // namespace steppewatch::rules

// Reading a pack's YAML into set and rule definitions (see pack_builder.h).
#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "rules/pack_builder.h"
#include "steppewatch/common/log.h"

namespace steppewatch::rules {

using log::Cat;

namespace {

bool ValidName(std::string_view s) {
  if (s.empty()) return false;
  auto ok = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) return false;
  return std::all_of(s.begin(), s.end(), ok);
}

}  // namespace

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

}  // namespace steppewatch::rules

// PackBuilder: turns the files of a rule pack into a CompiledPack (private to the rules stage).
//
// The steps, a file each: reading the YAML into set and rule definitions, with a diagnostic and
// its position for every mistake (pack_read.cc); compiling the definitions into matcher terms,
// one program per rule and the matcher (pack_compile.cc); and Build(), which runs them, consults
// the compiled-pack cache and publishes the pack (pack.cc). The evaluation plan of a built pack
// is CompiledPack::BuildEvalPlan (eval_plan.cc).
//
// yaml-cpp reports errors by exception; they are caught here, at load time, and turned into
// diagnostics (exceptions never reach the data path).
//
// One PackBuilder per load, used by one thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "steppewatch/common/log.h"
#include "steppewatch/rules/pack.h"
#include "yaml-cpp/yaml.h"

namespace steppewatch::rules {

// A position in a pack file: index into the builder's files, 1-based line and column.
struct Pos {
  int file = -1;
  int line = 0;
  int column = 0;
};

struct TermEntry {
  std::string text;
  std::string display;  // as written, when `text` is a regex made from a starred phrase
  match::TermSpec::Kind kind = match::TermSpec::Kind::kLiteral;
  bool case_sensitive = false;
  bool whole_word = true;
  std::optional<float> weight;
  Pos pos;
};

struct Expanded {
  match::TermId id;
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

class PackBuilder {
 public:
  PackBuilder(const PackOptions& options, std::vector<Diagnostic>* diags)
      : options_(options), diags_(diags) {}

  absl::StatusOr<std::shared_ptr<const CompiledPack>> Build(std::vector<PackFile> files);

 private:
  Diagnostic MakeDiagnostic(Pos pos, std::string message) const {
    Diagnostic d;
    d.file = pos.file >= 0 ? files_[pos.file].path : std::string("(pack)");
    d.line = pos.line;
    d.column = pos.column;
    d.message = std::move(message);
    return d;
  }
  void Error(Pos pos, std::string message) {
    diags_->push_back(MakeDiagnostic(pos, std::move(message)));
  }
  void Warn(Pos pos, std::string message) {
    pack_->warnings_.push_back(MakeDiagnostic(pos, std::move(message)));
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
      Error(At(file, node), log::Cat(what, " must be a single value"));
      return false;
    }
    try {
      *out = node.as<T>();
      return true;
    } catch (const YAML::Exception&) {
      Error(At(file, node), log::Cat(what, ": '", node.Scalar(), "' is not a valid ",
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
  match::TermId Intern(const TermEntry& entry, std::string_view owner);
  void CompileRule(RuleDef& def);
  uint32_t CompileNode(RuleDef& def, const QueryNode& q, FieldMask mask, bool negated,
                       absl::flat_hash_map<match::TermId, float>* weights, bool* ok);
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
  absl::flat_hash_map<std::string, match::TermId> term_ids_;
  std::vector<std::pair<Pos, std::string>> term_origin_;  // first use: position and owner
};

}  // namespace steppewatch::rules

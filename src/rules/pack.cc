// Rule pack loading: the pack's files (a directory or memory) -> PackBuilder (pack_builder.h) ->
// a CompiledPack, or the same pack from the compiled-pack cache; and the pack's small helpers.
#include "steppewatch/rules/pack.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "rules/pack_builder.h"
#include "rules/pack_cache.h"
#include "steppewatch/common/log.h"
#include "steppewatch/rules/sha256.h"

namespace steppewatch::rules {

using log::Cat;

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

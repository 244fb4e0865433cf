#include "rules/pack_cache.h"

#include <elf.h>
#include <link.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/casts.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "steppewatch/common/files.h"
#include "steppewatch/rules/sha256.h"

namespace steppewatch::rules {
namespace {

// Bump when the file layout changes (the build ID already changes with the code, this guards
// files written by the same binary under another layout, which cannot happen today).
constexpr char kMagic[8] = {'S', 'W', 'P', 'A', 'C', 'K', '0', '1'};

// A field added to one of these structures must be written and read below (then update the
// size here): a cached pack without it would differ from a freshly loaded one.
static_assert(sizeof(Rule) == 416, "Rule changed: serialize the new field in pack_cache.cc");
static_assert(sizeof(ProgramNode) == 72, "ProgramNode changed: update pack_cache.cc");
static_assert(sizeof(RuleTest) == 144, "RuleTest changed: update pack_cache.cc");
static_assert(sizeof(PackInfo) == 128, "PackInfo changed: update pack_cache.cc");
static_assert(sizeof(match::TermSpec) == 40, "TermSpec changed: update pack_cache.cc");

// Returns the GNU build ID (raw bytes) of the loaded object that holds this function, or "".
std::string OwnBuildId() {
  struct Search {
    uintptr_t address;
    std::string id;
  } search{reinterpret_cast<uintptr_t>(&OwnBuildId), {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* s = static_cast<Search*>(data);
        bool holds = false;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
          holds |= ph.p_type == PT_LOAD && s->address >= start && s->address - start < ph.p_memsz;
        }
        if (!holds) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE) continue;
          // Notes are padded to their segment's alignment (4, or 8 for .note.gnu.property).
          const size_t align = ph.p_align >= 8 ? 8 : 4;
          auto pad = [align](size_t n) { return (n + align - 1) & ~(align - 1); };
          const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
          const char* end = p + ph.p_memsz;
          while (static_cast<size_t>(end - p) >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) note;
            std::memcpy(&note, p, sizeof(note));
            const char* name = p + sizeof(note);
            const char* desc = name + pad(note.n_namesz);
            if (desc > end || static_cast<size_t>(end - desc) < note.n_descsz) break;
            if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
                std::memcmp(name, "GNU", 4) == 0) {
              s->id.assign(desc, note.n_descsz);
              return 1;
            }
            if (static_cast<size_t>(end - desc) < pad(note.n_descsz)) break;
            p = desc + pad(note.n_descsz);
          }
        }
        return 1;  // the object that holds us has no build ID
      },
      &search);
  return search.id;
}

class Writer {
 public:
  std::string& out() { return out_; }
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void F64(double v) { Raw(&v, 8); }
  void Str(std::string_view s) {
    U64(s.size());
    out_.append(s);
  }
  void Strs(const std::vector<std::string>& v) {
    U64(v.size());
    for (const std::string& s : v) Str(s);
  }
  template <typename T>
  void Pods(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    U64(v.size());
    Raw(v.data(), v.size() * sizeof(T));
  }

 private:
  void Raw(const void* p, size_t n) {
    if (n > 0) out_.append(static_cast<const char*>(p), n);  // an empty vector's data() may be null
  }
  std::string out_;
};

// Reads fields in the order Writer wrote them; any short read makes ok() false for good.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && data_.empty(); }
  uint8_t U8() {
    uint8_t v = 0;
    Raw(&v, 1);
    return v;
  }
  uint32_t U32() {
    uint32_t v = 0;
    Raw(&v, 4);
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    Raw(&v, 8);
    return v;
  }
  double F64() {
    double v = 0;
    Raw(&v, 8);
    return v;
  }
  bool Bool() { return U8() != 0; }
  void Str(std::string* s) {
    const uint64_t n = U64();
    if (!ok_ || n > data_.size()) return Fail();
    s->assign(data_.data(), n);
    data_.remove_prefix(n);
  }
  void Strs(std::vector<std::string>* v) {
    const uint64_t n = U64();
    // Each string costs at least its 8-byte length: bounds a corrupt count before resize().
    if (!ok_ || n > data_.size() / 8) return Fail();
    v->resize(n);
    for (std::string& s : *v) Str(&s);
  }
  template <typename T>
  void Pods(std::vector<T>* v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const uint64_t n = U64();
    if (!ok_ || n > data_.size() / sizeof(T)) return Fail();
    v->resize(n);
    Raw(v->data(), n * sizeof(T));
  }
  // Returns a count of elements that take at least `min_bytes` each, checked against the rest.
  uint64_t Count(size_t min_bytes) {
    const uint64_t n = U64();
    if (!ok_ || n > data_.size() / min_bytes) {
      Fail();
      return 0;
    }
    return n;
  }

 private:
  void Fail() { ok_ = false; }
  void Raw(void* p, size_t n) {
    if (!ok_ || n > data_.size()) return Fail();
    if (n > 0) std::memcpy(p, data_.data(), n);
    data_.remove_prefix(n);
  }
  std::string_view data_;
  bool ok_ = true;
};

void WriteRule(const Rule& r, Writer* w) {
  w->Str(r.id);
  w->Str(r.title);
  w->Str(r.description);
  w->U8(static_cast<uint8_t>(r.severity));
  w->Strs(r.tags);
  w->Strs(r.topics);
  w->U8(r.enabled);
  w->Str(r.query);
  w->U8(r.has_threshold);
  w->F64(r.threshold);
  w->U64(r.tests.size());
  for (const RuleTest& t : r.tests) {
    w->U8(t.expect_match);
    w->Str(t.title);
    w->Str(t.body);
    w->Str(t.lang);
    w->Str(t.source);
    w->U32(static_cast<uint32_t>(t.line));
    w->U32(static_cast<uint32_t>(t.column));
  }
  w->Str(r.file);
  w->U32(static_cast<uint32_t>(r.line));
  w->U64(r.program.size());
  for (const ProgramNode& n : r.program) {
    w->U8(static_cast<uint8_t>(n.kind));
    w->U8(n.fields);
    w->U8(n.ordered);
    for (uint32_t v : {n.distance, n.count, n.children_begin, n.children_end, n.terms_begin,
                       n.terms_end, n.values_begin, n.values_end}) {
      w->U32(v);
    }
    w->Str(n.label);
  }
  w->Pods(r.child_index);
  w->Pods(r.terms);
  w->Strs(r.values);
  w->U64(r.weights.size());
  for (const auto& [term, weight] : r.weights) {
    w->U32(term);
    w->U32(absl::bit_cast<uint32_t>(weight));
  }
  w->Pods(r.topic_ids);
}

void ReadRule(Reader* r, Rule* rule) {
  r->Str(&rule->id);
  r->Str(&rule->title);
  r->Str(&rule->description);
  rule->severity = static_cast<Severity>(r->U8());
  r->Strs(&rule->tags);
  r->Strs(&rule->topics);
  rule->enabled = r->Bool();
  r->Str(&rule->query);
  rule->has_threshold = r->Bool();
  rule->threshold = r->F64();
  rule->tests.resize(r->Count(1 + 4 * 8 + 8));
  for (RuleTest& t : rule->tests) {
    t.expect_match = r->Bool();
    r->Str(&t.title);
    r->Str(&t.body);
    r->Str(&t.lang);
    r->Str(&t.source);
    t.line = static_cast<int>(r->U32());
    t.column = static_cast<int>(r->U32());
  }
  r->Str(&rule->file);
  rule->line = static_cast<int>(r->U32());
  rule->program.resize(r->Count(3 + 8 * 4 + 8));
  for (ProgramNode& n : rule->program) {
    n.kind = static_cast<ProgramNode::Kind>(r->U8());
    n.fields = r->U8();
    n.ordered = r->Bool();
    for (uint32_t* v : {&n.distance, &n.count, &n.children_begin, &n.children_end, &n.terms_begin,
                        &n.terms_end, &n.values_begin, &n.values_end}) {
      *v = r->U32();
    }
    r->Str(&n.label);
  }
  r->Pods(&rule->child_index);
  r->Pods(&rule->terms);
  r->Strs(&rule->values);
  rule->weights.resize(r->Count(8));
  for (auto& [term, weight] : rule->weights) {
    term = r->U32();
    weight = absl::bit_cast<float>(r->U32());
  }
  r->Pods(&rule->topic_ids);
}

// Returns true when every index the evaluator follows without a check is in range: a file
// that passed its checksum but was written by a buggy build must not become a wild read.
bool Consistent(const CompiledPack& p, const std::vector<uint32_t>& index_begin,
                const std::vector<uint32_t>& index_rules) {
  const size_t terms = p.term_count();
  if (index_begin.size() != terms + 1 || index_begin.back() != index_rules.size()) return false;
  for (size_t i = 1; i < index_begin.size(); ++i) {
    if (index_begin[i] < index_begin[i - 1]) return false;
  }
  for (uint32_t r : index_rules) {
    if (r >= p.rules().size()) return false;
  }
  for (const Rule& rule : p.rules()) {
    if (static_cast<uint8_t>(rule.severity) >= kSeverityCount) return false;
    for (uint32_t c : rule.child_index) {
      if (c >= rule.program.size()) return false;
    }
    for (match::TermId t : rule.terms) {
      if (t >= terms) return false;
    }
    for (const auto& [t, w] : rule.weights) {
      if (t >= terms) return false;
    }
    for (uint16_t t : rule.topic_ids) {
      if (t >= p.topics().size()) return false;
    }
    for (const ProgramNode& n : rule.program) {
      if (static_cast<uint8_t>(n.kind) >
              static_cast<uint8_t>(ProgramNode::Kind::kAtLeastDistinct) ||
          n.children_begin > n.children_end || n.children_end > rule.child_index.size() ||
          n.terms_begin > n.terms_end || n.terms_end > rule.terms.size() ||
          n.values_begin > n.values_end || n.values_end > rule.values.size()) {
        return false;
      }
      const uint32_t children = n.children_end - n.children_begin;
      const bool one_child = n.kind == ProgramNode::Kind::kNot ||
                             n.kind == ProgramNode::Kind::kAtLeast ||
                             n.kind == ProgramNode::Kind::kAtLeastDistinct;
      if ((one_child && children != 1) || (n.kind == ProgramNode::Kind::kNear && children != 2)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

std::string PackCache::Key(std::string_view pack_hash, const PackOptions& options) {
  if (options.matcher.cache_dir.empty() || !options.compile_matcher) return "";
  static const std::string* const kBuildId = new std::string(OwnBuildId());
  if (kBuildId->empty()) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string build;
  for (unsigned char c : *kBuildId) {
    build.push_back(kHex[c >> 4]);
    build.push_back(kHex[c & 15]);
  }
  const QueryLimits& l = options.limits;
  std::string key =
      absl::StrCat("steppewatch-pack-v1;build=", build, ";hash=", std::string(pack_hash));
  absl::StrAppend(&key, ";depth=", l.max_depth, ";query_bytes=", l.max_query_bytes,
                  ";near=", l.max_near_distance, ";at_least=", l.max_at_least);
  absl::StrAppend(&key, ";term_bytes=", l.max_term_bytes, ";terms=", options.max_terms,
                  ";terms_per_rule=", options.max_terms_per_rule);
  // Length-prefixed free text, so no two option sets serialize alike.
  absl::StrAppend(&key, ";regex_offsets=", options.matcher.regex_start_offsets ? 1 : 0,
                  ";topic=", options.default_topic.size(), ":", options.default_topic);
  return key;
}

std::string PackCache::FilePath(const std::string& dir, std::string_view key) {
  return absl::StrCat(dir, "/pack-", Sha256::Hex(key).substr(0, 16), ".bin");
}

absl::StatusOr<std::shared_ptr<CompiledPack>> PackCache::Load(const std::string& dir,
                                                              std::string_view key) {
  const std::string path = FilePath(dir, key);
  absl::StatusOr<files::FileImage> file = files::FileImage::Read(path);
  if (!file.ok()) return file.status();
  const std::string_view image = file->data();
  if (image.substr(0, sizeof(kMagic)) != std::string_view(kMagic, sizeof(kMagic))) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": bad magic (another layout)"));
  }
  Reader header(image.substr(sizeof(kMagic)));
  std::string file_key;
  header.Str(&file_key);
  const uint64_t checksum = header.U64();
  const uint64_t payload_size = header.U64();
  if (!header.ok()) return absl::DataLossError(absl::StrCat(path, ": truncated header"));
  if (file_key != key) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": another key (hash collision)"));
  }
  const size_t payload_at = sizeof(kMagic) + 8 + file_key.size() + 8 + 8;
  if (payload_size != image.size() - payload_at) {
    return absl::DataLossError(absl::StrCat(path, ": truncated payload"));
  }
  // Hash64 (the match cache's checksum): SHA-256 of a 6 MB payload would cost as much as the
  // YAML it replaces.
  const std::string_view payload = image.substr(payload_at);
  if (files::Hash64(payload) != checksum) {
    return absl::DataLossError(absl::StrCat(path, ": checksum mismatch"));
  }

  auto pack = std::shared_ptr<CompiledPack>(new CompiledPack());
  CompiledPack& p = *pack;
  Reader r(payload);
  r.Str(&p.info_.name);
  r.Str(&p.info_.version);
  r.Str(&p.info_.description);
  r.Str(&p.info_.hash);
  p.stats_.files = r.U64();
  p.stats_.sets = r.U64();
  p.stats_.terms = r.U64();
  p.stats_.rules = r.U64();
  p.stats_.enabled_rules = r.U64();
  p.stats_.tests = r.U64();
  r.Strs(&p.topics_);
  p.term_specs_.resize(r.Count(8 + 3));
  for (match::TermSpec& t : p.term_specs_) {
    r.Str(&t.text);
    const uint8_t kind = r.U8();
    if (kind > static_cast<uint8_t>(match::TermSpec::Kind::kRegex)) {
      return absl::DataLossError(absl::StrCat(path, ": bad term kind"));
    }
    t.kind = static_cast<match::TermSpec::Kind>(kind);
    t.case_sensitive = r.Bool();
    t.whole_word = r.Bool();
  }
  r.Strs(&p.term_display_);
  p.rules_.resize(r.Count(64));
  for (Rule& rule : p.rules_) {
    ReadRule(&r, &rule);
    if (!r.ok()) break;
  }
  r.Pods(&p.index_begin_);
  r.Pods(&p.index_rules_);
  if (!r.done() || p.term_display_.size() != p.term_specs_.size() ||
      !Consistent(p, p.index_begin_, p.index_rules_)) {
    return absl::DataLossError(absl::StrCat(path, ": inconsistent payload"));
  }
  p.rule_by_id_.reserve(p.rules_.size());
  for (size_t i = 0; i < p.rules_.size(); ++i) {
    p.rule_by_id_[p.rules_[i].id] = static_cast<int>(i);
  }
  p.stats_.from_cache = true;
  return pack;
}

absl::Status PackCache::Store(const std::string& dir, std::string_view key, const CompiledPack& p) {
  Writer w;
  w.Str(p.info_.name);
  w.Str(p.info_.version);
  w.Str(p.info_.description);
  w.Str(p.info_.hash);
  for (size_t v : {p.stats_.files, p.stats_.sets, p.stats_.terms, p.stats_.rules,
                   p.stats_.enabled_rules, p.stats_.tests}) {
    w.U64(v);
  }
  w.Strs(p.topics_);
  w.U64(p.term_specs_.size());
  for (const match::TermSpec& t : p.term_specs_) {
    w.Str(t.text);
    w.U8(static_cast<uint8_t>(t.kind));
    w.U8(t.case_sensitive);
    w.U8(t.whole_word);
  }
  w.Strs(p.term_display_);
  w.U64(p.rules_.size());
  for (const Rule& rule : p.rules_) WriteRule(rule, &w);
  w.Pods(p.index_begin_);
  w.Pods(p.index_rules_);

  Writer header;
  header.out().assign(kMagic, sizeof(kMagic));
  header.Str(key);
  header.U64(files::Hash64(w.out()));
  header.U64(w.out().size());

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  return files::WriteFileAtomically(FilePath(dir, key), {header.out(), w.out()});
}

}  // namespace steppewatch::rules

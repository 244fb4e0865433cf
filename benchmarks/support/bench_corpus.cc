// Loading and selecting the benchmark corpus, and the process's memory figures (see
// bench_corpus.h); the term sets built from it are in bench_terms.cc.
#include "support/bench_corpus.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include "simdjson.h"

namespace steppewatch::bench {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Reads a string field; missing or non-string fields give "".
std::string GetString(simdjson::ondemand::object& obj, std::string_view key) {
  std::string_view v;
  if (obj.find_field_unordered(key).get_string().get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

size_t ReadStatusKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return std::strtoull(line.c_str() + prefix.size(), nullptr, 10);
  }
  return 0;
}

}  // namespace

const char* LanguageName(Language lang) {
  switch (lang) {
    case Language::kEnglish:
      return "English";
    case Language::kRussian:
      return "Russian";
    case Language::kChinese:
      return "Chinese";
    case Language::kKazakh:
      return "Kazakh";
  }
  return "?";
}

std::vector<const BenchItem*> BenchCorpus::Select(Language lang) const {
  std::vector<const BenchItem*> out;
  for (const BenchItem& item : items) {
    const std::string_view id = item.id;
    bool keep = false;
    switch (lang) {
      case Language::kEnglish:
        keep = StartsWith(id, "reuters21578-") || StartsWith(id, "bbc-");
        break;
      case Language::kRussian:
        keep =
            StartsWith(id, "nerel-") || StartsWith(id, "factru-") || StartsWith(id, "rusentrel-");
        break;
      case Language::kChinese:
        keep = StartsWith(id, "bri-");
        break;
      case Language::kKazakh:
        keep = StartsWith(id, "kaznerd-");
        break;
    }
    if (keep) out.push_back(&item);
  }
  return out;
}

std::optional<std::string> FindBenchCorpus() {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("STEPPEWATCH_CORPUS_DIR")) dirs.emplace_back(env);
  dirs.emplace_back(std::filesystem::path(STEPPEWATCH_SOURCE_DIR) / ".." / "shared" / "corpus");
  for (const auto& d : dirs) {
    const auto p = d / "news-bench.jsonl";
    if (std::filesystem::exists(p)) return p.lexically_normal().string();
  }
  return std::nullopt;
}

const BenchCorpus* LoadBenchCorpus() {
  static const std::unique_ptr<BenchCorpus> corpus = []() -> std::unique_ptr<BenchCorpus> {
    const auto path = FindBenchCorpus();
    if (!path) return nullptr;
    simdjson::padded_string json;
    if (simdjson::padded_string::load(*path).get(json) != simdjson::SUCCESS) return nullptr;
    auto c = std::make_unique<BenchCorpus>();
    c->path = *path;
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document_stream stream;
    if (parser.iterate_many(json).get(stream) != simdjson::SUCCESS) return nullptr;
    for (auto doc : stream) {
      simdjson::ondemand::object obj;
      if (doc.get_object().get(obj) != simdjson::SUCCESS) continue;
      BenchItem item;
      item.id = GetString(obj, "id");
      item.title = GetString(obj, "title");
      item.body = GetString(obj, "body");
      item.lang = GetString(obj, "lang");
      c->items.push_back(std::move(item));
    }
    return c;
  }();
  return corpus.get();
}

size_t PeakRssBytes() { return ReadStatusKb("VmHWM") * 1024; }
size_t CurrentRssBytes() { return ReadStatusKb("VmRSS") * 1024; }

}  // namespace steppewatch::bench

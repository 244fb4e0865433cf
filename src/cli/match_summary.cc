#include "cli/match_summary.h"

#include <algorithm>

#include "steppewatch/alert/json_writer.h"

namespace steppewatch::cli {

void PrintMatchSummary(const rules::CompiledPack& pack, const MatchCounts& total, uint64_t items,
                       uint64_t alerts, uint64_t dead, bool tables, std::FILE* json_out) {
  const std::vector<rules::Rule>& rules = pack.rules();
  auto by_count = [](const std::map<std::string, uint64_t>& m) {
    std::vector<std::pair<std::string, uint64_t>> v(m.begin(), m.end());
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    return v;
  };
  std::map<std::string, uint64_t> fired;
  std::vector<std::string> never;
  for (size_t r = 0; r < rules.size(); ++r) {
    if (total.rules[r] > 0) fired[rules[r].id] = total.rules[r];
    if (total.rules[r] == 0 && rules[r].enabled) never.push_back(rules[r].id);
  }
  auto pct = [](uint64_t part, uint64_t whole) {
    return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  };
  if (tables) {
    std::fprintf(stderr, "summary: %llu items, %llu alerting (%.1f%%), %llu alerts\n",
                 static_cast<unsigned long long>(items),
                 static_cast<unsigned long long>(total.alerting_items),
                 pct(total.alerting_items, items), static_cast<unsigned long long>(alerts));
    std::fprintf(stderr, "alerting items per rule:\n");
    for (const auto& [id, n] : by_count(fired)) {
      std::fprintf(stderr, "  %8llu  %s\n", static_cast<unsigned long long>(n), id.c_str());
    }
    std::fprintf(stderr, "alerting items per tag:\n");
    for (const auto& [tag, n] : by_count(total.tags)) {
      std::fprintf(stderr, "  %8llu  %s\n", static_cast<unsigned long long>(n), tag.c_str());
    }
    for (const auto* table : {&total.sources, &total.languages}) {
      std::fprintf(stderr, "alerting items / items per %s:\n",
                   table == &total.sources ? "source" : "language");
      std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> v(table->begin(),
                                                                           table->end());
      std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
        return a.second.second > b.second.second;
      });
      for (const auto& [name, n] : v) {
        std::fprintf(stderr, "  %8llu / %-8llu %5.1f%%  %s\n",
                     static_cast<unsigned long long>(n.second),
                     static_cast<unsigned long long>(n.first), pct(n.second, n.first),
                     name.empty() ? "(none)" : name.c_str());
      }
    }
    std::fprintf(stderr, "enabled rules that never fired (%zu):%s", never.size(),
                 never.empty() ? " none\n" : "\n");
    for (const std::string& id : never) std::fprintf(stderr, "  %s\n", id.c_str());
  }
  if (json_out == nullptr) return;
  std::string json;
  alert::JsonWriter w(&json);
  w.BeginObject();
  w.FieldInt("items", static_cast<int64_t>(items));
  w.FieldInt("alerting_items", static_cast<int64_t>(total.alerting_items));
  w.FieldInt("alerts", static_cast<int64_t>(alerts));
  w.FieldInt("dead_letters", static_cast<int64_t>(dead));
  auto counts = [&](std::string_view key, const std::map<std::string, uint64_t>& m) {
    w.Key(key);
    w.BeginObject();
    for (const auto& [k, v] : m) w.FieldInt(k, static_cast<int64_t>(v));
    w.EndObject();
  };
  counts("dead_letters_by_reason", total.reasons);
  counts("rules", fired);
  counts("tags", total.tags);
  for (const auto* table : {&total.sources, &total.languages}) {
    w.Key(table == &total.sources ? "sources" : "languages");
    w.BeginObject();
    for (const auto& [k, v] : *table) {
      w.Key(k);
      w.BeginObject();
      w.FieldInt("items", static_cast<int64_t>(v.first));
      w.FieldInt("alerting_items", static_cast<int64_t>(v.second));
      w.EndObject();
    }
    w.EndObject();
  }
  w.Key("never_fired");
  w.BeginArray();
  for (const std::string& id : never) w.String(id);
  w.EndArray();
  w.EndObject();
  json.push_back('\n');
  std::fwrite(json.data(), 1, json.size(), json_out);
  std::fflush(json_out);
}

}  // namespace steppewatch::cli

#include "steppewatch/common/strings.h"

#include <algorithm>
#include <cctype>

namespace steppewatch::strings {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string> SplitList(std::string_view s, char separator) {
  std::vector<std::string> out;
  while (true) {
    const size_t at = s.find(separator);
    const std::string_view part = Trim(s.substr(0, at));
    if (!part.empty()) out.emplace_back(part);
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(separator);
    out.append(parts[i]);
  }
  return out;
}

std::string_view Nearest(std::string_view name, const std::vector<std::string_view>& candidates,
                         size_t max_edits) {
  std::string_view best;
  size_t best_distance = max_edits + 1;
  std::vector<size_t> row;
  for (std::string_view c : candidates) {
    row.resize(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= name.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (name[i - 1] != c[j - 1])});
        diagonal = up;
      }
    }
    if (row[c.size()] < best_distance) {
      best_distance = row[c.size()];
      best = c;
    }
  }
  return best;
}

}  // namespace steppewatch::strings

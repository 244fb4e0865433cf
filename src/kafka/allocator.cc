#include "steppewatch/kafka/allocator.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace steppewatch::kafka {

std::vector<AllocatorSetting> AllocatorSettings(std::string_view glibc_tunables) {
  std::vector<AllocatorSetting> settings = {
      {"glibc.malloc.top_pad", M_TOP_PAD, 64 << 20},
      {"glibc.malloc.trim_threshold", M_TRIM_THRESHOLD, 256 << 20},
      {"glibc.malloc.mmap_threshold", M_MMAP_THRESHOLD, 32 << 20},
  };
  // GLIBC_TUNABLES is "name=value:name=value..."; a setting the operator gives is theirs.
  while (!glibc_tunables.empty()) {
    const size_t colon = std::min(glibc_tunables.find(':'), glibc_tunables.size());
    const std::string_view item = glibc_tunables.substr(0, colon);
    glibc_tunables.remove_prefix(std::min(colon + 1, glibc_tunables.size()));
    const std::string_view name = item.substr(0, item.find('='));
    std::erase_if(settings, [&](const AllocatorSetting& s) { return s.tunable == name; });
  }
  return settings;
}

std::string TuneAllocator() {
  const char* env = std::getenv("GLIBC_TUNABLES");
  const std::vector<AllocatorSetting> settings = AllocatorSettings(env == nullptr ? "" : env);
  std::vector<std::string> done;
  std::vector<std::string> failed;
  for (const AllocatorSetting& s : settings) {
    const std::string text = absl::StrCat(s.tunable, "=", s.value);
    (mallopt(s.param, s.value) == 1 ? done : failed).push_back(text);
  }
  std::string line =
      absl::StrCat("malloc: ", done.empty() ? "nothing set" : absl::StrJoin(done, ", "));
  if (!failed.empty()) absl::StrAppend(&line, "; mallopt refused ", absl::StrJoin(failed, ", "));
  if (settings.size() < 3) absl::StrAppend(&line, " (GLIBC_TUNABLES gives the rest)");
  return line;
}

}  // namespace steppewatch::kafka

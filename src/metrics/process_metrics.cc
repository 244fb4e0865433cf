#include "steppewatch/metrics/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "metrics/families.h"

namespace steppewatch::metrics {
namespace {

absl::StatusOr<std::string> ReadSmallFile(const char* path) {
  std::ifstream in(path);
  if (!in) return absl::UnavailableError(std::string("cannot open ") + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<double> BootTimeSeconds() {
  absl::StatusOr<std::string> stat = ReadSmallFile("/proc/stat");
  if (!stat.ok()) return stat.status();
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    if (line.rfind("btime ", 0) != 0) continue;
    double btime = 0;
    if (absl::SimpleAtod(line.substr(6), &btime)) return btime;
  }
  return absl::DataLossError("/proc/stat has no btime line");
}

absl::StatusOr<double> CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return absl::UnavailableError("cannot open /proc/self/fd");
  double count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory stream's own descriptor is not the process's
}

}  // namespace

absl::StatusOr<ProcessSample> ReadProcessSample() {
  absl::StatusOr<std::string> stat = ReadSmallFile("/proc/self/stat");
  if (!stat.ok()) return stat.status();
  // The command name (field 2) is in parentheses and may contain spaces and ')': the fields
  // that follow start after the last ')'.
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos) return absl::DataLossError("malformed /proc/self/stat");
  // absl::string_view: Debian's abseil does not alias std::string_view.
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(paren + 1), ' ', absl::SkipEmpty());
  // Indexes into `fields`: proc(5) field N is fields[N - 3] (field 3, the state, comes first).
  constexpr size_t kUtime = 14 - 3, kStime = 15 - 3, kStartTime = 22 - 3, kVsize = 23 - 3,
                   kRss = 24 - 3;
  if (fields.size() <= kRss) return absl::DataLossError("short /proc/self/stat");
  double utime = 0, stime = 0, start_ticks = 0, vsize = 0, rss_pages = 0;
  if (!absl::SimpleAtod(fields[kUtime], &utime) || !absl::SimpleAtod(fields[kStime], &stime) ||
      !absl::SimpleAtod(fields[kStartTime], &start_ticks) ||
      !absl::SimpleAtod(fields[kVsize], &vsize) || !absl::SimpleAtod(fields[kRss], &rss_pages)) {
    return absl::DataLossError("unparsable /proc/self/stat");
  }
  const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));

  absl::StatusOr<double> boot = BootTimeSeconds();
  if (!boot.ok()) return boot.status();
  absl::StatusOr<double> open_fds = CountOpenFds();
  if (!open_fds.ok()) return open_fds.status();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::InternalError("getrlimit failed");

  ProcessSample sample;
  sample.cpu_seconds = (utime + stime) / ticks_per_second;
  sample.resident_bytes = rss_pages * page_bytes;
  sample.virtual_bytes = vsize;
  sample.open_fds = *open_fds;
  sample.max_fds = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur);
  sample.start_time_seconds = *boot + start_ticks / ticks_per_second;
  return sample;
}

void AppendProcessFamilies(const ProcessSample& sample,
                           std::vector<prometheus::MetricFamily>* families) {
  using prometheus::MetricType;
  internal::AppendSingle(families, "process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.", MetricType::Counter,
                         sample.cpu_seconds);
  internal::AppendSingle(families, "process_resident_memory_bytes",
                         "Resident memory size in bytes.", MetricType::Gauge,
                         sample.resident_bytes);
  internal::AppendSingle(families, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                         MetricType::Gauge, sample.virtual_bytes);
  internal::AppendSingle(families, "process_open_fds", "Number of open file descriptors.",
                         MetricType::Gauge, sample.open_fds);
  internal::AppendSingle(families, "process_max_fds",
                         "Maximum number of open file descriptors (-1: unlimited).",
                         MetricType::Gauge, sample.max_fds);
  internal::AppendSingle(families, "process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.",
                         MetricType::Gauge, sample.start_time_seconds);
}

}  // namespace steppewatch::metrics

#include "cli/kafka_tool_support.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "steppewatch/common/clock.h"
#include "steppewatch/common/flags.h"
#include "steppewatch/common/strings.h"

namespace steppewatch::cli {

using strings::SplitOnce;

absl::StatusOr<Args> ParseArgs(int argc, char** argv,
                               std::initializer_list<std::string_view> value_flags,
                               std::initializer_list<std::string_view> bool_flags) {
  std::set<std::string> with_value(value_flags.begin(), value_flags.end());
  std::set<std::string> boolean(bool_flags.begin(), bool_flags.end());
  // --property is the one flag the usages mark as repeatable ("[--property K=V]...").
  cmdline::Flags parsed(with_value, boolean, /*repeatable=*/{"property"});
  if (!parsed.Parse(argc, argv)) return absl::InvalidArgumentError(parsed.error());
  return parsed;
}

absl::StatusOr<int64_t> GetInt(const Args& args, std::string_view name, int64_t default_value) {
  std::optional<std::string> v = args.Get(std::string(name));
  if (!v) return default_value;
  int64_t out;
  if (!absl::SimpleAtoi(*v, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", std::string(name), ": not an integer: ", *v));
  }
  return out;
}

absl::StatusOr<double> GetDouble(const Args& args, std::string_view name, double default_value) {
  std::optional<std::string> v = args.Get(std::string(name));
  if (!v) return default_value;
  double out;
  if (!absl::SimpleAtod(*v, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", std::string(name), ": not a number: ", *v));
  }
  return out;
}

int UsageError(std::string_view command, const absl::Status& status, std::string_view usage) {
  std::fprintf(stderr, "steppewatch %.*s: %s\nusage: %.*s\n", static_cast<int>(command.size()),
               command.data(), std::string(status.message()).c_str(),
               static_cast<int>(usage.size()), usage.data());
  return 2;
}

bool PrintedHelp(const Args& args, std::string_view usage) {
  if (!args.help()) return false;
  std::printf("usage: %.*s\n", static_cast<int>(usage.size()), usage.data());
  return true;
}

absl::StatusOr<kafka::ClientHandle> NewCommandClient(rd_kafka_type_t type,
                                                     kafka::PropertyMap defaults, const Args& args,
                                                     kafka::ClientCallbacks callbacks,
                                                     const char* what) {
  kafka::ClientSpec spec;
  spec.type = type;
  spec.properties = std::move(defaults);
  for (const std::string& kv : args.GetAll("property")) {
    auto [key, value] = SplitOnce(kv, '=');
    if (key.empty()) return absl::InvalidArgumentError("--property wants key=value");
    spec.forced[std::string(key)] = std::string(value);
  }
  spec.callbacks = callbacks;
  // The commands print librdkafka's own lines on stderr as librdkafka writes them.
  spec.route_logs = false;
  spec.what = what;
  return kafka::NewClient(spec);
}

namespace {

// SIGINT/SIGTERM set this.
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

}  // namespace

void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool StopRequested() { return g_stop.load(std::memory_order_relaxed); }

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace steppewatch::cli

// The stories role end to end (benchmarks/README.md, "Stories"): real librdkafka against the
// in-process broker (librdkafka's mock cluster), the role's consumer thread batching alerts into
// StoriesStage::ProcessBatch (64 per batch), its producer publishing the enriched alerts.
//
//   BM_StoriesRoleReplay/N   N alerts already in the alert topic (64 partitions); a new role in a
//                            new group: from the start of its replay (it holds the lease) until
//                            the window is rebuilt (every alert replayed, live). The rebuild path:
//                            the stage updates its state, it renders and publishes nothing.
//   BM_StoriesRoleLive/N     the role active first, then N alerts produced into the topic: from
//                            the first produce until every enriched alert was delivered to the
//                            stories topic.
// The alerts are the stage benchmark's (1.5 KB, two matches, six hits; 80% new stories, 20%
// copies of a recent one), published within the last hour. Wall time is the benchmark's time
// (manual time); counters: alerts_per_s (wall), and the CPU time per alert of the role's own
// thread (role_cpu_us: the stage plus the role's handling, read from /proc; the process's other
// threads, librdkafka's and the broker's, in process_cpu_us). One iteration per run: each builds
// a broker and a role (run with --benchmark_repetitions for spread).
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "steppewatch/kafka/embedded_broker.h"
#include "steppewatch/kafka/stories_role.h"
#include "steppewatch/stories/fingerprint.h"
#include "support/stories_alert.h"

namespace steppewatch::kafka {
namespace {

constexpr char kAlerts[] = "alerts";
constexpr char kLease[] = "stories.lease";
constexpr char kStories[] = "stories.out";
constexpr char kSpikes[] = "spikes.out";
// 64: the mock keeps ~5 MiB per partition, and 100k alerts are 190 MB.
constexpr int kPartitions = 64;

// N alerts over the last hour, in time order; 80% new stories, 20% copies (0-3 bits flipped) of
// one of the last 4096.
std::vector<std::pair<std::string, std::string>> MakeAlerts(size_t n) {
  std::mt19937_64 rng(7);
  std::vector<stories::Fingerprint> recent(4096, 0);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(n);
  const int64_t now = absl::ToUnixMillis(absl::Now());
  for (size_t i = 0; i < n; ++i) {
    stories::Fingerprint fp;
    if (i > recent.size() && rng() % 5 == 0) {
      fp = recent[rng() % recent.size()];
      const int flips = static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) fp ^= uint64_t{1} << (rng() % 64);
    } else {
      fp = rng() | 1;
    }
    recent[i % recent.size()] = fp;
    const int64_t t = now - 3600 * 1000 + static_cast<int64_t>(i * 3600 * 1000 / n);
    std::string id = "item-" + std::to_string(i);
    std::string alert = bench::SyntheticStoriesAlert(id, i, fp, t, static_cast<int>(i % 50));
    out.emplace_back(std::move(id), std::move(alert));
  }
  return out;
}

// Produces every alert (keyed by item id) and waits for the deliveries; false on an error.
bool ProduceAll(const std::string& bootstrap,
                const std::vector<std::pair<std::string, std::string>>& alerts) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (auto [k, v] : {std::pair{"bootstrap.servers", bootstrap.c_str()},
                      {"linger.ms", "5"},
                      {"log_level", "3"},
                      {"queue.buffering.max.messages", "1000000"},
                      {"queue.buffering.max.kbytes", "2097151"}}) {
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) return false;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) return false;
  bool ok = true;
  for (const auto& [key, value] : alerts) {
    ok &= rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(kAlerts), RD_KAFKA_V_KEY(key.data(), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK),
                            RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  ok &= rd_kafka_flush(rk, 120000) == RD_KAFKA_RESP_ERR_NO_ERROR;
  rd_kafka_destroy(rk);
  return ok;
}

// CPU seconds of this process's threads: those librdkafka named ("rdk:...") and the others (the
// role's thread, and the benchmark's, which sleeps while it waits).
struct ThreadCpu {
  double rdkafka = 0, other = 0;
};
ThreadCpu ReadThreadCpu() {
  ThreadCpu cpu;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return cpu;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string comm = stat.substr(open + 1, close - open - 1);
    // Fields after the name: state is field 3; utime and stime are fields 14 and 15.
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int f = 3; f <= 15 && rest >> field; ++f) {
      if (f == 14) utime = std::stod(field);
      if (f == 15) stime = std::stod(field);
    }
    (comm.rfind("rdk:", 0) == 0 ? cpu.rdkafka : cpu.other) += (utime + stime) / tick;
  }
  closedir(dir);
  return cpu;
}

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

StoriesRoleOptions RoleOptions(const std::string& bootstrap) {
  StoriesRoleOptions o;
  o.brokers = bootstrap;
  o.group_id = "stories-bench";
  o.client_id = "bench";
  o.input_topics = {kAlerts};
  o.lease_topic = kLease;
  o.stories_topic = kStories;
  o.spikes_topic = kSpikes;
  o.consumer_properties = {{"log_level", "3"}};
  o.producer_properties = {{"log_level", "3"}, {"linger.ms", "5"}};
  return o;
}

void RunRole(benchmark::State& state, bool live) {
  const size_t n = static_cast<size_t>(state.range(0));
  const auto alerts = MakeAlerts(n);
  for (auto _ : state) {
    auto broker = EmbeddedBroker::Create(
        {.topics = {{kAlerts, kPartitions}, {kLease, 1}, {kStories, kPartitions}, {kSpikes, 1}}});
    if (!broker.ok()) {
      state.SkipWithError("broker");
      return;
    }
    if (!live && !ProduceAll((*broker)->bootstrap(), alerts)) {
      state.SkipWithError("produce");
      return;
    }
    auto role = StoriesRole::Create(RoleOptions((*broker)->bootstrap()));
    if (!role.ok()) {
      state.SkipWithError(std::string(role.status().message()).c_str());
      return;
    }
    const StoriesRoleCounters& c = (*role)->counters();
    ThreadCpu cpu0;
    absl::Time t0;
    if (live) {
      if (!(*role)->Start().ok() ||
          !WaitFor([&] { return c.active.load() && !c.replaying.load(); }, absl::Seconds(60))) {
        state.SkipWithError("the role did not become active");
        return;
      }
      cpu0 = ReadThreadCpu();
      t0 = absl::Now();
      if (!ProduceAll((*broker)->bootstrap(), alerts)) {
        state.SkipWithError("produce");
        return;
      }
    } else {
      // From the moment it holds the lease and starts replaying (the group join before it is
      // the mock's, seconds, and not the role's speed).
      if (!(*role)->Start().ok() ||
          !WaitFor([&] { return c.replaying.load() || c.replayed.load() > 0; },
                   absl::Seconds(60))) {
        state.SkipWithError("the role did not start replaying");
        return;
      }
      cpu0 = ReadThreadCpu();
      t0 = absl::Now();
    }
    const bool done = WaitFor(
        [&] {
          return live ? c.published_alerts.load() >= n
                      : c.replayed.load() >= n && c.active.load() && !c.replaying.load();
        },
        absl::Seconds(300));
    const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
    const ThreadCpu cpu1 = ReadThreadCpu();
    if (!done) {
      state.SkipWithError("timed out");
      return;
    }
    state.SetIterationTime(seconds);
    state.counters["alerts_per_s"] = static_cast<double>(n) / seconds;
    state.counters["role_cpu_us"] = 1e6 * (cpu1.other - cpu0.other) / static_cast<double>(n);
    state.counters["rdkafka_cpu_us"] = 1e6 * (cpu1.rdkafka - cpu0.rdkafka) / static_cast<double>(n);
    if (!(*role)->Stop(absl::Seconds(30)).ok()) state.SkipWithError("stop");
    // The role's snapshot of the stage, taken as it stopped.
    const stories::StageStats s = (*role)->stage_stats();
    if (s.rejected != 0) state.SkipWithError("alerts were rejected");
    state.counters["stories"] = static_cast<double>(s.window_stories);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void BM_StoriesRoleReplay(benchmark::State& state) { RunRole(state, false); }
BENCHMARK(BM_StoriesRoleReplay)
    ->Arg(100000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

void BM_StoriesRoleLive(benchmark::State& state) { RunRole(state, true); }
BENCHMARK(BM_StoriesRoleLive)
    ->Arg(100000)
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace steppewatch::kafka

BENCHMARK_MAIN();

// `steppewatch broker`, `feed` and `tail`: see include/steppewatch/cli/kafka_commands.h.
//
// These are tools around the daemon, not the daemon's data path: they favour plain, blocking,
// single-threaded code. The one place where speed matters is `tail --quiet`, the pass-through
// baseline of the end-to-end benchmark (benchmarks/e2e/): it reads in batches from the consumer
// queue and touches nothing but the message length, so it measures what the broker and
// librdkafka can deliver to a consumer that does no work.
#include "steppewatch/cli/kafka_commands.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "simdjson.h"
#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/common/flags.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/common/strings.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/embedded_broker.h"

namespace steppewatch::cli {
namespace {

// ---------------------------------------------------------------------------------------------
// Arguments

using strings::EqualsIgnoreCase;
using strings::ParseInt;
using strings::Split;
using strings::SplitOnce;
using strings::Trim;

// Flags of one command, read by the shared parser (common/flags.h); a flag may repeat (e.g.
// --property), Get() returns the last value.
struct Args {
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> positional;
  bool help = false;

  std::optional<std::string> Get(std::string_view name) const {
    std::optional<std::string> value;
    for (const auto& [n, v] : flags) {
      if (n == name) value = v;
    }
    return value;
  }
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  std::vector<std::string> GetAll(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [n, v] : flags) {
      if (n == name) values.push_back(v);
    }
    return values;
  }
};

absl::StatusOr<Args> ParseArgs(int argc, char** argv,
                               std::initializer_list<std::string_view> value_flags,
                               std::initializer_list<std::string_view> bool_flags) {
  std::set<std::string> with_value(value_flags.begin(), value_flags.end());
  std::set<std::string> boolean(bool_flags.begin(), bool_flags.end());
  cmdline::Flags parsed(with_value, boolean);
  if (!parsed.Parse(argc, argv)) return absl::InvalidArgumentError(parsed.error());
  Args args;
  args.help = parsed.help();
  args.positional = parsed.positional();
  for (const std::set<std::string>* names : {&with_value, &boolean}) {
    for (const std::string& name : *names) {
      for (const std::string& v : parsed.GetAll(name)) args.flags.emplace_back(name, v);
    }
  }
  return args;
}

absl::StatusOr<int64_t> GetInt(const Args& args, std::string_view name, int64_t default_value) {
  std::optional<std::string> v = args.Get(name);
  if (!v) return default_value;
  int64_t out;
  if (!absl::SimpleAtoi(*v, &out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", std::string(name), ": not an integer: ", *v));
  }
  return out;
}

absl::StatusOr<double> GetDouble(const Args& args, std::string_view name, double default_value) {
  std::optional<std::string> v = args.Get(name);
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

// ---------------------------------------------------------------------------------------------
// librdkafka plumbing shared by the commands

// A client of a command: `defaults` (the command's own tuning), then the user's
// `--property key=value` overrides, created through the client layer.
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

using kafka::PartitionCount;

// SIGINT/SIGTERM set this; `feed` and `tail` poll it between batches.
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true, std::memory_order_relaxed); }

void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// broker

constexpr std::string_view kBrokerUsage =
    "steppewatch broker [--topics NAME[:PARTITIONS],...] [--partitions N] [--brokers N]\n"
    "                          [--control-fifo PATH]\n"
    "  Runs a Kafka-protocol broker (librdkafka mock cluster) until SIGTERM/SIGINT and prints\n"
    "  \"bootstrap: HOST:PORT\". Control commands, one per line on the FIFO:\n"
    "    down ID | up ID | rtt ID MS | errors API COUNT ERROR | clear API |\n"
    "    topic-error TOPIC ERROR | create TOPIC PARTITIONS\n"
    "  API is a Kafka request name (Produce, Fetch, OffsetCommit, ...) or number; ERROR a\n"
    "  librdkafka error name without RD_KAFKA_RESP_ERR_ (e.g. NOT_LEADER_FOR_PARTITION) or "
    "number.\n"
    "  The mock cluster keeps only ~5 MiB per partition: use enough partitions for big loads.";

// Kafka request names accepted by the control commands, with their ApiKey numbers
// (from the Kafka protocol).
constexpr std::pair<std::string_view, int16_t> kApiKeys[] = {
    {"Produce", 0},         {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},    {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},      {"LeaveGroup", 13}, {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},
};

std::optional<int16_t> ParseApiKey(std::string_view s) {
  for (const auto& [name, key] : kApiKeys) {
    if (EqualsIgnoreCase(name, s)) return key;
  }
  int v;
  if (ParseInt(s, &v) && v >= 0 && v < 100) return static_cast<int16_t>(v);
  return std::nullopt;
}

std::optional<rd_kafka_resp_err_t> ParseError(std::string_view s) {
  int v;
  if (ParseInt(s, &v)) return static_cast<rd_kafka_resp_err_t>(v);
  const rd_kafka_err_desc* descs;
  size_t n;
  rd_kafka_get_err_descs(&descs, &n);
  for (size_t i = 0; i < n; ++i) {
    if (descs[i].name != nullptr && EqualsIgnoreCase(descs[i].name, s)) return descs[i].code;
  }
  return std::nullopt;
}

// Runs one control command against the cluster; returns what to print.
absl::StatusOr<std::string> RunControl(rd_kafka_mock_cluster_t* mc, std::string_view line) {
  std::vector<std::string_view> w = Split(line, ' ', /*skip_blank=*/true);
  if (w.empty()) return std::string();
  auto int_at = [&](size_t i) -> absl::StatusOr<int64_t> {
    int64_t v;
    if (i >= w.size() || !ParseInt(w[i], &v)) {
      return absl::InvalidArgumentError(absl::StrCat("want a number at word ", i + 1));
    }
    return v;
  };
  auto check = [](rd_kafka_resp_err_t err) -> absl::Status {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
    return absl::InvalidArgumentError(rd_kafka_err2str(err));
  };
  const std::string_view cmd = w[0];
  if (cmd == "down" || cmd == "up") {
    SW_ASSIGN_OR_RETURN(int64_t id, int_at(1));
    SW_RETURN_IF_ERROR(check(cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id)
                                           : rd_kafka_mock_broker_set_up(mc, id)));
  } else if (cmd == "rtt") {
    SW_ASSIGN_OR_RETURN(int64_t id, int_at(1));
    SW_ASSIGN_OR_RETURN(int64_t ms, int_at(2));
    SW_RETURN_IF_ERROR(check(rd_kafka_mock_broker_set_rtt(mc, id, static_cast<int>(ms))));
  } else if (cmd == "errors") {
    if (w.size() != 4) return absl::InvalidArgumentError("errors API COUNT ERROR");
    std::optional<int16_t> api = ParseApiKey(w[1]);
    SW_ASSIGN_OR_RETURN(int64_t count, int_at(2));
    std::optional<rd_kafka_resp_err_t> err = ParseError(w[3]);
    if (!api || !err || count <= 0 || count > 100000) {
      return absl::InvalidArgumentError("bad API, COUNT or ERROR");
    }
    std::vector<rd_kafka_resp_err_t> errs(static_cast<size_t>(count), *err);
    rd_kafka_mock_push_request_errors_array(mc, *api, errs.size(), errs.data());
  } else if (cmd == "clear") {
    std::optional<int16_t> api = w.size() == 2 ? ParseApiKey(w[1]) : std::nullopt;
    if (!api) return absl::InvalidArgumentError("clear API");
    rd_kafka_mock_clear_request_errors(mc, *api);
  } else if (cmd == "topic-error") {
    std::optional<rd_kafka_resp_err_t> err = w.size() == 3 ? ParseError(w[2]) : std::nullopt;
    if (!err) return absl::InvalidArgumentError("topic-error TOPIC ERROR");
    rd_kafka_mock_topic_set_error(mc, std::string(w[1]).c_str(), *err);
  } else if (cmd == "create") {
    SW_ASSIGN_OR_RETURN(int64_t partitions, int_at(2));
    SW_RETURN_IF_ERROR(check(rd_kafka_mock_topic_create(mc, std::string(w[1]).c_str(),
                                                        static_cast<int>(partitions), 1)));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown command: ", std::string(cmd)));
  }
  return absl::StrCat("ok ", std::string(line));
}

int RunBroker(const Args& args) {
  absl::StatusOr<int64_t> partitions = GetInt(args, "partitions", 8);
  absl::StatusOr<int64_t> brokers = GetInt(args, "brokers", 1);
  if (!partitions.ok()) return UsageError("broker", partitions.status(), kBrokerUsage);
  if (!brokers.ok()) return UsageError("broker", brokers.status(), kBrokerUsage);
  if (*partitions < 1 || *brokers < 1 || !args.positional.empty()) {
    return UsageError("broker", absl::InvalidArgumentError("bad arguments"), kBrokerUsage);
  }
  std::vector<std::pair<std::string, int>> topics;
  const std::string topic_specs = args.Get("topics").value_or("");
  for (std::string_view spec : Split(topic_specs, ',', /*skip_blank=*/true)) {
    auto [name, count] = SplitOnce(Trim(spec), ':');
    int n = static_cast<int>(*partitions);
    if (!count.empty() && (!ParseInt(count, &n) || n < 1)) {
      return UsageError("broker",
                        absl::InvalidArgumentError(absl::StrCat("bad topic ", std::string(spec))),
                        kBrokerUsage);
    }
    topics.emplace_back(std::string(name), n);
  }

  // Block the stop signals before librdkafka starts its threads (they inherit the mask), so that
  // only the signalfd below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  int sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  if (sfd < 0) {
    std::perror("signalfd");
    return 1;
  }

  int control_fd = -1;
  if (std::optional<std::string> fifo = args.Get("control-fifo")) {
    if (mkfifo(fifo->c_str(), 0600) != 0 && errno != EEXIST) {
      std::perror(fifo->c_str());
      return 1;
    }
    // O_RDWR keeps one writer open ourselves, so the FIFO never reports EOF between the
    // short-lived writers (`echo down 1 > fifo`).
    control_fd = open(fifo->c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (control_fd < 0) {
      std::perror(fifo->c_str());
      return 1;
    }
  }

  // The same in-process cluster as the daemon's embedded mode, here alone in its process.
  kafka::EmbeddedBrokerOptions options;
  options.num_brokers = static_cast<int>(*brokers);
  for (const auto& [name, n] : topics) options.topics.push_back({name, n});
  absl::StatusOr<std::unique_ptr<kafka::EmbeddedBroker>> broker =
      kafka::EmbeddedBroker::Create(options);
  if (!broker.ok()) {
    std::fprintf(stderr, "steppewatch broker: %s\n",
                 std::string(broker.status().message()).c_str());
    return 1;
  }
  rd_kafka_mock_cluster_t* mc = (*broker)->cluster();
  std::printf("bootstrap: %s\n", (*broker)->bootstrap().c_str());
  for (const auto& [name, n] : topics) std::printf("topic: %s partitions=%d\n", name.c_str(), n);
  std::fflush(stdout);

  std::string pending;
  bool running = true;
  while (running) {
    pollfd fds[2] = {{sfd, POLLIN, 0}, {control_fd, POLLIN, 0}};
    int n = poll(fds, control_fd >= 0 ? 2 : 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("poll");
      break;
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (read(sfd, &info, sizeof(info)) == sizeof(info)) running = false;
    }
    if (control_fd >= 0 && (fds[1].revents & POLLIN)) {
      char buf[4096];
      ssize_t got = read(control_fd, buf, sizeof(buf));
      if (got > 0) pending.append(buf, static_cast<size_t>(got));
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        std::string line(Trim(std::string_view(pending).substr(0, nl)));
        pending.erase(0, nl + 1);
        if (line.empty()) continue;
        absl::StatusOr<std::string> reply = RunControl(mc, line);
        if (reply.ok()) {
          std::printf("%s\n", reply->c_str());
        } else {
          std::printf("error %s: %s\n", line.c_str(),
                      std::string(reply.status().message()).c_str());
        }
        std::fflush(stdout);
      }
    }
  }
  broker->reset();
  if (control_fd >= 0) close(control_fd);
  close(sfd);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// feed

constexpr std::string_view kFeedUsage =
    "steppewatch feed --brokers B --topic T [--rate N] [--repeat K] [--keep-ids] [--linger-ms MS]\n"
    "                        [--id-field NAME] [--property K=V]... FILE|-\n"
    "  Produces each non-empty line of FILE (NDJSON news items) as one message, key = the item's\n"
    "  id, with an idempotent producer; waits for all deliveries and prints count and rate.\n"
    "  --rate N: items per second (default: as fast as possible). --repeat K: send the file K\n"
    "  times; repeats after the first get ids suffixed \"~rK\" (in key and payload) unless\n"
    "  --keep-ids, so that every item stays distinct.";

// Where the id of one NDJSON line is: its unescaped value (the message key) and, for string
// ids, the byte offset in the line of the closing quote (where a repeat suffix goes).
struct IdSpan {
  std::string key;
  size_t closing_quote = std::string::npos;
};

// Finds the top-level `id_field` of `line` with simdjson On-Demand. `buffer` is reused between
// calls and receives the padded copy simdjson needs. Lines that are not JSON objects, or have no
// id, get no key: the producer still sends them (the daemon dead-letters them).
std::optional<IdSpan> FindId(simdjson::ondemand::parser& parser, std::string& buffer,
                             std::string_view line, std::string_view id_field) {
  buffer.assign(line);
  buffer.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::padded_string_view view(buffer.data(), line.size(), buffer.size());
  simdjson::ondemand::document doc;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::value value;
  if (obj.find_field_unordered(id_field).get(value) != simdjson::SUCCESS) return std::nullopt;
  simdjson::ondemand::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS) return std::nullopt;
  std::string_view raw = Trim(value.raw_json_token());
  IdSpan span;
  if (type == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (value.get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
    span.key.assign(s);
    span.closing_quote = static_cast<size_t>(raw.data() - buffer.data()) + raw.size() - 1;
  } else if (type == simdjson::ondemand::json_type::number) {
    span.key.assign(raw);
  } else {
    return std::nullopt;
  }
  return span;
}

struct FeedStats {
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> failed{0};
  std::string first_error;  // written by the delivery callback (poll thread = main thread)
};

extern "C" void FeedDeliveryReport(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* stats = static_cast<FeedStats*>(opaque);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    stats->delivered.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (stats->failed.fetch_add(1, std::memory_order_relaxed) == 0) {
      stats->first_error = rd_kafka_err2str(msg->err);
    }
  }
}

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  std::ostringstream out;
  if (path == "-") {
    out << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
    out << in.rdbuf();
  }
  return std::move(out).str();
}

int RunFeed(const Args& args) {
  std::optional<std::string> brokers = args.Get("brokers");
  std::optional<std::string> topic = args.Get("topic");
  absl::StatusOr<double> rate = GetDouble(args, "rate", 0);
  absl::StatusOr<int64_t> repeat = GetInt(args, "repeat", 1);
  absl::StatusOr<int64_t> linger = GetInt(args, "linger-ms", 5);
  absl::StatusOr<int64_t> flush_timeout_s = GetInt(args, "flush-timeout", 120);
  for (const absl::Status& s :
       {rate.status(), repeat.status(), linger.status(), flush_timeout_s.status()}) {
    if (!s.ok()) return UsageError("feed", s, kFeedUsage);
  }
  if (!brokers || !topic || args.positional.size() != 1 || *repeat < 1 || *rate < 0) {
    return UsageError("feed", absl::InvalidArgumentError("want --brokers, --topic and one FILE"),
                      kFeedUsage);
  }
  const bool keep_ids = args.Has("keep-ids");
  const std::string id_field = args.Get("id-field").value_or("id");
  const bool quiet = args.Has("quiet");

  absl::StatusOr<std::string> input = ReadInput(args.positional[0]);
  if (!input.ok()) {
    std::fprintf(stderr, "steppewatch feed: %s\n", std::string(input.status().message()).c_str());
    return 1;
  }
  std::vector<std::string_view> lines;
  for (std::string_view line : Split(*input, '\n', /*skip_blank=*/true)) {
    if (line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
  }

  FeedStats stats;
  // Idempotence keeps retried batches from duplicating items. The queue limits allow a whole
  // corpus repeat (~55k items, ~45 MB) in flight so the loader is never the bottleneck;
  // linger.ms 5 batches well at high rates and adds at most 5 ms to a live item's latency.
  absl::StatusOr<kafka::ClientHandle> rk =
      NewCommandClient(RD_KAFKA_PRODUCER,
                       {{"bootstrap.servers", *brokers},
                        {"enable.idempotence", "true"},
                        {"linger.ms", std::to_string(*linger)},
                        {"queue.buffering.max.messages", "1000000"},
                        {"queue.buffering.max.kbytes", "1048576"},
                        {"batch.num.messages", "10000"},
                        {"log_level", "3"}},
                       args, {.opaque = &stats, .delivery = FeedDeliveryReport}, "producer");
  if (!rk.ok()) {
    if (absl::IsInvalidArgument(rk.status())) return UsageError("feed", rk.status(), kFeedUsage);
    std::fprintf(stderr, "steppewatch feed: %s\n", std::string(rk.status().message()).c_str());
    return 1;
  }
  // Metadata first: the first produce to a topic otherwise stalls until it arrives, and an
  // unknown topic is better reported now than as a delivery error per item.
  absl::StatusOr<int> partitions = PartitionCount(rk->get(), *topic, 10000);
  if (!partitions.ok()) {
    std::fprintf(stderr, "steppewatch feed: %s\n",
                 std::string(partitions.status().message()).c_str());
    return 1;
  }
  InstallStopHandlers();

  simdjson::ondemand::parser parser;
  std::string json_buffer;
  std::string payload;
  uint64_t produced = 0;
  uint64_t bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < *repeat && !g_stop.load(std::memory_order_relaxed); ++r) {
    for (std::string_view line : lines) {
      if (g_stop.load(std::memory_order_relaxed)) break;
      std::optional<IdSpan> id = FindId(parser, json_buffer, line, id_field);
      std::string_view value = line;
      if (r > 0 && !keep_ids && id && id->closing_quote != std::string::npos) {
        std::string suffix = absl::StrCat("~r", r);
        payload.assign(line.substr(0, id->closing_quote));
        payload.append(suffix);
        payload.append(line.substr(id->closing_quote));
        id->key.append(suffix);
        value = payload;
      }
      if (*rate > 0) {
        // Pace against the start time, not the previous item, so that rounding never drifts.
        auto due =
            start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(static_cast<double>(produced) / *rate));
        if (due > std::chrono::steady_clock::now()) {
          rd_kafka_poll(rk->get(), 0);
          std::this_thread::sleep_until(due);
        }
      }
      const std::string_view key = id ? std::string_view(id->key) : std::string_view();
      while (true) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk->get(), RD_KAFKA_V_TOPIC(topic->c_str()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_KEY(key.data(), key.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          std::fprintf(stderr, "steppewatch feed: produce: %s\n", rd_kafka_err2str(err));
          return 1;
        }
        // The local queue is full: serve delivery reports until there is room (100 ms is one
        // broker round trip with margin).
        rd_kafka_poll(rk->get(), 100);
      }
      ++produced;
      bytes += value.size();
      if ((produced & 1023) == 0) rd_kafka_poll(rk->get(), 0);
    }
  }
  const double produce_seconds = SecondsSince(start);
  const rd_kafka_resp_err_t flush_err =
      rd_kafka_flush(rk->get(), static_cast<int>(*flush_timeout_s * 1000));
  const double seconds = SecondsSince(start);
  const uint64_t failed = stats.failed.load();
  const uint64_t delivered = stats.delivered.load();
  if (!quiet || failed > 0 || flush_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr,
                 "steppewatch feed: %llu items (%.1f MB) to %s (%d partitions) in %.2f s: "
                 "%.0f items/s, %.1f MB/s; delivered %llu, failed %llu%s%s\n",
                 static_cast<unsigned long long>(produced), bytes / 1e6, topic->c_str(),
                 *partitions, seconds, produced / std::max(seconds, 1e-9),
                 bytes / 1e6 / std::max(seconds, 1e-9), static_cast<unsigned long long>(delivered),
                 static_cast<unsigned long long>(failed), failed ? ", first error: " : "",
                 stats.first_error.c_str());
  }
  std::printf(
      "{\"produced\":%llu,\"delivered\":%llu,\"failed\":%llu,\"bytes\":%llu,"
      "\"produce_seconds\":%.3f,\"seconds\":%.3f}\n",
      static_cast<unsigned long long>(produced), static_cast<unsigned long long>(delivered),
      static_cast<unsigned long long>(failed), static_cast<unsigned long long>(bytes),
      produce_seconds, seconds);
  std::fflush(stdout);
  if (flush_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "steppewatch feed: flush: %s (%d still queued)\n",
                 rd_kafka_err2str(flush_err), rd_kafka_outq_len(rk->get()));
    return 1;
  }
  return failed == 0 && !g_stop.load() ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// tail

constexpr std::string_view kTailUsage =
    "steppewatch tail --brokers B --topic T[,T2...] [--group G] [--from-beginning] [--raw]\n"
    "                        [--keys] [--count N] [--timeout S] [--idle S] [--quiet]\n"
    "                        [--latency] [--summary-json] [--property K=V]...\n"
    "  Prints alerts readably (item title, url and language; rules, severity, tags; snippets\n"
    "  with the matched words marked **so**), dead letters with their\n"
    "  reason, or with --raw each value on one line (--keys: key TAB value).\n"
    "  Without --group it reads every partition directly; with --group it joins that group.\n"
    "  --count N: stop after N messages (exit 1 if the deadline comes first). --timeout S: total\n"
    "  deadline. --idle S: stop after S seconds without a message. --quiet: print nothing per\n"
    "  message (pass-through baseline). --latency: per alert, now - origin.timestamp_ms and\n"
    "  alert Kafka timestamp - origin.timestamp_ms, reported as percentiles.";

std::string_view HeaderValue(rd_kafka_headers_t* headers, const char* name) {
  const void* value = nullptr;
  size_t size = 0;
  if (headers == nullptr ||
      rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return {};
  }
  return std::string_view(static_cast<const char*>(value), size);
}

// Returns `snippet` with the hit at byte offsets [from, to) (the alert's snippet_start and
// snippet_end) marked as **hit**; unchanged when the offsets are absent or do not fit.
std::string MarkHit(std::string_view snippet, int64_t from, int64_t to) {
  if (from < 0 || to <= from || static_cast<size_t>(to) > snippet.size()) {
    return std::string(snippet);
  }
  std::string out(snippet.substr(0, from));
  out.append("**").append(snippet.substr(from, to - from)).append("**");
  out.append(snippet.substr(to));
  return out;
}

// Prints one message for people. Alerts (JSON with "matches") show the item and each rule's
// snippets; anything else (dead letters) shows its steppewatch.error.* headers and a prefix.
void PrintReadable(const rd_kafka_message_t* msg, simdjson::ondemand::parser& parser,
                   std::string& buffer) {
  rd_kafka_headers_t* headers = nullptr;
  rd_kafka_message_headers(msg, &headers);
  std::string_view key(static_cast<const char*>(msg->key), msg->key ? msg->key_len : 0);
  std::string_view value(static_cast<const char*>(msg->payload), msg->payload ? msg->len : 0);
  std::printf("[%s/%d@%lld] key=%.*s", rd_kafka_topic_name(msg->rkt), msg->partition,
              static_cast<long long>(msg->offset), static_cast<int>(key.size()), key.data());
  std::string_view reason = HeaderValue(headers, "steppewatch.error.reason");
  if (!reason.empty()) {
    std::string_view message = HeaderValue(headers, "steppewatch.error.message");
    std::printf(" DEAD LETTER reason=%.*s: %.*s\n  from %.*s/%.*s@%.*s: %.*s\n",
                static_cast<int>(reason.size()), reason.data(), static_cast<int>(message.size()),
                message.data(),
                static_cast<int>(HeaderValue(headers, "steppewatch.error.topic").size()),
                HeaderValue(headers, "steppewatch.error.topic").data(),
                static_cast<int>(HeaderValue(headers, "steppewatch.error.partition").size()),
                HeaderValue(headers, "steppewatch.error.partition").data(),
                static_cast<int>(HeaderValue(headers, "steppewatch.error.offset").size()),
                HeaderValue(headers, "steppewatch.error.offset").data(),
                static_cast<int>(std::min<size_t>(value.size(), 120)), value.data());
    return;
  }
  std::string_view severity = HeaderValue(headers, "steppewatch.severity");
  std::string_view rules = HeaderValue(headers, "steppewatch.rules");
  std::string_view tags = HeaderValue(headers, "steppewatch.tags");
  std::printf(" severity=%.*s rules=%.*s tags=%.*s\n", static_cast<int>(severity.size()),
              severity.data(), static_cast<int>(rules.size()), rules.data(),
              static_cast<int>(tags.size()), tags.data());

  buffer.assign(value);
  buffer.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::padded_string_view view(buffer.data(), value.size(), buffer.size());
  simdjson::ondemand::document doc;
  simdjson::ondemand::object item;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS ||
      doc["item"].get_object().get(item) != simdjson::SUCCESS) {
    std::printf("  %.*s\n", static_cast<int>(std::min<size_t>(value.size(), 200)), value.data());
    return;
  }
  std::string_view title, url, lang;
  for (auto field : item) {
    std::string_view name, v;
    if (field.unescaped_key().get(name) != simdjson::SUCCESS) break;
    if (field.value().get_string().get(v) != simdjson::SUCCESS) continue;
    if (name == "title") title = v;
    if (name == "url") url = v;
    if (name == "lang") lang = v;
  }
  std::printf("  title: %.*s\n", static_cast<int>(title.size()), title.data());
  std::printf("  url: %.*s  lang: %.*s\n", static_cast<int>(url.size()), url.data(),
              static_cast<int>(lang.size()), lang.data());
  simdjson::ondemand::array matches;
  if (doc["matches"].get_array().get(matches) != simdjson::SUCCESS) return;
  for (auto match_result : matches) {
    simdjson::ondemand::object match;
    if (match_result.get_object().get(match) != simdjson::SUCCESS) break;
    std::string_view rule, rule_severity;
    std::vector<std::string> rule_tags, snippets;
    // Fields in document order; unordered lookup would re-scan the object per field.
    for (auto field : match) {
      std::string_view name;
      if (field.unescaped_key().get(name) != simdjson::SUCCESS) break;
      if (name == "rule") {
        if (field.value().get_string().get(rule) != simdjson::SUCCESS) rule = "?";
      } else if (name == "severity") {
        if (field.value().get_string().get(rule_severity) != simdjson::SUCCESS) {
          rule_severity = "?";
        }
      } else if (name == "tags") {
        simdjson::ondemand::array a;
        if (field.value().get_array().get(a) != simdjson::SUCCESS) continue;
        for (auto t : a) {
          std::string_view s;
          if (t.get_string().get(s) == simdjson::SUCCESS) rule_tags.emplace_back(s);
        }
      } else if (name == "hits") {
        simdjson::ondemand::array a;
        if (field.value().get_array().get(a) != simdjson::SUCCESS) continue;
        for (auto hit_result : a) {
          // Three snippets show why a rule fired; the alert holds the rest.
          if (snippets.size() >= 3) continue;
          simdjson::ondemand::object hit;
          if (hit_result.get_object().get(hit) != simdjson::SUCCESS) break;
          std::string snippet;
          int64_t from = -1, to = -1;
          for (auto hf : hit) {
            std::string_view key, text;
            if (hf.unescaped_key().get(key) != simdjson::SUCCESS) break;
            if (key == "snippet" && hf.value().get_string().get(text) == simdjson::SUCCESS) {
              snippet.assign(text);
            } else if (key == "snippet_start") {
              if (hf.value().get_int64().get(from) != simdjson::SUCCESS) from = -1;
            } else if (key == "snippet_end") {
              if (hf.value().get_int64().get(to) != simdjson::SUCCESS) to = -1;
            }
          }
          if (snippet.empty()) continue;
          snippets.push_back(MarkHit(snippet, from, to));
        }
      }
    }
    std::printf("  - %.*s (%.*s) [%s]\n", static_cast<int>(rule.size()), rule.data(),
                static_cast<int>(rule_severity.size()), rule_severity.data(),
                absl::StrJoin(rule_tags, ", ").c_str());
    for (const std::string& s : snippets) std::printf("      \"%s\"\n", s.c_str());
  }
}

// Reads origin.timestamp_ms of an alert, or -1.
int64_t OriginTimestamp(const rd_kafka_message_t* msg, simdjson::ondemand::parser& parser,
                        std::string& buffer) {
  if (msg->payload == nullptr) return -1;
  buffer.assign(static_cast<const char*>(msg->payload), msg->len);
  buffer.append(simdjson::SIMDJSON_PADDING, ' ');
  simdjson::padded_string_view view(buffer.data(), msg->len, buffer.size());
  simdjson::ondemand::document doc;
  int64_t ts;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS ||
      doc.at_pointer("/origin/timestamp_ms").get_int64().get(ts) != simdjson::SUCCESS) {
    return -1;
  }
  return ts;
}

std::string Percentiles(std::vector<int64_t>& v) {
  if (v.empty()) return "{\"n\":0}";
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  return absl::StrCat("{\"n\":", v.size(), ",\"p50\":", at(0.5), ",\"p90\":", at(0.9),
                      ",\"p99\":", at(0.99), ",\"p999\":", at(0.999), ",\"max\":", v.back(), "}");
}

// Returns `topics` without those the cluster does not have (all of them with `keep_missing`,
// for a group subscription that picks a topic up once it is created), after a warning on
// stderr for each missing one that names the closest existing topic. Lists the cluster's
// topics (a metadata request for all topics, which creates none); on failure returns `topics`.
std::vector<std::string> WarnAboutMissingTopics(rd_kafka_t* rk,
                                                const std::vector<std::string>& topics,
                                                bool keep_missing) {
  const rd_kafka_metadata_t* md = nullptr;
  // 10 s: as PartitionCount; a cluster that cannot list its topics in that time is down.
  if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return topics;
  std::vector<std::string> existing;
  for (int i = 0; i < md->topic_cnt; ++i) {
    if (md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) existing.emplace_back(md->topics[i].topic);
  }
  rd_kafka_metadata_destroy(md);
  std::vector<std::string> kept;
  for (const std::string& t : topics) {
    if (std::find(existing.begin(), existing.end(), t) != existing.end()) {
      kept.push_back(t);
      continue;
    }
    std::optional<std::string> close = ClosestName(t, existing);
    std::fprintf(stderr, "steppewatch tail: warning: topic '%s' does not exist%s%s%s%s\n",
                 t.c_str(), close ? " (did you mean '" : "", close ? close->c_str() : "",
                 close ? "'?)" : "",
                 keep_missing ? "; subscribed anyway, in case it is created" : "; not read");
    if (keep_missing) kept.push_back(t);
  }
  return kept;
}

int RunTail(const Args& args) {
  std::optional<std::string> brokers = args.Get("brokers");
  std::optional<std::string> topic_list = args.Get("topic");
  absl::StatusOr<int64_t> count = GetInt(args, "count", 0);
  absl::StatusOr<double> timeout_s = GetDouble(args, "timeout", 0);
  absl::StatusOr<double> idle_s = GetDouble(args, "idle", 0);
  for (const absl::Status& s : {count.status(), timeout_s.status(), idle_s.status()}) {
    if (!s.ok()) return UsageError("tail", s, kTailUsage);
  }
  if (!brokers || !topic_list || !args.positional.empty()) {
    return UsageError("tail", absl::InvalidArgumentError("want --brokers and --topic"), kTailUsage);
  }
  std::vector<std::string> topics;
  for (std::string_view t : Split(*topic_list, ',', /*skip_blank=*/true)) {
    topics.emplace_back(Trim(t));
  }
  const std::optional<std::string> group = args.Get("group");
  const bool from_beginning = args.Has("from-beginning");
  const bool raw = args.Has("raw");
  const bool keys = args.Has("keys");
  const bool quiet = args.Has("quiet");
  const bool latency = args.Has("latency");

  // Consumer settings of a fast reader: a large prefetch queue (librdkafka 2.0.2 backs off a
  // full second when it fills; fetch.queue.backoff.ms came only in 2.2), a short fetch wait so
  // that latency measurements are not dominated by the broker holding a fetch, and a short
  // session timeout because the mock cluster's first group join waits 3 s.
  absl::StatusOr<kafka::ClientHandle> rk = NewCommandClient(
      RD_KAFKA_CONSUMER,
      {{"bootstrap.servers", *brokers},
       {"group.id", group.value_or(absl::StrCat("steppewatch-tail-", getpid(), "-", NowMs()))},
       {"enable.auto.commit", group ? "true" : "false"},
       {"auto.offset.reset", from_beginning ? "earliest" : "latest"},
       {"partition.assignment.strategy", "range,roundrobin"},
       {"session.timeout.ms", "6000"},
       {"queued.max.messages.kbytes", "262144"},
       {"queued.min.messages", "200000"},
       // The mock cluster answers a fetch with at most this much per partition: the 1 MiB
       // default halved the pass-through rate measured here (118k vs 50-67k msgs/s).
       {"max.partition.fetch.bytes", "10485760"},
       {"fetch.wait.max.ms", "10"},
       {"enable.partition.eof", "false"},
       {"log_level", "3"}},
      args, {}, "consumer");
  if (!rk.ok()) {
    if (absl::IsInvalidArgument(rk.status())) return UsageError("tail", rk.status(), kTailUsage);
    std::fprintf(stderr, "steppewatch tail: %s\n", std::string(rk.status().message()).c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();

  // A topic name with a typo would otherwise wait in silence (brokers that auto-create topics,
  // the mock cluster among them, even create it on the first metadata request for it).
  topics = WarnAboutMissingTopics(rk->get(), topics, /*keep_missing=*/group.has_value());
  if (topics.empty()) {
    std::fprintf(stderr, "steppewatch tail: none of the topics exists\n");
    return 1;
  }
  rd_kafka_topic_partition_list_t* tpl = rd_kafka_topic_partition_list_new(64);
  for (const std::string& t : topics) {
    if (group) {
      rd_kafka_topic_partition_list_add(tpl, t.c_str(), RD_KAFKA_PARTITION_UA);
      continue;
    }
    absl::StatusOr<int> n = PartitionCount(rk->get(), t, 10000);
    if (!n.ok()) {
      std::fprintf(stderr, "steppewatch tail: %s\n", std::string(n.status().message()).c_str());
      rd_kafka_topic_partition_list_destroy(tpl);
      return 1;
    }
    for (int p = 0; p < *n; ++p) {
      rd_kafka_topic_partition_list_add(tpl, t.c_str(), p)->offset =
          from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    }
  }
  rd_kafka_resp_err_t err =
      group ? rd_kafka_subscribe(rk->get(), tpl) : rd_kafka_assign(rk->get(), tpl);
  rd_kafka_topic_partition_list_destroy(tpl);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "steppewatch tail: subscribe/assign: %s\n", rd_kafka_err2str(err));
    return 1;
  }
  InstallStopHandlers();

  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk->get());
  simdjson::ondemand::parser parser;
  std::string buffer;
  std::vector<int64_t> receive_latency, kafka_latency;
  // 1000 messages per batch: large enough to amortise the queue lock, small enough to keep the
  // receive-time stamp per batch within a fraction of a millisecond of each message.
  constexpr size_t kBatch = 1000;
  rd_kafka_message_t* batch[kBatch];
  uint64_t messages = 0, bytes = 0, errors = 0;
  std::optional<std::chrono::steady_clock::time_point> first, last;
  bool count_reached = false;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const auto now = std::chrono::steady_clock::now();
    if (*timeout_s > 0 && SecondsSince(start) >= *timeout_s) break;
    if (*idle_s > 0 &&
        std::chrono::duration<double>(now - last.value_or(start)).count() >= *idle_s) {
      break;
    }
    // Block for the first message only, then take what else is ready without waiting:
    // rd_kafka_consume_batch_queue() with a timeout waits until the batch is full or the
    // timeout passes, which would add up to that timeout to every measured latency.
    rd_kafka_message_t* first_msg = rd_kafka_consume_queue(queue, 100);
    if (first_msg == nullptr) continue;
    batch[0] = first_msg;
    ssize_t more = rd_kafka_consume_batch_queue(queue, 0, batch + 1, kBatch - 1);
    if (more < 0) {
      std::fprintf(stderr, "steppewatch tail: consume: %s\n",
                   rd_kafka_err2str(rd_kafka_last_error()));
      more = 0;
    }
    const ssize_t n = 1 + more;
    const int64_t received_ms = latency ? NowMs() : 0;
    const auto received = std::chrono::steady_clock::now();
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* msg = batch[i];
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++errors;
        std::fprintf(stderr, "steppewatch tail: %s\n", rd_kafka_message_errstr(msg));
        rd_kafka_message_destroy(msg);
        continue;
      }
      if (count_reached) {
        rd_kafka_message_destroy(msg);
        continue;
      }
      if (!first) first = received;
      last = received;
      ++messages;
      bytes += msg->len;
      if (latency) {
        int64_t origin = OriginTimestamp(msg, parser, buffer);
        if (origin > 0) {
          receive_latency.push_back(received_ms - origin);
          rd_kafka_timestamp_type_t type;
          int64_t ts = rd_kafka_message_timestamp(msg, &type);
          if (ts > 0) kafka_latency.push_back(ts - origin);
        }
      }
      if (!quiet) {
        if (raw) {
          if (keys) {
            std::fwrite(msg->key, 1, msg->key ? msg->key_len : 0, stdout);
            std::fputc('\t', stdout);
          }
          std::fwrite(msg->payload, 1, msg->payload ? msg->len : 0, stdout);
          std::fputc('\n', stdout);
        } else {
          PrintReadable(msg, parser, buffer);
        }
      }
      if (*count > 0 && messages >= static_cast<uint64_t>(*count)) count_reached = true;
      rd_kafka_message_destroy(msg);
    }
    if (!quiet) std::fflush(stdout);
    if (count_reached) break;
  }
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk->get());

  const double elapsed = SecondsSince(start);
  const double span = first && last ? std::chrono::duration<double>(*last - *first).count() : 0.0;
  std::fprintf(stderr,
               "steppewatch tail: %llu messages (%.1f MB) in %.2f s (%.2f s first to last: "
               "%.0f msg/s), %llu errors\n",
               static_cast<unsigned long long>(messages), bytes / 1e6, elapsed, span,
               span > 0 ? messages / span : 0.0, static_cast<unsigned long long>(errors));
  if (args.Has("summary-json")) {
    std::fprintf(quiet || raw ? stdout : stderr,
                 "{\"messages\":%llu,\"bytes\":%llu,\"elapsed_seconds\":%.3f,"
                 "\"first_to_last_seconds\":%.3f,\"errors\":%llu,\"receive_latency_ms\":%s,"
                 "\"kafka_timestamp_latency_ms\":%s}\n",
                 static_cast<unsigned long long>(messages), static_cast<unsigned long long>(bytes),
                 elapsed, span, static_cast<unsigned long long>(errors),
                 Percentiles(receive_latency).c_str(), Percentiles(kafka_latency).c_str());
    std::fflush(stdout);
  }
  if (*count > 0 && !count_reached) return 1;
  return 0;
}

// Prints the usage to stdout when the arguments asked for help (after they parsed: a typo next
// to --help is still an error); returns whether it did.
bool PrintedHelp(const Args& args, std::string_view usage) {
  if (!args.help) return false;
  std::printf("usage: %.*s\n", static_cast<int>(usage.size()), usage.data());
  return true;
}

}  // namespace

int RunBrokerCommand(int argc, char** argv) {
  absl::StatusOr<Args> args =
      ParseArgs(argc, argv, {"topics", "partitions", "brokers", "control-fifo"}, {});
  if (!args.ok()) return UsageError("broker", args.status(), kBrokerUsage);
  if (PrintedHelp(*args, kBrokerUsage)) return 0;
  return RunBroker(*args);
}

int RunFeedCommand(int argc, char** argv) {
  absl::StatusOr<Args> args = ParseArgs(
      argc, argv,
      {"brokers", "topic", "rate", "repeat", "linger-ms", "id-field", "property", "flush-timeout"},
      {"keep-ids", "quiet"});
  if (!args.ok()) return UsageError("feed", args.status(), kFeedUsage);
  if (PrintedHelp(*args, kFeedUsage)) return 0;
  return RunFeed(*args);
}

int RunTailCommand(int argc, char** argv) {
  absl::StatusOr<Args> args =
      ParseArgs(argc, argv, {"brokers", "topic", "group", "count", "timeout", "idle", "property"},
                {"raw", "keys", "from-beginning", "quiet", "latency", "summary-json"});
  if (!args.ok()) return UsageError("tail", args.status(), kTailUsage);
  if (PrintedHelp(*args, kTailUsage)) return 0;
  return RunTail(*args);
}

}  // namespace steppewatch::cli

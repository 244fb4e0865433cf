// `steppewatch broker`: a Kafka-protocol broker (librdkafka's mock cluster) in its own process,
// with fault injection through control commands on a FIFO. See kafka_commands.h.
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cli/kafka_tool_support.h"
#include "steppewatch/cli/kafka_commands.h"
#include "steppewatch/common/status_macros.h"
#include "steppewatch/common/strings.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/embedded_broker.h"

namespace steppewatch::cli {
namespace {

using strings::EqualsIgnoreCase;
using strings::ParseInt;
using strings::Split;
using strings::SplitOnce;
using strings::Trim;

constexpr std::string_view kBrokerUsage =
    "steppewatch broker [--topics NAME[:PARTITIONS],...] [--partitions N] [--brokers N]\n"
    "                          [--control-fifo PATH]\n"
    "  Runs a Kafka-protocol broker (librdkafka mock cluster) until SIGTERM/SIGINT and prints\n"
    "  \"bootstrap: HOST:PORT\". Control commands, one per line on the FIFO:\n"
    "    down ID | up ID | rtt ID MS | errors API COUNT ERROR | clear API |\n"
    "    broker-errors ID API COUNT ERROR [RTT_MS] | error-count ID API (prints what is left) |\n"
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
  } else if (cmd == "broker-errors") {
    // Per-broker errors can be counted while they last (error-count), so a test can prove its
    // requests really failed. They take precedence over the cluster's: in librdkafka 2.0.2 a
    // broker's stack for an API, once pushed, hides the cluster's for that API even when empty.
    std::optional<int16_t> api = w.size() >= 5 ? ParseApiKey(w[2]) : std::nullopt;
    std::optional<rd_kafka_resp_err_t> err = w.size() >= 5 ? ParseError(w[4]) : std::nullopt;
    SW_ASSIGN_OR_RETURN(int64_t id, int_at(1));
    SW_ASSIGN_OR_RETURN(int64_t count, int_at(3));
    int64_t rtt_ms = 0;
    if (w.size() == 6) {
      SW_ASSIGN_OR_RETURN(rtt_ms, int_at(5));
    }
    if (!api || !err || w.size() > 6 || count <= 0 || count > 100000) {
      return absl::InvalidArgumentError("broker-errors ID API COUNT ERROR [RTT_MS]");
    }
    for (int64_t i = 0; i < count; ++i) {
      SW_RETURN_IF_ERROR(check(rd_kafka_mock_broker_push_request_error_rtts(
          mc, static_cast<int32_t>(id), *api, 1, *err, static_cast<int>(rtt_ms))));
    }
  } else if (cmd == "error-count") {
    std::optional<int16_t> api = w.size() == 3 ? ParseApiKey(w[2]) : std::nullopt;
    SW_ASSIGN_OR_RETURN(int64_t id, int_at(1));
    if (!api) return absl::InvalidArgumentError("error-count ID API");
    size_t left = 0;
    SW_RETURN_IF_ERROR(
        check(rd_kafka_mock_broker_error_stack_cnt(mc, static_cast<int32_t>(id), *api, &left)));
    return absl::StrCat("ok ", std::string(line), " ", left);
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
  if (*partitions < 1 || *brokers < 1 || !args.positional().empty()) {
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

}  // namespace

int RunBrokerCommand(int argc, char** argv) {
  absl::StatusOr<Args> args =
      ParseArgs(argc, argv, {"topics", "partitions", "brokers", "control-fifo"}, {});
  if (!args.ok()) return UsageError("broker", args.status(), kBrokerUsage);
  if (PrintedHelp(*args, kBrokerUsage)) return 0;
  return RunBroker(*args);
}

}  // namespace steppewatch::cli

// `steppewatch feed`: NDJSON items into a topic, keyed by item id. See kafka_commands.h.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cli/kafka_tool_support.h"
#include "simdjson.h"
#include "steppewatch/cli/kafka_commands.h"
#include "steppewatch/common/strings.h"
#include "steppewatch/kafka/client.h"

namespace steppewatch::cli {
namespace {

using strings::Split;
using strings::Trim;

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
  if (!brokers || !topic || args.positional().size() != 1 || *repeat < 1 || *rate < 0) {
    return UsageError("feed", absl::InvalidArgumentError("want --brokers, --topic and one FILE"),
                      kFeedUsage);
  }
  const bool keep_ids = args.Has("keep-ids");
  const std::string id_field = args.Get("id-field").value_or("id");
  const bool quiet = args.Has("quiet");

  absl::StatusOr<std::string> input = ReadInput(args.positional()[0]);
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
  absl::StatusOr<int> partitions = kafka::PartitionCount(rk->get(), *topic, 10000);
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
  for (int64_t r = 0; r < *repeat && !StopRequested(); ++r) {
    for (std::string_view line : lines) {
      if (StopRequested()) break;
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
  return failed == 0 && !StopRequested() ? 0 : 1;
}

}  // namespace

int RunFeedCommand(int argc, char** argv) {
  absl::StatusOr<Args> args = ParseArgs(
      argc, argv,
      {"brokers", "topic", "rate", "repeat", "linger-ms", "id-field", "property", "flush-timeout"},
      {"keep-ids", "quiet"});
  if (!args.ok()) return UsageError("feed", args.status(), kFeedUsage);
  if (PrintedHelp(*args, kFeedUsage)) return 0;
  return RunFeed(*args);
}

}  // namespace steppewatch::cli

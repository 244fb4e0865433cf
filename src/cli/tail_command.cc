// `steppewatch tail`: alerts and dead letters from topics, for people or for measurements. See
// kafka_commands.h.
//
// The one place in the Kafka tools where speed matters is `tail --quiet`, the pass-through
// baseline of the end-to-end benchmark (benchmarks/e2e/): it reads in batches from the consumer
// queue and touches nothing but the message length, so it measures what the broker and
// librdkafka can deliver to a consumer that does no work.
#include <librdkafka/rdkafka.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/kafka_tool_support.h"
#include "simdjson.h"
#include "steppewatch/cli/kafka_commands.h"
#include "steppewatch/common/clock.h"
#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/common/strings.h"
#include "steppewatch/kafka/allocator.h"
#include "steppewatch/kafka/client.h"

namespace steppewatch::cli {
namespace {

using strings::Split;
using strings::Trim;

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
  if (!brokers || !topic_list || !args.positional().empty()) {
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

  // The daemon's malloc settings (steppewatch/kafka/allocator.h): a reader of a backlog faults
  // its fetch buffers in afresh without them. Before the client starts its threads.
  kafka::TuneAllocator();
  // Consumer settings of a fast reader: a prefetch queue of over a second of what it reads
  // (~0.6 M items/s of 0.8 KB on the 2-core VM; librdkafka 2.0.2 backs off a full second when
  // it fills; fetch.queue.backoff.ms came only in 2.2), a short fetch wait so
  // that latency measurements are not dominated by the broker holding a fetch, and a short
  // session timeout because the mock cluster's first group join waits 3 s.
  absl::StatusOr<kafka::ClientHandle> rk = NewCommandClient(
      RD_KAFKA_CONSUMER,
      {{"bootstrap.servers", *brokers},
       {"group.id", group.value_or(absl::StrCat("steppewatch-tail-", getpid(), "-", WallMillis()))},
       {"enable.auto.commit", group ? "true" : "false"},
       {"auto.offset.reset", from_beginning ? "earliest" : "latest"},
       {"partition.assignment.strategy", "range,roundrobin"},
       {"session.timeout.ms", "6000"},
       {"queued.max.messages.kbytes", "524288"},
       {"queued.min.messages", "1000000"},
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
    absl::StatusOr<int> n = kafka::PartitionCount(rk->get(), t, 10000);
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
  while (!StopRequested()) {
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
    const int64_t received_ms = latency ? WallMillis() : 0;
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

}  // namespace

int RunTailCommand(int argc, char** argv) {
  absl::StatusOr<Args> args =
      ParseArgs(argc, argv, {"brokers", "topic", "group", "count", "timeout", "idle", "property"},
                {"raw", "keys", "from-beginning", "quiet", "latency", "summary-json"});
  if (!args.ok()) return UsageError("tail", args.status(), kTailUsage);
  if (PrintedHelp(*args, kTailUsage)) return 0;
  return RunTail(*args);
}

}  // namespace steppewatch::cli

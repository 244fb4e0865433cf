// DemoFeed (see demo.h).
#include "steppewatch/daemon/demo.h"

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "simdjson.h"
#include "steppewatch/common/log.h"

namespace steppewatch::daemon {
namespace {

constexpr char kLog[] = "demo";

rd_kafka_t* NewClient(rd_kafka_type_t type,
                      const std::vector<std::pair<std::string, std::string>>& props,
                      std::string* error) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      *error = err;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof(err));
  if (rk == nullptr) {
    *error = err;
    rd_kafka_conf_destroy(conf);
  }
  return rk;
}

std::string ItemId(std::string_view line, size_t index) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(line.data(), line.size());
  simdjson::ondemand::document doc;
  std::string_view id;
  if (parser.iterate(padded).get(doc) == simdjson::SUCCESS &&
      doc["id"].get_string().get(id) == simdjson::SUCCESS) {
    return std::string(id);
  }
  return "demo-line-" + std::to_string(index + 1);
}

}  // namespace

std::string FormatAlertLine(std::string_view topic, std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::element root;
  auto raw = [&] {
    std::string s(json.substr(0, 300));
    return log::Cat("ALERT ", topic, " ", s);
  };
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return raw();
  // Missing fields print as empty: the line is for people, the JSON stays on the topic.
  std::string_view title, lang, url;
  if (root["item"]["title"].get(title) != simdjson::SUCCESS) title = {};
  if (root["item"]["lang"].get(lang) != simdjson::SUCCESS) lang = {};
  if (root["item"]["url"].get(url) != simdjson::SUCCESS) url = {};
  std::string rules;
  // The alert's highest severity: its top-level "severity", or the highest of its rules' (for
  // alerts written before the body carried it), never just the first rule's.
  static constexpr std::string_view kOrder[] = {"info", "low", "medium", "high", "critical"};
  auto rank = [](std::string_view s) {
    for (int i = 0; i < 5; ++i) {
      if (kOrder[i] == s) return i;
    }
    return -1;
  };
  std::string severity;
  std::string_view top;
  if (root["severity"].get(top) == simdjson::SUCCESS) severity = top;
  simdjson::dom::array matches;
  if (root["matches"].get(matches) == simdjson::SUCCESS) {
    for (simdjson::dom::element m : matches) {
      std::string_view rule, sev;
      if (m["rule"].get(rule) == simdjson::SUCCESS) {
        if (!rules.empty()) rules += ", ";
        rules.append(rule);
      }
      if (top.empty() && m["severity"].get(sev) == simdjson::SUCCESS &&
          rank(sev) > rank(severity)) {
        severity = sev;
      }
    }
  }
  if (rules.empty()) return raw();
  std::string line = log::Cat("ALERT [", severity.empty() ? "-" : severity, "] ", rules, "\n      ",
                              lang.empty() ? "" : "(", lang, lang.empty() ? "" : ") ", title);
  if (!url.empty()) line += log::Cat("\n      ", url, "  -> ", topic);
  return line;
}

absl::StatusOr<std::unique_ptr<DemoFeed>> DemoFeed::Create(DemoOptions options,
                                                           const pipeline::Stats* stats) {
  std::ifstream in(options.items_file);
  if (!in) return absl::NotFoundError(log::Cat("demo: cannot read ", options.items_file));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(std::move(line));
  }
  if (lines.empty())
    return absl::InvalidArgumentError(log::Cat("demo: ", options.items_file, " has no items"));
  return std::unique_ptr<DemoFeed>(new DemoFeed(std::move(options), stats, std::move(lines)));
}

DemoFeed::~DemoFeed() {
  stop_.store(true);
  if (reader_.joinable()) reader_.join();
}

absl::Status DemoFeed::Start() {
  processed_before_ = stats_->Snapshot().items_processed;
  reader_ = std::thread([this] { ReadAlerts(); });
  std::string error;
  rd_kafka_t* rk = NewClient(
      RD_KAFKA_PRODUCER, {{"bootstrap.servers", options_.bootstrap}, {"log_level", "3"}}, &error);
  if (rk == nullptr) return absl::InternalError(log::Cat("demo producer: ", error));
  for (size_t i = 0; i < lines_.size(); ++i) {
    // Keyed by item id, so the items spread over the partitions (and the workers).
    const std::string key = ItemId(lines_[i], i);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(options_.input_topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(lines_[i].data()), lines_[i].size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_destroy(rk);
      return absl::InternalError(log::Cat("demo produce: ", rd_kafka_err2str(err)));
    }
  }
  // 30 s: a local mock broker acks ~40 items in milliseconds; this only bounds a broken setup.
  rd_kafka_resp_err_t err = rd_kafka_flush(rk, 30000);
  rd_kafka_destroy(rk);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InternalError(log::Cat("demo produce flush: ", rd_kafka_err2str(err)));
  }
  std::printf("steppewatchd: demo: produced %zu items to %s; alerts follow\n", lines_.size(),
              options_.input_topic.c_str());
  std::fflush(stdout);
  return absl::OkStatus();
}

bool DemoFeed::Done() const {
  const pipeline::StatsSnapshot s = stats_->Snapshot();
  if (s.items_processed < processed_before_ + lines_.size() || s.in_flight_items != 0) {
    return false;
  }
  uint64_t delivered = 0;
  for (const auto& t : s.produced_by_topic) {
    for (const std::string& a : options_.alert_topics) {
      if (t.name == a) delivered += t.messages;
    }
  }
  return printed_.load() >= delivered;
}

void DemoFeed::ReadAlerts() {
  std::string error;
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER,
                             {{"bootstrap.servers", options_.bootstrap},
                              {"group.id", "steppewatchd-demo"},
                              {"enable.auto.commit", "false"},
                              {"log_level", "3"}},
                             &error);
  if (rk == nullptr) {
    SW_LOG(kError, kLog, "alert reader: ", error);
    return;
  }
  // Assigned directly (no group join): reads from the beginning at once.
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
  for (const std::string& topic : options_.alert_topics) {
    for (int p = 0; p < options_.partitions; ++p) {
      rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  while (!stop_.load()) {
    // 200 ms: how long the destructor may wait for this thread.
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->payload != nullptr) {
      const std::string line =
          FormatAlertLine(rd_kafka_topic_name(m->rkt),
                          std::string_view(static_cast<const char*>(m->payload), m->len));
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
      printed_.fetch_add(1);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

}  // namespace steppewatch::daemon

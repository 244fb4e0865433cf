// DemoFeed (see demo.h).
#include "steppewatch/daemon/demo.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

#include "simdjson.h"
#include "steppewatch/common/log.h"
#include "steppewatch/daemon/component_options.h"
#include "steppewatch/kafka/client.h"
#include "steppewatch/kafka/log_route.h"

namespace steppewatch::daemon {
namespace {

constexpr char kLog[] = "demo";

// A demo client through the client layer, with librdkafka's own defaults (a feed and a reader,
// not the daemon's clients).
absl::StatusOr<kafka::ClientHandle> NewClient(rd_kafka_type_t type, kafka::PropertyMap props,
                                              const char* what) {
  kafka::ClientSpec spec;
  spec.type = type;
  spec.properties = std::move(props);
  spec.what = what;
  return kafka::NewClient(spec);
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

std::string FormatStoryLine(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return {};
  simdjson::dom::element story;
  bool is_new = true;
  if (root["story"].get(story) != simdjson::SUCCESS ||
      story["new"].get(is_new) != simdjson::SUCCESS || is_new) {
    return {};
  }
  std::string_view id, item, title;
  uint64_t copies = 0, sources = 0;
  if (story["id"].get(id) != simdjson::SUCCESS) id = {};
  if (story["copies"].get(copies) != simdjson::SUCCESS) copies = 0;
  if (story["sources"].get(sources) != simdjson::SUCCESS) sources = 0;
  if (root["item"]["id"].get(item) != simdjson::SUCCESS) item = {};
  if (root["item"]["title"].get(title) != simdjson::SUCCESS) title = {};
  return log::Cat("STORY ", item, " is copy ", copies, " of story ", id, " (", sources,
                  " sources): ", title);
}

std::string FormatSpikeLine(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json.data(), json.size());
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) {
    return log::Cat("SPIKE ", json.substr(0, 300));
  }
  std::string_view state, scope, name;
  uint64_t stories = 0;
  double expected = 0;
  bool confirmed = false;
  if (root["state"].get(state) != simdjson::SUCCESS) state = {};
  if (root["scope"].get(scope) != simdjson::SUCCESS) scope = {};
  if (root["name"].get(name) != simdjson::SUCCESS) name = {};
  if (root["stories"].get(stories) != simdjson::SUCCESS) stories = 0;
  if (root["expected"].get(expected) != simdjson::SUCCESS) expected = 0;
  if (root["confirmed"].get(confirmed) != simdjson::SUCCESS) confirmed = false;
  std::string languages;
  simdjson::dom::array langs;
  if (root["languages"].get(langs) == simdjson::SUCCESS) {
    for (simdjson::dom::element l : langs) {
      std::string_view code;
      if (l.get(code) != simdjson::SUCCESS) continue;
      if (!languages.empty()) languages += ",";
      languages.append(code);
    }
  }
  char expected_text[32];
  std::snprintf(expected_text, sizeof(expected_text), "%.1f", expected);
  return log::Cat("SPIKE ", state, " ", scope, " ", name, ": ", stories, " new stories (expected ",
                  expected_text, "), languages ", languages, confirmed ? ", confirmed" : "");
}

std::vector<std::string> ShiftPublishedAt(const std::vector<std::string>& lines, absl::Time now) {
  constexpr std::string_view kKey = "\"published_at\"";
  // Finds the value of "published_at" in a line: [begin, end) of the time text, or npos.
  auto locate = [&](const std::string& line, size_t* begin, size_t* end) {
    size_t k = line.find(kKey);
    if (k == std::string::npos) return false;
    size_t q = line.find('"', line.find(':', k + kKey.size()) + 1);
    if (q == std::string::npos) return false;
    size_t e = line.find('"', q + 1);
    if (e == std::string::npos) return false;
    *begin = q + 1;
    *end = e;
    return true;
  };
  absl::Time newest = absl::InfinitePast();
  for (const std::string& line : lines) {
    size_t b, e;
    absl::Time t;
    std::string err;
    if (locate(line, &b, &e) &&
        absl::ParseTime(absl::RFC3339_full, line.substr(b, e - b), &t, &err)) {
      newest = std::max(newest, t);
    }
  }
  if (newest == absl::InfinitePast()) return lines;
  const absl::Duration shift = now - newest;
  std::vector<std::string> out;
  out.reserve(lines.size());
  for (const std::string& line : lines) {
    size_t b, e;
    absl::Time t;
    std::string err;
    if (!locate(line, &b, &e) ||
        !absl::ParseTime(absl::RFC3339_full, line.substr(b, e - b), &t, &err)) {
      out.push_back(line);
      continue;
    }
    out.push_back(line.substr(0, b) +
                  absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t + shift, absl::UTCTimeZone()) +
                  line.substr(e));
  }
  return out;
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
  if (options.stories != nullptr) lines = ShiftPublishedAt(lines, absl::Now());
  return std::unique_ptr<DemoFeed>(new DemoFeed(std::move(options), stats, std::move(lines)));
}

DemoFeed::~DemoFeed() {
  stop_.store(true);
  if (reader_.joinable()) reader_.join();
}

absl::Status DemoFeed::Start() {
  processed_before_ = stats_->Snapshot().items_processed;
  reader_ = std::thread([this] { ReadAlerts(); });
  absl::StatusOr<kafka::ClientHandle> client =
      NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", options_.bootstrap}, {"log_level", "3"}},
                "demo producer");
  if (!client.ok()) return client.status();
  rd_kafka_t* rk = client->get();
  for (size_t i = 0; i < lines_.size(); ++i) {
    // Keyed by item id, so the items spread over the partitions (and the workers).
    const std::string key = ItemId(lines_[i], i);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(options_.input_topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(lines_[i].data()), lines_[i].size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY | RD_KAFKA_MSG_F_BLOCK), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(log::Cat("demo produce: ", rd_kafka_err2str(err)));
    }
  }
  // 30 s: a local mock broker acks ~40 items in milliseconds; this only bounds a broken setup.
  rd_kafka_resp_err_t err = rd_kafka_flush(rk, 30000);
  client->reset();
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
  if (printed_.load() < delivered) return false;
  if (options_.stories == nullptr) return true;
  // The role read every alert, delivered everything it published for them, and that was read
  // here. Without the middle check the demo ended while the role's enriched alerts were still
  // in its producer's queue (published_alerts 0, so "all printed"), and the README's demo
  // showed no story under load or with a longer linger.ms.
  const kafka::StoriesRoleCounters& c = options_.stories->counters();
  if (c.consumed.load(std::memory_order_acquire) < delivered) return false;
  if (options_.stories->outputs_in_flight() != 0) return false;
  return stories_printed_.load() >= c.published_alerts.load() &&
         spikes_printed_.load() >= c.published_spikes.load();
}

void DemoFeed::ReadAlerts() {
  absl::StatusOr<kafka::ClientHandle> client = NewClient(RD_KAFKA_CONSUMER,
                                                         {{"bootstrap.servers", options_.bootstrap},
                                                          {"group.id", "steppewatchd-demo"},
                                                          {"enable.auto.commit", "false"},
                                                          {"log_level", "3"}},
                                                         "demo alert reader");
  if (!client.ok()) {
    SW_LOG(kError, kLog, client.status());
    return;
  }
  rd_kafka_t* rk = client->get();
  // Assigned directly (no group join): reads from the beginning at once.
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(16);
  // The alert topics have the embedded broker's partitions; the stories role's outputs one
  // each (EmbeddedBrokerOptionsFrom), read in the order the stage wrote them.
  std::vector<std::pair<std::string, int>> topics;
  for (const std::string& t : options_.alert_topics) topics.emplace_back(t, options_.partitions);
  if (options_.stories != nullptr) {
    topics.emplace_back(options_.stories_topic, kEmbeddedStoriesPartitions);
    topics.emplace_back(options_.spikes_topic, kEmbeddedStoriesPartitions);
  }
  for (const auto& [topic, partitions] : topics) {
    for (int p = 0; p < partitions; ++p) {
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
      const std::string_view topic = rd_kafka_topic_name(m->rkt);
      const std::string_view json(static_cast<const char*>(m->payload), m->len);
      if (options_.stories != nullptr && topic == options_.stories_topic) {
        const std::string line = FormatStoryLine(json);
        if (!line.empty()) std::printf("%s\n", line.c_str());
        stories_printed_.fetch_add(1);
      } else if (options_.stories != nullptr && topic == options_.spikes_topic) {
        std::printf("%s\n", FormatSpikeLine(json).c_str());
        spikes_printed_.fetch_add(1);
      } else {
        std::printf("%s\n", FormatAlertLine(topic, json).c_str());
        printed_.fetch_add(1);
      }
      std::fflush(stdout);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
}

}  // namespace steppewatch::daemon

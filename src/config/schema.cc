// The table of configuration keys (see schema.h) and the checks of their values.
#include "steppewatch/config/schema.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <type_traits>

#include "config/internal.h"
#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/decode/news_item.h"

namespace steppewatch::config {
namespace {

template <FieldType T>
struct CppTypeOf;
template <>
struct CppTypeOf<FieldType::kString> {
  using type = std::string;
};
template <>
struct CppTypeOf<FieldType::kBool> {
  using type = bool;
};
template <>
struct CppTypeOf<FieldType::kInt> {
  using type = int;
};
template <>
struct CppTypeOf<FieldType::kInt64> {
  using type = int64_t;
};
template <>
struct CppTypeOf<FieldType::kSize> {
  using type = size_t;
};
template <>
struct CppTypeOf<FieldType::kDouble> {
  using type = double;
};
template <>
struct CppTypeOf<FieldType::kList> {
  using type = std::vector<std::string>;
};
template <>
struct CppTypeOf<FieldType::kProperties> {
  using type = PropertyMap;
};

// One row: the member's C++ type must be the one of the declared FieldType (checked at compile
// time), so a row cannot read a member as the wrong type.
#define SW_FIELD(path, kind, member, env, secret, help, check)                  \
  Field {                                                                       \
    path, FieldType::kind, env, secret, help,                                   \
        [](DaemonConfig& c) -> void* {                                          \
          static_assert(std::is_same_v<std::remove_cvref_t<decltype(c.member)>, \
                                       CppTypeOf<FieldType::kind>::type>,       \
                        "the member's type does not match the field type");     \
          return &c.member;                                                     \
        },                                                                      \
        check                                                                   \
  }

using Check = void (*)(const DaemonConfig&, Problems&);
constexpr Check kNoCheck = nullptr;

// A check that the string member is not empty.
#define SW_NOT_EMPTY(member)                                 \
  [](const DaemonConfig& c, Problems& p) {                   \
    if (Trim(c.member).empty()) p.Fail("must not be empty"); \
  }

void CheckProperties(const PropertyMap& map, std::string_view section, Problems& p) {
  for (const auto& [key, value] : map) {
    const auto& refused = RefusedKafkaProperties();
    if (std::find(refused.begin(), refused.end(), key) == refused.end()) continue;
    p.Fail(Cat(section, ".", key),
           key == "bootstrap.servers" || key == "group.id" || key == "client.id" ||
                   key == "group.instance.id"
               ? "set by kafka.brokers, kafka.group_id, kafka.client_id or kafka.instance_id; "
                 "use those"
               : "cannot be overridden: steppewatch's at-least-once delivery depends on it");
  }
}

void CheckOutputTopic(const DaemonConfig& c, const std::string& topic, Problems& p) {
  if (topic.empty()) return p.Fail("must not be empty");
  // Writing outputs into an input topic would feed them back as items, forever.
  const auto& in = c.kafka.input_topics;
  if (std::find(in.begin(), in.end(), topic) != in.end()) {
    p.Fail("must not be one of kafka.input_topics");
  }
}

}  // namespace

const std::vector<Field>& ConfigFields() {
  static const std::
      vector<Field>
          kFields =
              {
                  SW_FIELD("instance", kString, instance, "STEPPEWATCH_INSTANCE", false,
                           "names this instance in alerts and logs; empty = the host name",
                           SW_NOT_EMPTY(instance)),
                  SW_FIELD("roles", kList, roles, "STEPPEWATCH_ROLES", false,
                           "what this process runs: match (items -> alerts), stories (alerts -> "
                           "stories and spikes), or both",
                           [](const DaemonConfig& c, Problems& p) {
                             if (c.roles.empty()) return p.Fail("needs match, stories or both");
                             std::set<std::string> seen;
                             for (const std::string& r : c.roles) {
                               if (r != "match" && r != "stories") {
                                 p.Fail(Cat("'", r, "' is not match or stories"));
                               } else if (!seen.insert(r).second) {
                                 p.Fail(Cat("'", r, "' is listed twice"));
                               }
                             }
                           }),
                  // --- kafka ---
                  SW_FIELD("kafka.brokers", kString, kafka.brokers, "STEPPEWATCH_KAFKA_BROKERS",
                           false,
                           "bootstrap.servers, or \"embedded\" for an in-process mock cluster",
                           SW_NOT_EMPTY(kafka.brokers)),
                  SW_FIELD("kafka.group_id", kString, kafka.group_id, "STEPPEWATCH_KAFKA_GROUP_ID",
                           false, "consumer group shared by the instances",
                           SW_NOT_EMPTY(kafka.group_id)),
                  SW_FIELD("kafka.client_id", kString, kafka.client_id,
                           "STEPPEWATCH_KAFKA_CLIENT_ID", false, "client.id of both clients",
                           SW_NOT_EMPTY(kafka.client_id)),
                  SW_FIELD("kafka.instance_id", kString, kafka.instance_id,
                           "STEPPEWATCH_KAFKA_INSTANCE_ID", false,
                           "group.instance.id (static membership: fast recovery); stable and "
                           "unique per instance; empty = dynamic membership",
                           [](const DaemonConfig& c, Problems& p) {
                             // The broker compares ids byte for byte: a stray space would make
                             // two "same" ids differ.
                             if (c.kafka.instance_id != Trim(c.kafka.instance_id)) {
                               p.Fail("must not start or end with white space");
                             }
                           }),
                  SW_FIELD("kafka.input_topics", kList, kafka.input_topics,
                           "STEPPEWATCH_KAFKA_INPUT_TOPICS", false, "topics of JSON news items",
                           [](const DaemonConfig& c, Problems& p) {
                             if (c.kafka.input_topics.empty())
                               return p.Fail("needs at least one topic");
                             std::set<std::string> seen;
                             for (const std::string& t : c.kafka.input_topics) {
                               if (t.empty()) {
                                 p.Fail("a topic name is empty");
                               } else if (!seen.insert(t).second) {
                                 p.Fail(Cat("'", t, "' is listed twice"));
                               }
                             }
                           }),
                  SW_FIELD("kafka.dead_letter_topic", kString, kafka.dead_letter_topic,
                           "STEPPEWATCH_KAFKA_DEAD_LETTER_TOPIC", false,
                           "where undecodable items go, with the reason in headers",
                           [](const DaemonConfig& c, Problems& p) {
                             CheckOutputTopic(c, c.kafka.dead_letter_topic, p);
                           }),
                  SW_FIELD("kafka.default_alert_topic", kString, kafka.default_alert_topic,
                           "STEPPEWATCH_KAFKA_DEFAULT_ALERT_TOPIC", false,
                           "alert topic of rules and packs that name none",
                           [](const DaemonConfig& c, Problems& p) {
                             CheckOutputTopic(c, c.kafka.default_alert_topic, p);
                           }),
                  SW_FIELD("kafka.common", kProperties, kafka.common, "", false,
                           "librdkafka properties of both clients",
                           [](const DaemonConfig& c, Problems& p) {
                             CheckProperties(c.kafka.common, "kafka.common", p);
                           }),
                  SW_FIELD("kafka.consumer", kProperties, kafka.consumer, "", false,
                           "librdkafka properties of the consumer",
                           [](const DaemonConfig& c, Problems& p) {
                             CheckProperties(c.kafka.consumer, "kafka.consumer", p);
                           }),
                  SW_FIELD("kafka.producer", kProperties, kafka.producer, "", false,
                           "librdkafka properties of the producer",
                           [](const DaemonConfig& c, Problems& p) {
                             CheckProperties(c.kafka.producer, "kafka.producer", p);
                           }),
                  SW_FIELD("kafka.embedded.partitions", kInt, kafka.embedded.partitions, "", false,
                           "partitions of each topic of the embedded cluster",
                           // The mock cluster's limit is far higher; 10000 only catches typos that
                           // would exhaust memory.
                           [](const DaemonConfig& c, Problems& p) {
                             const int n = c.kafka.embedded.partitions;
                             if (n < 1 || n > 10000) p.Fail("must be in [1, 10000]");
                           }),
                  SW_FIELD("kafka.embedded.topics", kList, kafka.embedded.topics, "", false,
                           "more topics created by the embedded cluster",
                           [](const DaemonConfig& c, Problems& p) {
                             for (const std::string& t : c.kafka.embedded.topics) {
                               if (t.empty()) p.Fail("a topic name is empty");
                             }
                           }),
                  // --- decoder ---
                  SW_FIELD("decoder.fields.id", kString, decoder.options.fields.id, "", false,
                           "JSON path of the item id", kNoCheck),
                  SW_FIELD("decoder.fields.title", kString, decoder.options.fields.title, "", false,
                           "JSON path of the title", kNoCheck),
                  SW_FIELD("decoder.fields.body", kString, decoder.options.fields.body, "", false,
                           "JSON path of the body", kNoCheck),
                  SW_FIELD("decoder.fields.url", kString, decoder.options.fields.url, "", false,
                           "JSON path of the url", kNoCheck),
                  SW_FIELD("decoder.fields.source", kString, decoder.options.fields.source, "",
                           false, "JSON path of the source", kNoCheck),
                  SW_FIELD("decoder.fields.lang", kString, decoder.options.fields.lang, "", false,
                           "JSON path of the language code", kNoCheck),
                  SW_FIELD("decoder.fields.published_at", kString,
                           decoder.options.fields.published_at, "", false,
                           "JSON path of the publication time", kNoCheck),
                  SW_FIELD("decoder.max_item_bytes", kSize, decoder.options.max_item_bytes,
                           "STEPPEWATCH_DECODER_MAX_ITEM_BYTES", false,
                           "larger items are dead-lettered",
                           [](const DaemonConfig& c, Problems& p) {
                             // The decoder checks its field paths and limits itself: ask it.
                             if (auto d = decode::ItemDecoder::Create(c.decoder.options); !d.ok()) {
                               p.Fail("decoder", std::string(Msg(d.status())));
                             }
                             // 1 GiB: far above any news item and what a worker's buffers should
                             // ever hold.
                             if (c.decoder.options.max_item_bytes > (size_t{1} << 30)) {
                               p.Fail("must be at most 1073741824 (1 GiB)");
                             }
                           }),
                  // --- rules ---
                  SW_FIELD("rules.dir", kString, rules.dir, "STEPPEWATCH_RULES_DIR", false,
                           "the rule pack directory", SW_NOT_EMPTY(rules.dir)),
                  SW_FIELD("rules.reload_on_change", kBool, rules.reload_on_change,
                           "STEPPEWATCH_RULES_RELOAD_ON_CHANGE", false,
                           "reload when the directory changes (SIGHUP always reloads)", kNoCheck),
                  SW_FIELD("rules.reload_gate_sample", kString, rules.reload_gate_sample, "", false,
                           "JSONL items replayed through the old and new pack on reload", kNoCheck),
                  SW_FIELD("rules.cache_dir", kString, rules.cache_dir,
                           "STEPPEWATCH_RULES_CACHE_DIR", false,
                           "compiled-database cache (writable)", SW_NOT_EMPTY(rules.cache_dir)),
                  // --- pipeline ---
                  SW_FIELD("pipeline.workers", kInt, pipeline.workers,
                           "STEPPEWATCH_PIPELINE_WORKERS", false,
                           "worker threads; 0 = one per core",
                           // 1024 threads is far beyond any machine this runs on; more is a typo.
                           [](const DaemonConfig& c, Problems& p) {
                             if (c.pipeline.workers < 0 || c.pipeline.workers > 1024) {
                               p.Fail("must be in [0, 1024] (0 = one per core)");
                             }
                           }),
                  SW_FIELD("pipeline.max_in_flight_items", kInt64, pipeline.max_in_flight_items, "",
                           false, "items in flight before the consumer pauses",
                           [](const DaemonConfig& c, Problems& p) {
                             if (c.pipeline.max_in_flight_items < 1) p.Fail("must be >= 1");
                           }),
                  SW_FIELD(
                      "pipeline.max_in_flight_bytes", kInt64, pipeline.max_in_flight_bytes, "",
                      false, "payload bytes in flight before the consumer pauses",
                      [](const DaemonConfig& c, Problems& p) {
                        if (c.pipeline.max_in_flight_bytes <
                            static_cast<int64_t>(c.decoder.options.max_item_bytes)) {
                          p.Fail(
                              "must be >= decoder.max_item_bytes, or a maximal item could never be "
                              "admitted");
                        }
                      }),
                  SW_FIELD("pipeline.resume_fraction", kDouble, pipeline.resume_fraction, "", false,
                           "resume below this fraction of both limits",
                           [](const DaemonConfig& c, Problems& p) {
                             const double f = c.pipeline.resume_fraction;
                             if (!(f > 0 && f < 1)) p.Fail("must be in (0, 1): the low watermark");
                           }),
                  SW_FIELD("pipeline.shutdown_budget_seconds", kDouble,
                           pipeline.shutdown_budget_seconds, "", false,
                           "time in-flight items may take to finish on stop",
                           // One hour: beyond it a supervisor's stop timeout has long killed the
                           // process.
                           [](const DaemonConfig& c, Problems& p) {
                             const double s = c.pipeline.shutdown_budget_seconds;
                             if (!(s > 0 && s <= 3600)) p.Fail("must be in (0, 3600]");
                           }),
                  SW_FIELD("pipeline.max_hits_per_item", kInt, pipeline.max_hits_per_item, "",
                           false, "hits kept per item; beyond it the item is marked truncated",
                           [](const DaemonConfig& c, Problems& p) {
                             if (c.pipeline.max_hits_per_item < 1) p.Fail("must be >= 1");
                           }),
                  // --- metrics ---
                  SW_FIELD("metrics.listen", kString, metrics.listen, "STEPPEWATCH_METRICS_LISTEN",
                           false, "host:port of /metrics, /healthz and /readyz",
                           [](const DaemonConfig& c, Problems& p) {
                             std::string host;
                             int port = 0;
                             if (!ParseListen(c.metrics.listen, &host, &port)) {
                               p.Fail(Cat("'", c.metrics.listen,
                                          "' is not host:port (e.g. 127.0.0.1:9464, [::1]:9464)"));
                             }
                           }),
                  SW_FIELD("metrics.per_rule_label", kBool, metrics.per_rule_label, "", false,
                           "label steppewatch_rule_matches_total with the rule id", kNoCheck),
                  SW_FIELD(
                      "metrics.basic_auth.user", kString, metrics.basic_auth.user,
                      "STEPPEWATCH_METRICS_BASIC_AUTH_USER", false, "user of /metrics' basic auth",
                      [](const DaemonConfig& c, Problems& p) {
                        if (c.metrics.basic_auth.user.empty() !=
                            c.metrics.basic_auth.password.empty()) {
                          p.Fail("metrics.basic_auth",
                                 "give both user and password (or password_file), or neither");
                        }
                      }),
                  SW_FIELD("metrics.basic_auth.password", kString, metrics.basic_auth.password,
                           "STEPPEWATCH_METRICS_BASIC_AUTH_PASSWORD", true,
                           "password of /metrics' basic auth (use password_file)", kNoCheck),
                  // --- log ---
                  SW_FIELD("alerts.hits", kString, alerts.hits, "STEPPEWATCH_ALERTS_HITS", false,
                           "full (up to 32 hits per rule) | compact (one per distinct term, at "
                           "most 8 per rule, shorter snippets)",
                           [](const DaemonConfig& c, Problems& p) {
                             if (c.alerts.hits != "full" && c.alerts.hits != "compact") {
                               p.Fail(Cat("'", c.alerts.hits, "' is not full or compact"));
                             }
                           }),
                  SW_FIELD("log.level", kString, log.level, "STEPPEWATCH_LOG_LEVEL", false,
                           "debug | info | warning | error",
                           [](const DaemonConfig& c, Problems& p) {
                             const std::string& l = c.log.level;
                             if (l != "debug" && l != "info" && l != "warning" && l != "error") {
                               p.Fail(Cat("'", l, "' is not debug, info, warning or error"));
                             }
                           }),
                  SW_FIELD("log.format", kString, log.format, "STEPPEWATCH_LOG_FORMAT", false,
                           "text | json (one JSON object per line)",
                           [](const DaemonConfig& c, Problems& p) {
                             if (c.log.format != "text" && c.log.format != "json") {
                               p.Fail(Cat("'", c.log.format, "' is not text or json"));
                             }
                           }),
                  // --- stories (the stories role) ---
                  SW_FIELD("stories.group_id", kString, stories.group_id,
                           "STEPPEWATCH_STORIES_GROUP_ID", false,
                           "consumer group of the stories instances (never the matchers')",
                           SW_NOT_EMPTY(stories.group_id)),
                  SW_FIELD("stories.input_topics", kList, stories.input_topics,
                           "STEPPEWATCH_STORIES_INPUT_TOPICS", false,
                           "alert topics to read; empty = the rule pack's topics", kNoCheck),
                  SW_FIELD("stories.topic", kString, stories.topic, "STEPPEWATCH_STORIES_TOPIC",
                           false, "every alert again with its story", SW_NOT_EMPTY(stories.topic)),
                  SW_FIELD("stories.spikes_topic", kString, stories.spikes_topic,
                           "STEPPEWATCH_STORIES_SPIKES_TOPIC", false,
                           "spike events (steppewatch.spike.v1)",
                           SW_NOT_EMPTY(stories.spikes_topic)),
                  SW_FIELD("stories.lease_topic", kString, stories.lease_topic,
                           "STEPPEWATCH_STORIES_LEASE_TOPIC", false,
                           "one-partition topic whose holder is the active instance",
                           SW_NOT_EMPTY(stories.lease_topic)),
                  SW_FIELD("stories.window_hours", kDouble, stories.window_hours, "", false,
                           "how long a story takes copies (and is kept)",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(c.stories.window_hours >= 1.0 / 60 &&
                                   c.stories.window_hours <= 24 * 31)) {
                               p.Fail("must be in [1.0 / 60, 24 * 31] hours");
                             }
                           }),
                  SW_FIELD("stories.bucket_minutes", kDouble, stories.bucket_minutes, "", false,
                           "counting bucket of new stories",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(c.stories.bucket_minutes >= 1.0 / 60 &&
                                   c.stories.bucket_minutes <= 24 * 60)) {
                               p.Fail("must be in [1.0 / 60, 24 * 60] minutes");
                             }
                           }),
                  SW_FIELD(
                      "stories.spike_window_minutes", kDouble, stories.spike_window_minutes, "",
                      false, "trailing window a spike is judged on (whole buckets)",
                      [](const DaemonConfig& c, Problems& p) {
                        const int64_t bucket = StoriesMilliseconds(c.stories.bucket_minutes);
                        const int64_t window = StoriesMilliseconds(c.stories.spike_window_minutes);
                        if (bucket <= 0) return;  // stories.bucket_minutes reports it
                        if (window < bucket || window > 1024 * bucket || window % bucket != 0) {
                          p.Fail(
                              Cat("must be a whole number of buckets (stories."
                                  "bucket_minutes: ",
                                  c.stories.bucket_minutes, "), from 1 to 1024"));
                        }
                      }),
                  SW_FIELD("stories.warmup_days", kInt, stories.warmup_days, "", false,
                           "days of history before any spike",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(c.stories.warmup_days >= 0 && c.stories.warmup_days <= 365)) {
                               p.Fail("must be in [0, 365]");
                             }
                           }),
                  SW_FIELD("stories.baseline_hours", kDouble, stories.baseline_hours, "", false,
                           "time constant of each key's baseline",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(StoriesMilliseconds(c.stories.baseline_hours * 60) >=
                                   StoriesMilliseconds(c.stories.bucket_minutes))) {
                               p.Fail(Cat("must be at least one bucket (stories.bucket_minutes: ",
                                          c.stories.bucket_minutes, ")"));
                             }
                           }),
                  SW_FIELD(
                      "stories.min_stories", kInt, stories.min_stories, "", false,
                      "fewest new stories in the spike window for a spike",
                      [](const DaemonConfig& c, Problems& p) {
                        if (!(c.stories.min_stories >= 1 && c.stories.min_stories <= 1000000)) {
                          p.Fail("must be in [1, 1000000]");
                        }
                      }),
                  SW_FIELD("stories.baseline_floor", kDouble, stories.baseline_floor, "", false,
                           "smallest expected count a sparse key is judged against",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(c.stories.baseline_floor > 0)) p.Fail("must be > 0");
                           }),
                  SW_FIELD("stories.alpha", kDouble, stories.alpha, "", false,
                           "Poisson upper-tail probability below which a count spikes",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(c.stories.alpha > 0 && c.stories.alpha < 0.5)) {
                               p.Fail("must be in (0, 0.5)");
                             }
                           }),
                  SW_FIELD("stories.top_story_ids", kInt, stories.top_story_ids, "", false,
                           "story ids listed in a spike event",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(c.stories.top_story_ids >= 0 &&
                                   c.stories.top_story_ids <= 100)) {
                               p.Fail("must be in [0, 100]");
                             }
                           }),
                  SW_FIELD("stories.max_keys", kInt, stories.max_keys, "", false,
                           "rules and tags tracked for spikes",
                           [](const DaemonConfig& c, Problems& p) {
                             if (!(c.stories.max_keys >= 1 && c.stories.max_keys <= 10000000)) {
                               p.Fail("must be in [1, 10000000]");
                             }
                           }),
              };
  return kFields;
}

#undef SW_FIELD
#undef SW_NOT_EMPTY

const Field* FindField(std::string_view path) {
  for (const Field& f : ConfigFields()) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

const std::vector<PropertyEnv>& PropertyEnvs() {
  static const std::vector<PropertyEnv> kList = {
      {"STEPPEWATCH_KAFKA_SECURITY_PROTOCOL", "kafka.common", "security.protocol"},
      {"STEPPEWATCH_KAFKA_SASL_MECHANISM", "kafka.common", "sasl.mechanism"},
      {"STEPPEWATCH_KAFKA_SASL_USERNAME", "kafka.common", "sasl.username"},
      {"STEPPEWATCH_KAFKA_SASL_PASSWORD", "kafka.common", "sasl.password"},
      {"STEPPEWATCH_KAFKA_SSL_CA_LOCATION", "kafka.common", "ssl.ca.location"},
  };
  return kList;
}

std::vector<Problem> CheckFields(const DaemonConfig& config) {
  std::vector<Problem> out;
  Problems problems(&out);
  for (const Field& f : ConfigFields()) {
    if (f.check == nullptr) continue;
    problems.set_current(f.path);
    f.check(config, problems);
  }
  return out;
}

std::string FieldValueText(const Field& field, const DaemonConfig& c) {
  switch (field.type) {
    case FieldType::kString: {
      const std::string& v = field.Get<std::string>(c);
      return field.secret && !v.empty() ? std::string(kRedacted) : v;
    }
    case FieldType::kBool:
      return field.Get<bool>(c) ? "true" : "false";
    case FieldType::kInt:
      return std::to_string(field.Get<int>(c));
    case FieldType::kInt64:
      return std::to_string(field.Get<int64_t>(c));
    case FieldType::kSize:
      return std::to_string(field.Get<size_t>(c));
    case FieldType::kDouble: {
      std::string s = std::to_string(field.Get<double>(c));
      while (s.size() > 1 && s.back() == '0') s.pop_back();
      if (!s.empty() && s.back() == '.') s.pop_back();
      return s;
    }
    case FieldType::kList:
      return Join(field.Get<std::vector<std::string>>(c), ",");
    case FieldType::kProperties: {
      std::vector<std::string> parts;
      for (const auto& [k, v] : field.Get<PropertyMap>(c)) {
        parts.push_back(Cat(k, "=", IsSecretKey(k) ? kRedacted : std::string_view(v)));
      }
      return Join(parts, ",");
    }
  }
  return {};
}

std::string_view NearestName(std::string_view name,
                             const std::vector<std::string_view>& candidates) {
  // Up to 3 edits (a dropped 'S', a swapped pair and one more) still reads as a typo.
  return ::steppewatch::Nearest(name, candidates, 3);
}

}  // namespace steppewatch::config

namespace steppewatch::config {

bool DecoderConfig::operator==(const DecoderConfig& other) const {
  const decode::FieldPaths& a = options.fields;
  const decode::FieldPaths& b = other.options.fields;
  return options.max_item_bytes == other.options.max_item_bytes && a.id == b.id &&
         a.title == b.title && a.body == b.body && a.url == b.url && a.source == b.source &&
         a.lang == b.lang && a.published_at == b.published_at;
}

}  // namespace steppewatch::config

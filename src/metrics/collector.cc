#include "steppewatch/metrics/collector.h"

#include <limits>
#include <memory>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "metrics/families.h"
#include "prometheus/text_serializer.h"
#include "steppewatch/common/log.h"
#include "steppewatch/decode/news_item.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::metrics {
namespace {

using internal::AddCounter;
using internal::AddGauge;
using internal::AppendSingle;
using internal::MakeFamily;
using prometheus::MetricFamily;
using prometheus::MetricType;

void AppendHistogram(std::vector<MetricFamily>* out, std::string_view name, std::string_view help,
                     const pipeline::HistogramSnapshot& h) {
  MetricFamily family = MakeFamily(name, help, MetricType::Histogram);
  prometheus::ClientMetric& metric = internal::AddSample(&family, {});
  metric.histogram.sample_count = h.count;
  metric.histogram.sample_sum = h.sum_seconds;
  metric.histogram.bucket.reserve(h.cumulative_counts.size());
  for (size_t i = 0; i < h.cumulative_counts.size(); ++i) {
    // prometheus-cpp serializes the buckets it is given: the last one (+Inf) must be explicit.
    const double bound =
        i < h.upper_bounds.size() ? h.upper_bounds[i] : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back({h.cumulative_counts[i], bound});
  }
  out->push_back(std::move(family));
}

void AppendTopics(std::vector<MetricFamily>* out,
                  const std::vector<pipeline::StatsSnapshot::Topic>& topics,
                  std::string_view skip_topic, std::string_view messages_name,
                  std::string_view messages_help, std::string_view second_name,
                  std::string_view second_help, bool second_is_failed) {
  MetricFamily messages = MakeFamily(messages_name, messages_help, MetricType::Counter);
  MetricFamily second = MakeFamily(second_name, second_help, MetricType::Counter);
  for (const pipeline::StatsSnapshot::Topic& topic : topics) {
    if (!skip_topic.empty() && topic.name == skip_topic) continue;
    AddCounter(&messages, {{"topic", topic.name}}, static_cast<double>(topic.messages));
    AddCounter(&second, {{"topic", topic.name}},
               static_cast<double>(second_is_failed ? topic.failed : topic.bytes));
  }
  out->push_back(std::move(messages));
  out->push_back(std::move(second));
}

void AppendByReason(std::vector<MetricFamily>* out, std::string_view name, std::string_view help,
                    const std::array<uint64_t, pipeline::kDeadLetterReasonCount>& counts) {
  MetricFamily family = MakeFamily(name, help, MetricType::Counter);
  for (size_t i = 0; i < counts.size(); ++i) {
    AddCounter(&family, {{"reason", pipeline::kDeadLetterReasons[i]}},
               static_cast<double>(counts[i]));
  }
  out->push_back(std::move(family));
}

// Decode failures are the dead letters whose reason is a decode::DecodeError name: every item
// that fails to decode is dead-lettered with that reason (item_processor.h).
void AppendDecodeFailures(std::vector<MetricFamily>* out, const pipeline::StatsSnapshot& snapshot) {
  MetricFamily family =
      MakeFamily("steppewatch_decode_failures_total",
                 "Items that could not be decoded, by reason (each is also a dead letter).",
                 MetricType::Counter);
  for (int e = 1; e < decode::kDecodeErrorCount; ++e) {
    const std::string_view reason = decode::DecodeErrorName(static_cast<decode::DecodeError>(e));
    const size_t index = pipeline::DeadLetterReasonIndex(reason);
    AddCounter(&family, {{"reason", reason}},
               static_cast<double>(snapshot.dead_letters_by_reason[index]));
  }
  out->push_back(std::move(family));
}

void AppendRuleMatches(std::vector<MetricFamily>* out, const pipeline::StatsSnapshot& snapshot,
                       const rules::CompiledPack* current, bool per_rule_labels) {
  MetricFamily family = MakeFamily(
      "steppewatch_rule_matches_total",
      per_rule_labels
          ? "Items matched by each rule of the running pack (restarts at each reload)."
          : "Items matched by the rules of the running pack, by severity (restarts at each "
            "reload).",
      MetricType::Counter);
  // The counts belong to the snapshot's pack (the newest one a worker uses); before any worker
  // has taken a pack, the running pack's rules are shown at 0 so the series exist from the start.
  const rules::CompiledPack* counted = snapshot.rule_pack.get();
  const rules::CompiledPack* pack = counted != nullptr ? counted : current;
  if (pack != nullptr) {
    std::array<double, rules::kSeverityCount> by_severity{};
    const std::vector<rules::Rule>& rules = pack->rules();
    for (size_t i = 0; i < rules.size(); ++i) {
      if (!rules[i].enabled) continue;  // a disabled rule never fires: no series for it
      const double count = counted != nullptr && i < snapshot.rule_matches.size()
                               ? static_cast<double>(snapshot.rule_matches[i])
                               : 0.0;
      if (per_rule_labels) {
        AddCounter(&family,
                   {{"rule", rules[i].id}, {"severity", rules::SeverityName(rules[i].severity)}},
                   count);
      } else {
        by_severity[static_cast<size_t>(rules[i].severity)] += count;
      }
    }
    if (!per_rule_labels) {
      for (int s = 0; s < rules::kSeverityCount; ++s) {
        AddCounter(&family, {{"severity", rules::SeverityName(static_cast<rules::Severity>(s))}},
                   by_severity[s]);
      }
    }
  }
  out->push_back(std::move(family));
}

void AppendPack(std::vector<MetricFamily>* out, const rules::CompiledPack* pack) {
  if (pack == nullptr) return;
  MetricFamily info =
      MakeFamily("steppewatch_rule_pack_info",
                 "The running rule pack: name, version and content hash as labels; always 1.",
                 MetricType::Gauge);
  AddGauge(
      &info,
      {{"name", pack->info().name}, {"version", pack->info().version}, {"hash", pack->info().hash}},
      1);
  out->push_back(std::move(info));
  AppendSingle(out, "steppewatch_rules_loaded", "Enabled rules in the running pack.",
               MetricType::Gauge, static_cast<double>(pack->stats().enabled_rules));
  AppendSingle(out, "steppewatch_rule_pack_terms",
               "Distinct terms compiled into the running pack's matcher.", MetricType::Gauge,
               static_cast<double>(pack->stats().terms));
}

void AppendReloads(std::vector<MetricFamily>* out, const ReloadSnapshot& reloads) {
  MetricFamily family = MakeFamily(
      "steppewatch_rule_reloads_total",
      "Rule pack reload attempts, by result (failure keeps the old pack; unchanged: same hash).",
      MetricType::Counter);
  AddCounter(&family, {{"result", "success"}}, static_cast<double>(reloads.success));
  AddCounter(&family, {{"result", "failure"}}, static_cast<double>(reloads.failure));
  AddCounter(&family, {{"result", "unchanged"}}, static_cast<double>(reloads.unchanged));
  out->push_back(std::move(family));
  AppendSingle(out, "steppewatch_rule_reload_last_success_timestamp_seconds",
               "Unix time of the last successful rule pack install (0: none since start-up).",
               MetricType::Gauge, reloads.last_success_unix_seconds);
  AppendSingle(out, "steppewatch_rule_reload_duration_seconds",
               "Duration of the last reload attempt: load, compile and embedded tests.",
               MetricType::Gauge, reloads.last_duration_seconds);
  AppendSingle(out, "steppewatch_rules_last_reload_success",
               "1 when the last reload attempt left the pack on disk running (installed or "
               "unchanged; 1 before any attempt), 0 while the last attempt was refused.",
               MetricType::Gauge, reloads.last_ok ? 1 : 0);
  AppendSingle(out, "steppewatch_rules_last_reload_timestamp_seconds",
               "Unix time of the last reload attempt, whatever its result (0: none yet).",
               MetricType::Gauge, reloads.last_attempt_unix_seconds);
  AppendSingle(out, "steppewatch_rules_watch_active",
               "1 while the rules directory is watched for changes (rules.reload_on_change), 0 "
               "when watching is off or the directory is gone.",
               MetricType::Gauge, reloads.watch_active ? 1 : 0);
}

}  // namespace

std::vector<MetricFamily> StatsCollector::Collect() const {
  std::vector<MetricFamily> out =
      Build(sources_.stats->Snapshot(), pipeline::Stats::SteadyNowNanos());
  if (sources_.kafka_clients) AppendKafkaClients(sources_.kafka_clients(), &out);
  return out;
}

void StatsCollector::AppendKafkaClients(const kafka::ClientStatisticsSnapshot& k,
                                        std::vector<MetricFamily>* out) {
  // Per broker connection of each client, over librdkafka's statistics window (5 s). A broker
  // that answered nothing in the window has no rtt sample (no made-up zero).
  MetricFamily rtt_avg =
      MakeFamily("steppewatch_kafka_broker_rtt_avg_seconds",
                 "Mean request round-trip time to the broker, per client (consumer/producer).",
                 MetricType::Gauge);
  MetricFamily rtt_p99 = MakeFamily("steppewatch_kafka_broker_rtt_p99_seconds",
                                    "99th percentile of the request round-trip time to the broker, "
                                    "per client (consumer/producer).",
                                    MetricType::Gauge);
  MetricFamily throttle = MakeFamily(
      "steppewatch_kafka_broker_throttle_max_seconds",
      "Longest throttle the broker imposed (quotas) in the last statistics window, per client.",
      MetricType::Gauge);
  for (const kafka::BrokerStatistics& b : k.brokers) {
    if (b.rtt_avg_seconds >= 0) {
      AddGauge(&rtt_avg, {{"client", b.client}, {"broker", b.broker}}, b.rtt_avg_seconds);
      AddGauge(&rtt_p99, {{"client", b.client}, {"broker", b.broker}}, b.rtt_p99_seconds);
    }
    if (b.throttle_max_seconds >= 0) {
      AddGauge(&throttle, {{"client", b.client}, {"broker", b.broker}}, b.throttle_max_seconds);
    }
  }
  out->push_back(std::move(rtt_avg));
  out->push_back(std::move(rtt_p99));
  out->push_back(std::move(throttle));
  if (k.producer_queue_messages >= 0) {
    AppendSingle(out, "steppewatch_producer_queue_messages",
                 "Alerts and dead letters in the producer's queues, not yet acknowledged.",
                 MetricType::Gauge, static_cast<double>(k.producer_queue_messages));
    AppendSingle(out, "steppewatch_producer_queue_bytes",
                 "Payload bytes of the messages in the producer's queues.", MetricType::Gauge,
                 static_cast<double>(k.producer_queue_bytes));
  }
  MetricFamily lag = MakeFamily("steppewatch_consumer_lag_seconds",
                                "0 when the assigned partition is caught up, else the age of the "
                                "last item consumed from it: how long its oldest unread item has "
                                "waited, at most.",
                                MetricType::Gauge);
  for (const kafka::PartitionLagSeconds& l : k.lag_seconds) {
    AddGauge(&lag, {{"topic", l.topic}, {"partition", absl::StrCat(l.partition)}}, l.seconds);
  }
  out->push_back(std::move(lag));
  AppendSingle(out, "steppewatch_producer_recoveries_total",
               "Fatal producer errors recovered in process (a new producer took over and the "
               "unacknowledged messages were produced again).",
               MetricType::Counter, static_cast<double>(k.producer_recoveries));
}

std::vector<MetricFamily> StatsCollector::Build(const pipeline::StatsSnapshot& s,
                                                int64_t now_steady_ns) const {
  std::vector<MetricFamily> out;
  out.reserve(48);  // about the number of families below: one allocation per scrape

  // Input.
  AppendTopics(&out, s.consumed_by_topic, "", "steppewatch_items_consumed_total",
               "Items consumed, by input topic.", "steppewatch_consumed_bytes_total",
               "Payload bytes consumed, by input topic.", /*second_is_failed=*/false);
  AppendSingle(&out, "steppewatch_consume_errors_total",
               "Consumer errors other than end of partition.", MetricType::Counter,
               static_cast<double>(s.consume_errors));

  // Work.
  AppendSingle(&out, "steppewatch_items_processed_total",
               "Items the workers finished, whatever the outcome.", MetricType::Counter,
               static_cast<double>(s.items_processed));
  AppendSingle(&out, "steppewatch_items_matched_total", "Items that produced at least one alert.",
               MetricType::Counter, static_cast<double>(s.items_matched));
  AppendSingle(&out, "steppewatch_scanned_bytes_total",
               "Bytes of item text scanned by the matcher.", MetricType::Counter,
               static_cast<double>(s.bytes_scanned));
  AppendSingle(&out, "steppewatch_term_hits_total", "Term hits found by the matcher.",
               MetricType::Counter, static_cast<double>(s.hits));
  AppendHistogram(&out, "steppewatch_item_processing_seconds",
                  "Time a worker spends on one item: decode, match, rules and render.",
                  s.processing_time);
  AppendHistogram(&out, "steppewatch_item_match_seconds",
                  "Time the matcher spends scanning one item (part of the processing time).",
                  s.match_time);

  // Rules.
  std::shared_ptr<const rules::CompiledPack> current;
  if (sources_.packs != nullptr) current = sources_.packs->Get();
  AppendRuleMatches(&out, s, current.get(), options_.per_rule_labels);
  AppendPack(&out, current.get());
  if (sources_.reloads) AppendReloads(&out, sources_.reloads());

  // Output.
  AppendTopics(&out, s.produced_by_topic, options_.dead_letter_topic,
               "steppewatch_alerts_produced_total",
               "Alerts delivered (acknowledged by the broker), by alert topic.",
               "steppewatch_alerts_failed_total",
               "Alerts whose delivery failed after the producer's retries, by alert topic.",
               /*second_is_failed=*/true);
  AppendByReason(&out, "steppewatch_dead_letters_total",
                 "Items routed to the dead-letter topic, by reason.", s.dead_letters_by_reason);
  AppendByReason(&out, "steppewatch_dead_letters_produced_total",
                 "Dead letters delivered (acknowledged by the broker), by reason.",
                 s.dead_letters_produced_by_reason);
  uint64_t dead_letter_failures = 0;
  for (const pipeline::StatsSnapshot::Topic& topic : s.produced_by_topic) {
    if (topic.name == options_.dead_letter_topic) dead_letter_failures += topic.failed;
  }
  AppendSingle(&out, "steppewatch_dead_letters_failed_total",
               "Dead letters whose delivery failed after the producer's retries.",
               MetricType::Counter, static_cast<double>(dead_letter_failures));
  AppendDecodeFailures(&out, s);
  AppendSingle(&out, "steppewatch_produce_retries_total",
               "Messages produced again after a failed delivery (at-least-once).",
               MetricType::Counter, static_cast<double>(s.produce_retries));
  AppendHistogram(&out, "steppewatch_item_consume_age_seconds",
                  "Age of an item when the daemon receives it (wall clock minus its Kafka "
                  "timestamp): the part of the end-to-end latency spent before steppewatch.",
                  s.consume_age);
  AppendHistogram(&out, "steppewatch_item_queue_wait_seconds",
                  "Time an item waits between the consumer thread and a worker.", s.queue_wait);
  AppendHistogram(&out, "steppewatch_end_to_end_latency_seconds",
                  "From the item's Kafka timestamp to the delivery of its last alert.",
                  s.end_to_end_latency);

  // Kafka client state.
  MetricFamily lag =
      MakeFamily("steppewatch_consumer_lag_messages",
                 "Messages between the partition's high watermark and the consumer's position, per "
                 "assigned partition (from librdkafka statistics).",
                 MetricType::Gauge);
  MetricFamily lag_stored =
      MakeFamily("steppewatch_consumer_lag_stored_messages",
                 "Messages between the partition's high watermark and the last stored offset "
                 "(what a restart would re-read), per assigned partition.",
                 MetricType::Gauge);
  for (const pipeline::PartitionLag& p : s.consumer_lag) {
    const std::string partition = absl::StrCat(p.partition);
    // -1 is librdkafka's "not known yet": no sample beats a made-up one.
    if (p.consumer_lag >= 0) {
      AddGauge(&lag, {{"topic", p.topic}, {"partition", partition}},
               static_cast<double>(p.consumer_lag));
    }
    if (p.consumer_lag_stored >= 0) {
      AddGauge(&lag_stored, {{"topic", p.topic}, {"partition", partition}},
               static_cast<double>(p.consumer_lag_stored));
    }
  }
  out.push_back(std::move(lag));
  out.push_back(std::move(lag_stored));
  AppendSingle(&out, "steppewatch_assigned_partitions", "Input partitions assigned to this member.",
               MetricType::Gauge, static_cast<double>(s.assigned_partitions));
  AppendSingle(&out, "steppewatch_paused_partitions", "Input partitions paused for backpressure.",
               MetricType::Gauge, static_cast<double>(s.paused_partitions));
  MetricFamily unstarted = MakeFamily(
      "steppewatch_unstarted_partitions",
      "Assigned partitions whose fetcher the consumer has not seen started yet, by consumer role "
      "(a few for seconds after each assignment; one that stays is not fetched).",
      MetricType::Gauge);
  MetricFamily restarts = MakeFamily(
      "steppewatch_partition_fetch_restarts_total",
      "Fetch restarts (without a rebalance) of assigned partitions that had not started, by "
      "consumer role.",
      MetricType::Counter);
  for (size_t r = 0; r < pipeline::kConsumerRoleNames.size(); ++r) {
    const std::string role(pipeline::kConsumerRoleNames[r]);
    AddGauge(&unstarted, {{"role", role}}, static_cast<double>(s.unstarted_partitions_by_role[r]));
    AddCounter(&restarts, {{"role", role}}, static_cast<double>(s.fetch_restarts_by_role[r]));
  }
  out.push_back(std::move(unstarted));
  out.push_back(std::move(restarts));
  AppendSingle(&out, "steppewatch_backpressure_pauses_total",
               "Times the pipeline paused its input for backpressure.", MetricType::Counter,
               static_cast<double>(s.pauses));
  AppendSingle(&out, "steppewatch_in_flight_items",
               "Items consumed whose outputs are not all delivered yet.", MetricType::Gauge,
               static_cast<double>(s.in_flight_items));
  AppendSingle(&out, "steppewatch_in_flight_bytes", "Payload bytes of the in-flight items.",
               MetricType::Gauge, static_cast<double>(s.in_flight_bytes));
  MetricFamily rebalances =
      MakeFamily("steppewatch_rebalances_total", "Consumer group rebalance events, by kind.",
                 MetricType::Counter);
  for (size_t k = 0; k < pipeline::kRebalanceKindNames.size(); ++k) {
    AddCounter(&rebalances, {{"kind", pipeline::kRebalanceKindNames[k]}},
               static_cast<double>(s.rebalances_by_kind[k]));
  }
  out.push_back(std::move(rebalances));
  AppendSingle(&out, "steppewatch_brokers_down",
               "1 while librdkafka reports all brokers down, else 0.", MetricType::Gauge,
               s.all_brokers_down ? 1 : 0);
  AppendSingle(&out, "steppewatch_brokers_down_events_total",
               "Times librdkafka reported all brokers down.", MetricType::Counter,
               static_cast<double>(s.brokers_down_events));

  // Health, as the probes see it.
  AppendSingle(&out, "steppewatch_live", "1 when /healthz answers 200 (threads make progress).",
               MetricType::Gauge, EvaluateLiveness(s, now_steady_ns, options_.health).ok ? 1 : 0);
  AppendSingle(&out, "steppewatch_ready",
               "1 when /readyz answers 200 (able to consume: see steppewatch_ready_condition).",
               MetricType::Gauge, EvaluateReadiness(s, now_steady_ns, options_.health).ok ? 1 : 0);
  MetricFamily conditions = MakeFamily(
      "steppewatch_ready_condition",
      "Each condition of readiness: 1 when met (all 1 = /readyz answers 200).", MetricType::Gauge);
  const auto met = EvaluateReadyConditions(s, now_steady_ns, options_.health);
  for (size_t c = 0; c < met.size(); ++c) {
    AddGauge(&conditions, {{"condition", kReadyConditionNames[c]}}, met[c] ? 1 : 0);
  }
  out.push_back(std::move(conditions));
  AppendSingle(&out, "steppewatch_log_write_errors_total",
               "Log lines that could not be written (stderr closed or full, e.g. a log pipe "
               "whose reader went away).",
               MetricType::Counter, static_cast<double>(log::WriteErrors()));
  return out;
}

std::string RenderText(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace steppewatch::metrics

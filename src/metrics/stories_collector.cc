#include "steppewatch/metrics/stories_collector.h"

#include <string>
#include <utility>

#include "metrics/families.h"

namespace steppewatch::metrics {

using internal::AddCounter;
using internal::AddGauge;
using internal::AppendSingle;
using internal::MakeFamily;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::vector<MetricFamily> StoriesCollector::Collect() const {
  std::vector<MetricFamily> out;
  const kafka::StoriesRoleCounters& c = role_->counters();
  const stories::StageStats stage = role_->stage_stats();
  AppendSingle(&out, "steppewatch_stories_active",
               "1 while this instance holds the stories lease (reads every alert partition).",
               MetricType::Gauge, c.active.load() ? 1 : 0);
  AppendSingle(&out, "steppewatch_stories_replaying",
               "1 while the active instance replays the window from Kafka (nothing published).",
               MetricType::Gauge, c.replaying.load() ? 1 : 0);
  AppendSingle(&out, "steppewatch_stories_alerts_total",
               "Alerts read live by the stories stage (replayed ones not included).",
               MetricType::Counter, static_cast<double>(c.consumed.load()));
  AppendSingle(&out, "steppewatch_stories_replayed_total",
               "Alerts replayed to rebuild the window on becoming active.", MetricType::Counter,
               static_cast<double>(c.replayed.load()));
  AppendSingle(&out, "steppewatch_stories_published_total",
               "Enriched alerts delivered to the stories topic.", MetricType::Counter,
               static_cast<double>(c.published_alerts.load()));
  AppendSingle(&out, "steppewatch_stories_delivery_failures_total",
               "Failed deliveries of the stories stage (retried with backoff).",
               MetricType::Counter, static_cast<double>(c.delivery_failures.load()));
  AppendSingle(&out, "steppewatch_stories_input_paused",
               "1 while the stories stage's input is paused because too many of its outputs are "
               "undelivered (backpressure).",
               MetricType::Gauge, c.paused.load() ? 1 : 0);
  AppendSingle(&out, "steppewatch_stories_backpressure_pauses_total",
               "Times the stories stage paused its input because too many outputs were "
               "undelivered.",
               MetricType::Counter, static_cast<double>(c.pauses.load()));
  AppendSingle(&out, "steppewatch_stories_copies_total",
               "Alerts that joined an existing story (syndicated or repeated copies), since the "
               "last activation.",
               MetricType::Counter, static_cast<double>(stage.copies));
  AppendSingle(&out, "steppewatch_stories_rejected_total",
               "Alerts the stage could not use (invalid JSON, unknown schema, no item.id, no "
               "fingerprint, no usable time, or late: also in _late_total), since the last "
               "activation (replayed alerts included).",
               MetricType::Counter, static_cast<double>(stage.rejected));
  AppendSingle(&out, "steppewatch_stories_late_total",
               "Alerts older than the window (counted, not grouped), since the last activation.",
               MetricType::Counter, static_cast<double>(stage.late));
  AppendSingle(&out, "steppewatch_stories_undated_total",
               "Alerts without a usable published_at or Kafka timestamp, grouped at the stream's "
               "time and not counted for spikes, since the last activation.",
               MetricType::Counter, static_cast<double>(stage.undated));
  AppendSingle(&out, "steppewatch_stories_behind_spike_window_total",
               "New-story key counts more than the spike window behind the stage's clock, fed to "
               "the baselines only, since the last activation.",
               MetricType::Counter, static_cast<double>(stage.behind_spike_window));
  AppendSingle(&out, "steppewatch_stories_ahead_of_clock_total",
               "Alerts dated further ahead of the stage's clock than the stream's pace allows "
               "(a mis-dated item): the clock waited for another story to confirm the time, "
               "since the last activation.",
               MetricType::Counter, static_cast<double>(stage.ahead));
  AppendSingle(&out, "steppewatch_stories_clock_jumps_total",
               "Such times another story confirmed (the stream moved: the clock jumped), since "
               "the last activation.",
               MetricType::Counter, static_cast<double>(stage.clock_jumps));
  AppendSingle(&out, "steppewatch_stories_stream_holes_total",
               "Silences of the whole alert stream taken for holes in the data (more than two "
               "weeks and 50 times its usual gap between new stories): the spike baselines went "
               "on after each as before it, since the last activation.",
               MetricType::Counter, static_cast<double>(stage.stream_holes));
  AppendSingle(&out, "steppewatch_stories_window_stories", "Stories kept in the window.",
               MetricType::Gauge, static_cast<double>(stage.window_stories));
  AppendSingle(&out, "steppewatch_stories_memory_bytes",
               "Memory of the window's stories and the spike baselines.", MetricType::Gauge,
               static_cast<double>(stage.memory_bytes));
  AppendSingle(&out, "steppewatch_spikes_active", "Keys (rules, tags) with an active spike.",
               MetricType::Gauge, static_cast<double>(stage.active_spikes));
  AppendSingle(&out, "steppewatch_stories_spike_keys",
               "Keys (rules, tags) tracked for spikes (at most stories.max_keys).",
               MetricType::Gauge, static_cast<double>(stage.keys));
  AppendSingle(&out, "steppewatch_stories_untracked_key_counts_total",
               "New stories not counted for a key (rule, tag) because stories.max_keys keys "
               "were already tracked: such keys never spike. Since the last activation.",
               MetricType::Counter, static_cast<double>(stage.dropped_keys));

  MetricFamily news = MakeFamily("steppewatch_stories_new_total",
                                 "New stories (first copies) per rule and per tag, since the "
                                 "last activation.",
                                 MetricType::Counter);
  role_->ForEachKey([&news](std::string_view scope, std::string_view name, uint64_t n) {
    AddCounter(&news, {{"scope", scope}, {"name", name}}, static_cast<double>(n));
  });
  out.push_back(std::move(news));

  MetricFamily active = MakeFamily("steppewatch_spike_active",
                                   "1 while the key's spike is on (0 after it ended), per key "
                                   "that ever spiked; confirmed = stories in two or more "
                                   "languages.",
                                   MetricType::Gauge);
  MetricFamily events = MakeFamily("steppewatch_spike_events_total",
                                   "Spike events published, by key and state (start, update, "
                                   "end).",
                                   MetricType::Counter);
  for (const kafka::StoriesRole::SpikeKey& k : role_->spikes()) {
    AddGauge(&active,
             {{"scope", k.scope}, {"name", k.name}, {"confirmed", k.confirmed ? "true" : "false"}},
             k.active ? 1 : 0);
    for (const auto& [state, n] : k.events) {
      AddCounter(&events, {{"scope", k.scope}, {"name", k.name}, {"state", state}},
                 static_cast<double>(n));
    }
  }
  out.push_back(std::move(active));
  out.push_back(std::move(events));

  MetricFamily langs =
      MakeFamily("steppewatch_spike_starts_by_language_total",
                 "Spike starts per language among the spike's stories.", MetricType::Counter);
  for (const auto& [lang, n] : role_->spike_starts_by_language()) {
    AddCounter(&langs, {{"lang", lang}}, static_cast<double>(n));
  }
  out.push_back(std::move(langs));

  MetricFamily top = MakeFamily("steppewatch_story_copies",
                                "Copies of the stories with the most copies (at most 10, among "
                                "those that got a copy in the last 24 h); story = its first "
                                "item's id.",
                                MetricType::Gauge);
  for (const auto& [id, copies] : role_->top_stories()) {
    AddGauge(&top, {{"story", id}}, copies);
  }
  out.push_back(std::move(top));
  return out;
}

}  // namespace steppewatch::metrics

// StoriesStage: the stateful second stage, independent of Kafka, shared by the stories role of
// the daemon and by `steppewatch stories` (so an offline backtest is by construction what the
// stage publishes).
//
// For each alert (steppewatch.alert.v1 JSON with item.fingerprint) it
//   - assigns the item to a story: the story of the nearest fingerprint within
//     kNearDuplicateDistance seen inside the window, or a new story whose id is the item's id;
//   - renders the alert again with a "story" object {id, first_seen, copies, sources, languages,
//     new} (new = the story's first item) for the stories topic; the same item arriving again
//     (an alert per destination topic) is not a copy;
//   - counts NEW stories per rule and per tag in event-time buckets, keeps a trailing baseline
//     per key and emits steppewatch.spike.v1 events when a key starts, grows or ends a spike.
// Tick() moves time forward without an alert (a quiet key's spike must still end).
// ProcessBatch() is Process() over several alerts in order, with the same outputs and state, and
// faster: while one alert is handled the next ones' index buckets are already on their way from
// memory (a lookup in a window of millions of stories is otherwise two cache misses in a row).
//
// Rebuild: on start the daemon replays the window's alerts with Options replay = true on
// Process(): state is updated, nothing is rendered and no spike event is emitted.
//
// Threading: not thread-safe; one instance per consumer (the role runs it on one thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace steppewatch::stories {

inline constexpr std::string_view kSpikeSchema = "steppewatch.spike.v1";

struct StageOptions {
  // How long a story stays open for new copies (and is kept in memory).
  absl::Duration window = absl::Hours(72);
  // Spike detection settings (documented with their defaults in stage.cc and
  // config/rules/README.md, "Stories and spikes").
  absl::Duration bucket = absl::Minutes(10);
  absl::Duration spike_window = absl::Hours(2);
  // Days of history (since the first event the stage saw) before any key may spike.
  int warmup_days = 7;
  // Time constant of the trailing baseline: each key's exponentially weighted level (spread by
  // the hour-of-week profile of all new stories), its hour-of-day rhythm and its burstiness
  // (src/stories/spikes.h).
  absl::Duration baseline = absl::Hours(7 * 24);
  // Minimum new stories in spike_window for a spike, whatever the baseline.
  int min_stories = 5;
  // Smallest expected count (stories per spike_window) a sparse key is judged against.
  double baseline_floor = 0.5;
  // Upper-tail probability under the baseline below which a count is a spike.
  double alpha = 1e-4;
  // Maximum number of story ids listed in a spike event.
  int top_story_ids = 10;
  // Keys (rules + tags) tracked for spikes; a key past this never spikes, and each new story it
  // would have counted is counted in StageStats::dropped_keys.
  size_t max_keys = 10000;
  // When not empty, every output's "detected_at" is this instead of the current time (golden
  // tests, reproducible backtests).
  std::string fixed_now;
};

// How far back the stage should be replayed on start so that it is as it was: the window (for
// the stories) and the warmup (a stage replayed over less history does not raise spikes until
// warmup_days of stream time have passed). The baseline keeps learning from what it has: with
// less than its time constant of history it is noisier, not wrong. With the defaults this is 7
// days, Kafka's default retention; longer needs the alert topics' retention.ms raised to match.
absl::Duration ReplayHorizon(const StageOptions& options);

// What one call produced: views valid until the next call on the same stage.
struct StageOutput {
  // The enriched alert for the stories topic (empty in replay or when the alert was rejected).
  std::string_view alert;
  std::string_view key;  // the item id (the stories topic's message key)
  // The alert's story after this alert (set with `alert`): for the top-stories metric.
  std::string_view story_id;
  uint32_t story_copies = 0;
  // steppewatch.spike.v1 events to publish, in order (key: the spike's scope:name).
  struct Event {
    std::string_view key;
    std::string_view json;
  };
  std::vector<Event> spikes;
  // Set when the alert was not usable (unknown schema, no fingerprint, absurd time, ...): a
  // closed-set reason for metrics and a message for the log. The alert is then counted and
  // skipped, never a crash.
  // Reasons: "json", "schema", "no_id", "no_fingerprint", "no_time", "late" (older than the
  // window; also counted in StageStats::late).
  std::string_view rejected;
  std::string message;
};

// Counters and gauges for metrics (cumulative since Create unless said otherwise).
struct StageStats {
  uint64_t alerts = 0;
  uint64_t new_stories = 0;
  uint64_t copies = 0;    // alerts that joined an existing story
  uint64_t rejected = 0;  // every alert not grouped (late ones included)
  uint64_t late = 0;      // events older than the window, counted and not grouped
  // alerts without a usable published_at or Kafka timestamp (offline input of undated items),
  // grouped at the stream's time; their new stories are not counted for spikes
  uint64_t undated = 0;
  // key counts (one per key of a new story) more than the spike window behind the clock and
  // inside the story window: the story is grouped, and fed to its keys' baselines only, not to
  // a spike count
  uint64_t behind_spike_window = 0;
  // dated alerts further ahead of the clock than the stream's pace allows (one mis-dated item,
  // a feed's wrong time zone): grouped at their own time; the clock is not moved and their
  // new-story counts wait: at their time when another story confirms the jump or the clock
  // reaches it, at the stream's time when it was a mistake
  uint64_t ahead = 0;
  uint64_t clock_jumps = 0;  // such jumps confirmed by a second story (the clock then moved)
  // silences of the whole stream of more than two weeks and 50 times its mean gap between new
  // stories: holes in the data, after which the spike baselines went on as before (after more
  // than a year: history restarted)
  uint64_t stream_holes = 0;
  uint64_t spike_events = 0;
  size_t window_stories = 0;  // gauge
  size_t memory_bytes = 0;    // gauge: the window's and the baselines' memory
  size_t active_spikes = 0;   // gauge
  size_t keys = 0;            // gauge: keys (rules + tags) tracked
  // new stories not counted for a key because max_keys other keys were tracked (per key and
  // story: a key past the bound counts once for each of its new stories)
  uint64_t dropped_keys = 0;
  bool warm = false;  // gauge: enough history for spikes (warmup over)
  // gauge: the stage's event-time clock (the latest event time not doubted as ahead; -1 none)
  int64_t clock_ms = -1;
  int64_t pending_clock_ms = -1;  // gauge: a doubted time ahead of the clock (-1 none)
  // The index's whole-window events (StoryIndex::Events): arena packings, their total time, and
  // the 2 MiB arenas taken from the system.
  uint64_t index_packings = 0;
  uint64_t index_packing_ns = 0;
  uint64_t index_arenas_allocated = 0;
};

// One alert for ProcessBatch: the arguments of one Process call.
struct StageInput {
  std::string_view alert_json;
  int64_t kafka_timestamp_ms = -1;
};

class StoriesStage {
 public:
  static absl::StatusOr<std::unique_ptr<StoriesStage>> Create(const StageOptions& options);
  virtual ~StoriesStage() = default;

  // Processes one alert. `kafka_timestamp_ms` is the event time when the alert's
  // item.published_at is missing or not sane (-1: none); `replay` updates state only.
  virtual const StageOutput& Process(std::string_view alert_json, int64_t kafka_timestamp_ms,
                                     bool replay) = 0;
  // Processes `alerts` in order, exactly as one Process call each would, and returns one output
  // per alert (same order). The outputs and their views are valid until the next call on the
  // stage; the inputs' bytes must stay valid for this call only. A batch of 8-64 alerts gets
  // the speed-up; the stage keeps per-alert buffers for the largest batch it was given.
  virtual std::span<const StageOutput> ProcessBatch(std::span<const StageInput> alerts,
                                                    bool replay) = 0;
  // Advances the stage's clock to `now_ms` (event time) without an alert: closes buckets and
  // ends spikes that are over. Returns the spike events it produced.
  virtual const StageOutput& Tick(int64_t now_ms) = 0;

  virtual StageStats stats() const = 0;
  // New stories per key since Create, for the per-rule and per-tag metrics: calls `fn(scope,
  // name, count)` with scope "rule" or "tag".
  virtual void ForEachKey(const std::function<void(std::string_view scope, std::string_view name,
                                                   uint64_t)>& fn) const = 0;
};

}  // namespace steppewatch::stories

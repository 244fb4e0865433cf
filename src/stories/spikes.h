// SpikeDetector: counts new stories per key (a rule or a tag) in event-time buckets, keeps a
// trailing baseline per key and says when a key's count in the trailing spike window is
// improbably high against it (a spike): one event when it starts, updates while it grows, one
// when it ends. It knows stories only by sequence number; the stage renders the events.
//
// The baseline (what a key is expected to count in a spike window at time t):
//   expected = max(floor, rate_key * sum of shape(b) over the window's buckets)
//   - shape(b): the hour-of-week profile of all new stories (all keys together: dense enough to
//     learn, unlike one sparse key), each hour-of-week slot the mean of its last 4 weeks,
//     normalised to mean 1; flat (1) until every slot has been seen once. It carries the daily
//     and weekly rhythm of news (nights, weekends) into every key's baseline.
//   - rate_key: the key's new stories per unit of shape over the trailing baseline period
//     (exponentially weighted, time constant `baseline`), counting only buckets that left the
//     spike window (the burst being judged is not its own baseline), and counting a bucket that
//     was part of a spike as its expected value (past spikes stay out of the baseline).
//   - the key's own hour-of-day profile (its new stories per hour of the day, exponentially
//     weighted over days with the same time constant, spike buckets capped), scaled by the
//     day-of-week factor of all stories: a key with its own rhythm (Tokyo-hours stories of a
//     Japan rule) is judged against that rhythm. The expectation is the larger of the two.
//   - floor: sparse keys are judged against at least this many stories per window.
//   - the stream factor (since 2026-12-06): the expectation is scaled by how much denser than the
//     all-keys baseline the rest of the stream has been over the last hours (decayed sums, time
//     constant 6 h; the key's own stories of its spike window and its own expectation left out;
//     a prior of 20 stories; never below 1), so a key that only rises with the whole stream is no
//     spike.
// A spike ends when the window's count falls below half the threshold (hysteresis: a count
// hovering at the threshold does not start and end a spike every bucket).
// News is burstier than Poisson (earnings seasons, a desk filing twenty briefs in an hour), so
// each key also has a dispersion phi >= 1: the variance-to-mean ratio of its bucket counts over
// the same baseline period (spike buckets capped as above). The test is quasi-Poisson: a count c
// is a spike when P(Poisson(expected / phi) >= c / phi) < alpha and c >= min_stories; a key whose
// stories come one at a time (phi ~ 1) keeps the Poisson test, a bursty key needs a bigger burst.
// Spikes are raised only
// after `warmup` of history (since the first event). A silence of more than two weeks and 50
// times the stream's mean gap between new stories is missing data (an outage, an archive with a
// hole): the detector resumes after it with the baselines it had, nothing decayed over the hole
// (ResumeAfterHole), and for a baseline time constant scales every key's expectation by how much
// denser the whole stream is than its own baseline expected (volume_factor_); a hole of more
// than a year restarts history and its warmup.
//
// Memory: per key ~250 bytes plus 16 bytes per bucket of the spike window; keys are capped at
// max_keys (new keys beyond are counted in dropped_keys and not tracked).
//
// Not thread-safe; one per stage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace steppewatch::stories {

struct SpikeOptions {
  int64_t bucket_ms = 10 * 60 * 1000;
  int64_t spike_window_ms = 2 * 3600 * 1000;
  int64_t warmup_ms = 7 * 86400 * 1000LL;
  int64_t baseline_ms = 7 * 86400 * 1000LL;
  int min_stories = 5;
  double floor = 0.5;
  double alpha = 1e-4;
  // Stories remembered per key for the event's story ids (the most recent ones).
  int recent_stories = 32;
  size_t max_keys = 10000;
};

enum class SpikeState { kStart, kUpdate, kEnd };

struct SpikeEvent {
  SpikeState state;
  bool rule_scope;   // scope "rule" (else "tag")
  std::string name;  // a copy: the detector's keys may move before the event is rendered
  int64_t window_start_ms;
  int64_t window_end_ms;
  uint32_t stories;
  double expected;
  uint64_t languages;  // bitmap of language indexes
  // The spike's most recent new stories (sequence numbers, newest last), for the story ids.
  std::vector<uint64_t> story_seqs;
};

class SpikeDetector {
 public:
  explicit SpikeDetector(const SpikeOptions& options);

  // Moves the clock to `now_ms` if it is later: closes buckets, ends spikes that are over
  // (appends their events to `*events`). A jump of more than two weeks and 50 times the
  // stream's mean gap is a hole in the data (ResumeAfterHole); of more than a year, a restart.
  void Advance(int64_t now_ms, std::vector<SpikeEvent>* events);
  // Time passing with no story (the live stage's wall-clock ticks): as Advance, but no further
  // than a spike window and a bucket after the last story. By then every spike has ended, and
  // the rest of a silence of the whole stream only decays the baselines: that is left to the
  // next story's Advance, which then sees the silence as one step and can tell a hole in the
  // data (an outage upstream) from quiet news, as it does in a replay.
  void Idle(int64_t now_ms, std::vector<SpikeEvent>* events);

  // Counts one new story (sequence `seq`, language index `language`) for the key at event time
  // `time_ms` (<= the clock; older than the spike window still feeds the baseline) and appends
  // a start or update event when the key spikes or grows. `rule_scope`: a rule (else a tag).
  // `again`: the story's first item once more (another topic's alert of it, or a redelivery):
  // the key counts it unless it is among the key's recent_stories most recent stories (so a key
  // in both alerts counts the story once, unless more than recent_stories new stories of that
  // key came between the two).
  void AddStory(bool rule_scope, std::string_view name, int64_t time_ms, int language, uint64_t seq,
                std::vector<SpikeEvent>* events, bool again = false);
  // Counts one new story for the all-keys hour-of-week profile (once per story).
  void AddGlobalStory() {
    ++global_bucket_count_;
    ++stories_since_start_;
    ++since_hole_stories_;
    last_story_clock_ms_ = clock_ms_;
  }

  bool warm() const;
  size_t active_spikes() const { return active_.size(); }
  size_t keys() const { return keys_.size(); }
  uint64_t dropped_keys() const { return dropped_keys_; }
  // Key counts of new stories that came more than the spike window behind the clock (fed to
  // the baseline only).
  uint64_t behind_window() const { return behind_window_; }
  // Silences of the whole stream taken for holes in the data (ResumeAfterHole), and those long
  // enough to restart history.
  uint64_t holes() const { return holes_; }
  size_t MemoryBytes() const;
  // New stories per key since creation: fn(rule_scope, name, count).
  template <typename Fn>
  void ForEachKey(Fn fn) const {
    for (const Key& k : keys_) fn(k.rule_scope, std::string_view(k.name), k.total);
  }

  // The baseline of a key now, for tests and tools: expected stories in the spike window
  // (before the floor), or -1 when the key is unknown.
  double ExpectedNow(bool rule_scope, std::string_view name);

 private:
  struct Key {
    std::string name;
    bool rule_scope = false;
    uint64_t total = 0;
    // The ring: new stories (and their languages) of the spike window's buckets; slot b % n.
    int64_t ring_bucket = 0;  // the newest bucket the ring holds
    std::vector<uint16_t> counts;
    std::vector<uint64_t> langs;
    // Exponentially weighted new stories of the buckets that left the ring, as of ring_bucket -
    // n (the newest bucket folded).
    double num = 0;
    double num2 = 0;  // the same for the squared counts (the dispersion)
    // The hour-of-day profile: per hour, the exponentially weighted sum over days of the
    // key's counts in that hour, as of day hod_day[h].
    float hod[24] = {};
    int32_t hod_day[24] = {};
    uint32_t window_sum = 0;  // the ring's counts summed
    // The threshold for the current bucket (cached: the baseline moves per bucket).
    int64_t threshold_bucket = INT64_MIN;
    double expected = 0;
    double dispersion = 1;
    uint32_t threshold = 0;
    // Recent new stories (ring of recent_stories): sequence number and event time.
    std::vector<std::pair<uint64_t, int64_t>> recent;
    uint32_t recent_next = 0;
    // The spike, when active (and the buckets it covered, kept out of the baseline).
    bool active = false;
    int64_t spike_from_bucket = INT64_MAX, spike_to_bucket = INT64_MIN;
    double spike_cap = 0;  // stories per bucket a spike bucket counts as in the baseline
    int64_t spike_start_ms = 0;
    uint32_t spike_stories = 0;  // new stories since spike_start_ms
    double spike_expected = 0;   // the baseline's expectation over the same span
    uint64_t spike_langs = 0;
    uint32_t reported_stories = 0;
    bool reported_confirmed = false;
  };

  Key* FindOrAdd(bool rule_scope, std::string_view name);
  // Brings the key's ring up to bucket `b` (folding buckets that leave it into num).
  void Rotate(Key& k, int64_t b);
  // Computes the key's expected count and threshold for the current bucket.
  void Refresh(Key& k);
  uint32_t WindowCount(const Key& k) const;
  uint64_t WindowLangs(const Key& k) const;
  void CloseBucket(int64_t b);
  double Shape(int64_t b) const;
  // Expected new stories of the key in the spike window from its hour-of-day profile.
  double HourOfDayExpected(const Key& k) const;
  int64_t DayOf(int64_t b) const;
  // Clears every baseline (and, unless `keep_history`, the hour-of-week profile and the
  // warmup) and moves the clock to now_ms; active spikes end.
  void RestartHistory(int64_t now_ms, bool keep_history, std::vector<SpikeEvent>* events);
  // After a hole in the data: ends active spikes, folds every key's ring into its baseline, and
  // moves time to now_ms as if the hole had not been (no decay over it; the history before it
  // counts for the warmup).
  void ResumeAfterHole(int64_t now_ms, std::vector<SpikeEvent>* events);
  SpikeEvent MakeEvent(const Key& k, SpikeState state, int64_t end_ms) const;
  uint32_t Threshold(double expected, double dispersion) const;

  SpikeOptions o_;
  int n_;         // buckets per spike window
  double decay_;  // per bucket
  // The standard normal quantile of 1 - alpha (bisected once: it depends on alpha only).
  double normal_z_ = 0;
  int64_t clock_ms_ = INT64_MIN;
  int64_t bucket_ = INT64_MIN;  // the current bucket
  int64_t history_start_ms_ = INT64_MIN;
  int64_t last_story_clock_ms_ = INT64_MIN;  // the clock when the last new story was counted
  // Global: the shape ring of the window's buckets, its sum, and the weighted shape sum of the
  // buckets that left it (the denominator of every key's rate), as of bucket_ - n_.
  std::vector<double> shape_ring_;
  double shape_window_sum_ = 0;
  double den_ = 0;
  double den_buckets_ = 0;  // the weighted number of those buckets (for per-bucket moments)
  double day_decay_;
  double den_days_ = 0;  // the weighted number of days of history, as of today
  int64_t today_ = 0;    // day index of bucket_
  uint64_t global_bucket_count_ = 0;
  uint64_t stories_since_start_ = 0;
  // After a hole (ResumeAfterHole), for one baseline time constant: the new stories of all keys
  // since it, what their baseline (all_num_) expected of them, and their ratio (at least 1), by
  // which every key's expectation is scaled (the data after a hole may be denser than before it:
  // a feed added during an outage, an archive that thinned out before its hole).
  int64_t hole_end_bucket_ = INT64_MIN;
  uint64_t since_hole_stories_ = 0;
  double since_hole_expected_ = 0;
  double volume_factor_ = 1;
  // All keys' new stories in the closed buckets and what the all-keys baseline expected of them,
  // both decayed with a time constant of kStreamHours (spikes.cc): every key's expectation is
  // scaled by at least (stories - the key's own in its spike window + kVolumePrior) / (expected
  // - the key's own expectation + kVolumePrior) (Refresh; the larger of this and
  // volume_factor_), so a day when the whole stream runs denser than its baseline (a backlog
  // after a feed's outage, an archive's thin days before full ones, a source added) does not
  // start a spike on every busy key; a key that jumps against the rest still does.
  double stream_decay_ = 1;
  double stream_num_ = 0;
  double stream_den_ = 0;
  // All keys' new stories as one key's baseline (the same decay and hour-of-week shape, every
  // bucket folded as it closes): what the stream was expected to bring after a hole.
  double all_num_ = 0;
  double all_den_ = 0;
  double hour_count_ = 0;
  double season_[168] = {};
  int season_seen_[168] = {};
  int season_slots_seen_ = 0;
  double season_sum_ = 0;

  // AddStory's bucket and ring slot of the last story's time (INT64_MIN: none yet).
  int64_t memo_time_ms_ = INT64_MIN;
  int64_t memo_bucket_ = 0;
  size_t memo_slot_ = 0;

  std::vector<Key> keys_;
  // Key index by name, one map per scope (looked up by view: no key string is built).
  absl::flat_hash_map<std::string, uint32_t> rule_index_, tag_index_;
  std::vector<uint32_t> active_;
  uint64_t dropped_keys_ = 0;
  uint64_t behind_window_ = 0;
  uint64_t holes_ = 0;
};

}  // namespace steppewatch::stories

#include "stories/spikes.h"

#include <algorithm>
#include <cmath>

namespace steppewatch::stories {
namespace {

constexpr int64_t kHourMs = 3600 * 1000;
// Weeks each hour-of-week slot of the profile averages over.
constexpr int kSeasonWeeks = 4;
// A clock jump longer than this, and than kRestartGapFactor times the stream's mean gap between
// new stories once it has had kRestartMinStories, is a hole in the data (see Advance): the
// detector resumes after it with the baseline it had, or restarts history when the hole is
// longer than kResumeMaxGapMs.
constexpr int64_t kRestartGapMs = 14 * 86400 * 1000LL;
constexpr int64_t kResumeMaxGapMs = 365 * 86400 * 1000LL;
// The volume factor's prior after a hole, in stories (see SpikeDetector::volume_factor_), and the
// stream factor's (see SpikeDetector::stream_num_).
constexpr double kVolumePrior = 20;
// The time constant of the stream factor's sums: three spike windows of the defaults, measured
// against 3, 12 and 24 hours (benchmarks/README.md, "Spikes when the whole stream is denser").
constexpr double kStreamHours = 6;
constexpr double kRestartGapFactor = 50;
constexpr uint64_t kRestartMinStories = 100;
// Above this expectation the Poisson tail is taken from its normal approximation (the exact sum
// would take ~expected terms per refresh).
constexpr double kNormalAbove = 400;
// The largest dispersion a key is judged with (see Refresh).
constexpr double kMaxDispersion = 10;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Hour of the week, 0 = Monday 00:00-01:00 UTC (1970-01-01 was a Thursday).
int HourOfWeek(int64_t ms) {
  int64_t h = FloorDiv(ms, kHourMs) + 72;
  return static_cast<int>(((h % 168) + 168) % 168);
}

}  // namespace

SpikeDetector::SpikeDetector(const SpikeOptions& options) : o_(options) {
  n_ = static_cast<int>(std::max<int64_t>(1, o_.spike_window_ms / o_.bucket_ms));
  decay_ = std::exp(-static_cast<double>(o_.bucket_ms) / static_cast<double>(o_.baseline_ms));
  day_decay_ = std::exp(-86400 * 1000.0 / static_cast<double>(o_.baseline_ms));
  stream_decay_ = std::exp(-static_cast<double>(o_.bucket_ms) / (kStreamHours * 3600 * 1000.0));
  shape_ring_.assign(n_, 0.0);
  double lo = 0, hi = 40;
  for (int i = 0; i < 100; ++i) {
    double mid = (lo + hi) / 2;
    (0.5 * std::erfc(mid / std::sqrt(2.0)) > o_.alpha ? lo : hi) = mid;
  }
  normal_z_ = hi;
}

bool SpikeDetector::warm() const {
  return clock_ms_ != INT64_MIN && clock_ms_ - history_start_ms_ >= o_.warmup_ms;
}

int64_t SpikeDetector::DayOf(int64_t b) const { return FloorDiv(b * o_.bucket_ms, 86400 * 1000LL); }

double SpikeDetector::HourOfDayExpected(const Key& k) const {
  if (den_days_ <= 0) return 0;
  double per_bucket = std::min(1.0, static_cast<double>(o_.bucket_ms) / kHourMs);
  double sum = 0;
  for (int64_t x = bucket_ - n_ + 1; x <= bucket_; ++x) {
    int h = static_cast<int>(FloorDiv(x * o_.bucket_ms, kHourMs) % 24 + 24) % 24;
    sum += k.hod[h] * std::pow(day_decay_, static_cast<double>(today_ - k.hod_day[h]));
  }
  double expected = sum / den_days_ * per_bucket;
  // Scaled by the day of the week of all stories (weekends are quieter for every key).
  if (season_slots_seen_ == 168 && season_sum_ > 0) {
    int first = HourOfWeek(today_ * 86400 * 1000LL);  // this day's 00:00 slot
    double day = 0;
    for (int i = 0; i < 24; ++i) day += season_[(first + i) % 168];
    expected *= std::clamp(day / (season_sum_ / 7), 0.2, 5.0);
  }
  return expected;
}

double SpikeDetector::Shape(int64_t b) const {
  if (season_slots_seen_ < 168 || season_sum_ <= 0) return 1.0;
  double mean = season_sum_ / 168;
  double v = season_[HourOfWeek(b * o_.bucket_ms)] / mean;
  // Bounded so one empty or one crowded hour in the profile cannot make a key's baseline 0 or
  // absurdly high (the floor still applies after).
  return std::clamp(v, 0.05, 20.0);
}

void SpikeDetector::CloseBucket(int64_t b) {
  // All keys together, with the keys' own baseline: what bucket b was expected to hold, then b
  // folded in.
  const double shape = Shape(b);
  const double expected_all = all_den_ > 0 ? all_num_ / all_den_ * shape : 0;
  if (all_den_ > 0) {
    stream_num_ = stream_num_ * stream_decay_ + static_cast<double>(global_bucket_count_);
    stream_den_ = stream_den_ * stream_decay_ + expected_all;
  }
  all_num_ = all_num_ * decay_ + static_cast<double>(global_bucket_count_);
  all_den_ = all_den_ * decay_ + shape;
  if (hole_end_bucket_ != INT64_MIN) {
    if ((b - hole_end_bucket_) * o_.bucket_ms >= o_.baseline_ms) {
      hole_end_bucket_ = INT64_MIN;  // the baselines have had a time constant to learn
      volume_factor_ = 1;
    } else {
      since_hole_expected_ += expected_all;
      // A prior of kVolumePrior stories at the old rate: a few stories do not move it.
      volume_factor_ = std::max(1.0, (static_cast<double>(since_hole_stories_) + kVolumePrior) /
                                         (since_hole_expected_ + kVolumePrior));
    }
  }
  hour_count_ += static_cast<double>(global_bucket_count_);
  global_bucket_count_ = 0;
  int slot = HourOfWeek(b * o_.bucket_ms);
  if (HourOfWeek((b + 1) * o_.bucket_ms) != slot) {
    if (season_seen_[slot] == 0) ++season_slots_seen_;
    int seen = std::min(++season_seen_[slot], kSeasonWeeks);
    season_sum_ -= season_[slot];
    season_[slot] += (hour_count_ - season_[slot]) / seen;
    season_sum_ += season_[slot];
    hour_count_ = 0;
  }
  // Bucket b + 1 enters the spike window; bucket b + 1 - n leaves it for the baseline.
  double& ring = shape_ring_[static_cast<size_t>(((b + 1) % n_ + n_) % n_)];
  den_ = den_ * decay_ + ring;
  if (ring > 0) den_buckets_ = den_buckets_ * decay_ + 1;
  shape_window_sum_ -= ring;
  ring = Shape(b + 1);
  shape_window_sum_ += ring;
  bucket_ = b + 1;
  int64_t day = DayOf(bucket_);
  if (day != today_) {
    den_days_ = den_days_ * std::pow(day_decay_, static_cast<double>(day - today_)) + 1;
    today_ = day;
  }
}

void SpikeDetector::Advance(int64_t now_ms, std::vector<SpikeEvent>* events) {
  if (clock_ms_ == INT64_MIN) {
    clock_ms_ = history_start_ms_ = now_ms;
    bucket_ = FloorDiv(now_ms, o_.bucket_ms);
    shape_ring_[static_cast<size_t>((bucket_ % n_ + n_) % n_)] = 1.0;
    shape_window_sum_ = 1.0;
    today_ = DayOf(bucket_);
    den_days_ = 1;
    return;
  }
  if (now_ms <= clock_ms_) return;
  int64_t gap = now_ms - clock_ms_;
  // A silence far longer than the stream's usual gaps is missing data (an outage, an archive
  // with holes): no news was counted, not "no news happened". The detector resumes after it
  // as it was before it (ResumeAfterHole), so a burst on the first day after the hole is judged
  // against the baseline the key had; until 2026-12-06 history restarted here, with its warmup,
  // and a week of bursts after every hole went unseen. A hole of more than a year (or a broken
  // clock) still restarts it. A sparse stream (a pack that alerts every few days) has long gaps
  // that are just quiet: they are neither.
  double mean_gap = stories_since_start_ > 0
                        ? static_cast<double>(clock_ms_ - history_start_ms_) / stories_since_start_
                        : 0;
  if (gap > kRestartGapMs && stories_since_start_ >= kRestartMinStories &&
      gap > kRestartGapFactor * mean_gap) {
    ++holes_;
    if (gap <= kResumeMaxGapMs) {
      ResumeAfterHole(now_ms, events);
    } else {
      RestartHistory(now_ms, /*keep_history=*/false, events);
    }
    return;
  }
  // After a gap of five baseline time constants every level has decayed to under 1%: jump
  // there in one step (a bucket at a time would stall on a jump of years).
  if (gap > 5 * o_.baseline_ms) {
    RestartHistory(now_ms, /*keep_history=*/true, events);
    return;
  }
  clock_ms_ = now_ms;
  int64_t nb = FloorDiv(now_ms, o_.bucket_ms);
  if (nb == bucket_) return;
  while (bucket_ < nb) {
    CloseBucket(bucket_);
    // Spikes are checked at every bucket, so one that ended while no alert came ends at its
    // time, not at the next alert's.
    for (size_t i = 0; i < active_.size();) {
      Key& k = keys_[active_[i]];
      Rotate(k, bucket_);
      Refresh(k);
      k.spike_expected += k.expected / n_;
      if (k.window_sum * 2 < k.threshold) {
        events->push_back(MakeEvent(k, SpikeState::kEnd, bucket_ * o_.bucket_ms));
        k.active = false;
        k.spike_to_bucket = bucket_;
        active_[i] = active_.back();
        active_.pop_back();
        continue;
      }
      ++i;
    }
  }
}

void SpikeDetector::Idle(int64_t now_ms, std::vector<SpikeEvent>* events) {
  if (last_story_clock_ms_ != INT64_MIN) {
    now_ms = std::min(now_ms, last_story_clock_ms_ + o_.spike_window_ms + o_.bucket_ms);
  }
  Advance(now_ms, events);
}

void SpikeDetector::ResumeAfterHole(int64_t now_ms, std::vector<SpikeEvent>* events) {
  // Spikes end when the data did (at the latest a spike window after the last clock).
  for (uint32_t i : active_) {
    events->push_back(MakeEvent(keys_[i], SpikeState::kEnd, clock_ms_ + o_.spike_window_ms));
    keys_[i].active = false;
  }
  active_.clear();
  // The spike window after the last event closes as it would in a quiet stream (a live stage
  // cannot tell an outage from a quiet hour until later), and every key's ring folds into its
  // baseline: the stories before the hole all count.
  const int64_t old_clock = clock_ms_;
  for (const int64_t last = bucket_ + n_; bucket_ < last;) CloseBucket(bucket_);
  for (Key& k : keys_) Rotate(k, bucket_);
  // Then time moves to now_ms without the hole's buckets: nothing decays over them, and the
  // history before the hole counts for the warmup.
  const int64_t nb = FloorDiv(now_ms, o_.bucket_ms);
  const int64_t day = DayOf(nb);
  const int32_t day_shift = static_cast<int32_t>(day - today_);
  for (Key& k : keys_) {
    k.ring_bucket = nb;  // the ring is empty after the rotation
    for (int32_t& d : k.hod_day) d += day_shift;
    k.threshold_bucket = INT64_MIN;
    k.spike_from_bucket = INT64_MAX;
    k.spike_to_bucket = INT64_MIN;
  }
  today_ = day;
  // The spike window now holds only the current bucket (the ones before it were not seen), as
  // at the first event.
  std::fill(shape_ring_.begin(), shape_ring_.end(), 0.0);
  bucket_ = nb;
  shape_ring_[static_cast<size_t>((nb % n_ + n_) % n_)] = Shape(nb);
  shape_window_sum_ = Shape(nb);
  hour_count_ = 0;
  global_bucket_count_ = 0;
  hole_end_bucket_ = nb;
  since_hole_stories_ = 0;
  since_hole_expected_ = 0;
  volume_factor_ = 1;
  stream_num_ = stream_den_ = 0;
  history_start_ms_ += now_ms - old_clock;
  clock_ms_ = now_ms;
}

void SpikeDetector::RestartHistory(int64_t now_ms, bool keep_history,
                                   std::vector<SpikeEvent>* events) {
  for (uint32_t i : active_) {
    // It ended at the latest when its window had passed after the last clock.
    events->push_back(MakeEvent(keys_[i], SpikeState::kEnd, clock_ms_ + o_.spike_window_ms));
    keys_[i].active = false;
  }
  active_.clear();
  int64_t nb = FloorDiv(now_ms, o_.bucket_ms);
  for (Key& k : keys_) {
    std::fill(k.counts.begin(), k.counts.end(), 0);
    std::fill(k.langs.begin(), k.langs.end(), 0);
    k.window_sum = 0;
    k.ring_bucket = nb;
    k.num = 0;
    k.num2 = 0;
    std::fill(std::begin(k.hod), std::end(k.hod), 0.0f);
    k.threshold_bucket = INT64_MIN;
    k.spike_from_bucket = INT64_MAX;
    k.spike_to_bucket = INT64_MIN;
  }
  if (!keep_history) {
    std::fill(std::begin(season_), std::end(season_), 0.0);
    std::fill(std::begin(season_seen_), std::end(season_seen_), 0);
    season_slots_seen_ = 0;
    season_sum_ = 0;
    stories_since_start_ = 0;
  }
  hour_count_ = 0;
  global_bucket_count_ = 0;
  hole_end_bucket_ = INT64_MIN;
  volume_factor_ = 1;
  stream_num_ = stream_den_ = 0;
  all_num_ = all_den_ = 0;
  den_ = 0;
  den_buckets_ = 0;
  den_days_ = 0;
  std::fill(shape_ring_.begin(), shape_ring_.end(), 0.0);
  int64_t history_start = history_start_ms_;
  clock_ms_ = INT64_MIN;
  Advance(now_ms, events);
  if (keep_history) history_start_ms_ = history_start;
}

void SpikeDetector::Rotate(Key& k, int64_t b) {
  if (b <= k.ring_bucket) return;
  int64_t steps = b - k.ring_bucket;
  int64_t fold = std::min<int64_t>(steps, n_);
  for (int64_t i = 1; i <= fold; ++i) {
    int64_t entering = k.ring_bucket + i;
    int64_t leaving = entering - n_;
    size_t slot = static_cast<size_t>((entering % n_ + n_) % n_);
    double value = k.counts[slot];
    if (leaving >= k.spike_from_bucket && leaving <= k.spike_to_bucket) {
      value = std::min(value, k.spike_cap);
    }
    k.num = k.num * decay_ + value;
    k.num2 = k.num2 * decay_ + value * value;
    if (value > 0) {
      int h = static_cast<int>(FloorDiv(leaving * o_.bucket_ms, kHourMs) % 24 + 24) % 24;
      int64_t day = DayOf(leaving);
      k.hod[h] = static_cast<float>(
          k.hod[h] * std::pow(day_decay_, static_cast<double>(day - k.hod_day[h])) + value);
      k.hod_day[h] = static_cast<int32_t>(day);
    }
    k.window_sum -= k.counts[slot];
    k.counts[slot] = 0;
    k.langs[slot] = 0;
  }
  if (steps > fold) {
    double d = std::pow(decay_, static_cast<double>(steps - fold));
    k.num *= d;
    k.num2 *= d;
  }
  k.ring_bucket = b;
}

uint32_t SpikeDetector::Threshold(double expected, double dispersion) const {
  // Quasi-Poisson: counts and expectation in units of the dispersion.
  expected /= dispersion;
  uint32_t c;
  if (expected > kNormalAbove) {
    // Normal approximation with continuity correction: the smallest c with P(X >= c) < alpha.
    c = static_cast<uint32_t>(std::ceil(expected + normal_z_ * std::sqrt(expected) + 0.5));
  } else {
    // Smallest c with P(X >= c) = 1 - P(X <= c - 1) < alpha.
    double p = std::exp(-expected), cdf = p;
    uint32_t k = 0;
    uint32_t limit = static_cast<uint32_t>(expected + 60 * std::sqrt(expected + 1) + 100);
    while (1 - cdf >= o_.alpha && k < limit) {
      ++k;
      p *= expected / k;
      cdf += p;
    }
    c = k + 1;
  }
  c = static_cast<uint32_t>(std::ceil(c * dispersion));
  return std::max<uint32_t>(c, static_cast<uint32_t>(std::max(1, o_.min_stories)));
}

void SpikeDetector::Refresh(Key& k) {
  if (k.threshold_bucket == bucket_) return;
  k.threshold_bucket = bucket_;
  double rate = den_ > 0 ? k.num / den_ : 0;
  // How much denser than its baseline the rest of the stream has been over the last hours (the
  // key's own stories of the spike window left out, so a burst does not raise its own bar), and
  // after a hole since the hole: a key that only follows the whole stream up is no spike.
  const double base = std::max({rate * shape_window_sum_, HourOfDayExpected(k), o_.floor});
  double factor = volume_factor_;
  if (stream_den_ > 0) {
    const double rest = std::max(0.0, stream_num_ - static_cast<double>(k.window_sum));
    const double rest_expected = std::max(0.0, stream_den_ - base);
    factor = std::max(factor, (rest + kVolumePrior) / (rest_expected + kVolumePrior));
  }
  k.expected = base * factor;
  // Dispersion of the key's bucket counts; 1 (Poisson) until a day of buckets is behind it.
  k.dispersion = 1;
  if (den_buckets_ * o_.bucket_ms >= 86400 * 1000.0 && k.num > 0) {
    double mean = k.num / den_buckets_;
    double var = k.num2 / den_buckets_ - mean * mean;
    // Bounded: one enormous burst in the history must not make a key deaf for a week.
    k.dispersion = std::clamp(var / mean, 1.0, kMaxDispersion);
  }
  k.threshold = Threshold(k.expected, k.dispersion);
}

SpikeDetector::Key* SpikeDetector::FindOrAdd(bool rule_scope, std::string_view name) {
  auto& index = rule_scope ? rule_index_ : tag_index_;
  const absl::string_view key(name.data(), name.size());
  auto it = index.find(key);
  if (it != index.end()) return &keys_[it->second];
  if (keys_.size() >= o_.max_keys) {
    ++dropped_keys_;
    return nullptr;
  }
  index.emplace(std::string(name), static_cast<uint32_t>(keys_.size()));
  Key& k = keys_.emplace_back();
  k.name.assign(name);
  k.rule_scope = rule_scope;
  k.ring_bucket = bucket_;
  k.counts.assign(n_, 0);
  k.langs.assign(n_, 0);
  k.recent.assign(static_cast<size_t>(std::max(1, o_.recent_stories)), {UINT64_MAX, 0});
  return &k;
}

SpikeEvent SpikeDetector::MakeEvent(const Key& k, SpikeState state, int64_t end_ms) const {
  SpikeEvent e;
  e.state = state;
  e.rule_scope = k.rule_scope;
  e.name = k.name;
  e.window_start_ms = k.spike_start_ms;
  e.window_end_ms = end_ms;
  e.stories = k.spike_stories;
  e.expected = k.spike_expected;
  e.languages = k.spike_langs;
  size_t m = k.recent.size();
  e.story_seqs.reserve(m);  // one allocation per event, not one per doubling
  for (size_t i = 0; i < m; ++i) {
    const auto& [seq, t] = k.recent[(k.recent_next + i) % m];  // oldest first
    if (seq != UINT64_MAX && t >= k.spike_start_ms) e.story_seqs.push_back(seq);
  }
  return e;
}

void SpikeDetector::AddStory(bool rule_scope, std::string_view name, int64_t time_ms, int language,
                             uint64_t seq, std::vector<SpikeEvent>* events, bool again) {
  Key* kp = FindOrAdd(rule_scope, name);
  if (kp == nullptr) return;
  Key& k = *kp;
  if (again) {
    for (const auto& r : k.recent) {
      if (r.first == seq) return;
    }
  }
  ++k.total;
  Rotate(k, bucket_);
  uint64_t lang_bit = uint64_t{1} << (language & 63);
  // A story counts for each of its keys at one time: its bucket and ring slot once (three
  // 64-bit divisions), not per key.
  if (time_ms != memo_time_ms_) {
    memo_time_ms_ = time_ms;
    memo_bucket_ = FloorDiv(time_ms, o_.bucket_ms);
    memo_slot_ = static_cast<size_t>((memo_bucket_ % n_ + n_) % n_);
  }
  const int64_t tb = memo_bucket_;
  if (tb > bucket_ - n_) {
    const size_t slot = memo_slot_;
    if (k.counts[slot] != UINT16_MAX) {
      ++k.counts[slot];
      ++k.window_sum;
    }
    k.langs[slot] |= lang_bit;
  } else {
    // Late, but inside the story window: it feeds the baseline only.
    k.num += std::pow(decay_, static_cast<double>(bucket_ - n_ - tb));
    ++behind_window_;
  }
  k.recent[k.recent_next] = {seq, time_ms};
  k.recent_next = (k.recent_next + 1) % static_cast<uint32_t>(k.recent.size());

  if (k.active) {
    if (time_ms < k.spike_start_ms) return;
    ++k.spike_stories;
    k.spike_langs |= lang_bit;
    bool confirmed = __builtin_popcountll(k.spike_langs) >= 2;
    // Updates while it grows by half again, or when it becomes confirmed: not every story.
    if (confirmed != k.reported_confirmed ||
        k.spike_stories >= k.reported_stories + (k.reported_stories + 1) / 2) {
      events->push_back(MakeEvent(k, SpikeState::kUpdate, clock_ms_));
      k.reported_stories = k.spike_stories;
      k.reported_confirmed = confirmed;
    }
    return;
  }
  if (!warm() || tb <= bucket_ - n_) return;
  Refresh(k);
  if (k.window_sum < k.threshold) return;
  k.active = true;
  int64_t first = bucket_ - n_ + 1;
  k.spike_from_bucket =
      k.spike_to_bucket >= bucket_ - n_ ? std::min(k.spike_from_bucket, first) : first;
  k.spike_to_bucket = INT64_MAX;
  k.spike_cap = k.expected / n_;
  // The spike starts with the first bucket of the window that has new stories.
  int64_t earliest = first;
  while (earliest < bucket_ && k.counts[static_cast<size_t>((earliest % n_ + n_) % n_)] == 0) {
    ++earliest;
  }
  k.spike_start_ms = earliest * o_.bucket_ms;
  k.spike_stories = k.window_sum;
  k.spike_expected = k.expected;
  k.spike_langs = 0;
  for (uint64_t l : k.langs) k.spike_langs |= l;
  k.reported_stories = k.spike_stories;
  k.reported_confirmed = __builtin_popcountll(k.spike_langs) >= 2;
  active_.push_back(static_cast<uint32_t>(&k - keys_.data()));
  events->push_back(MakeEvent(k, SpikeState::kStart, clock_ms_));
}

double SpikeDetector::ExpectedNow(bool rule_scope, std::string_view name) {
  const auto& index = rule_scope ? rule_index_ : tag_index_;
  auto it = index.find(absl::string_view(name.data(), name.size()));
  if (it == index.end()) return -1;
  Key& k = keys_[it->second];
  Rotate(k, bucket_);
  double rate = den_ > 0 ? k.num / den_ : 0;
  return rate * shape_window_sum_;
}

size_t SpikeDetector::MemoryBytes() const {
  size_t per_key = sizeof(Key) + static_cast<size_t>(n_) * (sizeof(uint16_t) + sizeof(uint64_t)) +
                   static_cast<size_t>(std::max(1, o_.recent_stories)) * 16;
  size_t bytes = keys_.capacity() * sizeof(Key) + shape_ring_.capacity() * sizeof(double);
  for (const Key& k : keys_) bytes += per_key - sizeof(Key) + k.name.capacity();
  bytes += (rule_index_.capacity() + tag_index_.capacity()) *
           (sizeof(std::string) + sizeof(uint32_t) + 1);
  return bytes;
}

}  // namespace steppewatch::stories

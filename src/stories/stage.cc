// StoriesStage implementation: AlertFieldParser validates each whole alert and gives the few
// fields the stage needs, StoryIndex assigns the story, SpikeDetector counts new stories per rule
// and tag, and the enriched alert is the original bytes with a "story" object inserted before
// the final '}' (no re-serialisation of the alert).
//
// Why the whole alert is validated: the stage republishes the alert's bytes, so a value it does
// not read (a hit with a missing ':') would reach the stories topic as invalid JSON. The parser
// validates and reads the fields in one walk over simdjson's structural index, with simdjson's
// DOM parser as the judge of anything unusual (src/stories/alert_fields.h); it costs less than a
// DOM parse, which cost less than On-Demand over the fields plus a separate validation
// (benchmarks/README.md, "Stories").
//
// Defaults of the spike settings (StageOptions) and why:
//   window 72 h: wire copies of a story keep arriving for a day or two; a longer window costs
//     ~120 bytes per story;
//   bucket 10 min: the resolution of counts and of the end of a spike (detection itself happens
//     on the story that crosses the threshold, not at a bucket boundary);
//   spike_window 2 h: a breaking story's burst lasts hours; 25 new stories in 2 h on a quiet key
//     cross the threshold after ~6 of them;
//   warmup 7 days: a full week of hour-of-week profile and of each key's level;
//   baseline 7 days: the time constant of each key's level (recent enough to follow a topic that
//     became busier, long enough that one busy day does not hide the next);
//   min_stories 5 and floor 0.5: a key that is usually silent needs 6 new stories in the spike
//     window at alpha 1e-4 (P(Poisson(0.5) >= 6) = 1.4e-5), never 1 or 2;
//   alpha 1e-4: the chance that a key whose counts follow its baseline (Poisson) crosses the
//     threshold in one spike window; real news is burstier than Poisson, so the false spikes per
//     key per week are measured on a real timeline (benchmarks/README.md, "Stories: spikes").
#include "steppewatch/stories/stage.h"

#include <emmintrin.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "steppewatch/alert/json_writer.h"
#include "steppewatch/stories/fingerprint.h"
#include "steppewatch/stories/story_index.h"
#include "stories/alert_fields.h"
#include "stories/event_time.h"
#include "stories/spikes.h"

namespace steppewatch::stories {
namespace {

constexpr int64_t kDayMs = 86400 * 1000LL;
// Times before this are absurd (a zero or a parse of "0"): 1971-01-01T00:00:00Z.
constexpr int64_t kEarliestMs = 365 * kDayMs;
// A published_at more than this after the Kafka timestamp is not believed (a feed's clock or
// time zone is wrong); with no Kafka timestamp, more than a day after the present.
constexpr int64_t kAheadOfKafkaMs = 3600 * 1000LL;
constexpr int64_t kAheadOfNowMs = kDayMs;
// Language index 63 is shared by every language past the 63rd distinct one.
constexpr int kMaxLanguages = 63;
// The clock's guard against one mis-dated item (see Ahead and Confirm): a dated alert more
// than kJumpFactor times the stream's pace (and more than one spike bucket) ahead of the clock
// does not move it, and its new-story counts wait, until an alert of another story agrees on
// that time or, coming next, is later (see Confirm: the stream moved, the counts count at their
// time), or the clock reaches it; not confirmed within kPendingAlerts alerts, it was one item's
// mistake (its counts count at the stream's time). The pace is the mean advance of the clock per
// dated alert (exponentially weighted over about kPaceAlerts alerts), trusted after kPaceAlerts
// alerts. Eight times the pace: a Poisson stream has such a gap once in 3,000; a night or a quiet
// weekend is one, and the next alert confirms it.
constexpr double kJumpFactor = 8;
constexpr int kPaceAlerts = 32;
constexpr int kPendingAlerts = 8;

// absl::string_view is its own type in Debian's abseil (not std::string_view), so absl::StrCat
// does not take std::string_view: these two do.
void AppendParts(std::string* out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out->append(p);
}
template <typename... Parts>
void StrAppend(std::string* out, const Parts&... parts) {
  AppendParts(out, {std::string_view(parts)...});
}
template <typename... Parts>
std::string StrCat(const Parts&... parts) {
  std::string out;
  AppendParts(&out, {std::string_view(parts)...});
  return out;
}

uint64_t Hash64(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a, then a final mix so all bits are usable
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

// Whether JsonWriter::Escape copies `s` as it is: printable ASCII without '"' or '\\' (an item
// id, mostly), which needs no escaping (and no UTF-8 check: Escape's own for 16 bytes or more).
bool PlainAscii(std::string_view s) {
  size_t i = 0;
  for (; i + 16 <= s.size(); i += 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    // As int8, bytes of 0x80 and more are negative: below 0x20 as well.
    const __m128i special = _mm_or_si128(_mm_cmplt_epi8(b, _mm_set1_epi8(0x20)),
                                         _mm_or_si128(_mm_cmpeq_epi8(b, _mm_set1_epi8('"')),
                                                      _mm_cmpeq_epi8(b, _mm_set1_epi8('\\'))));
    if (_mm_movemask_epi8(special) != 0) return false;
  }
  bool plain = true;
  for (; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    plain &= c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
  }
  return plain;
}

void AppendString(std::string_view s, std::string* out) {
  out->push_back('"');
  if (PlainAscii(s)) {
    out->append(s);
  } else {
    alert::JsonWriter::Escape(s, out);
  }
  out->push_back('"');
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, end);
}

// One alert's place in a batch: its fields and the buffers its output points into.
struct Slot {
  AlertFields f;
  std::string alert_out, key_out, story_id_out, events_out;
  std::vector<std::pair<size_t, size_t>> event_spans;  // (key end, json end) in events_out
};

// Calls fn(rule_scope, name) for each of the alert's rules, then each of its tags, each key once
// (two matched rules may carry the same tag) and in sorted order: the alert's own views, sorted
// in place (they are not used after this).
// std::string_view's order (bytes as unsigned char, then length), eight bytes at a time (as
// big-endian numbers) without a call to memcmp: names are short and share prefixes ("geo:").
bool NameLess(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y);
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

inline constexpr size_t kInsertionSortNames = 16;

template <typename Fn>
void ForEachUniqueKey(AlertFields& f, Fn fn) {
  for (bool rule_scope : {true, false}) {
    std::vector<std::string_view>& names = rule_scope ? f.rules : f.tags;
    // An alert has a few names: an insertion sort (equal names are equal bytes, so the order
    // among them does not matter); many (an item that matched much of a large watch list) are
    // sorted in n log n, in the same order.
    if (names.size() > kInsertionSortNames) {
      std::sort(names.begin(), names.end(), NameLess);
    } else {
      for (size_t i = 1; i < names.size(); ++i) {
        const std::string_view x = names[i];
        size_t j = i;
        for (; j > 0 && NameLess(x, names[j - 1]); --j) names[j] = names[j - 1];
        names[j] = x;
      }
    }
    for (size_t i = 0; i < names.size(); ++i) {
      if (i == 0 || names[i] != names[i - 1]) fn(rule_scope, names[i]);
    }
  }
}

class StageImpl final : public StoriesStage {
 public:
  StageImpl(const StageOptions& o, const SpikeOptions& so, int64_t fixed_now_ms)
      : options_(o),
        window_ms_(absl::ToInt64Milliseconds(o.window)),
        fixed_now_ms_(fixed_now_ms),
        bucket_ms_(so.bucket_ms),
        spike_window_ms_(so.spike_window_ms),
        index_(window_ms_),
        spikes_(so) {
    Grow(1);
  }

  const StageOutput& Process(std::string_view alert_json, int64_t kafka_timestamp_ms,
                             bool replay) override;
  std::span<const StageOutput> ProcessBatch(std::span<const StageInput> alerts,
                                            bool replay) override;
  const StageOutput& Tick(int64_t now_ms) override;
  StageStats stats() const override;
  void ForEachKey(
      const std::function<void(std::string_view, std::string_view, uint64_t)>& fn) const override {
    spikes_.ForEachKey(
        [&](bool rule, std::string_view name, uint64_t n) { fn(rule ? "rule" : "tag", name, n); });
  }

 private:
  void Grow(size_t n);
  void Reset(StageOutput& out);
  void Reject(StageOutput& out, std::string_view reason, std::string message);
  // Handles a parsed alert: everything Process does after the parse.
  // `prefetched`: the index's buckets for the alert were prefetched (ProcessBatch).
  void Handle(const StageInput& in, Slot& slot, StageOutput& out, bool replay, bool prefetched);
  // Counts a new dated story for the spikes (its rules' and tags' keys; sorts f's views).
  void CountNewStory(AlertFields& f, int64_t t, int language, uint64_t seq, bool again);
  // The event time: item.published_at when it is sane, else the Kafka timestamp, else the
  // stream's time (the clock; *undated set); false (and *why) when none is usable.
  bool ResolveTime(const AlertFields& f, int64_t kafka_timestamp_ms, int64_t* t, bool* undated,
                   std::string* why) const;
  int64_t PresentMs() const;
  int LanguageIndex(std::string_view lang);
  void RenderAlert(std::string_view json, const StoryIndex::Assignment& a, Slot& slot,
                   StageOutput& out);
  void RenderEvents(Slot& slot, StageOutput& out);
  // Moves the clock to `now_ms` if it is later; a pending time it reaches was right: its
  // deferred counts count there.
  // `idle`: time passing with no alert (Tick): the spike detector's Idle.
  void Advance(int64_t now_ms, bool idle = false);
  void MoveClock(int64_t now_ms, bool idle = false);
  // The clock's guard, before the alert is assigned: true when the dated alert at `t` is
  // further ahead of the clock than the stream's pace allows (the clock is then not moved);
  // else learns the pace and moves the clock to `t`.
  bool Ahead(int64_t t, bool undated);
  // After an ahead alert at `t` is assigned to story `seq`: true when it confirms the pending
  // time of another story (see the rules there: the clock moves to `t`, the pending counts
  // count); false when `t` becomes the pending time (the alert's counts are then deferred with
  // Defer: they count when the clock reaches `t`, or at the clock when `t` is dropped).
  bool Confirm(int64_t t, uint64_t seq);
  void Defer(AlertFields& f, int language, uint64_t seq, bool again);
  // Counts the pending time's deferred counts at `t` (<= the clock) and clears it.
  void CountPending(int64_t t);
  int64_t Allowance() const;

  StageOptions options_;
  int64_t window_ms_;
  int64_t fixed_now_ms_;  // -1: the wall clock
  int64_t bucket_ms_;
  int64_t spike_window_ms_;
  StoryIndex index_;
  SpikeDetector spikes_;
  int64_t clock_ms_ = INT64_MIN;
  // The guard's state: the pace (ms of clock advance per dated alert, weighted), the alerts it
  // has seen, and the pending time (a doubted jump: INT64_MIN none), its story and the alerts
  // since it.
  double pace_ms_ = 0;
  int paced_ = 0;
  int64_t pending_ms_ = INT64_MIN;
  uint64_t pending_seq_ = 0;
  int since_pending_ = 0;
  int ahead_run_ = 0;  // big steps ahead in a row ending with the pending one
  // The pending alerts' new-story counts (CountNewStory's arguments, names copied; entries and
  // their strings are reused).
  struct DeferredCount {
    int language = 0;
    uint64_t seq = 0;
    bool again = false;
    std::vector<std::string> rules, tags;
    size_t n_rules = 0, n_tags = 0;
  };
  std::vector<DeferredCount> deferred_;
  size_t n_deferred_ = 0;

  AlertFieldParser parser_;  // touches no stage state: a batch parses ahead

  absl::flat_hash_map<std::string, int> languages_;
  std::vector<std::string> language_names_;
  std::string last_language_name_;  // the last alert's language and its index (-1: none yet)
  int last_language_ = -1;
  // The last story's languages as rendered (AppendLanguages), its bitmap and the count of
  // language names it was rendered with (SIZE_MAX: none yet).
  std::string languages_rendered_;
  uint64_t languages_rendered_bits_ = 0;
  size_t languages_rendered_names_ = SIZE_MAX;

  std::vector<SpikeEvent> events_;  // of the alert being handled
  // Per alert of the largest batch so far; outs_[i] points into slots_[i].
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<StageOutput> outs_;
  std::vector<std::pair<uint32_t, uint64_t>> top_;  // scratch: (copies, seq)
  std::string detected_scratch_, id_scratch_;       // scratch of RenderEvents
  StageStats stats_;
};

void StageImpl::Grow(size_t n) {
  // Room for a few spike events per alert from the start (4 KB of rendering, 16 events): a
  // slot's first events would otherwise grow these in the middle of a burst.
  constexpr size_t kEventsReserved = 16;
  while (slots_.size() < n) {
    auto slot = std::make_unique<Slot>();
    slot->events_out.reserve(4096);
    slot->event_spans.reserve(kEventsReserved);
    slots_.push_back(std::move(slot));
  }
  if (events_.capacity() < kEventsReserved) events_.reserve(kEventsReserved);
  if (outs_.size() < n) {
    outs_.resize(n);
    for (StageOutput& out : outs_) out.spikes.reserve(kEventsReserved);
  }
}

void StageImpl::Reset(StageOutput& out) {
  out.alert = {};
  out.key = {};
  out.story_id = {};
  out.story_copies = 0;
  out.spikes.clear();
  out.rejected = {};
  out.message.clear();
}

void StageImpl::Reject(StageOutput& out, std::string_view reason, std::string message) {
  ++stats_.rejected;
  out.rejected = reason;
  out.message = std::move(message);
}

int64_t StageImpl::PresentMs() const {
  return fixed_now_ms_ >= 0 ? fixed_now_ms_ : absl::ToUnixMillis(absl::Now());
}

bool StageImpl::ResolveTime(const AlertFields& f, int64_t kafka_ms, int64_t* t, bool* undated,
                            std::string* why) const {
  if (kafka_ms < kEarliestMs || kafka_ms > PresentMs() + kAheadOfNowMs) kafka_ms = -1;
  int64_t published = -1;
  bool has_time = false;
  if (!f.published_at.empty()) {
    if (!ParseEventTime(f.published_at, &published, &has_time) || published < kEarliestMs) {
      published = -1;
    } else if (kafka_ms >= 0) {
      // Believed when it has a time of day, is not ahead of the broker's time and not older
      // than the window (an old item fetched again is news now, not a late event).
      if (!has_time || published > kafka_ms + kAheadOfKafkaMs ||
          published < kafka_ms - window_ms_) {
        published = -1;
      }
    } else if (published > PresentMs() + kAheadOfNowMs) {
      published = -1;
    }
  }
  if (published >= 0) {
    *t = published;
    return true;
  }
  if (kafka_ms >= 0) {
    *t = kafka_ms;
    return true;
  }
  // Offline input of undated items (no Kafka timestamp): the item arrived between its
  // neighbours, so it takes the stream's time, as a live item takes its broker's.
  if (clock_ms_ != INT64_MIN) {
    *t = clock_ms_;
    *undated = true;
    return true;
  }
  *why = StrCat(f.published_at.empty() ? std::string("no item.published_at")
                                       : StrCat("item.published_at '", f.published_at.substr(0, 64),
                                                "' is not a usable time"),
                ", no Kafka timestamp and no earlier alert to take the stream's time from");
  return false;
}

int StageImpl::LanguageIndex(std::string_view lang) {
  if (lang.empty()) lang = "und";
  // A stream's alerts mostly share a language: the last one's index without a hash lookup.
  if (last_language_ >= 0 && lang == last_language_name_) return last_language_;
  int index;
  auto it = languages_.find(absl::string_view(lang.data(), lang.size()));
  if (it != languages_.end()) {
    index = it->second;
  } else if (language_names_.size() >= kMaxLanguages) {
    index = kMaxLanguages;
  } else {
    index = static_cast<int>(language_names_.size());
    language_names_.emplace_back(lang.substr(0, 16));
    languages_.emplace(std::string(lang), index);
  }
  last_language_name_.assign(lang);
  last_language_ = index;
  return index;
}

void AppendLanguages(uint64_t bits, const std::vector<std::string>& names, std::string* out) {
  out->push_back('[');
  bool first = true;
  // In interning order (the order the stage first saw the languages): stable for one stream.
  for (int i = 0; i < 64; ++i) {
    if ((bits & (uint64_t{1} << i)) == 0) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendString(i < static_cast<int>(names.size()) ? std::string_view(names[i]) : "other", out);
  }
  out->push_back(']');
}

void StageImpl::RenderAlert(std::string_view json, const StoryIndex::Assignment& a, Slot& slot,
                            StageOutput& out) {
  while (!json.empty() && (json.back() == ' ' || json.back() == '\n' || json.back() == '\r' ||
                           json.back() == '\t')) {
    json.remove_suffix(1);
  }
  std::string& o = slot.alert_out;
  o.clear();
  // Parse() succeeded on an object, so the last byte is its '}'.
  o.append(json.data(), json.size() - 1);
  const Story& s = *a.story;
  const std::string_view id = index_.Id(a.seq);
  // The object has at least its schema, so the story follows a member.
  o.append(",\"story\":{\"id\":");
  // An id that needs no escaping is in the output as it is: the output's view of it (valid as
  // long as the output), not a copy. Escaping lengthens whatever it changes, so an id written in
  // its own length was written as it is.
  const size_t id_at = o.size() + 1;
  AppendString(id, &o);
  const bool id_plain = o.size() - 1 - id_at == id.size();
  o.append(",\"first_seen\":\"");
  AppendRfc3339(s.first_seen_ms, &o);
  o.append("\",\"copies\":");
  AppendUint(s.copies, &o);
  o.append(",\"sources\":");
  AppendUint(StoryIndex::Sources(s), &o);
  o.append(",\"languages\":");
  // A story's languages are mostly those of the last story rendered (one language): its
  // rendering again. The names only grow, so a rendering holds while their count does.
  if (s.languages != languages_rendered_bits_ ||
      language_names_.size() != languages_rendered_names_) {
    languages_rendered_.clear();
    AppendLanguages(s.languages, language_names_, &languages_rendered_);
    languages_rendered_bits_ = s.languages;
    languages_rendered_names_ = language_names_.size();
  }
  o.append(languages_rendered_);
  // "new" marks the story's first item (each of its alerts, when it alerted to several topics).
  o.append(a.first_item ? ",\"new\":true}}" : ",\"new\":false}}");
  // The item id's bytes are in the alert's copy at the same place when the parse read them in
  // place (no escapes), else a copy of them.
  const auto key_at = reinterpret_cast<uintptr_t>(slot.f.id.data()) -
                      reinterpret_cast<uintptr_t>(json.data());  // wraps when before it
  if (key_at < json.size() && slot.f.id.size() < json.size() - key_at) {
    out.key = std::string_view(o).substr(key_at, slot.f.id.size());
  } else {
    slot.key_out.assign(slot.f.id);
    out.key = slot.key_out;
  }
  // A copy: the index's ids move when later alerts of a batch expire or add stories.
  if (id_plain) {
    out.story_id = std::string_view(o).substr(id_at, id.size());
  } else {
    slot.story_id_out.assign(id);
    out.story_id = slot.story_id_out;
  }
  out.alert = o;
  out.story_copies = s.copies;
}

void StageImpl::RenderEvents(Slot& slot, StageOutput& out) {
  if (events_.empty()) return;
  std::string& o = slot.events_out;
  o.clear();
  slot.event_spans.clear();
  // Scratch strings kept by the stage: an event allocates nothing here once they have grown.
  std::string& detected = detected_scratch_;
  detected.clear();
  AppendRfc3339(PresentMs(), &detected);
  for (const SpikeEvent& e : events_) {
    std::string_view scope = e.rule_scope ? "rule" : "tag";
    StrAppend(&o, scope, ":", e.name);
    size_t key_end = o.size();
    o.append("{\"schema\":\"steppewatch.spike.v1\",\"spike_id\":");
    std::string& id = id_scratch_;
    id.clear();
    StrAppend(&id, scope, ":", e.name, "@");
    AppendRfc3339(e.window_start_ms, &id);
    AppendString(id, &o);
    StrAppend(&o, ",\"scope\":\"", scope, "\",\"name\":");
    AppendString(e.name, &o);
    o.append(",\"state\":\"");
    o.append(e.state == SpikeState::kStart    ? "start"
             : e.state == SpikeState::kUpdate ? "update"
                                              : "end");
    o.append("\",\"window_start\":\"");
    AppendRfc3339(e.window_start_ms, &o);
    o.append("\",\"window_end\":\"");
    AppendRfc3339(e.window_end_ms, &o);
    StrAppend(&o, "\",\"detected_at\":\"", detected, "\",\"stories\":");
    AppendUint(e.stories, &o);
    o.append(",\"expected\":");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", e.expected);
    o.append(buf);
    o.append(",\"languages\":");
    AppendLanguages(e.languages, language_names_, &o);
    StrAppend(&o, ",\"confirmed\":", __builtin_popcountll(e.languages) >= 2 ? "true" : "false",
              ",\"story_ids\":[");
    // The top stories: most copies first, then oldest, among the spike's recent stories still
    // in the window.
    top_.clear();
    for (uint64_t seq : e.story_seqs) {
      if (const Story* st = index_.Find(seq)) top_.emplace_back(st->copies, seq);
    }
    std::sort(top_.begin(), top_.end(), [](const auto& x, const auto& y) {
      return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    size_t n = std::min(top_.size(), static_cast<size_t>(std::max(0, options_.top_story_ids)));
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) o.push_back(',');
      AppendString(index_.Id(top_[i].second), &o);
    }
    o.append("]}");
    slot.event_spans.emplace_back(key_end, o.size());
  }
  size_t start = 0;
  for (const auto& [key_end, end] : slot.event_spans) {
    out.spikes.push_back({std::string_view(o).substr(start, key_end - start),
                          std::string_view(o).substr(key_end, end - key_end)});
    start = end;
  }
  stats_.spike_events += events_.size();
}

void StageImpl::MoveClock(int64_t now_ms, bool idle) {
  if (clock_ms_ != INT64_MIN && now_ms <= clock_ms_) return;
  clock_ms_ = now_ms;
  if (idle) {
    spikes_.Idle(now_ms, &events_);
  } else {
    spikes_.Advance(now_ms, &events_);
  }
  index_.Expire(now_ms);
}

void StageImpl::Advance(int64_t now_ms, bool idle) {
  if (pending_ms_ != INT64_MIN && now_ms >= pending_ms_) {
    MoveClock(pending_ms_);
    CountPending(pending_ms_);
  }
  MoveClock(now_ms, idle);
}

int64_t StageImpl::Allowance() const {
  return std::max(bucket_ms_, static_cast<int64_t>(kJumpFactor * pace_ms_));
}

bool StageImpl::Ahead(int64_t t, bool undated) {
  if (clock_ms_ == INT64_MIN || undated) {
    Advance(t);
    return false;
  }
  if (paced_ >= kPaceAlerts && t - clock_ms_ > Allowance()) return true;
  // An ordinary alert: the pace learns its advance (0 when behind the clock), and a pending
  // time no other story confirmed within kPendingAlerts alerts was one item's mistake: its
  // counts count at the stream's time.
  pace_ms_ += (static_cast<double>(std::max<int64_t>(0, t - clock_ms_)) - pace_ms_) / kPaceAlerts;
  if (paced_ < kPaceAlerts) ++paced_;
  if (pending_ms_ != INT64_MIN && ++since_pending_ > kPendingAlerts) CountPending(clock_ms_);
  Advance(t);
  return false;
}

bool StageImpl::Confirm(int64_t t, uint64_t seq) {
  const int64_t allowance = Allowance();
  int run = 1;  // big steps ahead in a row ending with this one (no ordinary alert between)
  if (pending_ms_ != INT64_MIN && seq != pending_seq_) {
    // The stream did move (an archive's hole, a night, a feed resuming), at least to the
    // earlier of the two times, when another story is as far ahead (within the allowance), or
    // comes right after the pending one (no ordinary alert between) and later, by at most a
    // spike window or as the fourth such alert in a row (a stream that turned sparse). A
    // later time further off is more likely another mistake (2% of an archive's alerts out of
    // place put two or three side by side now and then); a wrong jump of at most a spike
    // window costs little (what is behind it still counts).
    const bool agrees = t >= pending_ms_ - allowance && t <= pending_ms_ + allowance;
    const bool in_row = since_pending_ == 0 && t > pending_ms_;
    const bool small_step = in_row && t - pending_ms_ <= std::max(allowance, spike_window_ms_);
    if (in_row && !small_step) {
      // A big step in a row: `run` counts them (the pending alert's run, plus this one). They
      // may be a stream that turned sparse (a weekend after a busy day): the pace learns the
      // step (at most a spike window: a pair of mistakes teaches it little), so that the
      // allowance grows to such a stream's gaps within a few alerts and its alerts are no
      // longer doubted one by one.
      run = ahead_run_ + 1;
      const double step = static_cast<double>(std::min(t - pending_ms_, spike_window_ms_));
      pace_ms_ += (step - pace_ms_) / kPaceAlerts;
    }
    if (agrees || small_step || (in_row && run >= 4)) {
      ++stats_.clock_jumps;
      Advance(std::min(t, pending_ms_));
      if (pending_ms_ != INT64_MIN) CountPending(clock_ms_);
      if (t - clock_ms_ <= allowance) {
        Advance(t);
        return true;
      }
      // Further still: `t` is doubted in turn; in a sparse run (big steps) the next big step
      // confirms it.
      run = agrees || small_step ? 1 : std::max(run, 3);
    } else {
      // Two times ahead that do not agree: the older one counts at the stream's time.
      CountPending(clock_ms_);
    }
  } else if (pending_ms_ != INT64_MIN) {
    run = ahead_run_;  // the pending story again (another topic's alert, or a copy)
  }
  ++stats_.ahead;
  pending_ms_ = t;
  pending_seq_ = seq;
  since_pending_ = 0;
  ahead_run_ = run;
  return false;
}

void StageImpl::Defer(AlertFields& f, int language, uint64_t seq, bool again) {
  if (n_deferred_ == deferred_.size()) deferred_.emplace_back();
  DeferredCount& d = deferred_[n_deferred_++];
  d.language = language;
  d.seq = seq;
  d.again = again;
  d.n_rules = d.n_tags = 0;
  ForEachUniqueKey(f, [&d](bool rule_scope, std::string_view name) {
    std::vector<std::string>& to = rule_scope ? d.rules : d.tags;
    size_t& n = rule_scope ? d.n_rules : d.n_tags;
    if (to.size() <= n) to.emplace_back();
    to[n++].assign(name);
  });
}

void StageImpl::CountPending(int64_t t) {
  pending_ms_ = INT64_MIN;
  for (size_t i = 0; i < n_deferred_; ++i) {
    DeferredCount& d = deferred_[i];
    if (!d.again) spikes_.AddGlobalStory();
    auto count = [&](bool rule_scope, const std::vector<std::string>& names, size_t n) {
      for (size_t j = 0; j < n; ++j) {
        spikes_.AddStory(rule_scope, names[j], t, d.language, d.seq, &events_, d.again);
      }
    };
    count(true, d.rules, d.n_rules);
    count(false, d.tags, d.n_tags);
  }
  n_deferred_ = 0;
}

// Counts a new dated story for the spikes: globally and once per matched rule and tag.
void StageImpl::CountNewStory(AlertFields& f, int64_t t, int language, uint64_t seq, bool again) {
  if (!again) spikes_.AddGlobalStory();
  ForEachUniqueKey(f, [&](bool rule_scope, std::string_view name) {
    spikes_.AddStory(rule_scope, name, t, language, seq, &events_, again);
  });
}

void StageImpl::Handle(const StageInput& in, Slot& slot, StageOutput& out, bool replay,
                       bool prefetched) {
  Reset(out);
  events_.clear();
  ++stats_.alerts;
  AlertFields& f = slot.f;
  if (f.error) {
    return Reject(out, "json",
                  StrCat("the alert is not valid JSON: ", simdjson::error_message(f.error)));
  }
  if (!f.schema_ok) {
    return Reject(out, "schema",
                  f.has_schema ? "the alert's schema is not steppewatch.alert.v1"
                               : "the alert has no schema");
  }
  if (f.id.empty()) return Reject(out, "no_id", "the alert has no item.id");
  if (!f.fp_ok) {
    return Reject(out, "no_fingerprint",
                  StrCat("item ", std::string_view(f.id).substr(0, 64),
                         f.has_fingerprint ? ": item.fingerprint is not 16 hex digits"
                                           : ": the alert has no item.fingerprint"));
  }
  if (!f.lead_ok) {
    return Reject(out, "no_fingerprint",
                  StrCat("item ", std::string_view(f.id).substr(0, 64),
                         ": item.lead_fingerprint is not 16 hex digits"));
  }
  if (!f.sentence_ok || !f.sentence2_ok) {
    return Reject(out, "no_fingerprint",
                  StrCat("item ", std::string_view(f.id).substr(0, 64), ": item.",
                         f.sentence_ok ? "fingerprint_sentence2" : "fingerprint_sentence",
                         " is not 16 hex digits"));
  }
  int64_t kafka_timestamp_ms = in.kafka_timestamp_ms;
  if (kafka_timestamp_ms < 0) kafka_timestamp_ms = f.origin_timestamp_ms;
  int64_t t;
  bool undated = false;
  std::string why;
  if (!ResolveTime(f, kafka_timestamp_ms, &t, &undated, &why)) {
    return Reject(out, "no_time", StrCat("item ", std::string_view(f.id).substr(0, 64), ": ", why));
  }
  if (clock_ms_ != INT64_MIN && t < clock_ms_ - window_ms_) {
    ++stats_.late;
    std::string when;
    AppendRfc3339(t, &when);
    return Reject(out, "late",
                  StrCat("item ", std::string_view(f.id).substr(0, 64), ": its time ", when,
                         " is older than the window"));
  }
  const bool ahead = Ahead(t, undated);
  if (undated) ++stats_.undated;
  int language = LanguageIndex(f.lang);
  StoryIndex::Assignment a =
      prefetched ? index_.AssignPrefetched(f.fp, f.id, t, Hash64(f.source), language, f.lead,
                                           f.fingerprint_tokens, f.sentence, f.sentence2)
                 : index_.Assign(f.fp, f.id, t, Hash64(f.source), language, f.lead,
                                 f.fingerprint_tokens, f.sentence, f.sentence2);
  // An ahead alert's story keeps the alert's own time (its first_seen); its counts for spikes
  // wait until the time is confirmed or dropped.
  const bool held = ahead && !Confirm(t, a.seq);
  if (!a.is_new) {
    if (!a.same_item) {
      ++stats_.copies;
    } else if (a.first_item && !undated) {
      // The story's first item again: the same item alerting to several topics arrives once
      // per topic, each alert with the rules and tags of its own topic. Its rules and tags
      // here count the new story too, each key once (AddStory's `again`).
      if (held) {
        Defer(f, language, a.seq, /*again=*/true);
      } else {
        CountNewStory(f, t, language, a.seq, /*again=*/true);
      }
    }
  } else {
    ++stats_.new_stories;
    // An undated story is grouped, and its copies find it; but a count of new stories per
    // bucket means nothing for a story whose time is not known: only dated ones count.
    if (held) {
      Defer(f, language, a.seq, /*again=*/false);
    } else if (!undated) {
      CountNewStory(f, t, language, a.seq, /*again=*/false);
    }
  }
  if (replay) return;
  RenderAlert(in.alert_json, a, slot, out);
  RenderEvents(slot, out);
}

std::span<const StageOutput> StageImpl::ProcessBatch(std::span<const StageInput> alerts,
                                                     bool replay) {
  const size_t n = alerts.size();
  Grow(n);
  // A software pipeline three alerts deep: parse alert j and start loading its bucket heads,
  // start loading the first line of each bucket of alert j - 1 (its heads have arrived
  // meanwhile), the rest of the buckets of alert j - 2 (as many lines as their sizes, in those
  // first lines, say), handle alert j - 3. Parsing touches no stage state and prefetches are
  // hints, so the outputs and the state are those of handling the alerts one by one.
  for (size_t j = 0; j < n + 3; ++j) {
    if (j + 1 < n) {
      // The next alert's bytes (the start of it: the hardware prefetcher follows a stream
      // once it has seen a few lines of it).
      const std::string_view next = alerts[j + 1].alert_json;
      for (size_t at = 0; at < next.size() && at < 1024; at += 64) {
        __builtin_prefetch(next.data() + at);
      }
    }
    if (j < n) {
      AlertFields& f = slots_[j]->f;
      parser_.Parse(alerts[j].alert_json, &f);
      if (f.fp_ok) index_.PrefetchHeads(f.fp, f.lead, f.sentence, f.sentence2);
    }
    if (j >= 1 && j - 1 < n) {
      const AlertFields& f = slots_[j - 1]->f;
      if (f.fp_ok) index_.PrefetchBucketStarts(f.fp, f.lead, f.sentence, f.sentence2);
    }
    if (j >= 2 && j - 2 < n) {
      const AlertFields& f = slots_[j - 2]->f;
      if (f.fp_ok) index_.PrefetchBucketRest(f.fp, f.lead, f.sentence, f.sentence2);
    }
    if (j >= 3) Handle(alerts[j - 3], *slots_[j - 3], outs_[j - 3], replay, true);
  }
  return std::span<const StageOutput>(outs_.data(), n);
}

const StageOutput& StageImpl::Process(std::string_view alert_json, int64_t kafka_timestamp_ms,
                                      bool replay) {
  const StageInput in{alert_json, kafka_timestamp_ms};
  parser_.Parse(alert_json, &slots_[0]->f);
  Handle(in, *slots_[0], outs_[0], replay, false);
  return outs_[0];
}

const StageOutput& StageImpl::Tick(int64_t now_ms) {
  StageOutput& out = outs_[0];
  Reset(out);
  events_.clear();
  Advance(now_ms, /*idle=*/true);
  RenderEvents(*slots_[0], out);
  return out;
}

StageStats StageImpl::stats() const {
  StageStats s = stats_;
  s.window_stories = index_.size();
  s.memory_bytes = index_.MemoryBytes() + spikes_.MemoryBytes();
  s.active_spikes = spikes_.active_spikes();
  s.keys = spikes_.keys();
  s.dropped_keys = spikes_.dropped_keys();
  s.behind_spike_window = spikes_.behind_window();
  s.stream_holes = spikes_.holes();
  s.warm = spikes_.warm();
  s.clock_ms = clock_ms_ == INT64_MIN ? -1 : clock_ms_;
  s.pending_clock_ms = pending_ms_ == INT64_MIN ? -1 : pending_ms_;
  s.index_packings = index_.events().packings;
  s.index_packing_ns = index_.events().packing_ns;
  s.index_arenas_allocated = index_.events().arenas_allocated;
  return s;
}

}  // namespace

absl::Duration ReplayHorizon(const StageOptions& options) {
  return std::max(options.window, absl::Hours(24) * options.warmup_days);
}

absl::StatusOr<std::unique_ptr<StoriesStage>> StoriesStage::Create(const StageOptions& o) {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(StrCat("stories: ", what));
  };
  if (o.window < absl::Minutes(1) || o.window > absl::Hours(24 * 31)) {
    return bad("window must be between 1m and 31 days");
  }
  if (o.bucket < absl::Seconds(1) || o.bucket > absl::Hours(24)) {
    return bad("bucket must be between 1s and 24h");
  }
  if (o.spike_window < o.bucket || o.spike_window > o.bucket * 1024) {
    return bad("spike_window must be between one bucket and 1024 buckets");
  }
  if (absl::ToInt64Milliseconds(o.spike_window) % absl::ToInt64Milliseconds(o.bucket) != 0) {
    return bad("spike_window must be a whole number of buckets");
  }
  if (o.warmup_days < 0 || o.warmup_days > 365) return bad("warmup_days must be 0..365");
  if (o.baseline < o.bucket) return bad("baseline must be at least one bucket");
  if (o.min_stories < 1) return bad("min_stories must be at least 1");
  if (!(o.baseline_floor > 0)) return bad("baseline_floor must be > 0");
  if (!(o.alpha > 0 && o.alpha < 0.5)) return bad("alpha must be in (0, 0.5)");
  if (o.top_story_ids < 0 || o.top_story_ids > 100) return bad("top_story_ids must be 0..100");
  if (o.max_keys < 1) return bad("max_keys must be at least 1");
  int64_t fixed_now = -1;
  if (!o.fixed_now.empty()) {
    bool has_time = false;
    if (!ParseEventTime(o.fixed_now, &fixed_now, &has_time) || !has_time) {
      return bad(StrCat("fixed_now '", o.fixed_now, "' is not an RFC 3339 time"));
    }
  }
  SpikeOptions so;
  so.bucket_ms = absl::ToInt64Milliseconds(o.bucket);
  so.spike_window_ms = absl::ToInt64Milliseconds(o.spike_window);
  so.warmup_ms = o.warmup_days * kDayMs;
  so.baseline_ms = absl::ToInt64Milliseconds(o.baseline);
  so.min_stories = o.min_stories;
  so.floor = o.baseline_floor;
  so.alpha = o.alpha;
  so.recent_stories = std::max(32, 2 * o.top_story_ids);
  so.max_keys = o.max_keys;
  return std::unique_ptr<StoriesStage>(new StageImpl(o, so, fixed_now));
}

}  // namespace steppewatch::stories

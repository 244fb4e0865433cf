// StoriesStage implementation: simdjson On-Demand reads the few fields the stage needs from each
// alert, StoryIndex assigns the story, SpikeDetector counts new stories per rule and tag, and the
// enriched alert is the original bytes with a "story" object inserted before the final '}' (no
// re-serialisation of the alert).
//
// Defaults of the spike settings (StageOptions) and why:
//   window 72 h: wire copies of a story keep arriving for a day or two; a longer window costs
//     ~130 bytes per story;
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

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/clock.h"
#include "simdjson.h"
#include "steppewatch/stories/fingerprint.h"
#include "steppewatch/stories/story_index.h"
#include "stories/event_time.h"
#include "stories/spikes.h"

namespace steppewatch::stories {
namespace {

namespace ondemand = simdjson::ondemand;

constexpr std::string_view kAlertSchema = "steppewatch.alert.v1";
constexpr int64_t kDayMs = 86400 * 1000LL;
// Times before this are absurd (a zero or a parse of "0"): 1971-01-01T00:00:00Z.
constexpr int64_t kEarliestMs = 365 * kDayMs;
// A published_at more than this after the Kafka timestamp is not believed (a feed's clock or
// time zone is wrong); with no Kafka timestamp, more than a day after the present.
constexpr int64_t kAheadOfKafkaMs = 3600 * 1000LL;
constexpr int64_t kAheadOfNowMs = kDayMs;
// Language index 63 is shared by every language past the 63rd distinct one.
constexpr int kMaxLanguages = 63;

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

void AppendEscaped(std::string_view s, std::string* out) {
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}

void AppendString(std::string_view s, std::string* out) {
  out->push_back('"');
  AppendEscaped(s, out);
  out->push_back('"');
}

class StageImpl final : public StoriesStage {
 public:
  StageImpl(const StageOptions& o, const SpikeOptions& so, int64_t fixed_now_ms)
      : options_(o),
        window_ms_(absl::ToInt64Milliseconds(o.window)),
        fixed_now_ms_(fixed_now_ms),
        index_(window_ms_),
        spikes_(so) {}

  const StageOutput& Process(std::string_view alert_json, int64_t kafka_timestamp_ms,
                             bool replay) override;
  const StageOutput& Tick(int64_t now_ms) override;
  StageStats stats() const override;
  void ForEachKey(
      const std::function<void(std::string_view, std::string_view, uint64_t)>& fn) const override {
    spikes_.ForEachKey(
        [&](bool rule, std::string_view name, uint64_t n) { fn(rule ? "rule" : "tag", name, n); });
  }

 private:
  // The fields of one alert the stage reads (copies: simdjson's views die at the next parse).
  struct Fields {
    bool schema_ok = false;
    bool has_schema = false;
    std::string id, source, lang, published_at, fingerprint;
    bool has_fingerprint = false;
    int64_t origin_timestamp_ms = -1;
    std::vector<std::string> rules, tags;
    size_t n_rules = 0, n_tags = 0;
  };

  void Reset();
  const StageOutput& Reject(std::string_view reason, std::string message);
  simdjson::error_code Parse(std::string_view json);
  simdjson::error_code ParseItem(ondemand::value item);
  simdjson::error_code ParseMatches(ondemand::value matches);
  bool ResolveTime(int64_t kafka_timestamp_ms, int64_t* t, std::string* why) const;
  int64_t PresentMs() const;
  int LanguageIndex(std::string_view lang);
  void RenderAlert(std::string_view json, const StoryIndex::Assignment& a);
  void RenderEvents();
  void Advance(int64_t now_ms);

  StageOptions options_;
  int64_t window_ms_;
  int64_t fixed_now_ms_;  // -1: the wall clock
  StoryIndex index_;
  SpikeDetector spikes_;
  int64_t clock_ms_ = INT64_MIN;

  ondemand::parser parser_;
  simdjson::dom::parser validator_;
  std::string buffer_;  // the alert, padded for simdjson
  Fields f_;

  absl::flat_hash_map<std::string, int> languages_;
  std::vector<std::string> language_names_;

  std::vector<SpikeEvent> events_;
  std::string alert_out_, key_out_, events_out_;
  std::vector<std::pair<size_t, size_t>> event_spans_;  // (key end, json end) in events_out_
  std::vector<std::pair<uint32_t, uint64_t>> top_;      // scratch: (copies, seq)
  StageOutput out_;
  StageStats stats_;
};

void StageImpl::Reset() {
  out_.alert = {};
  out_.key = {};
  out_.spikes.clear();
  out_.rejected = {};
  out_.message.clear();
  events_.clear();
}

const StageOutput& StageImpl::Reject(std::string_view reason, std::string message) {
  ++stats_.rejected;
  out_.rejected = reason;
  out_.message = std::move(message);
  return out_;
}

simdjson::error_code StageImpl::ParseItem(ondemand::value item) {
  ondemand::object obj;
  if (auto e = item.get_object().get(obj)) return e;
  for (auto field_result : obj) {
    ondemand::field field;
    if (auto e = std::move(field_result).get(field)) return e;
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    std::string* dest = nullptr;
    if (key == "id") {
      dest = &f_.id;
    } else if (key == "source") {
      dest = &f_.source;
    } else if (key == "lang") {
      dest = &f_.lang;
    } else if (key == "published_at") {
      dest = &f_.published_at;
    } else if (key == "fingerprint") {
      dest = &f_.fingerprint;
      f_.has_fingerprint = true;
    } else {
      continue;
    }
    ondemand::value v = field.value();
    bool is_null = false;
    if (auto e = v.is_null().get(is_null)) return e;
    if (is_null) {
      if (dest == &f_.fingerprint) f_.has_fingerprint = false;
      continue;
    }
    std::string_view s;
    if (auto e = v.get_string().get(s)) return e;
    dest->assign(s);
  }
  return simdjson::SUCCESS;
}

simdjson::error_code StageImpl::ParseMatches(ondemand::value matches) {
  ondemand::array arr;
  if (auto e = matches.get_array().get(arr)) return e;
  for (auto match_result : arr) {
    ondemand::object match;
    if (auto e = match_result.get_object().get(match)) return e;
    for (auto field_result : match) {
      ondemand::field field;
      if (auto e = std::move(field_result).get(field)) return e;
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return e;
      if (key == "rule") {
        std::string_view s;
        if (auto e = field.value().get_string().get(s)) return e;
        if (f_.n_rules == f_.rules.size()) f_.rules.emplace_back();
        f_.rules[f_.n_rules++].assign(s);
      } else if (key == "tags") {
        ondemand::array tags;
        if (auto e = field.value().get_array().get(tags)) return e;
        for (auto tag_result : tags) {
          std::string_view s;
          if (auto e = tag_result.get_string().get(s)) return e;
          if (f_.n_tags == f_.tags.size()) f_.tags.emplace_back();
          f_.tags[f_.n_tags++].assign(s);
        }
      }
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code StageImpl::Parse(std::string_view json) {
  f_.schema_ok = f_.has_schema = f_.has_fingerprint = false;
  f_.id.clear();
  f_.source.clear();
  f_.lang.clear();
  f_.published_at.clear();
  f_.fingerprint.clear();
  f_.origin_timestamp_ms = -1;
  f_.n_rules = f_.n_tags = 0;

  // One padded buffer, reused: Kafka payloads have no readable bytes past their end.
  if (buffer_.capacity() < json.size() + simdjson::SIMDJSON_PADDING) {
    buffer_.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  }
  buffer_.assign(json);
  ondemand::document doc;
  if (auto e = parser_.iterate(buffer_.data(), buffer_.size(), buffer_.capacity()).get(doc)) {
    return e;
  }
  ondemand::object root;
  if (auto e = doc.get_object().get(root)) return e;
  for (auto field_result : root) {
    ondemand::field field;
    if (auto e = std::move(field_result).get(field)) return e;
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    if (key == "schema") {
      std::string_view s;
      if (auto e = field.value().get_string().get(s)) return e;
      f_.has_schema = true;
      f_.schema_ok = s == kAlertSchema;
    } else if (key == "item") {
      if (auto e = ParseItem(field.value())) return e;
    } else if (key == "matches") {
      if (auto e = ParseMatches(field.value())) return e;
    } else if (key == "origin") {
      ondemand::object origin;
      if (auto e = field.value().get_object().get(origin)) return e;
      for (auto of_result : origin) {
        ondemand::field of;
        if (auto e = std::move(of_result).get(of)) return e;
        std::string_view ok;
        if (auto e = of.unescaped_key().get(ok)) return e;
        if (ok != "timestamp_ms") continue;
        int64_t ts;
        if (auto e = of.value().get_int64().get(ts)) return e;
        f_.origin_timestamp_ms = ts;
      }
    }
  }
  // current_location() fails with OUT_OF_BOUNDS exactly when the whole input was consumed.
  if (!doc.current_location().error()) return simdjson::TRAILING_CONTENT;
  // On-Demand checks only what it reads, and the stage republishes the alert's bytes: a value
  // it skipped (a hit with a missing ':') would reach the stories topic as invalid JSON. The
  // DOM parser validates the whole document (~0.3 us for a 1.3 KB alert).
  simdjson::dom::element root_element;
  if (auto e = validator_
                   .parse(reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size(),
                          /*realloc_if_needed=*/false)
                   .get(root_element)) {
    return e;
  }
  return simdjson::SUCCESS;
}

int64_t StageImpl::PresentMs() const {
  return fixed_now_ms_ >= 0 ? fixed_now_ms_ : absl::ToUnixMillis(absl::Now());
}

bool StageImpl::ResolveTime(int64_t kafka_ms, int64_t* t, std::string* why) const {
  if (kafka_ms < kEarliestMs || kafka_ms > PresentMs() + kAheadOfNowMs) kafka_ms = -1;
  int64_t published = -1;
  bool has_time = false;
  if (!f_.published_at.empty()) {
    if (!ParseEventTime(f_.published_at, &published, &has_time) || published < kEarliestMs) {
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
  *why = f_.published_at.empty() ? "no item.published_at and no Kafka timestamp"
                                 : StrCat("item.published_at '", f_.published_at.substr(0, 64),
                                          "' is not a usable time and there is no Kafka timestamp");
  return false;
}

int StageImpl::LanguageIndex(std::string_view lang) {
  if (lang.empty()) lang = "und";
  auto it = languages_.find(absl::string_view(lang.data(), lang.size()));
  if (it != languages_.end()) return it->second;
  if (language_names_.size() >= kMaxLanguages) return kMaxLanguages;
  int index = static_cast<int>(language_names_.size());
  language_names_.emplace_back(lang.substr(0, 16));
  languages_.emplace(std::string(lang), index);
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

void StageImpl::RenderAlert(std::string_view json, const StoryIndex::Assignment& a) {
  while (!json.empty() && (json.back() == ' ' || json.back() == '\n' || json.back() == '\r' ||
                           json.back() == '\t')) {
    json.remove_suffix(1);
  }
  alert_out_.clear();
  // Parse() succeeded on an object, so the last byte is its '}'.
  alert_out_.append(json.data(), json.size() - 1);
  const Story& s = *a.story;
  // The object has at least its schema, so the story follows a member.
  alert_out_.append(",\"story\":{\"id\":");
  AppendString(index_.Id(a.seq), &alert_out_);
  alert_out_.append(",\"first_seen\":\"");
  AppendRfc3339(s.first_seen_ms, &alert_out_);
  alert_out_.append("\",\"copies\":");
  StrAppend(&alert_out_, std::to_string(s.copies),
            ",\"sources\":", std::to_string(StoryIndex::Sources(s)), ",\"languages\":");
  AppendLanguages(s.languages, language_names_, &alert_out_);
  // "new" marks the story's first item (each of its alerts, when it alerted to several topics).
  alert_out_.append(a.first_item ? ",\"new\":true}}" : ",\"new\":false}}");
  key_out_.assign(f_.id);
  out_.alert = alert_out_;
  out_.key = key_out_;
  out_.story_id = index_.Id(a.seq);
  out_.story_copies = s.copies;
}

void StageImpl::RenderEvents() {
  if (events_.empty()) return;
  events_out_.clear();
  event_spans_.clear();
  std::string detected;
  AppendRfc3339(PresentMs(), &detected);
  for (const SpikeEvent& e : events_) {
    std::string_view scope = e.rule_scope ? "rule" : "tag";
    StrAppend(&events_out_, scope, ":", e.name);
    size_t key_end = events_out_.size();
    std::string& o = events_out_;
    o.append("{\"schema\":\"steppewatch.spike.v1\",\"spike_id\":");
    std::string id = StrCat(scope, ":", e.name, "@");
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
    StrAppend(&o, "\",\"detected_at\":\"", detected, "\",\"stories\":", std::to_string(e.stories),
              ",\"expected\":");
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
      if (const Story* s = index_.Find(seq)) top_.emplace_back(s->copies, seq);
    }
    std::sort(top_.begin(), top_.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    size_t n = std::min(top_.size(), static_cast<size_t>(std::max(0, options_.top_story_ids)));
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) o.push_back(',');
      AppendString(index_.Id(top_[i].second), &o);
    }
    o.append("]}");
    event_spans_.emplace_back(key_end, o.size());
  }
  size_t start = 0;
  for (const auto& [key_end, end] : event_spans_) {
    out_.spikes.push_back({std::string_view(events_out_).substr(start, key_end - start),
                           std::string_view(events_out_).substr(key_end, end - key_end)});
    start = end;
  }
  stats_.spike_events += events_.size();
}

void StageImpl::Advance(int64_t now_ms) {
  if (clock_ms_ != INT64_MIN && now_ms <= clock_ms_) return;
  clock_ms_ = now_ms;
  spikes_.Advance(now_ms, &events_);
  index_.Expire(now_ms);
}

const StageOutput& StageImpl::Process(std::string_view alert_json, int64_t kafka_timestamp_ms,
                                      bool replay) {
  Reset();
  ++stats_.alerts;
  if (auto e = Parse(alert_json)) {
    return Reject("json", StrCat("the alert is not valid JSON: ", simdjson::error_message(e)));
  }
  if (!f_.schema_ok) {
    return Reject("schema", f_.has_schema ? "the alert's schema is not steppewatch.alert.v1"
                                          : "the alert has no schema");
  }
  if (f_.id.empty()) return Reject("no_id", "the alert has no item.id");
  Fingerprint fp = 0;
  if (!f_.has_fingerprint || !ParseFingerprint(f_.fingerprint, &fp)) {
    return Reject("no_fingerprint",
                  StrCat("item ", f_.id.substr(0, 64),
                         f_.has_fingerprint ? ": item.fingerprint is not 16 hex digits"
                                            : ": the alert has no item.fingerprint"));
  }
  if (kafka_timestamp_ms < 0) kafka_timestamp_ms = f_.origin_timestamp_ms;
  int64_t t;
  std::string why;
  if (!ResolveTime(kafka_timestamp_ms, &t, &why)) {
    return Reject("no_time", StrCat("item ", f_.id.substr(0, 64), ": ", why));
  }
  if (clock_ms_ != INT64_MIN && t < clock_ms_ - window_ms_) {
    ++stats_.late;
    std::string when;
    AppendRfc3339(t, &when);
    return Reject("late", StrCat("item ", f_.id.substr(0, 64), ": its time ", when,
                                 " is older than the window"));
  }
  Advance(t);
  int language = LanguageIndex(f_.lang);
  StoryIndex::Assignment a = index_.Assign(fp, f_.id, t, Hash64(f_.source), language);
  if (a.is_new) {
    ++stats_.new_stories;
    spikes_.AddGlobalStory();
    // Each key counts a story once, even when two matched rules carry the same tag.
    std::sort(f_.tags.begin(), f_.tags.begin() + static_cast<ptrdiff_t>(f_.n_tags));
    std::sort(f_.rules.begin(), f_.rules.begin() + static_cast<ptrdiff_t>(f_.n_rules));
    for (size_t i = 0; i < f_.n_rules; ++i) {
      if (i > 0 && f_.rules[i] == f_.rules[i - 1]) continue;
      spikes_.AddStory(true, f_.rules[i], t, language, a.seq, &events_);
    }
    for (size_t i = 0; i < f_.n_tags; ++i) {
      if (i > 0 && f_.tags[i] == f_.tags[i - 1]) continue;
      spikes_.AddStory(false, f_.tags[i], t, language, a.seq, &events_);
    }
  } else if (!a.same_item) {
    ++stats_.copies;
  }
  if (replay) return out_;
  RenderAlert(alert_json, a);
  RenderEvents();
  return out_;
}

const StageOutput& StageImpl::Tick(int64_t now_ms) {
  Reset();
  Advance(now_ms);
  RenderEvents();
  return out_;
}

StageStats StageImpl::stats() const {
  StageStats s = stats_;
  s.window_stories = index_.size();
  s.memory_bytes = index_.MemoryBytes() + spikes_.MemoryBytes();
  s.active_spikes = spikes_.active_spikes();
  s.keys = spikes_.keys();
  s.dropped_keys = spikes_.dropped_keys();
  s.warm = spikes_.warm();
  s.clock_ms = clock_ms_ == INT64_MIN ? -1 : clock_ms_;
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

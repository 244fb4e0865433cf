// Alerts for the stories stage's tests: steppewatch.alert.v1 JSON with a chosen fingerprint, time,
// rule, tags, source and language.
#pragma once

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::stories {

constexpr int64_t kMinute = 60 * 1000LL;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// Monday 2022-11-21 00:00:00 UTC.
constexpr int64_t kT0 = 1668988800000LL;

inline std::string Rfc3339(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];  // room for any int's digits: no truncation warning
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

struct AlertSpec {
  std::string id;
  Fingerprint fp;
  int64_t time_ms;
  std::string rule = "kz.unrest";
  std::vector<std::string> tags = {"geo:kazakhstan"};
  std::string source = "example.org";
  std::string lang = "en";
  Fingerprint lead = 0;       // item.lead_fingerprint when not 0
  uint32_t tokens = 0;        // item.fingerprint_tokens when not 0
  Fingerprint sentence = 0;   // item.fingerprint_sentence when not 0
  Fingerprint sentence2 = 0;  // item.fingerprint_sentence2 when not 0
};

inline std::string Alert(const AlertSpec& a) {
  std::string fp;
  AppendFingerprint(a.fp, &fp);
  if (a.lead != 0) {
    fp += "\",\"lead_fingerprint\":\"";
    AppendFingerprint(a.lead, &fp);
  }
  fp += '"';
  if (a.tokens != 0) fp += ",\"fingerprint_tokens\":" + std::to_string(a.tokens);
  if (a.sentence != 0) {
    fp += ",\"fingerprint_sentence\":\"";
    AppendFingerprint(a.sentence, &fp);
    fp += '"';
  }
  if (a.sentence2 != 0) {
    fp += ",\"fingerprint_sentence2\":\"";
    AppendFingerprint(a.sentence2, &fp);
    fp += '"';
  }
  std::string tags;
  for (const std::string& t : a.tags) tags += (tags.empty() ? "\"" : ",\"") + t + "\"";
  return "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"" + a.id +
         "\",\"title\":\"T\",\"source\":\"" + a.source + "\",\"lang\":\"" + a.lang +
         "\",\"published_at\":\"" + Rfc3339(a.time_ms) + "\",\"fingerprint\":\"" + fp +
         "},\"matches\":[{\"rule\":\"" + a.rule + "\",\"tags\":[" + tags +
         "],\"score\":1,\"hits\":[{\"term\":\"x\",\"field\":\"title\"}]}],\"origin\":{\"topic\":"
         "\"items\",\"partition\":0,\"offset\":1,\"timestamp_ms\":-1},\"instance\":\"t\"}";
}

// Distinct fingerprints: far apart (a multiplicative hash of i), never near-duplicates.
inline Fingerprint Distinct(uint64_t i) { return (i + 1) * 0x9E3779B97F4A7C15ULL; }

}  // namespace steppewatch::stories

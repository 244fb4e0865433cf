// SyntheticStoriesAlert (see stories_alert.h).
#include "support/stories_alert.h"

#include <cstdio>
#include <ctime>

namespace steppewatch::bench {

std::string SyntheticStoriesAlert(std::string_view item_id, uint64_t i, stories::Fingerprint fp,
                                  int64_t t_ms, int rule, stories::Fingerprint lead,
                                  stories::Fingerprint sentence, stories::Fingerprint sentence2) {
  char head[640];
  std::string fp_hex;
  stories::AppendFingerprint(fp, &fp_hex);
  if (lead != 0) {
    fp_hex += "\",\"lead_fingerprint\":\"";
    stories::AppendFingerprint(lead, &fp_hex);
  }
  if (sentence != 0) {
    fp_hex += "\",\"fingerprint_sentence\":\"";
    stories::AppendFingerprint(sentence, &fp_hex);
  }
  if (sentence2 != 0) {
    fp_hex += "\",\"fingerprint_sentence2\":\"";
    stories::AppendFingerprint(sentence2, &fp_hex);
  }
  time_t secs = static_cast<time_t>(t_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::snprintf(
      head, sizeof head,
      "{\"schema\":\"steppewatch.alert.v1\",\"item\":{\"id\":\"%.*s\",\"title\":\"Kazakhstan "
      "signs gas pipeline deal with China as Tokayev visits Beijing\",\"url\":\"https://"
      "example.org/news/%llu\",\"source\":\"outlet%d.example\",\"lang\":\"en\","
      "\"published_at\":\"%s\",\"fingerprint\":\"%s\"},\"matches\":[",
      static_cast<int>(item_id.size()), item_id.data(), static_cast<unsigned long long>(i),
      static_cast<int>(i % 300), when, fp_hex.c_str());
  std::string a = head;
  for (int m = 0; m < 2; ++m) {
    char match[256];
    std::snprintf(match, sizeof match,
                  "%s{\"rule\":\"rule.%d\",\"title\":\"Rule %d\",\"severity\":\"high\",\"tags\":"
                  "[\"geo:country%d\",\"theme:topic%d\"],\"score\":10,\"hits\":[",
                  m ? "," : "", (rule + m * 7) % 50, rule, (rule + m) % 40, (rule + m) % 30);
    a += match;
    for (int h = 0; h < 3; ++h) {
      a += std::string(h ? "," : "") +
           "{\"term\":\"Kazakhstan\",\"field\":\"body\",\"start\":120,\"end\":130,\"snippet\":"
           "\"…the government of Kazakhstan said on Tuesday that the new pipeline to China would "
           "carry 10 bcm a year from 2026…\"}";
    }
    a += "]}";
  }
  a += "],\"rule_pack\":{\"name\":\"central-asia\",\"version\":\"1.4\",\"hash\":\"sha256:"
       "d1458e66d4911cc47fd97ca008f9c0e3fb3c2dd89d3a8e8035cf56733d62b7e4\"},\"origin\":{"
       "\"topic\":\"news.items\",\"partition\":3,\"offset\":123456,\"timestamp_ms\":-1},"
       "\"processed_at\":\"2026-01-01T00:00:00.000Z\",\"instance\":\"bench\"}";
  return a;
}

}  // namespace steppewatch::bench

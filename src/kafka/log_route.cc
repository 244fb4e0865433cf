#include "steppewatch/kafka/log_route.h"

#include "steppewatch/common/log.h"

namespace steppewatch::kafka {
namespace {

// librdkafka's syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug.
void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const log::Level ours = level <= 3   ? log::Level::kError
                          : level == 4 ? log::Level::kWarning
                          : level <= 6 ? log::Level::kInfo
                                       : log::Level::kDebug;
  // A broker outage makes librdkafka log every reconnect attempt: one line per 10 s is enough.
  static log::RateLimiter limiter(10000);
  if (!log::Enabled(ours)) return;
  log::LimitedLine(limiter, ours, "rdkafka", buf,
                   {{"client", rd_kafka_name(rk)}, {"facility", fac}});
}

}  // namespace

void RouteLogs(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, &LogCallback); }

void RouteLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  LogCallback(rk, level, fac, buf);
}

}  // namespace steppewatch::kafka

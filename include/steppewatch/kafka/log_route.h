// Routes librdkafka's own log lines through the project logger (common/log.h), component
// "rdkafka", with the client and facility as structured fields, so that they follow log.level
// and log.format (one JSON object per line) like every other line of the daemon.
//
// Thread-safe: librdkafka calls the callback from its own threads; the logger writes each line
// with one write(2).
#pragma once

#include <librdkafka/rdkafka.h>

namespace steppewatch::kafka {

// Sets the log callback of `conf` (before rd_kafka_new). The callback reads only its arguments,
// so the configuration's opaque pointer stays the caller's.
void RouteLogs(rd_kafka_conf_t* conf);

// Routes one line as the callback RouteLogs() installs does, for a log callback of the caller's
// own (ClientCallbacks::log) that looks at the line first.
void RouteLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

}  // namespace steppewatch::kafka

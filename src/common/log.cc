// The logger of log.h: formats a line into a stack buffer and writes it with one write(2).
#include "steppewatch/common/log.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace steppewatch::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<uint64_t> g_write_errors{0};

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

char LevelLetter(Level level) {
  switch (level) {
    case Level::kDebug:
      return 'D';
    case Level::kInfo:
      return 'I';
    case Level::kWarning:
      return 'W';
    case Level::kError:
      return 'E';
  }
  return '?';
}

}  // namespace

void WriteLine(std::string_view line) {
  // One write per line keeps lines whole between threads; a short write to a pipe is retried
  // and EINTR is retried. Any other error (the reader of a log pipe went away: EPIPE, SIGPIPE
  // being ignored; a full disk; a closed descriptor) drops the line and is counted: logging
  // never fails the daemon.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      g_write_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    done += static_cast<size_t>(n);
  }
}

uint64_t WriteErrors() { return g_write_errors.load(std::memory_order_relaxed); }

void SetMinLevel(Level level) { g_min_level.store(static_cast<int>(level)); }

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

bool ParseLevel(std::string_view name, Level* level) {
  if (name == "debug") {
    *level = Level::kDebug;
  } else if (name == "info") {
    *level = Level::kInfo;
  } else if (name == "warning" || name == "warn") {
    *level = Level::kWarning;
  } else if (name == "error") {
    *level = Level::kError;
  } else {
    return false;
  }
  return true;
}

void Line(Level level, std::string_view component, std::string_view message) {
  if (!Enabled(level)) return;
  const int64_t now_ms = NowMillis();
  const std::time_t seconds = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm_utc;
  gmtime_r(&seconds, &tm_utc);
  char stamp[80];  // 24 bytes in practice; sized for the widest ints snprintf could print
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm_utc.tm_year + 1900,
                tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec,
                static_cast<int>(now_ms % 1000));
  std::string line;
  line.reserve(48 + component.size() + message.size());
  line.append(stamp);
  line.push_back(' ');
  line.push_back(LevelLetter(level));
  line.push_back(' ');
  line.append(component);
  line.append(": ");
  line.append(message);
  line.push_back('\n');
  WriteLine(line);
}

bool RateLimiter::Allow(uint64_t* suppressed) {
  const int64_t now = NowMillis();
  int64_t next = next_allowed_ms_.load(std::memory_order_relaxed);
  if (now >= next &&
      next_allowed_ms_.compare_exchange_strong(next, now + period_ms_, std::memory_order_relaxed)) {
    *suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void LimitedLine(RateLimiter& limiter, Level level, std::string_view component,
                 std::string_view message) {
  uint64_t suppressed = 0;
  if (!limiter.Allow(&suppressed)) return;
  if (suppressed == 0) {
    Line(level, component, message);
  } else {
    std::string m(message);
    m.append(" (");
    m.append(std::to_string(suppressed));
    m.append(" more suppressed)");
    Line(level, component, m);
  }
}

}  // namespace steppewatch::log

// The logger of log.h: formats a line (text or JSON) and writes it with one write(2).
#include "steppewatch/common/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <string>

#include "steppewatch/common/clock.h"

namespace steppewatch::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};
std::atomic<uint64_t> g_write_errors{0};

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

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "unknown";
}

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b = byte(i);
  size_t n;
  uint32_t cp;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) {
    n = 2;
    cp = b & 0x1F;
  } else if (b >= 0xE0 && b <= 0xEF) {
    n = 3;
    cp = b & 0x0F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    n = 4;
    cp = b & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  // Overlong forms, surrogates and code points above U+10FFFF are not UTF-8.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

// Appends `s` as a JSON string: quotes, escapes, and U+FFFD for bytes that are not UTF-8 (a
// message may quote an item's bytes; the record must stay valid JSON).
void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
      ++i;
    } else if (c == '\n') {
      out->append("\\n");
      ++i;
    } else if (c == '\t') {
      out->append("\\t");
      ++i;
    } else if (c == '\r') {
      out->append("\\r");
      ++i;
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out->append(buf);
      ++i;
    } else if (size_t n = Utf8SequenceLength(s, i); n > 0) {
      out->append(s.substr(i, n));
      i += n;
    } else {
      out->append("\xEF\xBF\xBD");
      ++i;
    }
  }
  out->push_back('"');
}

void AppendTimestamp(std::string* out, int64_t now_ms) {
  const std::time_t seconds = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm_utc;
  gmtime_r(&seconds, &tm_utc);
  char stamp[80];  // 24 bytes in practice; sized for the widest ints snprintf could print
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm_utc.tm_year + 1900,
                tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec,
                static_cast<int>(now_ms % 1000));
  out->append(stamp);
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

void SetFormat(Format format) { g_format.store(static_cast<int>(format)); }

Format GetFormat() { return static_cast<Format>(g_format.load(std::memory_order_relaxed)); }

bool ParseFormat(std::string_view name, Format* format) {
  if (name == "text") {
    *format = Format::kText;
  } else if (name == "json") {
    *format = Format::kJson;
  } else {
    return false;
  }
  return true;
}

std::string FormatLine(Format format, int64_t now_ms, Level level, std::string_view component,
                       std::string_view message, std::initializer_list<Field> fields) {
  std::string line;
  line.reserve(64 + component.size() + message.size());
  if (format == Format::kJson) {
    line.append("{\"time\":\"");
    AppendTimestamp(&line, now_ms);
    line.append("\",\"level\":\"");
    line.append(LevelName(level));
    line.append("\",\"component\":");
    AppendJsonString(&line, component);
    line.append(",\"message\":");
    AppendJsonString(&line, message);
    for (const Field& f : fields) {
      line.push_back(',');
      AppendJsonString(&line, f.key);
      line.push_back(':');
      AppendJsonString(&line, f.value);
    }
    line.append("}\n");
    return line;
  }
  AppendTimestamp(&line, now_ms);
  line.push_back(' ');
  line.push_back(LevelLetter(level));
  line.push_back(' ');
  line.append(component);
  line.append(": ");
  // Continuation lines are indented so that a reader (and a log shipper's multi-line rule)
  // sees them belong to this record.
  for (size_t i = 0; i < message.size(); ++i) {
    line.push_back(message[i]);
    if (message[i] == '\n' && i + 1 < message.size()) line.append("    ");
  }
  for (const Field& f : fields) {
    line.push_back(' ');
    line.append(f.key);
    line.push_back('=');
    line.append(f.value);
  }
  line.push_back('\n');
  return line;
}

void Line(Level level, std::string_view component, std::string_view message,
          std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  WriteLine(FormatLine(GetFormat(), WallMillis(), level, component, message, fields));
}

bool RateLimiter::Allow(uint64_t* suppressed) {
  const int64_t now = WallMillis();
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
                 std::string_view message, std::initializer_list<Field> fields) {
  uint64_t suppressed = 0;
  if (!limiter.Allow(&suppressed)) return;
  if (suppressed == 0) {
    Line(level, component, message, fields);
  } else {
    std::string m(message);
    m.append(" (");
    m.append(std::to_string(suppressed));
    m.append(" more suppressed)");
    Line(level, component, m, fields);
  }
}

}  // namespace steppewatch::log

// A small leveled, rate-limited logger: one line per message to stderr, as text
//   2026-11-27T21:40:00.123Z W kafka: all brokers down (3 more suppressed) topic=news.items
// or, with SetFormat(Format::kJson) (config log.format: json), one JSON object per line
//   {"time":"2026-11-27T21:40:00.123Z","level":"warning","component":"kafka",
//    "message":"all brokers down (3 more suppressed)","topic":"news.items"}
// A message with newlines stays one record (escaped in JSON; continuation lines indented in
// text); JSON strings are valid UTF-8 (invalid bytes become U+FFFD).
// Why not a logging library: abseil 20220623 has no absl/log, and a daemon under systemd or
// Kubernetes only needs lines on stderr (journald and the container runtime add the rest).
// Thread-safe: each line is written with one write(2) call, so lines from threads never mix.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace steppewatch::log {

enum class Level : uint8_t { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sets the lowest level written (default kInfo). Thread-safe.
void SetMinLevel(Level level);
bool Enabled(Level level);
// Parses "debug", "info", "warning"/"warn", "error"; returns false when unknown.
bool ParseLevel(std::string_view name, Level* level);

enum class Format : uint8_t { kText = 0, kJson = 1 };

// Sets the line format (default kText). Thread-safe; set it once at start.
void SetFormat(Format format);
Format GetFormat();
// Parses "text" or "json"; returns false when unknown.
bool ParseFormat(std::string_view name, Format* format);

// A structured field of a log line: a JSON member in kJson, " key=value" in kText.
struct Field {
  std::string_view key;
  std::string_view value;
};

// Writes one line: time, level, `component`, message, then `fields`. No-op below the minimum
// level.
void Line(Level level, std::string_view component, std::string_view message,
          std::initializer_list<Field> fields = {});

// Formats one line without writing it (ends in '\n'); `now_ms` is Unix time in milliseconds.
// For tests and for Line().
std::string FormatLine(Format format, int64_t now_ms, Level level, std::string_view component,
                       std::string_view message, std::initializer_list<Field> fields = {});

// Writes one finished line (with its newline) to stderr with one write(2). A line that cannot
// be written is dropped and counted (WriteErrors()); never fails, never raises SIGPIPE when
// the process ignores it (steppewatchd does). Thread-safe.
void WriteLine(std::string_view line);
// Returns the number of lines WriteLine() could not write since start.
uint64_t WriteErrors();

// Lets one message through per period and counts the ones held back, for messages that a
// fault repeats (broker down, failed deliveries): the first one is logged at once, later ones
// at most once per period with the number suppressed meanwhile. Thread-safe, lock-free.
class RateLimiter {
 public:
  explicit RateLimiter(int64_t period_ms) : period_ms_(period_ms) {}
  // Returns true when the caller should log now; *suppressed is the count held back since.
  bool Allow(uint64_t* suppressed);

 private:
  const int64_t period_ms_;
  std::atomic<int64_t> next_allowed_ms_{0};
  std::atomic<uint64_t> suppressed_{0};
};

// Logs through `limiter`, appending "(N more suppressed)" when some were held back.
void LimitedLine(RateLimiter& limiter, Level level, std::string_view component,
                 std::string_view message, std::initializer_list<Field> fields = {});

// Concatenates strings, string_views, C strings, numbers and Statuses. (absl::StrCat cannot take
// std::string_view here: Debian's abseil is built with its own absl::string_view.)
inline void AppendPiece(std::string* out, std::string_view s) { out->append(s); }
inline void AppendPiece(std::string* out, const char* s) { out->append(s ? s : "(null)"); }
inline void AppendPiece(std::string* out, const std::string& s) { out->append(s); }
#if !ABSL_USES_STD_STRING_VIEW
inline void AppendPiece(std::string* out, absl::string_view s) { out->append(s.data(), s.size()); }
#endif
inline void AppendPiece(std::string* out, const absl::Status& s) { out->append(s.ToString()); }
inline void AppendPiece(std::string* out, bool b) { out->append(b ? "true" : "false"); }
inline void AppendPiece(std::string* out, char c) { out->push_back(c); }
template <typename T>
requires std::is_arithmetic_v<T>
void AppendPiece(std::string* out, T v) { out->append(std::to_string(v)); }
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendPiece(&out, args), ...);
  return out;
}

}  // namespace steppewatch::log

// SW_LOG(kInfo, "kafka", "assigned ", n, " partitions"): formats with log::Cat only when the
// level is enabled.
#define SW_LOG(level, component, ...)                                       \
  do {                                                                      \
    if (::steppewatch::log::Enabled(::steppewatch::log::Level::level)) {    \
      ::steppewatch::log::Line(::steppewatch::log::Level::level, component, \
                               ::steppewatch::log::Cat(__VA_ARGS__));       \
    }                                                                       \
  } while (0)

// SW_LOG_EVERY(kWarning, "kafka", 10000, "broker down: ", reason): at most once per period (ms)
// per call site, with the number of suppressed repeats.
#define SW_LOG_EVERY(level, component, period_ms, ...)                                   \
  do {                                                                                   \
    static ::steppewatch::log::RateLimiter sw_log_limiter_(period_ms);                   \
    if (::steppewatch::log::Enabled(::steppewatch::log::Level::level)) {                 \
      ::steppewatch::log::LimitedLine(sw_log_limiter_, ::steppewatch::log::Level::level, \
                                      component, ::steppewatch::log::Cat(__VA_ARGS__));  \
    }                                                                                    \
  } while (0)

// Helpers shared by the files of the config stage (not part of its interface).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "steppewatch/common/log.h"
#include "steppewatch/common/strings.h"
#include "steppewatch/config/daemon_config.h"

namespace steppewatch::config {

inline constexpr std::string_view kEnvPrefix = "STEPPEWATCH_";
inline constexpr std::string_view kFileSuffix = "_file";
inline constexpr std::string_view kRedacted = "<redacted>";

using ::steppewatch::log::Cat;
using ::steppewatch::strings::Join;
using ::steppewatch::strings::Split;
using ::steppewatch::strings::SplitList;
using ::steppewatch::strings::Trim;

// An absl::Status message as std::string_view.
inline std::string_view Msg(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

inline absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

// Offset of the first C0 control character other than tab, LF and CR (or DEL); npos if none.
size_t FindControl(std::string_view s);

// host:port or [v6]:port; the port may be 0 (pick a free one).
bool ParseListen(std::string_view s, std::string* host, int* port);

// Reads a secret file and returns its content trimmed of surrounding whitespace. The error
// names the path, never the content.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

// Runs every check of the schema and returns all problems at once, one per line, each
// "ORIGIN: key: message" (the origin when known).
absl::Status ValidateWithOrigins(const DaemonConfig& c, const Origins& origins);

}  // namespace steppewatch::config

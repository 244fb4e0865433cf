// What `steppewatch broker`, `feed` and `tail` share (private to the cli stage): their flags, the
// usage-error and help printers, client creation with `--property` overrides, the stop signals
// and the clocks.
//
// These are tools around the daemon, not the daemon's data path: they favour plain, blocking,
// single-threaded code.
//
// Thread-safety: the stop flag is set from a signal handler and read from any thread; the rest
// are pure functions or values owned by the caller.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "steppewatch/common/flags.h"
#include "steppewatch/kafka/client.h"

namespace steppewatch::cli {

// The flags of one command, as the shared parser (common/flags.h) read them; `--property` may
// repeat (GetAll), any other flag only once.
using Args = cmdline::Flags;

// Parses `argv` with the shared parser: `value_flags` take a value, `bool_flags` do not.
absl::StatusOr<Args> ParseArgs(int argc, char** argv,
                               std::initializer_list<std::string_view> value_flags,
                               std::initializer_list<std::string_view> bool_flags);

// Returns flag `name` as a number, `default_value` when absent; InvalidArgument when malformed.
absl::StatusOr<int64_t> GetInt(const Args& args, std::string_view name, int64_t default_value);
absl::StatusOr<double> GetDouble(const Args& args, std::string_view name, double default_value);

// Prints "steppewatch COMMAND: message" and "usage: ..." to stderr; returns 2.
int UsageError(std::string_view command, const absl::Status& status, std::string_view usage);

// Prints the usage to stdout when the arguments asked for help (after they parsed: a typo next
// to --help is still an error); returns whether it did.
bool PrintedHelp(const Args& args, std::string_view usage);

// A client of a command: `defaults` (the command's own tuning), then the user's
// `--property key=value` overrides, created through the client layer.
absl::StatusOr<kafka::ClientHandle> NewCommandClient(rd_kafka_type_t type,
                                                     kafka::PropertyMap defaults, const Args& args,
                                                     kafka::ClientCallbacks callbacks,
                                                     const char* what);

// Makes SIGINT/SIGTERM set the stop flag; `feed` and `tail` poll StopRequested() between
// batches.
void InstallStopHandlers();
bool StopRequested();

// Seconds of the steady clock since `start`.
double SecondsSince(std::chrono::steady_clock::time_point start);

}  // namespace steppewatch::cli
